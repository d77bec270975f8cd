"""The object filters subentry: a camera's per-class filters and mask polygons, kept on the server.

One subentry per camera (its unique id is the camera id). The form starts from the server's current
filters, so an edit made elsewhere (the API) is what the user changes; removing the subentry clears the
camera's filters on the server. Kept apart from `config_flow` (rules and zones) and the coordinator:
the filters are read and written here only, when the form is used.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.config_entries import SubentryFlowResult
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
)

from .api import HSIError
from .const import FILTERS_UNIQUE_ID_PREFIX, SUBENTRY_OBJECT_FILTERS
from .subentry_flow import HSISubentryFlow
from .filters_data import filters_body, filters_form_values


class ObjectFiltersSubentryFlow(HSISubentryFlow):
    """Set or change the object filters and masks of one camera."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """New filters: pick the camera (one filters subentry per camera)."""
        return await self._async_filters_form("user", user_input, None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a camera's filters, starting from the server's current ones."""
        camera_id = str(self._get_reconfigure_subentry().data["camera_id"])
        return await self._async_filters_form("reconfigure", user_input, camera_id)

    async def _async_filters_form(
        self, step_id: str, user_input: dict[str, Any] | None, camera_id: str | None
    ) -> SubentryFlowResult:
        coordinator = self._coordinator()
        if coordinator is None:
            return self.async_abort(reason="entry_not_loaded")
        if camera_id is None and not coordinator.data.cameras:
            return self.async_abort(reason="no_cameras")
        # One subentry per camera: a camera that has one is not offered (writing its filters first and
        # being refused the subentry after would leave the existing one saying something else).
        taken = self._taken()
        options = [o for o in self._camera_options(coordinator) if o["value"] not in taken]
        if camera_id is None and not options:
            return self.async_abort(reason="every_camera_filtered")
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"message": ""}
        if user_input is not None and camera_id is None and user_input["camera_id"] in taken:
            errors["camera_id"] = "camera_filtered"
        elif user_input is not None:
            target = camera_id or str(user_input["camera_id"])
            try:
                body = filters_body(user_input)
            except ValueError as err:
                errors["base"] = "invalid_filters"
                placeholders["message"] = f" ({err})"
            else:
                try:
                    stored = await coordinator.client.replace_camera_filters(target, body)
                except HSIError as err:
                    errors = self._errors_from(err, {"classes", "masks"}, placeholders)
                else:
                    data = {"camera_id": target, **stored}
                    camera = coordinator.data.cameras.get(target)
                    title = f"{camera['name'] if camera else target} filters"
                    if camera_id is None:
                        return self.async_create_entry(
                            title=title, data=data, unique_id=FILTERS_UNIQUE_ID_PREFIX + target
                        )
                    return self.async_update_and_abort(
                        self._get_entry(), self._get_reconfigure_subentry(), title=title, data=data
                    )
        suggested: dict[str, Any] = dict(user_input or {})
        if user_input is None and camera_id is not None:
            try:
                suggested = filters_form_values(await coordinator.client.camera_filters(camera_id))
            except HSIError:
                suggested = filters_form_values(self._get_reconfigure_subentry().data)  # type: ignore[arg-type]
        fields: dict[Any, Any] = {}
        if camera_id is None:
            fields[vol.Required("camera_id")] = SelectSelector(
                SelectSelectorConfig(options=options)
            )
        fields[vol.Optional("classes")] = TextSelector(TextSelectorConfig(multiline=True))
        fields[vol.Optional("masks")] = TextSelector(TextSelectorConfig(multiline=True))
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(vol.Schema(fields), suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _taken(self) -> set[str]:
        """The cameras that have a filters subentry already."""
        return {
            str(subentry.data["camera_id"])
            for subentry in self._get_entry().subentries.values()
            if subentry.subentry_type == SUBENTRY_OBJECT_FILTERS
        }
