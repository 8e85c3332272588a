"""Dashboards: the account overview and the campaign, ad group and creative reports.

One view per page, all four drawn by `report()` from the URL's parameters (reporting.views.params):
headline figures with their change against a comparison period, a time series chart, and tables.
With htmx, a request renders only the part it targets (the whole report under the range picker,
the chart, or the breakdown table); every URL is also a whole page, and `?export=csv|xlsx&table=`
on it downloads one of its tables, built by the same function as the one on screen.

Everything is read from the rollups (reporting.query), a few grouped queries a page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import slugify

from accounts.models import Advertiser
from accounts.pages import advertiser_page
from campaigns.models import AdGroup, Campaign, Creative
from reporting import charts, exports, query, reach, rollup
from reporting.query import DIMENSION_LABELS, METRIC_LABELS, METRICS, ReportError, Spec, Totals
from reporting.tables import DEFAULT_METRICS, Table
from reporting.views import figures
from reporting.views.params import (
    CHART_FIELDS,
    COMPARISONS,
    GRAINS,
    PERIOD_FIELDS,
    RANGES,
    TABLE_FIELDS,
    Problem,
    ReportParams,
    default_sort,
    parse,
)

COMMON_BREAKDOWNS = ("day", "hour_of_day", "country", "device", "placement")
BREAKDOWNS = {
    "account": (*COMMON_BREAKDOWNS, "campaign", "ad_group", "creative"),
    "campaign": (*COMMON_BREAKDOWNS, "ad_group", "creative"),
    "ad_group": (*COMMON_BREAKDOWNS, "creative"),
    "creative": COMMON_BREAKDOWNS,
}
REPORT_PAGES = {"campaign": "report_campaign", "ad_group": "report_ad_group", "creative": "report_creative"}
# The parts of a page an htmx request can ask for, by the id of the element it replaces.
PARTS = {"report-body": "body", "chart-panel": "chart", "breakdown-panel": "breakdown"}


@dataclass(frozen=True)
class Subject:
    """What a report is about: the account, or one of its campaigns, ad groups or creatives."""

    kind: str  # a key of BREAKDOWNS
    advertiser_id: int
    title: str
    url: str
    filters: dict[str, tuple[int, ...]] = field(default_factory=dict)
    crumbs: tuple[tuple[str, str], ...] = ()  # (label, url) of the reports above this one
    lead: str = ""

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables the page shows, by the name an export asks for."""
        return ("series", "campaigns", "breakdown") if self.kind == "account" else ("series", "breakdown")


