"""Audit (issue 3 item 8): every change to a share is recorded and emitted as an event.

Real server with several users (``TokenUsersIdentityProvider`` of ``test_grants``), real
store, real jupyter-server event logger (a logging handler registered on it receives the
emitted events, as any event sink would).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from jupyter_convshare.core.access import Principal
from jupyter_convshare.core.shares import AUDIT_SCHEMA_ID

from .server_helpers import body_json
from .test_grants import OWNER, api, as_user, grant, jp_server_config, new_share  # noqa: F401


class Captured(logging.Handler):
    """Collects the jupyter-server events the server emits (their data dicts)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        data = record.msg if isinstance(record.msg, dict) else json.loads(self.format(record))
        if data.get("__schema__") == AUDIT_SCHEMA_ID:
            self.events.append(data)


@pytest.fixture
def captured(jp_serverapp):
    handler = Captured()
    jp_serverapp.event_logger.register_handler(handler)
    yield handler
    jp_serverapp.event_logger.remove_handler(handler)


async def audit(api, share_id: str, user: str = OWNER):
    return await api("GET", "shares", share_id, "audit", headers=as_user(user))


def actions(response) -> list[str]:
    return [e["action"] for e in body_json(response)["events"]]


async def test_the_owner_lists_a_shares_history_newest_first(api):
    # Given a share that was created, changed, rotated and granted
    share = await new_share(api)
    sid = share["share_id"]
    await api("PATCH", "shares", sid, body={"expires": "30d", "allow_reshare": True}, headers=as_user(OWNER))
    await api("POST", "shares", sid, "rotate", body={}, headers=as_user(OWNER))
    added = body_json(await grant(api, sid, "group", "team", "view"))
    await api("PATCH", "shares", sid, "grants", added["grant_id"], body={"permission": "collaborate"},
              headers=as_user(OWNER))
    await api("DELETE", "shares", sid, "grants", added["grant_id"], headers=as_user(OWNER))
    # When the owner asks for its audit log
    response = await audit(api, sid)
    # Then every change is there, newest first, by the owner, with its settings
    assert response.code == 200
    assert actions(response) == [
        "grant.removed", "grant.changed", "grant.added", "share.rotated", "share.updated", "share.created",
    ]
    events = body_json(response)["events"]
    assert {e["who"] for e in events} == {OWNER}
    assert all(e["share_id"] == sid and e["conversation_id"] == share["conversation_id"] for e in events)
    assert events[1]["details"] == {"grant_id": added["grant_id"], "principal_type": "group",
                                    "principal": "team", "permission": "collaborate", "previous": "view"}
    assert events[4]["details"]["allow_reshare"] is True and events[4]["details"]["expires_at"].endswith("Z")
    assert [e["event_id"] for e in events] == sorted((e["event_id"] for e in events), reverse=True)


async def test_the_audit_log_never_holds_a_link(api, service):
    share = await new_share(api)
    old_link = share["url"].rsplit("/", 1)[1]
    rotated = body_json(await api("POST", "shares", share["share_id"], "rotate", body={}, headers=as_user(OWNER)))
    new_link = rotated["url"].rsplit("/", 1)[1]
    text = (await audit(api, share["share_id"])).body.decode()
    assert old_link not in text and new_link not in text
    rows = service.store.database().conn.execute("SELECT * FROM audit").fetchall()
    assert rows and not any(old_link in str(r) or new_link in str(r) for r in rows)


async def test_every_change_is_emitted_as_a_jupyter_server_event(api, captured):
    share = await new_share(api)
    await grant(api, share["share_id"], "user", "dave", "view")
    await api("DELETE", "shares", share["share_id"], headers=as_user(OWNER))
    emitted = [e for e in captured.events if e["share_id"] == share["share_id"]]
    assert [e["action"] for e in emitted] == ["share.created", "grant.added", "share.revoked"]
    assert all(e["who"] == OWNER and e["at"].endswith("Z") and isinstance(e["event_id"], int) for e in emitted)
    assert emitted[1]["details"]["principal"] == "dave"


