"""Import Anthropic Messages API conversations (FORMATS.md section 6).

Source format: the request body of ``POST /v1/messages`` (Anthropic API reference,
"Messages"): ``{"model", "system"?: str | [text blocks], "messages": [{"role": "user" |
"assistant", "content": str | [blocks]}]}``, optionally wrapped as ``{"request": {...},
"response": <Message object {"id": "msg_…", "type": "message", "role": "assistant", "model",
"content", "stop_reason", "usage"}>}``. Accepted containers are listed in :mod:`._api`.

Mapping:

- ``system`` -> a first message with role ``"system"`` (author ``"system"``).
- blocks: ``text`` -> text (``citations`` -> ``citation`` parts after it); ``image`` -> an
  image part (``base64`` as a data URI, ``url``, or ``file`` id in ``extra``); ``document`` ->
  an :class:`Attachment` (kind ``document``; text sources as ``extracted_text``; base64 data
  kept in its ``extra``) plus a ``file_ref`` part; ``tool_use`` / ``server_tool_use`` ->
  ``tool_call``; ``tool_result`` and ``*_tool_result`` -> ``tool_result``; ``thinking`` ->
  ``reasoning``; ``redacted_thinking`` -> ``reasoning`` with ``redacted=True`` (the
  encrypted ``data`` in ``extra``); anything else -> an ``unknown`` part.
- a user message made only of ``tool_result`` blocks becomes role ``"tool"`` (author
  ``"tool"``): that is what it is, although the API sends it as ``user``.
- the assistant participant has provider ``"anthropic"`` and the record's ``model``.
"""

from __future__ import annotations

from typing import Any

from ..model import Attachment, Conversation, Message, Part
from ._api import ChainBuilder, prefixed, parse_records
from ._common import Context, data_uri, join

FORMAT = "anthropic"
PROVIDER = "anthropic"
ROLES = ("user", "assistant")

_BLOCK_TYPES = {"tool_use", "tool_result", "thinking", "redacted_thinking", "server_tool_use",
                "web_search_tool_result", "document"}


def evidence(record: Any) -> int:
    """How strongly one record looks like Anthropic Messages (``> 0``: a feature only it has).

    Features: a top-level ``system`` next to ``messages``, Anthropic-only block types
    (``tool_use``, ``tool_result``, ``thinking``, ``image`` with a ``source``), a response of
    ``type: "message"``, or a ``claude-*`` model name.
    """
    score = 0
    messages: Any = record
    if isinstance(record, dict):
        body: dict[str, Any] = record["request"] if isinstance(record.get("request"), dict) else record
        messages = body.get("messages")
        if "system" in body:
            score += 2
        model = body.get("model")
        response = record.get("response")
        if isinstance(response, dict):
            if response.get("type") == "message" or isinstance(response.get("content"), list) and "choices" not in response:
                score += 2
            model = response.get("model", model)
        if isinstance(model, str) and model.startswith("claude"):
            score += 1
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") in _BLOCK_TYPES or (block.get("type") == "image" and "source" in block):
                score += 2
    return score


def parse(data: Any, *, name: str | None, source: str, jsonl: bool = False) -> list[Conversation]:
    """Turn Anthropic Messages input into conversations (one per record).

    Args:
        data: a message list, a record, a list of records, or the parsed lines of a JSONL file
            (``jsonl=True``).
        name: file name for the title and ``SourceInfo.file_name``, or ``None``.
        source: name used in error messages.

    Raises:
        ImportFailed: naming the record and field, e.g. ``[1].messages[2].content[0].type: ...``.
    """
    return parse_records(FORMAT, _record, data, name=name, source=source, jsonl=jsonl)


