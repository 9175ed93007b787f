"""Identity, groups and grants (issue 3 items 1 and 2; DESIGN.md sections 4 and 5).

Several users on one real server: :class:`TokenUsersIdentityProvider` (real jupyter-server
authentication, set through ``ServerApp.identity_provider_class``) maps a token to a user,
e.g. ``Authorization: token alice-token`` -> ``alice``. The server's own token still works
and acts as the owner, as does the identity named like ``ConvShareApp.owner``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.utils import url_path_join

from jupyter_convshare.core.store import MIGRATIONS, SQLiteStore

from .server_helpers import body_json, make_api

OWNER = "teacher"
USERS = ("teacher", "admin", "student1", "student2", "carol", "dave", "mallory", "rita")
GROUPS = {"class-2026": ["student1", "student2"], "team": ["carol"]}


class TokenUsersIdentityProvider(IdentityProvider):
    """Test identity provider: the token ``<name>-token`` authenticates user ``<name>``.

    Any other token goes through jupyter-server's own token check (the server's token
    gives its usual anonymous user, which convshare maps to the owner).
    """

    async def get_user_token(self, handler: Any) -> User | None:
        token = self.get_token(handler) or ""
        name = token[: -len("-token")] if token.endswith("-token") else ""
        if name in USERS:
            return User(username=name, name=name, display_name=name)
        return await super().get_user_token(handler)


def as_user(name: str | None) -> dict[str, str]:
    """Request headers of ``name`` (``None``: no credentials at all)."""
    return {} if name is None else {"Authorization": f"token {name}-token"}


@pytest.fixture
def jp_server_config(jp_server_config, tmp_path):
    config = dict(jp_server_config)
    config["ServerApp"] = {**config["ServerApp"], "identity_provider_class": TokenUsersIdentityProvider}
    config["ConvShareApp"] = {
        **config["ConvShareApp"],
        "owner": OWNER,
        "groups": GROUPS,
        "admin_users": {"admin"},
    }
    return config


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


def chat(title: str) -> dict[str, Any]:
    """A small OpenAI-style message list (a posted conversation)."""
    return {
        "messages": [
            {"role": "system", "content": "secret system prompt"},
            {"role": "user", "content": f"question about {title}"},
            {"role": "assistant", "content": "an answer"},
        ]
    }


async def new_share(api, title: str = "lesson", **extra: Any) -> dict[str, Any]:
    response = await api("POST", "shares", body={"conversation": chat(title), "title": title, **extra},
                         headers=as_user(OWNER))
    assert response.code == 201, response.body
    return body_json(response)


async def grant(api, share_id: str, principal_type: str, principal: str | None, permission: str, user: str = OWNER):
    return await api(
        "POST", "shares", share_id, "grants",
        body={"principal_type": principal_type, "principal": principal, "permission": permission},
        headers=as_user(user),
    )


# -- identity ------------------------------------------------------------------------------


async def test_whoami_names_the_user_its_groups_and_admin_flag(api):
    assert body_json(await api("GET", "whoami", headers=as_user("student1"))) == {
        "name": "student1", "groups": ["class-2026"], "is_admin": False,
    }
    assert body_json(await api("GET", "whoami", headers=as_user("admin")))["is_admin"] is True


async def test_the_servers_own_token_acts_as_the_configured_owner(api):
    # Given the default headers of jp_fetch (the server's token, an anonymous identity)
    response = await api("GET", "whoami")
    # Then the request is the owner, not "Anonymous ..."
    assert body_json(response)["name"] == OWNER


async def test_another_user_owns_their_own_conversations_not_the_owners(api):
    await new_share(api, "owner's")
    response = await api("GET", "shares", headers=as_user("dave"))
    assert body_json(response) == {"shares": []}


async def test_another_user_cannot_share_files_of_the_server(api, jp_root_dir):
    (jp_root_dir / "notes.json").write_text(json.dumps(chat("file")), encoding="utf-8")
    response = await api("POST", "shares", body={"path": "notes.json"}, headers=as_user("dave"))
    assert response.code == 403
    assert body_json(response)["field"] == "path"


# -- groups ------------------------------------------------------------------------------


async def test_groups_lists_configured_groups_with_member_counts(api):
    response = await api("GET", "groups", headers=as_user("dave"))
    assert body_json(response) == {"groups": [{"name": "class-2026", "members": 2}, {"name": "team", "members": 1}]}


async def test_groups_file_is_read_again_when_it_changes(api, convshare_app, tmp_path):
    path = tmp_path / "groups.json"
    path.write_text(json.dumps({"lab": ["dave"]}), encoding="utf-8")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    convshare_app.groups_file = str(path)
    assert body_json(await api("GET", "whoami", headers=as_user("dave")))["groups"] == ["lab"]
    # When the file changes (new mtime)
    path.write_text(json.dumps({"lab": ["mallory"], "class-2026": ["dave"]}), encoding="utf-8")
    os.utime(path, (1_700_000_100, 1_700_000_100))
    # Then the next request sees the new membership, merged with the configured groups
    assert body_json(await api("GET", "whoami", headers=as_user("dave")))["groups"] == ["class-2026"]
    counts = {g["name"]: g["members"] for g in body_json(await api("GET", "groups"))["groups"]}
    assert counts == {"class-2026": 3, "lab": 1, "team": 1}


async def test_a_broken_groups_file_keeps_the_last_good_groups(api, convshare_app, tmp_path):
    path = tmp_path / "groups.json"
    path.write_text(json.dumps({"lab": ["dave"]}), encoding="utf-8")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    convshare_app.groups_file = str(path)
    assert body_json(await api("GET", "whoami", headers=as_user("dave")))["groups"] == ["lab"]
    path.write_text('{"lab": ["dave"', encoding="utf-8")
    os.utime(path, (1_700_000_100, 1_700_000_100))
    assert body_json(await api("GET", "whoami", headers=as_user("dave")))["groups"] == ["lab"]


def test_groups_config_of_the_wrong_shape_is_refused(convshare_app):
    with pytest.raises(Exception, match="ConvShareApp.groups"):
        convshare_app.groups = {"class": "student1"}


# -- grants ------------------------------------------------------------------------------


async def test_adding_a_grant_answers_201_and_the_same_principal_again_updates_it(api):
    share = await new_share(api)
    first = await grant(api, share["share_id"], "group", "class-2026", "view")
    assert first.code == 201
    created = body_json(first)
    assert created["principal_type"] == "group" and created["principal"] == "class-2026"
    assert created["permission"] == "view"
    again = await grant(api, share["share_id"], "group", "class-2026", "collaborate")
    assert again.code == 200
    assert body_json(again)["grant_id"] == created["grant_id"]
    assert body_json(again)["permission"] == "collaborate"
    listed = body_json(await api("GET", "shares", share["share_id"], "grants"))["grants"]
    assert [(g["principal"], g["permission"]) for g in listed] == [("class-2026", "collaborate")]


async def test_an_organization_grant_has_no_principal(api):
    share = await new_share(api)
    response = await grant(api, share["share_id"], "organization", None, "view")
    assert response.code == 201
    assert body_json(response)["principal"] is None


@pytest.mark.parametrize(
    "principal_type, principal, permission, field",
    [
        ("group", "no-such-group", "view", "principal"),
        ("group", "class-2026", "admin", "permission"),
        ("team", "class-2026", "view", "principal_type"),
        ("organization", "everyone", "view", "principal"),
        ("user", "", "view", "principal"),
        ("user", ["a"], "view", "principal"),
    ],
)
async def test_a_bad_grant_is_a_400_naming_the_field(api, principal_type, principal, permission, field):
    share = await new_share(api)
    response = await grant(api, share["share_id"], principal_type, principal, permission)
    assert response.code == 400
    assert body_json(response)["field"] == field
    assert body_json(await api("GET", "shares", share["share_id"], "grants"))["grants"] == []


async def test_changing_and_removing_a_grant(api):
    share = await new_share(api)
    gid = body_json(await grant(api, share["share_id"], "user", "dave", "view"))["grant_id"]
    changed = await api("PATCH", "shares", share["share_id"], "grants", gid, body={"permission": "collaborate"})
    assert changed.code == 200 and body_json(changed)["permission"] == "collaborate"
    removed = await api("DELETE", "shares", share["share_id"], "grants", gid)
    assert removed.code == 204
    again = await api("DELETE", "shares", share["share_id"], "grants", gid)
    assert again.code == 404 and body_json(again)["field"] == "grant_id"


async def test_a_grant_of_another_share_is_not_found_through_this_one(api):
    one, two = await new_share(api, "one"), await new_share(api, "two")
    gid = body_json(await grant(api, one["share_id"], "user", "dave", "view"))["grant_id"]
    response = await api("DELETE", "shares", two["share_id"], "grants", gid)
    assert response.code == 404
    assert len(body_json(await api("GET", "shares", one["share_id"], "grants"))["grants"]) == 1


async def test_grantees_see_the_conversation_in_shared_with_me_until_the_grant_goes(api):
    share = await new_share(api, "fractions")
    gid = body_json(await grant(api, share["share_id"], "group", "class-2026", "view"))["grant_id"]
    mine = body_json(await api("GET", "shared-with-me", headers=as_user("student2")))["conversations"]
    assert [(c["share_id"], c["title"], c["owner"], c["permission"]) for c in mine] == [
        (share["share_id"], "fractions", OWNER, "view")
    ]
    assert mine[0]["url"] == share["url"]
    assert body_json(await api("GET", "shared-with-me", headers=as_user("carol")))["conversations"] == []
    # When the owner removes the grant, the next request no longer shows it
    await api("DELETE", "shares", share["share_id"], "grants", gid)
    assert body_json(await api("GET", "shared-with-me", headers=as_user("student2")))["conversations"] == []
    assert (await api("GET", "shares", share["share_id"], headers=as_user("student2"))).code == 404


async def test_the_best_of_several_grants_wins(api):
    share = await new_share(api)
    await grant(api, share["share_id"], "organization", None, "view")
    await grant(api, share["share_id"], "user", "carol", "collaborate")
    items = body_json(await api("GET", "shared-with-me", headers=as_user("carol")))["conversations"]
    assert [c["permission"] for c in items] == ["collaborate"]
    items = body_json(await api("GET", "shared-with-me", headers=as_user("mallory")))["conversations"]
    assert [c["permission"] for c in items] == ["view"]


async def test_a_grantee_reads_the_conversation_as_a_viewer_would(api):
    share = await new_share(api)
    await grant(api, share["share_id"], "user", "dave", "view")
    response = await api("GET", "shares", share["share_id"], headers=as_user("dave"))
    assert response.code == 200
    data = body_json(response)
    assert data["permission"] == "view" and "link" not in data
    text = json.dumps(data["conversation"])
    assert "question about lesson" in text
    assert "secret system prompt" not in text
    exported = await api("GET", "shares", share["share_id"], "export", params={"format": "md"}, headers=as_user("dave"))
    assert exported.code == 200
    assert b"question about lesson" in exported.body and b"secret system prompt" not in exported.body


async def test_a_grantee_may_not_change_the_share_or_its_grants(api):
    share = await new_share(api)
    await grant(api, share["share_id"], "user", "dave", "collaborate")
    response = await api("PATCH", "shares", share["share_id"], body={"expires": "30d"}, headers=as_user("dave"))
    assert response.code == 403
    assert "owner" in body_json(response)["message"]
    response = await grant(api, share["share_id"], "user", "dave", "collaborate", user="dave")
    assert response.code == 403


async def test_an_admin_manages_a_share_of_the_owner(api):
    share = await new_share(api)
    response = await api("PATCH", "shares", share["share_id"], body={"link_enabled": False}, headers=as_user("admin"))
    assert response.code == 200 and body_json(response)["link_enabled"] is False
    assert (await grant(api, share["share_id"], "user", "dave", "view", user="admin")).code == 201


async def test_a_link_switched_off_answers_404_like_a_revoked_one_and_back_on_works(api, http_server_client, jp_base_url):
    share = await new_share(api)
    assert share["link_enabled"] is True and share["allow_reshare"] is False and share["single_use"] is False
    page = url_path_join(jp_base_url, "convshare", "s", share["link"])
    assert (await http_server_client.fetch(page, raise_error=False)).code == 200
    off = await api("PATCH", "shares", share["share_id"], body={"link_enabled": False})
    assert body_json(off)["link_enabled"] is False
    response = await http_server_client.fetch(page, raise_error=False)
    other = await http_server_client.fetch(url_path_join(jp_base_url, "convshare", "s", "x" * 43), raise_error=False)
    assert response.code == other.code == 404
    assert response.body == other.body
    await api("PATCH", "shares", share["share_id"], body={"link_enabled": True})
    assert (await http_server_client.fetch(page, raise_error=False)).code == 200


async def test_a_link_switched_off_hides_the_url_from_grantees_who_still_read_it(api):
    share = await new_share(api)
    await grant(api, share["share_id"], "user", "dave", "view")
    await api("PATCH", "shares", share["share_id"], body={"link_enabled": False})
    items = body_json(await api("GET", "shared-with-me", headers=as_user("dave")))["conversations"]
    # (the grantee page, which needs a login, instead of the link)
    assert items[0]["url"].endswith(f"/convshare/v/{share['share_id']}") and share["link"] not in items[0]["url"]
    assert (await api("GET", "shares", share["share_id"], headers=as_user("dave"))).code == 200


@pytest.mark.parametrize("value", ["no", 1, None])
async def test_share_flags_must_be_booleans(api, value):
    share = await new_share(api)
    response = await api("PATCH", "shares", share["share_id"], body={"link_enabled": value})
    assert response.code == 400 and body_json(response)["field"] == "link_enabled"


async def test_revoking_a_share_drops_its_grants(api, service):
    share = await new_share(api)
    await grant(api, share["share_id"], "user", "dave", "view")
    await api("DELETE", "shares", share["share_id"])
    assert body_json(await api("GET", "shared-with-me", headers=as_user("dave")))["conversations"] == []
    with service.store.read() as session:
        assert session.list_grants(share["share_id"]) == []


# -- store migration ---------------------------------------------------------------------


def test_migration_2_keeps_existing_shares_with_the_link_on(tmp_path):
    # Given a version-1 database with one share
    import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "convshare.db")
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db["conversations"].insert(
        {"owner": "o", "id": "c", "version": 1, "message_count": 0, "source_format": "convshare",
         "created_at": "2030-01-01T00:00:00.000000Z", "updated_at": "2030-01-01T00:00:00.000000Z", "doc": "{}"}
    )
    db["shares"].insert(
        {"share_id": "s", "owner": "o", "conversation_id": "c", "link_nonce": b"n", "link_lookup": "l",
         "mode": "live", "created_at": "2030-01-01T00:00:00.000000Z",
         "updated_at": "2030-01-01T00:00:00.000000Z", "view_count": 0}
    )
    db.conn.commit()
    db.close()
    # When the store opens it
    store = SQLiteStore(tmp_path)
    try:
        assert store.schema_version() == len(MIGRATIONS) >= 2
        with store.read() as session:
            record = session.get_share("s")
            assert session.list_grants("s") == []
        assert record is not None
        assert (record.link_enabled, record.allow_reshare, record.single_use) == (True, False, False)
    finally:
        store.close()
    assert sqlite3.connect(tmp_path / "convshare.db").execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


# -- reshare (issue 3 item 6) --------------------------------------------------------------


async def granted_share(api, **settings: Any) -> dict[str, Any]:
    """An owner's share granted to carol (collaborate), with ``settings`` PATCHed."""
    share = await new_share(api, expires="24h")
    await grant(api, share["share_id"], "user", "carol", "collaborate")
    if settings:
        assert (await api("PATCH", "shares", share["share_id"], body=settings)).code == 200
    return share


