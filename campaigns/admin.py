"""The platform admin for campaigns: ad-quality review of creatives, and support edits by staff.

Staff follow the same rules as advertisers. Every save and delete made here leaves an audit entry
with source "admin"; statuses change only through the Activate / Pause / Archive actions, which go
through campaigns.services.change_status and so through the model methods that hold the rules.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import model_ngettext
from django.db import models, transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html

from accounts.admin import EMPTY, AuditedModelAdmin, admin_actor
from accounts.models import Advertiser
from accounts.money import format_micros
from campaigns.models import (
    AdGroup,
    Campaign,
    CampaignDay,
    Conversion,
    ConversionEvent,
    Creative,
    DeliveryState,
    LedgerEntry,
    RejectionReason,
    TransitionError,
)
from campaigns.models.campaign import recent_days_prefetch
from campaigns.services import StatusAction, change_status, review_creative


def money(micros: int | None, advertiser: Advertiser | None) -> str:
    if micros is None or advertiser is None:
        return EMPTY
    return format_micros(micros, advertiser.currency)


def thumbnail(creative: Creative, *, max_width: int = 120, max_height: int = 60) -> str:
    if not creative.image:
        return EMPTY if creative.format != Creative.Format.VIDEO else "VAST"
    return format_html(
        '<img src="{}" alt="{}" style="max-width: {}px; max-height: {}px">',
        creative.image.url,
        creative.name,
        max_width,
        max_height,
    )


def reason_labels(creative: Creative) -> str:
    labels = dict(RejectionReason.choices)
    return ", ".join(labels.get(code, code) for code in creative.rejection_reasons) or EMPTY


# ---------------------------------------------------------------------------------------------------
# Base classes


class StatusActionsAdmin(AuditedModelAdmin):
    """Activate, pause and archive through the model's rules; the status field itself is read-only."""

    actions: Any = ("activate", "pause", "archive")
    past_tense = {"activate": "activated", "pause": "paused", "archive": "archived"}

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        return ("status", *super().get_readonly_fields(request, obj))

    def apply_status_action(
        self, request: HttpRequest, queryset: QuerySet[Any], action: StatusAction
    ) -> None:
        actor = admin_actor(request)
        done = 0
        for obj in queryset:
            try:
                change_status(obj=obj, action=action, actor=actor)
            except TransitionError as exc:
                self.message_user(
                    request,
                    f"“{obj}” was not {self.past_tense[action]}: {' '.join(exc.messages)}",
                    messages.ERROR,
                )
            else:
                done += 1
        if done:
            message = f"{done} {model_ngettext(self.opts, done)} {self.past_tense[action]}."
            self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Activate selected %(verbose_name_plural)s", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self.apply_status_action(request, queryset, "activate")

    @admin.action(description="Pause selected %(verbose_name_plural)s", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self.apply_status_action(request, queryset, "pause")

    @admin.action(description="Archive selected %(verbose_name_plural)s", permissions=["change"])
    def archive(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self.apply_status_action(request, queryset, "archive")


class ReadOnlyInline(admin.TabularInline):
    """Children listed on their parent's page. Edits happen on each child's own page, so that each
    one is validated and audited on its own."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ---------------------------------------------------------------------------------------------------
# Campaigns


class AdGroupInline(ReadOnlyInline):
    model = AdGroup
    fields = ("name", "status", "bid_strategy", "bid", "optimization_goal")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[AdGroup]:
        return super().get_queryset(request).select_related("advertiser")

    @admin.display(description="bid")
    def bid(self, obj: AdGroup) -> str:
        return money(obj.bid_micros, obj.advertiser)


@admin.register(Campaign)
class CampaignAdmin(StatusActionsAdmin):
    list_display = (
        "name",
        "advertiser",
        "objective",
        "status",
        "delivery_state",
        "budget",
        "budget_type",
        "starts_at",
        "ends_at",
    )
    list_filter = ("status", "objective", "budget_type", "pacing")
    list_select_related = ("advertiser",)
    search_fields = ("name", "advertiser__name")
    date_hierarchy = "created_at"
    autocomplete_fields = ("advertiser", "conversion_event")
    readonly_fields = ("delivery_state", "budget", "created_at", "updated_at")
    fieldsets = (
        (
            None,
            {"fields": ("advertiser", "name", "objective", "conversion_event", "status", "delivery_state")},
        ),
        ("Budget", {"fields": ("budget_type", "budget_micros", "budget", "pacing")}),
        ("Schedule", {"fields": ("starts_at", "ends_at")}),
        ("Frequency cap", {"fields": ("frequency_cap_impressions", "frequency_cap_period")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    inlines = (AdGroupInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        # delivery() reads the advertiser, ad groups, creatives and today's budget day: a fixed number
        # of queries per page. (With select_related set here, the change list skips
        # list_select_related.)
        return (
            super()
            .get_queryset(request)
            .select_related("advertiser")
            .prefetch_related("ad_groups__creatives", recent_days_prefetch())
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        # Ad groups and creatives copy the campaign's advertiser: it stays (duplicate the campaign).
        return (*fields, "advertiser") if obj is not None else fields

    @admin.display(description="delivery")
    def delivery_state(self, obj: Campaign) -> str:
        if obj.pk is None:
            return EMPTY
        delivery = obj.delivery()
        return format_html('<span title="{}">{}</span>', delivery.reason, DeliveryState(delivery.state).label)

    @admin.display(description="budget", ordering="budget_micros")
    def budget(self, obj: Campaign) -> str:
        return money(obj.budget_micros, obj.advertiser if obj.advertiser_id else None)


# ---------------------------------------------------------------------------------------------------
# Ad groups


class CreativeInline(ReadOnlyInline):
    model = Creative
    fields = ("preview", "name", "format", "status", "review_status")
    readonly_fields = fields

    @admin.display(description="preview")
    def preview(self, obj: Creative) -> str:
        return thumbnail(obj)


@admin.register(AdGroup)
class AdGroupAdmin(StatusActionsAdmin):
    list_display = (
        "name",
        "campaign",
        "advertiser",
        "status",
        "bid_strategy",
        "bid",
        "optimization_goal",
        "billing_event",
        "created_at",
    )
    list_filter = ("status", "bid_strategy", "optimization_goal", "billing_event")
    list_select_related = ("campaign", "advertiser")
    search_fields = ("name", "campaign__name", "advertiser__name")
    date_hierarchy = "created_at"
    autocomplete_fields = ("campaign",)
    readonly_fields = ("advertiser", "bid", "optimization_goal", "billing_event", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("campaign", "advertiser", "name", "status")}),
        ("Bidding", {"fields": ("bid_strategy", "bid_micros", "bid", "optimization_goal", "billing_event")}),
        ("Targeting", {"fields": ("targeting",)}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    inlines = (CreativeInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AdGroup]:
        # With select_related set here, the change list skips list_select_related: name them all.
        return super().get_queryset(request).select_related("campaign", "advertiser")

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        # Its creatives carry the campaign's advertiser: an ad group stays in its campaign.
        return (*fields, "campaign") if obj is not None else fields

    @admin.display(description="bid", ordering="bid_micros")
    def bid(self, obj: AdGroup) -> str:
        return money(obj.bid_micros, obj.advertiser if obj.advertiser_id else None)


# ---------------------------------------------------------------------------------------------------
# Creatives and their review


class RejectionReasonFilter(admin.SimpleListFilter):
    title = "rejection reason"
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(RejectionReason.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Creative]) -> QuerySet[Creative]:
        if self.value():
            return queryset.filter(rejection_reasons__contains=[self.value()])
        return queryset


class RejectForm(forms.Form):
    reasons = forms.MultipleChoiceField(
        choices=RejectionReason.choices, widget=forms.CheckboxSelectMultiple, help_text="One or more."
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        required=False,
        help_text="What the advertiser should change. Required with “Other”.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if RejectionReason.OTHER in cleaned.get("reasons", []) and not cleaned.get("note", "").strip():
            self.add_error("note", "Explain an “Other” rejection in the note.")
        return cleaned


@admin.register(Creative)
class CreativeAdmin(StatusActionsAdmin):
    list_display = (
        "preview",
        "name",
        "advertiser",
        "ad_group",
        "format",
        "status",
        "review_status",
        "reasons",
        "submitted_at",
        "reviewed_by",
    )
    list_display_links = ("preview", "name")
    list_filter = ("review_status", RejectionReasonFilter, "status", "format")
    list_select_related = ("advertiser", "ad_group", "reviewed_by")
    search_fields = (
        "name",
        "advertiser__name",
        "ad_group__name",
        "ad_group__campaign__name",
        "headline",
        "landing_url",
    )
    date_hierarchy = "submitted_at"
    ordering = ("-submitted_at", "-id")
    autocomplete_fields = ("ad_group",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = (*StatusActionsAdmin.actions, "approve", "reject")
    readonly_fields = (
        "advertiser",
        "large_preview",
        "width",
        "height",
        "review_status",
        "reasons",
        "review_note",
        "reviewed_by",
        "reviewed_at",
        "submitted_at",
        "created_at",
        "updated_at",
    )
    content_fields = (
        "large_preview",
        "image",
        "width",
        "height",
        "headline",
        "body",
        "call_to_action",
        "vast_url",
        "vast_xml",
    )
    review_fields = ("review_status", "reasons", "review_note", "reviewed_by", "reviewed_at", "submitted_at")
    fieldsets = (
        (None, {"fields": ("ad_group", "advertiser", "name", "format", "status", "landing_url")}),
        ("Content", {"fields": content_fields}),
        ("Review", {"fields": review_fields}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "ad_group") if obj is not None else fields

    @admin.display(description="preview")
    def preview(self, obj: Creative) -> str:
        return thumbnail(obj)

    @admin.display(description="preview")
    def large_preview(self, obj: Creative) -> str:
        return thumbnail(obj, max_width=600, max_height=400)

    @admin.display(description="rejection reasons")
    def reasons(self, obj: Creative) -> str:
        return reason_labels(obj)

    def has_review_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("campaigns.review_creative")

    @admin.action(description="Approve selected creatives", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Creative]) -> None:
        actor = admin_actor(request)
        approved = already = 0
        for creative in queryset:
            # An approved creative's content is the approved content (an edit sends it back to
            # review), so approving it again would only rewrite who reviewed it and when.
            if creative.review_status == Creative.ReviewStatus.APPROVED:
                already += 1
                continue
            review_creative(creative=creative, actor=actor, approve=True)
            approved += 1
        if approved:
            self.message_user(
                request, f"{approved} {model_ngettext(Creative._meta, approved)} approved.", messages.SUCCESS
            )
        if already:
            self.message_user(
                request,
                f"{already} {model_ngettext(Creative._meta, already)} already approved.",
                messages.INFO,
            )

    @admin.action(description="Reject selected creatives…", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Creative]) -> TemplateResponse | None:
        """First call: a page asking for the reasons. Its form posts back here with `confirm`."""
        form = RejectForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if form.is_valid():
            actor = admin_actor(request)
            with transaction.atomic():
                creatives = list(queryset)
                for creative in creatives:
                    review_creative(
                        creative=creative,
                        actor=actor,
                        approve=False,
                        reasons=form.cleaned_data["reasons"],
                        note=form.cleaned_data["note"],
                    )
            count = len(creatives)
            self.message_user(
                request, f"{count} {model_ngettext(Creative._meta, count)} rejected.", messages.SUCCESS
            )
            return None  # back to the change list
        creatives = list(queryset.select_related("advertiser", "ad_group"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject creatives",
            "opts": self.opts,
            "creatives": [(creative, thumbnail(creative)) for creative in creatives],
            # A plain form works here, as in Django's own password-change page; the stubs say ModelForm.
            "adminform": helpers.AdminForm(form, [(None, {"fields": ["reasons", "note"]})], {}),  # type: ignore[arg-type]
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/campaigns/creative/reject_confirmation.html", context)


# ---------------------------------------------------------------------------------------------------
# Conversion events


@admin.register(ConversionEvent)
class ConversionEventAdmin(AuditedModelAdmin):
    list_display = (
        "name",
        "advertiser",
        "category",
        "counting",
        "click_window_days",
        "view_window_days",
        "default_value",
        "is_active",
        "created_at",
    )
    list_filter = ("is_active", "category", "counting")
    list_select_related = ("advertiser",)
    search_fields = ("name", "advertiser__name")
    date_hierarchy = "created_at"
    autocomplete_fields = ("advertiser",)
    readonly_fields = ("default_value", "created_at")
    fields = (
        "advertiser",
        "name",
        "category",
        "counting",
        "click_window_days",
        "view_window_days",
        "default_value_micros",
        "default_value",
        "is_active",
        "created_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        # Campaigns optimise for it, and their advertiser must be the event's.
        return (*fields, "advertiser") if obj is not None else fields

    @admin.display(description="default value", ordering="default_value_micros")
    def default_value(self, obj: ConversionEvent) -> str:
        return money(obj.default_value_micros, obj.advertiser if obj.advertiser_id else None)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows only the serving path writes (conversions, the ledger, budget days): staff look, nobody
    adds, changes or deletes."""

    show_full_result_count = False  # a count of the whole table on every page is not worth it

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyAdmin):
    """Read only: conversions are facts the advertiser reported; the intake alone writes them."""

    list_display = (
        "event_id",
        "conversion_event",
        "advertiser",
        "occurred_at",
        "received_at",
        "value",
        "source",
        "test",
        "attribution",
        "campaign",
    )
    list_filter = ("test", "source", "attribution")
    list_select_related = ("conversion_event", "advertiser", "campaign")
    search_fields = ("=event_id",)
    date_hierarchy = "received_at"

    @admin.display(description="value", ordering="value_micros")
    def value(self, obj: Conversion) -> str:
        return EMPTY if obj.value_micros is None else format_micros(obj.value_micros, obj.currency)


# ---------------------------------------------------------------------------------------------------
# Money: the ledger and the budget days, for support (read only: they are written by serving alone)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    """The spend ledger: append-only, the authority on what advertisers pay."""

    list_display = ("at", "day", "campaign", "kind", "reason", "amount", "currency", "event_id")
    list_filter = ("kind", "reason", "day")
    list_select_related = ("campaign",)
    search_fields = ("=event_id", "campaign__name")

    @admin.display(description="amount", ordering="amount_micros")
    def amount(self, obj: LedgerEntry) -> str:
        return format_micros(obj.amount_micros, obj.currency)


@admin.register(CampaignDay)
class CampaignDayAdmin(ReadOnlyAdmin):
    """Each campaign's advertiser day: its budget cap and the pacing controller's last state."""

    list_display = ("campaign", "day", "budget", "spent", "planned", "pacing_rate", "stopped", "updated_at")
    list_filter = ("stopped", "day")
    list_select_related = ("campaign__advertiser",)
    search_fields = ("campaign__name",)

    @admin.display(description="budget", ordering="budget_micros")
    def budget(self, obj: CampaignDay) -> str:
        return money(obj.budget_micros, obj.campaign.advertiser)

    @admin.display(description="spent", ordering="spent_micros")
    def spent(self, obj: CampaignDay) -> str:
        return money(obj.spent_micros, obj.campaign.advertiser)

    @admin.display(description="planned", ordering="planned_micros")
    def planned(self, obj: CampaignDay) -> str:
        return money(obj.planned_micros, obj.campaign.advertiser)

    @admin.display(description="pacing rate", ordering="rate")
    def pacing_rate(self, obj: CampaignDay) -> str:
        return f"{obj.rate * 100:.1f}%"


# These register their own admins and import this module's helpers, so they come last.
from campaigns import (  # noqa: E402
    admin_policy,  # noqa: F401  (the policy configuration's admin)
    admin_review,  # noqa: F401  (the review queue)
)
