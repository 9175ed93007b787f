"""Collaborate through the API (issue 3 item 3, API part).

``POST convshare/api/shares/<share_id>/messages`` by a user with a ``collaborate`` grant
(or the owner/an admin) adds a user message authored by ``remote:<user>``. Several users
on one real server (``TokenUsersIdentityProvider`` of ``test_grants``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .server_helpers import body_json, chat_message, two_message_chat, write_chat
from .test_grants import OWNER, api, as_user, grant, jp_server_config, new_share  # noqa: F401

T0 = 1_781_233_000.0


async def collaborative_share(api, **extra: Any) -> dict[str, Any]:
    """A live share of the owner's with ``collaborate`` for group ``team`` (carol) and
    ``view`` for group ``class-2026`` (student1)."""
    share = await new_share(api, mode=extra.pop("mode", "live"), **extra)
    assert (await grant(api, share["share_id"], "group", "team", "collaborate")).code == 201
    assert (await grant(api, share["share_id"], "group", "class-2026", "view")).code == 201
    return share


async def post(api, share_id: str, user: str | None, **body: Any):
    return await api("POST", "shares", share_id, "messages", body=body, headers=as_user(user))


def stored(service, share: dict[str, Any]):
    return service.get_conversation(OWNER, share["conversation_id"])


async def test_a_collaborator_replies_to_the_active_leaf_as_themselves(api, service, jp_fetch):
    # Given a share carol may collaborate on
    share = await collaborative_share(api)
    leaf = stored(service, share).active_leaf_id
    # When carol posts a message
    response = await post(api, share["share_id"], "carol", text="Could you *also* cover Excel?")
    # Then it is a user message of participant remote:carol under the old leaf, now the active leaf
    assert response.code == 201, response.body
    message = body_json(response)["message"]
    assert message["author_id"] == "remote:carol" and message["role"] == "user"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", message["id"])
    assert message["parent_id"] == leaf
    assert message["extra"] == {"convshare": {"origin": "collaborator"}}
    conversation = stored(service, share)
    assert conversation.active_leaf_id == message["id"]
    author = conversation.participants["remote:carol"]
    assert (author.kind, author.display_name) == ("human", "carol")
    # And link holders see it, with its author, on their next request
    html = (await jp_fetch("convshare", "s", share["url"].rsplit("/", 1)[1])).body.decode()
    assert "<em>also</em>" in html and "carol" in html


async def test_replying_to_an_earlier_message_starts_a_branch(api, service):
    share = await collaborative_share(api)
    first = stored(service, share).root_ids[0]
    old_children = list(stored(service, share).messages[first].children_ids)
    response = await post(api, share["share_id"], "carol", text="Another angle", parent_id=first)
    assert response.code == 201
    conversation = stored(service, share)
    new_id = body_json(response)["message"]["id"]
    assert conversation.messages[first].children_ids == old_children + [new_id]
    assert conversation.active_leaf_id == new_id


async def test_the_owner_may_add_messages_too(api):
    share = await collaborative_share(api)
    response = await post(api, share["share_id"], OWNER, text="A note from the teacher")
    assert response.code == 201
    assert body_json(response)["message"]["author_id"] == f"remote:{OWNER}"


@pytest.mark.parametrize("user, status", [("student1", 403), ("mallory", 404)])
async def test_viewers_strangers_and_anonymous_visitors_cannot_add(api, service, user, status):
    share = await collaborative_share(api)
    before = len(stored(service, share).messages)
    response = await post(api, share["share_id"], user, text="let me in")
    assert response.code == status
    assert len(stored(service, share).messages) == before


async def test_an_anonymous_visitor_can_never_add(api, service, http_server_client, jp_base_url):
    # Given a request without any credentials (jp_fetch would add the server's token)
    import json

    from jupyter_server.utils import url_path_join

    share = await collaborative_share(api)
    before = len(stored(service, share).messages)
    response = await http_server_client.fetch(
        url_path_join(jp_base_url, "convshare/api/shares", share["share_id"], "messages"),
        method="POST", body=json.dumps({"text": "hello"}), raise_error=False,
    )
    assert response.code == 403
    assert len(stored(service, share).messages) == before


async def test_a_snapshot_share_is_frozen(api):
    share = await collaborative_share(api, mode="snapshot")
    response = await post(api, share["share_id"], "carol", text="too late")
    assert response.code == 409
    assert "snapshots are frozen" in body_json(response)["message"]


async def test_a_collaborator_loses_the_right_with_the_grant(api):
    share = await collaborative_share(api)
    grants = body_json(await api("GET", "shares", share["share_id"], "grants", headers=as_user(OWNER)))["grants"]
    team = next(g for g in grants if g["principal"] == "team")
    assert (await api("DELETE", "shares", share["share_id"], "grants", team["grant_id"],
                      headers=as_user(OWNER))).code == 204
    assert (await post(api, share["share_id"], "carol", text="still here?")).code == 404


@pytest.mark.parametrize("body, field, status", [
    ({"text": ""}, "text", 400),
    ({"text": None}, "text", 400),
    ({"text": "x", "parent_id": "no-such-message"}, "parent_id", 404),  # as a message viewers do not see
    ({"text": "x", "parent_id": 7}, "parent_id", 400),
    ({"text": "x", "author_id": "remote:teacher"}, "author_id", 400),
])
async def test_a_bad_message_is_refused_naming_the_field(api, body, field, status):
    share = await collaborative_share(api)
    response = await post(api, share["share_id"], "carol", **body)
    assert response.code == status and body_json(response)["field"] == field


async def test_a_message_over_the_size_cap_is_413(api):
    from jupyter_convshare.core.shares import MAX_MESSAGE_CHARS

    share = await collaborative_share(api)
    response = await post(api, share["share_id"], "carol", text="x" * (MAX_MESSAGE_CHARS + 1))
    assert response.code == 413


async def test_a_collaborators_message_survives_a_resync_of_the_live_chat_file(
    api, service, convshare_app, jp_root_dir
):
    # Given a live share of a .chat file, carol collaborating
    convshare_app.live_check_interval = 0.0
    write_chat(jp_root_dir, "live.chat", two_message_chat(), mtime=T0)
    response = await api("POST", "shares", body={"path": "live.chat", "mode": "live"}, headers=as_user(OWNER))
    share = body_json(response)
    await grant(api, share["share_id"], "group", "team", "collaborate")
    added = body_json(await post(api, share["share_id"], "carol", text="What about JSON?"))["message"]
    assert added["parent_id"] == "m2"
    # When the file is saved again with a new message of its own
    document = two_message_chat()
    document["messages"].append(chat_message("m3", "One more thing from the chat", T0 + 30))
    write_chat(jp_root_dir, "live.chat", document, mtime=T0 + 60)
    resolved = await convshare_app.resolve_link(share["url"].rsplit("/", 1)[1])
    # Then both the file's message and carol's are there, carol's still under m2
    messages = resolved.conversation.messages
    assert "m3" in messages and added["id"] in messages
    assert messages[added["id"]].parent_id == "m2"
    assert added["id"] in messages["m2"].children_ids
    # And a file-backed conversation still refuses the owner's edits (edit the file)
    assert (await api("PATCH", "conversations", share["conversation_id"], "messages", "m1",
                      body={"text": "x"}, headers=as_user(OWNER))).code == 409


def test_a_grant_removed_after_the_first_check_lets_no_message_through(service):
    # Given a share carol may collaborate on (service level: no server round trip between steps)
    import sys

    from jupyter_convshare.core.access import Principal
    from jupyter_convshare.core.errors import NotFound
    from jupyter_convshare.core.importers import load_one

    conversation = load_one({"messages": [{"role": "user", "content": "race"}]})
    service.save_conversation(OWNER, conversation)
    share, _ = service.create_share(OWNER, conversation.id)
    team, _ = service.add_grant(OWNER, share.share_id, "group", "team", "collaborate")
    carol = Principal("carol", groups=frozenset({"team"}))
    real_clock = service.clock
    removed: list[bool] = []

    def clock():
        # The service reads its clock to time the message after its first access check
        # and before its write transaction: the owner removes the grant right then.
        caller = sys._getframe(2)
        if not removed and caller.f_code.co_name == "add_collaborator_message":
            removed.append(True)
            service.remove_grant(OWNER, share.share_id, team.grant_id)
        return real_clock()

    service.clock = clock
    try:
        # When carol's message is added while the grant goes
        with pytest.raises(NotFound):
            service.add_collaborator_message(carol, share.share_id, "slipped through?")
    finally:
        service.clock = real_clock
    # Then the grant was removed between the check and the write, and nothing was written
    assert removed == [True]
    assert len(service.get_conversation(OWNER, conversation.id).messages) == 1
    assert "message.added" not in [e.action for e in service.list_audit(OWNER, share.share_id)]


def test_the_share_answered_is_the_one_read_in_the_write_transaction(service):
    from jupyter_convshare.core.importers import load_one

    conversation = load_one({"messages": [{"role": "user", "content": "fresh"}]})
    service.save_conversation(OWNER, conversation)
    share, _ = service.create_share(OWNER, conversation.id)
    answered, message = service.add_collaborator_message(OWNER, share.share_id, "hi", message_id="chat-id-1")
    assert answered.share_id == share.share_id and answered.link == share.link
    assert message.id == "chat-id-1"
