"""Library items and share links written as ``.chat`` files, and link previews (issue 4
items 3 and 5: the JupyterLab sidebar's *Save a copy as .chat* and *Open share link…*).

One real server with several users (``test_grants``: ``<name>-token`` is user ``<name>``,
the owner is ``teacher``); the files land in pytest-jupyter's real contents root. Another
server's link is a share on a second real Jupyter server with the extension (a subprocess).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from jupyter_convshare.core.exporters import EXPORT_FORMATS
from jupyter_convshare.core.importers import load_one
from jupyter_convshare.server.library_api import check_chat_path

from .server_helpers import another_server, body_json, make_api, share_on
from .test_grants import OWNER, as_user, chat, jp_server_config, new_share  # noqa: F401

pytestmark = pytest.mark.skipif("chat" not in EXPORT_FORMATS, reason="the .chat exporter is not there yet")


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


async def saved_item(api, user: str, share: dict[str, Any]) -> dict[str, Any]:
    response = await api("POST", "library", body={"url": share["url"]}, headers=as_user(user))
    assert response.code == 201, response.body
    return body_json(response)


async def save_item_as(api, user: str, item_id: str, path: Any):
    return await api("POST", "library", item_id, "save-as", body={"path": path}, headers=as_user(user))


async def single_use_share(api) -> dict[str, Any]:
    share = await new_share(api)
    response = await api("PATCH", "shares", share["share_id"], body={"single_use": True}, headers=as_user(OWNER))
    assert response.code == 200, response.body
    return body_json(response)


def read_chat(root: Path, rel: str) -> dict[str, Any]:
    return json.loads((root / rel).read_text(encoding="utf-8"))


# -- a library item as a .chat file ---------------------------------------------------------------


async def test_a_saved_item_is_written_as_a_chat_file_that_reads_back(api, jp_root_dir):
    # Given a conversation shared by the teacher and saved by student1
    item = await saved_item(api, "student1", await new_share(api, "lesson"))
    # When student1 saves it as a .chat file in a folder of the workspace
    (jp_root_dir / "chats").mkdir()
    response = await save_item_as(api, "student1", item["item_id"], "chats/lesson.chat")
    # Then the file is there, a jupyterlab-chat document with the messages viewers see
    assert response.code == 201, response.body
    assert body_json(response) == {"path": "chats/lesson.chat", "name": "lesson.chat"}
    document = read_chat(jp_root_dir, "chats/lesson.chat")
    assert [m["body"] for m in document["messages"]] == ["question about lesson", "an answer"]
    assert "secret system prompt" not in json.dumps(document)
    # ... and it imports back as a conversation
    assert len(load_one(document, name="lesson.chat").messages) == 2


async def test_an_existing_file_is_never_overwritten(api, jp_root_dir):
    item = await saved_item(api, "student1", await new_share(api))
    (jp_root_dir / "mine.chat").write_text("my own work", encoding="utf-8")
    response = await save_item_as(api, "student1", item["item_id"], "mine.chat")
    assert response.code == 409 and body_json(response)["field"] == "path"
    assert (jp_root_dir / "mine.chat").read_text(encoding="utf-8") == "my own work"


async def test_a_folder_is_not_replaced_by_a_file(api, jp_root_dir):
    item = await saved_item(api, "student1", await new_share(api))
    (jp_root_dir / "odd.chat").mkdir()
    response = await save_item_as(api, "student1", item["item_id"], "odd.chat")
    assert response.code == 409 and (jp_root_dir / "odd.chat").is_dir()


async def test_a_missing_folder_is_named(api, jp_root_dir):
    item = await saved_item(api, "student1", await new_share(api))
    response = await save_item_as(api, "student1", item["item_id"], "nowhere/x.chat")
    assert response.code == 404
    assert body_json(response)["field"] == "path" and "nowhere" in body_json(response)["message"]
    assert not (jp_root_dir / "nowhere").exists()


@pytest.mark.parametrize(
    "path",
    [
        "../escape.chat",
        "a/../../escape.chat",
        "./x.chat",
        ".hidden.chat",
        "a//b.chat",
        "..\\escape.chat",
        "C:\\temp\\x.chat",
        "x.txt",
        ".chat",
        "",
        None,
        ["x.chat"],
        "x\x00.chat",
        "a" * 1100 + ".chat",
    ],
)
async def test_paths_outside_the_workspace_or_not_a_chat_file_are_refused(api, jp_root_dir, tmp_path, path):
    item = await saved_item(api, "student1", await new_share(api))
    before = sorted(p.name for p in jp_root_dir.parent.rglob("*"))
    response = await save_item_as(api, "student1", item["item_id"], path)
    assert response.code == 400, response.body
    assert body_json(response)["field"] == "path"
    assert sorted(p.name for p in jp_root_dir.parent.rglob("*")) == before


def test_a_leading_slash_means_the_workspace_root():
    assert check_chat_path("/chats/a.chat") == "chats/a.chat"


async def test_another_users_item_is_not_found_and_nothing_is_written(api, jp_root_dir):
    item = await saved_item(api, "student1", await new_share(api))
    response = await save_item_as(api, "mallory", item["item_id"], "stolen.chat")
    assert response.code == 404
    assert not (jp_root_dir / "stolen.chat").exists()


async def test_a_revoked_share_is_not_written(api, jp_root_dir):
    share = await new_share(api)
    item = await saved_item(api, "student1", share)
    await api("DELETE", "shares", share["share_id"], headers=as_user(OWNER))
    response = await save_item_as(api, "student1", item["item_id"], "gone.chat")
    assert response.code == 404
    assert not (jp_root_dir / "gone.chat").exists()


async def test_unknown_fields_are_refused(api):
    item = await saved_item(api, "student1", await new_share(api))
    response = await api("POST", "library", item["item_id"], "save-as", body={"path": "a.chat", "force": True},
                         headers=as_user("student1"))
    assert response.code == 400 and body_json(response)["field"] == "force"


# -- a share link: preview and save as .chat ------------------------------------------------------


async def test_a_link_of_this_server_is_previewed_without_saving_or_counting_a_view(api):
    share = await new_share(api, "lesson")
    response = await api("POST", "library", "preview", body={"url": share["url"]}, headers=as_user("student1"))
    assert response.code == 200, response.body
    preview = body_json(response)
    assert preview["title"] == "lesson" and preview["origin"] == "this server"
    assert preview["message_count"] == 2  # the system prompt is not shown
    assert preview["summary"] == "question about lesson"
    assert "secret system prompt" not in response.body.decode()
    library = body_json(await api("GET", "library", headers=as_user("student1")))["items"]
    assert library == []
    again = body_json(await api("GET", "shares", share["share_id"], headers=as_user(OWNER)))
    assert again["view_count"] == 0


async def test_a_long_first_question_is_cut_at_a_word(api):
    long = "word " * 200
    response = await api("POST", "shares", body={"conversation": {"messages": [{"role": "user", "content": long}]}},
                         headers=as_user(OWNER))
    preview = body_json(await api("POST", "library", "preview", body={"url": body_json(response)["url"]},
                                  headers=as_user("student1")))
    assert len(preview["summary"]) <= 280 and preview["summary"].endswith("word…")


async def test_a_revoked_link_previews_as_not_found_naming_the_url(api):
    share = await new_share(api)
    await api("DELETE", "shares", share["share_id"], headers=as_user(OWNER))
    response = await api("POST", "library", "preview", body={"url": share["url"]}, headers=as_user("student1"))
    assert response.code == 404 and body_json(response)["field"] == "url"


async def test_something_that_is_not_a_share_link_is_refused(api):
    response = await api("POST", "library", "preview", body={"url": "file:///etc/passwd"}, headers=as_user("student1"))
    assert response.code == 400 and body_json(response)["field"] == "url"


async def test_a_link_is_written_as_a_chat_file_without_entering_the_library(api, jp_root_dir):
    share = await new_share(api, "lesson")
    response = await api("POST", "library", "save-as", body={"url": share["url"], "path": "lesson.chat"},
                         headers=as_user("student1"))
    assert response.code == 201, response.body
    assert [m["body"] for m in read_chat(jp_root_dir, "lesson.chat")["messages"]] == ["question about lesson", "an answer"]
    assert body_json(await api("GET", "library", headers=as_user("student1")))["items"] == []


async def test_a_bad_path_is_refused_before_the_link_is_read(api, jp_root_dir):
    share = await single_use_share(api)
    response = await api("POST", "library", "save-as", body={"url": share["url"], "path": "../x.chat"},
                         headers=as_user("student1"))
    assert response.code == 400 and body_json(response)["field"] == "path"
    # the single-use link was not used up: student2 still opens it
    other = await api("POST", "library", "preview", body={"url": share["url"]}, headers=as_user("student2"))
    assert other.code == 200


async def test_previewing_a_single_use_link_claims_it_for_that_user(api):
    share = await single_use_share(api)
    first = await api("POST", "library", "preview", body={"url": share["url"]}, headers=as_user("student1"))
    assert first.code == 200
    again = await api("POST", "library", "preview", body={"url": share["url"]}, headers=as_user("student1"))
    assert again.code == 200
    other = await api("POST", "library", "preview", body={"url": share["url"]}, headers=as_user("student2"))
    assert other.code == 404 and body_json(other)["field"] == "url"


# -- another server's link ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """``(origin, link)``: a share of a question and its answer on another real server."""
    with another_server(tmp_path_factory.mktemp("other")) as remote:
        shared = share_on(remote, {
            "conversation": {"messages": [{"role": "user", "content": "remote question"},
                                          {"role": "assistant", "content": "ok"}]},
            "name": "remote.json",
        })
        yield remote[0], shared["url"]


async def test_another_servers_link_is_previewed_with_its_origin(api, other_server):
    origin, url = other_server
    response = await api("POST", "library", "preview", body={"url": url}, headers=as_user("student1"))
    assert response.code == 200, response.body
    preview = body_json(response)
    assert preview["origin"] == origin and preview["summary"] == "remote question"
    assert preview["message_count"] == 2


async def test_another_servers_link_is_written_as_a_chat_file(api, other_server, jp_root_dir):
    _origin, url = other_server
    response = await api("POST", "library", "save-as", body={"url": url, "path": "remote.chat"},
                         headers=as_user("student1"))
    assert response.code == 201, response.body
    assert [m["body"] for m in read_chat(jp_root_dir, "remote.chat")["messages"]] == ["remote question", "ok"]
