"""Importers: conversation files and objects -> :class:`~jupyter_convshare.core.model.Conversation`.

Public API (contract 1 in the team's contracts):

- :func:`detect` ``(source, *, name=None) -> str``: the format name of a path, bytes or
  parsed JSON object.
- :func:`load` ``(source, *, format=None, name=None) -> list[Conversation]``: one conversation
  per conversation in the input (a JSONL file of four message lists gives four).
- :func:`load_one` ``(source, *, format=None, name=None, index=None) -> Conversation``.
- :func:`select` ``(conversations, *, id=None, title=None) -> Conversation``: pick one of a
  whole export by id or exact title. (Big files: ``stream.prepare`` picks while streaming.)
- :data:`FORMATS`: the registry, ``{name: Importer}``.

Formats (FORMATS.md sections 1 and 6):

==================  =========================================================================
name                input
==================  =========================================================================
jupyterlab-chat     a jupyterlab-chat / Jupyter AI v3 ``.chat`` document
openai-chat         OpenAI Chat Completions: a message list, ``{"messages": [...]}``,
                    ``{"request": ..., "response": ...}``, a JSON list of those, or JSONL
anthropic           Anthropic Messages, same containers, with ``system`` and content blocks
convshare           this project's lossless JSON, ``{"schema": "convshare/1", ...}``
chatgpt             ChatGPT data export ``conversations.json`` (a list, or ``{"conversations": [...]}``)
                    or one conversation object (FORMATS.md section 3)
claude-ai           Claude.ai data export ``conversations.json`` (FORMATS.md section 4)
openwebui           Open WebUI chat export (a list of chat rows), one row or one bare ``chat``
                    (FORMATS.md section 5)
jupyter-ai-notebook Jupyter AI ``%%ai`` cells and their outputs in an ``.ipynb`` notebook (section 2)
openai-responses    OpenAI Responses API items: an item list, a request, a response, a log
                    record ``{"input", "output"}``, a list of those or JSONL (section 6)
claude-code         a Claude Code session transcript (JSONL of Anthropic messages, ``parentUuid`` tree)
codex               a Codex CLI rollout (JSONL: ``session_meta`` and ``response_item`` lines)
==================  =========================================================================

``source`` is a path (``str`` / ``os.PathLike``; only its base name appears in messages),
``bytes`` (file content; pass ``name`` for messages and the title) or a parsed JSON object
(``dict`` / ``list``, e.g. a Python message list). Detection looks at the extension
(``.chat``, ``.jsonl``) and the content. Every failure is an
:class:`~jupyter_convshare.core.errors.ImportFailed` naming the file, the format tried and the
field, e.g. ``"untitled.chat: jupyterlab-chat format: messages[2].time: expected a number"``;
invalid JSON names the line and column. Nothing partial is ever returned.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ImportFailed
from ..model import Conversation
from . import anthropic, chatgpt, claude_ai, convshare, jupyterlab_chat, openai_chat
from . import claude_code, codex, jupyter_ai_notebook, openai_responses, openwebui
from ._api import is_message, is_record
from ._common import OBJECT_NAME, base_name

__all__ = ["FORMATS", "Importer", "detect", "load", "load_one", "select"]

_MAX_JSON_DEPTH_MESSAGE = "JSON nested too deeply"


@dataclass(frozen=True)
class Importer:
    """One supported input format.

    Attributes:
        name: format name used by :func:`load` (``"jupyterlab-chat"``, ...).
        title: human-readable name.
        extensions: file extensions that usually hold it (lower case, with the dot).
        accepts_jsonl: whether a JSONL file (one conversation per line) is accepted.
        parse: ``(data, *, name, source[, jsonl]) -> list[Conversation]``.
    """

    name: str
    title: str
    extensions: tuple[str, ...]
    accepts_jsonl: bool
    parse: Callable[..., list[Conversation]]


FORMATS: dict[str, Importer] = {
    jupyterlab_chat.FORMAT: Importer(jupyterlab_chat.FORMAT, "jupyterlab-chat / Jupyter AI .chat file",
                                     (".chat",), False, jupyterlab_chat.parse),
    openai_chat.FORMAT: Importer(openai_chat.FORMAT, "OpenAI Chat Completions messages",
                                 (".json", ".jsonl"), True, openai_chat.parse),
    anthropic.FORMAT: Importer(anthropic.FORMAT, "Anthropic Messages", (".json", ".jsonl"), True, anthropic.parse),
    convshare.FORMAT: Importer(convshare.FORMAT, "jupyter-convshare JSON (convshare/1)", (".json",), False,
                               convshare.parse),
    chatgpt.FORMAT: Importer(chatgpt.FORMAT, "ChatGPT data export (conversations.json) or one conversation",
                             (".json",), False, chatgpt.parse),
    claude_ai.FORMAT: Importer(claude_ai.FORMAT, "Claude.ai data export (conversations.json)", (".json",), False,
                               claude_ai.parse),
    openwebui.FORMAT: Importer(openwebui.FORMAT, "Open WebUI chat export", (".json",), False, openwebui.parse),
    jupyter_ai_notebook.FORMAT: Importer(jupyter_ai_notebook.FORMAT, "Jupyter AI %%ai cells in a notebook",
                                         (".ipynb",), False, jupyter_ai_notebook.parse),
    openai_responses.FORMAT: Importer(openai_responses.FORMAT, "OpenAI Responses API items", (".json", ".jsonl"),
                                      True, openai_responses.parse),
    claude_code.FORMAT: Importer(claude_code.FORMAT, "Claude Code session transcript", (".jsonl",), True,
                                 claude_code.parse),
    codex.FORMAT: Importer(codex.FORMAT, "Codex CLI rollout", (".jsonl",), True, codex.parse),
}
"""The importers by format name."""

_JSONL_EXTENSIONS = (".jsonl", ".ndjson")


@dataclass
class _Input:
    data: Any
    name: str | None  # base file name, or None for in-memory input
    display: str  # name used in messages
    jsonl: bool


def detect(source: Any, *, name: str | None = None) -> str:
    """The format name of ``source`` (a path, bytes or a parsed JSON object).

    Args:
        source: see the module docstring.
        name: file name of ``bytes`` input (its extension counts), or ``None``.

    Returns:
        One of the keys of :data:`FORMATS`.

    Raises:
        ImportFailed: unreadable, not JSON, a known-but-unsupported format, or unrecognised.
    """
    return _detect(_read(source, name, None))


def load(source: Any, *, format: str | None = None, name: str | None = None) -> list[Conversation]:
    """Import every conversation in ``source``.

    Args:
        source: a path, bytes or a parsed JSON object (see the module docstring).
        format: a key of :data:`FORMATS`, or ``None`` to :func:`detect` it.
        name: file name of ``bytes`` input (used in messages, the title and
            ``SourceInfo.file_name``); overrides a path's own name.

    Returns:
        One :class:`Conversation` per conversation in the input, in input order (never empty).

    Raises:
        ImportFailed: naming the file, the format and the field (``field="format"`` for an
            unknown format name).
    """
    if format is not None and format not in FORMATS:
        raise ImportFailed(f"unknown format {format!r} (known: {', '.join(FORMATS)})", field="format")
    item = _read(source, name, format)
    fmt = format or _detect(item)
    importer = FORMATS[fmt]
    if item.jsonl and not importer.accepts_jsonl:
        raise ImportFailed("JSONL input holds API message lists, not this format",
                           source=item.display, format=fmt)
    kwargs: dict[str, Any] = {"name": item.name, "source": item.display}
    if importer.accepts_jsonl:
        kwargs["jsonl"] = item.jsonl
    try:
        conversations = importer.parse(item.data, **kwargs)
    except ImportFailed:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        # A safety net: malformed input must be a 400 that names the file, never a 500.
        raise ImportFailed(f"malformed input ({type(exc).__name__}: {exc})", source=item.display, format=fmt) from exc
    if not conversations:
        raise ImportFailed("no conversation found", source=item.display, format=fmt)
    return conversations


def load_one(source: Any, *, format: str | None = None, name: str | None = None,
             index: int | None = None) -> Conversation:
    """Import exactly one conversation from ``source``.

    Args:
        source, format, name: as for :func:`load`.
        index: which conversation (0-based) when the input holds several.

    Raises:
        ImportFailed: as for :func:`load`; also (``field="index"``) when the input holds
            several conversations and ``index`` is ``None``, or ``index`` is out of range.
    """
    conversations = load(source, format=format, name=name)
    count = len(conversations)
    if index is None:
        if count != 1:
            raise ImportFailed(f"the input holds {count} conversations: pass index 0 to {count - 1}", field="index")
        return conversations[0]
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise ImportFailed(f"index {index!r} out of range: the input holds {count} conversation(s)", field="index")
    return conversations[index]


def select(conversations: list[Conversation], *, id: str | None = None, title: str | None = None,
           source: str | None = None, field: str = "select") -> Conversation:
    """The one conversation of ``conversations`` (e.g. :func:`load` of a whole export) with
    this ``id`` (as imported, ``"chatgpt:<uuid>"``, or the source's own id) or exactly this
    ``title`` (give one of them).

    Args:
        source: the file name for messages.
        field: the request field the choice came in (errors name ``<field>.id`` /
            ``<field>.title``).

    Raises:
        ImportFailed: neither or both given; nothing matches; the title matches several
            conversations (the message lists their ids).
    """
    if (id is None) == (title is None):
        raise ImportFailed("give either an id or a title", source=source, field=field)
    if id is not None:
        hits = [c for c in conversations if id in (c.id, c.source.original_id)]
        if not hits:
            raise ImportFailed(f"no conversation with id {id!r} in this file", source=source, field=f"{field}.id")
        return hits[0]
    hits = [c for c in conversations if c.title == title]
    if not hits:
        raise ImportFailed(f"no conversation titled {title!r} in this file", source=source, field=f"{field}.title")
    if len(hits) > 1:
        raise ImportFailed(f"{len(hits)} conversations are titled {title!r}: pick one by id: "
                           + ", ".join(c.id for c in hits), source=source, field=f"{field}.title")
    return hits[0]


# -- reading --------------------------------------------------------------------------


def _read(source: Any, name: str | None, format: str | None) -> _Input:
    if isinstance(source, (dict, list)):
        file_name = base_name(name)
        return _Input(source, file_name, file_name or OBJECT_NAME, False)
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        file_name = base_name(name)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        file_name = base_name(name) or path.name
        try:
            raw = path.read_bytes()
        except OSError as exc:
            # Only the base name: the message may reach a client that must not learn local paths.
            raise ImportFailed(f"cannot read the file ({exc.strerror or type(exc).__name__})",
                               source=file_name) from exc
    else:
        raise ImportFailed(f"cannot import a {type(source).__name__}: pass a path, bytes, a dict or a list")
    display = file_name or OBJECT_NAME
    hinted = format or _format_from_extension(file_name)
    if raw[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        # Only the streaming import reads archives, with their zip-bomb and path checks.
        raise ImportFailed("a ZIP archive: import a ChatGPT or Claude.ai data-export ZIP with "
                           "`jupyter convshare import` (or ConvShareClient.import_file)", source=display, format=hinted)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed(f"not UTF-8 text (byte {exc.start})", source=display, format=hinted) from exc
    if not text.strip():
        raise ImportFailed("empty file", source=display, format=hinted)
    jsonl = bool(file_name and file_name.lower().endswith(_JSONL_EXTENSIONS))
    if not jsonl:
        try:
            return _Input(_loads(text), file_name, display, False)
        except json.JSONDecodeError as exc:
            # Several JSON documents, one per line, without a .jsonl extension: JSONL.
            if not (exc.msg == "Extra data" and text.count("\n") >= 1 and exc.lineno > 1):
                raise _json_error(exc, display, hinted, line_offset=0) from exc
        except ValueError as exc:  # duplicate keys, NaN / Infinity
            raise ImportFailed(str(exc), source=display, format=hinted) from exc
        except RecursionError as exc:
            raise ImportFailed(_MAX_JSON_DEPTH_MESSAGE, source=display, format=hinted) from exc
    records: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(_loads(line))
        except json.JSONDecodeError as exc:
            raise _json_error(exc, display, hinted, line_offset=number - 1) from exc
        except ValueError as exc:
            raise ImportFailed(str(exc), source=display, format=hinted, field=f"line {number}") from exc
        except RecursionError as exc:
            raise ImportFailed(_MAX_JSON_DEPTH_MESSAGE, source=display, format=hinted, field=f"line {number}") from exc
    return _Input(records, file_name, display, True)


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of duplicate keys silently: that would drop a message.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in a JSON object")
        result[key] = value
    return result


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


def _json_error(exc: json.JSONDecodeError, display: str, fmt: str | None, *, line_offset: int) -> ImportFailed:
    where = f"line {exc.lineno + line_offset} column {exc.colno}"
    return ImportFailed(f"invalid JSON at {where}: {exc.msg}", source=display, format=fmt)


def _format_from_extension(file_name: str | None) -> str | None:
    if file_name and file_name.lower().endswith(".chat"):
        return jupyterlab_chat.FORMAT
    return None


# -- detection ------------------------------------------------------------------------


def _detect(item: _Input) -> str:
    data = item.data
    if item.jsonl or (isinstance(data, list) and data and (claude_code.sniff_records(data) or codex.sniff_records(data))):
        records: list[Any] = data
        # Agent transcripts: their lines are not conversations of their own.
        if claude_code.sniff_records(records):
            return claude_code.FORMAT
        if codex.sniff_records(records):
            return codex.FORMAT
        if all(openai_responses.is_record(r) for r in records):
            return openai_responses.FORMAT
    else:
        if _format_from_extension(item.name):
            return jupyterlab_chat.FORMAT
        if convshare.sniff(data):
            return convshare.FORMAT
        if jupyterlab_chat.sniff(data):
            return jupyterlab_chat.FORMAT
        # Whole-export formats: decided by the first conversation (cheap on big exports).
        if chatgpt.matches(data):
            return chatgpt.FORMAT
        if claude_ai.matches(data):
            return claude_ai.FORMAT
        if claude_code.is_line(data):
            return claude_code.FORMAT
        if codex.is_line(data):
            return codex.FORMAT
        if jupyter_ai_notebook.sniff(data):
            return jupyter_ai_notebook.FORMAT
        if openwebui.sniff(data):
            return openwebui.FORMAT
        if openai_responses.sniff(data):
            return openai_responses.FORMAT
        if isinstance(data, list) and data and all(is_message(m) for m in data):
            records = [data]
        elif isinstance(data, list):
            records = data
        else:
            records = [data]
    if not records:
        raise ImportFailed("no conversation found (empty list)", source=item.display)
    for i, record in enumerate(records):
        if not (is_record(record) or (isinstance(record, list) and all(is_message(m) for m in record))):
            where = f"line {i + 1}" if item.jsonl else (f"[{i}]" if len(records) > 1 or isinstance(data, list) else None)
            raise ImportFailed(
                "unrecognised conversation format: expected a jupyterlab-chat document, a message list, "
                '{"messages": [...]}, {"request": ..., "response": ...} or convshare/1 JSON',
                source=item.display,
                field=where,
            )
    openai_score = sum(openai_chat.evidence(r) for r in records)
    anthropic_score = sum(anthropic.evidence(r) for r in records)
    # Plain user/assistant text lists fit both: Chat Completions is the common case.
    return anthropic.FORMAT if anthropic_score > openai_score else openai_chat.FORMAT
