"""The status actions shared by the campaign, ad group and creative pages."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.audit import Actor
from campaigns import services
from campaigns.models import AdGroup, Campaign, Creative, TransitionError

ACTIONS = ("activate", "pause", "archive")


def change_status(request: HttpRequest, obj: Campaign | AdGroup | Creative, action: str) -> str:
    """Apply the action through the model's rules (audited): '' when done, else why not."""
    if action not in ACTIONS:
        return "Unknown action."
    try:
        services.change_status(obj=obj, action=action, actor=Actor.from_request(request))  # type: ignore[arg-type]
    except TransitionError as exc:
        return " ".join(exc.messages)
    return ""
