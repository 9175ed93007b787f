"""Conversation -> safe HTML for the public viewer (DESIGN.md sections 5, 8 and 9).

The pipeline for message text is fixed by the security rules:

1. markdown-it-py with the ``"js-default"`` preset: raw HTML off, linkify off, tables and
   strikethrough on; fenced code highlighted by pygments (CSS classes, no inline styles);
   ``$...$`` / ``$$...$$`` math (mdit-py-plugins dollarmath) converted to MathML by
   latex2mathml, which browsers render without JavaScript (invalid LaTeX stays as escaped
   source);
2. nh3 (ammonia) with an explicit allowlist of tags, attributes and classes; links keep
   only ``http``, ``https`` and ``mailto`` URLs and get ``rel="noopener noreferrer
   nofollow"``; no ``<img>`` from message text at all (a markdown image becomes a plain
   link, so nothing remote is ever fetched by the viewer's browser).

Everything else on the page (titles, names, file names, models) is plain text that the
Jinja templates escape (autoescape on). Structured parts (code, tool calls, JSON) are
highlighted here and escaped by pygments.

Rendering is the expensive step (about 1 ms per message), so :class:`RenderCache` keeps
finished :class:`RenderedConversation` objects keyed by ``ResolvedShare.cache_key``; the
viewer computes them off the event loop.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from html import escape
from typing import Any, Callable, Generic, Hashable, Sequence, TypeVar
from urllib.parse import quote

import latex2mathml.converter
import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import JsonLexer, get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

from .model import Attachment, Conversation, Message, Part

__all__ = [
    "MAX_PATH_ID_CHARS",
    "RASTER_IMAGE_TYPES",
    "BranchLink",
    "BranchSwitch",
    "BranchTree",
    "RenderCache",
    "RenderedAttachment",
    "RenderedConversation",
    "RenderedMessage",
    "RenderedPart",
    "format_size",
    "format_time_human",
    "highlight_code",
    "highlight_json",
    "pygments_css",
    "render_conversation",
    "render_markdown",
    "render_math",
]

RASTER_IMAGE_TYPES: frozenset[str] = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""The only media types that may be shown inline (``<img>``) or served with their own type."""

_LINK_SCHEMES = ("http://", "https://", "mailto:")
_LANG_MAX = 40  # a fence's info string is user text: keep the label short

# -- sanitiser allowlist ----------------------------------------------------------------

_MATHML_TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup",
    "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
    "mstyle", "menclose", "mpadded", "mphantom", "merror", "semantics", "annotation",
}  # fmt: skip
_MATHML_ATTRIBUTES = {
    "display", "mathvariant", "stretchy", "fence", "separator", "form", "lspace", "rspace",
    "accent", "accentunder", "movablelimits", "minsize", "maxsize", "largeop", "symmetric",
    "linethickness", "displaystyle", "scriptlevel", "columnalign", "rowalign",
    "columnspacing", "rowspacing", "columnlines", "rowlines", "notation", "width", "height",
    "depth", "voffset", "linebreak", "encoding",
}  # fmt: skip
_HTML_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
    "span", "div",
}  # fmt: skip
ALLOWED_TAGS: frozenset[str] = frozenset(_HTML_TAGS | _MATHML_TAGS)
"""Tags that survive sanitising (HTML produced by markdown-it, plus latex2mathml's MathML)."""

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "ol": {"start"},
    "pre": {"data-lang"},
    "math": {"display", "xmlns"},
    **{tag: set(_MATHML_ATTRIBUTES) for tag in _MATHML_TAGS if tag != "math"},
}
"""Attributes per tag (``class`` is handled by :data:`ALLOWED_CLASSES`; no ``style``, no ``id``)."""

_PYGMENTS_CLASSES = {cls for cls in STANDARD_TYPES.values() if cls}
ALLOWED_CLASSES: dict[str, set[str]] = {
    "span": _PYGMENTS_CLASSES | {"math", "inline", "math-error"},
    "div": {"math", "block", "inline", "table-wrap"},
    "pre": {"highlight"},
    "code": {"math-error"},
    "th": {"align-left", "align-center", "align-right"},
    "td": {"align-left", "align-center", "align-right"},
}
"""CSS classes per tag: pygments token classes, math wrappers, table alignment."""

