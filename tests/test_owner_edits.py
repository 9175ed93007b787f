"""Owner edits (issue 3 item 4): rename, edit and delete messages, delete the conversation.

Real server, real store. Edits apply to stored (non-file) conversations; a live ``.chat``
conversation answers 409 (its next re-read would undo the edit). Live link holders see
each change on their next request: the viewer page's cache key follows the conversation.
"""

from __future__ import annotations

from typing import Any

import pytest

from .server_helpers import body_json, make_api, two_message_chat, write_chat


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


async def shared(api, text: str = "What is a tombstone?") -> tuple[dict[str, Any], str, list[str]]:
    """A live share of a posted conversation: ``(share, link, [message ids in path order])``."""
    body = {
        "conversation": {"messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "content": "An original answer"},
            {"role": "user", "content": "Thanks"},
        ]},
        "title": "Tombstones",
        "mode": "live",
    }
    response = await api("POST", "shares", body=body)
    assert response.code == 201, response.body
    share = body_json(response)
    conversation = body_json(await api("GET", "conversations", share["conversation_id"]))["conversation"]
    leaf = conversation["active_leaf_id"]
    ids = [leaf]
    while conversation["messages"][ids[0]].get("parent_id"):
        ids.insert(0, conversation["messages"][ids[0]]["parent_id"])
    return share, share["url"].rsplit("/", 1)[1], ids


async def page(jp_fetch, link: str) -> str:
    response = await jp_fetch("convshare", "s", link)
    return response.body.decode()


async def test_the_owner_renames_a_conversation_and_the_link_shows_the_new_title(api, jp_fetch):
    share, link, _ids = await shared(api)
    assert "Tombstones" in await page(jp_fetch, link)
    response = await api("PATCH", "conversations", share["conversation_id"], body={"title": "Graves & stones"})
    assert response.code == 200
    assert "Graves &amp; stones" in await page(jp_fetch, link)


async def test_the_owner_edits_a_message_and_a_cached_page_shows_the_new_text(api, jp_fetch):
    # Given a viewer page already rendered (and cached)
    share, link, ids = await shared(api)
    assert "An original answer" in await page(jp_fetch, link)
    # When the owner edits the answer
    response = await api("PATCH", "conversations", share["conversation_id"], "messages", ids[1],
                         body={"text": "A **corrected** answer"})
    # Then the message is marked edited, and the next request shows the new text
    assert response.code == 200, response.body
    message = body_json(response)["message"]
    assert message["id"] == ids[1] and message["edited"] is True
    html = await page(jp_fetch, link)
    assert "<strong>corrected</strong>" in html and "An original answer" not in html


async def test_a_deleted_message_becomes_a_tombstone_and_keeps_its_replies(api, jp_fetch, service):
    share, link, ids = await shared(api)
    response = await api("DELETE", "conversations", share["conversation_id"], "messages", ids[1])
    assert response.code == 204
    stored = service.get_conversation(_owner(service, share), share["conversation_id"])
    tombstone = stored.messages[ids[1]]
    assert tombstone.status == "deleted" and tombstone.parts == []
    assert stored.messages[ids[2]].parent_id == ids[1]
    html = await page(jp_fetch, link)
    assert "An original answer" not in html and "This message was deleted." in html and "Thanks" in html


def _owner(service, share: dict[str, Any]) -> str:
    """The owner name the server stored the share under."""
    with service.store.read() as session:
        return session.get_share(share["share_id"]).owner


async def test_a_deleted_message_cannot_be_edited(api):
    share, _link, ids = await shared(api)
    await api("DELETE", "conversations", share["conversation_id"], "messages", ids[0])
    response = await api("PATCH", "conversations", share["conversation_id"], "messages", ids[0], body={"text": "x"})
    assert response.code == 409 and body_json(response)["field"] == "message_id"


async def test_editing_an_unknown_message_or_conversation_is_404(api):
    share, _link, _ids = await shared(api)
    assert (await api("PATCH", "conversations", share["conversation_id"], "messages", "nope",
                      body={"text": "x"})).code == 404
    assert (await api("DELETE", "conversations", "no-such-conversation", "messages", "m1")).code == 404


