"""Benchmarks of the agency API: one module per figure, `make bench` runs them all.

    list_campaigns  listing 1,000 campaigns: queries for 10 vs 1,000 rows (constant), and the time
    bulk_create     POST /api/v1/campaigns/bulk with 1,000 items, against Campaign.objects.bulk_create
    throughput      requests per second and median latency of a list and a retrieve, served by gunicorn
                    on 127.0.0.1, against plain Django JsonResponse views of the same rows

Each figure is measured next to its baseline in the same run, on a database of the bench's own
(adwright_bench, created and dropped by bench/environment.py) and a Redis database of its own. The
figures are printed and written to var/bench/results.json. Timings live here, never in the tests.
"""
