"""The model registry in the admin: every trained pCTR and pCVR version, its model card, and the
three things staff do with it: promote a version, roll back the active one, train new ones now.

The card is read only. Promotion and roll-back go through delivery.ml.registry, which checks that the
artifact loads before anything changes and tells every serving process to reload once the change is
committed; each is also written to the audit log with the person who did it. Training runs in Celery
(delivery.tasks.train_models): a new version becomes active by itself only when it beats the active
one on its holdout.

Nothing is deleted here, not even a candidate that never served: a version's number names it in
decisions ("against the active v4"), in roll-back reasons and in later versions' comparisons, and
numbers are given as the highest plus one, so a deleted number would be given again to another model.
An artifact is a few megabytes; if the table ever needs pruning, that is a retention task's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import Length
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from kombu.exceptions import OperationalError

from accounts.admin import admin_actor
from accounts.audit import record
from delivery.ml import features, registry
from delivery.ml.charts import EMPTY, decimal, feature_chart, finite, percent, reliability_chart, significant
from delivery.models import ModelVersion

MANAGE_PERMISSION = "delivery.change_modelversion"
CAMPAIGNS_SHOWN = 50
# A campaign whose predicted positives are off its observed ones by more than this factor is named.
CALIBRATION_TOLERANCE = 1.25
TRAIN_CHOICES: dict[str, tuple[str, ...]] = {"ctr": ("ctr",), "cvr": ("cvr",), "both": ("ctr", "cvr")}
KIND_LABELS = {"ctr": "pCTR", "cvr": "pCVR"}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def status_badge(version: ModelVersion) -> str:
    """The status as a word first (colour only repeats it): the active one is bold and marked."""
    label = version.get_status_display()
    if version.status == ModelVersion.Status.ACTIVE:
        label = f"\N{BLACK CIRCLE} {label}"
    return format_html('<span class="ml-status ml-status--{}">{}</span>', version.status, label)


def section(metrics: Any, key: str) -> dict[str, Any]:
    """A part of the metrics JSON that is a mapping, or an empty one (missing, null, malformed)."""
    value = metrics.get(key) if isinstance(metrics, dict) else None
    return value if isinstance(value, dict) else {}


def count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else EMPTY


def window(version: ModelVersion) -> str:
    start, end = timezone.localtime(version.window_start), timezone.localtime(version.window_end)
    return f"{start:%Y-%m-%d} \N{EN DASH} {end:%Y-%m-%d}"


# ---------------------------------------------------------------------------------------------------
# The model card


@dataclass(frozen=True, slots=True)
class Metric:
    """How one holdout metric is read: its key, how it is written, which way is better."""

    key: str
    label: str
    digits: int | None = None  # decimals; None: a count
    rate: bool = False
    better: str = ""  # "higher", "lower", "nearer 1"; "" when not compared


HOLDOUT_METRICS = (
    Metric("auc", "AUC", digits=4, better="higher"),
    Metric("log_loss", "Log loss", digits=5, better="lower"),
    Metric("ne", "Normalised entropy (NE)", digits=4, better="lower"),
    Metric("calibration", "Calibration: predicted / observed", digits=3, better="nearer 1"),
    Metric("rows", "Rows"),
    Metric("positives", "Positives"),
    Metric("base_rate", "Base rate (observed)", rate=True),
)
# The ground truth's own scores of the same rows; its calibration is the model's against the truth.
TRUTH_METRICS = ("auc", "log_loss", "ne", "rows")


@dataclass(frozen=True, slots=True)
class MetricRow:
    label: str
    this: str
    active: str  # the active version's, scored on this version's holdout
    truth: str
    change: str  # this version against the active: "+0.0041, better"


def written(metric: Metric, value: Any) -> str:
    if metric.digits is None and not metric.rate:
        return count(value)
    number = finite(value)
    return percent(number) if metric.rate else decimal(number, metric.digits or 4)


def change(metric: Metric, this: Any, theirs: Any) -> str:
    mine, other = finite(this), finite(theirs)
    if not metric.better or mine is None or other is None:
        return ""
    if metric.better == "nearer 1":
        if mine <= 0 or other <= 0:
            return ""
        gain = abs(math.log(other)) - abs(math.log(mine))
    else:
        gain = mine - other if metric.better == "higher" else other - mine
    verdict = "better" if gain > 0 else "worse" if gain < 0 else "the same"
    return f"{mine - other:+.{metric.digits or 4}f}, {verdict}"


def metric_rows(metrics: Any) -> list[MetricRow]:
    holdout, truth = section(metrics, "holdout"), section(metrics, "truth")
    theirs = section(section(metrics, "compared_with"), "holdout")
    return [
        MetricRow(
            label=metric.label,
            this=written(metric, holdout.get(metric.key)),
            active=written(metric, theirs.get(metric.key)) if theirs else EMPTY,
            truth=written(metric, truth.get(metric.key)) if metric.key in TRUTH_METRICS else EMPTY,
            change=change(metric, holdout.get(metric.key), theirs.get(metric.key)),
        )
        for metric in HOLDOUT_METRICS
    ]


def compared_label(compared: Any) -> str | None:
    """What the version was compared with on its holdout: "v3", "the priors", or nothing."""
    label = compared.get("label") if isinstance(compared, dict) else None
    if isinstance(label, str) and label:
        return label
    number = compared.get("number") if isinstance(compared, dict) else None
    return f"v{number}" if isinstance(number, int) else None


def truth_facts(metrics: Any) -> list[tuple[str, str]]:
    """The model against the simulator's true probabilities: how much of the best it reaches."""
    truth = section(metrics, "truth")
    if not truth:
        return []
    gap = finite(truth.get("ne_gap"))
    return [
        ("AUC ratio (model / truth)", decimal(finite(truth.get("auc_ratio")), 3)),
        ("NE gap (model \N{MINUS SIGN} truth)", EMPTY if gap is None else f"{gap:+.4f}"),
        ("Predicted / the truth's expected positives", decimal(finite(truth.get("calibration")), 3)),
    ]


