"""Pipeline benchmark: the pipeline's own cost per image, and upload → alert latency, new design vs old.

    python -m bench.pipeline [--images 1000] [--repeat 3] [--uploads 200] [--rates 2,10] [--llm-uploads 10]
                             [--baseline REV] [--previous-without MODULE] [--output FILE]

Every figure is measured for two code versions in the same run, on the same machine, stores and files:
this working tree and `--baseline` (default: the last commit before the pipeline redesign), checked out
with `git worktree` into a temporary folder. Each version runs as real server processes from its own
tree (`PYTHONPATH` first; with `--previous-without`, the previous one cannot import a module, such as a
dependency added since, as if it were not installed), against one embedded PostgreSQL (a fresh database
per measurement) and one embedded Redis (flushed). Images are real: frames of OpenCV's vtest.avi and
ultralytics' bus.jpg (`make media`), each made unique so no upload is a duplicate.

* **overhead**: `bench/pipeline_server.py` runs the watcher and detect roles with a detector that
  returns at once (`NullDetector`); `--images` JPEGs (768x576 street frames) are published into four
  camera folders at once (written under a temporary name, renamed in, as FTP servers do). Figures: the
  sustained images/s until every file is in the processed ledger, and the server process's CPU time per
  image (user + system, all threads; there is no inference, so it is all the pipeline's: watching,
  reading, hashing, decoding, queueing, committing, publishing).
  A version whose detect role runs in a process of its own under `server run` (`HSI_DETECT_PROCESS`) is
  measured both ways: one process, and the watcher's and the detect role's processes (CPU summed, and
  each process's in `cpu_ms_per_image_by_process`). The overhead runs `--repeat` rounds, the two
  versions alternating, which goes first swapping every round (this machine's speed drifts by a tenth
  between minutes); each version's median run is reported, with every run's CPU per image in
  `cpu_ms_per_image_runs`.
  `decode_floor`: the CPU of the one JPEG decode the detector needs, alone in one thread (this tree's
  `decode_image` on the same frames): the share of the overhead that is libjpeg-turbo's.
* **latency**: `python -m server run` with the real default detector and the rules scorer, an alert rule
  on people; `--uploads` photos of people (bus.jpg), each into a camera folder of its own, paced at each
  of `--rates` per second. Figures: p50 / p95 from the rename to `detection.created` and to
  `alert.created` on the API's WebSocket.
* **llm**: the same with the real SmolLM2-135M GGUF as `HSI_LLM_MODEL` (llama.cpp), `--llm-uploads`
  photos one every 10 s: when `alert.created` arrives (the old design waits for the model; the new
  one does not) and, new design only, when the refinement (`alert.updated` with the model's text) does.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import redis.asyncio as aioredis
from PIL import Image

from bench.machine import machine_info, print_result
from server.db import create_database
from server.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.support.photos import video_frame
from tests.support.processes import free_port, health, roles_ready
from tests.support.real_media import media_path
from tests.support.smollm2 import SMOLLM2

REPO = Path(__file__).resolve().parents[1]
#: The last commit before the pipeline redesign (watcher without waiting, one read, staged worker,
#: notify first): the "previous design" every figure is compared with.
BASELINE = "462b899"
LEDGER_KEY = "hsi:processed"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


@asynccontextmanager
async def _baseline_tree(rev: str, work: Path) -> AsyncIterator[Path]:
    tree = work / "baseline"
    _git("worktree", "add", "--detach", str(tree), rev)
    try:
        yield tree
    finally:
        _git("worktree", "remove", "--force", str(tree))


def _street_frames(out: Path, count: int) -> list[Path]:
    """`count` distinct JPEGs (q85) of vtest.avi's street, its frames round-robin, each one pixel apart."""
    out.mkdir(parents=True, exist_ok=True)
    frames = [video_frame(media_path("vtest.avi"), index) for index in range(0, 790, 40)]
    paths = []
    for n in range(count):
        image = frames[n % len(frames)].copy()
        image.putpixel((n % image.width, (n // image.width) % image.height), (n % 256, 7, 200))
        path = out / f"street_{n:05d}.jpg"
        image.save(path, "JPEG", quality=85)
        paths.append(path)
    return paths


def _people_photos(out: Path, count: int) -> list[Path]:
    """`count` distinct copies of bus.jpg (four people: the fast path fires on each)."""
    out.mkdir(parents=True, exist_ok=True)
    with Image.open(media_path("bus.jpg")) as source:
        base = source.convert("RGB")
    paths = []
    for n in range(count):
        image = base.copy()
        image.putpixel((n % image.width, 0), (n % 256, 11, 99))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        path = out / f"people_{n:04d}.jpg"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def _publish(source: Path, folder: Path) -> float:
    """An FTP-style upload: written under a temporary name, renamed in. Returns the rename's time."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{source.name}.part"
    shutil.copyfile(source, temporary)
    published = time.time()
    os.rename(temporary, folder / source.name)
    return published


class Stores:
    """One embedded PostgreSQL and Redis for the whole run; a fresh database and an empty Redis each time."""

    def __init__(self, work: Path) -> None:
        self.postgres = EmbeddedPostgres(work / "pg")
        self.redis_server = EmbeddedRedis(work / "redis")
        self.admin = ""
        self.redis_url = ""

    async def start(self) -> None:
        self.admin = await asyncio.to_thread(self.postgres.start)
        self.redis_url = await asyncio.to_thread(self.redis_server.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.redis_server.stop)
        await asyncio.to_thread(self.postgres.stop)

    async def fresh(self) -> tuple[str, aioredis.Redis]:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        await create_database(self.admin, name)
        redis = aioredis.from_url(self.redis_url)
        await redis.flushdb()
        return self.postgres.url(name), redis


#: Per code version, a folder put before it on PYTHONPATH whose packages cannot be imported
#: (`--previous-without`): the previous design as installed before it gained a dependency.
_HIDDEN: dict[Path, Path] = {}


def _hide_modules(tree: Path, names: list[str], folder: Path) -> None:
    """Make `names` unimportable for `tree`'s processes (each a package whose import raises ImportError,
    as when it is not installed)."""
    for name in names:
        package = folder / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(f"raise ImportError('{name} hidden by bench.pipeline')\n")
    _HIDDEN[tree] = folder


def _env(tree: Path, work: Path, db_url: str, redis_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HSI_")}
    path = [str(_HIDDEN[tree])] if tree in _HIDDEN else []
    return env | {
        "PYTHONPATH": os.pathsep.join([*path, str(tree)]),
        "HSI_DATABASE_URL": db_url,
        "HSI_REDIS_URL": redis_url,
        "HSI_DATA_DIR": str(work / "data"),
        "HSI_CAMERAS_DIR": str(work / "cameras"),
        "HSI_HOST": "127.0.0.1",
        "HSI_TIMEZONE": "UTC",
        **settings,
    }


async def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 60)
        except subprocess.TimeoutExpired:
            process.kill()


#: The server processes of the overhead run, by their roles: one process, or (since the detect role got a
#: process of its own, `HSI_DETECT_PROCESS`) the watcher's and the detect role's, as `server run` starts them.
ONE_PROCESS = ("watcher,detect",)
DETECT_PROCESS = ("watcher", "detect")


async def overhead(
    tree: Path, stores: Stores, sources: list[Path], work: Path, processes: tuple[str, ...] = ONE_PROCESS
) -> dict[str, Any]:
    """The null-detector run of one version (see the module docstring); CPU summed over `processes`."""
    db_url, redis = await stores.fresh()
    work.mkdir(parents=True, exist_ok=True)
    log = work / "overhead.log"
    servers: list[subprocess.Popen[bytes]] = []
    # Each process runs the roles it is given itself (a new version's detect role would otherwise start a
    # process of its own, with the real detector).
    env = _env(tree, work, db_url, stores.redis_url, HSI_FILE_STABLE_SECONDS="2", HSI_DETECT_PROCESS="inline")
    try:
        with log.open("wb") as out:
            for roles in processes:
                servers.append(
                    subprocess.Popen(
                        [sys.executable, str(REPO / "bench" / "pipeline_server.py"), roles],
                        cwd=tree, env=env, stdout=subprocess.PIPE, stderr=out,
                    )
                )
        for process in servers:
            assert process.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 180)
            assert line.strip() == b"READY", log.read_text()[-3000:]
        measured = [psutil.Process(process.pid) for process in servers]
        cpu_before = [sum(server.cpu_times()[:2]) for server in measured]
        started = time.perf_counter()
        for n, source in enumerate(sources):
            _publish(source, work / "cameras" / f"camera_{n % 4}")
        published = time.perf_counter() - started
        while int(await redis.zcard(LEDGER_KEY)) < len(sources):
            assert all(process.poll() is None for process in servers), log.read_text()[-3000:]
            if time.perf_counter() - started > 1800:
                raise TimeoutError(f"only {await redis.zcard(LEDGER_KEY)} of {len(sources)} processed")
            await asyncio.sleep(0.02)
        wall = time.perf_counter() - started
        cpu_each = [sum(server.cpu_times()[:2]) - before for server, before in zip(measured, cpu_before, strict=True)]
        cpu = sum(cpu_each)
    finally:
        for process in servers:
            await _stop(process)
        await redis.aclose()
    return {
        "processes": list(processes),
        "images": len(sources),
        "publish_seconds": round(published, 2),
        "wall_seconds": round(wall, 2),
        "images_per_second": round(len(sources) / wall, 1),
        "cpu_ms_per_image": round(1000 * cpu / len(sources), 2),
        # Where it goes: the watcher's process (watchdog, intake, queueing) and the detect role's.
        "cpu_ms_per_image_by_process": {
            roles: round(1000 * seconds / len(sources), 2) for roles, seconds in zip(processes, cpu_each, strict=True)
        },
    }


def decode_floor(sources: list[Path]) -> dict[str, Any]:
    """CPU per image of the one decode the detector needs (`decode_image`, this tree's), in one thread:
    the part of the overhead that is libjpeg-turbo's, not the pipeline's."""
    from server.pipeline.detect_worker import DECODE_MAX_SIDE
    from server.pipeline.media.image import decode_image

    blobs = [source.read_bytes() for source in sources]
    started = time.process_time()
    for blob in blobs:
        decode_image(blob, max_side=DECODE_MAX_SIDE)
    return {"images": len(blobs), "cpu_ms_per_image": round(1000 * (time.process_time() - started) / len(blobs), 2)}


def _percentiles(samples: list[float]) -> dict[str, float | int]:
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "n": len(ordered),
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * p95, 1),
    }


async def latency(
    tree: Path, stores: Stores, photos: list[Path], rate: float, work: Path, llm: bool
) -> dict[str, Any]:
    """One version under `python -m server run`, uploads paced at `rate` per second (module docstring)."""
    db_url, redis = await stores.fresh()
    port = free_port()
    settings = {"HSI_PORT": str(port), "HSI_FILE_STABLE_SECONDS": "2"}
    if llm:
        settings |= {"HSI_LLM": "llama_cpp", "HSI_LLM_MODEL": str(SMOLLM2), "HSI_LLM_GPU_LAYERS": "0"}
    else:
        settings["HSI_LLM"] = "rules"
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"latency-{rate}-{llm}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "run"],
            cwd=tree,
            env=_env(tree, work, db_url, stores.redis_url, **settings),
            stdout=out,
            stderr=out,
        )
    uploaded: dict[str, float] = {}
    detected: dict[str, float] = {}
    alerted: dict[str, float] = {}
    refined: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            report = await asyncio.to_thread(health, port, work / "data")
            if roles_ready(report):  # workers up, models loaded: the latency is the pipeline's
                break
            if time.monotonic() > deadline:
                raise TimeoutError(log.read_text()[-3000:])
            await asyncio.sleep(0.5)
        key = (work / "data" / "api_key.txt").read_text().strip()
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
            rule = {"name": "people", "object_types": ["person"], "cooldown_seconds": 0}
            async with http.post(f"{base}/api/alert-rules", json=rule) as created:
                assert created.status == 201, await created.text()
            async with http.ws_connect(f"{base}/api/ws", heartbeat=30) as ws:

                async def listen() -> None:
                    async for message in ws:
                        body = json.loads(message.data)
                        kind, data, now = body.get("type"), body.get("data") or {}, time.time()
                        camera = data.get("camera_id") or (data.get("metadata") or {}).get("camera_id")
                        if kind == "detection.created":
                            detected.setdefault(camera, now)
                        elif kind == "alert.created":
                            alerted.setdefault(camera, now)
                        elif kind == "alert.updated" and "initial" in (data.get("metadata") or {}):
                            refined.setdefault(camera, now)

                listener = asyncio.create_task(listen())
                for n, photo in enumerate(photos):
                    camera = f"camera_{n:04d}"
                    uploaded[camera] = await asyncio.to_thread(_publish, photo, work / "cameras" / camera)
                    await asyncio.sleep(max(0.0, uploaded[camera] + 1 / rate - time.time()))
                drain = time.monotonic() + (600 if llm else 120)
                wanted = refined if llm and tree == REPO else alerted
                while len(wanted) < len(photos) and time.monotonic() < drain:
                    assert process.poll() is None, log.read_text()[-3000:]
                    await asyncio.sleep(0.2)
                listener.cancel()
    finally:
        await _stop(process)
        await redis.aclose()

    def since_upload(moments: dict[str, float]) -> list[float]:
        return [moments[camera] - uploaded[camera] for camera in uploaded if camera in moments]

    result: dict[str, Any] = {
        "rate_per_second": rate,
        "uploads": len(photos),
        "to_detection_created": _percentiles(since_upload(detected)),
        "to_alert_created": _percentiles(since_upload(alerted)),
    }
    if refined:
        result["to_refinement"] = _percentiles(since_upload(refined))
    return result


async def _overheads(
    versions: dict[str, Path], stores: Stores, street: list[Path], work: Path, repeat: int
) -> dict[str, dict[str, Any]]:
    """Each version's overhead runs (one process; and with a detect process, where it has one),
    `repeat` rounds with the versions alternating (which goes first swaps every round), so that a
    slow spell of the machine falls on both: the median run of each (by CPU per image) is reported,
    with every run's CPU per image."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in versions}
    for round_ in range(repeat):
        order = list(versions.items())
        for name, tree in order if round_ % 2 == 0 else reversed(order):
            layouts = {"overhead": ONE_PROCESS}
            if (tree / "server" / "detect_process.py").exists():  # as `server run` runs it now
                layouts["overhead_detect_process"] = DETECT_PROCESS
            for key, processes in layouts.items():
                result = await overhead(tree, stores, street, work / name / f"{key}-{round_}", processes)
                runs[name].setdefault(key, []).append(result)
                print(f"{name} {key} ({round_ + 1}/{repeat}): {result}", file=sys.stderr, flush=True)
    medians: dict[str, dict[str, Any]] = {}
    for name, by_key in runs.items():
        medians[name] = {}
        for key, results in by_key.items():
            ordered = sorted(results, key=lambda result: result["cpu_ms_per_image"])
            medians[name][key] = ordered[(len(ordered) - 1) // 2] | {
                "cpu_ms_per_image_runs": [result["cpu_ms_per_image"] for result in results]
            }
    return medians


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hsi-bench-pipeline-") as temp:
        work = Path(temp)
        stores = Stores(work)
        await stores.start()
        street = await asyncio.to_thread(_street_frames, work / "street", args.images)
        floor = await asyncio.to_thread(decode_floor, street)
        people = await asyncio.to_thread(_people_photos, work / "people", max(args.uploads, args.llm_uploads))
        results: dict[str, Any] = {}
        try:
            async with _baseline_tree(args.baseline, work) as baseline:
                if args.previous_without:
                    _hide_modules(baseline, args.previous_without, work / "hidden")
                versions = {"previous": baseline, "new": REPO}
                results = await _overheads(versions, stores, street, work, args.repeat)
                for name, tree in versions.items():
                    version = results[name]
                    run_dir = work / name
                    for rate in args.rates:
                        key = f"latency_{rate:g}_per_s"
                        version[key] = await latency(
                            tree, stores, people[: args.uploads], rate, run_dir / key, llm=False
                        )
                        print(f"{name} {key}: {version[key]}", file=sys.stderr, flush=True)
                    if args.llm_uploads:
                        version["llm"] = await latency(
                            tree, stores, people[: args.llm_uploads], 0.1, run_dir / "llm", llm=True
                        )
                        print(f"{name} llm: {version['llm']}", file=sys.stderr, flush=True)
        finally:
            await stores.stop()
    previous, new = results["previous"]["overhead"], results["new"]["overhead"]
    # The detect-process layout against the previous design's own (before it had one: its one process).
    split = results["new"].get("overhead_detect_process", new)
    split_previous = results["previous"].get("overhead_detect_process", previous)
    return {
        "bench": "pipeline",
        "machine": machine_info("opencv-python-headless", "torch", "llama_cpp_python"),
        "baseline": {
            "rev": args.baseline,
            "commit": _git("rev-parse", args.baseline),
            "without": args.previous_without,
        },
        "new": {"commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain"))},
        "results": results,
        "decode_floor": floor,
        "ratios_new_vs_previous": {
            "overhead_images_per_second": round(new["images_per_second"] / previous["images_per_second"], 2),
            "overhead_cpu_ms_per_image": round(new["cpu_ms_per_image"] / previous["cpu_ms_per_image"], 3),
            "detect_process_images_per_second": round(
                split["images_per_second"] / split_previous["images_per_second"], 2
            ),
            "detect_process_cpu_ms_per_image": round(split["cpu_ms_per_image"] / split_previous["cpu_ms_per_image"], 3),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images", type=int, default=1000, help="null-detector overhead: images in the burst"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="null-detector overhead: rounds, versions alternating (median)"
    )
    parser.add_argument("--uploads", type=int, default=200, help="latency: uploads per rate")
    parser.add_argument("--rates", default="2,10", help="latency: uploads per second, comma-separated")
    parser.add_argument(
        "--llm-uploads", type=int, default=10, help="with SmolLM2: uploads, one every 10 s (0: skip)"
    )
    parser.add_argument("--baseline", default=BASELINE, help="the previous design's commit")
    parser.add_argument(
        "--previous-without",
        action="append",
        default=[],
        metavar="MODULE",
        help="run the previous design with MODULE not importable (a dependency it did not have; repeatable)",
    )
    parser.add_argument("--output", type=Path, help="also write the JSON result here")
    args = parser.parse_args(argv)
    args.rates = [float(rate) for rate in args.rates.split(",") if rate]
    result = asyncio.run(run(args))
    print_result(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
