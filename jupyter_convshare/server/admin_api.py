"""The admin API and the sharing policy endpoint (issue 6 item 3; DESIGN.md sections 4 and 7).

Routes (relative to ``base_url``; authenticated; the admin routes answer 403 to anyone
but an admin: ``ConvShareApp.admin_users``, hub admins in hub mode):

==========================================================  ==================================
``GET convshare/api/policy[?user=NAME]``                    effective policy (own; admins: anyone's)
``GET convshare/api/admin/shares?...``                      every owner's shares, filtered, paged
``POST convshare/api/admin/users/<user>/revoke``            revoke every share of a user
``GET convshare/api/admin/policies``                        server, group and user policies
``PUT|DELETE convshare/api/admin/policies/<scope>/<name>``  set / remove a group or user policy
``POST convshare/api/admin/policies/apply``                 bring existing shares within policy
==========================================================  ==================================

Revoking one share of anyone is the usual ``DELETE convshare/api/shares/<share_id>``
(admins manage every share). Decisions are made in ``core.access`` (``require_admin``) and
``core.policy``; the work in ``core.admin``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..core import access
from ..core.admin import AdminShare, maker
from ..core.errors import InvalidRequest, NotFound
from ..core.model import parse_time
from ..core.policy import (
    PolicyRule,
    check_only_stricter,
    check_scope,
    exceeded,
)
from ..core.shares import EXPIRY_PRESETS
from ..core.store import ShareQuery
from .base import ConvShareAPIHandler

_LIST_ARGS = {
    "owner", "group", "mode", "state", "link", "reshare", "q", "created_after", "created_before",
    "expires_after", "expires_before", "limit", "offset",
}


def _time_arg(value: str, name: str) -> datetime:
    try:
        return parse_time(value)
    except (ValueError, TypeError):
        raise InvalidRequest(f"{name}: expected an ISO 8601 time with a UTC offset, e.g. 2030-01-31T00:00:00Z",
                             field=name) from None


def _int_arg(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(f"{name}: expected an integer", field=name) from None


def _switch_arg(value: str, name: str, on: str, off: str) -> bool:
    if value not in (on, off):
        raise InvalidRequest(f"{name}: expected {on!r} or {off!r}", field=name)
    return value == on


class _AdminBase(ConvShareAPIHandler):
    """Admin-only handlers: :func:`.access.require_admin` before anything else."""

    def require_admin(self) -> access.Principal:
        """The request's principal, if an admin; Forbidden (403) otherwise."""
        principal = self.principal
        access.require_admin(principal)
        return principal

    def policy_json(self, name: str) -> dict[str, Any]:
        """``{"user", "policy", "sources", "expiry_presets", "default_expires"}`` of user
        ``name`` (blocking: one store read)."""
        app = self.convshare
        policy = app.policy_of(name)
        default = app.default_expires if app.default_expires in policy.presets(EXPIRY_PRESETS) else None
        if default is None:
            finite = [p for p in policy.presets(EXPIRY_PRESETS) if EXPIRY_PRESETS[p] is not None]
            default = max(finite, key=lambda p: EXPIRY_PRESETS[p] or 0) if finite else None
        return {
            "user": name,
            "policy": policy.to_json(),
            "sources": {k: policy.source(k) for k in policy.to_json()},
            "expiry_presets": policy.presets(EXPIRY_PRESETS),
            "default_expires": default,
        }


class PolicyHandler(_AdminBase):
    """``GET convshare/api/policy[?user=NAME]``: the effective sharing policy."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """``{"user", "policy": {"max_expires_seconds", "allow_never", "allow_link",
        "allow_reshare"}, "sources": {field: "server" | "group:<g>" | "user:<u>"},
        "expiry_presets": [allowed preset names], "default_expires": preset or null}``
        (``default_expires`` null: no preset fits; a share made without an expiry then
        lasts ``max_expires_seconds``). Another user's policy: admins only (403)."""
        principal = self.principal
        name = self.get_query_argument("user", principal.name)
        if name != principal.name:
            access.require_admin(principal)
        self.write_json(await self.run(self.policy_json, name))


