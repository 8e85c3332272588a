"""The tracking endpoints' URLs, included under `t/v1/` (delivery.tracking.PATH_PREFIX builds them)."""

from django.urls import path

from delivery.serving.tracking_views import click, impression, notice

urlpatterns = [
    path("i/<str:token>.gif", impression, name="track-impression"),
    path("c/<str:token>", click, name="track-click"),
    path("n/<str:notice>/<str:token>", notice, name="track-notice"),
]
