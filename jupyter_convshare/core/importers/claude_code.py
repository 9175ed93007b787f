"""Import Claude Code session transcripts (FORMATS.md section 6).

Source format: the JSONL files Claude Code writes to ``~/.claude/projects/<project>/<session>.jsonl``
(as read by ``daaain/claude-code-log``): one JSON object per line,

- ``{"type": "user" | "assistant", "uuid", "parentUuid", "isSidechain", "sessionId", "timestamp"
  (ISO 8601), "cwd", "version", "gitBranch"?, "requestId"?, "isMeta"?, "toolUseResult"?,
  "message": <Anthropic Messages API message>}``;
- ``{"type": "system", "uuid", "parentUuid", "timestamp", "content", "level"?, "subtype"?, ...}``;
- ``{"type": "summary", "summary", "leafUuid"}``; other line types (``file-history-snapshot``, ...).

Mapping: one :class:`Conversation` per file. ``message`` goes through the Anthropic importer
(:mod:`.anthropic`: text, thinking, tool_use, tool_result, images, documents; a user message of
tool results becomes role ``"tool"``); the tree is ``parentUuid`` (message id = ``uuid``). A message
without ``parentUuid`` after the first one continues the main chain after the previous message in
file order (``logicalParentUuid`` when given: Claude Code writes a null parent after ``/compact``),
with a warning; sidechain (sub-agent) messages keep their own roots and are ``hidden``, as are
``isMeta`` messages. Active leaf: the last main-chain message of the file (flagged inferred when the
tree has several leaves). Title: the last ``summary`` line, else the file stem. Summaries and other
line types go to ``extra["claude-code"]``; line fields (``cwd``, ``requestId``, ``toolUseResult``, ...)
to the message's ``extra["claude-code"]``.
"""

from __future__ import annotations

from typing import Any

from ..model import Attachment, Conversation, Message, Part, Participant, SourceInfo, new_id
from . import anthropic
from ._common import Context, base_name, join, stem
from ._tree import iso_time, link_tree

FORMAT = "claude-code"
NS = FORMAT
_MESSAGE_TYPES = ("user", "assistant", "system")
_LINE_KEYS = {"type", "uuid", "parentUuid", "logicalParentUuid", "timestamp", "message", "sessionId", "content"}


def is_line(record: Any) -> bool:
    """``True`` for one Claude Code transcript line (a ``parentUuid``/``sessionId`` message or a summary)."""
    if not isinstance(record, dict):
        return False
    if record.get("type") == "summary" and "leafUuid" in record:
        return True
    return "uuid" in record and ("parentUuid" in record or "sessionId" in record)


def sniff_records(records: list[Any]) -> bool:
    """``True`` when parsed JSONL ``records`` are a Claude Code transcript."""
    return any(is_line(r) for r in records[:20])