async def reshare(api, share_id: str, user: str = "carol", **body: Any):
    return await api("POST", "shares", share_id, "reshare", body=body, headers=as_user(user))


async def page_code(http_server_client, jp_base_url, link: str, headers: dict[str, str] | None = None) -> int:
    url = url_path_join(jp_base_url, "convshare", "s", link)
    return (await http_server_client.fetch(url, headers=headers or {}, raise_error=False)).code


async def test_a_share_that_does_not_allow_reshare_answers_403_with_a_clear_message(api):
    share = await granted_share(api)
    response = await reshare(api, share["share_id"])
    assert response.code == 403
    assert "resharing is not allowed" in body_json(response)["message"]


async def test_a_reshare_never_outlives_its_parent(api, http_server_client, jp_base_url):
    share = await granted_share(api, allow_reshare=True)
    response = await reshare(api, share["share_id"], expires="30d")
    assert response.code == 201
    child = body_json(response)
    assert child["expires_at"] == share["expires_at"]
    assert child["parent_share_id"] == share["share_id"] and child["created_by"] == "carol"
    assert child["link"] != share["link"] and child["allow_reshare"] is False
    assert await page_code(http_server_client, jp_base_url, child["link"]) == 200
    # When the owner shortens the parent's expiry, the reshare follows
    patched = body_json(await api("PATCH", "shares", share["share_id"], body={"expires": "1h"}))
    listed = {s["share_id"]: s for s in body_json(await api("GET", "shares"))["shares"]}
    assert listed[child["share_id"]]["expires_at"] == patched["expires_at"]


