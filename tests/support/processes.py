"""Real server processes for the tests: `python -m server …` as an operator starts it, on the test's stores."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(**settings: str) -> dict[str, str]:
    """This process's environment without any HSI_* of the caller's shell, plus `settings`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("HSI_")}, **settings}


def start_server(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m server <args>`, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "server", *args], cwd=REPO, env=env, stdout=out, stderr=out
        )


def stop_server(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, and the clean exit a stopping server owes."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0, log.read_text()[-3000:]


def health(port: int, data_dir: Path | None = None) -> dict[str, Any] | None:
    """`GET /api/system/health` (any status), or None while nothing listens. With the server's
    `data_dir`, its first-start key goes along: the open report shows each part's state only (no
    reasons, workers or downloads)."""
    key_file = data_dir / "api_key.txt" if data_dir is not None else None
    key = key_file.read_text().strip() if key_file is not None and key_file.is_file() else ""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/system/health", headers={"X-API-Key": key} if key else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        return json.loads(err.read())
    except OSError:
        return None


def roles_ready(report: dict[str, Any] | None) -> bool:
    """A health report (with the key) in which a detect and an analyze worker have published their
    health, their models loaded (a worker says "starting" while it loads)."""
    components = (report or {}).get("components", {})
    return all(
        components.get(name, {}).get("workers") and components[name]["status"] != "starting"
        for name in ("detector", "analyzer")
    )