def parse(data: Any, *, name: str | None, source: str, jsonl: bool = False) -> list[Conversation]:
    """Turn a parsed transcript (its list of lines) into one conversation.

    Args:
        data: the parsed JSONL lines (or a JSON list of them, or one line object).
        name: file name for the title and ``SourceInfo.file_name``, or ``None``.
        source: name used in error messages.
        jsonl: ``True`` when ``data`` came from JSONL (errors then name ``line <n>``).

    Raises:
        ImportFailed: a line is malformed, an id is missing or repeated, a parent is unknown or
            the parent links loop, naming the line.
    """
    ctx = Context(source, FORMAT)
    records = data if isinstance(data, list) else [data]
    where = (lambda i: f"line {i + 1}") if jsonl else (lambda i: f"[{i}]")  # noqa: E731
    attachments: dict[str, Attachment] = {}
    participants: dict[str, Participant] = {}
    nodes: list[tuple[str, Message]] = []
    summaries: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    sessions: list[str] = []
    previous_main: str | None = None
    orphans = 0
    seen: set[str] = set()
    last_main: str | None = None
    for i, raw in enumerate(records):
        path = where(i)
        record = ctx.obj(raw, path)
        kind = record.get("type")
        if kind == "summary":
            summaries.append(record)
            continue
        if kind not in _MESSAGE_TYPES:
            others.append({"line": i + 1, "record": record})
            continue
        uuid = ctx.string(record, "uuid", path, required=True, nullable=False)
        if not uuid:
            ctx.fail(join(path, "uuid"), "empty message id")
        parent = ctx.string(record, "parentUuid", path)
        sidechain = ctx.boolean(record, "isSidechain", path)
        if parent is None and not sidechain and previous_main is not None:
            logical = ctx.string(record, "logicalParentUuid", path)
            parent = logical if logical in seen else previous_main
            orphans += 1
        session = ctx.string(record, "sessionId", path)
        if session and session not in sessions:
            sessions.append(session)
        if kind == "system":
            content = record.get("content")
            text = content if isinstance(content, str) else ""
            message = Message(id=uuid, role="system", author_id="system",
                              parts=[Part.text_part(text, format="plain")] if text else [])
            if not isinstance(content, str) and content is not None:
                message.extra[NS] = {"content": content}
        else:
            body = ctx.obj(ctx.required(record, "message", path), join(path, "message"))
            # The Anthropic importer's message mapping, so that blocks map the same way everywhere.
            message = anthropic._message(ctx, join(path, "message"), body, attachments)
            message.model = ctx.string(body, "model", join(path, "message"))
            if message.model == "<synthetic>":
                message.model = None
        message.id = uuid
        message.parent_id = parent
        message.created_at = iso_time(ctx, record.get("timestamp"), join(path, "timestamp"))
        message.hidden = sidechain or ctx.boolean(record, "isMeta", path)
        rest = {k: v for k, v in record.items() if k not in _LINE_KEYS}
        if session and sessions and session != sessions[0]:
            rest["sessionId"] = session
        if record.get("logicalParentUuid") is not None:
            rest["logicalParentUuid"] = record["logicalParentUuid"]
        if rest:
            message.extra.setdefault(NS, {}).update(rest)
        _participant(participants, message)
        nodes.append((path, message))
        seen.add(uuid)
        if not sidechain:
            previous_main = uuid
            last_main = uuid
    if not nodes:
        ctx.fail(None, "no user or assistant messages")
    if orphans:
        ctx.warn("parentUuid", f"{orphans} message(s) without a parent continue the chain in file order")

    conversation = Conversation(
        id=f"{FORMAT}:{sessions[0]}" if sessions else new_id(),
        title=_title(summaries) or stem(name),
        participants=participants,
        attachments=attachments,
        source=SourceInfo(format=FORMAT, file_name=base_name(name), original_id=sessions[0] if sessions else None,
                          warnings=ctx.warnings),
    )
    link_tree(ctx, conversation, nodes, parent_key="parentUuid")
    conversation.active_leaf_id = last_main or nodes[-1][1].id
    conversation.active_leaf_inferred = len(conversation.leaves()) > 1
    times = [m.created_at for m in conversation.messages.values() if m.created_at is not None]
    conversation.created_at = min(times) if times else None
    conversation.updated_at = max(times) if times else None
    extra: dict[str, Any] = {}
    if summaries:
        extra["summaries"] = summaries
    if others:
        extra["other_lines"] = others
    if extra:
        conversation.extra[NS] = extra
    return [conversation]


def _title(summaries: list[dict[str, Any]]) -> str | None:
    for summary in reversed(summaries):
        text = summary.get("summary")
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


def _participant(participants: dict[str, Participant], message: Message) -> None:
    pid = message.author_id
    if pid in participants:
        if pid == "assistant" and participants[pid].model is None:
            participants[pid].model = message.model
        return
    kinds = {"user": "human", "assistant": "assistant", "system": "system", "tool": "tool"}
    names = {"user": "User", "assistant": "Claude", "system": "System", "tool": "Tool"}
    participants[pid] = Participant(id=pid, kind=kinds[pid], display_name=names[pid],  # type: ignore[arg-type]
                                    provider="anthropic" if pid == "assistant" else None,
                                    model=message.model if pid == "assistant" else None)
