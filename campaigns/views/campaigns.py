"""Ads Manager pages: the account overview, the campaigns list with its inline edits and bulk
actions, the campaign setup steps (objective, then budget and schedule: a draft is saved; the ad
group and creative steps are their own pages) and the campaign's page.

Metric columns come from get_campaign_metrics(): the reporting rollups (campaigns.reports), as the
dashboards count them; only "spent today", the budget's own figure, is read live from the ledger.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Count, Prefetch, Q, QuerySet, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, URLPattern, URLResolver, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.audit import Actor
from accounts.models import Advertiser
from accounts.money import format_micros
from accounts.pages import advertiser_page
from campaigns import reports, services
from campaigns.forms.campaign import (
    OBJECTIVE_HELP,
    RANGES,
    BudgetForm,
    BulkForm,
    CampaignForm,
    CampaignListQuery,
    ObjectiveForm,
)
from campaigns.models import (
    AdGroup,
    Campaign,
    Creative,
    Delivery,
    DeliveryState,
    Objective,
    RejectionReason,
)
from campaigns.models.budget import Spend, spend_and_today
from campaigns.models.campaign import recent_days_prefetch
from campaigns.views import status
from campaigns.views.budget_panel import budget_panel

PAGE_SIZE = 50


def is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))  # django-htmx's middleware sets request.htmx


VALIDATE_HEADER = "X-Validate-Field"  # htmx field validation: validate, render the field, save nothing

# ---------------------------------------------------------------------------------------------------
# Metrics


@dataclass(frozen=True, slots=True)
class DateRange:
    key: str
    start: date
    end: date  # inclusive, in the advertiser's time zone

    @property
    def label(self) -> str:
        if self.key == "custom":
            return f"{self.start:%-d %b %Y} to {self.end:%-d %b %Y}"
        return dict(RANGES)[self.key]

    def params(self) -> dict[str, str]:
        if self.key == "custom":
            return {"range": "custom", "start": self.start.isoformat(), "end": self.end.isoformat()}
        return {"range": self.key}


def date_range(query: CampaignListQuery, advertiser: Advertiser) -> DateRange:
    today = advertiser.local_today()
    key = query.value("range", "7d")
    start, end = query.value("start", None), query.value("end", None)
    if key == "custom" and start and end and start <= end:
        return DateRange("custom", start, end)
    days = {"today": 0, "yesterday": 1, "7d": 6, "30d": 29}
    if key == "yesterday":
        return DateRange(key, today - timedelta(days=1), today - timedelta(days=1))
    key = key if key in days else "7d"
    return DateRange(key, today - timedelta(days=days[key]), today)


@dataclass(frozen=True, slots=True)
class Metrics:
    spend_today_micros: int = 0
    spend_micros: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0

    @property
    def ctr(self) -> float | None:
        return self.clicks / self.impressions if self.impressions else None

    @property
    def cpa_micros(self) -> int | None:
        return self.spend_micros // self.conversions if self.conversions else None


NO_DELIVERY = Metrics()
NO_SPEND = Spend(0, 0)


def get_campaign_metrics(
    advertiser: Advertiser, campaign_ids: list[int], range_: DateRange
) -> dict[int, Metrics]:
    """Spend, impressions, clicks and conversions of each campaign in the range, and its spend
    today, in a fixed number of grouped queries whatever the number of campaigns.

    The range's figures are the reporting rollups' (net spend, conversions at the time of the ad
    they are credited to), as fresh as their watermark. Spend today is the ledger's, live: it is
    what the daily budget is measured against."""
    if not campaign_ids:
        return {}
    today = advertiser.local_today()
    spend_today = spend_and_today(dict.fromkeys(campaign_ids, today), since=today, until=today)
    figures = reports.campaign_figures(advertiser, campaign_ids, range_.start, range_.end)
    metrics = {}
    for pk in campaign_ids:
        _, on_today = spend_today.get(pk, (NO_SPEND, NO_SPEND))
        figure = figures.get(pk, reports.CampaignFigures())
        metrics[pk] = Metrics(
            spend_today_micros=on_today.net_micros,
            spend_micros=figure.spend_micros,
            impressions=figure.impressions,
            clicks=figure.clicks,
            conversions=figure.conversions,
        )
    return metrics


def total(metrics: list[Metrics]) -> Metrics:
    return Metrics(
        spend_today_micros=sum(m.spend_today_micros for m in metrics),
        spend_micros=sum(m.spend_micros for m in metrics),
        impressions=sum(m.impressions for m in metrics),
        clicks=sum(m.clicks for m in metrics),
        conversions=sum(m.conversions for m in metrics),
    )


# ---------------------------------------------------------------------------------------------------
# Rows


def delivery_prefetch() -> Prefetch:
    """What Campaign.delivery() reads, and only that: active ad groups and their servable creatives."""
    creatives = Creative.objects.servable().only("id", "ad_group_id", "status", "review_status")
    ad_groups = (
        AdGroup.objects.filter(status=AdGroup.Status.ACTIVE)
        .only("id", "campaign_id", "status", "targeting")
        .prefetch_related(Prefetch("creatives", queryset=creatives))
    )
    return Prefetch("ad_groups", queryset=ad_groups)


@dataclass(slots=True)
class Row:
    campaign: Campaign
    delivery: Delivery
    metrics: Metrics
    currency: str
    error: str = ""
    budget_form: BudgetForm | None = None
    flash: bool = False

    @property
    def budget(self) -> str:  # formatted only for the rows shown (Babel is slow on 500 rows)
        return format_micros(self.campaign.budget_micros, self.currency)

    @property
    def spend_today(self) -> str:
        return format_micros(self.metrics.spend_today_micros, self.currency)

    @property
    def spend(self) -> str:
        return format_micros(self.metrics.spend_micros, self.currency)

    @property
    def ctr(self) -> str:
        return percent(self.metrics.ctr)

    @property
    def cpa(self) -> str:
        cpa = self.metrics.cpa_micros
        return "—" if cpa is None else format_micros(cpa, self.currency)


def percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.2f}%"


def prefetch_for_delivery(advertiser: Advertiser, campaigns: list[Campaign], now: datetime) -> None:
    """Campaign.delivery() reads ad groups, creatives and today's budget day only for an active
    campaign of an active account within its schedule (it answers the others from the campaign's own
    fields): read them for those campaigns only, in three queries whatever their number."""
    reading = [
        campaign
        for campaign in campaigns
        if campaign.status == Campaign.Status.ACTIVE
        and advertiser.is_active
        and campaign.starts_at <= now
        and (campaign.ends_at is None or campaign.ends_at > now)
    ]
    prefetch_related_objects(reading, delivery_prefetch(), recent_days_prefetch(now))


def rows_for(
    advertiser: Advertiser,
    campaigns: list[Campaign],
    range_: DateRange,
    metrics: dict[int, Metrics] | None = None,
) -> list[Row]:
    """The list's rows; `metrics` when the caller already read them (to sort on them)."""
    now = timezone.now()
    prefetch_for_delivery(advertiser, campaigns, now)
    if metrics is None:
        metrics = get_campaign_metrics(advertiser, [c.pk for c in campaigns], range_)
    rows = []
    for campaign in campaigns:
        campaign.advertiser = advertiser  # the page's own instance: no query per row
        metric = metrics.get(campaign.pk, NO_DELIVERY)
        rows.append(Row(campaign, campaign.delivery(now), metric, advertiser.currency))
    return rows