LINK_REL = "noopener noreferrer nofollow"


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    # nh3's url_schemes lets relative URLs through; a relative link would point into the
    # user's Jupyter server (same origin), so only absolute http(s) and mailto survive.
    if attribute == "href" and not value.strip().lower().startswith(_LINK_SCHEMES):
        return None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes=ALLOWED_ATTRIBUTES,
    allowed_classes=ALLOWED_CLASSES,
    url_schemes={"http", "https", "mailto"},
    link_rel=LINK_REL,
    attribute_filter=_attribute_filter,
    strip_comments=True,
)


def sanitize_html(html: str) -> str:
    """Clean an HTML fragment with the viewer's allowlist (tags, attributes, classes, URL schemes).

    Args:
        html: any HTML fragment (str).

    Returns:
        The fragment with everything outside the allowlist removed (``<script>`` and
        ``<style>`` including their content).
    """
    return _CLEANER.clean(html)


# -- code -------------------------------------------------------------------------------

_FORMATTER = HtmlFormatter(nowrap=True)


@lru_cache(maxsize=256)
def _lexer(language: str) -> Lexer | None:
    try:
        return get_lexer_by_name(language.lower())
    except (ClassNotFound, ValueError):
        return None


def highlight_code(code: str, language: str | None = None) -> Markup:
    """Highlight ``code`` as a ``<pre class="highlight"><code>`` block.

    Args:
        code: the source text.
        language: a pygments lexer name or alias (``"python"``, ``"js"``, ...); unknown or
            ``None`` gives plain escaped text. The name is shown as a label (``data-lang``).

    Returns:
        Safe HTML (``markupsafe.Markup``) using pygments' CSS classes (see
        :func:`pygments_css`); no inline styles.
    """
    lang = (language or "").strip()[:_LANG_MAX]
    lexer = _lexer(lang) if lang else None
    body = pygments_highlight(code, lexer, _FORMATTER) if lexer is not None else escape(code, quote=False)
    label = f' data-lang="{escape(lang)}"' if lang else ""
    return Markup(f'<pre class="highlight"{label}><code>{body}</code></pre>')


def highlight_json(value: Any) -> Markup:
    """Pretty-print ``value`` as JSON (2-space indent, non-ASCII kept) and highlight it.

    Values that are not JSON-serialisable are shown through ``str()``.
    """
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)
    body = pygments_highlight(text, JsonLexer(), _FORMATTER)
    return Markup(f'<pre class="highlight" data-lang="json"><code>{body}</code></pre>')


def pygments_css() -> str:
    """The stylesheet for highlighted code: a light style, and a dark one under
    ``@media (prefers-color-scheme: dark)``; rules are scoped to ``.highlight``."""
    light = HtmlFormatter(style="default").get_style_defs(".highlight")
    dark = HtmlFormatter(style="github-dark").get_style_defs(".highlight")
    indented = "\n".join("  " + line for line in dark.splitlines())
    return (
        "/* generated from pygments: light 'default', dark 'github-dark' */\n"
        f"{light}\n@media (prefers-color-scheme: dark) {{\n{indented}\n}}\n"
    )


# -- math -------------------------------------------------------------------------------


def render_math(latex: str, display: bool = False) -> str:
    """LaTeX -> MathML (latex2mathml); invalid LaTeX -> its escaped source in ``<code>``.

    The result is *not yet sanitised* (latex2mathml copies ``\\text{}`` content and
    ``\\href`` targets verbatim): it must go through :func:`sanitize_html`, as
    :func:`render_markdown` does.
    """
    try:
        return latex2mathml.converter.convert(latex, display="block" if display else "inline")
    except Exception:  # latex2mathml raises many unrelated types on bad input
        delim = "$$" if display else "$"
        return f'<code class="math-error">{escape(delim + latex + delim)}</code>'


# -- markdown ---------------------------------------------------------------------------


def _highlight_fence(code: str, lang: str, _attrs: str) -> str:
    return str(highlight_code(code, lang or None))


