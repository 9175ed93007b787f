"""REST API of the users' libraries: ``{base_url}convshare/api/library...`` (issue 3 item 7).

Thin handlers over :class:`~jupyter_convshare.core.library.Library` (``ConvShareApp.library``):
each validates the JSON body, calls the library in a worker thread (saving another
server's link is a network fetch, never on the event loop) and writes JSON. Errors are
:class:`~jupyter_convshare.core.errors.ConvShareError` subclasses mapped to HTTP in
``server/base.py`` (never a 500 for bad input).

Routes (relative to ``base_url``; every one authenticated, acting as the request's user):

=========================================================  ===================================
``GET convshare/api/library?archived=&tag=&q=``            ``{"items": [item, ...]}``
``POST convshare/api/library``                             save ``{"url"}`` or ``{"share_id"}``
``GET|PATCH|DELETE convshare/api/library/<item_id>``       one item; rename, tag, archive; remove
``GET convshare/api/library/<item_id>/conversation``       its conversation (``convshare/1``)
``POST convshare/api/library/<item_id>/save-as``           ``{"path"}``: write it as a ``.chat`` file
``POST convshare/api/library/preview``                     ``{"url"}``: what a share link shows
``POST convshare/api/library/save-as``                     ``{"url", "path"}``: a link as a ``.chat`` file
=========================================================  ===================================

The ``save-as`` routes write a jupyterlab-chat document (the active path, as a viewer sees
it: ``core.exporters`` format ``chat``) into the server's contents root through the
contents manager: never over an existing file, only under the root, only with the
contents ``write`` permission (see :func:`check_chat_path`). ``preview`` and the link
``save-as`` read a link of this server like its viewer would (a single-use link is
claimed for the user) and fetch another server's ``export.json`` like a library save,
but store nothing.

An item is :meth:`LibraryItem.to_json <jupyter_convshare.core.library.LibraryItem.to_json>`
with ``url``: the share's viewer URL when the user may open it with its link (the link is
on), the grantee page ``convshare/v/<share_id>`` when a grant reaches the user and the link
is off, else ``None``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web

from ..core.errors import Conflict, ConvShareError, Expired, Forbidden, InvalidRequest, NotFound
from ..core.exporters import export
from ..core.library import THIS_SERVER, Library, LibraryItem, _import_export, parse_share_url
from ..core.model import Conversation, format_time
from ..core.shares import UNSET
from .base import ConvShareAPIHandler

_SAVE_BODY_BYTES = 64 * 1024
MAX_PATH_CHARS = 1024
"""Longest ``path`` accepted by the ``save-as`` routes (characters)."""
SUMMARY_CHARS = 280
"""Longest ``summary`` of a link preview (characters; cut at a word, with an ellipsis)."""
_BAD_PATH_CHARS = re.compile(r'[\x00-\x1f\x7f\\:*?"<>|]')


def check_chat_path(path: Any) -> str:
    """Check the workspace path a ``save-as`` writes, and return it.

    Accepted: a relative API path of the contents root (``/``-separated, e.g.
    ``chats/from-ada.chat``) ending with ``.chat``; a leading ``/`` is dropped.

    Raises:
        InvalidRequest: (``field="path"``) not a string, empty, longer than
            :data:`MAX_PATH_CHARS`, control characters, ``\\`` or characters Windows
            refuses (``:*?"<>|``), ``.``/``..``/empty/hidden (``.name``) segments (nothing
            outside the root, no dot-files), or another extension.
    """
    if not isinstance(path, str) or not path.strip():
        raise InvalidRequest("path: expected the .chat file to write, e.g. 'chats/copy.chat'", field="path")
    text = path.strip().lstrip("/")
    if len(text) > MAX_PATH_CHARS:
        raise InvalidRequest(f"path: longer than {MAX_PATH_CHARS} characters", field="path")
    if _BAD_PATH_CHARS.search(text):
        raise InvalidRequest('path: control characters and \\ : * ? " < > | are not allowed', field="path")
    segments = text.split("/")
    if any(not s.strip() or s.startswith(".") for s in segments):
        raise InvalidRequest(
            "path: must stay inside your workspace (no '..', '.', empty or hidden segments)", field="path"
        )
    if not text.lower().endswith(".chat") or len(segments[-1]) <= len(".chat"):
        raise InvalidRequest("path: the file name must end with .chat", field="path")
    return text


def link_preview(conversation: Conversation, origin: str) -> dict[str, Any]:
    """What the *Open share link* dialog shows of a conversation (as its viewer sees it).

    Returns:
        ``{"title": str | None, "origin": str, "message_count": int, "participants": [str],
        "summary": str, "created_at": str | None, "updated_at": str | None}``:
        ``message_count`` counts the active path (what the viewer shows first),
        ``participants`` are display names (or ids) of the authors on it, ``summary`` is
        the first user message's text, at most :data:`SUMMARY_CHARS` characters; times
        ISO 8601 UTC.
    """
    path = conversation.active_path()
    names: list[str] = []
    for message in path:
        who = conversation.participants.get(message.author_id)
        name = (who.display_name if who is not None else None) or message.author_id
        if name and name not in names:
            names.append(name)
    first = next((m.text for m in path if m.role == "user" and m.text.strip()), "")
    summary = " ".join(first.split())
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return {
        "title": conversation.title,
        "origin": origin,
        "message_count": len(path),
        "participants": names,
        "summary": summary,
        "created_at": format_time(conversation.created_at),
        "updated_at": format_time(conversation.updated_at),
    }
_ARCHIVED = {"false": False, "0": False, "no": False, "true": True, "1": True, "yes": True, "all": None, "any": None}


class _LibraryBase(ConvShareAPIHandler):
    """What the library handlers share: the library and the item JSON."""

    @property
    def library(self) -> Library:
        """The running app's :class:`~jupyter_convshare.core.library.Library`."""
        return self.convshare.library

    def item_json(self, item: LibraryItem, **extra: Any) -> dict[str, Any]:
        """``item.to_json(url)``: ``url`` is the viewer URL of the share's link when the user
        may open it with it; for an active item a grant reaches (``owner`` is known) whose
        link is off, the grantee page ``convshare/v/<share_id>``; else ``None``."""
        app = self.convshare
        url: str | None = None
        if item.link:
            url = app.share_url(item.link, self.request)
        elif item.status == "active" and item.share_id and item.owner is not None:
            # the same base as share_url (public_url, or the request's), as viewer.grantee_url
            probe = app.share_url("_", self.request)
            url = f"{probe[: -len('convshare/s/_')]}convshare/v/{quote(item.share_id, safe='')}"
        data = item.to_json(url=url)
        data.update(extra)
        return data

    def this_server(self) -> list[str]:
        """Base URLs under which a share link is this server's (never fetched over HTTP)."""
        app = self.convshare
        base_url = app.serverapp.base_url if app.serverapp is not None else "/"
        bases = [app.public_url, f"{self.request.protocol}://{self.request.host}{base_url}"]
        if app.serverapp is not None:
            bases.append(url_path_join(app.serverapp.connection_url, "/"))
        return [b for b in bases if b]

    async def read_link(self, url: Any) -> tuple[Conversation, str]:
        """What the share link ``url`` shows, as its viewer shows it, and its origin.

        A link of this server goes through the viewer's checks (live re-sync, expiry; a
        single-use link is claimed for the user unless they own it or are an admin); a
        link of another server is fetched like a library save (``Library.fetch``: the
        SSRF rules of ``core.library.fetch_export``), in a worker thread. Nothing is stored.

        Returns:
            ``(conversation, origin)``: ``origin`` is ``"this server"`` or the other
            server's ``"scheme://host[:port]/base/"``.

        Raises:
            InvalidRequest / NotFound / Expired / TooLarge / ImportFailed, all naming ``url``.
        """
        parsed = parse_share_url(url)
        library = self.library
        if not library.is_local(parsed, self.this_server()):
            body = await self.run(
                library.fetch, parsed.export_url, max_bytes=library.max_import_bytes, timeout=library.fetch_timeout
            )
            return await self.run(_import_export, body, parsed.origin), parsed.origin
        try:
            share, _key = await self.convshare.check_link(parsed.link)
            principal = self.principal
            if share.single_use and share.owner != principal.name and not principal.is_admin:
                share = await self.convshare.claim_link(share, f"user:{principal.name}")
            conversation, _key = await self.run(self.service.load_shared_conversation, share)
        except (NotFound, Expired) as exc:
            raise type(exc)(exc.message, field="url") from None
        return await self.run(self.service.viewer_copy, share, conversation), THIS_SERVER

    async def write_chat_file(self, conversation: Conversation, path: Any) -> dict[str, Any]:
        """Write ``conversation`` as a jupyterlab-chat document at ``path`` of the contents root.

        Returns:
            ``{"path": str, "name": str}`` of the new file (API path, root-relative).

        Raises:
            InvalidRequest: a bad ``path`` (:func:`check_chat_path`) or a contents manager
                refusal; Forbidden: no contents ``write`` permission; Conflict: a file or
                folder is there already (never overwritten); NotFound: the folder does not
                exist. All name ``path``.
        """
        path = check_chat_path(path)
        authorizer = self.settings.get("authorizer")
        if authorizer is not None and not await ensure_async(
            authorizer.is_authorized(self, self.current_user, "write", "contents")
        ):
            raise Forbidden("path: you may not write files on this server", field="path")
        contents = self.settings.get("contents_manager")
        if contents is None:
            raise InvalidRequest("path: this server has no workspace to write files to", field="path")
        folder = path.rpartition("/")[0]
        if folder and not await ensure_async(contents.dir_exists(folder)):
            raise NotFound(f"path: there is no folder {folder!r}", field="path")
        if await ensure_async(contents.file_exists(path)) or await ensure_async(contents.dir_exists(path)):
            raise Conflict(f"path: {path!r} exists already; choose another name", field="path")
        data = await self.run(export, conversation, "chat")
        model = {"type": "file", "format": "text", "content": data.decode("utf-8")}
        try:
            saved = await ensure_async(contents.save(model, path))
        except web.HTTPError as exc:
            # e.g. the root's own refusals (outside the root, hidden files, permissions)
            raise InvalidRequest(f"path: {exc.log_message or exc.reason or 'cannot write it'}", field="path") from None
        return {"path": saved["path"], "name": saved["name"]}


