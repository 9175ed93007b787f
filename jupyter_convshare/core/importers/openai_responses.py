"""Import OpenAI Responses API items (FORMATS.md section 6).

Source format: the ``input`` parameter and the ``output`` of ``POST /v1/responses`` (OpenAI API
reference, "Responses"): lists of items

- ``{"type": "message", "role": "user" | "assistant" | "system" | "developer", "content": str |
  [{"type": "input_text" | "output_text", "text", "annotations"?} | {"type": "input_image",
  "image_url" | "file_id"} | {"type": "input_file", "file_id" | "file_data" | "file_url", "filename"} |
  {"type": "refusal", "refusal"}]}`` (``type`` may be absent on input messages);
- ``{"type": "reasoning", "id": "rs_…", "summary": [{"type": "summary_text", "text"}], "content"?,
  "encrypted_content"?}``;
- ``{"type": "function_call", "id": "fc_…", "call_id", "name", "arguments": <JSON string>}`` and
  ``{"type": "function_call_output", "call_id", "output": str | content[]}``; the same for
  ``custom_tool_call``, ``local_shell_call``, ``computer_call`` and their ``*_output``;
- built-in tools: ``web_search_call``, ``file_search_call``, ``code_interpreter_call``,
  ``image_generation_call {result: base64}``, ``mcp_call``, ...

Accepted containers: an item list; a request ``{"model", "instructions"?, "input": str | items}``;
a response ``{"object": "response", "id": "resp_…", "created_at" (int s), "model", "output": items}``;
a log record ``{"input": ..., "output": ...}``; a wrapper ``{"request": {...}, "response": {...}}``;
a JSON list of those or JSONL (one conversation per record; records that each name an earlier one's
``id`` in ``previous_response_id`` are one conversation, a fork where two name the same response).

Mapping: ``instructions`` -> a system message; user, system and developer messages -> one message
each; consecutive assistant-side items (assistant messages, reasoning, tool calls) -> one assistant
message whose parts keep their order (like an Anthropic assistant turn); consecutive tool outputs ->
one ``tool`` message of ``tool_result`` parts. Item ids go to the parts' ``extra["openai-responses"]``;
unknown item or content types -> ``unknown`` parts. Messages get ids ``"1"``, ``"2"``, ...; output
messages get the response's ``created_at`` and ``model``.

:func:`convert_items` is also what the Codex CLI importer uses for its ``response_item`` lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Attachment, Conversation, Message, Part, SourceInfo
from ._api import ChainBuilder, prefixed
from ._common import Context, base_name, data_uri, join, parse_arguments, stem

FORMAT = "openai-responses"
NS = FORMAT
PROVIDER = "openai"

MESSAGE_ROLES = ("user", "assistant", "system", "developer")
_CALL_TYPES = {"function_call", "custom_tool_call", "local_shell_call", "computer_call", "web_search_call",
               "file_search_call", "code_interpreter_call", "image_generation_call", "mcp_call",
               "mcp_list_tools", "mcp_approval_request", "shell_call", "apply_patch_call"}
_OUTPUT_TYPES = {"function_call_output", "custom_tool_call_output", "local_shell_call_output",
                 "computer_call_output", "mcp_approval_response", "shell_call_output", "apply_patch_call_output"}
ITEM_TYPES = frozenset({"message", "reasoning", "item_reference"} | _CALL_TYPES | _OUTPUT_TYPES)
"""Item ``type`` values this importer knows (others become ``unknown`` parts)."""
_CONTENT_TYPES = {"input_text", "output_text", "input_image", "input_file", "summary_text", "reasoning_text"}


def is_item(value: Any) -> bool:
    """``True`` for a dict that is unmistakably a Responses item (a known ``type``, or content of
    ``input_text`` / ``output_text`` ... parts)."""
    if not isinstance(value, dict):
        return False
    kind = value.get("type")
    if kind in ITEM_TYPES and kind != "message":
        return True
    content = value.get("content")
    if (kind == "message" or "role" in value) and isinstance(content, list):
        return any(isinstance(p, dict) and p.get("type") in _CONTENT_TYPES for p in content)
    return kind == "message" and "role" in value


def is_record(value: Any) -> bool:
    """``True`` for a request, response, log record or request/response wrapper of the Responses API."""
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("request"), dict) and "input" in value["request"]:
        return True
    if value.get("object") == "response" and isinstance(value.get("output"), list):
        return True
    return "input" in value and (isinstance(value.get("input"), (list, str))
                                 and ("output" in value or "previous_response_id" in value
                                      or "instructions" in value or isinstance(value.get("input"), list)
                                      and any(is_item(i) for i in value["input"])))


def sniff(data: Any) -> bool:
    """``True`` when parsed JSON ``data`` is Responses input: an item list, a record or a list of records."""
    if isinstance(data, list):
        if not data:
            return False
        if all(isinstance(i, dict) for i in data) and any(is_item(i) for i in data) \
                and all(is_item(i) or "role" in i for i in data):
            return True
        return all(is_record(i) for i in data)
    return is_record(data)


def parse(data: Any, *, name: str | None, source: str, jsonl: bool = False) -> list[Conversation]:
    """Turn Responses API input into conversations (one per record).

    Args:
        data: an item list, a record, a list of records, or the parsed lines of a JSONL file.
        name: file name for the title and ``SourceInfo.file_name``, or ``None``.
        source: name used in error messages.

    Raises:
        ImportFailed: naming the record and field, e.g. ``[1].output[2].call_id: expected a string``.
    """
    ctx = Context(source, FORMAT)
    if jsonl:
        records = [(f"line {i + 1}", item) for i, item in enumerate(data)]
    elif isinstance(data, list) and data and all(is_record(i) for i in data):
        records = [(f"[{i}]", item) for i, item in enumerate(data)]
    elif isinstance(data, (list, dict)):
        records = [("", data)]
    else:
        ctx.fail(None, "expected a list of Responses items or a request/response object")
    if not records:
        ctx.fail(None, "empty list: no items")
    conversations = [_record(Context(source, FORMAT), prefix, item, name=name, index=i, count=len(records))
                     for i, (prefix, item) in enumerate(records)]
    ids = [c.source.original_id for c in conversations]
    previous = [_previous_id(item) for _, item in records]
    if len(records) > 1 and all(p is not None and p in ids[:i] for i, p in enumerate(previous) if i > 0):
        return [_chain(conversations, ids, previous, name=name)]
    return conversations


def _previous_id(record: Any) -> str | None:
    """The ``previous_response_id`` of a record (request, response or wrapper), or ``None``."""
    if not isinstance(record, dict):
        return None
    for body in (record, record.get("request"), record.get("response")):
        if isinstance(body, dict) and isinstance(body.get("previous_response_id"), str):
            return body["previous_response_id"]
    return None


def _chain(records: list[Conversation], ids: list[str | None], previous: list[str | None], *,
           name: str | None) -> Conversation:
    """Records linked by ``previous_response_id`` as one tree: each record's messages continue
    below the last message of the response it names (two records naming the same one: a fork)."""
    first = records[0]
    conversation = Conversation(
        id=f"{FORMAT}:{ids[0]}" if ids[0] else first.id,
        title=stem(name),
        source=SourceInfo(format=FORMAT, file_name=base_name(name), original_id=ids[0],
                          warnings=[w for r in records for w in r.source.warnings]),
    )
    last_of: dict[str, str] = {}
    for index, record in enumerate(records):
        parent = last_of.get(previous[index] or "") if index else None
        renamed: dict[str, str] = {}
        for key, attachment in record.attachments.items():
            renamed[key] = attachment.id = f"{index + 1}:{key}"
            conversation.attachments[attachment.id] = attachment
        for message in record.active_path():
            message.id = str(len(conversation.messages) + 1)
            message.parent_id = parent
            message.children_ids = []
            for part in message.parts:
                if part.attachment_id in renamed:
                    part.attachment_id = renamed[part.attachment_id]
            conversation.add_message(message)
            parent = message.id
        for pid, participant in record.participants.items():
            conversation.participants.setdefault(pid, participant)
        if record.extra:
            conversation.extra.setdefault(FORMAT, {}).setdefault("records", []).append(record.extra.get(FORMAT, {}))
        record_id = ids[index]
        if record_id and parent is not None:
            last_of[record_id] = parent
        conversation.active_leaf_id = parent or conversation.active_leaf_id
    times = [m.created_at for m in conversation.messages.values() if m.created_at is not None]
    conversation.created_at = min(times) if times else None
    conversation.updated_at = max(times) if times else None
    return conversation


def _record(ctx: Context, prefix: str, record: Any, *, name: str | None, index: int, count: int) -> Conversation:
    at = lambda path: prefixed(prefix, path)  # noqa: E731 - a short path helper
    extra: dict[str, Any] = {}
    instructions: Any = None
    model: str | None = None
    original_id: str | None = None
    created = None
    inputs: list[tuple[str, Any]] = []
    outputs: list[tuple[str, Any]] = []
    if isinstance(record, list):
        inputs = [(at(f"[{i}]"), item) for i, item in enumerate(record)]
    else:
        body = ctx.obj(record, at(""))
        request_path = response_path = ""
        if isinstance(body.get("request"), dict):
            request: dict[str, Any] = body["request"]
            request_path, response_path = "request", "response"
            response = ctx.obj(body["response"], at("response")) if body.get("response") is not None else None
            extra.update({k: v for k, v in body.items() if k not in {"request", "response"}})
        elif body.get("object") == "response":
            request, response = {}, body
        else:
            # A request, or a log record holding the input and the output side by side.
            request, response = body, body if "output" in body else None
        skip = {"input", "output", "instructions", "model"}
        extra.update({k: v for k, v in request.items() if k not in skip})
        if response is not None and response is not request:
            if response is body:
                extra.update({k: v for k, v in body.items() if k not in skip})
            else:
                extra["response"] = {k: v for k, v in response.items() if k not in skip}
        instructions = request.get("instructions")
        model = ctx.string(request, "model", at(request_path))
        raw_input = request.get("input")
        if isinstance(raw_input, str):
            inputs = [(at(join(request_path, "input")), {"type": "message", "role": "user", "content": raw_input})]
        elif raw_input is not None:
            inputs = [(at(f"{join(request_path, 'input')}[{i}]"), item)
                      for i, item in enumerate(ctx.lst(raw_input, at(join(request_path, "input"))))]
        if response is not None:
            if instructions is None:
                instructions = response.get("instructions")
            model = ctx.string(response, "model", at(response_path)) or model
            if isinstance(response.get("id"), str):
                original_id = response["id"]
            if response.get("created_at") is not None:
                created = ctx.epoch(response, "created_at", at(response_path))
            outputs = [(at(f"{join(response_path, 'output')}[{i}]"), item) for i, item in
                       enumerate(ctx.lst(ctx.required(response, "output", at(response_path)),
                                         at(join(response_path, "output"))))]

    builder = ChainBuilder(format=FORMAT, provider=PROVIDER, model=model)
    attachments: dict[str, Attachment] = {}
    if isinstance(instructions, str) and instructions:
        builder.add(Message(id="", role="system", author_id="system", parts=[Part.text_part(instructions)]))
    elif instructions is not None and not isinstance(instructions, str):
        # Reusable prompts send instructions as an item list.
        for _, message in convert_items(ctx, [(at("instructions"), i) for i in ctx.lst(instructions, at("instructions"))],
                                        attachments):
            builder.add(message)
    for _, message in convert_items(ctx, inputs, attachments):
        builder.add(message)
    for _, message in convert_items(ctx, outputs, attachments):
        message.created_at = created
        if message.role == "assistant":
            message.model = model
        builder.add(message)
    conversation = builder.build(ctx, name=name, index=index, count=count, original_id=original_id,
                                 extra=extra, messages_path=at("input") or "input")
    conversation.attachments = attachments
    conversation.created_at = created
    return conversation


# -- items -> messages ------------------------------------------------------------------


@dataclass
class _Group:
    first: int
    message: Message


def convert_items(ctx: Context, items: list[tuple[str, Any]],
                  attachments: dict[str, Attachment]) -> list[tuple[int, Message]]:
    """Responses items as messages (ids left empty for the caller).

    Args:
        ctx: the caller's context (errors name its file and format).
        items: ``(json path, item)`` pairs in order.
        attachments: receives ``input_file`` attachments.

    Returns:
        ``(index of the message's first item in items, message)`` pairs, in order: the caller
        takes times and ids from that item.

    Raises:
        ImportFailed: an item is not an object, or a field has the wrong type.
    """
    groups: list[_Group] = []
    for index, (path, raw) in enumerate(items):
        item = ctx.obj(raw, path)
        kind = item.get("type", "message" if "role" in item else None)
        if not isinstance(kind, str):
            ctx.fail(join(path, "type"), "missing item type")
        if kind == "message":
            role = ctx.string(item, "role", path, required=True)
            if role not in MESSAGE_ROLES:
                ctx.fail(join(path, "role"), f"expected one of {', '.join(MESSAGE_ROLES)}, got {role!r}")
            parts = _content(ctx, join(path, "content"), ctx.required(item, "content", path), attachments)
            rest = {k: v for k, v in item.items() if k not in {"type", "role", "content"}}
            if role == "assistant":
                for part in parts:
                    if rest:
                        part.extra.setdefault(NS, {}).update(rest)
                group = _assistant(groups, index)
                group.message.parts.extend(parts)
                if item.get("status") == "incomplete":
                    group.message.status = "incomplete"
            else:
                author = "system" if role in ("system", "developer") else "user"
                groups.append(_Group(index, Message(id="", role=role, author_id=author, parts=parts,  # type: ignore[arg-type]
                                                    status="incomplete" if item.get("status") == "incomplete"
                                                    else "complete",
                                                    extra={NS: rest} if rest else {})))
        elif kind in _OUTPUT_TYPES:
            if not groups or groups[-1].message.role != "tool":
                groups.append(_Group(index, Message(id="", role="tool", author_id="tool")))
            groups[-1].message.parts.append(_output(ctx, path, kind, item))
        else:
            _assistant(groups, index).message.parts.append(_assistant_item(ctx, path, kind, item))
    for group in groups:
        if group.message.role == "tool" and any(p.is_error for p in group.message.parts):
            group.message.status = "error"
    return [(g.first, g.message) for g in groups]


def _assistant(groups: list[_Group], index: int) -> _Group:
    if not groups or groups[-1].message.role != "assistant":
        groups.append(_Group(index, Message(id="", role="assistant", author_id="assistant")))
    return groups[-1]


def _content(ctx: Context, path: str, content: Any, attachments: dict[str, Attachment]) -> list[Part]:
    if isinstance(content, str):
        return [Part.text_part(content)] if content else []
    parts: list[Part] = []
    for i, raw in enumerate(ctx.lst(content, path)):
        here = f"{path}[{i}]"
        block = ctx.obj(raw, here)
        kind = ctx.string(block, "type", here, required=True)
        if kind in ("input_text", "output_text", "text"):
            text = ctx.string(block, "text", here, required=True) or ""
            rest = {k: v for k, v in block.items() if k not in {"type", "text", "annotations"}}
            if kind != "output_text" and kind != "input_text":
                rest["type"] = kind
            parts.append(Part(type="text", text=text, format="markdown", extra={NS: rest} if rest else {}))
            for j, note in enumerate(ctx.lst(block.get("annotations") or [], join(here, "annotations"))):
                note = ctx.obj(note, f"{join(here, 'annotations')}[{j}]")
                parts.append(Part(type="citation", url=note.get("url") if isinstance(note.get("url"), str) else None,
                                  title=note.get("title") if isinstance(note.get("title"), str) else None,
                                  extra={NS: note}))
        elif kind == "refusal":
            parts.append(Part(type="text", text=ctx.string(block, "refusal", here) or "", format="plain",
                              extra={NS: {"type": "refusal"}}))
        elif kind == "input_image":
            url = ctx.string(block, "image_url", here)
            rest = {k: v for k, v in block.items() if k not in {"type", "image_url"}}
            parts.append(Part(type="image", url=url, extra={NS: rest} if rest else {}))
        elif kind == "input_file":
            attachment_id = f"file-{len(attachments) + 1}"
            filename = ctx.string(block, "filename", here)
            file_id = ctx.string(block, "file_id", here)
            url = ctx.string(block, "file_url", here)
            rest = {k: v for k, v in block.items() if k not in {"type", "filename", "file_id", "file_url"}}
            attachments[attachment_id] = Attachment(id=attachment_id, name=filename or file_id or attachment_id,
                                                    kind="document", uri=file_id or url,
                                                    extra={NS: rest} if rest else {})
            parts.append(Part(type="file_ref", attachment_id=attachment_id))
        else:
            parts.append(Part(type="unknown", source_type=kind, data=block))
    return parts


def _assistant_item(ctx: Context, path: str, kind: str, item: dict[str, Any]) -> Part:
    if kind == "reasoning":
        summaries = [s["text"] for s in ctx.lst(item.get("summary") or [], join(path, "summary"))
                     if isinstance(s, dict) and isinstance(s.get("text"), str)]
        texts = [c["text"] for c in ctx.lst(item.get("content") or [], join(path, "content"))
                 if isinstance(c, dict) and isinstance(c.get("text"), str)]
        rest = {k: v for k, v in item.items() if k not in {"type", "summary", "content"}}
        return Part(type="reasoning", text="\n\n".join(texts) or None, summary="\n\n".join(summaries) or None,
                    redacted=not texts and not summaries and "encrypted_content" in item,
                    extra={NS: rest} if rest else {})
    if kind in ("function_call", "custom_tool_call"):
        key = "arguments" if kind == "function_call" else "input"
        raw = item.get(key)
        rest = {k: v for k, v in item.items() if k not in {"type", "call_id", "name", key, "status"}}
        if kind != "function_call":
            rest["type"] = kind
        return Part(type="tool_call", call_id=ctx.string(item, "call_id", path),
                    name=ctx.string(item, "name", path, required=True), arguments=parse_arguments(raw),
                    arguments_raw=raw if isinstance(raw, str) else None, status=ctx.string(item, "status", path),
                    extra={NS: rest} if rest else {})
    if kind == "image_generation_call" and isinstance(item.get("result"), str):
        rest = {k: v for k, v in item.items() if k not in {"type", "result"}}
        return Part(type="image", url=data_uri("image/png", item["result"]), mime_type="image/png",
                    extra={NS: {"type": kind, **rest}})
    if kind in _CALL_TYPES:
        arguments = item.get("action", item.get("arguments", item.get("code", item.get("queries"))))
        rest = {k: v for k, v in item.items() if k not in {"type", "call_id", "status"}}
        return Part(type="tool_call", call_id=ctx.string(item, "call_id", path) or ctx.string(item, "id", path),
                    name=kind.removesuffix("_call"), arguments=arguments,
                    status=ctx.string(item, "status", path), extra={NS: {"type": kind, **rest}})
    return Part(type="unknown", source_type=kind, data=item)


def _output(ctx: Context, path: str, kind: str, item: dict[str, Any]) -> Part:
    output = item.get("output")
    data: Any = None
    if output is None or isinstance(output, str):
        text = output
    elif isinstance(output, list):
        text = "\n\n".join(b["text"] for b in output if isinstance(b, dict) and isinstance(b.get("text"), str))
        data = output
    else:
        text, data = None, output
    rest = {k: v for k, v in item.items() if k not in {"type", "call_id", "output"}}
    if kind != "function_call_output":
        rest["type"] = kind
    return Part(type="tool_result", call_id=ctx.string(item, "call_id", path), text=text, data=data,
                is_error=item.get("status") == "failed", extra={NS: rest} if rest else {})
