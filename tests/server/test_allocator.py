"""The allocator settings `server run` starts with (server/allocator.py), in a process of their own.

Each decoded picture is megabytes; with the mmap threshold fixed (so a recording's frames go back to the
system) a picture that does not reuse a freed buffer is a fresh mapping, and the kernel zero-fills it
page by page as the decoder writes it. Pillow's kept buffers are what prevents that; the page-fault
count of the decoding process shows whether they do. Measured in a child process: the settings are
process-wide, and the count is the process's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.real_media import media_path

REPO = Path(__file__).resolve().parents[2]

#: Decodes one photo 20 times as `server run` is tuned (or with no buffer kept, for the contrast), then
#: gives the kept buffers back; prints page faults per picture and Pillow's block counts.
_DECODE_REPEATEDLY = """
import json, resource, sys
from PIL import Image
from server import allocator
from server.pipeline.media.image import decode_image

data = open(sys.argv[1], "rb").read()
allocator.tune()
if sys.argv[2] == "none":
    Image.core.set_blocks_max(0)
decode_image(data)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    decode_image(data)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
busy = Image.core.get_stats()
allocator.release_pictures()
print(json.dumps({
    "faults_per_picture": faults, "reused": busy["reused_blocks"], "kept": busy["blocks_cached"],
    "kept_after_release": Image.core.get_stats()["blocks_cached"],
}))
"""


def _decode_repeatedly(buffers: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _DECODE_REPEATEDLY, str(media_path("bus.jpg")), buffers],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def test_pictures_decoded_one_after_another_reuse_a_kept_buffer_and_release_gives_it_back() -> None:
    # bus.jpg: 810×1080, 3.5 MB decoded, above the 1 MiB mmap threshold: 855 pages to fault if fresh.
    kept = _decode_repeatedly("kept")
    assert kept["faults_per_picture"] < 50, kept
    assert kept["reused"] >= 20 and kept["kept"] >= 1, kept
    assert kept["kept_after_release"] == 0, kept
    # The contrast: the same decodes with no buffer kept fault in every page of every picture.
    fresh = _decode_repeatedly("none")
    assert fresh["faults_per_picture"] > 500, fresh
    assert fresh["reused"] == 0, fresh
