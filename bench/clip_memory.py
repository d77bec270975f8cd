"""Event clip benchmark: peak memory (RSS) and time to make the clip of one long 4K recording.

    python -m bench.clip_memory [--seconds 60] [--fps 10] [--size 3840x2160] [--baseline REV] [--output FILE]

Synthesises an H.264 recording with PyAV (a moving pattern, `--seconds` at `--fps`, `--size`), then makes
the event clip of it in a fresh process with this tree's code (`server.analyze.clip.make_event_clip`) and,
for the ratio, with the code of `--baseline` (a `git worktree` of that revision; default: the parent of
the commit that introduced `server/analyze/clip.py`, whose `server.analyze.worker.make_event_clip` sampled
2 fps into a list of full-size frames). Each run is its own process, so its peak RSS
(`ru_maxrss`) is the clip's alone plus the interpreter and imports. Prints the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from bench.api import machine_info
from bench.trees import write_report

REPO = Path(__file__).resolve().parents[1]

#: Run in a fresh interpreter inside the tree under test: make the clip, report time and peak RSS.
_CHILD = """
import json, resource, sys, time
from datetime import datetime, timezone
from pathlib import Path
source, out = sys.argv[1], Path(sys.argv[2])
started = time.perf_counter()
try:
    from server.analyze.clip import Upload, make_event_clip
    made = make_event_clip([Upload(source, "video", datetime.now(timezone.utc))], out)
except ImportError:  # the design before server/analyze/clip.py
    from server.analyze.worker import make_event_clip
    made = make_event_clip([source], out)
seconds = time.perf_counter() - started
import av
with av.open(str(made)) as container:
    stream = container.streams.video[0]
    frames, width, height = stream.frames, stream.codec_context.width, stream.codec_context.height
    duration = float(container.duration or 0) / av.time_base
print(json.dumps({
    "seconds": round(seconds, 1),
    "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "clip": {"frames": frames, "duration_s": round(duration, 2), "size": f"{width}x{height}",
             "fps": round(frames / duration, 2) if duration else None},
}))
"""


def synthesise(path: Path, seconds: float, fps: int, size: tuple[int, int]) -> None:
    """An H.264 recording of a gradient with a square moving across it (cheap to make, real to decode)."""
    width, height = size
    base = np.zeros((height, width, 3), dtype=np.uint8)
    base[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    base[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    side = height // 6
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps), options={"preset": "ultrafast"})
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        for index in range(round(seconds * fps)):
            picture = base.copy()
            x = (index * 16) % (width - side)
            picture[height // 3 : height // 3 + side, x : x + side] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def measure(tree: Path, source: Path, out: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(source), str(out)],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"clip in {tree} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def default_baseline() -> str:
    introduced = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "server/analyze/clip.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return f"{introduced[-1]}^" if introduced else "HEAD"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--size", default="3840x2160")
    parser.add_argument("--baseline", default=None, help="git revision to compare with ('none' to skip)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    size = tuple(int(part) for part in args.size.lower().split("x"))
    report: dict[str, Any] = {
        "benchmark": "clip_memory",
        "machine": machine_info(),
        "source": {"seconds": args.seconds, "fps": args.fps, "size": args.size, "codec": "h264"},
    }
    with tempfile.TemporaryDirectory(prefix="hsi-bench-clip-") as work_dir:
        work = Path(work_dir)
        source = work / "recording.mp4"
        started = time.perf_counter()
        synthesise(source, args.seconds, args.fps, (size[0], size[1]))
        report["source"]["synthesised_in_s"] = round(time.perf_counter() - started, 1)
        report["current"] = measure(REPO, source, work / "current.mp4")
        print(json.dumps(report["current"]), flush=True)
        baseline = args.baseline or default_baseline()
        if baseline != "none":
            tree = work / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), baseline], cwd=REPO,
                           check=True, capture_output=True)
            try:
                report["baseline"] = {"revision": baseline, **measure(tree, source, work / "baseline.mp4")}
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)
            report["ratios"] = {
                "peak_rss_baseline_over_current": round(
                    report["baseline"]["peak_rss_mib"] / report["current"]["peak_rss_mib"], 2
                ),
                "seconds_current_over_baseline": round(
                    report["current"]["seconds"] / max(report["baseline"]["seconds"], 0.1), 2
                ),
            }
    write_report(report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