def one_row(advertiser: Advertiser, campaign: Campaign, query: CampaignListQuery) -> Row:
    fresh = Campaign.objects.get(pk=campaign.pk)
    return rows_for(advertiser, [fresh], date_range(query, advertiser))[0]


METRIC_SORTS: dict[str, Any] = {
    "spend_today": lambda m: m.spend_today_micros,
    "spend": lambda m: m.spend_micros,
    "impressions": lambda m: m.impressions,
    "clicks": lambda m: m.clicks,
    "ctr": lambda m: -1 if m.ctr is None else m.ctr,
    "conversions": lambda m: m.conversions,
    "cpa": lambda m: -1 if m.cpa_micros is None else m.cpa_micros,
}
DB_SORTS = {"name": "name", "status": "status", "budget": "budget_micros"}


def filtered(advertiser: Advertiser, query: CampaignListQuery) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.filter(advertiser=advertiser)
    status = query.value("status")
    if status == "":
        campaigns = campaigns.not_archived()
    elif status != "all":
        campaigns = campaigns.filter(status=status)
    if objective := query.value("objective"):
        campaigns = campaigns.filter(objective=objective)
    if q := query.value("q").strip():
        campaigns = campaigns.filter(name__icontains=q)
    return campaigns


@dataclass
class Table:
    rows: list[Row]
    page: Any
    sort: str
    params: dict[str, str]
    range: DateRange
    totals: Metrics
    filtered: bool
    currency: str
    headers: list[dict[str, Any]] = field(default_factory=list)
    page_urls: dict[str, str | None] = field(default_factory=dict)

    @property
    def total_spend_today(self) -> str:
        return format_micros(self.totals.spend_today_micros, self.currency)

    @property
    def total_spend(self) -> str:
        return format_micros(self.totals.spend_micros, self.currency)

    @property
    def total_ctr(self) -> str:
        return percent(self.totals.ctr)

    @property
    def total_cpa(self) -> str:
        cpa = self.totals.cpa_micros
        return "—" if cpa is None else format_micros(cpa, self.currency)


