"""Repair issues for disconnected cameras: which camera, and since when.

The server decides when a camera is disconnected (silent far beyond its own upload pattern, learned
from its uploads); the connectivity sensor shows it, and while it lasts a repair issue says which
camera of which server has been silent since when. The issue goes away by itself with the camera's
next upload, or with the camera.
"""

from __future__ import annotations

from collections.abc import Iterable

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .api_types import Camera
from .const import DOMAIN, ISSUE_CAMERA_OFFLINE


def issue_id(entry_id: str, camera_id: str) -> str:
    """The issue of one camera of one server."""
    return f"{ISSUE_CAMERA_OFFLINE}_{entry_id}_{camera_id}"


@callback
def async_sync_camera_issues(
    hass: HomeAssistant, entry_id: str, title: str, cameras: Iterable[Camera]
) -> None:
    """An issue for each offline camera; none for the others or for cameras that are gone."""
    wanted: set[str] = set()
    for camera in cameras:
        if camera.get("status") != "offline":
            continue
        wanted.add(issue_id(entry_id, camera["id"]))
        since = camera.get("last_seen_at") or camera.get("created_at")
        parsed = dt_util.parse_datetime(since) if since else None
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id(entry_id, camera["id"]),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_CAMERA_OFFLINE,
            translation_placeholders={
                "camera": camera["name"],
                "title": title,
                "since": dt_util.as_local(parsed).strftime("%Y-%m-%d %H:%M") if parsed else "unknown",
            },
        )
    async_remove_camera_issues(hass, entry_id, keep=wanted)


@callback
def async_remove_camera_issues(hass: HomeAssistant, entry_id: str, keep: set[str] | None = None) -> None:
    """Drop this server's camera issues (all of them, or all but `keep`)."""
    prefix = f"{ISSUE_CAMERA_OFFLINE}_{entry_id}_"
    registry = ir.async_get(hass)
    for domain, found in list(registry.issues):
        if domain == DOMAIN and found.startswith(prefix) and found not in (keep or set()):
            ir.async_delete_issue(hass, DOMAIN, found)
