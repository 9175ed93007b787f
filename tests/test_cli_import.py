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


# -- picking conversations out of a whole export ----------------------------------------------

PKUPPENS = "chatgpt/pkuppens__my_chat_gpt/conversations.json"


def test_list_shows_id_title_counts_and_creation_time_and_stores_nothing(cli, store):
    # Given a real six-conversation ChatGPT export
    path = real_fixture(PKUPPENS)
    # When it is listed
    done = cli("import", str(path), "--list", "--no-server")
    # Then each conversation is a row with its id, counts, creation time and title
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "6 conversations:"
    logo = next(line for line in lines if "Logo design" in line).split()
    assert logo[:5] == ["chatgpt:e96087ed-b714-4a54-a06a-e425db1680bd", "16", "2", "2023-03-29", "06:57:16"]
    assert stored_ids(store) == set()


def test_list_as_json_gives_the_creation_time_of_each_conversation(cli, store):
    done = cli("import", str(real_fixture(PKUPPENS)), "--list", "--json", "--no-server")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)["conversations"]
    assert len(listed) == 6 and listed[0]["created_at"] == "2023-03-29T06:57:16.382335Z"
    assert {"conversation_id", "title", "messages", "branches", "created_at"} <= set(listed[0])
    assert stored_ids(store) == set()


def test_ids_and_titles_pick_conversations_and_can_be_repeated(cli, store):
    # Given a whole export
    path = real_fixture(PKUPPENS)
    # When two are picked by id (one as listed, one by the export's own id) and one by title
    done = cli("import", str(path), "--json", "--no-server",
               "--id", "chatgpt:ba745bf1-f90f-4b29-b8dc-d3c86ca33166",
               "--id", "e96087ed-b714-4a54-a06a-e425db1680bd",
               "--title", "GitHub Wikis & Source Code")
    # Then exactly those three are imported, in the export's order
    assert done.returncode == 0, done.stderr
    assert [c["conversation_id"] for c in json.loads(done.stdout)["conversations"]] == [
        "chatgpt:e96087ed-b714-4a54-a06a-e425db1680bd", "chatgpt:c21a4db5-68eb-471a-b590-bb6ef7b81b42",
        "chatgpt:ba745bf1-f90f-4b29-b8dc-d3c86ca33166"]
    assert len(stored_ids(store)) == 3


@pytest.mark.parametrize("option, value, expected", [
    ("--id", "chatgpt:0000", "conversations.json: id: no conversation with id 'chatgpt:0000' in this file"),
    ("--title", "what is flutter?", "conversations.json: title: no conversation titled 'what is flutter?'"),
])
def test_an_id_or_title_that_matches_nothing_names_the_file_and_imports_nothing(cli, store, option, value, expected):
    done = cli("import", str(real_fixture(PKUPPENS)), option, value, "--id", "chatgpt:ba745bf1-f90f-4b29-b8dc-d3c86ca33166",
               "--no-server")
    assert done.returncode == 1
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert stored_ids(store) == set()


def test_a_title_several_conversations_share_is_an_error_listing_their_ids(cli, store, tmp_path):
    # Given an export with two conversations titled "New chat"
    items = json.loads(real_fixture(PKUPPENS).read_text(encoding="utf-8"))
    twin = dict(items[4], id="twin-id", conversation_id="twin-id")
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(items + [twin]), encoding="utf-8")
    # When that title is picked
    done = cli("import", str(path), "--title", "New chat", "--no-server")
    # Then the error says so and lists both ids to pick from; nothing is stored
    assert done.returncode == 1
    assert "2 conversations are titled 'New chat': pick one by id: " in done.stderr
    assert "chatgpt:ba745bf1-f90f-4b29-b8dc-d3c86ca33166, chatgpt:twin-id" in done.stderr
    assert stored_ids(store) == set()


def test_the_notebook_client_lists_a_file_without_importing_it():
    from jupyter_convshare.client import ConvShareClient

    listed = ConvShareClient.list_file(real_fixture(PKUPPENS))
    assert listed["format"] == "chatgpt" and len(listed["conversations"]) == 6


