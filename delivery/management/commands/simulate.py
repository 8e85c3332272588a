"""`manage.py simulate`: simulated traffic through the Celery delivery loop and the real tracking code.

manage.py simulate --hours 24 --requests-per-hour 100000 --seed 7
manage.py simulate --live --requests-per-hour 2000     # keeps pace with the clock (make run)
manage.py simulate --fast --hours 168 --requests-per-hour 50000   # a week of history for the models

With --fast, the hours are written straight into the event tables (delivery.simulator.history): the
same traffic, decisions and ground truth, people only, nothing charged, several times faster.
"""

from __future__ import annotations

import signal
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from accounts.money import format_micros
from campaigns.models import Campaign
from delivery.simulator import runner
from delivery.simulator.history import History, write_history
from delivery.simulator.outcomes import Tally
from delivery.simulator.world import DEFAULT_USERS


class Command(BaseCommand):
    help = "Run the traffic simulator: requests through the delivery loop, impressions and clicks tracked."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=int, default=1, help="Simulated hours (default 1).")
        parser.add_argument(
            "--requests-per-hour", type=int, default=10_000, help="Mean requests per hour over a day."
        )
        parser.add_argument("--seed", type=int, default=7, help="The world's seed (default 7).")
        parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="People in the world.")
        parser.add_argument("--batch-size", type=int, default=runner.DEFAULT_BATCH_SIZE)
        parser.add_argument(
            "--start", help="Simulated start, ISO 8601 with a time zone (default: ending at this hour)."
        )
        parser.add_argument(
            "--inline", action="store_true", help="Play batches in this process instead of Celery workers."
        )
        parser.add_argument("--live", action="store_true", help="Keep pace with the clock until stopped.")
        parser.add_argument("--tick", type=float, default=5.0, help="Seconds between live batches.")
        parser.add_argument(
            "--fast",
            action="store_true",
            help="Write the hours' history straight into the event tables, for the models "
            "(people only, nothing charged).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("hours", "requests_per_hour", "users", "batch_size"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        if options["live"] and options["fast"]:
            raise CommandError("--fast writes past hours of history; it cannot keep pace with --live.")
        if options["live"]:
            self._live(options)
            return
        start = self._start(options["start"])
        hours = options["hours"]
        if options["fast"]:
            self._fast(options, start or runner.default_start(hours))
            return

        def on_hour(hour_start: datetime, requests: int) -> None:
            self.stdout.write(f"  {hour_start:%Y-%m-%d %H:%M} UTC  {requests:>9,} requests queued")

        try:
            result = runner.run(
                hours=hours, requests_per_hour=options["requests_per_hour"], seed=options["seed"],
                start=start, n_users=options["users"], batch_size=options["batch_size"],
                inline=options["inline"], on_hour=on_hour,
            )  # fmt: skip
        except runner.Stalled as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Simulated {hours} h from {result.start:%Y-%m-%d %H:%M} UTC (seed {options['seed']}), "
            f"{result.batches:,} batches:"
        )
        self._summary(result.tally, result.elapsed_seconds)

    def _fast(self, options: dict[str, Any], start: datetime) -> None:
        def on_hour(hour_start: datetime, so_far: History) -> None:
            self.stdout.write(
                f"  {hour_start:%Y-%m-%d %H:%M} UTC  {so_far.requests:>11,} requests  "
                f"{so_far.impressions:>11,} impressions so far"
            )

        try:
            history = write_history(
                start=start, hours=options["hours"], requests_per_hour=options["requests_per_hour"],
                seed=options["seed"], n_users=options["users"], on_hour=on_hour,
            )  # fmt: skip
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Wrote {history.hours} h of history from {history.start:%Y-%m-%d %H:%M} UTC "
            f"(seed {options['seed']}):"
        )
        lines = [
            ("requests", f"{history.requests:,} ({history.invalid_requests:,} of invalid traffic left out)"),
            ("decisions", f"{history.decisions:,}"),
            ("impressions", f"{history.impressions:,}"),
            ("clicks", f"{history.clicks:,}"),
            ("conversions", f"{history.conversions:,}"),
            (
                "elapsed",
                f"{history.seconds:.1f} s ({history.requests_per_second:,.0f} requests/s, "
                f"{history.impressions_per_second:,.0f} impressions/s)",
            ),
        ]
        width = max(len(label) for label, _ in lines)
        for label, value in lines:
            self.stdout.write(f"  {label:<{width}}  {value}")

    def _start(self, text: str | None) -> datetime | None:
        if not text:
            return None
        moment = parse_datetime(text)
        if moment is None or moment.tzinfo is None:
            raise CommandError("--start is an ISO 8601 time with a time zone, such as 2025-05-01T00:00Z.")
        return moment

    def _live(self, options: dict[str, Any]) -> None:
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(
            f"Simulating about {options['requests_per_hour']:,} requests an hour; Ctrl-C stops."
        )
        result = runner.run_live(
            requests_per_hour=options["requests_per_hour"], seed=options["seed"], n_users=options["users"],
            tick_seconds=options["tick"], inline=options["inline"], should_stop=lambda: stopping,
        )  # fmt: skip
        self._summary(result.tally, None)

    def _summary(self, tally: Tally, elapsed: float | None) -> None:
        lines = [
            ("requests", f"{tally.requests:,}"),
            ("auctions won", f"{tally.wins:,}"),
            ("impressions", f"{tally.impressions:,} ({tally.valid_impressions:,} valid)"),
            ("clicks", f"{tally.clicks:,} ({tally.valid_clicks:,} valid)"),
            ("conversions", f"{tally.conversions:,}"),
            ("IVT share", f"{tally.ivt_share:.2%} of impressions and clicks"),
        ]
        if tally.ivt:
            reasons = ", ".join(f"{reason} {n:,}" for reason, n in tally.ivt.most_common())
            lines.append(("IVT reasons", reasons))
        if elapsed is not None:
            rate = tally.requests / elapsed if elapsed else 0.0
            lines.append(("elapsed", f"{elapsed:.1f} s ({rate:,.0f} requests/s)"))
        width = max(len(label) for label, _ in lines)
        for label, value in lines:
            self.stdout.write(f"  {label:<{width}}  {value}")
        if tally.spend:
            names = dict(
                Campaign.objects.filter(pk__in={c for c, _ in tally.spend}).values_list("pk", "name")
            )
            self.stdout.write("  spend by campaign:")
            for (campaign_id, currency), micros in sorted(tally.spend.items(), key=lambda kv: -kv[1]):
                name = names.get(campaign_id, f"campaign {campaign_id}")
                self.stdout.write(f"    {name:<32} {format_micros(micros, currency)}")
