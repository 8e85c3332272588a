"""factory_boy factories for every model; later issues reuse and extend them."""

from __future__ import annotations

import io
from datetime import timedelta

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from accounts.models import Advertiser, Agency, ApiKey, Membership, Role, User
from campaigns.models import AdGroup, BidStrategy, Campaign, ConversionEvent, Creative, Objective
from delivery.models import Placement, Publisher

PASSWORD = "test-password-123"


def png_file(
    width: int = 300, height: int = 250, name: str = "banner.png", fmt: str = "PNG"
) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buffer, format=fmt)
    content_type = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "BMP": "image/bmp"}[fmt]
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=content_type)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        password = kwargs.pop("password", PASSWORD)
        return model_class.objects.create_user(*args, password=password, **kwargs)


class AgencyFactory(factory.django.DjangoModelFactory[Agency]):
    class Meta:
        model = Agency

    name = factory.Sequence(lambda n: f"Agency {n}")
    slug = factory.Sequence(lambda n: f"agency-{n}")


class AdvertiserFactory(factory.django.DjangoModelFactory[Advertiser]):
    class Meta:
        model = Advertiser

    agency = factory.SubFactory(AgencyFactory)
    name = factory.Sequence(lambda n: f"Advertiser {n}")
    currency = "USD"
    time_zone = "America/New_York"
    domains = factory.LazyFunction(lambda: ["example.com"])


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    advertiser = factory.SubFactory(AdvertiserFactory)
    role = Role.MANAGER


class ConversionEventFactory(factory.django.DjangoModelFactory[ConversionEvent]):
    class Meta:
        model = ConversionEvent

    advertiser = factory.SubFactory(AdvertiserFactory)
    name = factory.Sequence(lambda n: f"Purchase {n}")
    category = ConversionEvent.Category.PURCHASE


class CampaignFactory(factory.django.DjangoModelFactory[Campaign]):
    class Meta:
        model = Campaign

    advertiser = factory.SubFactory(AdvertiserFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    objective = Objective.AWARENESS
    budget_micros = 50_000_000
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))


class AdGroupFactory(factory.django.DjangoModelFactory[AdGroup]):
    class Meta:
        model = AdGroup

    campaign = factory.SubFactory(CampaignFactory)
    name = factory.Sequence(lambda n: f"Ad group {n}")
    bid_strategy = BidStrategy.MANUAL_CPM
    bid_micros = 2_000_000
    targeting = factory.LazyFunction(lambda: {"countries": ["US"]})


class CreativeFactory(factory.django.DjangoModelFactory[Creative]):
    class Meta:
        model = Creative

    ad_group = factory.SubFactory(AdGroupFactory)
    name = factory.Sequence(lambda n: f"Creative {n}")
    format = Creative.Format.BANNER
    landing_url = "https://example.com/landing"
    image = factory.LazyFunction(png_file)

    class Params:
        approved = factory.Trait(review_status=Creative.ReviewStatus.APPROVED)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Approval goes through the model, as a reviewer's decision does (it records the approved content).
        approved = kwargs.pop("review_status", None) == Creative.ReviewStatus.APPROVED
        creative = super()._create(model_class, *args, **kwargs)
        if approved:
            creative.approve(by=None)
        return creative


class PublisherFactory(factory.django.DjangoModelFactory[Publisher]):
    class Meta:
        model = Publisher

    name = factory.Sequence(lambda n: f"Publisher {n}")
    domain = factory.Sequence(lambda n: f"publisher{n}.example")


class PlacementFactory(factory.django.DjangoModelFactory[Placement]):
    class Meta:
        model = Placement

    publisher = factory.SubFactory(PublisherFactory)
    name = factory.Sequence(lambda n: f"Placement {n}")
    key = factory.Sequence(lambda n: f"placement-{n}")
    format = Creative.Format.BANNER
    sizes = factory.LazyFunction(lambda: ["300x250"])
    floor_cpm_micros = 500_000
    daily_requests = 100_000


def issue_api_key(**kwargs) -> tuple[ApiKey, str]:
    kwargs.setdefault("name", "test key")
    kwargs.setdefault("role", Role.ADMIN)
    return ApiKey.issue(**kwargs)


# --- Helpers for model-rule tests (appended) ------------------------------------------------------


def approved_creative(*, by: User | None = None, **kwargs) -> Creative:
    """A stored creative approved by `by`, as a reviewer's decision does."""
    creative = CreativeFactory(**kwargs)
    creative.approve(by=by)
    return creative


def servable_campaign(**kwargs) -> Campaign:
    """A draft campaign that may be activated: one active ad group with an approved, active creative."""
    campaign = CampaignFactory(**kwargs)
    approved_creative(ad_group=AdGroupFactory(campaign=campaign))
    return campaign


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 60, 30)).save(buffer, format=fmt)
    return buffer.getvalue()
