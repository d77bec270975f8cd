"""The add-on as users install it (options.json → settings, config.yaml, translations). Each test was a
review's finding, then tried (failing before the fix): a cleared cameras folder made the container's
`/` the cameras folder, fast-path and stationary-exempt classes ignored spellings the detector takes,
an LLM URL without a scheme passed, the backup copied a running database, a translation named the
wrong default detector.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import pytest
import yaml

from server.config import Settings, SettingsError, load_addon_settings
from server.detect.base import COCO_CLASSES
from server.vocabulary import normalize_label
from server.detect.factory import choose_backend

ROOT = Path(__file__).resolve().parents[2]


def _addon() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "addon/config.yaml").read_text())


def _settings_from_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> Settings:
    """The real add-on path: Supervisor's options.json (the defaults plus `changes`) → load_addon_settings."""
    options = {**_addon()["options"], **changes}
    path = tmp_path / "options.json"
    path.write_text(json.dumps(options))
    monkeypatch.setenv("HSI_OPTIONS_FILE", str(path))
    monkeypatch.setenv("HSI_DATA_DIR", str(tmp_path / "data"))  # the Dockerfile's ENV (/data there)
    return load_addon_settings()


# -- cameras_dir left empty --------------------------------------------------------------------------


def test_blank_cameras_dir_does_not_become_the_container_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cameras_dir: str` accepts "" in Supervisor (a cleared field, or YAML mode). Every other path
    option treats blank as unset (`_blank_is_unset`: media_dir), but cameras_dir becomes `Path("")`,
    made absolute against the working directory: the image sets no WORKDIR, so that is `/`, and the
    watcher then watches (and its catch-up scans) the whole container filesystem as "cameras".
    Expected: a SettingsError naming the option, or the add-on's default /share/hsi/cameras."""
    monkeypatch.chdir("/")  # the add-on's working directory (python:3.11-slim, no WORKDIR)
    try:
        settings = _settings_from_options(tmp_path, monkeypatch, cameras_dir="")
    except SettingsError as err:
        assert "cameras_dir" in str(err)
        return
    assert settings.cameras_dir != Path("/"), (
        "a blank cameras_dir makes the whole container the cameras folder"
    )
    assert settings.cameras_dir == Path("/share/hsi/cameras")


# -- object type lists spelled the way detection_classes accepts them ---------------------------------

SPELLINGS = [
    ("motorbike", "motorcycle"),  # LABEL_ALIASES: detection_classes accepts it
    ("people", "person"),
    ("person ", "person"),  # a trailing blank typed in the list editor
    ("traffic_light", "traffic light"),
]


@pytest.mark.parametrize(("typed", "detected"), SPELLINGS)
def test_fast_path_types_accept_the_spellings_detection_classes_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: str, detected: str
) -> None:
    """detection_classes folds each entry with `normalize_label` (aliases, blanks, underscores), so
    "motorbike" or "person " there keeps motorcycles/people. fast_path_object_types only lower-cases
    (batcher.py:352), so the same spelling there never matches a detection's COCO name: the option
    silently does nothing and the user's alerts wait for the whole batch window."""
    from server.pipeline.batcher import BatchAggregator

    settings = _settings_from_options(
        tmp_path, monkeypatch, detection_classes=[typed], fast_path_object_types=[typed]
    )
    assert normalize_label(settings.detection_classes[0]) == detected in COCO_CLASSES  # detection keeps it
    batcher = BatchAggregator(MagicMock(), settings)
    detection = SimpleNamespace(object_type=detected, confidence=0.99)
    assert batcher.is_fast_path(detection), f"fast_path_object_types=[{typed!r}] never matches {detected!r}"


@pytest.mark.parametrize(("typed", "detected"), SPELLINGS)
def test_stationary_exempt_types_accept_the_spellings_detection_classes_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: str, detected: str
) -> None:
    """Same for stationary_exempt_types (stationary.py:162, 172-174): an exempt type typed as
    detection_classes accepts it is not exempt, so e.g. a person standing still is suppressed."""
    from server.pipeline.stationary import StationaryTracker

    settings = _settings_from_options(
        tmp_path, monkeypatch, detection_classes=[typed], stationary_exempt_types=[typed]
    )
    tracker = StationaryTracker(MagicMock(), settings)
    row = SimpleNamespace(
        object_type=detected,
        detected_at=datetime.now(UTC),
        bbox_x=1,
        bbox_y=1,
        bbox_width=10,
        bbox_height=10,
        track_id=None,
        stationary=False,
    )
    exempt_flag = tracker.arguments([row])[-1].rsplit("|", 1)[1]
    assert exempt_flag == "1", f"stationary_exempt_types=[{typed!r}] does not exempt {detected!r}"


# -- llm_url without a scheme --------------------------------------------------------------------------


def test_llm_url_without_scheme_is_refused_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCS.md: "A bad value stops the add-on with one line in its log naming the option". `llm_url` is
    `str?` and Settings only blanks it, so `192.168.1.20:8080` (no http://) is accepted; the analyzer
    then fails on every start of the backend and the rules score instead. database_url and redis_url
    are checked for their scheme; llm_url is not."""
    with pytest.raises(SettingsError, match="llm_url"):
        _settings_from_options(tmp_path, monkeypatch, llm_url="192.168.1.20:8080")


# -- translations ----------------------------------------------------------------------------------


def test_detector_translation_names_the_backend_auto_really_falls_back_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """en.yaml tells users auto falls back to "the CPU person detector (HOG)", but with no model auto
    runs the packaged SSD-MobileNet COCO detector (factory.DEFAULT_BACKEND); HOG runs only when asked
    for (README, DOCS.md). A user reading the Configuration tab is told cars/animals are not detected."""
    settings = _settings_from_options(tmp_path, monkeypatch, detector="auto", detector_model="")
    backend = choose_backend(settings)
    assert backend == "ssd_mobilenet"
    description = yaml.safe_load((ROOT / "addon/translations/en.yaml").read_text())["configuration"][
        "detector"
    ]["description"]
    assert "HOG" not in description, f"translation says HOG, auto runs {backend}: {description!r}"


# -- backups -------------------------------------------------------------------------------------------


def test_backup_does_not_tar_a_running_embedded_postgres() -> None:
    """The add-on keeps an embedded PostgreSQL cluster under /data (DOCS.md: "Back up the add-on (it
    includes the embedded database)"). Supervisor's default backup mode is `hot`: it tars /data while
    the add-on runs, and a file copy of a running cluster is not a usable PostgreSQL backup. Nothing
    stops it for the backup (`backup: cold`) or makes a consistent dump (`backup_pre`/`backup_post`)."""
    addon = _addon()
    consistent = addon.get("backup") == "cold" or (addon.get("backup_pre") and addon.get("backup_post"))
    assert consistent, "a hot backup copies the live PostgreSQL data directory"
