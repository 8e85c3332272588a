"""Helpers for the admin tests of every app: posting a page's form back, counting queries."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models.fields.files import FieldFile
from django.forms import MultiWidget
from django.forms.models import BaseModelForm
from django.test import Client
from django.test.utils import CaptureQueriesContext


def form_values(form: BaseModelForm, data: dict[str, Any]) -> None:
    """Add what a browser posts back for this form when nothing is changed."""
    for name, field in form.fields.items():
        value = form[name].value()
        key = form.add_prefix(name)
        if isinstance(field.widget, MultiWidget):
            for i, part in enumerate(field.widget.decompress(value) or []):
                data[f"{key}_{i}"] = "" if part is None else part
        elif isinstance(value, FieldFile):
            continue  # a stored file: an unchanged file input posts nothing
        elif isinstance(value, bool):
            if value:
                data[key] = "on"
        else:
            data[key] = "" if value is None else value


def admin_form_data(response: Any) -> dict[str, Any]:
    """An admin add/change page's POST data as rendered: its form, inline forms and management forms."""
    data: dict[str, Any] = {}
    form_values(response.context["adminform"].form, data)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        for form in formset.initial_forms:
            form_values(form, data)
    return data


def changelist_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]
