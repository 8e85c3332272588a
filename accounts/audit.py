"""Writing the audit log: who changed what, from where, with the values before and after."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from accounts.models import AuditLog

if TYPE_CHECKING:
    from django.http import HttpRequest

    from accounts.models import Advertiser, ApiKey, User


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is making a change and through which surface."""

    source: str
    user: User | None = None
    api_key: ApiKey | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(source=AuditLog.Source.SYSTEM)

    @classmethod
    def from_request(cls, request: HttpRequest, source: str = AuditLog.Source.WEB) -> Actor:
        user = request.user if request.user.is_authenticated else None
        return cls(source=source, user=user)

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"API key {self.api_key.name} ({self.api_key.prefix})"
        if self.user is not None:
            return self.user.email
        return "system"


# Secrets never go into the log, not even hashed.
NOT_LOGGED = frozenset({"password", "secret_hash", "token"})  # token: a conversion event's secret


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The object's stored field values, as JSON-safe data (foreign keys as ids), secrets left out."""
    data = {}
    for field in obj._meta.concrete_fields:
        if field.attname in NOT_LOGGED:
            continue
        value = getattr(obj, field.attname)
        if isinstance(field, models.FileField):
            value = value.name if value else ""
        data[field.attname] = value
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[dict | None, dict | None]:
    """Keep only the fields that differ (whole snapshots for creation and deletion)."""
    if before is None or after is None:
        return before, after
    keys = [key for key in after if before.get(key) != after.get(key) and key != "updated_at"]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


def entry(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    advertiser: Advertiser | None = None,
) -> AuditLog | None:
    """The unsaved entry for a change (None when nothing changed): record() saves one, bulk writers
    bulk_create many."""
    from accounts.models import Advertiser, Agency

    before, after = changed(before, after)
    if before == {} and after == {}:
        return None  # nothing changed: nothing to log
    if advertiser is None:
        advertiser = obj if isinstance(obj, Advertiser) else getattr(obj, "advertiser", None)
    agency_id: int | None
    if isinstance(obj, Agency):
        agency_id = obj.pk
    else:
        agency_id = getattr(obj, "agency_id", None) or (advertiser.agency_id if advertiser else None)
    return AuditLog(
        advertiser=advertiser,
        agency_id=agency_id,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label[:254],
        source=actor.source,
        action=action,
        object_type=obj._meta.label,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
    )


def record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    advertiser: Advertiser | None = None,
) -> AuditLog | None:
    log_entry = entry(actor=actor, action=action, obj=obj, before=before, after=after, advertiser=advertiser)
    if log_entry is not None:
        log_entry.save()
    return log_entry