def _shift_headings(state: Any) -> None:
    # The page has an <h1> title and an <h2> per message: message headings start at h3.
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            level = min(int(token.tag[1]) + 2, 6)
            token.tag = f"h{level}"


def _align_classes(state: Any) -> None:
    # Table alignment comes as style="text-align:..."; the CSP forbids inline styles.
    for token in state.tokens:
        if token.type in ("th_open", "td_open"):
            style = token.attrGet("style")
            if style:
                token.attrs.pop("style", None)
                match = re.search(r"text-align:\s*(left|center|right)", str(style))
                if match:
                    token.attrSet("class", f"align-{match.group(1)}")


def _render_image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # No <img> from message text: the viewer never fetches a remote image. Show a link.
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    src = str(token.attrGet("src") or "")
    label = escape(f"[image: {alt}]", quote=False)
    if src.lower().startswith(("http://", "https://")):
        return f'<a href="{escape(src)}">{label}</a>'
    return label


def _render_table_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return '<div class="table-wrap">' + self.renderToken(tokens, idx, options, env)


def _render_table_close(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return self.renderToken(tokens, idx, options, env) + "</div>\n"


def _make_markdown() -> MarkdownIt:
    md = MarkdownIt(
        "js-default",
        {"html": False, "linkify": False, "typographer": False, "breaks": True, "highlight": _highlight_fence},
    )
    md.enable(["table", "strikethrough"])
    dollarmath_plugin(
        md,
        allow_labels=False,  # labels add id= anchors: no ids from user text
        allow_space=True,
        allow_digits=False,  # "$5 and $10" is money, not math
        renderer=lambda content, opts: render_math(content, bool(opts.get("display_mode"))),
    )
    md.core.ruler.push("convshare_headings", _shift_headings)
    md.core.ruler.push("convshare_align", _align_classes)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("table_open", _render_table_open)
    md.add_render_rule("table_close", _render_table_close)
    return md


_local = threading.local()


def _markdown() -> MarkdownIt:
    # MarkdownIt instances keep per-parse state; one per thread for the render pool.
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = _make_markdown()
    return md


def render_markdown(text: str) -> Markup:
    """Render message markdown to safe HTML.

    Args:
        text: markdown (CommonMark + tables, strikethrough, ``$`` / ``$$`` math); raw
            HTML in it is shown as text.

    Returns:
        Sanitised HTML (``markupsafe.Markup``, a ``str`` subclass): only the allowlisted
        tags/attributes/classes, links limited to http/https/mailto with
        ``rel="noopener noreferrer nofollow"``, no images, no scripts, no styles.
    """
    return Markup(sanitize_html(_markdown().render(text or "")))


def render_plain(text: str) -> Markup:
    """Plain text as an escaped ``<div class="plain">`` (CSS keeps its line breaks)."""
    return Markup(f'<div class="plain">{escape(text or "", quote=False)}</div>')


# -- formatting helpers -----------------------------------------------------------------


def format_size(size: int | None) -> str:
    """Human-readable size in bytes (``"512 B"``, ``"1.4 KB"``, ``"3.0 MB"``; 1 KB = 1024 B).

    ``None`` gives ``""`` (unknown size).
    """
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - loop always returns


def format_time_human(value: datetime | None) -> str:
    """``"3 May 2024, 14:05 UTC"`` for an aware datetime (shown in UTC); ``""`` for ``None``."""
    if value is None:
        return ""
    utc = value.astimezone(timezone.utc)
    return f"{utc.day} {utc:%b %Y, %H:%M} UTC"


def format_time_iso(value: datetime | None) -> str:
    """ISO 8601 UTC with a ``Z`` and whole seconds (for ``<time datetime=...>``); ``""`` for ``None``."""
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- view models ------------------------------------------------------------------------


@dataclass
class RenderedAttachment:
    """An attachment as the viewer page shows it.

    Attributes:
        id: attachment id (key of ``Conversation.attachments``).
        url_id: ``id`` percent-encoded for a URL path segment (``files/<url_id>``).
        name: file name to show (plain text; the template escapes it).
        mime_type: media type or ``None``.
        size_bytes: size in bytes or ``None``; ``size`` is it human-readable (``""`` unknown).
        available: the bytes are stored and can be downloaded.
        inline_image: a stored raster image (png, jpeg, gif, webp) the page may show inline.
        kind: ``Attachment.kind``.
    """

    id: str
    url_id: str
    name: str
    mime_type: str | None
    size_bytes: int | None
    size: str
    available: bool
    inline_image: bool
    kind: str


@dataclass
class RenderedPart:
    """One part of a message, ready for the template.

    Attributes:
        kind: ``"text"``, ``"code"``, ``"reasoning"``, ``"tool_call"``, ``"tool_result"``,
            ``"image"``, ``"file"``, ``"mime"``, ``"citation"`` or ``"unknown"``.
        html: the body as safe HTML (``Markup``; may be empty).
        label: summary line for collapsible parts (plain text), or ``None``.
        attachment: the attachment for ``image`` / ``file`` parts, else ``None``.
        url: for ``citation`` and remote ``image`` parts: an http(s) URL, else ``None``.
        data_uri: for inline ``image`` parts carried as a raster ``data:`` URI, else ``None``.
        alt: alternative text for images (plain text).
        is_error: a failed tool result / error output.
    """

    kind: str
    html: Markup = field(default_factory=Markup)
    label: str | None = None
    attachment: RenderedAttachment | None = None
    url: str | None = None
    data_uri: str | None = None
    alt: str = ""
    is_error: bool = False


@dataclass
class RenderedMessage:
    """One visible message.

    Attributes:
        id: message id; ``anchor`` is a DOM id made from its position (``"m3"``), never
            from user text.
        role: ``"user"``, ``"assistant"`` or ``"tool"``; ``role_label`` is it for humans.
        author_name: display name (plain text); ``author_initial`` its first letter.
        author_kind: ``Participant.kind`` (``"human"``, ``"assistant"``, ...).
        provider, model: as recorded (``None`` when unknown).
        created_at: UTC or ``None``; ``created_iso`` / ``created_human`` are it formatted.
        status: ``"complete"``, ``"incomplete"``, ``"error"`` or ``"deleted"``.
        edited: the source says it was edited.
        parts: the content (empty for deleted messages).
        branch: the switcher shown when this message is one of several alternatives (a
            fork: its parent, or the conversation's roots, have several visible
            children), else ``None``.
    """

    id: str
    anchor: str
    role: str
    role_label: str
    author_name: str
    author_initial: str
    author_kind: str
    provider: str | None
    model: str | None
    created_at: datetime | None
    created_iso: str
    created_human: str
    status: str
    edited: bool
    parts: list[RenderedPart]
    branch: BranchSwitch | None = None


@dataclass(frozen=True)
class BranchLink:
    """Where one arrow of a branch switcher leads.

    Attributes:
        end_id: id of the last message of the target path (a leaf, or the source's
            active leaf).
        query: the page URL's query for it: ``""`` when the target is the default path
            (the canonical page URL, one cached page), else ``"?path=<end_id
            percent-encoded>"`` (every character but ``A-Za-z0-9_.-~`` encoded, so the
            value is safe in a URL and an HTML attribute).
    """

    end_id: str
    query: str


@dataclass(frozen=True)
class BranchSwitch:
    """A ``‹ position / count ›`` switcher at a fork.

    Attributes:
        position: 1-based place of the shown message among its siblings (source order).
        count: number of siblings (at least 2).
        previous, next: the neighbouring siblings' branches, or ``None`` at either end.
    """

    position: int
    count: int
    previous: BranchLink | None
    next: BranchLink | None


@dataclass
class RenderedConversation:
    """Everything of one conversation version that the viewer page shows.

    Attributes:
        title: the title, or ``"Untitled conversation"``.
        messages: visible messages of the active path, in order.
        attachments: every attachment, in conversation order.
        participants: display names of the authors of visible messages (first-seen order).
        models: models seen on visible messages.
        created_at, updated_at: the conversation's own times (UTC or ``None``).
        branch_count: number of branches (visible leaves) in the whole tree; 1 for a chain.
        available_attachments: how many attachments can be downloaded.
        end_id: id of the last message shown; ``None`` for an empty page.
        is_default_path: the page shows the default path (the source's active leaf).
        fork_count: how many shown messages carry a branch switcher.
    """

    title: str
    messages: list[RenderedMessage]
    attachments: list[RenderedAttachment]
    participants: list[str]
    models: list[str]
    created_at: datetime | None
    updated_at: datetime | None
    branch_count: int
    available_attachments: int
    end_id: str | None = None
    is_default_path: bool = True
    fork_count: int = 0

    @property
    def message_count(self) -> int:
        """Number of visible messages."""
        return len(self.messages)


_ROLE_LABELS = {"user": "User", "assistant": "Assistant", "tool": "Tool", "system": "System", "developer": "Developer"}
_HIDDEN_ROLES = {"system", "developer"}
_DATA_URI_RE = re.compile(r"^data:(image/(?:png|jpeg|gif|webp));base64,[A-Za-z0-9+/=\s]+$")
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/=\s]+$")


