"""Import jupyterlab-chat / Jupyter AI v3 ``.chat`` files (FORMATS.md section 1).

Source format: the JSON document that ``YChat.get()`` of jupyterlab-chat 0.x
(``python/jupyterlab-chat/jupyterlab_chat/ychat.py``) writes, also written by its 2026
WebSocket backend::

    {"messages": [Message, ...], "users": {username: User}, "attachments": {id: Attachment},
     "metadata": {"id": "<uuid4>", "acp_session_ids"?: {...}, ...}}

Mapping (one :class:`Conversation` per file):

- messages become a linear chain in ``time`` order (float epoch seconds -> UTC); ``deleted``
  -> status ``"deleted"`` (no parts), ``edited`` -> ``edited``; ``mentions`` kept;
  attachment ids -> ``file_ref`` parts; ``metadata.tool_calls`` (ACP ``ToolCallState``) ->
  ``tool_call`` parts plus a ``tool_result`` part when ``raw_output`` exists;
  ``mime_model`` -> a ``mime_bundle`` part; bodies holding Jupyter AI's HTML error block
  (``<details class="jp-jai-error-details">``) are kept as markdown text (the renderer
  sanitises) with status ``"error"``.
- users -> participants: ``hidden::…`` (the ``hidden::jupyter_ai_system`` user) -> kind
  ``"system"`` and its messages role ``"system"``, ``hidden=True``; ``bot: true`` (or, in files
  written before ``bot`` existed, a ``jupyter-ai-personas::`` username) -> kind
  ``"assistant"`` with provider ``"jupyter-ai"`` and model ``None`` (the file does not record
  the model); everyone else -> ``"human"``. A sender missing from ``users`` is tolerated
  (a participant is made up from the id) with a warning.
- attachments -> ``Attachment(kind="file"|"notebook", uri=<root-relative path>,
  name=<base name>, available=False)`` with ``mimetype``, ``selection`` and ``cells``
  (``input_type`` -> ``cell_type``). The importer never reads the referenced files.
- id ``"jupyterlab-chat:<metadata.id>"`` (a UUID4 when absent), title = file stem.
- anything not mapped goes to ``extra["jupyterlab-chat"]`` of the conversation, message,
  participant, part or attachment it came from.
"""

from __future__ import annotations

from typing import Any

from ..model import Attachment, Conversation, Message, Part, Participant, SourceInfo, new_id
from ._common import Context, base_name, join, stem

FORMAT = "jupyterlab-chat"
NS = FORMAT
"""Namespace of leftovers in ``extra``."""

PERSONA_PREFIX = "jupyter-ai-personas::"
HIDDEN_PREFIX = "hidden::"
SYSTEM_USER = "hidden::jupyter_ai_system"
ERROR_MARKER = 'class="jp-jai-error-details"'

_MESSAGE_KEYS = {"type", "id", "body", "time", "sender", "attachments", "mentions", "deleted",
                 "edited", "metadata", "mime_model"}
_USER_KEYS = {"username", "display_name", "avatar_url"}
_TOOL_CALL_MAPPED = {"tool_call_id", "title", "status", "raw_input", "raw_output"}


def sniff(data: Any) -> bool:
    """``True`` when ``data`` (parsed JSON) looks like a ``.chat`` document.

    A ``.chat`` document is an object with a ``messages`` list and a ``users`` object (or
    an ``attachments`` object), and its messages (if any) carry ``sender`` and ``body``.
    """
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        return False
    if not isinstance(data.get("users"), dict) and not isinstance(data.get("attachments"), dict):
        return False
    first = next((m for m in data["messages"] if isinstance(m, dict)), None)
    return first is None or ("sender" in first and "body" in first)


