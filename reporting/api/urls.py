"""The report resources of /api/v1/: `reports` (a report, or a job when it is large) and
`report-jobs` (created, polled, downloaded)."""

from django.urls import URLPattern, re_path
from rest_framework.routers import SimpleRouter

from reporting.api import views


def register(router: SimpleRouter) -> None:
    router.register("report-jobs", views.ReportJobViewSet, basename="report-job")


# A report is one answer, not a list of objects: its own route rather than a router's list route.
urlpatterns: list[URLPattern] = [
    re_path(r"^reports/?$", views.ReportViewSet.as_view({"get": "report"}), name="report"),
]
