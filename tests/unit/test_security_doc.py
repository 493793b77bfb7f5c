"""docs/security.md stays true: every cited rule exists, every test it names exists."""

import re

from idp.config import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "security.md"
CITING = ("idp", "portal", "tests", "examples", "docs", "README.md", "middleware")
# The middleware is its own distribution (middleware/) with its tests beside it.
TEST_DIRS = (PROJECT_ROOT / "tests", PROJECT_ROOT / "middleware" / "tests")


def _anchors() -> set[str]:
    return set(re.findall(r'<a id="(\d+)"></a>', DOC.read_text(encoding="utf-8")))


OLD_REFERENCE = "SECURITY-" + "CHECKLIST"  # split so this file does not match itself


def _sources():
    """The Python and Markdown files that may cite a rule."""
    for name in CITING:
        path = PROJECT_ROOT / name
        for found in [path] if path.is_file() else sorted(path.rglob("*")):
            if found.suffix in (".py", ".md") and ".venv" not in found.parts:
                yield found


def test_every_rule_from_1_to_36_has_its_anchor():
    assert _anchors() == {str(n) for n in range(1, 37)}


def test_every_citation_of_docs_security_md_names_an_existing_rule():
    anchors, unknown = _anchors(), []
    for path in _sources():
        for cited in re.findall(r"security\.md#(\d+)", path.read_text(encoding="utf-8")):
            if cited not in anchors:
                unknown.append(f"{path.relative_to(PROJECT_ROOT)}: #{cited}")
    assert unknown == []


def test_no_reference_to_the_checklist_outside_the_repository_remains():
    stale = [
        str(path.relative_to(PROJECT_ROOT))
        for path in _sources()
        if OLD_REFERENCE in path.read_text(encoding="utf-8")
    ]
    assert stale == []


def test_every_test_the_document_names_exists():
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", DOC.read_text(encoding="utf-8")))
    defined = set()
    for path in (p for d in TEST_DIRS for p in d.rglob("test_*.py")):
        defined |= set(re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
    assert sorted(named - defined) == []


def test_checklist_numbers_in_test_names_are_rules_of_the_document():
    anchors, unknown = _anchors(), []
    for path in (p for d in TEST_DIRS for p in d.rglob("test_*.py")):
        for number in re.findall(r"^def test_checklist_(\d+)_", path.read_text(), re.M):
            if number not in anchors:
                unknown.append(f"{path.name}: checklist_{number}")
    assert unknown == []
