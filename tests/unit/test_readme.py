"""The README stays true: every setting documented, the two set-up commands shown."""

from idp.config import PROJECT_ROOT, describe_settings


def test_readme_documents_every_setting_and_the_two_commands():
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [name for name, _d, _doc in describe_settings() if f"`{name}`" not in readme]
    assert missing == []
    assert "make run" in readme and "make test" in readme
