"""The HTML, ``.chat`` and ``.ipynb`` exporters, the round trips on real fixtures, and attacks on them."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import html5lib
import nbformat
import pytest

from jupyter_convshare.core.errors import ImportFailed
from jupyter_convshare.core.exporters import EXPORT_FORMATS, MAX_IMAGE_BYTES, blob_reader, export
from jupyter_convshare.core.exporters.chat import chat_document
from jupyter_convshare.core.exporters.html import CSP, stylesheet
from jupyter_convshare.core.importers import load, load_one
from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, Participant, SourceInfo
from jupyter_convshare.core.redact import viewer_copy
from jupyter_convshare.core.render import ALLOWED_TAGS

from .conftest import PROJECT_FIXTURES, real_fixtures, real_params

OWN = PROJECT_FIXTURES / "importers"
T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'

REAL_CHATS = real_params("jupyterlab-chat/*/*.chat")
REAL_EASY = REAL_CHATS + real_params("api-messages/Abelo9996__*/*")


def html_of(conversation: Conversation, blobs: dict[str, bytes] | None = None) -> str:
    reader = (lambda att: (blobs or {}).get(att.id)) if blobs is not None else None
    return export(conversation, "html", read_blob=reader).decode("utf-8")


def parse_html(text: str) -> Any:
    """The document as browsers parse it (html5lib, the WHATWG algorithm), as an ElementTree."""
    return html5lib.parse(text, namespaceHTMLElements=False)


def local(tag: str) -> str:
    """An element's name without its namespace (html5lib puts MathML and SVG in theirs)."""
    return tag.rsplit("}", 1)[-1]


def notebook_of(conversation: Conversation, blobs: dict[str, bytes] | None = None) -> nbformat.NotebookNode:
    reader = (lambda att: (blobs or {}).get(att.id)) if blobs is not None else None
    data = export(conversation, "ipynb", read_blob=reader)
    notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    nbformat.validate(notebook)
    return notebook


def chat_of(conversation: Conversation) -> dict[str, Any]:
    return json.loads(export(conversation, "chat").decode("utf-8"))


def picture_conversation() -> Conversation:
    """A question with a CSV, an answer with a stored PNG, an unstored PNG, an SVG and a data: image."""
    conv = Conversation(id="pics", title="Plots", source=SourceInfo(format="convshare"), created_at=T0)
    conv.participants = {
        "ada": Participant(id="ada", display_name="Ada"),
        "bot": Participant(id="bot", kind="assistant", display_name="Claude", provider="anthropic", model="claude-x"),
    }
    conv.attachments = {
        "csv": Attachment(id="csv", name="data.csv", mime_type="text/csv", size_bytes=8, available=True,
                          sha256="a" * 64, uri="data/data.csv"),
        "plot": Attachment(id="plot", name="my plot (1).png", kind="image", mime_type="image/png",
                           size_bytes=len(PNG), available=True, sha256="b" * 64),
        "gone": Attachment(id="gone", name="gone.png", kind="image", mime_type="image/png", available=False),
        "vector": Attachment(id="vector", name="chart.svg", kind="image", mime_type="image/svg+xml",
                             available=True, sha256="c" * 64),
        "liar": Attachment(id="liar", name="liar.png", kind="image", mime_type="image/png", available=True,
                           sha256="d" * 64),
    }
    conv.append(Message(id="q", role="user", author_id="ada", created_at=T0,
                        parts=[Part.text_part("Plot **data.csv**"), Part(type="file_ref", attachment_id="csv")]))
    conv.append(Message(id="a", role="assistant", author_id="bot", created_at=T0 + timedelta(seconds=3), parts=[
        Part.text_part("Here:\n\n```python\nimport pandas as pd\ndf = pd.read_csv('data.csv')\n```\n\n"
                       "and in a shell:\n\n```bash\nls -l\n```\n\nThe mean is $\\bar{x}^2$."),
        Part(type="image", attachment_id="plot", alt="the plot"),
        Part(type="image", attachment_id="gone", alt="lost plot"),
        Part(type="image", attachment_id="vector", alt="vector"),
        Part(type="image", attachment_id="liar", alt="liar"),
        Part(type="image", url="data:image/png;base64," + base64.b64encode(PNG).decode(), alt="inline"),
    ]))
    return conv


PICTURE_BLOBS = {"csv": b"a,b\n1,2\n", "plot": PNG, "vector": SVG, "liar": SVG}


