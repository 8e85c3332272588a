"""The Ads Manager's pages live under /a/<advertiser_id>/...: the account is in the URL, so a link
can be shared and the browser's back button keeps its meaning.

`advertiser_page` is the access helper every such view starts with: 404 for an account the user
cannot see, 403 for a write (any method but GET/HEAD) by a read-only role. The view receives the
advertiser; `request.can_edit` tells templates whether to show edit controls.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.access import get_for_user_or_404, role_on
from accounts.current import SESSION_KEY
from accounts.models import Advertiser

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

View = Callable[..., HttpResponse]


def advertiser_page(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, advertiser_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
        advertisers = Advertiser.objects.select_related("agency")
        advertiser = get_for_user_or_404(advertisers, request.user, pk=advertiser_id)
        role = role_on(request.user, advertiser)
        can_edit = bool(role and role.can_edit and advertiser.is_active)
        if request.method not in READ_METHODS and not can_edit:
            raise PermissionDenied("Your role on this account is read only.")
        request.session[SESSION_KEY] = advertiser.pk  # the switcher follows the page being viewed
        request.advertiser = advertiser  # type: ignore[attr-defined]
        request.role = role  # type: ignore[attr-defined]
        request.can_edit = can_edit  # type: ignore[attr-defined]
        return view(request, advertiser, *args, **kwargs)

    return wrapper


def account_admin_page(view: View) -> View:
    """For account settings (members, API keys): admins of the advertiser only (403 otherwise)."""

    @advertiser_page
    @wraps(view)
    def wrapper(request: HttpRequest, advertiser: Advertiser, *args: Any, **kwargs: Any) -> HttpResponse:
        from accounts.models import Role

        if request.role != Role.ADMIN:  # type: ignore[attr-defined]
            raise PermissionDenied("Only an admin of this account can change its settings.")
        return view(request, advertiser, *args, **kwargs)

    return wrapper
