"""The viewer for logged-in users (issue 3 items 3 and 7): the collaborate form, *Reply* on
earlier messages (a branch), *Save to my library*, and the grantee page
``convshare/v/<share_id>`` for shares whose link is off.

Several users on one real server through the test identity provider of test_grants
(token ``<name>-token`` -> user ``<name>``). A browser is imitated by :class:`Browser`: it
logs in once with its token, then sends only the cookies the server set (the login
cookie and ``_xsrf``), so jupyter-server's XSRF check applies to its forms as it does to
a real browser's. Users: the owner ``teacher``; ``carol``, in group ``team``, which may
collaborate; ``student1``, in group ``class-2026``, which may view; ``dave``, in no
group; and anonymous visitors.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from jupyter_convshare.core.model import Conversation, Message, Part, Participant, SourceInfo
from jupyter_convshare.core.shares import MAX_MESSAGE_CHARS

from .server_helpers import body_json, make_api
from .test_grants import GROUPS, OWNER, TokenUsersIdentityProvider, as_user
from .test_viewer import EXPECTED_HEADERS

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1"> [click](javascript:alert(1))'


@pytest.fixture
def jp_server_config(jp_server_config):
    config = dict(jp_server_config)
    config["ServerApp"] = {**config["ServerApp"], "identity_provider_class": TokenUsersIdentityProvider}
    config["ConvShareApp"] = {**config["ConvShareApp"], "owner": OWNER, "groups": GROUPS, "admin_users": {"admin"}}
    return config


@pytest.fixture
def clock(service):
    """The service clock, frozen at T0 and movable (``clock["now"] = ...``)."""
    state = {"now": T0}
    service.clock = lambda: state["now"]
    return state


def lesson(cid: str = "lesson") -> Conversation:
    """A question, an answer, a follow-up and its answer (ids q1, a1, q2, a2)."""
    conv = Conversation(id=cid, title="Photosynthesis", source=SourceInfo(format="convshare"), created_at=T0)
    conv.participants = {
        "ada": Participant(id="ada", kind="human", display_name="Ada"),
        "bot": Participant(id="bot", kind="assistant", display_name="Claude", model="claude-3-7"),
    }
    for i, (mid, role, author, text) in enumerate(
        [
            ("q1", "user", "ada", "What is photosynthesis? Q1-TEXT"),
            ("a1", "assistant", "bot", "Plants turn light into sugar. A1-TEXT"),
            ("q2", "user", "ada", "And at night? Q2-TEXT"),
            ("a2", "assistant", "bot", "They respire. A2-TEXT"),
        ]
    ):
        conv.append(Message(id=mid, role=role, author_id=author, created_at=T0 + timedelta(minutes=i), parts=[Part.text_part(text)]))
    return conv


@pytest.fixture
def shared(service, clock):
    """``shared(mode="live") -> Share`` of :func:`lesson`, with ``team`` collaborating and
    ``class-2026`` viewing."""

    def make(mode: str = "live", cid: str = "lesson"):
        service.save_conversation(OWNER, lesson(cid))
        share, _ = service.create_share(OWNER, cid, expires="30d", mode=mode)
        service.add_grant(OWNER, share.share_id, "group", "team", "collaborate")
        service.add_grant(OWNER, share.share_id, "group", "class-2026", "view")
        return share

    return make


class Browser:
    """A cookie jar in front of the test server: ``login`` once with a user's token, then
    plain requests carry only the cookies (login, ``_xsrf``), like a browser's."""

    def __init__(self, root: str) -> None:
        self.root = root  # http://127.0.0.1:<port>
        self.cookies: dict[str, str] = {}

    def _keep(self, response: HTTPResponse) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)

    async def fetch(self, url: str, *, method: str = "GET", form: dict[str, str] | None = None,
                    headers: dict[str, str] | None = None) -> HTTPResponse:
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if method == "POST":
            body = urlencode(form or {})
            all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        response = await AsyncHTTPClient().fetch(
            url if url.startswith("http") else self.root + url, method=method, headers=all_headers, body=body,
            raise_error=False, follow_redirects=False,
        )
        self._keep(response)
        return response

    async def login(self, user: str, url: str) -> HTTPResponse:
        """Open ``url`` once with ``user``'s token (jupyter-server then sets its login cookie)."""
        return await self.fetch(url, headers=as_user(user))


