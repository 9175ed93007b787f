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
* The user who made a reshare (its ``created_by``) manages that reshare while they may
  still read the share it came from (a grant, or owner/admin): read its settings and link
  (even once expired), change its ``expires`` (capped at the parent's) and ``link_enabled``,
  rotate it, revoke it, draw its QR code (:data:`CREATOR_ACTIONS`). Everything else
  (``mode``, ``allow_reshare``, ``single_use``, ``chat_posting``, grants, snapshot, audit)
  is :class:`~.errors.Forbidden` (403) naming the field. Reading the conversation through
  the reshare follows the grantee rule (410 once expired); they never collaborate through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Literal, Protocol, Union

from .errors import Conflict, Expired, Forbidden, NotFound

Permission = Literal["view", "collaborate"]
PERMISSIONS: tuple[str, ...] = ("view", "collaborate")
"""Grant permissions, weakest first."""

PRINCIPAL_TYPES: tuple[str, ...] = ("organization", "group", "user")
"""Who a grant is for."""

Access = Literal["manage", "creator", "collaborate", "view"]
"""What a principal may do with a share: manage (owner/admin) > creator (of a reshare:
:data:`CREATOR_ACTIONS`) > collaborate > view."""

CREATOR_ACTIONS: frozenset[str] = frozenset(
    {"read", "expires", "link_enabled", "rotate", "revoke", "qr"}
)
"""What the creator of a reshare may do with it: ``read`` its settings and link, change
``expires`` (capped at the parent's) and ``link_enabled``, ``rotate`` its link, ``revoke``
it, draw its ``qr`` code."""

CAPABILITIES: tuple[str, ...] = ("share", "public", "collaborate")
"""What a deployment may withhold from a user (:attr:`Principal.capabilities`): ``share``
(create shares, grants and reshares), ``public`` (turn on links that anyone can open
without logging in), ``collaborate`` (add messages to a share granted with
``collaborate``). On JupyterHub each is the scope ``custom:convshare:<capability>``."""

SETTINGS: tuple[str, ...] = ("expires", "mode", "link_enabled", "allow_reshare", "single_use", "chat_posting")
"""Share settings (``PATCH convshare/api/shares/<id>`` fields); as actions they name the field."""


@dataclass(frozen=True)
class Principal:
    """Who is asking.

    Attributes:
        name: the user name (standalone server: the configured owner; hub: the hub user).
        is_admin: an admin (``ConvShareApp.admin_users``; hub admins later).
        groups: names of the groups the user belongs to (the server's group source).
        authenticated: ``False`` for an anonymous link visitor.
        capabilities: what the deployment lets this user do (:data:`CAPABILITIES`; on
            JupyterHub the user's ``custom:convshare:<capability>`` scopes), or ``None``:
            everything (a standalone server). Admins have every capability.
    """

    name: str
    is_admin: bool = False
    groups: frozenset[str] = field(default_factory=frozenset)
    authenticated: bool = True
    capabilities: frozenset[str] | None = None


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()
"""Marker for "this setting does not change" (:func:`bound_reshare_change`)."""


PrincipalLike = Union[Principal, str]
"""A :class:`Principal`, or a plain user name (an authenticated non-admin principal)."""


class Owned(Protocol):
    """Anything with an ``owner`` (a share, a stored conversation, a store record)."""

    @property
    def owner(self) -> str: ...


def has_capability(principal: PrincipalLike, capability: str) -> bool:
    """``True`` when ``principal`` may use ``capability`` (:data:`CAPABILITIES`): admins and
    principals without a capability list (standalone servers) may use every one."""
    p = as_principal(principal)
    return p.is_admin or p.capabilities is None or capability in p.capabilities


def require_capability(principal: PrincipalLike, capability: str, *, field: str | None = None) -> None:
    """Raise unless ``principal`` may use ``capability`` (:func:`has_capability`).

    Raises:
        Forbidden: (403, ``field``) naming the JupyterHub scope that grants it.
    """
    if has_capability(principal, capability):
        return
    what = {
        "share": "create shares, grants or reshares",
        "public": "turn on links that anyone can open without logging in",
        "collaborate": "add messages to shared conversations",
    }.get(capability, capability)
    raise Forbidden(
        f"you may not {what} here: ask an admin for the scope custom:convshare:{capability}",
        field=field,
    )


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


def is_reshare_creator(
    principal: PrincipalLike, share: Any, parent: Any | None, parent_grants: Iterable[GrantLike] = ()
) -> bool:
    """``True`` when ``principal`` made the reshare ``share`` and may still read its parent.

    Args:
        principal: who asks.
        share: a share with ``parent_share_id`` and ``created_by``.
        parent: the share it came from (``share_id``, ``owner``), or ``None`` when unknown.
        parent_grants: the parent's grants (the creator must still hold one, or own/admin it:
            a user who lost access to the conversation no longer manages links to it).
    """
    p = as_principal(principal)
    if not p.authenticated or not p.name or getattr(share, "parent_share_id", None) is None:
        return False
    if getattr(share, "created_by", None) != p.name:
        return False
    if parent is None or parent.share_id != share.parent_share_id:
        return False
    return share_access(p, parent, parent_grants) is not None


def share_access(
    principal: PrincipalLike,
    share: Owned,
    grants: Iterable[GrantLike],
    *,
    parent: Any | None = None,
    parent_grants: Iterable[GrantLike] = (),
) -> Access | None:
    """What ``principal`` may do with ``share`` ignoring expiry (``None``: nothing).

    ``parent``/``parent_grants``: for a reshare, the share it came from and its grants
    (without them, its creator is not recognised as such).
    """
    if can_manage(principal, share):
        return "manage"
    if parent is not None and is_reshare_creator(principal, share, parent, parent_grants):
        return "creator"
    return granted_permission(principal, grants)


def _forbidden_action(action: str) -> Forbidden:
    """The 403 for the creator of a reshare asking for something only the owner may do."""
    field = action if action in SETTINGS else "share_id"
    what = {
        "grants": "grants: only the owner of the share can grant access to it",
        "snapshot": "snapshot: a reshare shows what the share it came from shows",
        "audit": "audit: only the owner of the share can read its log",
    }.get(action, f"{action}: only the owner of the share can change this")
    return Forbidden(
        f"{what}; as the creator of this reshare you may change its expiry and link,"
        " rotate or revoke it",
        field=field,
    )


def decide_manage(
    principal: PrincipalLike,
    share: Owned,
    grants: Iterable[GrantLike],
    *,
    actions: Iterable[str] = ("manage",),
    parent: Any | None = None,
    parent_grants: Iterable[GrantLike] = (),
) -> Access:
    """Allow managing ``share`` (``actions``, e.g. ``("expires", "mode")``) or raise.

    Returns ``"manage"`` (owner/admin: anything) or ``"creator"`` (the creator of a
    reshare, for :data:`CREATOR_ACTIONS` only; give ``parent``/``parent_grants``).

    Raises:
        Forbidden: (403) a grantee (knows the share, may not change it), or the creator of
            a reshare asking for an action outside :data:`CREATOR_ACTIONS` (``field`` is the
            setting for :data:`SETTINGS`, else ``"share_id"``; the first such action).
        NotFound: (404) anyone else (no existence oracle).
    """
    grants = list(grants)
    if can_manage(principal, share):
        return "manage"
    if parent is not None and is_reshare_creator(principal, share, parent, parent_grants):
        for action in actions:
            if action not in CREATOR_ACTIONS:
                raise _forbidden_action(action)
        return "creator"
    if granted_permission(principal, grants) is not None:
        raise Forbidden(
            "only the owner of this share or an admin can change it", field="share_id"
        )
    raise NotFound("no such share", field="share_id")


def decide_read(
    principal: PrincipalLike,
    share: Owned,
    grants: Iterable[GrantLike],
    *,
    expired: bool,
    parent: Any | None = None,
    parent_grants: Iterable[GrantLike] = (),
    settings: bool = False,
) -> Access:
    """May ``principal`` read ``share`` through the authenticated API? Returns the access.

    Args:
        settings: reading the share's settings and link, not the conversation: the creator
            of a reshare may, like the owner, even once it has expired.

    Raises:
        NotFound: (404) no grant and not the owner/an admin/the reshare's creator.
        Expired: (410) anyone else asking for an expired share.
    """
    access = share_access(principal, share, grants, parent=parent, parent_grants=parent_grants)
    if access is None:
        raise NotFound("no such share", field="share_id")
    if expired and access != "manage" and not (settings and access == "creator"):
        raise Expired("this share has expired: ask the person who shared it for a new link")
    return access


def decide_collaborate(
    principal: PrincipalLike,
    share: Any,
    grants: Iterable[GrantLike],
    *,
    expired: bool,
    parent: Any | None = None,
    parent_grants: Iterable[GrantLike] = (),
) -> Access:
    """May ``principal`` add a message to the conversation ``share`` shows? Raise if not.

    ``share`` has ``owner`` and ``mode``. The owner, admins and ``collaborate`` grantees may,
    on a live share (grantees: unexpired). Decide this inside the write transaction that
    adds the message, on the share and grants read in it, so a grant removed meanwhile
    lets nothing through.

    Raises:
        Forbidden: (403) anonymous, a view-only grantee, the creator of a reshare, a
            grantee without the ``collaborate`` capability (:func:`require_capability`);
        NotFound: (404) no access; Expired: (410) a grantee, expired share;
        Conflict: (409) a snapshot share.
    """
    p = as_principal(principal)
    if not p.authenticated or not p.name:
        raise Forbidden("log in to add messages to a shared conversation", field="share_id")
    decision = decide_read(p, share, grants, expired=expired, parent=parent, parent_grants=parent_grants)
    require_collaborate(decision, share)
    if decision == "collaborate":  # the owner and admins add to their own share regardless
        require_capability(p, "collaborate", field="share_id")
    return decision


def require_collaborate(decision: str, share: Any) -> None:
    """The collaborate rule on an access already decided (:func:`decide_read`).

    Raises:
        Forbidden: (403) ``decision`` is neither ``"manage"`` nor ``"collaborate"``;
        Conflict: (409) ``share.mode`` is ``"snapshot"``.
    """
    if decision not in ("manage", "collaborate"):
        raise Forbidden(
            "you may view this conversation but not add messages to it", field="share_id"
        )
    if share.mode == "snapshot":
        raise Conflict("snapshots are frozen: messages can only be added to a live share", field="share_id")


def bound_reshare_change(
    share: Any,
    parent: Any,
    *,
    now: datetime,
    expires_at: datetime | None | _Keep = KEEP,
    link_enabled: bool | None = None,
    mode: str | None = None,
) -> datetime | None | _Keep:
    """Check a change of the reshare ``share`` against its ``parent`` (for anyone: a reshare
    never outlives or out-permissions the share it came from). Returns the expiry to store.

    Args:
        share, parent: the reshare and its parent (``expires_at``, ``link_enabled``, ``mode``).
        now: the current UTC time.
        expires_at: the requested expiry (``None``: never), or :data:`KEEP` (no change).
        link_enabled: the requested link switch, or ``None`` (no change).
        mode: the requested mode, or ``None`` (no change).

    Returns:
        :data:`KEEP`, or the requested expiry capped at the parent's (never: the parent's).

    Raises:
        Expired: (410) a new expiry while the parent has expired.
        Forbidden: (403, ``field="link_enabled"``) the link switched on while the parent's is
            off; (``field="mode"``) any mode change (a reshare follows its parent's mode).
    """
    if mode is not None and mode != share.mode:
        raise Forbidden(
            "mode: a reshare always has the mode of the share it came from (change that share)",
            field="mode",
        )
    if link_enabled and not parent.link_enabled:
        raise Forbidden(
            "link_enabled: the link of the share this reshare came from is off, so its reshares' are too",
            field="link_enabled",
        )
    if isinstance(expires_at, _Keep):
        return expires_at
    limit = parent.expires_at
    if limit is not None and now >= limit:
        raise Expired("the share this reshare came from has expired: its reshares cannot be extended")
    if limit is not None and (expires_at is None or expires_at > limit):
        return limit
    return expires_at


def decide_reshare(
    principal: PrincipalLike,
    share: Any,
    grants: Iterable[GrantLike],
    *,
    expired: bool,
    parent: Any | None = None,
    parent_grants: Iterable[GrantLike] = (),
) -> None:
    """May ``principal`` make their own link of ``share``? Raise if not.

    ``share`` has ``owner``, ``allow_reshare``, ``link_enabled`` and ``parent_share_id``.
    Anyone who may read it (owner, admin, grantee) may, while it has not expired, allows
    reshare, is not itself a reshare, and has its link on. ``parent``/``parent_grants``:
    when ``share`` is a reshare, its parent (so its creator gets the 403, not a 404).

    Raises:
        NotFound: (404) no access; Expired: (410) the share has expired;
        Forbidden: (403, ``field="share_id"``) resharing is not allowed, or the link is off.
    """
    decide_read(principal, share, grants, expired=False, parent=parent, parent_grants=parent_grants)
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


def require_admin(principal: PrincipalLike) -> None:
    """The admin API (every owner's shares, revoking a user's shares, policies) is for
    admins only (``ConvShareApp.admin_users``; hub admins in hub mode).

    Raises:
        Forbidden: (403, ``field=None``) anyone else, anonymous included.
    """
    p = as_principal(principal)
    if not (p.authenticated and p.name and p.is_admin):
        raise Forbidden("only an admin of this server can do this")
