"""`make ha`: a real Home Assistant with this integration, connected to a running `make run` server.

Run with the HA venv's Python. It writes a minimal configuration, starts `hass`, completes onboarding
through Home Assistant's own onboarding API (so the user, the token and the stored state are made by HA
itself), then adds the integration through its real config flow over the REST API. Login is bypassed
for 127.0.0.1 only (trusted_networks), which lets a headless browser open the dashboard.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DOMAIN = "home_security_intelligence"
CLIENT_ID = "http://127.0.0.1/"
CONFIGURATION = """\
homeassistant:
  name: HSI demo
  time_zone: {time_zone}
  auth_providers:
    - type: trusted_networks
      trusted_networks: [127.0.0.1/32, "::1/128"]
      allow_bypass_login: true
    - type: homeassistant
# What a new Home Assistant has (Media, Logbook, History, the recorder, mobile app, ...): the demo and
# its screenshots show the integration as users see it.
default_config:
# default_config loads go2rtc, which inside a container wants its own binary to manage (outside one it
# is skipped). HSI cameras have no stream, so an address nobody listens on lets it start without one.
go2rtc:
  url: http://127.0.0.1:11984/
http:
  server_host: 127.0.0.1
  server_port: {ha_port}
logger:
  default: warning
  logs:
    custom_components.home_security_intelligence: info
"""


def _request(url: str, *, data: Any = None, token: str | None = None, form: bool = False) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = None
    if data is not None:
        if form:
            body = "&".join(f"{k}={v}" for k, v in data.items()).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _wait_for(url: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"hass exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(1)
    raise SystemExit(f"{url} did not answer in {timeout:.0f} s")


def onboard(base: str, token_file: Path) -> str:
    """Create the owner through onboarding; return an access token."""
    code = _request(
        f"{base}/api/onboarding/users",
        data={"client_id": CLIENT_ID, "name": "Demo", "username": "demo", "password": "demo-password", "language": "en"},
    )["auth_code"]
    token = _request(
        f"{base}/auth/token", data={"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID}, form=True
    )["access_token"]
    _request(f"{base}/api/onboarding/core_config", data={}, token=token)
    _request(f"{base}/api/onboarding/analytics", data={}, token=token)
    _request(f"{base}/api/onboarding/integration", data={"client_id": CLIENT_ID, "redirect_uri": CLIENT_ID}, token=token)
    token_file.write_text(token)
    return token


def add_integration(base: str, token: str, server_port: int, api_key: str) -> None:
    """Run the integration's real config flow (user step) unless an entry exists."""
    entries = _request(f"{base}/api/config/config_entries/entry?domain={DOMAIN}", token=token)
    if entries:
        return
    flow = _request(f"{base}/api/config/config_entries/flow", data={"handler": DOMAIN}, token=token)
    result = _request(
        f"{base}/api/config/config_entries/flow/{flow['flow_id']}",
        data={"host": "127.0.0.1", "port": server_port, "ssl": False, "api_key": api_key},
        token=token,
    )
    if result.get("type") != "create_entry":
        raise SystemExit(f"config flow did not create the entry: {result}")
    print(f"integration added: {result['title']}")


def main() -> int:
    config = Path(args.config)
    config.mkdir(parents=True, exist_ok=True)
    (config / "configuration.yaml").write_text(CONFIGURATION.format(ha_port=args.ha_port, time_zone=args.time_zone))
    (config / "custom_components").mkdir(exist_ok=True)
    link = config / "custom_components" / DOMAIN
    if not link.exists():
        link.symlink_to(Path(__file__).resolve().parents[2] / "custom_components" / DOMAIN)
    base = f"http://127.0.0.1:{args.ha_port}"
    hass = subprocess.Popen([sys.executable, "-m", "homeassistant", "-c", str(config), "--skip-pip"])
    signal.signal(signal.SIGTERM, lambda *_: hass.terminate())
    try:
        _wait_for(f"{base}/manifest.json", 300, hass)
        token_file = config / ".hsi_token"
        token = token_file.read_text() if token_file.exists() else onboard(base, token_file)
        api_key = args.api_key or (Path(args.server_data) / "api_key.txt").read_text().strip()
        add_integration(base, token, args.server_port, api_key)
        print(f"Home Assistant: {base}  (login bypassed on 127.0.0.1; Ctrl-C stops it)", flush=True)
        return hass.wait()
    except KeyboardInterrupt:
        hass.send_signal(signal.SIGINT)
        return hass.wait(60)
    finally:
        if hass.poll() is None:
            hass.terminate()
            hass.wait(60)


parser = argparse.ArgumentParser()
parser.add_argument("config")
parser.add_argument("--server-data", help="the server's HSI_DATA_DIR (its first key: api_key.txt)")
parser.add_argument("--api-key", help="a key of the server (instead of --server-data's api_key.txt)")
parser.add_argument("--server-port", type=int, default=8000)
parser.add_argument("--ha-port", type=int, default=8123)
parser.add_argument(
    "--time-zone",
    default=os.environ.get("HSI_TIMEZONE") or "UTC",
    help="Home Assistant's time zone; by default the server's home zone (HSI_TIMEZONE), so both tell one time",
)
args = parser.parse_args()
if not args.api_key and not args.server_data:
    parser.error("give --server-data (its api_key.txt) or --api-key")

if __name__ == "__main__":
    sys.exit(main())
