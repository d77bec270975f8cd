"""Helpers every part of the integration shares: server errors as Home Assistant errors, and the
device registry identifiers of the hub and its cameras.

One declaration each, so an entity, an Assist tool and an action fail with the same translated
message, and a camera's device is named the same way wherever it is built or looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
import functools
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr

from .api import HSIAuthError, HSIError, HSIResponseError
from .api_types import Event, EventSummary
from .const import DOMAIN


def translated_error(err: HSIError) -> HomeAssistantError:
    """A server error as the translated error to show: a refusal of the input (4xx) says what the
    server refused, so nobody (a user, an Assist model) takes a server that answers for one that is
    down; a rejected key says so; anything else is ``cannot_connect``, with its reason."""
    if isinstance(err, HSIResponseError) and 400 <= err.status < 500:
        # Bad input (400/422), a state that forbids it (409), media it does not take (413/415).
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="rejected",
            translation_placeholders={"message": err.message},
        )
    if isinstance(err, HSIAuthError):
        return HomeAssistantError(translation_domain=DOMAIN, translation_key="invalid_auth")
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="cannot_connect",
        translation_placeholders={"error": str(err)},
    )


def hsi_exception_handler[**P, R](
    func: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Decorate a call that reads the server on a user's behalf (an entity's image, a calendar's
    entries, an Assist tool): a server error becomes its `translated_error`."""

    @functools.wraps(func)
    async def handler(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except HSIError as err:
            raise translated_error(err) from err

    return handler


def camera_identifier(instance_id: str, camera_id: str) -> tuple[str, str]:
    """Device registry identifier of a camera: scoped by the server's instance id, since camera
    ids repeat across servers."""
    return (DOMAIN, f"{instance_id}_{camera_id}")


def hub_identifier(instance_id: str) -> tuple[str, str]:
    """Device registry identifier of the server itself (the cameras' parent)."""
    return (DOMAIN, instance_id)


def camera_of_identifier(instance_id: str, identifier: tuple[str, str]) -> str | None:
    """The camera id a device identifier of this server names; None for the hub and for another
    integration's or another server's identifier."""
    domain, value = identifier
    prefix = f"{instance_id}_"
    if domain != DOMAIN or not value.startswith(prefix):
        return None
    return value.removeprefix(prefix)


def camera_device_id(hass: HomeAssistant, instance_id: str, camera_id: str | None) -> str | None:
    """The HA device id of a server's camera (for bus events and device triggers); None when the
    camera has no device (yet)."""
    if camera_id is None:
        return None
    device = dr.async_get(hass).async_get_device(
        identifiers={camera_identifier(instance_id, camera_id)}
    )
    return device.id if device else None


def risk_phrase(event: Event | EventSummary) -> str:
    """An event's risk as the calendar and the media browser title it: "Low risk (12)", or
    "Not scored" for an event the server has not scored (yet)."""
    level, score = event.get("risk_level"), event.get("risk_score")
    return "Not scored" if level is None else f"{str(level).capitalize()} risk ({score})"
