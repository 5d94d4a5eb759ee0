"""The house's rules, checked on the code: no import circles, arrows point down, small files and functions.

The import graph is read from the source with ``ast`` (module-level and function-local imports alike;
imports under ``if TYPE_CHECKING:`` are left out, as they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("auditor", "pruning", "tasks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] in ("pruning", "tasks"):  # installed as auditor.pruning and auditor.tasks (pyproject package-dir)
        parts.insert(0, "auditor")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: set[str], me: str) -> set[str]:
    """Project modules that ``path`` imports (``from a.b import c`` counts ``a.b.c`` when it is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for n in ast.walk(node))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out.update(n for n in names if n in modules and n != me)
    return out


def _graph() -> dict[str, set[str]]:
    src = _sources()
    mods = set(src)
    return {m: _imports(p, mods, m) for m, p in src.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    assert _cycles(_graph()) == []


def test_pruning_imports_only_errors_and_registry_from_auditor() -> None:
    graph = _graph()
    for mod, deps in graph.items():
        if mod.startswith("auditor.pruning"):
            ok = ("auditor.errors", "auditor.registry", "auditor.pruning")
            bad = sorted(d for d in deps if not d.startswith(ok))
            assert not bad, f"{mod} imports {bad}"


GROUND_MODULES = ("auditor.errors", "auditor.registry", "auditor.config")
GROUND_ROOMS = ("auditor.stats", "auditor.store", "auditor.inputs")


def _is_ground(mod: str) -> bool:
    """The ground floor: errors, registry, config, statistics, run storage, inputs and the process group."""
    return mod in GROUND_MODULES or mod.startswith(GROUND_ROOMS)


def test_root_holds_few_modules() -> None:
    """The root of auditor/ holds at most 8 modules; the rest live in rooms by job (DESIGN.md)."""
    root = sorted(p.name for p in (ROOT / "auditor").glob("*.py"))
    assert len(root) <= 8, root


def test_arrows_point_down() -> None:
    graph = _graph()
    assert not any(d.startswith("auditor.pruning") for d in graph["auditor.models.load"]), "models.py imports pruning/"
    for mod, deps in graph.items():
        if mod.startswith("auditor.report"):
            bad = sorted(d for d in deps if d.startswith(("auditor.lab", "auditor.pipeline", "auditor.cli")))
            assert not bad, f"{mod} imports {bad} (the report reads records only)"
        if _is_ground(mod):
            bad = sorted(d for d in deps if d.startswith("auditor.") and not _is_ground(d))
            assert not bad, f"ground-floor {mod} imports {bad}"
        if not mod.startswith(("auditor.cli", "auditor.api")) and mod not in ("auditor", "auditor.__main__"):
            assert not any(d.startswith(("auditor.cli", "auditor.api")) for d in deps), f"{mod} climbs to the CLI/API"
        if mod.startswith(("auditor.probes", "auditor.capability", "auditor.lm", "auditor.unlearning")):
            assert not any(d.startswith("auditor.pipeline") for d in deps), f"{mod} climbs to the pipeline"


def test_small_files_and_functions() -> None:
    """No file over 300 lines and no function over 60 lines in the package (the house style)."""
    long_files, long_funcs = [], []
    for mod, path in _sources().items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 300:
            long_files.append(f"{mod}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > 60:
                    long_funcs.append(f"{mod}.{node.name}: {n} lines")
    assert not long_files, long_files
    assert not long_funcs, long_funcs
