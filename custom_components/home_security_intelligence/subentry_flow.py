"""What every subentry flow of a server shares: the loaded entry's coordinator, the camera choices and
the mapping of a server's refusal to the form's errors (rules and zones in `config_flow`, cameras'
object filters in `filters_flow`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryFlow
from homeassistant.helpers.selector import SelectOptionDict

from .api import HSIConnectionError, HSIError, HSIValidationError
from .coordinator import HSICoordinator


class HSISubentryFlow(ConfigSubentryFlow):
    """Shared plumbing: the loaded entry's coordinator and error mapping."""

    def _coordinator(self) -> HSICoordinator | None:
        entry = self._get_entry()
        if entry.state is not ConfigEntryState.LOADED:
            return None
        return cast(HSICoordinator, entry.runtime_data)

    def _reconfigure_current(self) -> Mapping[str, Any]:
        """What the edit form starts from: the server's current object as last read, or the
        subentry's data while the coordinator has none (not loaded, or the object is gone)."""
        subentry = self._get_reconfigure_subentry()
        coordinator = self._coordinator()
        mirrored = coordinator.data.mirrored(subentry.subentry_type) if coordinator else {}
        if (found := mirrored.get(str(subentry.unique_id))) is not None:
            return found[1]
        return subentry.data

    def _camera_options(self, coordinator: HSICoordinator) -> list[SelectOptionDict]:
        return [
            SelectOptionDict(value=camera_id, label=camera["name"])
            for camera_id, camera in sorted(
                coordinator.data.cameras.items(), key=lambda item: item[1]["name"]
            )
        ]

    @staticmethod
    def _errors_from(
        err: HSIError, fields: set[str], placeholders: dict[str, str]
    ) -> dict[str, str]:
        """Map a server refusal to field errors where the field is on the form."""
        if isinstance(err, HSIValidationError):
            errors = {
                field: "invalid_value"
                for path in err.field_errors
                if (field := _form_field(path, fields)) is not None
            }
            placeholders["message"] = "; ".join(
                f"{field}: {message}" for field, message in err.field_errors.items()
            ) or err.message
            if not errors:
                errors["base"] = "server_rejected"
            return errors
        placeholders["message"] = str(err)
        if isinstance(err, HSIConnectionError):
            return {"base": "cannot_connect"}
        return {"base": "server_rejected"}


def _form_field(path: str, fields: set[str]) -> str | None:
    """The form's field for a server field path: a nested one flattened (``webhook.secret`` is the
    form's ``webhook_secret``), else the list or object it is in (``object_types.0``), else its own
    name (``schedule.timezone`` on a form with ``timezone``); None when the form has no such field."""
    parts = path.split(".")
    candidates = ("_".join(parts), parts[0], parts[-1])
    return next((candidate for candidate in candidates if candidate in fields), None)