async def test_the_notebook_client_imports_a_picked_conversation_of_an_export_zip_with_its_files(
        jp_serverapp, http_server, jp_http_port, jp_base_url, service, convshare_app, tmp_path):
    # Given a client of a running server and the ZIP ChatGPT sends
    from jupyter_convshare.client import ConvShareClient

    from .test_import_zip import chatgpt_export, png

    client = ConvShareClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    path = chatgpt_export(tmp_path)
    # When the conversation is picked by title and imported
    result = await asyncio.to_thread(client.import_file, path, title="Fixture", progress=False)
    # Then the server holds it with the images as downloadable blobs, linked to their parts
    assert [(c["conversation_id"], c["files"]) for c in result["conversations"]] == [("chatgpt:fixture", 4)]
    conversation = service.get_conversation(convshare_app.owner, "chatgpt:fixture")
    first = conversation.attachments["file_1"]
    assert first.available and first.name == "0b7c1f5e.png"
    with open(service.blob_path(first.sha256), "rb") as f:
        assert f.read() == png((255, 0, 0))
    assert not conversation.attachments["file_5"].available


async def test_a_posted_conversation_cannot_claim_bytes_it_did_not_send(
        jp_serverapp, http_server, jp_http_port, jp_base_url, service, convshare_app, tmp_path):
    # Given a stored blob (an image imported from an export ZIP)
    from jupyter_convshare.client import ConvShareClient, ConvShareClientError
    from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, SourceInfo

    from .test_import_zip import chatgpt_export

    client = ConvShareClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    await asyncio.to_thread(client.import_file, chatgpt_export(tmp_path), progress=False)
    digest = service.get_conversation(convshare_app.owner, "chatgpt:fixture").attachments["file_1"].sha256
    # When a posted conversation says its attachment is that digest, available, without the bytes
    claim = Conversation(id="claim", title="claim", source=SourceInfo(format="convshare"), attachments={
        "a": Attachment(id="a", name="a.png", kind="image", sha256=digest, available=True)})
    claim.add_message(Message(id="m", role="user", author_id="user", parts=[Part(type="image", attachment_id="a")]))
    stored_id = await asyncio.to_thread(client.import_conversation, claim)
    # Then it is stored as a reference, never pointing at the other file's bytes
    attachment = service.get_conversation(convshare_app.owner, stored_id).attachments["a"]
    assert (attachment.available, attachment.sha256) == (False, None)
    # and bytes for an attachment the conversation does not declare are refused
    with pytest.raises(ConvShareClientError) as refused:
        await asyncio.to_thread(client.import_conversation, claim, {"other": b"x"})
    assert refused.value.status == 400 and refused.value.field == "blobs[0].attachment_id"


async def test_an_image_imported_from_an_export_zip_shows_in_the_shared_page(
        jp_serverapp, http_server, jp_http_port, jp_base_url, http_server_client, service, convshare_app, tmp_path):
    # Given the images of a ChatGPT export ZIP imported through the notebook client, then shared
    from jupyter_convshare.client import ConvShareClient

    from .server_helpers import make_anonymous_fetch
    from .test_import_zip import chatgpt_export, png

    client = ConvShareClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    await asyncio.to_thread(client.import_file, chatgpt_export(tmp_path), progress=False)
    share = await asyncio.to_thread(client.create_share, conversation_id="chatgpt:fixture")
    link = share.url.rsplit("/", 1)[-1]
    # When a visitor opens the page and its first image
    fetch = make_anonymous_fetch(http_server_client, jp_base_url)
    page = await fetch("convshare", "s", link)
    image = await fetch("convshare", "s", link, "files", "file_1")
    # Then the page shows the stored image, and the file is the ZIP's bytes
    assert page.code == 200 and b"files/file_1" in page.body
    assert image.code == 200 and image.body == png((255, 0, 0))


