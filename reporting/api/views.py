"""The report API: `GET /reports` answers a report at once (JSON, CSV or XLSX), or, when it may pass
REPORT_INLINE_MAX_ROWS rows, creates a report job and answers 202 with it; `POST /report-jobs` always
creates a job; `GET /report-jobs/{id}` polls it and `GET /report-jobs/{id}/download` fetches its file.

The numbers are the dashboards' (reporting.tables over reporting.query). A report is a read: every
role may ask for one, and create a job. A job belongs to its advertiser: whoever can see the
advertiser can see its jobs; to anyone else they do not exist (404).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from accounts.access import advertiser_filter
from accounts.api import schema
from accounts.api.base import TenantViewSet
from accounts.api.errors import Conflict
from accounts.api.ratelimit import limit_advertiser
from accounts.api.schema import errors
from accounts.models import Advertiser
from campaigns.targeting import DEVICE_TYPES
from reporting import exports, jobs
from reporting.api import params
from reporting.api.payload import report_data
from reporting.api.serializers import ReportJobRequestSerializer, ReportJobSerializer, ReportSerializer
from reporting.models import ReportJob
from reporting.query import DIMENSIONS, METRICS, ReportError
from reporting.tables import DEFAULT_METRICS

NOT_FOUND = "Not found. It does not exist, or it is not yours to see."


class FileRenderer(BaseRenderer):
    """Lets content negotiation take `Accept: text/csv` (or XLSX) for a report file. The file itself
    is an HttpResponse; every DRF Response of these views (an error, a job) is JSON."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> Any:
        return JSONRenderer().render(data, accepted_media_type, renderer_context)


class CSVRenderer(FileRenderer):
    media_type = "text/csv"
    format = "csv"


class XLSXRenderer(FileRenderer):
    media_type = exports.FORMATS["xlsx"]
    format = "xlsx"


FILE_RENDERERS = (JSONRenderer, CSVRenderer, XLSXRenderer)


class ReportViews(TenantViewSet):
    """What the report views share: the advertiser asked about, report errors as 400s, JSON for
    everything but a file, and jobs as the client sees them."""

    pagination_class: Any = None
    filter_backends: Any = ()

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response):  # an error or a job: JSON, whatever Accept asked for
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def job_response(self, job: ReportJob, status_code: int) -> Response:
        response = Response(
            ReportJobSerializer(job, context={"request": self.request}).data, status=status_code
        )
        response["ETag"] = job_etag(job)
        if status_code in (status.HTTP_201_CREATED, status.HTTP_202_ACCEPTED):
            response["Location"] = reverse("report-job-detail", kwargs={"pk": job.pk}, request=self.request)
        return response


def job_etag(job: ReportJob) -> str:
    """The job's version, which changes as it runs. (Not the audit snapshot's: that would hash the file.)"""
    state = f"{job.pk}:{job.status}:{job.rows}:{job.finished_at}"
    return '"' + hashlib.sha256(state.encode()).hexdigest()[:32] + '"'


@contextmanager
def report_errors() -> Iterator[None]:
    """A question the rollups refuse (a time zone half an hour off UTC) is a 400 naming the field."""
    try:
        yield
    except ReportError as exc:
        raise ValidationError({exc.field: [exc.message]}) from None


