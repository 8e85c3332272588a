"""Requests per second and median latency of a list and a retrieve of campaigns, served by gunicorn
on 127.0.0.1 (as `make run` serves: 2 workers of 4 threads), with a few client threads keeping
connections alive. Baseline: the same gunicorn serving the same rows from a plain Django view that
returns a JsonResponse (bench/urls.py): no DRF, authentication, rate limit or serializer.

Each endpoint is loaded for BENCH_SECONDS (default 10) after a one-second warm-up; the single-client
retrieve latency, for at most 5 s.
"""

from __future__ import annotations

import http.client
import itertools
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.data import BenchAccount
from bench.results import Figure

BASE_DIR = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CLIENT_THREADS = int(os.environ.get("BENCH_CLIENTS", "4"))
WORKERS, THREADS = "2", "4"
TARGET_MEDIAN_MS = 20.0


@dataclass(frozen=True, slots=True)
class Load:
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn() -> Iterator[int]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "bench.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        WORKERS,
        "--threads",
        THREADS,
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=BASE_DIR, env=os.environ.copy())  # noqa: S603
    try:
        _wait_until_up(port, server)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/schema/")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer within 30 s")


def load(
    port: int,
    paths: list[str],
    headers: dict[str, str],
    seconds: float,
    clients: int,
    *,
    method: str = "GET",
    body: bytes | None = None,
) -> Load:
    """`clients` threads send requests round the paths for `seconds`; every answer must be 200."""
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for path in itertools.cycle(paths[index:] + paths[:index]):
            if stop.is_set():
                break
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            if response.status != 200:
                errors.append(f"{path}: {response.status}")
                stop.set()
            latencies[index].append((time.perf_counter() - started) * 1000)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(30)
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"non-200 answers under load: {errors[:3]}")
    merged = [ms for per_thread in latencies for ms in per_thread]
    return Load(requests=len(merged), seconds=elapsed, latencies_ms=merged)


def measure(port: int, paths: list[str], headers: dict[str, str], clients: int = CLIENT_THREADS) -> Load:
    load(port, paths, headers, 1.0, clients)  # warm-up: connections, workers' first queries
    return load(port, paths, headers, SECONDS if clients > 1 else min(SECONDS, 5.0), clients)


def run(account: BenchAccount) -> list[Figure]:
    auth = {"Authorization": f"Bearer {account.token}"}
    advertiser = account.advertiser.pk
    ids = account.campaign_ids[:200]
    with gunicorn() as port:
        api_list = measure(port, [f"/api/v1/campaigns/?advertiser={advertiser}"], auth)
        plain_list = measure(port, [f"/bench/plain/campaigns/?advertiser={advertiser}"], {})
        api_one = measure(port, [f"/api/v1/campaigns/{pk}/" for pk in ids], auth)
        plain_one = measure(port, [f"/bench/plain/campaigns/{pk}/" for pk in ids], {})
        # One client, one request at a time: the latency of a single read, without queueing.
        api_alone = measure(port, [f"/api/v1/campaigns/{pk}/" for pk in ids], auth, clients=1)
        plain_alone = measure(port, [f"/bench/plain/campaigns/{pk}/" for pk in ids], {}, clients=1)
    setup = f"gunicorn {WORKERS}x{THREADS} threads, {CLIENT_THREADS} client threads, {SECONDS:g} s"
    return [
        Figure(
            "API list (100 campaigns): throughput",
            api_list.per_second,
            "req/s",
            baseline=plain_list.per_second,
            note=f"{setup}; baseline: plain JsonResponse of the same rows",
        ),
        Figure("API list (100 campaigns): median", api_list.median_ms, "ms", baseline=plain_list.median_ms),
        Figure(
            "API retrieve (1 campaign): throughput",
            api_one.per_second,
            "req/s",
            baseline=plain_one.per_second,
        ),
        Figure(
            "API retrieve (1 campaign): median",
            api_one.median_ms,
            "ms",
            baseline=plain_one.median_ms,
            target=TARGET_MEDIAN_MS,
            note=f"under the load of {CLIENT_THREADS} client threads (the server's CPUs shared with them)",
        ),
        Figure(
            "API retrieve, one client: median",
            api_alone.median_ms,
            "ms",
            baseline=plain_alone.median_ms,
            target=TARGET_MEDIAN_MS,
            note="one request at a time: a single read's latency",
        ),
    ]
