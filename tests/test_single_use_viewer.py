"""Single-use links in the viewer: the first opener claims the link on every viewer route.

A real server (pytest-jupyter); browsers are plain HTTP clients that keep (or drop) the
viewer's claim cookie, exactly as a browser would.
"""

from __future__ import annotations

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, SourceInfo
from jupyter_convshare.server.viewer import CLAIM_COOKIE

OWNER = "owner"


@pytest.fixture
def single_use_link(service, convshare_app):
    """A single-use share of a one-message conversation with one attachment; returns its link."""
    conv = Conversation(id="once", source=SourceInfo(format="convshare"), title="For one reader")
    conv.attachments["a"] = Attachment(id="a", name="notes.txt", mime_type="text/plain")
    conv.append(Message(id="1", role="user", author_id="u", parts=[Part.text_part("only for you")]))
    owner = convshare_app.owner
    service.save_conversation(owner, conv, blobs={"a": b"secret notes"})
    share, _ = service.create_share(owner, "once", expires="7d")
    return service.update_share(owner, share.share_id, single_use=True).link


@pytest.fixture
def browser(http_server, jp_http_port, jp_base_url):
    """``await browser(cookie)(*path)``: an anonymous GET (no token) carrying ``cookie`` if given."""

    def with_cookie(cookie: str | None = None):
        async def get(*parts: str) -> HTTPResponse:
            url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}convshare/s/" + "/".join(parts)
            headers = {"Cookie": f"{CLAIM_COOKIE}={cookie}"} if cookie else {}
            return await AsyncHTTPClient().fetch(url, headers=headers, raise_error=False)

        return get

    return with_cookie


def claim_cookie(response: HTTPResponse) -> str:
    for header in response.headers.get_list("Set-Cookie"):
        if header.startswith(f"{CLAIM_COOKIE}="):
            assert "HttpOnly" in header and "SameSite=Lax" in header and "/convshare/s/" in header
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError("no claim cookie set")


async def test_the_first_browser_claims_and_others_get_the_404_page(single_use_link, browser):
    # Given a single-use link, when a first anonymous browser opens it
    first = await browser()(single_use_link)
    # Then it reads the conversation and gets its claim cookie
    assert first.code == 200 and b"only for you" in first.body
    cookie = claim_cookie(first)
    # And it can come back, and download the attachment, with that cookie
    assert (await browser(cookie)(single_use_link)).code == 200
    download = await browser(cookie)(single_use_link, "files", "a")
    assert download.code == 200 and download.body == b"secret notes"
    # When any other browser opens the link (no cookie, or another cookie)
    for other in (None, "x" * 43):
        page = await browser(other)(single_use_link)
        # Then it gets the same 404 page as an unknown link, on every route
        assert page.code == 404
        assert b"only for you" not in page.body
        assert (await browser(other)(single_use_link, "files", "a")).code == 404
        assert (await browser(other)(single_use_link, "files.zip")).code == 404
        assert (await browser(other)(single_use_link, "export.json")).code == 404
        assert (await browser(other)(single_use_link, "qr.svg")).code == 404
    unknown = await browser()("A" * 43)
    assert page.body == unknown.body


async def test_the_owner_previews_a_single_use_link_without_using_it_up(
    single_use_link, jp_fetch, browser, service, convshare_app
):
    # Given a single-use link, when its owner (logged in with the server's token) opens it twice
    for _ in range(2):
        assert (await jp_fetch("convshare", "s", single_use_link, raise_error=False)).code == 200
    # Then it is still unclaimed, and the first anonymous browser gets it
    assert service.list_shares(convshare_app.owner)[0].claimed_by is None
    assert (await browser()(single_use_link)).code == 200
    assert service.list_shares(convshare_app.owner)[0].claimed_by.startswith("browser:")


async def test_links_that_are_not_single_use_set_no_cookie(service, convshare_app, browser):
    conv = Conversation(id="many", source=SourceInfo(format="convshare"), title="For everyone")
    conv.append(Message(id="1", role="user", author_id="u", parts=[Part.text_part("hello all")]))
    service.save_conversation(convshare_app.owner, conv)
    share, _ = service.create_share(convshare_app.owner, "many")
    for _ in range(2):
        page = await browser()(share.link)
        assert page.code == 200
        assert not page.headers.get_list("Set-Cookie")
