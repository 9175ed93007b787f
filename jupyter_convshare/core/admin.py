"""What admins do with every owner's shares (issue 6 item 3; DESIGN.md section 4).

List and filter every share of every owner, list revoked ones (from the audit log: a
revoked share is deleted), revoke every share of a user in one transaction (e.g. when
someone leaves), and bring existing shares within a sharing policy made stricter
(:func:`AdminShares.apply_policy`). Each call first asks :func:`.access.require_admin`.

This module works with the :class:`~.shares.ShareService`'s store and its audited write
transaction (``service._write`` / ``service._audit``), as the service's own methods do:
one ``BEGIN IMMEDIATE`` transaction per change, events emitted once it has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from . import access
from .errors import InvalidRequest
from .model import format_time
from .policy import Policy, clamped_expiry, exceeded
from .shares import AuditEvent, Grant, Share, ShareService, _audit_event, _grant
from .store import ShareQuery, ShareRecord

MAX_PAGE = 500
"""Largest page of an admin listing."""

STATES: tuple[str, ...] = ("active", "expired", "revoked")
"""Values of the listing's ``state`` filter (``revoked``: from the audit log)."""


@dataclass
class AdminShare:
    """One share as an admin lists it: the share, its grants, its state now.

    The listing never carries links (an admin who needs one reads the share itself,
    ``GET convshare/api/shares/<id>``): a page of every user's secret links is a leak
    waiting for a screenshot or a log.
    """

    share: Share
    grants: list[Grant]
    state: str  # "active" | "expired"

    def to_json(self, exceeds_policy: list[str] | None = None) -> dict[str, Any]:
        """The share JSON without ``link`` and ``url``, plus ``state``, ``grants``
        (``[{"principal_type", "principal", "permission"}]``) and ``exceeds_policy``
        (settings beyond its maker's policy now, see :func:`.policy.exceeded`)."""
        data = self.share.to_json()
        data.pop("link", None)
        data.pop("url", None)
        data["state"] = self.state
        data["grants"] = [
            {"principal_type": g.principal_type, "principal": g.principal, "permission": g.permission}
            for g in self.grants
        ]
        data["exceeds_policy"] = list(exceeds_policy or [])
        return data


@dataclass
class RevokedShare:
    """A revoked share, from its audit event (the share row itself is gone)."""

    event: AuditEvent

    def to_json(self) -> dict[str, Any]:
        """``{"share_id", "owner", "conversation_id", "state": "revoked", "revoked_at",
        "revoked_by", "action", "details"}``."""
        e = self.event
        return {
            "share_id": e.share_id,
            "owner": e.owner,
            "conversation_id": e.conversation_id,
            "state": "revoked",
            "revoked_at": format_time(e.at),
            "revoked_by": e.who,
            "action": e.action,
            "details": e.details,
        }


def maker(share: Any) -> str:
    """Whose policy binds a share: a reshare's ``created_by``, else its owner."""
    return share.created_by if getattr(share, "parent_share_id", None) and share.created_by else share.owner