def _record(ctx: Context, prefix: str, record: Any, *, name: str | None, index: int, count: int) -> Conversation:
    at = lambda path: prefixed(prefix, path)  # noqa: E731 - a short path helper
    extra: dict[str, Any] = {}
    response: dict[str, Any] | None = None
    original_id: str | None = None
    system: Any = None
    system_path = ""
    if isinstance(record, list):
        messages, model, messages_path = record, None, ""
    else:
        outer = ctx.obj(record, at(""))
        if "request" in outer:
            body = ctx.obj(outer["request"], at("request"))
            base = "request"
            if outer.get("response") is not None:
                response = ctx.obj(outer["response"], at("response"))
            extra.update({k: v for k, v in outer.items() if k not in {"request", "response"}})
            request_rest = {k: v for k, v in body.items() if k not in {"messages", "model", "system"}}
            if request_rest:
                extra["request"] = request_rest
        else:
            body, base = outer, ""
            extra.update({k: v for k, v in body.items() if k not in {"messages", "model", "system"}})
        messages = ctx.lst(ctx.required(body, "messages", at(base)), at(join(base, "messages")))
        messages_path = join(base, "messages")
        model = ctx.string(body, "model", at(base))
        system = body.get("system")
        system_path = join(base, "system")
        if isinstance(outer.get("id"), str):
            original_id = outer["id"]

    if response is not None:
        model = ctx.string(response, "model", at("response")) or model
        if isinstance(response.get("id"), str):
            original_id = response["id"]

    builder = ChainBuilder(format=FORMAT, provider=PROVIDER, model=model)
    attachments: dict[str, Attachment] = {}
    if system is not None:
        if isinstance(system, str):
            system_parts = [Part.text_part(system)] if system else []
        else:
            system_parts = _blocks(ctx, at(system_path), ctx.lst(system, at(system_path)), attachments)
        if system_parts:
            builder.add(Message(id="", role="system", author_id="system", parts=system_parts))
    for i, raw in enumerate(messages):
        builder.add(_message(ctx, at(f"{messages_path}[{i}]"), raw, attachments))
    if response is not None:
        message = _message(ctx, at("response"), {"role": response.get("role", "assistant"), **response}, attachments)
        message.model = model
        message.extra.get(FORMAT, {}).pop("type", None)
        if not message.extra.get(FORMAT, True):
            message.extra.pop(FORMAT)
        builder.add(message)
    conversation = builder.build(ctx, name=name, index=index, count=count, original_id=original_id, extra=extra,
                                 messages_path=at(messages_path) or "messages")
    conversation.attachments = attachments
    return conversation


def _message(ctx: Context, path: str, raw: Any, attachments: dict[str, Attachment]) -> Message:
    item = ctx.obj(raw, path)
    role = ctx.string(item, "role", path, required=True)
    if role not in ROLES:
        ctx.fail(join(path, "role"), f"expected one of {', '.join(ROLES)}, got {role!r}")
    content = ctx.required(item, "content", path)
    if isinstance(content, str):
        parts = [Part.text_part(content)] if content else []
        blocks: list[Any] = []
    else:
        blocks = ctx.lst(content, join(path, "content"))
        parts = _blocks(ctx, join(path, "content"), blocks, attachments)
    extra = {k: v for k, v in item.items() if k not in {"role", "content", "model"}}
    only_results = bool(blocks) and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks)
    actual = "tool" if role == "user" and only_results else role
    return Message(
        id="",
        role=actual,  # type: ignore[arg-type]
        author_id=actual,
        parts=parts,
        status="error" if actual == "tool" and any(p.is_error for p in parts) else "complete",
        extra={FORMAT: extra} if extra else {},
    )


def _blocks(ctx: Context, path: str, blocks: list[Any], attachments: dict[str, Attachment]) -> list[Part]:
    parts: list[Part] = []
    for i, raw in enumerate(blocks):
        here = f"{path}[{i}]"
        if isinstance(raw, str):
            # The SDKs accept bare strings in a content list; treat them as text.
            parts.append(Part.text_part(raw))
            continue
        block = ctx.obj(raw, here)
        kind = ctx.string(block, "type", here, required=True) or ""
        if kind == "text":
            text = ctx.string(block, "text", here, required=True) or ""
            rest = {k: v for k, v in block.items() if k not in {"type", "text", "citations"}}
            parts.append(Part(type="text", text=text, format="markdown", extra={FORMAT: rest} if rest else {}))
            for j, citation in enumerate(ctx.lst(block.get("citations") or [], join(here, "citations"))):
                parts.append(_citation(ctx, f"{join(here, 'citations')}[{j}]", citation))
        elif kind == "image":
            parts.append(_image(ctx, here, block))
        elif kind == "document":
            parts.append(_document(ctx, here, block, attachments))
        elif kind in ("tool_use", "server_tool_use"):
            rest = {k: v for k, v in block.items() if k not in {"type", "id", "name", "input"}}
            if kind != "tool_use":
                rest["type"] = kind
            raw_input = block.get("input")
            parts.append(Part(type="tool_call", call_id=ctx.string(block, "id", here),
                              name=ctx.string(block, "name", here, required=True), arguments=raw_input,
                              arguments_raw=raw_input if isinstance(raw_input, str) else None,
                              extra={FORMAT: rest} if rest else {}))
        elif kind == "tool_result" or kind.endswith("_tool_result"):
            parts.append(_tool_result(ctx, here, kind, block))
        elif kind == "thinking":
            rest = {k: v for k, v in block.items() if k not in {"type", "thinking"}}
            parts.append(Part(type="reasoning", text=ctx.string(block, "thinking", here) or "",
                              extra={FORMAT: rest} if rest else {}))
        elif kind == "redacted_thinking":
            rest = {k: v for k, v in block.items() if k != "type"}
            parts.append(Part(type="reasoning", redacted=True, extra={FORMAT: rest} if rest else {}))
        else:
            parts.append(Part(type="unknown", source_type=kind, data=block))
    return parts


