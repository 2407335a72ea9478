"""The import layers of docs/architecture.md hold: no import runs upward, no import circle.

Read from the source with ``ast`` (nothing is imported): every ``import`` / ``from ... import``
in imgrestore/, plugins/ (imgrestore.plugins) and kernels/ (imgrestore.kernels), at module level
AND inside functions or methods (a lazy import is still a dependency), relative imports
resolved. Imports under ``if TYPE_CHECKING:`` are left out: they never run. Dynamic loading by
name (entry points, the CLI's lazy command table, importlib) is not an import and is not seen.

The unit is the package level: a component is ``imgrestore`` itself or one item directly under
it (a module such as ``imgrestore.io`` or a subpackage such as ``imgrestore.degrade``, with
everything inside it). The rules, checked against the layer table parsed from
docs/architecture.md (so the page and the code cannot drift apart):

1. every component is placed in exactly one layer;
2. a component imports only from its own layer or layers below it (never upward);
3. the graph of components (edges: any import, module level or in a function) has no circle.
   Edges that close a circle today and wait for their owners' fix are listed in
   :data:`KNOWN_CIRCLE_EDGES`; a new circle fails, and so does a listed edge that is gone
   (the list can only shrink).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"imgrestore": ROOT / "imgrestore", "imgrestore.plugins": ROOT / "plugins",
           "imgrestore.kernels": ROOT / "kernels"}

# (importer, imported) component edges that close a circle and wait for their owners' fix (none
# today; a new circle fails, and so does a listed edge that is gone: the list can only shrink).
KNOWN_CIRCLE_EDGES: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package __init__)."""
    out = {}
    for pkg, folder in SOURCES.items():
        for f in sorted(folder.rglob("*.py")):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if "__pycache__" in parts:
                continue
            init = parts[-1] == "__init__"
            if init:
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = (f, init)
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """(imported dotted name, level, names, line) of every import that can run."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for sub in node.orelse:
                yield from _imports(ast.Module(body=[sub], type_ignores=[]))
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, 0, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level, [a.name for a in node.names], node.lineno
        yield from _imports(node)


def component(module: str) -> str:
    parts = module.split(".")
    return module if len(parts) == 1 else ".".join(parts[:2])


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(importer component, imported component) -> ["file:line", ...], across components only."""
    mods = _modules()
    edges: dict[tuple[str, str], list[str]] = {}
    for name, (path, init) in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, level, names, line in _imports(tree):
            if level:
                base = name.split(".") if init else name.split(".")[:-1]
                base = base[: len(base) - level + 1]
                target = ".".join(base + ([target] if target else []))
            targets = [target]
            if names:  # `from pkg import mod` imports pkg.mod when that is a module
                targets = [f"{target}.{n}" if f"{target}.{n}" in mods else target for n in names]
            for t in targets:
                if t != "imgrestore" and not t.startswith("imgrestore."):
                    continue
                a, b = component(name), component(t)
                if a != b:
                    edges.setdefault((a, b), []).append(f"{path.relative_to(ROOT)}:{line}")
    return edges


