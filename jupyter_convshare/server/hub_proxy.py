"""A JupyterHub single-user server that uses the hub's convshare service (issue 6 item 2).

DESIGN.md sections 6 and 7: several OS users never share one store file, so on a
multi-user hub the **hub service** (``server/hub.py``) owns the store and the single-user
servers call it over HTTP with their hub token. With ``ConvShareApp.hub_service_url`` set
(default: ``CONVSHARE_SERVICE_URL``, which ``examples/jupyterhub_config.py`` puts in every
single-user server's environment through ``c.Spawner.environment``, when
``JUPYTERHUB_API_TOKEN`` is set too), the extension opens **no local store**:

* :class:`HubForwardHandler` answers every ``{base_url}convshare/api/...`` route by
  forwarding it to ``<hub_service_url>convshare/api/...`` with the server's own hub token
  (``JUPYTERHUB_API_TOKEN``; it needs ``access:services!service=convshare``, see
  ``c.Spawner.server_token_scopes``). The request is authenticated and authorized by this
  server first (jupyter-server, as every route). Only the method, the path under
  ``convshare/api/``, the query, the body (at most ``max_import_bytes``) and the
  ``Content-Type``/``Accept`` headers go on: never the browser's cookies, XSRF token or
  authorization. The answer's status, body (at most :func:`max_response_bytes`) and a few
  safe headers (:data:`RESPONSE_HEADERS`) come back. So the JupyterLab extension and the
  widgets work unchanged, and the links they get are the service's
  (``/services/convshare/convshare/s/<link>``), which keep working while this server is
  stopped.
* A share (or import) of a **file** of this server (``{"path": ...}`` in ``POST
  convshare/api/shares`` or ``POST convshare/api/conversations``) is read here, through the
  contents manager with its attachments (``server/sources.py``), and posted to the service as
  a conversation (``convshare/1`` with ``blobs``). The file's path is recorded in
  :class:`LiveSources` (``<store_dir>/hub-live-sources.json``, this OS user's own file).
* ``POST convshare/api/library/<item_id>/save-as`` (:class:`HubLibrarySaveAsHandler`) reads
  the item's conversation from the service and writes the ``.chat`` file here: the
  service has no workspace.
* :class:`LivePusher` checks the recorded files every ``live_check_interval`` seconds while
  the server runs; when one's modification time changed, it is read again and pushed with
  ``POST convshare/api/conversations/<id>/sync`` (:class:`ConversationSyncHandler`, the
  service's route: owner only, merges by message id like a standalone live re-sync, so
  collaborators' messages stay). Live links show the change; when the server stops, the
  service keeps serving the last state pushed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import quote, unquote

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest, HTTPResponse
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from ..core.errors import ConvShareError, InvalidRequest, NotFound
from ..core.model import Conversation, new_id
from . import sources
from .api import _attachment_blobs, _Base, _check_keys
from .base import ConvShareAPIHandler
from .library_api import _SAVE_BODY_BYTES, _LibraryBase, _only, check_chat_path

if TYPE_CHECKING:
    from .app import ConvShareApp

__all__ = [
    "SERVICE_URL_ENV",
    "REQUEST_HEADERS",
    "RESPONSE_HEADERS",
    "ConversationSyncHandler",
    "HubForwardHandler",
    "HubForwarder",
    "HubLibrarySaveAsHandler",
    "LivePusher",
    "LiveSources",
    "forward_handlers",
    "pass_answer",
    "service_url_from_env",
    "sync_handlers",
]

SERVICE_URL_ENV = "CONVSHARE_SERVICE_URL"
"""Environment variable naming the hub's convshare service, e.g.
``https://hub.example.org/services/convshare/`` (``c.Spawner.environment``)."""

TOKEN_ENV = "JUPYTERHUB_API_TOKEN"
"""The single-user server's hub API token (set by the hub's spawner)."""

REQUEST_HEADERS = ("Content-Type", "Accept")
"""Request headers passed on to the service (nothing that identifies the browser)."""

RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Disposition",
    "Content-Security-Policy",
    "X-Content-Type-Options",
)
"""Response headers passed back from the service (never ``Set-Cookie`` or ``Location``)."""

TIMEOUT_SECONDS = 120.0
"""Longest wait (seconds) for one answer of the service (an import of a big file)."""

_FILE_KEYS = {"path", "format", "index", "title", "files", "expires", "mode", "link_enabled", "redaction", "name"}
_SHARE_SETTINGS = ("title", "files", "expires", "mode", "link_enabled", "redaction")


def service_url_from_env(env: Mapping[str, str]) -> str:
    """``CONVSHARE_SERVICE_URL`` (ending in ``/``) when it and ``JUPYTERHUB_API_TOKEN`` are
    both set in ``env``, else ``""`` (a standalone server)."""
    url = (env.get(SERVICE_URL_ENV) or "").strip()
    if not url or not env.get(TOKEN_ENV):
        return ""
    return url if url.endswith("/") else url + "/"


def max_response_bytes(app: ConvShareApp) -> int:
    """Largest answer (bytes) taken from the service: twice ``max_import_bytes`` (an export
    of a conversation with its base64 images is bigger than the conversation)."""
    return 2 * int(app.max_import_bytes)


def _blobs_json(blobs: Mapping[str, bytes]) -> list[dict[str, str]]:
    return [
        {"attachment_id": k, "content_base64": base64.b64encode(v).decode("ascii")} for k, v in blobs.items()
    ]


def _fingerprints(conversation: Conversation, blobs: Mapping[str, bytes]) -> dict[str, list[str | None]]:
    """``{attachment id: [sha256 hex, uri, name]}`` of the bytes a push carries: what the
    service keeps for an attachment sent without bytes (``shares.merge_conversations``
    carries stored bytes over when the attachment names the same uri and file name)."""
    fingerprints: dict[str, list[str | None]] = {}
    for attachment_id, data in blobs.items():
        attachment = conversation.attachments.get(attachment_id)
        if attachment is not None:
            fingerprints[attachment_id] = [hashlib.sha256(data).hexdigest(), attachment.uri, attachment.name]
    return fingerprints


def _posted(conversation: Conversation) -> dict[str, Any]:
    """A file's conversation as the service stores it: ``convshare/1`` without the
    root-relative path (the service has no such file; this server watches it)."""
    conversation.source.path = None
    return conversation.to_dict()