def _citation(ctx: Context, path: str, raw: Any) -> Part:
    citation = ctx.obj(raw, path)
    url = citation.get("url") if isinstance(citation.get("url"), str) else None
    title = citation.get("title") if isinstance(citation.get("title"), str) else citation.get("document_title")
    quote = citation.get("cited_text")
    return Part(type="citation", url=url, title=title if isinstance(title, str) else None,
                text=quote if isinstance(quote, str) else None, extra={FORMAT: citation})


def _image(ctx: Context, path: str, block: dict[str, Any]) -> Part:
    source = ctx.obj(ctx.required(block, "source", path), join(path, "source"))
    kind = ctx.string(source, "type", join(path, "source"), required=True)
    media_type = ctx.string(source, "media_type", join(path, "source"))
    rest = {k: v for k, v in block.items() if k not in {"type", "source"}}
    if kind == "base64":
        data = ctx.string(source, "data", join(path, "source"), required=True) or ""
        return Part(type="image", url=data_uri(media_type, data), mime_type=media_type,
                    extra={FORMAT: rest} if rest else {})
    if kind == "url":
        return Part(type="image", url=ctx.string(source, "url", join(path, "source"), required=True),
                    mime_type=media_type, extra={FORMAT: rest} if rest else {})
    rest["source"] = source
    return Part(type="image", mime_type=media_type, extra={FORMAT: rest})


def _document(ctx: Context, path: str, block: dict[str, Any], attachments: dict[str, Attachment]) -> Part:
    source = ctx.obj(ctx.required(block, "source", path), join(path, "source"))
    kind = ctx.string(source, "type", join(path, "source"), required=True)
    attachment_id = f"document-{len(attachments) + 1}"
    media_type = ctx.string(source, "media_type", join(path, "source"))
    title = ctx.string(block, "title", path)
    attachment = Attachment(id=attachment_id, name=title or attachment_id, kind="document", mime_type=media_type)
    rest = {k: v for k, v in block.items() if k not in {"type", "source", "title"}}
    if kind == "text":
        attachment.extracted_text = ctx.string(source, "data", join(path, "source"))
        attachment.mime_type = media_type or "text/plain"
    elif kind == "url":
        attachment.uri = ctx.string(source, "url", join(path, "source"))
    elif kind == "file":
        attachment.uri = ctx.string(source, "file_id", join(path, "source"))
    else:
        # base64 PDFs and content blocks: the bytes stay in extra (never decoded here).
        rest["source"] = source
    if kind in ("text", "url", "file"):
        leftover = {k: v for k, v in source.items() if k not in {"type", "data", "url", "file_id", "media_type"}}
        if leftover:
            rest["source"] = leftover
    attachment.extra = {FORMAT: rest} if rest else {}
    attachments[attachment_id] = attachment
    return Part(type="file_ref", attachment_id=attachment_id)


def _tool_result(ctx: Context, path: str, kind: str, block: dict[str, Any]) -> Part:
    content = block.get("content")
    data: Any = None
    if content is None or isinstance(content, str):
        text = content
    else:
        items = ctx.lst(content, join(path, "content"))
        texts = [b["text"] for b in items if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)]
        text = "\n\n".join(texts)
        data = items
    is_error = block.get("is_error", False)
    if not isinstance(is_error, bool):
        ctx.fail(join(path, "is_error"), "expected true or false")
    rest = {k: v for k, v in block.items() if k not in {"type", "tool_use_id", "content", "is_error"}}
    if kind != "tool_result":
        rest["type"] = kind
    return Part(type="tool_result", call_id=ctx.string(block, "tool_use_id", path), text=text,
                is_error=is_error, data=data, extra={FORMAT: rest} if rest else {})
