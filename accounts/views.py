from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.access import get_for_user_or_404
from accounts.current import SESSION_KEY, current_advertiser
from accounts.models import Advertiser
from accounts.money import format_micros

if TYPE_CHECKING:
    from campaigns.models import Campaign, Delivery


class LoginForm(AuthenticationForm):
    """Django's login form, with the email matched case-insensitively (emails are stored lower case)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email address and password do not match an account. Check them and try again.",
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


@dataclass(frozen=True, slots=True)
class CampaignRow:
    campaign: Campaign
    delivery: Delivery
    budget: str  # formatted in the advertiser's currency


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The user's advertiser accounts, the current one first, each with its campaigns."""
    # accounts must not import campaigns at module level
    from campaigns.models import Campaign
    from campaigns.models.campaign import recent_days_prefetch

    advertisers, current = current_advertiser(request)
    campaigns = (
        Campaign.objects.not_archived()
        .for_user(request.user)
        .filter(advertiser__in=advertisers)
        .select_related("advertiser")
        # Campaign.delivery() reads ad groups and creatives through .all(), and today's budget day:
        # one query each for the page.
        .prefetch_related("ad_groups__creatives", recent_days_prefetch())
        .order_by("name", "pk")
    )
    now = timezone.now()  # one instant for the whole page
    rows: dict[int, list[CampaignRow]] = {}
    for campaign in campaigns:
        budget = format_micros(campaign.budget_micros, campaign.advertiser.currency)
        row = CampaignRow(campaign, campaign.delivery(now), budget)
        rows.setdefault(campaign.advertiser_id, []).append(row)
    accounts = [
        (advertiser, rows.get(advertiser.pk, []))
        for advertiser in sorted(advertisers, key=lambda advertiser: advertiser != current)
    ]
    return render(request, "accounts/home.html", {"accounts": accounts})


ACCOUNT_PAGE = re.compile(r"^/a/\d+/(?P<section>[\w-]+/)?")


def same_page_of(advertiser: Advertiser, path: str) -> str:
    """/a/<old>/campaigns/12/ -> /a/<new>/campaigns/: the same section of the other account (its
    objects are not the other account's, so only the section's first page is kept)."""
    match = ACCOUNT_PAGE.match(path)
    if match is None:
        return path
    section = match["section"] or ""
    rest = path[match.end() :]
    keep_query = section and (rest == "" or rest.startswith("?")) and section == "campaigns/"
    return reverse("account_overview", args=[advertiser.pk]) + section + (rest if keep_query else "")


@login_required
@require_POST
def switch_advertiser(request: HttpRequest) -> HttpResponse:
    """The account switcher: a plain form (a <select> named "advertiser"), so it works without JavaScript."""
    advertiser = get_for_user_or_404(Advertiser, request.user, pk=request.POST.get("advertiser"))
    request.session[SESSION_KEY] = advertiser.pk
    next_url = request.POST.get("next", "")
    # A path on this site only: url_has_allowed_host_and_scheme() alone lets "logout" through, which
    # redirect() would read as a URL name.
    if not next_url.startswith("/") or not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("home")
    return redirect(same_page_of(advertiser, next_url))