async def test_a_refused_change_records_and_emits_nothing(api, service, captured):
    share = await new_share(api)
    before = len(body_json(await audit(api, share["share_id"]))["events"])
    seen = len(captured.events)
    # When a stranger tries to revoke it (404) and a grantee to rotate it (403)
    await grant(api, share["share_id"], "user", "dave", "view")
    assert (await api("DELETE", "shares", share["share_id"], headers=as_user("mallory"))).code == 404
    assert (await api("POST", "shares", share["share_id"], "rotate", body={}, headers=as_user("dave"))).code == 403
    # Then only the grant was recorded
    assert len(body_json(await audit(api, share["share_id"]))["events"]) == before + 1
    assert len(captured.events) == seen + 1


async def test_messages_added_edited_and_deleted_are_in_the_shares_log_without_their_text(api):
    share = await new_share(api)
    sid, cid = share["share_id"], share["conversation_id"]
    await grant(api, sid, "group", "team", "collaborate")
    added = body_json(await api("POST", "shares", sid, "messages", body={"text": "a private thought"},
                                headers=as_user("carol")))["message"]
    await api("PATCH", "conversations", cid, "messages", added["id"], body={"text": "edited words"},
              headers=as_user(OWNER))
    await api("DELETE", "conversations", cid, "messages", added["id"], headers=as_user(OWNER))
    response = await audit(api, sid)
    events = body_json(response)["events"]
    assert [(e["action"], e["who"]) for e in events[:3]] == [
        ("message.deleted", OWNER), ("message.edited", OWNER), ("message.added", "carol"),
    ]
    assert events[2]["details"] == {"message_id": added["id"], "parent_id": added["parent_id"]}
    assert "private thought" not in response.body.decode() and "edited words" not in response.body.decode()


async def test_a_reshare_is_logged_on_its_parent_by_who_made_it(api):
    share = await new_share(api)
    await api("PATCH", "shares", share["share_id"], body={"allow_reshare": True}, headers=as_user(OWNER))
    await grant(api, share["share_id"], "group", "team", "view")
    child = body_json(await api("POST", "shares", share["share_id"], "reshare", body={"expires": "1h"},
                                headers=as_user("carol")))
    event = body_json(await audit(api, share["share_id"]))["events"][0]
    assert (event["action"], event["who"]) == ("share.reshared", "carol")
    assert event["details"]["reshare_id"] == child["share_id"]
    assert child["url"].rsplit("/", 1)[1] not in json.dumps(event)


def test_claiming_a_single_use_link_is_logged_without_the_browser_id(service):
    # Given single-use shares (service level: the viewer passes these claimant ids)
    from jupyter_convshare.core.importers import load_one

    conversation = load_one({"messages": [{"role": "user", "content": "once"}]})
    service.save_conversation(OWNER, conversation)
    share, _ = service.create_share(OWNER, conversation.id)
    share = service.update_share(OWNER, share.share_id, single_use=True)
    browser = "browser:" + "ab" * 32
    service.claim_link(share, browser)
    event = service.list_audit(OWNER, share.share_id)[0]
    assert (event.action, event.who, event.details) == ("link.claimed", "anonymous", {"by": "browser"})
    assert "ab" * 32 not in json.dumps(event.to_json())
    # And the same holder coming back is not a new claim
    service.claim_link(service.get_share(OWNER, share.share_id), browser)
    assert [e.action for e in service.list_audit(OWNER, share.share_id)].count("link.claimed") == 1


def test_a_user_claim_names_the_user(service):
    from jupyter_convshare.core.importers import load_one

    conversation = load_one({"messages": [{"role": "user", "content": "once"}]})
    service.save_conversation(OWNER, conversation)
    share, _ = service.create_share(OWNER, conversation.id)
    share = service.update_share(OWNER, share.share_id, single_use=True)
    service.claim_link(share, "user:dave")
    event = service.list_audit(OWNER, share.share_id)[0]
    assert (event.who, event.details) == ("dave", {"by": "user"})


