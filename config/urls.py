from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from accounts.api.errors import not_found
from config.health import healthz

admin.site.site_header = "Adwright administration"
admin.site.site_title = "Adwright admin"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/events/", include("delivery.admin_events")),  # read-only event pages, staff only
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    re_path(r"^api/", not_found),  # other versions and /api/ itself answer in the API's shape
    path("", include("delivery.urls")),  # the ad server: decisions, OpenRTB, tracking
    path("", include("accounts.urls")),
    # The Ads Manager: one advertiser account's pages (accounts/pages.py: advertiser_page).
    path("a/<int:advertiser_id>/", include("campaigns.urls")),
    path("a/<int:advertiser_id>/", include("accounts.settings_pages")),
    path("a/<int:advertiser_id>/", include("delivery.views")),
    path("a/<int:advertiser_id>/", include("reporting.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
