"""Authentication of the accounts resources: a Bearer API key or the browser session (with CSRF on
writes); nothing without one; a revoked key is refused from its next call."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditLog, Role
from tests.conftest import Tenants
from tests.factories import MembershipFactory, UserFactory, issue_api_key

pytestmark = pytest.mark.django_db

ROUTES = [
    ("get", "/api/v1/advertisers"),
    ("post", "/api/v1/advertisers"),
    ("get", "/api/v1/advertisers/{advertiser}"),
    ("patch", "/api/v1/advertisers/{advertiser}"),
    ("put", "/api/v1/advertisers/{advertiser}"),
    ("get", "/api/v1/members"),
    ("post", "/api/v1/members"),
    ("get", "/api/v1/members/{member}"),
    ("patch", "/api/v1/members/{member}"),
    ("delete", "/api/v1/members/{member}"),
    ("get", "/api/v1/api-keys"),
    ("post", "/api/v1/api-keys"),
    ("get", "/api/v1/api-keys/{key}"),
    ("post", "/api/v1/api-keys/{key}/revoke"),
    ("delete", "/api/v1/api-keys/{key}"),
    ("get", "/api/v1/audit-log"),
    ("get", "/api/v1/audit-log/{entry}"),
]


@pytest.fixture
def ids(tenants: Tenants) -> dict[str, int]:
    key, _ = issue_api_key(advertiser=tenants.advertiser, role=Role.ANALYST)
    entry = AuditLog.objects.create(
        advertiser=tenants.advertiser, actor_label="x", source="web", action="update",
        object_type="accounts.Advertiser", object_id=str(tenants.advertiser.pk), object_repr="Acme Shoes",
    )  # fmt: skip
    return {
        "advertiser": tenants.advertiser.pk,
        "member": tenants.analyst.memberships.get().pk,
        "key": key.pk,
        "entry": entry.pk,
    }


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_credentials_is_a_401_everywhere(tenants: Tenants, ids: dict, method: str, path: str) -> None:
    response = getattr(APIClient(), method)(path.format(**ids), {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer adw_000000000000_secret", "Bearer a b", "Bearer"],
)
def test_a_bad_key_is_a_401(tenants: Tenants, header: str) -> None:
    response = APIClient().get("/api/v1/advertisers", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_a_wrong_secret_for_a_real_prefix_is_a_401(tenants: Tenants) -> None:
    key, token = issue_api_key(advertiser=tenants.advertiser)
    forged = f"adw_{key.prefix}_{'x' * 43}"
    assert forged != token
    assert APIClient().get("/api/v1/advertisers", HTTP_AUTHORIZATION=f"Bearer {forged}").status_code == 401


@pytest.mark.parametrize("scope", ["advertiser", "agency"])
@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.ANALYST])
def test_a_revoked_key_is_refused_on_its_next_call(tenants: Tenants, scope: str, role: Role) -> None:
    target = tenants.advertiser if scope == "advertiser" else tenants.advertiser.agency
    key, token = issue_api_key(role=role, **{scope: target})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/advertisers").status_code == 200
    ApiKey.objects.get(pk=key.pk).revoke()  # in the admin, by another key, or by the API
    for path in ("/api/v1/advertisers", "/api/v1/members", "/api/v1/audit-log", f"/api/v1/api-keys/{key.pk}"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["message"] == "The API key is not valid, or it has been revoked."


def test_a_key_records_when_it_was_last_used(tenants: Tenants) -> None:
    key, token = issue_api_key(advertiser=tenants.advertiser)
    assert key.last_used_at is None
    APIClient().get("/api/v1/advertisers", HTTP_AUTHORIZATION=f"Bearer {token}")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_responses_carry_the_rate_limit(tenants: Tenants, redis_client) -> None:
    _, token = issue_api_key(advertiser=tenants.advertiser)
    response = APIClient().get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert int(response["X-RateLimit-Limit"]) > 0
    assert int(response["X-RateLimit-Remaining"]) == int(response["X-RateLimit-Limit"]) - 1
    assert int(response["X-RateLimit-Reset"]) >= 1


def test_a_key_past_its_rate_limit_gets_429(tenants: Tenants, settings, redis_client) -> None:
    settings.API_RATE_LIMIT_PER_KEY = 2
    _, token = issue_api_key(advertiser=tenants.advertiser)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert [client.get("/api/v1/audit-log").status_code for _ in range(2)] == [200, 200]
    response = client.get("/api/v1/audit-log")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "throttled"


# ---------------------------------------------------------------------------------------------------
# The browser session


def csrf_client(tenants: Tenants) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenants.owner)
    return client


def test_the_session_reads_without_a_key(tenants: Tenants) -> None:
    response = csrf_client(tenants).get("/api/v1/members")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2


def test_session_writes_need_the_csrf_token(tenants: Tenants) -> None:
    client = csrf_client(tenants)
    newcomer = UserFactory()
    body = {"email": newcomer.email, "advertiser": tenants.advertiser.pk, "role": "analyst"}
    refused = client.post("/api/v1/members", body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    assert not newcomer.memberships.exists()

    client.get("/")  # any page sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/members", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201, accepted.content
    analyst = tenants.analyst.memberships.get()
    patched = client.patch(
        f"/api/v1/members/{analyst.pk}", {"role": "manager"}, content_type="application/json"
    )
    assert patched.status_code == 403  # no token: refused too
    entry = AuditLog.objects.get(object_type="accounts.Membership", action="create")
    assert (entry.source, entry.actor_user, entry.actor_api_key) == ("api", tenants.owner, None)


def test_a_key_needs_no_csrf_token(tenants: Tenants) -> None:
    # Bearer keys are not sent by browsers on their own: CSRF does not apply to them.
    key, token = issue_api_key(advertiser=tenants.advertiser, role=Role.ADMIN)
    client = Client(enforce_csrf_checks=True)
    newcomer = UserFactory()
    body = {"email": newcomer.email, "advertiser": tenants.advertiser.pk, "role": "analyst"}
    response = client.post(
        "/api/v1/members", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 201
    entry = AuditLog.objects.get(object_type="accounts.Membership", action="create")
    assert (entry.source, entry.actor_api_key, entry.actor_user) == ("api", key, None)


def test_an_inactive_user_has_no_session_access(tenants: Tenants) -> None:
    user = MembershipFactory(advertiser=tenants.advertiser, role=Role.ADMIN).user
    client = Client()
    client.force_login(user)
    user.is_active = False
    user.save()
    assert client.get("/api/v1/advertisers").status_code in (401, 403)
