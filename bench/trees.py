"""What the comparing benchmarks share: another revision's source tree to run, and the report's output."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def revision(tree: Path = REPO) -> str:
    """The short commit id `tree` is at."""
    return _git(tree, "rev-parse", "--short", "HEAD")


@contextmanager
def baseline_tree(rev: str, work: Path) -> Iterator[Path]:
    """A detached `git worktree` of `rev` under `work`, removed afterwards."""
    tree = work / "baseline"
    _git(REPO, "worktree", "add", "--detach", str(tree), rev)
    try:
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)


def write_report(report: dict[str, Any], output: Path | None) -> None:
    """Print the report as JSON, and write it to `output` when given (bench/results/…)."""
    text = json.dumps(report, indent=2)
    print(text)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n")


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True, check=True).stdout.strip()