class LiveSources:
    """The files of this server shared through the hub service:
    ``{conversation id on the service: {"path", "format", "index", "mtime", "pushed"}}``, kept in a
    JSON file of this OS user (written whole, then renamed: never half-written).

    Args:
        path: the JSON file (created with its folder, mode 0700, on first write).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("sources"), dict):
                self._entries = {str(k): dict(v) for k, v in data["sources"].items() if isinstance(v, dict)}
        except (OSError, ValueError):
            pass  # none yet (or unreadable: files shared before are no longer pushed)

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        """A copy of ``[(conversation id, entry), ...]``."""
        with self._lock:
            return [(k, dict(v)) for k, v in self._entries.items()]

    def find(self, path: str) -> str | None:
        """The conversation id recorded for root-relative ``path``, or ``None``."""
        with self._lock:
            return next((k for k, v in self._entries.items() if v.get("path") == path), None)

    def get(self, conversation_id: str) -> dict[str, Any] | None:
        """The entry of ``conversation_id``, or ``None``."""
        with self._lock:
            entry = self._entries.get(conversation_id)
            return dict(entry) if entry is not None else None

    def put(
        self,
        conversation_id: str,
        path: str,
        fmt: str | None,
        index: int | None,
        mtime: float,
        pushed: dict[str, list[str | None]] | None = None,
    ) -> None:
        """Record (or update) a file, the modification time (epoch seconds) last pushed, and
        the attachments whose bytes the service has (:func:`_fingerprints`)."""
        with self._lock:
            self._entries[conversation_id] = {
                "path": path, "format": fmt, "index": index, "mtime": mtime, "pushed": pushed or {},
            }
            self._save()

    def remove(self, conversation_id: str) -> None:
        """Stop watching a conversation (deleted on the service)."""
        with self._lock:
            if self._entries.pop(conversation_id, None) is not None:
                self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".hub-live-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"sources": self._entries}, f, indent=1)
        os.replace(tmp, self.path)


class HubForwarder:
    """Calls of this server to the hub's convshare service, and the live file pusher.

    Args:
        app: the extension (``hub_service_url``, ``store_dir``, limits, the contents manager).
        token: the server's hub API token.
    """

    def __init__(self, app: ConvShareApp, token: str) -> None:
        self.app = app
        self.base = app.hub_service_url
        self._token = token
        self.sources = LiveSources(Path(app.store_dir).expanduser() / "hub-live-sources.json")
        # its own client: a response bigger than the cap is cut off, not buffered whole
        self.http = SimpleAsyncHTTPClient(force_instance=True, max_body_size=max_response_bytes(app))
        self.pusher = LivePusher(self)

    @property
    def contents_manager(self) -> Any:
        """The server's contents manager."""
        assert self.app.serverapp is not None
        return self.app.serverapp.contents_manager

    async def fetch(
        self, method: str, path: str, *, query: str = "", body: bytes | None = None, headers: Mapping[str, str] = {}
    ) -> HTTPResponse:
        """One request to ``<hub_service_url>convshare/api/<path>[?query]`` with the hub token.

        Returns the service's answer, whatever its status.

        Raises:
            tornado.web.HTTPError: 502 when the service cannot be reached or its answer is
                over :func:`max_response_bytes`.
        """
        url = self.base + "convshare/api/" + path + (f"?{query}" if query else "")
        sent = {k: v for k, v in headers.items() if k in REQUEST_HEADERS}
        sent["Authorization"] = f"token {self._token}"
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        request = HTTPRequest(
            url,
            method=method,
            headers=sent,
            body=body,
            follow_redirects=False,
            request_timeout=TIMEOUT_SECONDS,
            allow_nonstandard_methods=True,
        )
        try:
            return await self.http.fetch(request, raise_error=False)
        except Exception as exc:  # connection refused or closed, timeout, body too large
            if isinstance(exc, HTTPClientError) and exc.response is not None:
                return exc.response
            self.app.log.warning("convshare: the hub service at %s did not answer: %s", self.base, exc)
            raise web.HTTPError(502, "the hub's convshare service did not answer: %s", exc) from None

    async def fetch_json(self, method: str, path: str, data: Any) -> HTTPResponse:
        """:meth:`fetch` with a JSON body."""
        return await self.fetch(
            method, path, body=json.dumps(data).encode("utf-8"), headers={"Content-Type": "application/json"}
        )

    async def read_file(
        self, path: str, fmt: str | None, index: int | None
    ) -> tuple[Conversation, dict[str, bytes], float]:
        """A file of this server as a conversation, its attachments' bytes and mtime
        (``sources.load_from_contents`` with the app's limits)."""
        return await sources.load_from_contents(
            self.contents_manager,
            path,
            format=fmt,
            index=index,
            max_import_bytes=self.app.max_import_bytes,
            max_attachment_bytes=self.app.max_attachment_bytes,
        )

    async def push(self, conversation_id: str, *, force: bool = False) -> HTTPResponse | None:
        """Push a recorded file to the service when it changed since the last push (or
        ``force``): ``POST conversations/<id>/sync``. Attachments whose bytes, uri and
        name the service already has from this file go without their bytes (the service
        keeps its copy); ``force`` sends every one.

        Returns the service's answer, or ``None`` when nothing was sent (unchanged, or the
        file cannot be read now: the reason is logged and the last state stays). A 404
        (the conversation was deleted on the service) forgets the file.
        """
        entry = self.sources.get(conversation_id)
        if entry is None:
            return None
        path = str(entry["path"])
        try:
            mtime, _size = await sources.stat(self.contents_manager, path)
            if not force and mtime == entry.get("mtime"):
                return None
            conversation, blobs, mtime = await self.read_file(path, entry.get("format"), entry.get("index"))
        except ConvShareError as exc:
            self.app.log.warning("convshare: %s not pushed to the hub service: %s", path, exc.message)
            return None
        conversation.id = conversation_id
        fingerprints = _fingerprints(conversation, blobs)
        pushed = {} if force else entry.get("pushed") or {}
        changed = {k: v for k, v in blobs.items() if pushed.get(k) != fingerprints.get(k)}
        answer = await self.fetch_json(
            "POST",
            f"conversations/{quote(conversation_id, safe='')}/sync",
            {"conversation": _posted(conversation), "format": "convshare", "blobs": _blobs_json(changed)},
        )
        if answer.code == 404:
            self.sources.remove(conversation_id)
        elif answer.code < 300:
            self.sources.put(conversation_id, path, entry.get("format"), entry.get("index"), mtime, fingerprints)
        else:
            self.app.log.warning(
                "convshare: %s not pushed to the hub service: %s %s", path, answer.code, (answer.body or b"")[:300]
            )
        return answer

    async def push_all(self) -> None:
        """:meth:`push` every recorded file that changed."""
        for conversation_id, _entry in self.sources.items():
            try:
                await self.push(conversation_id)
            except web.HTTPError:
                return  # the service is unreachable now: try again next time


