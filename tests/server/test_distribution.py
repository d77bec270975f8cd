"""Distribution files: the add-on, its options ↔ settings mapping, the add-on repository, HACS, GPU host."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml
from aiohttp import web
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from server import __version__
from server.addon import (
    ADDON_FIXED_SETTINGS,
    DISCOVERY_SERVICE,
    announce,
    announce_runtime,
    discovery_payload,
)
from server.apikeys import create_key, ensure_initial_key, revoke_key
from server.config import Settings
from server.detect_process import STOP_SECONDS
from server.hub import HubModel
from server.migrate import head_revision
from tests.support.pipeline import pipeline_runtime

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "home_security_intelligence"


def _yaml(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def addon() -> dict[str, Any]:
    return _yaml("addon/config.yaml")


def test_addon_config_has_required_keys(addon: dict[str, Any]) -> None:
    for key in ("name", "version", "slug", "description", "arch", "options", "schema", "ports", "map"):
        assert key in addon, key
    assert addon["version"] == __version__
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == __version__
    assert {"amd64", "aarch64"} <= set(addon["arch"])
    assert addon["ports"] == {"8000/tcp": 8000}
    assert {entry["type"] for entry in addon["map"]} >= {"share", "media", "addon_config"}
    assert addon["discovery"] == [DISCOVERY_SERVICE] == [DOMAIN]
    assert addon["watchdog"] == "http://[HOST]:[PORT:8000]/api/system/health"
    assert re.fullmatch(r"[a-z0-9_]+", addon["slug"])


def test_addon_stops_cleanly_under_supervisor(addon: dict[str, Any]) -> None:
    """A review's finding, checked against Supervisor's documented options: `init: false` (for images
    whose own init, s6-overlay, must be PID 1) made the server's Python PID 1, which ignores a SIGTERM
    it has no handler for yet and reaps no orphan (the embedded PostgreSQL's daemon); and Supervisor's
    default 10 s stop timeout is shorter than a busy detect process's stop plus the stores'."""
    assert addon.get("init", True) is True
    assert "s6" not in (ROOT / "addon/Dockerfile").read_text()  # no init of the image's own
    assert addon["timeout"] >= STOP_SECONDS + 10  # the detect process, then PostgreSQL and Redis


def _check_value(kind: Any, value: Any) -> None:
    """Validate one option value against Home Assistant's add-on schema notation."""
    if isinstance(kind, list):
        assert isinstance(value, list)
        for item in value:
            _check_value(kind[0], item)
        return
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value in ("", None):
        assert optional, f"empty value for required {kind}"
        return
    if kind in ("str", "password"):
        assert isinstance(value, str)
    elif kind == "bool":
        assert isinstance(value, bool)
    elif match := re.fullmatch(r"(int|float)\(([-\d.]*),([-\d.]*)\)", kind):
        base, low, high = match.groups()
        assert isinstance(value, int if base == "int" else (int, float)) and not isinstance(value, bool)
        assert float(low) <= value <= float(high)
    elif match := re.fullmatch(r"list\((.+)\)", kind):
        assert value in match.group(1).split("|")
    else:
        raise AssertionError(f"unknown schema type {kind}")


def test_every_option_has_a_schema_and_a_valid_default(addon: dict[str, Any]) -> None:
    assert set(addon["options"]) == set(addon["schema"])
    for name, value in addon["options"].items():
        _check_value(addon["schema"][name], value)


def test_schema_options_are_exactly_the_user_facing_settings(addon: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    assert set(addon["schema"]) <= fields, "an option that no setting reads"
    assert fields - ADDON_FIXED_SETTINGS == set(addon["schema"]), "a setting the add-on cannot set"
    assert ADDON_FIXED_SETTINGS <= fields


def test_every_option_is_translated(addon: dict[str, Any]) -> None:
    translations = _yaml("addon/translations/en.yaml")["configuration"]
    assert set(translations) == set(addon["schema"])
    assert all(entry["name"] and entry["description"] for entry in translations.values())


def _run_addon(tmp_path: Path, options: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "options.json"
    path.write_text(json.dumps(options))
    env = {"HSI_OPTIONS_FILE": str(path), "HSI_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "server", "addon"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_default_options_make_valid_settings(
    addon: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "options.json"
    path.write_text(json.dumps(addon["options"]))
    monkeypatch.setenv("HSI_OPTIONS_FILE", str(path))
    from server.config import load_addon_settings

    settings = load_addon_settings()
    assert settings.cameras_dir == Path("/share/hsi/cameras")
    assert settings.llm_url is None and settings.database_url is None  # empty options mean unset
    # A user with internet gets the real stack by name (downloaded into /data/models at first start).
    assert settings.detector_model == HubModel("PekingU/rtdetr_v2_r18vd")
    assert settings.llm_model == HubModel(
        "bartowski/Nemotron-Mini-4B-Instruct-GGUF", "Nemotron-Mini-4B-Instruct-Q4_K_M.gguf"
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "detection_confidence",
            1.5,
            "hsi: invalid option detection_confidence=1.5: Input should be less than or equal to 1",
        ),
        (
            "detector",
            "yolo",
            "hsi: invalid option detector='yolo': Input should be 'auto', 'rtdetr', 'ultralytics', 'ssd_mobilenet' or 'hog'",
        ),
        (
            "database_url",
            "mysql://db",
            "hsi: invalid option database_url='mysql://db': must be a postgresql:// URL",
        ),
        (
            "timezone",
            "Mars/Olympus",
            (
                "hsi: invalid option timezone='Mars/Olympus': unknown timezone 'Mars/Olympus': "
                "use an IANA name such as 'Europe/Berlin' or 'UTC'"
            ),
        ),
    ],
)
def test_bad_option_stops_the_addon_with_one_line(
    addon: dict[str, Any], tmp_path: Path, option: str, value: Any, message: str
) -> None:
    result = _run_addon(tmp_path, {**addon["options"], option: value})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [message]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"batch_window_seconds": 60, "batch_idle_timeout_seconds": 120},
            "hsi: invalid settings: option batch_idle_timeout_seconds must not exceed "
            "option batch_window_seconds",
        ),
        (
            {"retention_days": 5, "retention_reviewed_low_risk_days": 7},
            "hsi: invalid settings: retention must be option retention_reviewed_low_risk_days <= "
            "option retention_days <= option retention_alert_days",
        ),
    ],
)
def test_options_that_disagree_are_named_as_options(
    addon: dict[str, Any], tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    """Each value within its own range (Supervisor saves them), together refused: the line names the
    options the user typed (it named HSI_* variables, which an add-on user neither sees nor sets)."""
    result = _run_addon(tmp_path, {**addon["options"], **options})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [message]


async def test_discovery_reaches_supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, redis: aioredis.Redis
) -> None:
    """Supervisor cannot run here: a stand-in on 127.0.0.1 records what the add-on sends. The add-on
    announces its first-start key while it is active; once revoked, no key (and the file goes)."""
    received: list[tuple[str, dict[str, Any]]] = []

    async def discovery(request: web.Request) -> web.Response:
        received.append((request.headers.get("Authorization", ""), await request.json()))
        return web.json_response({"result": "ok", "data": {"uuid": "d1c0"}})

    app = web.Application()
    app.router.add_post("/discovery", discovery)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    settings = Settings(data_dir=tmp_path / "data", cameras_dir=tmp_path / "cameras", port=8000)
    try:
        uuid = await announce(
            discovery_payload("local-hsi", 8000, "k3y"),
            supervisor_url=f"http://127.0.0.1:{port}",
            token="tok",
        )
        assert uuid == "d1c0"
        monkeypatch.setenv("SUPERVISOR_TOKEN", "tok2")
        monkeypatch.setenv("SUPERVISOR_URL", f"http://127.0.0.1:{port}")
        async with pipeline_runtime(settings, db_url, redis, database_logs=False) as runtime:
            key_file = await ensure_initial_key(runtime.database.sessions, settings.data_dir)
            assert key_file is not None
            key = key_file.read_text().strip()
            await announce_runtime(runtime)
            # Revoked by a process that could not delete the file (another host, the CLI elsewhere):
            async with runtime.database.sessions() as session:
                await create_key(session, "phone")
                assert await revoke_key(session, 1) is not None
                await session.commit()
            await announce_runtime(runtime)
            assert not key_file.exists()
    finally:
        await runner.cleanup()
    assert received[0] == (
        "Bearer tok",
        {"service": DOMAIN, "config": {"host": "local-hsi", "port": 8000, "api_key": "k3y", "ssl": False}},
    )
    auth, payload = received[1]
    assert auth == "Bearer tok2"
    assert payload["config"]["api_key"] == key and payload["config"]["port"] == 8000
    assert received[2][1]["config"]["api_key"] == ""  # finding: a revoked key was still announced


