"""Read conversation sources and their attachments through the Jupyter contents manager.

A ``.chat`` file (jupyterlab-chat, FORMATS.md section 1) only *references* its attachments
by path relative to the server root; their bytes are read here, at share time and at each
live re-sync, through the same contents manager the user's JupyterLab uses. Going through
the contents manager (never ``open()``) keeps every read inside the server root, honours
``allow_hidden`` and works with non-file contents managers (S3, databases).

Both sync and async contents managers are supported (``ensure_async``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import posixpath
from datetime import datetime
from typing import Any

from jupyter_server.utils import ensure_async
from tornado import web

from ..core.errors import ConvShareError, Forbidden, InvalidRequest, NotFound, TooLarge
from ..core.importers import load_one
from ..core.model import Conversation

DEFAULT_MAX_IMPORT_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024

# Attachment kinds whose ``uri`` is a path in the Jupyter root (jupyterlab-chat).
_CONTENTS_KINDS = {"file", "notebook"}


def normalize_path(path: Any, *, field: str = "path") -> str:
    """A root-relative API path: ``/``-separated, no leading or trailing ``/``.

    Args:
        path: the path as sent by the client or found in a ``.chat`` file.
        field: the request field named in errors.

    Raises:
        InvalidRequest: not a non-empty string, or it contains ``..``/NUL/backslash
            segments (the contents manager would refuse them too; this names the field).
    """
    if not isinstance(path, str) or not path.strip("/ "):
        raise InvalidRequest("expected a non-empty path relative to the Jupyter root", field=field)
    if "\x00" in path or "\\" in path:
        raise InvalidRequest(f"{path!r}: invalid character in path", field=field)
    clean = path.strip("/")
    if any(part == ".." for part in clean.split("/")):
        raise Forbidden(f"{path}: path is outside the Jupyter root", field=field)
    return posixpath.normpath(clean)


def _map_http_error(exc: web.HTTPError, path: str, field: str) -> ConvShareError:
    """Turn a contents manager ``HTTPError`` into a ConvShareError naming ``path``."""
    if exc.status_code == 404:
        return NotFound(f"{path}: no such file in the Jupyter root", field=field)
    if exc.status_code == 403:
        return Forbidden(f"{path}: permission denied", field=field)
    detail = exc.log_message or exc.reason or "cannot be read"
    if exc.args and "%" in detail:
        try:
            detail = detail % exc.args
        except (TypeError, ValueError):
            pass
    return InvalidRequest(f"{path}: {detail}", field=field)


async def _get_model(contents_manager: Any, path: str, field: str, **kwargs: Any) -> dict[str, Any]:
    """``contents_manager.get(path, **kwargs)`` with its HTTP errors mapped (see :func:`_map_http_error`)."""
    try:
        return await ensure_async(contents_manager.get(path, **kwargs))  # type: ignore[no-any-return]
    except web.HTTPError as exc:
        raise _map_http_error(exc, path, field) from None
    except PermissionError:
        raise Forbidden(f"{path}: permission denied", field=field) from None


def _mtime(model: dict[str, Any]) -> float:
    """The model's ``last_modified`` as epoch seconds (0.0 when the manager gives none)."""
    value = model.get("last_modified")
    if isinstance(value, datetime):
        return value.timestamp()
    return 0.0


async def stat(contents_manager: Any, path: str) -> tuple[float, int | None]:
    """``(mtime in epoch seconds, size in bytes or None)`` of a file in the Jupyter root.

    Raises:
        NotFound, Forbidden, InvalidRequest: as :func:`load_from_contents`.
    """
    model = await _get_model(contents_manager, path, "path", content=False)
    return _mtime(model), model.get("size")


