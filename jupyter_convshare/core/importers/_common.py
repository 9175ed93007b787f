"""Shared plumbing of the importers: JSON decoding and field checks that name the field.

Every check raises :class:`~jupyter_convshare.core.errors.ImportFailed` whose message reads
``"<file>: <format> format: <json path>: <what was wrong>"``, e.g.
``"untitled.chat: jupyterlab-chat format: messages[2].time: expected a number"``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, NoReturn

from ..errors import ImportFailed
from ..model import from_epoch

OBJECT_NAME = "<object>"
"""Stand-in file name in messages about in-memory input."""

_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    dict: "an object",
    list: "a list",
    bool: "true or false",
    float: "a number",
    int: "an integer",
}


def json_type_name(value: Any) -> str:
    """The JSON name of ``value``'s type, for error messages ("a string", "null", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


@dataclass
class Context:
    """Where an importer is: the file name and format (for messages) and collected warnings.

    Attributes:
        source: base name of the file, or ``"<object>"`` for in-memory input.
        format: the importer's format name.
        warnings: human-readable notes about what could not be mapped exactly; they end up
            in ``SourceInfo.warnings``.
    """

    source: str
    format: str
    warnings: list[str] = field(default_factory=list)

    def fail(self, field_path: str | None, message: str) -> NoReturn:
        """Raise :class:`ImportFailed` for ``field_path`` (a JSON path such as ``messages[2].time``)."""
        raise ImportFailed(message, source=self.source, format=self.format, field=field_path or None)

    def warn(self, field_path: str, message: str) -> None:
        """Record a warning about ``field_path`` (import continues)."""
        self.warnings.append(f"{field_path}: {message}" if field_path else message)

    # -- typed access -------------------------------------------------------------------

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        """``value`` as a JSON object, else ImportFailed "expected an object"."""
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {json_type_name(value)}")
        return value

    def lst(self, value: Any, path: str) -> list[Any]:
        """``value`` as a JSON list, else ImportFailed "expected a list"."""
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {json_type_name(value)}")
        return value

    def required(self, data: dict[str, Any], key: str, path: str) -> Any:
        """``data[key]``, else ImportFailed "missing field" naming ``path.key``."""
        if key not in data:
            self.fail(join(path, key), "missing field")
        return data[key]

    def string(self, data: dict[str, Any], key: str, path: str, *, required: bool = False,
               nullable: bool = True) -> str | None:
        """``data[key]`` as a string (``None`` when absent or null and allowed).

        Raises:
            ImportFailed: missing while ``required``, null while not ``nullable``, or not a string.
        """
        if key not in data:
            if required:
                self.fail(join(path, key), "missing field")
            return None
        value = data[key]
        if value is None and nullable and not required:
            return None
        if not isinstance(value, str):
            self.fail(join(path, key), f"expected a string, got {json_type_name(value)}")
        return value

    def boolean(self, data: dict[str, Any], key: str, path: str) -> bool:
        """``data[key]`` as a bool; absent or null is ``False``; anything else -> ImportFailed."""
        value = data.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(join(path, key), f"expected true or false, got {json_type_name(value)}")
        return value

    def string_list(self, data: dict[str, Any], key: str, path: str) -> list[str]:
        """``data[key]`` as a list of strings; absent or null is ``[]``."""
        value = data.get(key)
        if value is None:
            return []
        items = self.lst(value, join(path, key))
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.fail(f"{join(path, key)}[{i}]", f"expected a string, got {json_type_name(item)}")
        return list(items)

    def epoch(self, data: dict[str, Any], key: str, path: str, *, required: bool = False) -> datetime | None:
        """``data[key]`` (epoch seconds, or milliseconds by magnitude) as a UTC datetime.

        Raises:
            ImportFailed: missing while ``required``, not a number, not finite or out of range.
        """
        if key not in data or (data[key] is None and not required):
            if required:
                self.fail(join(path, key), "missing field")
            return None
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(join(path, key), f"expected a number, got {json_type_name(value)}")
        if not math.isfinite(value):
            self.fail(join(path, key), "expected a finite number")
        try:
            return from_epoch(value)
        except (OverflowError, OSError, ValueError):
            self.fail(join(path, key), f"time {value!r} is out of range")


def join(path: str, key: str | int) -> str:
    """JSON path of ``key`` under ``path``: ``join("messages[2]", "time") == "messages[2].time"``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def base_name(name: str | None) -> str | None:
    """The last component of ``name`` (``/`` or ``\\`` separated), or ``None``."""
    if not name:
        return None
    return PurePosixPath(name.replace("\\", "/")).name or None


def stem(name: str | None) -> str | None:
    """The base name of ``name`` without its last extension (``"untitled.chat"`` -> ``"untitled"``)."""
    base = base_name(name)
    if base is None:
        return None
    return PurePosixPath(base).stem or base


def parse_arguments(raw: Any) -> Any:
    """Tool-call arguments: a JSON string parsed (twice when double-encoded), else returned as is.

    OpenAI sends ``function.arguments`` as a JSON string; some datasets encode it twice
    (a JSON string whose value is itself JSON). A string that is not JSON is kept as the
    string (models sometimes emit broken JSON: the caller keeps ``arguments_raw`` too).
    """
    if not isinstance(raw, str):
        return raw
    value: Any = raw
    for _ in range(2):
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
        except ValueError:
            break
    return value


def data_uri(media_type: str | None, data: str) -> str:
    """A ``data:`` URI for base64 ``data`` of ``media_type``."""
    return f"data:{media_type or 'application/octet-stream'};base64,{data}"


def media_type_of_data_uri(uri: str) -> str | None:
    """The media type of a ``data:`` URI (``"image/png"``), or ``None`` for other URLs."""
    if not uri.startswith("data:"):
        return None
    head = uri[5:].split(",", 1)[0]
    media = head.split(";", 1)[0]
    return media or None
