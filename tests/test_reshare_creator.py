"""The creator of a reshare manages it (issue 3 item 6; ``core.access.CREATOR_ACTIONS``).

A grantee's reshare is owned by the parent's owner and recorded as ``created_by`` the
grantee. The grantee lists it among their shares, reads it, changes its expiry (never past
the parent's) and link switch, rotates and revokes it; nothing else, and no other share of
the owner. Several users on one real server (``TokenUsersIdentityProvider`` of ``test_grants``).
"""

from __future__ import annotations

from typing import Any

import pytest

from .server_helpers import body_json
from .test_grants import (  # noqa: F401
    OWNER,
    api,
    as_user,
    grant,
    granted_share,
    jp_server_config,
    new_share,
    page_code,
    reshare,
)


async def carols_reshare(api, **parent_settings: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """An owner's share (24 h, reshare allowed) granted to carol, and carol's reshare of it."""
    share = await granted_share(api, allow_reshare=True, **parent_settings)
    response = await reshare(api, share["share_id"], expires="1h")
    assert response.code == 201, response.body
    return share, body_json(response)


async def as_carol(api, method: str, *parts: str, body: Any = None):
    return await api(method, "shares", *parts, body=body, headers=as_user("carol"))


async def test_the_creator_lists_their_reshare_and_the_owner_still_does(api):
    # Given carol's reshare of an owner's share, and another share of the owner's
    share, child = await carols_reshare(api)
    other = await new_share(api, "other")
    # When carol lists her shares
    mine = body_json(await as_carol(api, "GET"))["shares"]
    # Then she sees her reshare only, marked as such, with its link
    assert [(s["share_id"], s["parent_share_id"], s["created_by"]) for s in mine] == [
        (child["share_id"], share["share_id"], "carol")
    ]
    assert mine[0]["url"] == child["url"]
    # And the owner's list shows the share, the reshare and the other share
    owners = {s["share_id"] for s in body_json(await api("GET", "shares", headers=as_user(OWNER)))["shares"]}
    assert owners == {share["share_id"], child["share_id"], other["share_id"]}


async def test_the_creator_reads_their_reshare(api):
    _share, child = await carols_reshare(api)
    response = await as_carol(api, "GET", child["share_id"])
    assert response.code == 200
    data = body_json(response)
    assert data["link"] == child["link"] and data["created_by"] == "carol"
    qr = await as_carol(api, "GET", child["share_id"], "qr.svg")
    assert qr.code == 200 and qr.headers["Content-Type"].startswith("image/svg+xml")


@pytest.mark.parametrize("expires", ["never", "30d"])
async def test_the_creator_extends_the_expiry_only_up_to_the_parents(api, expires):
    share, child = await carols_reshare(api)
    response = await as_carol(api, "PATCH", child["share_id"], body={"expires": expires})
    assert response.code == 200, response.body
    assert body_json(response)["expires_at"] == share["expires_at"]


async def test_the_creator_shortens_the_expiry(api):
    share, child = await carols_reshare(api)
    response = await as_carol(api, "PATCH", child["share_id"], body={"expires": "1h"})
    assert response.code == 200
    assert body_json(response)["expires_at"] < share["expires_at"]


async def test_the_creator_switches_the_link_off_and_on(api, http_server_client, jp_base_url):
    _share, child = await carols_reshare(api)
    off = await as_carol(api, "PATCH", child["share_id"], body={"link_enabled": False})
    assert off.code == 200 and body_json(off)["link_enabled"] is False
    assert await page_code(http_server_client, jp_base_url, child["link"]) == 404
    assert (await as_carol(api, "PATCH", child["share_id"], body={"link_enabled": True})).code == 200
    assert await page_code(http_server_client, jp_base_url, child["link"]) == 200


async def test_nobody_switches_a_reshares_link_on_while_its_parents_is_off(api, http_server_client, jp_base_url):
    share, child = await carols_reshare(api)
    await api("PATCH", "shares", share["share_id"], body={"link_enabled": False}, headers=as_user(OWNER))
    for user in ("carol", OWNER):
        response = await api("PATCH", "shares", child["share_id"], body={"link_enabled": True}, headers=as_user(user))
        assert response.code == 403 and body_json(response)["field"] == "link_enabled"
    assert await page_code(http_server_client, jp_base_url, child["link"]) == 404


async def test_the_creator_rotates_the_link_and_the_old_one_dies(api, http_server_client, jp_base_url):
    _share, child = await carols_reshare(api)
    rotated = await as_carol(api, "POST", child["share_id"], "rotate", body={})
    assert rotated.code == 200
    assert await page_code(http_server_client, jp_base_url, child["link"]) == 404
    assert await page_code(http_server_client, jp_base_url, body_json(rotated)["link"]) == 200


async def test_the_creator_revokes_the_reshare_and_the_parent_lives_on(api, http_server_client, jp_base_url):
    share, child = await carols_reshare(api)
    assert (await as_carol(api, "DELETE", child["share_id"])).code == 204
    assert await page_code(http_server_client, jp_base_url, child["link"]) == 404
    assert await page_code(http_server_client, jp_base_url, share["link"]) == 200
    assert body_json(await as_carol(api, "GET"))["shares"] == []


@pytest.mark.parametrize(
    "setting", [{"mode": "snapshot"}, {"allow_reshare": True}, {"single_use": True}, {"chat_posting": True}]
)
async def test_the_creator_may_not_change_other_settings(api, setting):
    _share, child = await carols_reshare(api)
    response = await as_carol(api, "PATCH", child["share_id"], body={"link_enabled": True, **setting})
    field = next(iter(setting))
    assert response.code == 403
    assert body_json(response)["field"] == field and body_json(response)["message"].startswith(f"{field}:")
    after = body_json(await as_carol(api, "GET", child["share_id"]))
    assert after[field] == child[field]


async def test_the_creator_may_not_grant_snapshot_or_read_the_log(api):
    _share, child = await carols_reshare(api)
    sid = child["share_id"]
    body = {"principal_type": "user", "principal": "mallory", "permission": "view"}
    assert (await as_carol(api, "POST", sid, "grants", body=body)).code == 403
    assert (await as_carol(api, "GET", sid, "grants")).code == 403
    assert (await as_carol(api, "POST", sid, "snapshot", body={})).code == 403
    assert (await as_carol(api, "GET", sid, "audit")).code == 403


async def test_the_creator_touches_no_other_share_of_the_owner(api):
    # Given dave's reshare of the same share, and the parent itself
    share, _child = await carols_reshare(api)
    await grant(api, share["share_id"], "user", "dave", "view")
    daves = body_json(await reshare(api, share["share_id"], user="dave"))
    # Then carol may not change the parent (a grantee: 403) nor see dave's reshare (404)
    assert (await as_carol(api, "PATCH", share["share_id"], body={"expires": "1h"})).code == 403
    for method, parts, body in (("GET", (), None), ("PATCH", (), {"link_enabled": False}),
                                ("DELETE", (), None), ("POST", ("rotate",), {})):
        assert (await as_carol(api, method, daves["share_id"], *parts, body=body)).code == 404
    assert [s["share_id"] for s in body_json(await api("GET", "shares", headers=as_user("dave")))["shares"]] == [
        daves["share_id"]
    ]


async def test_a_creator_who_loses_the_grant_no_longer_manages_the_reshare(api):
    share, child = await carols_reshare(api)
    grants = body_json(await api("GET", "shares", share["share_id"], "grants", headers=as_user(OWNER)))["grants"]
    await api("DELETE", "shares", share["share_id"], "grants", grants[0]["grant_id"], headers=as_user(OWNER))
    assert body_json(await as_carol(api, "GET"))["shares"] == []
    assert (await as_carol(api, "GET", child["share_id"])).code == 404
    assert (await as_carol(api, "DELETE", child["share_id"])).code == 404


async def test_the_expiry_of_a_reshare_cannot_change_once_its_parent_expired(api, service):
    from datetime import timedelta

    share, child = await carols_reshare(api)
    real_clock = service.clock
    service.clock = lambda: real_clock() + timedelta(days=2)
    try:
        response = await as_carol(api, "PATCH", child["share_id"], body={"expires": "never"})
        assert response.code == 410
        # its settings are still the creator's to read, like the owner's
        assert (await as_carol(api, "GET", child["share_id"])).code == 200
        assert (await as_carol(api, "GET", child["share_id"], "export")).code == 410
    finally:
        service.clock = real_clock


async def test_revoke_all_by_the_creator_revokes_their_reshares_only(api, http_server_client, jp_base_url):
    share, child = await carols_reshare(api)
    response = await api("DELETE", "shares", headers=as_user("carol"))
    assert body_json(response) == {"revoked": 1}
    assert await page_code(http_server_client, jp_base_url, child["link"]) == 404
    assert await page_code(http_server_client, jp_base_url, share["link"]) == 200


async def test_the_creators_changes_are_audited_as_theirs(api):
    _share, child = await carols_reshare(api)
    sid = child["share_id"]
    await as_carol(api, "PATCH", sid, body={"expires": "never", "link_enabled": False})
    await as_carol(api, "POST", sid, "rotate", body={})
    events = body_json(await api("GET", "shares", sid, "audit", headers=as_user(OWNER)))["events"]
    assert [(e["action"], e["who"], e["owner"]) for e in events] == [
        ("share.rotated", "carol", OWNER), ("share.updated", "carol", OWNER),
    ]
    assert events[1]["details"]["link_enabled"] is False
    assert child["link"] not in str(events)
