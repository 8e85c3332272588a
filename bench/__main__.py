"""`python -m bench` (`make bench`): every figure, printed and written to var/bench/results.json."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "var" / "bench" / "results.json"


def main(only: list[str]) -> int:
    """Run every group of figures, or only those named (`python -m bench serving ingest`)."""
    from bench.environment import bench_databases

    started = time.perf_counter()
    with bench_databases():
        from bench import (
            ads_manager,
            bulk_create,
            ingest,
            list_campaigns,
            loop,
            models,
            pacing,
            reporting,
            serving,
            throughput,
        )
        from bench.data import bench_account
        from bench.results import Figure, print_table, write_json

        def api() -> list[Figure]:
            listed = bench_account("Listed", campaigns=list_campaigns.ROWS)
            bulk = bench_account("Bulk", campaigns=0)
            return [*list_campaigns.run(listed), *bulk_create.run(bulk), *throughput.run(listed)]

        groups: dict[str, Callable[[], list[Figure]]] = {
            "api": api,
            "ads_manager": lambda: ads_manager.run(*ads_manager.build()),
            "serving": lambda: [*serving.run(), *loop.run()],
            "ingest": ingest.run,
            "pacing": pacing.run,
            "models": models.run,
            "reporting": reporting.run,
        }
        unknown = sorted(set(only) - set(groups))
        if unknown:
            print(f"unknown figure groups: {', '.join(unknown)}; choose from {', '.join(groups)}")
            return 2
        figures = [figure for name, run in groups.items() if not only or name in only for figure in run()]
        print_table(figures)
        write_json(figures, RESULTS)
    print(f"written to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    print(f"({time.perf_counter() - started:.0f} s)")
    missed = [f.name for f in figures if f.missed]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
