"""Server memory benchmark: a running server's RSS while it handles one 60 s 3840×2160 recording.

    python -m bench.server_memory [--baseline REV] [--output FILE]

The scenario is tests/support/server_memory.py's (the one the bounded-memory test runs): `python -m
server run` as `make run` starts it, a 4K H.264 recording of real people moved into a camera folder,
detection, the event and its clip. Reported per tree: VmRSS idle, the most sampled while busy, VmHWM
(the kernel's peak for the process) and VmRSS 5 s after the clip is made. With `--baseline REV` (default
`main`; `none` to skip) the same recording is run through that revision's server as well (a `git
worktree` of it), one server after the other. Prints the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from tests.support.server_memory import (
    RECORDING_FPS,
    RECORDING_SECONDS,
    RECORDING_SIZE,
    measure_server_memory,
    write_4k_recording,
)

REPO = Path(__file__).resolve().parents[1]


def _revision(tree: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True, check=True
    ).stdout.strip()


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "benchmark": "server_memory",
        "machine": machine_info("av", "opencv-python-headless"),
        "recording": {
            "seconds": RECORDING_SECONDS,
            "fps": RECORDING_FPS,
            "size": f"{RECORDING_SIZE[0]}x{RECORDING_SIZE[1]}",
            "codec": "h264",
            "content": "vtest.avi's street scaled up",
        },
    }
    with tempfile.TemporaryDirectory(prefix="hsi-bench-memory-") as work_dir:
        work = Path(work_dir)
        recording = await asyncio.to_thread(write_4k_recording, work / "recording.mp4")
        report["recording"]["bytes"] = recording.stat().st_size
        report["current"] = {"revision": _revision(REPO), **await measure_server_memory(work / "current", recording)}
        print(json.dumps(report["current"]), flush=True)
        if args.baseline != "none":
            tree = work / "baseline"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(tree), args.baseline],
                cwd=REPO, check=True, capture_output=True,
            )  # fmt: skip
            try:
                report["baseline"] = {
                    "revision": f"{args.baseline} ({_revision(tree)})",
                    **await measure_server_memory(work / "baseline", recording, tree),
                }
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)
            print(json.dumps(report["baseline"]), flush=True)
    for run in ("current", "baseline"):
        if run in report:
            report[run].pop("detection_times", None)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="main", help="git revision to compare with ('none' to skip)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    report = asyncio.run(_run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
