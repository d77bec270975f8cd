"""Generate the integration's wire types (api_types.py) from the server's OpenAPI document.

The server's pydantic response models are the one declaration of each shape; the integration reads
them as TypedDicts rendered from the OpenAPI document (built in-process from the server's route
tables, so the server's code, not a running server, is the source), together with the WebSocket's
message types. Run with the server's environment:

    .venv/bin/python scripts/ha/gen_api_types.py

tests/server/test_ha_api_types.py fails when the committed file differs from what this writes.
"""

from __future__ import annotations

import json
import keyword
from pathlib import Path
import sys
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "custom_components" / "home_security_intelligence" / "api_types.py"

#: The server schemas the integration reads (with what they refer to). A response model's `Out`
#: suffix is dropped: the integration has no input model to tell it from.
SCHEMAS = (
    "Health",
    "Stats",
    "CameraOut",
    "EventOut",
    "SearchHit",
    "DetectionOut",
    "AlertOut",
    "AlertRuleOut",
    "ZoneOut",
    "RuleTest",
    "ObjectFilters",
)
#: Every list answers this envelope; pydantic names each instance `Page_<Item>_`.
PAGE_PREFIX = "Page_"
#: The schema of what the WebSocket pushes (server/api/ws.py); its `type` enum is the message list.
PUSH_SCHEMA = "PushMessage"

HEADER = '''"""Wire types of the Home Security Intelligence server, generated from its OpenAPI document.

Do not edit: run `.venv/bin/python scripts/ha/gen_api_types.py` after changing the server's models
(tests/server/test_ha_api_types.py fails while this file is stale).
"""

from __future__ import annotations

from typing import Any, Final, Generic, Literal, NotRequired, TypedDict, TypeVar

_T = TypeVar("_T")
'''


def openapi_document() -> dict[str, Any]:
    """The document the server serves at /api/openapi.json, built from its route tables."""
    sys.path.insert(0, str(ROOT))  # imported here: only the server's environment has them
    from server.api.app import ROUTE_TABLES
    from server.api.docs import build_document

    return build_document(endpoint for table in ROUTE_TABLES for endpoint in table.endpoints)


def type_name(schema_name: str) -> str:
    """The integration's name of a server schema: without the `Out` of a response model, and
    without the `-Output` pydantic adds where a model's input and output schemas differ."""
    return schema_name.split("-")[0].removesuffix("Out")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def refs(schema: Any) -> list[str]:
    """Names of the schemas one schema refers to, in order of appearance."""
    found: list[str] = []
    if isinstance(schema, dict):
        if "$ref" in schema:
            found.append(_ref_name(schema["$ref"]))
        for value in schema.values():
            found += refs(value)
    elif isinstance(schema, list):
        for value in schema:
            found += refs(value)
    return found


