"""RT-DETRv2-R18 through the whole detect worker (fp16 on a GPU): images/s and latency per batch size.

    python -m bench.rtdetr_worker [--device cuda] [--batches 1,8,32] [--images 2000]
                                  [--paced 300] [--rate 30] [--output FILE]

The GPU figure of the pipeline issue, in one call on a machine with a GPU (`make setup` first; a CUDA
build of torch). It also runs on a CPU (`--device cpu` with a few images) to check the script itself.

* The model: RT-DETRv2-S (ResNet-18, the architecture of `PekingU/rtdetr_v2_r18vd`, 20.2 M parameters,
  640×640) with random weights: nothing downloads here, and random weights cost what trained ones do.
  It is saved like a checkpoint and loaded by the product's own loader (`HSI_DETECTOR_MODEL`); the
  detector runs in fp16 on CUDA (server/detect/rtdetr.py).
* **model alone**: `detector.detect` in this process on decoded frames, batch by batch: the model's own
  images/s at each batch size (what the pipeline should not fall far below).
* **worker**, per batch size (`HSI_DETECTOR_BATCH_SIZE`): `python -m server run` (watcher, detect process,
  API) on a fresh database and Redis. Burst: `--images` distinct JPEGs (768×576 frames of vtest.avi) are
  renamed into four camera folders at once; images/s until all are in the processed ledger. Paced:
  `--paced` other frames at `--rate` per second; each file's latency from its rename to its commit
  (the ledger's time for it), p50 / p95.

The batch with the most images/s through the worker is reported as the best, with its ratios to batch 1.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.machine import machine_info, print_result
from bench.pipeline import LEDGER_KEY, REPO, Stores, _env, _percentiles, _publish, _stop, _street_frames
from server.config import Settings
from server.detect import load_detector
from server.models import normalize_camera_id
from server.pipeline import dedup
from server.pipeline.detect_worker import DECODE_MAX_SIDE
from server.pipeline.media.image import decode_image
from tests.support.processes import free_port, health
from tests.support.rtdetr import build_rtdetr_r18

#: Camera folders the frames are spread over (as in bench.pipeline's overhead run).
CAMERAS = 4


def _gpu() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def model_alone(model: Path, device: str, frames: list[Path], batches: list[int]) -> dict[str, Any]:
    """The detector's own images/s per batch size, on the frames as the worker decodes them."""
    detector = load_detector(Settings(detector="rtdetr", detector_model=model, detector_device=device))
    images = [decode_image(frame.read_bytes(), max_side=DECODE_MAX_SIDE) for frame in frames]
    detector.detect(images[:1])  # lazy initialisation (kernels, cuDNN autotuning) is not measured
    results: dict[str, Any] = {"device": detector.device}
    for batch in batches:
        detector.detect(images[:batch])
        started = time.perf_counter()
        for at in range(0, len(images) - len(images) % batch, batch):
            detector.detect(images[at : at + batch])
        seconds = time.perf_counter() - started
        count = len(images) - len(images) % batch
        results[f"batch_{batch}"] = {
            "images_per_second": round(count / seconds, 1),
            "ms_per_batch": round(1000 * seconds / (count // batch), 2),
        }
    return results


def _ledger_member(path: Path, folder: str) -> str:
    return dedup.ledger_member(normalize_camera_id(folder), hashlib.sha256(path.read_bytes()).hexdigest())


async def worker(
    model: Path,
    device: str,
    batch: int,
    stores: Stores,
    burst: list[Path],
    paced: list[Path],
    rate: float,
    work: Path,
) -> dict[str, Any]:
    """`python -m server run` with the model at one batch size: the burst, then the paced uploads."""
    db_url, redis = await stores.fresh()
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    log = work / "server.log"
    settings = {
        "HSI_PORT": str(port),
        "HSI_DETECTOR": "rtdetr",
        "HSI_DETECTOR_MODEL": str(model),
        "HSI_DETECTOR_DEVICE": device,
        "HSI_DETECTOR_BATCH_SIZE": str(batch),
        "HSI_LLM": "rules",
        "HSI_FILE_STABLE_SECONDS": "2",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "run"],
            cwd=REPO,
            env=_env(REPO, work, db_url, stores.redis_url, **settings),
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 600
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            report = await asyncio.to_thread(health, port, work / "data")
            detector = (report or {}).get("components", {}).get("detector") or {}
            if detector.get("workers") and detector["status"] != "starting":  # loaded: not timed
                break
            if time.monotonic() > deadline:
                raise TimeoutError(log.read_text()[-3000:])
            await asyncio.sleep(0.5)
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        cpu_before = sum(sum(p.cpu_times()[:2]) for p in tree)
        started = time.perf_counter()
        for n, frame in enumerate(burst):
            _publish(frame, work / "cameras" / f"camera_{n % CAMERAS}")
        while int(await redis.zcard(LEDGER_KEY)) < len(burst):
            assert process.poll() is None, log.read_text()[-3000:]
            if time.perf_counter() - started > 1800:
                raise TimeoutError(f"only {await redis.zcard(LEDGER_KEY)} of {len(burst)} processed")
            await asyncio.sleep(0.02)
        wall = time.perf_counter() - started
        cpu = sum(sum(p.cpu_times()[:2]) for p in tree) - cpu_before

        published: dict[str, float] = {}
        for n, frame in enumerate(paced):
            folder = f"camera_{n % CAMERAS}"
            member = _ledger_member(frame, folder)
            published[member] = await asyncio.to_thread(_publish, frame, work / "cameras" / folder)
            await asyncio.sleep(max(0.0, published[member] + 1 / rate - time.time()))
        drain = time.monotonic() + 300
        while int(await redis.zcard(LEDGER_KEY)) < len(burst) + len(paced) and time.monotonic() < drain:
            await asyncio.sleep(0.1)
        committed = dict(await redis.zrange(LEDGER_KEY, 0, -1, withscores=True))
    finally:
        await _stop(process)
        await redis.aclose()
    latencies = [committed[m.encode()] - at for m, at in published.items() if m.encode() in committed]
    return {
        "batch": batch,
        "burst_images": len(burst),
        "images_per_second": round(len(burst) / wall, 1),
        "server_cpu_ms_per_image": round(1000 * cpu / len(burst), 2),
        "paced_per_second": rate,
        "upload_to_commit": _percentiles(latencies),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hsi-bench-rtdetr-") as temp:
        work = Path(temp)
        model = await asyncio.to_thread(build_rtdetr_r18, work / "rtdetr_v2_r18_random")
        frames = await asyncio.to_thread(_street_frames, work / "frames", args.images + args.paced)
        alone = await asyncio.to_thread(
            model_alone, model, args.device, frames[: args.alone_images], args.batches
        )
        print(f"model alone: {alone}", file=sys.stderr, flush=True)
        stores = Stores(work)
        await stores.start()
        runs = []
        try:
            for batch in args.batches:
                # The same files each run: every run has a database, a Redis and a cameras folder of its own.
                runs.append(
                    await worker(
                        model,
                        args.device,
                        batch,
                        stores,
                        frames[: args.images],
                        frames[args.images :],
                        args.rate,
                        work / f"batch-{batch}",
                    )
                )
                print(f"worker: {runs[-1]}", file=sys.stderr, flush=True)
        finally:
            await stores.stop()
    best = max(runs, key=lambda r: r["images_per_second"])
    first = runs[0]
    return {
        "bench": "rtdetr_worker",
        "machine": machine_info("torch", "transformers") | {"gpu": _gpu()},
        "commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "model": "RT-DETRv2-S (R18), random weights, 640x640",
        "model_alone": alone,
        "worker": runs,
        "best_batch": best["batch"],
        "ratios_best_vs_batch_1": {
            "images_per_second": round(best["images_per_second"] / first["images_per_second"], 2),
            "p95_upload_to_commit": round(
                best["upload_to_commit"].get("p95_ms", 0)
                / max(first["upload_to_commit"].get("p95_ms", 0), 1e-9),
                2,
            ),
        }
        if first["batch"] == 1
        else None,
        "worker_vs_model_alone_at_best_batch": round(
            best["images_per_second"] / alone[f"batch_{best['batch']}"]["images_per_second"], 2
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rtdetr_worker", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--device", default="cuda", help="HSI_DETECTOR_DEVICE: cuda (fp16), cuda:N or cpu")
    parser.add_argument("--batches", default="1,8,32", help="HSI_DETECTOR_BATCH_SIZE values, comma-separated")
    parser.add_argument("--images", type=int, default=2000, help="worker: images in the burst")
    parser.add_argument("--paced", type=int, default=300, help="worker: paced uploads for the latency")
    parser.add_argument("--rate", type=float, default=30.0, help="worker: paced uploads per second")
    parser.add_argument("--alone-images", type=int, default=256, help="model alone: images per batch size")
    parser.add_argument("--output", type=Path, help="also write the JSON result here")
    args = parser.parse_args(argv)
    args.batches = [int(batch) for batch in args.batches.split(",") if batch]
    result = asyncio.run(run(args))
    print_result(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
