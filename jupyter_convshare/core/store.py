"""The store: conversations, shares and snapshots in SQLite, attachment bytes on disk.

DESIGN.md section 6. :class:`Store` is the protocol :class:`~.shares.ShareService` needs;
:class:`SQLiteStore` implements it with sqlite-utils over one ``sqlite3`` connection per
thread (server handlers call the service from a thread pool) and per process.

Rules this module keeps:

* Connections use ``isolation_level=None`` (no implicit transactions) and the PRAGMAs
  ``busy_timeout=5000`` (ms), ``journal_mode=WAL``, ``foreign_keys=ON``,
  ``synchronous=NORMAL``.
* Every write is one short ``BEGIN IMMEDIATE`` transaction (:meth:`SQLiteStore.write`);
  SQL takes parameters only; JSON encoding and blob file writes happen before it.
* Schema changes are a numbered list (:data:`MIGRATIONS`) applied under ``BEGIN
  IMMEDIATE`` and recorded in ``PRAGMA user_version``, so two server processes that start
  together apply each one exactly once.
* Blobs live in ``blobs/<sha[:2]>/<sha>``, written to a temporary file and
  ``os.replace``-d *before* the transaction that references them. Unreferenced blobs are
  collected after the transaction that dropped their last reference commits.

Times are stored as ISO 8601 UTC text with microseconds (``format_time``), which sorts
like the times themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import json
import re
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Protocol

import sqlite_utils
from sqlite_utils.db import ForeignKey

from .model import format_time, parse_time

DB_FILE = "convshare.db"
"""File name of the SQLite database inside the store folder."""

BLOBS_DIR = "blobs"
"""Folder (inside the store folder) of the content-addressed attachment bytes."""

BUSY_TIMEOUT_MS = 5000
"""How long a connection waits for another writer's lock, in milliseconds."""

