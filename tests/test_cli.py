"""``jupyter convshare`` as a real subprocess: on the store (no server), through a server,
and the ``demo`` end to end.

Each run gets a private environment: an empty runtime dir (so no server of the person
running the tests is found), temp config and data dirs, and no JUPYTER_SERVER_URL.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "demo"
SCRIPT = Path(sys.executable).parent / "jupyter-convshare"
LINK = re.compile(r"http://localhost:8888/convshare/s/[A-Za-z0-9_-]{43}")


@pytest.fixture
def cli_env(tmp_path):
    """Environment for CLI subprocesses, isolated from any real Jupyter setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    for name in ("runtime", "config", "data"):
        (tmp_path / name).mkdir()
    env.update(
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    return env


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"


@pytest.fixture
def demo_chat(tmp_path):
    """A copy of the example conversation and its attachment in a work folder."""
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES, work)
    return work / "sales-analysis.chat"


@pytest.fixture
def cli(cli_env, store, tmp_path):
    """Run ``python -m jupyter_convshare.cli <args> --store-dir <store>`` in the work folder."""

    def run(*args: str, store_dir: bool = True) -> subprocess.CompletedProcess[str]:
        extra = [f"--store-dir={store}"] if store_dir else []
        return subprocess.run(
            [sys.executable, "-m", "jupyter_convshare.cli", *args, *extra],
            env=cli_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def share_json(cli, *args: str) -> dict:
    done = cli("share", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("jupyter convshare")
    for word in words:
        assert word in done.stderr


# -- share on the store ----------------------------------------------------------------------


def test_share_json_prints_one_object_with_the_link(cli, demo_chat):
    # Given no server runs, When a .chat file is shared with --json
    result = share_json(cli, str(demo_chat))
    # Then one JSON object has the share id, the link, the expiry (7 days, ISO UTC) and the conversation
    assert LINK.fullmatch(result["url"])
    assert result["share_id"]
    assert result["conversation_id"].startswith("jupyterlab-chat:")
    assert result["created"] is True
    expires = datetime.fromisoformat(result["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - datetime.now(timezone.utc) - timedelta(days=7)) < timedelta(minutes=5)
    assert "link" not in result  # the secret appears only inside the URL


def test_share_through_the_console_script(cli_env, demo_chat, store):
    # Given the installed console script, When it shares a file
    done = subprocess.run(
        [str(SCRIPT), "share", str(demo_chat), "--json", f"--store-dir={store}"],
        env=cli_env, capture_output=True, text=True, timeout=120,
    )
    # Then it works like `python -m jupyter_convshare.cli`
    assert done.returncode == 0, done.stderr
    assert LINK.fullmatch(json.loads(done.stdout)["url"])


def test_share_prints_the_link_a_terminal_qr_and_a_note(cli, demo_chat):
    # Given no server runs, When a file is shared without --json
    done = cli("share", str(demo_chat))
    # Then the link, a QR code of block characters and a note about the server are printed
    assert done.returncode == 0, done.stderr
    assert LINK.search(done.stdout)
    assert "█" in done.stdout
    assert "No Jupyter server is running" in done.stderr


def test_sharing_again_prints_the_existing_link(cli, demo_chat):
    # Given a shared file, When it is shared again
    first = share_json(cli, str(demo_chat))
    second = share_json(cli, str(demo_chat))
    # Then the same share and link come back, marked as existing
    assert (second["share_id"], second["url"]) == (first["share_id"], first["url"])
    assert second["created"] is False


def test_share_options_set_mode_expiry_title_and_public_url(cli, demo_chat):
    # When a file is shared as a never-expiring snapshot with a title and a public URL
    result = share_json(
        cli, str(demo_chat), "--snapshot", "--expires=never", "--title=Q4 review",
        "--public-url=https://hub.example.org/user/ada/",
    )
    # Then the share says so and the link uses the public URL
    assert (result["mode"], result["expires_at"], result["title"]) == ("snapshot", None, "Q4 review")
    assert result["url"].startswith("https://hub.example.org/user/ada/convshare/s/")


def test_share_stores_the_attachment_found_beside_the_chat_file(cli, demo_chat):
    # Given a shared .chat file whose attachment sales.csv lies beside it
    result = share_json(cli, str(demo_chat))
    # When its conversation is exported as lossless JSON
    done = cli("export", result["share_id"], "--format=json")
    assert done.returncode == 0, done.stderr
    # Then the attachment was stored with its bytes
    (attachment,) = json.loads(done.stdout)["attachments"].values()
    assert attachment["available"] is True
    assert attachment["size_bytes"] == (demo_chat.parent / "sales.csv").stat().st_size


def test_attachment_outside_the_root_is_never_read(cli, tmp_path):
    # Given a received .chat file whose attachment points outside its folder
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    received = tmp_path / "work" / "received.chat"
    received.parent.mkdir()
    document = json.loads((EXAMPLES / "sales-analysis.chat").read_text())
    document["attachments"] = {"a1": {"type": "file", "value": "../id_rsa"}}
    document["messages"][0]["attachments"] = ["a1"]
    received.write_text(json.dumps(document))
    # When it is shared with the root being its own folder
    done = cli("share", str(received), "--json", f"--root-dir={received.parent}")
    # Then the share is made but the file is not included
    assert done.returncode == 0, done.stderr
    assert "not included" in done.stderr
    exported = json.loads(cli("export", json.loads(done.stdout)["share_id"]).stdout)
    assert [a.get("available", False) for a in exported["attachments"].values()] == [False]


def test_index_picks_one_conversation_of_several(cli, tmp_path):
    # Given a JSONL file with two OpenAI conversations
    path = tmp_path / "two.jsonl"
    lines = [
        {"messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "one"}]},
        {"messages": [{"role": "user", "content": "second"}, {"role": "assistant", "content": "two"}]},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    # When it is shared without --index, Then the error says there are several
    assert_one_line_error(cli("share", str(path)), 1, "two.jsonl")
    # And with --index=1 the second one is shared
    result = share_json(cli, str(path), "--index=1")
    markdown = cli("export", result["share_id"], "--format=md").stdout
    assert "second" in markdown and "first" not in markdown


def test_share_warns_about_secrets_in_the_content(cli, tmp_path):
    # Given a message list in which the user pasted an API key
    leaked = tmp_path / "leaked.json"
    key = "sk-proj-" + "A1b2C3d4" * 5
    leaked.write_text(json.dumps([{"role": "user", "content": f"my key is {key}, why does it fail?"}]))
    # When it is shared
    done = cli("share", str(leaked), "--json")
    # Then the share is made, and stderr and the JSON warn about it without repeating the key
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and "API key" in done.stderr
    assert key not in done.stderr
    assert json.loads(done.stdout)["warnings"][0]["kind"] == "openai_api_key"


# -- list, revoke, export --------------------------------------------------------------------


def test_list_shows_shares_and_revoke_removes_one(cli, demo_chat):
    # Given a share
    result = share_json(cli, str(demo_chat))
    # When the shares are listed, Then it is there
    listed = json.loads(cli("list", "--json").stdout)
    assert [(s["share_id"], s["url"]) for s in listed] == [(result["share_id"], result["url"])]
    assert result["share_id"] in cli("list").stdout
    # When it is revoked, Then the list is empty
    done = cli("revoke", result["share_id"])
    assert done.returncode == 0, done.stderr
    assert "No shares." in cli("list").stdout


def test_a_share_id_starting_with_a_dash_is_taken_after_double_dash(cli, demo_chat, store):
    # Given a share whose id starts with "-" (as stores made before ids avoided a leading dash)
    result = share_json(cli, str(demo_chat))
    old_id, dash_id = result["share_id"], "-" + result["share_id"][1:]
    with sqlite3.connect(store / "convshare.db") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info('{table}')")]
            if "share_id" in columns:
                db.execute(f"UPDATE '{table}' SET share_id = ? WHERE share_id = ?", (dash_id, old_id))
    # When it is revoked without "--", Then the usage error says how to pass it
    assert_one_line_error(cli("revoke", dash_id), 2, "unknown option", f"-- {dash_id}")
    # When it is revoked after "--", Then it is gone
    done = cli("revoke", f"--store-dir={store}", "--", dash_id, store_dir=False)
    assert done.returncode == 0, done.stderr
    assert "No shares." in cli("list").stdout


def test_revoking_an_unknown_share_fails_naming_it(cli):
    # When an unknown share id is revoked, Then exit 1 with a message naming it
    assert_one_line_error(cli("revoke", "nosuchshare"), 1, "nosuchshare", "no such share")


def test_export_formats_by_share_id_and_by_conversation_id(cli, demo_chat, tmp_path):
    # Given a share
    result = share_json(cli, str(demo_chat))
    # When it is exported as Markdown, CSV (to a file) and Parquet (to a file)
    markdown = cli("export", result["share_id"], "--format=md")
    csv_file, parquet_file = tmp_path / "out.csv", tmp_path / "out.parquet"
    csv_done = cli("export", result["conversation_id"], "--format=csv", f"-o={csv_file}")
    parquet_done = cli("export", result["share_id"], "--format=parquet", "-o", str(parquet_file))
    # Then each holds the conversation
    assert markdown.returncode == 0, markdown.stderr
    assert "Jupyternaut" in markdown.stdout
    assert csv_done.returncode == 0, csv_done.stderr
    assert "compound monthly growth rate" in csv_file.read_text()
    assert parquet_done.returncode == 0, parquet_done.stderr
    assert pq.read_table(io.BytesIO(parquet_file.read_bytes())).num_rows == 11


def test_export_of_a_file_needs_no_store(cli, demo_chat):
    # When a file is exported directly, Then it is converted without sharing it
    done = cli("export", str(demo_chat), "--format=json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["schema"] == "convshare/1"
    assert json.loads(cli("list", "--json").stdout) == []


def test_export_of_an_unknown_id_fails(cli):
    # When nothing matches, Then exit 1 naming the target
    assert_one_line_error(cli("export", "whatisthis"), 1, "whatisthis", "no such file, share or conversation")


# -- errors ------------------------------------------------------------------------------------


def test_missing_file_fails_naming_it(cli):
    assert_one_line_error(cli("share", "nowhere/missing.chat"), 1, "missing.chat", "no such file")


def test_malformed_json_fails_naming_the_file(cli, tmp_path):
    # Given a .chat file that is not JSON
    broken = tmp_path / "broken.chat"
    broken.write_text('{"messages": [')
    # When it is shared, Then exit 1 with one line naming the file, and nothing is stored
    assert_one_line_error(cli("share", str(broken)), 1, "broken.chat")
    assert json.loads(cli("list", "--json").stdout) == []


def test_malformed_messages_fail_naming_the_field(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"role": "wizard", "content": "hi"}]))
    assert_one_line_error(cli("share", str(bad)), 1, "bad.json", "role")


def test_bad_expiry_fails(cli, demo_chat):
    assert_one_line_error(cli("share", str(demo_chat), "--expires=tomorrow"), 1, "expires")


def test_usage_errors_exit_2(cli, demo_chat):
    assert_one_line_error(cli("share"), 2, "usage")
    assert_one_line_error(cli("share", str(demo_chat), "--expire=30d"), 2, "unknown option --expire")
    assert_one_line_error(cli("frobnicate", store_dir=False), 2, "frobnicate")
    assert_one_line_error(cli(store_dir=False), 2, "give a command")


# -- through a running server -------------------------------------------------------------------


async def test_share_goes_through_the_running_server(
    cli_env, jp_serverapp, http_server, jp_runtime_dir, jp_root_dir, service, convshare_app, tmp_path
):
    # Given a running server of this user (its info file in the runtime dir) whose root
    # holds the example conversation
    shutil.copytree(EXAMPLES, jp_root_dir, dirs_exist_ok=True)
    cli_env["JUPYTER_RUNTIME_DIR"] = str(jp_runtime_dir)
    url = jp_serverapp.connection_url
    # When the CLI shares the file by its local path, with no server options
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jupyter_convshare.cli", "share", str(jp_root_dir / "sales-analysis.chat"), "--json",
        env=cli_env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    # Then the server shared it by its root-relative path, with the attachment
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout)
    assert result["url"].startswith(f"{url}convshare/s/")
    stored = service.get_conversation(convshare_app.owner, result["conversation_id"])
    assert stored.source.path == "sales-analysis.chat"
    assert [a.available for a in stored.attachments.values()] == [True]


# -- demo ----------------------------------------------------------------------------------------


def test_demo_starts_a_server_shares_and_the_link_answers(cli):
    # When the demo runs once (it starts a real server, shares, checks the link, stops)
    done = cli("demo", "--exit-after-share", "--no-browser", store_dir=False)
    # Then it printed the link, a QR code and how to open it, and the link answered 200
    assert done.returncode == 0, done.stderr
    match = re.search(r"http://127\.0\.0\.1:\d+/convshare/s/[A-Za-z0-9_-]{43}", done.stdout)
    assert match
    assert "█" in done.stdout
    assert f"Open it in a browser: {match.group(0)} (no login needed)" in done.stdout
    assert "the link answers 200 without login" in done.stdout
