"""Attachment bytes for the exports that embed files (``html``: raster images; ``ipynb``:
raster images and other stored files).

Exporters never touch the store: the caller hands them a :data:`BlobReader`, usually
:func:`blob_reader` over ``ShareService.blob_path``. Only raster images (png, jpeg, gif,
webp: ``core.render.RASTER_IMAGE_TYPES``) are ever shown as images, each at most
:data:`MAX_IMAGE_BYTES`, together at most :data:`MAX_EMBEDDED_BYTES` per export file (the
same limits hold for the other files a notebook carries); anything over the limits is
listed by name as a reference.
"""

from __future__ import annotations

import base64
import os
from typing import Callable

from ..model import Attachment
from ..render import RASTER_IMAGE_TYPES

BlobReader = Callable[[Attachment], "bytes | None"]
"""``(attachment) -> bytes | None``: the stored bytes of an attachment, ``None`` when they
are not available (not stored, missing, or too large to embed). Must not raise."""

MAX_IMAGE_BYTES = 2 * 1024 * 1024
"""Largest image (bytes) embedded in an export; larger ones are listed by name."""

MAX_EMBEDDED_BYTES = 8 * 1024 * 1024
"""Most image bytes embedded in one export file, all images together."""

# Magic numbers of the raster types: the media type comes from the source, the bytes
# must agree before they are embedded under it.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


def looks_like(mime: str, data: bytes) -> bool:
    """Whether ``data`` starts as a file of raster type ``mime`` must (``False`` for any
    other type): a WebP is a RIFF container whose form type is ``WEBP``."""
    magic = _MAGIC.get(mime)
    if magic is None or not data.startswith(magic):
        return False
    return mime != "image/webp" or data[8:12] == b"WEBP"


def blob_reader(blob_path: Callable[[str], "str | os.PathLike[str]"], max_bytes: int = MAX_IMAGE_BYTES) -> BlobReader:
    """A :data:`BlobReader` over content-addressed blob files.

    Args:
        blob_path: ``sha256 -> path`` of the blob file (``ShareService.blob_path``); any
            exception it raises (``NotFound``, ``ValueError``) means "not available".
        max_bytes: files larger than this (bytes) are not read (``None`` is returned).

    Returns:
        A reader that answers ``None`` for attachments that are not ``available``, have
        no ``sha256``, are missing on disk or are larger than ``max_bytes``.
    """

    def read(attachment: Attachment) -> bytes | None:
        if not attachment.available or not attachment.sha256:
            return None
        try:
            path = blob_path(attachment.sha256)
            if os.path.getsize(path) > max_bytes:
                return None
            with open(path, "rb") as handle:
                data = handle.read(max_bytes + 1)
        except Exception:  # a reader must not fail an export: the file is then listed
            return None
        return data if len(data) <= max_bytes else None

    return read


def media_type(attachment: Attachment) -> str:
    """The attachment's media type, lower case, without parameters (``""`` when unknown)."""
    return (attachment.mime_type or "").split(";")[0].strip().lower()


class ImageBudget:
    """Reads raster images for one export, within :data:`MAX_IMAGE_BYTES` each and
    :data:`MAX_EMBEDDED_BYTES` in all.

    Args:
        read_blob: the caller's reader, or ``None`` (nothing is embedded).
    """

    def __init__(self, read_blob: BlobReader | None) -> None:
        self._read = read_blob
        self._left = MAX_EMBEDDED_BYTES
        self._cache: dict[str, bytes | None] = {}

    def _bytes(self, attachment: Attachment, mime: str) -> bytes | None:
        """The attachment's bytes within the limits (counted once, cached by attachment id);
        a raster image's bytes must also be what its media type says."""
        if attachment.id not in self._cache:
            data: bytes | None = None
            if attachment.size_bytes is None or attachment.size_bytes <= min(MAX_IMAGE_BYTES, self._left):
                try:
                    data = self._read(attachment) if self._read is not None else None
                except Exception:  # a caller's reader that fails: list the file instead
                    data = None
            if data is not None and len(data) > min(MAX_IMAGE_BYTES, self._left):
                data = None
            if data is not None and mime in RASTER_IMAGE_TYPES and not looks_like(mime, data):
                data = None
            if data is not None:
                self._left -= len(data)
            self._cache[attachment.id] = data
        return self._cache[attachment.id]

    def image(self, attachment: Attachment) -> tuple[str, bytes] | None:
        """``(media type, bytes)`` of a raster image attachment to embed, else ``None``
        (not an image, bytes unavailable, not what the media type says, over a limit)."""
        mime = media_type(attachment)
        if self._read is None or mime not in RASTER_IMAGE_TYPES or not attachment.available:
            return None
        data = self._bytes(attachment, mime)
        return (mime, data) if data is not None else None

    def file(self, attachment: Attachment) -> tuple[str, bytes] | None:
        """``(media type, bytes)`` of any stored attachment to carry in the file, within the
        same limits as images, else ``None``. Raster images go through :meth:`image` (bytes
        must match the type); other files keep their lower-case media type, or
        ``application/octet-stream`` when they have none."""
        mime = media_type(attachment)
        if mime in RASTER_IMAGE_TYPES:
            return self.image(attachment)
        if self._read is None or not attachment.available:
            return None
        data = self._bytes(attachment, mime)
        return (mime or "application/octet-stream", data) if data is not None else None

    def data_uri(self, attachment: Attachment) -> str | None:
        """The image as a ``data:<type>;base64,...`` URI, or ``None`` (see :meth:`image`)."""
        found = self.image(attachment)
        if found is None:
            return None
        mime, data = found
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
