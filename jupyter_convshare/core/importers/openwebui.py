"""Import Open WebUI chats (FORMATS.md section 5).

Source format: Open WebUI's chat export ``chat-export-<ms>.json`` (``backend/open_webui/models/chats.py``
``ChatResponse`` rows, written by the chat menu "Export chat (.json)" as ``[row]`` and by Settings ->
Chats "Export All Chats" as ``[row, ...]``), a single row, or the bare inner ``chat`` object (the
database column)::

    row  = {"id", "user_id", "title", "chat": chat, "created_at", "updated_at" (int epoch s),
            "share_id", "archived", "pinned", "meta": {"tags": [...]}, "folder_id", ...}
    chat = {"id" (often ""), "title", "models": [...], "params", "history": {"messages": {id: Message},
            "currentId"}, "messages": [Message] (legacy copy of the active path), "tags",
            "timestamp" (epoch **ms**), "files"}
    Message = {"id", "parentId", "childrenIds", "role": "user" | "assistant" | "system",
               "content" (markdown), "timestamp" (epoch **s**), "models"?, "files"?, "model"?,
               "modelName"?, "modelIdx"?, "done"?, "usage"?, "error"?, ...}

Mapping (one :class:`Conversation` per chat):

- the ``history.messages`` tree, all branches (regenerations, edits, multi-model answers), children
  in ``childrenIds`` order; active leaf ``history.currentId`` (the latest leaf, flagged inferred,
  when it is missing). Without ``history``, the legacy ``messages[]`` list is a linear chain.
- ``content`` is split at Open WebUI's ``<details type="...">`` blocks: ``reasoning`` -> a
  reasoning part (summary, quoted text unquoted), ``tool_calls`` -> tool_call (+ tool_result when the
  block carries a result), ``code_interpreter`` -> code (+ tool_result for its output), any other
  type -> an ``unknown`` part; the text around them -> text parts. The original ``content`` is kept
  in the message's ``extra["openwebui"]["content"]`` when it was split.
- authors: ``"user"``, ``"system"``, and one assistant participant per model (``model``, shown as
  ``modelName``); message ``model``; ``done: false`` -> status ``"incomplete"``, ``error`` ->
  ``"error"`` (its text shown when the content is empty).
- ``files``: images -> image parts (data URI or URL); other files -> :class:`Attachment`
  references (``available=False``: the bytes are not in the export) and ``file_ref`` parts.
- times: row ``created_at``/``updated_at`` (s), else chat ``timestamp`` (ms); message ``timestamp`` (s).
- every other key -> ``extra["openwebui"]`` of the conversation or message it came from.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

from ..model import Attachment, Conversation, Message, Part, Participant, SourceInfo, new_id
from ._common import OBJECT_NAME, Context, base_name, join, json_type_name, media_type_of_data_uri, \
    parse_arguments, stem
from ._tree import latest_leaf, link_tree

FORMAT = "openwebui"
NS = FORMAT
ROLES = ("user", "assistant", "system")

_ROW_KEYS = {"id", "title", "chat", "created_at", "updated_at"}
_CHAT_KEYS = {"id", "title", "history", "messages", "tags", "timestamp"}
_MESSAGE_KEYS = {"id", "parentId", "childrenIds", "role", "content", "timestamp", "model", "files"}

_DETAILS = re.compile(
    r"<details\s+type=\"(?P<type>[\w-]+)\"(?P<attrs>[^>]*)>\s*(?:<summary>(?P<summary>.*?)</summary>)?"
    r"(?P<body>.*?)</details>",
    re.S,
)
_ATTR = re.compile(r"([\w-]+)=\"([^\"]*)\"")
_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\n(?P<code>.*?)\n?```\s*$", re.S)


def _is_chat(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if isinstance(item.get("history"), dict):
        return True
    messages = item.get("messages")
    # Legacy chats without history: Open WebUI messages carry parentId / childrenIds.
    return (isinstance(messages, list) and bool(messages) and isinstance(messages[0], dict)
            and ("parentId" in messages[0] or "childrenIds" in messages[0]) and "role" in messages[0])


def matches(item: Any) -> bool:
    """``True`` for one Open WebUI chat: an export row ``{"chat": {...}, "user_id", ...}`` or a bare chat."""
    if not isinstance(item, dict):
        return False
    chat = item.get("chat")
    if isinstance(chat, dict) and ("user_id" in item or _is_chat(chat)):
        return True
    return _is_chat(item)


def sniff(data: Any) -> bool:
    """``True`` when parsed JSON ``data`` is an Open WebUI export list, row or chat."""
    if isinstance(data, list):
        return bool(data) and all(matches(item) for item in data)
    return matches(data)


def parse(data: Any, *, name: str | None, source: str) -> list[Conversation]:
    """Turn an Open WebUI export (list of rows), a row or a bare chat into conversations.

    Args:
        data: parsed JSON.
        name: file name for titles and ``SourceInfo.file_name``, or ``None``.
        source: name used in error messages.

    Raises:
        ImportFailed: naming the place, e.g. ``[2].chat.history.messages['ab'].parentId: unknown parent``.
    """
    ctx = Context(source, FORMAT)
    if isinstance(data, list):
        if not data:
            ctx.fail(None, "empty list: no chats")
        # An export may hold chats without messages (Open WebUI keeps them): they are left out.
        converted = [_convert(Context(source, FORMAT), item, name=name, where=f"[{i}]", allow_empty=True)
                     for i, item in enumerate(data)]
        kept = [c for c in converted if c.messages]
        if not kept:
            ctx.fail(None, "no chat with messages")
        return kept
    return [_convert(ctx, data, name=name, where="")]


def convert(item: dict[str, Any], *, name: str | None, where: str) -> Conversation:
    """One chat of an export (a row or a bare chat) as a conversation.

    A chat without messages gives a conversation without messages (the streaming importer
    reports it as skipped).

    Args:
        item: one element of the export list (or the whole single-chat document).
        name: file name (errors name its base name; it is also the fallback title).
        where: the item's place in the file, e.g. ``"[12]"`` (``""`` for a whole file).

    Raises:
        ImportFailed: naming the file, the format and the field.
    """
    return _convert(Context(base_name(name) or OBJECT_NAME, FORMAT), item, name=name, where=where, allow_empty=True)


def _convert(ctx: Context, item: Any, *, name: str | None, where: str, allow_empty: bool = False) -> Conversation:
    data = ctx.obj(item, where)
    row: dict[str, Any] = {}
    chat = data
    chat_path = where
    if isinstance(data.get("chat"), dict) or ("chat" in data and "user_id" in data):
        row = data
        chat_path = join(where, "chat")
        chat = ctx.obj(data["chat"], chat_path)

    history = chat.get("history")
    nodes: list[tuple[str, Message]] = []
    child_order: dict[str, list[str]] = {}
    participants: dict[str, Participant] = {}
    attachments: dict[str, Attachment] = {}
    current_id: str | None = None
    if history is not None:
        history_path = join(chat_path, "history")
        history = ctx.obj(history, history_path)
        raw_messages = ctx.obj(ctx.required(history, "messages", history_path), join(history_path, "messages"))
        current_id = ctx.string(history, "currentId", history_path)
        for key, raw in raw_messages.items():
            path = f"{join(history_path, 'messages')}[{key!r}]"
            message, children = _message(ctx, path, raw, participants, attachments, key=key)
            nodes.append((path, message))
            if children:
                child_order[message.id] = children
    else:
        legacy_path = join(chat_path, "messages")
        previous: str | None = None
        for i, raw in enumerate(ctx.lst(ctx.required(chat, "messages", chat_path), legacy_path)):
            path = f"{legacy_path}[{i}]"
            message, _ = _message(ctx, path, raw, participants, attachments, key=None)
            message.parent_id = previous  # the legacy list is the active path, in order
            previous = message.id
            nodes.append((path, message))
    if not nodes and not allow_empty:
        ctx.fail(join(chat_path, "history.messages") if history is not None else join(chat_path, "messages"),
                 "no messages")

    chat_id = ctx.string(chat, "id", chat_path) or None
    row_id = ctx.string(row, "id", where) if row else None
    original = row_id or chat_id
    title = ctx.string(row, "title", where) if row else None
    title = title or ctx.string(chat, "title", chat_path) or stem(name)
    created = ctx.epoch(row, "created_at", where) if row else None
    updated = ctx.epoch(row, "updated_at", where) if row else None
    chat_time = ctx.epoch(chat, "timestamp", chat_path)  # milliseconds: from_epoch tells by magnitude
    conversation = Conversation(
        id=f"{FORMAT}:{original}" if original else new_id(),
        title=title,
        participants=participants,
        attachments=attachments,
        tags=_tags(ctx, chat, chat_path, row, where),
        source=SourceInfo(format=FORMAT, file_name=base_name(name), original_id=original, warnings=ctx.warnings),
    )
    link_tree(ctx, conversation, nodes, parent_key="parentId", child_order=child_order)

    if current_id is not None and current_id in conversation.messages:
        conversation.active_leaf_id = current_id
    else:
        if history is not None and nodes:
            ctx.warn(join(join(chat_path, "history"), "currentId"),
                     "missing or unknown: the latest leaf is shown" if current_id is None
                     else f"unknown message {current_id!r}: the latest leaf is shown")
            conversation.active_leaf_inferred = True
        if history is not None:
            conversation.active_leaf_id = latest_leaf(conversation)
        elif nodes:
            conversation.active_leaf_id = nodes[-1][1].id

    times = [m.created_at for m in conversation.messages.values() if m.created_at is not None]
    conversation.created_at = created or chat_time or (min(times) if times else None)
    conversation.updated_at = updated or (max(times) if times else None)

    extra: dict[str, Any] = {}
    if row:
        extra["row"] = {k: v for k, v in row.items() if k not in _ROW_KEYS}
    chat_rest = {k: v for k, v in chat.items() if k not in _CHAT_KEYS}
    if chat_id is not None and row_id is not None and chat_id != row_id:
        chat_rest["id"] = chat_id
    if chat_rest:
        extra["chat"] = chat_rest
    legacy = chat.get("messages")
    if history is not None and isinstance(legacy, list) and legacy:
        active = [m.id for m in conversation.active_path()]
        legacy_ids = [m.get("id") if isinstance(m, dict) else None for m in legacy]
        if legacy_ids != active:
            # A stale copy (Open WebUI does not always rewrite it): keep it, it may differ.
            ctx.warn(join(chat_path, "messages"), "the legacy message list differs from the history's active path")
            extra["legacy_messages"] = legacy
    if extra:
        conversation.extra[NS] = extra
    return conversation


def _tags(ctx: Context, chat: dict[str, Any], chat_path: str, row: dict[str, Any], where: str) -> list[str]:
    found: list[str] = []
    sources = [(chat.get("tags"), join(chat_path, "tags"))]
    meta = row.get("meta") if row else None
    if isinstance(meta, dict):
        sources.append((meta.get("tags"), join(where, "meta.tags")))
    for value, path in sources:
        if value is None:
            continue
        for i, tag in enumerate(ctx.lst(value, path)):
            # Older versions store {"name": ...} objects, newer ones plain strings.
            label = tag.get("name") if isinstance(tag, dict) else tag
            if not isinstance(label, str):
                ctx.fail(f"{path}[{i}]", f"expected a tag name, got {json_type_name(tag)}")
            if label not in found:
                found.append(label)
    return found


def _message(ctx: Context, path: str, raw: Any, participants: dict[str, Participant],
             attachments: dict[str, Attachment], *, key: str | None) -> tuple[Message, list[str]]:
    item = ctx.obj(raw, path)
    message_id = ctx.string(item, "id", path, required=key is None) or key
    if not message_id:
        ctx.fail(join(path, "id"), "missing message id")
    if key is not None and message_id != key:
        ctx.warn(path, f"id {message_id!r} differs from its key: the key is used")
        message_id = key
    parent = ctx.string(item, "parentId", path)
    children = ctx.string_list(item, "childrenIds", path)
    role = ctx.string(item, "role", path, required=True)
    if role not in ROLES:
        ctx.fail(join(path, "role"), f"expected one of {', '.join(ROLES)}, got {role!r}")
    content = ctx.string(item, "content", path) or ""
    model = ctx.string(item, "model", path) if role == "assistant" else None
    created = ctx.epoch(item, "timestamp", path)

    extra: dict[str, Any] = {k: v for k, v in item.items() if k not in _MESSAGE_KEYS}
    if role == "user" and "model" in item:
        extra["model"] = item["model"]
    parts = _content_parts(ctx, join(path, "content"), content)
    if any(p.type != "text" for p in parts):
        extra["content"] = content
    parts.extend(_files(ctx, join(path, "files"), item.get("files"), attachments))

    status = "complete"
    error = item.get("error")
    if error not in (None, False):
        status = "error"
        error_text = error.get("content") if isinstance(error, dict) else error
        if not parts and isinstance(error_text, str) and error_text:
            parts.append(Part.text_part(error_text, format="plain"))
    elif item.get("done") is False:
        status = "incomplete"

    author = _author(ctx, path, role, model, item, participants)
    message = Message(id=message_id, role=role, author_id=author, parts=parts,  # type: ignore[arg-type]
                      parent_id=parent, created_at=created, model=model, status=status,  # type: ignore[arg-type]
                      extra={NS: extra} if extra else {})
    return message, children


def _author(ctx: Context, path: str, role: str, model: str | None, item: dict[str, Any],
            participants: dict[str, Participant]) -> str:
    if role != "assistant":
        if role not in participants:
            participants[role] = Participant(id=role, kind="human" if role == "user" else "system",
                                             display_name="User" if role == "user" else "System")
        return role
    pid = f"assistant:{model}" if model else "assistant"
    if pid not in participants:
        shown = item.get("modelName")
        participants[pid] = Participant(id=pid, kind="assistant",
                                        display_name=shown if isinstance(shown, str) and shown else model or "Assistant",
                                        model=model)
    return pid


def _content_parts(ctx: Context, path: str, content: str) -> list[Part]:
    """``content`` split at ``<details type=...>`` blocks into text, reasoning and tool parts."""
    parts: list[Part] = []
    position = 0
    for match in _details_blocks(content):
        _text(parts, content[position:match.start()])
        position = match.end()
        kind = match.group("type")
        attrs = {k: html.unescape(v) for k, v in _ATTR.findall(match.group("attrs"))}
        summary = (match.group("summary") or "").strip()
        body = match.group("body").strip("\n")
        info = {k: v for k, v in attrs.items() if k not in {"id", "name", "arguments", "result", "output"}}
        if kind == "reasoning":
            unquoted = "\n".join(line[2:] if line.startswith("> ") else line.lstrip(">")
                                 for line in body.strip().splitlines())
            parts.append(Part(type="reasoning", text=unquoted or None, summary=summary or None,
                              extra={NS: info} if info else {}))
        elif kind == "tool_calls":
            call_id = attrs.get("id")
            arguments = attrs.get("arguments")
            parts.append(Part(type="tool_call", call_id=call_id, name=attrs.get("name") or "tool",
                              arguments=parse_arguments(arguments), arguments_raw=arguments, title=summary or None,
                              status="complete" if attrs.get("done") == "true" else "in_progress",
                              extra={NS: info} if info else {}))
            result = attrs.get("result")
            if result is None and body.strip():
                result = body.strip()
            if result is not None:
                value = parse_arguments(result)
                parts.append(Part(type="tool_result", call_id=call_id,
                                  text=value if isinstance(value, str) else result,
                                  data=None if isinstance(value, str) else value))
        elif kind == "code_interpreter":
            fence = _FENCE.match(body.strip())
            code = fence.group("code") if fence else body.strip()
            language = (fence.group("lang") if fence else None) or "python"
            parts.append(Part(type="code", text=code, language=language, title=summary or None,
                              extra={NS: info} if info else {}))
            output = attrs.get("output")
            if output:
                value = parse_arguments(output)
                parts.append(Part(type="tool_result", text=value if isinstance(value, str) else output,
                                  data=None if isinstance(value, str) else value))
        else:
            parts.append(Part(type="unknown", source_type=f"details:{kind}", data=match.group(0)))
    _text(parts, content[position:])
    return parts


def _details_blocks(content: str) -> Iterator[re.Match[str]]:
    """The typed ``<details>`` blocks of ``content``, in order, in linear time.

    A regex search over the whole content would rescan to the end for every unclosed
    ``<details`` (quadratic on hostile input); here each opener is matched only against the
    text up to the next ``</details>``.
    """
    closer = "</details>"
    search = 0
    end = -1
    while True:
        start = content.find("<details", search)
        if start < 0:
            return
        if end < start:
            end = content.find(closer, start)
            if end < 0:
                return
        match = _DETAILS.match(content, start, end + len(closer))
        if match is not None and match.end() == end + len(closer):
            yield match
            search = match.end()
        else:
            search = start + len("<details")


def _text(parts: list[Part], text: str) -> None:
    if text.strip():
        parts.append(Part.text_part(text.strip("\n")))


def _files(ctx: Context, path: str, raw: Any, attachments: dict[str, Attachment]) -> list[Part]:
    if raw is None:
        return []
    parts: list[Part] = []
    for i, entry in enumerate(ctx.lst(raw, path)):
        here = f"{path}[{i}]"
        item = ctx.obj(entry, here)
        kind = item.get("type")
        url = ctx.string(item, "url", here)
        if kind == "image" and url:
            rest = {k: v for k, v in item.items() if k not in {"type", "url"}}
            parts.append(Part(type="image", url=url, mime_type=media_type_of_data_uri(url),
                              extra={NS: rest} if rest else {}))
            continue
        file_obj: dict[str, Any] = item["file"] if isinstance(item.get("file"), dict) else {}
        meta: dict[str, Any] = file_obj["meta"] if isinstance(file_obj.get("meta"), dict) else {}
        data = file_obj.get("data")
        extracted = data.get("content") if isinstance(data, dict) else None
        file_id = item.get("id") or file_obj.get("id")
        attachment_id = f"file-{file_id}" if isinstance(file_id, str) and file_id else f"file-{len(attachments) + 1}"
        name = item.get("name") or file_obj.get("filename") or meta.get("name") or attachment_id
        size = item.get("size", meta.get("size"))
        if attachment_id not in attachments:
            attachments[attachment_id] = Attachment(
                id=attachment_id,
                name=(base_name(name) if isinstance(name, str) else None) or attachment_id,
                kind="image" if kind == "image" else "document",
                mime_type=meta.get("content_type") if isinstance(meta.get("content_type"), str) else None,
                size_bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
                uri=url if url and not url.startswith("data:") else None,
                available=False,
                extracted_text=extracted if isinstance(extracted, str) else None,
                extra={NS: item},
            )
        parts.append(Part(type="file_ref", attachment_id=attachment_id))
    return parts
