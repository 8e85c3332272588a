"""`manage.py seed_demo`: the demo world is complete, valid, and seeding it again changes nothing."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command

from accounts.audit import Actor
from accounts.models import Advertiser, Agency, AuditLog, Membership, Role, User
from campaigns import creative_specs, services
from campaigns.models import (
    STRATEGIES_BY_OBJECTIVE,
    AdGroup,
    Campaign,
    ConversionEvent,
    Creative,
    DeliveryState,
    DeniedDomain,
    Objective,
    ProhibitedTerm,
)
from delivery import demo
from delivery.models import Placement, Publisher

pytestmark = pytest.mark.django_db

DEMO_EMAILS = (
    "admin@example.com",
    "reviewer@example.com",
    "owner@example.com",
    "manager@example.com",
    "analyst@example.com",
)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _state() -> dict[str, Any]:
    """Row counts of every table, and every row's updated_at where the model has one."""
    state: dict[str, Any] = {}
    for model in apps.get_models():
        state[model._meta.label] = model._default_manager.count()
        if any(field.name == "updated_at" for field in model._meta.concrete_fields):
            state[f"{model._meta.label}.updated_at"] = dict(
                model._default_manager.values_list("pk", "updated_at")
            )
    return state


def test_seeding_twice_changes_nothing(media_root: Path) -> None:
    first_output = _seed()
    first = _state()
    files = sorted(path for path in media_root.rglob("*") if path.is_file())
    second_output = _seed()
    assert _state() == first
    assert sorted(path for path in media_root.rglob("*") if path.is_file()) == files
    assert "Demo data created" in first_output
    assert "nothing changed" in second_output
    for email in DEMO_EMAILS:
        assert email in second_output
    assert "demo-password" in second_output
    assert first["accounts.AuditLog"] > 0
    assert len(files) == Creative.objects.exclude(image="").count()


def test_a_reseed_keeps_what_people_did_in_the_demo() -> None:
    _seed()
    campaign = Campaign.objects.get(name="Spring Trail Collection")
    services.change_status(obj=campaign, action="pause", actor=Actor.system())
    archived = Campaign.objects.get(name="Holiday Gift Boxes")
    archived.archive()
    _seed()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.PAUSED
    assert Campaign.objects.filter(name="Holiday Gift Boxes").count() == 1


def test_the_seed_is_all_or_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    real_review = services.review_creative
    calls = Counter[str]()

    def failing_review(**kwargs: Any) -> None:
        calls["review"] += 1
        if calls["review"] == 5:
            raise RuntimeError("reviewer went home")
        real_review(**kwargs)

    monkeypatch.setattr(services, "review_creative", failing_review)
    with pytest.raises(RuntimeError):
        _seed()
    assert not User.objects.exists()
    assert not Campaign.objects.exists()
    assert not AuditLog.objects.exists()


def test_the_demo_users_log_in_with_their_roles() -> None:
    _seed()
    for email in DEMO_EMAILS:
        assert authenticate(email=email, password=demo.DEMO_PASSWORD) == User.objects.get(email=email)
    admin = User.objects.get(email="admin@example.com")
    assert admin.is_superuser
    assert admin.is_staff
    reviewer = User.objects.get(email="reviewer@example.com")
    assert reviewer.is_staff and not reviewer.is_superuser
    assert reviewer.has_perm("campaigns.review_creative")
    assert not reviewer.has_perm("campaigns.change_campaign")
    agency = Agency.objects.get(slug="northwind")
    assert agency.name == "Northwind Media"
    owner = Membership.objects.get(user__email="owner@example.com")
    assert (owner.agency, owner.advertiser, owner.role) == (agency, None, Role.ADMIN)
    manager = Membership.objects.get(user__email="manager@example.com")
    assert (manager.agency, manager.role) == (None, Role.MANAGER)
    assert set(
        Membership.objects.filter(user__email="analyst@example.com").values_list("role", flat=True)
    ) == {Role.ANALYST}
    assert Advertiser.objects.for_user(User.objects.get(email="owner@example.com")).count() == 2
    assert Advertiser.objects.for_user(admin).count() == 3


