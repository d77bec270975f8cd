"""The embedded Redis across a crash of the server: the Redis a killed server left running is stopped
(writing its append-only file) before a new one starts, so two never share a data directory."""

from __future__ import annotations

from pathlib import Path

import psutil
import redis

from server.embedded import EmbeddedRedis


def test_a_redis_left_by_a_killed_server_is_stopped_and_its_data_kept(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path / "redis")
    client = redis.Redis.from_url(first.start())
    client.set("queued-upload", "front_door/0001.jpg")
    client.close()
    assert first._process is not None
    orphan = psutil.Process(first._process.pid)
    first._process = None  # the server was SIGKILLed: nobody stops its Redis

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