def hostile_conversation() -> Conversation:
    """Every field that reaches an export carries a script payload."""
    conv = Conversation(id="xss", title=f"T{XSS}", source=SourceInfo(format="openai-chat"))
    conv.participants = {
        "alice": Participant(id="alice", kind="human", display_name=f"U{XSS}", avatar_url="javascript:alert(1)"),
        "b": Participant(id="b", kind="assistant", display_name=f"B{XSS}", provider=f"P{XSS}", model=f"M{XSS}"),
        "sys": Participant(id="sys", kind="system", display_name="System"),
    }
    conv.attachments = {
        "f": Attachment(id="f", name=f'"><img src=x onerror=alert(1)>{XSS}.png', mime_type="image/png",
                        uri="../../../etc/passwd"),
    }
    conv.append(Message(id="s", role="system", author_id="sys", parts=[Part.text_part("SYSTEM-PROMPT-SECRET")]))
    conv.append(Message(id="1", role="user", author_id="alice", parts=[
        Part.text_part(f"{XSS} [click](javascript:alert(1)) <a href=\"javascript:alert(2)\">x</a> "
                       "[data](data:text/html,<script>alert(3)</script>) ![i](javascript:alert(4))"),
        Part(type="file_ref", attachment_id="f"),
    ]))
    conv.append(Message(id="2", role="assistant", author_id="b", parts=[
        Part.text_part("$\\href{javascript:alert(5)}{x}$ and $\\text{<script>alert(6)</script>}$"),
        Part(type="code", language=f"python{XSS}", text=XSS),
        Part(type="mime_bundle", data={"text/html": XSS, "text/plain": "x"}, extra={"jupyterlab-chat": {"trusted": True}}),
        Part(type="image", url="data:image/svg+xml;base64," + base64.b64encode(SVG).decode(), alt=XSS),
        Part(type="citation", url="javascript:alert(7)", title=XSS, text=XSS),
    ]))
    return conv


# -- registry -----------------------------------------------------------------------------


def test_the_new_formats_are_registered_with_media_types_extensions_and_path_scope() -> None:
    # Given the registry, then html, chat and ipynb are there, hold the active path and say which embed files
    described = {k: (f.media_type, f.extension, f.embeds_files, f.active_path_only)
                 for k, f in EXPORT_FORMATS.items() if k in ("html", "chat", "ipynb")}
    assert described == {
        "html": ("text/html; charset=utf-8", ".html", True, True),
        "chat": ("application/json; charset=utf-8", ".chat", False, True),
        "ipynb": ("application/x-ipynb+json", ".ipynb", True, True),
    }


def test_blob_reader_reads_small_available_blobs_only(tmp_path: Path) -> None:
    # Given blob files on disk, one small, one over the limit
    (tmp_path / ("a" * 64)).write_bytes(PNG)
    (tmp_path / ("b" * 64)).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    read = blob_reader(lambda sha: tmp_path / sha, max_bytes=50)

    def att(sha: str | None, available: bool = True) -> Attachment:
        return Attachment(id="x", name="x.png", mime_type="image/png", sha256=sha, available=available)

    # Then only the small, available, present one is read; nothing raises
    assert read(att("a" * 64)) == PNG
    assert read(att("b" * 64)) is None
    assert read(att("a" * 64, available=False)) is None
    assert read(att("e" * 64)) is None and read(att(None)) is None

    def failing(sha: str) -> str:
        raise ValueError("malformed sha256")

    assert blob_reader(failing)(att("a" * 64)) is None