class LibraryHandler(_LibraryBase):
    """``GET|POST convshare/api/library``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """``{"items": [item, ...]}``, newest first. Query: ``archived`` (``false`` default,
        ``true``, ``all``), ``tag`` (exact), ``q`` (text in name, title, origin, owner, tags)."""
        raw = self.get_query_argument("archived", "false").strip().lower()
        if raw not in _ARCHIVED:
            raise InvalidRequest("archived: expected true, false or all", field="archived")
        tag = self.get_query_argument("tag", "") or None
        q = self.get_query_argument("q", "") or None
        items = await self.run(self.library.list, self.principal, archived=_ARCHIVED[raw], tag=tag, q=q)
        self.write_json({"items": [self.item_json(i) for i in items]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Body ``{"url": str}`` (a share link of this or another server) or
        ``{"share_id": str}`` (a share granted to me): 201 with the item and
        ``"created": true``, 200 (``"created": false``) when it was already saved.
        403 anonymous; 400/404/410/413 naming ``url`` for a link that cannot be saved."""
        body = self.json_body(max_bytes=_SAVE_BODY_BYTES)
        unknown = sorted(set(body) - {"url", "share_id"})
        if unknown:
            raise InvalidRequest(
                f"unknown field {unknown[0]!r}; expected 'url' or 'share_id'", field=unknown[0]
            )
        if ("url" in body) == ("share_id" in body):
            raise InvalidRequest("give exactly one of 'url' or 'share_id'", field="url")
        if "url" in body:
            item, created = await self.run(
                self.library.save_url, self.principal, body["url"], this_server=self.this_server()
            )
        else:
            item, created = await self.run(self.library.save_share, self.principal, body["share_id"])
        self.write_json(self.item_json(item, created=created), 201 if created else 200)


