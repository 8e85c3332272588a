"""The advertiser account a browser session is working in (the account switcher's choice)."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import Advertiser

SESSION_KEY = "advertiser_id"
SWITCHER_LIMIT = 200


def current_advertiser(request: HttpRequest) -> tuple[list[Advertiser], Advertiser | None]:
    """The user's advertisers (for the switcher) and the one chosen in this session, if still visible."""
    cached = getattr(request, "_advertisers", None)
    if cached is not None:
        return cached
    advertisers = list(
        Advertiser.objects.for_user(request.user).select_related("agency").order_by("name")[:SWITCHER_LIMIT]
    )
    chosen = request.session.get(SESSION_KEY)
    current = next((a for a in advertisers if a.pk == chosen), None)
    if current is None and advertisers:
        current = advertisers[0]
    request._advertisers = (advertisers, current)  # type: ignore[attr-defined]
    return advertisers, current
