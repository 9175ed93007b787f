"""Admins list and revoke every owner's shares (issue 6 item 3), through a real server.

Several users on one real jupyter-server (``TokenUsersIdentityProvider`` of ``test_grants``):
``admin`` is in ``ConvShareApp.admin_users``; ``teacher`` owns the server; ``dave``, ``carol``
and the students are other users who post their own conversations. Real SQLite store.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from .server_helpers import body_json, make_anonymous_fetch, make_api
from .test_grants import OWNER, as_user, chat, jp_server_config  # noqa: F401


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


@pytest.fixture
def anonymous(http_server_client, jp_base_url):
    return make_anonymous_fetch(http_server_client, jp_base_url)


async def share_as(api, user: str, title: str, **extra: Any) -> dict[str, Any]:
    """``user`` posts a conversation titled ``title`` and shares it (201)."""
    response = await api("POST", "shares", body={"conversation": chat(title), "title": title, **extra},
                         headers=as_user(user))
    assert response.code == 201, response.body
    return body_json(response)


async def admin_list(api, **params: str) -> dict[str, Any]:
    response = await api("GET", "admin", "shares", params=params or None, headers=as_user("admin"))
    assert response.code == 200, response.body
    return body_json(response)


def titles(page: dict[str, Any]) -> list[str]:
    return [s["title"] for s in page["shares"]]


async def link_status(anonymous, share: dict[str, Any]) -> int:
    return (await anonymous("convshare", "s", share["link"])).code


# -- who may --------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [OWNER, "dave", "student1"])
@pytest.mark.parametrize(
    "method, parts, body",
    [
        ("GET", ("admin", "shares"), None),
        ("POST", ("admin", "users", "dave", "revoke"), {}),
        ("GET", ("admin", "policies"), None),
        ("PUT", ("admin", "policies", "group", "team"), {"allow_link": False}),
        ("DELETE", ("admin", "policies", "group", "team"), None),
        ("POST", ("admin", "policies", "apply"), {}),
    ],
)
async def test_a_user_who_is_not_an_admin_gets_403_from_every_admin_route(api, user, method, parts, body):
    response = await api(method, *parts, body=body, headers=as_user(user))
    assert response.code == 403
    assert body_json(response)["reason"] == "forbidden"


async def test_an_anonymous_visitor_gets_403_from_the_admin_api(anonymous):
    response = await anonymous("convshare", "api", "admin", "shares")
    assert response.code == 403


async def test_a_refused_revoke_of_a_user_revokes_nothing(api, anonymous):
    share = await share_as(api, "dave", "dave's notes")
    await api("POST", "admin", "users", "dave", "revoke", body={}, headers=as_user("carol"))
    assert await link_status(anonymous, share) == 200


# -- listing --------------------------------------------------------------------------------


async def test_the_admin_lists_every_owners_shares_newest_first_without_links(api):
    # Given shares of three owners, one with a group grant
    first = await share_as(api, OWNER, "fractions")
    await share_as(api, "dave", "dave's notes")
    await share_as(api, "carol", "carol's plan")
    await api("POST", "shares", first["share_id"], "grants",
              body={"principal_type": "group", "principal": "class-2026", "permission": "view"})
    # When the admin lists them
    page = await admin_list(api)
    # Then every share is there, newest first, with its owner, state and grants, and no secret
    assert titles(page) == ["carol's plan", "dave's notes", "fractions"]
    assert [s["owner"] for s in page["shares"]] == ["carol", "dave", OWNER]
    assert page["total"] == 3 and page["next_offset"] is None
    fractions = page["shares"][2]
    assert fractions["state"] == "active"
    assert fractions["grants"] == [{"principal_type": "group", "principal": "class-2026", "permission": "view"}]
    for item in page["shares"]:
        assert "link" not in item and "url" not in item
        assert first["link"] not in str(item)


async def catalogue(api, service) -> dict[str, Any]:
    """Five shares: teacher's live 'algebra' (7d, granted to class-2026), dave's snapshot
    'geometry' (30d, link off), carol's 'algebra revision' (never), dave's expired
    'old quiz' (made two days ago, 1h) and teacher's 'Statistics 100%' (24h)."""
    algebra = await share_as(api, OWNER, "algebra", expires="7d")
    await api("POST", "shares", algebra["share_id"], "grants",
              body={"principal_type": "group", "principal": "class-2026", "permission": "view"})
    geometry = await share_as(api, "dave", "geometry", expires="30d", mode="snapshot")
    await api("PATCH", "shares", geometry["share_id"], body={"link_enabled": False}, headers=as_user("dave"))
    await share_as(api, "carol", "algebra revision", expires="never")
    real_clock = service.clock
    service.clock = lambda: real_clock() - timedelta(days=2)
    try:
        await share_as(api, "dave", "old quiz", expires="1h")
    finally:
        service.clock = real_clock
    await share_as(api, OWNER, "Statistics 100%", expires="24h")
    return {"algebra": algebra, "geometry": geometry}


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"owner": "dave"}, ["geometry", "old quiz"]),
        ({"group": "class-2026"}, ["algebra"]),
        ({"group": "team"}, []),
        ({"mode": "snapshot"}, ["geometry"]),
        ({"state": "expired"}, ["old quiz"]),
        ({"state": "active", "owner": "dave"}, ["geometry"]),
        ({"link": "off"}, ["geometry"]),
        ({"link": "on", "owner": "carol"}, ["algebra revision"]),
        ({"q": "ALGEBRA"}, ["algebra revision", "algebra"]),
        ({"q": "100%"}, ["Statistics 100%"]),
        ({"q": "_"}, []),
        ({"reshare": "yes"}, []),
    ],
    ids=repr,
)
async def test_admin_filters(api, service, params, expected):
    await catalogue(api, service)
    assert titles(await admin_list(api, **params)) == expected


