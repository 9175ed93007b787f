"""Branches in the viewer (issue 3 item 5): the active path, a ``‹ i / n ›`` switcher at every
fork, ``?path=<message id>`` links that work without JavaScript, and exports that keep
every branch.

The view model is tested on its own (``core.render.BranchTree``); the page through a real
Jupyter server (pytest-jupyter, base URL ``/a%40b/``). Conversations are convshare/1 files
in ``tests/fixtures/`` (``importers/branching.json`` and ``branches/*.json``). The browser
side (clicks with JavaScript on and off) is in ``test_browser.py``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlsplit

import pyarrow.parquet as pq
import pytest
from tornado.httpclient import HTTPResponse

from jupyter_convshare.core import importers
from jupyter_convshare.core.model import Conversation, Message, Part, Participant, SourceInfo
from jupyter_convshare.core.redact import viewer_copy
from jupyter_convshare.core.render import MAX_PATH_ID_CHARS, BranchTree, render_conversation
from jupyter_convshare.server.viewer import SWITCH_HEADER

from .server_helpers import make_anonymous_fetch

FIXTURES = Path(__file__).resolve().parent / "fixtures"
T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def load(name: str) -> Conversation:
    """A project fixture: ``"branching"`` (importers/) or ``"nested"``, ``"root_fork"``, ``"system_fork"`` (branches/)."""
    if name == "branching":
        return importers.load_one(FIXTURES / "importers" / "branching.json")
    return importers.load_one(FIXTURES / "branches" / f"{name}.json")


def tree(name: str) -> BranchTree:
    return BranchTree(viewer_copy(load(name)))


def switches(view) -> dict[str, tuple[int, int, str | None, str | None]]:
    """``{message id: (position, count, previous query, next query)}`` for messages at forks."""
    return {
        m.id: (
            m.branch.position,
            m.branch.count,
            m.branch.previous.query if m.branch.previous else None,
            m.branch.next.query if m.branch.next else None,
        )
        for m in view.messages
        if m.branch is not None
    }


# -- the view model ---------------------------------------------------------------------


def test_the_default_path_is_the_active_one_with_a_switcher_at_its_fork():
    # Given a question answered twice, the second answer followed up (active)
    view = tree("branching").render()
    # Then the page shows the active path, and the second answer says 2 / 2 with a way back
    assert [m.id for m in view.messages] == ["1", "3", "4"]
    assert switches(view) == {"3": (2, 2, "?path=2", None)}
    assert view.is_default_path and view.branch_count == 2 and view.fork_count == 1


def test_a_branch_page_links_back_to_the_default_path_without_a_query():
    view = tree("branching").render("2")
    assert [m.id for m in view.messages] == ["1", "2"]
    assert switches(view) == {"2": (1, 2, None, "")}
    assert not view.is_default_path


def test_nested_forks_each_get_a_switcher_and_siblings_continue_to_their_latest_leaf():
    t = tree("nested")
    # The default path follows the source's active leaf (a2), not the latest answer
    view = t.render()
    assert [m.id for m in view.messages] == ["q1", "a1", "q2", "a2"]
    # b1's branch continues to its latest leaf by time (b3 at 10:09), not the last in source order (b4)
    assert switches(view) == {"a1": (1, 2, None, "?path=b3"), "a2": (1, 2, None, "?path=a3")}
    other = t.render(t.end_for("b1"))
    assert [m.id for m in other.messages] == ["q1", "b1", "q3", "b3"]
    assert switches(other) == {"b1": (2, 2, "", None), "b3": (2, 3, "?path=b2", "?path=b4")}
    assert t.branch_count == 5


def test_anchors_keep_their_place_across_branches():
    # The switched message sits at the same position, so a link's #anchor lands on it
    t = tree("nested")
    assert [m.anchor for m in t.render().messages] == ["m1", "m2", "m3", "m4"]
    assert [m.anchor for m in t.render("b3").messages] == ["m1", "m2", "m3", "m4"]


def test_a_fork_at_the_root_gets_a_switcher_on_the_first_message():
    view = tree("root_fork").render()
    assert [m.id for m in view.messages] == ["r2", "r2a", "r2b"]
    assert switches(view) == {"r2": (2, 2, "?path=r1a", None)}
    assert [m.id for m in tree("root_fork").render("r1a").messages] == ["r1", "r1a"]


def test_forks_survive_a_removed_system_prompt_and_a_hidden_message():
    # Given a system prompt with two questions under it, and a hidden tool message
    # whose two answers fork, plus a branch made only of a hidden message
    conv = viewer_copy(load("system_fork"))
    # Then viewer_copy re-links the questions as two roots, in order
    assert conv.root_ids == ["u1", "u2"] and "s" not in conv.messages
    assert conv.messages["u1"].parent_id is None and conv.messages["u2"].parent_id is None
    view = BranchTree(conv).render()
    # and the page shows a fork at the root and a fork across the hidden message
    assert [m.id for m in view.messages] == ["u1", "x2"]
    assert switches(view) == {"u1": (1, 2, None, "?path=y1"), "x2": (2, 2, "?path=x1", None)}
    # while the hidden-only branch is not an alternative (y1 has no switcher)
    assert switches(BranchTree(conv).render("y1")) == {"u2": (2, 2, "", None)}
    assert BranchTree(conv).branch_count == 3


def test_a_removed_active_system_prompt_falls_back_to_the_last_leaf():
    conv = load("system_fork")
    conv.active_leaf_id = "s"
    view = BranchTree(viewer_copy(conv)).render()
    assert [m.id for m in view.messages] == ["u2", "y1"] and view.is_default_path


@pytest.mark.parametrize(
    "value",
    [None, "", "nope", "h", "yh", "s", "SYSTEM-PROMPT-TEXT", "x" * (MAX_PATH_ID_CHARS + 1), "<script>alert(1)</script>"],
)
def test_a_path_naming_no_visible_message_names_nothing(value):
    assert tree("system_fork").end_for(value) is None


def test_a_path_on_the_default_path_names_the_default_path():
    t = tree("nested")
    assert {t.end_for(mid) for mid in ("q1", "a1", "q2", "a2")} == {"a2"} == {t.default_end}


def test_an_unknown_end_renders_the_default_path():
    assert [m.id for m in tree("nested").render("nope").messages] == ["q1", "a1", "q2", "a2"]


def test_undated_leaves_rank_by_source_order():
    conv = Conversation(id="u", source=SourceInfo(format="convshare"))
    conv.participants = {"u": Participant(id="u", display_name="U")}
    for mid, parent in (("q", None), ("a", "q"), ("b", "q"), ("b1", "b"), ("b2", "b")):
        conv.add_message(Message(id=mid, role="user", author_id="u", parent_id=parent, parts=[Part.text_part(mid)]))
    conv.active_leaf_id = "a"
    assert BranchTree(conv).end_for("b") == "b2"


def test_a_long_chain_of_hidden_messages_does_not_hit_the_recursion_limit():
    conv = Conversation(id="deep", source=SourceInfo(format="convshare"))
    conv.append(Message(id="q", role="user", author_id="u", parts=[Part.text_part("q")]))
    for i in range(5000):
        conv.append(Message(id=f"h{i}", role="tool", author_id="t", hidden=True, parts=[Part.text_part("t")]))
    conv.append(Message(id="a", role="assistant", author_id="a", parts=[Part.text_part("a")]))
    assert [m.id for m in render_conversation(conv).messages] == ["q", "a"]


def test_messages_shared_by_two_branches_render_once():
    t = tree("nested")
    first = t.render()
    second = t.render("a3")
    assert first.messages[0].parts[0] is second.messages[0].parts[0]


def test_message_ids_are_percent_encoded_in_switcher_links():
    conv = load("branching")
    odd = '2"><script>alert(1)</script>/?#&é'
    conv.messages[odd] = conv.messages.pop("2")
    conv.messages[odd].id = odd
    conv.messages["1"].children_ids = [odd, "3"]
    (query,) = [q for _, _, q, _ in switches(BranchTree(conv).render()).values()]
    assert query == "?path=" + quote(odd, safe="")
    assert set(query[len("?path=") :]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%_.-~")


# -- the page through a real server ------------------------------------------------------


@pytest.fixture
def fetch(http_server_client, jp_base_url):
    """``await fetch(*path, params=..., headers=...)`` under the base URL; never raises on 4xx/5xx, as an
    anonymous visitor (no credentials: the public, cached page)."""
    return make_anonymous_fetch(http_server_client, jp_base_url)


@pytest.fixture
def fetch_raw(http_server_client, jp_base_url):
    """``await fetch_raw(link, query)``: the page with a query string sent exactly as written."""

    async def call(link: str, query: str) -> HTTPResponse:
        return await http_server_client.fetch(f"{jp_base_url}convshare/s/{link}?{query}", raise_error=False)

    return call


@pytest.fixture
def shared(service, convshare_app):
    """``shared(conversation) -> link`` of a new share by the server's owner."""
    service.clock = lambda: T0

    def make(conversation: Conversation) -> str:
        service.save_conversation(convshare_app.owner, conversation)
        created, _ = service.create_share(convshare_app.owner, conversation.id, expires="never")
        return created.link

    return make


