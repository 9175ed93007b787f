"""Notebook export: the active path as a Jupyter notebook (nbformat 4, validated by nbformat).

Layout (one cell per block, deterministic cell ids ``cell-1``, ``cell-2``, ...):

1. a markdown cell: ``# <title>``, ``_<n> messages · <source format> · exported from
   jupyter-convshare_`` and, when the conversation has several branches, a line saying
   how many and that the notebook holds the active one;
2. per message of the active path, a markdown cell starting with the Markdown export's
   heading line (``### **Assistant — Claude (model)** · 2026-05-28 20:27:20 UTC``,
   role, author, model, time, flags) followed by the message text (the Markdown export's
   readable text: code, tool calls and results fenced);
3. **fenced code blocks of assistant answers in Python** (info string ``python``, ``py``,
   ``python3``, ``ipython``, ``ipython3``, any case) become **code cells** (no outputs, never
   executed), split out where they stand; fences in other languages (shell, SQL, R, JSON,
   untagged...) stay fenced in the markdown cell, which JupyterLab highlights, because the
   notebook's kernel is Python (``metadata.kernelspec`` ``python3``) and running them in it
   would fail. Prompts (user messages) stay whole markdown cells. Each code cell's metadata
   holds ``convshare.message_id`` and ``convshare.language``;
4. the attachments of a message become **cell attachments** of its last markdown cell:
   raster images (png, jpeg, gif, webp, bytes matching the type) whose bytes ``read_blob``
   returns, and raster ``data:`` images inside a message, shown with
   ``![alt](attachment:<safe name>)``; other stored files are carried too, listed under
   ``Attachments:`` with their cell-attachment name (plain text types such as CSV or
   Python as UTF-8 text, anything else, HTML and SVG included, as base64
   ``application/octet-stream`` so no frontend renders it); files without bytes (or over
   the size limits: ``MAX_IMAGE_BYTES`` each, ``MAX_EMBEDDED_BYTES`` in all) are listed by
   name as references.

Message text is written unchanged (Jupyter never trusts HTML in markdown cells: the
frontend sanitises it). Every cell's metadata has ``convshare`` with ``message_id``, ``role``
and ``author``; the notebook's metadata has ``convshare`` with ``title``, ``source_format``
and ``branches``. Output: UTF-8 JSON as ``nbformat.writes`` makes it, ending with a newline.
"""

from __future__ import annotations

import base64
import re

import nbformat
from markdown_it import MarkdownIt
from nbformat import v4

from ..model import Conversation, Message
from ..render import RASTER_IMAGE_TYPES, BranchTree
from ._blobs import BlobReader, ImageBudget, looks_like
from ._rows import message_text
from .markdown import _heading

MEDIA_TYPE = "application/x-ipynb+json"
EXTENSION = ".ipynb"

CODE_LANGUAGES = frozenset({"python", "py", "python3", "ipython", "ipython3"})
"""Fence info strings (lower case, first word) that become code cells."""

_DATA_IMAGE = re.compile(r"^data:(image/(?:png|jpeg|gif|webp));base64,([A-Za-z0-9+/=\s]+)$")
_MD = MarkdownIt("commonmark")


def export_ipynb(conversation: Conversation, read_blob: BlobReader | None = None) -> bytes:
    """The active path of ``conversation`` as an nbformat 4 notebook (UTF-8 JSON bytes).

    Args:
        conversation: what to write (the viewer passes its redacted copy).
        read_blob: stored bytes of an attachment, or ``None`` (see
            ``core.exporters.blob_reader``); without it images are listed, not embedded.

    Raises:
        nbformat.ValidationError: never for a sound conversation (the notebook is
            validated before it is returned: a bug, not bad input).
    """
    notebook = build_notebook(conversation, read_blob)
    nbformat.validate(notebook)
    return (nbformat.writes(notebook, version=4).rstrip("\n") + "\n").encode("utf-8")