@dataclass(frozen=True, slots=True)
class CampaignRow:
    campaign_id: int | None
    name: str
    rows: str
    positives: str
    observed: str  # the observed rate
    predicted: str  # expected positives, by the model
    calibration: str  # predicted / observed positives
    off: str  # "over-predicts" or "under-predicts" beyond the tolerance; "" when within it
    truth_expected: str  # expected positives, by the simulator's truth
    against_truth: str  # predicted / the truth's expected positives


def campaign_rows(metrics: Any) -> list[CampaignRow]:
    raw = metrics.get("per_campaign") if isinstance(metrics, dict) else None
    out = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        rows, positives = item.get("rows"), item.get("positives")
        predicted, calibration = finite(item.get("predicted")), finite(item.get("calibration"))
        truth_expected = finite(item.get("truth_expected"))
        off = ""
        if calibration is not None and calibration > CALIBRATION_TOLERANCE:
            off = "over-predicts"
        elif calibration is not None and calibration < 1 / CALIBRATION_TOLERANCE:
            off = "under-predicts"
        campaign_id = item.get("campaign_id")
        out.append(
            CampaignRow(
                campaign_id=campaign_id if isinstance(campaign_id, int) else None,
                name=str(item.get("name") or (f"campaign {campaign_id}" if campaign_id else EMPTY)),
                rows=count(rows),
                positives=count(positives),
                observed=percent(positives / rows)
                if isinstance(rows, int) and rows > 0 and isinstance(positives, int)
                else EMPTY,
                predicted=decimal(predicted, 1),
                calibration=decimal(calibration, 2),
                off=off,
                truth_expected=decimal(truth_expected, 1),
                against_truth=decimal(predicted / truth_expected, 2)
                if predicted is not None and truth_expected
                else EMPTY,
            )
        )
    return out


