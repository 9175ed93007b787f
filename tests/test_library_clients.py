"""The library from notebooks and terminals: the REST client, the ``SharedWithMe`` widget
and ``jupyter convshare save``, against a real server with several users.

The identity provider of ``test_grants``: the server's own token is the owner
(``teacher``); ``<name>-token`` is user ``<name>``. Widget code runs in a worker thread
while the test's event loop serves its REST calls (as in ``test_widgets``); results are
checked in the store.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest

from jupyter_convshare.client import ConvShareClient, ConvShareClientError
from jupyter_convshare.core.model import Conversation
from jupyter_convshare.widgets import SharedWithMe

from .test_grants import OWNER, jp_server_config  # noqa: F401

MESSAGES = [
    {"role": "system", "content": "secret system prompt"},
    {"role": "user", "content": "What is the median of 1, 3 and 10?"},
    {"role": "assistant", "content": "The median is **3**."},
]


def run(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run blocking client or widget code in a thread while the loop serves its requests."""
    return asyncio.to_thread(func, *args, **kwargs)


@pytest.fixture
def server_url(jp_serverapp, http_server, jp_http_port, jp_base_url) -> str:
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}"


@pytest.fixture
def owner_client(server_url, jp_serverapp) -> ConvShareClient:
    return ConvShareClient(server_url, jp_serverapp.identity_provider.token, timeout=20)


def user_client(server_url: str, name: str) -> ConvShareClient:
    return ConvShareClient(server_url, f"{name}-token", timeout=20)


# -- client ----------------------------------------------------------------------------------


async def test_client_saves_lists_renames_tags_archives_reads_and_removes(owner_client, server_url, convshare_app):
    share = await run(owner_client.share, MESSAGES, title="Medians")
    student = user_client(server_url, "student1")
    item = await run(student.save_to_library, share.url)
    assert (item["created"], item["origin"], item["status"]) == (True, "this server", "active")
    assert (await run(student.save_to_library, share.url))["created"] is False
    renamed = await run(student.rename_library_item, item["item_id"], "Stats homework")
    assert renamed["name"] == "Stats homework"
    tagged = await run(student.tag_library_item, item["item_id"], ["stats", "week 2"])
    assert tagged["tags"] == ["stats", "week 2"]
    assert [i["item_id"] for i in await run(student.library, tag="stats")] == [item["item_id"]]
    assert await run(student.library, q="nothing like it") == []
    conversation = await run(student.read_library_item, item["item_id"])
    assert isinstance(conversation, Conversation) and conversation.title == "Medians"
    assert all(m.role != "system" for m in conversation.messages.values())
    await run(student.archive_library_item, item["item_id"])
    assert await run(student.library) == []
    assert [i["archived"] for i in await run(student.library, archived=True)] == [True]
    await run(student.remove_library_item, item["item_id"])
    assert await run(student.library, archived=None) == []
    assert convshare_app.library.list("student1", archived=None) == []


async def test_client_saves_a_granted_share_by_its_id(owner_client, server_url):
    share = await run(owner_client.share, MESSAGES, title="Granted")
    await run(owner_client.grant, share.share_id, "user", "carol", "view")
    carol = user_client(server_url, "carol")
    [granted] = await run(carol.library)
    assert granted["kind"] == "granted" and granted["owner"] == OWNER
    saved = await run(carol.save_to_library, share.share_id)
    assert saved["kind"] == "saved" and saved["created"] is True
    assert [i["item_id"] for i in await run(carol.library)] == [saved["item_id"]]


async def test_client_errors_name_the_field(server_url):
    student = user_client(server_url, "student1")
    with pytest.raises(ConvShareClientError) as caught:
        await run(student.save_to_library, "file:///etc/passwd")
    assert (caught.value.status, caught.value.field) == (400, "url")
    with pytest.raises(ConvShareClientError) as caught:
        await run(student.read_library_item, "no-such-item")
    assert caught.value.status == 404


