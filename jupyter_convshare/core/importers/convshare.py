"""Import the project's own lossless JSON, ``{"schema": "convshare/1", ...}``.

Source format: :meth:`jupyter_convshare.core.model.Conversation.to_dict` (written by the
JSON exporter and the viewer's ``export.json``). Import is exact:
``load(export(c, "json"))[0].to_dict() == c.to_dict()``.

Besides the field types that ``Conversation.from_dict`` checks, the importer checks that the
tree is sound: every ``parent_id`` exists and lists the message among its ``children_ids``,
``root_ids`` are the messages without a parent, every message is reachable from a root
(anything else is a cycle), ``active_leaf_id`` exists, and roles, statuses, participant
kinds and part types are known values. Errors name the field, e.g.
``messages['7'].parent_id: unknown message '9'``.
"""

from __future__ import annotations

from typing import Any

from ..model import (
    ATTACHMENT_KINDS,
    MESSAGE_STATUSES,
    PART_TYPES,
    PARTICIPANT_KINDS,
    ROLES,
    SCHEMA,
    Attachment,
    Conversation,
    Message,
    Part,
    Participant,
    SourceInfo,
)
from ._common import Context

FORMAT = "convshare"

_ITEM_CLASSES: dict[str, type] = {"participants": Participant, "messages": Message, "attachments": Attachment}


def sniff(data: Any) -> bool:
    """``True`` for an object whose ``schema`` is ``"convshare/<n>"``."""
    return isinstance(data, dict) and isinstance(data.get("schema"), str) and data["schema"].startswith("convshare/")


def parse(data: Any, *, name: str | None, source: str) -> list[Conversation]:
    """Rebuild the conversation, unchanged (its ``source`` keeps the original provenance).

    Args:
        data: parsed ``convshare/1`` JSON object.
        name: unused (kept for a uniform importer signature).
        source: name used in error messages.

    Raises:
        ImportFailed: wrong schema, wrong field types (naming the field) or an unsound tree.
    """
    ctx = Context(source, FORMAT)
    doc = ctx.obj(data, "")
    if doc.get("schema") != SCHEMA:
        ctx.fail("schema", f"unsupported schema {doc.get('schema')!r} (this version reads {SCHEMA!r})")
    _check_fields(ctx, doc)
    try:
        conversation = Conversation.from_dict(doc)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        ctx.fail(None, f"invalid conversation: {exc}")
    _check_values(ctx, conversation)
    _check_tree(ctx, conversation)
    return [conversation]


def _from_item(ctx: Context, cls: type, value: Any, path: str) -> Any:
    # Round-trip a single item through Conversation.from_dict so that its error can be
    # pinned to the item's path (from_dict itself does not say where it failed).
    body: dict[str, Any] = {"schema": SCHEMA, "id": "x", "source": {"format": "x"}}
    if cls is SourceInfo:
        body["source"] = value
    else:
        key = next(k for k, c in _ITEM_CLASSES.items() if c is cls)
        body[key] = {"x": value}
    try:
        return Conversation.from_dict(body)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        ctx.fail(path, str(exc))


