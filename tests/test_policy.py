"""Sharing policy at three levels, each only stricter (issue 6 item 3; ``core.policy``).

First the pure rules (no server), then behaviour through a real server with several users
(``TokenUsersIdentityProvider`` of ``test_grants``) and a real SQLite store: the effective
policy endpoint, admins storing group and user policies, and enforcement on create, PATCH
and reshare with exact status codes.

Groups here: ``class-2026`` (student1, student2, carol) and ``team`` (carol), so carol is in
two groups.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from jupyter_convshare.core.errors import InvalidRequest
from jupyter_convshare.core.policy import (
    Policy,
    PolicyRule,
    PolicyViolation,
    check_expiry,
    check_only_stricter,
    clamped_expiry,
    default_expiry,
    effective_policy,
    parse_duration,
    server_policy,
)
from jupyter_convshare.core.shares import EXPIRY_PRESETS

from .server_helpers import body_json, make_anonymous_fetch, make_api
from .test_grants import OWNER, TokenUsersIdentityProvider, as_user, chat

DAY = 86400
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
GROUPS = {"class-2026": ["student1", "student2", "carol"], "team": ["carol"]}


# -- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, seconds",
    [(3600, 3600), ("90m", 5400), ("12h", 43200), ("7d", 7 * DAY), ("4w", 28 * DAY), ("3600", 3600),
     (None, None), ("never", None)],
)
def test_durations(value, seconds):
    assert parse_duration(value, "max_expires") == seconds


@pytest.mark.parametrize("value", ["7 days", "-1d", 0, True, 1.5, "d"])
def test_a_bad_duration_names_the_field(value):
    with pytest.raises(InvalidRequest) as info:
        parse_duration(value, "max_expires")
    assert info.value.field == "max_expires"


def test_the_effective_policy_is_the_strictest_of_server_every_group_and_the_user():
    # Given a server cap of 30 days, a group capping 7 days, another forbidding links,
    # and the user's own rule forbidding reshare
    server = server_policy({"max_expires": "30d"})
    groups = {
        "class-2026": [PolicyRule(max_expires_seconds=7 * DAY)],
        "team": [PolicyRule(allow_link=False, max_expires_seconds=14 * DAY)],
    }
    policy = effective_policy(server, groups, "carol", [PolicyRule(allow_reshare=False)])
    # Then every restriction binds, each named by the level that set it
    assert policy.to_json() == {
        "max_expires_seconds": 7 * DAY, "allow_never": False, "allow_link": False, "allow_reshare": False,
    }
    assert policy.sources == {
        "max_expires_seconds": "group:class-2026", "allow_never": "group:class-2026",
        "allow_link": "group:team", "allow_reshare": "user:carol",
    }


def test_a_level_below_never_loosens_the_one_above():
    # Given a group rule longer than the server's cap (e.g. the server was made stricter later)
    server = server_policy({"max_expires": "7d", "allow_link": False})
    policy = effective_policy(server, {"g": [PolicyRule(max_expires_seconds=30 * DAY)]}, "u")
    # Then the server's cap stays
    assert policy.max_expires_seconds == 7 * DAY and policy.source("max_expires_seconds") == "server"
    assert policy.allow_link is False


def test_true_and_null_in_a_rule_mean_no_restriction_at_that_level():
    assert PolicyRule.from_json({"allow_link": True, "allow_never": None}).is_empty()


@pytest.mark.parametrize(
    "rule, field",
    [({"max_expires_seconds": 30 * DAY}, "max_expires_seconds"), ({"allow_link": True}, "allow_link"),
     ({"allow_never": True}, "allow_never")],
)
def test_a_rule_looser_than_the_level_above_is_refused_naming_the_field(rule, field):
    above = server_policy({"max_expires": "7d", "allow_link": False})
    with pytest.raises(InvalidRequest) as info:
        check_only_stricter(rule, above, "group")
    assert info.value.field == field and info.value.status == 400


def test_an_equal_or_stricter_rule_is_accepted():
    above = server_policy({"max_expires": "7d"})
    assert check_only_stricter({"max_expires": "7d", "allow_link": False}, above, "group") == PolicyRule(
        max_expires_seconds=7 * DAY, allow_link=False
    )


@pytest.mark.parametrize(
    "rule, data",
    [({"colour": 1}, "colour"), ({"allow_link": "no"}, "allow_link"), ([], "policy"),
     ({"max_expires": "7d", "max_expires_seconds": 60}, "max_expires")],
)
def test_a_malformed_rule_names_the_field(rule, data):
    with pytest.raises(InvalidRequest) as info:
        PolicyRule.from_json(rule)
    assert info.value.field == data


def test_expiry_beyond_the_cap_or_never_is_a_403_with_the_limit():
    policy = server_policy({"max_expires": "7d"})
    check_expiry(policy, NOW + timedelta(days=7), NOW)
    for expires_at in (NOW + timedelta(days=7, seconds=1), None):
        with pytest.raises(PolicyViolation) as info:
            check_expiry(policy, expires_at, NOW)
        assert info.value.status == 403 and info.value.field == "expires"
        assert info.value.to_json()["limit"] == {"max_expires_seconds": 7 * DAY, "source": "server"}


def test_never_can_be_forbidden_without_a_cap():
    with pytest.raises(PolicyViolation) as info:
        check_expiry(server_policy({"allow_never": False}), None, NOW)
    assert info.value.to_json()["limit"] == {"allow_never": False, "source": "server"}
    check_expiry(server_policy({"allow_never": False}), NOW + timedelta(days=365), NOW)


def test_allowed_presets_and_the_default_expiry():
    policy = server_policy({"max_expires": "24h"})
    assert policy.presets(EXPIRY_PRESETS) == ["1h", "24h"]
    assert default_expiry(policy, "7d", EXPIRY_PRESETS) == "24h"
    assert default_expiry(Policy(), "7d", EXPIRY_PRESETS) == "7d"
    # no preset fits a 30-minute cap: the cap itself, in seconds
    assert default_expiry(server_policy({"max_expires": "30m"}), "7d", EXPIRY_PRESETS) == 1800


def test_clamping_an_existing_expiry():
    capped = server_policy({"max_expires": "7d"})
    assert clamped_expiry(capped, None, NOW) == NOW + timedelta(days=7)
    assert clamped_expiry(capped, NOW + timedelta(days=1), NOW) == NOW + timedelta(days=1)
    assert clamped_expiry(server_policy({"allow_never": False}), None, NOW) == NOW + timedelta(days=30)


def test_the_server_policy_includes_allow_never_expires():
    assert server_policy({}, allow_never_expires=False).allow_never is False


# -- through a real server -------------------------------------------------------------------


@pytest.fixture
def jp_server_config(jp_server_config):
    config = dict(jp_server_config)
    config["ServerApp"] = {**config["ServerApp"], "identity_provider_class": TokenUsersIdentityProvider}
    config["ConvShareApp"] = {
        **config["ConvShareApp"],
        "owner": OWNER,
        "groups": GROUPS,
        "admin_users": {"admin"},
        "group_policies": {"team": {"allow_reshare": False}},
    }
    return config


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


@pytest.fixture
def anonymous(http_server_client, jp_base_url):
    return make_anonymous_fetch(http_server_client, jp_base_url)


async def my_policy(api, user: str) -> dict[str, Any]:
    response = await api("GET", "policy", headers=as_user(user))
    assert response.code == 200, response.body
    return body_json(response)


async def create(api, user: str, title: str = "lesson", **extra: Any):
    return await api("POST", "shares", body={"conversation": chat(title), "title": title, **extra},
                     headers=as_user(user))


async def set_policy(api, scope: str, name: str, rule: dict[str, Any], user: str = "admin"):
    return await api("PUT", "admin", "policies", scope, name, body=rule, headers=as_user(user))


def assert_policy_403(response, field: str, limit: dict[str, Any]) -> None:
    assert response.code == 403, response.body
    data = body_json(response)
    assert (data["reason"], data["field"], data["limit"]) == ("policy", field, limit)


async def test_without_policy_everything_is_allowed(api):
    data = await my_policy(api, "dave")
    assert data["policy"] == {
        "max_expires_seconds": None, "allow_never": True, "allow_link": True, "allow_reshare": True,
    }
    assert data["expiry_presets"] == list(EXPIRY_PRESETS)
    assert data["default_expires"] == "7d"


async def test_a_configured_group_policy_reaches_its_members_only(api):
    carol = await my_policy(api, "carol")
    assert carol["policy"]["allow_reshare"] is False and carol["sources"]["allow_reshare"] == "group:team"
    assert (await my_policy(api, "student1"))["policy"]["allow_reshare"] is True


async def test_the_server_cap_limits_presets_and_refuses_longer_links(api, convshare_app):
    # Given a server policy of at most 7 days
    convshare_app.policy = {"max_expires": "7d"}
    data = await my_policy(api, "dave")
    assert data["expiry_presets"] == ["1h", "24h", "7d"]
    assert data["policy"]["allow_never"] is False
    limit = {"max_expires_seconds": 7 * DAY, "source": "server"}
    # When a link of 30 days or one that never expires is asked for, Then 403 with the limit
    assert_policy_403(await create(api, "dave", expires="30d"), "expires", limit)
    assert_policy_403(await create(api, "dave", expires="never"), "expires", limit)
    # And nothing was shared
    assert body_json(await api("GET", "shares", headers=as_user("dave")))["shares"] == []
    # While 7 days is fine
    assert (await create(api, "dave", expires="7d")).code == 201


async def test_a_share_without_expiry_gets_the_default_brought_within_policy(api, convshare_app):
    convshare_app.policy = {"max_expires": "24h"}
    response = await create(api, "dave")
    assert response.code == 201
    expires_at = datetime.fromisoformat(body_json(response)["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23) < expires_at - datetime.now(timezone.utc) <= timedelta(hours=24)


async def test_allow_never_expires_off_still_answers_400(api, convshare_app):
    # the older switch keeps its answer; the policy endpoint reports it
    convshare_app.allow_never_expires = False
    assert (await create(api, "dave", expires="never")).code == 400
    assert (await my_policy(api, "dave"))["policy"]["allow_never"] is False


async def test_without_anonymous_links_a_share_is_made_with_its_link_off(api, convshare_app, anonymous):
    # Given a group that may not make anonymous links
    convshare_app.group_policies = {"class-2026": {"allow_link": False}}
    # When a member shares, Then the share exists for grants, and its link answers 404
    response = await create(api, "student1")
    assert response.code == 201
    share = body_json(response)
    assert share["link_enabled"] is False
    assert (await anonymous("convshare", "s", share["link"])).code == 404
    # And asking for the link explicitly, or switching it on, is refused naming the field
    limit = {"allow_link": False, "source": "group:class-2026"}
    assert_policy_403(await create(api, "student1", "other", link_enabled=True), "link_enabled", limit)
    patch = await api("PATCH", "shares", share["share_id"], body={"link_enabled": True}, headers=as_user("student1"))
    assert_policy_403(patch, "link_enabled", limit)
    # While a user outside the group still gets a working link
    dave = body_json(await create(api, "dave"))
    assert dave["link_enabled"] is True and (await anonymous("convshare", "s", dave["link"])).code == 200


async def test_patch_beyond_policy_is_refused_and_changes_nothing(api, convshare_app):
    share = body_json(await create(api, "student1", expires="24h"))
    convshare_app.group_policies = {"class-2026": {"max_expires": "7d", "allow_reshare": False}}
    limit = {"max_expires_seconds": 7 * DAY, "source": "group:class-2026"}
    response = await api("PATCH", "shares", share["share_id"], body={"expires": "30d"}, headers=as_user("student1"))
    assert_policy_403(response, "expires", limit)
    response = await api("PATCH", "shares", share["share_id"], body={"allow_reshare": True}, headers=as_user("student1"))
    assert_policy_403(response, "allow_reshare", {"allow_reshare": False, "source": "group:class-2026"})
    after = body_json(await api("GET", "shares", share["share_id"], headers=as_user("student1")))
    assert after["expires_at"] == share["expires_at"] and after["allow_reshare"] is False
    # a change within the policy still works
    ok = await api("PATCH", "shares", share["share_id"], body={"expires": "7d"}, headers=as_user("student1"))
    assert ok.code == 200


async def test_the_owners_policy_binds_their_share_even_when_an_admin_changes_it(api, convshare_app):
    share = body_json(await create(api, "student1", expires="24h"))
    convshare_app.group_policies = {"class-2026": {"max_expires": "7d"}}
    response = await api("PATCH", "shares", share["share_id"], body={"expires": "never"}, headers=as_user("admin"))
    assert_policy_403(response, "expires", {"max_expires_seconds": 7 * DAY, "source": "group:class-2026"})


async def test_an_outsider_gets_404_not_a_policy_answer(api, convshare_app):
    share = body_json(await create(api, "dave"))
    convshare_app.user_policies = {"mallory": {"max_expires": "1h"}}
    response = await api("PATCH", "shares", share["share_id"], body={"expires": "30d"}, headers=as_user("mallory"))
    assert response.code == 404


async def lesson_granted_to_class(api) -> dict[str, Any]:
    share = body_json(await create(api, OWNER, expires="30d"))
    await api("POST", "shares", share["share_id"], "grants",
              body={"principal_type": "group", "principal": "class-2026", "permission": "view"})
    assert (await api("PATCH", "shares", share["share_id"], body={"allow_reshare": True})).code == 200
    return share


async def test_a_user_whose_group_forbids_reshare_cannot_reshare(api):
    share = await lesson_granted_to_class(api)
    # carol is in class-2026 (granted) and in team (reshare forbidden by configuration)
    response = await api("POST", "shares", share["share_id"], "reshare", body={}, headers=as_user("carol"))
    assert_policy_403(response, "allow_reshare", {"allow_reshare": False, "source": "group:team"})
    # student1, in class-2026 only, may
    assert (await api("POST", "shares", share["share_id"], "reshare", body={}, headers=as_user("student1"))).code == 201


async def test_a_reshare_follows_its_makers_expiry_cap_and_link_policy(api):
    share = await lesson_granted_to_class(api)
    assert (await set_policy(api, "user", "student1", {"max_expires": "24h"})).code == 200
    limit = {"max_expires_seconds": DAY, "source": "user:student1"}
    response = await api("POST", "shares", share["share_id"], "reshare", body={"expires": "7d"},
                         headers=as_user("student1"))
    assert_policy_403(response, "expires", limit)
    made = await api("POST", "shares", share["share_id"], "reshare", body={}, headers=as_user("student1"))
    assert made.code == 201
    assert (await set_policy(api, "user", "student2", {"allow_link": False})).code == 200
    response = await api("POST", "shares", share["share_id"], "reshare", body={}, headers=as_user("student2"))
    assert_policy_403(response, "link_enabled", {"allow_link": False, "source": "user:student2"})


# -- admins set group and user policies --------------------------------------------------------


async def test_an_admin_stores_a_group_policy_and_members_get_it_at_once(api):
    response = await set_policy(api, "group", "class-2026", {"max_expires": "7d", "allow_link": False})
    assert response.code == 200
    stored = body_json(response)
    assert stored["policy"] == {
        "max_expires_seconds": 7 * DAY, "allow_never": None, "allow_link": False, "allow_reshare": None,
    }
    assert stored["updated_by"] == "admin"
    data = await my_policy(api, "student2")
    assert data["policy"]["max_expires_seconds"] == 7 * DAY
    assert data["sources"]["allow_link"] == "group:class-2026"
    assert data["expiry_presets"] == ["1h", "24h", "7d"]
    listed = body_json(await api("GET", "admin", "policies", headers=as_user("admin")))
    assert [(g["name"], g["source"]) for g in listed["groups"]] == [("team", "config"), ("class-2026", "store")]
    assert listed["server"]["allow_link"] is True


async def test_a_group_policy_looser_than_the_servers_is_refused(api, convshare_app):
    convshare_app.policy = {"max_expires": "30d", "allow_link": False}
    response = await set_policy(api, "group", "class-2026", {"max_expires": "90d"})
    assert response.code == 400 and body_json(response)["field"] == "max_expires_seconds"
    response = await set_policy(api, "group", "class-2026", {"allow_link": True})
    assert response.code == 400 and body_json(response)["field"] == "allow_link"
    assert body_json(await api("GET", "admin", "policies", headers=as_user("admin")))["groups"] == [
        {"name": "team", "policy": {"max_expires_seconds": None, "allow_never": None, "allow_link": None,
                                    "allow_reshare": False}, "source": "config"}
    ]


async def test_a_user_policy_looser_than_their_groups_is_refused(api):
    assert (await set_policy(api, "group", "class-2026", {"max_expires": "7d"})).code == 200
    response = await set_policy(api, "user", "student1", {"max_expires": "30d"})
    assert response.code == 400 and body_json(response)["field"] == "max_expires_seconds"
    assert "group:class-2026" in body_json(response)["message"]
    # a user outside the group may get 30 days
    assert (await set_policy(api, "user", "dave", {"max_expires": "30d"})).code == 200


async def test_an_unknown_group_or_scope_is_a_400(api):
    response = await set_policy(api, "group", "no-such-group", {"allow_link": False})
    assert response.code == 400 and body_json(response)["field"] == "name"
    response = await set_policy(api, "team", "class-2026", {"allow_link": False})
    assert response.code == 400 and body_json(response)["field"] == "scope"


async def test_removing_a_stored_policy(api):
    await set_policy(api, "user", "dave", {"allow_reshare": False})
    assert (await my_policy(api, "dave"))["policy"]["allow_reshare"] is False
    assert (await api("DELETE", "admin", "policies", "user", "dave", headers=as_user("admin"))).code == 204
    assert (await my_policy(api, "dave"))["policy"]["allow_reshare"] is True
    again = await api("DELETE", "admin", "policies", "user", "dave", headers=as_user("admin"))
    assert again.code == 404


async def test_another_users_policy_is_for_admins_only(api):
    assert (await api("GET", "policy", params={"user": "carol"}, headers=as_user("dave"))).code == 403
    response = await api("GET", "policy", params={"user": "carol"}, headers=as_user("admin"))
    assert response.code == 200 and body_json(response)["user"] == "carol"


async def test_policy_changes_are_audited(api, service):
    await set_policy(api, "group", "class-2026", {"allow_link": False})
    with service.store.read() as session:
        rows = session.db.execute("SELECT who, action, owner, details FROM audit WHERE action = 'policy.changed'").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("admin", "policy.changed", "group:class-2026")]


# -- shares made before a stricter policy ------------------------------------------------------


async def test_existing_shares_beyond_a_new_policy_are_reported_then_brought_within_it(api, anonymous):
    # Given a share that never expires, with its link on and reshare allowed
    share = body_json(await create(api, "student1", expires="never"))
    await api("PATCH", "shares", share["share_id"], body={"allow_reshare": True}, headers=as_user("student1"))
    # When the admin makes the group's policy stricter
    assert (await set_policy(api, "group", "class-2026",
                             {"max_expires": "7d", "allow_link": False, "allow_reshare": False})).code == 200
    # Then the share is left as it was, and the admin listing says what exceeds the policy
    assert (await anonymous("convshare", "s", share["link"])).code == 200
    listed = body_json(await api("GET", "admin", "shares", headers=as_user("admin")))["shares"]
    assert listed[0]["exceeds_policy"] == ["expires", "link_enabled", "allow_reshare"]
    # When the admin applies the policy
    applied = await api("POST", "admin", "policies", "apply", body={}, headers=as_user("admin"))
    assert applied.code == 200
    assert body_json(applied) == {
        "changed": [{"share_id": share["share_id"], "owner": "student1",
                     "changed": ["expires", "link_enabled", "allow_reshare"]}],
        "count": 1,
    }
    # Then its link is off, its expiry within 7 days, and nothing exceeds any more
    assert (await anonymous("convshare", "s", share["link"])).code == 404
    after = body_json(await api("GET", "shares", share["share_id"], headers=as_user("student1")))
    expires_at = datetime.fromisoformat(after["expires_at"].replace("Z", "+00:00"))
    assert expires_at - datetime.now(timezone.utc) <= timedelta(days=7)
    assert after["allow_reshare"] is False
    listed = body_json(await api("GET", "admin", "shares", headers=as_user("admin")))["shares"]
    assert listed[0]["exceeds_policy"] == []


async def test_applying_a_policy_leaves_shares_within_it_alone(api):
    await create(api, "dave", expires="24h")
    await set_policy(api, "group", "class-2026", {"max_expires": "1h"})
    applied = body_json(await api("POST", "admin", "policies", "apply", body={}, headers=as_user("admin")))
    assert applied == {"changed": [], "count": 0}


async def test_a_bad_config_policy_is_refused_at_config_time(convshare_app):
    with pytest.raises(Exception, match="ConvShareApp.group_policies"):
        convshare_app.group_policies = {"students": {"max_expires": "a week"}}
    with pytest.raises(Exception, match="ConvShareApp.policy"):
        convshare_app.policy = {"allow_links": False}
