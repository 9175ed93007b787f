"""``jupyter convshare import FILE``: detect, check the whole file, store, summarise.

Real subprocesses (the ``cli`` fixtures of test_cli), real store, real files from
../shared/fixtures/real (skipped, saying so, when absent).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys

import pytest

from jupyter_convshare.core.shares import ShareService

from .conftest import real_fixture
from .test_cli import cli, cli_env, store  # noqa: F401

OPENAI_JSONL = "api-messages/Abelo9996__eval-builder/openai_chat.jsonl"


def stored_ids(store_dir) -> set[str]:
    service = ShareService.open(store_dir)
    try:
        return {c.id for c in service.list_conversations(getpass.getuser())}
    finally:
        service.close()


def test_import_names_the_format_and_stores_every_conversation(cli, store):
    # Given a real JSONL file of four Chat Completions message lists
    path = real_fixture(OPENAI_JSONL)
    # When it is imported with --json
    done = cli("import", str(path), "--json", "--no-server")
    # Then the format is named, the four conversations are listed with their counts,
    # and exactly those ids are in the store
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["format"] == "openai-chat"
    assert [c["messages"] for c in result["conversations"]] == [3, 4, 2, 2]
    assert all(c["branches"] == 1 for c in result["conversations"])
    assert {c["conversation_id"] for c in result["conversations"]} == stored_ids(store)
    assert result["skipped"] == []


def test_import_prints_a_readable_summary(cli, store):
    done = cli("import", str(real_fixture(OPENAI_JSONL)), "--no-server")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Format: openai-chat (OpenAI Chat Completions messages)\n")
    assert "Imported 4 conversations (11 messages)." in done.stdout


def test_a_dry_run_stores_nothing(cli, store):
    done = cli("import", str(real_fixture(OPENAI_JSONL)), "--dry-run", "--no-server")
    assert done.returncode == 0, done.stderr
    assert "Would import 4 conversations" in done.stdout
    assert stored_ids(store) == set()


def test_a_malformed_file_imports_nothing_and_names_the_file(cli, store, tmp_path):
    # Given a JSONL file whose third line is cut off
    lines = real_fixture(OPENAI_JSONL).read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines[:2] + [lines[2][: len(lines[2]) // 2]] + lines[3:]) + "\n", encoding="utf-8")
    # When it is imported
    done = cli("import", str(broken), "--no-server")
    # Then it fails with the file named and a line number, no traceback, and nothing stored
    assert done.returncode == 1
    assert "broken.jsonl" in done.stderr and "line 3" in done.stderr
    assert "Traceback" not in done.stderr
    assert stored_ids(store) == set()


def test_an_unknown_format_name_is_a_clear_error(cli, store):
    done = cli("import", str(real_fixture(OPENAI_JSONL)), "--format", "word-doc", "--no-server")
    assert done.returncode == 1
    assert "unknown format 'word-doc'" in done.stderr


async def test_import_goes_through_the_running_server(cli_env, jp_serverapp, http_server, jp_runtime_dir,  # noqa: F811
                                                      service, convshare_app, tmp_path):
    # Given a running server of this user
    cli_env["JUPYTER_RUNTIME_DIR"] = str(jp_runtime_dir)
    path = real_fixture(OPENAI_JSONL)
    # When the CLI imports a file with no server options
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jupyter_convshare.cli", "import", str(path), "--json",
        env=cli_env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    # Then the server stored each conversation under the ids the CLI printed
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout)
    ids = {c.id for c in service.list_conversations(convshare_app.owner)}
    assert {c["conversation_id"] for c in result["conversations"]} == ids
    assert len(ids) == 4


async def test_the_notebook_client_imports_a_file_into_the_server(jp_serverapp, http_server, jp_http_port, jp_base_url,
                                                            service, convshare_app):
    # Given a client of a running server (as in a notebook)
    from jupyter_convshare.client import ConvShareClient

    client = ConvShareClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    # When it imports a real JSONL file (no progress bar in a test)
    # (in a thread: the client blocks, and the server runs on this event loop)
    result = await asyncio.to_thread(client.import_file, real_fixture(OPENAI_JSONL), progress=False)
    # Then the server holds the four conversations under the ids it returned
    assert result["format"] == "openai-chat"
    assert {c["conversation_id"] for c in result["conversations"]} == {
        c.id for c in service.list_conversations(convshare_app.owner)
    }
    assert len(result["conversations"]) == 4


@pytest.mark.parametrize("relative", ["chatgpt/realazthat__chatgpt2graph/conversations.json",
                                      "chatgpt/pkuppens__my_chat_gpt/conversations.json",
                                      "claude/Gsunny45__Claude_Vault/conversations.json"])
def test_a_whole_export_is_streamed_one_conversation_at_a_time(cli, store, relative):
    # Given a real data export (a JSON array of conversations)
    from jupyter_convshare.core.importers import FORMATS
    from jupyter_convshare.core.importers.stream import scan, streaming_module

    path = real_fixture(relative)
    summary = scan(path)
    assert summary.streamed and streaming_module(summary.format) is not None
    assert summary.format in FORMATS
    # When it is imported
    done = cli("import", str(path), "--json", "--no-server")
    # Then every conversation of the array is imported or skipped with a reason
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    total = len(json.loads(path.read_text(encoding="utf-8")))
    assert len(result["conversations"]) + len(result["skipped"]) == total
    assert {c["conversation_id"] for c in result["conversations"]} == stored_ids(store)
    assert all(s["reason"] for s in result["skipped"])


@pytest.mark.parametrize("relative", ["chatgpt/pkuppens__my_chat_gpt/conversations.json",
                                      "claude/Gsunny45__Claude_Vault/conversations.json"])
def test_a_truncated_export_imports_nothing(cli, store, tmp_path, relative):
    # Given a real export cut off in its last conversation
    raw = real_fixture(relative).read_bytes()
    cut = tmp_path / "conversations.json"
    cut.write_bytes(raw[: len(raw) - 200])
    # When it is imported
    done = cli("import", str(cut), "--no-server")
    # Then the error names the file and the truncation, and nothing is stored
    assert done.returncode == 1
    assert "conversations.json" in done.stderr and "truncated" in done.stderr
    assert "Traceback" not in done.stderr
    assert stored_ids(store) == set()
