"""The Home Assistant add-on's entry point: options → settings, run everything, announce to HA.

Supervisor writes the user's options to /data/options.json; `python -m server addon` validates them
(a bad one stops the add-on with one line in its log naming the option), runs every role, and then
announces the API (host, port, API key) through Supervisor discovery so the integration's `hassio`
step only asks the user to confirm.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any

import aiohttp

from server import apikeys
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.addon")

DISCOVERY_SERVICE = "home_security_intelligence"

#: Settings the add-on fixes itself (Dockerfile ENV), so they are not user options: where its data
#: lives and the address inside the container are Supervisor's business; the GPU and queue knobs mean
#: nothing in an add-on, which gets no GPU; the cleanup always runs there, at its own pace (how long
#: things are kept is the user's: the retention_* days and media_min_free_percent are options).
ADDON_FIXED_SETTINGS = frozenset(
    {
        "data_dir",
        "host",
        "port",
        "detector_device",
        "detector_batch_wait_ms",
        "detect_process",  # auto: a process of its own where the add-on has more than one CPU
        "llm_gpu_layers",
        "queue_max_len",
        "stream_max_retries",
        "gpu_stats_interval_seconds",
        "retention_enabled",
        "retention_interval_seconds",
        "retention_batch_size",
        "retention_gpu_full_hours",
        "retention_gpu_bucket_minutes",
        "retention_gpu_days",
    }
)
SUPERVISOR_URL = "http://supervisor"


def discovery_payload(host: str, port: int, api_key: str | None) -> dict[str, Any]:
    """What the integration's `async_step_hassio` receives as `discovery_info.config`."""
    return {
        "service": DISCOVERY_SERVICE,
        "config": {"host": host, "port": port, "api_key": api_key or "", "ssl": False},
    }


async def announce(
    payload: dict[str, Any], *, supervisor_url: str, token: str, timeout: float = 10.0
) -> str:
    """POST the payload to Supervisor's discovery endpoint; returns the discovery uuid."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async with session.post(
            f"{supervisor_url}/discovery",
            json=payload,
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            text = await response.text()
            try:
                body = json.loads(text)
            except ValueError:  # an error page (Supervisor's 500, a proxy's 502)
                body = None
            if response.status >= 400 or not isinstance(body, dict) or body.get("result") != "ok":
                raise RuntimeError(f"Supervisor discovery failed ({response.status}): {text[:200]!r}")
            return str(body.get("data", {}).get("uuid", ""))


async def announceable_key(runtime: Runtime) -> str | None:
    """The first-start key from `api_key.txt` if it is still active; a revoked one (revoked while
    the add-on was stopped, or by a process that could not delete the file) is deleted instead."""
    key_file = runtime.settings.data_dir / apikeys.KEY_FILE_NAME
    try:
        api_key = key_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not api_key:
        return None
    async with runtime.database.sessions() as session:
        check = await apikeys.authenticate(session, api_key)
    if check.ok:
        return api_key
    if check.key is not None:
        apikeys.forget_key_file(runtime.settings.data_dir, check.key)
    _LOGGER.warning("not announcing the key in %s to Home Assistant: it is %s", key_file, check.reason)
    return None


async def announce_runtime(runtime: Runtime) -> None:
    """Announce this add-on to Home Assistant; a failure is logged, never fatal."""
    token = os.environ.get("SUPERVISOR_TOKEN")
    if not token:
        _LOGGER.info("no SUPERVISOR_TOKEN: not running under Supervisor, skipping discovery")
        return
    try:
        key = await announceable_key(runtime)
        payload = discovery_payload(socket.gethostname(), runtime.settings.port, key)
        uuid = await announce(
            payload, supervisor_url=os.environ.get("SUPERVISOR_URL", SUPERVISOR_URL), token=token
        )
    except Exception as err:  # never fatal: the add-on serves all the same, HA can be set up by hand
        _LOGGER.warning("could not announce to Home Assistant: %s", err)
        return
    _LOGGER.info("announced to Home Assistant (discovery %s)", uuid)