def test_the_demo_world_is_complete_and_valid() -> None:
    _seed()
    # Accounts: two advertisers of the agency, one direct, in several currencies and time zones.
    advertisers = list(Advertiser.objects.all())
    assert len(advertisers) == 3
    assert sorted(a.agency is None for a in advertisers) == [False, False, True]
    assert len({a.currency for a in advertisers}) == 3
    assert len({a.time_zone for a in advertisers}) == 3
    for advertiser in advertisers:
        advertiser.full_clean()
        assert advertiser.domains

    # Campaigns: every objective, a mix of statuses, strategies that suit the objective.
    campaigns = list(Campaign.objects.select_related("advertiser"))
    assert len(campaigns) >= 6
    assert {c.objective for c in campaigns} == set(Objective.values)
    assert {c.status for c in campaigns} == {"active", "paused", "draft"}
    for campaign in campaigns:
        campaign.full_clean()
        if campaign.objective == Objective.CONVERSIONS:
            assert campaign.conversion_event is not None
        if campaign.status == Campaign.Status.ACTIVE:
            assert campaign.ad_groups.servable().exists()
    for ad_group in AdGroup.objects.select_related("campaign"):
        ad_group.full_clean()
        assert ad_group.bid_strategy in STRATEGIES_BY_OBJECTIVE[ad_group.campaign.objective]
    targeting = [ad_group.parsed_targeting for ad_group in AdGroup.objects.all()]
    for dimension in ("countries", "languages", "age_ranges", "genders", "device_types", "operating_systems",
                      "interests", "keywords", "placements_include", "dayparting"):  # fmt: skip
        assert any(getattr(t, dimension) for t in targeting), dimension
    assert Campaign.objects.get(name="Spring Trail Collection").delivery().state == DeliveryState.DELIVERING
    assert ConversionEvent.objects.count() == 2
    # The review policy's starting lists, which the automatic checks read.
    assert ProhibitedTerm.objects.filter(blocking=True).exists()
    assert DeniedDomain.objects.exists()

    # Creatives: valid images, one video, one pending, one rejected with a reason, the rest approved.
    creatives = list(Creative.objects.all())
    reviews = Counter(c.review_status for c in creatives)
    assert (reviews["pending"], reviews["rejected"]) == (1, 1)
    assert reviews["approved"] == len(creatives) - 2
    rejected = next(c for c in creatives if c.review_status == "rejected")
    assert rejected.rejection_reasons
    assert {c.reviewed_by.email for c in creatives if c.reviewed_by} == {"reviewer@example.com"}
    assert {c.format for c in creatives} == set(Creative.Format.values)
    for creative in creatives:
        creative.full_clean()
        if creative.format == Creative.Format.VIDEO:
            assert "<VAST" in creative.vast_xml
            continue
        with creative.image.open("rb") as image:
            info = creative_specs.inspect_image(image)
        if creative.format == Creative.Format.BANNER:
            creative_specs.check_banner_dimensions(info.width, info.height)
        else:
            creative_specs.check_native_dimensions(info.width, info.height)

    # Inventory.
    assert Publisher.objects.count() == 3
    placements = list(Placement.objects.all())
    assert len(placements) == 8
    assert {p.format for p in placements} == set(Creative.Format.values)
    for placement in placements:
        placement.full_clean()
        assert placement.floor_cpm_micros > 0
        assert placement.daily_requests > 0


def test_the_audit_log_tells_the_demo_story() -> None:
    _seed()
    created = Counter(AuditLog.objects.filter(action="create").values_list("object_type", flat=True))
    assert created["campaigns.Campaign"] == Campaign.objects.count()
    assert created["campaigns.AdGroup"] == AdGroup.objects.count()
    assert created["campaigns.Creative"] == Creative.objects.count()
    assert created["accounts.Advertiser"] == 3
    actions = Counter(AuditLog.objects.values_list("action", flat=True))
    assert actions["approve"] == Creative.objects.filter(review_status="approved").count()
    assert actions["reject"] == 1
    assert actions["activate"] == Campaign.objects.exclude(status="draft").count()
    assert actions["pause"] == Campaign.objects.filter(status="paused").count()
    assert not AuditLog.objects.filter(object_type="accounts.User").exists()  # no password hashes in the log


def test_the_images_are_deterministic_and_stored_as_drawn() -> None:
    brand = demo.ADVERTISERS[0]
    kwargs = {"brand": brand.name, "tagline": brand.tagline, "colour": brand.colour, "accent": brand.accent}
    assert demo.render_creative_image(300, 250, **kwargs) == demo.render_creative_image(300, 250, **kwargs)
    assert demo.render_creative_image(300, 250, **kwargs) != demo.render_creative_image(728, 90, **kwargs)
    _seed()
    creative = Creative.objects.get(name="Spring trail 300x250")
    with creative.image.open("rb") as stored:
        assert stored.read() == demo.render_creative_image(300, 250, **kwargs)
