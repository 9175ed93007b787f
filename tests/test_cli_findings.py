"""``jupyter convshare share`` prints every finding (secrets and personal data), each with
its masked preview and whether viewers see it; never the value. Fixtures: ``test_cli``."""

from __future__ import annotations

import json

from jupyter_convshare.cli import _finding_line

from .test_cli import cli, cli_env, store  # noqa: F401  (pytest fixtures)

KEY = "sk-proj-" + "A1b2C3d4" * 5
EMAIL = "grace.hopper@navy-computing.org"


def test_share_prints_every_finding_with_a_masked_preview(cli, tmp_path):
    # Given a message list holding an API key, an e-mail address and a home path
    pasted = tmp_path / "pasted.json"
    pasted.write_text(json.dumps([
        {"role": "user", "content": f"my key is {KEY}, mail {EMAIL}"},
        {"role": "assistant", "content": "I read /home/grace/notes/plan.txt for you"},
    ]))
    # When it is shared
    done = cli("share", str(pasted), "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    # Then stderr has one line per finding: the secret as a warning (masked by default)
    key_line = next(line for line in lines if "API key" in line)
    assert key_line.startswith("warning: ") and "[sk-" in key_line and key_line.endswith("(hidden from viewers)")
    # and the personal data too, with what viewers will see
    email_line = next(line for line in lines if "e-mail" in line)
    assert email_line.startswith("finding: ") and "[g…@n….org]" in email_line
    assert email_line.endswith("(visible to viewers)")
    home_line = next(line for line in lines if "home" in line.lower() and line.startswith("finding: "))
    assert home_line.endswith("(hidden from viewers)")  # home paths always show as ~
    # And nothing repeats a value
    assert KEY not in done.stderr and EMAIL not in done.stderr and "/home/grace" not in done.stderr
    # And the JSON carries all of them (the secrets alone stay "warnings")
    result = json.loads(done.stdout)
    assert {f["kind"] for f in result["findings"]} == {"openai_api_key", "email", "home_path"}
    assert [w["kind"] for w in result["warnings"]] == ["openai_api_key"]


def test_a_finding_line_never_carries_terminal_control_characters():
    # Given a finding naming a hostile attachment (an escape sequence in its name)
    finding = {"kind": "github_token", "category": "secret", "message": "Attachment \x1b[2Jx.txt holds a token.",
               "preview": "ghp_••••", "hidden": True}
    # Then the line shows it inert
    assert _finding_line(finding) == "warning: Attachment ?[2Jx.txt holds a token. [ghp_••••] (hidden from viewers)"


def test_an_older_servers_secret_warnings_still_print():
    # Given a server answering only "warnings" (no category, preview or hidden)
    line = _finding_line({"kind": "openai_api_key", "message": "Message 1 (user) contains an OpenAI API key."})
    assert line == "warning: Message 1 (user) contains an OpenAI API key."
