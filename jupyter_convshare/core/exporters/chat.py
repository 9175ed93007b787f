"""jupyterlab-chat export: a ``.chat`` document that jupyterlab-chat (and Jupyter AI v3) opens.

Target format: FORMATS.md section 1, what ``YChat.get()`` of jupyterlab-chat writes
(``python/jupyterlab-chat/jupyterlab_chat/ychat.py``, models in ``models.py``)::

    {"messages": [{"type": "msg", "id", "body", "time", "raw_time", "sender",
                   "mentions", "attachments"?, "deleted"?, "edited"?, "metadata"?,
                   "mime_model"?}, ...],
     "users": {username: {"username", "name", "display_name", "initials", "color",
                          "avatar_url", "bot", ...}},
     "attachments": {id: {"type": "file" | "notebook", "value", "mimetype"?,
                          "selection"?, "cells"?}},
     "metadata": {"id": "<uuid>", ...}}

UTF-8 JSON, indented by 2 (as jupyterlab-chat writes it), ending with a newline.

**jupyterlab-chat is flat**: a chat is one time-ordered list, so only the **active path**
is written (other branches are left out; the JSON, CSV and Parquet exports keep them).

Mapping (the inverse of ``core.importers.jupyterlab_chat``, so a ``.chat`` file imported
and exported again keeps every message, user and attachment reference):

* message ``time``: epoch **seconds** (float) of ``created_at``; ``raw_time`` ``false``
  (server-normalised, so a live chat never re-stamps it). jupyterlab-chat needs a time:
  a message without one gets the time of the dated message before it (else after it,
  else the conversation's ``created_at``/``updated_at``, else 0), so the order is kept;
  a message dated before the one it follows (clock skew: ChatGPT dates prompts on the
  client and answers on the server) gets that one's time too, because a chat is read in
  time order;
* ``body``: the message's ``text`` parts; other parts a chat cannot hold as such (code,
  reasoning, citations, tool results without their call, inline images, a second
  output) are appended as readable Markdown (``core.exporters._rows.part_text``);
* ``tool_call`` parts (with the ``tool_result`` of the same call) -> ``metadata.tool_calls``
  (Jupyter AI v3's ACP ``ToolCallState``: ``tool_call_id``, ``title``, ``kind``,
  ``status``, ``raw_input``, ``raw_output``);
* the first ``mime_bundle`` part -> ``mime_model`` (``trusted: true`` is never written:
  a shared file must not make HTML trusted in the recipient's JupyterLab);
* ``file_ref`` / ``image`` parts -> ``attachments`` (ids); every attachment of the
  conversation is written as a **reference** (``type`` ``"notebook"`` for notebooks, else ``"file"``;
  ``value`` its root-relative path, or only its base name when the path is absolute,
  has ``..`` or a ``~``; ``mimetype``, ``selection``, ``cells`` with ``input_type``);
  bytes are never embedded (a ``.chat`` has no place for them);
* ``status == "deleted"`` -> ``deleted: true`` (empty body), ``edited`` -> ``edited: true``;
* participants -> ``users`` (every participant of the conversation, keyed by id);
  assistants, tools and system users are ``bot: true``; ``initials`` are computed when
  the source had none;
* leftovers the importer kept in ``extra["jupyterlab-chat"]`` (user fields, message
  ``metadata``, ``raw_time``, the chat's ``metadata`` with ``acp_session_ids``, unknown
  top-level keys) are written back where they came from, but only fields that
  jupyterlab-chat's models (``Message``, ``User``, ``FileAttachment``,
  ``NotebookAttachment``) take: ``YChat.get_messages()`` builds ``Message(**item)`` and
  fails on any other key (the UI-only ``stacked`` flag is dropped for that reason);
  ``metadata.id`` is the source's chat id, else a UUID derived from the conversation id
  (stable across exports);
* times go through the model's datetimes, so they keep microseconds: a float time with
  more digits comes back rounded to the microsecond.

Left out: ``system`` and ``developer`` prompts (a chat shows every message to every
reader; prompts of an API conversation have no place there), except the messages of a
chat's own hidden system user (``hidden::...``, e.g. "Refreshed all AI personas"), which
are chat messages. Exports made by the viewer start from ``core.redact.viewer_copy``:
humans are ``user-1``, ``user-2``..., avatars, extras and prompts are gone.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from ..model import Attachment, Conversation, Message, Part, Participant
from ._rows import part_text

MEDIA_TYPE = "application/json; charset=utf-8"
EXTENSION = ".chat"

NS = "jupyterlab-chat"
"""Namespace of the importer's leftovers in ``extra``."""