def parse(data: Any, *, name: str | None, source: str) -> list[Conversation]:
    """Turn a parsed ``.chat`` document into one conversation.

    Args:
        data: the parsed JSON document.
        name: file name (base name used for ``SourceInfo.file_name`` and the title), or ``None``.
        source: name used in error messages.

    Raises:
        ImportFailed: the document is malformed; the message names the field, e.g.
            ``messages[2].time: expected a number``. Duplicate message ids are an error.
    """
    ctx = Context(source, FORMAT)
    doc = ctx.obj(data, "")
    raw_messages = ctx.lst(ctx.required(doc, "messages", ""), "messages")
    users = ctx.obj(doc.get("users") or {}, "users")
    raw_attachments = ctx.obj(doc.get("attachments") or {}, "attachments")
    metadata = ctx.obj(doc.get("metadata") or {}, "metadata")
    chat_id = ctx.string(metadata, "id", "metadata")

    participants = {key: _participant(ctx, key, user) for key, user in users.items()}
    attachments = {key: _attachment(ctx, key, value) for key, value in raw_attachments.items()}

    parsed: list[tuple[float, int, Message]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_messages):
        path = f"messages[{index}]"
        message, time_value = _message(ctx, path, raw, participants, attachments)
        if message.id in seen:
            ctx.fail(join(path, "id"), f"duplicate message id {message.id!r} (also messages[{seen[message.id]}])")
        seen[message.id] = index
        parsed.append((time_value, index, message))

    # The writer keeps the list sorted by time, but concurrent clients can interleave:
    # sort (stably) so the chain follows the clock, as jupyterlab-chat shows it.
    parsed.sort(key=lambda item: (item[0], item[1]))

    conversation = Conversation(
        id=f"{FORMAT}:{chat_id}" if chat_id else new_id(),
        title=stem(name),
        participants=participants,
        attachments=attachments,
        source=SourceInfo(
            format=FORMAT,
            format_version=doc["version"] if isinstance(doc.get("version"), str) else None,
            file_name=base_name(name),
            original_id=chat_id,
            warnings=ctx.warnings,
        ),
    )
    for _, _, message in parsed:
        conversation.append(message)
    times = [m.created_at for m in conversation.messages.values() if m.created_at is not None]
    conversation.created_at = min(times) if times else None
    conversation.updated_at = max(times) if times else None

    leftovers: dict[str, Any] = {k: v for k, v in doc.items() if k not in {"messages", "users", "attachments"}}
    if leftovers:
        conversation.extra[NS] = leftovers
    return [conversation]


def _participant(ctx: Context, key: str, raw: Any) -> Participant:
    path = f"users[{key!r}]"
    user = ctx.obj(raw, path)
    bot = user.get("bot")
    if bot is not None and not isinstance(bot, bool):
        ctx.fail(join(path, "bot"), f"expected true or false, got {type(bot).__name__}")
    display = ctx.string(user, "display_name", path) or ctx.string(user, "name", path)
    avatar = ctx.string(user, "avatar_url", path)
    kind = _kind(key, bot)
    extra = {k: v for k, v in user.items() if k not in _USER_KEYS}
    if user.get("username") not in (None, key):
        extra["username"] = user.get("username")
    return Participant(
        id=key,
        kind=kind,  # type: ignore[arg-type]
        display_name=display or _fallback_name(key),
        provider="jupyter-ai" if kind == "assistant" else None,
        model=None,
        avatar_url=avatar,
        extra={NS: extra} if extra else {},
    )


def _kind(username: str, bot: bool | None) -> str:
    if username.startswith(HIDDEN_PREFIX):
        return "system"
    if bot is None:
        # Files written before April 2025 have no ``bot`` flag: personas are recognised
        # by the username prefix Jupyter AI v3 gives them.
        return "assistant" if username.startswith(PERSONA_PREFIX) else "human"
    return "assistant" if bot else "human"


def _fallback_name(username: str) -> str:
    # "jupyter-ai-personas::pkg::ClassName" -> "ClassName"; otherwise the id itself.
    if username == SYSTEM_USER:
        return "System"
    return username.rsplit("::", 1)[-1] or username


def _attachment(ctx: Context, key: str, raw: Any) -> Attachment:
    path = f"attachments[{key!r}]"
    item = ctx.obj(raw, path)
    kind = ctx.string(item, "type", path)
    value = ctx.string(item, "value", path, required=True)
    assert value is not None
    mimetype = ctx.string(item, "mimetype", path)
    selection = item.get("selection")
    if selection is not None:
        ctx.obj(selection, join(path, "selection"))
    cells: list[dict[str, Any]] | None = None
    if item.get("cells") is not None:
        cells = []
        for i, cell in enumerate(ctx.lst(item["cells"], join(path, "cells"))):
            cell = ctx.obj(cell, f"{join(path, 'cells')}[{i}]")
            mapped = {"id": cell.get("id"), "cell_type": cell.get("input_type", cell.get("cell_type"))}
            mapped.update({k: v for k, v in cell.items() if k not in {"id", "input_type", "cell_type"}})
            cells.append(mapped)
    extra = {k: v for k, v in item.items() if k not in {"type", "value", "mimetype", "selection", "cells"}}
    normalised = value.replace("\\", "/")
    if normalised.startswith("/") or ".." in normalised.split("/") or (len(value) > 1 and value[1] == ":"):
        # The server resolves references through the contents manager, which refuses
        # these; say so here so the owner learns why the file is missing.
        ctx.warn(join(path, "value"), f"{value!r} is not a path inside the Jupyter root")
    if kind not in ("file", "notebook"):
        ctx.warn(join(path, "type"), f"unknown attachment type {kind!r}: kept as a file")
        extra["type"] = kind
    return Attachment(
        id=key,
        name=base_name(value) or key,
        kind="notebook" if kind == "notebook" else "file",
        mime_type=mimetype,
        uri=value,
        available=False,
        selection=selection,
        cells=cells,
        extra={NS: extra} if extra else {},
    )


