"""The platform admin for inventory: publishers and their placements, with floors in USD."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from accounts.money import format_micros
from delivery.models import Placement, Publisher

# Placement floors are stored in micros of USD (see Placement.floor_cpm_micros).
FLOOR_CURRENCY = "USD"


def floor_display(placement: Placement) -> str:
    if placement.floor_cpm_micros is None:  # an unsaved placement on the add page
        return "—"
    return format_micros(placement.floor_cpm_micros, FLOOR_CURRENCY)


class PlacementInline(admin.TabularInline):
    model = Placement
    fields = ("name", "key", "format", "sizes", "floor_cpm_micros", "daily_requests", "is_active")
    extra = 0
    show_change_link = True


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "is_active", "placement_count", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "domain")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at",)
    inlines = (PlacementInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Publisher]:
        return super().get_queryset(request).annotate(placement_count=Count("placements"))

    @admin.display(description="placements", ordering="placement_count")
    def placement_count(self, obj: Publisher) -> int:
        return obj.placement_count  # type: ignore[attr-defined]


@admin.register(Placement)
class PlacementAdmin(admin.ModelAdmin):
    list_display = ("name", "publisher", "key", "format", "size_list", "floor", "daily_requests", "is_active")
    list_filter = ("format", "is_active", "publisher__is_active")
    list_select_related = ("publisher",)
    search_fields = ("name", "key", "publisher__name", "publisher__domain")
    date_hierarchy = "created_at"
    autocomplete_fields = ("publisher",)
    prepopulated_fields = {"key": ("name",)}
    readonly_fields = ("floor", "created_at")
    fields = (
        "publisher",
        "name",
        "key",
        "format",
        "sizes",
        "floor_cpm_micros",
        "floor",
        "daily_requests",
        "is_active",
        "created_at",
    )

    @admin.display(description="floor CPM", ordering="floor_cpm_micros")
    def floor(self, obj: Placement) -> str:
        return floor_display(obj)

    @admin.display(description="sizes")
    def size_list(self, obj: Placement) -> str:
        return ", ".join(obj.sizes) or "—"


from delivery import admin_models  # noqa: E402, F401 - registers the model registry's admin
