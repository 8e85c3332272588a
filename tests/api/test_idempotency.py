"""Idempotency-Key on POST (accounts/api/idempotency.py): a retry returns the first response and
creates nothing; the same key with another request answers 422; keys are scoped to the caller;
a 5xx is not kept, so that the client may retry it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditLog
from campaigns.api.views import ConversionEventViewSet
from campaigns.models import ConversionEvent, Creative
from tests.api.conftest import World, error_of
from tests.factories import image_bytes

URL = "/api/v1/conversion-events/"


def event_body(world: World, name: str = "Sign-up") -> dict[str, Any]:
    return {"advertiser": world.mine.advertiser.pk, "name": name, "category": "sign_up"}


def post(client: APIClient, data: Any, key: str | None, **kwargs: Any) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    kwargs.setdefault("format", "json")
    return client.post(URL, data, **kwargs, **headers)


def test_a_retry_returns_the_first_response_and_creates_nothing(world: World) -> None:
    client = world.client("owner_key")
    first = post(client, event_body(world), key="create-signup-1")
    assert first.status_code == 201
    assert not first.has_header("Idempotent-Replayed")
    count, audited = ConversionEvent.objects.count(), AuditLog.objects.count()

    retry = post(client, event_body(world), key="create-signup-1")

    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert retry["Location"] == first["Location"]
    assert retry["ETag"] == first["ETag"]
    assert (ConversionEvent.objects.count(), AuditLog.objects.count()) == (count, audited)


def test_without_a_key_a_retry_is_a_new_request(world: World) -> None:
    client = world.client("owner_key")
    assert post(client, event_body(world), key=None).status_code == 201
    again = post(client, event_body(world), key=None)
    assert again.status_code == 400  # the name is taken: a second create was attempted
    assert "name" in error_of(again)["fields"] or error_of(again)["fields"]


def test_the_same_key_with_another_body_answers_422(world: World) -> None:
    client = world.client("owner_key")
    assert post(client, event_body(world, "Sign-up"), key="k-1").status_code == 201
    count = ConversionEvent.objects.count()

    other = post(client, event_body(world, "Lead"), key="k-1")

    assert other.status_code == 422
    assert error_of(other)["code"] == "idempotency_key_reused"
    assert ConversionEvent.objects.count() == count


def test_the_same_key_on_another_path_answers_422(world: World) -> None:
    client = world.client("owner_key")
    assert post(client, event_body(world), key="k-2").status_code == 201
    other = client.post(
        "/api/v1/api-keys/",
        {"name": "CI", "advertiser": world.mine.advertiser.pk, "role": "analyst"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )
    assert other.status_code == 422
    assert error_of(other)["code"] == "idempotency_key_reused"


def test_a_refused_request_is_replayed_as_refused(world: World) -> None:
    """A 4xx is the answer to that request: the retry gets it again (and nothing is created later)."""
    client = world.client("owner_key")
    body = {**event_body(world), "click_window_days": 500}
    first = post(client, body, key="bad-window")
    assert first.status_code == 400
    retry = post(client, body, key="bad-window")
    assert retry.status_code == 400
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()


def test_keys_are_scoped_to_the_caller(world: World) -> None:
    """Two callers that happen to pick the same key do not see each other's requests."""
    owner = post(world.client("owner_key"), event_body(world, "Sign-up"), key="shared-key")
    agency = post(world.client("agency"), event_body(world, "Lead"), key="shared-key")
    session = post(world.client("owner_session"), event_body(world, "Install"), key="shared-key")

    assert [owner.status_code, agency.status_code, session.status_code] == [201, 201, 201]
    assert not any(r.has_header("Idempotent-Replayed") for r in (owner, agency, session))
    assert len({owner.json()["id"], agency.json()["id"], session.json()["id"]}) == 3


def test_the_other_agency_cannot_replay_the_owners_response(world: World) -> None:
    first = post(world.client("owner_key"), event_body(world), key="k-3")
    assert first.status_code == 201
    theirs = post(world.client("other_agency"), event_body(world), key="k-3")
    assert theirs.status_code == 400  # the owner's advertiser is not theirs; no replay of the owner's 201
    assert not theirs.has_header("Idempotent-Replayed")


