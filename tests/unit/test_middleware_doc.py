"""docs/middleware.md stays true to the code: its snippets compile, their imports resolve and
their keyword arguments exist; every setting its table names exists, with the default it says;
every TESSERA_* setting it mentions is one of Tessera's."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from idp.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "middleware.md"
TEXT = DOC.read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
# Named in the settings table but imported by no snippet.
EXTRA = {"JsonCodec": ("tessera_middleware.codec", "JsonCodec")}


def section(title: str) -> str:
    start = TEXT.index(f"\n## {title}\n")
    end = TEXT.find("\n## ", start + 1)
    return TEXT[start : end if end != -1 else None]


def imported_names() -> dict[str, Any]:
    """Every name the snippets import, resolved (an import that fails fails the test)."""
    names: dict[str, Any] = {}
    for snippet in SNIPPETS:
        for node in ast.walk(ast.parse(snippet)):
            if isinstance(node, ast.ImportFrom):
                module = importlib.import_module(node.module or "")
                for alias in node.names:
                    names[alias.asname or alias.name] = getattr(module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.asname or alias.name] = importlib.import_module(alias.name)
    for name, (module, attr) in EXTRA.items():
        names[name] = getattr(importlib.import_module(module), attr)
    return names


def parameters(obj: Any) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(obj).parameters)


def test_the_doc_has_the_sections_in_the_order_a_developer_needs():
    titles = re.findall(r"^## (.+)$", TEXT, flags=re.M)
    wanted = [
        "Install",
        "Protect a Flask route",
        "Protect an ASGI app (Starlette)",
        "Protect a FastAPI route",
        "A `websockets` server speaking `wfm`",
        "Settings",
        "When Tessera, Redis or the network fails",
        "Servers not written in Python",
    ]
    assert [t for t in titles if t in wanted] == wanted
    assert "revocation-events.md" in section("Servers not written in Python")
    assert "pip install './middleware[" in section("Install")


@pytest.mark.parametrize("number", range(len(SNIPPETS)))
def test_each_snippet_compiles(number: int):
    compile(SNIPPETS[number], f"docs/middleware.md snippet {number + 1}", "exec")


def test_the_snippets_imports_resolve():
    names = imported_names()
    assert {"TokenVerifier", "ResourceGuard", "WfmCodec", "require_scopes", "serve"} <= set(names)


def test_the_keyword_arguments_in_the_snippets_exist():
    names = imported_names()
    checked = 0
    for snippet in SNIPPETS:
        for node in ast.walk(ast.parse(snippet)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            target = names.get(node.func.id)
            if target is None or not getattr(target, "__module__", "").startswith("tessera_"):
                continue
            params = parameters(target)
            if any(p.kind is p.VAR_KEYWORD for p in params.values()):
                continue
            for keyword in node.keywords:
                assert keyword.arg in params, f"{node.func.id}({keyword.arg}=) does not exist"
                checked += 1
    assert checked >= 15


SETTING = re.compile(r"`(\w+)\((\w+)\)`")


def settings_rows() -> list[tuple[str, str, str]]:
    """(callable, parameter, default cell) for each setting named in the table."""
    rows = []
    for line in section("Settings").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not SETTING.search(cells[0]):
            continue
        for name, param in SETTING.findall(cells[0]):
            rows.append((name, param, cells[1]))
    return rows


def test_every_setting_in_the_table_exists_with_the_default_it_says():
    names = imported_names()
    rows = settings_rows()
    assert len(rows) >= 50
    for name, param, default in rows:
        params = parameters(names[name])
        assert param in params, f"{name}({param}) is not a parameter"
        literal = re.fullmatch(r"`([^`]+)`", default)
        if literal is None:
            continue  # described in words (a function, "always", ...)
        try:
            value = ast.literal_eval(literal.group(1))
        except ValueError:
            continue  # a name such as `time.time`
        assert params[param].default == value, f"{name}({param}) defaults to {default}?"


def test_every_parameter_of_the_main_classes_is_in_the_table():
    names = imported_names()
    named = {(n, p) for n, p, _ in settings_rows()}
    for cls in ("TokenVerifier", "RevocationState", "RevocationFeedPoller", "SseRevocationStream",
                "RedisRevocationStream", "ResourceGuard", "TierRateLimiter"):  # fmt: skip
        skip = {"self", "state", "poller", "client", "client_id", "client_secret", "clock",
                "storage_options"}  # fmt: skip
        for param in parameters(names[cls]):
            if param not in skip:
                assert (cls, param) in named, f"{cls}({param}) is not documented"


def test_every_tessera_setting_mentioned_exists():
    fields = {f.name for f in dataclasses.fields(Settings)}
    mentioned = set(re.findall(r"TESSERA_([A-Z0-9_]+)", TEXT))
    assert mentioned and mentioned <= fields, mentioned - fields
