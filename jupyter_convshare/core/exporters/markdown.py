"""Markdown export: the active path as a readable document.

Layout::

    # <title>

    _<n> messages · <source format> · exported from jupyter-convshare_

    ### **User — Anonymous Helike** · 2026-10-05 14:01:18 UTC

    <message text, unchanged markdown; code, tool calls and results fenced>

    Attachments:
    - data.csv

The heading is ``**Role — Author (model)** · time`` (the model and time only when known;
``· edited`` / ``· deleted`` / ``· hidden`` flags appended). Text is not escaped: HTML in a
message comes out unchanged and it is the viewer's job to render it safely.
"""

from __future__ import annotations

from ..model import Conversation, Message
from ._rows import attachment_names, author_name, message_model, message_text

MEDIA_TYPE = "text/markdown; charset=utf-8"
EXTENSION = ".md"

_ROLE_LABELS = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool",
                "developer": "Developer"}


def _heading(conversation: Conversation, message: Message) -> str:
    label = f"{_ROLE_LABELS.get(message.role, message.role.title())} — {author_name(conversation, message)}"
    model = message_model(conversation, message)
    if model:
        label += f" ({model})"
    heading = f"### **{label}**"
    if message.created_at is not None:
        heading += f" · {message.created_at.strftime('%Y-%m-%d %H:%M:%S')} UTC"
    for flag, on in (("edited", message.edited), ("hidden", message.hidden)):
        if on:
            heading += f" · {flag}"
    if message.status != "complete":
        heading += f" · {message.status}"
    return heading


def export_markdown(conversation: Conversation) -> bytes:
    """The active path of the conversation as Markdown (UTF-8 bytes)."""
    path = conversation.active_path()
    lines = [f"# {conversation.title or 'Conversation'}", ""]
    count = f"{len(path)} message{'s' if len(path) != 1 else ''}"
    lines += [f"_{count} · {conversation.source.format} · exported from jupyter-convshare_", ""]
    for message in path:
        lines += [_heading(conversation, message), ""]
        text = message_text(conversation, message)
        if message.status == "deleted" and not text:
            text = "_This message was deleted._"
        if text:
            lines += [text, ""]
        names = attachment_names(conversation, message)
        if names:
            lines += ["Attachments:", *[f"- {name}" for name in names], ""]
    return ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8")
