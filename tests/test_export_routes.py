"""Every export format through every route a running server offers (issue 5, export):
the viewer's ``convshare/s/<link>/export.<fmt>``, the grantee page's
``convshare/v/<share_id>/export.<fmt>``, the viewer page's Export menu, and the REST API's
``conversations/<id>/export`` and ``shares/<id>/export``.

One real server with the token users of test_grants (owner ``teacher``; ``student1`` in
``class-2026``, which may view; ``dave`` in no group).
"""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import html5lib
import nbformat
import pyarrow.parquet as pq
import pytest

from jupyter_convshare.core.exporters import EXPORT_FORMATS
from jupyter_convshare.core.importers import load_one
from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, Participant, SourceInfo

from .server_helpers import make_anonymous_fetch, make_api
from .test_grants import GROUPS, OWNER, TokenUsersIdentityProvider, as_user
from .test_viewer import EXPECTED_HEADERS

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
FORMATS = sorted(EXPORT_FORMATS)
MEDIA = {name: fmt.media_type for name, fmt in EXPORT_FORMATS.items()}


@pytest.fixture
def jp_server_config(jp_server_config):
    config = dict(jp_server_config)
    config["ServerApp"] = {**config["ServerApp"], "identity_provider_class": TokenUsersIdentityProvider}
    config["ConvShareApp"] = {**config["ConvShareApp"], "owner": OWNER, "groups": GROUPS}
    return config


@pytest.fixture
def fetch(http_server_client, jp_base_url):
    """Anonymous requests under the base URL."""
    return make_anonymous_fetch(http_server_client, jp_base_url)


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


def plotted(cid: str = "plots") -> Conversation:
    """A system prompt, a question by the owner's account with a file at a home path, an answer
    with Python code, a stored PNG and a stored HTML file."""
    conv = Conversation(id=cid, title="Sales plots", source=SourceInfo(format="convshare"), created_at=T0)
    conv.participants = {
        "teacher": Participant(id="teacher", kind="human", display_name="Ada"),
        "bot": Participant(id="bot", kind="assistant", display_name="Claude", model="claude-3-7"),
        "sys": Participant(id="sys", kind="system"),
    }
    conv.attachments = {
        "data": Attachment(id="data", name="data.csv", mime_type="text/csv", uri="/home/teacher/data.csv"),
        "plot": Attachment(id="plot", name="plot.png", kind="image", mime_type="image/png"),
        "page": Attachment(id="page", name="report.html", mime_type="text/html"),
    }
    conv.append(Message(id="s", role="system", author_id="sys", parts=[Part.text_part("SYSTEM-PROMPT-TEXT")]))
    conv.append(Message(id="q", role="user", author_id="teacher", created_at=T0,
                        parts=[Part.text_part("Plot data.csv"), Part(type="file_ref", attachment_id="data")]))
    conv.append(Message(id="a", role="assistant", author_id="bot", created_at=T0 + timedelta(seconds=5), parts=[
        Part.text_part("Here:\n\n```python\nimport pandas as pd\n```"),
        Part(type="image", attachment_id="plot", alt="the plot"),
        Part(type="file_ref", attachment_id="page"),
    ]))
    return conv


BLOBS = {"data": b"a,b\n1,2\n", "plot": PNG, "page": b"<script>window.__pwned=1</script>"}


@pytest.fixture
def shared(service):
    """``shared(**create_share kwargs) -> Share`` of :func:`plotted`, viewable by ``class-2026``."""

    def make(cid: str = "plots", **kwargs: Any):
        service.save_conversation(OWNER, plotted(cid), BLOBS)
        share, _ = service.create_share(OWNER, cid, expires="30d", **kwargs)
        service.add_grant(OWNER, share.share_id, "group", "class-2026", "view")
        return share

    return make


