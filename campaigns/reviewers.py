"""The "Reviewers" group: staff who work the creative review queue in the admin, with only the
permissions that takes. Migration 0005 creates it; `reviewers_group()` makes sure it is there and
complete (the demo's reviewer, tests, a database that was flushed)."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

GROUP_NAME = "Reviewers"
PERMISSIONS = (
    ("campaigns", "view_creativereview"),
    ("campaigns", "review_creative"),
    ("campaigns", "view_creative"),
    ("campaigns", "view_adgroup"),
    ("campaigns", "view_campaign"),
    ("accounts", "view_advertiser"),
    ("campaigns", "view_prohibitedterm"),
    ("campaigns", "view_denieddomain"),
)


def reviewers_group() -> Group:
    group, _ = Group.objects.get_or_create(name=GROUP_NAME)
    wanted = [
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in PERMISSIONS
    ]
    group.permissions.set(wanted)
    return group
