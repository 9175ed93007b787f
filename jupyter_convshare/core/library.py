"""Each user's library: conversations shared with them, saved or granted (issue 3 item 7).

DESIGN.md section 4, *Library*: an authenticated recipient saves a shared conversation;
it appears in their library marked *Shared with you* (with where it came from and when),
can be renamed, tagged, archived and removed, and follows the share (live) until it
expires or is revoked. Grants also make conversations appear there. A link from another
server can be saved too: its JSON export is imported as the user's own conversation,
marked with its origin.

Three kinds of item, one :class:`LibraryItem` shape:

* **saved from a link of this server** (``kind="saved"``, ``share_id`` set): the row keeps
  the share id and the SHA-256 lookup key of the link (never the link); it shows what the
  share shows while that link still works (not revoked, rotated, switched off or claimed
  by someone else) or while a grant reaches the user;
* **granted** (``kind="granted"``): a share granted to the user that they have not saved
  (no row; ``item_id`` is ``"grant-<share id>"``); renaming, tagging or archiving it saves
  it (a row, ``kind="saved"``); it leaves the library when the grant goes;
* **copy** (``status="copy"``): another server's conversation, imported from its viewer's
  ``export.json`` as a conversation owned by the user; ``origin`` names that server
  (``"scheme://host[:port]/base/"``), never the link.

Statuses: ``"active"``, ``"expired"`` (the share's expiry passed: reading it is 410),
``"revoked"`` (the share or the saved link is gone: 404), ``"copy"``. A saved item that
only a grant made readable disappears with the grant (a user who loses access stops
seeing it), like a granted one.

Fetching another server's link (:func:`fetch_export`) is a network request made by the
server: see its docstring for what is refused (SSRF).

Renames, tags and archive flags are the user's private data: never in the owner's audit
log. A save is: ``library.saved`` (who, when) in the share owner's log (through
``ShareService._audit``, in the same write transaction).
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import http.client
import ipaddress
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Literal, Protocol
from urllib.parse import urlsplit

from . import access
from .errors import (
    ConvShareError,
    Conflict,
    Expired,
    Forbidden,
    ImportFailed,
    InvalidRequest,
    NotFound,
    TooLarge,
)
from .model import Conversation, format_time, new_id
from .redact import Redaction, blob_reader, viewer_copy, viewer_title
from .shares import UNSET, ShareService
from .store import ConversationRecord, GrantRecord, LibraryRecord, ShareRecord, StoreSession
from .tokens import lookup_key, new_share_id

__all__ = [
    "DEFAULT_FETCH_TIMEOUT",
    "DEFAULT_MAX_IMPORT_BYTES",
    "Library",
    "LibraryItem",
    "THIS_SERVER",
    "fetch_export",
    "parse_share_url",
]

THIS_SERVER = "this server"
"""``LibraryItem.origin`` of an item that follows a share of this server."""

DEFAULT_MAX_IMPORT_BYTES = 100 * 1024 * 1024
"""Largest export (bytes) fetched from another server by default (the server passes its
``max_import_bytes``)."""

DEFAULT_FETCH_TIMEOUT = 20.0
"""Seconds a fetch of another server's export may take in all (connect, wait, read)."""

MAX_REDIRECTS = 3
"""Redirects followed within the same origin (scheme, host, port); none to another host."""

MAX_NAME_CHARS = 200
MAX_TAG_CHARS = 50
MAX_TAGS = 30
MAX_URL_CHARS = 2048

GRANT_ITEM_PREFIX = "grant-"
"""``item_id`` prefix of a granted item that has no library row yet."""

ItemKind = Literal["saved", "granted"]
ItemStatus = Literal["active", "expired", "revoked", "copy"]

_LINK = r"[A-Za-z0-9_-]{22,128}"
_SHARE_PATH = re.compile(rf"^(/(?:[^/]+/)*)convshare/s/({_LINK})(?:/|/export\.json)?$")
_LINK_RE = re.compile(_LINK)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_USER_AGENT = "jupyter-convshare-library"


@dataclass
class LibraryItem:
    """One item of a user's library, as that user may see it.

    Attributes:
        item_id: the item's id (``"grant-<share id>"`` for a granted item not saved yet).
        user: whose library it is.
        kind: ``"saved"`` (a library row: saved by link, by share id, or changed by the
            user) or ``"granted"`` (shown because of a grant; no row yet).
        share_id: the share of this server it follows, or ``None`` for a copy.
        conversation_id: for a copy, the user's own conversation holding it; else ``None``.
        title: the conversation's current title (the title when saved, once the share is
            gone), or ``None``.
        name: the user's own name for it (rename), or ``None``.
        origin: ``"this server"``, or the other server's ``"scheme://host[:port]/base/"``
            (never a link or any secret).
        owner: the sharer's user name where the user may know it (a grant names its
            owner); ``None`` for link saves and copies.
        permission: ``"view"`` or ``"collaborate"`` for items of this server, ``None`` for
            a copy.
        status: ``"active"``, ``"expired"``, ``"revoked"`` or ``"copy"``.
        tags: the user's tags.
        archived: hidden from the default listing.
        saved_at: when it was saved (a granted item: when it was first granted), UTC.
        updated_at: the item's or its share's last change, UTC.
        link: the share's current link when the user may open it with it (an active item
            whose share has its link on), else ``None``. Never in :meth:`to_json`; the
            server turns it into ``url``.
    """

    item_id: str
    user: str
    kind: ItemKind
    share_id: str | None
    conversation_id: str | None
    title: str | None
    name: str | None
    origin: str
    owner: str | None
    permission: str | None
    status: ItemStatus
    tags: list[str]
    archived: bool
    saved_at: datetime
    updated_at: datetime
    link: str | None = field(default=None, repr=False, compare=False)

    @property
    def display_title(self) -> str:
        """The user's name for it, else its title, else ``"(untitled conversation)"``."""
        return self.name or self.title or "(untitled conversation)"

    def to_json(self, url: str | None = None) -> dict[str, Any]:
        """``{"item_id", "user", "kind", "share_id", "conversation_id", "title", "name",
        "origin", "owner", "permission", "status", "tags", "archived", "saved_at",
        "updated_at", "url"}`` (times ISO 8601 UTC; ``url`` as given, never the link)."""
        return {
            "item_id": self.item_id,
            "user": self.user,
            "kind": self.kind,
            "share_id": self.share_id,
            "conversation_id": self.conversation_id,
            "title": self.title,
            "name": self.name,
            "origin": self.origin,
            "owner": self.owner,
            "permission": self.permission,
            "status": self.status,
            "tags": list(self.tags),
            "archived": self.archived,
            "saved_at": format_time(self.saved_at),
            "updated_at": format_time(self.updated_at),
            "url": url,
        }


