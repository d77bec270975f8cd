"""No import cycles in the server or the integration, read from the source (nothing is imported).

A cycle means neither module can be understood, tested or moved without the other, and at run time the
one imported second sees the first half-initialised. Type-only imports (`if TYPE_CHECKING:`) count too:
mypy follows them, and a cycle through one is the same coupling deferred. The one exception is the ORM
models package: a relationship declared on both sides (`Camera.events` / `Event.camera`) names the other
class in each, which is what SQLAlchemy's typed mapping asks for; there the imports are type-only and a
run-time cycle would still fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.import_graph import cycles, describe, edges, import_statements

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = "custom_components.home_security_intelligence"
#: Packages whose modules may name each other in type-only imports (see the module docstring).
TYPE_ONLY_CYCLES_ALLOWED = {"server.models"}


def _allowed(component: list[str]) -> bool:
    return any(
        all(member.startswith(f"{package}.") for member in component) for package in TYPE_ONLY_CYCLES_ALLOWED
    )


def _report(package: str, found: list[list[str]], graph: list) -> str:
    return f"import cycles in {package}:\n" + "\n\n".join(describe(component, graph) for component in found)


@pytest.mark.parametrize("package", ["server", INTEGRATION])
def test_no_import_cycle_at_run_time(package: str) -> None:
    graph = [edge for edge in edges(ROOT, package) if not edge.type_only]
    assert len({edge.source for edge in graph}) > 10, "the graph reader found almost no imports"
    found = cycles(graph)
    assert found == [], _report(package, found, graph)


@pytest.mark.parametrize("package", ["server", INTEGRATION])
def test_no_import_cycle_through_type_only_imports(package: str) -> None:
    graph = edges(ROOT, package)
    found = [component for component in cycles(graph) if not _allowed(component)]
    assert found == [], _report(package, found, graph)


def test_the_reader_sees_cycles_deferred_relative_and_type_only_imports(tmp_path: Path) -> None:
    """The checks above can fail: a package with each kind of cycle is read as having it."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from . import a  # deferred\n    return a\n")
    (package / "sub" / "c.py").write_text(
        "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n\n"
        "if TYPE_CHECKING:\n    from ..d import (\n        D,\n    )\nelse:\n    import json\n"
        "type Alias = list[int]  # 3.12 syntax elsewhere in the file does not stop the reader\n"
    )
    (package / "d.py").write_text("import pkg.sub.c\nclass D: ...\n")
    graph = edges(tmp_path, "pkg")
    run_time = [edge for edge in graph if not edge.type_only]
    assert cycles(run_time) == [["pkg.a", "pkg.b"]]
    assert cycles(graph) == [["pkg.a", "pkg.b"], ["pkg.d", "pkg.sub.c"]]
    assert "pkg.sub.c:5 -> pkg.d (TYPE_CHECKING)" in describe(["pkg.d", "pkg.sub.c"], graph)


def test_an_import_after_a_type_checking_block_runs() -> None:
    source = "if TYPE_CHECKING:\n    import a\n    if x:\n        import b\nimport c\n"
    assert [(node.names[0].name, type_only) for node, type_only, _ in import_statements(source)] == [
        ("a", True),
        ("b", True),
        ("c", False),
    ]
