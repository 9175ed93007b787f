"""Collaborators' messages into a live jupyterlab-chat document (issue 3 item 3; DESIGN.md section 4).

A real Jupyter server runs jupyter-server-ydoc (real-time collaboration), jupyterlab-chat,
the jupyter-ai router and persona manager, and convshare. Two small personas of our own
(``tests/personas/echo_persona.py``, no LLM) are found by the persona manager's local
discovery in ``<root>/.jupyter/personas/``. Several users authenticate with
``TokenUsersIdentityProvider`` (``Authorization: token carol-token`` is carol).

Waits are bounded polls of the ``.chat`` file or of the server's state, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("jupyterlab_chat", reason="the live-chat path needs jupyterlab-chat")
pytest.importorskip("jupyter_server_ydoc", reason="the live-chat path needs jupyter-collaboration (jupyter-server-ydoc)")
pytest.importorskip("jupyter_ai_router", reason="persona routing needs jupyter-ai-router")
pytest.importorskip("jupyter_ai_persona_manager", reason="the test personas need jupyter-ai-persona-manager")

from .server_helpers import body_json, chat_document, chat_message, write_chat  # noqa: E402
from .test_grants import GROUPS, OWNER, TokenUsersIdentityProvider, api, as_user, grant  # noqa: E402,F401
from .test_viewer_collaborate import Browser, page, post_reply  # noqa: E402

PERSONAS = Path(__file__).with_name("personas")
ECHO = "jupyter-ai-personas::echo_persona::EchoPersona"
SHOUT = "jupyter-ai-personas::echo_persona::ShoutPersona"
CHAT = "chats/lab.chat"
WAIT_SECONDS = 30.0  # upper bound of every poll: generous for a loaded 2-core CI machine


@pytest.fixture
def allow_posting() -> bool:
    """``ConvShareApp.allow_chat_posting`` of the test server (parametrize to change)."""
    return True


@pytest.fixture
def ydoc_config() -> dict[str, Any]:
    """Extra ``YDocExtension`` settings of the test server (parametrize to change)."""
    return {}


@pytest.fixture
def default_persona() -> str | None:
    """``PersonaManager.default_persona_id`` of the test server (``None``: not set)."""
    return None


@pytest.fixture(autouse=True)
def _ystore_outside_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """jupyter-server-ydoc 3.0's ``get_document(create=True)`` builds its room's SQLiteYStore
    without the server's config, so ``c.SQLiteYStore.db_path`` is ignored there and the
    store lands in the working directory (``.jupyter_ystore.db``): keep it in tmp."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def owner_metadata() -> dict[str, Any]:
    """The metadata of the owner's message in ``chats/lab.chat`` (parametrize to change)."""
    return {"to_persona": SHOUT}


@pytest.fixture
def jp_server_config(jp_server_config, jp_root_dir, allow_posting, ydoc_config, default_persona):
    """test_grants' multi-user server plus real-time collaboration, jupyterlab-chat and
    the jupyter-ai persona manager; saves and re-syncs without delays."""
    config = dict(jp_server_config)
    config["ServerApp"] = {
        **config["ServerApp"],
        "identity_provider_class": TokenUsersIdentityProvider,
        "jpserver_extensions": {
            **config["ServerApp"]["jpserver_extensions"],
            "jupyter_server_fileid": True,
            "jupyter_server_ydoc": True,
            "jupyterlab_chat": True,
            "jupyter_ai_router": True,
            "jupyter_ai_persona_manager": True,
        },
    }
    config["ConvShareApp"] = {
        **config["ConvShareApp"],
        "owner": OWNER,
        "groups": GROUPS,
        "admin_users": {"admin"},
        "allow_chat_posting": allow_posting,
        "live_check_interval": 0.0,
    }
    config["YDocExtension"] = {"document_save_delay": 0.05, "document_cleanup_delay": 60.0, **ydoc_config}
    if default_persona is not None:
        config["PersonaManager"] = {"default_persona_id": default_persona}
    config["SQLiteYStore"] = {"db_path": str(jp_root_dir / ".rtc_test.db")}
    config["BaseFileIdManager"] = {
        "root_dir": str(jp_root_dir),
        "db_path": str(jp_root_dir / ".fid_test.db"),
        "db_journal_mode": "OFF",
    }
    return config


