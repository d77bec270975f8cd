"""Pipeline micro-benchmark: images/s and per-stage latency with the tiny RT-DETRv2 on this machine.

    python -m bench.pipeline [--images 200] [--batch-sizes 1,8] [--confidence 0.0] [--rate 0] [--output FILE]

Each detector micro-batch size in `--batch-sizes` is one variant, run one after the other on the same
stores and images (a fresh database and Redis state each), so their ratio is measured in one run.

`--rate 0` drops every image at once (throughput, and latency under a backlog); `--rate 10` drops ten
a second (latency of a home's normal traffic, without queueing).

Real parts end to end: PostgreSQL and Redis (`HSI_DATABASE_URL` / `HSI_REDIS_URL`, else embedded ones
in a temp dir), the watcher on a temp cameras folder, `hsi:detect`, one detect worker with a
random-weight RT-DETRv2 (tests/support/rtdetr.py) loaded by the product's loader. JPEGs (640x480) are
renamed into 4 camera folders (how FTP servers publish finished uploads), as fast as possible.

Stages per file: watch→queue (first file event → stream entry; includes the 0.5 s debounce and the
stability wait, 0 s here: production waits `HSI_FILE_STABLE_SECONDS`, 2 s, by design), queue→detector
(waiting in the stream), detector (the micro-batch's wall time), commit (rows + camera update).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from server.db import Database, create_database, create_engine, session_factory
from server.detect import load_detector
from server.embedded import EmbeddedPostgres, EmbeddedRedis
from server.migrate import upgrade
from server.pipeline.detect_worker import DetectWorker
from server.pipeline.watcher import FileWatcher
from server.runtime import Runtime
from tests.support.media import write_jpeg
from tests.support.pipeline import pipeline_settings
from tests.support.rtdetr import build_tiny_rtdetr


def machine_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


async def _stores(work: Path) -> tuple[str, str, list[Any]]:
    """Admin database URL and Redis URL, external if configured, else embedded ones to stop afterwards."""
    started: list[Any] = []
    db_url = os.environ.get("HSI_DATABASE_URL")
    redis_url = os.environ.get("HSI_REDIS_URL")
    if db_url is None:
        cluster = EmbeddedPostgres(work / "pg")
        admin = await asyncio.to_thread(cluster.start)
        started.append(cluster)
    else:
        admin = db_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    if redis_url is None:
        server = EmbeddedRedis(work / "redis")
        redis_url = await asyncio.to_thread(server.start)
        started.append(server)
    return admin, redis_url, started


async def _fresh_database(admin: str) -> str:
    from sqlalchemy import make_url

    name = f"hsi_bench_{uuid.uuid4().hex[:8]}"
    await create_database(admin, name)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url)
    return url


async def run_variant(
    work: Path, admin: str, redis: aioredis.Redis, model: Path, sources: list[Path], batch_size: int,
    confidence: float, rate: float,
) -> dict[str, Any]:
    """One micro-batch size, end to end, on a fresh database and Redis state."""
    db_url = await _fresh_database(admin)
    engine = create_engine(db_url)
    await redis.flushdb()
    try:
        variant = work / f"batch_{batch_size}"
        settings = pipeline_settings(
            variant, detector="rtdetr", detector_model=model, detection_confidence=confidence,
            detector_batch_size=batch_size, detector_batch_wait_ms=25,
        )
        runtime = Runtime(settings, Database(db_url, engine, session_factory(engine)), redis, "bench")
        detector = await asyncio.to_thread(load_detector, settings)
        await asyncio.to_thread(detector.warmup)
        watcher = FileWatcher(runtime)
        await watcher.start()
        worker = DetectWorker(runtime, detector, consumer="bench")
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        started_at = time.perf_counter()
        for n, source in enumerate(sources):
            folder = settings.cameras_dir / f"camera_{n % 4}"
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, folder / f".{source.name}.part")  # an FTP upload in progress...
            os.rename(folder / f".{source.name}.part", folder / source.name)  # ...published by rename
            if rate > 0:
                await asyncio.sleep(1.0 / rate)
        while worker.stats.files < len(sources):
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started_at
        stop.set()
        await task
        await watcher.stop()
        stats = worker.stats
        return {
            "batch_size": batch_size,
            "detector": {"backend": detector.name, "device": detector.device},
            "images_per_second": round(len(sources) / elapsed, 2),
            "wall_seconds": round(elapsed, 2),
            "inference_images_per_second": round(stats.inference_fps() or 0.0, 2),
            "detections": stats.detections,
            "stages_ms": {
                stage: {k: round(v, 1) if isinstance(v, float) else v for k, v in values.items()}
                for stage, values in stats.stage_summary().items()
            },
        }
    finally:
        await engine.dispose()


async def run(images: int, batch_sizes: list[int], confidence: float, rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hsi-bench-") as temp:
        work = Path(temp)
        admin, redis_url, started = await _stores(work)
        redis = aioredis.from_url(redis_url, decode_responses=False)
        try:
            model = build_tiny_rtdetr(work / "model")
            sources = [write_jpeg(work / "staging" / f"{n}.jpg", seed=n) for n in range(images)]
            variants = [
                await run_variant(work, admin, redis, model, sources, size, confidence, rate)
                for size in batch_sizes
            ]
        finally:
            await redis.aclose()
            for store in reversed(started):
                await asyncio.to_thread(store.stop)
    base = variants[0]["images_per_second"]
    return {
        "bench": "pipeline",
        "machine": machine_info(),
        "model": "tiny RT-DETRv2 (2 M parameters, random weights)",
        "settings": {"images": images, "image_size": "640x480", "batch_wait_ms": 25, "confidence": confidence,
                     "arrival": f"{rate} images/s" if rate > 0 else "burst (all at once)",
                     "file_stable_seconds": 0.0},
        "variants": variants,
        "throughput_ratio_vs_first": {
            str(v["batch_size"]): round(v["images_per_second"] / base, 2) for v in variants
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch-sizes", default="1,8", help="micro-batch sizes to compare, comma-separated")
    parser.add_argument("--confidence", type=float, default=0.0)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="drop images at this rate (per second) instead of all at once")
    parser.add_argument("--output", type=Path, help="also write the JSON result here")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.batch_sizes.split(",")]
    result = asyncio.run(run(args.images, sizes, args.confidence, args.rate))
    text = json.dumps(result, indent=2)
    print(text)
    machine = result["machine"]
    print(f"\n{machine['cpu_count']} CPUs, {machine['processor']}, torch {machine['torch']}", file=sys.stderr)
    for variant in result["variants"]:
        stages = variant["stages_ms"]
        print(
            f"batch {variant['batch_size']:>3}: {variant['images_per_second']:7.2f} images/s end to end "
            f"({result['throughput_ratio_vs_first'][str(variant['batch_size'])]}x), "
            f"{variant['inference_images_per_second']:.1f} inside the detector; p50 ms "
            + ", ".join(f"{stage} {values.get('p50_ms', 0):.0f}" for stage, values in stages.items()),
            file=sys.stderr,
        )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
