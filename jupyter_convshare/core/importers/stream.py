"""Streaming import of big exports: one conversation at a time, in bounded memory.

A ChatGPT or Claude.ai data export (``conversations.json``) or an Open WebUI export is one
JSON array of thousands of conversations, often hundreds of MB. :func:`iter_load` reads
such an array with ijson, one element at a time, and converts each with its format
module's ``convert(item, *, name, where)``; memory stays bounded by the largest single
conversation, not the file. Every other input goes through :func:`~.load` (whole file).

:func:`prepare` is the two-pass import the CLI and notebooks use: a first pass checks the
whole file and summarises it (nothing is kept but counts and ids), so a malformed file
(truncated, a bad conversation at the end) fails before anything is written, and picks
the conversations asked for by id or title; :meth:`ImportPlan.conversations` is the
second pass, yielding what to store. The file may also be the data-export ZIP ChatGPT or
Claude.ai send: ``conversations.json`` is streamed out of it and the attached files a
conversation refers to are read from it as blobs (``core.importers.archive``, with its
zip-bomb and path checks). Progress (bytes read) is a tqdm bar when asked for.
:func:`scan` is the first pass alone.
"""

from __future__ import annotations

import os
import sys
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from ..errors import ImportFailed, TooLarge
from ..model import Conversation, format_time
from ._common import base_name
from .archive import ExportArchive, ZipLimits, is_zip

__all__ = ["ConversationSummary", "ImportPlan", "ImportSummary", "Skipped", "iter_load", "prepare", "scan",
           "streaming_module"]

_PEEK_BYTES = 64 * 1024


@dataclass(frozen=True)
class ConversationSummary:
    """One conversation as ``jupyter convshare import --json`` / ``--list`` lists it.

    Attributes:
        conversation_id: the conversation's id (from the source when it has one).
        title: its title, or ``None``.
        messages: number of messages, every branch counted.
        branches: number of leaves (1 for a conversation without forks).
        created_at: ISO-8601 UTC creation time from the source, or ``None``.
        original_id: the source's own id (``--id`` accepts it as well), or ``None``.
        attachments: number of attachments (references or files).
        files: attachments whose bytes an export ZIP holds (``None`` for other inputs).
    """

    conversation_id: str
    title: str | None
    messages: int
    branches: int
    created_at: str | None = None
    original_id: str | None = None
    attachments: int = 0
    files: int | None = None

    @classmethod
    def of(cls, conversation: Conversation, *, files: int | None = None) -> ConversationSummary:
        """The summary of ``conversation`` (``files``: how many of its attachments an
        export ZIP holds)."""
        return cls(
            conversation_id=conversation.id,
            title=conversation.title,
            messages=len(conversation.messages),
            branches=max(1, len(conversation.leaves())) if conversation.messages else 0,
            created_at=format_time(conversation.created_at),
            original_id=conversation.source.original_id,
            attachments=len(conversation.attachments),
            files=files,
        )

    def to_json(self) -> dict[str, Any]:
        """``{"conversation_id", "title", "messages", "branches", "created_at",
        "attachments"}``, plus ``"files"`` for an export ZIP."""
        data: dict[str, Any] = {
            "conversation_id": self.conversation_id,
            "title": self.title,
            "messages": self.messages,
            "branches": self.branches,
            "created_at": self.created_at,
            "attachments": self.attachments,
        }
        if self.files is not None:
            data["files"] = self.files
        return data


@dataclass(frozen=True)
class Skipped:
    """A conversation of the input that is not imported, and why.

    Attributes:
        where: its place in the input, e.g. ``"conversations[12]"``.
        title: its title when known.
        reason: why, e.g. ``"no messages"``.
        conversation_id: its id when known (lets ``--id`` name it).
    """

    where: str
    title: str | None
    reason: str
    conversation_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"where", "title", "reason"}`` plus ``"conversation_id"`` when known."""
        data: dict[str, Any] = {"where": self.where, "title": self.title, "reason": self.reason}
        if self.conversation_id is not None:
            data["conversation_id"] = self.conversation_id
        return data


@dataclass
class ImportSummary:
    """What a file holds: its format and the conversations that would be imported.

    Attributes:
        format: the format name (a key of :data:`~.FORMATS`).
        title: the format's human-readable name.
        conversations: one summary per importable conversation, in input order (only the
            picked ones when conversations were picked by id or title).
        skipped: conversations that are not imported, with the reason.
        streamed: ``True`` when the file was read one conversation at a time.
        archive: the export ZIP's base name when the file is one, else ``None``.
    """

    format: str
    title: str
    conversations: list[ConversationSummary] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    streamed: bool = False
    archive: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"format", "conversations": [...], "skipped": [...]}`` (the ``--json`` output),
        plus ``"archive"`` for an export ZIP."""
        data: dict[str, Any] = {
            "format": self.format,
            "conversations": [c.to_json() for c in self.conversations],
            "skipped": [s.to_json() for s in self.skipped],
        }
        if self.archive is not None:
            data["archive"] = self.archive
        return data


