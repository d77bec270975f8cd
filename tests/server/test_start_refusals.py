"""Starts that cannot work are refused with one line, and leave a running server alone: an API address
that cannot be bound, a second server on one data directory, an empty data directory or class list.
Real `python -m server` processes, as an operator starts them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from server.config import SettingsError, load_settings
from tests.support.processes import REPO, free_port, health, server_env, start_server


def _env(tmp_path: Path, data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    cameras = tmp_path / "cameras"
    cameras.mkdir(exist_ok=True)
    return server_env(
        HSI_DATA_DIR=str(data_dir),
        HSI_CAMERAS_DIR=str(cameras),
        HSI_HOST="127.0.0.1",
        HSI_PORT=str(port),
        HSI_DETECTOR="hog",
        HSI_LLM="rules",
        **extra,
    )


def _processes_using(path: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if str(path) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def _cleanup_stores(data_dir: Path) -> None:
    """Whatever a failed test left under `data_dir` (only processes of this test's own folder)."""
    for proc in _processes_using(data_dir):
        try:
            proc.terminate()
        except psutil.Error:
            pass


def _wait_healthy(server: subprocess.Popen[bytes], port: int, data_dir: Path, log: Path) -> dict:
    deadline = time.monotonic() + 180
    report = None
    while time.monotonic() < deadline and report is None:
        assert server.poll() is None, log.read_text()[-3000:]
        report = health(port, data_dir)
        time.sleep(0.3)
    assert report is not None, log.read_text()[-3000:]
    return report


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# -- a port already in use, an address that cannot be bound -------------------------------------------


@pytest.mark.parametrize("case", ["port_in_use", "unresolvable_host"])
def test_an_api_address_that_cannot_be_bound_is_one_line_and_leaves_nothing_running(
    tmp_path: Path, case: str
) -> None:
    """`HSI_PORT=8000` while another program (or a first HSI) listens on 8000, or a typo in `HSI_HOST`:
    one line naming the setting, as for every other bad setting, not a Python traceback."""
    data_dir = tmp_path / "data"
    port = free_port()
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    env = _env(tmp_path, data_dir, port)
    if case == "unresolvable_host":
        env["HSI_HOST"] = "no-such-host.invalid"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "server", "api"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        holder.close()
    try:
        assert result.returncode != 0, result.stderr[-2000:]
        assert "Traceback" not in result.stderr, (
            f"{case}: the operator gets a Python traceback instead of one line naming HSI_PORT/HSI_HOST:\n"
            + result.stderr[-1500:]
        )
        setting = "HSI_PORT" if case == "port_in_use" else "HSI_HOST"
        assert setting in result.stderr, result.stderr[-1500:]
        time.sleep(1.0)
        assert _processes_using(data_dir) == [], "the failed start left embedded stores running"
    finally:
        _cleanup_stores(data_dir)


# -- a second server on the same data directory --------------------------------------------------------


def test_a_second_server_on_the_same_data_directory_does_not_take_the_first_ones_redis(
    tmp_path: Path,
) -> None:
    """The same command started twice (a systemd unit and a shell, a compose `up` beside a manual run):
    the second is refused with one line, and the first goes on as before. It used to take the first's
    embedded Redis for a killed server's leftover and stop it: queued uploads, batches, health all gone."""
    data_dir = tmp_path / "data"
    port = free_port()
    env = _env(tmp_path, data_dir, port)
    log = tmp_path / "first.log"
    first = start_server(["api"], env, log)
    try:
        report = _wait_healthy(first, port, data_dir, log)
        assert report["components"]["redis"]["status"] == "healthy", report

        second = subprocess.run(
            [sys.executable, "-m", "server", "api"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert second.returncode != 0, "two servers listened on one port"
        assert "another HSI server" in second.stderr and "Traceback" not in second.stderr, second.stderr[
            -2000:
        ]
        time.sleep(2.0)
        assert first.poll() is None, log.read_text()[-3000:]
        after = health(port, data_dir)
        assert after is not None
        assert after["components"]["redis"]["status"] == "healthy", (
            "after a second `python -m server api` on the same data directory failed to start, the "
            f"running server's Redis is gone: {after['components']['redis']}"
        )
    finally:
        _stop(first)
        _cleanup_stores(data_dir)


# -- settings accepted but meaningless ----------------------------------------------------------------


def _settings_from(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> SettingsError:
    for unset in ("HSI_OPTIONS_FILE", "HSI_DATABASE_URL", "HSI_REDIS_URL"):
        monkeypatch.delenv(unset, raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert name in str(refused.value), refused.value
    return refused.value


def test_an_empty_data_dir_is_refused_not_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """`HSI_DATA_DIR=` (a compose file's `${HSI_DATA_DIR}` with the variable unset) put the database, Redis
    and the API key in the working directory: a new server, a new instance id, at the next restart."""
    _settings_from(monkeypatch, "HSI_DATA_DIR", "  ")


def test_an_empty_detection_class_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """`HSI_DETECTION_CLASSES=` (or every item removed from the add-on's list) made every box dropped: a
    green server that never detects anything. The fast-path and stationary-exempt lists may be empty."""
    _settings_from(monkeypatch, "HSI_DETECTION_CLASSES", " , ")
    monkeypatch.setenv("HSI_DETECTION_CLASSES", "person")
    monkeypatch.setenv("HSI_FAST_PATH_OBJECT_TYPES", "")
    assert load_settings().fast_path_object_types == []
