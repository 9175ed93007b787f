"""The public viewer, ``{base_url}convshare/s/<link>...`` (contract 5), against a real Jupyter server.

Conversations and shares are created through the running server's ShareService (the
``service`` fixture); pages are fetched over HTTP from pytest-jupyter's server, whose base
URL (``/a%40b/``) catches hand-joined URLs. The server runs with
``allow_unauthenticated_access = False`` (conftest).
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import logging
import random
import zipfile
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest
from tornado.httpclient import HTTPResponse

from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, Participant, SourceInfo
from jupyter_convshare.core.qr import qr_svg
from jupyter_convshare.server.viewer import content_disposition, safe_filename, zip_compression, zip_entry_names

from .server_helpers import make_anonymous_fetch

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
EXPECTED_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow, noarchive",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
}
T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


# -- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture
def fetch(http_server_client, jp_base_url):
    """``await fetch(*path, method=..., headers=...)`` under the base URL; never raises on 4xx/5xx, as an
    anonymous visitor (no credentials: the public, cached page)."""
    return make_anonymous_fetch(http_server_client, jp_base_url)


@pytest.fixture
def clock(service):
    """The service clock, frozen at T0 and movable (``clock["now"] = ...``)."""
    state = {"now": T0}
    service.clock = lambda: state["now"]
    return state


@pytest.fixture
def share(service, convshare_app, clock):
    """``share(conversation, blobs=None, **create_share kwargs) -> Share`` for the server's owner."""

    def make(conversation: Conversation, blobs: dict[str, bytes] | None = None, **kwargs):
        owner = convshare_app.owner
        service.save_conversation(owner, conversation, blobs)
        created, _ = service.create_share(owner, conversation.id, **kwargs)
        return created

    return make


def demo_conversation(cid: str = "demo") -> Conversation:
    """A system prompt, a question with a file, an answer with code, math and a plot."""
    conv = Conversation(id=cid, title="Reading CSV files", source=SourceInfo(format="convshare"), created_at=T0)
    conv.participants = {
        "ada": Participant(id="ada", kind="human", display_name="Ada Lovelace"),
        "bot": Participant(id="bot", kind="assistant", display_name="Claude", provider="anthropic", model="claude-3-7"),
        "sys": Participant(id="sys", kind="system"),
    }
    conv.attachments = {
        "data": Attachment(id="data", name="data.csv", mime_type="text/csv", uri="/home/ada/data.csv"),
        "plot": Attachment(id="plot", name="plot.png", mime_type="image/png"),
        "page": Attachment(id="page", name="report.html", mime_type="text/html"),
        "gone": Attachment(id="gone", name="missing.txt", available=False),
    }
    conv.append(Message(id="s", role="system", author_id="sys", parts=[Part.text_part("SYSTEM-PROMPT-TEXT")]))
    conv.append(
        Message(
            id="q",
            role="user",
            author_id="ada",
            created_at=T0,
            parts=[Part.text_part("How do I read **data.csv**?"), Part(type="file_ref", attachment_id="data")],
        )
    )
    conv.append(
        Message(
            id="a",
            role="assistant",
            author_id="bot",
            created_at=T0 + timedelta(seconds=5),
            parts=[
                Part.text_part("Use pandas:\n\n```python\nimport pandas as pd\n```\n\nand $x^2$."),
                Part(type="image", attachment_id="plot", alt="the plot"),
            ],
        )
    )
    return conv


DEMO_BLOBS = {"data": b"a,b\n1,2\n", "plot": PNG, "page": b"<script>window.__pwned=1</script>"}


def assert_viewer_headers(response: HTTPResponse, csp: str = CSP) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name), response.effective_url)
    assert response.headers.get("Content-Security-Policy") in (csp, "sandbox"), response.headers.get(
        "Content-Security-Policy"
    )


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def parse(html: bytes) -> _Elements:
    parser = _Elements()
    parser.feed(html.decode("utf-8"))
    parser.close()
    return parser


# -- the page ---------------------------------------------------------------------------


