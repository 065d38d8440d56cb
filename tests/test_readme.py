"""The README stays true: its table of actions is the action table, and it opens with the two set-up commands."""

import re
from pathlib import Path

from openplum.actions.table import markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_lists_the_actions_exactly_as_the_action_table_does() -> None:
    text = README.read_text()
    found = re.search(r"<!-- actions:start -->\n(.*?)\n<!-- actions:end -->", text, re.S)
    assert found, "README lost its actions markers"
    assert found.group(1).strip() == markdown_table().strip(), "regenerate: python -m openplum.actions.table"


def test_readme_leads_with_the_serve_and_test_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    assert [b.strip() for b in blocks[:2]] == ["scripts/serve", "scripts/test"]
    root = README.parent
    assert (root / "scripts" / "serve").stat().st_mode & 0o111
    assert (root / "scripts" / "test").stat().st_mode & 0o111
    assert "scripts/test" in (root / ".ci" / "run").read_text()
