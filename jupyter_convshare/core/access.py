"""Permission decisions (DESIGN.md sections 2 and 4): pure functions, no I/O.

Every "may this principal do that?" question is answered here, once. The service loads
the facts (who is asking, what the share is, its grants, whether it has expired) and asks;
it never decides by itself.

Rules (issue 3):

* The share's owner and admins (``Principal.is_admin``) manage a share: settings, grants,
  rotate, revoke, snapshot, QR. They may read it even when it has expired.
* A grant gives ``view`` or ``collaborate`` to the ``organization`` (every authenticated
  user of this server), a ``group`` or a ``user``. The best matching grant wins
  (``collaborate`` > ``view``). Grants do not depend on the link being on.
* Grantees read an unexpired share; an expired one is :class:`~.errors.Expired` (410).
  A grantee who asks to manage gets :class:`~.errors.Forbidden` (403: they know the share
  exists); anyone else gets :class:`~.errors.NotFound` (404: no existence oracle).
* Anonymous visitors never match a grant and never manage; they see a share only through
  its link, when the link is on and the share has not expired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Protocol, Union

from .errors import Expired, Forbidden, NotFound

Permission = Literal["view", "collaborate"]
PERMISSIONS: tuple[str, ...] = ("view", "collaborate")
"""Grant permissions, weakest first."""

PRINCIPAL_TYPES: tuple[str, ...] = ("organization", "group", "user")
"""Who a grant is for."""

Access = Literal["manage", "collaborate", "view"]
"""What a principal may do with a share: manage (owner/admin) > collaborate > view."""


@dataclass(frozen=True)
class Principal:
    """Who is asking.

    Attributes:
        name: the user name (standalone server: the configured owner; hub: the hub user).
        is_admin: an admin (``ConvShareApp.admin_users``; hub admins later).
        groups: names of the groups the user belongs to (the server's group source).
        authenticated: ``False`` for an anonymous link visitor.
    """

    name: str
    is_admin: bool = False
    groups: frozenset[str] = field(default_factory=frozenset)
    authenticated: bool = True


PrincipalLike = Union[Principal, str]
"""A :class:`Principal`, or a plain user name (an authenticated non-admin principal)."""


class Owned(Protocol):
    """Anything with an ``owner`` (a share, a stored conversation, a store record)."""

    @property
    def owner(self) -> str: ...


def as_principal(principal: PrincipalLike) -> Principal:
    """Normalise a user name or :class:`Principal` to a :class:`Principal`."""
    if isinstance(principal, Principal):
        return principal
    return Principal(name=principal)


def is_owner(principal: PrincipalLike, item: Owned) -> bool:
    """``True`` when ``principal`` is the authenticated owner of ``item``."""
    p = as_principal(principal)
    return p.authenticated and bool(p.name) and p.name == item.owner


class GrantLike(Protocol):
    """A grant: ``principal_type``, ``principal`` (``""``/``None`` for the organization), ``permission``."""

    @property
    def principal_type(self) -> str: ...

    @property
    def principal(self) -> str | None: ...

    @property
    def permission(self) -> str: ...


def grant_matches(principal: PrincipalLike, grant: GrantLike) -> bool:
    """``True`` when ``grant`` is for ``principal`` (organization, one of its groups, or it)."""
    p = as_principal(principal)
    if not p.authenticated or not p.name:
        return False
    if grant.principal_type == "organization":
        return True
    if grant.principal_type == "group":
        return grant.principal in p.groups
    if grant.principal_type == "user":
        return grant.principal == p.name
    return False


def granted_permission(principal: PrincipalLike, grants: Iterable[GrantLike]) -> Permission | None:
    """The best permission the matching ``grants`` give ``principal`` (``None``: no grant)."""
    best: Permission | None = None
    for grant in grants:
        if grant_matches(principal, grant) and grant.permission in PERMISSIONS:
            if best is None or PERMISSIONS.index(grant.permission) > PERMISSIONS.index(best):
                best = grant.permission  # type: ignore[assignment]
    return best


def can_manage(principal: PrincipalLike, share: Owned, grants: Iterable[Any] = ()) -> bool:
    """May ``principal`` change ``share``'s settings, grants, link; revoke it?

    Args:
        principal: who asks.
        share: the share (anything with ``.owner``).
        grants: the share's grants (ignored: grants never confer management).

    Returns:
        ``True`` for the share's owner and for admins.
    """
    p = as_principal(principal)
    return is_owner(p, share) or (p.authenticated and p.is_admin)


def share_access(principal: PrincipalLike, share: Owned, grants: Iterable[GrantLike]) -> Access | None:
    """What ``principal`` may do with ``share`` ignoring expiry (``None``: nothing)."""
    if can_manage(principal, share):
        return "manage"
    return granted_permission(principal, grants)


def decide_manage(principal: PrincipalLike, share: Owned, grants: Iterable[GrantLike]) -> None:
    """Allow managing ``share`` or raise.

    Raises:
        Forbidden: (403) a grantee (knows the share, may not change it).
        NotFound: (404) anyone else (no existence oracle).
    """
    grants = list(grants)
    if can_manage(principal, share):
        return
    if granted_permission(principal, grants) is not None:
        raise Forbidden(
            "only the owner of this share or an admin can change it", field="share_id"
        )
    raise NotFound("no such share", field="share_id")


def decide_read(
    principal: PrincipalLike, share: Owned, grants: Iterable[GrantLike], *, expired: bool
) -> Access:
    """May ``principal`` read ``share`` through the authenticated API? Returns the access.

    Raises:
        NotFound: (404) no grant and not the owner/an admin.
        Expired: (410) a grantee asking for an expired share.
    """
    access = share_access(principal, share, grants)
    if access is None:
        raise NotFound("no such share", field="share_id")
    if expired and access != "manage":
        raise Expired("this share has expired: ask the person who shared it for a new link")
    return access


def decide_reshare(
    principal: PrincipalLike, share: Any, grants: Iterable[GrantLike], *, expired: bool
) -> None:
    """May ``principal`` make their own link of ``share``? Raise if not.

    ``share`` has ``owner``, ``allow_reshare``, ``link_enabled`` and ``parent_share_id``.
    Anyone who may read it (owner, admin, grantee) may, while it has not expired, allows
    reshare, is not itself a reshare, and has its link on.

    Raises:
        NotFound: (404) no access; Expired: (410) the share has expired;
        Forbidden: (403, ``field="share_id"``) resharing is not allowed, or the link is off.
    """
    decide_read(principal, share, grants, expired=False)
    if expired:
        raise Expired("this share has expired: it cannot be reshared")
    if share.parent_share_id is not None or not share.allow_reshare:
        raise Forbidden(
            "resharing is not allowed for this share: ask its owner to allow it", field="share_id"
        )
    if not share.link_enabled:
        raise Forbidden(
            "link access is off for this share, so it cannot be reshared as a link", field="share_id"
        )


def may_open_claimed(holder: str, claimant: str) -> bool:
    """A single-use link claimed by ``holder``: may ``claimant`` open it? Only the holder."""
    import hmac

    return hmac.compare_digest(holder.encode("utf-8"), claimant.encode("utf-8"))


def can_manage_conversation(principal: PrincipalLike, conversation: Owned) -> bool:
    """May ``principal`` read, change, share or delete a stored conversation? Owner only."""
    return is_owner(principal, conversation)


def can_view_by_link(share_expired: bool, link_enabled: bool = True) -> bool:
    """May an anonymous visitor holding a valid link see the share? (Not expired, link on.)"""
    return link_enabled and not share_expired
