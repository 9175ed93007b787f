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
=========================================================  ===================================

An item is :meth:`LibraryItem.to_json <jupyter_convshare.core.library.LibraryItem.to_json>`
with ``url``: the share's viewer URL when the user may open it with its link (the link is
on), the grantee page ``convshare/v/<share_id>`` when a grant reaches the user and the link
is off, else ``None``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web

from ..core.errors import ConvShareError, InvalidRequest
from ..core.library import Library, LibraryItem
from ..core.shares import UNSET
from .base import ConvShareAPIHandler

_SAVE_BODY_BYTES = 64 * 1024
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


_ID = r"([^/]+)"

default_handlers: list[tuple[str, type[ConvShareAPIHandler]]] = [
    (r"convshare/api/library", LibraryHandler),
    (rf"convshare/api/library/{_ID}/conversation", LibraryConversationHandler),
    (rf"convshare/api/library/{_ID}", LibraryItemHandler),
]
"""Library routes, relative to ``base_url`` (the app prepends it)."""
