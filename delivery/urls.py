"""The serving endpoints: what publishers, exchanges and browsers call (no session, no CSRF)."""

from django.urls import include, path

from delivery.serving.decisions import decisions

urlpatterns = [
    path("serve/v1/decisions", decisions, name="serve-decisions"),
    path("t/v1/", include("delivery.serving.tracking_urls")),
]
