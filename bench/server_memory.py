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
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from bench.trees import baseline_tree, revision, write_report
from tests.support.server_memory import (
    RECORDING_FPS,
    RECORDING_SECONDS,
    RECORDING_SIZE,
    measure_server_memory,
    write_4k_recording,
)


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
        report["current"] = {"revision": revision(), **await measure_server_memory(work / "current", recording)}
        print(json.dumps(report["current"]), flush=True)
        if args.baseline != "none":
            with baseline_tree(args.baseline, work) as tree:
                report["baseline"] = {
                    "revision": f"{args.baseline} ({revision(tree)})",
                    **await measure_server_memory(work / "baseline", recording, tree),
                }
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
    write_report(asyncio.run(_run(args)), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