@pytest.mark.parametrize(
    "change",
    [{"allow_reshare": False}, {"link_enabled": False}, None],
    ids=["reshare switched off", "link switched off", "parent revoked"],
)
async def test_a_reshare_dies_or_switches_off_with_its_parent(api, http_server_client, jp_base_url, change):
    share = await granted_share(api, allow_reshare=True)
    child = body_json(await reshare(api, share["share_id"]))
    if change is None:
        await api("DELETE", "shares", share["share_id"])
    else:
        await api("PATCH", "shares", share["share_id"], body=change)
    assert await page_code(http_server_client, jp_base_url, child["link"]) == 404


async def test_a_reshare_of_a_snapshot_shows_the_parents_frozen_copy(api, service):
    share = await granted_share(api, allow_reshare=True, mode="snapshot")
    child = body_json(await reshare(api, share["share_id"]))
    assert child["mode"] == "snapshot"
    shown = service.resolve(child["link"], count_view=False).conversation
    assert "question about lesson" in json.dumps(shown.to_dict())


async def test_a_live_reshare_freezes_when_its_parent_becomes_a_snapshot(api, service):
    share = await granted_share(api, allow_reshare=True)
    child = body_json(await reshare(api, share["share_id"]))
    await api("PATCH", "shares", share["share_id"], body={"mode": "snapshot"})
    assert service.resolve(child["link"], count_view=False).share.mode == "snapshot"


