"""ShareService: conversations in the store, and the shares (links) that expose them.

DESIGN.md section 4. This module is the one entry point that the server handlers, the
CLI (when no server runs) and the tests use; it never imports tornado.

Conventions:

* ``owner`` is the principal that owns conversations and shares (a user name string);
  every method that acts for an owner raises :class:`~.errors.NotFound` for a share or
  conversation that exists but belongs to someone else (no existence oracle).
* Times are timezone-aware UTC; ``clock`` is injectable so expiry tests are exact.
* Every write is one short ``BEGIN IMMEDIATE`` transaction in the store; a failed write
  leaves the store as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Literal

from .model import Conversation

ShareMode = Literal["live", "snapshot"]

EXPIRY_PRESETS: dict[str, int | None] = {
    "1h": 3600,
    "24h": 24 * 3600,
    "7d": 7 * 24 * 3600,
    "30d": 30 * 24 * 3600,
    "never": None,
}
"""Expiry presets: name -> lifetime in seconds (``None``: never expires)."""

DEFAULT_EXPIRES = "7d"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""Marker for 'leave this setting unchanged' in :meth:`ShareService.update_share`."""


@dataclass
class StoredConversation:
    """A conversation's row in the store (metadata only; no messages).

    Attributes:
        id: conversation id.
        owner: owning principal.
        title: current title or ``None``.
        version: increases by one on every change of the stored conversation.
        message_count: number of messages, all branches.
        source_format: importer name (``"jupyterlab-chat"``, ...).
        source_path: path relative to the Jupyter root for file-backed (live) sources.
        source_mtime: modification time (epoch seconds) of the source file at last sync.
        created_at, updated_at: UTC.
    """

    id: str
    owner: str
    title: str | None
    version: int
    message_count: int
    source_format: str
    source_path: str | None
    source_mtime: float | None
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict (times as ISO 8601 UTC)."""
        raise NotImplementedError


@dataclass
class Share:
    """A share of one conversation, as its owner sees it.

    Attributes:
        share_id: public, non-secret id (for management and audit).
        link: the secret link token that goes into ``{base_url}convshare/s/<link>``
            (at least 128 bits; derived from the server's link secret so a copy of the
            database alone does not yield it).
        conversation_id: the shared conversation.
        owner: owning principal.
        mode: ``"live"`` (current state) or ``"snapshot"`` (frozen at ``snapshot_at``).
        expires_at: UTC, or ``None`` for never.
        created_at, updated_at: UTC.
        snapshot_at: UTC time of the frozen copy (snapshot mode), else ``None``.
        view_count: number of viewer page views.
        last_accessed_at: UTC time of the last view, or ``None``.
        title: the conversation's title (for listings).
    """

    share_id: str
    link: str
    conversation_id: str
    owner: str
    mode: ShareMode
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    snapshot_at: datetime | None
    view_count: int
    last_accessed_at: datetime | None
    title: str | None

    def is_expired(self, now: datetime) -> bool:
        """``True`` when ``expires_at`` is set and ``now >= expires_at``."""
        raise NotImplementedError

    def to_json(self, url: str | None = None) -> dict[str, Any]:
        """JSON dict with every attribute (times ISO 8601 UTC or ``None``) plus ``url``."""
        raise NotImplementedError


@dataclass
class ResolvedShare:
    """What the public viewer needs for one link.

    Attributes:
        share: the share (its ``link`` is the one that was presented).
        conversation: the conversation to show (live: current; snapshot: frozen copy).
        cache_key: changes whenever what is shown changes (e.g. ``"<conv id>:<version>"``
            or ``"snapshot:<share id>:<snapshot time>"``); used to cache rendered HTML.
    """

    share: Share
    conversation: Conversation
    cache_key: str


def parse_expires(value: str | datetime | None, now: datetime) -> datetime | None:
    """Turn an expiry setting into an absolute UTC time.

    Args:
        value: a preset name from :data:`EXPIRY_PRESETS` (``"1h"``, ``"24h"``, ``"7d"``,
            ``"30d"``, ``"never"``), ``None`` (same as ``"never"``), an ISO 8601 string or a
            timezone-aware datetime (an explicit time, which must be in the future).
        now: the current UTC time (from the service clock).

    Returns:
        The expiry time, or ``None`` for never.

    Raises:
        InvalidRequest: (``field="expires"``) unknown preset, unparsable string, naive
            datetime, or a time not after ``now``.
    """
    raise NotImplementedError


class ShareService:
    """Conversations and their shares, over a :class:`~.store.Store`.

    Args:
        store: the store (SQLite through sqlite-utils, see ``core.store``).
        link_secret: server secret (bytes, >= 32) used to derive link tokens; kept outside
            the database. Changing it invalidates every link.
        clock: returns the current UTC time; injectable for tests.
    """

    def __init__(
        self,
        store: Any,
        link_secret: bytes,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        raise NotImplementedError

    # -- conversations ------------------------------------------------------------------

    def save_conversation(
        self,
        owner: str,
        conversation: Conversation,
        blobs: dict[str, bytes] | None = None,
        source_mtime: float | None = None,
    ) -> StoredConversation:
        """Store ``conversation`` for ``owner`` (insert, or replace the same id's content).

        ``blobs`` maps attachment id -> bytes; each is stored content-addressed (sha256)
        beside the database, and the attachment gets ``sha256``, ``size_bytes`` and
        ``available=True``. A replace of a file-backed conversation merges by message id
        (see :meth:`sync_conversation`).

        Raises:
            InvalidRequest: empty id; TooLarge: a blob over the store's limit.
        """
        raise NotImplementedError

    def sync_conversation(
        self,
        owner: str,
        conversation_id: str,
        fresh: Conversation,
        blobs: dict[str, bytes] | None = None,
        source_mtime: float | None = None,
    ) -> StoredConversation:
        """Merge a re-read source into the stored conversation (live ``.chat`` shares).

        Messages are merged by id: source messages are updated or added; messages that
        exist only in the store (added by collaborators) are never deleted. The version
        increases only when something changed.

        Raises:
            NotFound: no such conversation for ``owner``.
        """
        raise NotImplementedError

    def get_conversation(self, owner: str, conversation_id: str) -> Conversation:
        """The stored conversation. Raises NotFound."""
        raise NotImplementedError

    def get_conversation_info(self, owner: str, conversation_id: str) -> StoredConversation:
        """The stored conversation's metadata row. Raises NotFound."""
        raise NotImplementedError

    def list_conversations(self, owner: str) -> list[StoredConversation]:
        """``owner``'s conversations, most recently updated first."""
        raise NotImplementedError

    def find_conversation_by_path(self, owner: str, path: str) -> StoredConversation | None:
        """The conversation imported from ``path`` (relative to the Jupyter root), if any."""
        raise NotImplementedError

    def delete_conversation(self, owner: str, conversation_id: str) -> None:
        """Delete a conversation: revokes all its shares and drops blobs nothing else uses.

        Raises NotFound.
        """
        raise NotImplementedError

    # -- shares -------------------------------------------------------------------------

    def create_share(
        self,
        owner: str,
        conversation_id: str,
        *,
        expires: str | datetime | None = DEFAULT_EXPIRES,
        mode: ShareMode = "live",
    ) -> tuple[Share, bool]:
        """Share a conversation; returns ``(share, created)``.

        When the conversation already has a share of ``owner``'s, that share is returned
        unchanged with ``created=False`` ("already shared shows the existing link").

        Raises:
            NotFound: no such conversation; InvalidRequest: bad ``expires`` or ``mode``.
        """
        raise NotImplementedError

    def get_share(self, owner: str, share_id: str) -> Share:
        """One of ``owner``'s shares. Raises NotFound."""
        raise NotImplementedError

    def list_shares(self, owner: str) -> list[Share]:
        """``owner``'s shares (expired ones included), newest first."""
        raise NotImplementedError

    def update_share(
        self,
        owner: str,
        share_id: str,
        *,
        expires: str | datetime | None = UNSET,
        mode: ShareMode = UNSET,
    ) -> Share:
        """Change expiry and/or mode; :data:`UNSET` leaves a setting as it is.

        Switching to ``"snapshot"`` freezes the current state; switching to ``"live"``
        drops the frozen copy. The link does not change.

        Raises:
            NotFound; InvalidRequest (bad value, ``field`` names it).
        """
        raise NotImplementedError

    def update_snapshot(self, owner: str, share_id: str) -> Share:
        """Re-freeze a snapshot share at the conversation's current state (same link).

        Raises:
            NotFound; InvalidRequest (``field="mode"``) when the share is live.
        """
        raise NotImplementedError

    def rotate_link(self, owner: str, share_id: str) -> Share:
        """Give the share a new link; the old one answers 404 from now on. Raises NotFound."""
        raise NotImplementedError

    def revoke(self, owner: str, share_id: str) -> None:
        """Delete the share; its link answers 404 at once. Raises NotFound."""
        raise NotImplementedError

    def revoke_all(self, owner: str) -> int:
        """Delete every share of ``owner``; returns how many were deleted."""
        raise NotImplementedError

    def resolve(self, link: str, *, count_view: bool = True) -> ResolvedShare:
        """Find what a link shows (the public viewer's one call).

        Compares secrets in constant time; never logs ``link``. With ``count_view`` the
        share's ``view_count`` and ``last_accessed_at`` are updated.

        Raises:
            NotFound: unknown, rotated-away, revoked or deleted link (indistinguishable).
            Expired: the share exists but has expired.
        """
        raise NotImplementedError

    def blob_path(self, sha256: str) -> str:
        """Absolute path of a stored blob's file. Raises NotFound when it is absent."""
        raise NotImplementedError
