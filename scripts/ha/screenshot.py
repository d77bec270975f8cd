"""Screenshot of the `make ha` dashboard in headless Chromium, driven over the DevTools protocol.

    .venv-ha/bin/python scripts/ha/screenshot.py docs/dashboard.png [--url http://127.0.0.1:8123/lovelace/0]
    .venv-ha/bin/python scripts/ha/screenshot.py docs/media.png --url <a media browser page> --wait-text "Older"

Needs Debian's chromium (`apt-get install chromium`). Chromium's own `--screenshot` flag shoots
before Home Assistant's frontend has rendered (its WebSocket keeps the page "loading"), so this
opens the page, waits until the dashboard shows entity cards (or, with `--wait-text`, until that
text shows anywhere on the page), then captures it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
from pathlib import Path
import shutil
import subprocess
import tempfile
from typing import Any

import aiohttp

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
#: True once the default dashboard has rendered cards with entity rows (it lives in shadow DOMs).
RENDERED = """
(() => {
  const seen = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName.startsWith('HUI-') && el.tagName.endsWith('-ENTITY-ROW')) seen.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return seen.length;
})()
"""


#: True once the page shows a text (searched through the shadow DOMs, where the frontend renders).
TEXT_SHOWN = """
(() => {
  const wanted = %s;
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot && walk(el.shadowRoot)) return true;
      if (!el.children.length && (el.textContent || '').includes(wanted)) return true;
    }
    return false;
  };
  return walk(document) ? 1 : 0;
})()
"""


async def capture(
    url: str, output: Path, width: int, height: int, timeout: float, wait_text: str | None = None
) -> int:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--remote-debugging-port=0", "about:blank"],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stderr is not None
            endpoint = ""
            while not endpoint:
                line = await asyncio.to_thread(process.stderr.readline)
                if not line:
                    raise SystemExit("chromium exited before opening its DevTools endpoint")
                if line.startswith("DevTools listening on "):
                    endpoint = line.split(" on ", 1)[1].strip()
            port = endpoint.split(":")[2].split("/")[0]
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                    page = next(t for t in await response.json() if t["type"] == "page")
                async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    ids = itertools.count(1)

                    async def call(method: str, **params: Any) -> dict[str, Any]:
                        message_id = next(ids)
                        await ws.send_json({"id": message_id, "method": method, "params": params})
                        async for message in ws:
                            data = json.loads(message.data)
                            if data.get("id") == message_id:
                                return dict(data.get("result", {}))
                        raise SystemExit("DevTools connection closed")

                    await call("Page.navigate", url=url)
                    rows = 0
                    async with asyncio.timeout(timeout):
                        while rows == 0:
                            await asyncio.sleep(1)
                            expression = RENDERED if wait_text is None else TEXT_SHOWN % json.dumps(wait_text)
                            result = await call("Runtime.evaluate", expression=expression, returnByValue=True)
                            rows = int(result.get("result", {}).get("value") or 0)
                    await asyncio.sleep(2)  # images (camera snapshots) finish loading
                    shot = await call("Page.captureScreenshot", format="png")
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(base64.b64decode(shot["data"]))
            return rows
        finally:
            process.terminate()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8123/lovelace/0")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1100)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--wait-text", default=None, help="capture once the page shows this text")
    args = parser.parse_args()
    rows = asyncio.run(capture(args.url, args.output, args.width, args.height, args.timeout, args.wait_text))
    print(f"{args.output}: " + (f"dashboard with {rows} entity rows" if args.wait_text is None else "captured"))


if __name__ == "__main__":
    main()
