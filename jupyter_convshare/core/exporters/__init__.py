"""Exporters: :class:`~jupyter_convshare.core.model.Conversation` -> bytes (contract 2).

Public API: :data:`EXPORT_FORMATS` (``{"json", "csv", "parquet", "md"}`` -> :class:`ExportFormat`)
and :func:`export` ``(conversation, fmt) -> bytes``. Exporters write what they are given:
the viewer passes ``core.redact.viewer_copy(conversation)`` first.

=========  ================================  =========  ===========================================
format     media type                        extension  content
=========  ================================  =========  ===========================================
json       application/json; charset=utf-8   .json      lossless ``convshare/1`` (imports back exactly)
csv        text/csv; charset=utf-8           .csv       one row per message, all branches
parquet    application/vnd.apache.parquet    .parquet   the CSV columns, typed
md         text/markdown; charset=utf-8      .md        the active path as a readable document
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
from . import csv as _csv
from . import json as _json
from . import markdown as _markdown
from . import parquet as _parquet
from ._rows import COLUMNS

__all__ = ["COLUMNS", "EXPORT_FORMATS", "ExportFormat", "export"]


@dataclass(frozen=True)
class ExportFormat:
    """One export format.

    Attributes:
        name: the key in :data:`EXPORT_FORMATS` (``"json"``, ``"csv"``, ``"parquet"``, ``"md"``).
        media_type: ``Content-Type`` value, e.g. ``"text/csv; charset=utf-8"``.
        extension: file extension with the dot, e.g. ``".csv"``.
        write: ``(Conversation) -> bytes``.
    """

    name: str
    media_type: str
    extension: str
    write: Callable[[Conversation], bytes]


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "json": ExportFormat("json", _json.MEDIA_TYPE, _json.EXTENSION, _json.export_json),
    "csv": ExportFormat("csv", _csv.MEDIA_TYPE, _csv.EXTENSION, _csv.export_csv),
    "parquet": ExportFormat("parquet", _parquet.MEDIA_TYPE, _parquet.EXTENSION, _parquet.export_parquet),
    "md": ExportFormat("md", _markdown.MEDIA_TYPE, _markdown.EXTENSION, _markdown.export_markdown),
}
"""The export formats by name."""


def export(conversation: Conversation, fmt: str) -> bytes:
    """``conversation`` written in format ``fmt`` (a key of :data:`EXPORT_FORMATS`).

    Raises:
        InvalidRequest: ``fmt`` is not a known format (``field="format"``).
    """
    try:
        exporter = EXPORT_FORMATS[fmt]
    except (KeyError, TypeError):
        raise InvalidRequest(
            f"unknown export format {fmt!r} (known: {', '.join(EXPORT_FORMATS)})", field="format"
        ) from None
    return exporter.write(conversation)
