"""Permission decisions (DESIGN.md sections 2 and 4): pure functions, no I/O.

Every "may this principal do that?" question is answered here, once. The service loads
the facts (who is asking, what the share or conversation is) and asks; it never decides
by itself. This release has owners only; issue 3 adds hub admins, grants (``view`` /
``collaborate`` to the organization, a group or a user) and reshare rules, which extend
:class:`Principal` (``is_admin``, ``groups``) and the ``grants`` arguments below without
changing any call site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol, Union


@dataclass(frozen=True)
class Principal:
    """Who is asking.

    Attributes:
        name: the user name (standalone server: the configured owner; hub: the hub user).
        is_admin: a hub admin (issue 3; always ``False`` in this release).
        groups: hub groups the user belongs to (issue 3).
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


def can_manage(principal: PrincipalLike, share: Owned, grants: Iterable[Any] = ()) -> bool:
    """May ``principal`` change ``share``'s settings (expiry, mode, rotate, revoke, snapshot)?

    Args:
        principal: who asks.
        share: the share (anything with ``.owner``).
        grants: the share's grants (issue 3; ignored now: grants never confer management).

    Returns:
        ``True`` for the owner only in this release (issue 3: also hub admins).
    """
    return is_owner(principal, share)


def can_manage_conversation(principal: PrincipalLike, conversation: Owned) -> bool:
    """May ``principal`` read, change, share or delete a stored conversation? Owner only."""
    return is_owner(principal, conversation)


def can_view_by_link(share_expired: bool, link_enabled: bool = True) -> bool:
    """May an anonymous visitor holding a valid link see the share? (Not expired, link on.)"""
    return link_enabled and not share_expired
