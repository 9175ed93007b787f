"""The viewer: pages, files, ZIP, exports and QR codes of a share link, and what logged-in
readers do there.

DESIGN.md sections 4, 5, 8 and 9; contract 5. The public routes take the secret link in
their path (``{base_url}convshare/s/<link>...``), answer GET and HEAD only, and are
``@allow_unauthenticated`` (anyone with the link may read; the link is the credential).

Logged-in readers (only requests with credentials are looked up: see
:meth:`ViewerHandler.viewer_principal`) get a page rendered for them, never cached with
the anonymous pages: the collaborate form for ``collaborate``/``manage`` access on a live
share, *Reply* on earlier messages (a branch), *Save to my library* for anyone but the
owner. The signed-in routes are authenticated (``@web.authenticated``, jupyter-server's
XSRF check on every POST):

======================================================  ==================================
``POST convshare/s/<link>/messages``                    the collaborate form (303 to the branch)
``POST convshare/s/<link>/save``                        *Save to my library* (303 back)
``GET convshare/v/<share_id>``                          the page for grantees (link on or off)
``POST convshare/v/<share_id>/messages``                its collaborate form
``GET convshare/v/<share_id>/files/<id>|files.zip``     its files
``GET convshare/v/<share_id>/export.<fmt>``             its exports
======================================================  ==================================

Every response (pages, files, errors, static files) carries the viewer's security headers
(:data:`SECURITY_HEADERS` and a strict ``Content-Security-Policy``); errors render the
404/410 pages or a plain 500 page, never a traceback. The link never reaches the logs:
:meth:`ViewerHandler.prepare` masks it in the request's path before anything logs it.

Speed (DESIGN.md section 9): a page request checks the link (``ConvShareApp.check_link``:
one indexed SQLite read, the view counted in memory) and serves the cached page or its
gzip for the returned cache key; only a miss loads and decodes the conversation, and
renders it once per version off the event loop, kept in a bounded LRU (concurrent first
requests for the same page wait for one render). Files, ZIP and exports share one decoded
copy per version. The ZIP of all files is produced by :mod:`zipfile` in a
worker thread and streamed chunk by chunk, each chunk flushed and awaited, so neither the
archive nor the event loop is held by one download.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import hashlib
import inspect
import os
import re
import secrets
import threading
import unicodedata
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Iterator
from urllib.parse import quote

import jinja2
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from markupsafe import Markup
from tornado import web
from tornado.iostream import StreamClosedError

from ..core.access import Principal
from ..core.errors import ConvShareError, Expired, Forbidden, InvalidRequest, NotFound, TooLarge
from ..core.exporters import EXPORT_FORMATS, blob_reader, export
from ..core.model import Conversation
from ..core.qr import qr_png, qr_svg
from ..core.redact import viewer_copy
from ..core.render import (
    MAX_PATH_ID_CHARS,
    RASTER_IMAGE_TYPES,
    BranchTree,
    RenderCache,
    RenderedConversation,
    format_time_human,
    format_time_iso,
    pygments_css,
)
from ..core.shares import MAX_MESSAGE_CHARS, ResolvedShare, Share

__all__ = [
    "SECURITY_HEADERS",
    "PageError",
    "SignedInHandler",
    "ViewerHandler",
    "content_disposition",
    "content_security_policy",
    "default_handlers",
    "grantee_url",
    "safe_filename",
    "zip_compression",
    "zip_entry_names",
]

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

LINK_PATTERN = r"([A-Za-z0-9_-]{22,128})"
"""A link token in a route (contract 3: base64url, 22-128 characters)."""

SECURITY_HEADERS: dict[str, str] = {
    "X-Robots-Tag": "noindex, nofollow, noarchive",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
}
"""Headers on every viewer response (besides the Content-Security-Policy)."""

# connect-src 'self': the viewer's own script fetches another branch's page (same origin).
CSP_BASE = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'"
)
ATTACHMENT_CSP = "sandbox"
CHUNK_BYTES = 256 * 1024
ZIP_QUEUE_CHUNKS = 4  # at most ~1 MiB of a ZIP waits in memory per download

_LINK_IN_PATH = re.compile(r"(/convshare/s/)[^/?#]+")
# ZIP downloads hold a thread for their whole duration: keep them off the default executor
# that store calls and renders share.
_ZIP_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="convshare-zip")

EXPORT_LABELS = {"json": "JSON (lossless)", "csv": "CSV", "parquet": "Parquet", "md": "Markdown",
                 "html": "Web page (one file)", "chat": "Jupyter chat", "ipynb": "Notebook"}
ACTIVE_PATH_EXPORTS = frozenset(name for name, fmt in EXPORT_FORMATS.items() if fmt.active_path_only)
"""Exports holding the default (active) path only; the others hold every branch."""
EXPORT_PATTERN = "(" + "|".join(re.escape(name) for name in EXPORT_FORMATS) + ")"
"""The ``<fmt>`` of ``export.<fmt>`` routes: every key of ``core.exporters.EXPORT_FORMATS``."""

SWITCH_HEADER = "X-Convshare-Branch-Switch"
"""Sent by ``static/viewer.js`` when it fetches another branch's page: no view is counted."""

ERROR_PAGES: dict[int, tuple[str, str]] = {
    404: ("Link not found", "This link does not exist or was revoked."),
    410: ("Link expired", "This link has expired. Ask the person who shared it for a new link."),
    405: ("Not allowed", "This page can only be read."),
    400: ("Bad request", "This request could not be understood."),
    403: ("Not allowed", "This request was refused. Reload the conversation and try again."),
    409: ("Not possible", "This cannot be done on this conversation."),
    413: ("Too large", "This request is too large."),
}
SERVER_ERROR_PAGE = ("Something went wrong", "This page could not be shown. Please try again later.")


def content_security_policy(frame_ancestors: Iterable[str] = ()) -> str:
    """The viewer's Content-Security-Policy.

    Args:
        frame_ancestors: sources allowed to frame the viewer (``ConvShareApp.frame_ancestors``);
            empty gives ``frame-ancestors 'none'``. Values containing ``;`` or ``,`` or
            whitespace-only are ignored (they would break out of the directive).
    """
    sources = [s.strip() for s in frame_ancestors if s and s.strip() and not re.search(r"[;,\r\n]", s)]
    ancestors = " ".join(sources) if sources else "'none'"
    return f"{CSP_BASE}; frame-ancestors {ancestors}"