COLUMNS = (
    ("name", "Campaign", ""),
    ("status", "On/off", ""),
    ("delivery", "Delivery", ""),
    ("budget", "Budget", "num"),
    ("spend_today", "Spend today", "num"),
    ("spend", "Spend", "num"),
    ("impressions", "Impr.", "num"),
    ("clicks", "Clicks", "num"),
    ("ctr", "CTR", "num"),
    ("conversions", "Conv.", "num"),
    ("cpa", "CPA", "num"),
)


def campaign_table(request: HttpRequest, advertiser: Advertiser, query: CampaignListQuery) -> Table:
    range_ = date_range(query, advertiser)
    sort = query.value("sort", "name")
    key, descending = sort.lstrip("-"), sort.startswith("-")
    campaigns = filtered(advertiser, query)
    if key in DB_SORTS:
        order = f"-{DB_SORTS[key]}" if descending else DB_SORTS[key]
        paginator = Paginator(campaigns.order_by(order, "name", "pk"), PAGE_SIZE)
        page: Page[Any] = paginator.get_page(query.value("page", 1))
        on_page = list(page.object_list)
        rows = rows_for(advertiser, on_page, range_)
    elif key == "delivery":
        # The derived delivery state of every filtered campaign, to sort on it.
        every = list(campaigns.order_by("name", "pk"))
        all_rows = rows_for(advertiser, every, range_)
        all_rows.sort(key=lambda row: row.delivery.state.label, reverse=descending)
        page = Paginator(all_rows, PAGE_SIZE).get_page(query.value("page", 1))
        rows = list(page.object_list)
    else:
        # A metric: sort the ids by it, then read only the page's campaigns.
        ids = list(campaigns.order_by("name", "pk").values_list("pk", flat=True))
        metrics = get_campaign_metrics(advertiser, ids, range_)
        ids.sort(key=lambda pk: METRIC_SORTS[key](metrics.get(pk, NO_DELIVERY)), reverse=descending)
        page = Paginator(ids, PAGE_SIZE).get_page(query.value("page", 1))
        by_pk = Campaign.objects.filter(pk__in=page.object_list).in_bulk()
        rows = rows_for(advertiser, [by_pk[pk] for pk in page.object_list], range_, metrics)
    params = {
        name: str(value) for name in ("q", "status", "objective") if (value := query.value(name))
    } | range_.params()
    table = Table(
        rows=rows,
        page=page,
        sort=sort,
        params=params,
        range=range_,
        totals=total([row.metrics for row in rows]),
        filtered=bool(query.value("q") or query.value("status") or query.value("objective")),
        currency=advertiser.currency,
    )
    base = reverse("campaign_list", args=[advertiser.pk])
    for name, label, css in COLUMNS:
        next_sort = f"-{name}" if sort == name else name
        table.headers.append(
            {
                "key": name,
                "label": label,
                "css": css,
                "url": f"{base}?{urlencode(params | {'sort': next_sort})}",
                "aria_sort": ("descending" if descending else "ascending") if key == name else None,
            }
        )
    table.page_urls = {
        "previous": f"{base}?{urlencode(params | {'sort': sort, 'page': page.previous_page_number()})}"
        if page.has_previous()
        else None,
        "next": f"{base}?{urlencode(params | {'sort': sort, 'page': page.next_page_number()})}"
        if page.has_next()
        else None,
    }
    return table


