"""The admin for the automatic review checks' configuration: prohibited terms and denied domains.

Changes are audited like every admin change. A changed list applies to creatives checked from then
on; the review queue's "re-run checks" (campaigns.policy.recheck_pending) applies it to the queue.
"""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import AuditedModelAdmin
from campaigns.models import DeniedDomain, ProhibitedTerm


@admin.register(ProhibitedTerm)
class ProhibitedTermAdmin(AuditedModelAdmin):
    list_display = ("term", "reason", "blocking", "created_at")
    list_filter = ("reason", "blocking")
    search_fields = ("term", "note")
    fields = ("term", "reason", "blocking", "note", "created_at")
    readonly_fields = ("created_at",)


@admin.register(DeniedDomain)
class DeniedDomainAdmin(AuditedModelAdmin):
    list_display = ("domain", "note", "created_at")
    search_fields = ("domain", "note")
    fields = ("domain", "note", "created_at")
    readonly_fields = ("created_at",)
