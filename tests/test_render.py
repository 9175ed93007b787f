"""Rendering message content to safe HTML and the viewer's view model (core.render)."""

from __future__ import annotations

from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest

from jupyter_convshare.core import importers
from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, Participant, SourceInfo
from jupyter_convshare.core.render import (
    RenderCache,
    format_size,
    format_time_human,
    highlight_code,
    pygments_css,
    render_conversation,
    render_markdown,
)
from jupyter_convshare.core.redact import viewer_copy

from .conftest import real_params

# -- helpers ----------------------------------------------------------------------------

DANGEROUS_TAGS = {
    "script", "img", "iframe", "style", "object", "embed", "svg", "form", "input", "base", "link",
    "meta", "frame", "frameset", "video", "audio", "source", "textarea", "button", "template",
}  # fmt: skip


class _Elements(HTMLParser):
    """Collects every element and attribute a browser would build from an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(str(html))
    parser.close()
    return parser.elements


def assert_inert(html: str) -> None:
    """No executable or remote-loading markup: tags, event handlers, script URLs, styles, ids."""
    for tag, attrs in elements(html):
        assert tag not in DANGEROUS_TAGS, (tag, html)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, html)
            assert name not in {"style", "id", "src", "srcset", "formaction", "xlink:href"}, (tag, name, html)
            if name == "href":
                assert (value or "").lower().startswith(("http://", "https://", "mailto:")), (value, html)


T0 = datetime(2024, 5, 3, 14, 5, 9, tzinfo=timezone.utc)


def conversation(*messages: Message, participants=(), attachments=()) -> Conversation:
    conv = Conversation(id="c1", source=SourceInfo(format="convshare"), title="Demo")
    for p in participants:
        conv.participants[p.id] = p
    for a in attachments:
        conv.attachments[a.id] = a
    for m in messages:
        conv.append(m)
    return conv


def user(text: str, mid: str = "u1", **kw) -> Message:
    return Message(id=mid, role="user", author_id="ana", parts=[Part.text_part(text)], **kw)


def assistant(*parts: Part, mid: str = "a1", **kw) -> Message:
    return Message(id=mid, role="assistant", author_id="bot", parts=list(parts), **kw)


PEOPLE = (
    Participant(id="ana", kind="human", display_name="Ana"),
    Participant(id="bot", kind="assistant", display_name="Claude", provider="anthropic", model="claude-x"),
)

# -- markdown ---------------------------------------------------------------------------


def test_markdown_keeps_the_usual_formatting():
    # Given chat markdown with emphasis, strikethrough, lists, inline code and a quote
    html = render_markdown("**bold** *it* ~~gone~~ `x`\n\n- a\n- b\n\n> quoted")
    # Then the elements are there
    tags = [t for t, _ in elements(html)]
    for tag in ("strong", "em", "s", "code", "ul", "li", "blockquote"):
        assert tag in tags


def test_markdown_headings_start_below_the_page_and_message_headings():
    # Given a message with h1 and h6 / When rendered
    tags = [t for t, _ in elements(render_markdown("# One\n\n###### Six"))]
    # Then h1 becomes h3 (the page has h1, each message an h2) and h6 stays h6
    assert tags == ["h3", "h6"]


def test_single_newlines_are_line_breaks_as_in_chat_apps():
    assert "<br>" in render_markdown("first line\nsecond line")


def test_tables_scroll_in_a_wrapper_and_align_with_classes_not_styles():
    # Given a table with aligned columns
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |")
    # Then it is wrapped for horizontal scrolling and alignment uses classes (the CSP bans inline styles)
    assert html.startswith('<div class="table-wrap"><table>')
    assert '<th class="align-right">b</th>' in html
    assert "style" not in html


def test_fenced_code_is_highlighted_with_pygments_classes_and_labelled():
    html = render_markdown("```python\nimport os\n```")
    assert '<pre class="highlight" data-lang="python"><code>' in html
    assert '<span class="kn">import</span>' in html


def test_fenced_code_in_an_unknown_language_is_plain_escaped_text():
    html = render_markdown("```klingon\n<b>qapla'</b>\n```")
    assert "&lt;b&gt;qapla'&lt;/b&gt;" in html
    assert "<span" not in html


def test_inline_and_display_math_become_mathml():
    html = render_markdown("Euler: $e^{i\\pi}+1=0$\n\n$$\n\\frac{a}{b}\n$$")
    assert '<span class="math inline"><math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in html
    assert '<div class="math block">' in html and "<mfrac>" in html


def test_invalid_latex_is_shown_as_escaped_source():
    html = render_markdown("broken $\\frac{<b>}{$ here")
    assert '<code class="math-error">$\\frac{&lt;b&gt;}{$</code>' in html


def test_dollar_amounts_are_not_math():
    assert "<math" not in render_markdown("It costs $5 and $10.")


def test_urls_are_not_linkified_and_remote_images_become_links():
    # Given a bare URL and a markdown image pointing at a remote server
    html = render_markdown("see https://example.com\n\n![a chart](https://evil.example/track.png)")
    # Then the bare URL stays text, and the image is a link the viewer's browser does not fetch
    assert elements(html) == [
        ("p", {}),
        ("p", {}),
        ("a", {"href": "https://evil.example/track.png", "rel": "noopener noreferrer nofollow"}),
    ]
    assert "[image: a chart]" in html


def test_links_get_rel_noopener_noreferrer_nofollow():
    html = render_markdown("[docs](https://jupyter.org)")
    assert elements(html)[1] == ("a", {"href": "https://jupyter.org", "rel": "noopener noreferrer nofollow"})


def test_relative_links_lose_their_href_so_nothing_points_into_the_jupyter_server():
    html = render_markdown("[kernels](/api/kernels) [up](../tree)")
    assert all("href" not in attrs for tag, attrs in elements(html) if tag == "a")


XSS_MARKDOWN = [
    "<script>window.__pwned=1</script>",
    "<img src=x onerror=\"window.__pwned=1\">",
    "<svg onload=alert(1)><circle/></svg>",
    "<iframe src=javascript:alert(1)></iframe>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](jav&#x61;script:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<javascript:alert(1)>",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '![x" onerror="alert(1)](https://e.example/a.png)',
    '[x](https://e.example/ "a\\" onmouseover=\\"alert(1)")',
    "```\n</code></pre><script>window.__pwned=1</script>\n```",
    '```" onmouseover="alert(1)\ncode\n```',
    "`</code><img src=x onerror=alert(1)>`",
    "$\\href{javascript:alert(1)}{click}$",
    "$$\\href{javascript:alert(1)}{click}$$",
    "$\\text{<img src=x onerror=alert(1)>}$",
    "$\\text{</math><img src=x onerror=alert(1)>}$",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<a href='https://ok.example' onclick='alert(1)'>raw</a>",
    "| <script>alert(1)</script> |\n|---|\n| <img src=x onerror=alert(1)> |",
    "<!-- --><script>alert(1)</script>",
    "<style>body{display:none}</style>",
    "<form action=https://evil.example><input name=x></form>",
    "<base href=https://evil.example/>",
]


@pytest.mark.parametrize("payload", XSS_MARKDOWN)
def test_hostile_markdown_renders_inert(payload):
    # Given attacker-written message text / When rendered
    html = render_markdown(payload)
    # Then no element could run script, load anything or restyle the page
    assert_inert(html)


def test_raw_html_is_shown_as_text():
    html = render_markdown("<script>window.__pwned=1</script>")
    assert html == "<p>&lt;script&gt;window.__pwned=1&lt;/script&gt;</p>\n"


def test_highlight_code_escapes_a_hostile_language_label():
    html = highlight_code("x", '"><script>alert(1)</script>')
    assert_inert(html)
    assert "<script" not in html


def test_pygments_css_has_light_and_dark_styles_scoped_to_highlight():
    css = pygments_css()
    assert ".highlight .k " in css
    assert "@media (prefers-color-scheme: dark)" in css


# -- view model -------------------------------------------------------------------------


def test_view_model_shows_role_author_provider_model_and_time():
    # Given a two-message conversation
    conv = conversation(
        user("hi", created_at=T0),
        assistant(Part.text_part("hello **there**"), model="claude-3-7"),
        participants=PEOPLE,
    )
    # When rendered
    view = render_conversation(conv)
    # Then each message carries what the page shows
    first, second = view.messages
    assert (first.role, first.author_name, first.created_iso, first.created_human) == (
        "user", "Ana", "2024-05-03T14:05:09Z", "3 May 2024, 14:05 UTC",
    )  # fmt: skip
    assert (second.role, second.author_name, second.provider, second.model) == (
        "assistant", "Claude", "anthropic", "claude-3-7",
    )  # fmt: skip
    assert "<strong>there</strong>" in second.parts[0].html
    assert view.title == "Demo" and view.message_count == 2
    assert view.participants == ["Ana", "Claude"] and view.models == ["claude-3-7"]


def test_view_model_skips_hidden_messages_and_system_prompts():
    conv = conversation(
        Message(id="s", role="system", author_id="sys", parts=[Part.text_part("You are secret-config")]),
        user("visible"),
        assistant(Part.text_part("plumbing"), mid="h", hidden=True),
        participants=PEOPLE,
    )
    view = render_conversation(conv)
    assert [m.id for m in view.messages] == ["u1"]


def test_view_model_shows_the_active_branch_and_counts_branches():
    # Given a user message with two alternative answers, the second one active
    conv = conversation(user("q"), participants=PEOPLE)
    conv.add_message(assistant(Part.text_part("first try"), mid="a1", parent_id="u1"))
    conv.add_message(assistant(Part.text_part("second try"), mid="a2", parent_id="u1"))
    conv.active_leaf_id = "a2"
    view = render_conversation(conv)
    assert [m.id for m in view.messages] == ["u1", "a2"]
    assert view.branch_count == 2


def test_deleted_messages_show_no_content():
    conv = conversation(user("secret words", status="deleted"), participants=PEOPLE)
    (msg,) = render_conversation(conv).messages
    assert msg.status == "deleted" and msg.parts == []


def test_authors_without_a_name_fall_back_to_model_or_role():
    conv = conversation(
        Message(id="1", role="user", author_id="nobody", parts=[Part.text_part("q")]),
        Message(id="2", role="assistant", author_id="openai:assistant", model="gpt-4o", parts=[Part.text_part("a")]),
    )
    names = [m.author_name for m in render_conversation(conv).messages]
    assert names == ["User", "gpt-4o"]


def test_structured_parts_render_collapsible_with_highlighted_json():
    conv = conversation(
        assistant(
            Part(type="reasoning", text="think *hard*"),
            Part(type="tool_call", name="search", call_id="c1", arguments={"q": "<script>"}),
            Part(type="tool_result", call_id="c1", text='{"hits": 3}', is_error=True),
            Part(type="code", text="print(1)", language="python"),
        ),
        participants=PEOPLE,
    )
    reasoning, call, result, code = render_conversation(conv).messages[0].parts
    assert reasoning.kind == "reasoning" and "<em>hard</em>" in reasoning.html
    assert call.label == "Tool call: search"
    assert "&lt;script&gt;" in call.html and 'data-lang="json"' in call.html
    assert result.is_error and result.label == "Tool result (error)" and '<span class="nt">"hits"</span>' in result.html
    assert '<span class="nb">print</span>' in code.html


def test_tool_call_with_unparsable_raw_arguments_shows_them_escaped():
    conv = conversation(assistant(Part(type="tool_call", name="x", arguments_raw="{not json <b>")))
    (part,) = render_conversation(conv).messages[0].parts
    assert "{not json &lt;b&gt;" in part.html


def test_only_stored_raster_images_are_shown_inline():
    attachments = (
        Attachment(id="png", name="plot.png", mime_type="image/png", size_bytes=2048, available=True),
        Attachment(id="svg", name="logo.svg", mime_type="image/svg+xml", available=True),
        Attachment(id="gone", name="missing.png", mime_type="image/png", available=False),
    )
    conv = conversation(
        assistant(
            Part(type="image", attachment_id="png"),
            Part(type="image", attachment_id="svg"),
            Part(type="image", attachment_id="gone"),
            Part(type="image", url="https://tracker.example/pixel.png", alt="remote"),
            Part(type="image", url="javascript:alert(1)"),
        ),
        attachments=attachments,
    )
    png, svg, gone, remote, script = render_conversation(conv).messages[0].parts
    assert png.kind == "image" and png.attachment.inline_image and png.attachment.size == "2.0 KB"
    assert svg.kind == "file" and not svg.attachment.inline_image
    assert gone.kind == "file" and not gone.attachment.available
    assert remote.kind == "remote_image" and remote.url == "https://tracker.example/pixel.png"
    assert script.kind == "remote_image" and script.url is None


def test_attachment_ids_are_percent_encoded_for_urls():
    conv = conversation(attachments=(Attachment(id="../a b/c", name="c.txt", available=True),))
    (att,) = render_conversation(conv).attachments
    assert att.url_id == "..%2Fa%20b%2Fc"


def test_mime_bundle_prefers_markdown_and_never_renders_html():
    conv = conversation(
        assistant(
            Part(type="mime_bundle", data={"text/markdown": "**md**", "text/html": "<b>h</b>"}),
            Part(type="mime_bundle", data={"text/html": "<script>window.__pwned=1</script>"}),
            Part(type="mime_bundle", data={"text/latex": "$$x^2$$"}),
            Part(type="mime_bundle", data={"text/plain": "<not html>"}),
        )
    )
    md, html, latex, plain = render_conversation(conv).messages[0].parts
    assert "<strong>md</strong>" in md.html
    assert html.label == "HTML output (shown as source)" and "&lt;" in html.html
    assert_inert(html.html)
    assert "<msup>" in latex.html
    assert "&lt;not html&gt;" in plain.html


def test_citations_link_only_to_http_urls():
    conv = conversation(
        assistant(
            Part(type="citation", url="https://doi.org/10.1/x", title="Paper", text="a quote"),
            Part(type="citation", url="javascript:alert(1)", title="Bad"),
        )
    )
    good, bad = render_conversation(conv).messages[0].parts
    assert good.url == "https://doi.org/10.1/x" and "<blockquote>" in good.html
    assert bad.url is None


def test_unknown_parts_show_their_data_as_escaped_json():
    conv = conversation(assistant(Part(type="unknown", source_type="weird", data={"x": "</pre><script>"})))
    (part,) = render_conversation(conv).messages[0].parts
    assert part.label == "Unsupported content (weird)"
    assert_inert(part.html)


def test_empty_conversation_renders_with_a_default_title():
    conv = Conversation(id="e", source=SourceInfo(format="convshare"))
    view = render_conversation(conv)
    assert view.title == "Untitled conversation" and view.messages == []


# -- helpers and cache ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"), [(None, ""), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KB"), (5 * 1024**3, "5.0 GB")]
)
def test_sizes_are_human_readable(size, text):
    assert format_size(size) == text


def test_times_are_shown_in_utc():
    assert format_time_human(datetime(2024, 1, 2, 3, 4, tzinfo=timezone.utc)) == "2 Jan 2024, 03:04 UTC"


def test_render_cache_is_a_bounded_lru():
    cache: RenderCache[str, str] = RenderCache(maxsize=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recently used
    cache.put("c", "C")
    assert cache.get("b") is None and cache.get("a") == "A" and len(cache) == 2


def test_render_cache_computes_once_per_key():
    cache: RenderCache[str, int] = RenderCache()
    calls = []
    for _ in range(3):
        cache.get_or_compute("k", lambda: calls.append(1) or len(calls))
    assert calls == [1]


# -- real conversations -----------------------------------------------------------------


@pytest.mark.fixtures_real
@pytest.mark.parametrize(
    "path",
    real_params("jupyterlab-chat/*/*.chat") + real_params("api-messages/*/*") + real_params("openwebui/*/*")
    + real_params("jupyter-ai/*/*"),
)
def test_real_conversations_render_inert(path):
    # Given a real third-party conversation that an importer reads
    conversations = importers.load(path)
    for conv in conversations:
        # When its viewer copy is rendered
        view = render_conversation(viewer_copy(conv))
        # Then every part is inert HTML, and nothing of the home directories shows
        for message in view.messages:
            for part in message.parts:
                assert_inert(part.html)
                assert "/home/" not in part.html and "/Users/" not in part.html
