"""The repair issue for dead letters: work the server gave up on, waiting for someone to decide.

The server dead-letters an upload or a batch only for a reason of its own (a file that kills the
decoder, say; never because a store was briefly away), and nothing retries it by itself. The stats
(REST and the `system.status` push) carry the count in `queues.dead_letter`; while it is above zero a
repair issue says how many, and where to replay or drop them (`/api/system/dead-letters`). It goes away
by itself once none are left.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .api_types import Stats
from .const import DOMAIN, ISSUE_DEAD_LETTERS


def issue_id(entry_id: str) -> str:
    """The dead-letter issue of one server."""
    return f"{ISSUE_DEAD_LETTERS}_{entry_id}"


@callback
def async_sync_dead_letter_issue(hass: HomeAssistant, entry_id: str, title: str, stats: Stats) -> None:
    """An issue with the count while the server holds dead letters; none otherwise."""
    count = stats.get("queues", {}).get("dead_letter", 0)
    if not count:
        ir.async_delete_issue(hass, DOMAIN, issue_id(entry_id))
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(entry_id),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_DEAD_LETTERS,
        translation_placeholders={"title": title, "count": str(count)},
    )


@callback
def async_remove_dead_letter_issue(hass: HomeAssistant, entry_id: str) -> None:
    """Drop the server's issue (the server was removed)."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(entry_id))
