"""The Celery app. Settings are the CELERY_* names in config/settings.py; the beat schedule is there too."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_success

# Remembered so that `python -m config.embedded -- pytest` does not pass this default on to its
# child, where it would override the test settings named in pyproject.toml.
SETTINGS_DEFAULTED = "DJANGO_SETTINGS_MODULE" not in os.environ
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("adwright")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.include = ["config.tasks", "delivery.loop"]


@task_success.connect
def _record_periodic_success(sender: Any = None, **_: Any) -> None:
    # Infrastructure, not business logic: /healthz shows when each scheduled task last succeeded.
    from config import health

    if sender is not None and sender.name in health.scheduled_task_names():
        health.record_success(sender.name)