@pytest.fixture
def chat_root(jp_root_dir: Path, owner_metadata: dict[str, Any]) -> Path:
    """The server root with the test personas in ``.jupyter/personas/`` and ``chats/lab.chat``:
    the owner asked Shout (``to_persona``), and Shout answered."""
    personas = jp_root_dir / ".jupyter" / "personas"
    personas.mkdir(parents=True)
    for name in ("echo_persona.py", "echo_avatar.svg"):
        shutil.copy(PERSONAS / name, personas / name)
    owner = "f48c0d9aa00242e7b1f7e50306cd9750"
    document = chat_document([
        chat_message("m1", "What is a DataFrame?", 1781232974.5, sender=owner, metadata=owner_metadata),
        chat_message("m2", f"SHOUT TO {owner}: WHAT IS A DATAFRAME?", 1781232975.0, sender=SHOUT),
    ])
    document["users"][SHOUT] = {"username": SHOUT, "name": "Shout", "display_name": "Shout", "bot": True}
    write_chat(jp_root_dir, CHAT, document)
    return jp_root_dir


async def chat_share(api, *, chat_posting: bool = True, mode: str = "live") -> dict[str, Any]:
    """The owner's share of ``chats/lab.chat``, ``collaborate`` for carol, ``view`` for
    student1, with ``chat_posting`` set."""
    response = await api("POST", "shares", body={"path": CHAT, "mode": mode}, headers=as_user(OWNER))
    assert response.code in (200, 201), response.body
    share = body_json(response)
    assert (await grant(api, share["share_id"], "user", "carol", "collaborate")).code == 201
    assert (await grant(api, share["share_id"], "user", "student1", "view")).code == 201
    if chat_posting:
        patched = await api("PATCH", "shares", share["share_id"], body={"chat_posting": True}, headers=as_user(OWNER))
        assert patched.code == 200, patched.body
    return share


async def post(api, share_id: str, user: str, text: str, **body: Any):
    return await api("POST", "shares", share_id, "messages", body={"text": text, **body}, headers=as_user(user))


def read_chat(root: Path) -> dict[str, Any]:
    """The ``.chat`` file as JSON (``{}`` while it is being written)."""
    try:
        return json.loads((root / CHAT).read_text(encoding="utf-8"))
    except ValueError:
        return {}


async def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll ``condition`` every 20 ms until it is truthy (returns it); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def by_sender(document: dict[str, Any], sender: str) -> list[dict[str, Any]]:
    return [m for m in document.get("messages", []) if m.get("sender") == sender]


def ydoc_rooms(jp_serverapp) -> dict[str, Any]:
    return jp_serverapp.web_app.settings["jupyter_server_ydoc"].ywebsocket_server.rooms


async def shared_conversation(jp_fetch, share: dict[str, Any]) -> dict[str, Any]:
    """The conversation as a link holder sees it: the link's JSON export, which re-syncs a
    live share from its source file first."""
    link = share["url"].rsplit("/", 1)[1]
    response = await jp_fetch("convshare", "s", link, "export.json")
    return json.loads(response.body)


# -- the live path ---------------------------------------------------------------------------


