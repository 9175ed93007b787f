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

import contextlib
import dataclasses
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping, TypeVar

from . import access
from .errors import Conflict, Expired, Forbidden, InvalidRequest, NotFound, TooLarge
from .model import Attachment, Conversation, Message, Part, Participant, format_time, new_id, utcnow
from .redact import Finding, Redaction, blob_reader, find_sensitive, hidden_message_ids, viewer_copy
from .store import (
    AuditRecord,
    ConversationRecord,
    GrantRecord,
    LinkRow,
    ShareRecord,
    SQLiteStore,
    Store,
    StoreSession,
    parse_stored_time,
)
from .tokens import (
    SECRET_BYTES,
    derive_link,
    load_or_create_secret,
    lookup_key,
    new_nonce,
    new_share_id,
    verify,
)

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

DEFAULT_MAX_BLOB_BYTES = 50 * 1024 * 1024
"""Default largest attachment the service stores, in bytes (50 MiB)."""

LINK_SECRET_FILE = "link_secret"
"""File name of the link secret inside the store folder (outside the database)."""

_LINK_RE = re.compile(r"[A-Za-z0-9_-]{22,128}")
_MODES = ("live", "snapshot")
T = TypeVar("T")
_log = logging.getLogger(__name__)


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
        return {
            "id": self.id,
            "owner": self.owner,
            "title": self.title,
            "version": self.version,
            "message_count": self.message_count,
            "source_format": self.source_format,
            "source_path": self.source_path,
            "source_mtime": self.source_mtime,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
        }


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
        link_enabled: anyone with the link may view it (off: the link answers 404).
        allow_reshare: grantees may make their own link of it (issue 3 item 6).
        single_use: the first opener claims the link (issue 3 item 6).
        parent_share_id: for a reshare, the share it came from (it dies with it).
        created_by: for a reshare, the grantee who made it.
        claimed_by: who claimed a single-use link (:meth:`ShareService.claim_link`).
        chat_posting: collaborators' messages go into the live ``.chat`` document itself,
            where Jupyter AI personas answer them with the owner's credentials (off by
            default; the server's admin must allow it too).
        redaction: the owner's redaction choices (``core.redact.Redaction``), applied to
            everything anyone but the owner reads of the share (:meth:`ShareService.viewer_copy`).
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
    link_enabled: bool = True
    allow_reshare: bool = False
    single_use: bool = False
    parent_share_id: str | None = None
    created_by: str | None = None
    claimed_by: str | None = None
    chat_posting: bool = False
    redaction: Redaction = Redaction()

    def is_expired(self, now: datetime) -> bool:
        """``True`` when ``expires_at`` is set and ``now >= expires_at``."""
        return self.expires_at is not None and now >= self.expires_at

    def to_json(self, url: str | None = None) -> dict[str, Any]:
        """JSON dict with every attribute (times ISO 8601 UTC or ``None``) plus ``url``."""
        return {
            "share_id": self.share_id,
            "link": self.link,
            "url": url,
            "conversation_id": self.conversation_id,
            "owner": self.owner,
            "title": self.title,
            "mode": self.mode,
            "expires_at": format_time(self.expires_at),
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "snapshot_at": format_time(self.snapshot_at),
            "view_count": self.view_count,
            "last_accessed_at": format_time(self.last_accessed_at),
            "link_enabled": self.link_enabled,
            "allow_reshare": self.allow_reshare,
            "single_use": self.single_use,
            "claimed": self.claimed_by is not None,
            "parent_share_id": self.parent_share_id,
            "created_by": self.created_by,
            "chat_posting": self.chat_posting,
            "redaction": self.redaction.to_json(),
        }


@dataclass
class Grant:
    """A ``view`` / ``collaborate`` grant of a share (DESIGN.md section 4).

    Attributes:
        grant_id: public id.
        share_id: the share it belongs to (it dies with the share).
        principal_type: ``"organization"``, ``"group"`` or ``"user"``.
        principal: the group or user name; ``None`` for the organization.
        permission: ``"view"`` or ``"collaborate"``.
        created_at, updated_at: UTC.
    """

    grant_id: str
    share_id: str
    principal_type: str
    principal: str | None
    permission: str
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """``{"grant_id", "principal_type", "principal", "permission", "created_at", "updated_at"}``."""
        return {
            "grant_id": self.grant_id,
            "principal_type": self.principal_type,
            "principal": self.principal,
            "permission": self.permission,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
        }


AUDIT_SCHEMA_ID = "https://jupyter-convshare.org/events/audit/v1"
"""The jupyter-server event schema id of audit events (``jupyter_convshare/events/audit.yaml``)."""

AUDIT_ACTIONS: tuple[str, ...] = (
    "share.created", "share.updated", "share.rotated", "share.snapshot", "share.revoked",
    "share.revoked_all", "share.reshared", "grant.added", "grant.changed", "grant.removed",
    "link.claimed", "message.added", "message.edited", "message.deleted", "conversation.deleted",
    "library.saved", "conversation.renamed", "policy.changed",
)
"""Every audit ``action``."""


@dataclass(frozen=True)
class AuditEvent:
    """One audit event: who did what to which share/conversation, when (UTC).

    ``details`` never holds a link, a link secret, a browser id or message text.
    """

    event_id: int
    at: datetime
    who: str
    action: str
    owner: str
    share_id: str | None
    conversation_id: str | None
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """``{"event_id", "at" (ISO UTC), "who", "action", "owner", "share_id",
        "conversation_id", "details"}`` (the REST form and the jupyter-server event's data)."""
        return {
            "event_id": self.event_id,
            "at": format_time(self.at),
            "who": self.who,
            "action": self.action,
            "owner": self.owner,
            "share_id": self.share_id,
            "conversation_id": self.conversation_id,
            "details": self.details,
        }


@dataclass
class SharedItem:
    """A conversation granted to a user (``GET convshare/api/shared-with-me``).

    Attributes:
        share: the share that grants it (its ``link`` is the owner's link; show its URL
            only when ``share.link_enabled``).
        permission: the best permission the user's grants give (``"view"``/``"collaborate"``).
    """

    share: Share
    permission: str


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
    if value is None:
        return None
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        text = value.strip()
        if text in EXPIRY_PRESETS:
            seconds = EXPIRY_PRESETS[text]
            return None if seconds is None else now + timedelta(seconds=seconds)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(
                f"expires: expected one of {', '.join(EXPIRY_PRESETS)} or an ISO 8601 time"
                f" with a UTC offset, got {_shorten(value)}",
                field="expires",
            ) from None
    else:
        raise InvalidRequest(
            f"expires: expected a string, got {type(value).__name__}", field="expires"
        )
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidRequest(
            "expires: the time has no UTC offset (add 'Z' or '+01:00')", field="expires"
        )
    when = when.astimezone(timezone.utc)
    if when <= now:
        raise InvalidRequest("expires: the time must be in the future", field="expires")
    return when


