"""`manage.py create_api_key --agency SLUG | --advertiser ID --role ROLE [--name NAME]`

Prints only the new token on stdout, so that a script can capture it; the rest goes to stderr. The
token is not stored (only its hash is), so this is the one time it can be read.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Advertiser, Agency, ApiKey, Role


class Command(BaseCommand):
    help = "Issue an API key for an agency or an advertiser and print its token (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument(
            "--agency", metavar="SLUG", help="Scope the key to this agency (all its advertisers)."
        )
        scope.add_argument("--advertiser", metavar="ID", type=int, help="Scope the key to this advertiser.")
        parser.add_argument("--role", required=True, choices=Role.values, help="The key's role.")
        parser.add_argument(
            "--name", default="created with manage.py", help="A label to recognise the key by."
        )

    def handle(
        self, *args: Any, agency: str | None, advertiser: int | None, role: str, name: str, **options: Any
    ) -> None:
        scope: dict[str, Any] = {}
        if agency is not None:
            try:
                scope["agency"] = Agency.objects.get(slug=agency)
            except Agency.DoesNotExist:
                raise CommandError(f"No agency with slug {agency!r}.") from None
        elif advertiser is not None:
            try:
                scope["advertiser"] = Advertiser.objects.get(pk=advertiser)
            except Advertiser.DoesNotExist:
                raise CommandError(f"No advertiser with id {advertiser}.") from None
        try:
            key, token = ApiKey.issue(name=name, role=role, **scope)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        target = scope.get("agency") or scope["advertiser"]
        self.stderr.write(
            f"Issued API key {key.name!r} ({Role(role).label} of {target}). "
            "Its token follows; it is not stored and cannot be shown again."
        )
        self.stdout.write(token)