@advertiser_page
def report_overview(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    subject = Subject("account", advertiser.pk, "Reports", reverse("report_overview", args=[advertiser.pk]))
    return report(request, advertiser, subject)


@advertiser_page
def report_campaign(request: HttpRequest, advertiser: Advertiser, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, advertiser=advertiser, pk=campaign_id)
    subject = Subject(
        "campaign",
        advertiser.pk,
        campaign.name,
        reverse("report_campaign", args=[advertiser.pk, campaign.pk]),
        filters={"campaign": (campaign.pk,)},
        crumbs=(("Reports", reverse("report_overview", args=[advertiser.pk])),),
        lead=f"Campaign · {campaign.get_objective_display()}",
    )
    return report(request, advertiser, subject)


@advertiser_page
def report_ad_group(request: HttpRequest, advertiser: Advertiser, ad_group_id: int) -> HttpResponse:
    ad_group = get_object_or_404(
        AdGroup.objects.select_related("campaign"), campaign__advertiser=advertiser, pk=ad_group_id
    )
    campaign = ad_group.campaign
    subject = Subject(
        "ad_group",
        advertiser.pk,
        ad_group.name,
        reverse("report_ad_group", args=[advertiser.pk, ad_group.pk]),
        filters={"ad_group": (ad_group.pk,)},
        crumbs=(
            ("Reports", reverse("report_overview", args=[advertiser.pk])),
            (campaign.name, reverse("report_campaign", args=[advertiser.pk, campaign.pk])),
        ),
        lead="Ad group",
    )
    return report(request, advertiser, subject)


@advertiser_page
def report_creative(request: HttpRequest, advertiser: Advertiser, creative_id: int) -> HttpResponse:
    creative = get_object_or_404(
        Creative.objects.select_related("ad_group__campaign"),
        ad_group__campaign__advertiser=advertiser,
        pk=creative_id,
    )
    ad_group, campaign = creative.ad_group, creative.ad_group.campaign
    subject = Subject(
        "creative",
        advertiser.pk,
        creative.name,
        reverse("report_creative", args=[advertiser.pk, creative.pk]),
        filters={"creative": (creative.pk,)},
        crumbs=(
            ("Reports", reverse("report_overview", args=[advertiser.pk])),
            (campaign.name, reverse("report_campaign", args=[advertiser.pk, campaign.pk])),
            (ad_group.name, reverse("report_ad_group", args=[advertiser.pk, ad_group.pk])),
        ),
        lead=f"Creative · {creative.get_format_display()}",
    )
    return report(request, advertiser, subject)


def report(request: HttpRequest, advertiser: Advertiser, subject: Subject) -> HttpResponse:
    params = parse(request.GET, advertiser, BREAKDOWNS[subject.kind])
    if "export" in request.GET:
        return export(request, advertiser, subject, params)
    part = page_part(request)
    spec = params.spec(advertiser, subject.filters)
    comparison = params.comparison_spec(spec)
    context: dict[str, Any] = {
        "advertiser": advertiser,
        "subject": subject,
        "params": params,
        "page_url": subject.url,
        "ranges": RANGES,
        "comparisons": COMPARISONS,
        "metrics": [(key, METRIC_LABELS[key]) for key in METRICS],
        "grains": GRAINS,
        "period_problems": params.problems_for(PERIOD_FIELDS),
        "chart_problems": params.problems_for(CHART_FIELDS),
        "table_problems": params.problems_for(TABLE_FIELDS),
    }
    try:
        totals: tuple[Totals, Totals] | None = None
        if part in ("page", "body", "chart"):
            chart, series, totals = chart_figures(params, spec, comparison)
            context |= {"chart": chart, "series": table_view("series", series, subject, params)}
        if totals is not None and part in ("page", "body"):
            people = (reach.of(spec), reach.of(comparison)) if reach.can_compute(spec) else None
            context |= {
                "figures": figures.headline(*totals, advertiser.currency, reach=people),
                "freshness": freshness(advertiser, timezone.now()),
            }
            if subject.kind == "account":
                context["campaigns"] = table_view("campaigns", figures.top_campaigns(spec), subject, params)
        if part in ("page", "body", "breakdown"):
            table = figures.breakdown_table(
                spec,
                comparison,
                dimension=params.breakdown,
                sort=params.sort,
                descending=params.descending,
                previous_total=totals[1] if totals else None,
            )
            context |= {
                "breakdown": table_view("breakdown", table, subject, params),
                "tabs": breakdown_tabs(subject, params),
                "comparison_metric": METRIC_LABELS[figures.comparison_metric(params.sort)],
            }
    except ReportError as error:  # a question the rollups cannot answer: said, not a 500
        context["errors"] = [Problem(error.field, error.message)]
    template = "reporting/report.html" if part == "page" else f"reporting/report.html#{part}"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def page_part(request: HttpRequest) -> str:
    """Which part of the page to render: all of it, unless htmx asks for one part (a history
    restore asks for the whole page)."""
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.history_restore_request:
        return "page"
    return PARTS.get(htmx.target or "", "body")


def chart_figures(
    params: ReportParams, spec: Spec, comparison: Spec
) -> tuple[charts.TimeChart, Table, tuple[Totals, Totals]]:
    """The chart, its table, and both periods' totals: the series' rows summed (the same grouped
    query answers the chart and the headline figures)."""
    zone, at = spec.zone, timezone.now()
    periods = []
    for period in (spec, comparison):
        rows = query.run(period.but(dimensions=(params.grain,)))
        slots = charts.slots(period.start, period.end, params.grain, zone)
        series = charts.fill(rows, slots, params.metric, now=at, zone=zone)
        periods.append((series, sum((row.totals for row in rows), query.ZERO)))
    (current, now), (previous, then) = periods
    currency = spec.advertiser.currency
    chart = charts.time_chart(
        params.metric, current, previous, currency=currency, zone=zone, grain=params.grain
    )
    table = figures.series_table(
        params.metric, params.grain, current, previous, totals=(now, then), currency=currency, zone=zone
    )
    return chart, table, (now, then)


def build_table(name: str, params: ReportParams, spec: Spec, comparison: Spec) -> Table:
    """A table of the page by its export name, built as the page builds it."""
    if name == "series":
        return chart_figures(params, spec, comparison)[1]
    if name == "campaigns":
        return figures.top_campaigns(spec)
    return figures.breakdown_table(
        spec, comparison, dimension=params.breakdown, sort=params.sort, descending=params.descending
    )


def export(
    request: HttpRequest, advertiser: Advertiser, subject: Subject, params: ReportParams
) -> HttpResponse:
    """One table of the page as a file: refused (400, naming the parameter) rather than a file of
    another report than the one asked for."""
    fmt, name = request.GET.get("export", ""), request.GET.get("table", "")
    errors = [f"{p.field}: {p.message}" for p in params.problems]
    if fmt not in exports.FORMATS:
        errors.append(f"export: {fmt[:20]!r} is not a format: use {' or '.join(exports.FORMATS)}.")
    if name not in subject.tables:
        errors.append(f"table: {name[:40]!r} is not a table of this page: use {', '.join(subject.tables)}.")
    if errors:
        return HttpResponseBadRequest("\n".join(errors), content_type="text/plain; charset=utf-8")
    spec = params.spec(advertiser, subject.filters)
    try:
        table = build_table(name, params, spec, params.comparison_spec(spec))
    except ReportError as error:
        return HttpResponseBadRequest(
            f"{error.field}: {error.message}", content_type="text/plain; charset=utf-8"
        )
    title = table_title(name, params)
    body = exports.render(table, advertiser.currency, fmt, title=title)
    response = HttpResponse(body, content_type=exports.FORMATS[fmt])
    filename = "-".join(
        part
        for part in (
            slugify(advertiser.name) or "account",
            slugify(subject.title) if subject.kind != "account" else "",
            slugify(title),
            f"{params.period.start:%Y%m%d}-{params.period.end:%Y%m%d}",
        )
        if part
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


def table_title(name: str, params: ReportParams) -> str:
    if name == "series":
        return f"{METRIC_LABELS[params.metric]} by {params.grain}"
    if name == "campaigns":
        return "Top campaigns"
    return f"Breakdown by {DIMENSION_LABELS[params.breakdown].lower()}"


# What the templates show ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    label: str
    numeric: bool
    href: str = ""  # sorts by this column (without JavaScript)
    vals: str = ""  # the same, as htmx's hx-vals
    aria_sort: str = ""  # "ascending" or "descending" on the sorted column


@dataclass(frozen=True, slots=True)
class ShownCell:
    text: str
    numeric: bool


@dataclass(frozen=True, slots=True)
class ShownRow:
    head: str  # the first column, a row header
    link: str  # to the report of the row's campaign, ad group or creative ("" for none)
    cells: list[ShownCell]


@dataclass(frozen=True)
class TableView:
    name: str  # its export's `table` parameter
    title: str
    table: Table
    headers: list[Header]
    rows: list[ShownRow]
    total: ShownRow | None
    exports: list[tuple[str, str]]  # (format label, URL)


def table_view(name: str, table: Table, subject: Subject, params: ReportParams) -> TableView:
    sortable = name == "breakdown"
    headers = []
    for column in table.columns:
        if not sortable or column.key not in (params.breakdown, *DEFAULT_METRICS):
            headers.append(Header(column.label, column.numeric))
            continue
        sorted_here = column.key == table.sort
        # The first click on a figure shows the most first, on a name or a time the first first.
        descending = not table.descending if sorted_here else column.numeric
        direction = "desc" if descending else "asc"
        headers.append(
            Header(
                column.label,
                column.numeric,
                href=subject.url + params.query(sort=column.key, dir=direction),
                vals=json.dumps({"sort": column.key, "dir": direction}),
                aria_sort=("descending" if table.descending else "ascending") if sorted_here else "",
            )
        )
    links = row_links(table, subject, params)
    rows = [
        ShownRow(
            row[0].text,
            link,
            [
                ShownCell(cell.text, column.numeric)
                for cell, column in zip(row[1:], table.columns[1:], strict=True)
            ],
        )
        for row, link in zip(table.rows, links, strict=True)
    ]
    total = None
    if table.rows:
        cells = [
            ShownCell(cell.text, column.numeric)
            for cell, column in zip(table.total[1:], table.columns[1:], strict=True)
        ]
        total = ShownRow(table.total[0].text, "", cells)
    export_urls = [
        (label, subject.url + params.query(export=fmt, table=name))
        for fmt, label in (("csv", "CSV"), ("xlsx", "Excel"))
    ]
    return TableView(name, table_title(name, params), table, headers, rows, total, export_urls)


def row_links(table: Table, subject: Subject, params: ReportParams) -> list[str]:
    """Each row's link to the report of its campaign, ad group or creative, for the same days: one
    query, for the ids that still name an object of this account."""
    dimension = table.columns[0].key
    if dimension not in REPORT_PAGES:
        return [""] * len(table.rows)
    ids = [row[0].value for row in table.rows if row[0].value]
    advertiser = subject.advertiser_id
    models: dict[str, Any] = {
        "campaign": Campaign.objects.filter(advertiser=advertiser),
        "ad_group": AdGroup.objects.filter(campaign__advertiser=advertiser),
        "creative": Creative.objects.filter(ad_group__campaign__advertiser=advertiser),
    }
    existing = set(models[dimension].filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    suffix = params.period_query()
    return [
        reverse(REPORT_PAGES[dimension], args=[advertiser, row[0].value]) + suffix
        if row[0].value in existing
        else ""
        for row in table.rows
    ]


@dataclass(frozen=True, slots=True)
class Tab:
    label: str
    href: str
    vals: str
    current: bool


def breakdown_tabs(subject: Subject, params: ReportParams) -> list[Tab]:
    """The breakdown's tabs. A sort by a figure carries over to the next tab; a sort by the
    dimension itself cannot, so that tab starts in its own default order."""
    tabs = []
    for dimension in BREAKDOWNS[subject.kind]:
        if params.sort in DEFAULT_METRICS:
            sort, descending = params.sort, params.descending
        else:
            sort, descending = default_sort(dimension)
        state = {"breakdown": dimension, "sort": sort, "dir": "desc" if descending else "asc"}
        tabs.append(
            Tab(
                DIMENSION_LABELS[dimension],
                subject.url + params.query(**state),
                json.dumps(state),
                dimension == params.breakdown,
            )
        )
    return tabs


def freshness(advertiser: Advertiser, now: datetime) -> str:
    """How recent the figures are: "Figures up to 14:05, 3 min ago", in the account's time zone."""
    at = rollup.watermark()
    if at is None:
        return "No figures rolled up yet: they appear a few minutes after the first ads are served."
    local = at.astimezone(advertiser.tz)
    when = (
        f"{local:%H:%M}" if local.date() == now.astimezone(advertiser.tz).date() else f"{local:%-d %b %H:%M}"
    )
    minutes = max(0, int((now - at).total_seconds() // 60))
    if minutes < 1:
        ago = "just now"
    elif minutes < 120:
        ago = f"{minutes} min ago"
    elif minutes < 48 * 60:
        ago = f"{minutes // 60} hours ago"
    else:
        ago = f"{minutes // (24 * 60)} days ago"
    return f"Figures up to {when}, {ago}"


urlpatterns: list[URLPattern] = [
    path("reports/", report_overview, name="report_overview"),
    path("reports/campaigns/<int:campaign_id>/", report_campaign, name="report_campaign"),
    path("reports/ad-groups/<int:ad_group_id>/", report_ad_group, name="report_ad_group"),
    path("reports/creatives/<int:creative_id>/", report_creative, name="report_creative"),
]
