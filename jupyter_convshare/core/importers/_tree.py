"""Link parent-pointer messages into a conversation tree, refusing broken trees.

Shared by the importers whose sources store a tree as parent links (Open WebUI
``parentId``, Claude Code ``parentUuid``). The check is complete: duplicate ids, a parent
that does not exist and cycles each raise :class:`~jupyter_convshare.core.errors.ImportFailed`
naming the message's place, so no half-linked conversation is ever returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..model import Conversation, Message, parse_time
from ._common import Context, join


def link_tree(ctx: Context, conversation: Conversation, nodes: list[tuple[str, Message]], *,
              parent_key: str, child_order: dict[str, list[str]] | None = None) -> None:
    """Put ``nodes`` into ``conversation.messages`` (source order) and link them by ``parent_id``.

    Args:
        ctx: where errors are reported.
        conversation: receives the messages, ``children_ids`` and ``root_ids``.
        nodes: ``(json path, message)`` pairs in source order; each message's ``parent_id``
            is set, its ``children_ids`` is ignored (rebuilt here).
        parent_key: the source's name of the parent field, for error messages.
        child_order: ``{parent id: [child ids]}`` as the source orders children (Open WebUI
            ``childrenIds``); children it does not list follow in source order.

    Raises:
        ImportFailed: a duplicate id, an unknown parent, or a cycle (naming the message's path).
    """
    paths: dict[str, str] = {}
    for path, message in nodes:
        if message.id in paths:
            ctx.fail(path, f"duplicate message id {message.id!r} (also {paths[message.id] or 'earlier'})")
        paths[message.id] = path
    children: dict[str | None, list[str]] = {}
    for path, message in nodes:
        parent = message.parent_id
        if parent is not None and parent not in paths:
            ctx.fail(join(path, parent_key), f"unknown parent message {parent!r}")
        children.setdefault(parent, []).append(message.id)
    for parent, order in (child_order or {}).items():
        found = children.get(parent)
        if found:
            listed = [c for c in dict.fromkeys(order) if c in found]
            children[parent] = listed + [c for c in found if c not in listed]

    reached: set[str] = set()
    stack = list(children.get(None, []))
    while stack:
        current = stack.pop()
        reached.add(current)
        stack.extend(children.get(current, []))
    for path, message in nodes:
        # Every node has one parent, so a node no root reaches sits on a loop of parent links.
        if message.id not in reached:
            ctx.fail(join(path, parent_key), f"cycle in the parent links through message {message.id!r}")

    conversation.root_ids = list(children.get(None, []))
    for _, message in nodes:
        message.children_ids = list(children.get(message.id, []))
        conversation.messages[message.id] = message


def latest_leaf(conversation: Conversation) -> str | None:
    """The leaf to show when the source records no active path: the last leaf in source order."""
    leaves = conversation.leaves()
    return leaves[-1].id if leaves else None


def iso_time(ctx: Context, value: Any, path: str) -> datetime | None:
    """An ISO 8601 string (``Z`` or offset; none means UTC) as a UTC datetime; ``None`` stays ``None``.

    Raises:
        ImportFailed: ``value`` is not a string or not ISO 8601 (naming ``path``).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        ctx.fail(path, f"expected an ISO 8601 time, got {type(value).__name__}")
    try:
        return parse_time(value)
    except ValueError:
        ctx.fail(path, f"not an ISO 8601 time: {value[:40]!r}")
