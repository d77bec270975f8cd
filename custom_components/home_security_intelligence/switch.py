"""Switch platform: enable or disable each alert rule (one per rule subentry)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import HSIError
from .const import DOMAIN, SUBENTRY_ALERT_RULE
from .coordinator import HSIConfigEntry, HSICoordinator
from .entity import HSIHubEntity

# Each toggle is one PATCH; let them run one at a time per platform.
PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HSIConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switch of each rule subentry, attached to that subentry, now and when one is added."""
    coordinator = entry.runtime_data
    added: set[str] = set()

    def _add_new_switches() -> None:
        for subentry in entry.subentries.values():
            if subentry.subentry_type != SUBENTRY_ALERT_RULE or subentry.subentry_id in added:
                continue
            added.add(subentry.subentry_id)
            async_add_entities(
                [HSIRuleSwitch(coordinator, subentry.data["rule_id"], subentry.title)],
                config_subentry_id=subentry.subentry_id,
            )

    async def _async_entry_updated(_hass: HomeAssistant, _entry: HSIConfigEntry) -> None:
        _add_new_switches()

    _add_new_switches()
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))


class HSIRuleSwitch(HSIHubEntity, SwitchEntity):
    """Whether an alert rule is enabled on the server (the server holds the truth)."""

    _attr_entity_category = EntityCategory.CONFIG
    _attr_translation_key = "rule"

    def __init__(self, coordinator: HSICoordinator, rule_id: str, title: str) -> None:
        """A rule's switch, named after the rule."""
        super().__init__(coordinator, f"rule_{rule_id}")
        self.rule_id = rule_id
        self._title = title

    @property
    def name(self) -> str:
        """The rule's current name on the server."""
        rule = self.coordinator.data.rules.get(self.rule_id)
        return str(rule.get("name", self._title)) if rule else self._title

    @property
    def available(self) -> bool:
        """Unavailable when the server no longer has the rule."""
        return super().available and self.rule_id in self.coordinator.data.rules

    @property
    def is_on(self) -> bool:
        """The rule's enabled flag."""
        return bool(self.coordinator.data.rules[self.rule_id].get("enabled", False))

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Enable the rule."""
        await self._async_set_enabled(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Disable the rule."""
        await self._async_set_enabled(False)

    async def _async_set_enabled(self, enabled: bool) -> None:
        try:
            rule = await self.coordinator.client.update_rule(self.rule_id, {"enabled": enabled})
        except HSIError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="rule_update_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        self.coordinator.store_rule(rule)
        # Listeners also write the new flag into the rule's subentry (see __init__.py).
        self.coordinator.async_update_listeners()