async def test_page_shows_the_conversation(fetch, share):
    # Given a shared conversation
    link = share(demo_conversation(), DEMO_BLOBS).link
    # When its link is opened
    response = await fetch("convshare", "s", link)
    # Then the page shows the title, authors, provider, model, text, code, math and files
    assert response.code == 200
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    page = parse(response.body)
    text = " ".join(page.text)
    for expected in ("Reading CSV files", "Ada Lovelace", "Claude", "anthropic", "claude-3-7", "data.csv", "Download all (ZIP)"):
        assert expected in text, expected
    html = response.body.decode()
    assert '<span class="kn">import</span>' in html and "<msup>" in html
    assert '<time datetime="2030-01-02T03:04:05Z" data-local>2 Jan 2030, 03:04 UTC</time>' in html
    assert ("meta", {"name": "robots", "content": "noindex, nofollow, noarchive"}) in page.elements
    assert "Shared with" in text and "jupyter-convshare" in text


async def test_page_never_shows_the_system_prompt_or_local_paths(fetch, share):
    link = share(demo_conversation(), DEMO_BLOBS).link
    html = (await fetch("convshare", "s", link)).body.decode()
    assert "SYSTEM-PROMPT-TEXT" not in html and "/home/ada" not in html


async def test_page_links_files_exports_and_qr_under_the_base_url(fetch, share, jp_base_url):
    link = share(demo_conversation(), DEMO_BLOBS).link
    page = parse((await fetch("convshare", "s", link)).body)
    base = f"{jp_base_url}convshare/s/{link}"
    hrefs = {a.get("href") for tag, a in page.elements if tag == "a"}
    assert {f"{base}/files/data", f"{base}/files.zip", f"{base}/export.json", f"{base}/export.csv",
            f"{base}/export.parquet", f"{base}/export.md", "#qr"} <= hrefs  # fmt: skip
    images = [a["src"] for tag, a in page.elements if tag == "img"]
    assert f"{base}/files/plot" in images and f"{base}/qr.svg" in images
    # the HTML attachment is a download, never an inline image or frame
    assert f"{base}/files/page" not in images


async def test_the_large_qr_view_works_without_javascript(fetch, share):
    link = share(demo_conversation()).link
    page = parse((await fetch("convshare", "s", link)).body)
    assert ("section", {"id": "qr", "class": "qr-overlay", "aria-labelledby": "qr-heading"}) in page.elements
    assert ("a", {"class": "button", "href": "#qr"}) in page.elements


async def test_a_page_get_counts_one_view_and_assets_or_head_do_not(fetch, share, service, convshare_app):
    created = share(demo_conversation(), DEMO_BLOBS)
    link = created.link
    await fetch("convshare", "s", link)
    await fetch("convshare", "s", link, method="HEAD")
    for path in ("qr.svg", "files/plot", "export.md", "files.zip"):
        await fetch("convshare", "s", link, path)
    await fetch("convshare", "static", "viewer.css")
    await asyncio.to_thread(convshare_app.flush_views)  # views are written in batches
    assert service.get_share(convshare_app.owner, created.share_id).view_count == 1


async def test_views_counted_in_memory_are_all_written_when_the_server_stops(fetch, share, service, convshare_app):
    # Given three page views (counted in memory, written about once a second)
    created = share(demo_conversation())
    for _ in range(3):
        assert (await fetch("convshare", "s", created.link)).code == 200
    # When the server stops
    await convshare_app.stop_extension()
    # Then none of them is lost
    assert service.get_share(convshare_app.owner, created.share_id).view_count == 3


async def test_the_owner_sees_every_view_at_once_through_the_api(fetch, share, convshare_app, jp_fetch):
    # Given two page views not yet flushed by the periodic write
    created = share(demo_conversation())
    await fetch("convshare", "s", created.link)
    await fetch("convshare", "s", created.link)
    # When the owner asks for the share
    response = await jp_fetch("convshare", "api", "shares", created.share_id)
    # Then both views are counted
    assert json.loads(response.body)["view_count"] == 2


async def test_a_cached_page_is_served_without_decoding_the_conversation(fetch, share, service, monkeypatch):
    # Given a page already rendered once
    link = share(demo_conversation()).link
    first = await fetch("convshare", "s", link)
    # When the conversation could no longer be decoded (fault injected) and nothing changed
    def no_decode(*args, **kwargs):
        raise AssertionError("the conversation was decoded on a cache hit")

    monkeypatch.setattr(service, "resolve", no_decode)
    monkeypatch.setattr(service, "load_shared_conversation", no_decode)
    again = await fetch("convshare", "s", link)
    # Then the cached page is served as it was
    assert again.code == 200 and again.body == first.body


