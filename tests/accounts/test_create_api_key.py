"""`manage.py create_api_key`: issues a key and prints only its token on stdout."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey
from tests.conftest import Tenants

pytestmark = pytest.mark.django_db


def create_api_key(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_for_an_agency(tenants: Tenants) -> None:
    agency = tenants.advertiser.agency
    assert agency is not None
    out, err = create_api_key("--agency", agency.slug, "--role", "analyst")
    token = out.strip()
    assert out == token + "\n"  # the token alone, for scripts
    key = ApiKey.authenticate(token)
    assert key is not None
    assert (key.agency, key.advertiser, key.role, key.name) == (
        agency,
        None,
        "analyst",
        "created with manage.py",
    )
    assert "cannot be shown again" in err
    assert token not in err


def test_for_an_advertiser_with_a_name(tenants: Tenants) -> None:
    out, _ = create_api_key(
        "--advertiser", str(tenants.advertiser.pk), "--role", "manager", "--name", "Nightly sync"
    )
    key = ApiKey.authenticate(out.strip())
    assert key is not None
    assert (key.advertiser, key.agency, key.role, key.name) == (
        tenants.advertiser,
        None,
        "manager",
        "Nightly sync",
    )
    assert key.secret_hash not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agency", "nobody", "--role", "admin"], "No agency with slug 'nobody'."),
        (["--advertiser", "999999", "--role", "admin"], "No advertiser with id 999999."),
        (["--advertiser", "abc", "--role", "admin"], "invalid int value: 'abc'"),
        (["--agency", "{agency}", "--role", "owner"], "argument --role: invalid choice: 'owner'"),
        (
            ["--agency", "{agency}", "--advertiser", "{advertiser}", "--role", "admin"],
            "not allowed with argument",
        ),
        (["--role", "admin"], "one of the arguments --agency --advertiser is required"),
        (["--agency", "{agency}"], "the following arguments are required: --role"),
        (["--agency", "{agency}", "--role", "admin", "--name", "x" * 101], "at most 100 characters"),
    ],
)
def test_errors_are_clear(tenants: Tenants, args: list[str], message: str) -> None:
    agency = tenants.advertiser.agency
    assert agency is not None
    args = [arg.format(agency=agency.slug, advertiser=tenants.advertiser.pk) for arg in args]
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        create_api_key(*args)
    assert not ApiKey.objects.exists()
