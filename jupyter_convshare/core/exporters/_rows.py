"""Flattening a conversation for the tabular exports (CSV, Parquet) and readable part text.

Shared by :mod:`.csv`, :mod:`.parquet` and :mod:`.markdown`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from ..model import Conversation, Message, Part

COLUMNS: tuple[str, ...] = (
    "conversation_id",
    "conversation_title",
    "message_id",
    "parent_id",
    "depth",
    "on_active_path",
    "role",
    "author_id",
    "author_name",
    "provider",
    "model",
    "created_at",
    "status",
    "hidden",
    "edited",
    "text",
    "attachments",
)
"""The columns of the CSV and Parquet exports, in order."""


def tree_order(conversation: Conversation) -> list[tuple[Message, int]]:
    """Every message with its depth (0 for a root), depth-first from the roots in source order.

    Iterative, so a chain of thousands of messages does not hit Python's recursion limit.
    Messages unreachable from a root (which a sound tree never has) come last, depth 0.
    """
    out: list[tuple[Message, int]] = []
    seen: set[str] = set()
    stack: list[tuple[str, int]] = [(mid, 0) for mid in reversed(conversation.root_ids)]
    while stack:
        mid, depth = stack.pop()
        message = conversation.messages.get(mid)
        if message is None or mid in seen:
            continue
        seen.add(mid)
        out.append((message, depth))
        stack.extend((child, depth + 1) for child in reversed(message.children_ids))
    out.extend((m, 0) for mid, m in conversation.messages.items() if mid not in seen)
    return out


def active_ids(conversation: Conversation) -> set[str]:
    """Ids of the messages on the active path (empty if the path cannot be walked)."""
    try:
        return {m.id for m in conversation.active_path()}
    except (KeyError, ValueError):
        return set()


def author_name(conversation: Conversation, message: Message) -> str:
    """The author's display name (falls back to the participant id)."""
    participant = conversation.participants.get(message.author_id)
    return (participant.display_name if participant and participant.display_name else None) or message.author_id


def message_model(conversation: Conversation, message: Message) -> str | None:
    """The message's own model, else its author's default model."""
    if message.model:
        return message.model
    participant = conversation.participants.get(message.author_id)
    return participant.model if participant else None


def attachment_names(conversation: Conversation, message: Message) -> list[str]:
    """Names of the attachments a message refers to (``file_ref`` / ``image`` parts), in order."""
    names: list[str] = []
    for part in message.parts:
        if part.attachment_id:
            attachment = conversation.attachments.get(part.attachment_id)
            names.append(attachment.name if attachment else part.attachment_id)
    return names


def fence(text: str, language: str | None = None) -> str:
    """``text`` in a fenced code block whose fence is longer than any backtick run inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language or ''}\n{text}\n{ticks}"


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def part_text(conversation: Conversation, part: Part) -> str:
    """A readable markdown rendering of one part ("" for parts with nothing to show).

    Text is passed through unchanged (no escaping: that is the viewer's job); code, tool
    arguments and tool results are fenced; references are one line.
    """
    kind = part.type
    if kind == "text":
        return part.text or ""
    if kind == "code":
        return fence(part.text or "", part.language)
    if kind == "reasoning":
        if part.redacted:
            return "_Reasoning (redacted)_"
        body = part.text or part.summary or ""
        return f"_Reasoning:_\n\n{body}" if body else ""
    if kind == "tool_call":
        title = f"**Tool call:** `{part.name or part.title or 'tool'}`"
        if part.call_id:
            title += f" ({part.call_id})"
        if part.arguments is None and part.arguments_raw is None:
            return title
        arguments = part.arguments if part.arguments is not None else part.arguments_raw
        return f"{title}\n\n{fence(_json_text(arguments), 'json' if not isinstance(arguments, str) else None)}"
    if kind == "tool_result":
        title = "**Tool error**" if part.is_error else "**Tool result**"
        if part.call_id:
            title += f" ({part.call_id})"
        body = part.text if part.text is not None else (_json_text(part.data) if part.data is not None else "")
        return f"{title}:\n\n{fence(body)}" if body else f"{title}: (empty)"
    if kind == "image":
        label = part.alt or "image"
        if part.attachment_id:
            attachment = conversation.attachments.get(part.attachment_id)
            return f"[{label}: {attachment.name if attachment else part.attachment_id}]"
        if part.url and not part.url.startswith("data:"):
            return f"[{label}: {part.url}]"
        return f"[{label}]"
    if kind == "file_ref":
        attachment = conversation.attachments.get(part.attachment_id or "")
        return f"[attachment: {attachment.name if attachment else part.attachment_id}]"
    if kind == "mime_bundle":
        data = part.data if isinstance(part.data, dict) else {}
        for mime in ("text/markdown", "text/plain"):
            value = data.get(mime)
            if isinstance(value, list):
                value = "".join(str(v) for v in value)
            if isinstance(value, str):
                return value
        return f"[output: {', '.join(sorted(data)) or 'empty'}]"
    if kind == "citation":
        label = part.title or part.url or "source"
        quote = f" — “{part.text}”" if part.text else ""
        return f"[citation: {label}{(' ' + part.url) if part.url and part.title else ''}]{quote}"
    return f"[{part.source_type or kind} content]"


def message_text(conversation: Conversation, message: Message) -> str:
    """The readable text of a message: its parts' :func:`part_text` joined by blank lines.

    ``file_ref`` parts are left out (attachments have their own column / list).
    """
    texts = [part_text(conversation, p) for p in message.parts if p.type != "file_ref"]
    return "\n\n".join(t for t in texts if t)


def rows(conversation: Conversation) -> list[dict[str, Any]]:
    """One dict per message (all branches, :func:`tree_order`), keyed by :data:`COLUMNS`.

    Values are typed: ``depth`` int, ``on_active_path`` / ``hidden`` / ``edited`` bool,
    ``created_at`` an aware UTC datetime or ``None``, the rest ``str`` or ``None``.
    """
    on_path = active_ids(conversation)
    out: list[dict[str, Any]] = []
    for message, depth in tree_order(conversation):
        participant = conversation.participants.get(message.author_id)
        created: datetime | None = message.created_at
        out.append(
            {
                "conversation_id": conversation.id,
                "conversation_title": conversation.title,
                "message_id": message.id,
                "parent_id": message.parent_id,
                "depth": depth,
                "on_active_path": message.id in on_path,
                "role": message.role,
                "author_id": message.author_id,
                "author_name": author_name(conversation, message),
                "provider": participant.provider if participant else None,
                "model": message_model(conversation, message),
                "created_at": created,
                "status": message.status,
                "hidden": message.hidden,
                "edited": message.edited,
                "text": message_text(conversation, message),
                "attachments": "; ".join(attachment_names(conversation, message)),
            }
        )
    return out
