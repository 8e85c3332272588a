"""`make run`: the whole product on one machine, in the foreground.

Starts the embedded PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL point elsewhere), migrates,
loads the demo data, then runs gunicorn, one Celery worker and Celery beat. Ctrl-C (SIGINT) or
SIGTERM stops every process it started, then the servers; the data stays under var/ for next time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from config.embedded import EmbeddedServices

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Events drain every 2 s and the simulator sends a batch every 5 s: at INFO, Celery's line per task
# would bury everything else.
CELERY_LOG_LEVEL = os.environ.get("CELERY_LOG_LEVEL", "WARNING")
STOP_TIMEOUT = 20


class Stack:
    def __init__(self) -> None:
        self.services = EmbeddedServices()
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False
        self.seed_report = ""

    def manage(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, check=True, stdout=subprocess.PIPE, text=True
        )
        return result.stdout

    def spawn(self, name: str, args: list[str]) -> None:
        process = subprocess.Popen(args, cwd=BASE_DIR)  # noqa: S603
        self.children.append((name, process))

    def start(self, port: int) -> None:
        self.services.start()
        (self.services.var_dir / "run").mkdir(parents=True, exist_ok=True)
        print(self.manage("migrate", "--noinput"), end="", flush=True)
        self.manage("collectstatic", "--noinput", "--verbosity", "0")
        # Printed once the servers are up, as the last thing before their logs: the logins to use.
        self.seed_report = self.manage("seed_demo")
        self.spawn(
            "web",
            [
                str(BIN / "gunicorn"),
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                os.environ.get("WEB_CONCURRENCY", "2"),
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
            ],
        )
        self.spawn(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--loglevel",
                CELERY_LOG_LEVEL,
                "--concurrency",
                os.environ.get("CELERY_CONCURRENCY", "2"),
                "--hostname",
                "worker@%h",
            ],
        )
        self.spawn(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel",
                CELERY_LOG_LEVEL,
                "--schedule",
                str(self.services.var_dir / "run" / "celerybeat-schedule"),
            ],
        )
        # A gentle stream of simulated traffic through the delivery loop, so the dashboards are alive.
        self.spawn(
            "simulator",
            [
                str(BIN / "python"),
                "manage.py",
                "simulate",
                "--live",
                "--requests-per-hour",
                os.environ.get("SIMULATOR_REQUESTS_PER_HOUR", "20000"),
                "--users",
                "50000",
            ],
        )

    def wait_until_healthy(self, port: int, timeout: float = 120) -> bool:
        """Until /healthz answers 200 (web, database, Redis and the worker all up), so that the URL
        printed next works when someone opens it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            if any(process.poll() is not None for _, process in self.children):
                return False
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
                    if response.status == 200:
                        return True
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.5)
        return False

    def wait(self) -> int:
        """Until a signal asks us to stop, or a child dies (then everything stops: no half-running stack)."""
        while not self.stopping:
            for name, process in self.children:
                code = process.poll()
                if code is not None:
                    print(
                        f"\n{name} exited with code {code}; stopping everything.", file=sys.stderr, flush=True
                    )
                    return code or 1
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        self.stopping = True
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in {STOP_TIMEOUT}s; killing it.", file=sys.stderr)
                _kill_tree(process.pid)
        # Anything a child left behind (a worker's pool process whose parent was killed, say).
        for leftover in psutil.Process().children(recursive=True):
            if (
                leftover.pid not in {p.pid for _, p in self.children}
                and "redis-server" not in leftover.name()
            ):
                _kill_tree(leftover.pid)
        self.services.stop()


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        for child in parent.children(recursive=True):
            child.kill()
        parent.kill()
    except psutil.NoSuchProcess:
        pass


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    port = int(os.environ.get("PORT", "8000"))
    stack = Stack()

    def request_stop(signum: int, _frame: object) -> None:
        stack.stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    code = 0
    try:
        stack.start(port)
        if not stack.wait_until_healthy(port) and not stack.stopping:
            print(f"\n/healthz is not green yet: see http://127.0.0.1:{port}/healthz", file=sys.stderr)
        print(
            f"\nAdwright is running at http://127.0.0.1:{port}  (health: /healthz, admin: /admin/)",
            flush=True,
        )
        print(stack.seed_report, end="", flush=True)
        print("Press Ctrl-C to stop.\n", flush=True)
        code = stack.wait()
    except subprocess.CalledProcessError as exc:
        print(f"\n`{' '.join(map(str, exc.cmd[1:]))}` failed with code {exc.returncode}.", file=sys.stderr)
        code = exc.returncode or 1
    except KeyboardInterrupt:
        pass
    finally:
        print("\nStopping Adwright...", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        stack.stop()
        print("Stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