async def read_bytes(contents_manager: Any, path: str, *, max_bytes: int, field: str = "path") -> tuple[bytes, dict[str, Any]]:
    """The bytes of a file in the Jupyter root, and its contents model (without content).

    Args:
        contents_manager: the server's (sync or async) contents manager.
        path: root-relative path.
        max_bytes: largest accepted file, in bytes.
        field: the request field named in errors.

    Raises:
        NotFound: no such file (or hidden, or outside the root: the contents manager
            answers 404 for both). Forbidden: permission denied.
        InvalidRequest: a directory. TooLarge: over ``max_bytes``.
    """
    info = await _get_model(contents_manager, path, field, content=False)
    if info.get("type") == "directory":
        raise InvalidRequest(f"{path}: is a directory, not a file", field=field)
    size = info.get("size")
    if isinstance(size, int) and size > max_bytes:
        raise TooLarge(f"{path}: {size} bytes is over the limit of {max_bytes} bytes", field=field)
    # type="file" also for .ipynb: we want the notebook's exact bytes, not a parsed model.
    model = await _get_model(contents_manager, path, field, content=True, type="file", format="base64")
    try:
        data = base64.b64decode(model.get("content") or b"", validate=False)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{path}: the contents manager returned undecodable content", field=field) from None
    if len(data) > max_bytes:
        raise TooLarge(f"{path}: {len(data)} bytes is over the limit of {max_bytes} bytes", field=field)
    model.pop("content", None)
    return data, model


async def resolve_attachments(
    contents_manager: Any,
    conversation: Conversation,
    *,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> dict[str, bytes]:
    """Read the bytes of the conversation's file and notebook attachments.

    Attachments of kind ``"file"``/``"notebook"`` whose ``uri`` is a root-relative path
    (jupyterlab-chat) are read through the contents manager; a notebook attachment gets
    the ``.ipynb`` file's bytes. An attachment that cannot be read (missing, hidden,
    outside the root, a directory, too large) stays ``available=False`` and gets a
    warning in ``conversation.source.warnings``; ``size_bytes``/``mime_type`` are filled
    in for the ones read.

    Returns:
        ``{attachment id: bytes}`` for the attachments read (the store makes them available).
    """
    blobs: dict[str, bytes] = {}
    for attachment_id, attachment in conversation.attachments.items():
        if attachment.available or attachment.kind not in _CONTENTS_KINDS or not attachment.uri:
            continue
        uri = attachment.uri
        if "://" in uri:
            continue
        try:
            path = normalize_path(uri, field=f"attachments.{attachment_id}")
            data, model = await read_bytes(
                contents_manager,
                path,
                max_bytes=max_attachment_bytes,
                field=f"attachments.{attachment_id}",
            )
        except ConvShareError as exc:
            conversation.source.warnings.append(
                f"attachment {attachment.name!r} ({uri}) is not included: {exc.message}"
            )
            continue
        blobs[attachment_id] = data
        attachment.size_bytes = len(data)
        if not attachment.mime_type:
            attachment.mime_type = model.get("mimetype") or (
                "application/x-ipynb+json" if path.endswith(".ipynb") else None
            )
    return blobs


async def load_from_contents(
    contents_manager: Any,
    path: str,
    *,
    format: str | None = None,
    index: int | None = None,
    max_import_bytes: int = DEFAULT_MAX_IMPORT_BYTES,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> tuple[Conversation, dict[str, bytes], float]:
    """Import one conversation from a file in the Jupyter root, with its attachments' bytes.

    Args:
        contents_manager: the server's contents manager (sync or async).
        path: path relative to the Jupyter root (``.chat``, ``.json``, ``.jsonl``, ...).
        format: importer format name, or ``None`` to detect it.
        index: which conversation of a multi-conversation file.
        max_import_bytes: largest accepted source file, in bytes.
        max_attachment_bytes: largest attachment read, in bytes (larger: left unavailable).

    Returns:
        ``(conversation, blobs, mtime)``: ``conversation.source.path`` is the root-relative
        ``path``; ``blobs`` maps attachment id -> bytes; ``mtime`` is the file's
        modification time in epoch seconds (for live re-sync).

    Raises:
        NotFound: no such file, hidden, or outside the root (``field="path"``).
        Forbidden: permission denied. TooLarge: file over ``max_import_bytes``.
        InvalidRequest: a directory. ImportFailed: not an importable conversation.
    """
    path = normalize_path(path)
    data, model = await read_bytes(contents_manager, path, max_bytes=max_import_bytes)
    name = posixpath.basename(path)
    conversation = await asyncio.to_thread(load_one, data, format=format, name=name, index=index)
    conversation.source.path = path
    if not conversation.source.file_name:
        conversation.source.file_name = name
    blobs = await resolve_attachments(
        contents_manager, conversation, max_attachment_bytes=max_attachment_bytes
    )
    return conversation, blobs, _mtime(model)