@pytest.fixture
def root(http_server, jp_http_port):
    return f"http://127.0.0.1:{jp_http_port}"


@pytest.fixture
def page_url(jp_base_url):
    def url(share, query: str = "") -> str:
        return f"{jp_base_url}convshare/s/{share.link}{query}"

    return url


@pytest.fixture
def grantee_url(jp_base_url):
    def url(share, rest: str = "") -> str:
        return f"{jp_base_url}convshare/v/{share.share_id}{rest}"

    return url


@pytest.fixture
def browser(root):
    """``await browser(user, url) -> (Browser, first response)``: logged in (``None``: anonymous)."""

    async def make(user: str | None, url: str) -> tuple[Browser, HTTPResponse]:
        b = Browser(root)
        response = await (b.login(user, url) if user else b.fetch(url))
        return b, response

    return make


class Page(HTMLParser):
    """What a test asserts on: forms (action, hidden fields), Reply links, texts."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self.reply_links: list[str] = []
        self.messages: list[str] = []  # ids of li.message elements, in order
        self.positions: list[str] = []
        self._in_pos = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"), "fields": {}})
        elif tag in ("input", "textarea") and self.forms:
            self.forms[-1]["fields"][a.get("name")] = a.get("value", "")
        elif tag == "a" and "reply-link" in classes:
            self.reply_links.append(a["href"])
        elif tag == "li" and "message" in classes:
            self.messages.append(a["id"])
        self._in_pos = tag == "span" and "branch-pos" in classes

    def handle_data(self, data):
        if self._in_pos:
            self.positions.append(data.strip())
            self._in_pos = False

    def form(self, action_suffix: str) -> dict[str, Any] | None:
        found = [f for f in self.forms if (f["action"] or "").endswith(action_suffix)]
        return found[0] if found else None


def page(response: HTTPResponse) -> Page:
    return Page(response.body.decode("utf-8"))


def assert_viewer_headers(response: HTTPResponse) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.code)
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "form-action 'self'" in csp and "frame-ancestors 'none'" in csp, csp


def conversation_of(service, cid: str = "lesson") -> Conversation:
    return service.get_conversation(OWNER, cid)


async def post_reply(b: Browser, form: dict[str, Any], text: str, **override: str) -> HTTPResponse:
    fields = {**form["fields"], "text": text, **override}
    return await b.fetch(form["action"], method="POST", form=fields)


# -- who sees the form ---------------------------------------------------------------------


async def test_a_group_collaborator_sees_the_form_replying_to_the_last_message(shared, browser, page_url):
    # Given a live share whose group "team" may collaborate
    share = shared()
    # When carol (in "team") opens the link logged in
    _b, response = await browser("carol", page_url(share))
    # Then the page has a form posting to the link's messages route, replying to the leaf,
    # with jupyter-server's XSRF token, and a Reply link on every earlier message
    assert response.code == 200
    assert_viewer_headers(response)
    p = page(response)
    form = p.form("/messages")
    assert form is not None and form["method"] == "post"
    assert form["action"] == page_url(share, "/messages")
    assert form["fields"]["parent_id"] == "a2" and form["fields"]["_xsrf"]
    assert "text" in form["fields"]
    assert len(p.reply_links) == 3
    assert p.reply_links[0] == page_url(share, "?reply=q1#reply")
    assert "Posting as" in response.body.decode() and "you can add messages" in response.body.decode()


async def test_the_owner_sees_the_form_but_no_save_button(shared, browser, page_url):
    share = shared()
    _b, response = await browser(OWNER, page_url(share))
    p = page(response)
    assert p.form("/messages") is not None and p.form("/save") is None


@pytest.mark.parametrize("user", ["student1", "dave"], ids=["group viewer", "non-member"])
async def test_view_only_readers_get_no_form_but_may_save(shared, browser, page_url, user):
    # Given a share that class-2026 may only view, and dave has no grant (a link holder)
    share = shared()
    _b, response = await browser(user, page_url(share))
    # Then neither gets the collaborate form nor a Reply link, and both may save it
    p = page(response)
    assert response.code == 200
    assert p.form("/messages") is None and p.reply_links == []
    assert p.form("/save") is not None and p.form("/save")["fields"]["_xsrf"]
    assert "A2-TEXT" in response.body.decode()


async def test_an_anonymous_visitor_gets_no_form_no_token_and_no_cookie(shared, browser, page_url):
    share = shared()
    _b, response = await browser(None, page_url(share))
    body = response.body.decode()
    assert response.code == 200
    assert "<form" not in body and "_xsrf" not in body and "reply-link" not in body
    assert response.headers.get_list("Set-Cookie") == []


async def test_a_snapshot_shows_no_form_even_to_a_collaborator(shared, browser, page_url):
    share = shared(mode="snapshot")
    _b, response = await browser("carol", page_url(share))
    p = page(response)
    assert p.form("/messages") is None and p.reply_links == []


async def test_an_expired_share_shows_the_owner_no_form(shared, browser, page_url, clock, grantee_url):
    # Given a share past its expiry: the link answers 410, the owner still reads it
    share = shared()
    clock["now"] = T0 + timedelta(days=31)
    _b, response = await browser("carol", page_url(share))
    assert response.code == 410
    b, response = await browser(OWNER, grantee_url(share))
    assert response.code == 200 and page(response).form("/messages") is None


async def test_anonymous_pages_stay_cached_and_clean_after_logged_in_views(shared, browser, page_url, convshare_app):
    # Given an anonymous view (cached), then a collaborator's and a viewer's views
    share = shared()
    _b, before = await browser(None, page_url(share))
    await browser("carol", page_url(share))
    await browser("student1", page_url(share))
    _b, after = await browser(None, page_url(share))
    # Then the anonymous page is the same bytes, without form, token or cookie
    assert after.body == before.body
    assert b"<form" not in after.body and b"_xsrf" not in after.body
    assert after.headers.get_list("Set-Cookie") == []
    # and the page cache holds only the anonymous page
    pages = convshare_app.serverapp.web_app.settings["convshare_viewer_cache"].pages
    assert len([key for key in pages._data if share.link in key]) == 1


async def test_a_logged_in_view_is_never_served_from_the_anonymous_cache(shared, browser, page_url):
    # Given the anonymous page cached first
    share = shared()
    await browser(None, page_url(share))
    # When a collaborator opens the same link
    _b, response = await browser("carol", page_url(share))
    # Then she gets her own page with the form
    assert page(response).form("/messages") is not None


# -- posting -------------------------------------------------------------------------------


async def test_a_collaborator_posts_at_the_end_and_sees_the_message_with_her_name(shared, browser, page_url, service):
    share = shared()
    b, response = await browser("carol", page_url(share))
    form = page(response).form("/messages")
    # When she sends the form (cookies only: the XSRF check applies)
    posted = await post_reply(b, form, "Thanks!\r\nNEW-MESSAGE")
    # Then she is sent to the page of the new message's branch
    assert posted.code == 303
    assert_viewer_headers(posted)
    conv = conversation_of(service)
    new = conv.messages[conv.active_leaf_id]
    assert new.parent_id == "a2" and new.parts[0].text == "Thanks!\nNEW-MESSAGE"
    assert posted.headers["Location"] == page_url(share, f"?path={new.id}#reply")
    shown = await b.fetch(posted.headers["Location"])
    body = shown.body.decode()
    assert "NEW-MESSAGE" in body and "A2-TEXT" in body
    assert re.search(r'<h2 class="author"[^>]*>carol<', body)
    # and the form now replies to her message
    assert page(shown).form("/messages")["fields"]["parent_id"] == new.id


async def test_reply_on_an_earlier_message_shows_the_form_under_it(shared, browser, page_url):
    share = shared()
    b, _ = await browser("carol", page_url(share))
    response = await b.fetch(page_url(share, "?reply=a1"))
    p = page(response)
    form = p.form("/messages")
    assert form["fields"]["parent_id"] == "a1"
    body = response.body.decode()
    # the form sits inside the message it replies to, before the next message
    assert body.index('id="reply"') > body.index("A1-TEXT") and body.index('id="reply"') < body.index("Q2-TEXT")
    assert "starts a new branch" in body and 'autofocus' in body
    # and no Reply link is shown on that message itself
    assert page_url(share, "?reply=a1#reply") not in p.reply_links


@pytest.mark.parametrize("value", ["a2", "nope", "<script>alert(1)</script>", "x" * 5000, "%ff"])
async def test_a_reply_value_naming_no_earlier_message_is_ignored(shared, browser, page_url, value):
    share = shared()
    b, _ = await browser("carol", page_url(share))
    response = await b.fetch(page_url(share, "?" + urlencode({"reply": value})))
    form = page(response).form("/messages")
    assert response.code == 200 and form["fields"]["parent_id"] == "a2"
    assert "<script>alert(1)" not in response.body.decode()


async def test_replying_to_an_earlier_message_starts_a_branch(shared, browser, page_url, service):
    share = shared()
    b, _ = await browser("carol", page_url(share))
    form = page(await b.fetch(page_url(share, "?reply=a1"))).form("/messages")
    posted = await post_reply(b, form, "What about algae? BRANCH-TEXT")
    assert posted.code == 303
    conv = conversation_of(service)
    new_id = conv.active_leaf_id
    assert conv.messages[new_id].parent_id == "a1" and conv.messages["a1"].children_ids == ["q2", new_id]
    # The page of the new branch shows it in place of q2, with a 2 / 2 switcher
    response = await b.fetch(posted.headers["Location"])
    body = response.body.decode()
    assert "BRANCH-TEXT" in body and "Q2-TEXT" not in body and "A2-TEXT" not in body
    assert page(response).positions == ["2 / 2"]
    # and the old branch is one click away, for everyone
    _b, anonymous = await browser(None, page_url(share, "?path=a2"))
    assert "A2-TEXT" in anonymous.body.decode() and "BRANCH-TEXT" not in anonymous.body.decode()
    assert page(anonymous).positions == ["1 / 2"]


async def test_a_posted_script_is_shown_as_text(shared, browser, page_url):
    share = shared()
    b, response = await browser("carol", page_url(share))
    posted = await post_reply(b, page(response).form("/messages"), XSS)
    body = (await b.fetch(posted.headers["Location"])).body.decode()
    assert "<script>window.__pwned" not in body and "<img src=x" not in body
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body
    assert 'href="javascript:' not in body
    # and the anonymous page of the same version too
    _b, anonymous = await browser(None, posted.headers["Location"])
    assert "<script>window.__pwned" not in anonymous.body.decode()


# -- what is refused -----------------------------------------------------------------------


@pytest.mark.parametrize("xsrf", [None, "wrong", "2|00000000|00000000000000000000000000000000|1"], ids=["missing", "wrong", "forged"])
async def test_a_post_without_the_right_xsrf_token_is_refused(shared, browser, page_url, service, xsrf):
    share = shared()
    b, response = await browser("carol", page_url(share))
    form = page(response).form("/messages")
    fields = {k: v for k, v in form["fields"].items() if k != "_xsrf"}
    if xsrf is not None:
        fields["_xsrf"] = xsrf
    refused = await b.fetch(form["action"], method="POST", form={**fields, "text": "forged"})
    assert refused.code == 403
    assert_viewer_headers(refused)
    assert refused.headers["Content-Type"] == "text/html; charset=UTF-8" and b"Traceback" not in refused.body
    assert len(conversation_of(service).messages) == 4


async def test_a_post_from_another_origin_is_refused(shared, browser, page_url, service):
    share = shared()
    b, response = await browser("carol", page_url(share))
    form = page(response).form("/messages")
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null", "Sec-Fetch-Site": "cross-site"}):
        fields = {**form["fields"], "text": "cross-site"}
        refused = await b.fetch(form["action"], method="POST", form=fields, headers=headers)
        assert refused.code in (403, 404), headers
    assert len(conversation_of(service).messages) == 4


async def test_a_same_origin_form_without_referrer_is_accepted(shared, browser, page_url, service):
    # The page sends no referrer (Referrer-Policy: no-referrer), so browsers send
    # "Origin: null" with its forms, and "Sec-Fetch-Site: same-origin"
    share = shared()
    b, response = await browser("carol", page_url(share))
    form = page(response).form("/messages")
    posted = await b.fetch(form["action"], method="POST", form={**form["fields"], "text": "null origin"},
                           headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert posted.code == 303 and len(conversation_of(service).messages) == 5


async def test_an_anonymous_post_is_refused(shared, root, page_url, service):
    share = shared()
    response = await AsyncHTTPClient().fetch(
        root + page_url(share, "/messages"), method="POST", body=urlencode({"text": "hi", "parent_id": "a2"}),
        raise_error=False, follow_redirects=False,
    )
    assert response.code == 403
    assert_viewer_headers(response)
    assert len(conversation_of(service).messages) == 4


@pytest.mark.parametrize(
    "user, text, status, says",
    [
        ("carol", "", 400, "Write a message before sending it."),
        ("carol", "   \r\n ", 400, "Write a message before sending it."),
        ("carol", "x" * (MAX_MESSAGE_CHARS + 1), 413, "at most 100,000 characters"),
        ("student1", "may I?", 403, "not add messages"),
        ("dave", "may I?", 403, "not add messages"),
    ],
    ids=["empty", "blank", "too long", "group viewer", "link holder"],
)
async def test_refused_messages_get_an_error_page_with_a_way_back(shared, browser, page_url, service, user, text, status, says):
    share = shared()
    b, response = await browser(user, page_url(share))
    # (a view-only reader has no form: they post what a collaborator's page would)
    form = page(response).form("/messages") or {
        "action": page_url(share, "/messages"),
        "fields": {"parent_id": "a2", "_xsrf": page(response).form("/save")["fields"]["_xsrf"]},
    }
    refused = await post_reply(b, form, text)
    assert refused.code == status
    assert_viewer_headers(refused)
    body = refused.body.decode()
    assert refused.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert says in body and "Back to the conversation" in body and "Traceback" not in body
    assert len(conversation_of(service).messages) == 4


async def test_a_parent_the_page_does_not_show_is_refused(shared, browser, page_url, service):
    share = shared()
    b, response = await browser("carol", page_url(share))
    refused = await post_reply(b, page(response).form("/messages"), "hi", parent_id="no-such-message")
    assert refused.code == 400 and b"not in this conversation" in refused.body


async def test_posting_to_a_snapshot_is_a_conflict(shared, browser, page_url, service):
    share = shared(mode="snapshot")
    b, response = await browser("carol", page_url(share))
    xsrf = page(response).form("/save")["fields"]["_xsrf"]
    refused = await b.fetch(page_url(share, "/messages"), method="POST", form={"text": "hi", "parent_id": "a2", "_xsrf": xsrf})
    assert refused.code == 409 and b"snapshot" in refused.body.lower()


async def test_posting_after_expiry_or_revocation_gets_the_link_pages(shared, browser, page_url, service, clock):
    share = shared()
    b, response = await browser("carol", page_url(share))
    form = page(response).form("/messages")
    clock["now"] = T0 + timedelta(days=31)
    expired = await post_reply(b, form, "late")
    assert expired.code == 410 and b"expired" in expired.body
    clock["now"] = T0
    service.revoke(OWNER, share.share_id)
    revoked = await post_reply(b, form, "gone")
    assert revoked.code == 404 and b"does not exist or was revoked" in revoked.body
    for response in (expired, revoked):
        assert_viewer_headers(response)
        assert b"Back to the conversation" not in response.body
    assert len(conversation_of(service).messages) == 4


async def test_the_owners_account_stays_hidden_from_link_holders(shared, browser, page_url):
    share = shared()
    _b, anonymous = await browser(None, page_url(share))
    _b, carol = await browser("carol", page_url(share))
    assert OWNER not in anonymous.body.decode() and OWNER not in carol.body.decode()


# -- save to my library --------------------------------------------------------------------


async def test_save_to_my_library(shared, browser, page_url, convshare_app):
    # Given a group viewer on a branch page of the link
    share = shared()
    b, response = await browser("student1", page_url(share, "?path=q2"))
    form = page(response).form("/save")
    assert form["action"] == page_url(share, "/save")
    # When she presses Save to my library
    saved = await b.fetch(form["action"], method="POST", form=form["fields"])
    # Then the conversation is in her library, and she is back on the page with a note
    assert saved.code == 303 and saved.headers["Location"] == page_url(share, "?saved=1")
    assert_viewer_headers(saved)
    items = convshare_app.library.list("student1")
    assert [(item.share_id, item.item_id.startswith("grant-")) for item in items] == [(share.share_id, False)]
    back = await b.fetch(saved.headers["Location"])
    assert "Saved to your library." in back.body.decode()
    # and saving again is not an error
    again = await b.fetch(form["action"], method="POST", form=form["fields"])
    assert again.code == 303


async def test_save_keeps_the_branch_shown(shared, browser, page_url, service):
    share = shared()
    b, response = await browser("carol", page_url(share))
    form = page(await b.fetch(page_url(share, "?reply=a1"))).form("/messages")
    await post_reply(b, form, "BRANCH-TEXT")
    # the new branch is the active one: the old one is ?path=a2
    response = await b.fetch(page_url(share, "?path=a2"))
    save = page(response).form("/save")
    assert save["fields"]["path"] == "a2"
    saved = await b.fetch(save["action"], method="POST", form=save["fields"])
    assert saved.headers["Location"] == page_url(share, "?path=a2&saved=1")


async def test_save_without_the_xsrf_token_is_refused(shared, browser, page_url):
    share = shared()
    b, _ = await browser("student1", page_url(share))
    refused = await b.fetch(page_url(share, "/save"), method="POST", form={})
    assert refused.code == 403


async def test_a_forged_saved_note_is_not_shown_to_anonymous_visitors(shared, browser, page_url):
    share = shared()
    _b, response = await browser(None, page_url(share, "?saved=1"))
    assert b"Saved to your library" not in response.body


# -- the grantee page (link off) -----------------------------------------------------------


@pytest.fixture
def link_off(shared, service):
    def make(**kwargs):
        share = shared(**kwargs)
        service.update_share(OWNER, share.share_id, link_enabled=False)
        return share

    return make


async def test_grantees_read_a_share_whose_link_is_off(link_off, browser, page_url, grantee_url):
    share = link_off()
    # the link is dead for everyone
    _b, dead = await browser("carol", page_url(share))
    assert dead.code == 404
    # while the grantee page works for the grantees and the owner
    for user, form in (("carol", True), ("student1", False), (OWNER, True)):
        _b, response = await browser(user, grantee_url(share))
        assert response.code == 200, user
        assert_viewer_headers(response)
        p = page(response)
        assert (p.form("/messages") is not None) is form, user
        assert p.form("/save") is None  # granted conversations are in the library already
        assert "A2-TEXT" in response.body.decode() and "qr.svg" not in response.body.decode()


async def test_the_grantee_page_is_a_404_for_others_and_a_login_for_anonymous(link_off, browser, grantee_url):
    share = link_off()
    _b, dave = await browser("dave", grantee_url(share))
    _b, unknown = await browser("carol", grantee_url(share).replace(share.share_id, "no-such-share"))
    assert dave.code == unknown.code == 404 and dave.body == unknown.body
    assert_viewer_headers(dave)
    _b, anonymous = await browser(None, grantee_url(share))
    assert anonymous.code == 302 and "/login" in anonymous.headers["Location"]


async def test_a_collaborator_posts_on_the_grantee_page(link_off, browser, grantee_url, service):
    share = link_off()
    b, response = await browser("carol", grantee_url(share, "?reply=q2"))
    form = page(response).form("/messages")
    assert form["action"] == grantee_url(share, "/messages") and form["fields"]["parent_id"] == "q2"
    posted = await post_reply(b, form, "GRANTEE-REPLY")
    assert posted.code == 303
    new_id = conversation_of(service).active_leaf_id
    assert posted.headers["Location"] == grantee_url(share, f"?path={new_id}#reply")
    shown = await b.fetch(posted.headers["Location"])
    assert b"GRANTEE-REPLY" in shown.body and page(shown).positions == ["2 / 2"]


async def test_a_viewer_cannot_post_on_the_grantee_page(link_off, browser, grantee_url, service):
    share = link_off()
    b, _ = await browser("student1", grantee_url(share))
    # student1 has no form; she posts with an XSRF cookie and token of her own
    b.cookies["_xsrf"] = "student1-xsrf"
    refused = await b.fetch(grantee_url(share, "/messages"), method="POST",
                            form={"text": "hi", "parent_id": "a2", "_xsrf": "student1-xsrf"})
    assert refused.code == 403 and b"not add messages" in refused.body
    assert len(conversation_of(service).messages) == 4


async def test_grantee_exports_and_files_follow_the_grant(link_off, browser, grantee_url):
    share = link_off()
    b, _ = await browser("student1", grantee_url(share))
    export = await b.fetch(grantee_url(share, "/export.json"))
    assert export.code == 200 and body_json(export)["messages"]["a2"]
    assert export.headers["Content-Disposition"].startswith("attachment;")
    assert export.headers["Content-Security-Policy"] == "sandbox"
    markdown = await b.fetch(grantee_url(share, "/export.md"))
    assert markdown.code == 200 and b"A2-TEXT" in markdown.body
    zipped = await b.fetch(grantee_url(share, "/files.zip"))
    assert zipped.code == 200 and zipped.headers["Content-Type"] == "application/zip"
    assert (await b.fetch(grantee_url(share, "/files/nope"))).code == 404
    d, _ = await browser("dave", grantee_url(share))
    assert (await d.fetch(grantee_url(share, "/export.json"))).code == 404


async def test_a_grantee_loses_the_page_when_the_grant_goes(link_off, browser, grantee_url, service):
    share = link_off()
    b, first = await browser("carol", grantee_url(share))
    assert first.code == 200
    (team,) = [g for g in service.list_grants(OWNER, share.share_id) if g.principal == "team"]
    service.remove_grant(OWNER, share.share_id, team.grant_id)
    assert (await b.fetch(grantee_url(share))).code == 404


async def test_shared_with_me_links_to_the_grantee_page_while_the_link_is_off(shared, jp_fetch, service, root, jp_base_url):
    api = make_api(jp_fetch)
    share = shared()
    listed = body_json(await api("GET", "shared-with-me", headers=as_user("student1")))["conversations"]
    assert listed[0]["url"] == f"{root}{jp_base_url}convshare/s/{share.link}"
    service.update_share(OWNER, share.share_id, link_enabled=False)
    listed = body_json(await api("GET", "shared-with-me", headers=as_user("student1")))["conversations"]
    assert listed[0]["url"] == f"{root}{jp_base_url}convshare/v/{share.share_id}"
    # and that URL opens for the grantee
    response = await AsyncHTTPClient().fetch(listed[0]["url"], headers=as_user("student1"), raise_error=False)
    assert response.code == 200 and b"A2-TEXT" in response.body


# -- the signed-in viewer routes: every route x actor x share state -------------------------

MATRIX_ACTORS = {
    "anonymous": None, "owner": OWNER, "admin": "admin", "group viewer": "student1",
    "group collaborator": "carol", "non-member": "dave",
}
MATRIX_STATES = ("active", "expired", "revoked", "link off")
FORM_ROUTES = [
    ("GET", "convshare/v/{share_id}"),
    ("GET", "convshare/v/{share_id}/export.json"),
    ("POST", "convshare/v/{share_id}/messages"),
    ("POST", "convshare/s/{link}/messages"),
    ("POST", "convshare/s/{link}/save"),
]


def matrix_expected(method: str, path: str, actor: str, state: str) -> int:
    """The status each actor gets (token-authenticated requests: no XSRF token needed)."""
    if actor == "anonymous":
        return 302 if method == "GET" else 403  # GET: the login page; POST: refused
    manager = actor in ("owner", "admin")
    posting = path.endswith("/messages")
    if path.startswith("convshare/v/"):
        if state == "revoked" or actor == "non-member":
            return 404
        if state == "expired" and not manager:
            return 410  # the owner and admins still manage an expired share
        if posting and actor == "group viewer":
            return 403
        return 303 if posting else 200
    # the link's own routes: the link is checked first
    if state != "active":
        return 410 if state == "expired" else 404
    if posting:
        return 303 if actor in ("owner", "admin", "group collaborator") else 403
    return 400 if actor == "owner" else 303  # the owner's own share is not saved to a library


async def make_matrix_case(service, number: int, state: str) -> dict[str, str]:
    cid = f"matrix-{number}"
    service.save_conversation(OWNER, lesson(cid))
    real_clock = service.clock
    if state == "expired":
        service.clock = lambda: real_clock() - timedelta(hours=2)
    try:
        share, _ = service.create_share(OWNER, cid, expires="1h" if state == "expired" else "30d")
    finally:
        service.clock = real_clock
    service.add_grant(OWNER, share.share_id, "group", "team", "collaborate")
    service.add_grant(OWNER, share.share_id, "group", "class-2026", "view")
    if state == "revoked":
        service.revoke(OWNER, share.share_id)
    elif state == "link off":
        service.update_share(OWNER, share.share_id, link_enabled=False)
    return {"share_id": share.share_id, "link": share.link}


async def test_every_signed_in_route_answers_every_actor_in_every_state(root, jp_base_url, service):
    wrong: list[str] = []
    cases = [(r, a, s) for r in FORM_ROUTES for a in MATRIX_ACTORS for s in MATRIX_STATES]
    for number, ((method, path), actor, state) in enumerate(cases):
        ids = await make_matrix_case(service, number, state)
        response = await AsyncHTTPClient().fetch(
            f"{root}{jp_base_url}{path.format(**ids)}", method=method, headers=as_user(MATRIX_ACTORS[actor]),
            body=urlencode({"text": "a reply", "parent_id": "a2"}) if method == "POST" else None,
            raise_error=False, follow_redirects=False,
        )
        want = matrix_expected(method, path, actor, state)
        if response.code != want:
            wrong.append(f"{method} {path} as {actor}, {state}: {response.code} (expected {want})")
        # every answer, the login redirect and the error pages included, has the viewer's headers
        missing = [h for h, v in EXPECTED_HEADERS.items() if response.headers.get(h) != v]
        csp = response.headers.get("Content-Security-Policy", "")
        if missing or not ("frame-ancestors 'none'" in csp or csp == "sandbox"):
            wrong.append(f"{method} {path} as {actor}, {state}: headers {missing} {csp!r}")
    assert not wrong, f"{len(wrong)} of {len(cases)} cases wrong:\n" + "\n".join(wrong)