def layers() -> dict[str, tuple[int, str]]:
    """Component -> (layer number, layer name), from the ``layers`` block of docs/architecture.md.

    Each line of that block reads ``N name  member member ...`` with members such as ``io.py``,
    ``degrade/``, ``plugins/`` (imgrestore.plugins) or ``__init__.py`` (imgrestore itself)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"```text layers\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no ```text layers block"
    out: dict[str, tuple[int, str]] = {}
    for line in block.group(1).splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+(.*)", line)
        if not m:
            continue
        for member in re.findall(r"[\w]+(?:\.py|/)", m.group(3)):
            stem = member.removesuffix("/").removesuffix(".py")
            comp = "imgrestore" if stem == "__init__" else f"imgrestore.{stem}"
            assert comp not in out, f"{member} is in two layers of docs/architecture.md"
            out[comp] = (int(m.group(1)), m.group(2))
    return out


def _circles(edges) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def edges():
    return import_edges()


def test_every_component_has_a_layer(edges):
    placed = layers()
    present = {component(m) for m in _modules()}
    missing = sorted(present - set(placed))
    assert not missing, f"not in a layer of docs/architecture.md: {missing}"
    gone = sorted(set(placed) - present)
    assert not gone, f"docs/architecture.md places components that do not exist: {gone}"


def test_no_import_runs_upward(edges):
    placed = layers()
    upward = [f"{a} (layer {placed[a][0]} {placed[a][1]}) imports {b} (layer {placed[b][0]} {placed[b][1]}) at "
              f"{', '.join(where)}" for (a, b), where in sorted(edges.items())
              if a in placed and b in placed and placed[b][0] > placed[a][0]]
    assert not upward, "imports running up the layers:\n" + "\n".join(upward)


def test_no_import_circle(edges):
    stale = sorted(e for e in KNOWN_CIRCLE_EDGES if e not in edges)
    assert not stale, f"listed in KNOWN_CIRCLE_EDGES but gone (remove them): {stale}"
    circles = _circles([e for e in edges if e not in KNOWN_CIRCLE_EDGES])
    detail = []
    for scc in circles:
        inside = [f"  {a} -> {b} at {', '.join(w)}" for (a, b), w in sorted(edges.items()) if a in scc and b in scc]
        detail.append(" <-> ".join(scc) + "\n" + "\n".join(inside))
    assert not circles, "import circles between components:\n" + "\n".join(detail)


def test_the_checker_sees_what_it_must():
    """The parser itself: a lazy import, a relative import, a TYPE_CHECKING import, a circle."""
    code = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from imgrestore import io\n"
            "def f():\n    from imgrestore.degrade import Chain\n    from . import base\n")
    found = [(t, level, names) for t, level, names, _ in _imports(ast.parse(code))]
    assert found == [("typing", 0, ["TYPE_CHECKING"]), ("imgrestore.degrade", 0, ["Chain"]), ("", 1, ["base"])]
    assert _circles([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]) == [["a", "b", "c"]]
    assert _circles([("a", "b"), ("b", "c")]) == []
    edges = import_edges()
    # imports inside functions count: the CLI reaches bench, the kernels reach crf, lazily
    assert ("imgrestore.cli", "imgrestore.bench") in edges and ("imgrestore.kernels", "imgrestore.crf") in edges
    assert ("imgrestore.hookspecs", "imgrestore.degrade") not in edges  # TYPE_CHECKING only


def test_bench_looks_degradations_up_not_the_reverse(monkeypatch):
    """degrade/ no longer imports bench/: a stage's own benchmark() rows win, a built-in name gets
    its peer benchmark from bench/degrade.PEERS, anything else is timed alone."""
    from imgrestore.bench import degrade as bd
    from imgrestore.chain import Chain
    from imgrestore.degrade import Degradation

    class Own(Degradation):
        name = "own-bench-test"

        def apply(self, pair, drawn, ctx):
            return pair

        def benchmark(self, device, size, repeats):
            return [{"impl": "own rows", "size": size}]

    class Plain(Own):
        name = "plain-bench-test"

        def benchmark(self, device, size, repeats):
            return None

    assert bd.benchmark_stage(Own(), size=16, repeats=1) == [{"impl": "own rows", "size": 16}]
    called = []
    monkeypatch.setitem(bd.PEERS, "plain-bench-test", lambda st, dev, size, rep: called.append((dev, size)) or [])
    assert bd.benchmark_stage(Plain(), size=16, repeats=1) == [] and called == [("cpu", 16)]
    monkeypatch.delitem(bd.PEERS, "plain-bench-test")
    rows = bd.benchmark_stage(Plain(), size=16, repeats=1)
    assert [r["impl"] for r in rows] == ["imgrestore plain-bench-test (stage, batch 8)"]
    assert Chain.parse("awgn").stages[0].benchmark("cpu", 16, 1) is None  # built-ins keep the default
    assert set(bd.PEERS) == {"awgn", "jpeg", "cbdnet", "bicubic", "moire"}