@pytest.mark.parametrize(
    ("mime", "data", "embedded"),
    [
        ("image/png", PNG, True),
        ("image/png", SVG, False),
        ("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 8, True),
        ("image/gif", b"GIF89a" + b"\x00" * 8, True),
        ("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ", True),
        ("image/webp", b"RIFF\x10\x00\x00\x00WAVEfmt ", False),
        ("image/svg+xml", SVG, False),
        ("text/html", b"<script>alert(1)</script>", False),
    ],
)
def test_only_bytes_that_are_the_raster_type_they_claim_are_embedded(mime: str, data: bytes, embedded: bool) -> None:
    # Given an attachment of a claimed media type whose stored bytes are ``data``
    conv = Conversation(id="m", source=SourceInfo(format="convshare"), participants={"u": Participant(id="u")},
                        attachments={"x": Attachment(id="x", name="x", mime_type=mime, available=True,
                                                     sha256="a" * 64)})
    conv.append(Message(id="1", role="user", author_id="u", parts=[Part(type="image", attachment_id="x")]))
    # When exported as HTML and as a notebook with those bytes
    text = html_of(conv, {"x": data})
    notebook = notebook_of(conv, {"x": data})
    # Then the image is embedded only when the bytes are really that raster type
    assert (len(list(parse_html(text).iter("img"))) == 1) is embedded
    bundles = [b for c in notebook.cells for b in c.get("attachments", {}).values()]
    assert any(key.startswith("image/") for b in bundles for key in b) is embedded


# -- HTML ---------------------------------------------------------------------------------


def test_html_is_one_inert_self_contained_file() -> None:
    # When a conversation with pictures is exported as HTML with its stored bytes
    text = html_of(picture_conversation(), PICTURE_BLOBS)
    doc = parse_html(text)
    # Then it has the CSP meta tag, one inline stylesheet, no script, nothing fetched from anywhere
    metas = {m.get("http-equiv", "").lower(): m.get("content") for m in doc.iter("meta")}
    assert metas["content-security-policy"] == CSP
    assert CSP.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert [e.tag for e in doc.iter() if e.tag in ("script", "link", "iframe", "object", "embed", "base", "form")] == []
    assert len(list(doc.iter("style"))) == 1 and ".highlight" in next(doc.iter("style")).text
    for element in doc.iter():
        for name in ("src", "srcset", "poster", "data", "action", "background"):
            value = element.get(name)
            assert value is None or value.startswith("data:image/"), (element.tag, name, value)


def test_html_embeds_stored_raster_images_as_data_uris_and_lists_the_rest() -> None:
    text = html_of(picture_conversation(), PICTURE_BLOBS)
    srcs = [img.get("src") for img in parse_html(text).iter("img")]
    # Then the stored PNG and the message's own data: PNG are shown, nothing else
    data_png = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert srcs == [data_png, data_png]
    # the SVG and the "PNG" that is really SVG are never embedded; missing or stored files are listed by name
    assert "data:image/svg" not in text and base64.b64encode(SVG).decode() not in text
    for name in ("data.csv", "gone.png", "chart.svg", "liar.png"):
        assert name in text
    assert "Not shared" in text and "Not included in this file" in text


def test_html_without_blob_reader_lists_images_instead_of_showing_them() -> None:
    text = html_of(picture_conversation())
    srcs = [img.get("src") for img in parse_html(text).iter("img")]
    # Then only the message's own data: image is shown
    assert len(srcs) == 1 and "my plot (1).png" in text


def test_html_embeds_no_image_over_the_size_limit() -> None:
    conv = picture_conversation()
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_IMAGE_BYTES + 1)
    conv.attachments["plot"].size_bytes = len(big)
    text = html_of(conv, {**PICTURE_BLOBS, "plot": big})
    assert len(list(parse_html(text).iter("img"))) == 1


def test_html_renders_like_the_viewer_highlighted_code_and_mathml() -> None:
    text = html_of(picture_conversation(), PICTURE_BLOBS)
    doc = parse_html(text)
    # Then code is highlighted by pygments (token classes), math is MathML, the title and authors are shown
    assert any(e.tag == "pre" and e.get("class") == "highlight" and e.get("data-lang") == "python" for e in doc.iter())
    assert any(e.tag == "span" and e.get("class") == "kn" and e.text == "import" for e in doc.iter())
    assert any(local(e.tag) == "math" for e in doc.iter())
    assert "<h1 class=\"title\">Plots</h1>" in text and "Claude" in text and "claude-x" in text


def test_html_shows_the_active_path_and_says_how_many_branches_exist() -> None:
    text = html_of(load_one(OWN / "branching.json"))
    assert "Regenerated answer:" in text and "First answer." not in text
    assert "This conversation has 2 branches; this file shows the active one." in text


def test_html_skips_system_prompts_and_hidden_messages() -> None:
    text = html_of(load_one(OWN / "features.chat"))
    assert "Refreshed all AI personas" not in text  # hidden system user
    assert "Merci, c&#39;est parfait — 完璧です" in text or "Merci, c'est parfait — 完璧です" in text


