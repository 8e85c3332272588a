"""The API's documentation pages work offline: every asset they load is served by the app."""

from __future__ import annotations

import re

import pytest
from django.test import Client


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_load_nothing_from_the_internet(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the page loads its viewer"
    assert [asset for asset in assets if not asset.startswith("/")] == []
    assert "googleapis" not in html and "cdn" not in html.lower()