class LivePusher:
    """Checks the recorded files every ``live_check_interval`` seconds while the server runs."""

    def __init__(self, forwarder: HubForwarder) -> None:
        self.forwarder = forwarder
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start checking (on the running event loop); a second call does nothing."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop checking."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        interval = max(0.2, float(self.forwarder.app.live_check_interval))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.forwarder.push_all()
            except Exception:  # never let one bad file stop the watching
                self.forwarder.app.log.exception("convshare: pushing live files to the hub service failed")


def _service_path(raw_path: str, prefix: str) -> str:
    """The part of a request path under ``convshare/api/``, as sent (still URL-encoded).

    Raises:
        NotFound: a segment that is empty or decodes to ``.``, ``..`` or holds a slash or
            backslash (the forwarded URL must name the same route on the service).
    """
    rest = raw_path[len(prefix):] if raw_path.startswith(prefix) else ""
    for segment in rest.split("/"):
        plain = unquote(segment)
        if plain in ("", ".", "..") or "/" in plain or "\\" in plain or "\x00" in plain:
            raise NotFound("no such convshare API route")
    return rest


class HubForwardHandler(_Base):
    """``{base_url}convshare/api/<route>``: forwarded to the hub's convshare service.

    Authenticated and authorized here first; a ``{"path": ...}`` share or import reads the
    file here (see the module docstring). Errors of this server are the usual JSON body
    ``{"message", "reason", "field"}``; 502 when the service does not answer.
    """

    @property
    def forwarder(self) -> HubForwarder:
        """The app's :class:`HubForwarder`."""
        forwarder = self.convshare.hub
        assert forwarder is not None  # registered only with hub_service_url
        return forwarder

    @web.authenticated
    @authorized
    async def get(self, route: str) -> None:
        """Forward a GET (``info`` answers this server's ``root_dir``)."""
        await self._forward("GET")

    @web.authenticated
    @authorized
    async def post(self, route: str) -> None:
        """Forward a POST (a ``path`` share or import is read here first)."""
        await self._forward("POST")

    @web.authenticated
    @authorized
    async def patch(self, route: str) -> None:
        """Forward a PATCH."""
        await self._forward("PATCH")

    @web.authenticated
    @authorized
    async def put(self, route: str) -> None:
        """Forward a PUT."""
        await self._forward("PUT")

    @web.authenticated
    @authorized
    async def delete(self, route: str) -> None:
        """Forward a DELETE."""
        await self._forward("DELETE")

    async def _forward(self, method: str) -> None:
        prefix = url_path_join(self.base_url, "convshare/api/")
        path = _service_path(self.request.path, prefix)
        limit = self.convshare.max_import_bytes
        if len(self.request.body or b"") > limit:
            self.json_body()  # raises TooLarge naming the limit
        if method == "POST" and path in ("shares", "conversations"):
            body = self.json_body()
            if "path" in body:
                await self._post_file(path, body)
                return
        answer = await self.forwarder.fetch(
            method,
            path,
            query=self.request.query,
            body=self.request.body if method in ("POST", "PUT", "PATCH") else None,
            headers=self.request.headers,
        )
        if path == "info" and answer.code == 200:
            info = json.loads(answer.body)
            info["root_dir"] = _local_root(self.convshare)
            self.write_json(info)
            return
        self._answer(answer)

    def _answer(self, answer: HTTPResponse) -> None:
        pass_answer(self, answer)

    async def _post_file(self, route: str, body: dict[str, Any]) -> None:
        """Share or import a file of this server through the service, and record it."""
        import_keys = _FILE_KEYS - {"expires", "mode", "link_enabled", "redaction"}
        _check_keys(body, _FILE_KEYS if route == "shares" else import_keys)
        path = sources.normalize_path(body["path"])
        fmt = body.get("format")
        index = body.get("index")
        if fmt is not None and not isinstance(fmt, str):
            raise InvalidRequest("format: expected a string", field="format")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise InvalidRequest("index: expected a non-negative integer", field="index")
        forwarder = self.forwarder
        settings = {k: body[k] for k in _SHARE_SETTINGS if k in body}
        known = forwarder.sources.find(path)
        if known is not None:
            # already on the service: bring it up to date (collaborators' messages stay)
            synced = await forwarder.push(known, force=True)
            if synced is not None and synced.code < 300:
                if route == "conversations":
                    data = json.loads(synced.body)
                    self.write_json({**data, "created": False, "warnings": []})
                    return
                self._answer(await forwarder.fetch_json("POST", "shares", {"conversation_id": known, **settings}))
                return
            if synced is not None and synced.code != 404:
                self._answer(synced)
                return
        conversation, blobs, mtime = await forwarder.read_file(path, fmt, index)
        clash = await forwarder.fetch("GET", f"conversations/{quote(conversation.id, safe='')}")
        if clash.code != 404:
            # the service already holds a conversation with this id (the same chat document
            # at another path, or posted by a notebook): a separate one, never a takeover
            conversation.id = f"{conversation.source.format}:{new_id()}"
        posted = {**settings, "conversation": _posted(conversation), "format": "convshare", "blobs": _blobs_json(blobs)}
        answer = await forwarder.fetch_json("POST", route, posted)
        if answer.code < 300:
            data = json.loads(answer.body)
            conversation_id = str(data.get("conversation_id") or data.get("id") or conversation.id)
            forwarder.sources.put(conversation_id, path, fmt, index, mtime, _fingerprints(conversation, blobs))
            forwarder.pusher.start()
        self._answer(answer)


