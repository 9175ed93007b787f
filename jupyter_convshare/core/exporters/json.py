"""JSON export: the lossless ``{"schema": "convshare/1", ...}`` form.

Output: :meth:`Conversation.to_dict` as UTF-8 JSON, indented by 2, non-ASCII kept as is,
ending with a newline. ``core.importers`` reads it back exactly (format ``"convshare"``).
"""

from __future__ import annotations

import json

from ..model import Conversation

MEDIA_TYPE = "application/json; charset=utf-8"
EXTENSION = ".json"


def export_json(conversation: Conversation) -> bytes:
    """The conversation as ``convshare/1`` JSON bytes (UTF-8).

    Raises:
        ValueError: a value is not JSON-serialisable (NaN, or a naive datetime).
    """
    text = json.dumps(conversation.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")