class Fetch(Protocol):
    """Fetches an export: ``fetch(url, max_bytes=..., timeout=...) -> bytes``.

    Raises :class:`~.errors.ConvShareError` subclasses naming the field ``"url"``.
    """

    def __call__(self, url: str, *, max_bytes: int, timeout: float) -> bytes: ...


# -- share URLs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareURL:
    """A share link URL taken apart (:func:`parse_share_url`).

    Attributes:
        origin: ``"scheme://host[:port]/base/"``: where the server's ``convshare/`` lives.
        link: the secret link token (never stored, never logged).
        export_url: ``<origin>convshare/s/<link>/export.json``, the viewer's JSON export.
    """

    origin: str
    link: str = field(repr=False)
    export_url: str = field(repr=False)


def parse_share_url(url: Any) -> ShareURL:
    """Check that ``url`` looks like a convshare share link and take it apart.

    Accepted: ``http(s)://host[:port]/<base>/convshare/s/<link>`` (optionally ending with
    ``/`` or ``/export.json``; a query such as ``?path=`` and a fragment are ignored).
    The export URL is built from these parts only, so nothing else of ``url`` reaches
    the request.

    Raises:
        InvalidRequest: (``field="url"``) not a string, too long, control characters,
            another scheme (``file:``, ``ftp:``, ``javascript:`` ...), user info
            (``user:pass@``), no host, a bad port, ``.``/``..`` path segments, or a path
            that is not a share link.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequest("url: expected the share link (a URL)", field="url")
    text = url.strip()
    if len(text) > MAX_URL_CHARS:
        raise InvalidRequest(f"url: longer than {MAX_URL_CHARS} characters", field="url")
    if _CONTROL.search(text) or " " in text:
        raise InvalidRequest("url: contains spaces or control characters", field="url")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidRequest("url: not a valid URL", field="url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidRequest("url: only http:// and https:// share links can be saved", field="url")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidRequest("url: a share link never contains a user name or password", field="url")
    host = parts.hostname
    if not host:
        raise InvalidRequest("url: no host", field="url")
    match = _SHARE_PATH.match(parts.path)
    if match is None:
        raise InvalidRequest(
            "url: not a share link (expected https://<server>/.../convshare/s/<link>)", field="url"
        )
    base, link = match.group(1), match.group(2)
    if any(segment in (".", "..") or segment.lower() in ("%2e", "%2e%2e", ".%2e", "%2e.")
           for segment in base.split("/")):
        raise InvalidRequest("url: '.' and '..' are not allowed in the path", field="url")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    origin = f"{scheme}://{netloc}{base}"
    return ShareURL(origin=origin, link=link, export_url=f"{origin}convshare/s/{link}/export.json")


def _same_base(a: str, b: str) -> bool:
    """``True`` when two base URLs name the same place (scheme, host, port, base path)."""
    sa, sb = urlsplit(a), urlsplit(b)
    try:
        port_a = sa.port or (443 if sa.scheme == "https" else 80)
        port_b = sb.port or (443 if sb.scheme == "https" else 80)
    except ValueError:
        return False
    return (
        sa.scheme.lower() == sb.scheme.lower()
        and (sa.hostname or "") == (sb.hostname or "")
        and port_a == port_b
        and sa.path.rstrip("/") == sb.path.rstrip("/")
    )


# -- fetching another server's export (SSRF-conscious) ----------------------------------------


def _refused_address(address: str, *, allow_private: bool = True) -> bool:
    """``True`` for addresses a fetch must never reach: link-local (cloud metadata services
    such as 169.254.169.254), multicast, unspecified (0.0.0.0, ::) and reserved ranges,
    also when written as IPv4-mapped IPv6; with ``allow_private=False`` also loopback and
    private networks (10/8, 172.16/12, 192.168/16, 127/8, ::1, fc00::/7, ...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return True
    return not allow_private and (ip.is_loopback or ip.is_private or not ip.is_global)


def _resolve(host: str, port: int, *, allow_private: bool = True) -> str:
    """One checked IP address of ``host`` (every address it resolves to must be allowed).

    Raises:
        InvalidRequest: (``field="url"``) unknown host, or an address that is refused.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidRequest(f"url: unknown host {host!r}", field="url") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise InvalidRequest(f"url: unknown host {host!r}", field="url")
    for address in addresses:
        if _refused_address(str(address)):
            raise InvalidRequest(
                f"url: {host!r} is a link-local, multicast or reserved address: not fetched", field="url"
            )
        if _refused_address(str(address), allow_private=allow_private):
            raise InvalidRequest(
                f"url: {host!r} is a loopback or private network address: this server does not fetch from those",
                field="url",
            )
    return str(addresses[0])


def _connection(scheme: str, host: str, port: int, address: str, timeout: float) -> http.client.HTTPConnection:
    """An HTTP(S) connection to ``host`` that connects to the already checked ``address``.

    Why: resolving the name again at connect time would let a DNS answer change between
    the check and the connection (DNS rebinding). TLS still verifies the certificate for
    ``host`` (SNI and hostname check use the name, not the address).
    """
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def connect_to_checked(_address: Any, timeout: Any = None, source_address: Any = None) -> socket.socket:
        return socket.create_connection((address, port), timeout, source_address)

    conn._create_connection = connect_to_checked  # type: ignore[attr-defined]
    return conn


def fetch_export(
    url: str, *, max_bytes: int, timeout: float = DEFAULT_FETCH_TIMEOUT, allow_private: bool = True
) -> bytes:
    """GET another convshare server's ``.../convshare/s/<link>/export.json``.

    Blocking (a server calls it in a worker thread). What it refuses, and why (a server
    fetching a URL a user chose is a server-side request forgery risk):

    * only the URL :func:`parse_share_url` builds: ``http``/``https``, a share-link path,
      no user info, no query; nothing else of the user's URL reaches the request;
    * host names are resolved once and every address checked: link-local (cloud metadata,
      ``169.254.169.254``), multicast, unspecified and reserved addresses are refused; the
      connection goes to the checked address (no DNS rebinding between check and use);
      loopback and private addresses are allowed unless ``allow_private`` is ``False``
      (Jupyter servers of one organisation are often there, and a server's own users can
      reach them from a kernel anyway; a shared service whose users cannot should refuse
      them: ``ConvShareApp.library_private_networks``);
    * no cookies, no credentials, no ``Referer``; ``Accept-Encoding: identity`` and any
      other ``Content-Encoding`` is refused (no decompression bomb);
    * redirects: at most :data:`MAX_REDIRECTS`, only within the same scheme, host and
      port and only to a share export path; none to another host;
    * the answer must be ``200`` with ``Content-Type: application/json``, at most
      ``max_bytes`` (checked against ``Content-Length`` and while reading), within
      ``timeout`` seconds in all (a slow trickle is cut off);
    * error messages name the origin and the HTTP status, never the link or the body.

    Args:
        url: the export URL (``ShareURL.export_url``).
        max_bytes: largest body accepted, in bytes.
        timeout: seconds for the whole fetch.
        allow_private: whether loopback and private-network addresses may be fetched.

    Returns:
        The body bytes.

    Raises:
        NotFound: (404) the other server answers 404 (the link does not work there).
        Expired: (410) the other server says the link expired.
        TooLarge: (413) over ``max_bytes``.
        InvalidRequest: (400, ``field="url"``) unreachable, refused address, redirect
            elsewhere, another status, not JSON, compressed.
    """
    deadline = time.monotonic() + timeout
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        origin = f"{scheme}://{parts.netloc}"
        address = _resolve(host, port, allow_private=allow_private)
        remaining = max(0.1, deadline - time.monotonic())
        conn = _connection(scheme, host, port, address, remaining)
        try:
            try:
                conn.request(
                    "GET",
                    parts.path,
                    headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
                )
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise InvalidRequest(
                    f"url: cannot fetch the conversation from {origin} ({type(exc).__name__})",
                    field="url",
                ) from None
            status = response.status
            if status in (301, 302, 303, 307, 308):
                current = _redirect_target(current, response.getheader("Location") or "")
                continue
            if status == 404:
                raise NotFound(f"url: this link does not work on {origin} (HTTP 404)", field="url")
            if status == 410:
                raise Expired(f"url: this link has expired on {origin} (HTTP 410)", field="url")
            if status != 200:
                raise InvalidRequest(f"url: {origin} answered HTTP {status}", field="url")
            encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
            if encoding != "identity":
                raise InvalidRequest(
                    f"url: {origin} sent a compressed ({encoding}) answer: not accepted", field="url"
                )
            media_type = (response.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
            if media_type != "application/json":
                raise InvalidRequest(
                    f"url: {origin} did not answer with a JSON export (Content-Type "
                    f"{media_type or 'missing'}): is it a convshare share link?",
                    field="url",
                )
            length = response.getheader("Content-Length")
            if length is not None and length.strip().isdigit() and int(length) > max_bytes:
                raise TooLarge(f"url: the export is over the import limit of {max_bytes} bytes", field="url")
            return _read_capped(response, origin, max_bytes, deadline)
        finally:
            conn.close()
    raise InvalidRequest(f"url: more than {MAX_REDIRECTS} redirects: not followed", field="url")


def _redirect_target(current: str, location: str) -> str:
    """The URL a redirect points to, if it stays on the same origin and is an export path.

    Raises:
        InvalidRequest: (``field="url"``) another scheme, host or port, or another path.
    """
    from urllib.parse import urljoin

    target = urljoin(current, location.strip())
    a, b = urlsplit(current), urlsplit(target)
    try:
        same = (a.scheme, a.hostname, a.port) == (b.scheme.lower(), b.hostname, b.port)
    except ValueError:
        same = False
    if not same or b.username is not None or b.password is not None:
        raise InvalidRequest(
            f"url: {a.scheme}://{a.netloc} redirected to another host: not followed", field="url"
        )
    if _SHARE_PATH.match(b.path.removesuffix("export.json")) is None or not b.path.endswith("/export.json"):
        raise InvalidRequest(
            f"url: {a.scheme}://{a.netloc} redirected away from the share export: not followed",
            field="url",
        )
    return f"{b.scheme}://{b.netloc}{b.path}"


def _read_capped(response: http.client.HTTPResponse, origin: str, max_bytes: int, deadline: float) -> bytes:
    """The body, at most ``max_bytes``, read before ``deadline`` (monotonic seconds)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise InvalidRequest(f"url: {origin} took too long to send the export", field="url")
        try:
            chunk = response.read1(64 * 1024)
        except (OSError, http.client.HTTPException) as exc:
            raise InvalidRequest(
                f"url: the export from {origin} was cut off ({type(exc).__name__})", field="url"
            ) from None
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise TooLarge(f"url: the export is over the import limit of {max_bytes} bytes", field="url")
        chunks.append(chunk)


def remote_lookup(origin: str, link: str) -> str:
    """The key a copy of another server's link is found by again: SHA-256 hex of a domain
    tag, the origin and the link (not the link; not the other server's own lookup key)."""
    return hashlib.sha256(f"convshare-library/1\x00{origin}\x00{link}".encode("utf-8")).hexdigest()


# -- the library ------------------------------------------------------------------------------


@dataclass
class _Visible:
    """What a user may see of a local item: status, permission, whether a grant reaches
    them, and whether their saved link still opens the share."""

    status: ItemStatus
    permission: str | None
    granted: bool
    link_works: bool


class Library:
    """The users' libraries over a :class:`~.shares.ShareService` (same store).

    Args:
        service: the share service (its store holds the ``library`` table).
        max_import_bytes: largest export fetched from another server, in bytes.
        fetch_timeout: seconds a fetch of another server's export may take.
        fetch: the function that fetches exports (default :func:`fetch_export`).
        allow_private_networks: whether the default fetch may reach loopback and
            private-network addresses (see :func:`fetch_export`).

    Every method takes the acting ``principal`` (an :class:`~.access.Principal` or a user
    name); anonymous principals may not save (:class:`~.errors.Forbidden`) and have an
    empty library. Item ids of other users answer :class:`~.errors.NotFound`.
    """

    def __init__(
        self,
        service: ShareService,
        *,
        max_import_bytes: int = DEFAULT_MAX_IMPORT_BYTES,
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        fetch: Fetch | None = None,
        allow_private_networks: bool = True,
    ) -> None:
        self.service = service
        self.max_import_bytes = max_import_bytes
        self.fetch_timeout = fetch_timeout
        self.fetch: Fetch = fetch or functools.partial(fetch_export, allow_private=allow_private_networks)

    # -- saving -----------------------------------------------------------------------

    def save_local(self, principal: access.PrincipalLike, link: str) -> tuple[LibraryItem, bool]:
        """Save a link of this server (the viewer's *Save to my library*).

        The item follows the share while this link works (or a grant reaches the user).
        Saving a link whose share is already in the library returns that item
        (``created=False``; it now follows this link). A single-use link is claimed for
        the user (``"user:<name>"``) if nobody has; claimed by someone else, it is 404.
        Audited: ``library.saved`` in the share owner's log.

        Args:
            principal: the authenticated user.
            link: the raw link token (not a URL).

        Returns:
            ``(item, created)``.

        Raises:
            Forbidden: anonymous; NotFound: unknown, revoked, rotated-away, switched-off
            or claimed link; Expired: the share expired; InvalidRequest: (``field="link"``)
            the user's own share.
        """
        p = self._user(principal, "link")
        if not isinstance(link, str) or not _LINK_RE.fullmatch(link):
            raise NotFound("this link does not exist or is no longer shared", field="link")
        share, _key = self.service.resolve_share(link, count_view=False)
        if share.owner == p.name:
            raise InvalidRequest("link: this conversation is yours: it is not saved to your library", field="link")
        lookup = lookup_key(link)
        claimant = f"user:{p.name}"
        now = self.service.now()
        with self.service._write() as tx:
            record = tx.get_share(share.share_id)
            if record is None or record.link_lookup != lookup or not record.link_enabled:
                raise NotFound("this link does not exist or is no longer shared", field="link")
            if record.single_use:
                holder = tx.claim_share(record.share_id, claimant)
                if holder is None or not access.may_open_claimed(holder, claimant):
                    raise NotFound("this link does not exist or is no longer shared", field="link")
                if record.claimed_by is None:
                    self.service._audit(tx, p, "link.claimed", record.owner, share_id=record.share_id,
                                        conversation_id=record.conversation_id, details={"by": "user"})
            existing = tx.find_library_share(p.name, record.share_id)
            if existing is not None:
                if existing.link_lookup != lookup:
                    tx.update_library_item(p.name, existing.item_id, {"link_lookup": lookup})
                item_id, created = existing.item_id, False
            else:
                item_id, created = new_share_id(), True
                tx.insert_library_item(
                    LibraryRecord(
                        item_id=item_id, user=p.name, share_id=record.share_id, conversation_id=None,
                        origin=THIS_SERVER, origin_title=_shown_title(record), name=None, tags=(),
                        archived=False, saved_at=now, updated_at=now, link_lookup=lookup,
                    )
                )
                self.service._audit(tx, p, "library.saved", record.owner, share_id=record.share_id,
                                    conversation_id=record.conversation_id, details={"via": "link"})
        return self.get(p, item_id), created

    def save_share(self, principal: access.PrincipalLike, share_id: str) -> tuple[LibraryItem, bool]:
        """Save a share granted to the user (by share id) into their library.

        The item shows the share while a grant reaches the user and it has not expired;
        it disappears when the grant goes. Saving twice returns the existing item.
        Audited: ``library.saved`` in the share owner's log.

        Returns:
            ``(item, created)``.

        Raises:
            Forbidden: anonymous, or no grant for the user (e.g. an admin: save its link);
            NotFound: no such share or no access; Expired: the share expired;
            InvalidRequest: (``field="share_id"``) the user's own share.
        """
        p = self._user(principal, "share_id")
        if not isinstance(share_id, str) or not share_id:
            raise InvalidRequest("share_id: expected a share id", field="share_id")
        share, _decision = self.service.access_to(p, share_id)
        if share.owner == p.name:
            raise InvalidRequest(
                "share_id: this conversation is yours: it is not saved to your library", field="share_id"
            )
        now = self.service.now()
        with self.service._write() as tx:
            record = tx.get_share(share_id)
            if record is None:
                raise NotFound("no such share", field="share_id")
            if access.granted_permission(p, tx.list_grants(share_id)) is None:
                raise Forbidden(
                    "share_id: only a conversation granted to you can be saved by its share id;"
                    " save its link instead",
                    field="share_id",
                )
            existing = tx.find_library_share(p.name, share_id)
            if existing is not None:
                item_id, created = existing.item_id, False
            else:
                item_id, created = new_share_id(), True
                tx.insert_library_item(
                    LibraryRecord(
                        item_id=item_id, user=p.name, share_id=share_id, conversation_id=None,
                        origin=THIS_SERVER, origin_title=_shown_title(record), name=None, tags=(),
                        archived=False, saved_at=now, updated_at=now, link_lookup=None,
                    )
                )
                self.service._audit(tx, p, "library.saved", record.owner, share_id=share_id,
                                    conversation_id=record.conversation_id, details={"via": "grant"})
        return self.get(p, item_id), created

    def save_url(
        self,
        principal: access.PrincipalLike,
        url: str,
        *,
        fetch: Fetch | None = None,
        this_server: Iterable[str] = (),
    ) -> tuple[LibraryItem, bool]:
        """Save a share link given as a full URL.

        A link of this server (its token verifies with this server's secret, or the URL's
        base is one of ``this_server``) is saved like :meth:`save_local`. Another server's
        link is fetched (its viewer's ``export.json``, see :func:`fetch_export`; blocking:
        call it in a worker thread), checked as ``convshare/1`` and stored as a new
        conversation owned by the user, with a library item marked with its origin
        (``"scheme://host[:port]/base/"``), in one write transaction. The link itself is
        never stored: the item keeps a one-way hash of it, so saving the same link again
        returns the existing copy (``created=False``). Audited: ``library.saved`` in the
        user's own log (details: the origin).

        Args:
            principal: the authenticated user.
            url: the share URL (``.../convshare/s/<link>``).
            fetch: overrides :attr:`fetch` for this call.
            this_server: base URLs of this server (``public_url``, the request's); a link
                under one of them is never fetched.

        Returns:
            ``(item, created)``.

        Raises:
            Forbidden: anonymous. InvalidRequest / NotFound / Expired / TooLarge: (all
            ``field="url"``) see :func:`parse_share_url` and :func:`fetch_export`;
            ImportFailed: (``field="url"``) the export is not a valid conversation.
        """
        p = self._user(principal, "url")
        parsed = parse_share_url(url)
        if self.is_local(parsed, this_server):
            try:
                return self.save_local(p, parsed.link)
            except (NotFound, Expired) as exc:
                raise type(exc)(exc.message, field="url") from None
            except InvalidRequest as exc:
                raise InvalidRequest(exc.message.replace("link: ", "url: ", 1), field="url") from None
        lookup = remote_lookup(parsed.origin, parsed.link)
        found = self._copy_for(p.name, lookup)
        if found is not None:
            return self.get(p, found), False
        body = (fetch or self.fetch)(parsed.export_url, max_bytes=self.max_import_bytes, timeout=self.fetch_timeout)
        conversation = _import_export(body, parsed.origin)
        return self._store_copy(p, conversation, parsed.origin, lookup)

    def is_local(self, parsed: ShareURL, this_server: Iterable[str]) -> bool:
        """Whether the parsed link is this server's: its base is one of ``this_server``
        (base URLs, ``""`` ignored), or its token verifies with this server's secret (an
        expired link too). Such a link is read from the store, never fetched over HTTP."""
        if any(_same_base(parsed.origin, base) for base in this_server if base):
            return True
        try:
            self.service.resolve_share(parsed.link, count_view=False)
        except Expired:
            return True
        except NotFound:
            return False
        return True

    def _copy_for(self, user: str, lookup: str) -> str | None:
        """The item id of ``user``'s copy saved from the same remote link, if it still exists."""
        with self.service.store.read() as session:
            row = session.find_library_link(user, lookup)
            if row is None or row.conversation_id is None:
                return None
            if session.get_conversation(user, row.conversation_id) is None:
                return None
            return row.item_id

    def _store_copy(
        self, p: access.Principal, conversation: Conversation, origin: str, lookup: str
    ) -> tuple[LibraryItem, bool]:
        now = self.service.now()
        doc = json.dumps(conversation.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        with self.service._write() as tx:
            row = tx.find_library_link(p.name, lookup)
            if row is not None and row.conversation_id and tx.get_conversation(p.name, row.conversation_id):
                item_id, created = row.item_id, False  # saved meanwhile by another request
            else:
                if row is not None:  # the copy was deleted: this save replaces the stale row
                    tx.delete_library_item(p.name, row.item_id)
                tx.insert_conversation(
                    ConversationRecord(
                        owner=p.name, id=conversation.id, title=conversation.title, version=1,
                        message_count=len(conversation.messages),
                        source_format=conversation.source.format or "convshare",
                        source_path=None, source_mtime=None, created_at=now, updated_at=now,
                    ),
                    doc,
                )
                item_id, created = new_share_id(), True
                tx.insert_library_item(
                    LibraryRecord(
                        item_id=item_id, user=p.name, share_id=None, conversation_id=conversation.id,
                        origin=origin, origin_title=conversation.title, name=None, tags=(),
                        archived=False, saved_at=now, updated_at=now, link_lookup=lookup,
                    )
                )
                self.service._audit(tx, p, "library.saved", p.name, conversation_id=conversation.id,
                                    details={"via": "import", "origin": origin})
        return self.get(p, item_id), created

    # -- reading ----------------------------------------------------------------------

    def list(
        self,
        principal: access.PrincipalLike,
        *,
        archived: bool | None = False,
        tag: str | None = None,
        q: str | None = None,
    ) -> list[LibraryItem]:
        """The user's library: saved items and granted shares not saved yet, newest first.

        Args:
            archived: ``False`` (default) only items not archived, ``True`` only archived
                ones, ``None`` both.
            tag: only items with this tag (exact).
            q: only items whose name, title, origin, owner or a tag contains this text
                (case-insensitive).

        Returns:
            One item per share or copy (no duplicates). Items saved from a link whose
            share is gone or expired show ``"revoked"`` / ``"expired"``; items only a grant
            made visible are left out once the grant goes.
        """
        p = access.as_principal(principal)
        if not p.authenticated or not p.name:
            return []
        items = self._all(p)
        needle = q.strip().casefold() if isinstance(q, str) and q.strip() else None
        out = []
        for item in items:
            if archived is not None and item.archived != archived:
                continue
            if tag is not None and tag not in item.tags:
                continue
            if needle is not None:
                haystack = " ".join(
                    str(x) for x in (item.name, item.title, item.origin, item.owner, *item.tags) if x
                ).casefold()
                if needle not in haystack:
                    continue
            out.append(item)
        return out

    def get(self, principal: access.PrincipalLike, item_id: str) -> LibraryItem:
        """One item of the user's library. Raises NotFound (``field="item_id"``)."""
        p = access.as_principal(principal)
        if not p.authenticated or not p.name or not isinstance(item_id, str):
            raise _item_not_found()
        for item in self._all(p):
            if item.item_id == item_id:
                return item
        raise _item_not_found()

    def read(self, principal: access.PrincipalLike, item_id: str) -> Conversation:
        """The conversation of an item.

        For an item of this server: what the share shows now (live: current; snapshot: its
        frozen copy), redacted as viewers see it (``core.redact.viewer_copy`` with the
        share's redaction choices: excluded messages stay out of a saved item). For a copy:
        the user's own conversation.

        Raises:
            NotFound: no such item, the share is gone or the saved link no longer works;
            Expired: (410) the share has expired.
        """
        item = self.get(principal, item_id)
        if item.status == "expired":
            raise Expired("this share has expired: ask the person who shared it for a new link",
                          field="item_id")
        if item.status == "revoked":
            raise NotFound("this conversation is no longer shared", field="item_id")
        redaction = Redaction()
        with self.service.store.read() as session:
            if item.share_id is not None:
                doc = session.get_share_doc(item.share_id)
                record = session.get_share(item.share_id)
                if record is not None:
                    redaction = Redaction.from_stored(record.redaction)
            else:
                assert item.conversation_id is not None
                doc = session.get_conversation_doc(item.user, item.conversation_id)
        if doc is None:
            raise NotFound("this conversation is no longer shared", field="item_id")
        conversation = Conversation.from_dict(json.loads(doc))
        if item.share_id is None:
            return conversation
        return viewer_copy(conversation, redaction, read_attachment=blob_reader(self.service.blob_path))

    # -- changing ---------------------------------------------------------------------

    def update(
        self,
        principal: access.PrincipalLike,
        item_id: str,
        *,
        name: str | None = UNSET,
        tags: builtins.list[str] = UNSET,
        archived: bool = UNSET,
    ) -> LibraryItem:
        """Rename, tag or archive an item (:data:`~.shares.UNSET` leaves a setting as is).

        A granted item not saved yet is saved by this (a row; not audited: renames, tags
        and archive flags are the user's private data). Its ``item_id`` then changes:
        use the returned item's.

        Args:
            name: the user's name for it (at most 200 characters; ``None`` or blank: no name).
            tags: at most 30 tags of at most 50 characters each (blank ones dropped,
                duplicates kept once, order kept).
            archived: hide it from the default listing.

        Raises:
            NotFound (``field="item_id"``); InvalidRequest naming ``name``/``tags``/``archived``.
        """
        p = access.as_principal(principal)
        changes: dict[str, Any] = {}
        if name is not UNSET:
            changes["name"] = _check_name(name)
        if tags is not UNSET:
            changes["tags"] = _check_tags(tags)
        if archived is not UNSET:
            if not isinstance(archived, bool):
                raise InvalidRequest("archived: expected true or false", field="archived")
            changes["archived"] = archived
        current = self.get(p, item_id)  # NotFound for anything the user may not see
        if not changes:
            return current
        now = self.service.now()
        with self.service._write() as tx:
            if current.kind == "granted":
                assert current.share_id is not None
                row = tx.find_library_share(p.name, current.share_id)
                if row is None:
                    record = tx.get_share(current.share_id)
                    if record is None or access.granted_permission(p, tx.list_grants(current.share_id)) is None:
                        raise _item_not_found()
                    row = LibraryRecord(
                        item_id=new_share_id(), user=p.name, share_id=current.share_id,
                        conversation_id=None, origin=THIS_SERVER, origin_title=_shown_title(record),
                        name=None, tags=(), archived=False, saved_at=current.saved_at,
                        updated_at=now, link_lookup=None,
                    )
                    tx.insert_library_item(row)
            else:
                row = tx.get_library_item(p.name, item_id)
                if row is None:
                    raise _item_not_found()
            tx.update_library_item(p.name, row.item_id, {**changes, "updated_at": now})
            new_id_ = row.item_id
        return self.get(p, new_id_)

    def remove(self, principal: access.PrincipalLike, item_id: str) -> None:
        """Remove an item from the library.

        A copy's conversation is deleted with it (and any share the user made of it). An
        item of this server only leaves the library: the share is not touched (a grant
        that still reaches the user shows it again as a granted item).

        Raises:
            NotFound: (``field="item_id"``) no such item;
            Conflict: (409) a granted item that was never saved: it stays while the grant
                does (archive it to hide it).
        """
        p = access.as_principal(principal)
        item = self.get(p, item_id)
        if item.kind == "granted":
            raise Conflict(
                "this conversation is shared with you by a grant: it stays in your library while"
                " the grant does; archive it to hide it",
                field="item_id",
            )
        referenced: list[str] = []
        with self.service._write() as tx:
            row = tx.get_library_item(p.name, item_id)
            if row is None:
                raise _item_not_found()
            if row.conversation_id is not None and tx.get_conversation(p.name, row.conversation_id):
                revoked = [s.share_id for s in tx.list_shares(p.name) if s.conversation_id == row.conversation_id]
                referenced = tx.delete_conversation(p.name, row.conversation_id)
                self.service._audit(tx, p, "conversation.deleted", p.name, conversation_id=row.conversation_id,
                                    details={"revoked_shares": revoked})
                for share_id in revoked:
                    self.service._audit(tx, p, "share.revoked", p.name, share_id=share_id,
                                        conversation_id=row.conversation_id,
                                        details={"reason": "conversation deleted"})
            tx.delete_library_item(p.name, item_id)
        if referenced:
            self.service.store.collect_blobs(referenced)

    # -- internals --------------------------------------------------------------------

    @staticmethod
    def _user(principal: access.PrincipalLike, field_name: str) -> access.Principal:
        p = access.as_principal(principal)
        if not p.authenticated or not p.name:
            raise Forbidden("log in to save conversations to your library", field=field_name)
        return p

    def _all(self, p: access.Principal) -> builtins.list[LibraryItem]:
        """Every item the user may see (saved rows, then granted shares), newest first."""
        now = self.service.now()
        items: list[LibraryItem] = []
        with self.service.store.read() as session:
            rows = session.list_library(p.name)
            saved_shares = {r.share_id for r in rows if r.share_id}
            for row in rows:
                item = self._saved_item(session, p, row, now)
                if item is not None:
                    items.append(item)
            granted: dict[str, tuple[ShareRecord, list[GrantRecord]]] = {}
            for record, grant in session.list_granted(p.name, p.groups):
                if record.share_id in saved_shares or record.owner == p.name:
                    continue
                granted.setdefault(record.share_id, (record, []))[1].append(grant)
        for record, grants in granted.values():
            permission = access.granted_permission(p, grants)
            if permission is None or _expired(record, now):
                continue
            items.append(
                LibraryItem(
                    item_id=GRANT_ITEM_PREFIX + record.share_id, user=p.name, kind="granted",
                    share_id=record.share_id, conversation_id=None, title=_shown_title(record), name=None,
                    origin=THIS_SERVER, owner=record.owner, permission=permission, status="active",
                    tags=[], archived=False,
                    saved_at=min(g.created_at for g in grants if access.grant_matches(p, g)),
                    updated_at=record.updated_at,
                    link=self.service._share(record).link if record.link_enabled else None,
                )
            )
        items.sort(key=lambda i: (i.saved_at, i.item_id), reverse=True)
        return items

    def _saved_item(
        self, session: StoreSession, p: access.Principal, row: LibraryRecord, now: datetime
    ) -> LibraryItem | None:
        """The item of one library row as ``p`` may see it (``None``: not visible)."""
        base = dict(
            item_id=row.item_id, user=p.name, kind="saved", name=row.name, tags=list(row.tags),
            archived=row.archived, saved_at=row.saved_at,
        )
        if row.share_id is None:
            if row.conversation_id is None:
                return None
            record = session.get_conversation(p.name, row.conversation_id)
            if record is None:
                return None  # the user deleted the copy's conversation
            return LibraryItem(
                **base, share_id=None, conversation_id=row.conversation_id, title=record.title,  # type: ignore[arg-type]
                origin=row.origin, owner=None, permission=None, status="copy",
                updated_at=max(row.updated_at, record.updated_at),
            )
        share = session.get_share(row.share_id)
        grants = session.list_grants(row.share_id) if share is not None else []
        visible = _visibility(p, row, share, grants, now)
        if visible is None:
            return None
        link = None
        if share is not None and visible.status == "active" and share.link_enabled and (
            visible.granted or visible.link_works
        ):
            link = self.service._share(share).link
        return LibraryItem(
            **base, share_id=row.share_id, conversation_id=None,  # type: ignore[arg-type]
            title=(_shown_title(share) if share is not None else None) or viewer_title(row.origin_title, None),
            origin=THIS_SERVER, owner=share.owner if (share is not None and visible.granted) else None,
            permission=visible.permission, status=visible.status,
            updated_at=max(row.updated_at, share.updated_at) if share is not None else row.updated_at,
            link=link,
        )


def _shown_title(record: ShareRecord) -> str | None:
    """The title of a share's conversation as its viewers see it (the share's masks:
    ``core.redact.viewer_title``); library items never show more than the viewer page."""
    return viewer_title(record.title, Redaction.from_stored(record.redaction))


def _visibility(
    p: access.Principal,
    row: LibraryRecord,
    share: ShareRecord | None,
    grants: list[GrantRecord],
    now: datetime,
) -> _Visible | None:
    """Status and permission of a saved item of this server (``None``: hidden).

    * the share is gone: ``"revoked"`` (the user saved it and may learn that);
    * a grant reaches the user, or the saved link is still the share's working link
      (on, and claimed by this user when single-use): ``"active"`` or ``"expired"``;
    * saved from a link that no longer works (rotated, switched off): ``"revoked"``;
    * saved only through a grant that is gone: hidden (access lost, no trace left).
    """
    if share is None:
        return _Visible("revoked", None, False, False)
    permission = access.granted_permission(p, grants)
    link_works = (
        row.link_lookup is not None
        and row.link_lookup == share.link_lookup
        and share.link_enabled
        and (not share.single_use or share.claimed_by == f"user:{p.name}")
    )
    if permission is not None or link_works:
        status: ItemStatus = "expired" if _expired(share, now) else "active"
        return _Visible(status, permission or "view", permission is not None, link_works)
    if row.link_lookup is not None:
        return _Visible("revoked", None, False, False)
    return None


def _expired(share: ShareRecord, now: datetime) -> bool:
    return share.expires_at is not None and now >= share.expires_at


def _item_not_found() -> NotFound:
    return NotFound("no such item in your library", field="item_id")


def _check_name(name: Any) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise InvalidRequest("name: expected a string or null", field="name")
    text = " ".join(name.split())
    if len(text) > MAX_NAME_CHARS:
        raise InvalidRequest(f"name: longer than {MAX_NAME_CHARS} characters", field="name")
    return text or None


def _check_tags(tags: Any) -> list[str]:
    if not isinstance(tags, (list, tuple)):
        raise InvalidRequest("tags: expected a list of strings", field="tags")
    out: list[str] = []
    for i, tag in enumerate(tags):
        if not isinstance(tag, str):
            raise InvalidRequest(f"tags[{i}]: expected a string", field="tags")
        text = " ".join(tag.split())
        if len(text) > MAX_TAG_CHARS:
            raise InvalidRequest(f"tags[{i}]: longer than {MAX_TAG_CHARS} characters", field="tags")
        if text and text not in out:
            out.append(text)
    if len(out) > MAX_TAGS:
        raise InvalidRequest(f"tags: at most {MAX_TAGS} tags", field="tags")
    return out


def _import_export(body: bytes, origin: str) -> Conversation:
    """The conversation of another server's JSON export, ready to store as a new copy.

    It gets a fresh id (never overwriting one of the user's conversations), no local path,
    and its attachments are marked unavailable (their bytes are not in the export; a
    digest alone must never open a blob of this store). Its origin goes into
    ``extra["convshare"]["library_origin"]``.

    Raises:
        ImportFailed: (``field="url"``) not UTF-8 JSON, or not a valid ``convshare/1``
            conversation (the message says which field).
    """
    from .importers import load_one

    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ImportFailed(f"the export from {origin} is not JSON", field="url") from None
    if not isinstance(data, dict) or data.get("schema") != "convshare/1":
        raise ImportFailed(
            f"the answer from {origin} is not a convshare/1 conversation export", field="url"
        )
    try:
        conversation = load_one(data, format="convshare", name="export.json")
    except ConvShareError as exc:
        raise ImportFailed(f"the export from {origin} is not a valid conversation: {exc.message}",
                           field="url") from None
    conversation = conversation.copy()
    conversation.source.original_id = conversation.source.original_id or conversation.id
    conversation.id = new_id()
    conversation.source.path = None
    for attachment in conversation.attachments.values():
        attachment.available = False
        attachment.sha256 = None
        attachment.uri = None
    conversation.extra = dict(conversation.extra)
    conversation.extra["convshare"] = {**dict(conversation.extra.get("convshare") or {}), "library_origin": origin}
    return conversation