def file_response(content: bytes, fmt: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=jobs.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# GET /reports -----------------------------------------------------------------------------------------


def _list_parameter(name: str, items: dict[str, Any], description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        {"type": "array", "items": items, "minItems": 1},
        OpenApiParameter.QUERY,
        style="form",
        explode=False,
        description=description,
    )


def _ids(what: str) -> OpenApiParameter:
    return _list_parameter(
        what,
        {"type": "integer", "minimum": 1, "maximum": params.MAX_ID},
        f"Only these {what.replace('_', ' ')}s (comma-separated ids); another account's ids match nothing.",
    )


REPORT_PARAMETERS = [
    OpenApiParameter(
        "advertiser",
        {"type": "integer", "minimum": 1, "maximum": params.MAX_ID},
        OpenApiParameter.QUERY,
        required=True,
        description="The advertiser account (an agency's key sees many). One you cannot see answers 404.",
    ),
    OpenApiParameter(
        "start", OpenApiTypes.DATE, OpenApiParameter.QUERY, required=True, description="The first day."
    ),
    OpenApiParameter(
        "end",
        OpenApiTypes.DATE,
        OpenApiParameter.QUERY,
        required=True,
        description=f"The last day, included: at most {params.MAX_DAYS} days from `start`.",
    ),
    OpenApiParameter(
        "time_zone",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        description="An IANA name whose days and hours the report uses; by default the account's. The "
        "rollups are by the UTC hour, so only zones a whole number of hours from UTC over the range are "
        "accepted (Asia/Kolkata is refused: ask in the account's zone).",
    ),
    _list_parameter(
        "dimensions",
        {"type": "string", "enum": list(DIMENSIONS)},
        "Group by these, in this order (comma-separated). None: one line of totals.",
    ),
    _list_parameter(
        "metrics",
        {"type": "string", "enum": list(METRICS)},
        f"The figures (comma-separated); by default {', '.join(DEFAULT_METRICS)}.",
    ),
    _ids("campaign"),
    _ids("ad_group"),
    _ids("creative"),
    _ids("placement"),
    _list_parameter("country", {"type": "string"}, "Only these countries (ISO 3166-1 alpha-2, e.g. US,FR)."),
    _list_parameter("device", {"type": "string", "enum": list(DEVICE_TYPES)}, "Only these device types."),
    OpenApiParameter(
        "sort",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        description="A dimension or metric of the report. By default the first time dimension, else spend.",
    ),
    OpenApiParameter(
        "order",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        enum=list(jobs.ORDERS),
        description="For `sort`: by default ascending for a dimension, descending for a metric.",
    ),
    OpenApiParameter(
        "format",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        enum=list(jobs.FORMATS),
        description="json (the default), csv or xlsx; `Accept: text/csv` asks for CSV too.",
    ),
]

REPORT_EXAMPLE = {
    "advertiser": 12,
    "currency": "USD",
    "time_zone": "America/New_York",
    "start": "2025-03-01",
    "end": "2025-03-02",
    "dimensions": ["day", "campaign"],
    "metrics": ["spend", "clicks", "ctr"],
    "filters": {},
    "sort": "day",
    "order": "asc",
    "watermark": "2025-03-03T09:58:00Z",
    "columns": [
        {"key": "day", "label": "Day", "kind": "dimension", "fields": ["day"]},
        {"key": "campaign", "label": "Campaign", "kind": "dimension", "fields": ["campaign"]},
        {"key": "spend", "label": "Spend", "kind": "money", "fields": ["spend_micros", "spend"]},
        {"key": "clicks", "label": "Clicks", "kind": "count", "fields": ["clicks"]},
        {"key": "ctr", "label": "CTR", "kind": "ratio", "fields": ["ctr"]},
    ],
    "rows": [
        {
            "dimensions": {
                "day": {"value": "2025-03-01", "label": "2025-03-01"},
                "campaign": {"value": 301, "label": "Spring sale"},
            },
            "metrics": {"spend_micros": 12345600, "spend": "12.3456", "clicks": 42, "ctr": 0.0125},
        }
    ],
    "totals": {"spend_micros": 12345600, "spend": "12.3456", "clicks": 42, "ctr": 0.0125},
    "row_count": 1,
}
JOB_EXAMPLE = {
    "id": 88,
    "advertiser": 12,
    "status": "done",
    "format": "csv",
    "query": {"dimensions": ["day", "creative", "country"], "start": "2025-01-01", "end": "2025-03-31"},
    "rows": 48210,
    "error": "",
    "created_at": "2025-04-01T09:30:00Z",
    "finished_at": "2025-04-01T09:30:41Z",
    "url": "https://ads.example.com/api/v1/report-jobs/88",
    "download_url": "https://ads.example.com/api/v1/report-jobs/88/download",
}
FILE_SCHEMA = {"type": "string", "format": "binary"}
JOB_NOT_READY = (
    "The job is not done: still queued or running (`not_ready`), or it failed (`report_failed`, "
    "with its error)."
)


class ReportViewSet(ReportViews):
    renderer_classes = FILE_RENDERERS

    @extend_schema(
        operation_id="reports_get",
        summary="Get a report",
        description=(
            "An advertiser's figures over a range of its days: grouped by `dimensions`, filtered, "
            "sorted, with the totals of the whole range. The numbers are the dashboards'. Money is "
            "exact: integer micros (`spend_micros`) and a decimal string (`spend`) of `currency`; "
            "rates are fractions. `watermark` says up to when events are counted.\n\n"
            "A report that may pass the inline limit (`REPORT_INLINE_MAX_ROWS` rows, 10,000 by "
            "default) is not answered at once: the answer is **202** with a report job (and its URL in "
            "`Location`), to poll until it is done, then download. Asking the same again within 5 "
            "minutes answers with the same job. `POST /report-jobs` always creates one."
        ),
        parameters=[*REPORT_PARAMETERS, *schema.READ_PARAMETERS],
        responses={
            (200, "application/json"): ReportSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, exports.FORMATS["xlsx"]): FILE_SCHEMA,
            (202, "application/json"): OpenApiResponse(
                ReportJobSerializer, description="Too large to answer at once: a report job was created."
            ),
            **errors(
                400,
                401,
                404,
                429,
                _400="A parameter is not valid; `fields` names each one.",
                _404="No such advertiser among yours.",
            ),
        },
        examples=[
            OpenApiExample(
                "Days by campaign", value=REPORT_EXAMPLE, response_only=True, status_codes=["200"]
            ),
            OpenApiExample(
                "Queued", value={**JOB_EXAMPLE, "status": "queued"}, response_only=True, status_codes=["202"]
            ),
        ],
    )
    def report(self, request: Request) -> Response | HttpResponse:
        advertiser_id, report, fmt = params.read(request.query_params, query_string=True)
        advertiser = Advertiser.objects.for_user(request.user).filter(pk=advertiser_id).first()
        if advertiser is None:
            raise NotFound(NOT_FOUND)
        limit_advertiser(advertiser.pk)
        fmt = fmt or request.accepted_renderer.format
        with report_errors():
            spec = report.spec(advertiser)
            if jobs.estimate_rows(spec) > settings.REPORT_INLINE_MAX_ROWS:
                if request.method == "HEAD":  # safe: it says a job would be made, and makes none
                    return Response(status=status.HTTP_202_ACCEPTED)
                job = jobs.recent_job(advertiser=advertiser, report=report, fmt=fmt) or jobs.create_job(
                    advertiser=advertiser, report=report, fmt=fmt, principal=request.user
                )
                return self.job_response(job, status.HTTP_202_ACCEPTED)
            table = report.table(spec)
        if fmt == "json":
            return Response(report_data(spec, report, table))
        return file_response(jobs.render(spec, report, table, fmt), fmt, jobs.filename(spec, fmt))


