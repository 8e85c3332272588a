"""A benchmark figure, and how the figures are printed and kept."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None  # the same work done the plain way, measured in the same run
    target: float | None = None  # the bound, where it gives one (value must stay below)
    note: str = ""
    minimum: float | None = None  # the floor, where it gives one (value must reach it)

    @property
    def missed(self) -> bool:
        above = self.target is not None and not self.value < self.target
        below = self.minimum is not None and self.value < self.minimum
        return above or below

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "value": round(self.value, 3), "unit": self.unit}
        if self.baseline is not None:
            data["baseline"] = round(self.baseline, 3)
            data["ratio"] = None if self.ratio is None else round(self.ratio, 3)
        if self.target is not None:
            data["target"] = self.target
        if self.minimum is not None:
            data["minimum"] = self.minimum
        if self.target is not None or self.minimum is not None:
            data["within_target"] = not self.missed
        if self.note:
            data["note"] = self.note
        return data


def expect(condition: bool, why: object) -> None:
    """A bench checks that it measured what it says (every item created...), asserts or not."""
    if not condition:
        raise RuntimeError(f"the bench did not do what it measures: {why}")


def median_seconds(work: Callable[[], Any], repeat: int) -> float:
    """The median wall time of `repeat` runs of `work`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def print_table(figures: list[Figure]) -> None:
    print()
    print(f"{'figure':<40} {'value':>12} {'unit':<10} {'baseline':>12} {'ratio':>8}  target")
    print("-" * 96)
    for figure in figures:
        baseline = "" if figure.baseline is None else f"{figure.baseline:12.3f}"
        ratio = "" if figure.ratio is None else f"{figure.ratio:8.2f}"
        target = ""
        if figure.target is not None:
            target = f"< {figure.target:g} {'MISSED' if figure.missed else 'ok'}"
        elif figure.minimum is not None:
            target = f">= {figure.minimum:g} {'MISSED' if figure.missed else 'ok'}"
        print(f"{figure.name:<40} {figure.value:12.3f} {figure.unit:<10} {baseline:>12} {ratio:>8}  {target}")
        if figure.note:
            print(f"{'':<4}{figure.note}")
    print()


def write_json(figures: list[Figure], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([figure.as_json() for figure in figures], indent=2) + "\n")
