"""The review queue in the admin: creatives in review, oldest first, one review page each.

Reviewers (the "Reviewers" group: staff, not superusers) see the queue and decide; every decision
goes through campaigns.services.review_creative, which holds the rules and writes the audit entry.
The figures on top of the queue are read from that audit log.
"""

from __future__ import annotations

import statistics

# DOCTYPE and ENTITY declarations are refused before parsing (defusedxml is not a dependency).
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import CharField, Exists, OuterRef, QuerySet
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from accounts.admin import EMPTY, admin_actor
from accounts.models import AuditLog
from campaigns import policy
from campaigns.admin import CreativeAdmin, RejectForm, reason_labels, thumbnail
from campaigns.models import CallToAction, Creative, CreativeReview, RejectionReason
from campaigns.services import review_creative

REVIEW_PERMISSION = "campaigns.review_creative"
CREATIVE_LABEL = Creative._meta.label  # the audit log's object_type of a creative
DECISIONS = ("approve", "reject")


def waiting_for(since: datetime | None, now: datetime | None = None) -> str:
    """'3 h 12 min', '2 d 4 h', '5 min': how long a creative has waited, to the minute."""
    if since is None:
        return EMPTY
    minutes = max(0, int(((now or timezone.now()) - since).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def failed_checks(creative: Creative) -> list[dict[str, Any]]:
    return [check for check in creative.policy_checks or [] if not check.get("passed", True)]


def checks_summary(creative: Creative) -> str:
    """'2 failed: Prohibited words (casino); Landing domain' or 'All 7 passed'."""
    if not creative.policy_checks:
        return "Not checked"
    failed = failed_checks(creative)
    if not failed:
        return f"All {len(creative.policy_checks)} passed"
    parts = [
        f"{check.get('label', check.get('check', '?'))}"
        + (f" ({', '.join(check['matched'])})" if check.get("matched") else "")
        for check in failed
    ]
    return f"{len(failed)} failed: " + "; ".join(parts)


def undeclared_landing_domain(creative: Creative) -> bool:
    """True when the landing page is not on one of the advertiser's declared domains (none declared
    counts as undeclared: the reviewer has nothing to compare with)."""
    host = policy.landing_host(creative.landing_url)
    return not any(host == domain or host.endswith("." + domain) for domain in creative.advertiser.domains)


# ---------------------------------------------------------------------------------------------------
# VAST summary


class VastError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MediaFile:
    url: str
    type: str
    width: str
    height: str
    bitrate: str


@dataclass(frozen=True, slots=True)
class VastSummary:
    version: str
    title: str = ""
    duration: str = ""
    media_files: list[MediaFile] = field(default_factory=list)
    click_through: str = ""
    impressions: int = 0
    wrapper_url: str = ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # VAST 4 documents carry a namespace; earlier ones do not


def vast_summary(document: str) -> VastSummary:
    """What a reviewer needs to know of a VAST document. Raises VastError for anything unreadable.

    The standard library parser expands internal entities (a "billion laughs" document would take
    the process down), so a document that declares a DOCTYPE or an ENTITY is refused outright."""
    head = document.upper()
    if "<!DOCTYPE" in head or "<!ENTITY" in head:
        raise VastError("The VAST document declares a DOCTYPE or entities, which are not accepted.")
    try:
        root = ET.fromstring(document.encode())  # noqa: S314 -- see above
    except ET.ParseError as exc:
        raise VastError(f"The VAST document is not well-formed XML: {exc}.") from exc
    if _local(root.tag) != "VAST":
        raise VastError("This is not a VAST document (its root element is not <VAST>).")

    def texts(name: str) -> list[str]:
        return [(el.text or "").strip() for el in root.iter() if _local(el.tag) == name]

    def first(name: str) -> str:
        found = texts(name)
        return found[0] if found else ""

    media = [
        MediaFile(
            url=(el.text or "").strip(),
            type=el.get("type", ""),
            width=el.get("width", ""),
            height=el.get("height", ""),
            bitrate=el.get("bitrate", ""),
        )
        for el in root.iter()
        if _local(el.tag) == "MediaFile"
    ]
    return VastSummary(
        version=root.get("version", ""),
        title=first("AdTitle"),
        duration=first("Duration"),
        media_files=media,
        click_through=first("ClickThrough"),
        impressions=len(texts("Impression")),
        wrapper_url=first("VASTAdTagURI"),
    )


# ---------------------------------------------------------------------------------------------------
# Throughput figures


@dataclass(frozen=True, slots=True)
class ReasonShare:
    code: str
    label: str
    count: int
    share: float


@dataclass(frozen=True, slots=True)
class Throughput:
    waiting: int
    oldest_waiting: str
    decisions: int
    approved: int
    rejected: int
    approval_rate: float | None
    median_to_decision: str
    rejections_by_reason: list[ReasonShare]
    days: int


def _submitted_at_each_decision(decisions: list[Any]) -> list[float]:
    """For each decision, the time from the creative's submission (as it stood then) to the decision.

    A decision's own audit entry holds only what it changed, never submitted_at; the submission
    times are in the creative's create entry (a whole snapshot) and in each edit that sent it back
    to review. One query for all the creatives concerned."""
    ids = {entry["object_id"] for entry in decisions}
    submissions: dict[str, list[datetime]] = {}
    rows = (
        AuditLog.objects.filter(object_type=CREATIVE_LABEL, object_id__in=ids, after__has_key="submitted_at")
        .exclude(action__in=DECISIONS)
        .values_list("object_id", "after__submitted_at")
    )
    for object_id, value in rows:
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is not None:
            submissions.setdefault(object_id, []).append(moment)
    current = dict(
        Creative.objects.filter(pk__in=[int(i) for i in ids if i.isdigit()]).values_list("pk", "submitted_at")
    )
    waits = []
    for entry in decisions:
        candidates = [m for m in submissions.get(entry["object_id"], []) if m <= entry["created_at"]]
        stored = current.get(int(entry["object_id"])) if entry["object_id"].isdigit() else None
        if stored is not None and stored <= entry["created_at"]:
            candidates.append(stored)
        if candidates:
            waits.append((entry["created_at"] - max(candidates)).total_seconds())
    return waits


def throughput(*, days: int = 7, limit: int = 1000, now: datetime | None = None) -> Throughput:
    """The queue's figures: decisions of the last `days` days (at most the `limit` latest)."""
    now = now or timezone.now()
    queue = CreativeReview.objects.all()
    oldest = queue.values_list("submitted_at", flat=True).first()
    decisions = list(
        AuditLog.objects.filter(
            object_type=CREATIVE_LABEL, action__in=DECISIONS, created_at__gte=now - timedelta(days=days)
        )
        .order_by("-created_at")
        .values("object_id", "action", "after", "created_at")[:limit]
    )
    approved = sum(1 for entry in decisions if entry["action"] == "approve")
    rejected = len(decisions) - approved
    counts: dict[str, int] = {}
    for entry in decisions:
        if entry["action"] == "reject":
            for code in (entry["after"] or {}).get("rejection_reasons") or []:
                counts[code] = counts.get(code, 0) + 1
    labels = dict(RejectionReason.choices)
    by_reason = [
        ReasonShare(code, labels.get(code, code), count, count / rejected)
        for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    waits = _submitted_at_each_decision(decisions)
    median = statistics.median(waits) if waits else None
    return Throughput(
        waiting=queue.count(),
        oldest_waiting=waiting_for(oldest, now) if oldest else EMPTY,
        decisions=len(decisions),
        approved=approved,
        rejected=rejected,
        approval_rate=approved / len(decisions) if decisions else None,
        median_to_decision=waiting_for(now - timedelta(seconds=median), now) if median is not None else EMPTY,
        rejections_by_reason=by_reason,
        days=days,
    )


# ---------------------------------------------------------------------------------------------------
# The queue


class FailedCheckFilter(admin.SimpleListFilter):
    title = "failed check"
    parameter_name = "failed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("prohibited_terms", "Prohibited words"),
            ("landing_https", "Landing page not https"),
            ("landing_domain_denied", "Denied landing domain"),
            ("landing_domain_declared", "Undeclared landing domain"),
            ("image_dimensions", "Image dimensions"),
            ("image_size", "Image file size"),
            ("near_duplicate", "Near duplicate of a rejected image"),
            ("any", "Any check"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        if value == "any":
            return queryset.filter(policy_checks__contains=[{"passed": False}])
        return queryset.filter(policy_checks__contains=[{"check": value, "passed": False}])


@admin.register(CreativeReview)
class CreativeReviewAdmin(admin.ModelAdmin):
    # What decides a review first: the checks' outcome; the admin's narrow content column cuts the rest.
    list_display = ("preview", "name", "checks", "waiting", "advertiser", "landing", "format", "resubmitted")
    list_display_links = ("preview", "name")
    list_filter = ("format", FailedCheckFilter, "advertiser")
    search_fields = ("name", "advertiser__name", "headline", "landing_url")
    ordering = ("submitted_at", "id")
    actions: Any = ("approve", "reject", "recheck")
    list_per_page = 50
    change_list_template = "admin/campaigns/creativereview/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rejected_before = AuditLog.objects.filter(
            object_type=CREATIVE_LABEL,
            object_id=Cast(OuterRef("pk"), output_field=CharField()),
            action="reject",
        )
        return (
            super()
            .get_queryset(request)
            .select_related("advertiser")
            .annotate(was_rejected=Exists(rejected_before))
        )

    # Permissions: reviewers see the queue and decide; nobody adds, edits or deletes through it.

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_review_permission(request, obj)

    # Columns

    @admin.display(description="preview")
    def preview(self, obj: Creative) -> str:
        return thumbnail(obj, max_width=80, max_height=50)

    @admin.display(description="landing page", ordering="landing_url")
    def landing(self, obj: Creative) -> str:
        host = policy.landing_host(obj.landing_url)
        if undeclared_landing_domain(obj):
            return format_html(
                '<span title="{}">{}</span> <strong class="review-flag" title="{}">⚠ undeclared</strong>',
                obj.landing_url,
                host,
                "Not among the advertiser's declared domains",
            )
        return format_html('<span title="{}">{}</span>', obj.landing_url, host)

    @admin.display(description="waiting", ordering="submitted_at")
    def waiting(self, obj: Creative) -> str:
        return waiting_for(obj.submitted_at)

    @admin.display(description="policy checks")
    def checks(self, obj: Creative) -> str:
        summary = checks_summary(obj)
        css = "review-failed" if failed_checks(obj) else "review-passed"
        return format_html('<span class="{}">{}</span>', css, summary)

    @admin.display(description="resubmitted", boolean=True)
    def resubmitted(self, obj: Any) -> bool:
        return bool(getattr(obj, "was_rejected", False))

    # The changelist with its figures

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra = {"title": "Creatives awaiting review", **(extra_context or {}), "throughput": throughput()}
        return super().changelist_view(request, extra)

    # Bulk actions

    @admin.action(description="Approve selected creatives", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        CreativeAdmin.approve(self, request, queryset)  # type: ignore[arg-type]

    @admin.action(description="Reject selected creatives…", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Any]) -> TemplateResponse | None:
        return CreativeAdmin.reject(self, request, queryset)  # type: ignore[arg-type]

    @admin.action(description="Re-run the policy checks on selected creatives", permissions=["review"])
    def recheck(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        actor = admin_actor(request)
        outcome = {"checked": 0, "rejected": 0, "approved": 0}
        for creative in queryset:
            policy.check_and_decide(creative, actor=actor)
            outcome["checked"] += 1
            if creative.review_status in (Creative.ReviewStatus.REJECTED, Creative.ReviewStatus.APPROVED):
                outcome[creative.review_status] += 1
        self.message_user(
            request,
            f"Checked {outcome['checked']}: {outcome['rejected']} rejected and "
            f"{outcome['approved']} approved automatically.",
            messages.SUCCESS,
        )

    # The review page (the change view)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        # Any creative, not only the queue's: a decided one shows its decision instead of the buttons.
        creative = get_object_or_404(
            Creative.objects.select_related("advertiser", "ad_group__campaign", "reviewed_by"),
            pk=object_id if object_id.isdigit() else None,
        )
        form = RejectForm()
        if request.method == "POST":
            if not self.has_review_permission(request):
                raise PermissionDenied
            decided, form = self._decide(request, creative)
            if decided:
                return self._next(request, creative)
        return self._render_review(request, creative, form)

    def _decide(self, request: HttpRequest, creative: Creative) -> tuple[bool, RejectForm]:
        decision = request.POST.get("decision")
        form = RejectForm(request.POST if decision == "reject" else None)
        if creative.review_status != Creative.ReviewStatus.PENDING:
            self.message_user(
                request,
                f"“{creative}” was already decided ({creative.get_review_status_display().lower()}).",
                messages.WARNING,
            )
            return True, form
        if decision not in DECISIONS:
            self.message_user(request, "Choose Approve or Reject.", messages.ERROR)
            return False, form
        if decision == "reject" and not form.is_valid():
            return False, form
        try:
            review_creative(
                creative=creative,
                actor=admin_actor(request),
                approve=decision == "approve",
                reasons=form.cleaned_data["reasons"] if decision == "reject" else None,
                note=form.cleaned_data["note"] if decision == "reject" else "",
            )
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
            return False, form
        past = "approved" if decision == "approve" else "rejected"
        self.message_user(request, f"“{creative}” {past}.", messages.SUCCESS)
        return True, form

    def _next(self, request: HttpRequest, creative: Creative) -> HttpResponseRedirect:
        following = CreativeReview.objects.exclude(pk=creative.pk).values_list("pk", flat=True).first()
        if following is None:
            self.message_user(request, "The queue is empty.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:campaigns_creativereview_changelist"))
        return HttpResponseRedirect(reverse("admin:campaigns_creativereview_change", args=[following]))

    def _render_review(self, request: HttpRequest, creative: Creative, form: RejectForm) -> TemplateResponse:
        vast: VastSummary | None = None
        vast_error = ""
        if creative.vast_xml:
            try:
                vast = vast_summary(creative.vast_xml)
            except VastError as exc:
                vast_error = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review “{creative.name}”",
            "subtitle": None,
            "opts": self.opts,
            "creative": creative,
            "advertiser": creative.advertiser,
            "landing_host": policy.landing_host(creative.landing_url),
            "undeclared": undeclared_landing_domain(creative),
            "waiting": waiting_for(creative.submitted_at),
            "checks": creative.policy_checks or [],
            "checks_summary": checks_summary(creative),
            "call_to_action": dict(CallToAction.choices).get(creative.call_to_action, ""),
            "vast": vast,
            "vast_error": vast_error,
            "reasons": reason_labels(creative),
            "pending": creative.review_status == Creative.ReviewStatus.PENDING,
            "can_review": self.has_review_permission(request),
            "form": form,
            "position": CreativeReview.objects.filter(submitted_at__lt=creative.submitted_at).count() + 1,
            "queue_length": CreativeReview.objects.count(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/campaigns/creativereview/review.html", context)
