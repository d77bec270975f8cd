"""Full fuzzing run: schemathesis at 200 examples per operation, then 20 000 raw HTTP requests.

CI runs the same two tests small (40 examples per operation, 600 raw requests); this runs them at full
size and writes the figures (requests, answers by status, seconds) to bench/results/fuzz.json. Both
tests fail on any answer >= 500, so `failures` lists what broke, if anything.

    .venv/bin/python -m bench.fuzz [--examples-per-operation 200] [--raw-requests 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.api import machine_info

ROOT = Path(__file__).resolve().parents[1]
TESTS = ("tests/server/api/test_fuzz.py", "tests/server/api/test_raw_http_fuzz.py")
_SUMMARIES = re.compile(r"^(schemathesis|raw HTTP fuzz): (.*)$", re.MULTILINE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples-per-operation", type=int, default=200)
    parser.add_argument("--raw-requests", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/fuzz.json")
    args = parser.parse_args(argv)
    env = {
        **os.environ,
        "HSI_FUZZ_EXAMPLES_PER_OPERATION": str(args.examples_per_operation),
        "HSI_FUZZ_EXAMPLES": str(args.raw_requests),
    }
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *TESTS, "-q", "-s", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    result: dict[str, Any] = {
        "benchmark": "fuzz",
        "machine": machine_info(),
        "examples_per_operation": args.examples_per_operation,
        "raw_requests": args.raw_requests,
        "seconds": round(time.monotonic() - started),
        "summaries": dict(_SUMMARIES.findall(run.stdout)),
        "pytest": run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "",
        "failures": re.findall(r"^FAILED .*$", run.stdout, re.MULTILINE),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