class LibraryItemHandler(_LibraryBase):
    """``GET|PATCH|DELETE convshare/api/library/<item_id>``."""

    @web.authenticated
    @authorized
    async def get(self, item_id: str) -> None:
        """The item (404 when it is not in my library)."""
        item = await self.run(self.library.get, self.principal, item_id)
        self.write_json(self.item_json(item))

    @web.authenticated
    @authorized
    async def patch(self, item_id: str) -> None:
        """Body ``{"name"?: str | null, "tags"?: [str], "archived"?: bool}``; answers the
        item (a granted item gets saved by this: its ``item_id`` changes)."""
        body = self.json_body(max_bytes=_SAVE_BODY_BYTES)
        unknown = sorted(set(body) - {"name", "tags", "archived"})
        if unknown:
            raise InvalidRequest(
                f"unknown field {unknown[0]!r}; expected some of ['archived', 'name', 'tags']",
                field=unknown[0],
            )
        item = await self.run(
            self.library.update,
            self.principal,
            item_id,
            name=body["name"] if "name" in body else UNSET,
            tags=body["tags"] if "tags" in body else UNSET,
            archived=body["archived"] if "archived" in body else UNSET,
        )
        self.write_json(self.item_json(item))

    @web.authenticated
    @authorized
    async def delete(self, item_id: str) -> None:
        """Remove the item (204); a copy's conversation goes with it. 409 for a granted
        item that was never saved (it stays while the grant does)."""
        await self.run(self.library.remove, self.principal, item_id)
        self.set_status(204)
        self.finish()