class AdminSharesHandler(_AdminBase):
    """``GET convshare/api/admin/shares``: every owner's shares."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Query: ``owner``, ``group`` (granted to it), ``mode`` (live|snapshot), ``state``
        (active|expired|revoked), ``link`` (on|off), ``reshare`` (yes|no), ``q`` (title
        contains), ``created_after``/``created_before``/``expires_after``/``expires_before``
        (ISO 8601; never-expiring shares count as expiring after any time), ``limit``
        (1-500, default 50), ``offset``.

        Answers ``{"shares": [share JSON without link and url, plus "state", "grants",
        "exceeds_policy"], "total", "limit", "offset", "next_offset" (null on the last
        page)}``, newest first. ``state=revoked`` lists revoked shares from the audit log
        (``share_id``, ``owner``, ``conversation_id``, ``revoked_at``, ``revoked_by``): only
        ``owner``, ``limit`` and ``offset`` apply to it (400 naming any other filter).
        """
        principal = self.require_admin()
        args = {k: v[-1].decode("utf-8", "replace") for k, v in self.request.query_arguments.items()}
        unknown = sorted(set(args) - _LIST_ARGS)
        if unknown:
            raise InvalidRequest(f"unknown filter {unknown[0]!r}; expected some of {sorted(_LIST_ARGS)}",
                                 field=unknown[0])
        limit = _int_arg(args["limit"], "limit") if "limit" in args else 50
        offset = _int_arg(args["offset"], "offset") if "offset" in args else 0
        state = args.get("state")
        if state == "revoked":
            others = sorted(set(args) - {"owner", "state", "limit", "offset"})
            if others:
                raise InvalidRequest(f"{others[0]}: not available for revoked shares (only owner)", field=others[0])
            revoked, total = await self.run(self.convshare.admin.list_revoked, principal, args.get("owner"), limit, offset)
            items = [r.to_json() for r in revoked]
        else:
            mode = args.get("mode")
            if mode is not None and mode not in ("live", "snapshot"):
                raise InvalidRequest("mode: expected 'live' or 'snapshot'", field="mode")
            if state is not None and state not in ("active", "expired"):
                raise InvalidRequest("state: expected 'active', 'expired' or 'revoked'", field="state")
            query = ShareQuery(
                owner=args.get("owner"),
                group=args.get("group"),
                mode=mode,
                state=state,
                link_enabled=_switch_arg(args["link"], "link", "on", "off") if "link" in args else None,
                reshare=_switch_arg(args["reshare"], "reshare", "yes", "no") if "reshare" in args else None,
                text=args.get("q") or None,
                created_after=_time_arg(args["created_after"], "created_after") if "created_after" in args else None,
                created_before=_time_arg(args["created_before"], "created_before") if "created_before" in args else None,
                expires_after=_time_arg(args["expires_after"], "expires_after") if "expires_after" in args else None,
                expires_before=_time_arg(args["expires_before"], "expires_before") if "expires_before" in args else None,
                limit=limit,
                offset=offset,
            )
            shares, total = await self.run(self.convshare.admin.list_shares, principal, query)
            items = await self.run(self._with_policy, shares)
        next_offset = offset + len(items) if offset + len(items) < total else None
        self.write_json({"shares": items, "total": total, "limit": limit, "offset": offset, "next_offset": next_offset})

    def _with_policy(self, shares: list[AdminShare]) -> list[dict[str, Any]]:
        """Each share's JSON with what exceeds its maker's policy now (blocking)."""
        app = self.convshare
        now = self.service.now()
        policies: dict[str, Any] = {}
        out = []
        for item in shares:
            name = maker(item.share)
            if name not in policies:
                policies[name] = app.policy_of(name)
            over = exceeded(policies[name], item.share, now) if item.state == "active" else []
            out.append(item.to_json(over))
        return out


class AdminRevokeUserHandler(_AdminBase):
    """``POST convshare/api/admin/users/<user>/revoke``: revoke every share of a user."""

    @web.authenticated
    @authorized
    async def post(self, user: str) -> None:
        """Every share of ``user`` and every reshare they made, in one transaction, audited:
        ``{"user", "revoked": n, "shares": own, "reshares": made of others' shares}``."""
        principal = self.require_admin()
        self.json_body(max_bytes=1024)  # no fields; a malformed body is still a 400
        result = await self.run(self.convshare.admin.revoke_user, principal, user)
        self.write_json(result)