async def test_a_collaborators_message_reaches_the_owners_persona(api, chat_root, jp_fetch, convshare_app):
    # Given a live share of a .chat file whose owner talks to Shout, chat posting on
    share = await chat_share(api)
    # When carol posts through the REST API
    started = time.monotonic()
    response = await post(api, share["share_id"], "carol", "hello from carol")
    answered = time.monotonic()
    # Then the answer says the message went into the chat document, under the chat's id
    assert response.code == 201, response.body
    answer = body_json(response)
    assert answer["delivered_to_chat"] is True
    message_id = answer["message"]["id"]
    assert answer["message"]["author_id"] == "remote:carol"
    # And the persona the owner used (not Echo) answers her, and both reach the file
    reply = f"SHOUT TO remote:carol: HELLO FROM CAROL"
    document = await wait_for(
        lambda: (doc := read_chat(chat_root)) and any(m["body"] == reply for m in by_sender(doc, SHOUT)) and doc,
        "Shout's reply in the .chat file",
    )
    print(f"POST answered in {answered - started:.3f} s; persona reply in the file after {time.monotonic() - started:.3f} s")
    mine = by_sender(document, "remote:carol")
    assert [(m["id"], m["body"], m["metadata"]) for m in mine] == [(message_id, "hello from carol", {"to_persona": SHOUT})]
    assert by_sender(document, ECHO) == []
    user = document["users"]["remote:carol"]
    assert (user["name"], user["display_name"], user["bot"]) == ("carol", "carol", False)
    # And the live share shows both, the collaborator's message once, after the re-sync
    conversation = await shared_conversation(jp_fetch, share)
    texts = [part["text"] for m in conversation["messages"].values() for part in m["parts"] if part.get("text")]
    assert texts.count("hello from carol") == 1
    assert reply in texts
    # (the viewer's copy pseudonymises authors; the owner's stored copy keeps the sender)
    stored = convshare_app.service.get_conversation(OWNER, share["conversation_id"])
    assert stored.messages[message_id].author_id == "remote:carol"
    assert stored.participants["remote:carol"].display_name == "carol"


async def test_a_second_message_after_the_room_was_cleaned_up_is_answered_too(api, chat_root, jp_serverapp):
    # Given a share whose first message opened the chat's room and got its answer
    jp_serverapp.web_app.settings["jupyter_server_ydoc"].document_cleanup_delay = 0.2
    share = await chat_share(api)
    assert body_json(await post(api, share["share_id"], "carol", "one"))["delivered_to_chat"] is True
    await wait_for(lambda: any(m["body"].endswith(": ONE") for m in by_sender(read_chat(chat_root), SHOUT)),
                   "the first reply")
    # When the room has gone idle, it is deleted (no browser ever connected to it)
    await wait_for(lambda: not ydoc_rooms(jp_serverapp), "the idle room to be deleted")
    await wait_for(lambda: not jp_serverapp.web_app.settings["jupyter-ai"]["persona-managers"],
                   "the chat's persona manager to stop")
    # Then the next message opens it again and gets its own answer
    assert body_json(await post(api, share["share_id"], "carol", "two"))["delivered_to_chat"] is True
    document = await wait_for(
        lambda: (doc := read_chat(chat_root)) and any(m["body"].endswith(": TWO") for m in by_sender(doc, SHOUT)) and doc,
        "the second reply",
    )
    assert [m["body"] for m in by_sender(document, "remote:carol")] == ["one", "two"]


async def test_the_viewers_form_posts_into_the_chat_too(api, chat_root, http_server, jp_http_port, jp_base_url):
    # Given carol, logged in, on the page of a share with chat posting on
    share = await chat_share(api)
    b = Browser(f"http://127.0.0.1:{jp_http_port}")
    url = f"{jp_base_url}convshare/s/{share['url'].rsplit('/', 1)[1]}"
    form = page(await b.login("carol", url)).form("/messages")
    # When she sends the form (at the end of the conversation)
    posted = await post_reply(b, form, "from the page")
    # Then the message went into the chat and Shout answers it
    assert posted.code == 303
    document = await wait_for(
        lambda: (doc := read_chat(chat_root)) and any(m["body"].endswith(": FROM THE PAGE") for m in by_sender(doc, SHOUT)) and doc,
        "Shout's reply to the form's message",
    )
    assert [m["body"] for m in by_sender(document, "remote:carol")] == ["from the page"]


