"""The shares sidebar, the share status item and "Open share link…" in a real JupyterLab
(issue 4 items 3, 4 and 5), driven through Debian chromium.

One lab server and one browser page for the module (tests/lab_helpers.py); the tests run
in file order, each one behaviour on the state the previous ones left, like a user's
session: two conversations shared through the REST API, a share of another real
server with the extension (a subprocess) saved to the library. Screenshots go to
``test-artifacts/lab-sidebar-*.png`` for a human to look at.
"""

from __future__ import annotations

import json
import re
import shutil
from typing import Any, Iterator

import pytest

from .lab_helpers import (
    ARTIFACTS,
    HAVE_LAB,
    LAB_TEST_MARKS,
    ROOT,
    TOKEN,
    Chromium,
    Lab,
    anonymous_status,
    api,
    start_lab,
)
from .server_helpers import another_server, share_on

if HAVE_LAB:
    from playwright.sync_api import Browser, Page, expect

pytestmark = LAB_TEST_MARKS

DEMO_CHAT = ROOT / "examples" / "demo" / "sales-analysis.chat"
SALES = "Sales analysis"
ALPHA = "Alpha notes"
REMOTE = "Quarterly review from elsewhere"


@pytest.fixture(scope="module")
def other_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``(origin, link)``: a share titled ``REMOTE`` on another real server."""
    with another_server(tmp_path_factory.mktemp("other")) as remote:
        shared = share_on(remote, {
            "conversation": {"messages": [{"role": "user", "content": "What did Q3 look like?"},
                                          {"role": "assistant", "content": "Up 4%."}]},
            "name": "remote.json", "title": REMOTE,
        })
        yield remote[0], shared["url"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, other_server: tuple[str, str]) -> Iterator[Lab]:
    """The lab, with the demo chat and two shares made through the REST API, and a
    conversation of the other server in the library."""
    tmp = tmp_path_factory.mktemp("lab-sidebar")
    root = tmp / "root"
    root.mkdir()
    shutil.copy(DEMO_CHAT, root / DEMO_CHAT.name)
    lab = start_lab(tmp, root)
    try:
        # Alpha first (older, never expires), then the demo chat (newer, 7 days)
        status, alpha = api(lab.base, "POST", "convshare/api/shares", {
            "conversation": {"messages": [{"role": "user", "content": "alpha"}, {"role": "assistant", "content": "a"}]},
            "title": ALPHA, "expires": "never",
        })
        assert status == 201, alpha
        status, sales = api(lab.base, "POST", "convshare/api/shares",
                            {"path": DEMO_CHAT.name, "title": SALES, "expires": "7d"})
        assert status == 201, sales
        status, item = api(lab.base, "POST", "convshare/api/library", {"url": other_server[1]})
        assert status == 201, item
        # two anonymous views of Alpha: "Most viewed" puts it first
        assert anonymous_status(alpha["url"]) == 200 and anonymous_status(alpha["url"]) == 200
        lab.shares = {ALPHA: alpha, SALES: sales}  # type: ignore[attr-defined]
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def session(lab: Lab) -> Iterator[tuple[Chromium, dict[str, Any]]]:
    """One browser page on the lab for the whole module: ``(chromium, {"page": Page})``."""
    chromium = Chromium()
    state: dict[str, Any] = {}

    def open_lab(browser: "Browser") -> None:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(f"{lab.base}lab?token={TOKEN}")
        page.locator(".jp-DirListing-item", has_text=DEMO_CHAT.name).wait_for(timeout=60_000)
        # what JupyterLab's Clipboard.copyToSystem puts in the clipboard, seen from the page
        page.evaluate(
            """() => window.addEventListener('copy', e => {
                window.__copied = e.clipboardData ? e.clipboardData.getData('text') : null;
            })"""
        )
        state["context"] = context
        state["page"] = page

    chromium.run(open_lab)
    try:
        yield chromium, state
    finally:
        chromium.run(lambda _browser: state["context"].close())
        chromium.close()


def _shot(page: "Page", name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"lab-sidebar-{name}.png"))


def _sidebar(page: "Page"):
    return page.locator("#jp-convshare-sidebar")


def _show_left(page: "Page", panel: str) -> None:
    """Show a panel of the left area by its tab (``filebrowser``, ``jp-convshare-sidebar``)."""
    tab = page.locator(f'.lm-TabBar-tab[data-id="{panel}"]')
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()


def _my_titles(page: "Page") -> list[str]:
    return _sidebar(page).locator(".jp-convshare-MyShares .jp-convshare-item-title").all_inner_texts()


def _run(session: tuple[Chromium, dict[str, Any]], fn: Any, *args: Any) -> Any:
    chromium, state = session
    return chromium.run(lambda _browser: fn(state["page"], *args))


# -- My shares ------------------------------------------------------------------------------------


def test_the_sidebar_lists_my_shares_with_views_expiry_and_mode(session, lab) -> None:
    def check(page: "Page") -> None:
        # When I open the sidebar from its tab in the left area
        _show_left(page, "jp-convshare-sidebar")
        rows = _sidebar(page).locator(".jp-convshare-MyShares li.jp-convshare-share")
        expect(rows).to_have_count(2)
        # Then each share shows its views, expiry (relative, with the date) and mode, newest first
        assert _my_titles(page) == [SALES, ALPHA]
        sales = rows.filter(has_text=SALES)
        expect(sales.locator(".jp-convshare-expiry")).to_contain_text(re.compile(r"expires in 7 days \(.+\)"))
        expect(sales.locator(".jp-convshare-badge-live")).to_have_text("live")
        alpha = rows.filter(has_text=ALPHA)
        expect(alpha.locator(".jp-convshare-views")).to_have_text("2 views")
        expect(alpha.locator(".jp-convshare-expiry")).to_have_text("never expires")
        # ... and Shared with you lists the other server's conversation
        library = _sidebar(page).locator(".jp-convshare-SharedWithMe li.jp-convshare-library-item")
        expect(library).to_have_count(1)
        expect(library).to_contain_text(REMOTE)
        _shot(page, "lists")

    _run(session, check)


def test_search_and_sort(session) -> None:
    def check(page: "Page") -> None:
        search = _sidebar(page).get_by_role("searchbox", name="Search my shares")
        search.fill("alph")
        expect(_sidebar(page).locator(".jp-convshare-MyShares li")).to_have_count(1)
        assert _my_titles(page) == [ALPHA]
        search.fill("nothing like this")
        expect(_sidebar(page).locator(".jp-convshare-MyShares .jp-convshare-empty")).to_contain_text("No share matches")
        search.fill("")
        sort = _sidebar(page).get_by_label("Sort my shares")
        sort.select_option("title")
        assert _my_titles(page) == [ALPHA, SALES]
        sort.select_option("expiry")
        assert _my_titles(page) == [SALES, ALPHA]  # a never-expiring share comes last
        sort.select_option("views")
        assert _my_titles(page) == [ALPHA, SALES]
        sort.select_option("created")
        assert _my_titles(page) == [SALES, ALPHA]

    _run(session, check)


def test_copy_puts_the_link_in_the_clipboard(session, lab) -> None:
    def check(page: "Page") -> None:
        row = _sidebar(page).locator("li.jp-convshare-share", has_text=SALES)
        row.get_by_role("button", name=f"Copy the link of {SALES}").click()
        page.wait_for_function("() => window.__copied !== undefined")
        assert page.evaluate("() => window.__copied") == lab.shares[SALES]["url"]
        expect(_sidebar(page).locator(".jp-convshare-live")).to_have_text(f"Link of “{SALES}” copied")

    _run(session, check)


# -- the share status item ---------------------------------------------------------------------------


def test_the_status_bar_shows_the_open_conversations_share(session) -> None:
    def check(page: "Page") -> None:
        _show_left(page, "filebrowser")
        # the text editor: jupyterlab-chat's panel needs jupyter-collaboration's front end,
        # which the test environment does not install; the item follows any document of a .chat
        page.locator(".jp-DirListing-item", has_text=DEMO_CHAT.name).click(button="right")
        page.locator(".lm-Menu-item", has_text="Open With").hover()
        page.locator(".lm-Menu-item", has_text=re.compile(r"^Editor$")).click()
        status = page.locator(".jp-convshare-ShareStatus")
        expect(status).to_have_text(re.compile(r"^Shared · expires in 7 days · \d+ views?$"), timeout=30_000)
        _shot(page, "status-shared")
        _show_left(page, "jp-convshare-sidebar")

    _run(session, check)


def test_revoking_needs_a_confirmation_and_escape_cancels_it(session) -> None:
    def check(page: "Page") -> None:
        row = _sidebar(page).locator("li.jp-convshare-share", has_text=SALES)
        row.get_by_role("button", name=f"Revoke the share of {SALES}").click()
        confirm = row.locator(".jp-convshare-confirm")
        expect(confirm).to_contain_text("Its link stops working at once")
        # the safe choice has the focus; Escape cancels from the keyboard
        expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
        page.keyboard.press("Escape")
        expect(confirm).to_have_count(0)
        expect(_sidebar(page).locator("li.jp-convshare-share")).to_have_count(2)

    _run(session, check)


def test_revoke_removes_the_row_kills_the_link_and_updates_the_status(session, lab) -> None:
    def revoke(page: "Page") -> None:
        row = _sidebar(page).locator("li.jp-convshare-share", has_text=SALES)
        row.get_by_role("button", name=f"Revoke the share of {SALES}").click()
        _shot(page, "confirm-revoke")
        row.locator(".jp-convshare-confirm").get_by_role("button", name="Revoke", exact=True).click()
        expect(_sidebar(page).locator("li.jp-convshare-share", has_text=SALES)).to_have_count(0)
        expect(page.locator(".jp-convshare-ShareStatus")).to_have_text("Not shared")
        _shot(page, "revoked")

    _run(session, revoke)
    assert anonymous_status(lab.shares[SALES]["url"]) == 404


# -- Shared with you -----------------------------------------------------------------------------------


def test_a_library_item_is_saved_as_a_chat_file_in_the_workspace(session, lab) -> None:
    def save(page: "Page") -> None:
        item = _sidebar(page).locator("li.jp-convshare-library-item", has_text=REMOTE)
        item.get_by_role("button", name=f"Save a copy of {REMOTE} as a .chat file").click()
        field = page.locator(".jp-Dialog input")
        expect(field).to_have_value("Quarterly-review-from-elsewhere.chat")
        _shot(page, "save-as")
        page.locator(".jp-Dialog").get_by_role("button", name="Save").click()
        expect(page.locator(".jp-Dialog")).to_have_count(0)
        _show_left(page, "filebrowser")
        expect(page.locator(".jp-DirListing-item", has_text="Quarterly-review-from-elsewhere.chat")).to_have_count(1)
        _shot(page, "saved-file")
        _show_left(page, "jp-convshare-sidebar")

    _run(session, save)
    document = json.loads((lab.root / "Quarterly-review-from-elsewhere.chat").read_text(encoding="utf-8"))
    assert [m["body"] for m in document["messages"]] == ["What did Q3 look like?", "Up 4%."]


# -- Open share link… -------------------------------------------------------------------------------


def _open_link_dialog(page: "Page") -> Any:
    page.keyboard.press("Control+Shift+c")
    palette = page.locator("#command-palette input")
    palette.fill("Open share link")
    page.locator("#command-palette .lm-CommandPalette-item", has_text="Open share link…").first.click()
    dialog = page.locator(".jp-Dialog .jp-convshare-OpenLink")
    dialog.wait_for()
    return dialog


def test_open_share_link_previews_and_shows_the_servers_refusal(session, lab) -> None:
    def check(page: "Page") -> None:
        dialog = _open_link_dialog(page)
        dialog.get_by_label("Share link").fill(lab.shares[ALPHA]["url"])
        dialog.get_by_role("button", name="Preview").click()
        expect(dialog.locator(".jp-convshare-preview-title")).to_have_text(ALPHA)
        expect(dialog.locator(".jp-convshare-preview-meta")).to_contain_text("2 messages")
        expect(dialog.locator(".jp-convshare-preview-summary")).to_have_text("alpha")
        # my own share is not saved to my library: the server says why
        dialog.get_by_role("button", name="Save to my library").click()
        expect(dialog.locator(".jp-convshare-error")).to_contain_text("this conversation is yours")
        _shot(page, "open-link-preview")

    _run(session, check)


def test_open_share_link_opens_it_as_a_chat_file(session, lab, other_server) -> None:
    origin, url = other_server

    def check(page: "Page") -> None:
        dialog = page.locator(".jp-Dialog .jp-convshare-OpenLink")
        dialog.get_by_label("Share link").fill(url)
        dialog.get_by_label("Share link").press("Enter")
        expect(dialog.locator(".jp-convshare-preview-meta")).to_contain_text("from " + origin)
        dialog.get_by_role("button", name="Open as .chat").click()
        expect(page.locator(".jp-Dialog")).to_have_count(0)
        # the file exists next to the first copy (a free name) and is open in the main area
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Quarterly-review-from-elsewhere-2.chat")
        expect(tab).to_have_count(1)
        _show_left(page, "filebrowser")
        expect(page.locator(".jp-DirListing-item", has_text="Quarterly-review-from-elsewhere-2.chat")).to_have_count(1)
        _shot(page, "open-link-opened")
        _show_left(page, "jp-convshare-sidebar")

    _run(session, check)
    assert (lab.root / "Quarterly-review-from-elsewhere-2.chat").exists()


# -- revoke all, empty state, dark theme -------------------------------------------------------------


def test_revoke_all_after_confirmation_leaves_the_empty_state(session, lab) -> None:
    def check(page: "Page") -> None:
        _sidebar(page).get_by_role("button", name="Revoke all my shares").click()
        confirm = _sidebar(page).locator(".jp-convshare-MyShares .jp-convshare-confirm")
        expect(confirm).to_contain_text("Revoke all 1 share?")
        confirm.get_by_role("button", name="Revoke all").click()
        expect(_sidebar(page).locator(".jp-convshare-MyShares .jp-convshare-empty")).to_contain_text(
            "You have not shared any conversation yet"
        )

    _run(session, check)
    assert anonymous_status(lab.shares[ALPHA]["url"]) == 404
    assert api(lab.base, "GET", "convshare/api/shares")[1] == {"shares": []}


def test_the_sidebar_in_the_dark_theme(session) -> None:
    def check(page: "Page") -> None:
        page.keyboard.press("Control+Shift+c")
        page.locator("#command-palette input").fill("Use Theme: JupyterLab Dark")
        page.locator("#command-palette .lm-CommandPalette-item", has_text="JupyterLab Dark").first.click()
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        # the sidebar takes its colours from the theme
        background = page.evaluate(
            "() => getComputedStyle(document.querySelector('#jp-convshare-sidebar')).backgroundColor"
        )
        assert background != "rgb(255, 255, 255)"
        _shot(page, "dark")

    _run(session, check)