@functools.lru_cache(maxsize=16)
def _viewer_headers(frame_ancestors: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The viewer's headers for one ``frame_ancestors`` setting, computed once (not per
    request)."""
    return (("Content-Security-Policy", content_security_policy(frame_ancestors)), *SECURITY_HEADERS.items())


_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def safe_filename(name: str | None, default: str = "download") -> str:
    """A file name that is safe in a download or a ZIP entry.

    Keeps only the last path component (``/`` and ``\\`` separate), removes control
    characters, quotes and the characters Windows forbids (``<>:"|?*``, as ``_``), strips
    leading/trailing dots and spaces, refuses ``.``/``..``, and caps the length at 150
    characters (keeping the extension).

    Args:
        name: the proposed name (title, attachment name); ``None`` or empty gives ``default``.
        default: used when nothing safe is left.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[\\/]", text)[-1] if text else ""
    text = _UNSAFE_NAME_CHARS.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    if not text or set(text) <= {"_", " "}:
        return default
    if len(text) > 150:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: 150 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else text[:150]
    return text


def _ascii_fallback(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""

    def ascii_only(text: str) -> str:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        text = re.sub(r"[^A-Za-z0-9._ ()\[\]-]", "_", text)
        return re.sub(r"_+", "_", text).strip(" ._")

    ascii_ext = re.sub(r"[^A-Za-z0-9]", "", ascii_only(ext))
    return (ascii_only(stem) or "download") + (f".{ascii_ext}" if ascii_ext else "")


def content_disposition(name: str | None, default: str = "download") -> str:
    """``attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>`` (RFC 6266 / 5987).

    The name goes through :func:`safe_filename`; the quoted ``filename`` is an ASCII
    fallback for old clients, ``filename*`` the exact UTF-8 name.
    """
    safe = safe_filename(name, default)
    return f"attachment; filename=\"{_ascii_fallback(safe)}\"; filename*=UTF-8''{quote(safe, safe='')}"


def zip_entry_names(names: Iterable[str | None]) -> list[str]:
    """Safe, unique ZIP entry names, in order.

    Each name goes through :func:`safe_filename` (no directories, no ``..``, no absolute
    paths, no backslashes); duplicates (case-insensitive, as on Windows and macOS) get
    `` (2)``, `` (3)``... before the extension: ``a.txt``, ``a (2).txt``.
    """
    seen: set[str] = set()
    out: list[str] = []
    for raw in names:
        name = safe_filename(raw, "file")
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, dot, ext = name, "", ""
        candidate, n = name, 1
        while candidate.lower() in seen:
            n += 1
            candidate = f"{stem} ({n}){dot}{ext}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


# -- templates and static files ---------------------------------------------------------

_JINJA = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class _Body:
    """A response body and its gzip."""

    raw: bytes
    gzipped: bytes
    content_type: str


def _body(raw: bytes, content_type: str) -> _Body:
    return _Body(raw, gzip.compress(raw, compresslevel=6, mtime=0), content_type)


_static_lock = threading.Lock()
_static_files: dict[str, _Body] = {}


def _static_file(name: str) -> _Body | None:
    """A viewer static file (read once): ``viewer.css``, ``viewer.js``, or ``pygments.css``
    (generated from pygments on first use). ``None`` for any other name."""
    with _static_lock:
        cached = _static_files.get(name)
        if cached is not None:
            return cached
        if name == "pygments.css":
            body = _body(pygments_css().encode(), _STATIC_TYPES[".css"])
        else:
            path = STATIC_DIR / name
            suffix = path.suffix
            if "/" in name or name.startswith(".") or suffix not in _STATIC_TYPES or not path.is_file():
                return None
            body = _body(path.read_bytes(), _STATIC_TYPES[suffix])
        _static_files[name] = body
        return body


# -- page cache -------------------------------------------------------------------------


class ViewerCache:
    """Rendered view models, pages (with gzip) and QR codes of one server, with one
    render per key at a time (concurrent requests for the same page wait for it).

    Branch pages (``?path=``) are bounded like the rest: a page key names a branch by
    the end id :meth:`BranchTree.end_for` returned (one of the version's leaves, never
    the raw query value), and the LRU caches drop the least recently used entries.
    """

    def __init__(self) -> None:
        # View models by (content cache key, branch end id or None for the default path).
        self.views: RenderCache[Hashable, RenderedConversation] = RenderCache(maxsize=32)
        # The visible message tree of each version (branch ends for ``?path=``; rendered
        # messages shared by the pages of its branches).
        self.trees: RenderCache[str, BranchTree] = RenderCache(maxsize=16)
        self.pages: RenderCache[Hashable, _Body] = RenderCache(maxsize=32)
        self.qr: RenderCache[Hashable, _Body] = RenderCache(maxsize=256)
        # Decoded conversations by cache key, for files, ZIP and exports (read-only use).
        self.conversations: RenderCache[str, Conversation] = RenderCache(maxsize=8)
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}

    async def _once(self, cache: RenderCache[Any, Any], key: Hashable, compute: Callable[[], Any]) -> Any:
        """``cache[key]``, or ``compute()`` run in a worker thread (once for all
        concurrent callers of the same key) and cached."""
        hit = cache.get(key)
        if hit is not None:
            return hit
        flight = (id(cache), key)
        pending = self._inflight.get(flight)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[flight] = future
        try:
            value = await asyncio.to_thread(compute)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters re-raise it, nobody else logs it
            raise
        finally:
            self._inflight.pop(flight, None)
        cache.put(key, value)
        future.set_result(value)
        return value

    async def page(self, key: Hashable, render: Callable[[], _Body]) -> _Body:
        """The cached page for ``key``, or ``render()`` run in a worker thread and cached."""
        return await self._once(self.pages, key, render)  # type: ignore[no-any-return]

    async def tree(self, key: str, build: Callable[[], BranchTree]) -> BranchTree:
        """The cached :class:`BranchTree` for a content cache key, or ``build()`` run in a
        worker thread and cached."""
        return await self._once(self.trees, key, build)  # type: ignore[no-any-return]


# -- handlers ---------------------------------------------------------------------------


@contextlib.contextmanager
def _http_errors() -> Iterator[None]:
    """Store errors as the viewer's HTTP errors: 410 expired, 404 for all the rest."""
    try:
        yield
    except Expired:
        raise web.HTTPError(410) from None
    except NotFound:
        raise web.HTTPError(404) from None
    except ConvShareError as exc:
        raise web.HTTPError(exc.status) from None



class PageError(web.HTTPError):
    """An error page with its own heading and text (and a way back), for the viewer's forms.

    Args:
        status: the HTTP status.
        heading, message: plain text shown on the page (escaped by the template).
        back_url: a link back to the conversation, or ``None``.
    """

    def __init__(self, status: int, heading: str, message: str, back_url: str | None = None) -> None:
        super().__init__(status)
        self.heading = heading
        self.message = message
        self.back_url = back_url


CLAIM_COOKIE = "convshare-claim"
"""Cookie binding an anonymous browser to the single-use links it claimed (HttpOnly, scoped to the viewer)."""

class ViewerHandler(JupyterHandler):
    """Base of the viewer routes: GET/HEAD only, security headers, HTML error pages."""

    SUPPORTED_METHODS = ("GET", "HEAD")  # type: ignore[assignment]
    convshare_lean_log = True  # see server.app.lean_viewer_log_function
    _convshare_viewer: Principal | None  # set by viewer_principal()

    @property
    def convshare(self) -> Any:
        """The running ``ConvShareApp`` (``settings["convshare_app"]``)."""
        return self.settings["convshare_app"]

    @property
    def viewer_cache(self) -> ViewerCache:
        """This server's :class:`ViewerCache` (created on first use)."""
        cache = self.settings.get("convshare_viewer_cache")
        if cache is None:
            cache = self.settings["convshare_viewer_cache"] = ViewerCache()
        return cache  # type: ignore[no-any-return]

    def set_default_headers(self) -> None:
        """The server's configured extra headers (``settings["headers"]``), then the
        viewer's own, which override them.

        jupyter-server's default Content-Security-Policy is not computed: the viewer's
        replaces it on every response, and the viewer's headers are computed once per
        ``frame_ancestors`` setting (this runs for every response and every error).
        """
        for name, value in self.settings.get("headers", {}).items():
            if name.lower() != "content-security-policy":
                self.set_header(name, value)
        app = self.settings.get("convshare_app")
        for name, value in _viewer_headers(tuple(getattr(app, "frame_ancestors", ()))):
            self.set_header(name, value)

    def initialize(self) -> None:
        """Mask the link in the request's path before anything can log it.

        The router has already matched the route (the link is in the path arguments);
        tornado's and jupyter-server's logs, including the 405 of an unsupported method,
        use ``request.uri`` / ``request.path``, which from here on read ``[link]``.
        """
        self.request.uri = _LINK_IN_PATH.sub(r"\1[link]", self.request.uri or "")
        self.request.path = _LINK_IN_PATH.sub(r"\1[link]", self.request.path or "")

    async def prepare(self) -> None:  # type: ignore[override]
        """Check the Host header (DNS rebinding), as jupyter-server does.

        No identity is looked up: the link is the only credential here, and on a server
        without a token jupyter-server would mint a new anonymous identity and cookie for
        every visitor (DESIGN.md section 9: keep the public route lean). Every method is
        still ``@allow_unauthenticated``, so jupyter-server's handler audit passes.
        """
        self.current_user = self._jupyter_current_user = None
        # check_host parses the Host header (regex, ipaddress) on every request: remember
        # the hosts it allowed (a bounded set, so forged Host headers cannot grow it;
        # refused hosts are checked, and logged, every time).
        host = self.request.host
        allowed: dict[str, bool] = self.settings.setdefault("convshare_allowed_hosts", {})
        if host not in allowed:
            if not self.check_host():
                raise web.HTTPError(403)
            if len(allowed) < 64:
                allowed[host] = True

    def compute_etag(self) -> str | None:
        """No ETag: responses are ``no-store`` and hashing large pages costs time."""
        return None

    def check_xsrf_cookie(self) -> None:
        """Only GET/HEAD reach these handlers; there is nothing to protect."""
        return None

    def get_template(self, name: str) -> jinja2.Template:
        """A template of the viewer (its own autoescaping Jinja environment)."""
        return _JINJA.get_template(name)

    def static_urls(self) -> dict[str, str]:
        """URLs of the viewer's static files under the server's base_url."""
        base = url_path_join(self.base_url, "convshare", "static")
        return {
            "css": url_path_join(base, "viewer.css"),
            "pygments": url_path_join(base, "pygments.css"),
            "js": url_path_join(base, "viewer.js"),
        }

    async def check(self, link: str, *, count_view: bool = False) -> tuple[Share, str]:
        """``(share, cache_key)`` for ``link`` through ``ConvShareApp.check_link`` (no
        document decoded; live sources re-synced when due).

        Raises:
            tornado.web.HTTPError: 404 (unknown, rotated, revoked, deleted) or 410 (expired).
        """
        with _http_errors():
            share, key = await self.convshare.check_link(link, count_view=count_view)
            if share.single_use:
                # Every link route claims: a single-use link opens for its first opener only.
                claimant = await self.claimant(share)
                if claimant is not None:
                    share = await self.convshare.claim_link(share, claimant)
            return share, key

    def may_be_signed_in(self) -> bool:
        """``True`` when the request carries credentials: an ``Authorization`` header or the
        server's login cookie (``IdentityProvider.get_cookie_name``).

        Two header lookups for an anonymous visitor without cookies: the public page never
        asks the identity provider about requests without credentials (on a server without
        a token it would mint a new identity and cookie for every visitor).
        """
        headers = self.request.headers
        if "Authorization" in headers:
            return True
        if "Cookie" not in headers:
            return False
        return self.get_cookie(self.identity_provider.get_cookie_name(self)) is not None

    async def viewer_principal(self) -> Principal | None:
        """The logged-in user looking at the page, as ``ConvShareApp.principal_for`` names
        them, or ``None`` for an anonymous visitor (looked up once per request).

        Only requests with credentials (:meth:`may_be_signed_in`) are looked up, through
        the server's identity provider (``IdentityProvider.get_user``, as jupyter-server's
        own ``prepare`` does). A server without authentication
        (``IdentityProvider.auth_enabled`` false) has no logged-in users here: it cannot
        tell its owner from any other visitor.
        """
        if hasattr(self, "_convshare_viewer"):
            return self._convshare_viewer  # type: ignore[no-any-return]
        principal: Principal | None = None
        provider = self.identity_provider
        user = self.current_user  # set by jupyter-server's prepare on the signed-in routes
        if user is None and self.may_be_signed_in():
            user = provider.get_user(self)
            if inspect.isawaitable(user):  # get_user may be async
                user = await user
            if user is not None and provider.auth_enabled:
                self.current_user = self._jupyter_current_user = user
        if user is not None and provider.auth_enabled:
            found = self.convshare.principal_for(self)
            principal = found if found.authenticated and found.name else None
        self._convshare_viewer = principal
        return principal

    async def claimant(self, share: Share) -> str | None:
        """Who opens a single-use link: ``None`` for its owner or an admin (they preview it
        without using it up), ``"user:<name>"`` for another user logged in to this server,
        else ``"browser:<sha256 of a random cookie>"`` (the cookie is set here when absent).
        """
        principal = await self.viewer_principal()
        if principal is not None:
            if principal.name == share.owner or principal.is_admin:
                return None
            return f"user:{principal.name}"
        cookie = self.get_cookie(CLAIM_COOKIE)
        if not cookie or not re.fullmatch(r"[A-Za-z0-9_-]{32,128}", cookie):
            cookie = secrets.token_urlsafe(32)
            self.set_cookie(
                CLAIM_COOKIE,
                cookie,
                path=url_path_join(self.base_url, "convshare", "s/"),
                httponly=True,
                samesite="Lax",
                secure=self.request.protocol == "https",
                expires_days=365,
            )
        return "browser:" + hashlib.sha256(cookie.encode("ascii")).hexdigest()

    async def shared(self, link: str) -> tuple[Share, Conversation]:
        """The share and the conversation ``link`` shows as viewers see it (the share's
        redaction applied: ``ShareService.viewer_copy``), decoded once per version; files,
        the ZIP and exports read this copy, so an excluded message's attachments are gone.

        Raises:
            tornado.web.HTTPError: 404 or 410 as :meth:`check`.
        """
        share, key = await self.check(link)
        conversation = self.viewer_cache.conversations.get(key)
        if conversation is None:
            service = self.settings["convshare_service"]
            with _http_errors():
                # share, content and key from one statement: the redaction matches the key
                resolved = await asyncio.to_thread(service.resolve, share.link, count_view=False)
                seen: Conversation = await asyncio.to_thread(
                    service.viewer_copy, resolved.share, resolved.conversation
                )
            self.viewer_cache.conversations.put(resolved.cache_key, seen)
            return share, seen
        return share, conversation

    def _tree(self, link: str) -> tuple[ResolvedShare, BranchTree]:
        """The share and the branch tree of its current version (blocking: a worker thread)."""
        # The share, its content and its key from one statement: consistent together.
        resolved: ResolvedShare = self.settings["convshare_service"].resolve(link, count_view=False)
        service = self.settings["convshare_service"]
        tree = self.viewer_cache.trees.get_or_compute(
            resolved.cache_key, lambda: BranchTree(service.viewer_copy(resolved.share, resolved.conversation))
        )
        return resolved, tree

    def write_body(self, body: _Body) -> None:
        """Finish with ``body``, gzipped when the client accepts gzip."""
        self.set_header("Content-Type", body.content_type)
        self.set_header("Vary", "Accept-Encoding")
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")
            self.finish(body.gzipped)
        else:
            self.finish(body.raw)

    def query_value(self, name: str) -> str | None:
        """The first ``name`` query argument as text, or ``None`` when absent, empty, not
        UTF-8 or longer than any message id the page could name (hostile values are
        ignored, never reflected)."""
        values = self.request.query_arguments.get(name)
        if not values or not values[0] or len(values[0]) > MAX_PATH_ID_CHARS * 4:
            return None
        try:
            return values[0].decode("utf-8")
        except UnicodeDecodeError:
            return None

    async def access_of(self, principal: Principal, share_id: str) -> str | None:
        """``principal``'s access to a share (``"manage"``, ``"collaborate"``, ``"view"``;
        ``service.access_to`` in a worker thread), or ``None`` without a grant."""
        try:
            _share, access = await asyncio.to_thread(self.settings["convshare_service"].access_to, principal, share_id)
        except ConvShareError:
            return None
        return access  # type: ignore[no-any-return]

    def reader_context(
        self, principal: Principal, view: RenderedConversation, share: Share, access: str | None, base: str, *, can_save: bool
    ) -> dict[str, Any]:
        """What a page shows a logged-in reader besides the conversation (the template's
        ``reader``): the collaborate form, the *Reply* links, *Save to my library*.

        The form is for ``collaborate`` and ``manage`` access to a live, unexpired share:
        at the end of the shown path (replying to its last message), or under the
        message a valid ``?reply=<message id>`` names (an earlier message on the shown
        path; a reply there starts a branch). *Save* is for anyone but the share's owner
        (``can_save``: the page has a link to save). The forms carry jupyter-server's
        XSRF token (tornado ``xsrf_form_html``).

        Args:
            principal: the reader; access: their access, or ``None`` (a link holder only).
            view: the page's view model; share: the share it shows.
            base: the page's URL (no query), under the server's base_url.
        """
        service = self.settings["convshare_service"]
        may_post = access in ("collaborate", "manage") and share.mode == "live" and not share.is_expired(service.now())
        may_save = can_save and principal.name != share.owner
        xsrf = Markup(self.xsrf_form_html()) if (may_post or may_save) else Markup("")
        on_branch = "" if view.is_default_path or not view.end_id else "path=" + quote(view.end_id, safe="")
        form: dict[str, Any] | None = None
        reply_urls: dict[str, str] = {}
        if may_post:
            earlier = view.messages[:-1]
            wanted = self.query_value("reply")
            reply_to = next((m for m in earlier if m.id == wanted), None) if wanted else None
            for m in earlier:
                query = "&".join(q for q in (on_branch, "reply=" + quote(m.id, safe="")) if q)
                reply_urls[m.id] = f"{base}?{query}#reply"
            form = {
                "action": base + "/messages",
                "parent_id": reply_to.id if reply_to else (view.end_id or ""),
                "reply_to": reply_to.id if reply_to else None,
                "reply_author": reply_to.author_name if reply_to else None,
                "cancel_url": f"{base}{'?' + on_branch if on_branch else ''}#{reply_to.anchor}" if reply_to else None,
                "max_chars": MAX_MESSAGE_CHARS,
            }
        save = {"action": base + "/save", "path": "" if view.is_default_path else (view.end_id or "")} if may_save else None
        return {
            "name": principal.name,
            "xsrf": xsrf,
            "form": form,
            "reply_urls": reply_urls,
            "save": save,
            "saved": may_save and self.query_value("saved") == "1",
        }

    def render_page(
        self,
        view: RenderedConversation,
        share: Share,
        updated: datetime | None,
        urls: dict[str, str | None],
        share_url: str,
        reader: dict[str, Any] | None,
    ) -> str:
        """The page's HTML (``page.html``; blocking: run it in a worker thread for large
        conversations).

        Args:
            view: the view model of the branch shown; share: the share it belongs to.
            updated: the time shown as "Updated" (live) / "Snapshot from".
            urls: :func:`_page_urls` of the page.
            share_url: the absolute link (QR view), ``""`` without a QR code.
            reader: :meth:`reader_context` for a logged-in reader, ``None`` for the
                anonymous page (the cached one).
        """
        base = urls["page"]
        return self.get_template("page.html").render(
            view=view,
            share={
                "mode": share.mode,
                "created_iso": format_time_iso(share.created_at),
                "created_human": format_time_human(share.created_at),
                "updated_iso": format_time_iso(updated),
                "updated_human": format_time_human(updated),
                "expires_iso": format_time_iso(share.expires_at),
                "expires_human": format_time_human(share.expires_at),
            },
            urls=urls,
            exports=[
                {
                    "label": EXPORT_LABELS.get(name, name),
                    "url": f"{base}/export.{name}",
                    "extension": fmt.extension,
                    "active_path_only": name in ACTIVE_PATH_EXPORTS,
                }
                for name, fmt in EXPORT_FORMATS.items()
            ],
            static=self.static_urls(),
            share_url=share_url,
            reader=reader,
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The viewer's error pages: 404 and 410 as in DESIGN.md, anything else a plain
        page with no details (never a traceback)."""
        heading, message = ERROR_PAGES.get(status_code, SERVER_ERROR_PAGE)
        if status_code >= 500:
            heading, message = SERVER_ERROR_PAGE
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        back_url = None
        if isinstance(exc, PageError):
            heading, message, back_url = exc.heading, exc.message, exc.back_url
        try:
            html = self.get_template("error.html").render(
                status=status_code, heading=heading, message=message, back_url=back_url, static=self.static_urls()
            )
        except Exception:  # the error page itself must not fail with a traceback
            self.log.exception("convshare viewer: error page failed")
            html = f"<!DOCTYPE html><title>{status_code}</title><p>{heading}</p>"
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(html.encode("utf-8"))


def _page_urls(base: str, *, qr: bool = True) -> dict[str, str | None]:
    """The URLs a page links to under ``base`` (its own URL, no trailing slash); no QR
    code for pages that are not reachable by a link (the grantee route)."""
    return {
        "page": base,
        "files": base + "/files/",
        "zip": base + "/files.zip",
        "qr_svg": base + "/qr.svg" if qr else None,
        "qr_png": base + "/qr.png" if qr else None,
    }


def _fresh_body(html: str) -> _Body:
    """A page rendered for one request (never cached): gzip level 1, fast."""
    raw = html.encode("utf-8")
    return _Body(raw, gzip.compress(raw, compresslevel=1, mtime=0), "text/html; charset=UTF-8")


class PageHandler(ViewerHandler):
    """``GET {base_url}convshare/s/<link>``: the conversation page (counts one view).

    An anonymous visitor gets the cached page (one per version and branch). A request
    with credentials (:meth:`ViewerHandler.may_be_signed_in`) is looked up: a logged-in
    user gets a page rendered for them (from the cached view model, never from or into
    the page cache), with the collaborate form when their access allows it and *Save to
    my library* when the share is not theirs.
    """

    @allow_unauthenticated
    async def get(self, link: str) -> None:
        """The page; each GET counts a view."""
        await self._page(link, count_view=True)

    @allow_unauthenticated
    async def head(self, link: str) -> None:
        """Headers of the page; does not count a view."""
        await self._page(link, count_view=False)

    async def _page(self, link: str, *, count_view: bool) -> None:
        # The hot path: link check (one indexed read), then the cached page and its gzip.
        # Only a cache miss loads and decodes the conversation, in a worker thread.
        app = self.convshare
        request = self.request
        if request.query and SWITCH_HEADER in request.headers:
            count_view = False  # the viewer's script switching a branch: not a new view
        share, cache_key = await self.check(link, count_view=count_view)
        # The page holds the link and its share URL (public_url, or the request's scheme
        # and host, and base_url) besides the content: all in the key, the URL built on
        # a miss only.
        key: tuple[Any, ...] = (cache_key, link, app.public_url, request.protocol, request.host, self.base_url)
        end = await self._branch_end(link, cache_key) if request.query else None
        if end is not None:
            key += (end,)
        if self.may_be_signed_in():
            principal = await self.viewer_principal()
            if principal is not None:
                await self._signed_in_page(link, share, cache_key, end, principal)
                return
        cache = self.viewer_cache
        body = cache.pages.get(key)
        if body is None:
            share_url = app.share_url(link, request)
            with _http_errors():
                body = await cache.page(key, lambda: self._render(link, share_url, end))
        self.write_body(body)

    async def _signed_in_page(
        self, link: str, share: Share, cache_key: str, end: str | None, principal: Principal
    ) -> None:
        """The page for a logged-in user: rendered for them from the cached view model."""
        access = await self.access_of(principal, share.share_id)
        tree = self.viewer_cache.trees.get(cache_key)
        if tree is None:
            with _http_errors():
                tree = await self.viewer_cache.tree(cache_key, lambda: self._tree(link)[1])
        view = await asyncio.to_thread(self.viewer_cache.views.get_or_compute, (cache_key, end), lambda: tree.render(end))
        base = url_path_join(self.base_url, "convshare", "s", link)
        reader = self.reader_context(principal, view, share, access, base, can_save=True)
        share_url = self.convshare.share_url(link, self.request)
        updated = share.snapshot_at if share.mode == "snapshot" else (tree.conversation.updated_at or share.updated_at)
        html = await asyncio.to_thread(self.render_page, view, share, updated, _page_urls(base), share_url, reader)
        self.write_body(_fresh_body(html))

    async def _branch_end(self, link: str, cache_key: str) -> str | None:
        """The branch a ``?path=<message id>`` query names: the end id of a branch other
        than the default path, or ``None`` (no ``path``, the default path, or a value
        that names nothing: unknown, hidden, too long, not UTF-8 -- all ignored).

        The first such request for a version builds its :class:`BranchTree` (a load in a
        worker thread, no rendering); later ones are dictionary lookups.
        """
        wanted = self.query_value("path")
        if not wanted:
            return None
        tree = self.viewer_cache.trees.get(cache_key)
        if tree is None:
            with _http_errors():
                tree = await self.viewer_cache.tree(cache_key, lambda: self._tree(link)[1])
        end = tree.end_for(wanted)
        return None if end is None or end == tree.default_end else end

    def _render(self, link: str, share_url: str, end: str | None = None) -> _Body:
        """Load and render the anonymous page of the default path, or of the branch ending
        at ``end`` (runs in a worker thread, on a cache miss only)."""
        resolved, tree = self._tree(link)
        view = self.viewer_cache.views.get_or_compute((resolved.cache_key, end), lambda: tree.render(end))
        share = resolved.share
        updated = share.snapshot_at if share.mode == "snapshot" else (resolved.conversation.updated_at or share.updated_at)
        base = url_path_join(self.base_url, "convshare", "s", link)
        html = self.render_page(view, share, updated, _page_urls(base), share_url, None)
        return _body(html.encode("utf-8"), "text/html; charset=UTF-8")


def _attachment_file(conversation: Conversation, attachment_id: str, service: Any) -> tuple[str, str, str | None]:
    """``(blob path, file name, media type)`` of a downloadable attachment, else NotFound."""
    att = conversation.attachments.get(attachment_id)
    if att is None or not att.available or not att.sha256:
        raise NotFound("no such file")
    path = service.blob_path(att.sha256)
    return str(path), att.name, att.mime_type


class FileHandler(ViewerHandler):
    """``GET {base_url}convshare/s/<link>/files/<attachment id>``: one attachment, always a download."""

    @allow_unauthenticated
    async def get(self, link: str, attachment_id: str) -> None:
        """Stream the attachment's bytes."""
        await self._file(link, attachment_id, include_body=True)

    @allow_unauthenticated
    async def head(self, link: str, attachment_id: str) -> None:
        """The attachment's headers."""
        await self._file(link, attachment_id, include_body=False)

    async def _file(self, link: str, attachment_id: str, *, include_body: bool) -> None:
        _share, conversation = await self.shared(link)
        service = self.settings["convshare_service"]
        try:
            path, name, mime = await asyncio.to_thread(_attachment_file, conversation, attachment_id, service)
            size = await asyncio.to_thread(os.path.getsize, path)
        except (NotFound, OSError):
            raise web.HTTPError(404) from None
        media = (mime or "").split(";")[0].strip().lower()
        # Only raster images keep their type (for <img>); HTML, SVG, XML and the rest are
        # opaque bytes that no browser renders from this origin.
        self.set_header("Content-Type", media if media in RASTER_IMAGE_TYPES else "application/octet-stream")
        self.set_header("Content-Disposition", content_disposition(name, "file"))
        self.set_header("Content-Security-Policy", ATTACHMENT_CSP)
        self.set_header("Content-Length", str(size))
        if not include_body:
            self.finish()
            return
        try:
            with open(path, "rb") as src:  # noqa: ASYNC230 - reads go through a thread below
                while True:
                    chunk = await asyncio.to_thread(src.read, CHUNK_BYTES)
                    if not chunk:
                        break
                    self.write(chunk)
                    await self.flush()
        except StreamClosedError:
            return
        self.finish()


ZIP_SAMPLE_BYTES = 64 * 1024
"""How much of a file is test-compressed to decide whether deflating it is worth it."""

ZIP_DEFLATE_LEVEL = 1
"""zlib level of deflated ZIP entries: level 1 gets most of the gain at several times the speed."""

_COMPRESSED_MEDIA_TYPES = frozenset(
    {
        "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/heic",
        "image/heif", "image/jxl", "image/jp2",
        "application/zip", "application/gzip", "application/x-gzip", "application/x-bzip2",
        "application/x-xz", "application/x-7z-compressed", "application/vnd.rar",
        "application/x-rar-compressed", "application/zstd", "application/x-zstd",
        "application/pdf", "application/vnd.apache.parquet", "application/x-parquet",
        "application/epub+zip", "application/java-archive", "application/x-ipynb+zip",
    }
)  # fmt: skip
_COMPRESSED_MEDIA_PREFIXES = (
    "video/",
    "audio/",
    "application/vnd.openxmlformats-officedocument.",  # docx, xlsx, pptx: ZIP files
    "application/vnd.oasis.opendocument.",  # odt, ods, odp: ZIP files
)
_UNCOMPRESSED_AUDIO = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/aiff", "audio/x-aiff"})
_COMPRESSED_EXTENSIONS = frozenset(
    {
        "png", "jpg", "jpeg", "gif", "webp", "avif", "heic", "heif", "jxl",
        "zip", "gz", "tgz", "bz2", "xz", "7z", "rar", "zst", "whl", "jar", "epub",
        "parquet", "pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp",
        "mp3", "m4a", "aac", "ogg", "oga", "opus", "flac", "mp4", "m4v", "mov", "webm", "mkv", "avi",
    }
)  # fmt: skip


def zip_compression(name: str, media_type: str | None, sample: bytes) -> int:
    """The ZIP method for one entry: :data:`zipfile.ZIP_STORED` or :data:`zipfile.ZIP_DEFLATED`.

    Deflating bytes that are compressed already costs CPU (about 30x the time of storing
    them, measured in ``benchmarks/bench_zip.py``) for no gain, so an entry is stored
    when its media type (or, without one, its file extension) is a compressed format
    (images such as PNG/JPEG/WebP, audio and video, ZIP/gzip/7z..., Parquet, PDF, office
    documents), or when deflating ``sample`` (the first :data:`ZIP_SAMPLE_BYTES` of the
    file) saves less than 10 %. Everything else is deflated (level
    :data:`ZIP_DEFLATE_LEVEL`).

    Args:
        name: the entry's file name (its extension is used without a media type).
        media_type: the attachment's media type, or ``None``.
        sample: the first bytes of the file.
    """
    media = (media_type or "").split(";")[0].strip().lower()
    if media:
        if media in _COMPRESSED_MEDIA_TYPES:
            return zipfile.ZIP_STORED
        if media.startswith(_COMPRESSED_MEDIA_PREFIXES) and media not in _UNCOMPRESSED_AUDIO:
            return zipfile.ZIP_STORED
    else:
        _stem, dot, extension = name.rpartition(".")
        if dot and extension.lower() in _COMPRESSED_EXTENSIONS:
            return zipfile.ZIP_STORED
    if not sample:
        return zipfile.ZIP_STORED  # an empty file: nothing to deflate
    if len(zlib.compress(sample, ZIP_DEFLATE_LEVEL)) > len(sample) * 0.9:
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def _set_compress_level(info: zipfile.ZipInfo, level: int) -> None:
    # ZipFile.open(ZipInfo, "w") takes the level from the ZipInfo, not from the archive
    # (without this it deflates at zlib's default, level 6): a public attribute since
    # Python 3.13, private before.
    if hasattr(zipfile.ZipInfo, "compress_level"):
        info.compress_level = level  # type: ignore[attr-defined]
    else:
        info._compresslevel = level  # type: ignore[attr-defined]


class _Cancelled(Exception):
    """The client went away: stop writing the ZIP."""


class _QueueWriter:
    """A non-seekable file object for :class:`zipfile.ZipFile` that hands chunks of about
    :data:`CHUNK_BYTES` to the event loop's queue (blocking while the queue is full)."""

    def __init__(self, put: Callable[[bytes], None]) -> None:
        self._put = put
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        size = len(data)
        if not self._buffer and size >= CHUNK_BYTES:
            # A whole chunk (stored entries write the file's own chunks): no copying.
            self._put(bytes(data))
            return size
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return size

    def flush(self) -> None:
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()

    def close(self) -> None:
        """Nothing to release: the last bytes go out with :meth:`flush`."""


def _zip_time(value: datetime | None) -> tuple[int, int, int, int, int, int]:
    value = (value or datetime.now(timezone.utc)).astimezone(timezone.utc)
    if value.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (value.year, value.month, value.day, value.hour, value.minute, value.second)


class ZipHandler(ViewerHandler):
    """``GET {base_url}convshare/s/<link>/files.zip``: every downloadable attachment, streamed."""

    @allow_unauthenticated
    async def get(self, link: str) -> None:
        """Stream the ZIP."""
        await self._zip(link, include_body=True)

    @allow_unauthenticated
    async def head(self, link: str) -> None:
        """The ZIP's headers (its size is not known in advance)."""
        await self._zip(link, include_body=False)

    async def _zip(self, link: str, *, include_body: bool) -> None:
        share, conv = await self.shared(link)
        service = self.settings["convshare_service"]
        files: list[tuple[str, str, str | None]] = []
        for att in conv.attachments.values():
            if not (att.available and att.sha256):
                continue
            try:
                path = str(await asyncio.to_thread(service.blob_path, att.sha256))
            except NotFound:
                continue
            files.append((att.name, path, att.mime_type))
        names = zip_entry_names(name for name, _, _ in files)
        entries = [(arcname, path, mime) for arcname, (_, path, mime) in zip(names, files)]
        self.set_header("Content-Type", "application/zip")
        title = safe_filename(conv.title, "conversation")
        self.set_header("Content-Disposition", content_disposition(f"{title} files.zip", "files.zip"))
        self.set_header("Content-Security-Policy", ATTACHMENT_CSP)
        if not include_body:
            self.finish()
            return
        try:
            await self._stream(entries, _zip_time(conv.updated_at or share.updated_at))
        except (StreamClosedError, _Cancelled):
            return
        self.finish()

    async def _stream(
        self, entries: list[tuple[str, str, str | None]], date_time: tuple[int, int, int, int, int, int]
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=ZIP_QUEUE_CHUNKS)
        cancelled = threading.Event()

        def put(item: bytes | BaseException | None) -> None:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
            if cancelled.is_set():
                raise _Cancelled

        def produce() -> None:
            try:
                writer = _QueueWriter(put)
                with zipfile.ZipFile(writer, "w") as archive:
                    for arcname, path, mime in entries:
                        with open(path, "rb") as src:
                            first = src.read(CHUNK_BYTES)
                            info = zipfile.ZipInfo(arcname, date_time=date_time)
                            info.compress_type = zip_compression(arcname, mime, first[:ZIP_SAMPLE_BYTES])
                            _set_compress_level(info, ZIP_DEFLATE_LEVEL)
                            info.external_attr = 0o644 << 16
                            info.file_size = os.fstat(src.fileno()).st_size  # lets zipfile pick zip64
                            with archive.open(info, "w") as dst:
                                chunk = first
                                while chunk:
                                    dst.write(chunk)
                                    chunk = src.read(CHUNK_BYTES)
                writer.flush()
                put(None)
            except _Cancelled:
                pass
            except BaseException as exc:  # handed to the event loop, which logs it
                if not cancelled.is_set():
                    put(exc)

        producer = loop.run_in_executor(_ZIP_POOL, produce)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                self.write(item)
                await self.flush()
        finally:
            cancelled.set()
            while not queue.empty():
                queue.get_nowait()
            await producer


class ExportHandler(ViewerHandler):
    """``GET {base_url}convshare/s/<link>/export.<json|csv|parquet|md|html|chat|ipynb>``: the
    viewer's copy (``core.redact.viewer_copy``) in an export format, as a download
    (``Content-Disposition: attachment``, ``Content-Security-Policy: sandbox``: an HTML
    export never renders from our origin). ``html`` and ``ipynb`` embed the raster images
    the viewer shows, read from the store within ``core.exporters.MAX_IMAGE_BYTES``."""

    @allow_unauthenticated
    async def get(self, link: str, fmt: str) -> None:
        """The export as a download."""
        await self._export(link, fmt, include_body=True)

    @allow_unauthenticated
    async def head(self, link: str, fmt: str) -> None:
        """The export's headers."""
        await self._export(link, fmt, include_body=False)

    async def _export(self, link: str, fmt: str, *, include_body: bool) -> None:
        if fmt not in EXPORT_FORMATS:
            raise web.HTTPError(404)
        _share, conversation = await self.shared(link)
        export_format = EXPORT_FORMATS[fmt]
        title = safe_filename(conversation.title, "conversation")
        self.set_header("Content-Type", export_format.media_type)
        self.set_header("Content-Disposition", content_disposition(title + export_format.extension))
        self.set_header("Content-Security-Policy", ATTACHMENT_CSP)
        if not include_body:
            self.finish()
            return
        data = await asyncio.to_thread(_export_bytes, conversation, fmt, self.settings["convshare_service"])
        self.finish(data)


_EXPORTS: RenderCache[tuple[int, str], tuple[Conversation, bytes]] = RenderCache(maxsize=8)
"""Export bytes by (identity of the decoded conversation, format). ``shared`` hands out one
decoded object per version (``ViewerCache.conversations``), so a class downloading one
export renders it once; the entry holds that object, so its id cannot be reused meanwhile."""
EXPORT_CACHE_MAX_BYTES = 4 * 1024 * 1024
"""Exports larger than this (bytes) are not kept (made again on each request)."""


def _export_bytes(conversation: Conversation, fmt: str, service: Any) -> bytes:
    key = (id(conversation), fmt)
    hit = _EXPORTS.get(key)
    if hit is not None and hit[0] is conversation:
        return hit[1]
    data = export(viewer_copy(conversation), fmt, read_blob=blob_reader(service.blob_path))
    if len(data) <= EXPORT_CACHE_MAX_BYTES:
        _EXPORTS.put(key, (conversation, data))
    return data


class QRHandler(ViewerHandler):
    """``GET {base_url}convshare/s/<link>/qr.<svg|png>``: a QR code of the share's URL."""

    @allow_unauthenticated
    async def get(self, link: str, kind: str) -> None:
        """The QR image (not a download: the page shows it)."""
        await self.check(link)
        url = self.convshare.share_url(link, self.request)
        key = (kind, url)
        body = self.viewer_cache.qr.get(key)
        if body is None:
            if kind == "svg":
                body = _body(qr_svg(url), "image/svg+xml")
            else:
                png = qr_png(url)
                body = _Body(png, png, "image/png")  # PNG is compressed already
            self.viewer_cache.qr.put(key, body)
        if kind == "svg":
            self.write_body(body)
        else:
            self.set_header("Content-Type", body.content_type)
            self.finish(body.raw)

    @allow_unauthenticated
    async def head(self, link: str, kind: str) -> None:
        """The QR image's headers."""
        await self.get(link, kind)


class StaticHandler(ViewerHandler):
    """``GET {base_url}convshare/static/<file>``: the viewer's CSS and JS (same headers)."""

    @allow_unauthenticated
    async def get(self, name: str) -> None:
        """A static file, or 404."""
        body = _static_file(name)
        if body is None:
            raise web.HTTPError(404)
        self.write_body(body)

    @allow_unauthenticated
    async def head(self, name: str) -> None:
        """A static file's headers."""
        await self.get(name)


# -- signed-in routes: the collaborate form, Save to my library, the grantee pages ------


def grantee_url(app: Any, share: Share, request: Any = None) -> str:
    """The absolute URL of a share's grantee page, ``{base}convshare/v/<share_id>``.

    ``base`` is the one ``ConvShareApp.share_url`` builds links under (``public_url``, or
    the request's scheme, host and base_url), so both URLs always agree.
    """
    link_url: str = app.share_url(share.link, request)
    base = link_url[: len(link_url) - len(f"convshare/s/{share.link}")]
    return f"{base}convshare/v/{quote(share.share_id, safe='')}"


_FORM_ERRORS: dict[type[ConvShareError], tuple[str, str]] = {
    TooLarge: ("Message too long", f"A message may have at most {MAX_MESSAGE_CHARS:,} characters."),
}


def _form_error(exc: ConvShareError, back_url: str | None) -> web.HTTPError:
    """A core error of a form as the viewer's error page: 404 and 410 as for links (no
    way back), anything else with the error's own message and a link back."""
    if isinstance(exc, NotFound) and exc.field == "parent_id":
        # the share is fine, the message replied to is gone (or hidden from viewers)
        return PageError(404, "Message not found",
                         "The message you replied to is not in this conversation any more.", back_url)
    if isinstance(exc, NotFound):
        return web.HTTPError(404)
    if isinstance(exc, Expired):
        return web.HTTPError(410)
    heading, message = ERROR_PAGES.get(exc.status, SERVER_ERROR_PAGE)
    if type(exc) in _FORM_ERRORS:
        heading, message = _FORM_ERRORS[type(exc)]
    elif isinstance(exc, InvalidRequest) and exc.field == "text":
        heading, message = "Empty message", "Write a message before sending it."
    elif isinstance(exc, InvalidRequest) and exc.field == "parent_id":
        heading, message = "Message not found", "The message you replied to is not in this conversation any more."
    elif exc.message:
        message = exc.message[:1].upper() + exc.message[1:] + ("" if exc.message.endswith(".") else ".")
    return PageError(exc.status, heading, message, back_url)


class SignedInHandler(ViewerHandler):
    """Base of the viewer's authenticated routes (forms and the grantee pages).

    jupyter-server's own ``prepare`` runs here (identity provider, host check, the XSRF
    check of every POST, a login redirect for GET), and every method is
    ``@web.authenticated``; the responses keep the viewer's headers and error pages.

    The viewer's pages send no referrer (``Referrer-Policy: no-referrer``), so a browser
    sends ``Origin: null`` with their forms: that origin passes the origin check only
    with ``Sec-Fetch-Site: same-origin`` (or without that header, as a request without
    ``Origin`` does in jupyter-server); the XSRF token is checked in every case.
    """

    async def prepare(self) -> None:  # type: ignore[override]
        """jupyter-server's authentication (not the public routes' lean ``prepare``)."""
        await JupyterHandler.prepare(self)

    def check_xsrf_cookie(self) -> None:
        """jupyter-server's XSRF check (token-authenticated scripts are exempt)."""
        return JupyterHandler.check_xsrf_cookie(self)

    def check_origin(self, origin_to_satisfy_tornado: str = "") -> bool:
        """jupyter-server's origin check, with ``Origin: null`` from this origin's own pages."""
        if self.request.headers.get("Origin") == "null":
            return self.request.headers.get("Sec-Fetch-Site", "same-origin") == "same-origin"
        return bool(JupyterHandler.check_origin(self, origin_to_satisfy_tornado))

    async def principal(self) -> Principal:
        """The logged-in user (403 when the identity provider names nobody usable)."""
        principal = await self.viewer_principal()
        if principal is None:
            raise web.HTTPError(403)
        return principal

    def form_text(self) -> str:
        """The posted ``text`` field, line endings as ``\\n`` (browsers send ``\\r\\n``)."""
        return self.get_body_argument("text", "").replace("\r\n", "\n")

    async def post_message(self, principal: Principal, share_id: str, tree: BranchTree, base: str) -> None:
        """Add the posted message (``ConvShareApp.add_collaborator_message``), then 303 to
        the page of its branch (``?path=<new message id>``, at the form).

        The parent must be a message the page shows (a visible message of ``tree``);
        errors are the viewer's error pages with a link back to ``base``.
        """
        text = self.form_text()
        parent_id = self.get_body_argument("parent_id", "") or None
        if parent_id is not None and tree.end_for(parent_id) is None:
            raise _form_error(InvalidRequest("no such message", field="parent_id"), base)
        try:
            if len(text) > MAX_MESSAGE_CHARS:
                raise TooLarge("text: too long", field="text")
            _share, message, _delivered = await self.convshare.add_collaborator_message(
                principal, share_id, text, parent_id
            )
        except NotFound:
            # The page was readable (its link, or a grant, was just checked): no grant to
            # collaborate is a refusal, not a missing page.
            raise _form_error(Forbidden("you may read this conversation but not add messages to it"), base) from None
        except ConvShareError as exc:
            raise _form_error(exc, base) from None
        self.redirect(f"{base}?path={quote(message.id, safe='')}#reply", status=303)


class MessageFormHandler(SignedInHandler):
    """``POST {base_url}convshare/s/<link>/messages``: the collaborate form of a link's page.

    Form fields ``text`` (Markdown), ``parent_id`` and ``_xsrf``. For a logged-in user
    with ``collaborate`` (or ``manage``) access; 403 page for view-only grantees and
    link holders without a grant, 409 on a snapshot, 404/410 as the link.
    """

    SUPPORTED_METHODS = ("POST",)  # type: ignore[assignment]

    @web.authenticated
    async def post(self, link: str) -> None:
        """Add the message and redirect to its branch."""
        principal = await self.principal()
        share, cache_key = await self.check(link)
        tree = self.viewer_cache.trees.get(cache_key)
        if tree is None:
            with _http_errors():
                tree = await self.viewer_cache.tree(cache_key, lambda: self._tree(link)[1])
        base = url_path_join(self.base_url, "convshare", "s", link)
        await self.post_message(principal, share.share_id, tree, base)


class SaveHandler(SignedInHandler):
    """``POST {base_url}convshare/s/<link>/save``: *Save to my library* (form field
    ``_xsrf``, optional ``path``), then 303 back to the page (``?saved=1``, which shows
    a note to the logged-in reader).

    Calls ``ConvShareApp.library.save_local(principal, link)`` in a worker thread (saving
    again is not an error: the item is already there). Errors are the viewer's pages:
    404/410 as the link, 400 for the owner's own share.
    """

    SUPPORTED_METHODS = ("POST",)  # type: ignore[assignment]

    @web.authenticated
    async def post(self, link: str) -> None:
        """Save the link's conversation into the user's library."""
        principal = await self.principal()
        share, _key = await self.check(link)
        base = url_path_join(self.base_url, "convshare", "s", link)
        try:
            await asyncio.to_thread(self.convshare.library.save_local, principal, link)
        except ConvShareError as exc:
            raise _form_error(exc, base) from None
        path = self.get_body_argument("path", "")
        query = f"?path={quote(path, safe='')}&saved=1" if path and len(path) <= MAX_PATH_ID_CHARS else "?saved=1"
        self.redirect(base + query, status=303)


class GranteeHandler(SignedInHandler):
    """Base of ``{base_url}convshare/v/<share_id>...``: a share read through a grant (or
    as its owner or an admin), whether its link is on or off.

    Access comes from ``service.access_to`` on every request: ``view``, ``collaborate``
    or ``manage`` may read; anyone else gets the 404 page, a grantee of an expired share
    the 410 page. A live file-backed conversation is re-synced as on the link route.
    """

    async def grantee_share(self, share_id: str) -> tuple[Principal, Share, str, str]:
        """``(principal, share, access, content key)``; the key changes with the share's
        settings and its conversation's version (or snapshot), like a link's cache key."""
        principal = await self.principal()
        service = self.settings["convshare_service"]
        with _http_errors():
            share, access = await asyncio.to_thread(service.access_to, principal, share_id)
        app = self.convshare
        if share.mode == "live" and app._live_check_due(share.conversation_id):
            await app._resync(share.owner, share.conversation_id)

        def content_key() -> str:
            fresh, _ = service.access_to(principal, share_id)
            if fresh.mode == "snapshot":
                return f"grantee:snapshot:{fresh.share_id}:{fresh.snapshot_at}:{fresh.updated_at}"
            info = service.get_conversation_info(fresh.owner, fresh.conversation_id)
            return f"grantee:live:{fresh.share_id}:{info.created_at}:{info.version}:{fresh.updated_at}"

        with _http_errors():
            key = await asyncio.to_thread(content_key)
        return principal, share, access, key

    def _read(self, principal: Principal, share_id: str) -> Conversation:
        """The conversation the share shows now, as viewers see it (the share's redaction
        applied; blocking: a worker thread)."""
        service = self.settings["convshare_service"]
        share, _access, conversation = service.read_shared(principal, share_id)
        return service.viewer_copy(share, conversation)  # type: ignore[no-any-return]

    async def shared(self, link: str) -> tuple[Share, Conversation]:
        """The share and its conversation (``link`` is the share id on these routes)."""
        principal, share, _access, key = await self.grantee_share(link)
        conversation = self.viewer_cache.conversations.get(key)
        if conversation is None:
            with _http_errors():
                conversation = await asyncio.to_thread(self._read, principal, link)
            self.viewer_cache.conversations.put(key, conversation)
        return share, conversation

    async def grantee_tree(self, share_id: str) -> tuple[Principal, Share, str, str, BranchTree]:
        """``grantee_share`` and the share's :class:`BranchTree` (cached per content key)."""
        principal, share, access, key = await self.grantee_share(share_id)
        tree = self.viewer_cache.trees.get(key)
        if tree is None:
            with _http_errors():
                tree = await self.viewer_cache.tree(key, lambda: BranchTree(self._read(principal, share_id)))
        return principal, share, access, key, tree

    def grantee_base(self, share_id: str) -> str:
        """The grantee page's URL under the server's base_url."""
        return url_path_join(self.base_url, "convshare", "v", quote(share_id, safe=""))


class GranteePageHandler(GranteeHandler):
    """``GET {base_url}convshare/v/<share_id>``: the page of a share for its grantees (no
    QR code: this URL works only for users with access). Branches (``?path=``) and the
    collaborate form work as on the link's page."""

    @web.authenticated
    async def get(self, share_id: str) -> None:
        """The page."""
        await self._page(share_id)

    @web.authenticated
    async def head(self, share_id: str) -> None:
        """The page's headers."""
        await self._page(share_id)

    async def _page(self, share_id: str) -> None:
        principal, share, access, key, tree = await self.grantee_tree(share_id)
        wanted = self.query_value("path")
        end = tree.end_for(wanted) if wanted else None
        if end == tree.default_end:
            end = None
        view = await asyncio.to_thread(self.viewer_cache.views.get_or_compute, (key, end), lambda: tree.render(end))
        base = self.grantee_base(share_id)
        reader = self.reader_context(principal, view, share, access, base, can_save=False)
        updated = share.snapshot_at if share.mode == "snapshot" else (tree.conversation.updated_at or share.updated_at)
        html = await asyncio.to_thread(self.render_page, view, share, updated, _page_urls(base, qr=False), "", reader)
        self.write_body(_fresh_body(html))


class GranteeMessageFormHandler(GranteeHandler):
    """``POST {base_url}convshare/v/<share_id>/messages``: the collaborate form of the
    grantee page (as :class:`MessageFormHandler`)."""

    SUPPORTED_METHODS = ("POST",)  # type: ignore[assignment]

    @web.authenticated
    async def post(self, share_id: str) -> None:
        """Add the message and redirect to its branch."""
        principal, share, _access, _key, tree = await self.grantee_tree(share_id)
        await self.post_message(principal, share.share_id, tree, self.grantee_base(share_id))


class GranteeFileHandler(GranteeHandler, FileHandler):
    """``GET {base_url}convshare/v/<share_id>/files/<attachment id>`` (as :class:`FileHandler`)."""

    @web.authenticated
    async def get(self, share_id: str, attachment_id: str) -> None:  # type: ignore[override]
        """Stream the attachment's bytes."""
        await self._file(share_id, attachment_id, include_body=True)

    @web.authenticated
    async def head(self, share_id: str, attachment_id: str) -> None:  # type: ignore[override]
        """The attachment's headers."""
        await self._file(share_id, attachment_id, include_body=False)


class GranteeZipHandler(GranteeHandler, ZipHandler):
    """``GET {base_url}convshare/v/<share_id>/files.zip`` (as :class:`ZipHandler`)."""

    @web.authenticated
    async def get(self, share_id: str) -> None:  # type: ignore[override]
        """Stream the ZIP."""
        await self._zip(share_id, include_body=True)

    @web.authenticated
    async def head(self, share_id: str) -> None:  # type: ignore[override]
        """The ZIP's headers."""
        await self._zip(share_id, include_body=False)


class GranteeExportHandler(GranteeHandler, ExportHandler):
    """``GET {base_url}convshare/v/<share_id>/export.<fmt>`` (as :class:`ExportHandler`)."""

    @web.authenticated
    async def get(self, share_id: str, fmt: str) -> None:  # type: ignore[override]
        """The export as a download."""
        await self._export(share_id, fmt, include_body=True)

    @web.authenticated
    async def head(self, share_id: str, fmt: str) -> None:  # type: ignore[override]
        """The export's headers."""
        await self._export(share_id, fmt, include_body=False)


class NotFoundHandler(ViewerHandler):
    """Anything else under ``convshare/s/`` or ``convshare/static/``: the 404 page with the
    viewer's headers (a malformed link looks like any unknown link)."""

    @allow_unauthenticated
    async def get(self, *args: str) -> None:
        """The 404 page."""
        raise web.HTTPError(404)

    @allow_unauthenticated
    async def head(self, *args: str) -> None:
        """The 404 page's headers."""
        raise web.HTTPError(404)


SHARE_ID_PATTERN = r"([^/]+)"
"""A share id in a grantee route (any id; unknown ones get the 404 page)."""

default_handlers: list[tuple[str, type[ViewerHandler]]] = [
    (rf"convshare/s/{LINK_PATTERN}", PageHandler),
    (rf"convshare/s/{LINK_PATTERN}/messages", MessageFormHandler),
    (rf"convshare/s/{LINK_PATTERN}/save", SaveHandler),
    (rf"convshare/v/{SHARE_ID_PATTERN}", GranteePageHandler),
    (rf"convshare/v/{SHARE_ID_PATTERN}/messages", GranteeMessageFormHandler),
    (rf"convshare/v/{SHARE_ID_PATTERN}/files/([^/]+)", GranteeFileHandler),
    (rf"convshare/v/{SHARE_ID_PATTERN}/files\.zip", GranteeZipHandler),
    (rf"convshare/v/{SHARE_ID_PATTERN}/export\.{EXPORT_PATTERN}", GranteeExportHandler),
    (rf"convshare/s/{LINK_PATTERN}/files/([^/]+)", FileHandler),
    (rf"convshare/s/{LINK_PATTERN}/files\.zip", ZipHandler),
    (rf"convshare/s/{LINK_PATTERN}/export\.{EXPORT_PATTERN}", ExportHandler),
    (rf"convshare/s/{LINK_PATTERN}/qr\.(svg|png)", QRHandler),
    (r"convshare/static/([A-Za-z0-9_-]+\.(?:css|js))", StaticHandler),
    (r"convshare/s/.*", NotFoundHandler),
    (r"convshare/static/.*", NotFoundHandler),
    (r"convshare/v/.*", NotFoundHandler),
]
"""The viewer's routes, relative to the server's base_url (contract 5)."""