def _check_fields(ctx: Context, doc: dict[str, Any]) -> None:
    if not isinstance(doc.get("id"), str) or not doc["id"]:
        ctx.fail("id", "expected a non-empty string")
    ctx.obj(ctx.required(doc, "source", ""), "source")
    _from_item(ctx, SourceInfo, doc["source"], "source")
    for key, cls in _ITEM_CLASSES.items():
        items = ctx.obj(doc.get(key) or {}, key)
        for item_id, value in items.items():
            path = f"{key}[{item_id!r}]"
            if isinstance(value, dict) and value.get("id") != item_id:
                ctx.fail(f"{path}.id", f"expected {item_id!r} (the key), got {value.get('id')!r}")
            if cls is Message and isinstance(value, dict):
                for i, part in enumerate(ctx.lst(value.get("parts") or [], f"{path}.parts")):
                    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                        ctx.fail(f"{path}.parts[{i}].type", "missing or not a string")
            _from_item(ctx, cls, value, path)
    for key in ("created_at", "updated_at"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            ctx.fail(key, "expected an ISO 8601 string")
    for key in ("root_ids", "tags"):
        for i, value in enumerate(ctx.lst(doc.get(key) or [], key)):
            if not isinstance(value, str):
                ctx.fail(f"{key}[{i}]", "expected a string")


def _check_values(ctx: Context, conversation: Conversation) -> None:
    for pid, participant in conversation.participants.items():
        if participant.kind not in PARTICIPANT_KINDS:
            ctx.fail(f"participants[{pid!r}].kind", f"expected one of {', '.join(PARTICIPANT_KINDS)}")
    for aid, attachment in conversation.attachments.items():
        if attachment.kind not in ATTACHMENT_KINDS:
            ctx.fail(f"attachments[{aid!r}].kind", f"expected one of {', '.join(ATTACHMENT_KINDS)}")
        if not isinstance(attachment.name, str):
            ctx.fail(f"attachments[{aid!r}].name", "expected a string")
    for mid, message in conversation.messages.items():
        path = f"messages[{mid!r}]"
        if message.role not in ROLES:
            ctx.fail(f"{path}.role", f"expected one of {', '.join(ROLES)}, got {message.role!r}")
        if message.status not in MESSAGE_STATUSES:
            ctx.fail(f"{path}.status", f"expected one of {', '.join(MESSAGE_STATUSES)}, got {message.status!r}")
        if not isinstance(message.author_id, str):
            ctx.fail(f"{path}.author_id", "expected a string")
        for i, part in enumerate(message.parts):
            if part.type not in PART_TYPES:
                ctx.fail(f"{path}.parts[{i}].type", f"unknown part type {part.type!r}")
            if isinstance(part, Part) and part.attachment_id is not None \
                    and part.attachment_id not in conversation.attachments:
                ctx.fail(f"{path}.parts[{i}].attachment_id", f"unknown attachment {part.attachment_id!r}")


def _check_tree(ctx: Context, conversation: Conversation) -> None:
    messages = conversation.messages
    for mid, message in messages.items():
        path = f"messages[{mid!r}]"
        if message.parent_id is not None:
            parent = messages.get(message.parent_id)
            if parent is None:
                ctx.fail(f"{path}.parent_id", f"unknown message {message.parent_id!r}")
            if mid not in parent.children_ids:
                ctx.fail(f"{path}.parent_id", f"parent {message.parent_id!r} does not list it in children_ids")
    for mid, message in messages.items():
        path = f"messages[{mid!r}]"
        if len(set(message.children_ids)) != len(message.children_ids):
            ctx.fail(f"{path}.children_ids", "duplicate id")
        for child in message.children_ids:
            if child not in messages or messages[child].parent_id != mid:
                ctx.fail(f"{path}.children_ids", f"{child!r} is not a child of {mid!r}")
    roots = [mid for mid, m in messages.items() if m.parent_id is None]
    if sorted(roots) != sorted(conversation.root_ids) or len(set(conversation.root_ids)) != len(conversation.root_ids):
        ctx.fail("root_ids", "expected exactly the messages without a parent_id")
    # Walk down from the roots: a message never reached sits on a cycle of parent links.
    reached: set[str] = set()
    stack = list(conversation.root_ids)
    while stack:
        mid = stack.pop()
        reached.add(mid)
        stack.extend(messages[mid].children_ids)
    unreached = [mid for mid in messages if mid not in reached]
    if unreached:
        ctx.fail(f"messages[{unreached[0]!r}].parent_id", "cycle in parent links")
    if conversation.active_leaf_id is not None and conversation.active_leaf_id not in messages:
        ctx.fail("active_leaf_id", f"unknown message {conversation.active_leaf_id!r}")