def assert_viewer_copy(fmt: str, body: bytes) -> None:
    """What an export made for viewers holds: no prompt, no owner account, no home path; the
    ones that embed files show the stored PNG and never the stored HTML."""
    assert b"SYSTEM-PROMPT-TEXT" not in body and b"/home/teacher" not in body
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(body))
        assert "teacher" not in table.column("author_id").to_pylist()
        return
    text = body.decode("utf-8")
    assert '"teacher"' not in text and "window.__pwned" not in text
    png = base64.b64encode(PNG).decode()
    if fmt == "html":
        doc = html5lib.parse(text, namespaceHTMLElements=False)
        assert [img.get("src") for img in doc.iter("img")] == [f"data:image/png;base64,{png}"]
        assert list(doc.iter("script")) == []
    elif fmt == "ipynb":
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
        page = base64.b64encode(BLOBS["page"]).decode()
        assert [c.attachments for c in notebook.cells if "attachments" in c] == [
            {"data.csv": {"text/csv": "a,b\n1,2\n"}},
            {"plot.png": {"image/png": png}, "report.html": {"application/octet-stream": page}},
        ]
        assert [c.source for c in notebook.cells if c.cell_type == "code"] == ["import pandas as pd"]
    elif fmt == "chat":
        document = json.loads(text)
        assert [m["id"] for m in document["messages"]] == ["q", "a"]
        assert set(document["users"]) == {"user-1", "bot"}
        assert document["attachments"]["data"]["value"] == "data.csv"


# -- the viewer -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_every_format_is_a_download_of_the_viewer_copy_from_the_link(fetch, shared, fmt):
    # Given a shared conversation, When an anonymous visitor downloads it in each format
    link = shared().link
    response = await fetch("convshare", "s", link, f"export.{fmt}")
    # Then it is a download with the format's media type, file name and the viewer's headers
    assert response.code == 200
    assert response.headers["Content-Type"] == MEDIA[fmt]
    extension = EXPORT_FORMATS[fmt].extension
    assert response.headers["Content-Disposition"].startswith(f'attachment; filename="Sales plots{extension}"')
    assert response.headers["Content-Security-Policy"] == "sandbox"
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers[name] == value
    # and it holds what a viewer may see
    assert_viewer_copy(fmt, response.body)


@pytest.mark.parametrize("fmt", ["html", "chat", "ipynb"])
async def test_head_of_a_new_export_has_its_headers_and_no_body(fetch, shared, fmt):
    link = shared().link
    response = await fetch("convshare", "s", link, f"export.{fmt}", method="HEAD")
    assert response.code == 200 and response.body == b""
    assert response.headers["Content-Type"] == MEDIA[fmt]
    assert response.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize("path", ["export.htm", "export.exe", "export.HTML", "export.html/x", "export."])
async def test_unknown_export_names_get_the_404_page(fetch, shared, path):
    link = shared().link
    response = await fetch("convshare", "s", link, path)
    assert response.code == 404 and b"Content-Disposition" not in response.body


async def test_a_dead_link_exports_nothing(fetch, shared, service):
    share = shared()
    service.revoke(OWNER, share.share_id)
    for fmt in ("html", "chat", "ipynb"):
        response = await fetch("convshare", "s", share.link, f"export.{fmt}")
        assert response.code == 404 and "Content-Disposition" not in response.headers


async def test_the_export_menu_lists_every_format_and_which_hold_one_branch(fetch, service, jp_base_url):
    # Given a conversation with two branches, shared
    conv = load_one(__import__("pathlib").Path(__file__).parent / "fixtures" / "importers" / "branching.json")
    service.save_conversation(OWNER, conv)
    link = service.create_share(OWNER, conv.id)[0].link
    # When the page is opened
    page = (await fetch("convshare", "s", link)).body.decode("utf-8")
    menu = re.search(r'<ul class="menu-list">(.*?)</ul>', page, re.S).group(1)
    items = re.findall(r'<li><a href="([^"]+)" download>([^<]+)<span class="menu-ext">([^<]+)</span>'
                       r'<span class="menu-note">([^<]+)</span>', menu)
    base = f"{jp_base_url}convshare/s/{link}"
    # Then every format is offered as a download, with its extension and how much of the tree it holds
    assert [(href, label.strip(), ext, note) for href, label, ext, note in items] == [
        (f"{base}/export.json", "JSON (lossless)", ".json", "every branch"),
        (f"{base}/export.csv", "CSV", ".csv", "every branch"),
        (f"{base}/export.parquet", "Parquet", ".parquet", "every branch"),
        (f"{base}/export.md", "Markdown", ".md", "active branch only"),
        (f"{base}/export.html", "Web page (one file)", ".html", "active branch only"),
        (f"{base}/export.chat", "Jupyter chat", ".chat", "active branch only"),
        (f"{base}/export.ipynb", "Notebook", ".ipynb", "active branch only"),
    ]
    # and each of them downloads
    for href, *_ in items:
        assert (await fetch(href[len(jp_base_url):])).code == 200


