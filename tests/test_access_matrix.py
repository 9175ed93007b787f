"""Who may do what with a share: every endpoint x every actor x every share state.

Issue 3 "done means": one table-driven test asserting the exact status code, and no 500
anywhere. One real server with several users (``TokenUsersIdentityProvider`` of
``test_grants``); each case gets a fresh share in the given state, made through the real
service, then one request as the actor.

Share grants in every case: ``view`` to group ``class-2026`` (student1), ``collaborate``
to group ``team`` (carol). The organization member (dave, in no group) is asked about a
share that also has an ``organization`` ``view`` grant; the non-member (mallory, in no
group) about one without it (every authenticated user belongs to the organization, so
"non-member" means: no grant reaches them). Every share allows resharing, and carol
(a collaborator) has made a reshare link of it; the reshare recipient (rita, no grants)
opens the viewer routes with that link.

The same endpoints are then asked about carol's reshare itself (its share id, its link)
by the reshare's creator (carol, who manages it within :data:`.access.CREATOR_ACTIONS`),
the owner, an admin, a grantee of the parent (student1), a non-member and an anonymous
visitor; the state (expired, revoked, link off) is then the reshare's own. The reshare
has one grant (to "yves", nobody here) for the grant routes.

Saving a share to one's library by its id (``POST convshare/api/library {"share_id"}``) is
in the table too: it goes through a grant only, never through the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from jupyter_server.utils import url_path_join

from jupyter_convshare.core.access import Principal
from .test_grants import OWNER, TokenUsersIdentityProvider, as_user, jp_server_config  # noqa: F401

ACTORS = {
    "anonymous": None,
    "owner": OWNER,
    "admin": "admin",
    "org member": "dave",
    "group viewer": "student1",
    "group collaborator": "carol",
    "non-member": "mallory",
    "reshare recipient": "rita",
}
STATES = ("active", "expired", "revoked", "link off")
GRANTEES = ("org member", "group viewer", "group collaborator")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {link}, {share_id}, {grant_id} are filled per case
    body: Any = None
    ok: int = 200  # the status for the owner of an active share
    kind: str = "manage"  # "viewer" (public, link-gated), "read" (grantees too), "manage",
    # "reshare" (anyone who may read, when allowed), "user" (any authenticated user),
    # "collaborate" (owner, admin, collaborate grantees), "save" (grantees save it to their library),
    # "admin" (the admin API: admins only, whatever the share)
    creator: bool = False  # the creator of a reshare may do it (core.access.CREATOR_ACTIONS)


ENDPOINTS = [
    Endpoint("GET", "convshare/s/{link}", kind="viewer"),
    Endpoint("GET", "convshare/s/{link}/export.json", kind="viewer"),
    Endpoint("GET", "convshare/api/shares/{share_id}", kind="read", creator=True),
    Endpoint("GET", "convshare/api/shares/{share_id}/export?format=json", kind="read"),
    Endpoint("PATCH", "convshare/api/shares/{share_id}", {"mode": "snapshot"}),
    Endpoint("PATCH", "convshare/api/shares/{share_id}", {"link_enabled": True}, creator=True),
    Endpoint("PATCH", "convshare/api/shares/{share_id}", {"expires": "never"}, creator=True),
    Endpoint("PATCH", "convshare/api/shares/{share_id}", {"chat_posting": False}),
    Endpoint("DELETE", "convshare/api/shares/{share_id}", ok=204, creator=True),
    Endpoint("POST", "convshare/api/shares/{share_id}/rotate", {}, creator=True),
    Endpoint("POST", "convshare/api/shares/{share_id}/reshare", {"expires": "30d"}, ok=201, kind="reshare"),
    Endpoint("POST", "convshare/api/shares/{share_id}/snapshot", {}, ok=400),  # a live share
    Endpoint("GET", "convshare/api/shares/{share_id}/qr.svg", creator=True),
    Endpoint("GET", "convshare/api/shares/{share_id}/grants"),
    Endpoint("POST", "convshare/api/shares/{share_id}/grants",
             {"principal_type": "user", "principal": "zed", "permission": "view"}, ok=201),
    Endpoint("PATCH", "convshare/api/shares/{share_id}/grants/{grant_id}", {"permission": "collaborate"}),
    Endpoint("DELETE", "convshare/api/shares/{share_id}/grants/{grant_id}", ok=204),
    Endpoint("POST", "convshare/api/shares/{share_id}/messages", {"text": "a reply"}, ok=201, kind="collaborate"),
    Endpoint("GET", "convshare/api/shares/{share_id}/audit"),
    Endpoint("GET", "convshare/api/shares/{share_id}/findings"),
    Endpoint("PATCH", "convshare/api/shares/{share_id}", {"redaction": {"mask_emails": True}}),
    Endpoint("GET", "convshare/api/whoami", kind="user"),
    Endpoint("GET", "convshare/api/groups", kind="user"),
    Endpoint("GET", "convshare/api/shared-with-me", kind="user"),
    Endpoint("GET", "convshare/api/policy", kind="user"),
    Endpoint("GET", "convshare/api/admin/shares", kind="admin"),
    Endpoint("GET", "convshare/api/admin/policies", kind="admin"),
    Endpoint("POST", "convshare/api/admin/users/nobody/revoke", {}, kind="admin"),
    Endpoint("POST", "convshare/api/library", {"share_id": "{share_id}"}, ok=201, kind="save"),
]


def expected(endpoint: Endpoint, actor: str, state: str) -> int:
    """The one right status code (DESIGN.md sections 4 and 5)."""
    if endpoint.kind == "viewer":
        # Public: credentials play no part; only the link and the share's state do (a
        # reshare follows its parent: expires with it, dies with it, is off with it).
        return {"active": 200, "expired": 410, "revoked": 404, "link off": 404}[state]
    if actor == "anonymous":
        return 403  # every API route is authenticated
    if endpoint.kind == "admin":
        return 200 if actor == "admin" else 403
    if endpoint.kind == "user":
        return 200
    if state == "revoked" or actor in ("non-member", "reshare recipient"):
        return 404  # gone, or no grant: no existence oracle
    if endpoint.kind == "reshare":
        return {"active": 201, "expired": 410, "link off": 403}[state]
    if endpoint.kind == "save":
        # by share id: only through a grant (the link does not matter); never one's own
        if actor == "owner":
            return 400
        if actor == "admin":
            return 403  # manages it, but nothing was granted to them: save the link instead
        return 410 if state == "expired" else 201
    if endpoint.kind == "collaborate":
        # grants do not depend on the link; the owner/admin manage even an expired share
        if actor in ("owner", "admin"):
            return endpoint.ok
        if state == "expired":
            return 410
        return endpoint.ok if actor == "group collaborator" else 403
    if actor in ("owner", "admin"):
        return endpoint.ok if endpoint.kind == "manage" else 200
    # a grantee
    if endpoint.kind == "read":
        return 410 if state == "expired" else 200
    return 403  # knows the share, may not change it


RESHARE_ACTORS = {
    "anonymous": None,
    "owner": OWNER,
    "admin": "admin",
    "reshare creator": "carol",
    "parent grantee": "student1",
    "non-member": "mallory",
}


def expected_on_reshare(endpoint: Endpoint, actor: str, state: str) -> int:
    """The one right status code for a request about carol's reshare (DESIGN.md section 4:
    a reshare never outlives or out-permissions its parent; core.access: its creator
    manages it within CREATOR_ACTIONS)."""
    if endpoint.kind == "viewer":
        return {"active": 200, "expired": 410, "revoked": 404, "link off": 404}[state]
    if actor == "anonymous":
        return 403
    if endpoint.kind == "admin":
        return 200 if actor == "admin" else 403
    if endpoint.kind == "user":
        return 200
    if state == "revoked" or actor in ("parent grantee", "non-member"):
        return 404  # the reshare has no grants for them: no existence oracle
    if endpoint.kind == "reshare":
        return 410 if state == "expired" else 403  # a reshare is never reshared
    if endpoint.kind == "save":
        # nothing is granted on the reshare itself: its creator saves the parent instead
        if actor == "owner":
            return 400
        return 410 if state == "expired" and actor == "reshare creator" else 403
    if endpoint.body == {"expires": "never"}:
        # capped at the parent's expiry; an expired parent cannot be outlived
        return 410 if state == "expired" else 200
    if endpoint.body == {"mode": "snapshot"}:
        return 403  # a reshare's mode follows its parent, for everyone
    if actor in ("owner", "admin"):
        return endpoint.ok if endpoint.kind in ("manage", "collaborate") else 200
    # the reshare's creator
    if endpoint.kind == "read":
        if endpoint.creator:
            return 200  # its settings and link, like the owner (no conversation)
        return 410 if state == "expired" else 200  # the conversation: the grantee rule
    if endpoint.kind == "collaborate":
        return 410 if state == "expired" else 403  # never collaborate through a reshare
    return endpoint.ok if endpoint.creator else 403


CASES = [("share", e, a, s) for e in ENDPOINTS for a in ACTORS for s in STATES] + [
    ("reshare", e, a, s) for e in ENDPOINTS for a in RESHARE_ACTORS for s in STATES
]


async def make_case(service, actor: str, state: str, number: int, target: str = "share") -> dict[str, str]:
    """A fresh share of the owner's in ``state``: ``{"link", "share_id", "grant_id"}``
    (``link`` is carol's reshare link for the reshare recipient). With ``target="reshare"``
    the ids are carol's reshare's, and ``state`` is the reshare's."""
    from jupyter_convshare.core.importers import load_one

    conversation = load_one({"messages": [{"role": "user", "content": f"case {number}"}]})
    conversation.id = f"matrix-{number}"
    service.save_conversation(OWNER, conversation)
    real_clock = service.clock
    if state == "expired":
        service.clock = lambda: real_clock() - timedelta(hours=2)
    try:
        share, _ = service.create_share(OWNER, conversation.id, expires="1h", mode="live")
        viewer_grant, _ = service.add_grant(OWNER, share.share_id, "group", "class-2026", "view")
        service.add_grant(OWNER, share.share_id, "group", "team", "collaborate")
        if actor == "org member":
            service.add_grant(OWNER, share.share_id, "organization", None, "view")
        service.update_share(OWNER, share.share_id, allow_reshare=True)
        child = service.reshare(Principal("carol", groups=frozenset({"team"})), share.share_id, expires="never")
        child_grant, _ = service.add_grant(OWNER, child.share_id, "user", "yves", "view")
    finally:
        service.clock = real_clock
    if target == "reshare":
        if state == "revoked":
            service.revoke(OWNER, child.share_id)
        elif state == "link off":
            service.update_share(OWNER, child.share_id, link_enabled=False)
        return {"link": child.link, "share_id": child.share_id, "grant_id": child_grant.grant_id}
    if state == "revoked":
        service.revoke(OWNER, share.share_id)
    elif state == "link off":
        service.update_share(OWNER, share.share_id, link_enabled=False)
    link = child.link if actor == "reshare recipient" else share.link
    return {"link": link, "share_id": share.share_id, "grant_id": viewer_grant.grant_id}


async def test_every_endpoint_answers_every_actor_in_every_share_state_with_the_right_status(
    http_server_client, jp_base_url, service
):
    import json

    wrong: list[str] = []
    for number, (target, endpoint, actor, state) in enumerate(CASES):
        ids = await make_case(service, actor, state, number, target)
        url = url_path_join(jp_base_url, endpoint.path.format(**ids))
        body = None if endpoint.body is None else json.dumps(endpoint.body).replace("{share_id}", ids["share_id"])
        user = ACTORS[actor] if target == "share" else RESHARE_ACTORS[actor]
        response = await http_server_client.fetch(
            url,
            method=endpoint.method,
            headers=as_user(user),
            body=body,
            raise_error=False,
            follow_redirects=False,
            allow_nonstandard_methods=True,
        )
        want = expected(endpoint, actor, state) if target == "share" else expected_on_reshare(endpoint, actor, state)
        if response.code != want or response.code >= 500:
            wrong.append(f"{target}: {endpoint.method} {endpoint.path} {endpoint.body or ''} as {actor}, {state}: "
                         f"{response.code} (expected {want}) {response.body[:120]!r}")
    assert not wrong, f"{len(wrong)} of {len(CASES)} cases wrong:\n" + "\n".join(wrong)


def test_the_matrix_covers_every_share_route_of_the_api(convshare_app):
    # Given the API's routes, when a route is added, then it must be in the matrix too
    from jupyter_convshare.server import api

    covered = {e.path.split("?")[0].replace("{share_id}", "_").replace("{grant_id}", "_") for e in ENDPOINTS}
    for pattern, _handler in api.default_handlers:
        if not pattern.startswith("convshare/api/shares/") and pattern.split("/")[-1] not in (
            "whoami", "groups", "shared-with-me"
        ):
            continue
        path = pattern.replace("([^/]+)", "_").replace(r"qr\.(svg|png)", "qr.svg")
        assert path in covered, f"{pattern} is not in the access matrix"
