"""/api/v1/: the agency REST API. Each app registers its resources; the schema and docs are here."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from accounts.api import urls as accounts_api
from accounts.api.errors import not_found
from campaigns.api import urls as campaigns_api

class Router(SimpleRouter):
    """Paths with or without a trailing slash (/api/v1/campaigns and /api/v1/campaigns/)."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = Router()
accounts_api.register(router)
campaigns_api.register(router)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    *router.urls,
    re_path(r"^.*$", not_found),
]