async def test_client_add_message_as_a_collaborator(owner_client, server_url, service):
    share = await run(owner_client.share, MESSAGES, title="Team")
    await run(owner_client.grant, share.share_id, "group", "team", "collaborate")
    carol = user_client(server_url, "carol")
    answer = await run(carol.add_message, share.share_id, "What about the mean?")
    message = answer["message"]
    assert answer["share_id"] == share.share_id
    stored = service.get_conversation(OWNER, share.conversation_id)
    assert stored.messages[message["id"]].parts[0].text == "What about the mean?"
    # a reply to an earlier message starts a branch
    first = next(m for m in stored.active_path() if m.role == "user")
    branch = await run(carol.add_message, share.share_id, "Another question", parent_id=first.id)
    assert branch["message"]["parent_id"] == first.id


async def test_client_add_message_refused_for_a_viewer(owner_client, server_url):
    share = await run(owner_client.share, MESSAGES, title="View only")
    await run(owner_client.grant, share.share_id, "group", "class-2026", "view")
    with pytest.raises(ConvShareClientError) as caught:
        await run(user_client(server_url, "student1").add_message, share.share_id, "hello")
    assert caught.value.status == 403


# -- SharedWithMe -----------------------------------------------------------------------------


async def test_widget_saves_a_pasted_link_and_lists_it_with_origin_and_date(owner_client, server_url, convshare_app):
    share = await run(owner_client.share, MESSAGES, title="Pasted")
    widget = await run(SharedWithMe, user_client(server_url, "dave"))
    assert widget.items == []
    widget.link_text.value = share.url
    await run(widget.save_button.click)
    assert not widget.status.is_error, widget.status.text
    assert "Saved Pasted" in widget.status.text
    [stored] = convshare_app.library.list("dave")
    assert stored.share_id == share.share_id and stored.kind == "saved"
    [row] = widget.rows
    assert "Pasted" in row.html and "from this server" in row.html and "saved 20" in row.html
    assert f'href="{share.url}"' in row.html
    assert widget.link_text.value == ""


async def test_widget_renames_tags_archives_and_removes_an_item(owner_client, server_url, convshare_app):
    share = await run(owner_client.share, MESSAGES, title="Original")
    dave = user_client(server_url, "dave")
    await run(dave.save_to_library, share.url)
    widget = await run(SharedWithMe, dave)
    row = widget.rows[0]
    row.name_text.value = "My <b>copy</b>"
    await run(row.rename_button.click)
    assert convshare_app.library.list("dave")[0].name == "My <b>copy</b>"
    assert "My &lt;b&gt;copy&lt;/b&gt;" in widget.rows[0].html
    row = widget.rows[0]
    row.tags_text.value = "maths, week 1, "
    await run(row.tags_button.click)
    assert convshare_app.library.list("dave")[0].tags == ["maths", "week 1"]
    await run(widget.rows[0].archive_button.click)
    assert widget.rows == [] and convshare_app.library.list("dave") == []
    widget.show_archived.value = True
    await run(widget.refresh)
    assert [r.item["archived"] for r in widget.rows] == [True]
    row = widget.rows[0]
    await run(row.remove_button.click)
    assert convshare_app.library.list("dave", archived=None) != []  # not before the confirm
    await run(row.confirm_button.click)
    assert convshare_app.library.list("dave", archived=None) == []
    assert widget.rows == []


async def test_widget_reads_a_conversation_into_the_preview(owner_client, server_url):
    share = await run(owner_client.share, MESSAGES, title="Readable")
    dave = user_client(server_url, "dave")
    await run(dave.save_to_library, share.url)
    widget = await run(SharedWithMe, dave)
    await run(widget.rows[0].read_button.click)
    assert "The median is **3**." in widget.preview.value
    assert "secret system prompt" not in widget.preview.value


async def test_widget_shows_a_granted_item_that_cannot_be_removed(owner_client, server_url):
    share = await run(owner_client.share, MESSAGES, title="For the class")
    await run(owner_client.grant, share.share_id, "group", "class-2026", "view")
    widget = await run(SharedWithMe, user_client(server_url, "student2"))
    [row] = widget.rows
    assert f"from {OWNER} on this server" in row.html and "shared 20" in row.html
    assert row.remove_button.disabled