def test_html_of_a_hostile_conversation_has_no_executable_markup() -> None:
    # Given every field carrying script, event handler and javascript: payloads
    text = html_of(hostile_conversation())
    doc = parse_html(text)
    # Then, parsed as a browser parses it, nothing can run
    template_tags = {"html", "head", "body", "meta", "title", "style", "header", "main", "footer", "section", "ol",
                     "li", "article", "h1", "h2", "dl", "dt", "dd", "div", "p", "span", "ul", "details", "summary",
                     "figure", "figcaption", "img", "time", "a"}
    for element in doc.iter():
        assert local(element.tag) in ALLOWED_TAGS | template_tags, element.tag
        if element.tag == "style":  # the one inlined stylesheet, nothing from the conversation
            assert element.text.strip() == stylesheet().strip()
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name)
            if name in ("href", "src"):
                assert value.startswith(("http://", "https://", "mailto:", "#", "data:image/png", "data:image/jpeg",
                                         "data:image/gif", "data:image/webp")), (element.tag, name, value)
    assert "javascript:" not in "".join(e.get("href", "") + e.get("src", "") for e in doc.iter())
    assert "SYSTEM-PROMPT-SECRET" not in text  # the viewer's view skips system prompts
    # the payload is shown as text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", REAL_EASY)
def test_real_fixtures_export_to_html_with_every_visible_message(path: Path) -> None:
    for conversation in load(path):
        text = html_of(conversation)
        visible = [m for m in conversation.active_path() if not m.hidden and m.role not in ("system", "developer")]
        assert text.count('<li class="message ') == len(visible)
        assert "<script" not in text.lower()


# -- .chat --------------------------------------------------------------------------------


def normalised_chat(document: dict[str, Any]) -> dict[str, Any]:
    """What must survive a round trip, with jupyterlab-chat's defaults filled in and the UI-only flag dropped.

    Messages are in time order (jupyterlab-chat's order; the importer sorts stably by time), and
    absent optional fields equal their defaults (``mentions`` ``[]``, flags ``false``).
    """
    messages = []
    for index, message in sorted(enumerate(document["messages"]), key=lambda im: (im[1]["time"], im[0])):
        item = {k: v for k, v in message.items() if k != "stacked"}
        item["time"] = round(item["time"], 6)  # the model's datetimes keep microseconds
        item.setdefault("mentions", [])
        item.setdefault("raw_time", False)
        for flag in ("deleted", "edited"):
            if not item.get(flag):
                item.pop(flag, None)
        if not item.get("attachments"):
            item.pop("attachments", None)
        messages.append(item)
    users = {}
    for key, user in document["users"].items():
        user = dict(user)
        # files written before jupyterlab-chat had "bot": personas are recognised by their prefix
        user.setdefault("bot", key.startswith(("jupyter-ai-personas::", "hidden::")))
        users[key] = user
    return {
        "messages": messages,
        "users": users,
        "attachments": document.get("attachments", {}),
        "metadata": document.get("metadata", {}),
    }


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", REAL_CHATS)
def test_real_chat_files_round_trip_through_import_and_chat_export(path: Path) -> None:
    # Given a real .chat file
    original = json.loads(path.read_text(encoding="utf-8"))
    # When it is imported and exported as .chat again
    exported = chat_of(load_one(path))
    # Then every message (id, body, time, sender, mentions, flags, metadata, attachments), user and
    # attachment reference is kept
    assert normalised_chat(exported) == normalised_chat(original)
    # and the export is a fixed point: imported and exported again, the same bytes
    first = export(load_one(path), "chat")
    assert export(load_one(first, name=path.name), "chat") == first


def test_the_feature_chat_round_trips_but_drops_trust_and_unknown_users() -> None:
    original = json.loads((OWN / "features.chat").read_text(encoding="utf-8"))
    exported = chat_of(load_one(OWN / "features.chat"))
    expected = normalised_chat(original)
    got = normalised_chat(exported)
    assert [m["id"] for m in got["messages"]] == [m["id"] for m in expected["messages"]]
    assert got["users"] == expected["users"] and got["attachments"] == expected["attachments"]
    assert got["metadata"] == expected["metadata"]
    for mine, theirs in zip(got["messages"], expected["messages"]):
        if mine["id"] != "m8":
            assert mine == theirs
    plot = next(m for m in got["messages"] if m["id"] == "m8")
    assert plot["mime_model"] == {"data": {"text/markdown": "**Plot** ready", "image/png": "iVBORw0KGgo="},
                                  "metadata": {"isolated": True}, "trusted": False}
    # the unlisted sender stays unlisted
    assert "ghost-user" not in exported["users"]