def training_facts(version: ModelVersion, artifact_bytes: int | None) -> list[tuple[str, str]]:
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    train = section(metrics, "train")
    calibration = section(metrics, "calibration")
    method = metrics.get("calibration_method")
    slope, intercept = finite(calibration.get("slope")), finite(calibration.get("intercept"))
    platt = (
        f" (slope {significant(slope, 4)}, intercept {significant(intercept, 4)})"
        if slope is not None
        else ""
    )
    same_spec = version.spec_fingerprint == features.SPEC
    names = version.spec.get("names") if isinstance(version.spec, dict) else None
    return [
        ("Trained by", version.trained_by),
        ("Trained at", f"{timezone.localtime(version.created_at):%Y-%m-%d %H:%M %Z}"),
        ("Events read", window(version)),
        ("Holdout from", f"{timezone.localtime(version.holdout_start):%Y-%m-%d %H:%M %Z}"),
        (
            "Rows: train / calibration / holdout",
            f"{version.rows_train:,} / {version.rows_calibration:,} / {version.rows_holdout:,}",
        ),
        ("Positives in all rows", f"{version.positives:,}"),
        ("Best iteration", count(train.get("best_iteration"))),
        ("Calibration", f"{method}{platt}" if isinstance(method, str) else EMPTY),
        ("Training time", f"{version.training_seconds:,.1f} s"),
        ("Peak memory", filesizeformat(version.peak_memory_bytes)),
        (
            "Artifact",
            f"{filesizeformat(artifact_bytes) if artifact_bytes else EMPTY}, SHA-256 "
            f"{version.artifact_sha256[:16]}\N{HORIZONTAL ELLIPSIS}",
        ),
        (
            "Feature specification",
            f"{version.spec_fingerprint[:12]}, {len(names) if isinstance(names, list) else '?'} features: "
            + (
                "the serving code's"
                if same_spec
                else "not the serving code's, so it cannot be served (train a new version)"
            ),
        ),
    ]


def active_version(kind: str) -> ModelVersion | None:
    """registry.active without the artifact's megabytes: to name it, not to serve it."""
    return ModelVersion.objects.defer("artifact").filter(kind=kind, status=ModelVersion.Status.ACTIVE).first()


def roll_back_target(version: ModelVersion) -> ModelVersion | None:
    """The version a roll-back from `version` restores: the last one active before it (as the
    registry chooses it)."""
    return (
        ModelVersion.objects.defer("artifact")
        .filter(kind=version.kind, status=ModelVersion.Status.RETIRED, promoted_at__isnull=False)
        .exclude(pk=version.pk)
        .order_by("-promoted_at")
        .first()
    )