def _render_attachment(att: Attachment) -> RenderedAttachment:
    mime = (att.mime_type or "").split(";")[0].strip().lower() or None
    return RenderedAttachment(
        id=att.id,
        url_id=quote(att.id, safe=""),
        name=att.name or att.id,
        mime_type=mime,
        size_bytes=att.size_bytes,
        size=format_size(att.size_bytes),
        available=bool(att.available),
        inline_image=bool(att.available) and mime in RASTER_IMAGE_TYPES,
        kind=att.kind,
    )


def _is_http(url: str | None) -> bool:
    return bool(url) and str(url).strip().lower().startswith(("http://", "https://"))


def _parse_json_text(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            return None
    return None


def _render_mime_bundle(part: Part) -> RenderedPart:
    data = part.data if isinstance(part.data, dict) else {}

    def text_of(value: Any) -> str:
        # nbformat allows multiline strings as lists of lines
        if isinstance(value, list):
            return "".join(str(v) for v in value)
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)

    if "text/markdown" in data:
        return RenderedPart(kind="mime", html=render_markdown(text_of(data["text/markdown"])))
    if "text/latex" in data:
        latex = text_of(data["text/latex"]).strip()
        latex = latex.strip("$").strip()
        return RenderedPart(kind="mime", html=Markup(sanitize_html(render_math(latex, display=True))))
    for mime in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        value = data.get(mime)
        if isinstance(value, str) and _BASE64_RE.match(value):
            compact = re.sub(r"\s+", "", value)
            uri = f"data:{mime};base64,{compact}"
            return RenderedPart(kind="image", data_uri=uri, alt=str(part.alt or "output image"))
    if "text/plain" in data:
        return RenderedPart(kind="mime", html=highlight_code(text_of(data["text/plain"])))
    if "application/json" in data:
        return RenderedPart(kind="mime", html=highlight_json(data["application/json"]))
    if "text/html" in data:
        # Never rendered from our origin: shown as its source.
        return RenderedPart(
            kind="mime", label="HTML output (shown as source)", html=highlight_code(text_of(data["text/html"]), "html")
        )
    types = ", ".join(sorted(str(k) for k in data)) or "empty"
    return RenderedPart(kind="unknown", label=f"Output ({types})", html=highlight_json(data))