async def test_the_page_follows_a_new_version_of_the_conversation(fetch, share, service, convshare_app):
    # Given a page already rendered (and cached)
    conv = demo_conversation()
    link = share(conv).link
    assert b"FIRST-VERSION" not in (await fetch("convshare", "s", link)).body
    # When the conversation changes
    conv.append(Message(id="n", role="user", author_id="ada", parts=[Part.text_part("FIRST-VERSION")]))
    service.save_conversation(convshare_app.owner, conv)
    # Then the next request shows it
    assert b"FIRST-VERSION" in (await fetch("convshare", "s", link)).body


async def test_the_page_is_served_gzipped_when_accepted(fetch, share):
    link = share(demo_conversation()).link
    plain = await fetch("convshare", "s", link)
    zipped = await fetch("convshare", "s", link, headers={"Accept-Encoding": "gzip"}, decompress_response=False)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
    assert_viewer_headers(zipped)


async def test_an_anonymous_visitor_without_token_or_cookie_sees_the_page(
    share, jp_serverapp, http_server_client, jp_base_url
):
    # Given a server that refuses unauthenticated access to everything else
    assert jp_serverapp.allow_unauthenticated_access is False
    link = share(demo_conversation()).link
    # When a browser with no token and no cookie opens the link
    page = await http_server_client.fetch(f"{jp_base_url}convshare/s/{link}", raise_error=False)
    api = await http_server_client.fetch(f"{jp_base_url}api/contents", raise_error=False)
    # Then the page is shown, while the rest of the server stays closed
    assert page.code == 200 and b"Ada Lovelace" in page.body
    assert api.code == 403


# -- 404 and 410 ------------------------------------------------------------------------


async def test_unknown_revoked_and_rotated_links_get_the_same_404_page(fetch, share, service, convshare_app):
    owner = convshare_app.owner
    revoked = share(demo_conversation("c1"))
    service.revoke(owner, revoked.share_id)
    rotated = share(demo_conversation("c2"))
    service.rotate_link(owner, rotated.share_id)
    responses = [
        await fetch("convshare", "s", "A" * 43),
        await fetch("convshare", "s", revoked.link),
        await fetch("convshare", "s", rotated.link),
        await fetch("convshare", "s", "short"),
        await fetch("convshare", "s", rotated.link, "files", "x"),
    ]
    assert [r.code for r in responses] == [404] * 5
    assert len({r.body for r in responses}) == 1
    assert b"This link does not exist or was revoked." in responses[0].body
    for response in responses:
        assert_viewer_headers(response)


async def test_an_expired_link_gets_the_410_page(fetch, share, clock):
    link = share(demo_conversation(), expires="1h").link
    clock["now"] = T0 + timedelta(hours=1, seconds=1)
    response = await fetch("convshare", "s", link)
    assert response.code == 410
    assert b"This link has expired. Ask the person who shared it for a new link." in response.body
    assert_viewer_headers(response)
    files = await fetch("convshare", "s", link, "export.json")
    assert files.code == 410


async def test_errors_never_show_a_traceback(fetch, share, convshare_app, monkeypatch):
    # Given a failure inside the server (fault injected into the link resolution)
    link = share(demo_conversation()).link

    async def broken(*args, **kwargs):
        raise RuntimeError("INTERNAL-DETAIL at /home/ada/secret.py")

    monkeypatch.setattr(convshare_app, "check_link", broken)
    response = await fetch("convshare", "s", link)
    # Then a plain 500 page with the viewer's headers, and nothing of the exception
    assert response.code == 500
    assert b"Traceback" not in response.body and b"INTERNAL-DETAIL" not in response.body
    assert b"This page could not be shown" in response.body
    assert_viewer_headers(response)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_only_get_and_head_are_answered(fetch, share, method):
    link = share(demo_conversation()).link
    response = await fetch("convshare", "s", link, method=method, body=b"" if method != "DELETE" else None,
                           allow_nonstandard_methods=True)  # fmt: skip
    assert response.code == 405
    assert_viewer_headers(response)