def pass_answer(handler: ConvShareAPIHandler, answer: HTTPResponse) -> None:
    """Finish ``handler``'s response with the service's ``answer``: its status, body and
    :data:`RESPONSE_HEADERS` (nothing else)."""
    handler.set_status(answer.code)
    content_type = "application/json"
    for name in RESPONSE_HEADERS:
        value = answer.headers.get(name)
        if value is None:
            continue
        if name == "Content-Type":
            content_type = value
        else:
            handler.set_header(name, value)
    if answer.code in (204, 304):
        handler.finish(set_content_type=content_type)
        return
    handler.finish(answer.body or b"", set_content_type=content_type)


class HubLibrarySaveAsHandler(_LibraryBase):
    """``POST convshare/api/library/<item_id>/save-as`` on a single-user server that uses the
    hub service: the item's conversation is read from the service
    (``GET library/<item_id>/conversation``) and written as a ``.chat`` file of *this*
    server (the service has no workspace), with the checks of a standalone server
    (``check_chat_path``, contents ``write`` permission, never overwriting).

    Body ``{"path": str}``; 201 ``{"path", "name"}``; the service's answer (404, 410, ...)
    when it cannot be read; 400/403/404/409 naming ``path``.
    """

    @web.authenticated
    @authorized
    async def post(self, item_id: str) -> None:
        """Write the library item's conversation to ``path``."""
        body = self.json_body(max_bytes=_SAVE_BODY_BYTES)
        _only(body, {"path"})
        check_chat_path(body.get("path"))
        forwarder = self.convshare.hub
        assert forwarder is not None  # registered only with hub_service_url
        answer = await forwarder.fetch("GET", f"library/{quote(item_id, safe='')}/conversation")
        if answer.code != 200:
            pass_answer(self, answer)
            return
        try:
            conversation = Conversation.from_dict(json.loads(answer.body))
        except (ValueError, KeyError, TypeError) as exc:
            raise web.HTTPError(502, "the hub's convshare service sent no conversation: %s", exc) from None
        self.write_json(await self.write_chat_file(conversation, body["path"]), 201)