_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def default_store_dir() -> Path:
    """The default store folder: ``jupyter_data_dir()/convshare`` (may not exist yet)."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "convshare"


class StoreVersionError(RuntimeError):
    """The database was written by a newer jupyter-convshare (unknown schema version)."""


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationRecord:
    """A ``conversations`` row without its document.

    Attributes:
        owner, id: the primary key (ids are unique per owner).
        title: title or ``None``.
        version: increases by one on every change of the document.
        message_count: number of messages, all branches.
        source_format: importer name.
        source_path: root-relative path of a file-backed source, or ``None``.
        source_mtime: source file modification time (epoch seconds) at last sync.
        created_at, updated_at: UTC.
    """

    owner: str
    id: str
    title: str | None
    version: int
    message_count: int
    source_format: str
    source_path: str | None
    source_mtime: float | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ShareRecord:
    """A ``shares`` row (plus the conversation's title, for listings).

    Attributes:
        share_id: public id (primary key).
        owner, conversation_id: the shared conversation (foreign key, cascade delete).
        link_nonce: the nonce the link is derived from (bytes; see ``core.tokens``).
        link_lookup: SHA-256 hex of the current link (unique index).
        mode: ``"live"`` or ``"snapshot"``.
        expires_at: UTC or ``None`` (never).
        created_at, updated_at: UTC.
        snapshot_at: UTC time of the frozen copy, or ``None``.
        view_count: viewer page views.
        last_accessed_at: UTC or ``None``.
        title: the conversation's title.
        link_enabled: anyone with the link may view (migration 2).
        allow_reshare: grantees may create their own link (migration 2).
        single_use: the first opener claims the link (migration 2).
        parent_share_id: the share a reshare came from, or ``None`` (migration 2).
        claimed_by: who claimed a single-use link, or ``None`` (migration 2).
        created_by: the grantee who made a reshare, or ``None`` (migration 3).
        chat_posting: collaborators' messages go into the live ``.chat`` document, where
            Jupyter AI personas answer them (migration 5; off by default).
        redaction: the owner's redaction choices as JSON text
            (``core.redact.Redaction.to_stored``), or ``None`` for the defaults
            (``_migration_redaction``).
    """

    share_id: str
    owner: str
    conversation_id: str
    link_nonce: bytes
    link_lookup: str
    mode: str
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    snapshot_at: datetime | None
    view_count: int
    last_accessed_at: datetime | None
    title: str | None = None
    link_enabled: bool = True
    allow_reshare: bool = False
    single_use: bool = False
    parent_share_id: str | None = None
    claimed_by: str | None = None
    created_by: str | None = None
    chat_posting: bool = False
    redaction: str | None = None


@dataclass(frozen=True)
class GrantRecord:
    """A ``grants`` row (migration 2).

    Attributes:
        grant_id: primary key.
        share_id: the share it belongs to (cascade delete).
        principal_type: ``"organization"``, ``"group"`` or ``"user"``.
        principal: group or user name; ``""`` for the organization.
        permission: ``"view"`` or ``"collaborate"``.
        created_at, updated_at: UTC.
    """

    grant_id: str
    share_id: str
    principal_type: str
    principal: str
    permission: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AuditRecord:
    """One audit row (table ``audit``, migration 4).

    ``at`` is an aware UTC datetime; ``details`` a JSON-able dict; ``owner`` the owner of
    the share or conversation named (whose log it is); ``event_id`` is ``None`` before insert.
    """

    at: datetime
    who: str
    action: str
    owner: str
    share_id: str | None
    conversation_id: str | None
    details: dict[str, Any]
    event_id: int | None = None


@dataclass(frozen=True)
class LibraryRecord:
    """One ``library`` row (migrations 6 and 7): an item of one user's library.

    Attributes:
        item_id: primary key (public, not secret).
        user: whose library it is.
        share_id: the share of this server the item follows, or ``None`` for a copy.
        conversation_id: for a copy, the conversation (owned by ``user``) it was imported
            as; ``None`` for an item that follows a share.
        origin: ``"this server"``, or the other server's origin
            ``"scheme://host[:port]/base/"`` (never a link).
        origin_title: the title when it was saved (shown once the share is gone).
        name: the user's own name for it (rename), or ``None``.
        tags: the user's tags (a list of strings; stored as JSON text).
        archived: hidden from the default listing.
        saved_at, updated_at: UTC.
        link_lookup: for an item saved from a link, a SHA-256 hex of that link (the same
            key ``shares.link_lookup`` holds for a link of this server; for another
            server's link, a domain-separated hash): the item follows the link only while
            it is still the share's link; ``None`` for an item saved through a grant.
            Never the link itself (migration 7).
    """

    item_id: str
    user: str
    share_id: str | None
    conversation_id: str | None
    origin: str
    origin_title: str | None
    name: str | None
    tags: tuple[str, ...]
    archived: bool
    saved_at: datetime
    updated_at: datetime
    link_lookup: str | None = None


@dataclass(frozen=True)
class ShareQuery:
    """Filters and page of an admin's listing of every share (:meth:`StoreSession.search_shares`).

    ``None`` means "any". Times are aware UTC; a share that never expires counts as
    expiring after any time. ``text`` matches the conversation's title (case-insensitive
    substring). ``limit`` rows from ``offset``, newest first.
    """

    owner: str | None = None
    group: str | None = None
    mode: str | None = None
    state: str | None = None  # "active" | "expired" (at ``now``)
    link_enabled: bool | None = None
    reshare: bool | None = None
    text: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    expires_after: datetime | None = None
    expires_before: datetime | None = None
    limit: int = 50
    offset: int = 0


class LinkRow(NamedTuple):
    """What one link check reads: a share joined with its conversation's row.

    Returned by :meth:`Store.lookup_link`. Times are the stored ISO 8601 UTC text
    (``format_time``: ``2030-01-02T03:04:05.000006Z``), not parsed: the viewer's link check
    is on every page view, and its caller parses only what it uses.

    Attributes:
        share_id, owner, conversation_id, link_nonce, mode, view_count: as in
            :class:`ShareRecord`.
        expires_at, created_at, updated_at, snapshot_at, last_accessed_at: the share's
            times (text or ``None``).
        title: the conversation's title.
        conversation_version: the conversation's ``version``.
        conversation_created_at: the conversation's ``created_at`` (text).
        single_use, claimed_by: the share's single-use flag (0/1) and claimant.
        parent_share_id, created_by: for a reshare, the share it came from and the grantee
            who made it (``None`` otherwise).
        redaction: the share's redaction choices (JSON text) or ``None`` (defaults).
        doc: the document JSON text the share shows (live: the conversation's; snapshot:
            the frozen copy; ``None`` when that is missing) with ``with_doc=True``,
            else ``None``.
    """

    share_id: str
    owner: str
    conversation_id: str
    link_nonce: bytes
    mode: str
    expires_at: str | None
    created_at: str
    updated_at: str
    snapshot_at: str | None
    view_count: int
    last_accessed_at: str | None
    title: str | None
    conversation_version: int
    conversation_created_at: str
    single_use: int
    claimed_by: str | None
    parent_share_id: str | None
    created_by: str | None
    redaction: str | None
    doc: str | None


# -- protocol -----------------------------------------------------------------------------


class StoreSession(Protocol):
    """Reads and writes inside one transaction (see :meth:`Store.read` / :meth:`Store.write`).

    Documents (``doc``) are convshare/1 JSON text, encoded and decoded by the caller
    outside the transaction. Write methods may only be called in a write session.
    """

    # conversations
    def get_conversation(self, owner: str, conversation_id: str) -> ConversationRecord | None:
        """The row, or ``None``."""

    def get_conversation_doc(self, owner: str, conversation_id: str) -> str | None:
        """The document JSON text, or ``None``."""

    def list_conversations(self, owner: str) -> list[ConversationRecord]:
        """``owner``'s rows, most recently updated first."""

    def find_conversation_by_path(self, owner: str, path: str) -> ConversationRecord | None:
        """The most recently updated row whose ``source_path`` is ``path``, or ``None``."""

    def insert_conversation(self, record: ConversationRecord, doc: str) -> None:
        """Insert a new row (the key must be free)."""

    def update_conversation(self, record: ConversationRecord, doc: str | None) -> None:
        """Overwrite the row's columns (and document unless ``doc`` is ``None``)."""

    def delete_conversation(self, owner: str, conversation_id: str) -> list[str]:
        """Delete the row, its shares and snapshots; returns the sha256s it referenced."""

    def add_conversation_blobs(
        self, owner: str, conversation_id: str, blobs: dict[str, int]
    ) -> None:
        """Record that the conversation references blobs ``{sha256: size in bytes}``."""

    # shares
    def get_share(self, share_id: str) -> ShareRecord | None:
        """The share, or ``None``."""

    def get_share_by_lookup(self, link_lookup: str) -> ShareRecord | None:
        """The share whose current link hashes to ``link_lookup``, or ``None``."""

    def find_share(self, owner: str, conversation_id: str) -> ShareRecord | None:
        """The oldest share of the conversation, or ``None``."""

    def list_shares(self, owner: str) -> list[ShareRecord]:
        """``owner``'s shares, newest first, with conversation titles."""

    def insert_share(self, record: ShareRecord) -> None:
        """Insert a share."""

    def update_share(self, share_id: str, changes: dict[str, Any]) -> None:
        """Set columns of a share (``ShareRecord`` attribute names; datetimes allowed)."""

    def delete_share(self, share_id: str) -> bool:
        """Delete a share (and its snapshot); ``True`` when it existed."""

    def delete_shares_of_owner(self, owner: str) -> int:
        """Delete every share of ``owner``; returns how many."""

    def delete_expired_shares(self, now: datetime) -> int:
        """Delete every share with ``expires_at <= now``; returns how many."""

    def record_view(self, share_id: str, at: datetime, count: int = 1) -> int | None:
        """Add ``count`` views; ``last_accessed_at`` becomes ``at`` unless it is already later.

        Returns the new count (``None``: no such share, e.g. revoked meanwhile).
        """

    # snapshots
    def list_children(self, share_id: str) -> list[ShareRecord]:
        """The reshares of ``share_id`` (``parent_share_id`` is it), oldest first."""

    def claim_share(self, share_id: str, claimant: str) -> str | None:
        """Claim a single-use share for ``claimant`` if unclaimed; who holds it now (``None``: gone)."""

    def copy_snapshot(self, from_share_id: str, to_share_id: str) -> None:
        """Copy one share's frozen document to another share."""

    def get_share_doc(self, share_id: str) -> str | None:
        """The document a share shows (live: the conversation's; snapshot: the frozen copy)."""

    def list_grants(self, share_id: str) -> list[GrantRecord]:
        """The share's grants, oldest first."""

    def find_grant(self, share_id: str, principal_type: str, principal: str) -> GrantRecord | None:
        """The share's grant for one principal (``""`` for the organization), or ``None``."""

    def insert_grant(self, record: GrantRecord) -> None:
        """Add a grant."""

    def update_grant(self, grant_id: str, permission: str, updated_at: datetime) -> None:
        """Change a grant's permission."""

    def delete_grant(self, grant_id: str) -> bool:
        """Delete a grant; ``True`` if it existed."""

    def list_granted(self, user: str, groups: Iterable[str]) -> list[tuple[ShareRecord, GrantRecord]]:
        """``(share, grant)`` pairs of every grant for the organization, ``user`` or one of
        ``groups``, newest share change first."""

    def get_snapshot(self, share_id: str) -> str | None:
        """The frozen document JSON text, or ``None``."""

    def freeze_snapshot(self, share_id: str) -> None:
        """Copy the conversation's current document into the share's snapshot."""

    def delete_snapshot(self, share_id: str) -> None:
        """Drop the share's snapshot, if any."""

    def insert_audit(self, record: AuditRecord) -> int:
        """Append an audit row; returns its ``event_id``."""

    def list_audit(
        self, share_id: str, owner: str, conversation_id: str, limit: int = 1000
    ) -> list[AuditRecord]:
        """Audit rows of a share, plus the owner's edits of its conversation (rows naming
        the conversation and no share), newest first, at most ``limit``."""

    # library (migrations 6 and 7)
    def list_library(self, user: str) -> list[LibraryRecord]:
        """``user``'s library rows, most recently saved first."""

    def get_library_item(self, user: str, item_id: str) -> LibraryRecord | None:
        """One of ``user``'s rows, or ``None``."""

    def find_library_share(self, user: str, share_id: str) -> LibraryRecord | None:
        """``user``'s row that follows ``share_id``, or ``None``."""

    def find_library_link(self, user: str, link_lookup: str) -> LibraryRecord | None:
        """``user``'s row saved from the link whose lookup key is ``link_lookup``, or ``None``."""

    def insert_library_item(self, record: LibraryRecord) -> None:
        """Insert a row (the ``(user, share_id)`` pair must be free)."""

    def update_library_item(self, user: str, item_id: str, changes: dict[str, Any]) -> None:
        """Set columns of a row: ``name``, ``tags`` (list), ``archived`` (bool),
        ``link_lookup``, ``updated_at`` (datetime)."""

    def delete_library_item(self, user: str, item_id: str) -> bool:
        """Delete a row; ``True`` when it existed."""

    # admin and policies (_migration_policies)
    def search_shares(self, query: ShareQuery, now: datetime) -> tuple[list[ShareRecord], int]:
        """Every owner's shares matching ``query`` (``state`` judged at ``now``):
        ``(one page, newest first; the total number matching)``."""

    def list_shares_created_by(self, user: str) -> list[ShareRecord]:
        """The reshares ``user`` made (``created_by``), of any owner's shares."""

    def list_revocations(self, owner: str | None, limit: int, offset: int) -> tuple[list[AuditRecord], int]:
        """Audit rows of revoked shares (``share.revoked``, ``share.revoked_all``) of
        ``owner`` (``None``: everyone's), newest first: ``(one page, total)``."""

    def get_policies(self, user: str, groups: Iterable[str]) -> list[dict[str, Any]]:
        """Stored policies of ``user`` and of ``groups``: rows ``{"scope", "name",
        "policy" (JSON text), "updated_at" (text), "updated_by"}``."""

    def list_policies(self) -> list[dict[str, Any]]:
        """Every stored policy row (as :meth:`get_policies`), groups first, by name."""

    def put_policy(self, scope: str, name: str, policy: str, updated_at: str, updated_by: str) -> None:
        """Insert or replace the policy of a ``"group"`` or ``"user"``."""

    def delete_policy(self, scope: str, name: str) -> bool:
        """Delete a stored policy; ``True`` when it existed."""


class Store(Protocol):
    """What :class:`~.shares.ShareService` needs from a store (SQLite here; PostgreSQL later)."""

    def read(self) -> contextlib.AbstractContextManager[StoreSession]:
        """A consistent read-only session."""

    def write(self) -> contextlib.AbstractContextManager[StoreSession]:
        """One short write transaction: committed on exit, rolled back on any exception."""

    def lookup_link(self, link_lookup: str, *, with_doc: bool = False) -> LinkRow | None:
        """The share whose current link hashes to ``link_lookup``, with its conversation's
        row (and the document it shows with ``with_doc``), read by one statement outside
        any transaction; ``None`` when there is none."""

    def put_blob(self, data: bytes) -> tuple[str, bool]:
        """Store bytes content-addressed; returns ``(sha256 hex, newly created)``."""

    def has_blob(self, sha256: str) -> bool:
        """``True`` when the blob's file exists."""

    def blob_path(self, sha256: str) -> Path:
        """The file of a blob (may not exist). Raises ValueError for a malformed digest."""

    def collect_blobs(self, candidates: Iterable[str]) -> list[str]:
        """Delete the candidates that no conversation references; returns those deleted."""

    def close(self) -> None:
        """Release connections."""


# -- migrations ---------------------------------------------------------------------------


def _migration_1_initial(db: sqlite_utils.Database) -> None:
    db.table("conversations").create(
        {
            "owner": str,
            "id": str,
            "title": str,
            "version": int,
            "message_count": int,
            "source_format": str,
            "source_path": str,
            "source_mtime": float,
            "created_at": str,
            "updated_at": str,
            "doc": str,
        },
        pk=("owner", "id"),
        not_null={"version", "message_count", "source_format", "created_at", "updated_at", "doc"},
    )
    db.table("conversations").create_index(["owner", "updated_at"])
    db.table("conversations").create_index(["owner", "source_path"])
    db.table("shares").create(
        {
            "share_id": str,
            "owner": str,
            "conversation_id": str,
            "link_nonce": bytes,
            "link_lookup": str,
            "mode": str,
            "expires_at": str,
            "created_at": str,
            "updated_at": str,
            "snapshot_at": str,
            "view_count": int,
            "last_accessed_at": str,
        },
        pk="share_id",
        not_null={
            "owner",
            "conversation_id",
            "link_nonce",
            "link_lookup",
            "mode",
            "created_at",
            "updated_at",
            "view_count",
        },
        defaults={"view_count": 0},
        foreign_keys=[
            ForeignKey(
                "shares",
                None,
                "conversations",
                None,
                columns=("owner", "conversation_id"),
                other_columns=("owner", "id"),
                is_compound=True,
                on_delete="CASCADE",
            )
        ],
    )
    db.table("shares").create_index(["link_lookup"], unique=True)
    db.table("shares").create_index(["owner", "created_at"])
    db.table("shares").create_index(["owner", "conversation_id"])
    db.table("snapshots").create(
        {"share_id": str, "doc": str},
        pk="share_id",
        not_null={"doc"},
        foreign_keys=[
            ForeignKey("snapshots", "share_id", "shares", "share_id", on_delete="CASCADE")
        ],
    )
    db.table("blobs").create({"sha256": str, "size": int}, pk="sha256", not_null={"size"})
    db.table("conversation_blobs").create(
        {"owner": str, "conversation_id": str, "sha256": str},
        pk=("owner", "conversation_id", "sha256"),
        foreign_keys=[
            ForeignKey(
                "conversation_blobs",
                None,
                "conversations",
                None,
                columns=("owner", "conversation_id"),
                other_columns=("owner", "id"),
                is_compound=True,
                on_delete="CASCADE",
            ),
            ForeignKey("conversation_blobs", "sha256", "blobs", "sha256"),
        ],
    )
    db.table("conversation_blobs").create_index(["sha256"])


def _migration_2_grants(db: sqlite_utils.Database) -> None:
    """Issue 3: link on/off, reshare and single-use settings per share, and grants.

    ``shares`` gains ``link_enabled`` (1: anyone with the link may view), ``allow_reshare``,
    ``single_use``, ``parent_share_id`` (a reshare's parent) and ``claimed_by`` (who claimed
    a single-use link). ``grants`` holds ``view`` / ``collaborate`` grants to the
    organization (``principal`` is ``''``), a group or a user; one grant per principal.
    """
    shares = db.table("shares")
    shares.add_column("link_enabled", int, not_null_default=1)
    shares.add_column("allow_reshare", int, not_null_default=0)
    shares.add_column("single_use", int, not_null_default=0)
    shares.add_column("parent_share_id", str)
    shares.add_column("claimed_by", str)
    db.table("grants").create(
        {
            "grant_id": str,
            "share_id": str,
            "principal_type": str,
            "principal": str,
            "permission": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="grant_id",
        not_null={"share_id", "principal_type", "principal", "permission", "created_at", "updated_at"},
        foreign_keys=[ForeignKey("grants", "share_id", "shares", "share_id", on_delete="CASCADE")],
    )
    db.table("grants").create_index(["share_id", "principal_type", "principal"], unique=True)
    db.table("grants").create_index(["principal_type", "principal"])


def _migration_3_reshare(db: sqlite_utils.Database) -> None:
    """Issue 3: who made a reshare (``created_by``; the owner's shares have ``NULL``)."""
    db.table("shares").add_column("created_by", str)
    db.table("shares").create_index(["parent_share_id"])


def _migration_4_audit(db: sqlite_utils.Database) -> None:
    """Issue 3: the audit log (who did what to which share or conversation, when).

    Rows outlive the shares they name (no foreign key): a revoked share's history stays.
    ``details`` is a JSON object; never a link, link secret or message text.
    """
    db.table("audit").create(
        {
            "event_id": int,
            "at": str,
            "who": str,
            "action": str,
            "owner": str,
            "share_id": str,
            "conversation_id": str,
            "details": str,
        },
        pk="event_id",
        not_null={"at", "who", "action", "owner", "details"},
    )
    db.table("audit").create_index(["share_id"])
    db.table("audit").create_index(["owner", "conversation_id"])


def _migration_5_chat_posting(db: sqlite_utils.Database) -> None:
    """Issue 3: ``shares.chat_posting`` (1: a collaborator's message goes into the live
    ``.chat`` document, where Jupyter AI personas answer it with the owner's credentials)."""
    db.table("shares").add_column("chat_posting", int, not_null_default=0)


def _migration_6_library(db: sqlite_utils.Database) -> None:
    """Issue 3: each user's library (DESIGN.md section 4, *Library*).

    One row per saved item of ``user``: either a share of this server that the item
    follows (``share_id``; the item shows it live until it expires or is revoked), or a
    copy imported from another server's link (``conversation_id``, a conversation owned by
    ``user``; ``origin`` names where it came from). ``name`` overrides the title (rename),
    ``tags`` is a JSON list of strings, ``archived`` 0/1. Never a link secret.
    """
    db.table("library").create(
        {
            "item_id": str,
            "user": str,
            "share_id": str,
            "conversation_id": str,
            "origin": str,
            "origin_title": str,
            "name": str,
            "tags": str,
            "archived": int,
            "saved_at": str,
            "updated_at": str,
        },
        pk="item_id",
        not_null={"user", "tags", "archived", "saved_at", "updated_at"},
        defaults={"tags": "[]", "archived": 0},
    )
    db.table("library").create_index(["user", "share_id"], unique=True)
    db.table("library").create_index(["user", "conversation_id"])


def _migration_7_library_links(db: sqlite_utils.Database) -> None:
    """Issue 3: ``library.link_lookup``, so an item saved from a link follows that link.

    A SHA-256 hex of the saved link (never the link): an item of this server's share is
    readable through it only while it is still the share's current link (a rotation, like
    a revocation, ends it); for another server's link it finds the copy saved earlier.
    """
    db.table("library").add_column("link_lookup", str)
    db.table("library").create_index(["user", "link_lookup"])


def _migration_policies(db: sqlite_utils.Database) -> None:
    """Issue 6: sharing policies admins store per group and per user (``core.policy``).

    One row per ``(scope, name)``: ``scope`` is ``"group"`` or ``"user"``, ``policy`` the
    rule as JSON text (only its restrictions), ``updated_at``/``updated_by`` who set it.
    Also an index for listing every share by creation time (the admin listing).
    """
    db.table("policies").create(
        {"scope": str, "name": str, "policy": str, "updated_at": str, "updated_by": str},
        pk=("scope", "name"),
        not_null={"policy", "updated_at", "updated_by"},
    )
    db.table("shares").create_index(["created_at"], if_not_exists=True)
    db.table("shares").create_index(["created_by"], if_not_exists=True)


def _migration_redaction(db: sqlite_utils.Database) -> None:
    """Issue 5: ``shares.redaction``, the owner's redaction choices as JSON text
    (``core.redact.Redaction``: excluded message ids, tool payloads, reasoning, masks);
    ``NULL`` means the defaults (secrets masked)."""
    db.table("shares").add_column("redaction", str)


Migration = Callable[[sqlite_utils.Database], None]

MIGRATIONS: list[Migration] = [
    _migration_1_initial,
    _migration_2_grants,
    _migration_3_reshare,
    _migration_4_audit,
    _migration_5_chat_posting,
    _migration_6_library,
    _migration_7_library_links,
    _migration_policies,
    _migration_redaction,
]
"""Schema migrations in order; migration ``n`` (1-based) brings ``user_version`` to ``n``.

Append only. Migrations 2 and 3 (issue 3): grants, link on/off, reshare and single-use;
migration 4: the audit log; migration 5: posting into live chats; migration 6: libraries;
migration 7: the link a library item was saved from (its lookup key).
Then: stored group and user sharing policies (``_migration_policies``, issue 6); the
owner's redaction choices of a share (``_migration_redaction``, issue 5).
"""

SCHEMA_VERSION = len(MIGRATIONS)


# -- SQLite implementation ----------------------------------------------------------------


def _t(value: datetime | None) -> str | None:
    return format_time(value)


_FROMISOFORMAT_TAKES_Z = sys.version_info >= (3, 11)


def parse_stored_time(value: str | None) -> datetime | None:
    """A time column's text (``format_time``: ``2030-01-02T03:04:05.000006Z``) as aware UTC.

    The store's own canonical text is parsed directly (Python 3.11+ reads the ``Z`` as
    UTC: about 5x cheaper than :func:`~.model.parse_time`, and the link check on every
    viewer page parses five of them); anything else goes through ``parse_time``.
    """
    if value is None:
        return None
    if _FROMISOFORMAT_TAKES_Z and value[-1:] == "Z":
        return datetime.fromisoformat(value)
    return parse_time(value)


_dt = parse_stored_time


def _conversation_record(row: dict[str, Any]) -> ConversationRecord:
    return ConversationRecord(
        owner=row["owner"],
        id=row["id"],
        title=row["title"],
        version=row["version"],
        message_count=row["message_count"],
        source_format=row["source_format"],
        source_path=row["source_path"],
        source_mtime=row["source_mtime"],
        created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_dt(row["updated_at"]),  # type: ignore[arg-type]
    )


def _share_record(row: dict[str, Any]) -> ShareRecord:
    return ShareRecord(
        share_id=row["share_id"],
        owner=row["owner"],
        conversation_id=row["conversation_id"],
        link_nonce=bytes(row["link_nonce"]),
        link_lookup=row["link_lookup"],
        mode=row["mode"],
        expires_at=_dt(row["expires_at"]),
        created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_dt(row["updated_at"]),  # type: ignore[arg-type]
        snapshot_at=_dt(row["snapshot_at"]),
        view_count=row["view_count"],
        last_accessed_at=_dt(row["last_accessed_at"]),
        title=row.get("title"),
        link_enabled=bool(row.get("link_enabled", 1)),
        allow_reshare=bool(row.get("allow_reshare", 0)),
        single_use=bool(row.get("single_use", 0)),
        parent_share_id=row.get("parent_share_id"),
        claimed_by=row.get("claimed_by"),
        created_by=row.get("created_by"),
        chat_posting=bool(row.get("chat_posting", 0)),
        redaction=row.get("redaction"),
    )


def _grant_record(row: dict[str, Any]) -> GrantRecord:
    return GrantRecord(
        grant_id=row["grant_id"],
        share_id=row["share_id"],
        principal_type=row["principal_type"],
        principal=row["principal"],
        permission=row["permission"],
        created_at=_dt(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_dt(row["updated_at"]),  # type: ignore[arg-type]
    )


_LIBRARY_WRITABLE = {"name", "tags", "archived", "link_lookup", "updated_at"}


def _audit_record(row: dict[str, Any]) -> AuditRecord:
    return AuditRecord(
        at=parse_stored_time(row["at"]),  # type: ignore[arg-type]
        who=row["who"],
        action=row["action"],
        owner=row["owner"],
        share_id=row["share_id"],
        conversation_id=row["conversation_id"],
        details=json.loads(row["details"]),
        event_id=row["event_id"],
    )


def _tags_text(tags: Iterable[str]) -> str:
    return json.dumps(list(tags), ensure_ascii=False, separators=(",", ":"))


def _library_record(row: dict[str, Any]) -> LibraryRecord:
    try:
        tags = json.loads(row["tags"] or "[]")
    except ValueError:  # a hand-edited row: show no tags rather than fail the listing
        tags = []
    return LibraryRecord(
        item_id=row["item_id"],
        user=row["user"],
        share_id=row["share_id"],
        conversation_id=row["conversation_id"],
        origin=row["origin"] or "",
        origin_title=row["origin_title"],
        name=row["name"],
        tags=tuple(str(t) for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        archived=bool(row["archived"]),
        saved_at=_dt(row["saved_at"]),  # type: ignore[arg-type]
        updated_at=_dt(row["updated_at"]),  # type: ignore[arg-type]
        link_lookup=row.get("link_lookup"),
    )


_CONVERSATION_COLUMNS = (
    "owner, id, title, version, message_count, source_format, source_path, source_mtime,"
    " created_at, updated_at"
)
_SHARE_SELECT = (
    "SELECT s.share_id, s.owner, s.conversation_id, s.link_nonce, s.link_lookup, s.mode,"
    " s.expires_at, s.created_at, s.updated_at, s.snapshot_at, s.view_count,"
    " s.last_accessed_at, c.title AS title, s.link_enabled, s.allow_reshare, s.single_use,"
    " s.parent_share_id, s.claimed_by, s.created_by, s.chat_posting, s.redaction"
    " FROM shares s JOIN conversations c ON c.owner = s.owner AND c.id = s.conversation_id"
)
_LINK_COLUMNS = (
    "SELECT s.share_id, s.owner, s.conversation_id, s.link_nonce, s.mode, s.expires_at,"
    " s.created_at, s.updated_at, s.snapshot_at, s.view_count, s.last_accessed_at,"
    " c.title, c.version, c.created_at, s.single_use, s.claimed_by, s.parent_share_id,"
    " s.created_by, s.redaction, "
)
_LINK_FROM = (
    " FROM shares s JOIN conversations c ON c.owner = s.owner AND c.id = s.conversation_id"
    # A link switched off answers exactly like an unknown one (DESIGN.md section 4).
    " WHERE s.link_lookup = ? AND s.link_enabled = 1"
)
# The unique index on link_lookup, then the conversation's primary key: two index probes,
# and the document column (last in the row) is not read unless asked for.
_LINK_SQL = _LINK_COLUMNS + "NULL" + _LINK_FROM
_LINK_DOC_SQL = (
    _LINK_COLUMNS
    + "CASE s.mode WHEN 'snapshot' THEN (SELECT doc FROM snapshots WHERE share_id = s.share_id)"
    " ELSE c.doc END"
    + _LINK_FROM
)
_SHARE_DATETIMES = {"expires_at", "created_at", "updated_at", "snapshot_at", "last_accessed_at"}
_SHARE_WRITABLE = {
    "link_nonce",
    "link_lookup",
    "mode",
    "expires_at",
    "updated_at",
    "snapshot_at",
    "view_count",
    "last_accessed_at",
    "link_enabled",
    "allow_reshare",
    "single_use",
    "claimed_by",
    "chat_posting",
    "redaction",
}


class SQLiteSession:
    """:class:`StoreSession` over one sqlite-utils :class:`~sqlite_utils.Database`."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def _one(self, sql: str, params: Iterable[Any]) -> dict[str, Any] | None:
        cursor = self.db.execute(sql, list(params))
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip((d[0] for d in cursor.description), row))

    def _all(self, sql: str, params: Iterable[Any]) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, list(params))
        keys = [d[0] for d in cursor.description]
        return [dict(zip(keys, row)) for row in cursor.fetchall()]

    # conversations

    def get_conversation(self, owner: str, conversation_id: str) -> ConversationRecord | None:
        row = self._one(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE owner = ? AND id = ?",
            (owner, conversation_id),
        )
        return _conversation_record(row) if row else None

    def get_conversation_doc(self, owner: str, conversation_id: str) -> str | None:
        row = self._one(
            "SELECT doc FROM conversations WHERE owner = ? AND id = ?", (owner, conversation_id)
        )
        return row["doc"] if row else None

    def list_conversations(self, owner: str) -> list[ConversationRecord]:
        rows = self._all(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE owner = ?"
            " ORDER BY updated_at DESC, id",
            (owner,),
        )
        return [_conversation_record(r) for r in rows]

    def find_conversation_by_path(self, owner: str, path: str) -> ConversationRecord | None:
        row = self._one(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations"
            " WHERE owner = ? AND source_path = ? ORDER BY updated_at DESC LIMIT 1",
            (owner, path),
        )
        return _conversation_record(row) if row else None

    def _conversation_row(self, record: ConversationRecord) -> dict[str, Any]:
        return {
            "owner": record.owner,
            "id": record.id,
            "title": record.title,
            "version": record.version,
            "message_count": record.message_count,
            "source_format": record.source_format,
            "source_path": record.source_path,
            "source_mtime": record.source_mtime,
            "created_at": _t(record.created_at),
            "updated_at": _t(record.updated_at),
        }

    def insert_conversation(self, record: ConversationRecord, doc: str) -> None:
        row = self._conversation_row(record)
        row["doc"] = doc
        self.db.table("conversations").insert(row)

    def update_conversation(self, record: ConversationRecord, doc: str | None) -> None:
        row = self._conversation_row(record)
        if doc is not None:
            row["doc"] = doc
        self.db.table("conversations").update((record.owner, record.id), row)

    def delete_conversation(self, owner: str, conversation_id: str) -> list[str]:
        shas = [
            r["sha256"]
            for r in self._all(
                "SELECT sha256 FROM conversation_blobs WHERE owner = ? AND conversation_id = ?",
                (owner, conversation_id),
            )
        ]
        # ON DELETE CASCADE removes the shares, their snapshots and the blob references.
        self.db.execute(
            "DELETE FROM conversations WHERE owner = ? AND id = ?", [owner, conversation_id]
        )
        return shas

    def add_conversation_blobs(
        self, owner: str, conversation_id: str, blobs: dict[str, int]
    ) -> None:
        for sha, size in blobs.items():
            self.db.execute(
                "INSERT OR IGNORE INTO blobs (sha256, size) VALUES (?, ?)", [sha, size]
            )
            self.db.execute(
                "INSERT OR IGNORE INTO conversation_blobs (owner, conversation_id, sha256)"
                " VALUES (?, ?, ?)",
                [owner, conversation_id, sha],
            )

    # shares

    def get_share(self, share_id: str) -> ShareRecord | None:
        row = self._one(_SHARE_SELECT + " WHERE s.share_id = ?", (share_id,))
        return _share_record(row) if row else None

    def get_share_by_lookup(self, link_lookup: str) -> ShareRecord | None:
        row = self._one(_SHARE_SELECT + " WHERE s.link_lookup = ?", (link_lookup,))
        return _share_record(row) if row else None

    def find_share(self, owner: str, conversation_id: str) -> ShareRecord | None:
        # the owner's own share: reshares (with a parent) are never "the" share
        row = self._one(
            _SHARE_SELECT + " WHERE s.owner = ? AND s.conversation_id = ? AND s.parent_share_id IS NULL"
            " ORDER BY s.created_at, s.share_id LIMIT 1",
            (owner, conversation_id),
        )
        return _share_record(row) if row else None

    def list_shares(self, owner: str) -> list[ShareRecord]:
        rows = self._all(
            _SHARE_SELECT + " WHERE s.owner = ? ORDER BY s.created_at DESC, s.share_id",
            (owner,),
        )
        return [_share_record(r) for r in rows]

    def insert_share(self, record: ShareRecord) -> None:
        self.db.table("shares").insert(
            {
                "share_id": record.share_id,
                "owner": record.owner,
                "conversation_id": record.conversation_id,
                "link_nonce": record.link_nonce,
                "link_lookup": record.link_lookup,
                "mode": record.mode,
                "expires_at": _t(record.expires_at),
                "created_at": _t(record.created_at),
                "updated_at": _t(record.updated_at),
                "snapshot_at": _t(record.snapshot_at),
                "view_count": record.view_count,
                "last_accessed_at": _t(record.last_accessed_at),
                "link_enabled": int(record.link_enabled),
                "allow_reshare": int(record.allow_reshare),
                "single_use": int(record.single_use),
                "parent_share_id": record.parent_share_id,
                "claimed_by": record.claimed_by,
                "created_by": record.created_by,
                "chat_posting": int(record.chat_posting),
                "redaction": record.redaction,
            }
        )

    def update_share(self, share_id: str, changes: dict[str, Any]) -> None:
        unknown = set(changes) - _SHARE_WRITABLE
        if unknown:
            raise ValueError(f"not writable share columns: {sorted(unknown)}")
        row = {k: (_t(v) if k in _SHARE_DATETIMES else v) for k, v in changes.items()}
        self.db.table("shares").update(share_id, row)

    def delete_share(self, share_id: str) -> bool:
        # a reshare dies with its parent (no foreign key: SQLite cannot add one to a table)
        self.db.execute("DELETE FROM shares WHERE parent_share_id = ?", [share_id])
        cursor = self.db.execute("DELETE FROM shares WHERE share_id = ?", [share_id])
        return cursor.rowcount > 0

    def list_children(self, share_id: str) -> list[ShareRecord]:
        rows = self._all(
            _SHARE_SELECT + " WHERE s.parent_share_id = ? ORDER BY s.created_at, s.share_id", (share_id,)
        )
        return [_share_record(r) for r in rows]

    def claim_share(self, share_id: str, claimant: str) -> str | None:
        """Set ``claimed_by`` if nobody has; returns who holds the claim now."""
        self.db.execute(
            "UPDATE shares SET claimed_by = ? WHERE share_id = ? AND claimed_by IS NULL",
            [claimant, share_id],
        )
        row = self._one("SELECT claimed_by FROM shares WHERE share_id = ?", (share_id,))
        return row["claimed_by"] if row else None

    def copy_snapshot(self, from_share_id: str, to_share_id: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO snapshots (share_id, doc)"
            " SELECT ?, doc FROM snapshots WHERE share_id = ?",
            [to_share_id, from_share_id],
        )

    def delete_shares_of_owner(self, owner: str) -> int:
        cursor = self.db.execute("DELETE FROM shares WHERE owner = ?", [owner])
        return cursor.rowcount

    def delete_expired_shares(self, now: datetime) -> int:
        cursor = self.db.execute(
            "DELETE FROM shares WHERE expires_at IS NOT NULL AND expires_at <= ?", [_t(now)]
        )
        return cursor.rowcount

    def record_view(self, share_id: str, at: datetime, count: int = 1) -> int | None:
        # max(): counts flushed late (batched by a server) never move the last access back;
        # ISO text with microseconds sorts like the times.
        row = self.db.execute(
            "UPDATE shares SET view_count = view_count + ?,"
            " last_accessed_at = max(coalesce(last_accessed_at, ''), ?)"
            " WHERE share_id = ? RETURNING view_count",
            [int(count), _t(at), share_id],
        ).fetchone()
        return None if row is None else int(row[0])

    def get_share_doc(self, share_id: str) -> str | None:
        row = self._one(
            "SELECT CASE s.mode WHEN 'snapshot' THEN"
            " (SELECT doc FROM snapshots WHERE share_id = s.share_id) ELSE c.doc END AS doc"
            " FROM shares s JOIN conversations c ON c.owner = s.owner AND c.id = s.conversation_id"
            " WHERE s.share_id = ?",
            (share_id,),
        )
        return row["doc"] if row else None

    # grants

    def list_grants(self, share_id: str) -> list[GrantRecord]:
        rows = self._all(
            "SELECT * FROM grants WHERE share_id = ? ORDER BY created_at, grant_id", (share_id,)
        )
        return [_grant_record(r) for r in rows]

    def find_grant(self, share_id: str, principal_type: str, principal: str) -> GrantRecord | None:
        row = self._one(
            "SELECT * FROM grants WHERE share_id = ? AND principal_type = ? AND principal = ?",
            (share_id, principal_type, principal),
        )
        return _grant_record(row) if row else None

    def insert_grant(self, record: GrantRecord) -> None:
        self.db.table("grants").insert(
            {
                "grant_id": record.grant_id,
                "share_id": record.share_id,
                "principal_type": record.principal_type,
                "principal": record.principal,
                "permission": record.permission,
                "created_at": _t(record.created_at),
                "updated_at": _t(record.updated_at),
            }
        )

    def update_grant(self, grant_id: str, permission: str, updated_at: datetime) -> None:
        self.db.execute(
            "UPDATE grants SET permission = ?, updated_at = ? WHERE grant_id = ?",
            [permission, _t(updated_at), grant_id],
        )

    def delete_grant(self, grant_id: str) -> bool:
        return self.db.execute("DELETE FROM grants WHERE grant_id = ?", [grant_id]).rowcount > 0

    def list_granted(
        self, user: str, groups: Iterable[str]
    ) -> list[tuple[ShareRecord, GrantRecord]]:
        groups = sorted(set(groups))
        marks = ", ".join("?" for _ in groups) or "NULL"
        rows = self._all(
            "SELECT g.grant_id AS g_grant_id, g.share_id AS g_share_id,"
            " g.principal_type AS g_principal_type, g.principal AS g_principal,"
            " g.permission AS g_permission, g.created_at AS g_created_at,"
            " g.updated_at AS g_updated_at, sub.*"
            " FROM grants g JOIN (" + _SHARE_SELECT + ") sub ON sub.share_id = g.share_id"
            " WHERE g.principal_type = 'organization'"
            " OR (g.principal_type = 'user' AND g.principal = ?)"
            f" OR (g.principal_type = 'group' AND g.principal IN ({marks}))"
            " ORDER BY sub.updated_at DESC, sub.share_id",
            [user, *groups],
        )
        out = []
        for row in rows:
            grant = {k[2:]: v for k, v in row.items() if k.startswith("g_")}
            out.append((_share_record(row), _grant_record(grant)))
        return out

    # audit (migration 4)

    def insert_audit(self, record: AuditRecord) -> int:
        cursor = self.db.conn.execute(
            "INSERT INTO audit (at, who, action, owner, share_id, conversation_id, details)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                _t(record.at),
                record.who,
                record.action,
                record.owner,
                record.share_id,
                record.conversation_id,
                json.dumps(record.details, sort_keys=True, separators=(",", ":")),
            ],
        )
        return int(cursor.lastrowid or 0)

    def list_audit(
        self, share_id: str, owner: str, conversation_id: str, limit: int = 1000
    ) -> list[AuditRecord]:
        rows = self._all(
            "SELECT * FROM audit WHERE share_id = ?"
            " OR (share_id IS NULL AND owner = ? AND conversation_id = ?)"
            " ORDER BY event_id DESC LIMIT ?",
            [share_id, owner, conversation_id, int(limit)],
        )
        return [_audit_record(row) for row in rows]

    # library (migrations 6 and 7)

    def list_library(self, user: str) -> list[LibraryRecord]:
        rows = self._all(
            "SELECT * FROM library WHERE user = ? ORDER BY saved_at DESC, item_id", (user,)
        )
        return [_library_record(r) for r in rows]

    def get_library_item(self, user: str, item_id: str) -> LibraryRecord | None:
        row = self._one("SELECT * FROM library WHERE user = ? AND item_id = ?", (user, item_id))
        return _library_record(row) if row else None

    def find_library_share(self, user: str, share_id: str) -> LibraryRecord | None:
        row = self._one("SELECT * FROM library WHERE user = ? AND share_id = ?", (user, share_id))
        return _library_record(row) if row else None

    def find_library_link(self, user: str, link_lookup: str) -> LibraryRecord | None:
        row = self._one(
            "SELECT * FROM library WHERE user = ? AND link_lookup = ? ORDER BY saved_at LIMIT 1",
            (user, link_lookup),
        )
        return _library_record(row) if row else None

    def insert_library_item(self, record: LibraryRecord) -> None:
        self.db.table("library").insert(
            {
                "item_id": record.item_id,
                "user": record.user,
                "share_id": record.share_id,
                "conversation_id": record.conversation_id,
                "origin": record.origin,
                "origin_title": record.origin_title,
                "name": record.name,
                "tags": _tags_text(record.tags),
                "archived": int(record.archived),
                "saved_at": _t(record.saved_at),
                "updated_at": _t(record.updated_at),
                "link_lookup": record.link_lookup,
            }
        )

    def update_library_item(self, user: str, item_id: str, changes: dict[str, Any]) -> None:
        unknown = set(changes) - _LIBRARY_WRITABLE
        if unknown:
            raise ValueError(f"not writable library columns: {sorted(unknown)}")
        row: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "tags":
                value = _tags_text(value)
            elif key == "archived":
                value = int(bool(value))
            elif key == "updated_at":
                value = _t(value)
            row[key] = value
        if not row:
            return
        # Column names come from the fixed set above, values are parameters.
        assignments = ", ".join(f"{key} = ?" for key in row)
        self.db.execute(
            f"UPDATE library SET {assignments} WHERE user = ? AND item_id = ?",
            [*row.values(), user, item_id],
        )

    def delete_library_item(self, user: str, item_id: str) -> bool:
        cursor = self.db.execute("DELETE FROM library WHERE user = ? AND item_id = ?", [user, item_id])
        return cursor.rowcount > 0

    # admin and policies (_migration_policies)

    def search_shares(self, query: ShareQuery, now: datetime) -> tuple[list[ShareRecord], int]:
        # Every clause is a constant string; values are parameters.
        clauses: list[str] = []
        params: list[Any] = []
        if query.owner is not None:
            clauses.append("s.owner = ?")
            params.append(query.owner)
        if query.group is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM grants g WHERE g.share_id = s.share_id"
                " AND g.principal_type = 'group' AND g.principal = ?)"
            )
            params.append(query.group)
        if query.mode is not None:
            clauses.append("s.mode = ?")
            params.append(query.mode)
        if query.state == "active":
            clauses.append("(s.expires_at IS NULL OR s.expires_at > ?)")
            params.append(_t(now))
        elif query.state == "expired":
            clauses.append("(s.expires_at IS NOT NULL AND s.expires_at <= ?)")
            params.append(_t(now))
        if query.link_enabled is not None:
            clauses.append("s.link_enabled = ?")
            params.append(int(query.link_enabled))
        if query.reshare is not None:
            clauses.append("s.parent_share_id IS NOT NULL" if query.reshare else "s.parent_share_id IS NULL")
        if query.text:
            escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("c.title LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        if query.created_after is not None:
            clauses.append("s.created_at >= ?")
            params.append(_t(query.created_after))
        if query.created_before is not None:
            clauses.append("s.created_at < ?")
            params.append(_t(query.created_before))
        if query.expires_after is not None:
            clauses.append("(s.expires_at IS NULL OR s.expires_at >= ?)")
            params.append(_t(query.expires_after))
        if query.expires_before is not None:
            clauses.append("(s.expires_at IS NOT NULL AND s.expires_at < ?)")
            params.append(_t(query.expires_before))
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        total_row = self._one(
            "SELECT count(*) AS n FROM shares s"
            " JOIN conversations c ON c.owner = s.owner AND c.id = s.conversation_id" + where,
            params,
        )
        rows = self._all(
            _SHARE_SELECT + where + " ORDER BY s.created_at DESC, s.share_id LIMIT ? OFFSET ?",
            [*params, int(query.limit), int(query.offset)],
        )
        return [_share_record(r) for r in rows], int(total_row["n"] if total_row else 0)

    def list_shares_created_by(self, user: str) -> list[ShareRecord]:
        rows = self._all(
            _SHARE_SELECT + " WHERE s.created_by = ? ORDER BY s.created_at DESC, s.share_id", (user,)
        )
        return [_share_record(r) for r in rows]

    def list_revocations(self, owner: str | None, limit: int, offset: int) -> tuple[list[AuditRecord], int]:
        where = " WHERE action IN ('share.revoked', 'share.revoked_all') AND share_id IS NOT NULL"
        params: list[Any] = []
        if owner is not None:
            where += " AND owner = ?"
            params.append(owner)
        total_row = self._one("SELECT count(*) AS n FROM audit" + where, params)
        rows = self._all(
            "SELECT * FROM audit" + where + " ORDER BY event_id DESC LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
        records = [_audit_record(row) for row in rows]
        return records, int(total_row["n"] if total_row else 0)

    def get_policies(self, user: str, groups: Iterable[str]) -> list[dict[str, Any]]:
        groups = sorted(set(groups))
        marks = ", ".join("?" for _ in groups) or "NULL"
        return self._all(
            "SELECT scope, name, policy, updated_at, updated_by FROM policies"
            f" WHERE (scope = 'user' AND name = ?) OR (scope = 'group' AND name IN ({marks}))"
            " ORDER BY scope, name",
            [user, *groups],
        )

    def list_policies(self) -> list[dict[str, Any]]:
        return self._all(
            "SELECT scope, name, policy, updated_at, updated_by FROM policies ORDER BY scope, name", ()
        )

    def put_policy(self, scope: str, name: str, policy: str, updated_at: str, updated_by: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO policies (scope, name, policy, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)",
            [scope, name, policy, updated_at, updated_by],
        )

    def delete_policy(self, scope: str, name: str) -> bool:
        cursor = self.db.execute("DELETE FROM policies WHERE scope = ? AND name = ?", [scope, name])
        return cursor.rowcount > 0

    # snapshots

    def get_snapshot(self, share_id: str) -> str | None:
        row = self._one("SELECT doc FROM snapshots WHERE share_id = ?", (share_id,))
        return row["doc"] if row else None

    def freeze_snapshot(self, share_id: str) -> None:
        # Copied inside SQLite: no JSON work while the write lock is held.
        self.db.execute(
            "INSERT OR REPLACE INTO snapshots (share_id, doc)"
            " SELECT s.share_id, c.doc FROM shares s"
            " JOIN conversations c ON c.owner = s.owner AND c.id = s.conversation_id"
            " WHERE s.share_id = ?",
            [share_id],
        )

    def delete_snapshot(self, share_id: str) -> None:
        self.db.execute("DELETE FROM snapshots WHERE share_id = ?", [share_id])


def _enable_wal(conn: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode = WAL``, waiting (up to the busy timeout) for another process.

    Switching a new database to WAL needs an exclusive lock, and SQLite answers "database
    is locked" at once, without its busy handler, when another connection is switching it
    at the same moment (two servers starting together). WAL is then set by the other
    process: retry until this connection sees it.

    Raises:
        sqlite3.OperationalError: still locked after :data:`BUSY_TIMEOUT_MS`, or another error.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        else:
            if str(mode).lower() == "wal":
                return
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError(f"could not switch the database to WAL (mode {mode!r})")
        time.sleep(0.005)


class _Local(threading.local):
    db: sqlite_utils.Database | None = None
    pid: int = 0


class SQLiteStore:
    """:class:`Store` in a folder: ``convshare.db`` (SQLite, WAL) and ``blobs/``.

    Args:
        directory: the store folder; created (mode ``0700``) with ``blobs/`` when missing.
        migrate: apply pending :data:`MIGRATIONS` now (default ``True``).

    Raises:
        StoreVersionError: the database has a newer schema than this code knows.
        sqlite3.Error: the database cannot be opened.
    """

    def __init__(self, directory: str | os.PathLike[str], *, migrate: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db_path = self.directory / DB_FILE
        self.blobs_dir = self.directory / BLOBS_DIR
        self.blobs_dir.mkdir(exist_ok=True, mode=0o700)
        # Conversations are private: create the database owner-only (SQLite gives the
        # -wal and -shm files the same mode), whatever the umask or folder mode.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._local = _Local()
        self._all_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if migrate:
            self.migrate()

    # connections

    def _connect(self) -> sqlite_utils.Database:
        conn = sqlite3.connect(
            self.db_path,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,  # used by one thread; closed from any in close()
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        _enable_wal(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        with self._lock:
            self._all_connections.append(conn)
        return sqlite_utils.Database(conn, execute_plugins=False)

    def database(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils database (connection opened on first use)."""
        local = self._local
        # A forked child must not reuse its parent's connection.
        if local.db is None or local.pid != os.getpid():
            local.db = self._connect()
            local.pid = os.getpid()
        return local.db

    def close(self) -> None:
        """Close every connection this store opened (in this process)."""
        with self._lock:
            conns, self._all_connections = self._all_connections, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = _Local()

    # transactions

    @contextlib.contextmanager
    def write(self) -> Iterator[SQLiteSession]:
        """One ``BEGIN IMMEDIATE`` transaction: commit on success, rollback on any exception.

        Raises:
            RuntimeError: called inside another transaction of this thread.
            sqlite3.OperationalError: the write lock was not obtained within the busy timeout.
        """
        db = self.database()
        conn = db.conn
        if conn.in_transaction:
            raise RuntimeError("nested store transaction")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield SQLiteSession(db)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def read(self) -> Iterator[SQLiteSession]:
        """A read transaction (one consistent WAL snapshot for several queries)."""
        db = self.database()
        conn = db.conn
        if conn.in_transaction:
            raise RuntimeError("nested store transaction")
        conn.execute("BEGIN")
        try:
            yield SQLiteSession(db)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def lookup_link(self, link_lookup: str, *, with_doc: bool = False) -> LinkRow | None:
        """The share whose current link hashes to ``link_lookup`` (see :class:`LinkRow`).

        One ``SELECT`` by the unique ``link_lookup`` index joined to the conversation's
        primary key, run in autocommit mode: a single statement reads one consistent WAL
        snapshot by itself, so no ``BEGIN``/``ROLLBACK`` round trips. This is the viewer's
        per-request read (DESIGN.md section 9: a few tens of microseconds; a WAL reader
        never waits for a writer).

        Args:
            link_lookup: ``core.tokens.lookup_key(link)`` (64 hex characters).
            with_doc: also read the document the share shows (live: the conversation's,
                snapshot: its frozen copy) in the same statement.
        """
        local = self._local
        db = local.db if local.db is not None and local.pid == os.getpid() else self.database()
        row = db.conn.execute(_LINK_DOC_SQL if with_doc else _LINK_SQL, (link_lookup,)).fetchone()
        return None if row is None else LinkRow._make(row)

    def migrate(self) -> int:
        """Apply pending :data:`MIGRATIONS` exactly once, even with concurrent processes.

        Returns:
            How many migrations this call applied (0 when another process did them).

        Raises:
            StoreVersionError: the database's ``user_version`` is newer than this code.
        """
        db = self.database()
        with self.write():
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{self.db_path}: schema version {current} is newer than this"
                    f" jupyter-convshare supports ({SCHEMA_VERSION}); upgrade it"
                )
            for number in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[number - 1](db)
            # PRAGMA takes no parameters; the value is an int from this module.
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        return SCHEMA_VERSION - current

    def schema_version(self) -> int:
        """The database's ``PRAGMA user_version``."""
        return int(self.database().execute("PRAGMA user_version").fetchone()[0])

    def backup(self, destination: str | os.PathLike[str]) -> None:
        """Copy the database online (SQLite backup API) to ``destination`` (mode ``0600``).

        Readers and writers may continue meanwhile. The blobs folder and the link secret
        are not included (copy them separately; without the secret no link works).
        """
        target = Path(destination)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        dest = sqlite3.connect(target)
        try:
            self.database().conn.backup(dest)
        finally:
            dest.close()

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check`` and ``foreign_key_check``; ``[]`` when the database is sound."""
        conn = self.database().conn
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key: {tuple(r)}" for r in conn.execute("PRAGMA foreign_key_check")]
        return problems

    # blobs

    def blob_path(self, sha256: str) -> Path:
        """``blobs/<sha[:2]>/<sha>``. Raises ValueError unless ``sha256`` is 64 lowercase hex."""
        if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
            raise ValueError("malformed sha256")
        return self.blobs_dir / sha256[:2] / sha256

    def has_blob(self, sha256: str) -> bool:
        """``True`` when the blob's file exists (``False`` for a malformed digest)."""
        try:
            return self.blob_path(sha256).is_file()
        except ValueError:
            return False

    def put_blob(self, data: bytes) -> tuple[str, bool]:
        """Write ``data`` to its content-addressed file (temp file + ``os.replace``).

        Call this *before* the transaction that references the blob.

        Returns:
            ``(sha256 hex, created)``; ``created`` is ``False`` when the file already existed.
        """
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if path.is_file() and path.stat().st_size == len(data):
            return sha, False
        path.parent.mkdir(exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return sha, True

    def collect_blobs(self, candidates: Iterable[str]) -> list[str]:
        """Delete those of ``candidates`` that no conversation references.

        Runs after the transaction that dropped the references has committed. The file
        unlinks (metadata only, no data I/O) happen while this short transaction holds the
        write lock, so a concurrent writer that references the same bytes either commits
        first (and the blob is kept) or finds the file gone after its own commit and
        rewrites it (see ``ShareService``).

        Returns:
            The sha256s whose files were deleted.
        """
        wanted = sorted({c for c in candidates if _SHA256_RE.fullmatch(c)})
        if not wanted:
            return []
        removed: list[str] = []
        with self.write() as session:
            for sha in wanted:
                used = session._one(
                    "SELECT 1 AS used FROM conversation_blobs WHERE sha256 = ? LIMIT 1", (sha,)
                )
                if used:
                    continue
                session.db.execute("DELETE FROM blobs WHERE sha256 = ?", [sha])
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.blob_path(sha))
                    removed.append(sha)
        return removed
