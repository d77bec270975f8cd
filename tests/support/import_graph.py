"""The static import graph of a package, read from its source without importing it.

Imports are found with `tokenize`, not `ast.parse` of whole files: the integration is written for Home
Assistant's Python (3.13, PEP 695 `type` aliases and generics) while the server's tests run on 3.11, and
only the import statements themselves need parsing. An import inside `if TYPE_CHECKING:` is marked
type-only: it never runs, but mypy follows it, so a cycle through it still ties the modules together.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SKIPPED = {tokenize.NL, tokenize.COMMENT, tokenize.ENCODING}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    #: Inside `if TYPE_CHECKING:` (read by the type checker only).
    type_only: bool
    line: int


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of `package` (a dotted name under `root`), by dotted name; packages by their own name."""
    found: dict[str, Path] = {}
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_statements(source: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, int]]:
    """Each import statement of `source` (at any depth: deferred imports in functions count), whether it
    sits in an `if TYPE_CHECKING:` block, and its line."""
    lines = source.splitlines(keepends=True)
    depth = 0
    type_checking_at: int | None = None  # the indentation depth of the open TYPE_CHECKING block
    pending = False  # saw `if TYPE_CHECKING:`; its block starts at the next INDENT
    statement: list[tokenize.TokenInfo] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.INDENT:
            depth += 1
            if pending:
                type_checking_at, pending = depth, False
            continue
        if token.type == tokenize.DEDENT:
            if type_checking_at is not None and depth == type_checking_at:
                type_checking_at = None
            depth -= 1
            continue
        if token.type in _SKIPPED:
            continue
        if token.type not in (tokenize.NEWLINE, tokenize.ENDMARKER):
            statement.append(token)
            continue
        words = [t.string for t in statement]
        if words[:3] == ["if", "TYPE_CHECKING", ":"] and len(words) == 3:
            pending = True
        elif words and words[0] in ("import", "from"):
            first, last = statement[0].start, statement[-1].end
            text = "".join(lines[first[0] - 1 : last[0]])
            text = text[first[1] : len(text) - len(lines[last[0] - 1]) + last[1]]
            node = ast.parse(text).body[0]
            assert isinstance(node, ast.Import | ast.ImportFrom)
            yield node, type_checking_at is not None, first[0]
        statement = []


def edges(root: Path, package: str) -> list[Edge]:
    """The imports between modules of `package` (imports of anything else are left out)."""
    known = modules(root, package)

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    found: list[Edge] = []
    for module, path in known.items():
        own_package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node, type_only, line in import_statements(path.read_text(encoding="utf-8")):
            targets: list[str | None]
            if isinstance(node, ast.Import):
                targets = [resolve(alias.name) for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = own_package.split(".")[: len(own_package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else resolve(base)
                    for alias in node.names
                ]
            for target in targets:
                if target is not None and target != module:
                    found.append(Edge(module, target, type_only, line))
    return found


def cycles(graph: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (each one holds a cycle), sorted."""
    successors: dict[str, set[str]] = {}
    for edge in graph:
        successors.setdefault(edge.source, set()).add(edge.target)
        successors.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan; the graphs are a few hundred modules deep at most
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(successors[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(successors):
        if node not in index:
            visit(node)
    return sorted(components)


def describe(component: list[str], graph: list[Edge]) -> str:
    """The imports inside one cycle, one per line, for a failure message that says what to cut."""
    members = set(component)
    inside = [edge for edge in graph if edge.source in members and edge.target in members]
    return "\n".join(
        f"  {edge.source}:{edge.line} -> {edge.target}{' (TYPE_CHECKING)' if edge.type_only else ''}"
        for edge in sorted(inside, key=lambda edge: (edge.source, edge.line))
    )