def test_a_multipart_retry_with_a_new_boundary_is_the_same_request(world: World) -> None:
    client = world.client("owner_key")
    body = {k: str(v) for k, v in event_body(world).items()}

    def multipart(boundary: str) -> Any:
        return client.post(
            URL,
            encode_multipart(boundary, body),
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )

    first = multipart("----first-boundary-1111")
    retry = multipart("----another-boundary-2222")

    assert first.status_code == 201
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert ConversionEvent.objects.filter(name="Sign-up").count() == 1


def test_an_image_upload_retried_with_a_new_boundary_is_the_same_request(world: World) -> None:
    """The creative's image uploaded twice as multipart, each time with its own boundary (as any
    HTTP library does): one creative, and the retry is the first response."""
    client = world.client("owner_key")
    image = image_bytes(728, 90)

    def upload(boundary: str, content: bytes = image) -> Any:
        body = {
            "ad_group": str(world.mine.ad_group.pk),
            "name": "Leaderboard",
            "format": "banner",
            "landing_url": "https://example.com/summer",
            "image": SimpleUploadedFile("leaderboard.png", content, content_type="image/png"),
        }
        return client.post(
            "/api/v1/creatives/",
            encode_multipart(boundary, body),
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_IDEMPOTENCY_KEY="upload-image-1",
        )

    first = upload("----first-1111")
    retry = upload("----second-2222")
    other_image = upload("----third-3333", image_bytes(728, 90, fmt="GIF"))

    assert first.status_code == 201, first.content
    assert (retry.status_code, retry["Idempotent-Replayed"]) == (201, "true")
    assert retry.json() == first.json()
    assert other_image.status_code == 422  # same key, another file: another request
    assert Creative.objects.filter(name="Leaderboard").count() == 1


def test_a_5xx_is_not_kept_so_the_retry_runs(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    client = world.client("owner_key")
    original = ConversionEventViewSet.perform_create

    def broken(self: Any, serializer: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ConversionEventViewSet, "perform_create", broken)
    failed = post(client, event_body(world), key="flaky-1")
    assert failed.status_code == 500
    assert error_of(failed)["code"] == "server_error"

    monkeypatch.setattr(ConversionEventViewSet, "perform_create", original)
    retry = post(client, event_body(world), key="flaky-1")
    assert retry.status_code == 201
    assert not retry.has_header("Idempotent-Replayed")


@pytest.mark.parametrize("key", ["", "   ", "x" * 256])
def test_a_malformed_key_answers_422(world: World, key: str) -> None:
    response = post(world.client("owner_key"), event_body(world), key=key)
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_idempotency_key"
    assert not ConversionEvent.objects.filter(name="Sign-up").exists()


def test_the_key_applies_to_post_only(world: World) -> None:
    client = world.client("owner_key")
    url = f"{URL}{world.mine.conversion_event.pk}/"
    first = client.patch(url, {"click_window_days": 10}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    second = client.patch(url, {"click_window_days": 20}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert (first.status_code, second.status_code) == (200, 200)
    assert not second.has_header("Idempotent-Replayed")


def test_a_new_api_keys_token_is_not_kept_for_replays(world: World) -> None:
    client = world.client("owner_key")
    body = {"name": "CI", "advertiser": world.mine.advertiser.pk, "role": "analyst"}
    first = client.post("/api/v1/api-keys/", body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    retry = client.post("/api/v1/api-keys/", body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")

    assert first.status_code == retry.status_code == 201
    assert first.json()["token"].startswith("adw_")
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["token"] is None
    assert retry.json()["id"] == first.json()["id"]
    assert ApiKey.objects.filter(name="CI").count() == 1


def test_a_429_is_not_kept_so_the_retry_after_the_wait_runs(
    world: World, settings: Any, redis_db: Any
) -> None:
    settings.API_RATE_LIMIT_PER_ADVERTISER = 1
    client = world.client("owner_key")
    assert client.get(f"{URL}{world.mine.conversion_event.pk}/").status_code == 200  # the one allowed
    throttled = post(client, event_body(world), key="busy-1")
    assert throttled.status_code == 429

    redis_db.delete(*redis_db.keys("adwright:ratelimit:*"))  # the window passes
    retry = post(client, event_body(world), key="busy-1")

    assert retry.status_code == 201
    assert not retry.has_header("Idempotent-Replayed")
