"""`manage.py seed_demo`: the demo world (delivery/demo.py). Safe to run at every start."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from delivery import demo


class Command(BaseCommand):
    help = "Create the demo agency, advertisers, campaigns, inventory and logins; skip what already exists."

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo.seed()
        self.stdout.write(result.summary())
        self.stdout.write(f"Demo logins (password {demo.DEMO_PASSWORD}):")
        width = max(len(email) for email, _ in demo.logins())
        for email, what in demo.logins():
            self.stdout.write(f"  {email:<{width}}  {what}")
