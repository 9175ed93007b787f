"""HTML export: the active path as the viewer renders it, in one self-contained file.

The page is rendered by the viewer's own pipeline (``core.render``: markdown-it-py with raw
HTML off, nh3 allowlist, pygments highlighting, MathML math) into
``templates/export.html`` (Jinja, autoescape on), which mirrors the viewer page without
its interactive parts (no script, no forms, no QR code, no branch links, no downloads).

Self-contained and inert, so a copy saved anywhere opens offline and can never run code:

* the viewer's stylesheet and the pygments styles are inlined in one ``<style>``;
* there is no ``<script>`` at all, and a ``<meta http-equiv="Content-Security-Policy">``
  with :data:`CSP` (``default-src 'none'; style-src 'unsafe-inline'; img-src data:``) so
  that even an edited copy cannot load or run anything;
* images are embedded only as ``data:`` URIs of raster attachments (png, jpeg, gif, webp)
  whose bytes the caller's ``read_blob`` returns (at most ``MAX_IMAGE_BYTES`` each,
  ``MAX_EMBEDDED_BYTES`` in all, magic number checked), or raster ``data:`` images carried
  in the message itself; every other file is listed by name, size and type;
* links in messages keep only ``http``, ``https`` and ``mailto`` URLs with
  ``rel="noopener noreferrer nofollow"`` (the renderer's rule).

Hidden messages and system/developer prompts are skipped, as on the viewer page; when the
conversation has several branches a note says how many and that this file shows the
active one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2
from markupsafe import Markup

from ..model import Conversation
from ..render import format_time_human, format_time_iso, pygments_css, render_conversation
from ._blobs import BlobReader, ImageBudget

MEDIA_TYPE = "text/html; charset=utf-8"
EXTENSION = ".html"

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
"""The page's own Content-Security-Policy (a ``<meta http-equiv>``; ``frame-ancestors``
cannot be set from a meta tag)."""

_PACKAGE = Path(__file__).resolve().parents[2]
_TEMPLATES = _PACKAGE / "templates"
_VIEWER_CSS = _PACKAGE / "static" / "viewer.css"


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("export.html")


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The inlined CSS: the viewer's ``static/viewer.css`` and the pygments styles.

    Raises:
        RuntimeError: the CSS holds ``</style`` (it would end the ``<style>`` element).
    """
    css = _VIEWER_CSS.read_text(encoding="utf-8") + "\n" + pygments_css()
    if "</style" in css.lower():  # our own files: a guard, not an escape
        raise RuntimeError("viewer.css must not contain '</style'")
    return css


def export_html(conversation: Conversation, read_blob: BlobReader | None = None) -> bytes:
    """The active path of ``conversation`` as one self-contained HTML page (UTF-8 bytes).

    Args:
        conversation: what to write (the viewer passes its redacted copy).
        read_blob: stored bytes of an attachment, or ``None`` (see
            ``core.exporters.blob_reader``); without it images are listed, not shown.
    """
    view = render_conversation(conversation)
    budget = ImageBudget(read_blob)
    images: dict[str, str] = {}
    for message in view.messages:
        for part in message.parts:
            rendered = part.attachment
            if part.kind == "image" and rendered is not None and rendered.id not in images:
                attachment = conversation.attachments.get(rendered.id)
                uri = budget.data_uri(attachment) if attachment is not None else None
                if uri is not None:
                    images[rendered.id] = uri
    html = _template().render(
        view=view,
        images=images,
        css=Markup(stylesheet()),
        csp=CSP,
        created_iso=format_time_iso(view.created_at),
        created_human=format_time_human(view.created_at),
        updated_iso=format_time_iso(view.updated_at),
        updated_human=format_time_human(view.updated_at),
    )
    return html.encode("utf-8")
