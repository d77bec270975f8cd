"""Settings: defaults, environment parsing, options.json, and one clear line for every bad value."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from server.analyze.worker import home_timezone
from server.api.errors import ApiError
from server.api.media import open_media
from server.config import DEFAULT_SECURITY_CLASSES, SettingsError, load_settings, unknown_variables


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HSI_"):
            monkeypatch.delenv(name)


def test_defaults_match_design() -> None:
    settings = load_settings()
    assert settings.port == 8000
    assert settings.cameras_dir == Path("/export/foscam")
    assert settings.detection_confidence == 0.5
    assert settings.batch_window_seconds == 90
    assert settings.batch_idle_timeout_seconds == 30
    assert settings.fast_path_confidence == 0.90
    assert settings.fast_path_object_types == ["person"]
    assert settings.dedup_ttl_seconds == 300
    assert settings.api_key_enabled is True
    assert settings.detection_classes == DEFAULT_SECURITY_CLASSES
    assert settings.database_url is None and settings.redis_url is None
    assert settings.data_dir == Path.cwd() / "data"  # made absolute: stored paths never depend on cwd


def test_relative_paths_become_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSI_CAMERAS_DIR", "var/cameras")
    monkeypatch.setenv("HSI_LLM_MODEL", "~/models/nemotron.gguf")
    settings = load_settings()
    assert settings.cameras_dir == Path.cwd() / "var" / "cameras"
    assert settings.llm_model == Path.home() / "models" / "nemotron.gguf"


def test_environment_values_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSI_PORT", "9001")
    monkeypatch.setenv("HSI_FAST_PATH_OBJECT_TYPES", "person, car")
    monkeypatch.setenv("HSI_DATABASE_URL", "postgresql://u:p@db:5432/hsi")
    monkeypatch.setenv("HSI_API_KEY_ENABLED", "false")
    settings = load_settings()
    assert settings.port == 9001
    assert settings.fast_path_object_types == ["person", "car"]
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/hsi"
    assert settings.api_key_enabled is False


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HSI_PORT", "abc", "invalid setting HSI_PORT='abc': Input should be a valid integer"),
        ("HSI_PORT", "70000", "HSI_PORT='70000': Input should be less than or equal to 65535"),
        ("HSI_BATCH_WINDOW_SECONDS", "-1", "HSI_BATCH_WINDOW_SECONDS='-1': Input should be greater than 0"),
        (
            "HSI_DETECTOR",
            "yolo",
            "HSI_DETECTOR='yolo': Input should be 'auto', 'rtdetr', 'ultralytics', 'ssd_mobilenet' or 'hog'",
        ),
        ("HSI_DETECTION_CONFIDENCE", "1.5", "HSI_DETECTION_CONFIDENCE='1.5'"),
        (
            "HSI_DEDUP_TTL_SECONDS",
            "5",
            "HSI_DEDUP_TTL_SECONDS='5': Input should be greater than or equal to 60",
        ),
        ("HSI_DATABASE_URL", "mysql://x", "HSI_DATABASE_URL='mysql://x': must be a postgresql:// URL"),
        ("HSI_REDIS_URL", "http://x", "HSI_REDIS_URL='http://x': must be a redis://"),
        ("HSI_TIMEZONE", "Mars/Olympus", "HSI_TIMEZONE='Mars/Olympus': unknown timezone 'Mars/Olympus'"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_idle_timeout_may_not_exceed_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSI_BATCH_WINDOW_SECONDS", "10")
    with pytest.raises(SettingsError, match="HSI_BATCH_IDLE_TIMEOUT_SECONDS must not exceed"):
        load_settings()


def test_options_file_overrides_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"port": 8123, "detector": "hog", "database_url": "", "unknown": 1}))
    monkeypatch.setenv("HSI_OPTIONS_FILE", str(options))
    monkeypatch.setenv("HSI_PORT", "9000")
    settings = load_settings()
    assert settings.port == 8123
    assert settings.detector == "hog"
    assert settings.database_url is None  # an empty add-on option means "not configured"


def test_broken_options_file_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    options = tmp_path / "options.json"
    options.write_text("{not json")
    monkeypatch.setenv("HSI_OPTIONS_FILE", str(options))
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_settings()


def test_cli_stops_before_starting_anything_on_a_bad_value(tmp_path: Path) -> None:
    env = {"HSI_PORT": "abc", "HSI_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "server", "run"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "hsi: invalid setting HSI_PORT='abc': Input should be a valid integer, unable to parse string as an integer"
    ]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        (":America/Chicago", "America/Chicago"),  # glibc's "read this zone file" form
        ("CET-1CEST", "UTC"),  # a POSIX rule names no zone
        (None, "UTC"),
    ],
)
def test_timezone_defaults_to_tz_when_it_names_a_zone(
    monkeypatch: pytest.MonkeyPatch, tz: str | None, expected: str
) -> None:
    if tz is None:
        monkeypatch.delenv("TZ", raising=False)
    else:
        monkeypatch.setenv("TZ", tz)
    assert load_settings().timezone == expected


def test_analyze_worker_judges_time_in_the_configured_timezone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    monkeypatch.setenv("HSI_TIMEZONE", "Asia/Tokyo")
    assert home_timezone(load_settings()) == ZoneInfo("Asia/Tokyo")
    # The add-on's empty option means "Home Assistant's zone", which Supervisor passes as TZ.
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"timezone": ""}))
    monkeypatch.setenv("HSI_OPTIONS_FILE", str(options))
    assert home_timezone(load_settings()) == ZoneInfo("Europe/Berlin")


def test_media_dir_moves_thumbnails_clips_and_ingest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HSI_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.media_dir is None
    assert settings.thumbnails_dir == tmp_path / "data" / "thumbnails"

    shared = tmp_path / "shared"
    monkeypatch.setenv("HSI_MEDIA_DIR", str(shared))
    settings = load_settings()
    assert (settings.thumbnails_dir, settings.clips_dir, settings.ingest_dir) == (
        shared / "thumbnails",
        shared / "clips",
        shared / "ingest",
    )
    assert settings.postgres_dir == tmp_path / "data" / "postgres"  # the store stays private


def test_api_serves_media_a_remote_worker_wrote_to_media_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    thumbnail = tmp_path / "shared" / "thumbnails" / "front_door" / "1.jpg"
    thumbnail.parent.mkdir(parents=True)
    thumbnail.write_bytes(b"\xff\xd8")
    monkeypatch.setenv("HSI_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(ApiError):
        open_media(load_settings(), str(thumbnail), "thumbnail")  # outside every root
    monkeypatch.setenv("HSI_MEDIA_DIR", str(tmp_path / "shared"))
    with open_media(load_settings(), str(thumbnail), "thumbnail") as opened:
        assert opened.read() == b"\xff\xd8"


def test_a_variable_that_names_no_setting_is_named_with_the_one_it_resembles() -> None:
    """`HSI_RETENTION_DAY=365` (a typo) left retention at its default, silently: footage deleted after 30
    days. Such variables are named at start, with the setting meant; the settings' own are not."""
    lines = unknown_variables(
        {"HSI_RETENTION_DAY": "365", "HSI_PORT": "8000", "HSI_OPTIONS_FILE": "/data/options.json", "PATH": "/bin"}
    )
    assert lines == ["HSI_RETENTION_DAY names no setting (did you mean HSI_RETENTION_DAYS?): ignored"]