def _message(
    ctx: Context,
    path: str,
    raw: Any,
    participants: dict[str, Participant],
    attachments: dict[str, Attachment],
) -> tuple[Message, float]:
    item = ctx.obj(raw, path)
    message_id = ctx.string(item, "id", path, required=True)
    if not message_id:
        ctx.fail(join(path, "id"), "expected a non-empty string")
    body = ctx.string(item, "body", path, required=True) or ""
    created = ctx.epoch(item, "time", path, required=True)
    sender = ctx.string(item, "sender", path, required=True)
    assert message_id is not None and sender is not None and created is not None
    deleted = ctx.boolean(item, "deleted", path)
    edited = ctx.boolean(item, "edited", path)
    mentions = ctx.string_list(item, "mentions", path)
    attachment_ids = ctx.string_list(item, "attachments", path)
    metadata = ctx.obj(item.get("metadata") or {}, join(path, "metadata"))

    author = participants.get(sender)
    if author is None:
        ctx.warn(join(path, "sender"), f"unknown user {sender!r} (not in users)")
        author = Participant(
            id=sender,
            kind=_kind(sender, None),  # type: ignore[arg-type]
            display_name=_fallback_name(sender),
            extra={NS: {"unknown_user": True}},
        )
        if author.kind == "assistant":
            author.provider = "jupyter-ai"
        participants[sender] = author

    extra: dict[str, Any] = {k: v for k, v in item.items() if k not in _MESSAGE_KEYS}
    if item.get("type", "msg") != "msg":
        extra["type"] = item.get("type")

    parts: list[Part] = []
    mime_model = item.get("mime_model")
    if mime_model is not None:
        mime = ctx.obj(mime_model, join(path, "mime_model"))
        data = ctx.obj(mime.get("data") or {}, join(path, "mime_model.data"))
        rest = {k: v for k, v in mime.items() if k not in {"data", "metadata"}}
        parts.append(Part(type="mime_bundle", data=data, metadata=mime.get("metadata"),
                          extra={NS: rest} if rest else {}))
    if body:
        parts.append(Part.text_part(body))
    for i, attachment_id in enumerate(attachment_ids):
        if attachment_id in attachments:
            parts.append(Part(type="file_ref", attachment_id=attachment_id))
        else:
            ctx.warn(f"{join(path, 'attachments')}[{i}]", f"unknown attachment id {attachment_id!r}")
            extra.setdefault("missing_attachments", []).append(attachment_id)

    rest_metadata = dict(metadata)
    if "tool_calls" in rest_metadata:
        tool_calls = ctx.lst(rest_metadata.pop("tool_calls"), join(path, "metadata.tool_calls"))
        for i, call in enumerate(tool_calls):
            parts.extend(_tool_call(ctx, f"{join(path, 'metadata.tool_calls')}[{i}]", call))
    if rest_metadata:
        extra["metadata"] = rest_metadata

    status = "complete"
    if deleted:
        status = "deleted"
    elif ERROR_MARKER in body:
        status = "error"

    message = Message(
        id=message_id,
        role="system" if author.kind == "system" else ("assistant" if author.kind == "assistant" else "user"),
        author_id=sender,
        parts=parts,
        created_at=created,
        status=status,  # type: ignore[arg-type]
        hidden=author.kind == "system",
        edited=edited,
        mentions=mentions,
        extra={NS: extra} if extra else {},
    )
    return message, created.timestamp()


def _tool_call(ctx: Context, path: str, raw: Any) -> list[Part]:
    """An ACP ``ToolCallState`` -> a ``tool_call`` part, plus a ``tool_result`` part for ``raw_output``."""
    state = ctx.obj(raw, path)
    call_id = ctx.string(state, "tool_call_id", path)
    title = ctx.string(state, "title", path)
    status = ctx.string(state, "status", path)
    rest = {k: v for k, v in state.items() if k not in _TOOL_CALL_MAPPED}
    parts = [
        Part(
            type="tool_call",
            call_id=call_id,
            name=title,
            title=title,
            status=status,
            arguments=state.get("raw_input"),
            extra={NS: rest} if rest else {},
        )
    ]
    if "raw_output" in state and state["raw_output"] is not None:
        output = state["raw_output"]
        if isinstance(output, dict) and isinstance(output.get("output"), str):
            text: str | None = output["output"]
        elif isinstance(output, str):
            text = output
        else:
            text = None
        parts.append(
            Part(type="tool_result", call_id=call_id, text=text, is_error=status == "failed", data=output)
        )
    return parts