def safe_next(request: HttpRequest, fallback: str) -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if next_url.startswith("/") and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}
    ):
        return next_url
    return fallback


def url_or_none(name: str, *args: Any) -> str | None:
    """A page another part of the Ads Manager provides, when it exists."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def setup_next_url(advertiser: Advertiser, campaign: Campaign) -> str:
    """Where a draft's setup continues: its first ad group, then a creative, then its page to publish."""
    ad_group = campaign.ad_groups.exclude(status=AdGroup.Status.ARCHIVED).order_by("pk").first()
    if ad_group is None:
        url = url_or_none("ad_group_new", advertiser.pk, campaign.pk)
    elif not ad_group.creatives.exclude(status=Creative.Status.ARCHIVED).exists():
        url = url_or_none("creative_new", advertiser.pk, ad_group.pk)
    else:
        url = None
    if url is None:
        return reverse("campaign_detail", args=[advertiser.pk, campaign.pk])
    return f"{url}?wizard=1"


RELATED_FIELDS = {
    "budget_type": ("ends_at",),
    "starts_at": ("ends_at",),
    "ends_at": ("starts_at",),
    "frequency_cap_impressions": ("frequency_cap_period",),
    "frequency_cap_period": ("frequency_cap_impressions",),
}


def validate_field(request: HttpRequest, form: CampaignForm) -> HttpResponse:
    """htmx field validation: the same form as the save, one field's error rendered, nothing saved."""
    name = request.headers[VALIDATE_HEADER]
    if name not in form.fields:
        raise Http404("No such field.")
    form.is_valid()
    # A rule across fields (a lifetime budget needs an end...) shows next to its other field too.
    related = [form[other] for other in RELATED_FIELDS.get(name, ()) if other in form.fields]
    return render(
        request, "campaigns/campaigns/form.html#validation", {"field": form[name], "related": related}
    )


# ---------------------------------------------------------------------------------------------------
# Pages