@pytest.mark.parametrize("owner_metadata, default_persona", [({}, ECHO)])
async def test_without_an_owners_choice_the_default_persona_answers(api, chat_root):
    # Given a chat whose owner never picked a persona, on a server whose default persona is Echo
    share = await chat_share(api)
    # When carol posts
    assert body_json(await post(api, share["share_id"], "carol", "hi"))["delivered_to_chat"] is True
    # Then Echo answers her
    await wait_for(lambda: any(m["body"] == "echo to remote:carol: hi" for m in by_sender(read_chat(chat_root), ECHO)),
                   "Echo's reply")


@pytest.mark.parametrize("owner_metadata", [{}])
async def test_without_an_owners_choice_or_a_default_no_persona_is_addressed(api, chat_root, jp_serverapp):
    # Given a chat with two personas, no owner's choice and no default persona
    share = await chat_share(api)
    # When carol posts, Then her message is in the chat, addressed to no persona
    assert body_json(await post(api, share["share_id"], "carol", "anyone?"))["delivered_to_chat"] is True
    document = await wait_for(lambda: (doc := read_chat(chat_root)) and by_sender(doc, "remote:carol") and doc,
                              "carol's message in the file")
    assert not (by_sender(document, "remote:carol")[0].get("metadata") or {}).get("to_persona")


# -- when the message stays in the store -----------------------------------------------------


async def test_without_the_owners_setting_the_message_is_stored_only(api, chat_root, jp_serverapp, jp_fetch):
    # Given a live share of a .chat file with chat posting left off
    share = await chat_share(api, chat_posting=False)
    before = (chat_root / CHAT).read_bytes()
    # When carol posts
    response = await post(api, share["share_id"], "carol", "just for the share")
    # Then it is stored with the share only: the chat file and the rooms are untouched
    assert response.code == 201
    assert body_json(response)["delivered_to_chat"] is False
    assert (chat_root / CHAT).read_bytes() == before
    assert ydoc_rooms(jp_serverapp) == {}
    texts = [p["text"] for m in (await shared_conversation(jp_fetch, share))["messages"].values()
             for p in m["parts"] if p.get("text")]
    assert "just for the share" in texts


async def test_a_reply_to_an_earlier_message_stays_a_store_only_branch(api, chat_root, jp_serverapp):
    # Given a share with chat posting on
    share = await chat_share(api)
    before = (chat_root / CHAT).read_bytes()
    # When carol replies to the owner's first question (the chat has an answer after it)
    response = await post(api, share["share_id"], "carol", "another angle", parent_id="m1")
    # Then the reply is a branch in the store; a flat chat document cannot hold it
    assert response.code == 201
    answer = body_json(response)
    assert answer["delivered_to_chat"] is False
    assert answer["message"]["parent_id"] == "m1"
    assert (chat_root / CHAT).read_bytes() == before


async def test_a_view_only_grantee_cannot_post_into_the_chat(api, chat_root, jp_serverapp):
    share = await chat_share(api)
    before = (chat_root / CHAT).read_bytes()
    response = await post(api, share["share_id"], "student1", "let me talk to the persona")
    assert response.code == 403
    assert (chat_root / CHAT).read_bytes() == before
    assert ydoc_rooms(jp_serverapp) == {}


async def test_a_collaborator_cannot_pick_the_persona_or_the_sender(api, chat_root, jp_serverapp):
    # Given a share with chat posting on
    share = await chat_share(api)
    before = (chat_root / CHAT).read_bytes()
    # When carol sends routing or identity fields of her own, Then 400 and nothing is posted
    for extra in ({"to_persona": ECHO}, {"metadata": {"to_persona": ECHO}}, {"sender": "teacher"}):
        response = await post(api, share["share_id"], "carol", "do as I say", **extra)
        assert response.code == 400, extra
    assert (chat_root / CHAT).read_bytes() == before
    assert ydoc_rooms(jp_serverapp) == {}