class ShareService:
    """Conversations and their shares, over a :class:`~.store.Store`.

    Args:
        store: the store (SQLite through sqlite-utils, see ``core.store``).
        link_secret: server secret (bytes, >= 32) used to derive link tokens; kept outside
            the database. Changing it invalidates every link.
        clock: returns the current UTC time; injectable for tests. Public as
            ``service.clock`` (tests may replace it).
        allow_never: whether ``expires="never"`` is allowed (the server's
            ``allow_never_expires``); when ``False`` it is an ``InvalidRequest(field="expires")``.
        max_expires_seconds: longest allowed lifetime of a link from now, in seconds, or
            ``None`` for no cap; a later expiry (or never) is an
            ``InvalidRequest(field="expires")``.
        max_blob_bytes: largest attachment stored, in bytes (``None``: no limit); larger
            ones raise :class:`~.errors.TooLarge`.

    Raises:
        ValueError: ``link_secret`` shorter than 32 bytes, or a non-positive cap.
    """

    def __init__(
        self,
        store: Any,
        link_secret: bytes,
        clock: Callable[[], datetime] | None = None,
        *,
        allow_never: bool = True,
        max_expires_seconds: int | None = None,
        max_blob_bytes: int | None = DEFAULT_MAX_BLOB_BYTES,
    ) -> None:
        if not isinstance(link_secret, (bytes, bytearray)) or len(link_secret) < SECRET_BYTES:
            raise ValueError(f"link_secret must be at least {SECRET_BYTES} bytes")
        if max_expires_seconds is not None and max_expires_seconds <= 0:
            raise ValueError("max_expires_seconds must be positive")
        self.store = store
        self._secret = bytes(link_secret)
        self.clock: Callable[[], datetime] = clock or utcnow
        self.allow_never = allow_never
        self.max_expires_seconds = max_expires_seconds
        self.max_blob_bytes = max_blob_bytes
        self.principal_of: Callable[[str], access.Principal] | None = None
        """Who a user name is now (groups, admin flag), as the server's identity and group
        sources say; set by the server. A reshare's link works only while its creator
        may still read the share it came from (checked on every use of that link, not
        of other links). ``None`` (a store opened without a server, e.g. by the CLI):
        that check is skipped."""
        self.audit_listeners: list[Callable[[AuditEvent], None]] = []
        """Called with each :class:`AuditEvent` after its transaction committed (the
        server emits them as jupyter-server events); a failing listener is logged."""
        self._audit_local = threading.local()

    @classmethod
    def open(
        cls,
        store_dir: str | os.PathLike[str],
        *,
        clock: Callable[[], datetime] | None = None,
        allow_never: bool = True,
        max_expires_seconds: int | None = None,
        max_blob_bytes: int | None = DEFAULT_MAX_BLOB_BYTES,
    ) -> ShareService:
        """Open (creating on first use) the store in ``store_dir``.

        Creates the folder (mode ``0700``), ``convshare.db`` (SQLite, WAL, migrated),
        ``blobs/`` and the link secret file ``link_secret`` (32 random bytes, mode ``0600``,
        outside the database). Keyword arguments are those of :class:`ShareService`.

        Raises:
            OSError: the folder or secret cannot be created; StoreVersionError: the
                database is newer than this code.
        """
        directory = Path(store_dir)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = load_or_create_secret(directory / LINK_SECRET_FILE)
        return cls(
            SQLiteStore(directory),
            secret,
            clock,
            allow_never=allow_never,
            max_expires_seconds=max_expires_seconds,
            max_blob_bytes=max_blob_bytes,
        )

    def close(self) -> None:
        """Close the store's connections."""
        self.store.close()

    def __repr__(self) -> str:
        # Never shows the link secret.
        return f"<ShareService store={self.store!r}>"

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
        return self._write_conversation(owner, conversation, blobs, source_mtime, must_exist=False)

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
        if fresh.id != conversation_id:
            fresh = fresh.copy()
            fresh.id = conversation_id
        return self._write_conversation(owner, fresh, blobs, source_mtime, must_exist=True)

    def get_conversation(self, owner: str, conversation_id: str) -> Conversation:
        """The stored conversation. Raises NotFound."""
        with self.store.read() as session:
            record = session.get_conversation(owner, conversation_id)
            doc = session.get_conversation_doc(owner, conversation_id) if record else None
        if record is None or doc is None or not access.can_manage_conversation(owner, record):
            raise _conversation_not_found()
        return Conversation.from_dict(json.loads(doc))

    def get_conversation_info(self, owner: str, conversation_id: str) -> StoredConversation:
        """The stored conversation's metadata row. Raises NotFound."""
        with self.store.read() as session:
            record = session.get_conversation(owner, conversation_id)
        if record is None or not access.can_manage_conversation(owner, record):
            raise _conversation_not_found()
        return _stored(record)

    def list_conversations(self, owner: str) -> list[StoredConversation]:
        """``owner``'s conversations, most recently updated first."""
        with self.store.read() as session:
            return [_stored(r) for r in session.list_conversations(owner)]

    def find_conversation_by_path(self, owner: str, path: str) -> StoredConversation | None:
        """The conversation imported from ``path`` (relative to the Jupyter root), if any."""
        with self.store.read() as session:
            record = session.find_conversation_by_path(owner, path)
        return _stored(record) if record else None

    def update_conversation(
        self,
        owner: str,
        conversation_id: str,
        *,
        title: str | None = UNSET,
        tags: list[str] = UNSET,
    ) -> StoredConversation:
        """Rename (``title``; ``None`` clears it) and/or re-tag a stored conversation.

        One write transaction (version + 1, so live links show the new title on their next
        request); file-backed conversations too (a re-sync keeps a stored title). A title
        change is audited as ``conversation.renamed`` with the old and new title lengths in
        characters (never the titles). :data:`UNSET` leaves a field as it is; a request that
        changes nothing writes nothing.

        Raises:
            NotFound: no such conversation for ``owner``;
            InvalidRequest: ``title`` not a string or ``None``, ``tags`` not a list of strings.
        """
        if title is not UNSET and title is not None and not isinstance(title, str):
            raise InvalidRequest("title: expected a string or null", field="title")
        if tags is not UNSET and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            raise InvalidRequest("tags: expected a list of strings", field="tags")
        current = self.get_conversation(owner, conversation_id)
        renamed = title is not UNSET and title != current.title
        if not renamed and (tags is UNSET or list(tags) == current.tags):
            return self.get_conversation_info(owner, conversation_id)
        lengths: dict[str, Any] = {}

        def change(conversation: Conversation) -> Conversation:
            if renamed:
                lengths["old_length"] = len(conversation.title) if conversation.title is not None else None
                lengths["new_length"] = len(title) if title is not None else None
                conversation.title = title
            if tags is not UNSET:
                conversation.tags = list(tags)
            return conversation

        self._change_conversation(
            owner, conversation_id, change, file_edit=True, who=owner,
            action="conversation.renamed" if renamed else "", details=lambda _c: dict(lengths),
        )
        return self.get_conversation_info(owner, conversation_id)

    def delete_conversation(self, owner: str, conversation_id: str) -> None:
        """Delete a conversation: revokes all its shares and drops blobs nothing else uses.

        Raises NotFound.
        """
        with self._write() as tx:
            record = tx.get_conversation(owner, conversation_id)
            if record is None or not access.can_manage_conversation(owner, record):
                raise _conversation_not_found()
            revoked = [s.share_id for s in tx.list_shares(owner) if s.conversation_id == conversation_id]
            referenced = tx.delete_conversation(owner, conversation_id)
            self._audit(tx, owner, "conversation.deleted", owner, conversation_id=conversation_id,
                        details={"revoked_shares": revoked})
            for revoked_id in revoked:
                self._audit(tx, owner, "share.revoked", owner, share_id=revoked_id,
                            conversation_id=conversation_id, details={"reason": "conversation deleted"})
        # After the commit: the blobs are garbage only once no row points at them.
        self.store.collect_blobs(referenced)

    # -- owner edits and collaborators' messages (issue 3 items 3 and 4) ----------------

    def edit_message(self, owner: str, conversation_id: str, message_id: str, text: str) -> Message:
        """Replace the text of one message of a stored (non-file) conversation.

        The message keeps its id, parent and children; its parts become one markdown text
        part, ``edited=True`` and ``updated_at`` = now (UTC). Live links show the change on
        their next request (the conversation's version, part of the page cache key, grows).

        Raises:
            NotFound: no such conversation for ``owner`` or no such message.
            Conflict: (409) the conversation is a live file (edit the file instead), or the
                message was deleted.
            InvalidRequest/TooLarge: ``text`` not a string / over :data:`MAX_MESSAGE_CHARS`.
        """
        text = _message_text(text)
        now = self._now()

        def edit(conversation: Conversation) -> Message:
            message = _owned_message(conversation, message_id)
            if message.status == "deleted":
                raise Conflict("this message was deleted: it cannot be edited", field="message_id")
            message.parts = [Part(type="text", text=text, format="markdown")]
            message.edited = True
            message.updated_at = now
            return message

        return self._change_conversation(
            owner, conversation_id, edit, file_edit=False, who=owner, action="message.edited"
        )

    def delete_message(self, owner: str, conversation_id: str, message_id: str) -> Message:
        """Tombstone one message of a stored (non-file) conversation.

        Like a deleted jupyterlab-chat message: the message stays in the tree (its replies
        keep their parent) with ``status="deleted"``, no parts, no attachments, no mentions.
        Deleting a deleted message is a no-op that answers the tombstone.

        Raises:
            NotFound: no such conversation or message; Conflict: a live file conversation.
        """
        now = self._now()

        def delete(conversation: Conversation) -> Message:
            message = _owned_message(conversation, message_id)
            if message.status != "deleted":
                message.parts = []
                message.mentions = []
                message.status = "deleted"
                message.updated_at = now
            return message

        return self._change_conversation(
            owner, conversation_id, delete, file_edit=False, who=owner, action="message.deleted"
        )

    def add_collaborator_message(
        self,
        principal: access.PrincipalLike,
        share_id: str,
        text: str,
        parent_id: str | None = None,
        *,
        message_id: str | None = None,
    ) -> tuple[Share, Message]:
        """Add a user message by ``principal`` to the conversation a share shows.

        The author is the participant ``"remote:<name>"`` (kind ``human``, display name =
        the user name); the message replies to ``parent_id`` (default: the active leaf; a
        non-leaf parent starts a branch) and becomes the active leaf. It carries
        ``extra={"convshare": {"origin": "collaborator"}}`` and exists only in the store,
        so a re-sync of a live ``.chat`` source (merge by message id) keeps it.

        Args:
            principal: an authenticated user with a ``collaborate`` grant, the owner or an admin.
            share_id: the share.
            text: markdown, at most :data:`MAX_MESSAGE_CHARS` characters.
            parent_id: the message to reply to.
            message_id: the new message's id (default: a new UUID). The live-chat path
                passes the id the chat document gave the same message, so the next re-sync
                of the ``.chat`` file merges with it instead of adding a copy.

        Returns:
            ``(share, message)``.

        Raises:
            NotFound: (404) no access / no such share; Expired: (410) a grantee, expired share;
            Forbidden: (403) a view-only grantee or an anonymous visitor;
            Conflict: (409) a snapshot share ("snapshots are frozen");
            InvalidRequest: bad text or a ``parent_id`` that is not a string (``field="parent_id"``);
            NotFound: (404, ``field="parent_id"``) no such parent message, or (anyone but the
                owner) one the share's viewers do not see (:func:`~.redact.hidden_message_ids`).
        """
        p = access.as_principal(principal)
        if not p.authenticated or not p.name:
            raise Forbidden("log in to add messages to a shared conversation", field="share_id")
        # A cheap refusal first (no write lock for strangers); the decision that counts is
        # taken again inside the write transaction below.
        share, decision = self.access_to(p, share_id)
        access.require_collaborate(decision, share)
        text = _message_text(text)
        if parent_id is not None and not isinstance(parent_id, str):
            raise InvalidRequest("parent_id: expected a message id", field="parent_id")
        if message_id is not None and (not isinstance(message_id, str) or not message_id):
            raise InvalidRequest("message_id: expected a non-empty string", field="message_id")
        now = self._now()
        author = f"remote:{p.name}"
        decided: list[ShareRecord] = []

        def check(tx: StoreSession) -> None:
            # Re-read the share and its grants under the write lock: a grant removed (or a
            # share revoked, expired, frozen) since the check above lets nothing through.
            record, grants, parent, parent_grants = _share_facts(tx, share_id)
            access.decide_collaborate(
                p, record, grants, expired=_is_expired(record.expires_at, now),
                parent=parent, parent_grants=parent_grants,
            )
            decided.append(record)

        def add(conversation: Conversation) -> Message:
            # Anyone but the owner sees the viewer's copy: a message the share's choices
            # leave out does not exist for them, and naming one
            # answers exactly as an unknown id does (no oracle for excluded ids).
            hidden: set[str] = set()
            if p.name != share.owner:
                redaction = Redaction.from_stored(decided[-1].redaction) if decided else share.redaction
                hidden = hidden_message_ids(conversation, redaction)
            parent = parent_id if parent_id is not None else conversation.active_leaf_id
            if parent_id is None:
                # the viewer's active leaf: the nearest ancestor it shows
                while parent is not None and parent in hidden and parent in conversation.messages:
                    parent = conversation.messages[parent].parent_id
            if parent is not None and (parent not in conversation.messages or parent in hidden):
                raise NotFound(f"parent_id: no message {parent!r} in this conversation", field="parent_id")
            conversation.participants.setdefault(
                author, Participant(id=author, kind="human", display_name=p.name)
            )
            if message_id is not None and message_id in conversation.messages:
                raise Conflict(f"message_id: {message_id!r} already exists", field="message_id")
            message = Message(
                id=message_id if message_id is not None else new_id(),
                role="user",
                author_id=author,
                parts=[Part(type="text", text=text, format="markdown")],
                parent_id=parent,
                created_at=now,
                extra={"convshare": {"origin": "collaborator"}},
            )
            conversation.add_message(message)
            conversation.active_leaf_id = message.id
            conversation.active_leaf_inferred = False
            return message

        message = self._change_conversation(
            share.owner, share.conversation_id, add, file_edit=True,
            who=p, action="message.added", share_id=share.share_id, check=check,
        )
        return self._share(decided[0]), message

    def _change_conversation(
        self,
        owner: str,
        conversation_id: str,
        change: Callable[[Conversation], T],
        *,
        file_edit: bool,
        who: access.PrincipalLike,
        action: str,
        share_id: str | None = None,
        check: Callable[[StoreSession], None] | None = None,
        details: Callable[[T], dict[str, Any]] | None = None,
    ) -> T:
        """Apply ``change`` to the stored conversation in one write transaction (version + 1).

        ``file_edit=False`` refuses a file-backed conversation (Conflict, 409): its next
        re-sync would replace the edited message by the file's (merge by message id).
        ``check(tx)`` runs first inside the transaction (a permission decided on what the
        transaction reads) and raises to refuse. ``details(result)`` gives the audit
        details (default: the message id and parent of a :class:`Message` result).
        """
        with self._write() as tx:
            if check is not None:
                check(tx)
            record = tx.get_conversation(owner, conversation_id)
            doc = tx.get_conversation_doc(owner, conversation_id) if record else None
            if record is None or doc is None or not access.can_manage_conversation(owner, record):
                raise _conversation_not_found()
            if record.source_path and not file_edit:
                raise Conflict(
                    f"this conversation is the live file {record.source_path!r}: edit the file "
                    "in JupyterLab instead (the next re-read would undo this change)",
                    field="conversation_id",
                )
            conversation = Conversation.from_dict(json.loads(doc))
            result = change(conversation)
            message = result if isinstance(result, Message) else None
            if details is not None:
                audited = details(result)
            else:
                audited = {"message_id": message.id, "parent_id": message.parent_id} if message else {}
            if action:  # "": a change that is not audited (e.g. tags only)
                self._audit(tx, who, action, owner, share_id=share_id, conversation_id=conversation_id,
                            details=audited)
            now = self._now()
            tx.update_conversation(
                dataclasses.replace(
                    record,
                    version=record.version + 1,
                    message_count=len(conversation.messages),
                    title=conversation.title,
                    updated_at=_after(record.updated_at, now),
                ),
                _encode(conversation),
            )
        return result

    # -- shares -------------------------------------------------------------------------

    def create_share(
        self,
        owner: str,
        conversation_id: str,
        *,
        expires: str | datetime | None = DEFAULT_EXPIRES,
        mode: ShareMode = "live",
        link_enabled: bool = True,
        redaction: Any = None,
    ) -> tuple[Share, bool]:
        """Share a conversation; returns ``(share, created)``.

        ``redaction``: the owner's choices (a :class:`~.redact.Redaction` or a JSON object
        of some of its fields; ``None``: the defaults). Given for a conversation already
        shared, they are applied to the existing share (audited as ``share.updated``).

        ``link_enabled=False`` makes a share reachable through grants only (its link
        answers 404 until switched on), e.g. when a sharing policy forbids anonymous links.

        When the conversation already has a live (unexpired) share of ``owner``'s, that
        share is returned unchanged with ``created=False`` ("already shared shows the
        existing link"). An expired one is not handed back: it is deleted and a fresh
        share with a new link is created, in the same write transaction.

        Raises:
            NotFound: no such conversation; InvalidRequest: bad ``expires`` or ``mode``.
        """
        _check_mode(mode)
        now = self._now()
        expires_at = self._expiry(expires, now)
        share_id = new_share_id()
        nonce = new_nonce()
        lookup = lookup_key(derive_link(self._secret, share_id, nonce))
        chosen = Redaction().merged(redaction) if redaction is not None else None
        with self._write() as tx:
            conversation = tx.get_conversation(owner, conversation_id)
            if conversation is None or not access.can_manage_conversation(owner, conversation):
                raise _conversation_not_found()
            if chosen is not None:
                chosen.check_messages(_message_ids(tx, conversation))
            existing = tx.find_share(owner, conversation_id)
            while existing is not None and _is_expired(existing.expires_at, now):
                # A dead link is no answer to "share this": replace it (its link now 404s).
                tx.delete_share(existing.share_id)
                existing = tx.find_share(owner, conversation_id)
            if existing is not None:
                if chosen is not None and chosen != Redaction.from_stored(existing.redaction):
                    changes = {"redaction": chosen.to_stored(), "updated_at": _after(existing.updated_at, now)}
                    self._audit(tx, owner, "share.updated", existing.owner, share_id=existing.share_id,
                                conversation_id=conversation_id, details=_audit_changes(changes))
                    tx.update_share(existing.share_id, changes)
                    self._bound_children(tx, existing.share_id, changes, now)
                    existing = tx.get_share(existing.share_id)
                    assert existing is not None
                return self._share(existing), False
            tx.insert_share(
                ShareRecord(
                    share_id=share_id,
                    owner=owner,
                    conversation_id=conversation_id,
                    link_nonce=nonce,
                    link_lookup=lookup,
                    mode=mode,
                    expires_at=expires_at,
                    created_at=now,
                    updated_at=now,
                    snapshot_at=now if mode == "snapshot" else None,
                    view_count=0,
                    last_accessed_at=None,
                    link_enabled=bool(link_enabled),
                    redaction=chosen.to_stored() if chosen is not None else None,
                )
            )
            if mode == "snapshot":
                tx.freeze_snapshot(share_id)
            details: dict[str, Any] = {"mode": mode, "expires_at": format_time(expires_at)}
            if not link_enabled:
                details["link_enabled"] = False
            self._audit(tx, owner, "share.created", owner, share_id=share_id, conversation_id=conversation_id,
                        details=details)
            record = tx.get_share(share_id)
        assert record is not None
        return self._share(record), True

    def get_share(self, owner: access.PrincipalLike, share_id: str) -> Share:
        """One of ``owner``'s shares, or a reshare ``owner`` made. Raises NotFound, Forbidden."""
        with self.store.read() as session:
            record = self._managed(session, owner, share_id, ("read",))
        return self._share(record)

    def list_shares(self, owner: access.PrincipalLike) -> list[Share]:
        """``owner``'s shares (expired ones included) and the reshares ``owner`` made of
        others' shares (while they may still read the share it came from), newest first.

        A reshare is owned by its parent's owner (whose list shows it too); it is told
        apart by ``parent_share_id`` and ``created_by``.
        """
        p = access.as_principal(owner)
        with self.store.read() as session:
            records = [r for r in session.list_shares(p.name) if access.can_manage(p, r)]
            records += self._created_reshares(session, p)
        records.sort(key=lambda r: r.share_id)
        records.sort(key=lambda r: r.created_at, reverse=True)
        return [self._share(r) for r in records]

    def update_share(
        self,
        owner: str,
        share_id: str,
        *,
        expires: str | datetime | None = UNSET,
        mode: ShareMode = UNSET,
        link_enabled: bool = UNSET,
        allow_reshare: bool = UNSET,
        single_use: bool = UNSET,
        chat_posting: bool = UNSET,
        redaction: Any = UNSET,
    ) -> Share:
        """Change settings; :data:`UNSET` leaves a setting as it is.

        ``redaction`` (a :class:`~.redact.Redaction` or a JSON object of some of its
        fields, merged into the current choices) changes what anyone but the owner sees;
        an excluded message id must be a message of the conversation (live or frozen copy):
        InvalidRequest ``field="redaction.exclude_message_ids"`` otherwise. Reshares follow
        their parent's choices.

        Switching to ``"snapshot"`` freezes the current state; switching to ``"live"``
        drops the frozen copy. The link does not change. ``link_enabled=False`` makes the
        link answer 404 (like a revoked one) until it is switched on again; grants are
        unaffected. ``chat_posting`` lets collaborators' messages go into a live ``.chat``
        document (the server decides whether it is allowed at all). ``owner`` may be a :class:`~.access.Principal` (admins manage any share).

        The creator of a reshare may change its ``expires`` and ``link_enabled`` only. For
        anyone, a reshare stays within its parent: its expiry is capped at the parent's,
        its link stays off while the parent's is, and its mode follows the parent's.

        Raises:
            NotFound; Forbidden (a grantee; a reshare's creator changing another setting; a
            reshare's mode or its link while the parent's is off: ``field`` names it);
            Expired (a reshare's expiry while its parent has expired);
            InvalidRequest (bad value, ``field`` names it).
        """
        now = self._now()
        asked = tuple(
            name for name, value in (
                ("expires", expires), ("mode", mode), ("link_enabled", link_enabled),
                ("allow_reshare", allow_reshare), ("single_use", single_use), ("chat_posting", chat_posting),
                ("redaction", redaction),
            ) if value is not UNSET
        ) or ("read",)
        changes: dict[str, Any] = {}
        if expires is not UNSET:
            changes["expires_at"] = self._expiry(expires, now)
        if mode is not UNSET:
            _check_mode(mode)
        for key, value in (
            ("link_enabled", link_enabled),
            ("allow_reshare", allow_reshare),
            ("single_use", single_use),
            ("chat_posting", chat_posting),
        ):
            if value is not UNSET:
                if not isinstance(value, bool):
                    raise InvalidRequest(f"{key}: expected true or false", field=key)
                changes[key] = int(value)
        with self._write() as tx:
            record = self._managed(tx, owner, share_id, asked)
            if redaction is not UNSET:
                chosen = Redaction.from_stored(record.redaction).merged(redaction)
                chosen.check_messages(_message_ids(tx, record))
                if chosen != Redaction.from_stored(record.redaction) or record.redaction is None:
                    changes["redaction"] = chosen.to_stored()
            parent = tx.get_share(record.parent_share_id) if record.parent_share_id else None
            if parent is not None:
                bounded = access.bound_reshare_change(
                    record, parent, now=now,
                    expires_at=changes.get("expires_at", access.KEEP),
                    link_enabled=link_enabled if link_enabled is not UNSET else None,
                    mode=mode if mode is not UNSET else None,
                )
                if bounded is not access.KEEP:
                    changes["expires_at"] = bounded
            if changes.get("single_use") and not record.single_use:
                changes["claimed_by"] = None  # switched on: the next opener claims it
            if mode is not UNSET and mode != record.mode:
                changes["mode"] = mode
                if mode == "snapshot":
                    tx.freeze_snapshot(share_id)
                    changes["snapshot_at"] = _after(record.snapshot_at, now)
                else:
                    tx.delete_snapshot(share_id)
                    changes["snapshot_at"] = None
            if changes:
                self._audit(tx, owner, "share.updated", record.owner, share_id=share_id,
                            conversation_id=record.conversation_id, details=_audit_changes(changes))
                changes["updated_at"] = _after(record.updated_at, now)
                tx.update_share(share_id, changes)
                self._bound_children(tx, share_id, changes, now)
            record = self._managed(tx, owner, share_id, asked)
        return self._share(record)

    def _bound_children(
        self, tx: StoreSession, share_id: str, changes: dict[str, Any], now: datetime
    ) -> None:
        """Keep the reshares of ``share_id`` within it after ``changes`` (one transaction):
        no reshare once it is off, no link once the parent's is off, never a later expiry."""
        if changes.get("allow_reshare") == 0:
            for child in tx.list_children(share_id):
                tx.delete_share(child.share_id)
            return
        for child in tx.list_children(share_id):
            child_changes: dict[str, Any] = {}
            if "mode" in changes and child.mode != changes["mode"]:
                # a live reshare of a frozen parent would show more than the parent does
                child_changes["mode"] = changes["mode"]
                child_changes["snapshot_at"] = changes.get("snapshot_at")
                if changes["mode"] == "snapshot":
                    tx.copy_snapshot(share_id, child.share_id)
                else:
                    tx.delete_snapshot(child.share_id)
            if "redaction" in changes and child.redaction != changes["redaction"]:
                child_changes["redaction"] = changes["redaction"]
            if "link_enabled" in changes and child.link_enabled != bool(changes["link_enabled"]):
                child_changes["link_enabled"] = changes["link_enabled"]
            if "expires_at" in changes:
                limit = changes["expires_at"]
                if limit is not None and (child.expires_at is None or child.expires_at > limit):
                    child_changes["expires_at"] = limit
            if child_changes:
                child_changes["updated_at"] = _after(child.updated_at, now)
                tx.update_share(child.share_id, child_changes)

    def update_snapshot(self, owner: str, share_id: str) -> Share:
        """Re-freeze a snapshot share at the conversation's current state (same link).

        Raises:
            NotFound; InvalidRequest (``field="mode"``) when the share is live.
        """
        now = self._now()
        with self._write() as tx:
            record = self._managed(tx, owner, share_id, ("snapshot",))
            if record.mode != "snapshot":
                raise InvalidRequest(
                    "mode: this share is live; only a snapshot share can be updated",
                    field="mode",
                )
            tx.freeze_snapshot(share_id)
            self._audit(tx, owner, "share.snapshot", record.owner, share_id=share_id,
                        conversation_id=record.conversation_id)
            tx.update_share(
                share_id,
                {
                    "snapshot_at": _after(record.snapshot_at, now),
                    "updated_at": _after(record.updated_at, now),
                },
            )
            record = self._managed(tx, owner, share_id, ("snapshot",))
        return self._share(record)

    def rotate_link(self, owner: access.PrincipalLike, share_id: str) -> Share:
        """Give the share a new link; the old one answers 404 from now on (a single-use
        link is unclaimed again). The owner, an admin or the reshare's creator.
        Raises NotFound, Forbidden (a grantee)."""
        now = self._now()
        nonce = new_nonce()
        lookup = lookup_key(derive_link(self._secret, share_id, nonce))
        with self._write() as tx:
            record = self._managed(tx, owner, share_id, ("rotate",))
            # the new link is never recorded: the log is no secret store
            self._audit(tx, owner, "share.rotated", record.owner, share_id=share_id,
                        conversation_id=record.conversation_id)
            tx.update_share(
                share_id,
                {
                    "link_nonce": nonce,
                    "link_lookup": lookup,
                    "claimed_by": None,  # a new single-use link waits for its own first opener
                    "updated_at": _after(record.updated_at, now),
                },
            )
            record = self._managed(tx, owner, share_id, ("rotate",))
        return self._share(record)

    def revoke(self, owner: access.PrincipalLike, share_id: str) -> None:
        """Delete the share; its link answers 404 at once. The owner, an admin or the
        reshare's creator. Raises NotFound, Forbidden (a grantee)."""
        with self._write() as tx:
            record = self._managed(tx, owner, share_id, ("revoke",))
            self._audit(tx, owner, "share.revoked", record.owner, share_id=share_id,
                        conversation_id=record.conversation_id,
                        details={"reshares": [c.share_id for c in tx.list_children(share_id)]})
            tx.delete_share(share_id)

    def revoke_all(self, owner: access.PrincipalLike) -> int:
        """Delete every share of ``owner`` and the reshares ``owner`` made (what
        :meth:`list_shares` lists); returns how many were deleted."""
        p = access.as_principal(owner)
        with self._write() as tx:
            for record in tx.list_shares(p.name):
                self._audit(tx, p, "share.revoked_all", p.name, share_id=record.share_id,
                            conversation_id=record.conversation_id)
            count = tx.delete_shares_of_owner(p.name)
            for record in self._created_reshares(tx, p):
                self._audit(tx, p, "share.revoked_all", record.owner, share_id=record.share_id,
                            conversation_id=record.conversation_id)
                count += int(tx.delete_share(record.share_id))
            return count

    def prune_expired(self) -> int:
        """Delete every expired share (all owners; ``jupyter convshare prune``).

        Their links then answer 404 instead of 410. Returns how many were deleted.
        """
        now = self._now()
        with self.store.write() as tx:
            return tx.delete_expired_shares(now)

    def resolve(self, link: str, *, count_view: bool = True) -> ResolvedShare:
        """Find what a link shows (the link check and the decoded conversation).

        Compares secrets in constant time; never logs ``link``. With ``count_view`` the
        share's ``view_count`` and ``last_accessed_at`` are updated. Decoding a large
        conversation costs milliseconds: a viewer that caches pages calls
        :meth:`resolve_share` first and this (or :meth:`load_shared_conversation`) only
        on a cache miss.

        Raises:
            NotFound: unknown, rotated-away, revoked or deleted link (indistinguishable).
            Expired: the share exists but has expired.
        """
        now = self._now()
        row = self._check_link(link, now, with_doc=True)
        if row.doc is None:
            raise _link_not_found()
        share = self._link_share(row, link)
        if count_view:
            share = self._count_view(share, now)
        return ResolvedShare(
            share=share,
            conversation=Conversation.from_dict(json.loads(row.doc)),
            cache_key=_cache_key(row),
        )

    def resolve_share(self, link: str, *, count_view: bool = True) -> tuple[Share, str]:
        """Check a link like :meth:`resolve`, without loading the conversation.

        For a viewer that caches rendered pages: decoding a large conversation costs
        milliseconds, checking the link tens of microseconds (one indexed ``SELECT``
        outside any transaction, one HMAC, no document read). On a cache miss, call
        :meth:`load_shared_conversation`, whose key goes with the content it returns.

        Returns:
            ``(share, cache_key)`` (the same key :meth:`resolve` would give now).

        Raises:
            NotFound; Expired (as :meth:`resolve`).
        """
        now = self._now()
        row = self._check_link(link, now)
        share = self._link_share(row, link)
        if count_view:
            share = self._count_view(share, now)
        return share, _cache_key(row)

    def load_shared_conversation(self, share: Share) -> tuple[Conversation, str]:
        """What a share shows now (live: current; snapshot: frozen copy), with its cache key.

        Args:
            share: a share from :meth:`resolve_share` (its ``link`` is checked again, so a
                share revoked, rotated or expired meanwhile is refused).

        Returns:
            ``(conversation, cache_key)`` read by one statement (consistent together).

        Raises:
            NotFound; Expired (as :meth:`resolve`).
        """
        resolved = self.resolve(share.link, count_view=False)
        return resolved.conversation, resolved.cache_key

    def record_views(self, views: Mapping[str, tuple[int, datetime]]) -> int:
        """Add views counted elsewhere (e.g. batched in memory by a server) in one short write.

        Args:
            views: ``{share_id: (number of views, UTC time of the last one)}``. Shares
                revoked meanwhile are skipped; ``last_accessed_at`` never moves back.

        Returns:
            How many of the views were recorded (those of existing shares).
        """
        if not views:
            return 0
        recorded = 0
        with self.store.write() as tx:
            for share_id, (count, at) in views.items():
                if count > 0 and tx.record_view(share_id, at, count) is not None:
                    recorded += count
        return recorded

    # -- grants (issue 3) ---------------------------------------------------------------

    def list_grants(self, principal: access.PrincipalLike, share_id: str) -> list[Grant]:
        """The share's grants, oldest first (owner or admin only).

        Raises:
            NotFound (not visible to ``principal``); Forbidden (a grantee).
        """
        with self.store.read() as session:
            self._managed(session, principal, share_id, ("grants",))
            return [_grant(r) for r in session.list_grants(share_id)]

    def add_grant(
        self,
        principal: access.PrincipalLike,
        share_id: str,
        principal_type: str,
        name: str | None,
        permission: str,
    ) -> tuple[Grant, bool]:
        """Grant ``permission`` on a share to the organization, a group or a user.

        An existing grant for the same principal is updated instead; returns
        ``(grant, created)``. Group names are not checked here (the server checks them
        against its group source).

        Args:
            principal: who asks (owner or admin).
            share_id: the share.
            principal_type: ``"organization"`` (``name`` must be ``None`` or empty),
                ``"group"`` or ``"user"`` (``name`` required).
            name: the group or user name.
            permission: ``"view"`` or ``"collaborate"``.

        Raises:
            InvalidRequest (``principal_type`` / ``principal`` / ``permission``);
            NotFound; Forbidden (a grantee).
        """
        key = _grant_principal(principal_type, name)
        _check_permission(permission)
        now = self._now()
        with self._write() as tx:
            share = self._managed(tx, principal, share_id, ("grants",))
            existing = tx.find_grant(share_id, principal_type, key)
            if existing is not None:
                if existing.permission != permission:
                    tx.update_grant(existing.grant_id, permission, _after(existing.updated_at, now))
                    self._audit(tx, principal, "grant.changed", share.owner, share_id=share_id,
                                conversation_id=share.conversation_id,
                                details=_audit_grant(existing, permission, existing.permission))
                record = tx.find_grant(share_id, principal_type, key)
                assert record is not None
                return _grant(record), False
            record = GrantRecord(
                grant_id=new_share_id(),
                share_id=share_id,
                principal_type=principal_type,
                principal=key,
                permission=permission,
                created_at=now,
                updated_at=now,
            )
            tx.insert_grant(record)
            self._audit(tx, principal, "grant.added", share.owner, share_id=share_id,
                        conversation_id=share.conversation_id, details=_audit_grant(record, permission))
        return _grant(record), True

    def update_grant(
        self, principal: access.PrincipalLike, share_id: str, grant_id: str, permission: str
    ) -> Grant:
        """Change a grant's permission. Raises InvalidRequest, NotFound, Forbidden."""
        _check_permission(permission)
        now = self._now()
        with self._write() as tx:
            share = self._managed(tx, principal, share_id, ("grants",))
            record = _find_grant(tx, share_id, grant_id)
            if record.permission != permission:
                tx.update_grant(grant_id, permission, _after(record.updated_at, now))
                self._audit(tx, principal, "grant.changed", share.owner, share_id=share_id,
                            conversation_id=share.conversation_id,
                            details=_audit_grant(record, permission, record.permission))
                record = _find_grant(tx, share_id, grant_id)
        return _grant(record)

    def remove_grant(self, principal: access.PrincipalLike, share_id: str, grant_id: str) -> None:
        """Delete a grant; its holders lose access on their next request.

        Raises NotFound, Forbidden.
        """
        with self._write() as tx:
            share = self._managed(tx, principal, share_id, ("grants",))
            record = _find_grant(tx, share_id, grant_id)
            tx.delete_grant(grant_id)
            self._audit(tx, principal, "grant.removed", share.owner, share_id=share_id,
                        conversation_id=share.conversation_id, details=_audit_grant(record, record.permission))

    def reshare(
        self,
        principal: access.PrincipalLike,
        share_id: str,
        *,
        expires: str | datetime | None = DEFAULT_EXPIRES,
    ) -> Share:
        """Make ``principal``'s own link of a share granted to them (issue 3 item 6).

        The reshare is a read-only link of the same conversation (same mode; a snapshot
        share's frozen copy is copied), owned by the share's owner and recorded as
        ``created_by`` the principal. It never outlives its parent (its expiry is capped at
        the parent's), never gives more (a plain view link; no reshare, no grants of its
        own), has its link off while the parent's is off, and dies with it (revoke, delete,
        reshare switched off).

        Raises:
            NotFound: no such share or no access; Expired: the share has expired;
            Forbidden: resharing is off for this share, or its link is off;
            InvalidRequest: bad ``expires``.
        """
        p = access.as_principal(principal)
        now = self._now()
        requested = self._expiry(expires, now)
        child_id = new_share_id()
        nonce = new_nonce()
        lookup = lookup_key(derive_link(self._secret, child_id, nonce))
        with self._write() as tx:
            parent, grants, grandparent, grandparent_grants = _share_facts(tx, share_id)
            access.decide_reshare(
                p, parent, grants, expired=_is_expired(parent.expires_at, now),
                parent=grandparent, parent_grants=grandparent_grants,
            )
            expires_at = requested
            if parent.expires_at is not None and (expires_at is None or expires_at > parent.expires_at):
                expires_at = parent.expires_at
            tx.insert_share(
                ShareRecord(
                    share_id=child_id,
                    owner=parent.owner,
                    conversation_id=parent.conversation_id,
                    link_nonce=nonce,
                    link_lookup=lookup,
                    mode=parent.mode,
                    expires_at=expires_at,
                    created_at=now,
                    updated_at=now,
                    snapshot_at=parent.snapshot_at,
                    view_count=0,
                    last_accessed_at=None,
                    link_enabled=True,
                    allow_reshare=False,
                    single_use=False,
                    parent_share_id=parent.share_id,
                    created_by=p.name,
                    redaction=parent.redaction,  # never shows more than its parent
                )
            )
            if parent.mode == "snapshot":
                tx.copy_snapshot(parent.share_id, child_id)
            # logged on the parent: its owner sees who reshared it
            self._audit(tx, p, "share.reshared", parent.owner, share_id=parent.share_id,
                        conversation_id=parent.conversation_id,
                        details={"reshare_id": child_id, "expires_at": format_time(expires_at)})
            record = tx.get_share(child_id)
        assert record is not None
        return self._share(record)

    def claim_link(self, share: Share, claimant: str) -> Share:
        """Let ``claimant`` open a share's link, claiming it first when it is single-use.

        For the viewer, after the link check (:meth:`resolve_share` /
        ``ConvShareApp.check_link``) and before serving anything of the link. A share that
        is not single-use is returned as it is (no write). The first claimant of a
        single-use link claims it (one short write); the same claimant is let in again;
        anyone else gets the same :class:`~.errors.NotFound` as an unknown link.

        Args:
            share: the share of the checked link (its ``single_use``/``claimed_by`` as read).
            claimant: a stable id of the opener: ``"user:<name>"`` for a logged-in user, or
                ``"browser:<sha256 hex of a random cookie>"`` for an anonymous browser
                (never the raw cookie: the store is not a secret store).

        Raises:
            NotFound: claimed by someone else, or the share is gone.
            InvalidRequest: empty ``claimant``.
        """
        if not share.single_use:
            return share
        if not isinstance(claimant, str) or not claimant:
            raise InvalidRequest("claimant: expected a non-empty string", field="claimant")
        holder: str | None
        if share.claimed_by is not None:
            holder = share.claimed_by
        else:
            with self._write() as tx:
                holder = tx.claim_share(share.share_id, claimant)
                if holder == claimant:
                    # who: the user name, never a browser's id (it is derived from a cookie)
                    kind, _, name = claimant.partition(":")
                    self._audit(tx, name if kind == "user" else "anonymous", "link.claimed", share.owner,
                                share_id=share.share_id, conversation_id=share.conversation_id,
                                details={"by": "user" if kind == "user" else "browser"})
        if holder is None or not access.may_open_claimed(holder, claimant):
            raise _link_not_found()
        return dataclasses.replace(share, claimed_by=holder)

    def access_to(
        self, principal: access.PrincipalLike, share_id: str, *, settings: bool = False
    ) -> tuple[Share, str]:
        """A share as ``principal`` may read it: ``(share, access)``.

        ``access`` is ``"manage"`` (owner/admin, expired shares included), ``"creator"``
        (the reshare's creator), ``"collaborate"`` or ``"view"`` (:func:`.access.decide_read`).
        With ``settings`` (reading the share's settings, not its conversation) the creator
        of a reshare reads it even once expired, as the owner does.

        Raises:
            NotFound: no such share, or no grant for ``principal``.
            Expired: a grantee (or, without ``settings``, a reshare's creator) asking for an
                expired share.
        """
        now = self._now()
        with self.store.read() as session:
            record, grants, parent, parent_grants = _share_facts(session, share_id)
        decision = access.decide_read(
            principal, record, grants, expired=_is_expired(record.expires_at, now),
            parent=parent, parent_grants=parent_grants, settings=settings,
        )
        return self._share(record), decision

    def read_shared(self, principal: access.PrincipalLike, share_id: str) -> tuple[Share, str, Conversation]:
        """What a share shows (live: current; snapshot: frozen copy), read as ``principal``.

        Returns ``(share, access, conversation)``; the caller redacts it
        (:meth:`viewer_copy`, with the share's choices) for anyone but its owner.

        Raises:
            NotFound; Expired (as :meth:`access_to`).
        """
        share, decision = self.access_to(principal, share_id)
        with self.store.read() as session:
            doc = session.get_share_doc(share_id)
        if doc is None:
            raise NotFound("no such share", field="share_id")
        return share, decision, Conversation.from_dict(json.loads(doc))

    def viewer_copy(self, share: Share, conversation: Conversation) -> Conversation:
        """What anyone but the owner sees of ``conversation`` through ``share``: the ONE
        redaction every route applies (viewer page, files, ZIP, every export, grantee
        routes, REST reads, library items): ``core.redact.viewer_copy`` with the share's
        :attr:`Share.redaction`, reading text attachments' stored bytes (a text attachment
        holding a masked secret is withheld)."""
        return viewer_copy(conversation, share.redaction, read_attachment=blob_reader(self.blob_path))

    def scan(self, conversation: Conversation, redaction: Redaction | None = None) -> list[Finding]:
        """Secrets and personal data in ``conversation`` (``core.redact.find_sensitive``,
        stored text attachments included); ``hidden`` says what ``redaction`` hides."""
        return find_sensitive(conversation, read_attachment=blob_reader(self.blob_path), redaction=redaction)

    def findings(self, principal: access.PrincipalLike, share_id: str) -> tuple[Share, list[Finding]]:
        """``(share, findings)``: what :meth:`scan` finds in what the share shows (live:
        current; snapshot: frozen copy), judged with the share's choices. For the owner or
        an admin only (a grantee: Forbidden; anyone else: NotFound).

        Raises:
            NotFound; Forbidden (``field="redaction"``).
        """
        with self.store.read() as session:
            record = self._managed(session, principal, share_id, ("redaction",))
            doc = session.get_share_doc(share_id)
        if doc is None:
            raise NotFound("no such share", field="share_id")
        share = self._share(record)
        return share, self.scan(Conversation.from_dict(json.loads(doc)), share.redaction)

    def shared_with(self, principal: access.PrincipalLike) -> list[SharedItem]:
        """Unexpired shares of others granted to ``principal`` (organization, its groups,
        itself), newest change first, one item per share with the best permission."""
        p = access.as_principal(principal)
        if not p.authenticated or not p.name:
            return []
        now = self._now()
        with self.store.read() as session:
            rows = session.list_granted(p.name, p.groups)
        by_share: dict[str, tuple[ShareRecord, list[GrantRecord]]] = {}
        for record, grant in rows:
            by_share.setdefault(record.share_id, (record, []))[1].append(grant)
        items = []
        for record, grants in by_share.values():
            if record.owner == p.name or _is_expired(record.expires_at, now):
                continue
            permission = access.granted_permission(p, grants)
            if permission is not None:
                items.append(SharedItem(share=self._share(record), permission=permission))
        return items

    def now(self) -> datetime:
        """The service clock's current time (aware UTC), e.g. to time a view counted later.

        Raises:
            ValueError: the clock returned a naive datetime.
        """
        return self._now()

    def blob_path(self, sha256: str) -> str:
        """Absolute path of a stored blob's file. Raises NotFound when it is absent."""
        try:
            path = self.store.blob_path(sha256)
        except ValueError:
            raise NotFound("no such file", field="sha256") from None
        if not path.is_file():
            raise NotFound("no such file", field="sha256")
        return os.path.abspath(path)


    # -- internals ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[StoreSession]:
        """A store write transaction whose audit events reach :attr:`audit_listeners`
        once it has committed (never for a rolled-back one)."""
        stack = getattr(self._audit_local, "stack", None)
        if stack is None:
            stack = self._audit_local.stack = []
        events: list[AuditEvent] = []
        stack.append(events)
        try:
            with self.store.write() as tx:
                yield tx
        finally:
            stack.pop()
        for event in events:
            for listener in list(self.audit_listeners):
                try:
                    listener(event)
                except Exception:  # an audit sink must never undo a committed change
                    _log.exception("convshare: audit listener failed for %s", event.action)

    def _audit(
        self,
        tx: StoreSession,
        who: access.PrincipalLike,
        action: str,
        owner: str,
        *,
        share_id: str | None = None,
        conversation_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record an audit row in ``tx`` (inside :meth:`_write`)."""
        name = who if isinstance(who, str) else access.as_principal(who).name
        record = AuditRecord(
            at=self._now(),
            who=name or "anonymous",
            action=action,
            owner=owner,
            share_id=share_id,
            conversation_id=conversation_id,
            details=details or {},
        )
        event_id = tx.insert_audit(record)
        stack = getattr(self._audit_local, "stack", None)
        if stack:
            stack[-1].append(_audit_event(dataclasses.replace(record, event_id=event_id)))

    def list_audit(self, principal: access.PrincipalLike, share_id: str) -> list[AuditEvent]:
        """A share's audit events, newest first (owner or admin): its own events and the
        owner's edits of its conversation (at most 1000).

        Raises:
            NotFound (not visible to ``principal``); Forbidden (a grantee).
        """
        with self.store.read() as session:
            record = self._managed(session, principal, share_id, ("audit",))
            rows = session.list_audit(share_id, record.owner, record.conversation_id)
        return [_audit_event(r) for r in rows]

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is timezone.utc:  # the usual clock (utcnow): nothing to check or convert
            return now
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("ShareService.clock must return an aware datetime")
        return now.astimezone(timezone.utc)

    def _expiry(self, value: str | datetime | None, now: datetime) -> datetime | None:
        """:func:`parse_expires` plus this server's policy (never allowed? lifetime cap?)."""
        expires_at = parse_expires(value, now)
        if expires_at is None and not self.allow_never:
            raise InvalidRequest(
                "expires: links must expire on this server ('never' is not allowed)",
                field="expires",
            )
        if self.max_expires_seconds is not None:
            limit = now + timedelta(seconds=self.max_expires_seconds)
            if expires_at is None or expires_at > limit:
                raise InvalidRequest(
                    f"expires: links may last at most {_duration(self.max_expires_seconds)}"
                    " on this server",
                    field="expires",
                )
        return expires_at

    def _share(self, record: ShareRecord) -> Share:
        return Share(
            share_id=record.share_id,
            link=derive_link(self._secret, record.share_id, record.link_nonce),
            conversation_id=record.conversation_id,
            owner=record.owner,
            mode=record.mode,  # type: ignore[arg-type]
            expires_at=record.expires_at,
            created_at=record.created_at,
            updated_at=record.updated_at,
            snapshot_at=record.snapshot_at,
            view_count=record.view_count,
            last_accessed_at=record.last_accessed_at,
            title=record.title,
            link_enabled=record.link_enabled,
            allow_reshare=record.allow_reshare,
            single_use=record.single_use,
            parent_share_id=record.parent_share_id,
            created_by=record.created_by,
            claimed_by=record.claimed_by,
            chat_posting=record.chat_posting,
            redaction=Redaction.from_stored(record.redaction),
        )

    def _managed(
        self,
        session: StoreSession,
        owner: access.PrincipalLike,
        share_id: str,
        actions: tuple[str, ...] = ("manage",),
    ) -> ShareRecord:
        """The share if ``owner`` may do ``actions`` with it (:func:`.access.decide_manage`:
        the owner or an admin; the creator of a reshare for :data:`.access.CREATOR_ACTIONS`).

        Raises NotFound (no existence oracle) or Forbidden (a grantee; a reshare's creator
        asking for more).
        """
        record = session.get_share(share_id) if isinstance(share_id, str) else None
        if record is None:
            raise NotFound("no such share", field="share_id")
        if not access.can_manage(owner, record):
            _record, grants, parent, parent_grants = _share_facts(session, share_id)
            access.decide_manage(
                owner, record, grants, actions=actions, parent=parent, parent_grants=parent_grants
            )
        return record

    def _created_reshares(self, session: StoreSession, principal: access.Principal) -> list[ShareRecord]:
        """Reshares of other owners' shares that ``principal`` made and still manages
        (:func:`.access.is_reshare_creator`: they may still read the parent)."""
        if not principal.authenticated or not principal.name:
            return []
        parents: dict[str, tuple[ShareRecord, list[GrantRecord]]] = {}
        for parent, grant in session.list_granted(principal.name, principal.groups):
            parents.setdefault(parent.share_id, (parent, []))[1].append(grant)
        found = []
        for parent, grants in parents.values():
            if parent.owner == principal.name:
                continue  # the owner's list has them already
            for child in session.list_children(parent.share_id):
                if access.is_reshare_creator(principal, child, parent, grants):
                    found.append(child)
        return found

    def _check_link(self, link: str, now: datetime, *, with_doc: bool = False) -> LinkRow:
        """The row a link opens (see :meth:`Store.lookup_link`); NotFound / Expired."""
        # Cheap shape check first: garbage never reaches the database.
        if not isinstance(link, str) or not _LINK_RE.fullmatch(link):
            raise _link_not_found()
        row = self.store.lookup_link(lookup_key(link), with_doc=with_doc)
        # The stored hash matched; the HMAC check proves the link was minted with this
        # server's secret for this share's current nonce (a forged row does not pass).
        if row is None or not verify(self._secret, row.share_id, row.link_nonce, link):
            raise _link_not_found()
        expires_at = parse_stored_time(row.expires_at)
        if not access.can_view_by_link(share_expired=_is_expired(expires_at, now)):
            raise Expired("this link has expired: ask the person who shared it for a new link")
        if row.parent_share_id is not None and self.principal_of is not None:
            self._check_reshare_creator(row.parent_share_id, row.created_by)
        return row

    def _check_reshare_creator(self, parent_share_id: str, created_by: str | None) -> None:
        """NotFound (the unknown-link answer) when a reshare's creator may no longer read
        the share it came from (grant removed or lowered to nothing, left the group): a
        reshare never gives more than its creator has (DESIGN.md section 4)."""
        assert self.principal_of is not None
        if not created_by:
            raise _link_not_found()
        with self.store.read() as session:
            parent = session.get_share(parent_share_id)
            grants = session.list_grants(parent_share_id) if parent is not None else []
        if parent is None:
            raise _link_not_found()
        try:
            # expiry is the reshare's own check (capped at the parent's); this is about access
            access.decide_read(self.principal_of(created_by), parent, grants, expired=False)
        except NotFound:
            raise _link_not_found() from None

    def _link_share(self, row: LinkRow, link: str) -> Share:
        """The :class:`Share` of a checked row; ``link`` was verified to be its current link
        (so it is not derived a second time)."""
        return Share(
            share_id=row.share_id,
            link=link,
            conversation_id=row.conversation_id,
            owner=row.owner,
            mode=row.mode,  # type: ignore[arg-type]
            expires_at=parse_stored_time(row.expires_at),
            created_at=parse_stored_time(row.created_at),  # type: ignore[arg-type]
            updated_at=parse_stored_time(row.updated_at),  # type: ignore[arg-type]
            snapshot_at=parse_stored_time(row.snapshot_at),
            view_count=row.view_count,
            last_accessed_at=parse_stored_time(row.last_accessed_at),
            title=row.title,
            single_use=bool(row.single_use),
            claimed_by=row.claimed_by,
            redaction=Redaction.from_stored(row.redaction),
        )

    def _count_view(self, share: Share, now: datetime) -> Share:
        """One short write: ``view_count + 1`` and ``last_accessed_at = now``."""
        with self.store.write() as tx:
            count = tx.record_view(share.share_id, now)
        if count is None:  # revoked between the check and the count
            raise _link_not_found()
        return dataclasses.replace(share, view_count=count, last_accessed_at=now)

    def _store_blobs(
        self, conversation: Conversation, blobs: dict[str, bytes] | None
    ) -> tuple[dict[str, int], dict[str, bytes], list[str]]:
        """Check, then write, the blobs of ``conversation`` (before any transaction).

        Marks the attachments available with size and sha256 (on ``conversation``, which
        is the service's private copy).

        Returns:
            ``({sha256: size}, {sha256: bytes}, [sha256 of files this call created])``.
        """
        if not blobs:
            return {}, {}, []
        for attachment_id, data in blobs.items():
            field = f"attachments.{attachment_id}"
            attachment = conversation.attachments.get(attachment_id)
            if attachment is None:
                raise InvalidRequest(
                    f"{field}: the conversation has no attachment with this id", field=field
                )
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise InvalidRequest(f"{field}: expected bytes", field=field)
            if self.max_blob_bytes is not None and len(data) > self.max_blob_bytes:
                raise TooLarge(
                    f"{field}: {attachment.name!r} is {len(data)} bytes; the limit is"
                    f" {self.max_blob_bytes} bytes",
                    field=field,
                )
        refs: dict[str, int] = {}
        contents: dict[str, bytes] = {}
        created: list[str] = []
        try:
            for attachment_id, data in blobs.items():
                data = bytes(data)
                sha, new = self.store.put_blob(data)
                if new:
                    created.append(sha)
                refs[sha] = len(data)
                contents[sha] = data
                attachment = conversation.attachments[attachment_id]
                attachment.sha256 = sha
                attachment.size_bytes = len(data)
                attachment.available = True
        except BaseException:
            self.store.collect_blobs(created)
            raise
        return refs, contents, created

    def _write_conversation(
        self,
        owner: str,
        conversation: Conversation,
        blobs: dict[str, bytes] | None,
        source_mtime: float | None,
        *,
        must_exist: bool,
    ) -> StoredConversation:
        """Insert or merge ``conversation``: optimistic read-merge, then one short write.

        The stored document is read and merged outside the write lock; the write
        transaction checks that the row did not change meanwhile (version and creation
        time) and retries the merge otherwise.
        """
        if not isinstance(owner, str) or not owner:
            raise InvalidRequest("owner: empty", field="owner")
        if not isinstance(conversation.id, str) or not conversation.id.strip():
            raise InvalidRequest("id: the conversation id is empty", field="id")
        incoming = conversation.copy()  # never mutate the caller's object
        refs, contents, created = self._store_blobs(incoming, blobs)
        try:
            stored = self._merge_and_write(owner, incoming, refs, source_mtime, must_exist)
        except BaseException:
            # Rolled back: drop the files this call wrote that nothing references.
            self.store.collect_blobs(created)
            raise
        # A concurrent delete may have collected a file we skipped writing because it
        # existed; our committed reference now protects it, so put it back.
        for sha, data in contents.items():
            if not self.store.has_blob(sha):
                self.store.put_blob(data)
        return stored

    def _merge_and_write(
        self,
        owner: str,
        incoming: Conversation,
        refs: dict[str, int],
        source_mtime: float | None,
        must_exist: bool,
    ) -> StoredConversation:
        cid = incoming.id
        for _attempt in range(8):
            with self.store.read() as session:
                before = session.get_conversation(owner, cid)
                old_doc = session.get_conversation_doc(owner, cid) if before else None
            if before is None and must_exist:
                raise _conversation_not_found()
            if before is not None and old_doc is not None:
                old = Conversation.from_dict(json.loads(old_doc))
                if must_exist or before.source_path or incoming.source.path:
                    # sync: a re-read source; save: the caller's edit (e.g. a rename) wins.
                    result = merge_conversations(old, incoming, keep_stored_title=must_exist)
                else:
                    result = incoming
                    _carry_attachments(old, result)
            else:
                result = incoming
            doc = _encode(result)
            changed = doc != old_doc
            now = self._now()
            with self.store.write() as tx:
                current = tx.get_conversation(owner, cid)
                if _row_token(current) != _row_token(before):
                    continue  # changed under us: merge again from the new state
                if current is None:
                    record = ConversationRecord(
                        owner=owner,
                        id=cid,
                        title=result.title,
                        version=1,
                        message_count=len(result.messages),
                        source_format=result.source.format,
                        source_path=result.source.path,
                        source_mtime=source_mtime,
                        created_at=now,
                        updated_at=now,
                    )
                    tx.insert_conversation(record, doc)
                else:
                    record = dataclasses.replace(
                        current,
                        title=result.title,
                        version=current.version + 1 if changed else current.version,
                        message_count=len(result.messages),
                        source_format=result.source.format,
                        source_path=result.source.path,
                        source_mtime=(
                            source_mtime if source_mtime is not None else current.source_mtime
                        ),
                        updated_at=_after(current.updated_at, now) if changed else current.updated_at,
                    )
                    tx.update_conversation(record, doc if changed else None)
                if refs:
                    tx.add_conversation_blobs(owner, cid, refs)
            return _stored(record)
        raise Conflict(
            "the conversation kept changing while it was being saved; try again", field="id"
        )


class ViewCounter:
    """Page views counted in memory and written in batches (a server's viewer).

    Why: a view count is a write, and an SQLite write can wait up to a second for the
    lock under contention (DESIGN.md section 9); one write per page view also caps a
    classroom burst at the database's commit rate. Counting in memory costs a dict update;
    :meth:`flush` then writes every pending count in one short ``BEGIN IMMEDIATE``
    transaction (:meth:`ShareService.record_views`). A server flushes about once a
    second, before the owner reads view counts, and when it stops, so no view is lost.

    Thread-safe: :meth:`add` may run on the event loop while :meth:`flush` runs in a
    worker thread; a failed flush puts its counts back for the next one.

    Args:
        service: the service whose store receives the counts.
    """

    def __init__(self, service: ShareService) -> None:
        self._service = service
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: dict[str, tuple[int, datetime]] = {}

    def add(self, share_id: str, at: datetime) -> None:
        """Count one view of ``share_id`` at ``at`` (aware UTC); written by the next flush."""
        with self._lock:
            count, last = self._pending.get(share_id, (0, at))
            self._pending[share_id] = (count + 1, at if at > last else last)

    @property
    def pending(self) -> int:
        """Views counted but not yet written."""
        with self._lock:
            return sum(count for count, _ in self._pending.values())

    def flush(self) -> int:
        """Write every pending count in one transaction (blocking: call it in a thread).

        Returns:
            How many views were recorded (views of shares revoked meanwhile are dropped).

        Raises:
            sqlite3.Error: the write failed; the counts are kept for the next flush.
        """
        with self._flush_lock:  # one writer at a time: counts are never written twice
            with self._lock:
                batch, self._pending = self._pending, {}
            if not batch:
                return 0
            try:
                return self._service.record_views(batch)
            except BaseException:
                with self._lock:
                    for share_id, (count, at) in batch.items():
                        more, last = self._pending.get(share_id, (0, at))
                        self._pending[share_id] = (count + more, last if last > at else at)
                raise


# -- merging ---------------------------------------------------------------------------------


def merge_conversations(
    stored: Conversation, fresh: Conversation, *, keep_stored_title: bool = False
) -> Conversation:
    """Merge a re-read source (``fresh``) into the stored conversation, by message id.

    * messages in ``fresh`` replace the stored ones with the same id, in source order;
    * stored messages absent from ``fresh`` (added in the store, e.g. by collaborators,
      or removed from the source) are kept, under their parent, after the source's
      replies; they are never deleted;
    * participants and attachments only in the store are kept; an attachment present in
      both keeps its stored bytes (``sha256``, ``size_bytes``, ``available``) when the
      fresh copy has none and names the same file;
    * title, metadata and source come from ``fresh`` (falling back to the stored values
      when ``fresh`` has none); the active leaf is ``fresh``'s, unless the stored one
      continues below it (then the stored one is kept).

    Args:
        stored, fresh: conversations with the same id; neither is modified.
        keep_stored_title: keep the stored title when it is set (a re-read source file:
            its title is the file name, so an owner's rename must survive the re-sync).

    Returns:
        A new :class:`Conversation`.
    """
    merged = fresh.copy()
    kept_from = stored.copy()
    for pid, participant in kept_from.participants.items():
        merged.participants.setdefault(pid, participant)
    kept = [m for mid, m in kept_from.messages.items() if mid not in merged.messages]
    for message in kept:
        message.children_ids = []
        merged.messages[message.id] = message
    for message in kept:
        parent = merged.messages.get(message.parent_id) if message.parent_id else None
        if parent is None:
            message.parent_id = None
            merged.root_ids.append(message.id)
        elif message.id not in parent.children_ids:
            parent.children_ids.append(message.id)
    for attachment_id, attachment in kept_from.attachments.items():
        merged.attachments.setdefault(attachment_id, attachment)
    _carry_attachments(kept_from, merged)
    stored_leaf = kept_from.active_leaf_id
    if stored_leaf in merged.messages and (
        merged.active_leaf_id not in merged.messages
        or _descends_from(merged, stored_leaf, merged.active_leaf_id)
    ):
        # The stored default path continues the source's (e.g. a collaborator replied to
        # the last message): keep showing it until the source moves on.
        merged.active_leaf_id = stored_leaf
    if merged.title is None or (keep_stored_title and kept_from.title):
        merged.title = kept_from.title
    if merged.created_at is None:
        merged.created_at = kept_from.created_at
    if merged.source.path is None:
        merged.source.path = kept_from.source.path
    return merged


def _descends_from(conversation: Conversation, message_id: str | None, ancestor: str | None) -> bool:
    """``True`` when ``ancestor`` is on the path from the root to ``message_id``."""
    if message_id is None or ancestor is None:
        return False
    try:
        return any(m.id == ancestor for m in conversation.path_to(message_id))
    except (KeyError, ValueError):
        return False


def _carry_attachments(stored: Conversation, target: Conversation) -> None:
    """Keep stored bytes for attachments of ``target`` that name the same file but have none."""
    for attachment_id, new in target.attachments.items():
        old = stored.attachments.get(attachment_id)
        if old is None or new is old or new.available or not old.available or not old.sha256:
            continue
        if (new.uri, new.name) != (old.uri, old.name):
            continue
        _copy_bytes_fields(old, new)


def _copy_bytes_fields(source: Attachment, target: Attachment) -> None:
    target.sha256 = source.sha256
    target.size_bytes = source.size_bytes
    target.available = source.available
    if target.mime_type is None:
        target.mime_type = source.mime_type


# -- small helpers ---------------------------------------------------------------------------


def _encode(conversation: Conversation) -> str:
    # Canonical text, so "changed?" is a string comparison with the stored document.
    return json.dumps(
        conversation.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )


def _row_token(record: ConversationRecord | None) -> tuple[Any, ...] | None:
    if record is None:
        return None
    return (record.version, record.created_at, record.updated_at, record.source_mtime)


def _stored(record: ConversationRecord) -> StoredConversation:
    return StoredConversation(
        id=record.id,
        owner=record.owner,
        title=record.title,
        version=record.version,
        message_count=record.message_count,
        source_format=record.source_format,
        source_path=record.source_path,
        source_mtime=record.source_mtime,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _after(previous: datetime | None, now: datetime) -> datetime:
    """``now``, or one microsecond after ``previous`` when the clock has not moved past it.

    Keeps ``updated_at`` / ``snapshot_at`` strictly increasing (they are part of the
    cache key) even with a frozen test clock or a clock step backwards.
    """
    if previous is not None and now <= previous:
        return previous + timedelta(microseconds=1)
    return now


def _is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and now >= expires_at


def _cache_key(row: LinkRow) -> str:
    """Changes whenever the page changes: share settings, snapshot, or conversation version.

    Built from the stored text as it is (no time formatting, no hashing): the share id
    fixes the conversation; the conversation's version and creation time change with its
    content (or its replacement); the share's ``updated_at`` changes with its settings
    (expiry, mode, rotation) and ``snapshot_at`` with its frozen copy.
    """
    if row.mode == "snapshot":
        return f"snapshot:{row.share_id}:{row.snapshot_at}:{row.updated_at}"
    return (
        f"live:{row.share_id}:{row.conversation_created_at}:{row.conversation_version}"
        f":{row.updated_at}"
    )


def _check_mode(mode: Any) -> None:
    if mode not in _MODES:
        raise InvalidRequest(
            f"mode: expected 'live' or 'snapshot', got {_shorten(mode)}", field="mode"
        )


def _shorten(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _duration(seconds: int) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} seconds"


def _grant(record: GrantRecord) -> Grant:
    return Grant(
        grant_id=record.grant_id,
        share_id=record.share_id,
        principal_type=record.principal_type,
        principal=record.principal or None,
        permission=record.permission,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _grant_principal(principal_type: Any, name: Any) -> str:
    """The stored ``principal`` of a grant (``""`` for the organization); InvalidRequest."""
    if principal_type not in access.PRINCIPAL_TYPES:
        raise InvalidRequest(
            f"principal_type: expected one of {list(access.PRINCIPAL_TYPES)}, got {_shorten(principal_type)}",
            field="principal_type",
        )
    if principal_type == "organization":
        if name not in (None, ""):
            raise InvalidRequest(
                "principal: must be null for the organization", field="principal"
            )
        return ""
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise InvalidRequest(
            f"principal: expected a {principal_type} name", field="principal"
        )
    return name


def _check_permission(permission: Any) -> None:
    if permission not in access.PERMISSIONS:
        raise InvalidRequest(
            f"permission: expected one of {list(access.PERMISSIONS)}, got {_shorten(permission)}",
            field="permission",
        )


def _share_facts(
    session: StoreSession, share_id: Any
) -> tuple[ShareRecord, list[GrantRecord], ShareRecord | None, list[GrantRecord]]:
    """What a permission decision needs, read in ``session``: ``(share, its grants, its
    parent or None, the parent's grants)``. Raises NotFound (no such share)."""
    record = session.get_share(share_id) if isinstance(share_id, str) else None
    if record is None:
        raise NotFound("no such share", field="share_id")
    grants = session.list_grants(share_id)
    parent = session.get_share(record.parent_share_id) if record.parent_share_id else None
    parent_grants = session.list_grants(parent.share_id) if parent is not None else []
    return record, grants, parent, parent_grants


def _find_grant(session: StoreSession, share_id: str, grant_id: str) -> GrantRecord:
    for record in session.list_grants(share_id):
        if record.grant_id == grant_id:
            return record
    raise NotFound("no such grant", field="grant_id")


def _conversation_not_found() -> NotFound:
    return NotFound("no such conversation", field="conversation_id")


def _link_not_found() -> NotFound:
    # One message for unknown, rotated, revoked and deleted: no oracle.
    return NotFound("this link does not exist or is no longer shared")


MAX_MESSAGE_CHARS = 100_000
"""The longest text (characters) an owner edit or a collaborator's message may have."""


def _message_text(text: Any) -> str:
    """Check a message text: a non-blank string of at most :data:`MAX_MESSAGE_CHARS`."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("text: expected a non-empty string", field="text")
    if len(text) > MAX_MESSAGE_CHARS:
        raise TooLarge(f"text: longer than {MAX_MESSAGE_CHARS} characters", field="text")
    return text


def _owned_message(conversation: Conversation, message_id: Any) -> Message:
    """The message ``message_id`` of ``conversation``. Raises NotFound."""
    message = conversation.messages.get(message_id) if isinstance(message_id, str) else None
    if message is None:
        raise NotFound("no such message in this conversation", field="message_id")
    return message


def _audit_event(record: AuditRecord) -> AuditEvent:
    return AuditEvent(
        event_id=record.event_id or 0,
        at=record.at,
        who=record.who,
        action=record.action,
        owner=record.owner,
        share_id=record.share_id,
        conversation_id=record.conversation_id,
        details=record.details,
    )


_AUDITED_SETTINGS = ("expires_at", "mode", "link_enabled", "allow_reshare", "single_use", "chat_posting", "redaction")


def _audit_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The new share settings of an update, as JSON (never the link nonce or lookup)."""
    out: dict[str, Any] = {}
    for key in _AUDITED_SETTINGS:
        if key in changes:
            value = changes[key]
            if key == "expires_at":
                value = format_time(value)
            elif key == "redaction":
                value = Redaction.from_stored(value).to_json()  # message ids and switches, no content
            elif key != "mode":
                value = bool(value)
            out[key] = value
    return out


def _message_ids(tx: StoreSession, record: Any) -> set[str]:
    """Ids of the messages a share (a :class:`ShareRecord`) or a conversation (a
    :class:`ConversationRecord`) can show: the stored conversation's and, for a snapshot
    share, its frozen copy's."""
    if isinstance(record, ShareRecord):
        owner, conversation_id = record.owner, record.conversation_id
        snapshot = tx.get_snapshot(record.share_id) if record.mode == "snapshot" else None
    else:
        owner, conversation_id, snapshot = record.owner, record.id, None
    ids: set[str] = set()
    for doc in (tx.get_conversation_doc(owner, conversation_id), snapshot):
        if doc:
            ids.update(Conversation.from_dict(json.loads(doc)).messages)
    return ids


def _audit_grant(record: GrantRecord, permission: str, previous: str | None = None) -> dict[str, Any]:
    """A grant's audit details: ``grant_id``, ``principal_type``, ``principal``, ``permission``
    (and ``previous`` permission on a change)."""
    out: dict[str, Any] = {
        "grant_id": record.grant_id,
        "principal_type": record.principal_type,
        "principal": record.principal or None,
        "permission": permission,
    }
    if previous is not None:
        out["previous"] = previous
    return out
