"""Exceptions raised by the core library.

Errors flow one way: ``core`` raises a :class:`ConvShareError` subclass, and one place
(``jupyter_convshare.server.base``) maps it to an HTTP status with a JSON body
``{"message": ..., "reason": ..., "field": ...}``. Anything else is a 500 with no
traceback shown to the client.
"""

from __future__ import annotations


class ConvShareError(Exception):
    """Base class of every error this package raises on purpose.

    Attributes:
        message: human-readable text, safe to show to the caller (no secrets, no paths
            outside the server's root).
        field: the request or file field the error is about (e.g. ``"expires"``,
            ``"messages[3].content"``), or ``None``.
        status: the HTTP status code the server maps this error to.
    """

    status: int = 400
    reason: str = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, object]:
        """The JSON error body: ``{"message": str, "reason": str, "field": str | None}``."""
        return {"message": self.message, "reason": self.reason, "field": self.field}


class InvalidRequest(ConvShareError):
    """The caller sent something malformed or out of range (HTTP 400)."""

    status = 400
    reason = "invalid_request"


class ImportFailed(InvalidRequest):
    """A conversation file or object could not be imported (HTTP 400).

    The message names the file (or ``"<object>"`` for in-memory input), the format that
    was tried and the field (JSON path) that was wrong, e.g.
    ``"demo.chat: not a jupyterlab-chat file: messages[2].time: expected a number"``.
    """

    reason = "import_failed"

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        format: str | None = None,
        field: str | None = None,
    ) -> None:
        parts = [p for p in (source, f"{format} format" if format else None) if p]
        prefix = ": ".join(parts)
        where = f"{field}: " if field else ""
        full = f"{prefix}: {where}{message}" if prefix else f"{where}{message}"
        super().__init__(full, field=field)
        self.source = source
        self.format = format


class TooLarge(InvalidRequest):
    """An upload, attachment or import exceeds a configured size limit (HTTP 413)."""

    status = 413
    reason = "too_large"


class Forbidden(ConvShareError):
    """The caller is authenticated but may not do this (HTTP 403)."""

    status = 403
    reason = "forbidden"


class NotFound(ConvShareError):
    """Unknown, revoked or deleted: the three are deliberately indistinguishable (HTTP 404)."""

    status = 404
    reason = "not_found"


class Expired(ConvShareError):
    """The share link exists but its expiry time has passed (HTTP 410)."""

    status = 410
    reason = "expired"


class Conflict(ConvShareError):
    """The request conflicts with the current state (HTTP 409)."""

    status = 409
    reason = "conflict"
