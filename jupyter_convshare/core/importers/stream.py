"""Streaming import of big exports: one conversation at a time, in bounded memory.

A ChatGPT or Claude.ai data export (``conversations.json``) or an Open WebUI export is one
JSON array of thousands of conversations, often hundreds of MB. :func:`iter_load` reads
such an array with ijson, one element at a time, and converts each with its format
module's ``convert(item, *, name, where)``; memory stays bounded by the largest single
conversation, not the file. Every other input goes through :func:`~.load` (whole file).

:func:`scan` is the two-pass import the CLI and notebooks use: a first pass checks the
whole file and summarises it (nothing is kept but counts), so a malformed file (truncated,
a bad conversation at the end) fails before anything is written; the caller then stores
the conversations of a second pass. Progress (bytes read) is a tqdm bar when asked for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from ..errors import ImportFailed
from ..model import Conversation
from ._common import base_name

__all__ = ["ConversationSummary", "ImportSummary", "Skipped", "iter_load", "scan", "streaming_module"]

_PEEK_BYTES = 64 * 1024


@dataclass(frozen=True)
class ConversationSummary:
    """One conversation as ``jupyter convshare import --json`` lists it.

    Attributes:
        conversation_id: the conversation's id (from the source when it has one).
        title: its title, or ``None``.
        messages: number of messages, every branch counted.
        branches: number of leaves (1 for a conversation without forks).
    """

    conversation_id: str
    title: str | None
    messages: int
    branches: int

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationSummary:
        """The summary of ``conversation``."""
        return cls(
            conversation_id=conversation.id,
            title=conversation.title,
            messages=len(conversation.messages),
            branches=max(1, len(conversation.leaves())) if conversation.messages else 0,
        )

    def to_json(self) -> dict[str, Any]:
        """``{"conversation_id", "title", "messages", "branches"}``."""
        return {
            "conversation_id": self.conversation_id,
            "title": self.title,
            "messages": self.messages,
            "branches": self.branches,
        }


@dataclass(frozen=True)
class Skipped:
    """A conversation of the input that is not imported, and why.

    Attributes:
        where: its place in the input, e.g. ``"conversations[12]"``.
        title: its title when known.
        reason: why, e.g. ``"no messages"``.
    """

    where: str
    title: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        """``{"where", "title", "reason"}``."""
        return {"where": self.where, "title": self.title, "reason": self.reason}


@dataclass
class ImportSummary:
    """What a file holds: its format and the conversations that would be imported.

    Attributes:
        format: the format name (a key of :data:`~.FORMATS`).
        title: the format's human-readable name.
        conversations: one summary per importable conversation, in input order.
        skipped: conversations that are not imported, with the reason.
        streamed: ``True`` when the file was read one conversation at a time.
    """

    format: str
    title: str
    conversations: list[ConversationSummary] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    streamed: bool = False

    def to_json(self) -> dict[str, Any]:
        """``{"format", "conversations": [...], "skipped": [...]}`` (the ``--json`` output)."""
        return {
            "format": self.format,
            "conversations": [c.to_json() for c in self.conversations],
            "skipped": [s.to_json() for s in self.skipped],
        }


def streaming_module(format: str) -> ModuleType | None:
    """The importer module of ``format`` when it converts one array element at a time
    (it has ``convert(item, *, name, where)``), else ``None``."""
    from . import FORMATS

    importer = FORMATS.get(format)
    if importer is None:
        return None
    module = sys.modules.get(getattr(importer.parse, "__module__", ""))
    return module if module is not None and callable(getattr(module, "convert", None)) else None


def iter_load(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    progress: bool | Callable[[int], None] = False,
) -> Iterator[tuple[str, Conversation | Skipped]]:
    """Yield ``(where, conversation)`` for each conversation of the file at ``path``, or
    ``(where, Skipped)`` for one that is not imported (no messages).

    A JSON array of a streaming format (:func:`streaming_module`) is read one element at
    a time (ijson); anything else is read whole through :func:`~.load`.

    Args:
        path: the file.
        format: a key of :data:`~.FORMATS`, or ``None`` to detect it (for an array, from
            its first element only).
        progress: ``True`` for a tqdm bar of bytes read (``tqdm.auto``: a widget in a
            notebook, text in a terminal; on stderr), or a callable given the bytes read
            so far.

    Raises:
        ImportFailed: unreadable or malformed input (naming the file, format and place),
            possibly after conversations were yielded: callers that must not import
            part of a file check it first (:func:`scan`).
    """
    fmt, module = _format_of(Path(path), format)
    name = base_name(os.fspath(path)) or "file"
    if module is None:
        from . import load

        for index, conversation in enumerate(load(path, format=fmt)):
            yield _where(index), _keep(conversation, _where(index))
        return
    yield from _stream(Path(path), fmt, module, name, progress)


def scan(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    progress: bool | Callable[[int], None] = False,
) -> ImportSummary:
    """Check the whole file at ``path`` and summarise it, keeping nothing but counts.

    Returns:
        An :class:`ImportSummary` (format, conversations, skipped).

    Raises:
        ImportFailed: the file cannot be imported as a whole (nothing should be stored).
    """
    from . import FORMATS

    fmt, module = _format_of(Path(path), format)
    summary = ImportSummary(format=fmt, title=FORMATS[fmt].title, streamed=module is not None)
    for _where_, item in iter_load(path, format=fmt, progress=progress):
        if isinstance(item, Skipped):
            summary.skipped.append(item)
        else:
            summary.conversations.append(ConversationSummary.of(item))
    return summary


# -- internals ----------------------------------------------------------------------------


def _where(index: int) -> str:
    return f"conversations[{index}]"


def _keep(conversation: Conversation, where: str) -> Conversation | Skipped:
    if not conversation.messages:
        return Skipped(where=where, title=conversation.title, reason="no messages")
    return conversation


def _format_of(path: Path, format: str | None) -> tuple[str, ModuleType | None]:
    """The format of ``path`` and its streaming module (``None``: read it whole)."""
    from . import FORMATS, detect

    if format is not None:
        if format not in FORMATS:
            raise ImportFailed(f"unknown format {format!r} (known: {', '.join(FORMATS)})", field="format")
        return format, streaming_module(format) if _is_array(path) else None
    if _is_array(path):
        first = _first_element(path)
        if isinstance(first, dict):
            for fmt in FORMATS:
                module = streaming_module(fmt)
                matches = getattr(module, "matches", None)
                if module is not None and callable(matches) and _safe_matches(matches, first):
                    return fmt, module
    fmt = detect(path)
    return fmt, streaming_module(fmt) if _is_array(path) else None


def _safe_matches(matches: Callable[[Any], bool], first: dict[str, Any]) -> bool:
    try:
        return bool(matches(first))
    except Exception:  # a detector that cannot tell is a "no", never a crash
        return False


def _is_array(path: Path) -> bool:
    """Whether the file is a JSON array (its first non-blank character is ``[``)."""
    try:
        with path.open("rb") as f:
            head = f.read(_PEEK_BYTES)
    except OSError as exc:
        raise ImportFailed(f"cannot read the file ({exc.strerror or type(exc).__name__})",
                           source=path.name) from exc
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["


def _first_element(path: Path) -> Any:
    import ijson

    with path.open("rb") as f:
        try:
            for item in ijson.items(f, "item", use_float=True):
                return item
        except ijson.JSONError:
            return None  # detect() reads it whole and names the error
    return None


def _stream(
    path: Path, fmt: str, module: ModuleType, name: str, progress: bool | Callable[[int], None]
) -> Iterator[tuple[str, Conversation | Skipped]]:
    import ijson

    size = path.stat().st_size
    with path.open("rb") as raw, _progress(progress, size, name) as report:
        reader = _CountingReader(raw, report)
        index = -1
        try:
            for index, item in enumerate(ijson.items(reader, "item", use_float=True)):
                where = _where(index)
                if not isinstance(item, dict):
                    raise ImportFailed(f"{where}: expected a conversation object, got {type(item).__name__}",
                                       source=name, format=fmt)
                conversation = module.convert(item, name=name, where=where)
                yield where, _keep(conversation, where)
        except ijson.IncompleteJSONError as exc:
            raise ImportFailed(
                f"the file ends inside {_where(index + 1)} (truncated JSON: {exc})", source=name, format=fmt
            ) from None
        except ijson.JSONError as exc:
            raise ImportFailed(f"invalid JSON after {_where(index)}: {exc}", source=name, format=fmt) from None
        if index < 0:
            raise ImportFailed("the export holds no conversations", source=name, format=fmt)


class _CountingReader:
    """A binary file whose ``read`` reports the bytes read so far (for a progress bar)."""

    def __init__(self, raw: IO[bytes], report: Callable[[int], None]) -> None:
        self._raw = raw
        self._report = report
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._done += len(data)
        self._report(self._done)
        return data


class _progress:
    """Context manager giving a ``report(bytes_done)`` callable: a tqdm bar, the caller's
    callable, or nothing."""

    def __init__(self, progress: bool | Callable[[int], None], total: int, name: str) -> None:
        self._progress = progress
        self._total = total
        self._name = name
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if callable(self._progress):
            return self._progress
        if not self._progress:
            return lambda done: None
        from tqdm.auto import tqdm

        self._bar = tqdm(total=self._total, unit="B", unit_scale=True, unit_divisor=1024,
                         desc=self._name, file=sys.stderr, leave=False)
        bar = self._bar

        def report(done: int) -> None:
            bar.update(done - bar.n)

        return report

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
