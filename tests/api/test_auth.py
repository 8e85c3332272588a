"""Authentication (accounts/api/authentication.py): `Authorization: Bearer <key>` or the browser
session. A revoked key answers 401 from its next call; a malformed header is a 401, never a 500 or
a fall-through to anonymous access."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Advertiser, ApiKey, Role
from tests.api.conftest import World, error_of
from tests.factories import AdvertiserFactory, issue_api_key

EVENTS = "/api/v1/conversion-events/"


def test_a_key_revoked_by_the_api_fails_its_next_call(world: World) -> None:
    token = issue_api_key(role=Role.MANAGER, advertiser=world.mine.advertiser)[1]
    key = ApiKey.authenticate(token)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(EVENTS).status_code == 200

    revoked = world.client("owner_key").post(f"/api/v1/api-keys/{key.pk}/revoke/")
    assert revoked.status_code == 200
    assert revoked.json()["is_active"] is False

    response = client.get(EVENTS)
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_a_key_can_revoke_itself_and_is_refused_after(world: World) -> None:
    client = world.client("owner_key")
    me = world.key_of("owner_key")
    assert client.delete(f"/api/v1/api-keys/{me.pk}/").status_code == 204
    assert client.get(EVENTS).status_code == 401


def test_a_key_revoked_elsewhere_fails_its_next_call(world: World) -> None:
    client = world.client("agency")
    assert client.get(EVENTS).status_code == 200
    world.key_of("agency").revoke()
    assert client.get(EVENTS).status_code == 401


def test_a_revoked_key_cannot_replay_an_idempotent_response(world: World) -> None:
    client = world.client("owner_key")
    body = {"advertiser": world.mine.advertiser.pk, "name": "Lead", "category": "lead"}
    assert client.post(EVENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    world.key_of("owner_key").revoke()
    assert client.post(EVENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer not-a-key",
        "Bearer adw_",
        "Bearer adw__",
        "Bearer adw_zzzzzzzzzzzz_",
        "Bearer adw_{prefix}_wrong-secret",
        "Bearer {token}x",
        "Bearer {token} {token}",
        "Bearer\t",
        "Bearer adw_\u00e9\u00e9_\u00ff",
        "Token {token}",
        "Basic dXNlcjpwYXNz",
        "{token}",
        "",
    ],
)
def test_malformed_authorization_headers_answer_401(world: World, header: str) -> None:
    token = world.tokens["owner_key"]
    prefix = token.split("_")[1]
    response = APIClient().get(EVENTS, HTTP_AUTHORIZATION=header.format(token=token, prefix=prefix))
    assert response.status_code == 401, (header, response.status_code)
    assert error_of(response)["code"] in ("not_authenticated", "authentication_failed")


def test_non_ascii_bytes_in_the_header_answer_401(world: World) -> None:
    client = APIClient()
    response = client.generic(
        "GET",
        EVENTS,
        HTTP_AUTHORIZATION="Bearer \udcff\udcfe".encode("utf-8", "surrogateescape").decode("latin-1"),
    )
    assert response.status_code == 401


@pytest.mark.parametrize("header", ["bearer {token}", "BEARER {token}", "Bearer   {token}  "])
def test_the_scheme_is_case_insensitive_and_spaces_are_forgiven(world: World, header: str) -> None:
    response = APIClient().get(EVENTS, HTTP_AUTHORIZATION=header.format(token=world.tokens["owner_key"]))
    assert response.status_code == 200


def test_a_bad_key_is_refused_even_with_a_valid_session(world: World) -> None:
    """A key that is sent is the credential: a wrong one is not excused by a session cookie."""
    client = world.client("owner_session")
    response = client.get(EVENTS, HTTP_AUTHORIZATION="Bearer adw_000000000000_nope")
    assert response.status_code == 401


def test_a_used_key_records_when(world: World) -> None:
    key = world.key_of("agency")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=None)
    world.client("agency").get(EVENTS)
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_session_writes_need_the_csrf_token(world: World) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.owner)
    body = {"advertiser": world.mine.advertiser.pk, "name": "Lead", "category": "lead"}
    refused = client.post(EVENTS, body, format="json")
    assert refused.status_code == 403
    assert "CSRF" in error_of(refused)["message"]
    assert client.get(EVENTS).status_code == 200  # reads need none


def test_key_writes_need_no_csrf_token(world: World) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens['owner_key']}")
    body = {"advertiser": world.mine.advertiser.pk, "name": "Lead", "category": "lead"}
    assert client.post(EVENTS, body, format="json").status_code == 201


def test_an_inactive_user_session_is_refused(world: World) -> None:
    client = world.client("owner_session")
    world.owner.is_active = False
    world.owner.save(update_fields=["is_active"])
    assert client.get(EVENTS).status_code in (401, 403)
    assert client.get(f"{EVENTS}{world.mine.conversion_event.pk}/").status_code in (401, 403, 404)


def test_an_advertiser_key_sees_only_its_advertiser(world: World) -> None:
    sibling = AdvertiserFactory(agency=world.mine.agency, name="Acme Socks")
    client = world.client("owner_key")
    names = {row["name"] for row in client.get("/api/v1/advertisers/").json()["results"]}
    assert names == {"Acme Shoes"}
    assert client.get(f"/api/v1/advertisers/{sibling.pk}/").status_code == 404
    # ...while the agency's key sees both.
    agency_names = {
        row["name"] for row in world.client("agency").get("/api/v1/advertisers/").json()["results"]
    }
    assert agency_names == {"Acme Shoes", "Acme Socks"}


def test_a_suspended_account_is_read_only(world: World) -> None:
    Advertiser.objects.filter(pk=world.mine.advertiser.pk).update(status=Advertiser.Status.SUSPENDED)
    client = world.client("owner_key")
    url = f"{EVENTS}{world.mine.conversion_event.pk}/"
    assert client.get(url).status_code == 200
    refused = client.patch(url, {"click_window_days": 3}, format="json")
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "permission_denied"


def test_a_key_cannot_create_a_key_above_its_role(world: World) -> None:
    """An agency manager key may not mint an admin key: keys only hand down what they have."""
    manager = issue_api_key(role=Role.MANAGER, agency=world.mine.agency)[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {manager}")
    body = {"name": "escalate", "agency": world.mine.agency.pk, "role": "admin"}
    response = client.post("/api/v1/api-keys/", body, format="json")
    assert response.status_code in (400, 403)
    assert not ApiKey.objects.filter(name="escalate").exists()


def test_an_advertiser_admin_key_cannot_create_an_agency_key(world: World) -> None:
    body = {"name": "escalate", "agency": world.mine.agency.pk, "role": "admin"}
    response = world.client("owner_key").post("/api/v1/api-keys/", body, format="json")
    assert response.status_code in (400, 403)
    assert not ApiKey.objects.filter(name="escalate").exists()


def test_an_advertiser_admin_cannot_make_themselves_agency_admin(world: World) -> None:
    body = {"email": world.owner.email, "agency": world.mine.agency.pk, "role": "admin"}
    response = world.client("owner_session").post("/api/v1/members/", body, format="json")
    assert response.status_code in (400, 403)
    assert not world.owner.memberships.filter(agency=world.mine.agency).exists()
