"""A full queue parks the files it refused: they are not read, decoded and hashed again every 5 s.

The finding ("a full queue makes intake decode and hash the same refused files every 5 s") was fixed by
the watcher's parking (`FileWatcher._park`) before this test was written; the test keeps it so: each
refused file is read once while the queue is full, and once more when there is room.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from server.pipeline import intake, watcher
from server.pipeline.streams import DETECT_STREAM
from tests.support.media import write_jpeg
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings
from tests.support.watching import queued, watching

CAP = 10


async def test_files_refused_by_a_full_queue_are_read_once_until_there_is_room(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watcher, "RETRY_SECONDS", 0.1)  # the parked files' check, 50 times faster
    reads: Counter[Path] = Counter()
    real_inspect = intake.inspect_upload

    def counted(path: Path, root: Path) -> intake.Inspected:
        reads[path] += 1
        return real_inspect(path, root)

    monkeypatch.setattr(intake, "inspect_upload", counted)
    settings = pipeline_settings(tmp_path, queue_max_len=CAP)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        filler = [await redis.xadd(DETECT_STREAM, {"n": str(n)}) for n in range(CAP)]
        (settings.cameras_dir / "porch").mkdir(parents=True)
        staged = [write_jpeg(tmp_path / "staging" / f"{n}.jpg", seed=n) for n in range(3)]
        async with watching(runtime) as files:
            # Renamed into place, as FTP servers publish finished uploads: one event per file.
            paths = [staged_file.rename(settings.cameras_dir / "porch" / staged_file.name) for staged_file in staged]

            async def all_refused() -> bool:
                return set(reads) == set(paths)

            await eventually(all_refused, timeout=10)
            await asyncio.sleep(1.0)  # ten rounds of the parked files' check with the queue still full
            assert reads == Counter({path: 1 for path in paths})
            await redis.xdel(DETECT_STREAM, *filler[:5])

            async def all_queued() -> list[dict[str, str]] | None:
                entries = [e for e in await queued(runtime) if "file_path" in e]
                return entries if len(entries) == 3 else None

            await eventually(all_queued, timeout=10)
            await files.idle()
        assert reads == Counter({path: 2 for path in paths})