# -- headers on every response ----------------------------------------------------------

ROUTES = [
    ("page", ()),
    ("file", ("files", "data")),
    ("image", ("files", "plot")),
    ("zip", ("files.zip",)),
    ("json", ("export.json",)),
    ("csv", ("export.csv",)),
    ("parquet", ("export.parquet",)),
    ("md", ("export.md",)),
    ("qr-svg", ("qr.svg",)),
    ("qr-png", ("qr.png",)),
    ("missing-file", ("files", "nope")),
    ("unavailable-file", ("files", "gone")),
]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(("name", "path"), ROUTES, ids=[r[0] for r in ROUTES])
async def test_every_viewer_response_carries_the_security_headers(fetch, share, name, path, method):
    link = share(demo_conversation(), DEMO_BLOBS).link
    response = await fetch("convshare", "s", link, *path, method=method)
    assert response.code == (404 if name.endswith("file") and name != "file" else 200), name
    assert_viewer_headers(response)


@pytest.mark.parametrize("path", ["viewer.css", "viewer.js", "pygments.css", "nope.css", "../app.py", "x"])
async def test_static_files_carry_the_security_headers(fetch, path):
    response = await fetch("convshare", "static", path)
    assert response.code == (200 if path in ("viewer.css", "viewer.js", "pygments.css") else 404)
    assert_viewer_headers(response)
    if response.code == 200:
        assert response.headers["Content-Type"].split(";")[0] in ("text/css", "text/javascript")


async def test_pygments_css_has_a_dark_variant(fetch):
    css = (await fetch("convshare", "static", "pygments.css")).body.decode()
    assert ".highlight .k" in css and "prefers-color-scheme: dark" in css


async def test_frame_ancestors_follow_the_app_setting(fetch, share, convshare_app):
    convshare_app.frame_ancestors = ["https://lms.example.org"]
    response = await fetch("convshare", "s", share(demo_conversation()).link)
    assert response.headers["Content-Security-Policy"].endswith("frame-ancestors https://lms.example.org")


async def test_the_link_never_reaches_the_logs(fetch, share, caplog):
    caplog.set_level(logging.DEBUG)
    link = share(demo_conversation(), DEMO_BLOBS).link
    for path in ((), ("files", "data"), ("export.md",), ("files", "nope")):
        await fetch("convshare", "s", link, *path)
    await fetch("convshare", "s", link, method="POST", body=b"")
    assert caplog.records, "the server logs requests"
    assert link not in caplog.text


async def test_viewer_responses_set_no_cookie(fetch, share):
    # Given a request that carries the server's token (which would normally log it in)
    link = share(demo_conversation()).link
    response = await fetch("convshare", "s", link)
    # Then the viewer neither creates an identity nor sets a login cookie
    assert response.code == 200 and "Set-Cookie" not in response.headers


# -- files ------------------------------------------------------------------------------


async def test_files_are_always_downloads_and_only_raster_images_keep_their_type(fetch, share):
    link = share(demo_conversation(), DEMO_BLOBS).link
    csv = await fetch("convshare", "s", link, "files", "data")
    png = await fetch("convshare", "s", link, "files", "plot")
    html = await fetch("convshare", "s", link, "files", "page")
    assert csv.body == DEMO_BLOBS["data"] and csv.headers["Content-Type"] == "application/octet-stream"
    assert png.body == PNG and png.headers["Content-Type"] == "image/png"
    assert html.headers["Content-Type"] == "application/octet-stream"
    for response, name in ((csv, "data.csv"), (png, "plot.png"), (html, "report.html")):
        assert response.headers["Content-Disposition"] == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
        assert response.headers["Content-Security-Policy"] == "sandbox"


async def test_a_svg_attachment_is_never_served_as_svg(fetch, share):
    conv = Conversation(id="svg", source=SourceInfo(format="convshare"))
    conv.attachments["x"] = Attachment(id="x", name="logo.svg", mime_type="image/svg+xml")
    link = share(conv, {"x": b"<svg onload='alert(1)'/>"}).link
    response = await fetch("convshare", "s", link, "files", "x")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")


