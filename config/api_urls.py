"""/api/v1/: the agency REST API. Each app registers its resources; the schema and docs are here."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from accounts.api import urls as accounts_api
from accounts.api.errors import not_found
from campaigns.api import urls as campaigns_api
from reporting.api import urls as reporting_api


class Router(SimpleRouter):
    """Paths with or without a trailing slash (/api/v1/campaigns and /api/v1/campaigns/)."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = Router()
READ = ["get", "head"]
SCHEMA = "api-schema"
accounts_api.register(router)
campaigns_api.register(router)
reporting_api.register(router)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name=SCHEMA),
    # The docs pages are HTML for browsers: GET only (DRF's OPTIONS metadata has no page to render).
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", http_method_names=READ),
        name="api-docs",
    ),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", http_method_names=READ),
        name="api-redoc",
    ),
    *router.urls,
    *reporting_api.urlpatterns,
    re_path(r"^[\s\S]*$", not_found),  # [\s\S]: a path with an encoded newline is an API path too
]
