"""An accessibility smoke check run inside the browser on every page the scenarios visit.

Not a full audit: every form control has a label, headings do not skip levels, and whatever
the Tab key reaches shows a visible focus outline that it does not have unfocused.
"""

from __future__ import annotations

from typing import Any

UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 160))"""

HEADINGS = """() => Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6'))
  .map(h => [Number(h.tagName[1]), h.textContent.trim().slice(0, 60)])"""

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const cs = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), text: (el.textContent || el.name || '').trim().slice(0, 40),
          style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) || 0};
}"""

BLURRED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  // Focus moves elsewhere: el.blur() leaves a date field's inner part focused in Chromium,
  // so its :focus-within outline would stay and look like an outline drawn all along.
  const start = document.getElementById('a11y-tab-start');
  if (start) start.focus(); else el.blur();
  const cs = getComputedStyle(el);
  return {style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) || 0};
}"""


START = """() => {
  const start = document.createElement('span');
  start.tabIndex = -1;
  start.id = 'a11y-tab-start';
  document.body.prepend(start);
  start.focus();
}"""


def heading_problems(levels: list[list[Any]]) -> list[str]:
    problems, previous = [], 0
    for level, text in levels:
        if level > previous + 1:
            problems.append(f"h{level} {text!r} follows h{previous or 'nothing'}")
        previous = level
    return problems


def focus_problems(page: Any, tabs: int = 30) -> tuple[list[str], set[str]]:
    """Tab through the page; each focused link, button or field must show an outline."""
    problems: list[str] = []
    seen: set[str] = set()
    # Start the Tab order at the top of the page, wherever focus was left (a clicked button).
    page.evaluate(START)
    for _ in range(tabs):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            break
        if focused["tag"] not in ("a", "button", "input", "select", "textarea"):
            continue
        seen.add(focused["tag"])
        visible = focused["style"] != "none" and focused["width"] > 0
        if not visible:
            problems.append(f"<{focused['tag']}> {focused['text']!r} has no focus outline")
    # The outline must come from focus, not be there all along.
    if seen:
        focused = page.evaluate(FOCUSED)
        blurred = page.evaluate(BLURRED)
        if (
            focused
            and blurred
            and (blurred["style"], blurred["width"])
            == (
                focused["style"],
                focused["width"],
            )
        ):
            problems.append(f"<{focused['tag']}> looks the same focused and unfocused")
    page.evaluate("() => document.getElementById('a11y-tab-start')?.remove()")
    return problems, seen


def check(page: Any) -> None:
    """Assert the smoke check passes on the page as it is now."""
    unlabelled = page.evaluate(UNLABELLED)
    assert unlabelled == [], f"{page.url}: form controls without a label: {unlabelled}"
    headings = page.evaluate(HEADINGS)
    assert headings and headings[0][0] == 1, f"{page.url}: the first heading is not an h1"
    skips = heading_problems(headings)
    assert skips == [], f"{page.url}: heading levels skip: {skips}"
    problems, seen = focus_problems(page)
    assert problems == [], f"{page.url}: {problems}"
    assert "a" in seen, f"{page.url}: Tab never reached a link"