@pytest.mark.parametrize("select, expected", [
    ({"title": "GitHub Wikis & Source Code"}, "chatgpt:c21a4db5-68eb-471a-b590-bb6ef7b81b42"),
    ({"id": "ba745bf1-f90f-4b29-b8dc-d3c86ca33166"}, "chatgpt:ba745bf1-f90f-4b29-b8dc-d3c86ca33166"),
])
async def test_the_rest_api_imports_one_conversation_of_a_posted_export_by_id_or_title(
        jp_fetch, service, convshare_app, select, expected):
    # Given a whole export posted to POST convshare/api/conversations with a choice
    from .server_helpers import body_json, make_api

    raw = json.loads(real_fixture(PKUPPENS).read_text(encoding="utf-8"))
    api = make_api(jp_fetch)
    response = await api("POST", "conversations", body={"conversation": raw, "name": "conversations.json",
                                                         "select": select})
    # Then only that conversation is stored
    assert response.code == 201, response.body
    assert body_json(response)["id"] == expected
    assert [c.id for c in service.list_conversations(convshare_app.owner)] == [expected]


@pytest.mark.parametrize("select, field, message", [
    ({"title": "nope"}, "select.title", "conversations.json: select.title: no conversation titled 'nope'"),
    ({"id": "nope"}, "select.id", "no conversation with id 'nope'"),
    ({"name": "x"}, "select", 'select: expected {"id"'),
    ("New chat", "select", 'select: expected {"id"'),
])
async def test_the_rest_api_refuses_a_choice_that_names_nothing(jp_fetch, service, convshare_app, select, field, message):
    from .server_helpers import body_json, make_api

    raw = json.loads(real_fixture(PKUPPENS).read_text(encoding="utf-8"))
    response = await make_api(jp_fetch)("POST", "conversations", body={
        "conversation": raw, "name": "conversations.json", "select": select})
    assert response.code == 400
    assert body_json(response)["field"] == field and message in body_json(response)["message"]
    assert service.list_conversations(convshare_app.owner) == []


async def test_the_rest_api_lists_the_ids_of_a_title_several_conversations_share(jp_fetch, service, convshare_app):
    from .server_helpers import body_json, make_api

    raw = json.loads(real_fixture(PKUPPENS).read_text(encoding="utf-8"))
    raw.append(dict(raw[4], id="twin", conversation_id="twin"))
    response = await make_api(jp_fetch)("POST", "conversations", body={"conversation": raw, "select": {"title": "New chat"}})
    assert response.code == 400
    assert body_json(response)["message"].endswith(
        "2 conversations are titled 'New chat': pick one by id: chatgpt:ba745bf1-f90f-4b29-b8dc-d3c86ca33166, chatgpt:twin")


async def test_files_over_the_servers_limits_stay_references_instead_of_failing_the_import(
        jp_serverapp, http_server, jp_http_port, jp_base_url, service, convshare_app, tmp_path):
    # Given a server whose request limit holds the conversation and its small images, but
    # not a 6 kB file as well
    import os

    from jupyter_convshare.client import ConvShareClient
    from jupyter_convshare.core.importers import load_one

    from .test_import_zip import IMAGE_GENERATION, chatgpt_export

    path = chatgpt_export(tmp_path, **{"file_5-noise.png": os.urandom(6000)})
    base = len(json.dumps({"conversation": load_one(real_fixture(*IMAGE_GENERATION)).to_dict(), "format": "convshare"}))
    convshare_app.max_import_bytes = base + 4096 + 2500
    client = ConvShareClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    # When the export ZIP is imported through it
    result = await asyncio.to_thread(client.import_file, path, progress=False)
    # Then the conversation is stored with the four images; the big file stays a reference, with a warning
    assert [(c["conversation_id"], c["files"]) for c in result["conversations"]] == [("chatgpt:fixture", 4)]
    conversation = service.get_conversation(convshare_app.owner, "chatgpt:fixture")
    assert not conversation.attachments["file_5"].available and conversation.attachments["file_1"].available
    assert any("noise.png" in w and "request limit" in w for w in conversation.source.warnings)
