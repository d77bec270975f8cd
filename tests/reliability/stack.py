"""The system under fault: its own PostgreSQL and Redis, and each role in its own `python -m server` process.

The stores are started by the test (not by a server process), so that a fault can stop one and start it
again while the server processes keep running: `PostgreSQL stopped` is the real cluster shut down (its
socket gone: every connection refused), `Redis restarted` the real server stopped (writing its
append-only file) and started again. The media folder is a small tmpfs where the machine lets the test
mount one, so that "the disk is full" is the kernel's ENOSPC; where it cannot, that fault is skipped and
the figures say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from server.db import create_database
from server.embedded import EmbeddedPostgres, EmbeddedRedis
from server.migrate import upgrade
from tests.support.processes import free_port, health, roles_ready, server_env, start_server

#: The roles, each a process of its own (`python -m server api`, `worker detect`...).
ROLES: dict[str, list[str]] = {
    "api": ["api"],
    "watcher": ["worker", "watcher"],
    "detect": ["worker", "detect"],
    "analyze": ["worker", "analyze"],
}


@dataclass
class Stack:
    root: Path
    llm_url: str
    media_megabytes: int = 48
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    tmpfs: bool = False

    def __post_init__(self) -> None:
        self.postgres = EmbeddedPostgres(self.root / "pg")
        self.redis = EmbeddedRedis(self.root / "redis")
        self.data_dir = self.root / "data"
        self.cameras_dir = self.root / "cameras"
        self.media_dir = self.root / "media"
        self.logs = self.root / "logs"

    # -- stores ------------------------------------------------------------------------------------

    async def start_stores(self) -> None:
        await asyncio.to_thread(self.postgres.start)
        await create_database(self.postgres.url("postgres"), "hsi")
        await asyncio.to_thread(upgrade, self.database_url)
        await asyncio.to_thread(self.redis.start)
        for folder in (self.data_dir, self.cameras_dir, self.media_dir, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.media_megabytes}m", "tmpfs", str(self.media_dir)],
            capture_output=True,
        )
        self.tmpfs = mounted.returncode == 0

    @property
    def database_url(self) -> str:
        return self.postgres.url("hsi")

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def env(self) -> dict[str, str]:
        return server_env(
            HSI_DATABASE_URL=self.database_url,
            HSI_REDIS_URL=self.redis_url,
            HSI_DATA_DIR=str(self.data_dir),
            HSI_CAMERAS_DIR=str(self.cameras_dir),
            HSI_MEDIA_DIR=str(self.media_dir),
            HSI_HOST="127.0.0.1",
            HSI_PORT=str(self.port),
            HSI_DETECTOR="hog",
            HSI_DETECTION_CONFIDENCE="0.0",
            HSI_LLM="openai",
            HSI_LLM_URL=self.llm_url,
            HSI_LLM_TIMEOUT_SECONDS="2",
            HSI_BATCH_WINDOW_SECONDS="6",
            HSI_BATCH_IDLE_TIMEOUT_SECONDS="2",
            HSI_FILE_STABLE_SECONDS="0.5",
            # The disk guard would remove media the figures are about; retention is tested on its own.
            HSI_RETENTION_ENABLED="false",
            HSI_MEDIA_MIN_FREE_PERCENT="0",
            HSI_LOG_LEVEL="INFO",
        )

    # -- processes ---------------------------------------------------------------------------------

    def start(self, role: str) -> None:
        self.processes[role] = start_server(ROLES[role], self.env(), self.logs / f"{role}.log")

    def start_all(self) -> None:
        for role in ROLES:
            self.start(role)

    async def ready(self, timeout: float = 180.0) -> str:
        """Wait until the API answers and a detect and an analyze worker publish their health; the key."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            report = await asyncio.to_thread(health, self.port, self.data_dir)
            if roles_ready(report):
                return (self.data_dir / "api_key.txt").read_text().strip()
            for role, process in self.processes.items():
                if process.poll() is not None:
                    raise AssertionError(f"{role} exited: {(self.logs / f'{role}.log').read_text()[-3000:]}")
            if loop.time() > deadline:
                raise AssertionError(f"not ready in {timeout} s: {report}")
            await asyncio.sleep(0.5)

    async def kill(self, role: str) -> None:
        """SIGKILL the role's process: no cleanup of any kind (`keep_running` starts it again)."""
        process = self.processes[role]
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        self.kills[role] = self.kills.get(role, 0) + 1

    async def keep_running(self, stop: asyncio.Event, delay: float = 1.0) -> None:
        """Start again any process that exited (killed, or failed to start while a store was down),
        as Docker's restart policy or the add-on's watchdog would; counts the restarts."""
        while not stop.is_set():
            for role, process in list(self.processes.items()):
                if process.poll() is not None:
                    await asyncio.sleep(delay)
                    self.restarts[role] = self.restarts.get(role, 0) + 1
                    self.start(role)
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass

    async def stop_postgres(self, seconds: float) -> None:
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(self.postgres.start)

    async def restart_redis(self) -> None:
        await asyncio.to_thread(self.redis.stop)
        await asyncio.to_thread(self.redis.start)

    async def fill_disk(self, seconds: float) -> bool:
        """Fill the media tmpfs to the last byte for `seconds`, then free it; False where there is none."""
        if not self.tmpfs:
            return False
        filler = self.media_dir / "filler.bin"

        def fill() -> None:
            descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for size in (1 << 20, 4096, 1):  # unbuffered: ENOSPC is seen by the write that hits it
                    with contextlib.suppress(OSError):
                        while True:
                            os.write(descriptor, b"\0" * size)
            finally:
                os.close(descriptor)

        try:
            await asyncio.to_thread(fill)
            await asyncio.sleep(seconds)
        finally:
            filler.unlink(missing_ok=True)
        return True

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.redis.stop()
        self.postgres.stop()
        if self.tmpfs:
            subprocess.run(["umount", "-l", str(self.media_dir)], check=False)

    def log_tails(self, size: int = 2000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-size:]}" for path in sorted(self.logs.glob("*.log"))
        )