async def test_discovery_rejection_is_reported() -> None:
    async def discovery(request: web.Request) -> web.Response:
        return web.json_response({"result": "error", "message": "unknown service"}, status=400)

    app = web.Application()
    app.router.add_post("/discovery", discovery)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        with pytest.raises(RuntimeError, match="Supervisor discovery failed \\(400\\)"):
            await announce(
                discovery_payload("h", 1, None),
                supervisor_url=f"http://127.0.0.1:{runner.addresses[0][1]}",
                token="t",
            )
    finally:
        await runner.cleanup()


def test_addon_dockerfile_and_run_script() -> None:
    dockerfile = (ROOT / "addon/Dockerfile").read_text()
    assert re.search(r"^FROM \S+", dockerfile, re.MULTILINE)
    assert f"ARG HSI_VERSION={__version__}" in dockerfile
    assert 'io.hass.type="addon"' in dockerfile and 'io.hass.arch="amd64|aarch64"' in dockerfile
    assert "torch==2.13.0" in dockerfile
    assert 'CMD ["/run.sh"]' in dockerfile
    assert "exec python -m server addon" in (ROOT / "addon/run.sh").read_text()
    for doc in ("DOCS.md", "CHANGELOG.md"):
        assert (ROOT / "addon" / doc).read_text().strip()
    assert f"## {__version__}" in (ROOT / "addon/CHANGELOG.md").read_text()


