"""Ads Manager pages: the creative editor (new and edit) with its live preview, the creative's status
buttons, and its stored image (served to the account's members, for the preview).

With htmx, a change in the form posts it (with the image, if one is chosen) to the same page with
`_live=1`: the answer is the `live` partial, the preview in every format and each field's errors out
of band; nothing is saved, but the text typed is kept as a draft in the session.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, URLResolver, path, reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.audit import Actor
from accounts.models import Advertiser
from accounts.pages import advertiser_page
from campaigns.forms.creative import CreativeForm
from campaigns.models import AdGroup, Creative, RejectionReason
from campaigns.views import status
from campaigns.views.ad_groups import campaign_url, live_errors, load_draft, read_only, save_draft


@advertiser_page
def creative_new(request: HttpRequest, advertiser: Advertiser, ad_group_id: int) -> HttpResponse:
    ad_group = get_object_or_404(
        AdGroup.objects.select_related("campaign__advertiser"), pk=ad_group_id, advertiser=advertiser
    )
    wizard = request.GET.get("wizard") == "1"
    draft_key = f"draft:creative:{ad_group.pk}"
    form = CreativeForm(
        request.POST or None,
        request.FILES or None,
        ad_group=ad_group,
        initial=load_draft(request, draft_key, CreativeForm) or {"format": Creative.Format.BANNER},
    )
    if request.method == "POST" and request.POST.get("_live"):
        save_draft(request, draft_key)
        return live(request, form)
    if request.method == "POST" and form.is_valid():
        try:
            creative = form.save_with(actor=Actor.from_request(request))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            request.session.pop(draft_key, None)
            messages.success(request, f"Creative “{creative.name}” created and sent to review.")
            if wizard:
                return redirect(campaign_url(ad_group.campaign))
            return redirect("creative_edit", advertiser.pk, creative.pk)
    if request.method == "POST":
        save_draft(request, draft_key)
    return render(
        request,
        "campaigns/creatives/editor.html",
        {
            "advertiser": advertiser,
            "ad_group": ad_group,
            "campaign": ad_group.campaign,
            "form": read_only(request, form),
            "preview": preview(form),
            "wizard": wizard,
            "step": 4,
            "campaign_url": campaign_url(ad_group.campaign),
        },
    )


@advertiser_page
def creative_edit(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    creative = get_object_or_404(
        Creative.objects.select_related("ad_group__campaign__advertiser"), pk=pk, advertiser=advertiser
    )
    ad_group = creative.ad_group
    was_approved = creative.review_status == Creative.ReviewStatus.APPROVED
    form = CreativeForm(request.POST or None, request.FILES or None, ad_group=ad_group, instance=creative)
    if request.method == "POST" and request.POST.get("_live"):
        return live(request, form)
    if request.method == "POST" and form.is_valid():
        try:
            saved = form.save_with(actor=Actor.from_request(request))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if was_approved and saved.review_status == Creative.ReviewStatus.PENDING:
                messages.warning(
                    request,
                    "Your changes were saved and the creative was sent back to review: "
                    "it does not serve until it is approved again.",
                )
            else:
                messages.success(request, f"Creative “{saved.name}” saved.")
            return redirect("creative_edit", advertiser.pk, saved.pk)
        creative.refresh_from_db()  # the page shows the stored review status, not the form's attempt
    return render(
        request,
        "campaigns/creatives/editor.html",
        {
            "advertiser": advertiser,
            "ad_group": ad_group,
            "campaign": ad_group.campaign,
            "creative": creative,
            "rejection_reasons": [RejectionReason(r).label for r in creative.rejection_reasons],
            "form": read_only(request, form),
            "preview": preview(form),
            "wizard": False,
            "campaign_url": campaign_url(ad_group.campaign),
        },
    )


@require_POST
@advertiser_page
def creative_status(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    creative = get_object_or_404(Creative, pk=pk, advertiser=advertiser)
    error = status.change_status(request, creative, request.POST.get("action", ""))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Creative {creative.get_status_display().lower()}.")
    return redirect("creative_edit", advertiser.pk, creative.pk)


@require_GET
@advertiser_page
def creative_image(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    creative = get_object_or_404(Creative, pk=pk, advertiser=advertiser)
    if not creative.image:
        raise Http404("This creative has no image.")
    try:
        return FileResponse(creative.image.open("rb"))  # type: ignore[return-value]  # a streaming response
    except FileNotFoundError:
        raise Http404("The image file is missing.") from None


def live(request: HttpRequest, form: CreativeForm) -> HttpResponse:
    """The answer to a change in the form: the preview, and each field's errors out of band."""
    shown = live_errors(form, request.POST.get("_field"))
    return render(
        request,
        "campaigns/creatives/editor.html#live",
        {
            "form": form,
            "preview": preview(form),
            "field_errors": [(name, shown.get(name, [])) for name in [*form.fields, "__all__"]],
        },
    )


def preview(form: CreativeForm) -> dict[str, object]:
    """What the preview shows: the values as typed, the image as uploaded or stored."""
    stored = (
        reverse("creative_image", args=[form.instance.advertiser_id, form.instance.pk])
        if form.instance.pk
        else ""
    )
    value = {
        name: form[name].value() or "" for name in ("format", "headline", "body", "landing_url", "vast_url")
    }
    cta_field: Any = form.fields["call_to_action"]
    cta = dict(cta_field.choices).get(form["call_to_action"].value() or "", "")
    vast_xml = str(form["vast_xml"].value() or "")
    return {
        **value,
        "call_to_action": cta if form["call_to_action"].value() else "Learn more",
        "image_url": form.preview_image_url(stored),
        "size": form.preview_size(),
        "vast_xml_lines": len(vast_xml.splitlines()),
        "vast_is_document": "<VAST" in vast_xml[:2000],
        "domain": str(value["landing_url"]).split("//")[-1].split("/")[0],
    }


urlpatterns: list[URLPattern | URLResolver] = [
    path("ad-groups/<int:ad_group_id>/creatives/new/", creative_new, name="creative_new"),
    path("creatives/<int:pk>/", creative_edit, name="creative_edit"),
    path("creatives/<int:pk>/status/", creative_status, name="creative_status"),
    path("creatives/<int:pk>/image/", creative_image, name="creative_image"),
]