# ---------------------------------------------------------------------------------------------------
# The admin


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "kind_name",
        "number",
        "status_label",
        "created_at",
        "trained_by",
        "events_read",
        "rows",
        "auc",
        "ne",
        "calibration",
        "truth_auc_ratio",
    )
    list_display_links = ("kind_name", "number")
    list_filter = ("kind", "status")
    ordering = ("kind", "-number")
    actions = None
    fields = ("kind", "number", "status")  # the card replaces the form; see the template
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelVersion]:
        # The artifact (megabytes) is read only to promote; the list and the card never need it.
        return super().get_queryset(request).defer("artifact")

    # Permissions: anyone who may view sees the cards; promoting, rolling back and training need the
    # change permission; nobody adds, edits or deletes a version here.

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_PERMISSION)

    # Columns

    @admin.display(description="kind", ordering="kind")
    def kind_name(self, obj: ModelVersion) -> str:
        return kind_label(obj.kind)

    @admin.display(description="status", ordering="status")
    def status_label(self, obj: ModelVersion) -> str:
        return status_badge(obj)

    @admin.display(description="events read", ordering="window_end")
    def events_read(self, obj: ModelVersion) -> str:
        return window(obj)

    @admin.display(description="rows: train / holdout")
    def rows(self, obj: ModelVersion) -> str:
        return f"{obj.rows_train:,} / {obj.rows_holdout:,}"

    @admin.display(description="holdout AUC", ordering="metrics__holdout__auc")
    def auc(self, obj: ModelVersion) -> str:
        return decimal(finite(section(obj.metrics, "holdout").get("auc")), 4)

    @admin.display(description="NE", ordering="metrics__holdout__ne")
    def ne(self, obj: ModelVersion) -> str:
        return decimal(finite(section(obj.metrics, "holdout").get("ne")), 4)

    @admin.display(description="calibration", ordering="metrics__holdout__calibration")
    def calibration(self, obj: ModelVersion) -> str:
        return decimal(finite(section(obj.metrics, "holdout").get("calibration")), 3)

    @admin.display(description="AUC / truth's")
    def truth_auc_ratio(self, obj: ModelVersion) -> str:
        return decimal(finite(section(obj.metrics, "truth").get("auc_ratio")), 3)

    # The list, with the "Train now" buttons

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra = {
            "title": "Model versions",
            **(extra_context or {}),
            "can_manage": self.has_manage_permission(request),
            "train_url": reverse("admin:delivery_modelversion_train"),
            "active_versions": list(
                ModelVersion.objects.defer("artifact")
                .filter(status=ModelVersion.Status.ACTIVE)
                .order_by("kind")
            ),
        }
        return super().changelist_view(request, extra)

    # The model card (the change view, read only)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        if obj is not None:
            context.update(self.card(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def card(self, request: HttpRequest, version: ModelVersion) -> dict[str, Any]:
        metrics = version.metrics if isinstance(version.metrics, dict) else {}
        compared = section(metrics, "compared_with")
        artifact_bytes = (
            ModelVersion.objects.filter(pk=version.pk)
            .annotate(size=Length("artifact"))
            .values_list("size", flat=True)
        ).first()
        campaigns = campaign_rows(metrics)
        is_active = version.status == ModelVersion.Status.ACTIVE
        return {
            "title": f"{kind_label(version.kind)} v{version.number}",
            "subtitle": version.get_kind_display(),
            "version": version,
            "status_badge": status_badge(version),
            "spec_matches": version.spec_fingerprint == features.SPEC,
            "metric_rows": metric_rows(metrics),
            "compared_label": compared_label(compared),
            "has_truth": bool(section(metrics, "truth")),
            "truth_facts": truth_facts(metrics),
            "campaigns": campaigns[:CAMPAIGNS_SHOWN],
            "campaigns_left_out": max(0, len(campaigns) - CAMPAIGNS_SHOWN),
            "campaigns_have_truth": any(row.truth_expected != EMPTY for row in campaigns),
            "reliability": reliability_chart(metrics.get("reliability")),
            "top_features": feature_chart(metrics.get("top_features")),
            "facts": training_facts(version, artifact_bytes),
            "params": sorted(section(section(metrics, "train"), "params").items()),
            "can_manage": self.has_manage_permission(request),
            "current": None if is_active else active_version(version.kind),
            "roll_back_to": roll_back_target(version) if is_active else None,
            "promote_url": reverse("admin:delivery_modelversion_promote", args=[version.pk]),
            "roll_back_url": reverse("admin:delivery_modelversion_roll_back", args=[version.pk]),
        }

    # Actions: each a POST from a button, for staff with the change permission

    def get_urls(self) -> list[Any]:
        return [
            path("train/", self.admin_site.admin_view(self.train_view), name="delivery_modelversion_train"),
            path(
                "<path:object_id>/promote/",
                self.admin_site.admin_view(self.promote_view),
                name="delivery_modelversion_promote",
            ),
            path(
                "<path:object_id>/roll-back/",
                self.admin_site.admin_view(self.roll_back_view),
                name="delivery_modelversion_roll_back",
            ),
            *super().get_urls(),
        ]

    def version_to_manage(self, request: HttpRequest, object_id: str) -> ModelVersion:
        if not self.has_manage_permission(request):
            raise PermissionDenied("Promoting and rolling back models needs the permission to change them.")
        version = self.get_object(request, object_id)
        if version is None:
            raise Http404("No such model version.")
        return version

    def card_url(self, version: ModelVersion) -> str:
        return reverse("admin:delivery_modelversion_change", args=[version.pk])

    def promote_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = self.version_to_manage(request, object_id)
        if version.status == ModelVersion.Status.ACTIVE:
            messages.info(request, f"{version} is already the active {kind_label(version.kind)} model.")
            return HttpResponseRedirect(self.card_url(version))
        actor = admin_actor(request)
        by = actor.label  # the user's email
        why = request.POST.get("reason", "").strip()[:500]
        reason = f"Promoted by {by} in the admin" + (f": {why}" if why else ".")
        try:
            with transaction.atomic():
                replaced = registry.active(version.kind)
                before = {"status": version.status, "promoted_by": version.promoted_by}
                registry.promote(version, by=by, reason=reason)
                record(
                    actor=actor,
                    action="promote",
                    obj=version,
                    before=before,
                    after={"status": version.status, "promoted_by": by, "reason": reason},
                )
                if replaced is not None:
                    record(
                        actor=actor,
                        action="retire",
                        obj=replaced,
                        before={"status": "active"},
                        after={"status": "retired", "replaced_by": str(version)},
                    )
        except registry.RegistryError as exc:
            messages.error(request, f"Not promoted: {exc}")
        except IntegrityError:  # another promotion of the same kind committed first
            messages.error(request, "Not promoted: the active model changed meanwhile. Look again and retry.")
        else:
            after = f", replacing {replaced} (now retired)" if replaced is not None else ""
            messages.success(
                request,
                f"{version} is now the active {kind_label(version.kind)} model{after}. Serving processes "
                "load it within seconds.",
            )
        return HttpResponseRedirect(self.card_url(version))

    def roll_back_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = self.version_to_manage(request, object_id)
        if version.status != ModelVersion.Status.ACTIVE:
            messages.error(request, f"Not rolled back: {version} is not the active model.")
            return HttpResponseRedirect(self.card_url(version))
        actor = admin_actor(request)
        by = actor.label
        try:
            with transaction.atomic():
                restored = registry.roll_back(version.kind, by=by)
                record(
                    actor=actor,
                    action="roll_back",
                    obj=restored,
                    before={"status": "retired"},
                    after={"status": "active", "promoted_by": by, "rolled_back_from": str(version)},
                )
                record(
                    actor=actor,
                    action="retire",
                    obj=version,
                    before={"status": "active"},
                    after={"status": "retired", "replaced_by": str(restored)},
                )
        except registry.RegistryError as exc:
            messages.error(request, f"Not rolled back: {exc}")
            return HttpResponseRedirect(self.card_url(version))
        except IntegrityError:
            messages.error(
                request, "Not rolled back: the active model changed meanwhile. Look again and retry."
            )
            return HttpResponseRedirect(self.card_url(version))
        messages.success(
            request,
            f"Rolled back: {restored} is the active {kind_label(version.kind)} model again and {version} is "
            "retired. Serving processes load it within seconds.",
        )
        return HttpResponseRedirect(self.card_url(restored))

    def train_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_manage_permission(request):
            raise PermissionDenied("Training models needs the permission to change them.")
        changelist = reverse("admin:delivery_modelversion_changelist")
        kinds = TRAIN_CHOICES.get(request.POST.get("kinds", ""))
        if kinds is None:
            messages.error(request, "Choose what to train: pCTR, pCVR or both.")
            return HttpResponseRedirect(changelist)
        from delivery.tasks import train_models  # here: the task module imports the trainer (LightGBM)

        try:
            train_models.delay(kinds=list(kinds), trained_by=f"admin:{admin_actor(request).label}")
        except OperationalError as exc:
            messages.error(request, f"Training was not queued: the task queue cannot be reached ({exc}).")
            return HttpResponseRedirect(changelist)
        names = " and ".join(kind_label(kind) for kind in kinds)
        messages.success(
            request,
            f"Training of {names} is queued. Each new version appears here when it is done; it becomes "
            "active only if it beats the active one on its holdout.",
        )
        return HttpResponseRedirect(changelist)
