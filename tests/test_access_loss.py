"""Losing access (issue 3 item 2): "changes apply on the next request, and a user who loses
access no longer sees the conversation".

One test per kind of loss, end to end over HTTP on a real server with several users
(``TokenUsersIdentityProvider`` of ``test_grants``): the user's grant removed, their
group's grant removed, the user taken out of the group (groups file, configured groups),
and an organization grant lowered from collaborate to view.
"""

from __future__ import annotations

import json
import os
from typing import Any, Awaitable, Callable


from .server_helpers import body_json
from .test_grants import OWNER, api, as_user, grant, jp_server_config, new_share  # noqa: F401

USER = "dave"


async def sees(api, share: dict[str, Any]) -> dict[str, Any]:
    """What ``USER`` gets on every route that shows them the conversation."""
    sid = share["share_id"]
    listed = body_json(await api("GET", "shared-with-me", headers=as_user(USER)))["conversations"]
    return {
        "shared-with-me": [c["share_id"] for c in listed],
        "share": (await api("GET", "shares", sid, headers=as_user(USER))).code,
        "export": (await api("GET", "shares", sid, "export", headers=as_user(USER))).code,
        "message": (await api("POST", "shares", sid, "messages", body={"text": "still here?"},
                              headers=as_user(USER))).code,
    }


def can_see(share: dict[str, Any], message: int) -> dict[str, Any]:
    return {"shared-with-me": [share["share_id"]], "share": 200, "export": 200, "message": message}


GONE = {"shared-with-me": [], "share": 404, "export": 404, "message": 404}


async def remove_grant(api, share: dict[str, Any], grant_id: str) -> None:
    response = await api("DELETE", "shares", share["share_id"], "grants", grant_id, headers=as_user(OWNER))
    assert response.code == 204


async def given_and_lost(api, principal_type: str, name: str | None) -> tuple[dict[str, Any], Callable[[], Awaitable[None]]]:
    share = await new_share(api, "kept from dave")
    response = await grant(api, share["share_id"], principal_type, name, "collaborate")
    assert response.code == 201, response.body
    grant_id = body_json(response)["grant_id"]
    return share, lambda: remove_grant(api, share, grant_id)


async def test_a_user_whose_grant_is_removed_no_longer_sees_the_conversation(api):
    share, lose = await given_and_lost(api, "user", USER)
    assert await sees(api, share) == can_see(share, 201)
    await lose()
    assert await sees(api, share) == GONE


async def test_a_group_member_whose_groups_grant_is_removed_no_longer_sees_it(api, convshare_app):
    convshare_app.groups = {**convshare_app.groups, "lab": [USER]}
    share, lose = await given_and_lost(api, "group", "lab")
    assert await sees(api, share) == can_see(share, 201)
    await lose()
    assert await sees(api, share) == GONE


async def test_a_user_taken_out_of_the_group_in_the_groups_file_no_longer_sees_it(api, convshare_app, tmp_path):
    # Given dave in group "lab" through the groups file, and a grant to "lab"
    path = tmp_path / "groups.json"
    path.write_text(json.dumps({"lab": [USER, "mallory"]}), encoding="utf-8")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    convshare_app.groups_file = str(path)
    share, _lose = await given_and_lost(api, "group", "lab")
    assert await sees(api, share) == can_see(share, 201)
    # When the file is changed to drop him
    path.write_text(json.dumps({"lab": ["mallory"]}), encoding="utf-8")
    os.utime(path, (1_700_000_100, 1_700_000_100))
    # Then his next request no longer shows it; mallory still sees it
    assert await sees(api, share) == GONE
    assert (await api("GET", "shares", share["share_id"], headers=as_user("mallory"))).code == 200


async def test_a_user_taken_out_of_a_configured_group_no_longer_sees_it(api, convshare_app):
    convshare_app.groups = {**convshare_app.groups, "lab": [USER]}
    share, _lose = await given_and_lost(api, "group", "lab")
    assert await sees(api, share) == can_see(share, 201)
    convshare_app.groups = {**convshare_app.groups, "lab": []}
    assert await sees(api, share) == GONE


async def test_an_organization_grant_lowered_to_view_stops_messages_at_once(api):
    # Given every user may collaborate
    share, _lose = await given_and_lost(api, "organization", None)
    assert await sees(api, share) == can_see(share, 201)
    grants = body_json(await api("GET", "shares", share["share_id"], "grants", headers=as_user(OWNER)))["grants"]
    # When the owner lowers the organization's grant to view
    response = await api("PATCH", "shares", share["share_id"], "grants", grants[0]["grant_id"],
                         body={"permission": "view"}, headers=as_user(OWNER))
    assert response.code == 200
    # Then the next message is 403 (they still see the conversation, as viewers)
    assert await sees(api, share) == can_see(share, 403)
    listed = body_json(await api("GET", "shared-with-me", headers=as_user(USER)))["conversations"]
    assert [c["permission"] for c in listed] == ["view"]


async def test_a_reshare_link_stops_working_when_its_creator_loses_access(api, convshare_app, http_server_client, jp_base_url):
    # Given a share that allows resharing, granted to group "lab" (dave), and dave's reshare link
    from .server_helpers import make_anonymous_fetch

    anonymous = make_anonymous_fetch(http_server_client, jp_base_url)
    convshare_app.groups = {**convshare_app.groups, "lab": [USER]}
    share, _lose = await given_and_lost(api, "group", "lab")
    response = await api("PATCH", "shares", share["share_id"], body={"allow_reshare": True}, headers=as_user(OWNER))
    assert response.code == 200
    response = await api("POST", "shares", share["share_id"], "reshare", body={}, headers=as_user(USER))
    assert response.code == 201, response.body
    reshare_link = body_json(response)["link"]
    assert (await anonymous("convshare", "s", reshare_link)).code == 200
    # When dave is taken out of the group
    convshare_app.groups = {**convshare_app.groups, "lab": []}
    # Then his reshare's link answers the unknown-link 404 (it never gives more than he has),
    # on the page and on every route under it; the owner's own link keeps working
    assert (await anonymous("convshare", "s", reshare_link)).code == 404
    assert (await anonymous("convshare", "s", reshare_link, "export.json")).code == 404
    assert (await anonymous("convshare", "s", share["link"])).code == 200
    # and when he is back in the group, so is his link (the reshare was never deleted)
    convshare_app.groups = {**convshare_app.groups, "lab": [USER]}
    assert (await anonymous("convshare", "s", reshare_link)).code == 200