@advertiser_page
def account_overview(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    query = CampaignListQuery(request.GET)
    range_ = date_range(query, advertiser)
    campaigns = list(
        Campaign.objects.filter(advertiser=advertiser).not_archived().order_by("-updated_at", "-pk")
    )
    rows = rows_for(advertiser, campaigns, range_)
    by_state = Counter(row.delivery.state for row in rows)
    totals = total([row.metrics for row in rows])
    drafts = [row.campaign for row in rows if row.campaign.status == Campaign.Status.DRAFT][:5]
    states = [(state, by_state[state]) for state in DeliveryState if by_state[state]]
    return render(
        request,
        "campaigns/campaigns/overview.html",
        {
            "advertiser": advertiser,
            "range": range_,
            "ranges": RANGES,
            "totals": totals,
            "figures_as_of": reports.figures_as_of(),
            "spend": format_micros(totals.spend_micros, advertiser.currency),
            "ctr": percent(totals.ctr),
            "cpa": format_micros(totals.cpa_micros, advertiser.currency) if totals.cpa_micros else None,
            "states": states,
            "campaign_count": len(rows),
            # A campaign limited by its budget delivers, and needs attention (a budget to raise).
            "delivering": sum(row.delivery.is_delivering for row in rows),
            "needs_attention": [
                row
                for row in rows
                if row.campaign.status == Campaign.Status.ACTIVE
                and row.delivery.state != DeliveryState.DELIVERING
            ][:5],
            "drafts": drafts,
            "recent": rows[:5],
        },
    )


@advertiser_page
def campaign_list(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    query = CampaignListQuery(request.GET)
    table = campaign_table(request, advertiser, query)
    context = {
        "advertiser": advertiser,
        "query": query,
        "table": table,
        "ranges": RANGES,
        "figures_as_of": reports.figures_as_of(),
    }
    if is_htmx(request):
        return render(request, "campaigns/campaigns/list.html#table", context)
    return render(request, "campaigns/campaigns/list.html", context)


@advertiser_page
@require_POST
def campaign_status(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    """The status switch (list and campaign page): activate, pause or archive."""
    campaign = get_object_or_404(Campaign, advertiser=advertiser, pk=pk)
    action = request.POST.get("action", "")
    if action not in status.ACTIONS:
        return HttpResponse("Unknown action.", status=400)
    error = status.change_status(request, campaign, action)
    if is_htmx(request):
        row = one_row(advertiser, campaign, CampaignListQuery(request.POST))
        row.error, row.flash = error, not error
        return render(request, "campaigns/campaigns/list.html#row", {"advertiser": advertiser, "row": row})
    if error:
        messages.error(request, f"{campaign.name}: {error}")
    else:
        messages.success(request, f"{campaign.name} is now {campaign.get_status_display().lower()}.")
    return redirect(safe_next(request, reverse("campaign_detail", args=[advertiser.pk, campaign.pk])))


@advertiser_page
def campaign_budget(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    """The budget edited in its cell (htmx: the row swaps between display and form), or on its own
    small page without JavaScript."""
    campaign = get_object_or_404(Campaign, advertiser=advertiser, pk=pk)
    query = CampaignListQuery(request.POST if request.method == "POST" else request.GET)
    list_url = safe_next(request, reverse("campaign_list", args=[advertiser.pk]))
    if request.method == "POST":
        form = BudgetForm(request.POST, advertiser=advertiser)
        if campaign.status == Campaign.Status.ARCHIVED:
            form.add_error(None, "An archived campaign cannot be changed; duplicate it instead.")
        if form.is_valid():
            try:
                actor = Actor.from_request(request)
                budget = form.cleaned_data["budget"]
                services.update_campaign(campaign=campaign, actor=actor, budget_micros=budget)
            except ValidationError as exc:
                form.add_error("budget", exc.messages)
        if form.is_valid():
            if not is_htmx(request):
                messages.success(request, f"Budget of {campaign.name} saved.")
                return redirect(list_url)
            row = one_row(advertiser, campaign, query)
            row.flash = True
            return render(
                request, "campaigns/campaigns/list.html#row", {"advertiser": advertiser, "row": row}
            )
    else:
        form = BudgetForm(initial={"budget": campaign.budget_micros}, advertiser=advertiser)
    if is_htmx(request):
        row = one_row(advertiser, campaign, query)
        if "cancel" not in request.GET:
            row.budget_form = form
        return render(request, "campaigns/campaigns/list.html#row", {"advertiser": advertiser, "row": row})
    return render(
        request,
        "campaigns/campaigns/budget.html",
        {"advertiser": advertiser, "campaign": campaign, "form": form, "next": list_url},
        status=400 if form.errors else 200,
    )


@advertiser_page
@require_POST
def campaign_bulk(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    """Several campaigns at once, one POST: each is changed on its own rules, and each refusal is
    reported by name. Campaigns of another account refuse the whole request."""
    list_url = safe_next(request, reverse("campaign_list", args=[advertiser.pk]))
    form = BulkForm(request.POST, advertiser=advertiser)
    if not form.is_valid():
        if "campaigns" in form.errors and request.POST.getlist("campaigns"):  # tampered ids
            return HttpResponse(" ".join(str(e) for e in form.errors["campaigns"]), status=400)
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(list_url)
    action = form.cleaned_data["action"]
    done, refused = [], []
    actor = Actor.from_request(request)
    for campaign in form.cleaned_data["campaigns"]:
        if action == "duplicate":
            copy = services.duplicate_campaign(campaign=campaign, actor=actor)
            done.append(copy.name)
            continue
        error = status.change_status(request, campaign, action)
        if error:
            refused.append(f"{campaign.name}: {error}")
        else:
            done.append(campaign.name)
    past = {"pause": "Paused", "activate": "Activated", "archive": "Archived", "duplicate": "Created"}[action]
    if done:
        names = ", ".join(done[:5]) + (f" and {len(done) - 5} more" if len(done) > 5 else "")
        if action == "duplicate":
            what = "draft copies" if len(done) > 1 else "draft copy"
        else:
            what = "campaigns" if len(done) > 1 else "campaign"
        messages.success(request, f"{past} {len(done)} {what}: {names}.")
    for message in refused:
        messages.error(request, message)
    return redirect(list_url)


@advertiser_page
@require_POST
def campaign_duplicate(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, advertiser=advertiser, pk=pk)
    copy = services.duplicate_campaign(campaign=campaign, actor=Actor.from_request(request))
    messages.success(request, f"Created {copy.name} as a draft, with copies of the ad groups and creatives.")
    return redirect("campaign_detail", advertiser.pk, copy.pk)


@advertiser_page
def campaign_new(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    """Step 1: the objective (cards). A GET form to step 2, so it works without JavaScript; the
    account's drafts are listed to resume."""
    if not request.can_edit:  # type: ignore[attr-defined]
        raise PermissionDenied("Your role on this account is read only.")
    form = ObjectiveForm(request.GET or None)
    drafts = (
        Campaign.objects.filter(advertiser=advertiser, status=Campaign.Status.DRAFT)
        .annotate(ad_group_count=Count("ad_groups", filter=~Q(ad_groups__status=AdGroup.Status.ARCHIVED)))
        .order_by("-updated_at")[:5]
    )
    objectives = [(value, label, OBJECTIVE_HELP[Objective(value)]) for value, label in Objective.choices]
    return render(
        request,
        "campaigns/campaigns/new.html",
        {"advertiser": advertiser, "form": form, "objectives": objectives, "drafts": drafts, "step": 1},
    )


@advertiser_page
def campaign_setup(request: HttpRequest, advertiser: Advertiser, pk: int | None = None) -> HttpResponse:
    """Step 2: name, budget, schedule (and the conversion event of a conversions campaign). Saving
    makes a draft (nothing typed is lost) and goes on to its first ad group; coming back to a draft
    edits it here."""
    if not request.can_edit:  # type: ignore[attr-defined]
        raise PermissionDenied("Your role on this account is read only.")
    campaign = (
        get_object_or_404(Campaign, advertiser=advertiser, pk=pk, status=Campaign.Status.DRAFT)
        if pk
        else None
    )
    with timezone.override(advertiser.tz):
        if request.method == "POST":
            form = CampaignForm(request.POST, instance=campaign, advertiser=advertiser)
            if VALIDATE_HEADER in request.headers:
                return validate_field(request, form)
            if form.is_valid():
                fields = {**form.cleaned_data, "budget_micros": form.cleaned_data["budget"]}
                fields.pop("budget")
                try:
                    if campaign is None:
                        campaign = services.create_campaign(
                            advertiser=advertiser, actor=Actor.from_request(request), **fields
                        )
                        messages.success(request, f"Draft {campaign.name} saved. Next: its first ad group.")
                    else:
                        actor = Actor.from_request(request)
                        campaign = services.update_campaign(campaign=campaign, actor=actor, **fields)
                        messages.success(request, f"Draft {campaign.name} saved.")
                except ValidationError as exc:
                    form.add_error(None, exc)
                else:
                    return redirect(setup_next_url(advertiser, campaign))
        else:
            objective = request.GET.get("objective", "")
            if campaign is None and objective not in Objective.values:
                messages.error(request, "Choose an objective first.")
                return redirect("campaign_new", advertiser.pk)
            form = CampaignForm(
                instance=campaign,
                advertiser=advertiser,
                initial=None if campaign else {
                    "objective": objective,
                    "name": f"{Objective(objective).label} campaign {timezone.localdate():%Y-%m-%d}",
                    "starts_at": timezone.localtime().replace(second=0, microsecond=0),
                },
            )  # fmt: skip
        return render(
            request,
            "campaigns/campaigns/setup.html",
            {
                "advertiser": advertiser,
                "form": form,
                "campaign": campaign,
                "step": 2,
                "objective_label": Objective(form.objective).label if form.objective else "",
            },
            status=400 if form.errors else 200,
        )


@advertiser_page
def campaign_detail(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    """A campaign: what delivers and why not, its ad groups and creatives with their review, its
    settings to edit, and its actions (publish, pause, duplicate, archive)."""
    campaign = get_object_or_404(
        Campaign.objects.select_related("conversion_event"), advertiser=advertiser, pk=pk
    )
    campaign.advertiser = advertiser
    with timezone.override(advertiser.tz):
        form = CampaignForm(instance=campaign, advertiser=advertiser)
        if request.method == "POST":
            # A fresh instance for the form: a refused edit must not show in the page's header.
            edited = Campaign.objects.get(pk=campaign.pk)
            form = CampaignForm(request.POST, instance=edited, advertiser=advertiser)
            if VALIDATE_HEADER in request.headers:
                return validate_field(request, form)
            if campaign.status == Campaign.Status.ARCHIVED:
                form.add_error(None, "An archived campaign cannot be changed; duplicate it instead.")
            elif form.is_valid():
                fields = {**form.cleaned_data, "budget_micros": form.cleaned_data["budget"]}
                fields.pop("budget")
                try:
                    services.update_campaign(campaign=campaign, actor=Actor.from_request(request), **fields)
                except ValidationError as exc:
                    form.add_error(None, exc)
                else:
                    messages.success(request, f"Changes to {form.cleaned_data['name']} saved.")
                    return redirect("campaign_detail", advertiser.pk, campaign.pk)
        # Archived ad groups and creatives are left out; delivery() reads the same prefetched rows.
        creatives = Creative.objects.exclude(status=Creative.Status.ARCHIVED).order_by("pk")
        ad_groups_qs = AdGroup.objects.exclude(status=AdGroup.Status.ARCHIVED).order_by("pk")
        now = timezone.now()
        prefetch_related_objects(
            [campaign],
            Prefetch(
                "ad_groups", queryset=ad_groups_qs.prefetch_related(Prefetch("creatives", queryset=creatives))
            ),
            recent_days_prefetch(now),  # delivery() and the budget panel read today's
        )
        ad_groups = list(campaign.ad_groups.all())
        for ad_group in ad_groups:
            ad_group.bid_display = (  # type: ignore[attr-defined]
                format_micros(ad_group.bid_micros, advertiser.currency) if ad_group.bid_micros else ""
            )
            for creative in ad_group.creatives.all():
                creative.reason_labels = [RejectionReason(r).label for r in creative.rejection_reasons]  # type: ignore[attr-defined]
        delivery = campaign.delivery(now)
        has_creative = any(group.creatives.all() for group in ad_groups)
        return render(
            request,
            "campaigns/campaigns/detail.html",
            {
                "advertiser": advertiser,
                "campaign": campaign,
                "form": form,
                "delivery": delivery,
                "ad_groups": ad_groups,
                "budget": format_micros(campaign.budget_micros, advertiser.currency),
                "budget_panel": budget_panel(advertiser, campaign, now=now),
                "next_step": setup_next_url(advertiser, campaign)
                if campaign.status == Campaign.Status.DRAFT
                else None,
                "has_creative": has_creative,
                "ad_group_new": url_or_none("ad_group_new", advertiser.pk, campaign.pk),
                "history_url": url_or_none("campaign_history", advertiser.pk, campaign.pk),
            },
            status=400 if form.errors else 200,
        )


urlpatterns: list[URLPattern | URLResolver] = [
    path("", account_overview, name="account_overview"),
    path("campaigns/", campaign_list, name="campaign_list"),
    path("campaigns/bulk/", campaign_bulk, name="campaign_bulk"),
    path("campaigns/new/", campaign_new, name="campaign_new"),
    path("campaigns/new/details/", campaign_setup, name="campaign_new_details"),
    path("campaigns/<int:pk>/", campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/setup/", campaign_setup, name="campaign_setup"),
    path("campaigns/<int:pk>/status/", campaign_status, name="campaign_status"),
    path("campaigns/<int:pk>/budget/", campaign_budget, name="campaign_budget"),
    path("campaigns/<int:pk>/duplicate/", campaign_duplicate, name="campaign_duplicate"),
]
