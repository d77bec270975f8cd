"""The embedded stores across a crash of the server: the Redis a killed server left running is stopped
(writing its append-only file) before a new one starts, so two never share a data directory; the
embedded PostgreSQL is stopped by a clean stop after a kill, and starts after a power loss whatever
pid its stale lock file names."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis

from server.embedded import EmbeddedRedis
from tests.support.processes import REPO


def test_a_redis_left_by_a_killed_server_is_stopped_and_its_data_kept(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path / "redis")
    client = redis.Redis.from_url(first.start())
    client.set("queued-upload", "front_door/0001.jpg")
    client.close()
    assert first._process is not None
    orphan = psutil.Process(first._process.pid)
    first._process = None  # the server was SIGKILLed: nobody stops its Redis,
    first._release_lock()  # and the kernel let go of its lock

    second = EmbeddedRedis(tmp_path / "redis")
    client = redis.Redis.from_url(second.start())
    try:
        assert not orphan.is_running()
        assert client.get("queued-upload") == b"front_door/0001.jpg"  # flushed to the AOF on SIGTERM
        redis_servers = [
            p for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "redis-server" and str(second.socket) in " ".join(p.info["cmdline"] or [])
        ]
        assert len(redis_servers) == 1
    finally:
        client.close()
        second.stop()


def test_a_stale_pid_file_of_another_process_is_left_alone(tmp_path: Path) -> None:
    directory = tmp_path / "redis"
    directory.mkdir()
    (directory / "redis.pid").write_text(f"{psutil.Process().pid}\n")  # this test process: not Redis
    server = EmbeddedRedis(directory)
    client = redis.Redis.from_url(server.start())
    try:
        assert client.ping()
        assert psutil.Process().is_running()
    finally:
        client.close()
        server.stop()


_START = """
import sys, time
from pathlib import Path
from server.embedded import EmbeddedPostgres
pg = EmbeddedPostgres(Path(sys.argv[1]))
pg.start()
print(pg.url("postgres"), flush=True)
if sys.argv[2] == "hold":
    time.sleep(600)
pg.stop()
"""


def _postgres_on(pgdata: Path) -> list[psutil.Process]:
    """The postmaster processes serving `pgdata` (only ones this test started: the folder is its own)."""
    found = []
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in cmdline:
            found.append(proc)
    return found


def _embedded(pgdata: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _START, str(pgdata), mode], cwd=REPO, stdout=subprocess.PIPE, text=True
    )


@pytest.fixture
def pgdata(tmp_path: Path) -> Iterator[Path]:
    path = (tmp_path / "data" / "postgres").resolve()
    yield path
    for proc in _postgres_on(path):  # whatever a failing test left running
        proc.kill()


def test_after_a_killed_server_a_clean_stop_stops_postgres(pgdata: Path) -> None:
    """An OOM kill (or a supervisor's SIGKILL after its stop timeout) of `python -m server run` left its
    pid in the library's list of the cluster's users, and every later clean stop left PostgreSQL
    running (the library stops it when its last user leaves)."""
    killed = _embedded(pgdata, "hold")
    assert killed.stdout is not None and killed.stdout.readline().startswith("postgresql")
    killed.kill()
    killed.wait(30)
    # The next start is clean: start, then stop as `serve` does on SIGTERM.
    clean = _embedded(pgdata, "stop")
    assert clean.wait(120) == 0
    deadline = time.monotonic() + 15
    while _postgres_on(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _postgres_on(pgdata) == [], (
        f"PostgreSQL still runs on {pgdata} after a clean stop; "
        f".handle_pids.json = {(pgdata / '.handle_pids.json').read_text()}"
    )


def test_a_postmaster_pid_naming_another_process_does_not_block_the_start(pgdata: Path) -> None:
    """After a power loss or a container kill, postmaster.pid stays; its pid may now be another
    process's (pids in a container start again from 1). The library took the cluster for running and
    the server waited for it for ever; the next start must reach a database."""
    first = _embedded(pgdata, "hold")
    assert first.stdout is not None and first.stdout.readline().startswith("postgresql")
    for proc in _postgres_on(pgdata):
        proc.kill()  # the machine loses power: no shutdown, postmaster.pid stays behind
    first.kill()
    first.wait(30)
    psutil.wait_procs(_postgres_on(pgdata), timeout=10)
    lock = pgdata / "postmaster.pid"
    assert lock.is_file()
    other = subprocess.Popen(["sleep", "300"])  # an unrelated process that got the old PID
    try:
        lines = lock.read_text().splitlines()
        lock.write_text("\n".join([str(other.pid), *lines[1:]]) + "\n")
        second = _embedded(pgdata, "hold")
        try:
            assert second.stdout is not None
            url = second.stdout.readline().strip()
            assert url.startswith("postgresql+asyncpg://"), url

            async def query() -> object:
                dsn = url.replace("postgresql+asyncpg://", "postgresql://")
                connection = await asyncpg.connect(dsn, timeout=10)
                try:
                    return await connection.fetchval("SELECT 1")
                finally:
                    await connection.close()

            try:
                result = asyncio.run(query())
            except OSError as err:
                pytest.fail(f"the embedded PostgreSQL was reported started but cannot be reached: {err!r}")
            assert result == 1
        finally:
            second.kill()
            second.wait(30)
    finally:
        other.kill()
        other.wait()