class AdminPoliciesHandler(_AdminBase):
    """``GET convshare/api/admin/policies``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """``{"server": policy, "groups": [{"name", "policy", "source": "config"|"store",
        "updated_at"?, "updated_by"?}], "users": [...]}`` (a name set in both has one entry
        per source; the strictest of them applies)."""
        self.require_admin()
        app = self.convshare
        stored = await self.run(app.policies.list)
        out: dict[str, Any] = {"server": app.server_policy().to_json(), "groups": [], "users": []}
        for scope, trait in (("group", app.group_policies), ("user", app.user_policies)):
            for name in sorted(trait):
                out[scope + "s"].append(
                    {"name": name, "policy": PolicyRule.from_json(trait[name]).to_json(), "source": "config"}
                )
        for item in stored:
            data = item.to_json()
            out[item.scope + "s"].append(
                {"name": item.name, "policy": data["policy"], "source": "store",
                 "updated_at": data["updated_at"], "updated_by": data["updated_by"]}
            )
        self.write_json(out)


class AdminPolicyHandler(_AdminBase):
    """``PUT|DELETE convshare/api/admin/policies/<scope>/<name>`` (scope: group or user)."""

    @web.authenticated
    @authorized
    async def put(self, scope: str, name: str) -> None:
        """Body: the policy fields (``max_expires_seconds`` or ``max_expires``,
        ``allow_never``, ``allow_link``, ``allow_reshare``; null/true: no restriction).

        Refused (400 naming the field) when looser than the levels above: the server's
        for a group; the server's and the user's groups' for a user. A group must be one
        the server knows (400, ``field="name"``). Answers ``{"scope", "name", "policy",
        "updated_at", "updated_by"}``; an all-null body removes the stored policy. Shares
        made before are not changed: see ``exceeds_policy`` in the admin listing and
        ``POST convshare/api/admin/policies/apply``."""
        principal = self.require_admin()
        check_scope(scope)
        body = self.json_body(max_bytes=16 * 1024)
        app = self.convshare
        if scope == "group":
            known = await self.run(app.group_source.all_groups)
            if name not in known:
                raise InvalidRequest(f"name: unknown group {name!r}", field="name")
            above = app.server_policy()
        else:
            above = await self.run(self._above_user, name)
        rule = check_only_stricter(body, above, scope)
        stored = await self.run(app.policies.set, principal.name, scope, name, rule)
        self.write_json(stored.to_json())

    def _above_user(self, name: str) -> Any:
        """The effective policy of the server and ``name``'s groups (not their own rules)."""
        app = self.convshare
        groups = app.principal_named(name).groups
        # a nameless principal with the user's groups: no user rule can match it
        return app.effective_policy(access.Principal(name="", groups=groups))

    @web.authenticated
    @authorized
    async def delete(self, scope: str, name: str) -> None:
        """Remove a stored policy (204); 404 when none is stored (configured ones stay)."""
        principal = self.require_admin()
        check_scope(scope)
        if not await self.run(self.convshare.policies.delete, principal.name, scope, name):
            raise NotFound(f"no stored {scope} policy for {name!r}", field="name")
        self.set_status(204)
        self.finish()


class AdminApplyPolicyHandler(_AdminBase):
    """``POST convshare/api/admin/policies/apply``: bring existing shares within policy."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Body ``{"owner"?: str}`` (default: every owner). Unexpired shares beyond their
        maker's policy now get their expiry capped, link or reshare switched off (a reshare
        whose maker may no longer reshare is revoked), each audited. Answers
        ``{"changed": [{"share_id", "owner", "changed": [fields]}], "count"}``."""
        principal = self.require_admin()
        body = self.json_body(max_bytes=16 * 1024)
        unknown = sorted(set(body) - {"owner"})
        if unknown:
            raise InvalidRequest(f"unknown field {unknown[0]!r}; expected 'owner'", field=unknown[0])
        owner = body.get("owner")
        if owner is not None and not isinstance(owner, str):
            raise InvalidRequest("owner: expected a user name", field="owner")
        app = self.convshare
        changed = await self.run(app.admin.apply_policy, principal, app.policy_of, owner)
        self.write_json({"changed": changed, "count": len(changed)})


_NAME = r"([^/]+)"

default_handlers: list[tuple[str, type[ConvShareAPIHandler]]] = [
    (r"convshare/api/policy", PolicyHandler),
    (r"convshare/api/admin/shares", AdminSharesHandler),
    (rf"convshare/api/admin/users/{_NAME}/revoke", AdminRevokeUserHandler),
    (r"convshare/api/admin/policies", AdminPoliciesHandler),
    (r"convshare/api/admin/policies/apply", AdminApplyPolicyHandler),
    (rf"convshare/api/admin/policies/{_NAME}/{_NAME}", AdminPolicyHandler),
]
"""Admin and policy routes, relative to ``base_url`` (the app prepends it)."""

__all__ = ["default_handlers"]