class AdminShares:
    """Admin operations over a :class:`ShareService` (admins only: 403 for anyone else)."""

    def __init__(self, service: ShareService) -> None:
        self.service = service

    def list_shares(self, principal: access.PrincipalLike, query: ShareQuery) -> tuple[list[AdminShare], int]:
        """Every owner's shares matching ``query``: ``(one page, total matching)``.

        Raises:
            Forbidden: not an admin; InvalidRequest: ``limit`` outside 1..500, ``offset`` < 0,
                ``state`` not ``active``/``expired`` (revoked ones: :meth:`list_revoked`).
        """
        access.require_admin(principal)
        _check_page(query.limit, query.offset)
        if query.state not in (None, "active", "expired"):
            raise InvalidRequest(f"state: expected one of {list(STATES)}", field="state")
        service = self.service
        now = service.now()
        with service.store.read() as session:
            records, total = session.search_shares(query, now)
            grants = {r.share_id: [_grant(g) for g in session.list_grants(r.share_id)] for r in records}
        items = [
            AdminShare(
                share=service._share(r),
                grants=grants[r.share_id],
                state="expired" if r.expires_at is not None and now >= r.expires_at else "active",
            )
            for r in records
        ]
        return items, total

    def list_revoked(
        self, principal: access.PrincipalLike, owner: str | None, limit: int = 50, offset: int = 0
    ) -> tuple[list[RevokedShare], int]:
        """Revoked shares (newest first) from the audit log, of ``owner`` or everyone.

        Reshares that died with the share they came from are named in its event's
        ``details["reshares"]``, not listed apart.

        Raises:
            Forbidden: not an admin; InvalidRequest: bad page.
        """
        access.require_admin(principal)
        _check_page(limit, offset)
        with self.service.store.read() as session:
            rows, total = session.list_revocations(owner, limit, offset)
        return [RevokedShare(_audit_event(r)) for r in rows], total

    def revoke_user(self, principal: access.PrincipalLike, user: str) -> dict[str, Any]:
        """Revoke every share of ``user`` and every reshare ``user`` made of others' shares,
        in one write transaction; each is audited as ``share.revoked_all`` (``who``: the
        admin; ``details``: ``{"user", "by_admin": true}``). Their links answer 404 at once.
        Conversations, grants to the user and library items stay.

        Returns:
            ``{"user", "revoked": total, "shares": own shares (their reshares included),
            "reshares": reshares the user made of others' shares}``.

        Raises:
            Forbidden: not an admin; InvalidRequest: empty ``user``.
        """
        access.require_admin(principal)
        if not isinstance(user, str) or not user.strip():
            raise InvalidRequest("user: expected a user name", field="user")
        service = self.service
        details = {"user": user, "by_admin": True}
        with service._write() as tx:
            own = tx.list_shares(user)
            made = [r for r in tx.list_shares_created_by(user) if r.owner != user]
            for record in own:
                service._audit(tx, principal, "share.revoked_all", user, share_id=record.share_id,
                               conversation_id=record.conversation_id, details=details)
            own_count = tx.delete_shares_of_owner(user)
            made_count = 0
            for record in made:
                service._audit(tx, principal, "share.revoked_all", record.owner, share_id=record.share_id,
                               conversation_id=record.conversation_id,
                               details={**details, "reshare_of": record.parent_share_id})
                made_count += int(tx.delete_share(record.share_id))
        return {"user": user, "revoked": own_count + made_count, "shares": own_count, "reshares": made_count}

    def apply_policy(
        self,
        principal: access.PrincipalLike,
        policy_of: Callable[[str], Policy],
        owner: str | None = None,
    ) -> list[dict[str, Any]]:
        """Bring unexpired shares (of ``owner``, or everyone's) within their maker's policy now.

        What exceeds (:func:`.policy.exceeded`) is changed: the expiry capped
        (:func:`.policy.clamped_expiry`), the link switched off, reshare switched off (its
        reshares die), a reshare whose maker may no longer reshare revoked. The shares are
        read first, then changed in one write transaction that re-reads each; each change
        is audited (``share.updated`` / ``share.revoked`` with ``details["policy"] = true``).

        Args:
            policy_of: the effective policy of a user name (the server's view of them now).

        Returns:
            ``[{"share_id", "owner", "changed": [fields]}]`` of the shares changed.

        Raises:
            Forbidden: not an admin.
        """
        access.require_admin(principal)
        service = self.service
        now = service.now()
        candidates: list[ShareRecord] = []
        offset = 0
        with service.store.read() as session:
            while True:
                page, _total = session.search_shares(
                    ShareQuery(owner=owner, state="active", limit=MAX_PAGE, offset=offset), now
                )
                candidates += page
                if len(page) < MAX_PAGE:
                    break
                offset += MAX_PAGE
        policies: dict[str, Policy] = {}
        todo = []
        for record in candidates:
            name = maker(record)
            if name not in policies:
                policies[name] = policy_of(name)
            if exceeded(policies[name], record, now):
                todo.append((record.share_id, name))
        done: list[dict[str, Any]] = []
        if not todo:
            return done
        with service._write() as tx:
            for share_id, name in todo:
                record = tx.get_share(share_id)
                if record is None:
                    continue  # revoked meanwhile (or died with its parent above)
                policy = policies[name]
                fields = exceeded(policy, record, now)
                if not fields:
                    continue
                if "reshare" in fields:
                    service._audit(tx, principal, "share.revoked", record.owner, share_id=share_id,
                                   conversation_id=record.conversation_id, details={"policy": True})
                    tx.delete_share(share_id)
                    done.append({"share_id": share_id, "owner": record.owner, "changed": ["revoked"]})
                    continue
                changes: dict[str, Any] = {}
                if "expires" in fields:
                    changes["expires_at"] = clamped_expiry(policy, record.expires_at, now)
                if "link_enabled" in fields:
                    changes["link_enabled"] = 0
                if "allow_reshare" in fields:
                    changes["allow_reshare"] = 0
                service._audit(
                    tx, principal, "share.updated", record.owner, share_id=share_id,
                    conversation_id=record.conversation_id,
                    details={**_audit_details(changes), "policy": True},
                )
                changes["updated_at"] = max(now, record.updated_at)
                tx.update_share(share_id, changes)
                service._bound_children(tx, share_id, changes, now)
                done.append({"share_id": share_id, "owner": record.owner, "changed": fields})
        return done


def _audit_details(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if isinstance(value, datetime):
            out[key] = format_time(value)
        elif key in ("link_enabled", "allow_reshare"):
            out[key] = bool(value)
        else:
            out[key] = value
    return out


def _check_page(limit: Any, offset: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit: expected 1 to {MAX_PAGE}", field="limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidRequest("offset: expected a non-negative integer", field="offset")
