"""Developer docs served at /docs, rendered from the Markdown in docs/guide/ (and docs/api.md).

markdown-it-py renders them: it follows CommonMark exactly, is already in the environment (rich,
pulled in by the test tools, depends on it) and, created with html=False, turns any raw HTML in
a page into text, so a doc can never inject markup or script; links with javascript: and other
unsafe schemes are refused by its validateLink. Python-Markdown, the alternative, passes raw
HTML through unless an extension is written to stop it.

A page may use a few placeholders, filled from the running configuration so the docs cannot
drift from it: {{ issuer }}, {{ scopes_table }}, {{ tiers_table }} and {{ setting:NAME }} for
the public settings listed in PUBLIC_SETTINGS (never a secret).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, abort, render_template
from markdown_it import MarkdownIt

from idp.config import PROJECT_ROOT
from idp.web.context import tessera

bp = Blueprint("docs", __name__, url_prefix="/docs")

GUIDE = PROJECT_ROOT / "docs" / "guide"
EXTRA = {"api": PROJECT_ROOT / "docs" / "api.md"}  # written elsewhere; served when present
ORDER = (
    "quick-start",
    "connect",
    "scopes",
    "tokens",
    "rate-limits",
    "revocation",
    "errors",
    "cors",
)
PUBLIC_SETTINGS = frozenset(
    {
        "ACCESS_TOKEN_TTL",
        "ID_TOKEN_TTL",
        "AUTHORIZATION_CODE_TTL",
        "REFRESH_TOKEN_IDLE_TTL",
        "REFRESH_TOKEN_ABSOLUTE_TTL",
        "REFRESH_TOKEN_REUSE_GRACE",
        "DEVICE_CODE_TTL",
        "DEVICE_POLL_INTERVAL",
        "ACCESS_TOKEN_ALG",
        "REVOCATION_POLL_INTERVAL",
        "KEY_PUBLICATION_DELAY",
    }
)
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)(?::([A-Z_]+))?\s*\}\}")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    path: Path


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: list[tuple[int, str, str]]  # (level, anchor, text) of each h2 and h3


def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def pages() -> list[Page]:
    """The guide's pages in reading order, then any others, then the API reference if present."""
    found = {p.stem: p for p in GUIDE.glob("*.md")}
    found.update({slug: path for slug, path in EXTRA.items() if path.is_file()})
    ordered = [s for s in ORDER if s in found] + sorted(set(found) - set(ORDER))
    return [Page(slug, _title(found[slug]), found[slug]) for slug in ordered]


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("-", " ").capitalize()


def slugify(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "section"


def render(source: str) -> Rendered:
    """HTML (raw HTML in the source escaped) with an id on every heading, and the h2/h3 list."""
    md = _renderer()
    tokens = md.parse(source)
    toc, seen = [], set()
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = tokens[i + 1].content
        anchor = slugify(text)
        while anchor in seen:
            anchor += "-"
        seen.add(anchor)
        token.attrSet("id", anchor)
        if token.tag in ("h2", "h3"):
            toc.append((int(token.tag[1]), anchor, text))
    return Rendered(md.renderer.render(tokens, md.options, {}), toc)


def fill(source: str) -> str:
    """The placeholders replaced with values from this server's configuration."""
    services = tessera()

    def value(match: re.Match) -> str:
        name, arg = match.group(1), match.group(2)
        if name == "issuer":
            return services.settings.ISSUER.rstrip("/")
        if name == "scopes_table":
            return scopes_table(services.catalogue)
        if name == "tiers_table":
            return tiers_table(services.catalogue)
        if name == "setting" and arg in PUBLIC_SETTINGS:
            return str(getattr(services.settings, arg))
        return match.group(0)

    return _PLACEHOLDER.sub(value, source)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def scopes_table(catalogue) -> str:
    rows = ["| Scope | What the user is told | Claims released | Needs approval | For services |"]
    rows.append("|---|---|---|---|---|")
    for s in catalogue.scopes.values():
        claims = ", ".join(f"`{c}`" for c in s.claims) or "none"
        rows.append(
            f"| `{s.name}` | {_cell(s.description)} | {claims} | "
            f"{'yes' if s.restricted else 'no'} | {'yes' if s.machine else 'no'} |"
        )
    return "\n".join(rows)


def tiers_table(catalogue) -> str:
    rows = ["| Tier | Requests per second | Burst |", "|---|---|---|"]
    for t in catalogue.tiers.values():
        default = " (new apps)" if t.name == catalogue.default_tier else ""
        rows.append(f"| `{t.name}`{default} | {t.rps:g} | {t.burst} |")
    return "\n".join(rows)


@bp.route("")
def index():
    return page(ORDER[0])


@bp.route("/<slug>")
def page(slug: str):
    every = pages()
    current = next((p for p in every if p.slug == slug), None)
    if current is None:
        abort(404)
    rendered = render(fill(current.path.read_text(encoding="utf-8")))
    return render_template("docs/page.html", pages=every, current=current, rendered=rendered)
