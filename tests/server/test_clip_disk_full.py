"""An event clip on a full disk ends without a file; it never crashes the analyze process.

Found by the fault suite's full profile: the clip writer skipped an upload whose frame the full disk
refused and went on muxing the next one, and PyAV's muxer then crashed the process (SIGSEGV) — the
analyze worker died on the same batch after each restart until the batch was dead-lettered (kernel log:
`segfault ... in libavformat`). Before, a disk that refused the clip also left its temporary file
behind (finishing the refused file raised before the file was removed). The clip is encoded in a
child process here, on a 300 KB tmpfs, so that a crash fails the test instead of ending the run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import REPO

_CLIP_ON_A_FULL_DISK = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from server.analyze import clip
from tests.support.media import noise_image
folder, out = sys.argv[1], sys.argv[2]
start = datetime(2026, 1, 1, tzinfo=UTC)
uploads = []
for n in range(40):  # noise does not compress: the disk fills after a few frames
    path = f"{folder}/{n}.png"
    noise_image((640, 480), seed=n).save(path)
    uploads.append(clip.Upload(path, "image", start + timedelta(seconds=n)))
try:
    clip.make_event_clip(uploads, Path(out))
except OSError as err:  # ClipWriteFailed (server.pipeline.media.encode)
    print("failed:", err)
"""


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("no tmpfs can be mounted here (needs root)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_clip_the_disk_refuses_ends_without_a_file_and_without_a_crash(tmp_path: Path, tiny_disk: Path) -> None:
    stills = tmp_path / "stills"
    stills.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _CLIP_ON_A_FULL_DISK, str(stills), str(tiny_disk / "clip.mp4")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "failed: [Errno 28]" in done.stdout, done.stdout + done.stderr[-2000:]
    assert list(tiny_disk.iterdir()) == []  # no clip, and no temporary file left