async def test_hostile_attachment_names_get_safe_download_names(fetch, share, http_server_client, jp_base_url):
    conv = Conversation(id="names", source=SourceInfo(format="convshare"))
    conv.attachments["a/b"] = Attachment(id="a/b", name='../../etc/"pass\r\nwd".txt', mime_type="text/plain")
    conv.attachments["u"] = Attachment(id="u", name="résumé 2024.pdf")
    link = share(conv, {"a/b": b"x", "u": b"y"}).link
    base = f"{jp_base_url}convshare/s/{link}/files/"
    first = await http_server_client.fetch(base + "a%2Fb")
    second = await http_server_client.fetch(base + "u")
    assert first.headers["Content-Disposition"] == (
        "attachment; filename=\"pass_wd.txt\"; filename*=UTF-8''_pass__wd_.txt"
    )
    assert second.headers["Content-Disposition"] == (
        "attachment; filename=\"resume 2024.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf"
    )


# -- ZIP --------------------------------------------------------------------------------


async def test_download_all_is_a_zip_of_the_available_files(fetch, share):
    link = share(demo_conversation(), DEMO_BLOBS).link
    response = await fetch("convshare", "s", link, "files.zip")
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="Reading CSV files files.zip"')
    with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == ["data.csv", "plot.png", "report.html"]
        assert archive.read("data.csv") == DEMO_BLOBS["data"]


async def test_zip_entry_names_are_sanitised_and_unique(fetch, share):
    conv = Conversation(id="zip", source=SourceInfo(format="convshare"))
    names = ["../../evil.sh", "/etc/passwd", "C:\\Windows\\win.ini", "a.txt", "A.txt", "sub/a.txt", "..", ""]
    blobs = {}
    for i, name in enumerate(names):
        conv.attachments[f"f{i}"] = Attachment(id=f"f{i}", name=name or "x")
        blobs[f"f{i}"] = f"content {i}".encode()
    link = share(conv, blobs).link
    response = await fetch("convshare", "s", link, "files.zip")
    with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
        entries = archive.namelist()
    assert entries == ["evil.sh", "passwd", "win.ini", "a.txt", "A (2).txt", "a (3).txt", "file", "x"]
    assert all(".." not in e and not e.startswith("/") and "\\" not in e for e in entries)


async def test_large_files_stream_intact_in_many_chunks(fetch, share):
    # Given two attachments much larger than one streamed chunk (256 KiB)
    big = random.Random(7).randbytes(1_500_000)
    text = b"line of text\n" * 100_000
    conv = Conversation(id="big", title="Big", source=SourceInfo(format="convshare"))
    conv.attachments["b"] = Attachment(id="b", name="big.bin")
    conv.attachments["t"] = Attachment(id="t", name="big.txt")
    link = share(conv, {"b": big, "t": text}).link
    # When downloaded one by one and as a ZIP
    single = await fetch("convshare", "s", link, "files", "b")
    archive = zipfile.ZipFile(io.BytesIO((await fetch("convshare", "s", link, "files.zip")).body))
    # Then every byte arrives
    assert single.body == big and single.headers["Content-Length"] == str(len(big))
    assert archive.read("big.bin") == big and archive.read("big.txt") == text


async def test_download_all_stores_compressed_files_and_deflates_the_rest(fetch, share):
    # Given a PNG, random bytes without a media type, a Parquet file, text and a tiny text
    noise = random.Random(3).randbytes(300_000)
    text = b"name,value\n" + b"alpha,1\n" * 40_000
    conv = Conversation(id="mixed", title="Mixed", source=SourceInfo(format="convshare"))
    files = {
        "plot": ("plot.png", "image/png", PNG + noise[:1000]),
        "noise": ("noise.bin", None, noise),
        "table": ("table.parquet", "application/vnd.apache.parquet", b"PAR1" * 5000),
        "data": ("data.csv", "text/csv", text),
        "tiny": ("a.txt", "text/plain", b"x"),
    }
    for aid, (name, mime, _) in files.items():
        conv.attachments[aid] = Attachment(id=aid, name=name, mime_type=mime)
    link = share(conv, {aid: data for aid, (_, _, data) in files.items()}).link
    # When everything is downloaded as one ZIP
    archive = zipfile.ZipFile(io.BytesIO((await fetch("convshare", "s", link, "files.zip")).body))
    methods = {info.filename: info.compress_type for info in archive.infolist()}
    # Then compressed formats and incompressible bytes are stored, compressible text deflated
    assert methods == {
        "plot.png": zipfile.ZIP_STORED,
        "noise.bin": zipfile.ZIP_STORED,
        "table.parquet": zipfile.ZIP_STORED,
        "data.csv": zipfile.ZIP_DEFLATED,
        "a.txt": zipfile.ZIP_STORED,
    }
    # And every entry is intact
    assert archive.testzip() is None
    assert {n: archive.read(n) for n in methods} == {name: data for name, _, data in files.values()}


