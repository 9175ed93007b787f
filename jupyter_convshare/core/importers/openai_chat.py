"""Import OpenAI Chat Completions message lists (FORMATS.md section 6).

Source format: the ``messages`` parameter of ``POST /v1/chat/completions`` (OpenAI API
reference, "Create chat completion"), fine-tuning JSONL records ``{"messages": [...]}``, and
request/response logs ``{"request": {"model", "messages"}, "response": {"id", "created",
"model", "choices": [{"message", "finish_reason"}], "usage"}}``. Accepted containers are
listed in :mod:`._api`.

Mapping per message:

- ``role``: ``system``, ``developer``, ``user``, ``assistant``, ``tool``; legacy ``function``
  becomes ``tool``. Authors: participants ``"user"``, ``"assistant"`` (provider ``"openai"``,
  model from the record), ``"system"`` (also for ``developer``), ``"tool"``.
- ``content``: a string -> a text part; ``null`` -> no part; parts ``text`` -> text,
  ``image_url`` -> image (URL or data URI), ``input_audio`` / ``file`` -> an
  :class:`Attachment` (kind ``audio`` / ``document``, the inline data kept in its ``extra``)
  and a ``file_ref`` part, ``refusal`` -> text; anything else -> an ``unknown`` part.
- ``tool_calls`` / legacy ``function_call`` -> ``tool_call`` parts with ``arguments`` parsed
  from the JSON string (double-encoded JSON too) and ``arguments_raw`` the original string.
- ``tool`` / ``function`` messages -> a ``tool_result`` part (``call_id`` = ``tool_call_id``).
- ``refusal`` -> a text part; other keys (``name``, ``audio``, ...) -> ``extra["openai-chat"]``.
"""

from __future__ import annotations

from typing import Any

from ..model import Attachment, Conversation, Message, Part
from ._api import ChainBuilder, is_message, prefixed, parse_records
from ._common import Context, join, media_type_of_data_uri, parse_arguments

FORMAT = "openai-chat"
PROVIDER = "openai"
ROLES = ("system", "developer", "user", "assistant", "tool", "function")

_MESSAGE_KEYS = {"role", "content", "tool_calls", "function_call", "tool_call_id", "refusal"}

# Keys that only Chat Completions uses, so that detection can tell it from Anthropic.
_OPENAI_ROLES = {"system", "developer", "tool", "function"}
_OPENAI_PART_TYPES = {"image_url", "input_audio", "file", "refusal"}


def evidence(record: Any) -> int:
    """How strongly one record (message list, record or wrapper) looks like Chat Completions.

    ``> 0`` means there is a feature only Chat Completions has (``tool_calls``,
    ``role: tool``/``system`` in the list, ``image_url`` parts, ``choices`` in a response).
    """
    messages, response = _unwrap(record)
    score = 0
    if isinstance(response, dict) and isinstance(response.get("choices"), list):
        score += 2
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        if message.get("role") in _OPENAI_ROLES:
            score += 1
        if "tool_calls" in message or "function_call" in message or "tool_call_id" in message:
            score += 2
        content = message.get("content")
        if isinstance(content, list):
            score += sum(1 for p in content if isinstance(p, dict) and p.get("type") in _OPENAI_PART_TYPES)
    return score


def _unwrap(record: Any) -> tuple[Any, Any]:
    if isinstance(record, list):
        return record, None
    if isinstance(record, dict):
        if isinstance(record.get("request"), dict):
            return record["request"].get("messages"), record.get("response")
        return record.get("messages"), None
    return None, None


def parse(data: Any, *, name: str | None, source: str, jsonl: bool = False) -> list[Conversation]:
    """Turn Chat Completions input into conversations (one per record).

    Args:
        data: a message list, a record, a list of records, or the parsed lines of a JSONL file
            (``jsonl=True``).
        name: file name for the title and ``SourceInfo.file_name``, or ``None``.
        source: name used in error messages.

    Raises:
        ImportFailed: naming the record and field, e.g. ``line 2: messages[1].role: ...``.
    """
    return parse_records(FORMAT, _record, data, name=name, source=source, jsonl=jsonl)