def _render_part(part: Part, attachments: dict[str, RenderedAttachment]) -> RenderedPart | None:
    kind = part.type
    if kind == "text":
        fmt = (part.format or "markdown").lower()
        if fmt == "plain":
            return RenderedPart(kind="text", html=render_plain(part.text or ""))
        if fmt == "html":
            return RenderedPart(kind="text", label="HTML (shown as source)", html=highlight_code(part.text or "", "html"))
        if not (part.text or "").strip():
            return None
        return RenderedPart(kind="text", html=render_markdown(part.text or ""))
    if kind == "code":
        return RenderedPart(kind="code", html=highlight_code(part.text or "", part.language))
    if kind == "reasoning":
        body = ""
        if part.summary:
            body += str(render_markdown(part.summary))
        if part.text and part.text != part.summary:
            body += str(render_markdown(part.text))
        label = "Reasoning (redacted)" if part.redacted and not body else "Reasoning"
        return RenderedPart(kind="reasoning", label=label, html=Markup(body))
    if kind == "tool_call":
        name = part.title or part.name or "tool"
        label = f"Tool call: {name}" + (f" ({part.status})" if part.status else "")
        args: Any = part.arguments
        if args is None and part.arguments_raw:
            parsed = _parse_json_text(part.arguments_raw)
            args = parsed if parsed is not None else None
            if parsed is None:
                return RenderedPart(kind="tool_call", label=label, html=highlight_code(part.arguments_raw))
        html = highlight_json(args) if args is not None else Markup("")
        return RenderedPart(kind="tool_call", label=label, html=html)
    if kind == "tool_result":
        label = "Tool result" + (" (error)" if part.is_error else "")
        body = ""
        if part.text:
            parsed = _parse_json_text(part.text)
            body += str(highlight_json(parsed) if parsed is not None else highlight_code(part.text))
        if part.data is not None:
            body += str(highlight_json(part.data))
        return RenderedPart(kind="tool_result", label=label, html=Markup(body), is_error=part.is_error)
    if kind == "image":
        alt = part.alt or ""
        att = attachments.get(part.attachment_id or "")
        if att is not None:
            return RenderedPart(kind="image" if att.inline_image else "file", attachment=att, alt=alt or att.name)
        url = (part.url or "").strip()
        match = _DATA_URI_RE.match(url)
        if match:
            return RenderedPart(kind="image", data_uri=re.sub(r"\s+", "", url), alt=alt or "image")
        # Remote images are never loaded by the viewer: show a link (http/https only).
        return RenderedPart(kind="remote_image", url=url if _is_http(url) else None, alt=alt or "image")
    if kind == "file_ref":
        att = attachments.get(part.attachment_id or "")
        if att is None:
            return RenderedPart(kind="file", label=part.name or part.attachment_id or "file")
        return RenderedPart(kind="file", attachment=att)
    if kind == "mime_bundle":
        return _render_mime_bundle(part)
    if kind == "citation":
        url = (part.url or "").strip()
        quote_html = render_markdown(f"> {part.text}") if part.text else Markup("")
        return RenderedPart(
            kind="citation", url=url if _is_http(url) else None, label=part.title or url or "Source", html=quote_html
        )
    label = f"Unsupported content ({part.source_type or part.type})"
    return RenderedPart(kind="unknown", label=label, html=highlight_json(part.data))