# /report-jobs -----------------------------------------------------------------------------------------


class ReportJobViewSet(ReportViews):
    """Report jobs of the advertisers the caller can see."""

    http_method_names = ("get", "post", "head", "options")
    queryset = ReportJob.objects.select_related("advertiser").order_by("-created_at", "-id")
    serializer_class = ReportJobSerializer
    parser_classes = (JSONParser,)

    def get_queryset(self) -> QuerySet[ReportJob]:
        jobs_seen = self.queryset.filter(advertiser_filter(self.request.user, field="advertiser_id"))
        return jobs_seen if self.action == "download" else jobs_seen.defer("result")

    def object_response(self, obj: Any, status_code: int = status.HTTP_200_OK) -> Response:
        return self.job_response(obj, status_code)

    @extend_schema(
        operation_id="report_jobs_create",
        summary="Create a report job",
        description=(
            "The same parameters as `GET /reports`, in a JSON body (lists as arrays), for a report of "
            "any size: it is made by a worker. Poll the job's `url` until `status` is `done` (then "
            "fetch `download_url`) or `failed` (`error` says why). `format` is the file's: csv by "
            "default, xlsx or json. Every role may create one; an advertiser you cannot see is "
            "refused (400, naming `advertiser`)."
        ),
        parameters=[*schema.CREATE_PARAMETERS],
        request=ReportJobRequestSerializer,
        responses={201: ReportJobSerializer, **errors(400, 401, 409, 422, 429)},
        examples=[
            OpenApiExample(
                "A quarter by day, creative and country",
                value={
                    "advertiser": 12,
                    "start": "2025-01-01",
                    "end": "2025-03-31",
                    "dimensions": ["day", "creative", "country"],
                    "metrics": ["spend", "impressions", "clicks", "conversions"],
                    "format": "csv",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Queued", value={**JOB_EXAMPLE, "status": "queued", "rows": None}, response_only=True
            ),
        ],
    )
    def create(self, request: Request) -> Response:
        advertiser_id, report, fmt = params.read(request.data, query_string=False)
        advertiser = Advertiser.objects.for_user(request.user).filter(pk=advertiser_id).first()
        if advertiser is None:  # as a foreign id in any body: unknown, never forbidden
            raise ValidationError({"advertiser": [f'Invalid pk "{advertiser_id}" - object does not exist.']})
        limit_advertiser(advertiser.pk)
        with report_errors():
            jobs.estimate_rows(report.spec(advertiser))  # refuses what the job would fail on
            job = jobs.create_job(
                advertiser=advertiser, report=report, fmt=fmt or "csv", principal=request.user
            )
        return self.job_response(job, status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="report_jobs_retrieve",
        summary="Get a report job",
        description="Its status (queued, running, done, failed), its rows and error, and when done the "
        "URL of its file.",
        parameters=schema.OBJECT_PARAMETERS,
        responses={200: ReportJobSerializer, **errors(*schema.OBJECT_ERRORS)},
        examples=[OpenApiExample("Done", value=JOB_EXAMPLE, response_only=True)],
    )
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return self.object_response(self.get_object())

    @extend_schema(
        operation_id="report_jobs_download",
        summary="Download a report job's file",
        description="The CSV, XLSX or JSON file of a done job, as an attachment.",
        parameters=schema.READ_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, exports.FORMATS["xlsx"]): FILE_SCHEMA,
            (200, "application/json"): ReportSerializer,
            **errors(401, 404, 409, 429, _409=JOB_NOT_READY),
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=FILE_RENDERERS)
    def download(self, request: Request, pk: str | None = None) -> HttpResponse:
        job = self.get_object()
        if job.status == ReportJob.Status.FAILED:
            raise Conflict(f"The report failed: {job.error}", code="report_failed")
        if job.status != ReportJob.Status.DONE:
            raise Conflict(
                f"The report is not ready yet ({job.status}); try again shortly.", code="not_ready"
            )
        return file_response(bytes(job.result or b""), job.format, f"report-job-{job.pk}.{job.format}")
