"""Repair issues about the server as a whole: unreachable for long, a stand-in detector, an
incompatible version, a media disk running full.

Each is raised and cleared from what the coordinator reads (the health report, over REST or pushed
as ``system.status``), one issue per config entry. Camera issues live in camera_issues.py. (Not
named ``repairs.py``: Home Assistant loads a module of that name as a platform of fix flows.)
"""

from __future__ import annotations

from datetime import datetime

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .api_types import Health
from .const import (
    DOMAIN,
    ISSUE_DETECTOR_FALLBACK,
    ISSUE_MEDIA_DISK_LOW,
    ISSUE_UNREACHABLE,
    ISSUE_VERSION,
    MIN_SERVER_VERSION,
    SUPPORTED_SERVER_MAJOR,
    UNREACHABLE_ISSUE_AFTER,
)

#: Every issue this module raises (all are removed with the entry).
SERVER_ISSUES = (ISSUE_UNREACHABLE, ISSUE_DETECTOR_FALLBACK, ISSUE_VERSION, ISSUE_MEDIA_DISK_LOW)


def version_compatible(version: str) -> bool:
    """Whether this integration speaks the API of a server of that version."""
    try:
        parts = tuple(int(part) for part in version.split("-")[0].split(".")[:3])
    except ValueError:
        return False
    return bool(parts) and parts[0] == SUPPORTED_SERVER_MAJOR and parts >= MIN_SERVER_VERSION


def issue_id(key: str, entry_id: str) -> str:
    """The issue ``key`` of one server."""
    return f"{key}_{entry_id}"


@callback
def async_remove_server_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Drop a server's issues (its entry is going away)."""
    for key in SERVER_ISSUES:
        ir.async_delete_issue(hass, DOMAIN, issue_id(key, entry_id))


class ServerIssues:
    """The issues of one config entry's server, and how long it has been unreachable."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, url: str) -> None:
        """Issues of ``entry``, whose server answers at ``url``."""
        self.hass = hass
        self.entry = entry
        self.url = url
        self._unreachable_since: datetime | None = None

    def _raise(
        self, key: str, severity: ir.IssueSeverity, placeholders: dict[str, str]
    ) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id(key, self.entry.entry_id),
            is_fixable=False,
            severity=severity,
            translation_key=key,
            translation_placeholders={"title": self.entry.title, **placeholders},
        )

    def _clear(self, key: str) -> None:
        ir.async_delete_issue(self.hass, DOMAIN, issue_id(key, self.entry.entry_id))

    def note_unreachable(self) -> None:
        """Raise the repair issue once the outage has lasted long enough."""
        now = dt_util.utcnow()
        if self._unreachable_since is None:
            self._unreachable_since = now
        elif now - self._unreachable_since >= UNREACHABLE_ISSUE_AFTER:
            self._raise(ISSUE_UNREACHABLE, ir.IssueSeverity.ERROR, {"url": self.url})

    def note_reachable(self) -> None:
        """The server answered: the outage (if any) is over."""
        self._unreachable_since = None
        self._clear(ISSUE_UNREACHABLE)

    def check_health(self, health: Health) -> None:
        """Raise or clear the issues the health report implies (a detector standing in for
        another, the version, media disk space)."""
        detector = health["components"].get("detector")
        if detector is not None and detector.get("fallback"):
            self._raise(
                ISSUE_DETECTOR_FALLBACK,
                ir.IssueSeverity.WARNING,
                {
                    "backend": str(detector.get("backend", "unknown")),
                    "reason": str(detector.get("reason", "the server gave no reason")),
                },
            )
        else:
            self._clear(ISSUE_DETECTOR_FALLBACK)
        if version_compatible(health["version"]):
            self._clear(ISSUE_VERSION)
        else:
            self._raise(
                ISSUE_VERSION,
                ir.IssueSeverity.ERROR,
                {
                    "version": health["version"],
                    "supported": f"{SUPPORTED_SERVER_MAJOR}.x (≥ {'.'.join(map(str, MIN_SERVER_VERSION))})",
                },
            )
        storage = health["components"].get("storage")
        if storage is not None and storage["status"] == "degraded":
            self._raise(
                ISSUE_MEDIA_DISK_LOW,
                ir.IssueSeverity.WARNING,
                {"minimum": f"{storage.get('min_free_percent', 0):g}"},
            )
        else:
            self._clear(ISSUE_MEDIA_DISK_LOW)