def test_revoke_all_and_deleting_a_conversation_are_recorded(service):
    from jupyter_convshare.core.importers import load_one

    first, second = (load_one({"messages": [{"role": "user", "content": t}]}) for t in ("a", "b"))
    for conversation in (first, second):
        service.save_conversation(OWNER, conversation)
    one, _ = service.create_share(OWNER, first.id)
    two, _ = service.create_share(OWNER, second.id)
    service.delete_conversation(OWNER, second.id)
    assert service.revoke_all(OWNER) == 1
    with service.store.read() as session:
        first_log = [r.action for r in session.list_audit(one.share_id, OWNER, first.id)]
        second_log = [r.action for r in session.list_audit(two.share_id, OWNER, second.id)]
    assert first_log == ["share.revoked_all", "share.created"]
    assert second_log == ["share.revoked", "conversation.deleted", "share.created"]


async def test_grantees_cannot_read_the_log_and_strangers_cannot_see_it_exists(api):
    share = await new_share(api)
    await grant(api, share["share_id"], "group", "team", "collaborate")
    assert (await audit(api, share["share_id"], "carol")).code == 403
    assert (await audit(api, share["share_id"], "mallory")).code == 404
    assert (await audit(api, share["share_id"], "admin")).code == 200


def test_the_event_schema_ships_with_the_package_and_accepts_an_event(service):
    from pathlib import Path

    from jupyter_events import EventLogger

    import jupyter_convshare

    path = Path(jupyter_convshare.__file__).parent / "events" / "audit.yaml"
    logger = EventLogger()
    logger.register_event_schema(path)
    from jupyter_convshare.core.importers import load_one

    conversation = load_one({"messages": [{"role": "user", "content": "x"}]})
    service.save_conversation(OWNER, conversation)
    share, _ = service.create_share(OWNER, conversation.id)
    for event in service.list_audit(Principal(OWNER), share.share_id):
        logger.schemas.validate_event(AUDIT_SCHEMA_ID, event.to_json())


async def test_renaming_a_conversation_is_in_its_shares_log_without_the_titles(api, captured):
    # Given a shared conversation
    share = await new_share(api, "Secret plans")
    cid = share["conversation_id"]
    # When the owner renames it, then only re-tags it
    assert (await api("PATCH", "conversations", cid, body={"title": "Public plan"}, headers=as_user(OWNER))).code == 200
    assert (await api("PATCH", "conversations", cid, body={"tags": ["x"]}, headers=as_user(OWNER))).code == 200
    # Then the rename is recorded and emitted, with title lengths only; the tags are not
    response = await audit(api, share["share_id"])
    events = body_json(response)["events"]
    assert [(e["action"], e["who"]) for e in events[:2]] == [("conversation.renamed", OWNER), ("share.created", OWNER)]
    assert events[0]["details"] == {"old_length": len("Secret plans"), "new_length": len("Public plan")}
    assert "Secret plans" not in response.body.decode() and "Public plan" not in response.body.decode()
    assert [e["action"] for e in captured.events if e["conversation_id"] == cid][-1] == "conversation.renamed"


async def test_renaming_to_the_same_title_records_nothing(api):
    share = await new_share(api, "Same")
    await api("PATCH", "conversations", share["conversation_id"], body={"title": "Same"}, headers=as_user(OWNER))
    assert actions(await audit(api, share["share_id"])) == ["share.created"]


def test_switching_chat_posting_is_recorded(service):
    from jupyter_convshare.core.importers import load_one

    conversation = load_one({"messages": [{"role": "user", "content": "persona"}]})
    service.save_conversation(OWNER, conversation)
    share, _ = service.create_share(OWNER, conversation.id)
    service.update_share(OWNER, share.share_id, chat_posting=True)
    service.update_share(Principal("admin", is_admin=True), share.share_id, chat_posting=False)
    events = service.list_audit(OWNER, share.share_id)[:2]
    assert [(e.action, e.who, e.details) for e in events] == [
        ("share.updated", "admin", {"chat_posting": False}),
        ("share.updated", OWNER, {"chat_posting": True}),
    ]


async def test_deleting_a_conversation_over_http_is_recorded_by_who_deleted_it(api, service, captured):
    share = await new_share(api)
    assert (await api("DELETE", "conversations", share["conversation_id"], headers=as_user(OWNER))).code == 204
    emitted = [(e["action"], e["who"]) for e in captured.events if e["conversation_id"] == share["conversation_id"]]
    assert emitted[-2:] == [("conversation.deleted", OWNER), ("share.revoked", OWNER)]
