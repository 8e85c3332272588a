"""Reporting in the Django admin, for platform staff: report jobs (to see why one failed or is stuck)
and scheduled reports (to switch one off). Rollups are not here: they are rebuilt, never edited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import AuditedModelAdmin
from reporting.models import ReportJob, ScheduledReport


@admin.register(ReportJob)
class ReportJobAdmin(admin.ModelAdmin):
    """Read only: a job is made by the API and run by a worker. Deleting one removes its file."""

    list_display = ("id", "advertiser", "status", "format", "rows", "requested_by", "api_key", "created_at")
    list_filter = ("status", "format")
    list_select_related = ("advertiser", "requested_by", "api_key")
    search_fields = ("advertiser__name", "error")
    date_hierarchy = "created_at"
    fields = (
        "advertiser",
        "requested_by",
        "api_key",
        "status",
        "format",
        "query",
        "rows",
        "error",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ScheduledReport)
class ScheduledReportAdmin(AuditedModelAdmin):
    """Its user creates it on the schedules page; staff can switch it off or change how it is sent."""

    list_display = ("name", "advertiser", "user", "frequency", "format", "is_active", "last_sent_day")
    list_filter = ("frequency", "is_active")
    list_select_related = ("advertiser", "user")
    search_fields = ("name", "advertiser__name", "user__email")
    fields = (
        "advertiser",
        "user",
        "name",
        "frequency",
        "format",
        "is_active",
        "query",
        "last_sent_day",
        "created_at",
    )
    readonly_fields = ("advertiser", "user", "query", "last_sent_day", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