def test_zip_compression_unit():
    text = b"the same words again and again " * 3000
    noise = random.Random(5).randbytes(65536)
    assert zip_compression("photo.jpg", "image/jpeg", text) == zipfile.ZIP_STORED  # the type decides
    assert zip_compression("clip", "video/mp4", text) == zipfile.ZIP_STORED
    assert zip_compression("deck", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                           text) == zipfile.ZIP_STORED  # fmt: skip
    assert zip_compression("archive.tar.gz", None, text) == zipfile.ZIP_STORED  # no type: the extension
    assert zip_compression("drawing.svg", "image/svg+xml", text) == zipfile.ZIP_DEFLATED
    assert zip_compression("sound.wav", "audio/wav", text) == zipfile.ZIP_DEFLATED  # PCM: sampled
    assert zip_compression("notes.md", "text/markdown", text) == zipfile.ZIP_DEFLATED
    assert zip_compression("notes.md", "text/markdown", noise) == zipfile.ZIP_STORED  # the sample decides
    assert zip_compression("empty.txt", None, b"") == zipfile.ZIP_STORED


def test_zip_entry_names_unit():
    assert zip_entry_names(["a.txt", "a.txt", "a.txt", ".hidden", ".hidden", "noext", "noext"]) == [
        "a.txt", "a (2).txt", "a (3).txt", "hidden", "hidden (2)", "noext", "noext (2)",
    ]  # fmt: skip


def test_safe_filename_and_content_disposition_unit():
    assert safe_filename("..") == "download"
    assert safe_filename("a\x00b\x1f.txt") == "a_b_.txt"
    assert safe_filename("x" * 300 + ".csv").endswith(".csv") and len(safe_filename("x" * 300 + ".csv")) == 150
    assert content_disposition("日本語.md") == (
        "attachment; filename=\"download.md\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.md"
    )


# -- exports and QR ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "media"),
    [("json", "application/json"), ("csv", "text/csv"), ("md", "text/markdown"), ("parquet", "application/vnd.apache.parquet")],
)
async def test_exports_are_downloads_of_the_viewer_copy(fetch, share, fmt, media):
    link = share(demo_conversation(), DEMO_BLOBS).link
    response = await fetch("convshare", "s", link, f"export.{fmt}")
    assert response.code == 200
    assert response.headers["Content-Type"].split(";")[0] == media
    assert response.headers["Content-Disposition"].startswith(f'attachment; filename="Reading CSV files.{fmt}"')
    assert b"SYSTEM-PROMPT-TEXT" not in response.body and b"/home/ada" not in response.body


async def test_the_json_export_has_no_owner_account_or_extra(fetch, share, convshare_app):
    conv = demo_conversation()
    conv.extra = {"jupyterlab-chat": {"owner": "OWNER-SECRET"}}
    link = share(conv).link
    data = json.loads((await fetch("convshare", "s", link, "export.json")).body)
    assert "extra" not in data and "OWNER-SECRET" not in json.dumps(data)
    assert set(data["participants"]) == {"user-1", "bot"}


async def test_the_qr_code_encodes_the_share_url(fetch, share, http_server_client, jp_base_url):
    link = share(demo_conversation()).link
    response = await fetch("convshare", "s", link, "qr.svg")
    url = http_server_client.get_url(f"{jp_base_url}convshare/s/{link}")
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert response.body == qr_svg(url)
    png = await fetch("convshare", "s", link, "qr.png")
    assert png.headers["Content-Type"] == "image/png"
    zxingcpp = pytest.importorskip("zxingcpp")
    image = pytest.importorskip("PIL.Image")
    assert [r.text for r in zxingcpp.read_barcodes(image.open(io.BytesIO(png.body)))] == [url]