def render_message(message: Message, conv: Conversation, index: int, attachments: dict[str, RenderedAttachment]) -> RenderedMessage:
    """Render one message (its parts, author and times) into a :class:`RenderedMessage`.

    Args:
        message: the message; conv: its conversation (for participants); index: its
            1-based position on the page (makes the DOM anchor); attachments: rendered
            attachments by id.
    """
    participant = conv.participants.get(message.author_id)
    role_label = _ROLE_LABELS.get(message.role, message.role.title())
    author_kind = participant.kind if participant else ("human" if message.role == "user" else message.role)
    model = message.model or (participant.model if participant else None)
    name = (participant.display_name if participant else None) or ""
    if not name.strip():
        name = model if (message.role == "assistant" and model) else role_label
    parts: list[RenderedPart] = []
    if message.status != "deleted":
        for part in message.parts:
            rendered = _render_part(part, attachments)
            if rendered is not None:
                parts.append(rendered)
    return RenderedMessage(
        id=message.id,
        anchor=f"m{index}",
        role=message.role,
        role_label=role_label,
        author_name=name,
        author_initial=(name.strip()[:1] or "?").upper(),
        author_kind=author_kind,
        provider=participant.provider if participant else None,
        model=model,
        created_at=message.created_at,
        created_iso=format_time_iso(message.created_at),
        created_human=format_time_human(message.created_at),
        status=message.status,
        edited=message.edited,
        parts=parts,
    )


MAX_PATH_ID_CHARS = 512
"""Longest message id a ``?path=`` value may name; longer values are ignored unread."""


def _is_visible(message: Message) -> bool:
    return not message.hidden and message.role not in _HIDDEN_ROLES


