"""The serving endpoints: what publishers, exchanges and browsers call (no session, no CSRF)."""

from django.urls import include, path

from delivery.openrtb.views import bid as openrtb_bid
from delivery.serving.conversion_views import conversions, pixel
from delivery.serving.decisions import decisions

urlpatterns = [
    path("serve/v1/decisions", decisions, name="serve-decisions"),
    path("openrtb/2.6/bid", openrtb_bid, name="openrtb-bid"),
    path("t/v1/", include("delivery.serving.tracking_urls")),
    path("t/conversions", conversions, name="conversions"),
    path("t/px/<str:token>", pixel, name="conversion-pixel"),
]