# -- XSS --------------------------------------------------------------------------------

XSS = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=1>"


def hostile_conversation() -> Conversation:
    """Every field that reaches the page carries a payload."""
    conv = Conversation(id="xss", title=f"T{XSS}", source=SourceInfo(format="convshare"))
    conv.participants = {
        "u": Participant(id="u", kind="human", display_name=f"U{XSS}"),
        "b": Participant(id="b", kind="assistant", display_name=f"B{XSS}", provider=f"P{XSS}", model=f"M{XSS}"),
    }
    conv.attachments = {
        "f": Attachment(id="f", name=f"F{XSS}.txt", mime_type="text/plain\"><script>x</script>"),
        'i"><script>': Attachment(id='i"><script>', name=f"I{XSS}.png", mime_type="image/png"),
    }
    texts = [
        XSS,
        "[click](javascript:window.__pwned=1) ![x](javascript:window.__pwned=1) ![y](https://evil.example/x.png)",
        "```python\n</code></pre><script>window.__pwned=1</script>\n```",
        '```"><script>window.__pwned=1</script>\nx\n```',
        "$\\href{javascript:window.__pwned=1}{click}$ $\\text{<img src=x onerror=window.__pwned=1>}$",
        "<a href=\"javascript:window.__pwned=1\">raw</a> <svg onload=window.__pwned=1>",
    ]
    conv.append(Message(id="1", role="user", author_id="u", parts=[Part.text_part(t) for t in texts]))
    conv.append(
        Message(
            id="2",
            role="assistant",
            author_id="b",
            model=f"M2{XSS}",
            parts=[
                Part(type="code", text=XSS, language=f"py{XSS}"),
                Part(type="reasoning", text=XSS, summary=XSS),
                Part(type="tool_call", name=f"N{XSS}", arguments={"k": XSS}, status=XSS),
                Part(type="tool_result", text=XSS, is_error=True),
                Part(type="mime_bundle", data={"text/html": XSS}),
                Part(type="citation", url="javascript:window.__pwned=1", title=XSS, text=XSS),
                Part(type="image", url="javascript:window.__pwned=1", alt=XSS),
                Part(type="image", attachment_id="i\"><script>", alt=XSS),
                Part(type="file_ref", attachment_id="f"),
                Part(type="unknown", source_type=XSS, data={"x": XSS}),
            ],
        )
    )
    return conv


HOSTILE_BLOBS = {"f": b"text", "i\"><script>": PNG}


async def test_xss_payloads_in_every_field_never_become_live_markup(fetch, share, jp_base_url):
    link = share(hostile_conversation(), HOSTILE_BLOBS).link
    response = await fetch("convshare", "s", link)
    assert response.code == 200
    page = parse(response.body)
    own_script = f"{jp_base_url}convshare/static/viewer.js"
    for tag, attrs in page.elements:
        assert tag not in {"iframe", "object", "embed", "svg", "form", "base", "style"}, tag
        if tag == "script":
            assert attrs == {"src": own_script, "defer": None}
        if tag == "img":
            assert unquote(attrs["src"] or "").startswith(f"{unquote(jp_base_url)}convshare/s/{link}/")
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            if name in ("href", "src"):
                assert "javascript" not in (value or "").lower(), (tag, value)
    # the payload text itself is still visible, as text
    text = "".join(page.text)
    assert "window.__pwned=1" in text and f"U{XSS}" in text and f"T{XSS}" in text


async def test_a_foreign_host_header_is_refused_every_time(fetch, share):
    # Given a page already served to a local host (DNS-rebinding check, as jupyter-server)
    link = share(demo_conversation()).link
    assert (await fetch("convshare", "s", link)).code == 200
    # When a page is asked for under a foreign Host header, again and again
    codes = [
        (await fetch("convshare", "s", link, headers={"Host": "evil.example.org"})).code for _ in range(2)
    ]
    # Then it is refused each time, while the local host still gets the page
    assert codes == [403, 403]
    assert (await fetch("convshare", "s", link)).code == 200
