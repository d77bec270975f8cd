"""The Home Assistant integration speaks the server's language, declared once on the server.

- Its wire types and the WebSocket's message types (custom_components/.../api_types.py) are what
  scripts/ha/gen_api_types.py renders from the server's OpenAPI document.
- Its vocabulary constants (const.py) that the document does not generate are the server's:
  weekdays, channels, detector classes, activity categories, media types.

These run in the server's environment (it has the server's code; Home Assistant's environment does
not): the integration's files are read as text and syntax trees, never imported.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

from server.api.app import ROUTE_TABLES
from server.api.docs import build_document
from server.api.ws import MESSAGE_TYPES
from server.config import DEFAULT_SECURITY_CLASSES
from server.pipeline import media

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / "home_security_intelligence"

_spec = importlib.util.spec_from_file_location("gen_api_types", ROOT / "scripts" / "ha" / "gen_api_types.py")
assert _spec is not None and _spec.loader is not None
gen_api_types = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_api_types)


def _document() -> dict[str, Any]:
    return build_document(endpoint for table in ROUTE_TABLES for endpoint in table.endpoints)


def _constants(path: Path) -> dict[str, Any]:
    """The module-level constants of an integration module whose value is a plain expression."""
    values: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = eval(  # noqa: S307 (our own source: literals and frozenset)
                        compile(ast.Expression(node.value), str(path), "eval"),
                        {"__builtins__": {}, "frozenset": frozenset},
                    )
                except (NameError, TypeError):
                    continue  # derived from something imported
    return values


def test_api_types_are_generated_from_the_servers_document() -> None:
    rendered = gen_api_types.render(_document())
    assert (INTEGRATION / "api_types.py").read_text(encoding="utf-8") == rendered, (
        "api_types.py is stale: run .venv/bin/python scripts/ha/gen_api_types.py"
    )


def test_a_changed_server_model_changes_the_generated_types() -> None:
    """The check above bites: a field added to a response model, or a message type added to the
    WebSocket, shows up in what the script renders."""
    document = _document()
    schemas = document["components"]["schemas"]
    schemas["CameraOut"]["properties"]["zoom"] = {"type": "number"}
    schemas["CameraOut"]["required"].append("zoom")
    schemas["PushMessage"]["properties"]["type"]["enum"].append("zone.updated")
    rendered = gen_api_types.render(document)
    camera = rendered[rendered.index("class Camera(TypedDict):") :]
    assert "    zoom: float" in camera[: camera.index("\n\n\n")]
    assert '    "zone.updated",\n' in rendered
    assert rendered != gen_api_types.render(_document())


def test_the_generated_push_types_are_the_websockets() -> None:
    """The integration subscribes to PUSH_MESSAGE_TYPES: every type the server publishes."""
    generated = _constants(INTEGRATION / "api_types.py")["PUSH_MESSAGE_TYPES"]
    assert generated == MESSAGE_TYPES


def test_integration_vocabulary_is_the_servers() -> None:
    """What const.py spells out (rather than deriving from api_types.py) agrees with the server."""
    const = _constants(INTEGRATION / "const.py")
    schemas = _document()["components"]["schemas"]
    schedule_days = schemas["Schedule"]["properties"]["days"]
    assert const["WEEKDAYS"] == tuple(schedule_days["items"]["enum"])
    channels = schemas["AlertRuleOut"]["properties"]["channels"]["items"]["enum"]
    assert set(const["CHANNELS"]) == set(channels)
    # The rule form offers the classes the server detects by default.
    assert set(const["OBJECT_TYPES"]) == set(DEFAULT_SECURITY_CLASSES)
    # The activity sensors group object classes as the server shows them (its thumbnails' colours):
    # each class the integration groups is in the server's group, and each class the server detects
    # by default and shows as a person, vehicle or animal is in the integration's.
    activity: dict[str, frozenset[str]] = const["ACTIVITY_CLASSES"]
    shown = {
        media.PERSON_COLOUR: "person",
        media.VEHICLE_COLOUR: "vehicle",
        media.ANIMAL_COLOUR: "animal",
    }
    for group, classes in activity.items():
        for object_type in classes:
            assert shown.get(media.box_colour(object_type)) == group, object_type
    for object_type in DEFAULT_SECURITY_CLASSES:
        if (group := shown.get(media.box_colour(object_type))) is not None:
            assert object_type in activity[group], object_type


def test_event_media_types_are_what_the_server_serves() -> None:
    """The media browser announces each event medium with the content type the server answers."""
    paths = _document()["paths"]
    media_types = _constants(INTEGRATION / "const.py")["EVENT_MEDIA_TYPES"]
    assert set(media_types) == {"clip", "thumbnail"}
    for kind, media_type in media_types.items():
        content = paths[f"/api/events/{{event_id}}/{kind}"]["get"]["responses"]["200"]["content"]
        assert list(content) == [media_type], kind