class BranchTree:
    """The visible message tree of one conversation version, and the view of any branch of it.

    Hidden messages and system/developer prompts are transparent: their visible
    descendants take their place among their siblings (as ``core.redact.viewer_copy``
    re-links children of the prompts it removes), and a branch made only of hidden
    messages does not count. A *fork* is a visible parent (or the conversation's start)
    with several visible children; the *default path* ends at the last visible message
    of the source's active path (``Conversation.active_leaf_id``; the last leaf when the
    source records none), as the viewer has always shown.

    A branch is named by the id of a visible message (``?path=<id>`` in the viewer's
    URL, contract in :meth:`end_for`). Rendered messages are kept per message id, so
    pages of several branches of one version render each shared message once. Building
    the tree is one pass over the messages (no rendering); :meth:`render` is the
    CPU-bound part (run it off the event loop). Safe to share between threads (a race
    renders a message twice, never wrongly).

    Args:
        conv: the conversation as viewers may see it (``core.redact.viewer_copy``); it
            must not be changed afterwards.
    """

    def __init__(self, conv: Conversation) -> None:
        self.conversation = conv
        self._attachments = {att_id: _render_attachment(att) for att_id, att in conv.attachments.items()}
        self._rendered: dict[str, RenderedMessage] = {}
        self._parent: dict[str, str | None] = {}  # visible message -> visible parent
        self._children: dict[str | None, list[str]] = {None: []}  # None: the roots
        self._depth: dict[str, int] = {}
        preorder: list[str] = []
        seen: set[str] = set()
        # Iterative depth-first walk (chains of thousands of hidden tool messages must not
        # hit the recursion limit); children pushed reversed to visit them in source order,
        # so visible descendants of a hidden child land in its place among its siblings.
        stack: list[tuple[str, str | None]] = [(mid, None) for mid in reversed(conv.root_ids)]
        while stack:
            mid, vparent = stack.pop()
            message = conv.messages.get(mid)
            if message is None or mid in seen:  # dangling or repeated ids (malformed input)
                continue
            seen.add(mid)
            below = vparent
            if _is_visible(message):
                self._parent[mid] = vparent
                self._children[vparent].append(mid)
                self._children[mid] = []
                self._depth[mid] = 0 if vparent is None else self._depth[vparent] + 1
                preorder.append(mid)
                below = mid
            stack.extend((child, below) for child in reversed(message.children_ids))
        # The latest visible leaf below every message (itself when it is a leaf): the one
        # created last, messages without a time before dated ones, then source order.
        order = {mid: index for index, mid in enumerate(conv.messages)}

        def recency(mid: str) -> tuple[float, int]:
            created = conv.messages[mid].created_at
            return (created.timestamp() if created is not None else float("-inf"), order[mid])

        self._latest: dict[str, str] = {}
        for mid in reversed(preorder):
            kids = self._children[mid]
            self._latest[mid] = max((self._latest[k] for k in kids), key=recency) if kids else mid
        self.branch_count = max(sum(1 for mid in preorder if not self._children[mid]), 1)
        self.default_end: str | None = self._default_end()
        self._default_ids = set(self._path_ids(self.default_end))

    def _default_end(self) -> str | None:
        conv = self.conversation
        try:
            path = conv.active_path()
        except (KeyError, ValueError):  # a dangling parent or a cycle: show nothing rather than fail
            return None
        if not path:
            # No recorded active path: the last visible leaf in source order.
            for mid in reversed(conv.messages):
                if mid in self._parent and not self._children[mid]:
                    return mid
            return None
        for message in reversed(path):
            if message.id in self._parent:
                return message.id
        return None

    def _path_ids(self, end: str | None) -> list[str]:
        ids: list[str] = []
        current = end
        while current is not None:
            ids.append(current)
            current = self._parent[current]
        ids.reverse()
        return ids

    def end_for(self, message_id: str | None) -> str | None:
        """The last message of the branch that ``message_id`` names (the ``?path=`` contract).

        * a message on the default path (its last one included) names the default path:
          returns :attr:`default_end`;
        * any other visible message names the path through it, continued down to the
          latest visible leaf below it (the one created last; source order breaks ties
          and ranks undated messages first);
        * anything else (``None``, unknown, hidden or system message, longer than
          :data:`MAX_PATH_ID_CHARS`) names nothing: returns ``None``.
        """
        if message_id is None or len(message_id) > MAX_PATH_ID_CHARS or message_id not in self._parent:
            return None
        if message_id in self._default_ids:
            return self.default_end
        return self._latest[message_id]

    def _link(self, sibling: str) -> BranchLink:
        end = self.end_for(sibling) or sibling
        query = "" if end == self.default_end else "?path=" + quote(end, safe="")
        return BranchLink(end_id=end, query=query)

    def _message(self, mid: str) -> RenderedMessage:
        rendered = self._rendered.get(mid)
        if rendered is None:
            rendered = render_message(self.conversation.messages[mid], self.conversation, self._depth[mid] + 1, self._attachments)
            self._rendered[mid] = rendered
        siblings = self._children[self._parent[mid]]
        if len(siblings) < 2:
            return rendered
        at = siblings.index(mid)
        switch = BranchSwitch(
            position=at + 1,
            count=len(siblings),
            previous=self._link(siblings[at - 1]) if at > 0 else None,
            next=self._link(siblings[at + 1]) if at + 1 < len(siblings) else None,
        )
        return dataclasses.replace(rendered, branch=switch)

    def render(self, end_id: str | None = None) -> RenderedConversation:
        """The view model of one branch (CPU-bound: run it off the event loop).

        Args:
            end_id: the last message to show, normally from :meth:`end_for`; ``None``,
                or an id that is not a visible message of this version, gives the
                default path.

        Returns:
            A :class:`RenderedConversation` whose HTML fields are sanitised ``Markup``
            and whose messages at forks carry a :class:`BranchSwitch`.
        """
        end = end_id if end_id in self._parent else self.default_end
        messages = [self._message(mid) for mid in self._path_ids(end)]
        participants: list[str] = []
        models: list[str] = []
        for msg in messages:
            if msg.author_name not in participants:
                participants.append(msg.author_name)
            if msg.model and msg.model not in models:
                models.append(msg.model)
        conv = self.conversation
        return RenderedConversation(
            title=(conv.title or "").strip() or "Untitled conversation",
            messages=messages,
            attachments=list(self._attachments.values()),
            participants=participants,
            models=models,
            created_at=conv.created_at,
            updated_at=conv.updated_at,
            branch_count=self.branch_count,
            available_attachments=sum(1 for a in self._attachments.values() if a.available),
            end_id=end,
            is_default_path=end == self.default_end,
            fork_count=sum(1 for msg in messages if msg.branch is not None),
        )