async def test_admin_filters_by_creation_and_expiry_time(api, service):
    await catalogue(api, service)
    now = datetime.now(timezone.utc)
    day_ago = (now - timedelta(days=1)).isoformat()
    assert titles(await admin_list(api, created_before=day_ago)) == ["old quiz"]
    assert "old quiz" not in titles(await admin_list(api, created_after=day_ago))
    in_ten_days = (now + timedelta(days=10)).isoformat()
    # never-expiring shares count as expiring after any time
    assert titles(await admin_list(api, expires_after=in_ten_days)) == ["algebra revision", "geometry"]
    assert titles(await admin_list(api, expires_before=in_ten_days, state="active")) == [
        "Statistics 100%", "algebra"
    ]


async def test_admin_listing_pages(api, service):
    await catalogue(api, service)
    first = await admin_list(api, limit="2")
    assert (first["total"], first["limit"], first["offset"], first["next_offset"]) == (5, 2, 0, 2)
    second = await admin_list(api, limit="2", offset="2")
    last = await admin_list(api, limit="2", offset="4")
    assert last["next_offset"] is None
    assert titles(first) + titles(second) + titles(last) == titles(await admin_list(api))


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"state": "dead"}, "state"),
        ({"mode": "frozen"}, "mode"),
        ({"link": "yes"}, "link"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"colour": "red"}, "colour"),
        ({"state": "revoked", "mode": "live"}, "mode"),
    ],
    ids=repr,
)
async def test_a_bad_admin_filter_is_a_400_naming_it(api, params, field):
    response = await api("GET", "admin", "shares", params=params, headers=as_user("admin"))
    assert response.code == 400
    assert body_json(response)["field"] == field


# -- revoking ---------------------------------------------------------------------------------


async def test_an_admin_revokes_anyones_share_and_it_is_audited_as_theirs(api, anonymous):
    share = await share_as(api, "dave", "dave's notes")
    response = await api("DELETE", "shares", share["share_id"], headers=as_user("admin"))
    assert response.code == 204
    assert await link_status(anonymous, share) == 404
    revoked = await admin_list(api, state="revoked")
    assert [(r["share_id"], r["owner"], r["revoked_by"], r["state"]) for r in revoked["shares"]] == [
        (share["share_id"], "dave", "admin", "revoked")
    ]