def _record(ctx: Context, prefix: str, record: Any, *, name: str | None, index: int, count: int) -> Conversation:
    at = lambda path: prefixed(prefix, path)  # noqa: E731 - a short path helper
    extra: dict[str, Any] = {}
    response: dict[str, Any] | None = None
    original_id: str | None = None
    if isinstance(record, list):
        messages, model = record, None
        messages_path = ""
    else:
        body = ctx.obj(record, at(""))
        if "request" in body:
            request = ctx.obj(body["request"], at("request"))
            raw_response = body.get("response")
            response = ctx.obj(raw_response, at("response")) if raw_response is not None else None
            extra.update({k: v for k, v in body.items() if k not in {"request", "response"}})
            if {k: v for k, v in request.items() if k not in {"messages", "model"}}:
                extra["request"] = {k: v for k, v in request.items() if k not in {"messages", "model"}}
            messages = ctx.lst(ctx.required(request, "messages", at("request")), at("request.messages"))
            messages_path = "request.messages"
            model = ctx.string(request, "model", at("request"))
            if isinstance(body.get("id"), str):
                original_id = body["id"]
        else:
            messages = ctx.lst(ctx.required(body, "messages", at("")), at("messages"))
            messages_path = "messages"
            model = ctx.string(body, "model", at(""))
            extra.update({k: v for k, v in body.items() if k not in {"messages", "model"}})
            if isinstance(body.get("id"), str):
                original_id = body["id"]

    response_message: dict[str, Any] | None = None
    if response is not None:
        model = ctx.string(response, "model", at("response")) or model
        choices = response.get("choices")
        if choices is not None:
            choices = ctx.lst(choices, at("response.choices"))
            if not choices:
                ctx.fail(at("response.choices"), "empty list: no message")
            first = ctx.obj(choices[0], at("response.choices[0]"))
            response_message = ctx.obj(ctx.required(first, "message", at("response.choices[0]")),
                                       at("response.choices[0].message"))
            response_extra = {k: v for k, v in response.items() if k not in {"choices", "model"}}
            first_extra = {k: v for k, v in first.items() if k != "message"}
            if first_extra:
                response_extra["choice"] = first_extra
            if len(choices) > 1:
                response_extra["other_choices"] = choices[1:]
        elif is_message(response):
            response_message = response
            response_extra = {k: v for k, v in response.items() if k not in _MESSAGE_KEYS and k != "model"}
        else:
            ctx.fail(at("response"), "expected a Chat Completions response with choices")
        if isinstance(response.get("id"), str):
            original_id = response["id"]

    builder = ChainBuilder(format=FORMAT, provider=PROVIDER, model=model)
    attachments: dict[str, Attachment] = {}
    for i, raw in enumerate(messages):
        builder.add(_message(ctx, at(join(messages_path, i)), raw, attachments))
    if response_message is not None:
        message = _message(ctx, at("response.choices[0].message"), response_message, attachments)
        message.model = model
        if response is not None and isinstance(response.get("created"), (int, float)) \
                and not isinstance(response.get("created"), bool):
            message.created_at = ctx.epoch(response, "created", at("response"))
        if response_extra:
            message.extra.setdefault(FORMAT, {})["response"] = response_extra
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
    extra: dict[str, Any] = {k: v for k, v in item.items() if k not in _MESSAGE_KEYS}
    parts: list[Part] = []

    if role in ("tool", "function"):
        text, data = _tool_output(ctx, join(path, "content"), item.get("content"))
        parts.append(Part(type="tool_result", call_id=ctx.string(item, "tool_call_id", path),
                          name=item.get("name") if isinstance(item.get("name"), str) else None,
                          text=text, data=data))
        if role == "function":
            extra["role"] = "function"
    else:
        parts.extend(_content(ctx, join(path, "content"), item.get("content"), attachments))

    refusal = ctx.string(item, "refusal", path)
    if refusal:
        parts.append(Part(type="text", text=refusal, format="plain", extra={FORMAT: {"refusal": True}}))
    if item.get("tool_calls") is not None:
        for i, call in enumerate(ctx.lst(item["tool_calls"], join(path, "tool_calls"))):
            parts.append(_tool_call(ctx, f"{join(path, 'tool_calls')}[{i}]", call))
    if item.get("function_call") is not None:
        parts.append(_function(ctx, join(path, "function_call"), item["function_call"], call_id=None, rest={}))

    author = {"developer": "system", "function": "tool"}.get(role, role)  # type: ignore[arg-type]
    return Message(
        id="",
        role="tool" if role == "function" else role,  # type: ignore[arg-type]
        author_id=author,
        parts=parts,
        extra={FORMAT: extra} if extra else {},
    )


