"""The README is part of the product: its commands and its configuration table are checked."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _fenced_after(heading: str) -> str:
    """The first fenced shell block after a heading line containing ``heading``."""
    start = README.index(heading)
    match = re.search(r"```(?:bash|sh|shell)?\n(.*?)```", README[start:], re.S)
    assert match, f"no command block after {heading!r}"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command() -> None:
    # Given the README's "run the tests" command
    command = _fenced_after("Run the tests").splitlines()[-1].strip()
    # Then .ci/run runs exactly that command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in ci.splitlines(), f"{command!r} is not a line of .ci/run"


def test_readme_documents_every_configurable_trait() -> None:
    # Given every trait of ConvShareApp that config can set
    from jupyter_convshare.server.app import ConvShareApp

    own = set(ConvShareApp.class_own_traits(config=True))
    # Then each appears in the README's configuration table
    missing = sorted(name for name in own if f"`{name}`" not in README)
    assert not missing, f"README lacks configuration rows for: {missing}"
