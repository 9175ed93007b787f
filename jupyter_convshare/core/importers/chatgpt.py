"""Import ChatGPT data exports (FORMATS.md section 3).

Source format: ``conversations.json`` of the ZIP that ChatGPT's Settings -> Data controls
-> Export sends (a JSON array of conversations; some tools wrap it as
``{"conversations": [...]}``), or one conversation object as the backend API and browser
exporters give it. Each conversation is a tree::

    {"id", "conversation_id"?, "title", "create_time", "update_time", "current_node",
     "default_model_slug"?, "mapping": {node id: {"id", "message": Message | null,
     "parent": node id | null, "children": [node id, ...]}}, ...}

Mapping (one :class:`Conversation` per conversation object):

- nodes with a message become messages whose id is the **mapping key** (``message.id``,
  which can differ, is kept in ``extra["chatgpt"]["message_id"]``); nodes without one
  (``client-created-root``, ``aaa1…``) are dropped and their children re-attached to the
  nearest ancestor with a message; their ids are listed in the conversation's
  ``extra["chatgpt"]["empty_nodes"]``. Every branch (edits and regenerations are
  siblings) is kept, siblings in their ``children`` order.
- the active leaf is ``current_node``; without one it is the leaf with the latest
  ``create_time`` (ties: the last) and ``active_leaf_inferred`` is set.
- times are float epoch seconds -> UTC, ``null`` stays ``None`` (never invented).
- ``author.role`` -> role; author ids ``"user"``, ``"assistant"`` (display "ChatGPT",
  provider ``"openai"``, model ``default_model_slug``), ``"system"``, ``"tool:<name>"``;
  ``metadata.model_slug`` -> ``Message.model`` (on non-user messages).
- content: ``text`` / ``multimodal_text`` strings -> text parts; ``image_asset_pointer``
  (``file-service://file-…``, ``sediment://file_…``) -> an image :class:`Attachment` with
  ``available=False`` (the bytes are separate files of the ZIP, never fetched) and an
  ``image`` part; ``audio_asset_pointer`` -> an audio attachment and a ``file_ref`` part;
  a voice-mode ``real_time_user_audio_video_asset_pointer`` -> references to its nested
  audio, video and frame pointers; ``metadata.attachments`` -> attachments and ``file_ref`` parts; ``code`` -> a code part;
  an assistant message addressed to a tool (``recipient != "all"``: Code Interpreter,
  browsing, plugins) -> a ``tool_call`` part (``call_id`` = its node id); tool answers
  (``execution_output``, ``tether_browsing_display``, ``system_error``, plugin text) ->
  ``tool_result`` parts whose ``call_id`` is the calling node; ``tether_quote`` ->
  ``citation``; ``thoughts`` / ``reasoning_recap`` -> ``reasoning``;
  ``user_editable_context`` / ``model_editable_context`` -> text parts (one per field);
  private-use citation markers (``\\ue200cite\\ue202turn0search1\\ue201``) are removed from
  text parts (the source string is kept in the part's ``extra``);
  anything else -> an ``unknown`` part holding the raw content.
- ``hidden`` (kept, flagged; viewers skip it) when the source UI hides the message:
  ``is_visually_hidden_from_conversation``; ``weight == 0``; system messages unless
  ``is_user_system_message``; tool invocations (``recipient != "all"``); tool messages
  except generated images; ``channel == "commentary"`` (again except generated images);
  ``thoughts``, ``reasoning_recap``, ``tether_browsing_display``, custom instructions;
  messages with nothing to show (``parts: [""]``).
- leftovers go to ``extra["chatgpt"]`` (conversation: unmapped top-level fields; message:
  ``recipient``, ``channel``, ``status``, ``weight``, ``end_turn``, the remaining
  ``metadata``).

Errors are :class:`~jupyter_convshare.core.errors.ImportFailed` naming the file, the format
and the place, e.g. ``conversations.json: chatgpt format:
conversations[3].mapping["abc"].parent: no such node 'zz'``. A parent or child that does
not exist, a cycle, a missing ``mapping``, wrong types: the whole file is refused.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ImportFailed
from ..model import Attachment, Conversation, Message, Part, Participant, SourceInfo, new_id
from ._common import OBJECT_NAME, Context, base_name, json_type_name, parse_arguments

FORMAT = "chatgpt"
NS = FORMAT
"""Namespace of leftovers in ``extra``."""

PROVIDER = "openai"

_ROLES = ("system", "user", "assistant", "tool", "developer")
_KIND = {"system": "system", "user": "human", "assistant": "assistant", "tool": "tool", "developer": "system"}
_DISPLAY = {"system": "System", "user": "User", "assistant": "ChatGPT", "developer": "Developer"}
_STATUS = {
    "finished_successfully": "complete",
    "in_progress": "incomplete",
    "finished_partial_completion": "incomplete",
    "finished_with_error": "error",
}
_HIDDEN_CONTENT = {"thoughts", "reasoning_recap", "tether_browsing_display", "user_editable_context",
                   "model_editable_context"}
_CONVERSATION_MAPPED = {"id", "conversation_id", "title", "create_time", "update_time", "current_node",
                        "mapping", "default_model_slug"}
_MESSAGE_MAPPED = {"id", "author", "create_time", "update_time", "content", "metadata"}
_METADATA_MAPPED = {"attachments", "model_slug"}
_POINTER_PREFIXES = ("file-service://", "sediment://")
_CITE_MARKER = re.compile("\ue200[^\ue200\ue201]*\ue201")
"""A 2025 citation marker such as ``\\ue200cite\\ue202turn2view0\\ue201`` (FORMATS.md section 3)."""


def matches(data: Any) -> bool:
    """``True`` when ``data`` looks like a ChatGPT export: a conversation object, a list of
    them, or ``{"conversations": [...]}``; for a list only the first element is looked at
    (cheap, and callers streaming an array pass that first element).

    A conversation is an object with a ``mapping`` object and one of ``current_node``,
    ``title``, ``create_time`` or ``conversation_id``.
    """
    if isinstance(data, dict) and isinstance(data.get("conversations"), list) and "mapping" not in data:
        data = data["conversations"]
    if isinstance(data, list):
        data = data[0] if data else None
    return (
        isinstance(data, dict)
        and isinstance(data.get("mapping"), dict)
        and any(key in data for key in ("current_node", "title", "create_time", "conversation_id"))
    )


def parse(data: Any, *, name: str | None, source: str) -> list[Conversation]:
    """Turn a parsed ChatGPT export into conversations (the registry's entry point).

    Args:
        data: the parsed JSON: a list of conversation objects, ``{"conversations": [...]}``
            or a single conversation object.
        name: the file name (base name kept in ``SourceInfo.file_name``), or ``None``.
        source: the name used in error messages.

    Returns:
        One conversation per conversation object, in input order.

    Raises:
        ImportFailed: naming the file, the format and the place (``conversations[3]...``).
    """
    prefix = "conversations"
    if isinstance(data, dict) and "mapping" not in data and "conversations" in data:
        data = data["conversations"]
    if isinstance(data, dict):
        return [convert(data, name=name, where="", source=source)]
    if not isinstance(data, list):
        raise ImportFailed(f"expected a list of conversations or one conversation, got {json_type_name(data)}",
                           source=source, format=FORMAT)
    if not data:
        raise ImportFailed("the export holds no conversations", source=source, format=FORMAT)
    return [convert(item, name=name, where=f"{prefix}[{i}]", source=source) for i, item in enumerate(data)]


def convert(item: Any, *, name: str | None, where: str, source: str | None = None) -> Conversation:
    """Convert ONE conversation object of an export (pure: reads nothing else).

    Args:
        item: the parsed conversation object.
        name: the file name (kept as ``SourceInfo.file_name``; also the name in error
            messages unless ``source`` is given), or ``None``.
        where: the place of ``item`` in the file for error messages (``"conversations[12]"``;
            ``""`` for a file holding one conversation).
        source: the name used in error messages (default: ``name`` or ``"<object>"``).

    Returns:
        The conversation (possibly without messages when its mapping holds none).

    Raises:
        ImportFailed: the object is malformed; never another exception.
    """
    ctx = Context(source or base_name(name) or OBJECT_NAME, FORMAT)
    try:
        return _Converter(ctx, where, name).run(item)
    except ImportFailed:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        # A safety net: malformed input must be a clear 400, never a traceback.
        ctx.fail(where or None, f"malformed conversation ({type(exc).__name__}: {exc})")


def _key(key: str) -> str:
    return f"[{json.dumps(key, ensure_ascii=False)}]"


def _at(where: str, path: str) -> str:
    if not where:
        return path
    return f"{where}{path}" if path.startswith("[") else f"{where}.{path}"


def pointer_file_id(pointer: str) -> str:
    """The file id of an asset pointer: ``"file-service://file-ABC"`` -> ``"file-ABC"``,
    ``"sediment://file_00"`` -> ``"file_00"``; other strings are returned unchanged."""
    for prefix in _POINTER_PREFIXES:
        if pointer.startswith(prefix):
            return pointer[len(prefix):] or pointer
    return pointer


class _Converter:
    """State of one conversation's conversion (one instance per :func:`convert`)."""

    def __init__(self, ctx: Context, where: str, name: str | None) -> None:
        self.ctx = ctx
        self.where = where
        self.name = name
        self.attachments: dict[str, Attachment] = {}
        self.participants: dict[str, Participant] = {}

    def path(self, path: str) -> str:
        return _at(self.where, path)

    def fail(self, path: str, message: str) -> None:
        self.ctx.fail(self.path(path) or None, message)

    # -- the conversation -----------------------------------------------------------------

    def run(self, item: Any) -> Conversation:
        ctx = self.ctx
        conv = ctx.obj(item, self.where or "conversation")
        mapping = ctx.obj(ctx.required(conv, "mapping", self.where), self.path("mapping"))
        original_id = self._id(conv)
        title = ctx.string(conv, "title", self.where)
        default_model = ctx.string(conv, "default_model_slug", self.where)
        current = conv.get("current_node")
        if current is not None and not isinstance(current, str):
            self.fail("current_node", f"expected a string, got {json_type_name(current)}")

        nodes = self._nodes(mapping)
        parent_of, children_of, roots = self._links(mapping, nodes)
        order = self._tree_order(mapping, parent_of, children_of, roots)

        self.participants["assistant"] = Participant(
            id="assistant", kind="assistant", display_name="ChatGPT", provider=PROVIDER, model=default_model
        )
        conversation = Conversation(
            id=f"{FORMAT}:{original_id}" if original_id else f"{FORMAT}:{new_id()}",
            title=title,
            created_at=ctx.epoch(conv, "create_time", self.where),
            updated_at=ctx.epoch(conv, "update_time", self.where),
            participants=self.participants,
            attachments=self.attachments,
            source=SourceInfo(format=FORMAT, file_name=base_name(self.name), original_id=original_id,
                              warnings=ctx.warnings),
        )
        # Message-bearing ancestor of every node (empty nodes are transparent).
        shown_parent: dict[str, str | None] = {}
        empty: list[str] = []
        for key in order:
            parent = parent_of[key]
            anchor = parent if parent is None or nodes[parent] is not None else shown_parent[parent]
            raw_message = nodes[key]
            if raw_message is None:
                empty.append(key)
                shown_parent[key] = anchor
                continue
            shown_parent[key] = key
            message = self._message(key, raw_message, anchor, conversation)
            conversation.add_message(message)

        conversation.active_leaf_id, conversation.active_leaf_inferred = self._active(
            current, mapping, nodes, shown_parent, conversation
        )
        extra = {k: v for k, v in conv.items() if k not in _CONVERSATION_MAPPED}
        if conv.get("conversation_id") not in (None, original_id):
            extra["conversation_id"] = conv["conversation_id"]
        if empty:
            extra["empty_nodes"] = empty
        if extra:
            conversation.extra[NS] = extra
        return conversation

    def _id(self, conv: dict[str, Any]) -> str | None:
        for key in ("conversation_id", "id"):
            value = conv.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or not value:
                self.fail(key, f"expected a non-empty string, got {json_type_name(value)}")
            return value
        return None

    def _nodes(self, mapping: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
        """``{node key: message object or None}``, every node checked to be an object."""
        nodes: dict[str, dict[str, Any] | None] = {}
        for key, node in mapping.items():
            path = self.path(f"mapping{_key(key)}")
            node = self.ctx.obj(node, path)
            message = node.get("message")
            if message is not None:
                message = self.ctx.obj(message, f"{path}.message")
            nodes[key] = message
        return nodes

    def _links(
        self, mapping: dict[str, Any], nodes: dict[str, Any]
    ) -> tuple[dict[str, str | None], dict[str, list[str]], list[str]]:
        """Parent of every node, children in source order, and the roots.

        ``parent`` is authoritative; a node without one (anonymised files omit it on the
        root) takes the node that lists it in ``children``. Children listed by a node but
        pointing elsewhere follow their own ``parent``.
        """
        listed_by: dict[str, str] = {}
        listed: dict[str, list[str]] = {}
        for key, node in mapping.items():
            path = f"mapping{_key(key)}.children"
            children = node.get("children")
            if children is None:
                listed[key] = []
                continue
            if not isinstance(children, list):
                self.fail(path, f"expected a list, got {json_type_name(children)}")
            for i, child in enumerate(children):
                if not isinstance(child, str):
                    self.fail(f"{path}[{i}]", f"expected a string, got {json_type_name(child)}")
                if child not in mapping:
                    self.fail(f"{path}[{i}]", f"no such node {child!r}")
                listed_by.setdefault(child, key)
            listed[key] = list(children)
        parent_of: dict[str, str | None] = {}
        for key, node in mapping.items():
            parent = node.get("parent")
            if parent is None:
                parent = listed_by.get(key)
            elif not isinstance(parent, str):
                self.fail(f"mapping{_key(key)}.parent", f"expected a string, got {json_type_name(parent)}")
            elif parent not in mapping:
                self.fail(f"mapping{_key(key)}.parent", f"no such node {parent!r}")
            if parent == key:
                self.fail(f"mapping{_key(key)}.parent", "a node cannot be its own parent (cycle)")
            parent_of[key] = parent
        children_of: dict[str, list[str]] = {key: [] for key in mapping}
        roots: list[str] = []
        for key in mapping:
            # Sibling order: as the parent lists them, then unlisted children in mapping order.
            for child in listed[key]:
                if parent_of.get(child) == key and child not in children_of[key]:
                    children_of[key].append(child)
        for key in mapping:
            parent = parent_of[key]
            if parent is None:
                roots.append(key)
            elif key not in children_of[parent]:
                children_of[parent].append(key)
        return parent_of, children_of, roots

    def _tree_order(
        self, mapping: dict[str, Any], parent_of: dict[str, str | None], children_of: dict[str, list[str]],
        roots: list[str],
    ) -> list[str]:
        """Every node, parents before children (depth first, siblings in order); a node
        not reachable from a root is on a cycle: ImportFailed naming it."""
        order: list[str] = []
        stack = list(reversed(roots))
        while stack:
            key = stack.pop()
            order.append(key)
            stack.extend(reversed(children_of[key]))
        if len(order) != len(mapping):
            reached = set(order)
            start = next(key for key in mapping if key not in reached)
            seen: set[str] = set()
            current: str | None = start
            while current is not None and current not in seen:
                seen.add(current)
                current = parent_of[current]
            self.fail(f"mapping{_key(current or start)}.parent", "cycle in the parent links")
        return order

    def _active(
        self, current: str | None, mapping: dict[str, Any], nodes: dict[str, Any],
        shown_parent: dict[str, str | None], conversation: Conversation,
    ) -> tuple[str | None, bool]:
        if current is not None:
            if current not in mapping:
                self.fail("current_node", f"no such node {current!r}")
            return shown_parent[current], False
        if not conversation.messages:
            return None, False
        self.ctx.warn(self.path("current_node"), "missing: the active branch is the latest leaf")
        order = {mid: i for i, mid in enumerate(conversation.messages)}

        def recency(message: Message) -> tuple[float, int]:
            created = message.created_at
            return (created.timestamp() if created is not None else float("-inf"), order[message.id])

        return max(conversation.leaves(), key=recency).id, True

    # -- one message ----------------------------------------------------------------------

    def _message(self, key: str, raw: dict[str, Any], parent: str | None, conversation: Conversation) -> Message:
        ctx = self.ctx
        path = self.path(f"mapping{_key(key)}.message")
        author = ctx.obj(ctx.required(raw, "author", path), f"{path}.author")
        role = ctx.string(author, "role", f"{path}.author", required=True)
        if role not in _ROLES:
            self.fail(f"mapping{_key(key)}.message.author.role", f"expected one of {', '.join(_ROLES)}, got {role!r}")
        assert role is not None
        author_name = ctx.string(author, "name", f"{path}.author")
        content = ctx.obj(ctx.required(raw, "content", path), f"{path}.content")
        content_type = ctx.string(content, "content_type", f"{path}.content", required=True)
        assert content_type is not None
        metadata = ctx.obj(raw.get("metadata") or {}, f"{path}.metadata")
        recipient = ctx.string(raw, "recipient", path) or "all"
        channel = ctx.string(raw, "channel", path)
        status = ctx.string(raw, "status", path)
        weight = raw.get("weight")
        if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))):
            self.fail(f"mapping{_key(key)}.message.weight", f"expected a number, got {json_type_name(weight)}")
        model = ctx.string(metadata, "model_slug", f"{path}.metadata")

        author_id = self._participant(role, author_name)
        parts = self._content(path, content_type, content, role)
        if role == "tool":
            parts.extend(self._output_images(path, metadata))
        parts.extend(self._metadata_attachments(path, metadata, parts))

        calling = conversation.messages.get(parent) if parent else None
        if role == "assistant" and recipient != "all":
            parts = [self._tool_call(key, recipient, content_type, content, parts)]
        elif role == "tool":
            call_id = calling.id if calling is not None and _recipient(calling) not in (None, "all") else None
            parts = self._tool_answer(content_type, content, parts, call_id, author_name)

        shows_image = role == "tool" and any(p.type == "image" for p in parts)
        hidden = (
            bool(metadata.get("is_visually_hidden_from_conversation"))
            or weight == 0
            or (role == "system" and not metadata.get("is_user_system_message"))
            or (role == "assistant" and recipient != "all")
            or (role == "tool" and not shows_image)
            or (channel == "commentary" and not shows_image)
            or content_type in _HIDDEN_CONTENT
            or not parts
        )
        extra: dict[str, Any] = {k: v for k, v in raw.items() if k not in _MESSAGE_MAPPED}
        for key_, default in (("recipient", "all"), ("channel", None), ("status", None), ("weight", 1.0),
                              ("end_turn", None)):
            if extra.get(key_, default) == default:
                extra.pop(key_, None)
        if raw.get("id") not in (None, key):
            extra["message_id"] = raw.get("id")
        if author_name is not None:
            extra["author_name"] = author_name
        if author.get("metadata"):
            extra["author_metadata"] = author["metadata"]
        rest = {k: v for k, v in metadata.items() if k not in _METADATA_MAPPED or (k == "model_slug" and role == "user")}
        if rest:
            extra["metadata"] = rest
        if content_type not in ("text", "multimodal_text"):
            extra["content_type"] = content_type
        return Message(
            id=key,
            role=role,  # type: ignore[arg-type]
            author_id=author_id,
            parts=parts,
            parent_id=parent,
            created_at=ctx.epoch(raw, "create_time", path),
            updated_at=ctx.epoch(raw, "update_time", path),
            model=model if role != "user" else None,
            status=_STATUS.get(status or "", "complete"),  # type: ignore[arg-type]
            hidden=hidden,
            extra={NS: extra} if extra else {},
        )

    def _participant(self, role: str, name: str | None) -> str:
        if role == "tool":
            pid = f"tool:{name}" if name else "tool"
            display = name or "Tool"
        else:
            pid, display = role, _DISPLAY[role]
        if pid not in self.participants:
            self.participants[pid] = Participant(
                id=pid, kind=_KIND[role], display_name=display,  # type: ignore[arg-type]
                provider=PROVIDER if role in ("assistant", "tool") else None,
            )
        return pid

    # -- content --------------------------------------------------------------------------

    def _content(self, path: str, content_type: str, content: dict[str, Any], role: str) -> list[Part]:
        ctx = self.ctx
        cpath = f"{path}.content"
        if content_type in ("text", "multimodal_text"):
            return self._parts(cpath, content)
        if content_type == "code":
            text = ctx.string(content, "text", cpath) or ""
            language = ctx.string(content, "language", cpath)
            return [Part(type="code", text=text, language=None if language == "unknown" else language)] if text else []
        if content_type == "execution_output":
            return [Part.text_part(ctx.string(content, "text", cpath) or "", format="plain")]
        if content_type in ("thoughts", "reasoning_recap"):
            return self._reasoning(cpath, content_type, content)
        if content_type in ("user_editable_context", "model_editable_context"):
            fields = [(k, v) for k, v in content.items() if k != "content_type" and isinstance(v, str) and v]
            return [Part(type="text", text=v, format="plain", extra={NS: {"field": k}}) for k, v in fields]
        if content_type == "tether_quote":
            return [Part(type="citation", url=ctx.string(content, "url", cpath), title=ctx.string(content, "title", cpath),
                         text=ctx.string(content, "text", cpath),
                         extra={NS: {"domain": content["domain"]}} if content.get("domain") else {})]
        if content_type == "tether_browsing_display":
            result = ctx.string(content, "result", cpath)
            return [Part.text_part(result, format="plain")] if result else []
        if content_type == "system_error":
            return [Part.text_part(ctx.string(content, "text", cpath) or "", format="plain")]
        return [Part(type="unknown", source_type=content_type, data=content)]

    def _parts(self, cpath: str, content: dict[str, Any]) -> list[Part]:
        ctx = self.ctx
        raw_parts = content.get("parts")
        if raw_parts is None:
            text = content.get("text")
            return [Part.text_part(text)] if isinstance(text, str) and text else []
        parts: list[Part] = []
        for i, item in enumerate(ctx.lst(raw_parts, f"{cpath}.parts")):
            ipath = f"{cpath}.parts[{i}]"
            if isinstance(item, str):
                shown = _CITE_MARKER.sub("", item) if "\ue200" in item else item
                if shown.strip():
                    part = Part.text_part(shown)
                    if shown != item:
                        # Private-use citation markers (U+E200 ... U+E201) render as garbage;
                        # the source text stays in extra for exports that resolve them.
                        part.extra = {NS: {"text_with_markers": item}}
                    parts.append(part)
                continue
            item = ctx.obj(item, ipath)
            kind = item.get("content_type")
            if kind == "image_asset_pointer":
                parts.append(self._asset(ipath, item, "image"))
            elif kind == "audio_asset_pointer":
                parts.append(self._asset(ipath, item, "audio"))
            elif kind == "real_time_user_audio_video_asset_pointer":
                parts.extend(self._voice(ipath, item))
            elif kind == "audio_transcription" and isinstance(item.get("text"), str):
                rest = {k: v for k, v in item.items() if k not in ("text",)}
                parts.append(Part(type="text", text=item["text"], format="plain", extra={NS: rest}))
            elif isinstance(item.get("text"), str) and set(item) <= {"text", "content_type", "type"}:
                parts.append(Part.text_part(item["text"]))
            else:
                parts.append(Part(type="unknown", source_type=str(kind) if kind else None, data=item))
        return parts

    def _asset(self, ipath: str, item: dict[str, Any], kind: str) -> Part:
        pointer = self.ctx.string(item, "asset_pointer", ipath, required=True)
        assert pointer is not None
        file_id = pointer_file_id(pointer)
        size = item.get("size_bytes")
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float))):
            self.ctx.fail(f"{ipath}.size_bytes", f"expected a number, got {json_type_name(size)}")
        rest = {k: v for k, v in item.items() if k not in ("content_type", "asset_pointer", "size_bytes")}
        attachment = self.attachments.get(file_id)
        if attachment is None:
            attachment = self.attachments[file_id] = Attachment(
                id=file_id, name=file_id, kind=kind,  # type: ignore[arg-type]
                size_bytes=int(size) if size is not None else None, uri=pointer, available=False,
                extra={NS: rest} if rest else {},
            )
        elif attachment.uri is None:
            attachment.uri = pointer
        if kind == "image":
            return Part(type="image", attachment_id=file_id, alt=None)
        return Part(type="file_ref", attachment_id=file_id)

    def _voice(self, ipath: str, item: dict[str, Any]) -> list[Part]:
        """A voice-mode turn (``real_time_user_audio_video_asset_pointer``): its nested
        ``audio_asset_pointer``, ``video_container_asset_pointer`` and
        ``frames_asset_pointers`` become references (the bytes are files of the export
        ZIP); the rest of the object is kept in the first part's ``extra``."""
        parts: list[Part] = []
        nested = (("audio_asset_pointer", "audio"), ("video_container_asset_pointer", "file"))
        for key, kind in nested:
            pointer = item.get(key)
            if isinstance(pointer, dict) and isinstance(pointer.get("asset_pointer"), str):
                parts.append(self._asset(f"{ipath}.{key}", pointer, kind))
        frames = item.get("frames_asset_pointers")
        for i, frame in enumerate(frames if isinstance(frames, list) else []):
            if isinstance(frame, dict) and isinstance(frame.get("asset_pointer"), str):
                parts.append(self._asset(f"{ipath}.frames_asset_pointers[{i}]", frame, "image"))
        rest = {k: v for k, v in item.items() if k not in ("content_type", *(key for key, _ in nested),
                                                           "frames_asset_pointers")}
        if not parts:
            return [Part(type="unknown", source_type="real_time_user_audio_video_asset_pointer", data=item)]
        if rest:
            parts[0].extra = {NS: {"real_time": rest}}
        return parts

    def _output_images(self, path: str, metadata: dict[str, Any]) -> list[Part]:
        """Code Interpreter image outputs: ``metadata.aggregate_result.messages[{message_type:
        "image", image_url}]`` -> image parts (references, never fetched)."""
        aggregate = metadata.get("aggregate_result")
        if not isinstance(aggregate, dict) or not isinstance(aggregate.get("messages"), list):
            return []
        parts = []
        for i, item in enumerate(aggregate["messages"]):
            if isinstance(item, dict) and item.get("message_type") == "image" and isinstance(item.get("image_url"), str):
                ipath = f"{path}.metadata.aggregate_result.messages[{i}]"
                parts.append(self._asset(ipath, {"asset_pointer": item["image_url"]}, "image"))
        return parts

    def _metadata_attachments(self, path: str, metadata: dict[str, Any], parts: list[Part]) -> list[Part]:
        """``metadata.attachments`` -> attachments, and ``file_ref`` parts for those no
        image part shows already."""
        raw = metadata.get("attachments")
        if raw is None:
            return []
        apath = f"{path}.metadata.attachments"
        shown = {p.attachment_id for p in parts if p.attachment_id}
        refs: list[Part] = []
        for i, item in enumerate(self.ctx.lst(raw, apath)):
            ipath = f"{apath}[{i}]"
            item = self.ctx.obj(item, ipath)
            att_id = self.ctx.string(item, "id", ipath, required=True)
            if not att_id:
                self.ctx.fail(f"{ipath}.id", "expected a non-empty string")
            assert att_id is not None
            name = self.ctx.string(item, "name", ipath)
            mime = self.ctx.string(item, "mime_type", ipath)
            size = item.get("size")
            if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float))):
                self.ctx.fail(f"{ipath}.size", f"expected a number, got {json_type_name(size)}")
            rest = {k: v for k, v in item.items() if k not in ("id", "name", "mime_type", "size")}
            attachment = self.attachments.get(att_id)
            if attachment is None:
                kind = "image" if (mime or "").startswith("image/") else "file"
                attachment = self.attachments[att_id] = Attachment(id=att_id, name=att_id, kind=kind, uri=att_id)  # type: ignore[arg-type]
            attachment.name = base_name(name) or attachment.name
            attachment.mime_type = mime or attachment.mime_type
            if size is not None:
                attachment.size_bytes = int(size)
            if rest:
                attachment.extra.setdefault(NS, {}).update(rest)
            if att_id not in shown:
                shown.add(att_id)
                refs.append(Part(type="file_ref", attachment_id=att_id))
        return refs

    def _reasoning(self, cpath: str, content_type: str, content: dict[str, Any]) -> list[Part]:
        if content_type == "reasoning_recap":
            recap = content.get("content")
            if isinstance(recap, str):
                return [Part(type="reasoning", summary=recap)]
        if isinstance(content.get("thoughts"), list):
            parts = []
            for i, thought in enumerate(content["thoughts"]):
                thought = self.ctx.obj(thought, f"{cpath}.thoughts[{i}]")
                rest = {k: v for k, v in thought.items() if k not in ("summary", "content")}
                parts.append(Part(type="reasoning", text=self.ctx.string(thought, "content", f"{cpath}.thoughts[{i}]"),
                                  summary=self.ctx.string(thought, "summary", f"{cpath}.thoughts[{i}]"),
                                  extra={NS: rest} if rest else {}))
            return parts
        # Synthetic files (polylogue) carry reasoning as plain ``parts``.
        texts = [p.text for p in self._parts(cpath, content) if p.type == "text" and p.text]
        if content_type == "reasoning_recap":
            return [Part(type="reasoning", summary=t) for t in texts]
        return [Part(type="reasoning", text=t) for t in texts]

    # -- tools ----------------------------------------------------------------------------

    def _tool_call(self, key: str, recipient: str, content_type: str, content: dict[str, Any],
                   parts: list[Part]) -> Part:
        raw_text = "\n\n".join(p.text for p in parts if p.type in ("text", "code") and p.text)
        language = next((p.language for p in parts if p.type == "code"), None)
        return Part(type="tool_call", call_id=key, name=recipient, arguments=parse_arguments(raw_text),
                    arguments_raw=raw_text, language=language)

    def _tool_answer(self, content_type: str, content: dict[str, Any], parts: list[Part], call_id: str | None,
                     name: str | None) -> list[Part]:
        if content_type != "execution_output" and any(p.type in ("image", "citation") for p in parts):
            return parts  # generated images and quotes are shown as they are
        text = "\n\n".join(p.text for p in parts if p.type == "text" and p.text)
        rest = [p for p in parts if p.type != "text"]  # Code Interpreter's output images follow
        result = Part(type="tool_result", call_id=call_id, name=name, text=text,
                      is_error=content_type == "system_error")
        if content_type == "tether_browsing_display" and content.get("summary"):
            result.data = {"summary": content["summary"]}
        return [result, *rest]


def _recipient(message: Message) -> str | None:
    return message.extra.get(NS, {}).get("recipient", "all")
