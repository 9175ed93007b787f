"""CSV export: one row per message, all branches (columns: see the package docstring).

Output: UTF-8 (no byte-order mark), RFC 4180 (comma separated, ``"``-quoted when needed,
CRLF line ends), a header row first. Booleans are ``true`` / ``false``, ``created_at`` is ISO
8601 UTC (``2026-05-01T12:00:00.000000Z``) or empty, ``None`` is an empty cell.

Spreadsheet formula injection (OWASP "CSV Injection"): a text cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe ``'`` so that
spreadsheet programs show it as text instead of evaluating it. Nothing else is escaped: HTML
in messages comes out unchanged (escaping is the viewer's job).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..model import Conversation, format_time
from ._rows import COLUMNS, rows

MEDIA_TYPE = "text/csv; charset=utf-8"
EXTENSION = ".csv"

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "tzinfo"):
        return format_time(value) or ""
    return neutralise(str(value))


def export_csv(conversation: Conversation) -> bytes:
    """The conversation as CSV bytes (UTF-8), a header row then one row per message."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows(conversation):
        writer.writerow([_cell(row[column]) for column in COLUMNS])
    return buffer.getvalue().encode("utf-8")