class _Page(HTMLParser):
    """Message ids' texts and the switchers of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.switch_links: list[dict[str, str | None]] = []
        self.positions: list[str] = []
        self._in_pos = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "a" and "branch-arrow" in classes:
            self.switch_links.append(attributes)
        self._in_pos = tag == "span" and "branch-pos" in classes

    def handle_data(self, data):
        if self._in_pos:
            self.positions.append(data.strip())
            self._in_pos = False


def page_of(response: HTTPResponse) -> _Page:
    parser = _Page()
    parser.feed(response.body.decode("utf-8"))
    return parser


async def test_the_page_shows_switchers_whose_links_follow_the_contract(fetch, shared, jp_base_url):
    # Given a shared conversation with nested forks
    link = shared(load("nested"))
    # When its page is opened
    response = await fetch("convshare", "s", link)
    # Then each fork shows "i / n" and links to the sibling's branch, under the base URL,
    # with the switched message's anchor
    page = page_of(response)
    base = f"{jp_base_url}convshare/s/{link}"
    assert page.positions == ["1 / 2", "1 / 2"]
    assert [a["href"] for a in page.switch_links] == [f"{base}?path=b3#m2", f"{base}?path=a3#m4"]
    assert all(a["rel"] == "nofollow" and "data-branch-link" in a for a in page.switch_links)
    assert b"A2-TEXT" in response.body and b"A3-TEXT" not in response.body


async def test_following_a_switcher_link_shows_that_branch_without_javascript(fetch, shared, jp_base_url):
    link = shared(load("nested"))
    response = await fetch("convshare", "s", link, params={"path": "b3"})
    assert response.code == 200
    body = response.body
    for text in (b"Q1-TEXT", b"B1-TEXT", b"Q3-TEXT", b"B3-TEXT"):
        assert text in body
    for text in (b"A1-TEXT", b"A2-TEXT", b"B2-TEXT", b"B4-TEXT"):
        assert text not in body
    page = page_of(response)
    base = f"{jp_base_url}convshare/s/{link}"
    assert page.positions == ["2 / 2", "2 / 3"]
    assert [a["href"] for a in page.switch_links] == [f"{base}#m2", f"{base}?path=b2#m4", f"{base}?path=b4#m4"]
    assert b"back to the active branch" in body


async def test_two_paths_give_two_pages_without_cross_talk(fetch, shared, convshare_app):
    # Given one link opened on two branches, interleaved, twice each
    link = shared(load("nested"))
    bodies = []
    for params in ({}, {"path": "a3"}, {}, {"path": "a3"}, {"path": "q2"}):
        bodies.append((await fetch("convshare", "s", link, params=params)).body)
    default, other, default_again, other_again, on_default = bodies
    # Then each branch keeps its own page, and a message on the default path is the default page
    assert default == default_again == on_default and other == other_again and default != other
    assert b"A3-TEXT" in other and b"A2-TEXT" not in other
    assert b"A2-TEXT" in default and b"A3-TEXT" not in default
    # and two pages are cached for this link, not five
    pages = convshare_app.serverapp.web_app.settings["convshare_viewer_cache"].pages
    assert len([key for key in pages._data if link in key]) == 2


HOSTILE_PATHS = [
    "nope",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "s",  # the removed system prompt
    "h",  # a hidden message
    "x" * 10_000,  # (beyond tornado's 64 KB header limit the server closes the connection itself)
    "\x00\x1f\x7f",
    "../../api/shares",
]


@pytest.mark.parametrize("value", HOSTILE_PATHS, ids=lambda v: repr(v)[:30])
async def test_a_path_naming_nothing_shows_the_default_page_and_is_never_reflected(fetch, shared, convshare_app, value):
    # Given a shared conversation with branches, whose default page was seen once
    link = shared(load("system_fork"))
    default = (await fetch("convshare", "s", link)).body
    # When ?path names nothing the page may show
    response = await fetch("convshare", "s", link, params={"path": value})
    # Then the answer is the default page itself: no error, nothing reflected, no new cache entry
    assert response.code == 200 and response.body == default
    assert b"SYSTEM-PROMPT-TEXT" not in response.body and b"HIDDEN-TOOL-TEXT" not in response.body
    pages = convshare_app.serverapp.web_app.settings["convshare_viewer_cache"].pages
    assert len([key for key in pages._data if link in key]) == 1


async def test_a_path_that_is_not_utf8_or_repeated_shows_the_default_page(fetch, fetch_raw, shared):
    link = shared(load("nested"))
    default = (await fetch("convshare", "s", link)).body
    for query in ("path=%ff%fe", "path=", "path", "path=nope&path=a3", "pathx=a3", "path=a3%00", "path=%3Cb%3E"):
        response = await fetch_raw(link, query)
        assert response.code == 200 and response.body == default, query


async def test_the_first_of_repeated_paths_counts(fetch_raw, shared):
    link = shared(load("nested"))
    response = await fetch_raw(link, "path=a3&path=nope")
    assert b"A3-TEXT" in response.body


async def test_hostile_message_ids_round_trip_through_a_switcher_link(fetch, fetch_raw, shared):
    # Given a branch whose message id is hostile markup
    conv = load("branching")
    odd = '2"><script>window.__pwned=1</script>?#&é'
    conv.messages[odd] = conv.messages.pop("2")
    conv.messages[odd].id = odd
    conv.messages["1"].children_ids = [odd, "3"]
    link = shared(conv)
    # When the page links to it
    body = (await fetch("convshare", "s", link)).body
    assert b"<script>window.__pwned" not in body
    (arrow,) = page_of(await fetch("convshare", "s", link)).switch_links
    # Then the link (percent-encoded) opens exactly that branch
    target = urlsplit(arrow["href"])
    assert target.query == "path=" + quote(odd, safe="")
    response = await fetch_raw(link, target.query)
    assert b"First answer." in response.body and b"Regenerated answer" not in response.body


async def test_a_branch_page_follows_a_new_version_of_the_conversation(fetch, shared, service, convshare_app):
    conv = load("nested")
    link = shared(conv)
    assert b"NEW-REPLY" not in (await fetch("convshare", "s", link, params={"path": "a3"})).body
    conv.add_message(Message(id="a3x", role="user", author_id="u", parent_id="a3", parts=[Part.text_part("NEW-REPLY")]))
    service.save_conversation(convshare_app.owner, conv)
    assert b"NEW-REPLY" in (await fetch("convshare", "s", link, params={"path": "a3"})).body


async def test_a_branch_switch_by_the_script_counts_no_view(fetch, shared, service, convshare_app):
    # Given a page view, then two branch switches: one by the viewer's script, one by a link
    conv = load("nested")
    link = shared(conv)
    await fetch("convshare", "s", link)
    await fetch("convshare", "s", link, params={"path": "a3"}, headers={SWITCH_HEADER: "1"})
    await fetch("convshare", "s", link, params={"path": "a3"})
    await asyncio.to_thread(convshare_app.flush_views)
    # Then the script's switch is not a view; opening a branch link is
    (share,) = [s for s in service.list_shares(convshare_app.owner) if s.conversation_id == conv.id]
    assert share.view_count == 2


async def test_head_of_a_branch_page_answers_like_get(fetch, shared):
    link = shared(load("nested"))
    response = await fetch("convshare", "s", link, params={"path": "a3"}, method="HEAD")
    assert response.code == 200 and response.headers["Content-Type"] == "text/html; charset=UTF-8"


async def test_the_csp_lets_the_page_script_fetch_only_its_own_origin(fetch, shared):
    link = shared(load("nested"))
    csp = (await fetch("convshare", "s", link, params={"path": "a3"})).headers["Content-Security-Policy"]
    assert "connect-src 'self'" in csp and "script-src 'self';" in csp and "unsafe" not in csp


# -- exports ----------------------------------------------------------------------------


async def test_json_csv_and_parquet_exports_keep_every_branch(fetch, shared):
    link = shared(load("nested"))
    every = {"q1", "a1", "q2", "a2", "a3", "b1", "q3", "b2", "b3", "b4"}
    data = json.loads((await fetch("convshare", "s", link, "export.json")).body)
    assert set(data["messages"]) == every and data["active_leaf_id"] == "a2"
    rows = list(csv.DictReader(io.StringIO((await fetch("convshare", "s", link, "export.csv")).body.decode("utf-8-sig"))))
    assert {row["message_id"] for row in rows} == every
    assert {row["message_id"] for row in rows if row["on_active_path"] == "true"} == {"q1", "a1", "q2", "a2"}
    table = pq.read_table(io.BytesIO((await fetch("convshare", "s", link, "export.parquet")).body))
    assert set(table.column("message_id").to_pylist()) == every


async def test_markdown_exports_the_active_path_and_the_menu_says_so(fetch, shared):
    link = shared(load("nested"))
    markdown = (await fetch("convshare", "s", link, "export.md")).body
    assert b"A2-TEXT" in markdown and b"A3-TEXT" not in markdown and b"B1-TEXT" not in markdown
    page = (await fetch("convshare", "s", link)).body.decode()
    assert "Markdown <span class=\"menu-ext\">.md</span><span class=\"menu-note\">active branch only</span>" in page
    assert page.count('<span class="menu-note">every branch</span>') == 3


async def test_exports_of_a_system_fork_keep_both_roots_and_no_system_prompt(fetch, shared):
    link = shared(load("system_fork"))
    data = json.loads((await fetch("convshare", "s", link, "export.json")).body)
    assert data["root_ids"] == ["u1", "u2"] and "s" not in data["messages"]
    assert b"SYSTEM-PROMPT-TEXT" not in (await fetch("convshare", "s", link, "export.csv")).body