# -- the grantee page --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["html", "chat", "ipynb"])
async def test_grantees_export_every_format_while_the_link_is_off(jp_fetch, shared, service, fmt):
    share = shared()
    service.update_share(OWNER, share.share_id, link_enabled=False)
    path = ("convshare", "v", share.share_id, f"export.{fmt}")
    response = await jp_fetch(*path, headers=as_user("student1"), raise_error=False)
    assert response.code == 200 and response.headers["Content-Type"] == MEDIA[fmt]
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert_viewer_copy(fmt, response.body)
    # and someone without a grant gets the 404 page
    assert (await jp_fetch(*path, headers=as_user("dave"), raise_error=False)).code == 404


# -- the REST API -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["html", "chat", "ipynb"])
async def test_the_owner_exports_the_whole_conversation_through_the_api(api, shared, fmt):
    shared()
    response = await api("GET", "conversations", "plots", "export", params={"format": fmt},
                         headers=as_user(OWNER))
    assert response.code == 200 and response.headers["Content-Type"] == MEDIA[fmt]
    assert response.headers["Content-Disposition"].startswith("attachment;")
    # the owner's own copy: the owner's account is there, the stored PNG is embedded where the format can
    body = response.body.decode("utf-8")
    if fmt == "chat":
        assert "teacher" in json.loads(body)["users"]
    else:
        assert base64.b64encode(PNG).decode() in body


@pytest.mark.parametrize("fmt", ["html", "chat", "ipynb"])
async def test_a_grantee_exports_the_viewer_copy_through_the_api(api, shared, fmt):
    share = shared()
    response = await api("GET", "shares", share.share_id, "export", params={"format": fmt},
                         headers=as_user("student1"))
    assert response.code == 200 and response.headers["Content-Type"] == MEDIA[fmt]
    assert_viewer_copy(fmt, response.body)
    refused = await api("GET", "shares", share.share_id, "export", params={"format": fmt}, headers=as_user("dave"))
    assert refused.code == 404


async def test_the_api_names_the_formats_and_refuses_unknown_ones(api, shared):
    shared()
    response = await api("GET", "conversations", "plots", "export", params={"format": "pdf"}, headers=as_user(OWNER))
    assert response.code == 400
    error = json.loads(response.body)
    assert "format" in json.dumps(error) and "ipynb" in json.dumps(error)


async def test_a_class_downloading_one_export_renders_it_once(fetch, shared, monkeypatch):
    from jupyter_convshare.server import viewer

    # Given a shared conversation, and a count of the exports the viewer writes
    made: list[str] = []
    real_export = viewer.export

    def counted(conversation, fmt, **kwargs):
        made.append(fmt)
        return real_export(conversation, fmt, **kwargs)

    monkeypatch.setattr(viewer, "export", counted)
    link = shared().link
    # When thirty visitors download the web page and two the notebook
    pages = [await fetch("convshare", "s", link, "export.html") for _ in range(30)]
    books = [await fetch("convshare", "s", link, "export.ipynb") for _ in range(2)]
    # Then each format was written once, and everyone got the same file
    assert made == ["html", "ipynb"]
    assert len({p.body for p in pages}) == 1 and len({b.body for b in books}) == 1