class LibraryConversationHandler(_LibraryBase):
    """``GET convshare/api/library/<item_id>/conversation``."""

    @web.authenticated
    @authorized
    async def get(self, item_id: str) -> None:
        """The conversation as ``convshare/1`` JSON: what the share shows (as a viewer sees
        it) or my copy. 404 gone, 410 expired. A live share of a file (a ``.chat`` in the
        Jupyter root) is re-read first when its file changed, as for the viewer."""
        item = await self.run(self.library.get, self.principal, item_id)
        if item.link is not None:
            try:
                # the viewer's link check: re-syncs a changed source file (throttled), no view counted
                await self.convshare.check_link(item.link, count_view=False)
            except ConvShareError:
                pass  # gone meanwhile: read() below answers with the right error
        conversation = await self.run(self.library.read, self.principal, item_id)
        text = await self.run(lambda: json.dumps(conversation.to_dict(), ensure_ascii=False))
        self.set_status(200)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(text.encode("utf-8"))


class LibrarySaveAsHandler(_LibraryBase):
    """``POST convshare/api/library/<item_id>/save-as``."""

    @web.authenticated
    @authorized
    async def post(self, item_id: str) -> None:
        """Body ``{"path": str}``: write the item's conversation (as the library reads it:
        viewers' view for a share, the copy itself for a copy) as a ``.chat`` file; 201
        ``{"path", "name"}``. 404/410 as reading it; 400/403/404/409 naming ``path``."""
        body = self.json_body(max_bytes=_SAVE_BODY_BYTES)
        _only(body, {"path"})
        check_chat_path(body.get("path"))
        conversation = await self.run(self.library.read, self.principal, item_id)
        self.write_json(await self.write_chat_file(conversation, body["path"]), 201)


class LinkPreviewHandler(_LibraryBase):
    """``POST convshare/api/library/preview``."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Body ``{"url": str}`` (a share link of this or another server): 200 with
        :func:`link_preview` of what it shows. Stores nothing. 400/404/410/413 naming ``url``."""
        body = self.json_body(max_bytes=_SAVE_BODY_BYTES)
        _only(body, {"url"})
        conversation, origin = await self.read_link(body.get("url"))
        self.write_json(link_preview(conversation, origin))


class LinkSaveAsHandler(_LibraryBase):
    """``POST convshare/api/library/save-as``."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Body ``{"url": str, "path": str}``: write what the link shows as a ``.chat``
        file (the library is not changed); 201 ``{"path", "name"}``. Errors name ``url``
        or ``path`` (the path is checked before the link is read)."""
        body = self.json_body(max_bytes=_SAVE_BODY_BYTES)
        _only(body, {"url", "path"})
        check_chat_path(body.get("path"))
        conversation, _origin = await self.read_link(body.get("url"))
        self.write_json(await self.write_chat_file(conversation, body["path"]), 201)


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    """InvalidRequest naming the first key of ``body`` not in ``allowed``."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(
            f"unknown field {unknown[0]!r}; expected some of {sorted(allowed)}", field=unknown[0]
        )


_ID = r"([^/]+)"

default_handlers: list[tuple[str, type[ConvShareAPIHandler]]] = [
    (r"convshare/api/library", LibraryHandler),
    (r"convshare/api/library/preview", LinkPreviewHandler),
    (r"convshare/api/library/save-as", LinkSaveAsHandler),
    (rf"convshare/api/library/{_ID}/save-as", LibrarySaveAsHandler),
    (rf"convshare/api/library/{_ID}/conversation", LibraryConversationHandler),
    (rf"convshare/api/library/{_ID}", LibraryItemHandler),
]
"""Library routes, relative to ``base_url`` (the app prepends it)."""
