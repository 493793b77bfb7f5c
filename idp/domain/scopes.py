"""The scope catalogue and rate-limit tiers, loaded from ``scopes.yaml``.

A malformed file stops start-up: a typo in a scope name would otherwise surface as a user
being asked to consent to nonsense, or an app silently losing its rate limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SCOPE_KEYS = {"description", "restricted", "claims", "machine"}
TIER_KEYS = {"rps", "burst"}
TOP_KEYS = {"scopes", "tiers", "default_tier"}
KNOWN_CLAIMS = {
    "sub",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
    "discord_id",
    "discord_username",
}


class CatalogueError(ValueError):
    """scopes.yaml is malformed; the message names the file, the entry and the problem."""


@dataclass(frozen=True)
class Scope:
    name: str
    description: str
    restricted: bool = False
    claims: tuple[str, ...] = ()
    machine: bool = False


@dataclass(frozen=True)
class Tier:
    name: str
    rps: float
    burst: int


@dataclass(frozen=True)
class ScopeCatalogue:
    scopes: dict[str, Scope]
    tiers: dict[str, Tier]
    default_tier: str

    def __contains__(self, name: str) -> bool:
        return name in self.scopes

    def get(self, name: str) -> Scope | None:
        return self.scopes.get(name)

    def unknown(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n not in self.scopes]

    def restricted(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in self.scopes and self.scopes[n].restricted]

    def claims_for(self, names: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for n in names:
            if n in self.scopes:
                out.update(self.scopes[n].claims)
        return out

    def tier(self, name: str | None) -> Tier:
        return self.tiers.get(name or self.default_tier) or self.tiers[self.default_tier]


def _fail(path: Path, where: str, problem: str) -> CatalogueError:
    return CatalogueError(f"{path}: {where}: {problem}")


def _parse_scope(path: Path, name: Any, body: Any) -> Scope:
    where = f"scopes.{name}"
    if not isinstance(name, str) or not name or any(c.isspace() or c in '"\\' for c in name):
        raise _fail(path, where, "a scope name must be a non-empty string without spaces or quotes")
    if not isinstance(body, dict):
        raise _fail(path, where, "must be a mapping with at least a description")
    extra = set(body) - SCOPE_KEYS
    if extra:
        raise _fail(path, where, f"unknown key(s) {', '.join(sorted(map(str, extra)))}")
    description = body.get("description")
    if not isinstance(description, str) or not description.strip():
        raise _fail(path, where, "description must be a non-empty sentence")
    for flag in ("restricted", "machine"):
        if not isinstance(body.get(flag, False), bool):
            raise _fail(path, where, f"{flag} must be true or false")
    claims = body.get("claims", [])
    if not isinstance(claims, list) or not all(isinstance(c, str) for c in claims):
        raise _fail(path, where, "claims must be a list of claim names")
    unknown_claims = set(claims) - KNOWN_CLAIMS
    if unknown_claims:
        raise _fail(path, where, f"unknown claim(s) {', '.join(sorted(unknown_claims))}")
    return Scope(
        name=name,
        description=description.strip(),
        restricted=body.get("restricted", False),
        claims=tuple(claims),
        machine=body.get("machine", False),
    )


def _parse_tier(path: Path, name: Any, body: Any) -> Tier:
    where = f"tiers.{name}"
    if not isinstance(name, str) or not name:
        raise _fail(path, where, "a tier name must be a non-empty string")
    if not isinstance(body, dict):
        raise _fail(path, where, "must be a mapping with rps and burst")
    extra = set(body) - TIER_KEYS
    if extra:
        raise _fail(path, where, f"unknown key(s) {', '.join(sorted(map(str, extra)))}")
    rps, burst = body.get("rps"), body.get("burst")
    if isinstance(rps, bool) or not isinstance(rps, int | float) or rps <= 0:
        raise _fail(path, where, "rps must be a positive number")
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise _fail(path, where, "burst must be a whole number of at least 1")
    return Tier(name=name, rps=rps, burst=burst)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a duplicate scope must be an error instead."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_catalogue(path: str | Path) -> ScopeCatalogue:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(path, "top level", "must be a mapping with scopes and tiers")
    extra = set(data) - TOP_KEYS
    if extra:
        raise _fail(path, "top level", f"unknown key(s) {', '.join(sorted(map(str, extra)))}")
    raw_scopes, raw_tiers = data.get("scopes"), data.get("tiers")
    if not isinstance(raw_scopes, dict) or not raw_scopes:
        raise _fail(path, "scopes", "must be a non-empty mapping")
    if not isinstance(raw_tiers, dict) or not raw_tiers:
        raise _fail(path, "tiers", "must be a non-empty mapping")
    scopes = {name: _parse_scope(path, name, body) for name, body in raw_scopes.items()}
    tiers = {name: _parse_tier(path, name, body) for name, body in raw_tiers.items()}
    default_tier = data.get("default_tier", "default")
    if default_tier not in tiers:
        raise _fail(path, "default_tier", f"names no tier: {default_tier!r}")
    if "openid" not in scopes:
        raise _fail(path, "scopes", "the openid scope is required")
    return ScopeCatalogue(scopes=scopes, tiers=tiers, default_tier=default_tier)