async def test_a_reshare_cannot_be_reshared_and_users_without_a_grant_get_404(api):
    share = await granted_share(api, allow_reshare=True)
    child = body_json(await reshare(api, share["share_id"]))
    assert (await reshare(api, child["share_id"], user=OWNER)).code == 403
    assert (await reshare(api, share["share_id"], user="mallory")).code == 404


async def test_sharing_the_conversation_again_returns_the_owners_share_not_a_reshare(api):
    share = await granted_share(api, allow_reshare=True)
    await reshare(api, share["share_id"])
    again = await api("POST", "shares", body={"conversation_id": share["conversation_id"]})
    assert again.code == 200 and body_json(again)["share_id"] == share["share_id"]


# -- single-use links ----------------------------------------------------------------------


async def test_the_first_opener_claims_a_single_use_link(api, convshare_app):
    from jupyter_convshare.core.errors import NotFound

    share = await new_share(api)
    body = body_json(await api("PATCH", "shares", share["share_id"], body={"single_use": True}))
    assert body["single_use"] is True and body["claimed"] is False
    checked, _key = await convshare_app.check_link(share["link"])
    assert (await convshare_app.claim_link(checked, "user:dave")).claimed_by == "user:dave"
    # the same opener again, with a fresh check: still in
    checked, _key = await convshare_app.check_link(share["link"])
    assert (await convshare_app.claim_link(checked, "user:dave")).claimed_by == "user:dave"
    with pytest.raises(NotFound) as refused:
        await convshare_app.claim_link(checked, "browser:" + "0" * 64)
    assert refused.value.message == "this link does not exist or is no longer shared"
    assert body_json(await api("GET", "shares", share["share_id"]))["claimed"] is True


async def test_a_link_that_is_not_single_use_is_never_claimed(api, convshare_app, service):
    share = await new_share(api)
    checked, _key = await convshare_app.check_link(share["link"])
    assert (await convshare_app.claim_link(checked, "user:dave")).claimed_by is None
    assert (await convshare_app.claim_link(checked, "user:mallory")).claimed_by is None
    assert service.get_share(OWNER, share["share_id"]).claimed_by is None


async def test_rotating_a_claimed_single_use_link_frees_it_for_a_new_first_opener(api, convshare_app):
    share = await new_share(api)
    await api("PATCH", "shares", share["share_id"], body={"single_use": True})
    checked, _key = await convshare_app.check_link(share["link"])
    await convshare_app.claim_link(checked, "user:dave")
    rotated = body_json(await api("POST", "shares", share["share_id"], "rotate"))
    assert rotated["claimed"] is False
    checked, _key = await convshare_app.check_link(rotated["link"])
    assert (await convshare_app.claim_link(checked, "user:mallory")).claimed_by == "user:mallory"
