"""Config flow (user, reauth, reconfigure, Supervisor discovery) and rule/zone subentry flows.

Every step that takes connection details proves them against the server before saving: the
open health endpoint gives the instance id (the entry's unique id, so the same server is never
added twice and reconfigure cannot switch servers), the stats endpoint proves the key.
"""

from __future__ import annotations

from collections.abc import Mapping
import ipaddress
from typing import Any

import voluptuous as vol
from yarl import URL

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    ColorRGBSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
    TimeSelector,
)
from homeassistant.helpers.service_info.hassio import HassioServiceInfo

from .api import (
    HSIAuthError,
    HSIClient,
    HSIConnectionError,
    HSIError,
    HSIResponseError,
)
from .api_types import Health
from .const import (
    CHANNELS,
    CONF_API_KEY,
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_VERIFY_SSL,
    DEFAULT_NAME,
    DEFAULT_PORT,
    DOMAIN,
    LOGGER,
    LOITERING_CLASSES,
    MAX_COOLDOWN_SECONDS,
    OBJECT_TYPES,
    SEVERITIES,
    SEVERITY_FROM_RISK,
    SUBENTRY_ALERT_RULE,
    SUBENTRY_OBJECT_FILTERS,
    SUBENTRY_ZONE,
    WEEKDAYS,
    ZONE_PRIORITY_MAX,
    ZONE_PRIORITY_MIN,
    ZONE_SHAPES,
    ZONE_TYPES,
)
from .coordinator import HSICoordinator
from .filters_flow import ObjectFiltersSubentryFlow
from .subentry_flow import HSISubentryFlow
from .subentry_data import (
    ZONE_FIELDS,
    format_coordinates,
    hex_to_rgb,
    loitering_body,
    parse_coordinates,
    rgb_to_hex,
    rule_body_from_form,
    rule_form_defaults,
    rule_to_subentry_data,
    webhook_secret_missing,
    zone_to_subentry_data,
)

DEFAULT_ZONE_COLOR = "#3B82F6"

CONNECTION_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): TextSelector(),
        vol.Required(CONF_PORT, default=DEFAULT_PORT): vol.All(
            NumberSelector(
                NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)
            ),
            vol.Coerce(int),
        ),
        vol.Required(CONF_SSL, default=False): BooleanSelector(),
        vol.Required(CONF_VERIFY_SSL, default=True): BooleanSelector(),
        vol.Required(CONF_API_KEY): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        ),
    }
)
API_KEY_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_API_KEY): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        )
    }
)


def connection_data(user_input: Mapping[str, Any]) -> dict[str, Any] | None:
    """The connection as typed, put right: a host pasted with a scheme (which then decides HTTPS), a
    port, brackets, a trailing slash or spaces is the host alone. None when it is no host at all (a
    path, a query, credentials, another scheme)."""
    data = {**user_input, CONF_PORT: int(user_input[CONF_PORT])}
    typed = str(user_input[CONF_HOST]).strip()
    try:
        ipaddress.ip_address(typed)  # an IPv6 address without brackets, as it is
    except ValueError:
        pass
    else:
        return {**data, CONF_HOST: typed}
    try:
        url = URL(typed if "://" in typed else f"//{typed}")
        port = url.explicit_port
    except ValueError:
        return None
    if not url.host or url.path not in ("", "/") or url.query_string or url.fragment or url.user:
        return None
    if url.scheme:
        if url.scheme not in ("http", "https"):
            return None
        data[CONF_SSL] = url.scheme == "https"
    if port is not None:
        data[CONF_PORT] = port
    return {**data, CONF_HOST: url.host}


