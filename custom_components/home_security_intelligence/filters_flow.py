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

    _camera_id: str

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """New filters, first step: pick the camera (one filters subentry per camera). Its filters are
        then shown as the server holds them: a camera may have some already (set through the API),
        which saving a form that never showed them would erase."""
        coordinator = self._coordinator()
        if coordinator is None:
            return self.async_abort(reason="entry_not_loaded")
        if not coordinator.data.cameras:
            return self.async_abort(reason="no_cameras")
        # A camera that has a subentry is not offered (writing its filters and being refused the
        # subentry after would leave the existing one saying something else).
        taken = self._taken()
        options = [o for o in self._camera_options(coordinator) if o["value"] not in taken]
        if not options:
            return self.async_abort(reason="every_camera_filtered")
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input["camera_id"] in taken:
                errors["camera_id"] = "camera_filtered"
            else:
                self._camera_id = str(user_input["camera_id"])
                return await self.async_step_filters()
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {vol.Required("camera_id"): SelectSelector(SelectSelectorConfig(options=options))}
            ),
            errors=errors,
        )

    async def async_step_filters(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """New filters, second step: the picked camera's filters, starting from the server's."""
        return await self._async_filters_form("filters", user_input, self._camera_id)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a camera's filters, starting from the server's current ones."""
        camera_id = str(self._get_reconfigure_subentry().data["camera_id"])
        return await self._async_filters_form("reconfigure", user_input, camera_id)

    async def _async_filters_form(
        self, step_id: str, user_input: dict[str, Any] | None, camera_id: str
    ) -> SubentryFlowResult:
        coordinator = self._coordinator()
        if coordinator is None:
            return self.async_abort(reason="entry_not_loaded")
        creating = step_id != "reconfigure"
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"message": ""}
        if user_input is not None:
            if creating and camera_id in self._taken():  # another form made its subentry meanwhile
                return self.async_abort(reason="camera_filtered")
            try:
                body = filters_body(user_input)
            except ValueError as err:
                errors["base"] = "invalid_filters"
                placeholders["message"] = f" ({err})"
            else:
                try:
                    stored = await coordinator.client.replace_camera_filters(camera_id, body)
                except HSIError as err:
                    errors = self._errors_from(err, {"classes", "masks"}, placeholders)
                else:
                    data = {"camera_id": camera_id, **stored}
                    camera = coordinator.data.cameras.get(camera_id)
                    title = f"{camera['name'] if camera else camera_id} filters"
                    if creating:
                        return self.async_create_entry(
                            title=title, data=data, unique_id=FILTERS_UNIQUE_ID_PREFIX + camera_id
                        )
                    return self.async_update_and_abort(
                        self._get_entry(), self._get_reconfigure_subentry(), title=title, data=data
                    )
        suggested: dict[str, Any] = dict(user_input or {})
        if user_input is None:
            try:
                suggested = filters_form_values(await coordinator.client.camera_filters(camera_id))
            except HSIError:
                if creating:
                    return self.async_abort(reason="cannot_connect")
                suggested = filters_form_values(self._get_reconfigure_subentry().data)  # type: ignore[arg-type]
        fields = {
            vol.Optional("classes"): TextSelector(TextSelectorConfig(multiline=True)),
            vol.Optional("masks"): TextSelector(TextSelectorConfig(multiline=True)),
        }
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
