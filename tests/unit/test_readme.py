"""The README stays true and keeps its shape: three parts for three readers, the two set-up
commands, the URLs a newcomer opens, the settings table equal to idp/config.py, and the
performance tables in bench/README.md rather than here."""

import re

from idp.config import PROJECT_ROOT, describe_settings

README = (PROJECT_ROOT / "README.md").read_text()


def top_headings() -> list[str]:
    return list(_parts())


def _parts() -> dict[str, list[str]]:
    """Each top-level part (`# title`) and its lines; a `#` comment in a code block is no title."""
    parts: dict[str, list[str]] = {}
    current, fence = None, False
    for line in README.splitlines():
        if line.startswith("```"):
            fence = not fence
        if not fence and line.startswith("# "):
            current = line[2:]
            parts[current] = []
        elif current is not None:
            parts[current].append(line)
    return parts


def part(title: str) -> str:
    text = _parts().get(title)
    assert text, f"no part '# {title}'"
    return "\n".join(text)


def settings_rows() -> list[str]:
    settings = part("Operate it").split("## Settings", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(TESSERA_[A-Z0-9_]+)` \|", settings, re.M)


def test_three_parts_for_three_readers():
    parts = [t for t in top_headings() if t != "Tessera"]
    assert parts[:3] == ["Run it", "Build on it", "Operate it"]


def test_quick_start_is_exactly_the_two_set_up_commands():
    quick = part("Run it").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]


def test_run_it_names_the_urls_and_the_demo_accounts():
    run = part("Run it")
    for path in ("/login", "/developers", "/admin", "/account/apps", "/docs"):
        assert f"http://127.0.0.1:5000{path}" in run, path
    assert "`demo`" in run and "`admin`" in run and "instance/demo-credentials.txt" in run


def test_build_on_it_links_the_docs_and_the_middleware_guide():
    build = part("Build on it")
    assert "/developers" in build and "`/docs`" in build
    assert "(docs/middleware.md)" in build
    for heading in (
        "## Accounts (mail, MFA, passkeys, import)",
        "## Federation (Discord, OIDC)",
        "## Personal access tokens",
    ):
        assert heading in build


def test_settings_table_is_exactly_the_settings_of_idp_config():
    documented = settings_rows()
    assert documented == [name for name, _default, _doc in describe_settings()]


def test_settings_table_names_no_machine_specific_path():
    settings = part("Operate it").split("## Settings", 1)[1].split("\n## ", 1)[0]
    assert not re.search(r"(/work/|/home/|/tmp/|/root/|/Users/|[A-Z]:\\)", settings)


def test_operate_it_has_the_cli_production_and_backups():
    operate = part("Operate it")
    for heading in ("## Operator commands", "## Production", "## Backups"):
        assert heading in operate
    assert "(docs/operations.md#when-the-database-goes-away)" in operate
    assert "(deploy/README.md)" in operate


def test_performance_tables_live_in_bench_readme():
    bench = (PROJECT_ROOT / "bench" / "README.md").read_text()
    assert "| database | scenario | req/s |" not in README
    assert "| alg | sign µs |" not in README
    assert "| path | ES256 | RS256 | EdDSA |" not in README
    for table in ("| database | scenario | req/s |", "| alg | sign µs |", "| path | ES256 |"):
        assert table in bench
    assert "(bench/README.md#headline-figures-moved-from-the-top-level-readme)" in README