def render_conversation(conv: Conversation, end_id: str | None = None) -> RenderedConversation:
    """Build the viewer's view model of a conversation (CPU-bound: run it off the event loop).

    Shows the default path (root to ``active_leaf_id``, or the last visible leaf when none is
    set), or the branch ending at ``end_id`` (see :meth:`BranchTree.end_for`), skipping
    hidden messages and system/developer prompts (callers pass
    ``core.redact.viewer_copy(conversation)``, which already drops those). Messages at
    forks carry a :class:`BranchSwitch`. To render several branches of one version,
    keep a :class:`BranchTree` instead (messages render once).

    Args:
        conv: the conversation to show.
        end_id: the last message of the branch to show; ``None`` (or an id that is not
            a visible message) for the default path.

    Returns:
        A :class:`RenderedConversation` whose HTML fields are sanitised ``Markup``.
    """
    return BranchTree(conv).render(end_id)


# -- cache ------------------------------------------------------------------------------

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RenderCache(Generic[K, V]):
    """A bounded, thread-safe LRU map (e.g. ``ResolvedShare.cache_key`` -> rendered page).

    Args:
        maxsize: entries kept; the least recently used one is dropped beyond it.
    """

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The cached value (marking it recently used), or ``None``."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` and return it."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The cached value, or ``compute()`` stored under ``key`` (blocking; call in a thread)."""
        value = self.get(key)
        if value is None:
            value = self.put(key, compute())
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()
