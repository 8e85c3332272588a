"""Ads Manager pages: the ad group editor (new and edit), its live validation and audience estimate,
and the ad group's status buttons.

With htmx, a change in the form posts it to the same page with `_live=1`: the answer is the page's
`live` partial (the estimate, and each field's errors swapped out of band next to the field);
nothing is saved, but in the wizard what was typed is kept as a draft in the session.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, URLResolver, path, reverse
from django.views.decorators.http import require_POST

from accounts.audit import Actor
from accounts.models import Advertiser
from accounts.pages import advertiser_page
from campaigns.estimates import Estimate, estimate
from campaigns.forms.ad_group import AdGroupForm
from campaigns.models import AdGroup, Campaign, Creative
from campaigns.targeting import Targeting
from campaigns.views import status
from delivery.models import Placement


@advertiser_page
def ad_group_new(request: HttpRequest, advertiser: Advertiser, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(
        Campaign.objects.select_related("advertiser"), pk=campaign_id, advertiser=advertiser
    )
    wizard = request.GET.get("wizard") == "1"
    draft_key = f"draft:ad_group:{campaign.pk}"
    form = AdGroupForm(
        request.POST or None,
        campaign=campaign,
        placements=placement_choices(),
        initial=load_draft(request, draft_key, AdGroupForm),
    )
    if request.method == "POST" and request.POST.get("_live"):
        save_draft(request, draft_key)
        return live(request, form, campaign, formats=None)
    if request.method == "POST" and form.is_valid():
        try:
            ad_group = form.save(actor=Actor.from_request(request))
        except ValidationError:
            pass
        else:
            request.session.pop(draft_key, None)
            messages.success(request, f"Ad group “{ad_group.name}” created.")
            if wizard:
                return redirect(f"{reverse('creative_new', args=[advertiser.pk, ad_group.pk])}?wizard=1")
            return redirect("ad_group_edit", advertiser.pk, ad_group.pk)
    if request.method == "POST":
        save_draft(request, draft_key)
    return render(
        request,
        "campaigns/ad_groups/editor.html",
        {
            "advertiser": advertiser,
            "campaign": campaign,
            "form": read_only(request, form),
            "estimate": estimate_for(form, campaign, formats=None),
            "wizard": wizard,
            "step": 3,
            "campaign_url": campaign_url(campaign),
        },
    )


@advertiser_page
def ad_group_edit(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    ad_group = get_object_or_404(
        AdGroup.objects.select_related("campaign__advertiser"), pk=pk, advertiser=advertiser
    )
    campaign = ad_group.campaign
    creatives = list(ad_group.creatives.exclude(status=Creative.Status.ARCHIVED))
    formats = {creative.format for creative in creatives} or None
    form = AdGroupForm(
        request.POST or None, campaign=campaign, placements=placement_choices(), instance=ad_group
    )
    if request.method == "POST" and request.POST.get("_live"):
        return live(request, form, campaign, formats=formats)
    if request.method == "POST" and form.is_valid():
        try:
            ad_group = form.save(actor=Actor.from_request(request))
        except ValidationError:
            pass
        else:
            messages.success(request, f"Ad group “{ad_group.name}” saved.")
            return redirect("ad_group_edit", advertiser.pk, ad_group.pk)
    return render(
        request,
        "campaigns/ad_groups/editor.html",
        {
            "advertiser": advertiser,
            "campaign": campaign,
            "ad_group": ad_group,
            "creatives": creatives,
            "form": read_only(request, form),
            "estimate": estimate_for(form, campaign, formats=formats),
            "wizard": False,
            "campaign_url": campaign_url(campaign),
        },
    )


@require_POST
@advertiser_page
def ad_group_status(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    ad_group = get_object_or_404(AdGroup.objects.select_related("campaign"), pk=pk, advertiser=advertiser)
    error = status.change_status(request, ad_group, request.POST.get("action", ""))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Ad group {ad_group.get_status_display().lower()}.")
    return redirect("ad_group_edit", advertiser.pk, ad_group.pk)


# Shared by the editor's views ------------------------------------------------------------------


def live(
    request: HttpRequest, form: AdGroupForm, campaign: Campaign, *, formats: set[str] | None
) -> HttpResponse:
    """The answer to a change in the form: the estimate, and each field's errors out of band."""
    shown = live_errors(form, request.POST.get("_field"))
    return render(
        request,
        "campaigns/ad_groups/editor.html#live",
        {
            "estimate": estimate_for(form, campaign, formats=formats),
            "field_errors": [(name, shown.get(name, [])) for name in [*form.fields, "__all__"]],
        },
    )


def live_errors(form: Any, typed_in: str | None) -> dict[str, list[str]]:
    """The errors to show while the form is being filled: on the field being typed in and on the
    fields that hold a value; what an empty field lacks is said when the form is saved."""
    form.is_valid()
    shown: dict[str, list[str]] = {}
    for name, errors in form.errors.items():
        values = form.data.getlist(form.add_prefix(name))
        has_value = any(str(v).strip() for v in values) or form.add_prefix(name) in form.files
        if name in (typed_in, "__all__") or has_value:
            shown[name] = list(errors)
    return shown


def estimate_for(form: AdGroupForm, campaign: Campaign, *, formats: set[str] | None) -> Estimate | None:
    """The estimate for the targeting as typed (None while the targeting has errors)."""
    if form.is_bound:
        form.is_valid()
        targeting = form.targeting
    else:
        try:
            targeting = Targeting.from_json(form.targeting_json(form.initial))
        except ValidationError:
            targeting = None
    return None if targeting is None else estimate(targeting, campaign, formats=formats)


def placement_choices() -> list[tuple[int, str]]:
    return [
        (p.pk, f"{p.publisher.name} / {p.name} · {p.get_format_display()}")
        for p in Placement.objects.active().select_related("publisher")
    ]


def read_only(request: HttpRequest, form: Any) -> Any:
    """Analysts see the same form, every field disabled."""
    if not request.can_edit:  # type: ignore[attr-defined]
        for field in form.fields.values():
            field.disabled = True
    return form


def campaign_url(campaign: Campaign) -> str:
    return reverse("campaign_detail", args=[campaign.advertiser_id, campaign.pk])


def save_draft(request: HttpRequest, key: str) -> None:
    """Keep what was typed in the session, so that leaving the page loses nothing."""
    request.session[key] = {
        name: values
        for name, values in request.POST.lists()
        if not name.startswith("_") and name != "csrfmiddlewaretoken"
    }


def load_draft(request: HttpRequest, key: str, form_class: type[Any]) -> dict[str, Any]:
    """A saved draft as the form's initial values (not bound: no errors shown on arrival)."""
    draft = request.session.get(key)
    if request.method != "GET" or not isinstance(draft, dict):
        return {}
    data = QueryDict(mutable=True)
    for name, values in draft.items():
        data.setlist(name, values)
    multiple = {
        name
        for name, field in form_class.base_fields.items()
        if hasattr(field, "choices") and field.widget.allow_multiple_selected
    }
    return {
        name: data.getlist(name) if name in multiple else data.get(name)
        for name in data
        if name in form_class.base_fields
    }


urlpatterns: list[URLPattern | URLResolver] = [
    path("campaigns/<int:campaign_id>/ad-groups/new/", ad_group_new, name="ad_group_new"),
    path("ad-groups/<int:pk>/", ad_group_edit, name="ad_group_edit"),
    path("ad-groups/<int:pk>/status/", ad_group_status, name="ad_group_status"),
]
