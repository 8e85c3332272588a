"""Ads Manager pages that the ad server answers: why an ad group is or is not delivering."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path

from accounts.models import Advertiser
from accounts.pages import advertiser_page
from campaigns.models import AdGroup
from delivery.diagnosis import diagnose


@advertiser_page
def ad_group_delivery(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    ad_group = get_object_or_404(
        AdGroup.objects.select_related("campaign__advertiser", "advertiser"), pk=pk, advertiser=advertiser
    )
    return render(
        request,
        "delivery/ad_group_delivery.html",
        {
            "advertiser": advertiser,
            "ad_group": ad_group,
            "campaign": ad_group.campaign,
            "diagnosis": diagnose(ad_group),
        },
    )


urlpatterns = [
    path("ad-groups/<int:pk>/delivery/", ad_group_delivery, name="ad_group_delivery"),
]