def _literal(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def annotation(schema: dict[str, Any]) -> str:
    """The Python type of a JSON Schema (the subset pydantic writes)."""
    if "$ref" in schema:
        return type_name(_ref_name(schema["$ref"]))
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return annotation(schema["allOf"][0])
    if "anyOf" in schema or "oneOf" in schema:
        members = [annotation(member) for member in schema.get("anyOf", schema.get("oneOf"))]
        unique = list(dict.fromkeys(members))
        if "None" in unique:  # `X | None` reads best with None last
            unique = [member for member in unique if member != "None"] + ["None"]
        return " | ".join(unique)
    if "const" in schema:
        return f"Literal[{_literal(schema['const'])}]"
    if "enum" in schema:
        return "Literal[" + ", ".join(_literal(value) for value in schema["enum"]) + "]"
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(annotation({**schema, "type": member}) for member in kind)
    if kind == "array":
        return f"list[{annotation(schema['items']) if 'items' in schema else 'Any'}]"
    if kind == "object" or kind is None:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return f"dict[str, {annotation(extra)}]"
        return "dict[str, Any]"
    return {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}[kind]


def _docstring(text: str, indent: str) -> str:
    lines = text.strip().replace('"""', "'''").splitlines() or [""]
    if len(lines) == 1:
        return f'{indent}"""{lines[0]}"""\n'
    body = "".join(f"{indent}{line}".rstrip() + "\n" for line in lines[1:])
    return f'{indent}"""{lines[0]}\n{body}{indent}"""\n'


def _base(schema: dict[str, Any], earlier: dict[str, dict[str, Any]]) -> str | None:
    """An earlier object schema this one extends (pydantic flattens a subclass's fields into its
    schema: `SearchHit` is `EventOut` and a rank), so the TypedDict can say so instead of repeating."""
    fields = list(schema.get("properties", {}).items())
    required = set(schema.get("required", ()))
    for name, other in earlier.items():
        base_fields = list(other.get("properties", {}).items())
        if (
            base_fields
            and len(base_fields) < len(fields)
            and fields[: len(base_fields)] == base_fields
            and required & set(other["properties"]) == set(other.get("required", ()))
        ):
            return name
    return None


def render_schema(name: str, schema: dict[str, Any], earlier: dict[str, dict[str, Any]]) -> str:
    """One schema: a TypedDict for an object (a subclass of the one it extends), a Literal alias
    for an enum."""
    python_name = type_name(name)
    if "properties" not in schema:
        return f"{python_name} = {annotation(schema)}\n"
    base = _base(schema, earlier)
    inherited = set(earlier[base]["properties"]) if base else set()
    lines = [f"class {python_name}({type_name(base) if base else 'TypedDict'}):\n"]
    lines.append(_docstring(schema.get("description") or f"The server's `{name}`.", "    "))
    lines.append("\n")
    required = set(schema.get("required", ()))
    for field, definition in schema["properties"].items():
        assert field.isidentifier() and not keyword.iskeyword(field), (name, field)
        if field in inherited:
            continue
        if description := definition.get("description"):
            lines.append(f"    #: {' '.join(description.split())}\n")
        kind = annotation(definition)
        lines.append(f"    {field}: {kind if field in required else f'NotRequired[{kind}]'}\n")
    if schema.get("additionalProperties") is True:
        lines.insert(3, "    # The server may add fields of its own (not typed here).\n")
    return "".join(lines)


def render_page(schemas: dict[str, Any]) -> str:
    """The list envelope, generic over its items (every `Page_<Item>_` has the same fields)."""
    pages = sorted(name for name in schemas if name.startswith(PAGE_PREFIX))
    fields = {tuple(sorted(schemas[name]["properties"])) for name in pages}
    assert len(fields) == 1, f"the list envelopes differ: {fields}"
    sample = schemas[pages[0]]
    lines = ["class Page(TypedDict, Generic[_T]):\n", '    """One page of a list endpoint."""\n', "\n"]
    for field, definition in sample["properties"].items():
        kind = "list[_T]" if field == "items" else annotation(definition)
        lines.append(f"    {field}: {kind}\n")
    return "".join(lines)


def render(document: dict[str, Any]) -> str:
    """The text of api_types.py for this OpenAPI document."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    ordered: list[str] = []

    def visit(name: str) -> None:  # dependencies first
        if name in ordered:
            return
        for dependency in refs(schemas[name]):
            if dependency != name:
                visit(dependency)
        ordered.append(name)

    for name in SCHEMAS:
        visit(name)
    names = [type_name(name) for name in ordered]
    assert len(set(names)) == len(names), f"two schemas share a name: {names}"
    push_types = schemas[PUSH_SCHEMA]["properties"]["type"]["enum"]
    parts = [HEADER]
    for index, name in enumerate(ordered):
        parts.append(render_schema(name, schemas[name], {other: schemas[other] for other in ordered[:index]}))
    parts.append(render_page(schemas))
    parts.append(
        "#: The WebSocket's message types (server/api/ws.py), all subscribed to.\n"
        "PUSH_MESSAGE_TYPES: Final = (\n" + "".join(f"    {_literal(kind)},\n" for kind in push_types) + ")\n"
    )
    return "\n\n".join(part.rstrip("\n") + "\n" for part in parts)


def main() -> None:
    """Write api_types.py."""
    TARGET.write_text(render(openapi_document()), encoding="utf-8")


if __name__ == "__main__":
    main()