def _content(ctx: Context, path: str, content: Any, attachments: dict[str, Attachment]) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Part.text_part(content)] if content else []
    parts: list[Part] = []
    for i, raw in enumerate(ctx.lst(content, path)):
        here = f"{path}[{i}]"
        part = ctx.obj(raw, here)
        kind = ctx.string(part, "type", here, required=True)
        if kind == "text":
            parts.append(Part.text_part(ctx.string(part, "text", here, required=True) or ""))
        elif kind == "refusal":
            parts.append(Part(type="text", text=ctx.string(part, "refusal", here) or "", format="plain",
                              extra={FORMAT: {"refusal": True}}))
        elif kind == "image_url":
            image = ctx.obj(ctx.required(part, "image_url", here), join(here, "image_url"))
            url = ctx.string(image, "url", join(here, "image_url"), required=True) or ""
            rest = {k: v for k, v in image.items() if k != "url"}
            parts.append(Part(type="image", url=url, mime_type=media_type_of_data_uri(url),
                              extra={FORMAT: rest} if rest else {}))
        elif kind == "input_audio":
            audio = ctx.obj(ctx.required(part, "input_audio", here), join(here, "input_audio"))
            fmt = ctx.string(audio, "format", join(here, "input_audio")) or "wav"
            attachment_id = f"audio-{len(attachments) + 1}"
            attachments[attachment_id] = Attachment(
                id=attachment_id, name=f"{attachment_id}.{fmt}", kind="audio", mime_type=f"audio/{fmt}",
                extra={FORMAT: {"input_audio": audio}},
            )
            parts.append(Part(type="file_ref", attachment_id=attachment_id))
        elif kind == "file":
            file = ctx.obj(ctx.required(part, "file", here), join(here, "file"))
            attachment_id = f"file-{len(attachments) + 1}"
            filename = ctx.string(file, "filename", join(here, "file"))
            file_id = ctx.string(file, "file_id", join(here, "file"))
            file_data = ctx.string(file, "file_data", join(here, "file"))
            attachments[attachment_id] = Attachment(
                id=attachment_id, name=filename or file_id or attachment_id, kind="document",
                mime_type=media_type_of_data_uri(file_data) if file_data else None, uri=file_id,
                extra={FORMAT: {"file": file}},
            )
            parts.append(Part(type="file_ref", attachment_id=attachment_id))
        else:
            parts.append(Part(type="unknown", source_type=kind, data=part))
    return parts


def _tool_output(ctx: Context, path: str, content: Any) -> tuple[str | None, Any]:
    """Tool message content -> (text, structured data or None)."""
    if content is None or isinstance(content, str):
        return content, None
    items = ctx.lst(content, path)
    texts = [p["text"] for p in items if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)]
    return "\n\n".join(texts), items


def _tool_call(ctx: Context, path: str, raw: Any) -> Part:
    call = ctx.obj(raw, path)
    call_id = ctx.string(call, "id", path)
    kind = call.get("type", "function")
    if kind == "function" or "function" in call:
        rest = {k: v for k, v in call.items() if k not in {"id", "function", "type"}}
        if kind != "function":
            rest["type"] = kind
        return _function(ctx, join(path, "function"), ctx.required(call, "function", path), call_id=call_id, rest=rest)
    # Custom tools ({"type": "custom", "custom": {"name", "input"}}) and future kinds.
    body: dict[str, Any] = call[kind] if isinstance(kind, str) and isinstance(call.get(kind), dict) else {}
    raw_input = body.get("input")
    return Part(type="tool_call", call_id=call_id, name=body.get("name") if isinstance(body.get("name"), str) else None,
                arguments=parse_arguments(raw_input), arguments_raw=raw_input if isinstance(raw_input, str) else None,
                extra={FORMAT: {"type": kind, "raw": call}})


def _function(ctx: Context, path: str, raw: Any, *, call_id: str | None, rest: dict[str, Any]) -> Part:
    function = ctx.obj(raw, path)
    name = ctx.string(function, "name", path, required=True)
    arguments = function.get("arguments")
    if arguments is not None and not isinstance(arguments, (str, dict, list)):
        ctx.fail(join(path, "arguments"), f"expected a JSON string, got {type(arguments).__name__}")
    extra = dict(rest)
    extra.update({k: v for k, v in function.items() if k not in {"name", "arguments"}})
    return Part(
        type="tool_call",
        call_id=call_id,
        name=name,
        arguments=parse_arguments(arguments),
        arguments_raw=arguments if isinstance(arguments, str) else None,
        extra={FORMAT: extra} if extra else {},
    )

