"""The one place where errors become HTTP responses, and the base of the REST API handlers.

Errors flow one way (STYLE.md "Layers"): ``core`` raises a
:class:`~jupyter_convshare.core.errors.ConvShareError` subclass; :class:`ConvShareErrorMixin`
turns it into its ``status`` and the JSON body ``{"message", "reason", "field"}``. A
tornado :class:`~tornado.web.HTTPError` (403 from ``@web.authenticated``, 405, ...) keeps
its status with the same body shape. Anything else is a 500 whose body says only
"internal server error": the traceback goes to the server log, never to the client.
"""

from __future__ import annotations

import asyncio
import json
import re
from http.client import responses
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..core.access import Principal
from ..core.errors import ConvShareError, InvalidRequest, TooLarge

if TYPE_CHECKING:
    from ..core.shares import ShareService
    from .app import ConvShareApp

T = TypeVar("T")

_LINK_IN_URL = re.compile(r"(convshare/s/)[A-Za-z0-9_-]{22,128}")


def redact_links(text: str) -> str:
    """``text`` with every ``convshare/s/<link>`` secret replaced by ``[link]`` (for logs).

    DESIGN.md section 5: link secrets are never written to logs.
    """
    return _LINK_IN_URL.sub(r"\1[link]", text)


def link_redacting_log_function(log_function: Callable[[Any], None]) -> Callable[[Any], None]:
    """Wrap tornado's ``log_function`` setting so request logs never show a link secret.

    The request URI and Referer are redacted for the duration of the log call only.
    """

    def log_request(handler: Any) -> None:
        request = handler.request
        uri = request.uri
        referer = request.headers.get("Referer")
        request.uri = redact_links(uri or "")
        if referer:
            request.headers["Referer"] = redact_links(referer)
        try:
            log_function(handler)
        finally:
            request.uri = uri
            if referer:
                request.headers["Referer"] = referer

    return log_request

INTERNAL_ERROR_MESSAGE = "internal server error"


def error_response(exc: BaseException | None, status_code: int) -> tuple[int, dict[str, Any]]:
    """Map an exception to ``(HTTP status, JSON body)``.

    Args:
        exc: the exception that ended the request, or ``None`` (an error sent without one).
        status_code: the status tornado chose (used for ``HTTPError`` and ``None``).

    Returns:
        ``(status, {"message": str, "reason": str, "field": str | None})``:
        a :class:`ConvShareError` gives its own status and :meth:`~ConvShareError.to_json`;
        an ``HTTPError`` its status, log message and reason phrase; anything else
        ``(500, {"message": "internal server error", "reason": "internal_error", ...})``.
    """
    if isinstance(exc, ConvShareError):
        return exc.status, exc.to_json()
    if exc is None or isinstance(exc, web.HTTPError):
        status = exc.status_code if isinstance(exc, web.HTTPError) else status_code
        phrase = responses.get(status, "Unknown HTTP Error")
        message = (exc.log_message if isinstance(exc, web.HTTPError) else None) or phrase
        if isinstance(exc, web.HTTPError) and exc.args and "%" in message:
            try:
                message = message % exc.args
            except (TypeError, ValueError):
                pass
        reason = phrase.lower().replace(" ", "_")
        return status, {"message": message, "reason": reason, "field": None}
    return 500, {"message": INTERNAL_ERROR_MESSAGE, "reason": "internal_error", "field": None}


class ConvShareErrorMixin(web.RequestHandler):
    """Give a :class:`ConvShareError` its own HTTP status, and log it without a traceback.

    Mix in before the jupyter-server handler class. Subclasses choose the body by
    overriding ``write_error`` (JSON for the API here; the viewer renders its pages).
    """

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Send an error response; a :class:`ConvShareError` in ``exc_info`` sets the status."""
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], ConvShareError):
            status_code = exc_info[1].status
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Expected errors get one warning line (no traceback, no request body); others the full log."""
        if isinstance(value, ConvShareError):
            self.log.warning(  # type: ignore[attr-defined]
                "%s %s: %d %s: %s",
                self.request.method,
                redact_links(self.request.path),
                value.status,
                value.reason,
                value.message,
            )
            return
        super().log_exception(typ, value, tb)


class ConvShareAPIHandler(ConvShareErrorMixin, ExtensionHandlerMixin, APIHandler):
    """Base class of the REST API handlers (``{base_url}convshare/api/...``).

    A request acts as :attr:`principal` (DESIGN.md section 5: in a standalone server the
    owner is the configured principal, not the per-browser identity; see
    ``ConvShareApp.principal_for``). Subclasses decorate
    every HTTP method with ``@web.authenticated`` (and ``@authorized``); XSRF is checked by
    jupyter-server (token-authenticated scripts are exempt, as everywhere in Jupyter).
    """

    auth_resource = "convshare"

    def set_default_headers(self) -> None:
        """jupyter-server's headers, plus ``no-store``: API answers carry secret links."""
        super().set_default_headers()
        self.set_header("Cache-Control", "private, no-store")

    @property
    def convshare(self) -> ConvShareApp:
        """The running :class:`~jupyter_convshare.server.app.ConvShareApp`."""
        return self.settings["convshare_app"]  # type: ignore[no-any-return]

    @property
    def service(self) -> ShareService:
        """The extension's :class:`~jupyter_convshare.core.shares.ShareService`."""
        return self.settings["convshare_service"]  # type: ignore[no-any-return]

    @property
    def principal(self) -> Principal:
        """Who this request acts as (``ConvShareApp.principal_for``: the owner, or another
        user of a multi-user identity provider), with groups and admin flag."""
        cached = getattr(self, "_convshare_principal", None)
        if cached is None:
            cached = self.convshare.principal_for(self)
            self._convshare_principal = cached
        return cached

    @property
    def owner(self) -> str:
        """The user name this request owns conversations and shares as (``principal.name``)."""
        return self.principal.name

    @property
    def is_server_owner(self) -> bool:
        """``True`` when the request acts as ``ConvShareApp.owner`` (the server's principal)."""
        return self.principal.name == self.convshare.owner

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call (store, importer, exporter) in a worker thread.

        SQLite writes can wait up to a second under contention (DESIGN.md section 9):
        they must never block the event loop that also serves the viewer.
        """
        return await asyncio.to_thread(fn, *args, **kwargs)

    def json_body(self, *, max_bytes: int | None = None) -> dict[str, Any]:
        """The request body parsed as a JSON object.

        Args:
            max_bytes: largest accepted body in bytes (``None``: ``ConvShareApp.max_import_bytes``).

        Raises:
            TooLarge: the body is over ``max_bytes`` (HTTP 413).
            InvalidRequest: empty body, invalid UTF-8 or JSON, or not a JSON object.
        """
        limit = self.convshare.max_import_bytes if max_bytes is None else max_bytes
        body = self.request.body or b""
        if len(body) > limit:
            raise TooLarge(f"request body is {len(body)} bytes; the limit is {limit} bytes", field="body")
        if not body.strip():
            return {}
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRequest(f"request body is not valid JSON: {exc}", field="body") from None
        if not isinstance(data, dict):
            raise InvalidRequest(
                f"request body must be a JSON object, got {type(data).__name__}", field="body"
            )
        return data

    def write_json(self, data: Any, status: int = 200) -> None:
        """Finish the response with ``data`` as JSON and the given status."""
        self.set_status(status)
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """JSON error body ``{"message", "reason", "field"}``; never a traceback."""
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        status, body = error_response(exc, status_code)
        if status != self.get_status():
            self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