async def dave_with_a_reshare(api) -> dict[str, Any]:
    """dave's two shares, dave's reshare of the teacher's share, and carol's share."""
    teachers = await share_as(api, OWNER, "teacher's lesson")
    await api("POST", "shares", teachers["share_id"], "grants",
              body={"principal_type": "user", "principal": "dave", "permission": "view"})
    await api("PATCH", "shares", teachers["share_id"], body={"allow_reshare": True})
    reshare = await api("POST", "shares", teachers["share_id"], "reshare", body={}, headers=as_user("dave"))
    assert reshare.code == 201, reshare.body
    return {
        "teacher": teachers,
        "reshare": body_json(reshare),
        "dave": [await share_as(api, "dave", "notes 1"), await share_as(api, "dave", "notes 2")],
        "carol": await share_as(api, "carol", "carol's plan"),
    }


async def test_revoking_a_user_revokes_their_shares_and_reshares_in_one_call(api, anonymous):
    given = await dave_with_a_reshare(api)
    # When the admin revokes everything of dave's (dave leaves)
    response = await api("POST", "admin", "users", "dave", "revoke", body={}, headers=as_user("admin"))
    # Then one answer counts them
    assert response.code == 200
    assert body_json(response) == {"user": "dave", "revoked": 3, "shares": 2, "reshares": 1}
    # And dave's links and his reshare link answer 404
    for share in [*given["dave"], given["reshare"]]:
        assert await link_status(anonymous, share) == 404
    # While everyone else's shares, the reshared one included, still work
    assert await link_status(anonymous, given["teacher"]) == 200
    assert await link_status(anonymous, given["carol"]) == 200
    assert titles(await admin_list(api)) == ["carol's plan", "teacher's lesson"]


async def test_revoking_a_user_is_audited_per_share_by_the_admin(api):
    given = await dave_with_a_reshare(api)
    await api("POST", "admin", "users", "dave", "revoke", body={}, headers=as_user("admin"))
    revoked = (await admin_list(api, state="revoked"))["shares"]
    by_id = {r["share_id"]: r for r in revoked}
    assert set(by_id) == {s["share_id"] for s in [*given["dave"], given["reshare"]]}
    for event in revoked:
        assert event["action"] == "share.revoked_all" and event["revoked_by"] == "admin"
        assert event["details"]["user"] == "dave" and event["details"]["by_admin"] is True
    # the reshare's event is in its owner's (the teacher's) log, naming the share it came from
    assert by_id[given["reshare"]["share_id"]]["owner"] == OWNER
    assert by_id[given["reshare"]["share_id"]]["details"]["reshare_of"] == given["teacher"]["share_id"]
    assert {r["share_id"] for r in (await admin_list(api, state="revoked", owner="dave"))["shares"]} == {
        s["share_id"] for s in given["dave"]
    }


async def test_revoking_a_user_emits_jupyter_server_events(api, jp_serverapp):
    import logging

    records: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.msg if isinstance(record.msg, dict) else {})

    handler = Collect()
    jp_serverapp.event_logger.register_handler(handler)
    try:
        await share_as(api, "dave", "notes")
        await api("POST", "admin", "users", "dave", "revoke", body={}, headers=as_user("admin"))
    finally:
        jp_serverapp.event_logger.remove_handler(handler)
    assert [(r.get("action"), r.get("who")) for r in records][-1] == ("share.revoked_all", "admin")


async def test_revoking_a_user_without_shares_revokes_nothing(api):
    await share_as(api, "carol", "carol's plan")
    response = await api("POST", "admin", "users", "nobody", "revoke", body={}, headers=as_user("admin"))
    assert body_json(response) == {"user": "nobody", "revoked": 0, "shares": 0, "reshares": 0}
    assert titles(await admin_list(api)) == ["carol's plan"]