HIDDEN_PREFIX = "hidden::"
_PROMPT_ROLES = frozenset({"system", "developer"})
_ID_NAMESPACE = uuid.UUID("6f1d8c2e-5b0a-4c4e-9a57-3c1f2e8b7d10")  # stable chat ids for non-chat sources


def export_chat(conversation: Conversation) -> bytes:
    """The active path of ``conversation`` as a jupyterlab-chat ``.chat`` document (UTF-8 JSON)."""
    text = json.dumps(chat_document(conversation), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def chat_document(conversation: Conversation) -> dict[str, Any]:
    """The ``.chat`` document as a dict (``messages``, ``users``, ``attachments``, ``metadata``).

    See the module docstring for the mapping.
    """
    path = [m for m in conversation.active_path() if _kept(conversation, m)]
    times = _times(conversation, path)
    messages = [_message(conversation, message, time_value) for message, time_value in zip(path, times)]

    users: dict[str, Any] = {}
    for participant in conversation.participants.values():
        if participant.extra.get(NS, {}).get("unknown_user"):
            continue  # the source chat did not list it either
        if participant.kind == "system" and not participant.id.startswith(HIDDEN_PREFIX):
            continue  # an API conversation's system author: its prompts are left out
        users[participant.id] = _user(participant)

    # Every attachment of the conversation (a chat may list files no message refers to).
    attachments = {attachment_id: _attachment(attachment) for attachment_id, attachment in conversation.attachments.items()}

    leftovers = dict(conversation.extra.get(NS) or {})
    metadata = dict(leftovers.pop("metadata", None) or {})
    metadata["id"] = metadata.get("id") or _chat_id(conversation)
    document: dict[str, Any] = {"messages": messages, "users": users, "attachments": attachments, "metadata": metadata}
    document.update({key: value for key, value in leftovers.items() if key not in document})
    return document


# -- messages ---------------------------------------------------------------------------


def _kept(conversation: Conversation, message: Message) -> bool:
    if message.role not in _PROMPT_ROLES:
        return True
    return message.author_id.startswith(HIDDEN_PREFIX)


def _times(conversation: Conversation, path: list[Message]) -> list[float]:
    """Epoch seconds per message; undated ones borrow their neighbour's time (never invented)."""
    known = [m.created_at.timestamp() if m.created_at is not None else None for m in path]
    fallback = next((t.timestamp() for t in (conversation.created_at, conversation.updated_at) if t is not None), 0.0)
    out: list[float] = []
    previous: float | None = None
    for index, value in enumerate(known):
        if value is None:
            later = next((v for v in known[index + 1:] if v is not None), None)
            value = previous if previous is not None else (later if later is not None else fallback)
        elif previous is not None and value < previous:
            # dated before the message it follows (ChatGPT stamps prompts on the client and
            # answers on the server): a chat is ordered by time, so keep the path's order
            value = previous
        out.append(value)
        previous = value
    return out


def _message(conversation: Conversation, message: Message, time_value: float) -> dict[str, Any]:
    leftovers = dict(message.extra.get(NS) or {})
    metadata = dict(leftovers.pop("metadata", None) or {})
    missing = [a for a in leftovers.pop("missing_attachments", None) or [] if isinstance(a, str)]
    kind = leftovers.pop("type", "msg")

    body: list[str] = []
    attachment_ids: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    mime_model: dict[str, Any] | None = None
    calls: dict[str, dict[str, Any]] = {}
    for part in message.parts:
        if part.type == "text":
            if part.text:
                body.append(part.text)
        elif part.type in ("file_ref", "image") and part.attachment_id:
            if part.attachment_id in conversation.attachments and part.attachment_id not in attachment_ids:
                attachment_ids.append(part.attachment_id)
        elif part.type == "tool_call":
            state = _tool_call(part)
            tool_calls.append(state)
            if part.call_id:
                calls[part.call_id] = state
        elif part.type == "tool_result" and part.call_id in calls and "raw_output" not in calls[part.call_id]:
            calls[part.call_id]["raw_output"] = part.data if part.data is not None else part.text
        elif part.type == "mime_bundle" and mime_model is None and isinstance(part.data, dict):
            mime_model = {"data": part.data}
            if part.metadata is not None:
                mime_model["metadata"] = part.metadata
            rest = part.extra.get(NS) or {}
            if rest.get("trusted") is False:
                mime_model["trusted"] = False
        else:
            readable = part_text(conversation, part)
            if readable:
                body.append(readable)

    deleted = message.status == "deleted"
    # Only the fields of jupyterlab-chat's Message model: its YChat.get_messages() builds
    # Message(**item) and fails on any other key (the UI-only "stacked" included).
    item: dict[str, Any] = {}
    item.update(
        {
            "type": kind,
            "id": message.id,
            "body": "" if deleted else "\n\n".join(body),
            "time": time_value,
            "raw_time": leftovers.get("raw_time") is True,  # as the source had it; False when unknown
            "sender": message.author_id,
            "mentions": list(message.mentions),
        }
    )
    attachment_ids.extend(a for a in missing if a not in attachment_ids)
    if attachment_ids and not deleted:
        item["attachments"] = attachment_ids
    if deleted:
        item["deleted"] = True
    if message.edited:
        item["edited"] = True
    if tool_calls:
        metadata["tool_calls"] = tool_calls
    if metadata:
        item["metadata"] = metadata
    if mime_model is not None and not deleted:
        item["mime_model"] = mime_model
    return item


def _tool_call(part: Part) -> dict[str, Any]:
    rest = dict(part.extra.get(NS) or {})
    state: dict[str, Any] = {key: value for key, value in rest.items() if key not in _TOOL_KEYS}
    if part.call_id is not None:
        state["tool_call_id"] = part.call_id
    title = part.title or part.name
    if title is not None:
        state["title"] = title
    state.setdefault("kind", "other")
    if part.status is not None:
        state["status"] = part.status
    arguments = part.arguments if part.arguments is not None else part.arguments_raw
    if arguments is not None:
        state["raw_input"] = arguments
    return state


_TOOL_KEYS = frozenset({"tool_call_id", "title", "status", "raw_input", "raw_output"})


# -- users and attachments -------------------------------------------------------------


def _user(participant: Participant) -> dict[str, Any]:
    rest = participant.extra.get(NS) or {}
    username = rest.get("username")
    name = participant.display_name or participant.id
    # Only the fields jupyterlab-chat's User model takes (YChat.get_users() builds
    # User(**user)), in one order so that exports are byte-stable.
    user: dict[str, Any] = {
        "username": username if isinstance(username, str) else participant.id,
        "name": rest.get("name", name),
        "display_name": name,
        "initials": rest.get("initials", _initials(name)),
        "color": rest.get("color"),
        "avatar_url": participant.avatar_url,
        "bot": rest.get("bot", participant.kind != "human"),
    }
    if "mention_name" in rest:
        user["mention_name"] = rest["mention_name"]
    return user


def _initials(name: str) -> str | None:
    words = re.findall(r"[^\W_]+", name)
    initials = "".join(w[0] for w in words[:2]).upper()
    return initials or None


_UNSAFE_SEGMENT = re.compile(r"^(?:\.\.|~.*)$")


def safe_value(attachment: Attachment) -> str:
    """The attachment's ``value``: its root-relative path when that is a plain relative
    path (no ``..``, ``~``, leading ``/`` or ``\\``, drive letter, URL scheme or control
    character), else its base name."""
    uri = attachment.uri or ""
    candidate = uri.replace("\\", "/")
    segments = candidate.split("/")
    plain = (
        bool(candidate)
        and not candidate.startswith("/")
        and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", candidate)  # C:, file:, http:
        and not any(_UNSAFE_SEGMENT.match(s) for s in segments)
        and not any(ord(c) < 32 or ord(c) == 127 for c in candidate)
    )
    if plain:
        return uri
    name = re.split(r"[\\/]", attachment.name or "")[-1]
    name = "".join(c for c in name if ord(c) >= 32 and ord(c) != 127).strip()
    if name in ("", ".", "..") or name.startswith("~"):
        name = "attachment"
    return name


def _attachment(attachment: Attachment) -> dict[str, Any]:
    rest = dict(attachment.extra.get(NS) or {})
    kind = rest.pop("type", None)
    # FileAttachment / NotebookAttachment take no other fields.
    item: dict[str, Any] = {}
    item["type"] = kind if isinstance(kind, str) else ("notebook" if attachment.kind == "notebook" else "file")
    item["value"] = safe_value(attachment)
    if attachment.mime_type:
        item["mimetype"] = attachment.mime_type
    if attachment.selection is not None:
        item["selection"] = attachment.selection
    if attachment.cells is not None:
        cells = []
        for cell in attachment.cells:
            out = {key: value for key, value in cell.items() if key not in {"id", "cell_type"}}
            out["id"] = cell.get("id")
            out["input_type"] = cell.get("cell_type")
            cells.append(out)
        item["cells"] = cells
    return item


def _chat_id(conversation: Conversation) -> str:
    original = conversation.source.original_id if conversation.source.format == NS else None
    if original:
        return original
    if conversation.id.startswith(NS + ":"):
        return conversation.id[len(NS) + 1:]
    return str(uuid.uuid5(_ID_NAMESPACE, conversation.id))
