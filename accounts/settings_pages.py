"""Account settings pages (members, API keys), under /a/<advertiser_id>/settings/. (Being built.)"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
