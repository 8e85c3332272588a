"""Scheduled reports: a report emailed daily or weekly."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
