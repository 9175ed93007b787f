"""Import Codex CLI rollouts (FORMATS.md section 6).

Source format: the session files Codex CLI writes to ``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``
(``codex-rs/core/src/rollout``, ``RolloutLine``): one JSON object per line,
``{"timestamp": ISO 8601, "type": ..., "payload": {...}}`` with ``type``

- ``session_meta``: ``{"id", "timestamp", "cwd"?, "originator"?, "cli_version"?, "instructions"?, "git"?}``;
- ``response_item``: an OpenAI Responses API item (``message``, ``reasoning``, ``function_call``,
  ``function_call_output``, ``custom_tool_call``, ``local_shell_call``, ``web_search_call``, ...);
- ``turn_context``: ``{"cwd", "model", "approval_policy", ...}`` (the model of the turns after it);
- ``event_msg``, ``compacted``: UI events that repeat the items (counted in a warning, not imported).

Rollouts of 2025 versions before ``RolloutLine`` (a first line ``{"id", "timestamp", "instructions"}``,
then bare items and ``{"record_type": "state"}`` lines) are read too.

Mapping: one linear conversation; items -> messages through
:func:`.openai_responses.convert_items` (assistant-side items merged into one assistant message,
tool outputs into a ``tool`` message); message ids are the first item's ``id`` when present and
unique, else ``"line-<n>"``; times from the line's (or item's) ``timestamp``; id
``"codex:<session id>"``. Codex's own plumbing (developer messages, ``<environment_context>`` and
``<user_instructions>`` user messages) is kept but ``hidden``.
"""

from __future__ import annotations

from typing import Any

from ..model import Attachment, Conversation, Participant, SourceInfo, new_id
from . import openai_responses
from ._common import Context, base_name, join, stem
from ._tree import iso_time

FORMAT = "codex"
NS = FORMAT
_LINE_TYPES = {"session_meta", "response_item", "turn_context", "event_msg", "compacted"}
_PLUMBING = ("<environment_context>", "<user_instructions>", "# AGENTS.md instructions", "<permissions")


def is_line(record: Any) -> bool:
    """``True`` for one rollout line (``{"type": "session_meta" | "response_item" | ..., "payload"}``)."""
    return isinstance(record, dict) and record.get("type") in _LINE_TYPES and "payload" in record


def sniff_records(records: list[Any]) -> bool:
    """``True`` when parsed JSONL ``records`` are a Codex rollout (a rollout line among the first ones)."""
    return any(is_line(r) for r in records[:20])


def parse(data: Any, *, name: str | None, source: str, jsonl: bool = False) -> list[Conversation]:
    """Turn a parsed rollout (the list of its lines) into one conversation.

    Args:
        data: the parsed JSONL lines (or a JSON list of them, or one line object).
        name: file name for the title and ``SourceInfo.file_name``, or ``None``.
        source: name used in error messages.
        jsonl: ``True`` when ``data`` came from JSONL (errors then name ``line <n>``).

    Raises:
        ImportFailed: a line is not an object, an item is malformed (naming the line), or there
            is no message.
    """
    ctx = Context(source, FORMAT)
    records = data if isinstance(data, list) else [data]
    where = (lambda i: f"line {i + 1}") if jsonl else (lambda i: f"[{i}]")  # noqa: E731
    meta: dict[str, Any] = {}
    items: list[tuple[str, Any]] = []
    item_lines: list[tuple[int, dict[str, Any], str | None]] = []  # (line index, item, model)
    skipped: dict[str, int] = {}
    contexts: list[Any] = []
    model: str | None = None
    for i, raw in enumerate(records):
        record = ctx.obj(raw, where(i))
        kind = record.get("type")
        if "payload" in record:
            payload = ctx.obj(record["payload"], f"{where(i)}: payload")
            if kind == "session_meta":
                meta = payload
            elif kind == "response_item":
                items.append((f"{where(i)}: payload", payload))
                item_lines.append((i, record, model))
            elif kind == "turn_context":
                model = ctx.string(payload, "model", f"{where(i)}: payload") or model
                contexts.append(payload)
            else:
                skipped[str(kind)] = skipped.get(str(kind), 0) + 1
        elif "record_type" in record:
            skipped["record_type"] = skipped.get("record_type", 0) + 1
        elif i == 0 and "id" in record and "type" not in record:
            meta = record  # the pre-2025-09 first line
        elif openai_responses.is_item(record) or "type" in record:
            items.append((where(i), record))
            item_lines.append((i, record, model))
        else:
            ctx.fail(where(i), "expected a rollout line with a type and a payload")
    if skipped:
        ctx.warn("", "lines not imported (they repeat the items or hold UI state): "
                 + ", ".join(f"{count} {kind}" for kind, count in sorted(skipped.items())))

    attachments: dict[str, Attachment] = {}
    converted = openai_responses.convert_items(ctx, items, attachments)
    if not converted:
        ctx.fail(None, "no response_item messages")
    session_id = ctx.string(meta, "id", "session_meta")
    conversation = Conversation(
        id=f"{FORMAT}:{session_id}" if session_id else new_id(),
        title=stem(name),
        attachments=attachments,
        source=SourceInfo(format=FORMAT, format_version=meta.get("cli_version") if isinstance(
            meta.get("cli_version"), str) else None, file_name=base_name(name), original_id=session_id,
            warnings=ctx.warnings),
    )
    used: set[str] = set()
    for first, message in converted:
        line_index, record, turn_model = item_lines[first]
        payload = items[first][1]
        item_id = payload.get("id") if isinstance(payload, dict) else None
        message.id = item_id if isinstance(item_id, str) and item_id and item_id not in used else f"line-{line_index + 1}"
        used.add(message.id)
        stamp = record.get("timestamp", payload.get("timestamp") if isinstance(payload, dict) else None)
        if stamp is None and isinstance(payload, dict):
            stamp = payload.get("timestamp")
        message.created_at = iso_time(ctx, stamp, join(items[first][0], "timestamp"))
        if message.role == "assistant":
            message.model = turn_model
        if message.role in ("developer", "system") or (message.role == "user" and message.text.lstrip().startswith(_PLUMBING)):
            message.hidden = True
        conversation.participants.setdefault(message.author_id, _participant(message.author_id, model))
        conversation.append(message)
    times = [m.created_at for m in conversation.messages.values() if m.created_at is not None]
    conversation.created_at = iso_time(ctx, meta.get("timestamp"), "session_meta.timestamp") or (min(times) if times else None)
    conversation.updated_at = max(times) if times else None
    extra: dict[str, Any] = {}
    if meta:
        extra["session_meta"] = {k: v for k, v in meta.items() if k != "id"}
    if contexts:
        extra["turn_contexts"] = contexts
    if extra:
        conversation.extra[NS] = extra
    return [conversation]


def _participant(pid: str, model: str | None) -> Participant:
    kinds = {"user": "human", "assistant": "assistant", "system": "system", "tool": "tool"}
    names = {"user": "User", "assistant": "Codex", "system": "System", "tool": "Tool"}
    return Participant(id=pid, kind=kinds[pid], display_name=names[pid],  # type: ignore[arg-type]
                       provider="openai" if pid == "assistant" else None,
                       model=model if pid == "assistant" else None)
