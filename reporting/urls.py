"""The reporting pages of one advertiser account, under /a/<advertiser_id>/reports/."""

from reporting.views import dashboards, schedules

urlpatterns = [*dashboards.urlpatterns, *schedules.urlpatterns]