async def test_widget_shows_a_bad_link_as_an_error(server_url):
    widget = await run(SharedWithMe, user_client(server_url, "dave"))
    widget.link_text.value = "https://example.org/not-a-share"
    await run(widget.save_button.click)
    assert widget.status.is_error and "not a share link" in widget.status.text
    widget.link_text.value = ""
    await run(widget.save_button.click)
    assert widget.status.is_error and "paste a share link" in widget.status.text


async def test_widget_marks_revoked_items(owner_client, server_url):
    share = await run(owner_client.share, MESSAGES, title="Soon gone")
    dave = user_client(server_url, "dave")
    await run(dave.save_to_library, share.url)
    await run(owner_client.revoke, share.share_id)
    widget = await run(SharedWithMe, dave)
    [row] = widget.rows
    assert "no longer shared" in row.html and "href=" not in row.html
    assert row.read_button.disabled


# -- jupyter convshare save ---------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    # pytest-jupyter's server uses tmp_path/runtime etc.: the CLI gets its own folders
    for name in ("cli-runtime", "cli-config", "cli-data"):
        (tmp_path / name).mkdir()
    env.update(
        JUPYTER_RUNTIME_DIR=str(tmp_path / "cli-runtime"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "cli-config"),
        JUPYTER_DATA_DIR=str(tmp_path / "cli-data"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    return env


async def cli(env: dict[str, str], cwd: Any, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jupyter_convshare.cli", *args,
        env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    return process.returncode or 0, stdout.decode(), stderr.decode()


async def test_cli_save_goes_through_the_server_as_the_token_user(
    owner_client, server_url, cli_env, tmp_path, convshare_app
):
    share = await run(owner_client.share, MESSAGES, title="From the terminal")
    code, out, err = await cli(
        cli_env, tmp_path, "save", share.url, "--json", f"--server-url={server_url}", "--token=carol-token"
    )
    assert code == 0, err
    item = json.loads(out)
    assert (item["origin"], item["status"], item["created"]) == ("this server", "active", True)
    assert [i.item_id for i in convshare_app.library.list("carol")] == [item["item_id"]]
    code, out, err = await cli(cli_env, tmp_path, "save", share.url, f"--server-url={server_url}", "--token=carol-token")
    assert code == 0 and out.startswith("Already in your library: 'From the terminal' from this server")


async def test_cli_save_of_a_bad_url_is_one_line_error(server_url, cli_env, tmp_path):
    code, out, err = await cli(
        cli_env, tmp_path, "save", "file:///etc/passwd", f"--server-url={server_url}", "--token=carol-token"
    )
    assert code == 1 and out == ""
    assert err.strip().startswith("jupyter convshare save: error: url: only http:// and https://")
    assert len(err.strip().splitlines()) == 1


async def test_cli_save_works_on_the_store_when_no_server_runs(cli_env, tmp_path):
    # Given a conversation shared on the store (no server) by its owner
    store = tmp_path / "cli-store"
    chat_file = tmp_path / "medians.json"
    chat_file.write_text(json.dumps({"messages": MESSAGES}), encoding="utf-8")
    code, out, err = await cli(cli_env, tmp_path, "share", str(chat_file), "--json", f"--store-dir={store}", "--owner=ada")
    assert code == 0, err
    url = json.loads(out)["url"]
    # When another user saves its link
    code, out, err = await cli(cli_env, tmp_path, "save", url, "--json", f"--store-dir={store}", "--owner=bob")
    # Then it is in bob's library, following the share; the owner cannot save their own
    assert code == 0, err
    item = json.loads(out)
    assert (item["user"], item["origin"], item["status"], item["created"]) == ("bob", "this server", "active", True)
    code, out, err = await cli(cli_env, tmp_path, "save", url, f"--store-dir={store}", "--owner=ada")
    assert code == 1 and "this conversation is yours" in err
