"""Import Claude.ai data exports (FORMATS.md section 4).

Source format: ``conversations.json`` of the ZIP that Claude.ai's Settings -> Privacy ->
Export data sends: a JSON array of conversations (a single conversation object is
accepted too)::

    {"uuid", "name", "summary"?, "created_at", "updated_at", "account": {"uuid"},
     "chat_messages": [{"uuid", "text", "content"?: [block], "sender": "human" | "assistant",
                        "created_at", "updated_at", "attachments": [...], "files": [...],
                        "parent_message_uuid"?}]}

Mapping (one :class:`Conversation` per conversation object):

- messages keep their ``uuid``; ``sender`` ``human`` -> role ``"user"`` (author ``"user"``),
  ``assistant`` -> ``"assistant"`` (author ``"assistant"``, display "Claude", provider
  ``"anthropic"``; the export records no model).
- the tree comes from ``parent_message_uuid`` (2025+); the root sentinel
  ``00000000-0000-4000-8000-000000000000`` means "no parent". Siblings (edits, retries)
  keep list order. Older exports have no parent field: the list (in creation order)
  becomes a chain. The export does not record which branch is shown: the active leaf is
  the leaf with the latest ``created_at`` (ties: the last in the list) and
  ``active_leaf_inferred`` is always ``True``.
- times: ISO-8601 strings -> UTC.
- ``content`` blocks -> parts (``text`` -> text, skipping whitespace-only blocks;
  ``thinking`` -> ``reasoning`` with the ``summaries`` joined as its summary; ``tool_use`` ->
  ``tool_call``; ``tool_result`` -> ``tool_result`` (its text blocks joined; other content
  in ``data``); anything else, e.g. ``token_budget`` -> an ``unknown`` part). Without
  ``content`` (old exports) ``text`` is the text part; with it, ``text`` (which also holds
  the thinking) is not used.
- ``attachments[]`` (text extracted by Claude.ai) -> :class:`Attachment` with
  ``extracted_text`` and ``available=False``; ``files[]`` (``file_uuid``, ``file_name``; the
  bytes are not exported) -> attachments with ``available=False``; both get ``file_ref``
  parts in their message.
- conversation id ``"claude-ai:<uuid>"``, title ``name`` (``None`` when empty); ``summary``,
  ``account`` and other fields -> ``extra["claude-ai"]``; unmapped block fields ->
  ``Part.extra["claude-ai"]``.

Errors are :class:`~jupyter_convshare.core.errors.ImportFailed` naming the file, the format
and the place, e.g. ``conversations.json: claude-ai format:
conversations[2].chat_messages[4].parent_message_uuid: no such message 'x'``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from ..errors import ImportFailed
from ..model import Attachment, Conversation, Message, Part, Participant, SourceInfo, new_id, parse_time
from ._common import OBJECT_NAME, Context, base_name, json_type_name

FORMAT = "claude-ai"
NS = FORMAT
"""Namespace of leftovers in ``extra``."""

PROVIDER = "anthropic"
ROOT_SENTINEL = "00000000-0000-4000-8000-000000000000"
"""``parent_message_uuid`` of a first message (no parent)."""

_ROLE = {"human": "user", "assistant": "assistant"}
_CONVERSATION_MAPPED = {"uuid", "name", "created_at", "updated_at", "chat_messages", "model"}
_MESSAGE_MAPPED = {"uuid", "text", "content", "sender", "created_at", "updated_at", "attachments", "files",
                   "parent_message_uuid"}
_IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".svg", ".heic"}


def matches(data: Any) -> bool:
    """``True`` when ``data`` looks like a Claude.ai export: a conversation object (a
    ``chat_messages`` list with ``uuid`` or ``name``) or a list whose first element is one."""
    if isinstance(data, list):
        data = data[0] if data else None
    return (
        isinstance(data, dict)
        and isinstance(data.get("chat_messages"), list)
        and ("uuid" in data or "name" in data)
    )


def parse(data: Any, *, name: str | None, source: str) -> list[Conversation]:
    """Turn a parsed Claude.ai export (a list of conversations, or one) into conversations.

    Args:
        data: the parsed JSON.
        name: the file name (kept in ``SourceInfo.file_name``), or ``None``.
        source: the name used in error messages.

    Raises:
        ImportFailed: naming the file, the format and the place (``conversations[2]...``).
    """
    if isinstance(data, dict):
        return [convert(data, name=name, where="", source=source)]
    if not isinstance(data, list):
        raise ImportFailed(f"expected a list of conversations, got {json_type_name(data)}",
                           source=source, format=FORMAT)
    if not data:
        raise ImportFailed("the export holds no conversations", source=source, format=FORMAT)
    return [convert(item, name=name, where=f"conversations[{i}]", source=source) for i, item in enumerate(data)]


def convert(item: Any, *, name: str | None, where: str, source: str | None = None) -> Conversation:
    """Convert ONE conversation object of an export (pure: reads nothing else).

    Args:
        item: the parsed conversation object.
        name: the file name (``SourceInfo.file_name``; the name in error messages unless
            ``source`` is given), or ``None``.
        where: the place of ``item`` for error messages (``"conversations[12]"``, or ``""``).
        source: the name used in error messages (default: ``name`` or ``"<object>"``).

    Raises:
        ImportFailed: the object is malformed; never another exception.
    """
    ctx = Context(source or base_name(name) or OBJECT_NAME, FORMAT)
    try:
        return _convert(ctx, item, name=name, where=where)
    except ImportFailed:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        ctx.fail(where or None, f"malformed conversation ({type(exc).__name__}: {exc})")


def _at(where: str, path: str) -> str:
    return f"{where}.{path}" if where else path


def _time(ctx: Context, data: dict[str, Any], key: str, path: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        ctx.fail(f"{path}.{key}" if path else key, f"expected an ISO 8601 string, got {json_type_name(value)}")
    try:
        return parse_time(value)
    except ValueError:
        ctx.fail(f"{path}.{key}" if path else key, f"not an ISO 8601 time: {value!r}")


def _convert(ctx: Context, item: Any, *, name: str | None, where: str) -> Conversation:
    conv = ctx.obj(item, where or "conversation")
    uuid = ctx.string(conv, "uuid", where)
    title = ctx.string(conv, "name", where) or None
    model = ctx.string(conv, "model", where)
    raw_messages = ctx.lst(ctx.required(conv, "chat_messages", where), _at(where, "chat_messages"))

    participants = {
        "user": Participant(id="user", kind="human", display_name="User"),
        "assistant": Participant(id="assistant", kind="assistant", display_name="Claude", provider=PROVIDER,
                                 model=model),
    }
    attachments: dict[str, Attachment] = {}
    parsed: list[tuple[str, Message, str | None]] = []  # (path, message, parent or None)
    index_of: dict[str, int] = {}
    with_parent = [isinstance(m, dict) and "parent_message_uuid" in m for m in raw_messages]
    tree = any(with_parent)
    for i, raw in enumerate(raw_messages):
        path = _at(where, f"chat_messages[{i}]")
        message = _message(ctx, path, raw, attachments)
        if message.id in index_of:
            ctx.fail(f"{path}.uuid", f"duplicate message uuid {message.id!r} (also chat_messages[{index_of[message.id]}])")
        index_of[message.id] = i
        if tree:
            if not with_parent[i]:
                ctx.fail(f"{path}.parent_message_uuid", "missing field (other messages have one)")
            parent = raw["parent_message_uuid"]
            if parent is not None and not isinstance(parent, str):
                ctx.fail(f"{path}.parent_message_uuid", f"expected a string, got {json_type_name(parent)}")
            parent = None if parent in (None, ROOT_SENTINEL) else parent
        else:
            parent = parsed[-1][1].id if parsed else None
        parsed.append((path, message, parent))

    for path, message, parent in parsed:
        if parent is not None and parent not in index_of:
            ctx.fail(f"{path}.parent_message_uuid", f"no such message {parent!r}")
        if parent == message.id:
            ctx.fail(f"{path}.parent_message_uuid", "a message cannot be its own parent (cycle)")
        message.parent_id = parent

    conversation = Conversation(
        id=f"{FORMAT}:{uuid}" if uuid else f"{FORMAT}:{new_id()}",
        title=title,
        created_at=_time(ctx, conv, "created_at", where),
        updated_at=_time(ctx, conv, "updated_at", where),
        participants=participants,
        attachments=attachments,
        active_leaf_inferred=True,
        source=SourceInfo(format=FORMAT, file_name=base_name(name), original_id=uuid, warnings=ctx.warnings),
    )
    # Parents before children, siblings in list order (a parent may come later in the list).
    children: dict[str | None, list[Message]] = {}
    for _, message, parent in parsed:
        children.setdefault(parent, []).append(message)
    stack = list(reversed(children.get(None, [])))
    while stack:
        message = stack.pop()
        conversation.add_message(message)
        stack.extend(reversed(children.get(message.id, [])))
    if len(conversation.messages) != len(parsed):
        path, message, _ = next(p for p in parsed if p[1].id not in conversation.messages)
        ctx.fail(f"{path}.parent_message_uuid", "cycle in the parent links")

    if conversation.messages:
        order = {mid: i for i, mid in enumerate(index_of)}

        def recency(message: Message) -> tuple[float, int]:
            created = message.created_at
            return (created.timestamp() if created is not None else float("-inf"), order[message.id])

        conversation.active_leaf_id = max(conversation.leaves(), key=recency).id
    extra = {k: v for k, v in conv.items() if k not in _CONVERSATION_MAPPED}
    if extra:
        conversation.extra[NS] = extra
    return conversation


def _message(ctx: Context, path: str, raw: Any, attachments: dict[str, Attachment]) -> Message:
    item = ctx.obj(raw, path)
    uuid = ctx.string(item, "uuid", path, required=True)
    if not uuid:
        ctx.fail(f"{path}.uuid", "expected a non-empty string")
    assert uuid is not None
    sender = ctx.string(item, "sender", path, required=True)
    if sender not in _ROLE:
        ctx.fail(f"{path}.sender", f"expected one of human, assistant, got {sender!r}")
    assert sender is not None
    role = _ROLE[sender]
    text = ctx.string(item, "text", path)

    parts: list[Part] = []
    if item.get("content") is not None:
        for i, block in enumerate(ctx.lst(item["content"], f"{path}.content")):
            part = _block(ctx, f"{path}.content[{i}]", block)
            if part is not None:
                parts.append(part)
    elif text and text.strip():
        parts.append(Part.text_part(text))

    for i, raw_att in enumerate(ctx.lst(item.get("attachments") or [], f"{path}.attachments")):
        attachment = _attachment(ctx, f"{path}.attachments[{i}]", raw_att, f"{uuid}:attachment:{i}")
        attachments[attachment.id] = attachment
        parts.append(Part(type="file_ref", attachment_id=attachment.id))
    for i, raw_file in enumerate(ctx.lst(item.get("files") or [], f"{path}.files")):
        attachment = _file(ctx, f"{path}.files[{i}]", raw_file, f"{uuid}:file:{i}")
        attachment = attachments.setdefault(attachment.id, attachment)
        parts.append(Part(type="file_ref", attachment_id=attachment.id))

    extra = {k: v for k, v in item.items() if k not in _MESSAGE_MAPPED}
    is_error = any(p.type == "tool_result" and p.is_error for p in parts) and not any(p.type == "text" for p in parts)
    return Message(
        id=uuid,
        role=role,  # type: ignore[arg-type]
        author_id=role,
        parts=parts,
        created_at=_time(ctx, item, "created_at", path),
        updated_at=_time(ctx, item, "updated_at", path),
        status="error" if is_error else "complete",
        extra={NS: extra} if extra else {},
    )


def _leftovers(block: dict[str, Any], mapped: set[str]) -> dict[str, Any]:
    rest = {k: v for k, v in block.items() if k not in mapped and v is not None and k != "type"}
    return {NS: rest} if rest else {}


def _block(ctx: Context, path: str, raw: Any) -> Part | None:
    block = ctx.obj(raw, path)
    kind = ctx.string(block, "type", path, required=True)
    if kind == "text":
        text = ctx.string(block, "text", path) or ""
        if not text.strip():
            return None  # Claude.ai opens many answers with a " " block: nothing to show
        return Part(type="text", text=text, format="markdown", extra=_leftovers(block, {"text"}))
    if kind == "thinking":
        summaries = ctx.lst(block.get("summaries") or [], f"{path}.summaries")
        summary = "\n".join(s["summary"] for s in summaries if isinstance(s, dict) and isinstance(s.get("summary"), str))
        return Part(type="reasoning", text=ctx.string(block, "thinking", path), summary=summary or None,
                    extra=_leftovers(block, {"thinking", "summaries"}))
    if kind == "tool_use":
        return Part(type="tool_call", call_id=ctx.string(block, "id", path), name=ctx.string(block, "name", path),
                    arguments=block.get("input"), title=ctx.string(block, "message", path),
                    extra=_leftovers(block, {"id", "name", "input", "message"}))
    if kind == "tool_result":
        content = block.get("content")
        texts: list[str] = []
        if isinstance(content, str):
            texts.append(content)
        elif content is not None:
            for i, sub in enumerate(ctx.lst(content, f"{path}.content")):
                if isinstance(sub, dict) and sub.get("type") == "text" and isinstance(sub.get("text"), str):
                    texts.append(sub["text"])
        is_error = block.get("is_error")
        if is_error is not None and not isinstance(is_error, bool):
            ctx.fail(f"{path}.is_error", f"expected true or false, got {json_type_name(is_error)}")
        return Part(type="tool_result", call_id=ctx.string(block, "tool_use_id", path),
                    name=ctx.string(block, "name", path), text="\n\n".join(texts), is_error=bool(is_error),
                    data=content if not isinstance(content, str) else None,
                    extra=_leftovers(block, {"tool_use_id", "name", "content", "is_error"}))
    return Part(type="unknown", source_type=kind, data=block)


def _attachment(ctx: Context, path: str, raw: Any, fallback_id: str) -> Attachment:
    item = ctx.obj(raw, path)
    file_name = ctx.string(item, "file_name", path)
    file_type = ctx.string(item, "file_type", path)
    size = item.get("file_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        ctx.fail(f"{path}.file_size", f"expected an integer, got {json_type_name(size)}")
    extracted = ctx.string(item, "extracted_content", path)
    rest = {k: v for k, v in item.items() if k not in ("id", "file_name", "file_size", "file_type", "extracted_content")}
    if file_type and "/" not in file_type:
        rest["file_type"] = file_type
    given = item.get("id")
    att_id = given if isinstance(given, str) and given else fallback_id
    return Attachment(
        id=att_id,
        name=base_name(file_name) or "pasted text",
        kind="document" if file_name else "pasted_text",
        mime_type=file_type if file_type and "/" in file_type else None,
        size_bytes=size,
        extracted_text=extracted,
        available=False,
        extra={NS: rest} if rest else {},
    )


def _file(ctx: Context, path: str, raw: Any, fallback_id: str) -> Attachment:
    item = ctx.obj(raw, path)
    file_uuid = ctx.string(item, "file_uuid", path)
    file_name = ctx.string(item, "file_name", path)
    rest = {k: v for k, v in item.items() if k not in ("file_uuid", "file_name")}
    name = base_name(file_name) or file_uuid or fallback_id
    image = PurePosixPath(name).suffix.lower() in _IMAGE_EXTENSIONS
    return Attachment(
        id=file_uuid or fallback_id,
        name=name,
        kind="image" if image else "file",
        uri=file_uuid,
        available=False,
        extra={NS: rest} if rest else {},
    )
