"""Exporters: :class:`~jupyter_convshare.core.model.Conversation` -> bytes (contract 2).

Public API: :data:`EXPORT_FORMATS` (``{"json", "csv", "parquet", "md", "html", "chat",
"ipynb"}`` -> :class:`ExportFormat`), :func:`export` ``(conversation, fmt, *, read_blob=None)
-> bytes``, :data:`BlobReader` and :func:`blob_reader`. Exporters write what they are given:
the viewer passes ``core.redact.viewer_copy(conversation)`` first. The formats that embed
attachment bytes (``html``: raster images; ``ipynb``: raster images and other files) get
them through ``read_blob``; without it every attachment is a listed reference.

=========  ================================  =========  ===========================================
format     media type                        extension  content
=========  ================================  =========  ===========================================
json       application/json; charset=utf-8   .json      lossless ``convshare/1`` (imports back exactly)
csv        text/csv; charset=utf-8           .csv       one row per message, all branches
parquet    application/vnd.apache.parquet    .parquet   the CSV columns, typed
md         text/markdown; charset=utf-8      .md        the active path as a readable document
html       text/html; charset=utf-8          .html      the active path as the viewer renders it, one
                                                        self-contained file (no script, no network)
chat       application/json; charset=utf-8   .chat      the active path as a jupyterlab-chat document
                                                        (flat: jupyterlab-chat has no branches)
ipynb      application/x-ipynb+json          .ipynb     the active path as a notebook (nbformat 4):
                                                        markdown cells, Python code blocks as code cells,
                                                        stored files as cell attachments
=========  ================================  =========  ===========================================

CSV and Parquet columns (one row per message, every branch, depth-first from the roots):

==================  ====================  ====================================================
column              Parquet type          meaning
==================  ====================  ====================================================
conversation_id     string                the conversation's id
conversation_title  string                its title (empty/null when none)
message_id          string                the message id (``"1"``, ``"2"``, ... for API lists)
parent_id           string                the previous message on its branch (empty for a root)
depth               int32                 0 for a root, parent's depth + 1 otherwise
on_active_path      bool                  on the default path the viewer shows
role                string                user, assistant, system, tool or developer
author_id           string                participant id (username, persona id, "assistant")
author_name         string                participant display name
provider            string                e.g. openai, anthropic, jupyter-ai (empty if unknown)
model               string                the message's model, else the author's default model
created_at          timestamp[us, UTC]    when written; CSV: ISO 8601 ``...Z``; empty if unknown
status              string                complete, incomplete, error or deleted
hidden              bool                  hidden by the source UI (system plumbing)
edited              bool                  edited in place at the source
text                string                markdown text; code, tool calls and tool results
                                          rendered as readable fenced text
attachments         string                names of the attachments the message refers to,
                                          joined by ``"; "``
==================  ====================  ====================================================

CSV booleans are ``true`` / ``false``. In CSV only, a cell starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return gets a leading apostrophe (``'``) so that spreadsheet programs
do not run it as a formula ("CSV injection"); nothing else is escaped in any format (HTML in
a message comes out unchanged: escaping is the viewer's job).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import InvalidRequest
from ..model import Conversation
from . import chat as _chat
from . import csv as _csv
from . import html as _html
from . import ipynb as _ipynb
from . import json as _json
from . import markdown as _markdown
from . import parquet as _parquet
from ._rows import COLUMNS
from ._blobs import MAX_EMBEDDED_BYTES, MAX_IMAGE_BYTES, BlobReader, blob_reader

__all__ = ["COLUMNS", "EXPORT_FORMATS", "MAX_EMBEDDED_BYTES", "MAX_IMAGE_BYTES", "BlobReader", "ExportFormat",
           "blob_reader", "export"]


@dataclass(frozen=True)
class ExportFormat:
    """One export format.

    Attributes:
        name: the key in :data:`EXPORT_FORMATS` (``"json"``, ``"csv"``, ``"parquet"``, ``"md"``,
            ``"html"``, ``"chat"``, ``"ipynb"``).
        media_type: ``Content-Type`` value, e.g. ``"text/csv; charset=utf-8"``.
        extension: file extension with the dot, e.g. ``".csv"``.
        write: ``(Conversation) -> bytes``, or ``(Conversation, read_blob=BlobReader | None)
            -> bytes`` when ``embeds_files``.
        embeds_files: the format can carry attachment bytes (raster images) read through
            a :data:`BlobReader`.
        active_path_only: the file holds the active path only (the others hold every branch).
    """

    name: str
    media_type: str
    extension: str
    write: Callable[..., bytes]
    embeds_files: bool = False
    active_path_only: bool = False


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "json": ExportFormat("json", _json.MEDIA_TYPE, _json.EXTENSION, _json.export_json),
    "csv": ExportFormat("csv", _csv.MEDIA_TYPE, _csv.EXTENSION, _csv.export_csv),
    "parquet": ExportFormat("parquet", _parquet.MEDIA_TYPE, _parquet.EXTENSION, _parquet.export_parquet),
    "md": ExportFormat("md", _markdown.MEDIA_TYPE, _markdown.EXTENSION, _markdown.export_markdown,
                       active_path_only=True),
    "html": ExportFormat("html", _html.MEDIA_TYPE, _html.EXTENSION, _html.export_html, embeds_files=True,
                         active_path_only=True),
    "chat": ExportFormat("chat", _chat.MEDIA_TYPE, _chat.EXTENSION, _chat.export_chat, active_path_only=True),
    "ipynb": ExportFormat("ipynb", _ipynb.MEDIA_TYPE, _ipynb.EXTENSION, _ipynb.export_ipynb, embeds_files=True,
                          active_path_only=True),
}
"""The export formats by name."""


def export(conversation: Conversation, fmt: str, *, read_blob: BlobReader | None = None) -> bytes:
    """``conversation`` written in format ``fmt`` (a key of :data:`EXPORT_FORMATS`).

    Args:
        conversation: what to write (the caller redacts first for viewers).
        fmt: the format name.
        read_blob: for the formats that embed files (``html``, ``ipynb``): the bytes of
            a stored attachment, or ``None`` (see :func:`blob_reader`); ``None`` here
            lists every attachment as a reference. Ignored by the other formats.

    Raises:
        InvalidRequest: ``fmt`` is not a known format (``field="format"``).
    """
    try:
        exporter = EXPORT_FORMATS[fmt]
    except (KeyError, TypeError):
        raise InvalidRequest(
            f"unknown export format {fmt!r} (known: {', '.join(EXPORT_FORMATS)})", field="format"
        ) from None
    if exporter.embeds_files:
        return exporter.write(conversation, read_blob=read_blob)
    return exporter.write(conversation)
