"""The dead-letter repair issue, against a real server: raised with the count while the server holds dead
letters, gone once they are dropped through the server's API.

A real server makes dead letters only from entries that fail for a reason of their own, which no
upload here can produce on demand; so two are written into the server's own Redis as its streams write
them, and dropped through `/api/system/dead-letters`.
"""

from __future__ import annotations

import asyncio
import subprocess

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN
from custom_components.home_security_intelligence.coordinator import HSICoordinator

from .hsi_server import SERVER_PYTHON, HSIServer


#: Dead-letters two entries as the server's streams do (`RedisStream._dead_letter`), in the server's
#: own Redis; run by the server's Python, which has the Redis client (this venv has not).
_DEAD_LETTER_TWO = """
import sys, redis
client = redis.Redis(unix_socket_path=sys.argv[1])
for n in range(2):
    client.xadd("hsi:detect:dead", {"camera_id": "porch", "file_path": f"/cams/{n}.jpg",
        "error": "ValueError: cannot be read", "entry_id": f"{n + 1}-0", "stream": "hsi:detect", "attempts": "5"})
"""


async def test_dead_letter_issue_counts_and_clears(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    issue_id = f"dead_letters_{config_entry.entry_id}"
    assert (DOMAIN, issue_id) not in ir.async_get(hass).issues

    socket = hsi_server.data_dir / "redis" / "redis.sock"
    await asyncio.to_thread(
        subprocess.run, [str(SERVER_PYTHON), "-c", _DEAD_LETTER_TWO, str(socket)], check=True
    )
    coordinator: HSICoordinator = config_entry.runtime_data
    await coordinator.async_refresh()
    issue = ir.async_get(hass).issues.get((DOMAIN, issue_id))
    assert issue is not None and issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {"title": config_entry.title, "count": "2"}
    translations = await async_get_translations(hass, "en", "issues", {DOMAIN})
    text = translations[f"component.{DOMAIN}.issues.dead_letters.description"].format(
        **issue.translation_placeholders
    )
    assert text.startswith("2 uploads or batches") and "/api/system/dead-letters" in text

    listed = await hsi_server.request("GET", "/api/system/dead-letters", expect=200)
    assert [item["fields"]["file_path"] for item in listed["items"]] == ["/cams/0.jpg", "/cams/1.jpg"]
    for item in listed["items"]:
        await hsi_server.request("DELETE", f"/api/system/dead-letters/detect/{item['id']}", expect=204)
    await coordinator.async_refresh()
    assert (DOMAIN, issue_id) not in ir.async_get(hass).issues
