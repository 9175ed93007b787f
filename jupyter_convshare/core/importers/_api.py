"""What the OpenAI Chat Completions and Anthropic Messages importers share.

Both formats (FORMATS.md section 6) come as:

- a message list: ``[{"role": ..., "content": ...}, ...]``;
- a record ``{"messages": [...], "model"?: ..., ...}`` (Anthropic adds a top-level ``system``);
- a request/response wrapper ``{"request": {record}, "response": {...}}``;
- a JSON list of records, or JSONL with one record per line.

Each record is one conversation: a linear chain with message ids ``"1"``, ``"2"``, ...,
``created_at`` ``None`` (the formats carry no per-message times; only a response's own
``created`` is used), participants ``"user"``, ``"assistant"``, ``"system"``, ``"tool"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..model import Conversation, Message, Participant, SourceInfo, new_id
from ._common import Context, base_name, stem

_DISPLAY = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}
_KIND = {"user": "human", "assistant": "assistant", "system": "system", "tool": "tool"}


def is_message(item: Any) -> bool:
    """``True`` for a dict that looks like one chat message (has a string ``role``)."""
    return isinstance(item, dict) and isinstance(item.get("role"), str)


def is_record(item: Any) -> bool:
    """``True`` for a dict holding a conversation (``messages`` or a ``request`` wrapper)."""
    return isinstance(item, dict) and (isinstance(item.get("messages"), list) or isinstance(item.get("request"), dict))


def split_records(ctx: Context, data: Any, *, jsonl: bool) -> list[tuple[str, Any]]:
    """The conversations in ``data`` as ``(json path prefix, record)`` pairs.

    Args:
        data: a message list, a record, a list of records, or (``jsonl=True``) the list of
            parsed JSONL lines.

    Raises:
        ImportFailed: ``data`` is none of the accepted shapes, or a list mixes shapes.
    """
    if jsonl:
        return [(f"line {i + 1}", item) for i, item in enumerate(data)]
    if isinstance(data, dict):
        return [("", data)]
    if isinstance(data, list):
        if not data:
            ctx.fail(None, "empty list: no messages")
        if all(is_message(item) for item in data):
            return [("", data)]
        if all(is_record(item) for item in data):
            return [(f"[{i}]", item) for i, item in enumerate(data)]
        for i, item in enumerate(data):
            if not (is_message(item) or is_record(item)):
                ctx.fail(f"[{i}]", "expected a message (with a role) or a record with messages")
        ctx.fail(None, "a list must hold either messages or records, not both")
    ctx.fail(None, f"expected a message list or an object with messages, got {type(data).__name__}")



RecordParser = Callable[..., Conversation]
"""``(ctx, prefix, record, *, name, index, count) -> Conversation``: one record of a format."""


def parse_records(
    fmt: str, record: RecordParser, data: Any, *, name: str | None, source: str, jsonl: bool
) -> list[Conversation]:
    """Split ``data`` into records (:func:`split_records`) and parse each with ``record``.

    Shared by the OpenAI and Anthropic importers: ``fmt`` names the format in errors,
    ``name`` is the file name for titles, ``source`` the name used in error messages.

    Raises:
        ImportFailed: from :func:`split_records` or ``record``, naming record and field.
    """
    records = split_records(Context(source, fmt), data, jsonl=jsonl)
    return [
        record(Context(source, fmt), prefix, item, name=name, index=i, count=len(records))
        for i, (prefix, item) in enumerate(records)
    ]

def prefixed(prefix: str, path: str) -> str:
    """Join a record prefix (``"line 3"``, ``"[1]"``, ``""``) and a path inside the record."""
    if not prefix:
        return path
    if not path:
        return prefix
    if prefix.startswith("line"):
        return f"{prefix}: {path}"
    return f"{prefix}.{path}" if not path.startswith("[") else f"{prefix}{path}"


@dataclass
class ChainBuilder:
    """Builds one linear conversation from API messages.

    Attributes:
        format: importer format name.
        provider: provider of the assistant participant (``"openai"``, ``"anthropic"``).
        model: the record's model (the assistant participant's default model), or ``None``.
    """

    format: str
    provider: str
    model: str | None = None
    messages: list[Message] = field(default_factory=list)
    participants: dict[str, Participant] = field(default_factory=dict)

    def participant(self, pid: str) -> str:
        """Make sure participant ``pid`` (``"user"``, ``"assistant"``, ``"system"``, ``"tool"``) exists."""
        if pid not in self.participants:
            self.participants[pid] = Participant(
                id=pid,
                kind=_KIND[pid],  # type: ignore[arg-type]
                display_name=_DISPLAY[pid],
                provider=self.provider if pid == "assistant" else None,
                model=self.model if pid == "assistant" else None,
            )
        return pid

    def add(self, message: Message) -> None:
        """Append ``message``; its id becomes its 1-based position."""
        message.id = str(len(self.messages) + 1)
        self.participant(message.author_id)
        self.messages.append(message)

    def build(self, ctx: Context, *, name: str | None, index: int, count: int,
              original_id: str | None, extra: dict[str, Any], messages_path: str = "messages") -> Conversation:
        """The conversation; title = file stem (``"stem (2/4)"`` when the file holds several)."""
        if not self.messages:
            ctx.fail(messages_path, "no messages")
        title = stem(name)
        if title is not None and count > 1:
            title = f"{title} ({index + 1}/{count})"
        if "assistant" in self.participants and self.participants["assistant"].model is None:
            self.participants["assistant"].model = self.model
        conversation = Conversation(
            id=new_id(),
            title=title,
            participants=self.participants,
            source=SourceInfo(
                format=self.format,
                file_name=base_name(name),
                original_id=original_id,
                warnings=list(ctx.warnings),
            ),
            extra={self.format: extra} if extra else {},
        )
        for message in self.messages:
            conversation.append(message)
        return conversation