@pytest.mark.parametrize("body, field", [({"text": ""}, "text"), ({"text": 3}, "text"), ({}, "text"),
                                         ({"text": "x", "role": "system"}, "role")])
async def test_a_bad_edit_is_400_naming_the_field(api, body, field):
    share, _link, ids = await shared(api)
    response = await api("PATCH", "conversations", share["conversation_id"], "messages", ids[0], body=body)
    assert response.code == 400 and body_json(response)["field"] == field


async def test_an_edit_over_the_size_cap_is_refused(api):
    from jupyter_convshare.core.shares import MAX_MESSAGE_CHARS

    share, _link, ids = await shared(api)
    response = await api("PATCH", "conversations", share["conversation_id"], "messages", ids[0],
                         body={"text": "x" * (MAX_MESSAGE_CHARS + 1)})
    assert response.code == 413


async def test_an_edit_is_stored_as_text_not_html(api, jp_fetch):
    # Given an owner who pastes markup: it is rendered as sanitised markdown, never as a script
    share, link, ids = await shared(api)
    await api("PATCH", "conversations", share["conversation_id"], "messages", ids[1],
              body={"text": "<script>alert(1)</script><img src=x onerror=alert(2)>"})
    html = await page(jp_fetch, link)
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_a_live_file_conversation_answers_409_edit_the_file(api, jp_root_dir):
    write_chat(jp_root_dir, "notes.chat", two_message_chat(), mtime=1_781_233_000.0)
    share = body_json(await api("POST", "shares", body={"path": "notes.chat"}))
    for method, body in (("PATCH", {"text": "changed"}), ("DELETE", None)):
        response = await api(method, "conversations", share["conversation_id"], "messages", "m1", body=body)
        assert response.code == 409
        assert "edit the file" in body_json(response)["message"]


async def test_another_user_cannot_edit_the_owners_messages(api, service, jp_fetch):
    # Given a conversation stored for another user than the one asking
    from jupyter_convshare.core.importers import load_one

    conversation = load_one({"messages": [{"role": "user", "content": "mine"}]})
    conversation.id = "someone-elses"
    service.save_conversation("someone-else", conversation)
    message_id = conversation.root_ids[0]
    # Then the server's owner gets the same 404 as for a conversation that does not exist
    response = await api("PATCH", "conversations", "someone-elses", "messages", message_id, body={"text": "x"})
    assert response.code == 404
    assert service.get_conversation("someone-else", "someone-elses").messages[message_id].text == "mine"


async def test_deleting_the_conversation_revokes_every_share(api, jp_fetch):
    share, link, _ids = await shared(api)
    assert (await api("DELETE", "conversations", share["conversation_id"])).code == 204
    assert (await api("GET", "shares", share["share_id"])).code == 404
    response = await jp_fetch("convshare", "s", link, raise_error=False)
    assert response.code == 404


async def test_a_renamed_live_chat_keeps_its_title_after_the_file_is_saved_again(api, convshare_app, jp_root_dir):
    # Given a live share of a .chat file, renamed by the owner
    from .server_helpers import chat_message

    convshare_app.live_check_interval = 0.0
    write_chat(jp_root_dir, "renamed.chat", two_message_chat(), mtime=1_781_233_000.0)
    share = body_json(await api("POST", "shares", body={"path": "renamed.chat"}))
    assert (await api("PATCH", "conversations", share["conversation_id"], body={"title": "CSV help"})).code == 200
    # When the file is saved again with a new message
    document = two_message_chat()
    document["messages"].append(chat_message("m3", "and Excel?", 1_781_233_050.0))
    write_chat(jp_root_dir, "renamed.chat", document, mtime=1_781_233_060.0)
    resolved = await convshare_app.resolve_link(share["url"].rsplit("/", 1)[1])
    # Then the new message is there and the owner's title stays
    assert "m3" in resolved.conversation.messages
    assert resolved.conversation.title == "CSV help"
