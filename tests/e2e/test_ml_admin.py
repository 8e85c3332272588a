"""Staff open a trained model's card in the admin, read its charts and promote a candidate."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from delivery.ml import train
from delivery.models import ModelVersion
from tests.delivery.test_ml_admin import staff_with
from tests.delivery.test_ml_train import NOW, synthetic
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]


def test_staff_read_a_model_card_and_promote_a_candidate(page: Page, live_server, screenshot) -> None:
    rows = (synthetic("ctr", 30_000), synthetic("cvr", 5_000, seed=2, base=-2.5))
    active = train.train("ctr", now=NOW, rows=rows, trained_by="beat")
    candidate = train.train("ctr", now=NOW, rows=rows, trained_by="beat")
    assert candidate.status == ModelVersion.Status.CANDIDATE
    manager = staff_with("ml@adwright.test", "view_modelversion", "change_modelversion")

    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    page.goto(f"{live_server.url}/admin/delivery/modelversion/")
    page.get_by_label("Email").fill(manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    screenshot("1-list")

    page.goto(f"{live_server.url}/admin/delivery/modelversion/{candidate.pk}/change/")
    expect(page.locator("svg").first).to_be_visible()
    expect(page.get_by_text("stays a candidate")).to_be_visible()
    screenshot("2-card")

    page.get_by_role("button", name="Promote").click()
    expect(page.locator(".messagelist")).to_contain_text("v2")
    screenshot("3-promoted")
    active.refresh_from_db()
    candidate.refresh_from_db()
    assert (active.status, candidate.status) == (ModelVersion.Status.RETIRED, ModelVersion.Status.ACTIVE)