def build_notebook(conversation: Conversation, read_blob: BlobReader | None = None) -> nbformat.NotebookNode:
    """The notebook (an ``nbformat.NotebookNode``, not yet validated); see the module docstring."""
    path = conversation.active_path()
    branches = BranchTree(conversation).branch_count
    cells: list[nbformat.NotebookNode] = []

    def add(cell: nbformat.NotebookNode) -> None:
        cell["id"] = f"cell-{len(cells) + 1}"
        cells.append(cell)

    count = f"{len(path)} message{'s' if len(path) != 1 else ''}"
    intro = [f"# {conversation.title or 'Conversation'}", "",
             f"_{count} · {conversation.source.format} · exported from jupyter-convshare_"]
    if branches > 1:
        intro += ["", f"_This conversation has {branches} branches; this notebook holds the active one._"]
    add(v4.new_markdown_cell("\n".join(intro)))

    budget = ImageBudget(read_blob)
    for message in path:
        for cell in _message_cells(conversation, message, budget):
            add(cell)

    notebook = v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "convshare": {
                "title": conversation.title,
                "source_format": conversation.source.format,
                "branches": branches,
            },
        },
    )
    notebook["nbformat_minor"] = 5  # cell ids
    return notebook


def _message_cells(conversation: Conversation, message: Message, budget: ImageBudget) -> list[nbformat.NotebookNode]:
    meta = {"convshare": {"message_id": message.id, "role": message.role,
                          "author": _author(conversation, message)}}
    text = message_text(conversation, message)
    if message.status == "deleted" and not text:
        text = "_This message was deleted._"

    attachments: dict[str, dict[str, str]] = {}
    image_lines: list[str] = []
    listed: list[str] = []
    used_names: set[str] = set()

    def attach(name: str, mime: str, data: bytes, alt: str) -> None:
        key = _unique(_safe_key(name, mime), used_names)
        attachments[key] = {mime: base64.b64encode(data).decode("ascii")}
        image_lines.append(f"![{_alt(alt)}](attachment:{key})")

    carried: list[str] = []

    def carry(name: str, mime: str, data: bytes) -> None:
        key = _unique(_safe_file_key(name), used_names)
        attachments[key] = _bundle(mime, data)
        carried.append(f"- {_list_name(name)} (attached to this cell as `{key}`)")

    embedded: set[str] = set()
    for part in message.parts:
        if part.type not in ("image", "file_ref"):
            continue
        if part.attachment_id:
            attachment = conversation.attachments.get(part.attachment_id)
            if attachment is None or attachment.id in embedded:
                continue
            found = budget.image(attachment)
            if found is not None:
                embedded.add(attachment.id)
                attach(attachment.name, found[0], found[1], part.alt or attachment.name)
                continue
            stored = budget.file(attachment)
            if stored is not None:
                embedded.add(attachment.id)
                carry(attachment.name, stored[0], stored[1])
        elif part.type == "image" and part.url:
            match = _DATA_IMAGE.match(part.url.strip())
            if match and match.group(1) in RASTER_IMAGE_TYPES:
                try:
                    data = base64.b64decode(re.sub(r"\s+", "", match.group(2)), validate=True)
                except ValueError:
                    continue
                if not looks_like(match.group(1), data):
                    continue  # not the image its type claims: listed nowhere, like the viewer's broken image
                attach(part.alt or "image", match.group(1), data, part.alt or "image")
    for part in message.parts:
        if part.attachment_id and part.attachment_id not in embedded and part.type in ("image", "file_ref"):
            attachment = conversation.attachments.get(part.attachment_id)
            name = attachment.name if attachment is not None else part.attachment_id
            if name not in listed:
                listed.append(name)

    segments = _split(text) if message.role == "assistant" else [("markdown", text, None)]
    head = _heading(conversation, message)
    first_markdown = True
    cells: list[nbformat.NotebookNode] = []
    for kind, body, language in segments:
        if kind == "code":
            cells.append(v4.new_code_cell(body, metadata={"convshare": {**meta["convshare"], "language": language}}))
            continue
        if first_markdown:
            body = f"{head}\n\n{body}" if body else head
            first_markdown = False
        if body:
            cells.append(v4.new_markdown_cell(body, metadata=meta))
    if first_markdown:
        cells.insert(0, v4.new_markdown_cell(head, metadata=meta))
    tail = []
    if image_lines:
        tail.append("\n\n".join(image_lines))
    if listed or carried:
        tail.append("Attachments:\n" + "\n".join(carried + [f"- {_list_name(name)}" for name in listed]))
    if tail or attachments:
        # the images and the file list go in one markdown cell after the message's text
        last = cells[-1]
        if last.cell_type == "markdown":
            last.source = last.source + "\n\n" + "\n\n".join(tail)
        else:
            last = v4.new_markdown_cell("\n\n".join(tail), metadata=meta)
            cells.append(last)
        if attachments:
            last["attachments"] = attachments
    return cells