def test_chat_export_opens_in_jupyterlab_chat() -> None:
    ychat_module = pytest.importorskip("jupyterlab_chat.ychat", reason="jupyterlab-chat (test extra) not installed")
    conv = load_one(OWN / "features.chat")
    data = export(conv, "chat").decode("utf-8")
    # When jupyterlab-chat's own document model loads the file
    chat = ychat_module.YChat()
    chat.set(data)
    # Then its typed models accept every message, user and attachment
    messages = chat.get_messages()
    assert [m.id for m in messages] == [m.id for m in conv.active_path()]
    assert set(chat.get_users()) == set(json.loads(data)["users"])
    assert {k: v.value for k, v in chat.get_attachments().items()} == {
        "att-file": "src/load.py", "att-nb": "analysis/report.ipynb", "att-unused": "data/raw.csv"}
    assert chat.get_metadata()["id"] == conv.source.original_id


def load_in_ychat(data: bytes) -> Any:
    """A real jupyterlab-chat document model (``YChat`` over pycrdt) holding ``data``."""
    ychat_module = pytest.importorskip("jupyterlab_chat.ychat", reason="jupyterlab-chat (test extra) not installed")
    chat = ychat_module.YChat()
    chat.set(data.decode("utf-8"))
    return chat


def assert_ychat_holds(chat: Any, data: bytes) -> None:
    """The model's typed views accept everything and it gives the same document back."""
    document = json.loads(data)
    assert [m.id for m in chat.get_messages()] == [m["id"] for m in document["messages"]]
    assert set(chat.get_users()) == set(document["users"])
    assert set(chat.get_attachments()) == set(document["attachments"])
    back = json.loads(chat.get())
    # YChat.get() writes the attachment models' unset optional fields as null, at any depth
    assert without_nulls(back["attachments"]) == without_nulls(document["attachments"])
    assert {**back, "attachments": None} == {**document, "attachments": None}