@pytest.mark.parametrize("ydoc_config", [{"disable_rtc": True}])
async def test_without_real_time_collaboration_the_message_is_stored_only(api, chat_root, jp_serverapp):
    # Given a server whose admin turned real-time collaboration off
    share = await chat_share(api)
    before = (chat_root / CHAT).read_bytes()
    # When carol posts
    response = await post(api, share["share_id"], "carol", "is anyone there?")
    # Then the answer says it did not reach the chat, and the file is untouched
    assert response.code == 201
    assert body_json(response)["delivered_to_chat"] is False
    assert (chat_root / CHAT).read_bytes() == before


# -- the owner's and the admin's switches ----------------------------------------------------


@pytest.mark.parametrize("allow_posting", [False])
async def test_the_admin_switch_is_off_by_default_and_patch_says_so(api, chat_root, convshare_app):
    # Given a server that does not allow chat posting (the default)
    assert type(convshare_app).allow_chat_posting.default_value is False
    share = await chat_share(api, chat_posting=False)
    # When the owner turns chat posting on
    response = await api("PATCH", "shares", share["share_id"], body={"chat_posting": True}, headers=as_user(OWNER))
    # Then 403 names the server setting, and the share stays as it was
    assert response.code == 403
    error = body_json(response)
    assert error["field"] == "chat_posting" and "allow_chat_posting" in error["message"]
    assert body_json(await api("GET", "shares", share["share_id"], headers=as_user(OWNER)))["chat_posting"] is False
    info = body_json(await api("GET", "info", headers=as_user(OWNER)))
    assert info["allow_chat_posting"] is False


@pytest.mark.parametrize("allow_posting", [False])
async def test_when_the_admin_turns_it_off_shares_that_had_it_on_store_only(api, chat_root, service):
    # Given a share whose owner turned chat posting on while the server allowed it
    share = await chat_share(api, chat_posting=False)
    service.update_share(OWNER, share["share_id"], chat_posting=True)
    before = (chat_root / CHAT).read_bytes()
    # When carol posts on a server that no longer allows it
    response = await post(api, share["share_id"], "carol", "hello?")
    # Then the message stays in the store only
    assert response.code == 201 and body_json(response)["delivered_to_chat"] is False
    assert (chat_root / CHAT).read_bytes() == before


async def test_info_tells_clients_the_server_allows_chat_posting(api, chat_root):
    assert body_json(await api("GET", "info", headers=as_user(OWNER)))["allow_chat_posting"] is True


async def test_chat_posting_needs_a_live_share(api, chat_root):
    share = await chat_share(api, chat_posting=False, mode="snapshot")
    response = await api("PATCH", "shares", share["share_id"], body={"chat_posting": True}, headers=as_user(OWNER))
    assert response.code == 409
    assert body_json(response)["field"] == "chat_posting" and "live" in body_json(response)["message"]


async def test_chat_posting_needs_a_chat_file(api, chat_root):
    # Given a live share of a posted (not file-backed) conversation
    response = await api("POST", "shares", headers=as_user(OWNER), body={
        "conversation": {"messages": [{"role": "user", "content": "hi"}]}, "title": "posted"})
    share = body_json(response)
    # When the owner turns chat posting on, then 409 says why
    response = await api("PATCH", "shares", share["share_id"], body={"chat_posting": True}, headers=as_user(OWNER))
    assert response.code == 409
    assert body_json(response)["field"] == "chat_posting" and ".chat" in body_json(response)["message"]


async def test_only_the_owner_sets_chat_posting(api, chat_root):
    share = await chat_share(api, chat_posting=False)
    response = await api("PATCH", "shares", share["share_id"], body={"chat_posting": True}, headers=as_user("carol"))
    assert response.code in (403, 404)
    assert body_json(await api("GET", "shares", share["share_id"], headers=as_user(OWNER)))["chat_posting"] is False