def streaming_module(format: str) -> ModuleType | None:
    """The importer module of ``format`` when it converts one array element at a time
    (it has ``convert(item, *, name, where)``), else ``None``."""
    from . import FORMATS

    importer = FORMATS.get(format)
    if importer is None:
        return None
    module = sys.modules.get(getattr(importer.parse, "__module__", ""))
    return module if module is not None and callable(getattr(module, "convert", None)) else None


# -- where the JSON comes from ---------------------------------------------------------------


class _Input:
    """A plain file, or ``conversations.json`` inside an export ZIP."""

    def __init__(self, path: Path, archive: ExportArchive | None) -> None:
        self.path = path
        self.archive = archive
        self.name = base_name(os.fspath(path)) or "file"
        if archive is not None:
            self.size = archive.conversations.file_size
        else:
            try:
                self.size = path.stat().st_size
            except OSError as exc:
                raise ImportFailed(f"cannot read the file ({exc.strerror or type(exc).__name__})",
                                   source=path.name) from exc

    def open(self) -> IO[bytes]:
        if self.archive is not None:
            return self.archive.open_conversations()
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise ImportFailed(f"cannot read the file ({exc.strerror or type(exc).__name__})",
                               source=self.name) from exc

    def is_array(self) -> bool:
        """Whether the JSON is an array (its first non-blank character is ``[``)."""
        with self.open() as f:
            head = _guarded(lambda: f.read(_PEEK_BYTES), self)
        return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["

    def first_element(self) -> Any:
        import ijson

        with self.open() as f:
            try:
                for item in ijson.items(f, "item", use_float=True):
                    return item
            except (ijson.JSONError, zipfile.BadZipFile, EOFError, zlib.error):
                return None  # detect() reads it whole and names the error
        return None

    def source(self) -> Any:
        """What :func:`~.load` / :func:`~.detect` read: the path, or the entry's bytes."""
        if self.archive is None:
            return self.path
        return self.archive.read_conversations()


def _guarded(read: Callable[[], bytes], item: _Input) -> bytes:
    try:
        return read()
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ImportFailed(f"{CONVERSATIONS} is damaged ({exc})", source=item.name) from None
    except OSError as exc:
        raise ImportFailed(f"cannot read the file ({exc.strerror or type(exc).__name__})",
                           source=item.name) from exc


CONVERSATIONS = "conversations.json"


def _open_input(path: Path, limits: ZipLimits | None) -> _Input:
    if is_zip(path):
        return _Input(path, ExportArchive(path, limits))
    return _Input(path, None)


# -- the public passes -----------------------------------------------------------------------


def iter_load(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    progress: bool | Callable[[int], None] = False,
) -> Iterator[tuple[str, Conversation | Skipped]]:
    """Yield ``(where, conversation)`` for each conversation of the file at ``path``, or
    ``(where, Skipped)`` for one that is not imported (no messages).

    A JSON array of a streaming format (:func:`streaming_module`) is read one element at
    a time (ijson); anything else is read whole through :func:`~.load`. An export ZIP
    yields the conversations of its ``conversations.json`` (attachments stay references:
    :func:`prepare` reads their bytes).

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
    item = _open_input(Path(path), None)
    try:
        fmt, module = _format_of(item, format)
        yield from _iter(item, fmt, module, progress, None)
    finally:
        if item.archive is not None:
            item.archive.close()


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
    with prepare(path, format=format, progress=progress) as plan:
        return plan.summary


def prepare(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    ids: Iterable[str] = (),
    titles: Iterable[str] = (),
    progress: bool | Callable[[int], None] = False,
    limits: ZipLimits | None = None,
) -> ImportPlan:
    """First pass of an import: check the whole file at ``path``, summarise it and pick
    the conversations to import.

    Args:
        path: the file: any importable file, or a ChatGPT / Claude.ai data-export ZIP.
        format: a key of :data:`~.FORMATS`, or ``None`` to detect it.
        ids: pick these conversations by id (as listed, e.g. ``"chatgpt:<uuid>"``, or the
            source's own id); each must match one.
        titles: pick the conversation with exactly this title; each must match exactly one.
            Without ``ids`` and ``titles`` every conversation is picked.
        progress: as for :func:`iter_load`.
        limits: what an export ZIP may hold (default :class:`ZipLimits`).

    Returns:
        An :class:`ImportPlan` (a context manager: close it, or use ``with``).

    Raises:
        ImportFailed: the file cannot be imported as a whole; an id or title matches no
            conversation (naming it and the file, ``field="id"`` / ``"title"``); a title
            matches several (listing their ids).
        TooLarge: an export ZIP over its limits (``conversations.json``, entries, or the
            bytes the picked conversations' files would need).
    """
    item = _open_input(Path(path), limits)
    try:
        return ImportPlan(item, format, tuple(ids), tuple(titles), progress)
    except BaseException:
        if item.archive is not None:
            item.archive.close()
        raise


class ImportPlan:
    """A checked import: :attr:`summary` says what :meth:`conversations` will yield.

    Attributes:
        summary: the :class:`ImportSummary` of the picked conversations.
        format: the format name.
    """

    def __init__(self, item: _Input, format: str | None, ids: tuple[str, ...], titles: tuple[str, ...],
                 progress: bool | Callable[[int], None]) -> None:
        from . import FORMATS

        self._item = item
        self._progress = progress
        self.format, self._module = _format_of(item, format)
        archive = item.archive
        summary = ImportSummary(format=self.format, title=FORMATS[self.format].title,
                                streamed=self._module is not None, archive=archive.name if archive else None)
        listed: list[tuple[str, ConversationSummary | Skipped]] = []
        planned: dict[str, list[Any]] = {}
        for where, found in _iter(item, self.format, self._module, progress, None):
            if isinstance(found, Skipped):
                listed.append((where, found))
                continue
            files = None
            if archive is not None:
                planned[where] = archive.planned(found)
                files = len(planned[where])
            listed.append((where, ConversationSummary.of(found, files=files)))
        self._picked = _pick(listed, ids, titles, item.name)
        for where, entry in listed:
            if where not in self._picked:
                continue
            if isinstance(entry, Skipped):
                summary.skipped.append(entry)
            else:
                summary.conversations.append(entry)
        if archive is not None:
            entries = {info.filename: info for w in self._picked for info in planned.get(w, [])}
            total = archive.conversations.file_size + sum(
                info.file_size for w in self._picked for info in planned.get(w, []))
            if total > archive.limits.max_total_bytes:
                raise TooLarge(
                    f"{archive.name}: importing it reads {total} bytes from the archive; the limit is "
                    f"{archive.limits.max_total_bytes} bytes (pick fewer conversations)",
                    field="archive",
                )
            # A damaged file must fail now, not after earlier conversations were stored.
            archive.verify(list(entries.values()))
        self.summary = summary

    def __enter__(self) -> ImportPlan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the export ZIP, if any."""
        if self._item.archive is not None:
            self._item.archive.close()

    def conversations(self) -> Iterator[tuple[Conversation, dict[str, bytes]]]:
        """Second pass: ``(conversation, blobs)`` for each picked conversation with messages,
        in input order; ``blobs`` (``{attachment id: bytes}``) are the attached files an
        export ZIP holds (else ``{}``), for ``ShareService.save_conversation``.

        Raises:
            ImportFailed: the file changed or broke since :func:`prepare` checked it.
        """
        archive = self._item.archive
        for _where, found in _iter(self._item, self.format, self._module, self._progress, self._picked):
            if isinstance(found, Skipped):
                continue
            blobs: dict[str, bytes] = {}
            if archive is not None:
                blobs, _warnings = archive.blobs_for(found)
            yield found, blobs


# -- internals ----------------------------------------------------------------------------


def _pick(listed: list[tuple[str, ConversationSummary | Skipped]], ids: tuple[str, ...],
          titles: tuple[str, ...], name: str) -> set[str]:
    """The places of the conversations picked by ``ids`` and ``titles`` (all without either)."""
    if not ids and not titles:
        return {where for where, _ in listed}
    picked: set[str] = set()
    for wanted in ids:
        hits = [where for where, found in listed if wanted in _ids_of(found)]
        if not hits:
            raise ImportFailed(f"no conversation with id {wanted!r} in this file (--list shows them)",
                               source=name, field="id")
        picked.update(hits)
    for wanted in titles:
        titled = [(where, found) for where, found in listed if found.title == wanted]
        if not titled:
            raise ImportFailed(f"no conversation titled {wanted!r} in this file (--list shows them)",
                               source=name, field="title")
        if len(titled) > 1:
            listing = ", ".join(found.conversation_id or where for where, found in titled)
            raise ImportFailed(
                f"{len(titled)} conversations are titled {wanted!r}: pick one by id: {listing}",
                source=name, field="title",
            )
        picked.add(titled[0][0])
    return picked


def _ids_of(found: ConversationSummary | Skipped) -> set[str]:
    if isinstance(found, Skipped):
        return {found.conversation_id} if found.conversation_id else set()
    ids = {found.conversation_id}
    if found.original_id:
        ids.add(found.original_id)
    return ids


def _where(index: int) -> str:
    return f"conversations[{index}]"


def _keep(conversation: Conversation, where: str) -> Conversation | Skipped:
    if not conversation.messages:
        return Skipped(where=where, title=conversation.title, reason="no messages",
                       conversation_id=conversation.id)
    return conversation


def _format_of(item: _Input, format: str | None) -> tuple[str, ModuleType | None]:
    """The format of ``item`` and its streaming module (``None``: read it whole)."""
    from . import FORMATS, detect

    if format is not None:
        if format not in FORMATS:
            raise ImportFailed(f"unknown format {format!r} (known: {', '.join(FORMATS)})", field="format")
        return format, streaming_module(format) if item.is_array() else None
    array = item.is_array()
    if array:
        first = item.first_element()
        if isinstance(first, dict):
            for fmt in FORMATS:
                module = streaming_module(fmt)
                matches = getattr(module, "matches", None)
                if module is not None and callable(matches) and _safe_matches(matches, first):
                    return fmt, module
    if item.archive is not None:
        fmt = detect(item.source(), name=CONVERSATIONS)
    else:
        fmt = detect(item.path)
    return fmt, streaming_module(fmt) if array else None


def _safe_matches(matches: Callable[[Any], bool], first: dict[str, Any]) -> bool:
    try:
        return bool(matches(first))
    except Exception:  # a detector that cannot tell is a "no", never a crash
        return False


def _iter(item: _Input, fmt: str, module: ModuleType | None, progress: bool | Callable[[int], None],
          picks: Collection[str] | None) -> Iterator[tuple[str, Conversation | Skipped]]:
    if module is None:
        from . import load

        name = item.archive.name if item.archive is not None else None
        for index, conversation in enumerate(load(item.source(), format=fmt, name=name)):
            where = _where(index)
            if picks is None or where in picks:
                yield where, _keep(conversation, where)
        return
    yield from _stream(item, fmt, module, progress, picks)


def _stream(
    item: _Input, fmt: str, module: ModuleType, progress: bool | Callable[[int], None],
    picks: Collection[str] | None,
) -> Iterator[tuple[str, Conversation | Skipped]]:
    import ijson

    name = item.name
    with item.open() as raw, _progress(progress, item.size, name) as report:
        reader = _CountingReader(raw, report)
        index = -1
        try:
            for index, element in enumerate(ijson.items(reader, "item", use_float=True)):
                where = _where(index)
                if not isinstance(element, dict):
                    raise ImportFailed(f"{where}: expected a conversation object, got {type(element).__name__}",
                                       source=name, format=fmt)
                if picks is not None and where not in picks:
                    continue
                conversation = module.convert(element, name=name, where=where)
                yield where, _keep(conversation, where)
        except ijson.IncompleteJSONError as exc:
            raise ImportFailed(
                f"the file ends inside {_where(index + 1)} (truncated JSON: {exc})", source=name, format=fmt
            ) from None
        except ijson.JSONError as exc:
            raise ImportFailed(f"invalid JSON after {_where(index)}: {exc}", source=name, format=fmt) from None
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise ImportFailed(f"{CONVERSATIONS} is damaged ({exc})", source=name, format=fmt) from None
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
