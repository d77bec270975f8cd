"""The security card ships with the integration: served from its own folder and loaded by every
dashboard, so installing the integration is enough (no resource to add by hand).

The bundle is built from ``frontend/src`` (``npm run build`` in ``frontend/``) and committed, since
HACS installs the folder as it is; its URL carries the content's hash, so browsers never keep an old
card after an update.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant

from .const import DOMAIN

CARD_FILE = Path(__file__).parent / "frontend" / "dist" / "hsi-card.js"
CARD_URL = f"/{DOMAIN}/hsi-card.js"


async def async_register_card(hass: HomeAssistant) -> str:
    """Serve the bundle and have the frontend load it; returns the URL the frontend loads."""
    digest = await hass.async_add_executor_job(_digest, CARD_FILE)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL, str(CARD_FILE), cache_headers=True)]
    )
    url = f"{CARD_URL}?v={digest}"
    # `frontend` is an after-dependency: set up first whenever it is set up at all (always, with
    # default_config); without it there is no dashboard to put the card on.
    if "frontend" in hass.config.components:
        add_extra_js_url(hass, url)
    return url


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
