"""Serializers of the report API: a report job as the client polls it, and the OpenAPI document's
description of a report's JSON answer (reporting/api/payload.py makes it) and of a job's body."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from campaigns.targeting import DEVICE_TYPES
from reporting.api.params import MAX_ID
from reporting.jobs import FORMATS, ORDERS
from reporting.models import ReportJob
from reporting.query import DIMENSION_LABELS, DIMENSIONS, METRIC_LABELS, METRICS, MONEY_METRICS, RATIO_METRICS

URL_OR_NULL = {"type": "string", "format": "uri", "nullable": True}


class ReportJobSerializer(serializers.ModelSerializer):
    """A report job: poll `url` until `status` is done or failed, then fetch `download_url`."""

    advertiser = serializers.IntegerField(source="advertiser_id", read_only=True)
    query = serializers.JSONField(read_only=True, help_text="The report's parameters, as validated.")
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ReportJob
        fields = (
            "id",
            "advertiser",
            "status",
            "format",
            "query",
            "rows",
            "error",
            "created_at",
            "finished_at",
            "url",
            "download_url",
        )
        read_only_fields = fields
        extra_kwargs = {
            "format": {"help_text": "The file's format: csv, xlsx or json."},
            "rows": {"help_text": "The report's rows, once it is done."},
            "error": {"help_text": "Why it failed (empty unless status is failed)."},
        }

    @extend_schema_field({"type": "string", "format": "uri"})
    def get_url(self, job: ReportJob) -> str:
        return reverse("report-job-detail", kwargs={"pk": job.pk}, request=self.context.get("request"))

    @extend_schema_field(URL_OR_NULL)
    def get_download_url(self, job: ReportJob) -> str | None:
        if job.status != ReportJob.Status.DONE:
            return None
        return reverse("report-job-download", kwargs={"pk": job.pk}, request=self.context.get("request"))


# The body of POST /report-jobs, for the document (reporting/api/params.py reads it). ---------------


def _id_list(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        required=False,
        help_text=help_text,
    )


class ReportJobRequestSerializer(serializers.Serializer):
    advertiser = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The advertiser account.")
    start = serializers.DateField(help_text="The first day.")
    end = serializers.DateField(help_text="The last day (included); at most 366 days in all.")
    time_zone = serializers.CharField(
        required=False,
        help_text="IANA name; the account's by default. Only zones a whole number of hours from UTC.",
    )
    dimensions = serializers.ListField(
        child=serializers.ChoiceField(DIMENSIONS), min_length=1, required=False, help_text="Group by these."
    )
    metrics = serializers.ListField(
        child=serializers.ChoiceField(METRICS),
        min_length=1,
        required=False,
        help_text="The figures; by default spend, impressions, clicks, CTR, CPC, CPM, conversions, CVR, "
        "CPA and ROAS.",
    )
    campaign = _id_list("Only these campaigns.")
    ad_group = _id_list("Only these ad groups.")
    creative = _id_list("Only these creatives.")
    placement = _id_list("Only these placements.")
    country = serializers.ListField(
        child=serializers.CharField(), min_length=1, required=False, help_text="ISO 3166-1 alpha-2 codes."
    )
    device = serializers.ListField(
        child=serializers.ChoiceField(DEVICE_TYPES), min_length=1, required=False, help_text="Device types."
    )
    sort = serializers.CharField(required=False, help_text="A dimension or metric of the report.")
    order = serializers.ChoiceField(ORDERS, required=False, help_text="asc or desc.")
    format = serializers.ChoiceField(FORMATS, required=False, help_text="The file's format; csv by default.")


# A report's JSON answer, for the document. ----------------------------------------------------------


class ReportColumnSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="A dimension or metric name.")
    label = serializers.CharField(help_text="As the dashboards show it.")
    kind = serializers.ChoiceField(["dimension", "count", "money", "ratio"])
    fields = serializers.ListField(
        child=serializers.CharField(),
        help_text="The keys of this column's values in a row (money has two: `spend_micros`, `spend`).",
    )


class DimensionValueSerializer(serializers.Serializer):
    value = serializers.JSONField(
        allow_null=True,
        help_text="An id (campaign, ad group, creative, placement), a code (country, device), a day "
        "(YYYY-MM-DD; a week by its Monday, a month by its first day), a local hour (ISO 8601 with "
        "its offset) or an hour of the day (0-23). Null for none (a credit has no creative).",
    )
    label = serializers.CharField(help_text="As shown: a name, a country, a formatted day.")


def _metric_fields() -> dict[str, serializers.Field]:
    fields: dict[str, serializers.Field] = {}
    for name in METRICS:
        label = METRIC_LABELS[name]
        if name in MONEY_METRICS:
            fields[f"{name}_micros"] = serializers.IntegerField(
                required=False, allow_null=True, help_text=f"{label}, in micros of the account currency."
            )
            fields[name] = serializers.CharField(
                required=False, allow_null=True, help_text=f"{label}, a decimal amount: exact, as a string."
            )
        elif name in RATIO_METRICS:
            fields[name] = serializers.FloatField(
                required=False,
                allow_null=True,
                help_text=f"{label}, a fraction (null: nothing to divide by).",
            )
        else:
            fields[name] = serializers.IntegerField(required=False, help_text=label)
    return fields


ReportMetricsSerializer: Any = type(
    "ReportMetricsSerializer",
    (serializers.Serializer,),
    {**_metric_fields(), "__doc__": "The metrics asked for (only those)."},
)
ReportDimensionsSerializer: Any = type(
    "ReportDimensionsSerializer",
    (serializers.Serializer,),
    {
        **{
            name: DimensionValueSerializer(required=False, help_text=DIMENSION_LABELS[name])
            for name in DIMENSIONS
        },
        "__doc__": "The dimensions asked for (only those).",
    },
)


class ReportRowSerializer(serializers.Serializer):
    dimensions = ReportDimensionsSerializer()
    metrics = ReportMetricsSerializer()


class ReportSerializer(serializers.Serializer):
    advertiser = serializers.IntegerField()
    currency = serializers.CharField(help_text="ISO 4217: the currency of every amount.")
    time_zone = serializers.CharField(help_text="Whose days and hours the report uses.")
    start = serializers.DateField()
    end = serializers.DateField()
    dimensions = serializers.ListField(child=serializers.ChoiceField(DIMENSIONS))
    metrics = serializers.ListField(child=serializers.ChoiceField(METRICS))
    filters = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField()), help_text="The filters applied."
    )
    sort = serializers.CharField(help_text="The column the rows are sorted by.")
    order = serializers.ChoiceField(ORDERS)
    watermark = serializers.DateTimeField(
        allow_null=True,
        help_text="Every event recorded before this instant is counted; later ones may not be yet.",
    )
    columns = ReportColumnSerializer(many=True)
    rows = ReportRowSerializer(many=True)
    totals = ReportMetricsSerializer(help_text="The whole range's figures (not only the rows').")
    row_count = serializers.IntegerField()
