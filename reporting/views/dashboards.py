"""Dashboards: the account overview and the campaign, ad group and creative reports."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
