"""`python -m bench` (`make bench`): every figure, printed and written to var/bench/results.json."""

from __future__ import annotations

import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "var" / "bench" / "results.json"


def main() -> int:
    from bench.environment import bench_databases

    started = time.perf_counter()
    with bench_databases():
        from bench import ads_manager, bulk_create, list_campaigns, throughput
        from bench.data import bench_account
        from bench.results import print_table, write_json

        listed = bench_account("Listed", campaigns=list_campaigns.ROWS)
        bulk = bench_account("Bulk", campaigns=0)
        figures = [
            *list_campaigns.run(listed),
            *bulk_create.run(bulk),
            *throughput.run(listed),
            *ads_manager.run(*ads_manager.build()),
        ]
        print_table(figures)
        write_json(figures, RESULTS)
    print(f"written to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    print(f"({time.perf_counter() - started:.0f} s)")
    missed = [f.name for f in figures if f.target is not None and not f.value < f.target]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
