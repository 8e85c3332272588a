from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.current import current_advertiser as _current


def current_advertiser(request: HttpRequest) -> dict[str, Any]:
    """The account switcher's data, for the base layout: the user's advertisers and the current one."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    advertisers, current = _current(request)
    return {"switcher_advertisers": advertisers, "current_advertiser": current}