async def validate_connection(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> tuple[Health | None, dict[str, str]]:
    """Check that the server answers and accepts the key; return its health or errors."""
    try:
        client = HSIClient(
            async_get_clientsession(hass, verify_ssl=data.get(CONF_VERIFY_SSL, True)),
            data[CONF_HOST],
            int(data[CONF_PORT]),
            data[CONF_API_KEY],
            ssl=bool(data.get(CONF_SSL, False)),
        )
    except ValueError:  # a host no URL can hold
        return None, {CONF_HOST: "invalid_host"}
    try:
        health = await client.health()
        await client.stats()
    except HSIAuthError:
        return None, {"base": "invalid_auth"}
    except HSIConnectionError:
        return None, {"base": "cannot_connect"}
    except HSIResponseError:
        return None, {"base": "not_hsi"}
    except Exception:  # noqa: BLE001 - the flow must show an error, never crash
        LOGGER.exception("Unexpected error validating the server")
        return None, {"base": "unknown"}
    return health, {}


async def _accepts_key(client: HSIClient) -> bool:
    """Whether the server takes the client's key (its stats need one); False also when it cannot say."""
    try:
        await client.stats()
    except HSIError:
        return False
    return True


class HSIConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a Home Security Intelligence server."""

    VERSION = 1
    #: 2: object filters subentries' unique ids carry FILTERS_UNIQUE_ID_PREFIX (`async_migrate_entry`).
    MINOR_VERSION = 2

    def __init__(self) -> None:
        """Hold discovery data between the hassio and confirm steps."""
        self._discovered: dict[str, Any] = {}
        self._addon_name = DEFAULT_NAME
        #: The discovered key is accepted by the add-on (else the confirm step asks for one).
        self._key_works = False

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Alert rules, zones and cameras' object filters are subentries of a server."""
        return {
            SUBENTRY_ALERT_RULE: AlertRuleSubentryFlow,
            SUBENTRY_ZONE: ZoneSubentryFlow,
            SUBENTRY_OBJECT_FILTERS: ObjectFiltersSubentryFlow,
        }

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for host, port, SSL and the API key, and prove them."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = connection_data(user_input)
            health, errors = (
                await validate_connection(self.hass, data)
                if data is not None
                else (None, {CONF_HOST: "invalid_host"})
            )
            if health is not None and data is not None:
                await self.async_set_unique_id(health["instance_id"])
                self._abort_if_unique_id_configured(
                    updates={key: data[key] for key in (CONF_HOST, CONF_PORT, CONF_SSL, CONF_VERIFY_SSL)}
                )
                return self.async_create_entry(title=DEFAULT_NAME, data=data)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(CONNECTION_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_hassio(
        self, discovery_info: HassioServiceInfo
    ) -> ConfigFlowResult:
        """The add-on announced itself (with its key): the user only confirms."""
        config = discovery_info.config
        self._discovered = {
            CONF_HOST: config[CONF_HOST],
            CONF_PORT: int(config[CONF_PORT]),
            CONF_SSL: bool(config.get(CONF_SSL, False)),
            CONF_VERIFY_SSL: True,
            CONF_API_KEY: config[CONF_API_KEY],
        }
        self._addon_name = discovery_info.name or DEFAULT_NAME
        client = HSIClient(
            async_get_clientsession(self.hass),
            self._discovered[CONF_HOST],
            self._discovered[CONF_PORT],
            self._discovered[CONF_API_KEY],
            ssl=self._discovered[CONF_SSL],
        )
        try:
            health = await client.health()
        except HSIError:
            return self.async_abort(reason="cannot_connect")
        await self.async_set_unique_id(health["instance_id"])
        # The add-on may have moved (new host/port) or rotated its key: follow it. It announces no
        # key when its first one was revoked (the entry's own may work): one that does not work is
        # never put in place of the entry's.
        self._key_works = bool(self._discovered[CONF_API_KEY]) and await _accepts_key(client)
        updates = dict(self._discovered)
        if not self._key_works:
            del updates[CONF_API_KEY]
        self._abort_if_unique_id_configured(updates=updates)
        self.context["title_placeholders"] = {"name": self._addon_name}
        return await self.async_step_hassio_confirm()

    async def async_step_hassio_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm adding the discovered add-on (with a key of its, when it announced none that works)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**self._discovered, **user_input}
            health, errors = await validate_connection(self.hass, data)
            if health is not None:
                return self.async_create_entry(title=self._addon_name, data=data)
        return self.async_show_form(
            step_id="hassio_confirm",
            data_schema=None if self._key_works else API_KEY_SCHEMA,
            description_placeholders={"addon": self._addon_name},
            errors=errors,
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The server rejected the key: ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Prove and save the new key."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_API_KEY: user_input[CONF_API_KEY]}
            health, errors = await validate_connection(self.hass, data)
            if health is not None:
                await self.async_set_unique_id(health["instance_id"])
                self._abort_if_unique_id_mismatch(reason="wrong_server")
                return self.async_update_reload_and_abort(entry, data=data)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=API_KEY_SCHEMA,
            description_placeholders={"host": str(entry.data[CONF_HOST])},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change host, port, SSL or key of the same server."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = connection_data(user_input)
            health, errors = (
                await validate_connection(self.hass, data)
                if data is not None
                else (None, {CONF_HOST: "invalid_host"})
            )
            if health is not None and data is not None:
                await self.async_set_unique_id(health["instance_id"])
                self._abort_if_unique_id_mismatch(reason="wrong_server")
                return self.async_update_reload_and_abort(entry, data=data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                CONNECTION_SCHEMA, user_input or dict(entry.data)
            ),
            errors=errors,
        )


class AlertRuleSubentryFlow(HSISubentryFlow):
    """Create or change an alert rule on the server."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """New rule."""
        return await self._async_rule_form("user", user_input, None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change an existing rule, starting from the server's current version of it."""
        return await self._async_rule_form("reconfigure", user_input, self._reconfigure_current())

    async def _async_rule_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        current: Mapping[str, Any] | None,
    ) -> SubentryFlowResult:
        coordinator = self._coordinator()
        if coordinator is None:
            return self.async_abort(reason="entry_not_loaded")
        schema = self._schema(coordinator)
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"message": ""}
        if user_input is not None:
            if bool(user_input.get("start_time")) != bool(user_input.get("end_time")):
                errors["end_time" if user_input.get("start_time") else "start_time"] = "time_pair"
            elif webhook_secret_missing(user_input, current):
                errors["webhook_secret"] = "secret_required"
            else:
                # An empty zone: Home Assistant's for a new rule; the rule's own when editing one
                # (a default rule's is none, "the home's": the form shows no zone to keep).
                zone = (
                    self.hass.config.time_zone
                    if current is None
                    else (current.get("schedule") or {}).get("timezone")
                )
                body = rule_body_from_form(user_input, zone)
                try:
                    if current is None:
                        rule = await coordinator.client.create_rule(body)
                    else:
                        rule = await coordinator.client.update_rule(current["rule_id"], body)
                except HSIError as err:
                    errors = self._errors_from(err, set(schema.schema), placeholders)
                else:
                    coordinator.store_rule(rule)
                    data = rule_to_subentry_data(rule)
                    if current is None:
                        return self.async_create_entry(
                            title=str(rule.get("name", body["name"])),
                            data=data,
                            unique_id=rule["id"],
                        )
                    return self.async_update_and_abort(
                        self._get_entry(),
                        self._get_reconfigure_subentry(),
                        title=str(rule.get("name", body["name"])),
                        data=data,
                    )
        suggested = user_input or (rule_form_defaults(current) if current else {
            "timezone": self.hass.config.time_zone
        })
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _schema(self, coordinator: HSICoordinator) -> vol.Schema:
        zone_options = [
            SelectOptionDict(value=str(sub.data["zone_id"]), label=sub.title)
            for sub in self._get_entry().subentries.values()
            if sub.subentry_type == SUBENTRY_ZONE
        ]
        multi = SelectSelectorMode.DROPDOWN
        return vol.Schema(
            {
                vol.Required("name"): TextSelector(),
                vol.Optional("description"): TextSelector(TextSelectorConfig(multiline=True)),
                vol.Required("enabled", default=True): BooleanSelector(),
                vol.Required("severity", default=SEVERITY_FROM_RISK): SelectSelector(
                    SelectSelectorConfig(
                        options=[SEVERITY_FROM_RISK, *SEVERITIES],
                        translation_key="rule_severity",
                        mode=multi,
                    )
                ),
                vol.Optional("risk_threshold"): NumberSelector(
                    NumberSelectorConfig(min=0, max=100, step=1, mode=NumberSelectorMode.BOX)
                ),
                vol.Optional("object_types"): SelectSelector(
                    SelectSelectorConfig(
                        options=list(OBJECT_TYPES),
                        multiple=True,
                        custom_value=True,
                        translation_key="object_type",
                    )
                ),
                vol.Optional("camera_ids"): SelectSelector(
                    SelectSelectorConfig(options=self._camera_options(coordinator), multiple=True)
                ),
                vol.Optional("zone_ids"): SelectSelector(
                    SelectSelectorConfig(options=zone_options, multiple=True)
                ),
                vol.Optional("min_confidence"): NumberSelector(
                    NumberSelectorConfig(min=0, max=1, step=0.05, mode=NumberSelectorMode.SLIDER)
                ),
                vol.Optional("days"): SelectSelector(
                    SelectSelectorConfig(
                        options=list(WEEKDAYS), multiple=True, translation_key="weekday"
                    )
                ),
                vol.Optional("start_time"): TimeSelector(),
                vol.Optional("end_time"): TimeSelector(),
                vol.Optional("timezone"): TextSelector(),
                vol.Required("cooldown_seconds", default=300): NumberSelector(
                    NumberSelectorConfig(
                        min=0, max=MAX_COOLDOWN_SECONDS, step=1, mode=NumberSelectorMode.BOX,
                        unit_of_measurement="s",
                    )
                ),
                vol.Optional("channels"): SelectSelector(
                    SelectSelectorConfig(
                        options=list(CHANNELS), multiple=True, translation_key="channel"
                    )
                ),
                vol.Optional("webhook_url"): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.URL)
                ),
                vol.Optional("webhook_secret"): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.PASSWORD)
                ),
            }
        )


