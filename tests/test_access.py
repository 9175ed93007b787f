"""Permission decisions of ``core.access`` (pure functions: no store, no server).

The facts are plain records, as the service reads them from the store: a share (owner,
parent, creator, mode, link switch, expiry) and its grants.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest

from jupyter_convshare.core import access
from jupyter_convshare.core.access import Principal
from jupyter_convshare.core.errors import Conflict, Expired, Forbidden, NotFound

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class FakeShare:
    share_id: str
    owner: str = "teacher"
    parent_share_id: str | None = None
    created_by: str | None = None
    mode: str = "live"
    link_enabled: bool = True
    allow_reshare: bool = True
    expires_at: datetime | None = NOW + timedelta(days=1)


@dataclass(frozen=True)
class FakeGrant:
    principal_type: str
    principal: str | None
    permission: str


PARENT = FakeShare("parent")
RESHARE = FakeShare("child", parent_share_id="parent", created_by="carol")
TEAM = [FakeGrant("group", "team", "collaborate"), FakeGrant("group", "class", "view")]
CAROL = Principal("carol", groups=frozenset({"team"}))
STUDENT = Principal("student1", groups=frozenset({"class"}))


# -- who made a reshare ------------------------------------------------------------------


def test_the_creator_of_a_reshare_who_still_reads_its_parent_is_its_creator():
    assert access.is_reshare_creator(CAROL, RESHARE, PARENT, TEAM)
    assert access.share_access(CAROL, RESHARE, [], parent=PARENT, parent_grants=TEAM) == "creator"


@pytest.mark.parametrize(
    "principal, share, parent, grants",
    [
        (Principal("carol"), RESHARE, PARENT, TEAM),  # no longer in the team: no grant left
        (STUDENT, RESHARE, PARENT, TEAM),  # reads the parent, did not make this reshare
        (CAROL, RESHARE, None, TEAM),  # the parent is unknown (gone)
        (CAROL, RESHARE, FakeShare("other"), TEAM),  # not this reshare's parent
        (CAROL, PARENT, PARENT, TEAM),  # not a reshare at all
        (Principal("carol", groups=frozenset({"team"}), authenticated=False), RESHARE, PARENT, TEAM),
    ],
    ids=["lost the grant", "another grantee", "no parent", "wrong parent", "not a reshare", "anonymous"],
)
def test_nobody_else_is_a_reshares_creator(principal, share, parent, grants):
    assert not access.is_reshare_creator(principal, share, parent, grants)


def test_without_the_parent_facts_the_creator_is_a_stranger():
    assert access.share_access(CAROL, RESHARE, []) is None


# -- what the creator may do -------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(access.CREATOR_ACTIONS))
def test_the_creator_may_do_the_creator_actions(action):
    decision = access.decide_manage(CAROL, RESHARE, [], actions=(action,), parent=PARENT, parent_grants=TEAM)
    assert decision == "creator"


@pytest.mark.parametrize(
    "action, field",
    [("mode", "mode"), ("allow_reshare", "allow_reshare"), ("single_use", "single_use"),
     ("chat_posting", "chat_posting"), ("grants", "share_id"), ("snapshot", "share_id"),
     ("audit", "share_id"), ("manage", "share_id")],
)
def test_anything_else_is_403_naming_the_field(action, field):
    with pytest.raises(Forbidden) as refused:
        access.decide_manage(CAROL, RESHARE, [], actions=("link_enabled", action), parent=PARENT, parent_grants=TEAM)
    assert refused.value.field == field
    assert refused.value.message.startswith(f"{action}:")
    assert "expiry and link" in refused.value.message


def test_the_owner_and_admins_still_manage_a_reshare_entirely():
    assert access.decide_manage("teacher", RESHARE, [], actions=("mode", "grants")) == "manage"
    assert access.decide_manage(Principal("root", is_admin=True), RESHARE, [], actions=("audit",)) == "manage"


def test_a_stranger_asking_about_a_reshare_gets_404_and_a_grantee_of_the_reshare_403():
    with pytest.raises(NotFound):
        access.decide_manage(STUDENT, RESHARE, [], actions=("read",), parent=PARENT, parent_grants=TEAM)
    with pytest.raises(Forbidden):
        access.decide_manage(STUDENT, RESHARE, [FakeGrant("user", "student1", "view")], actions=("read",),
                             parent=PARENT, parent_grants=TEAM)


def test_the_creator_reads_the_settings_of_an_expired_reshare_but_not_its_conversation():
    facts = dict(parent=PARENT, parent_grants=TEAM)
    assert access.decide_read(CAROL, RESHARE, [], expired=True, settings=True, **facts) == "creator"
    with pytest.raises(Expired):
        access.decide_read(CAROL, RESHARE, [], expired=True, **facts)
    with pytest.raises(Expired):  # settings=True is for the owner and the creator only
        access.decide_read(STUDENT, PARENT, TEAM, expired=True, settings=True)


def test_a_reshare_is_never_reshared_even_by_its_creator():
    with pytest.raises(Forbidden, match="resharing is not allowed"):
        access.decide_reshare(CAROL, RESHARE, [], expired=False, parent=PARENT, parent_grants=TEAM)
    with pytest.raises(Expired):
        access.decide_reshare(CAROL, RESHARE, [], expired=True, parent=PARENT, parent_grants=TEAM)


# -- a reshare stays within its parent ---------------------------------------------------


def test_a_later_expiry_or_never_is_capped_at_the_parents():
    assert access.bound_reshare_change(RESHARE, PARENT, now=NOW, expires_at=None) == PARENT.expires_at
    later = PARENT.expires_at + timedelta(days=30)
    assert access.bound_reshare_change(RESHARE, PARENT, now=NOW, expires_at=later) == PARENT.expires_at
    sooner = NOW + timedelta(hours=1)
    assert access.bound_reshare_change(RESHARE, PARENT, now=NOW, expires_at=sooner) == sooner
    forever = replace(PARENT, expires_at=None)
    assert access.bound_reshare_change(RESHARE, forever, now=NOW, expires_at=None) is None
    assert access.bound_reshare_change(RESHARE, PARENT, now=NOW) is access.KEEP
    assert access.bound_reshare_change(RESHARE, PARENT, now=NOW, expires_at=access.KEEP) is access.KEEP


def test_the_expiry_of_a_reshare_of_an_expired_parent_cannot_change():
    with pytest.raises(Expired, match="cannot be extended"):
        access.bound_reshare_change(RESHARE, PARENT, now=PARENT.expires_at, expires_at=None)


def test_the_link_of_a_reshare_stays_off_while_its_parents_is():
    off = replace(PARENT, link_enabled=False)
    with pytest.raises(Forbidden) as refused:
        access.bound_reshare_change(RESHARE, off, now=NOW, expires_at=access.KEEP, link_enabled=True)
    assert refused.value.field == "link_enabled"
    assert access.bound_reshare_change(RESHARE, off, now=NOW, expires_at=access.KEEP, link_enabled=False) is access.KEEP


def test_a_reshares_mode_follows_its_parent():
    with pytest.raises(Forbidden) as refused:
        access.bound_reshare_change(RESHARE, PARENT, now=NOW, expires_at=access.KEEP, mode="snapshot")
    assert refused.value.field == "mode"
    assert access.bound_reshare_change(RESHARE, PARENT, now=NOW, expires_at=access.KEEP, mode="live") is access.KEEP


# -- collaborate -------------------------------------------------------------------------


def test_collaborators_owner_and_admins_may_add_messages():
    assert access.decide_collaborate(CAROL, PARENT, TEAM, expired=False) == "collaborate"
    assert access.decide_collaborate("teacher", PARENT, [], expired=True) == "manage"


@pytest.mark.parametrize(
    "principal, share, grants, expired, error",
    [
        (STUDENT, PARENT, TEAM, False, Forbidden),  # view only
        (Principal("carol", groups=frozenset({"team"}), authenticated=False), PARENT, TEAM, False, Forbidden),
        (Principal("mallory"), PARENT, TEAM, False, NotFound),
        (CAROL, PARENT, TEAM, True, Expired),
        (CAROL, replace(PARENT, mode="snapshot"), TEAM, False, Conflict),
        (CAROL, PARENT, [], False, NotFound),  # the grant is gone
    ],
    ids=["viewer", "anonymous", "stranger", "expired", "snapshot", "grant removed"],
)
def test_everyone_else_is_refused_with_the_error_contract(principal, share, grants, expired, error):
    with pytest.raises(error):
        access.decide_collaborate(principal, share, grants, expired=expired)


def test_the_creator_of_a_reshare_never_collaborates_through_it():
    with pytest.raises(Forbidden):
        access.decide_collaborate(CAROL, RESHARE, [], expired=False, parent=PARENT, parent_grants=TEAM)
