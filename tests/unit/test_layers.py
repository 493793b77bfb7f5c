"""The shape stays: imports flow one way, no module imports itself back, modules stay small.

    domain <- services <- (storage, protocol) <- web <- portal <- app, cli

idp.errors and idp.config sit with the domain (they import nothing of ours); idp.extensions
(the SQLAlchemy and CSRF objects) with storage. The resource-server middleware is its own
distribution (middleware/, import name tessera_middleware): the IdP never imports it, it never
imports the IdP (checked here), and middleware/tests/test_isolation.py checks what it loads.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("idp", "portal")

LAYER_OF_PREFIX = {
    "idp.domain": "domain",
    "idp.errors": "domain",
    "idp.config": "domain",
    "idp.private_files": "domain",
    "idp.services": "services",
    "idp.storage": "storage",
    "idp.extensions": "storage",
    "idp.protocol": "protocol",
    "idp.web": "web",
    "portal": "portal",
}
ALLOWED = {
    "domain": {"domain"},
    "services": {"domain", "services"},
    "storage": {"domain", "services", "storage"},
    "protocol": {"domain", "services", "protocol"},
    "web": {"domain", "services", "storage", "protocol", "web"},
    "portal": {"domain", "services", "storage", "protocol", "web", "portal"},
}
# Policy is plain Python: no web framework, protocol library or database toolkit below storage.
FRAMEWORKS = {"flask", "flask_wtf", "flask_sqlalchemy", "werkzeug", "authlib", "sqlalchemy"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def layer(module: str) -> str | None:
    for prefix, name in LAYER_OF_PREFIX.items():
        if module == prefix or module.startswith(prefix + "."):
            return name
    return None  # idp.app, idp.cli, idp.serving, ...: the composition root and the commands


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(path: Path, module: str, *, runtime_only: bool = False) -> set[str]:
    """Our modules that `path` imports (functions' deferred imports included)."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST, top_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child) and runtime_only:
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and runtime_only:
                continue  # a deferred import cannot form a cycle at import time
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{a.name}" for a in child.names)
            visit(child, top_level)

    visit(tree, True)
    return found


MODULES = _modules()


def ours(names: set[str]) -> set[str]:
    return {m for m in names if m.split(".")[0] in PACKAGES}


def _violations() -> list[str]:
    problems = []
    for module, path in sorted(MODULES.items()):
        own = layer(module)
        if own is None:
            continue
        found = imports(path, module)
        if own in ("domain", "services"):
            problems += [
                f"{module} ({own}) imports {m}"
                for m in sorted(found)
                if m.split(".")[0] in FRAMEWORKS
            ]
        for target in sorted(ours(found)):
            theirs = layer(target)
            if theirs is None and target not in ("idp", "portal"):
                theirs = "app"
            if theirs is not None and theirs not in ALLOWED[own]:
                problems.append(f"{module} ({own}) imports {target} ({theirs})")
    return problems


def test_imports_flow_one_way() -> None:
    assert _violations() == []


def _resolve(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def test_no_import_cycles() -> None:
    graph = {}
    for module, path in MODULES.items():
        targets = {_resolve(t) for t in ours(imports(path, module, runtime_only=True))}
        graph[module] = {t for t in targets if t and t != module and not module.startswith(t + ".")}
    cycles, state = [], {}

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                walk(nxt, [*stack, nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert cycles == []


MIDDLEWARE = ROOT / "middleware" / "tessera_middleware"
MIDDLEWARE_MODULES = {"tessera_middleware." + p.stem: p for p in sorted(MIDDLEWARE.glob("*.py"))}


def _top_level_imports(paths: list[Path], module_of: dict[Path, str]) -> dict[str, set[str]]:
    return {module_of[p]: {m.split(".")[0] for m in imports(p, module_of[p])} for p in paths}


def test_idp_and_portal_never_import_the_middleware() -> None:
    found = _top_level_imports(list(MODULES.values()), {p: m for m, p in MODULES.items()})
    assert sorted(m for m, tops in found.items() if "tessera_middleware" in tops) == []


def test_the_middleware_imports_nothing_of_idp_or_portal() -> None:
    paths = list(MIDDLEWARE_MODULES.values())
    found = _top_level_imports(paths, {p: m for m, p in MIDDLEWARE_MODULES.items()})
    assert MIDDLEWARE_MODULES and not [m for m, tops in found.items() if tops & set(PACKAGES)]


@pytest.mark.parametrize("module", sorted(MODULES) + sorted(MIDDLEWARE_MODULES))
def test_modules_and_functions_stay_small(module: str) -> None:
    path = MODULES.get(module) or MIDDLEWARE_MODULES[module]
    source = path.read_text()
    assert source.count("\n") <= MAX_MODULE_LINES, f"{path} has over {MAX_MODULE_LINES} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_the_layer_map_knows_the_packages() -> None:
    """A new top-level package under idp/ must be placed in a layer (or be the app level)."""
    tops = {m.split(".")[1] for m in MODULES if m.startswith("idp.") and m.count(".") >= 1}
    placed = {p.split(".")[1] for p in LAYER_OF_PREFIX if p.startswith("idp.")}
    app_level = {"app", "cli", "cli_clients", "cli_users", "cli_users_import", "serving", "demo"}
    assert tops - placed - app_level == set()