class ZoneSubentryFlow(HSISubentryFlow):
    """Create or change a zone of a camera on the server."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """New zone: pick the camera too."""
        return await self._async_zone_form("user", user_input, None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a zone (its camera stays), starting from the server's current version of it."""
        return await self._async_zone_form("reconfigure", user_input, self._reconfigure_current())

    async def _async_zone_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        current: Mapping[str, Any] | None,
    ) -> SubentryFlowResult:
        coordinator = self._coordinator()
        if coordinator is None:
            return self.async_abort(reason="entry_not_loaded")
        if current is None and not coordinator.data.cameras:
            return self.async_abort(reason="no_cameras")
        schema = self._schema(coordinator, with_camera=current is None)
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"message": ""}
        if user_input is not None:
            try:
                coordinates = parse_coordinates(user_input["coordinates"])
            except ValueError:
                errors["coordinates"] = "invalid_coordinates"
            else:
                body = {
                    "name": user_input["name"],
                    "zone_type": user_input["zone_type"],
                    "coordinates": coordinates,
                    "shape": user_input["shape"],
                    "color": rgb_to_hex(user_input.get("color") or hex_to_rgb(DEFAULT_ZONE_COLOR)),
                    "enabled": user_input["enabled"],
                    "priority": int(user_input["priority"]),
                    **loitering_body(user_input),
                }
                camera_id = str(current["camera_id"] if current else user_input["camera_id"])
                try:
                    if current is None:
                        zone = await coordinator.client.create_zone(camera_id, body)
                    else:
                        zone = await coordinator.client.update_zone(
                            camera_id, current["zone_id"], body
                        )
                except HSIError as err:
                    errors = self._errors_from(err, set(ZONE_FIELDS), placeholders)
                else:
                    coordinator.store_zone(zone, camera_id)
                    data = zone_to_subentry_data(zone, camera_id)
                    title = str(zone.get("name", body["name"]))
                    if current is None:
                        return self.async_create_entry(
                            title=title, data=data, unique_id=zone["id"]
                        )
                    return self.async_update_and_abort(
                        self._get_entry(), self._get_reconfigure_subentry(), title=title, data=data
                    )
        suggested: dict[str, Any]
        if user_input is not None:
            suggested = user_input
        elif current is not None:
            suggested = {key: current[key] for key in ZONE_FIELDS if current.get(key) is not None}
            suggested["coordinates"] = format_coordinates(current.get("coordinates") or [])
            suggested["color"] = hex_to_rgb(str(current.get("color") or DEFAULT_ZONE_COLOR))
        else:
            suggested = {"color": hex_to_rgb(DEFAULT_ZONE_COLOR)}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _schema(self, coordinator: HSICoordinator, *, with_camera: bool) -> vol.Schema:
        fields: dict[Any, Any] = {}
        if with_camera:
            fields[vol.Required("camera_id")] = SelectSelector(
                SelectSelectorConfig(options=self._camera_options(coordinator))
            )
        fields.update(
            {
                vol.Required("name"): TextSelector(),
                vol.Required("zone_type", default="other"): SelectSelector(
                    SelectSelectorConfig(
                        options=list(ZONE_TYPES),
                        translation_key="zone_type",
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
                vol.Required("coordinates"): TextSelector(),
                vol.Required("shape", default="polygon"): SelectSelector(
                    SelectSelectorConfig(options=list(ZONE_SHAPES), translation_key="shape")
                ),
                vol.Optional("color"): ColorRGBSelector(),
                vol.Required("enabled", default=True): BooleanSelector(),
                vol.Required("priority", default=0): NumberSelector(
                    NumberSelectorConfig(
                        min=ZONE_PRIORITY_MIN, max=ZONE_PRIORITY_MAX, step=1, mode=NumberSelectorMode.BOX
                    )
                ),
                vol.Optional("loitering_seconds"): NumberSelector(
                    NumberSelectorConfig(
                        min=0, max=86400, step=1, mode=NumberSelectorMode.BOX, unit_of_measurement="s"
                    )
                ),
                vol.Optional("loitering_classes"): SelectSelector(
                    SelectSelectorConfig(
                        options=list(LOITERING_CLASSES), multiple=True, custom_value=True
                    )
                ),
            }
        )
        return vol.Schema(fields)