def test_addon_repository_file() -> None:
    repository = _yaml("repository.yaml")
    assert set(repository) == {"name", "url", "maintainer"}
    assert repository["url"].startswith("https://")


def test_hacs_rules() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert set(hacs) <= {
        "name",
        "homeassistant",
        "render_readme",
        "content_in_root",
        "zip_release",
        "filename",
        "hide_default_branch",
        "country",
        "hacs",
    }
    assert hacs["name"] and hacs["render_readme"] is True
    pinned = (ROOT / "requirements-ha-test.txt").read_text()
    ha_version = re.search(r"pytest-homeassistant-custom-component==(\S+)", pinned)
    assert ha_version, "the HA test harness pin decides which HA version we test with"
    assert hacs["homeassistant"] == "2025.4.4"  # what pytest-homeassistant-custom-component 0.13.236 pins
    integrations = [
        p for p in (ROOT / "custom_components").iterdir() if p.is_dir() and not p.name.startswith("__")
    ]
    assert [p.name for p in integrations] == [DOMAIN]
    manifest = json.loads((integrations[0] / "manifest.json").read_text())
    for key in ("domain", "name", "version", "documentation", "issue_tracker", "codeowners"):
        assert manifest.get(key), key
    assert manifest["domain"] == DOMAIN
    assert manifest["config_flow"] is True
    assert manifest["iot_class"] == "local_push" and manifest["integration_type"] == "hub"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    assert manifest.get("requirements", []) == []  # HA's own aiohttp session; nothing to install