def _author(conversation: Conversation, message: Message) -> str:
    participant = conversation.participants.get(message.author_id)
    return (participant.display_name if participant and participant.display_name else None) or message.author_id


def _split(text: str) -> list[tuple[str, str, str | None]]:
    """``[("markdown"|"code", text, language)]``: top-level Python fences cut out as code."""
    lines = text.split("\n")
    out: list[tuple[str, str, str | None]] = []
    at = 0
    for token in _MD.parse(text):
        if token.type != "fence" or token.level != 0 or token.map is None:
            continue
        language = (token.info or "").strip().split(maxsplit=1)[0].lower() if (token.info or "").strip() else ""
        if language not in CODE_LANGUAGES:
            continue
        start, end = token.map
        before = "\n".join(lines[at:start]).strip("\n")
        if before.strip():
            out.append(("markdown", before, None))
        code = token.content[:-1] if token.content.endswith("\n") else token.content
        out.append(("code", code, "python"))
        at = end
    rest = "\n".join(lines[at:]).strip("\n")
    if rest.strip() or not out:
        out.append(("markdown", rest, None))
    return out


_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}


def _safe_key(name: str, mime: str) -> str:
    """A cell-attachment name safe in ``attachment:<name>`` links: ``[A-Za-z0-9._-]``, with
    the image's extension."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "image"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return (stem[:80] or "image") + _EXTENSIONS[mime]


def _safe_file_key(name: str) -> str:
    """A cell-attachment name for any file: ``[A-Za-z0-9._-]``, its extension kept."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")
    return base[-100:] or "file"


def _list_name(name: str) -> str:
    # a file name in a markdown list: no line breaks, brackets or backticks that would change it
    return re.sub(r"[\r\n`\[\]<>]+", " ", name or "file").strip() or "file"


_TEXT_TYPES = frozenset({"text/plain", "text/csv", "text/tab-separated-values", "text/markdown", "text/x-python",
                         "text/x-script.python", "text/x-r", "text/x-sql", "text/x-yaml", "text/yaml"})


def _bundle(mime: str, data: bytes) -> dict[str, str]:
    """The cell-attachment MIME bundle of a file: plain text types as UTF-8 text (nbformat
    keeps text as text), anything else (HTML, SVG, JSON, binaries) as base64 under
    ``application/octet-stream``, so that no frontend renders it as a document."""
    if mime in _TEXT_TYPES:
        try:
            return {mime: data.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    return {"application/octet-stream": base64.b64encode(data).decode("ascii")}


def _unique(key: str, used: set[str]) -> str:
    candidate, n = key, 1
    while candidate in used:
        n += 1
        stem, dot, ext = key.rpartition(".")
        candidate = f"{stem}-{n}.{ext}" if dot else f"{key}-{n}"
    used.add(candidate)
    return candidate


def _alt(text: str) -> str:
    # alt text of a markdown image: no brackets or line breaks that would end it early
    return re.sub(r"[\[\]\r\n]+", " ", text or "image").strip()[:120] or "image"

