"""Stationary-object matching cost per detection at 16 cameras x 5 uploads/s (target: under 0.2 ms).

`python -m bench.stationary [--cameras 16] [--rate 5] [--seconds 20] [--objects 6] [--output FILE]`

Runs the detect worker's real `StationaryTracker.mark` (one Lua script call per upload, embedded Redis
as `make run` starts it) for `--cameras` cameras each uploading `--rate` times a second for `--seconds`,
each upload with `--objects` detections: half parked cars (the same box with a pixel of jitter), half
people walking across the frame, so both the matching and the track table are exercised. Uploads are
paced at the given rate (as cameras would send them) and issued concurrently across cameras: the wall
time of `mark` per detection (p50, p95) is what a detect worker waits, including the event loop shared by
16 cameras and whatever else the machine runs (latency, not work).

The cost per detection (the target) is CPU, measured on the same uploads sent one after the other with
the boxes made beforehand: this process's CPU in the calls (building the arguments, redis-py, reading the
answer) plus the Redis server's in the script (`INFO commandstats`, EVALSHA), divided by the detections.
Prints the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.machine import machine_info
from server.config import Settings
from server.embedded import EmbeddedRedis
from server.pipeline.stationary import StationaryTracker

TARGET_MS = 0.2


@dataclass
class Box:
    """A detection as the tracker reads it (the fields of a `detections` row it uses)."""

    object_type: str | None
    detected_at: datetime
    bbox_x: int | None
    bbox_y: int | None
    bbox_width: int | None
    bbox_height: int | None
    track_id: int | None = None
    stationary: bool = False


def upload(index: int, at: datetime, objects: int) -> list[Box]:
    """`objects` detections of upload number `index`: parked cars and walking people."""
    boxes = []
    for n in range(objects):
        if n % 2 == 0:
            boxes.append(Box("car", at, 100 + 150 * n + index % 2, 300, 140, 90))
        else:
            boxes.append(Box("person", at, (40 * index + 90 * n) % 1200, 200 + 10 * n, 60, 170))
    return boxes


async def camera(tracker: StationaryTracker, name: str, args: argparse.Namespace, out: list[float]) -> None:
    start = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    interval = 1.0 / args.rate
    next_at = time.perf_counter()
    for index in range(int(args.seconds * args.rate)):
        boxes = upload(index, start + timedelta(seconds=index * interval), args.objects)
        began = time.perf_counter()
        await tracker.mark(name, boxes)
        out.append((time.perf_counter() - began) * 1000 / len(boxes))
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


async def redis_cpu_ms(redis: aioredis.Redis) -> float:
    stats = await redis.info("commandstats")
    return float(stats.get("cmdstat_evalsha", {}).get("usec", 0)) / 1000


async def cost(tracker: StationaryTracker, redis: aioredis.Redis, args: argparse.Namespace) -> dict[str, Any]:
    """CPU per detection: the same uploads, one call after the other (nothing else runs meanwhile), the
    boxes made beforehand; this process's CPU in the calls plus Redis's in the script."""
    start = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    interval = 1.0 / args.rate
    uploads = [
        (f"cost{n}", upload(index, start + timedelta(seconds=index * interval), args.objects))
        for index in range(int(args.seconds * args.rate))
        for n in range(args.cameras)
    ]
    await redis.config_resetstat()
    began = time.process_time()
    for name, boxes in uploads:
        await tracker.mark(name, boxes)
    client = (time.process_time() - began) * 1000
    server = await redis_cpu_ms(redis)
    detections = len(uploads) * args.objects
    return {
        "cpu_ms_per_detection": round((client + server) / detections, 4),
        "client_cpu_ms_per_detection": round(client / detections, 4),
        "redis_cpu_ms_per_detection": round(server / detections, 4),
    }


async def run(args: argparse.Namespace, redis_url: str) -> dict[str, Any]:
    redis = aioredis.from_url(redis_url)
    await redis.flushall()
    tracker = StationaryTracker(redis, Settings(stationary_seconds=60))
    await tracker.mark("warmup", upload(0, datetime.now(UTC), args.objects))
    await redis.config_resetstat()
    per_detection: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(camera(tracker, f"cam{n}", args, per_detection) for n in range(args.cameras)))
    elapsed = time.perf_counter() - started
    paced_redis = await redis_cpu_ms(redis)
    costs = await cost(tracker, redis, args)
    await redis.aclose()
    ordered = sorted(per_detection)
    return {
        "cameras": args.cameras,
        "uploads_per_second_per_camera": args.rate,
        "detections_per_upload": args.objects,
        "uploads": len(per_detection),
        "achieved_uploads_per_second": round(len(per_detection) / elapsed, 1),
        **costs,
        "paced_redis_cpu_ms_per_detection": round(paced_redis / (len(per_detection) * args.objects), 4),
        "wall_ms_per_detection": {
            "p50": round(statistics.median(ordered), 4),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 4),
            "mean": round(statistics.fmean(ordered), 4),
        },
        "target_ms": TARGET_MS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--objects", type=int, default=6)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    report: dict[str, Any] = {"benchmark": "stationary", "machine": machine_info("redis")}
    with tempfile.TemporaryDirectory(prefix="hsi-bench-stationary-") as work:
        server = EmbeddedRedis(Path(work))
        url = server.start()
        try:
            report["current"] = asyncio.run(run(args, url))
        finally:
            server.stop()
    report["under_target"] = report["current"]["cpu_ms_per_detection"] < TARGET_MS
    text = json.dumps(report, indent=2)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