def _local_root(app: ConvShareApp) -> str | None:
    serverapp = app.serverapp
    if serverapp is None:
        return None
    root = getattr(serverapp.contents_manager, "root_dir", None) or serverapp.root_dir
    return os.path.abspath(os.path.expanduser(root)) if root else None


class ConversationSyncHandler(_Base):
    """``POST convshare/api/conversations/<id>/sync``: merge a new state of one of my
    conversations (the hub service's route that single-user servers push live files to).

    Body ``{"conversation": <any importable form, e.g. convshare/1>, "format"?: str,
    "blobs"?: [{"attachment_id", "content_base64"}]}`` (at most ``max_import_bytes``). The
    conversation is merged by message id (``ShareService.sync_conversation``): messages
    only the store holds (collaborators') stay; live links show the new state on their
    next request. Answers the stored conversation JSON (200).

    Raises:
        NotFound: (404) not a conversation of the caller (owner only, as every
            ``conversations/<id>`` route).
        InvalidRequest, ImportFailed, TooLarge: the body, naming the field.
    """

    @web.authenticated
    @authorized
    async def post(self, conversation_id: str) -> None:
        """Merge the posted state; 200 with the stored conversation JSON."""
        from ..core.importers import load_one

        body = self.json_body()
        _check_keys(body, {"conversation", "format", "blobs"})
        info = await self.run(self.service.get_conversation_info, self.owner, conversation_id)
        source = body.get("conversation")
        if not isinstance(source, (dict, list)):
            raise InvalidRequest("conversation: expected a JSON object or list", field="conversation")
        fmt = body.get("format")
        if fmt is not None and not isinstance(fmt, str):
            raise InvalidRequest("format: expected a string", field="format")
        fresh = await self.run(load_one, source, format=fmt)
        blobs = _attachment_blobs(body, fresh, self.convshare.max_attachment_bytes)
        fresh.source.path = info.source_path  # a push never changes where a file-backed one is read
        stored = await self.run(self.service.sync_conversation, self.owner, conversation_id, fresh, blobs)
        self.write_json(stored.to_json())


sync_handlers: list[tuple[str, type[ConvShareAPIHandler]]] = [
    (r"convshare/api/conversations/([^/]+)/sync", ConversationSyncHandler),
]
"""The service side (every server that has a store)."""

forward_handlers: list[tuple[str, type[ConvShareAPIHandler]]] = [
    (r"convshare/api/library/([^/]+)/save-as", HubLibrarySaveAsHandler),
    (r"convshare/api/(.*)", HubForwardHandler),
]
"""A single-user server that uses the hub service: every API route is forwarded."""
