"""Print unizarr's import graph: cycles, imports of a higher floor, and function-level
imports that exist only to dodge a cycle.

Run from a checkout (no install needed, only the standard library)::

    python tools/imports.py            # report; exit 1 when the graph has a cycle
    python tools/imports.py --strict   # exit 1 on any finding (cycle, upward, dodge, unplaced)
    python tools/imports.py --edges    # also list every internal import

The floors below follow the "one-way house" of the architecture notes: a module may
import modules on its own floor or below, never above. A module that needs something
from a higher floor is a sign the thing lives in the wrong room.

What counts as an import: every ``import``/``from ... import`` naming a unizarr module,
at module level (runs when the module is imported) or inside a function (runs on the
first call). Imports under ``if TYPE_CHECKING:`` are ignored (they never run). Dynamic
imports (``importlib.import_module`` with a constant name, as the driver registry does
for entry points) are listed but not counted as edges: they are the plugin mechanism,
resolved at run time by name.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

PACKAGE = "unizarr"
ROOT = Path(__file__).resolve().parent.parent / "src" / PACKAGE

#: Floors from the ground up. Patterns are module names relative to the package
#: (``"io.*"`` matches every module of ``unizarr.io``; ``""`` is ``unizarr/__init__``).
#: Names that do not exist yet are the rooms the architecture grows into.
FLOORS: list[tuple[str, list[str]]] = [
    ("ground", ["errors", "modes", "paths", "indexing", "threads", "heap", "declared", "integrity", "axes", "level0_reuse", "reduction", "level1_ahead", "readcache",
                "ozx", "safety", "aliases", "types"]),
    ("pure decisions", ["layout", "documents", "config"]),
    ("stores", ["kvstore", "metadata", "storage", "output_guard", "noderef", "attributes",
                "members"]),
    ("registry", ["registry"]),
    # the write-block grid and dask I/O: used by the node model, the pyramid builder and
    # the cluster executor alike, so below all of them
    ("blocks", ["blocks", "dask_blocks", "dask_io"]),
    ("node model", ["core", "creation"]),
    ("entry points", ["api"]),
    ("drivers", ["drivers", "drivers.*"]),
    # the cluster plumbing (which client, futures in flight) under the pyramid that uses it
    ("cluster", ["distributed"]),
    # the pyramid package: its plan and kernels, the tile work and resume decisions
    # both executors share, the executors as peers, and the entry point that picks one
    ("pyramid plan", ["pyramid.plan"]),
    ("pyramid parts", ["pyramid.tiles", "pyramid.resume"]),
    ("executors", ["pyramid.local", "pyramid.cluster"]),
    ("pyramid", ["pyramid", "pyramid.*"]),
    ("formats", ["ome", "ome.*", "nifti", "validation", "validation.*", "channels", "labels"]),
    ("readers", ["readers", "readers.*"]),
    # io: the Zarr-to-Zarr command back-ends (info/validate, preview, copy, OME versions)
    ("jobs", ["convert", "convert_run", "outputs", "linc", "copy", "serve", "view", "jobs", "jobs.*",
              "io", "io.*"]),
    ("public API", [""]),
    # front ends use the library as a user does (``import unizarr as uz``)
    ("front ends", ["cli", "cli.*", "cli_*", "__main__", "testing", "testing.*"]),
]


@dataclass(frozen=True)
class Import:
    """One import statement's edge between two unizarr modules."""

    source: str
    target: str
    line: int
    function: str | None  # enclosing function, None at module level
    text: str


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def discover(root: Path = ROOT) -> dict[str, Path]:
    """Module name (relative, ``""`` for the package) -> file."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def floor_of(module: str) -> int | None:
    """The floor index of ``module``; exact names win over wildcard patterns."""
    for exact in (True, False):
        for i, (_, patterns) in enumerate(FLOORS):
            for pat in patterns:
                if ("*" in pat) != (not exact):
                    continue
                if module == pat or (not exact and fnmatchcase(module, pat)):
                    return i
    return None


def _resolve(base: str, level: int, is_pkg: bool, name: str | None) -> str | None:
    """Absolute dotted name (relative to the package) of a relative import target."""
    parts = base.split(".") if base else []
    if not is_pkg:
        parts = parts[:-1]  # a module's relative imports start from its package
    if level > 1:
        if level - 1 > len(parts):
            return None
        parts = parts[: len(parts) - (level - 1)]
    if name:
        parts += name.split(".")
    return ".".join(parts)


def _strip_package(dotted: str) -> str | None:
    if dotted == PACKAGE:
        return ""
    if dotted.startswith(PACKAGE + "."):
        return dotted[len(PACKAGE) + 1:]
    return None


class _Collector(ast.NodeVisitor):
    """Collect the unizarr imports of one module with their enclosing function."""

    def __init__(self, module: str, is_pkg: bool, modules: set[str], lines: list[str]) -> None:
        self.module = module
        self.is_pkg = is_pkg
        self.modules = modules
        self.lines = lines
        self.stack: list[str] = []
        self.imports: list[Import] = []
        self.dynamic: list[tuple[int, str]] = []

    # -- scopes ------------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":  # never runs: not an edge
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    # -- imports ------------------------------------------------------------------------
    def _add(self, target: str, node: ast.stmt) -> None:
        if target not in self.modules or target == self.module:
            return
        if any(i.target == target and i.line == node.lineno for i in self.imports):
            return  # ``from .api import a, b``: one edge per statement
        self.imports.append(Import(
            self.module, target, node.lineno, ".".join(self.stack) or None,
            self.lines[node.lineno - 1].strip(),
        ))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            target = _strip_package(alias.name)
            if target is not None:
                self._add(self._existing(target), node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = _resolve(self.module, node.level, self.is_pkg, node.module)
        else:
            base = _strip_package(node.module or "")
        if base is None:
            return
        for alias in node.names:
            sub = f"{base}.{alias.name}" if base else alias.name
            # ``from . import metadata`` imports the submodule; ``from .x import f`` the module x
            self._add(sub if sub in self.modules else self._existing(base), node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name == "import_module" and node.args and isinstance(node.args[0], ast.Constant):
            self.dynamic.append((node.lineno, str(node.args[0].value)))
        self.generic_visit(node)

    def _existing(self, dotted: str) -> str:
        """The longest existing module prefix of ``dotted`` (``x.y.f`` -> ``x.y``)."""
        parts = dotted.split(".") if dotted else []
        while parts and ".".join(parts) not in self.modules:
            parts.pop()
        return ".".join(parts)


def collect(files: dict[str, Path]) -> tuple[list[Import], dict[str, list[tuple[int, str]]]]:
    modules = set(files)
    imports: list[Import] = []
    dynamic: dict[str, list[tuple[int, str]]] = {}
    for name, path in files.items():
        source = path.read_text(encoding="utf-8")
        collector = _Collector(name, is_package(path), modules, source.splitlines())
        collector.visit(ast.parse(source, str(path)))
        imports += collector.imports
        if collector.dynamic:
            dynamic[name] = collector.dynamic
    return imports, dynamic


def strongly_connected(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def shortest_path(start: str, goal: str, edges: dict[str, set[str]]) -> list[str] | None:
    prev: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        v = queue.popleft()
        for w in sorted(edges.get(v, ())):
            if w == goal:
                path = [w, v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return path[::-1]
            if w not in seen:
                seen.add(w)
                prev[w] = v
                queue.append(w)
    return None


def graph(imports: list[Import], *, module_level_only: bool) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in imports:
        if module_level_only and imp.function is not None:
            continue
        edges[imp.source].add(imp.target)
    return edges


def show(module: str) -> str:
    return PACKAGE if module == "" else module


def where(imp: Import) -> str:
    scope = f" in {imp.function}()" if imp.function else ""
    return f"{show(imp.source)}:{imp.line}{scope}: {imp.text}"


def report(files: dict[str, Path], imports: list[Import],
           dynamic: dict[str, list[tuple[int, str]]], edges_too: bool) -> Iterator[tuple[str, str]]:
    """Yield (kind, line) pairs; kind is "" for plain text or the name of a finding."""
    nodes = set(files)
    full = graph(imports, module_level_only=False)
    static = graph(imports, module_level_only=True)
    n_func = sum(1 for i in imports if i.function)
    yield "", (f"{PACKAGE} import graph: {len(files)} modules, {len(imports)} internal imports "
               f"({len(imports) - n_func} at module level, {n_func} inside functions)")
    yield "", ""
    yield "", "Floors, ground first (a module may import its own floor or below):"
    for i, (label, _) in enumerate(FLOORS):
        present = sorted(show(m) for m in files if floor_of(m) == i)
        yield "", f"  {i:2d} {label:15s} {', '.join(present) or '-'}"
    unplaced = sorted(show(m) for m in files if floor_of(m) is None)
    if unplaced:
        yield "", ""
        yield "", f"Modules on no floor (add them to FLOORS in {Path(__file__).name}): {len(unplaced)}"
        for m in unplaced:
            yield "unplaced", f"  {m}"

    cycles = strongly_connected(nodes, full)
    yield "", ""
    yield "", f"Cycles (counting function-level imports): {len(cycles)}"
    for comp in cycles:
        yield "cycle", f"  {{{', '.join(show(m) for m in comp)}}}"
        # one concrete loop through the component, as an example
        first = comp[0]
        loop = None
        for w in sorted(full[first]):
            if w in comp:
                back = shortest_path(w, first, full)
                if back:
                    loop = [first] + back
                    break
        if loop:
            yield "", "    e.g. " + " -> ".join(show(m) for m in loop)
    import_time = strongly_connected(nodes, static)
    yield "", f"Import-time cycles (module-level imports only): {len(import_time)}"
    for comp in import_time:
        yield "cycle", f"  {{{', '.join(show(m) for m in comp)}}}"

    upward = [i for i in imports
              if floor_of(i.source) is not None and floor_of(i.target) is not None
              and floor_of(i.target) > floor_of(i.source)]  # type: ignore[operator]
    yield "", ""
    yield "", f"Imports of a higher floor: {len(upward)}"
    for imp in sorted(upward, key=lambda i: (i.source, i.line)):
        src_floor, dst_floor = floor_of(imp.source), floor_of(imp.target)
        yield "upward", (f"  {where(imp)}   [{FLOORS[src_floor][0]} -> "  # type: ignore[index]
                         f"{FLOORS[dst_floor][0]}]")  # type: ignore[index]

    # A function-level import dodges a cycle when the target already reaches the source
    # through module-level imports: moved to the top, it would make an import-time cycle.
    dodges, lazy = [], []
    for imp in imports:
        if imp.function is None:
            continue
        back = shortest_path(imp.target, imp.source, static)
        (dodges if back else lazy).append((imp, back))
    yield "", ""
    yield "", f"Function-level imports that dodge a cycle: {len(dodges)}"
    for imp, back in sorted(dodges, key=lambda x: (x[0].source, x[0].line)):
        yield "dodge", f"  {where(imp)}"
        yield "", "      because " + " -> ".join(show(m) for m in back)  # type: ignore[union-attr]
    yield "", f"Other function-level imports of {PACKAGE} modules: {len(lazy)}"
    for imp, _ in sorted(lazy, key=lambda x: (x[0].source, x[0].line)):
        yield "", f"  {where(imp)}"

    yield "", ""
    n_dyn = sum(len(v) for v in dynamic.values())
    yield "", f"Dynamic imports (by name, not counted as edges): {n_dyn}"
    for mod in sorted(dynamic):
        for line, target in dynamic[mod]:
            yield "", f"  {show(mod)}:{line}: import_module({target!r})"

    if edges_too:
        yield "", ""
        yield "", "Every internal import:"
        for imp in sorted(imports, key=lambda i: (i.source, i.line)):
            yield "", f"  {where(imp)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 on upward imports, cycle dodges and unplaced modules too")
    parser.add_argument("--edges", action="store_true", help="list every internal import")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help=f"the package directory (default: {ROOT})")
    args = parser.parse_args(argv)
    files = discover(args.root)
    imports, dynamic = collect(files)
    found: dict[str, int] = defaultdict(int)
    for kind, line in report(files, imports, dynamic, args.edges):
        print(line)
        if kind:
            found[kind] += 1
    failing = {"cycle"} | ({"upward", "dodge", "unplaced"} if args.strict else set())
    bad = {k: v for k, v in found.items() if k in failing}
    print()
    print("result: " + (", ".join(f"{v} {k}" for k, v in sorted(bad.items())) or "clean"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
