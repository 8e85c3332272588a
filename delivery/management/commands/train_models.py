"""`manage.py train_models`: train the pCTR and pCVR models now, as beat does daily."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Train a new version of the pCTR and/or pCVR model on the last --days of events; it becomes "
        "active if it beats the active one on the same holdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", choices=["ctr", "cvr", "both"], default="both")
        parser.add_argument(
            "--days", type=int, default=None, help="Days of events (default ML_TRAINING_DAYS)."
        )
        parser.add_argument(
            "--no-promote",
            action="store_true",
            help="Keep the new versions as candidates whatever they score.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from delivery.ml.train import KINDS, TrainingError, train

        kinds = KINDS if options["kind"] == "both" else (options["kind"],)
        if options["days"] is not None and not 1 <= options["days"] <= 90:
            raise CommandError("--days: expected 1 to 90")
        failed = []
        for kind in kinds:
            try:
                version = train(
                    kind, days=options["days"], trained_by="command", promote=not options["no_promote"]
                )
            except TrainingError as exc:
                self.stderr.write(f"{kind}: not trained: {exc}")
                failed.append(kind)
                continue
            self.stdout.write(describe(version))
        if failed and len(failed) == len(kinds):
            raise CommandError("no model was trained")


def describe(version: Any) -> str:
    holdout = version.metrics.get("holdout", {})
    truth = version.metrics.get("truth") or {}
    lines = [
        f"{version} ({version.status}): {version.rows_train:,} rows trained, "
        f"{version.rows_holdout:,} held out, {version.training_seconds:.1f} s, "
        f"peak memory {version.peak_memory_bytes / 2**20:,.0f} MiB",
        f"  holdout: AUC {_f(holdout.get('auc'))}, log loss {_f(holdout.get('log_loss'), 5)}, "
        f"NE {_f(holdout.get('ne'))}, predicted/observed {_f(holdout.get('calibration'))}",
    ]
    if truth:
        lines.append(
            f"  ground truth on the same rows: AUC {_f(truth.get('auc'))} "
            f"(model/truth {_f(truth.get('auc_ratio'))}), NE {_f(truth.get('ne'))} "
            f"(gap {_f(truth.get('ne_gap'))}), predicted/true {_f(truth.get('calibration'))}"
        )
    lines.append(f"  {version.decision}")
    return "\n".join(lines)


def _f(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
