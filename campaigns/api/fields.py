"""Serializer fields of the campaigns resources: parent ids looked up among the caller's objects,
targeting validated by campaigns/targeting.py, and images uploaded as files or as data URIs."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.creative_specs import IMAGE_FORMATS, MAX_IMAGE_BYTES
from campaigns.targeting import Targeting

# The largest id PostgreSQL's bigint holds: larger numbers name nothing (and must not reach SQL).
MAX_ID = 2**63 - 1


def parse_id(value: Any) -> int | None:
    """An object id from a request body (a JSON integer, or digits in a form field), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 1 <= value <= MAX_ID:
        return value
    return None


class OwnedRelatedField(serializers.PrimaryKeyRelatedField):
    """The id of one of the caller's objects. Another tenant's id reads as unknown (400, naming the
    field), never as forbidden: the caller must not learn that it exists.

    Bulk requests load every parent their items name in one query and pass them in the serializer
    context as `known[field_name] = {id: object}`; the field then looks there instead of querying.
    """

    def __init__(self, model: type[models.Model], *, select_related: tuple[str, ...] = (), **kwargs: Any):
        self.model = model
        self.select_related = select_related
        super().__init__(**kwargs)

    def get_queryset(self) -> Any:
        queryset = self.model._default_manager.for_user(self.context["request"].user)  # type: ignore[attr-defined]
        return queryset.select_related(*self.select_related) if self.select_related else queryset

    def to_internal_value(self, data: Any) -> Any:
        known = self.context.get("known", {}).get(self.field_name)
        if known is None:
            return super().to_internal_value(data)
        numeric = isinstance(data, int) or (isinstance(data, str) and data.strip().lstrip("-").isdigit())
        if isinstance(data, bool) or not numeric:
            self.fail("incorrect_type", data_type=type(data).__name__)
        obj = known.get(parse_id(data))
        if obj is None:
            self.fail("does_not_exist", pk_value=data)
        return obj


# The OpenAPI document's description of targeting (campaigns/targeting.py is the one definition of
# what is valid; these serializers only describe it).


class AgeRangeSerializer(serializers.Serializer):
    """An age range, both ends included."""

    min = serializers.IntegerField(min_value=13, max_value=100)
    max = serializers.IntegerField(min_value=13, max_value=100)


class TargetingSerializer(serializers.Serializer):
    """Who sees the ads. A missing or empty list puts no restriction on that dimension."""

    countries = serializers.ListField(
        child=serializers.CharField(), required=False, help_text='ISO 3166-1 alpha-2 codes ("FR").'
    )
    regions = serializers.ListField(
        child=serializers.CharField(), required=False, help_text='ISO 3166-2 codes ("US-CA").'
    )
    languages = serializers.ListField(
        child=serializers.CharField(), required=False, help_text='ISO 639-1 codes ("fr").'
    )
    age_ranges = AgeRangeSerializer(many=True, required=False)
    genders = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="female, male, unknown."
    )
    device_types = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="desktop, mobile, tablet, ctv."
    )
    operating_systems = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="android, ios, windows, macos, linux, chromeos, other.",
    )
    placements_include = serializers.ListField(child=serializers.IntegerField(), required=False)
    placements_exclude = serializers.ListField(child=serializers.IntegerField(), required=False)
    interests = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Interest segments, e.g. travel, sports."
    )
    keywords = serializers.ListField(child=serializers.CharField(), required=False)
    dayparting = serializers.ListField(
        child=serializers.ListField(child=serializers.BooleanField()),
        required=False,
        allow_null=True,
        help_text="7 days (Monday first) of 24 booleans, in the advertiser's time zone; null: every hour.",
    )


@extend_schema_field(TargetingSerializer)
class TargetingField(serializers.Field):
    """An ad group's targeting, validated and normalised by `Targeting.from_json`: the same rules as
    the forms and the admin. Its errors keep their paths, so that the API answers
    `fields: {"targeting.countries[2]": [...]}`. An empty list means no restriction."""

    default_error_messages = {"not_an_object": "Targeting must be an object."}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        try:
            return Targeting.from_json(data).to_json()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None

    def to_representation(self, value: Any) -> dict[str, Any]:
        return value or Targeting().to_json()


DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[\w.+-]+)*;base64,(?P<data>.*)$", re.S)
EXTENSIONS = {mime: fmt.lower().replace("jpeg", "jpg") for fmt, mime in IMAGE_FORMATS.items()}


class CreativeImageField(serializers.ImageField):
    """An image uploaded as a file (multipart/form-data) or, in JSON, as a base64 data URI string
    (`data:image/png;base64,...`), which is how bulk requests carry images. Size and dimensions are
    checked by the model (campaigns/creative_specs.py)."""

    default_error_messages = {
        "not_a_data_uri": "Send the image as a file (multipart) or as a data URI: data:image/png;base64,…",
        "bad_type": "The data URI must be a PNG, JPEG, GIF or WebP image (data:image/png;base64,…).",
        "bad_base64": "The data URI's base64 content is not valid.",
        "too_big": "The image is {size} KB; the limit is {limit} KB.",
    }

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            data = self.decode_data_uri(data)
        return super().to_internal_value(data)

    def decode_data_uri(self, text: str) -> SimpleUploadedFile:
        match = DATA_URI.match(text.strip())
        if match is None:
            raise self.refusal("not_a_data_uri")
        mime = (match["mime"] or "").lower()
        if mime not in EXTENSIONS:
            raise self.refusal("bad_type")
        encoded = "".join(match["data"].split())
        size = len(encoded) * 3 // 4
        if size > MAX_IMAGE_BYTES + 3:
            raise self.refusal("too_big", size=size // 1024, limit=MAX_IMAGE_BYTES // 1024)
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise self.refusal("bad_base64") from None
        return SimpleUploadedFile(f"image.{EXTENSIONS[mime]}", content, content_type=mime)

    def refusal(self, key: str, **params: Any) -> serializers.ValidationError:
        """What self.fail() raises, returned, so that `raise` shows where the code stops."""
        return serializers.ValidationError(self.error_messages[key].format(**params), code=key)