def without_nulls(value: Any) -> Any:
    """``value`` without ``None`` members of its dicts, at any depth."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", REAL_CHATS)
def test_real_chat_files_exported_again_load_in_jupyterlab_chat(path: Path) -> None:
    # Given a real .chat file imported, When it is exported as .chat (owner's copy and viewer's copy)
    for conversation in (load_one(path), viewer_copy(load_one(path))):
        data = export(conversation, "chat")
        # Then jupyterlab-chat's own model loads it and gives back the same document
        assert_ychat_holds(load_in_ychat(data), data)


@pytest.mark.parametrize("name", ["openai_tools.json", "branching.json"])
def test_api_and_branching_conversations_exported_as_chat_load_in_jupyterlab_chat(name: str) -> None:
    data = export(load_one(OWN / name), "chat")
    assert_ychat_holds(load_in_ychat(data), data)


def test_a_hostile_conversation_exported_as_chat_loads_in_jupyterlab_chat() -> None:
    for conversation in (hostile_conversation(), viewer_copy(hostile_conversation())):
        data = export(conversation, "chat")
        assert_ychat_holds(load_in_ychat(data), data)


def test_api_conversations_become_a_flat_chat_without_prompts() -> None:
    # Given an OpenAI message list with developer and system prompts, tools and no times
    conv = load_one(OWN / "openai_tools.json")
    doc = chat_document(conv)
    text = json.dumps(doc)
    # Then prompts are left out, every other message of the path is there, in order, at one borrowed time
    assert "Answer briefly." not in text and "You can call tools." not in text
    kept = [m for m in conv.active_path() if m.role not in ("system", "developer")]
    assert [m["id"] for m in doc["messages"]] == [m.id for m in kept]
    assert {m["time"] for m in doc["messages"]} == {0.0} and all(m["raw_time"] is False for m in doc["messages"])
    # senders are users; assistants and tools are bots
    assert {m["sender"] for m in doc["messages"]} <= set(doc["users"])
    assert {u["username"]: u["bot"] for u in doc["users"].values()}["ana" if "ana" in doc["users"] else "user"] is False
    assert all(u["bot"] for k, u in doc["users"].items() if conv.participants[k].kind == "assistant")
    # tool calls are Jupyter AI tool calls
    calls = [c for m in doc["messages"] for c in m.get("metadata", {}).get("tool_calls", [])]
    assert [c.get("tool_call_id") for c in calls][:2] == ["call_a", "call_b"]
    # and the chat id is stable
    assert doc["metadata"]["id"] == chat_document(conv)["metadata"]["id"]


def test_chat_of_a_branching_conversation_holds_the_active_path_with_real_times() -> None:
    conv = load_one(OWN / "branching.json")
    doc = chat_document(conv)
    assert [m["id"] for m in doc["messages"]] == ["1", "3", "4"]
    assert doc["messages"][0]["time"] == T0.replace(month=1, day=2, hour=3, minute=4, second=5).timestamp()
    # the undated last message borrows its predecessor's time; the code part is fenced in the body
    assert doc["messages"][2]["time"] == doc["messages"][1]["time"]
    assert "````python\nprint('```')\n````" in doc["messages"][1]["body"]
    assert doc["messages"][1]["attachments"] == ["f1"] and doc["attachments"]["f1"] == {
        "type": "file", "value": "result.csv", "mimetype": "text/csv"}
    assert doc["messages"][2]["edited"] is True


def test_viewer_chat_export_carries_no_owner_account_prompt_or_trust() -> None:
    # Given the viewer's copy of a conversation by the owner "alice" with a system prompt
    doc = chat_document(viewer_copy(hostile_conversation()))
    text = json.dumps(doc)
    # Then the owner's account, the prompt, avatars and HTML trust are gone
    assert "alice" not in text and "SYSTEM-PROMPT-SECRET" not in text
    assert set(doc["users"]) == {"user-1", "b"}
    assert all(u["avatar_url"] is None for u in doc["users"].values())
    assert all(m.get("mime_model", {}).get("trusted") is not True for m in doc["messages"])


def test_chat_export_never_writes_trusted_output_even_for_the_owner() -> None:
    doc = chat_document(hostile_conversation())
    models = [m["mime_model"] for m in doc["messages"] if "mime_model" in m]
    assert models == [{"data": {"text/html": XSS, "text/plain": "x"}}]
    assert "SYSTEM-PROMPT-SECRET" not in json.dumps(doc)


def test_a_chat_keeps_the_path_order_when_an_answer_is_dated_before_its_prompt() -> None:
    # Given a prompt stamped by the client 80 ms after the server stamped its answer (ChatGPT does this)
    conv = Conversation(id="skew", source=SourceInfo(format="chatgpt"),
                        participants={"u": Participant(id="u"), "b": Participant(id="b", kind="assistant")})
    conv.append(Message(id="q", role="user", author_id="u", created_at=T0 + timedelta(milliseconds=80),
                        parts=[Part.text_part("hi")]))
    conv.append(Message(id="a", role="assistant", author_id="b", created_at=T0, parts=[Part.text_part("hello")]))
    conv.append(Message(id="q2", role="user", author_id="u", created_at=T0 + timedelta(seconds=9),
                        parts=[Part.text_part("more")]))
    # When it is exported as .chat and imported again
    doc = chat_document(conv)
    again = load_one(export(conv, "chat"), name="x.chat")
    # Then the answer takes its prompt's time, and the order survives
    assert [m["time"] for m in doc["messages"]] == [(T0 + timedelta(milliseconds=80)).timestamp()] * 2 + [
        (T0 + timedelta(seconds=9)).timestamp()]
    assert [m.id for m in again.active_path()] == ["q", "a", "q2"]


@pytest.mark.parametrize(
    ("uri", "name", "value"),
    [
        ("notebooks/a.ipynb", "a.ipynb", "notebooks/a.ipynb"),
        ("../../etc/passwd", "passwd", "passwd"),
        ("/home/ada/secret/data.csv", "data.csv", "data.csv"),
        ("C:\\Users\\ada\\x.txt", "x.txt", "x.txt"),
        ("~/.ssh/id_rsa", "id_rsa", "id_rsa"),
        ("file:///etc/shadow", "shadow", "shadow"),
        ("a/../../b.txt", "b.txt", "b.txt"),
        ("https://evil.example/x", "x", "x"),
        (None, "../..", "attachment"),
        ("ok\n/name.txt", "name.txt", "name.txt"),
    ],
)
def test_chat_attachment_values_are_safe_relative_paths(uri: str | None, name: str, value: str) -> None:
    conv = Conversation(id="a", source=SourceInfo(format="convshare"),
                        participants={"u": Participant(id="u")},
                        attachments={"x": Attachment(id="x", name=name, uri=uri)})
    conv.append(Message(id="1", role="user", author_id="u", created_at=T0,
                        parts=[Part(type="file_ref", attachment_id="x")]))
    assert chat_document(conv)["attachments"]["x"]["value"] == value


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", real_params("api-messages/Abelo9996__*/*"))
def test_real_api_fixtures_export_to_chat_files_that_import_back(path: Path) -> None:
    for conversation in load(path):
        data = export(conversation, "chat")
        again = load_one(data, name="x.chat")
        kept = [m for m in conversation.active_path() if m.role not in ("system", "developer")]
        assert [m.id for m in again.active_path()] == [m.id for m in kept]


# -- ipynb --------------------------------------------------------------------------------


def test_ipynb_is_a_valid_notebook_with_headings_and_python_code_cells() -> None:
    notebook = notebook_of(picture_conversation(), PICTURE_BLOBS)
    cells = notebook.cells
    assert notebook.nbformat == 4 and notebook.metadata.kernelspec.name == "python3"
    assert [c.id for c in cells] == [f"cell-{i}" for i in range(1, len(cells) + 1)]
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# Plots\n")
    assert cells[1].source.startswith("### **User — Ada** · 2026-05-01 12:00:00 UTC\n\nPlot **data.csv**")
    assert "Attachments:\n- data.csv" in cells[1].source
    # the answer: heading + text, the Python block as a code cell, the rest (bash fence included) as markdown
    assert cells[2].cell_type == "markdown" and cells[2].source.startswith(
        "### **Assistant — Claude (claude-x)** · 2026-05-01 12:00:03 UTC\n\nHere:")
    code = cells[3]
    assert code.cell_type == "code" and code.source == "import pandas as pd\ndf = pd.read_csv('data.csv')"
    assert code.outputs == [] and code.execution_count is None
    assert code.metadata.convshare == {"message_id": "a", "role": "assistant", "author": "Claude", "language": "python"}
    assert cells[4].cell_type == "markdown" and "```bash\nls -l\n```" in cells[4].source


def test_ipynb_carries_stored_raster_images_as_cell_attachments() -> None:
    notebook = notebook_of(picture_conversation(), PICTURE_BLOBS)
    last = notebook.cells[-1]
    encoded = base64.b64encode(PNG).decode()
    # Then the stored PNG and the message's data: PNG are cell attachments with safe names, shown
    assert last.attachments == {
        "my_plot_1_.png": {"image/png": encoded},
        "inline.png": {"image/png": encoded},
        # the SVG is carried as inert bytes, never as an image a frontend would render
        "chart.svg": {"application/octet-stream": base64.b64encode(SVG).decode()},
    }
    assert "![the plot](attachment:my_plot_1_.png)" in last.source
    assert "![inline](attachment:inline.png)" in last.source
    # and the rest is listed: the SVG as carried, the unstored PNG and the "PNG" that is not one as references
    assert "Attachments:\n- chart.svg (attached to this cell as `chart.svg`)\n- gone.png\n- liar.png" in last.source
    assert "liar" not in json.dumps(last.attachments)


def test_ipynb_carries_the_prompts_files_as_cell_attachments() -> None:
    notebook = notebook_of(picture_conversation(), PICTURE_BLOBS)
    prompt = notebook.cells[1]
    # Then the question's CSV travels with it, as text
    assert prompt.attachments == {"data.csv": {"text/csv": "a,b\n1,2\n"}}
    assert "Attachments:\n- data.csv (attached to this cell as `data.csv`)" in prompt.source


def test_ipynb_carries_html_and_hostile_names_inertly() -> None:
    # Given files with hostile names and active content
    conv = Conversation(id="f", source=SourceInfo(format="convshare"), participants={"u": Participant(id="u")},
                        attachments={
                            "h": Attachment(id="h", name='../../"><img src=x onerror=alert(1)>.html',
                                            mime_type="text/html", available=True, sha256="a" * 64),
                            "t": Attachment(id="t", name="notes`](javascript:alert(1)).txt", mime_type="text/plain",
                                            available=True, sha256="b" * 64),
                            "b": Attachment(id="b", name="blob", mime_type=None, available=True, sha256="c" * 64),
                        })
    conv.append(Message(id="1", role="user", author_id="u", parts=[
        Part(type="file_ref", attachment_id=k) for k in ("h", "t", "b")]))
    blobs = {"h": XSS.encode(), "t": "héllo".encode(), "b": b"\x00\xff"}
    cell = notebook_of(conv, blobs).cells[1]
    # Then names are safe keys, HTML is base64 octet-stream, text stays text, nothing renders as a document
    assert cell.attachments == {
        "img_src_x_onerror_alert_1_.html": {"application/octet-stream": base64.b64encode(XSS.encode()).decode()},
        "notes_javascript_alert_1_.txt": {"text/plain": "héllo"},
        "blob": {"application/octet-stream": base64.b64encode(b"\x00\xff").decode()},
    }
    listing = cell.source.split("Attachments:\n", 1)[1]
    assert "<img" not in listing and "](" not in listing and "`]" not in listing


def test_ipynb_without_bytes_lists_every_attachment() -> None:
    notebook = notebook_of(picture_conversation())
    assert all("my_plot" not in json.dumps(c.get("attachments", {})) for c in notebook.cells)
    assert "- my plot (1).png" in notebook.cells[-1].source


def test_ipynb_is_deterministic_and_prompts_stay_whole() -> None:
    conv = load_one(OWN / "branching.json")
    assert export(conv, "ipynb") == export(conv, "ipynb")
    notebook = notebook_of(conv)
    assert "_This conversation has 2 branches; this notebook holds the active one._" in notebook.cells[0].source
    assert "First answer." not in json.dumps(notebook)
    # the regenerated answer's python code is a code cell (fence longer than the backticks inside)
    assert [c.source for c in notebook.cells if c.cell_type == "code"] == ["print('```')"]


def test_ipynb_of_a_hostile_conversation_has_no_outputs_and_no_trusted_html() -> None:
    notebook = notebook_of(hostile_conversation())
    assert all(c.cell_type in ("markdown", "code") for c in notebook.cells)
    assert all(c.outputs == [] for c in notebook.cells if c.cell_type == "code")
    # the "python<script>..." fence label is not a Python language: no code cell from it
    assert [c for c in notebook.cells if c.cell_type == "code"] == []
    assert "attachments" not in json.dumps([c for c in notebook.cells if "attachments" in c])


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", REAL_EASY)
def test_real_fixtures_export_to_valid_notebooks_with_one_heading_per_message(path: Path) -> None:
    for conversation in load(path):
        notebook = notebook_of(conversation)
        headings = [c for c in notebook.cells if c.cell_type == "markdown" and c.source.startswith("### **")]
        assert len(headings) == len(conversation.active_path())


# -- JSON round trip on every real fixture the importers read today ------------------------


def _importable_real_fixtures() -> list:
    params = []
    for path in real_fixtures("**/*"):
        if not path.is_file() or path.name == "SOURCES.md":
            continue
        params.append(pytest.param(path, id=str(path.relative_to(path.parents[2]))))
    return params or real_params("no-real-fixtures-*")


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", _importable_real_fixtures())
def test_every_real_fixture_round_trips_through_convshare_json(path: Path) -> None:
    # Given a real file of any format the importers handle today
    try:
        conversations = load(path)
    except ImportFailed as exc:
        if "not supported" in exc.message:
            pytest.skip(f"{path.name}: its format is not imported yet ({exc.message})")
        raise
    # When each conversation is exported as convshare JSON and imported again
    for conversation in conversations:
        again = load_one(export(conversation, "json"))
        # Then it is the same conversation, and exporting it again gives the same bytes
        assert again.to_dict() == conversation.to_dict()
        assert export(again, "json") == export(conversation, "json")


# -- every real fixture, every format --------------------------------------------------------


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", _importable_real_fixtures())
def test_every_real_fixture_exports_to_every_format_for_owner_and_viewers(path: Path) -> None:
    # Given every conversation of every real file, as its owner and as a viewer sees it
    for conversation in load(path):
        for copy in (conversation, viewer_copy(conversation)):
            # When it is exported in each format, Then each file is sound
            page = export(copy, "html").decode("utf-8")
            doc = parse_html(page)
            assert [e.tag for e in doc.iter() if e.tag in ("script", "iframe", "object", "embed", "form")] == []
            assert all(not name.startswith("on") for e in doc.iter() for name in e.attrib)
            nbformat.validate(nbformat.reads(export(copy, "ipynb").decode("utf-8"), as_version=4))
            chat = export(copy, "chat")
            assert_ychat_holds(load_in_ychat(chat), chat)
            again = load_one(chat, name="x.chat")
            kept = [m for m in copy.active_path() if m.role not in ("system", "developer")
                    or m.author_id.startswith("hidden::")]
            assert [m.id for m in again.active_path()] == [m.id for m in kept]
            for fmt in ("json", "csv", "parquet", "md"):
                assert export(copy, fmt)


# -- the README's table ----------------------------------------------------------------------


def test_the_readme_export_table_names_every_format_its_media_type_and_extension() -> None:
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Export formats"):]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \| `([^`]+)` \|", section, re.M)
    assert {name: (media, ext) for name, media, ext in rows} == {
        name: (fmt.media_type.split(";")[0], fmt.extension) for name, fmt in EXPORT_FORMATS.items()
    }