def test_gpu_host_compose() -> None:
    compose = _yaml("deploy/gpu/compose.yaml")
    services = compose["services"]
    assert services["detect"]["command"] == ["worker", "detect"]
    assert services["analyze"]["command"] == ["worker", "analyze"]
    assert services["api"]["command"] == ["api"]
    # YAML merge keys bring in the GPU reservation, the image and the shared environment.
    gpu = services["detect"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    # Stored paths are absolute: every service sees the cameras at HSI_CAMERAS_DIR, the path it stores.
    cameras = "${HSI_CAMERAS_DIR:-/cameras}"
    for name in ("api", "watcher", "detect", "analyze", "detect-remote", "analyze-remote"):
        service = services[name]
        assert service["environment"]["HSI_CAMERAS_DIR"] == cameras
        assert f"${{HSI_CAMERAS:-./cameras}}:{cameras}" in service["volumes"]
    for name in ("detect-remote", "analyze-remote"):
        service = services[name]
        assert service["profiles"] == ["workers-only"]
        assert "HSI_DATABASE_URL" in service["environment"]
        media = service["environment"]["HSI_MEDIA_DIR"]
        assert f"${{HSI_MEDIA:-./media}}:{media}" in service["volumes"]
    # Compose interpolates services of inactive profiles too: a required variable would stop `up`.
    assert ":?" not in re.sub(r"#.*", "", (ROOT / "deploy/gpu/compose.yaml").read_text())


def test_gpu_dockerfile_compiles_cuda_in_devel_and_runs_on_runtime() -> None:
    """Docker cannot run here; the build's shape is what can be checked: nvcc exists only in -devel."""
    dockerfile = (ROOT / "deploy/gpu/Dockerfile").read_text()
    base = re.search(r"^ARG PYTORCH_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert base and "cuda" in base.group(1)
    build, runtime = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]
    assert build.startswith("${PYTORCH_IMAGE}-devel AS build\n")
    assert "-DGGML_CUDA=on" in build and "-DGGML_NATIVE=OFF" in build  # no GPU to detect at build time
    assert "COPY migrations ./migrations" in build
    assert runtime.startswith("${PYTORCH_IMAGE}-runtime\n")
    assert "COPY --from=build /wheels" in runtime and "COPY --from=build /cuda-libs" in runtime
    assert "cmake" not in runtime and "GGML" not in runtime  # nothing is compiled on the runtime image
    assert 'ENTRYPOINT ["python", "-m", "server"]' in runtime


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's wheel, built (as the add-on and GPU images build it) from a copy of the sources."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    for name in ("server", "migrations"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(work / "dist")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (built,) = (work / "dist").glob("hsi_server-*.whl")
    return built


def _sources(folder: str) -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_wheel_carries_every_module_and_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert _sources("server") <= names, "a server package missing from pyproject.toml's list"
    migrations = {f"server/{name}" for name in _sources("migrations")}
    assert {"server/migrations/env.py", "server/migrations/script.py.mako"} <= migrations <= names
    assert any(name.startswith("server/migrations/versions/0001_") for name in names)
    assert not any(name.startswith("migrations/") for name in names)  # no top-level "migrations" package


def test_installed_wheel_migrates_from_its_own_copy(wheel: Path, tmp_path: Path) -> None:
    """What the add-on image has: the package in site-packages and no repository around it."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    env = {name: value for name, value in os.environ.items() if name != "HSI_MIGRATIONS_DIR"}
    script = (
        "import server.migrate as m; print(m.__file__); print(m.MIGRATIONS_DIR); print(m.head_revision())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=tmp_path,  # not the repository root, whose server/ would shadow the installed one
        env={**env, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    module, migrations, head = result.stdout.splitlines()
    assert Path(module) == target / "server" / "migrate.py"
    assert Path(migrations) == target / "server" / "migrations"
    assert head == head_revision()


def _locked() -> dict[str, tuple[str, list[str]]]:
    """requirements-server.txt as {name: (version, hashes)}."""
    text = (ROOT / "requirements-server.txt").read_text()
    locked: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", text):
        pin = re.match(r"^([a-z0-9._-]+)==(\S+)", block)
        if pin:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
            locked[canonicalize_name(pin.group(1))] = (pin.group(2), hashes)
    return locked


def test_the_server_lock_pins_every_dependency_with_hashes() -> None:
    """Finding: floors only (`aiohttp>=3.11` admitted releases without the request-smuggling fixes)
    and no lock for the server's images. The lock pins each dependency of the server (with the
    images' extras, torch aside: it comes from PyTorch's CPU index), exactly, with file hashes."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(text) for text in project["dependencies"]]
    extras = project["optional-dependencies"]
    wanted += [Requirement(text) for extra in ("detect", "llm") for text in extras[extra]]
    locked = _locked()
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        if name == "torch":
            assert name not in locked
            continue
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)
        assert hashes, name
    assert all(hashes for _version, hashes in locked.values())
    cuda = [name for name in locked if name.startswith(("nvidia-c", "cuda-", "triton"))]
    assert cuda == []  # the CPU set (nvidia-ml-py, GPU statistics, works without a GPU)
    floors = {canonicalize_name(r.name): r.specifier for r in wanted}
    assert not floors["aiohttp"].contains("3.14.2") and not floors["pillow"].contains("11.2.1")
    # CI tests what the images install: the server venv has exactly the locked versions.
    for name, (version, _hashes) in locked.items():
        assert importlib.metadata.version(name) == version, name


@pytest.mark.parametrize("dockerfile", ["addon/Dockerfile", "deploy/gpu/Dockerfile"])
def test_images_install_the_lock_with_hashes(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    assert re.search(r"pip install --require-hashes --no-deps -r \S*requirements-server\.txt", text)
    assert "pip check" in text
    assert not re.search(r'pip install [^\n]*"(transformers|safetensors|llama-cpp-python)[>=]', text)
