"""What an operator does beside a running server must not hurt it: a settings error names the setting
without its password, a Supervisor error page does not stop the add-on, a `keys` command beside the
running server leaves its embedded PostgreSQL running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
from aiohttp import web

from server.addon import announce_runtime
from server.config import Settings, SettingsError, load_addon_settings, load_settings
from tests.support.processes import REPO, free_port, health, server_env, start_server


# -- secrets in the one-line settings error ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HSI_DATABASE_URL", "postgresq://hsi:s3cr3t-pw@db:5432/hsi"),  # a typo in the scheme
        ("HSI_DATABASE_URL", "mysql://hsi:s3cr3t-pw@db/hsi"),
        ("HSI_REDIS_URL", "http://:s3cr3t-pw@redis:6379/0"),
    ],
)
def test_a_bad_store_url_is_named_without_printing_its_password(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """The line goes to stderr / the add-on log (often pasted into an issue): it names the variable and
    what is wrong, never the password inside the URL."""
    for variable in ("HSI_DATABASE_URL", "HSI_REDIS_URL", "HSI_OPTIONS_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert name in message
    assert "s3cr3t-pw" not in message, message


def test_a_bad_store_url_option_is_named_without_printing_its_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    options = tmp_path / "options.json"
    options.write_text('{"database_url": "postgress://hsi:s3cr3t-pw@core-postgres/hsi"}')
    monkeypatch.setenv("HSI_OPTIONS_FILE", str(options))
    with pytest.raises(SettingsError) as caught:
        load_addon_settings()
    message = str(caught.value)
    assert "option database_url" in message
    assert "s3cr3t-pw" not in message, message


@pytest.mark.parametrize("command", [["keys", "list"], ["migrate"]])
@pytest.mark.parametrize(
    "url",
    ["postgresql://hsi:s3cr3t-pw@127.0.0.1:1/hsi", "postgresql://hsi:s3cr3t-pw@no-such-host.invalid:5432/hsi"],
    ids=["refused", "unknown-host"],
)
def test_an_operator_command_with_the_database_away_says_so_in_one_line(
    tmp_path: Path, url: str, command: list[str]
) -> None:
    """The finding (a review, then tried): `keys` or `migrate` with the database down, or a typo in its
    host, ended in a 160-line trace through alembic and asyncpg; a settings error gets one line."""
    env = server_env(HSI_DATABASE_URL=url, HSI_REDIS_URL="redis://127.0.0.1:1", HSI_DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "server", *command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "s3cr3t-pw" not in result.stderr, result.stderr[-800:]
    assert result.stderr.strip().splitlines()[-1].startswith("hsi: cannot reach the database: "), result.stderr


# -- discovery: "a failure is logged, never fatal" -------------------------------------------------------


async def test_a_non_json_supervisor_answer_does_not_crash_the_addon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Supervisor (aiohttp) answers an internal error, a proxy a gateway error, with a text body.
    `announce_runtime` runs as serve()'s on_ready: anything it raises stops the whole add-on right
    after it started (and the watchdog restarts it into the same crash)."""

    async def discovery(request: web.Request) -> web.Response:
        return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")

    app = web.Application()
    app.router.add_post("/discovery", discovery)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    monkeypatch.setenv("SUPERVISOR_TOKEN", "tok")
    monkeypatch.setenv("SUPERVISOR_URL", f"http://127.0.0.1:{runner.addresses[0][1]}")
    settings = Settings(data_dir=tmp_path / "data", cameras_dir=tmp_path / "cameras", port=8000)
    runtime = SimpleNamespace(settings=settings)  # no api_key.txt: the database is never asked
    try:
        await announce_runtime(runtime)  # type: ignore[arg-type]
    finally:
        await runner.cleanup()


# -- embedded PostgreSQL shared with the CLI ---------------------------------------------------------------


def _postmaster(data_dir: Path) -> psutil.Process | None:
    lock = data_dir / "postgres" / "postmaster.pid"
    try:
        return psutil.Process(int(lock.read_text().splitlines()[0]))
    except (OSError, IndexError, ValueError, psutil.Error):
        return None


def test_keys_cli_beside_a_running_server_leaves_its_database_running(tmp_path: Path) -> None:
    """docs/home-assistant.md: "create one on the server: `python -m server keys create home-assistant`".
    With the embedded stores, the CLI attaches to the running server's cluster; when it exits it must
    not stop that cluster under the server (`EmbeddedPostgres._clear_leftovers` empties the cluster's
    list of users, so the CLI believes it is the last one and stops PostgreSQL)."""
    port = free_port()
    data_dir = tmp_path / "data"
    env = server_env(
        HSI_DATA_DIR=str(data_dir),
        HSI_CAMERAS_DIR=str(tmp_path / "cameras"),
        HSI_HOST="127.0.0.1",
        HSI_PORT=str(port),
        HSI_DETECTOR="hog",
        HSI_LLM="rules",
    )
    (tmp_path / "cameras").mkdir()
    log = tmp_path / "server.log"
    server = start_server(["api"], env, log)
    try:
        deadline = time.monotonic() + 120
        report = None
        while time.monotonic() < deadline and report is None:
            assert server.poll() is None, log.read_text()[-3000:]
            report = health(port, data_dir)
            time.sleep(0.3)
        assert report is not None, log.read_text()[-3000:]
        postmaster = _postmaster(data_dir)
        assert postmaster is not None and postmaster.is_running()

        result = subprocess.run(
            [sys.executable, "-m", "server", "keys", "create", "home-assistant"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        time.sleep(1.0)
        alive = postmaster.is_running() and postmaster.status() != psutil.STATUS_ZOMBIE
        assert alive, "the CLI stopped the running server's PostgreSQL"
        after = health(port, data_dir)
        assert after is not None
        assert after["components"]["database"]["status"] == "healthy", after
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        leftover = _postmaster(data_dir)
        if leftover is not None and leftover.is_running() and leftover.name() == "postgres":
            leftover.terminate()
