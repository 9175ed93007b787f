"""The JupyterLab extension in a real JupyterLab, driven through Debian chromium.

A real ``jupyter lab`` (a subprocess with its own config, data and runtime directories,
the store and the contents root in a temp directory) serves the project's own demo
conversation ``examples/demo/sales-analysis.chat``. The built labextension is the
installed one (``pip install`` builds it into ``share/jupyter/labextensions``) or, in a
checkout where only ``jlpm build`` ran, ``jupyter_convshare/labextension``.
Screenshots go to ``test-artifacts/lab-*.png`` for a human to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from .conftest import REAL, real_fixture
from .lab_helpers import (
    ARTIFACTS,
    BUILD_OUTPUT,
    HAVE_LAB,
    LAB_TEST_MARKS,
    TOKEN,
    Chromium,
    api,
    installed_labextension,
    start_lab,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO_CHAT = ROOT / "examples" / "demo" / "sales-analysis.chat"
# a real Jupyter AI v3 personas chat (../shared/fixtures/real, BSD-3-Clause; SOURCES.md there)
REAL_CHAT_PARTS = ("jupyterlab-chat", "jupyter-ai-contrib__jupyter-ai-personas", "demo.chat")
REAL_CHAT = REAL.joinpath(*REAL_CHAT_PARTS)
REAL_CHAT_NAME = "personas-demo.chat"
# a real chat whose system messages hold absolute home paths (personal data the dialog lists)
REAL_PATHS_CHAT_PARTS = ("jupyterlab-chat", "gogorogon__jupytercon2025-extension-workshop", "test.chat")
REAL_PATHS_CHAT = REAL.joinpath(*REAL_PATHS_CHAT_PARTS)
REAL_PATHS_CHAT_NAME = "workshop-test.chat"

if HAVE_LAB:
    from playwright.sync_api import Browser, Page, expect

pytestmark = LAB_TEST_MARKS


GROUPS = {"staff": ["ada", "grace"], "students": ["alan"]}
"""The server's groups (its ``ConvShareApp.groups``): what the grants editor may name."""


@contextmanager
def _running_lab(tmp: Path, *, without_chat: bool = False) -> Iterator[str]:
    """Start ``jupyter lab`` in ``tmp`` (its own config, data, settings, store, contents
    root and working directory); yield its base URL (``http://.../``); stop it.

    ``without_chat``: jupyterlab-chat's front end is disabled with ``jupyter labextension
    disable`` in this lab's own config directory, as a user without it would have it.
    """
    root = tmp / "root"
    root.mkdir()
    shutil.copy(DEMO_CHAT, root / DEMO_CHAT.name)
    shutil.copy(DEMO_CHAT.parent / "sales.csv", root / "sales.csv")
    # copies in the lab's temp root, never in the project (tests/conftest.py)
    for real, name in ((REAL_CHAT, REAL_CHAT_NAME), (REAL_PATHS_CHAT, REAL_PATHS_CHAT_NAME)):
        if real.exists():
            shutil.copy(real, root / name)

    lab = start_lab(
        tmp,
        root,
        server_config={
            "ConvShareApp": {"groups": GROUPS},
            # jupyter-server-ydoc without its front end (jupyter-collaboration's docprovider)
            # makes jupyterlab-chat refuse to open chats ("Provider rtc is not registered"):
            # chats open through the contents API, as without real-time collaboration
            "ServerApp": {"jpserver_extensions": {"jupyter_server_ydoc": False}},
        },
        # window.jupyterapp: the tests switch the theme and ask which plugins run
        args=["--LabApp.expose_app_in_browser=True"],
        disabled_labextensions=["jupyterlab-chat-extension"] if without_chat else [],
    )
    try:
        yield lab.base
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running JupyterLab with the extension (and jupyterlab-chat); yields its base URL."""
    with _running_lab(tmp_path_factory.mktemp("lab")) as base:
        yield base


@pytest.fixture(scope="module")
def lab_without_chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running JupyterLab with the extension and jupyterlab-chat disabled."""
    with _running_lab(tmp_path_factory.mktemp("lab-nochat"), without_chat=True) as base:
        yield base


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    """One headless chromium for the module."""
    browser = Chromium()
    yield browser
    browser.close()


WAIT = 30_000
"""Milliseconds a UI change may take on a loaded 2-core machine (a ceiling, not a timing assertion)."""


def _open_lab(page: "Page", base: str, file_name: str) -> Any:
    """Open JupyterLab and wait for ``file_name`` in the file browser; answers its row."""
    page.goto(f"{base}lab?token={TOKEN}")
    item = page.locator(".jp-DirListing-item", has_text=file_name)
    item.wait_for(timeout=60_000)
    return item


def _open_share_dialog(page: "Page", base: str, file_name: str) -> Any:
    """Right-click ``file_name`` in the file browser, choose "Share conversation…";
    answers the dialog's body once it has loaded."""
    item = _open_lab(page, base, file_name)
    item.click(button="right")
    page.locator(".lm-Menu-item", has_text="Share conversation…").click()
    body = page.locator(".jp-Dialog .jp-convshare-ShareBody")
    expect(body.locator(".jp-convshare-status")).not_to_have_text("Loading…", timeout=WAIT)
    return body


def _set_theme(page: "Page", theme: str) -> None:
    """Switch JupyterLab's theme (``JupyterLab Light`` / ``JupyterLab Dark``) and wait for it."""
    page.evaluate("theme => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    page.wait_for_function(
        "theme => document.body.dataset.jpThemeName === theme", arg=theme, timeout=WAIT
    )


def _grants(base: str) -> list[tuple[str, str | None, str]]:
    """The grants of the server's only share, as ``(principal_type, principal, permission)``."""
    status, listed = api(base, "GET", "convshare/api/shares")
    assert status == 200 and len(listed["shares"]) == 1, listed
    share_id = listed["shares"][0]["share_id"]
    status, body = api(base, "GET", f"convshare/api/shares/{share_id}/grants")
    assert status == 200, body
    return sorted((g["principal_type"], g["principal"], g["permission"]) for g in body["grants"])


def test_lab_lists_the_extension_enabled_and_ok() -> None:
    """`jupyter labextension list` shows the extension enabled and OK (installed or built)."""
    env = dict(os.environ)
    if installed_labextension() is None and (BUILD_OUTPUT / "package.json").exists():
        pytest.skip("only built in the checkout (jlpm build), not installed by pip")
    output = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True, text=True, env=env, check=True,
    )
    text = output.stdout + output.stderr
    line = next((line for line in text.splitlines() if "jupyter-convshare" in line), "")
    assert "enabled" in line and "OK" in line, text


def test_share_a_real_chat_copy_view_change_grants_and_revoke(lab: str, chromium: Chromium) -> None:
    """A real jupyterlab-chat file, shared from the file browser's context menu: the
    copied link is on the clipboard, an anonymous visitor opens it, expiry and grants
    change through the dialog (checked through the REST API), an unknown group shows the
    server's message, and after the delete the visitor gets the 404 page."""
    real_fixture(*REAL_CHAT_PARTS)  # skips, saying so, without ../shared
    chromium.run(_share_real_chat, lab)


def _share_real_chat(browser: "Browser", lab: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    visitor = browser.new_context()  # anonymous: no token, no cookie
    try:
        page = context.new_page()

        # Given a real .chat file in the file browser, when I choose "Share conversation…"
        body = _open_share_dialog(page, lab, REAL_CHAT_NAME)
        expect(body.locator(".jp-convshare-status")).to_have_text("Not shared")
        expect(body.locator(".jp-convshare-path")).to_have_text(REAL_CHAT_NAME)

        # and create a link, then the dialog shows the link, its QR code and the grants editor
        body.get_by_role("button", name="Create link").click()
        link = body.locator("input.jp-convshare-link")
        link.wait_for(timeout=WAIT)
        url = link.input_value()
        assert url.startswith(f"{lab}convshare/s/"), url
        expect(body.locator(".jp-convshare-status")).to_contain_text("Shared since")
        qr = body.locator("img.jp-convshare-qr")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle(), timeout=WAIT)
        expect(body.locator(".jp-convshare-grants")).to_contain_text("No grants")

        # "Share via…" is there exactly when the browser has the Web Share API
        has_web_share = page.evaluate("typeof navigator.share === 'function'")
        expect(body.get_by_role("button", name="Share via…")).to_have_count(1 if has_web_share else 0)

        # When I press Copy, then the clipboard holds the link
        body.get_by_role("button", name="Copy").click()
        expect(body.get_by_role("button", name="Copied")).to_be_visible(timeout=WAIT)
        assert page.evaluate("navigator.clipboard.readText()") == url

        # Then an anonymous visitor opens the copied link: the real conversation
        viewer = visitor.new_page()
        response = viewer.goto(url)
        assert response is not None and response.status == 200
        expect(viewer.locator("body")).to_contain_text("leader of the Data Analytics Team")
        viewer.screenshot(path=str(ARTIFACTS / "lab-viewer-anonymous.png"))

        # When I change the expiry to 24 hours, then the share expires in a day
        with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
            body.locator("select.jp-convshare-expires").select_option("24h")
        assert patched.value.status == 200
        status, shares = api(lab, "GET", "convshare/api/shares")
        assert status == 200 and len(shares["shares"]) == 1
        expires_at = datetime.fromisoformat(shares["shares"][0]["expires_at"].replace("Z", "+00:00"))
        assert timedelta(hours=23) < expires_at - datetime.now(timezone.utc) <= timedelta(hours=24)

        # When I grant the organization view and the group staff collaborate
        grants = body.locator(".jp-convshare-grants")
        add = grants.locator(".jp-convshare-grant-add")
        add.get_by_role("button", name="Add").click()
        expect(grants.locator("li.jp-convshare-grant")).to_have_count(1, timeout=WAIT)
        add.get_by_label("Grant to").select_option("group")
        add.get_by_label("Group name").fill("staff")
        add.get_by_label("Permission to grant").select_option("collaborate")
        add.get_by_role("button", name="Add").click()
        expect(grants.locator("li.jp-convshare-grant")).to_have_count(2, timeout=WAIT)
        # Then the server holds both grants
        assert _grants(lab) == [("group", "staff", "collaborate"), ("organization", None, "view")]

        # When I let the organization collaborate, then the grant changes in place
        with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
            grants.get_by_label("Permission of Everyone in the organization").select_option("collaborate")
        assert patched.value.status == 200
        assert _grants(lab) == [("group", "staff", "collaborate"), ("organization", None, "collaborate")]

        # When I grant a group the server does not know (a name that is also markup), then
        # its 4xx message shows as text, nothing is added
        hostile = "nobody<img src=x onerror=window.__pwned=1>"
        add.get_by_label("Grant to").select_option("group")
        add.get_by_label("Group name").fill(hostile)
        add.get_by_role("button", name="Add").click()
        error = body.locator(".jp-convshare-error")
        expect(error).to_have_text(f"principal: unknown group '{hostile}'", timeout=WAIT)
        expect(error).to_have_attribute("role", "alert")
        assert error.locator("img").count() == 0 and page.evaluate("window.__pwned") is None
        # and the refused name stays, marked, to be corrected
        expect(add.get_by_label("Group name")).to_have_value(hostile)
        expect(add.get_by_label("Group name")).to_have_attribute("aria-invalid", "true")
        page.screenshot(path=str(ARTIFACTS / "lab-share-dialog-grants-error.png"))
        assert len(_grants(lab)) == 2

        # When I remove the staff grant, then only the organization's is left
        grants.get_by_role("button", name="Remove Group staff").click()
        expect(grants.locator("li.jp-convshare-grant")).to_have_count(1, timeout=WAIT)
        assert _grants(lab) == [("organization", None, "collaborate")]
        page.screenshot(path=str(ARTIFACTS / "lab-share-dialog-light.png"))

        # The same dialog in the dark theme, for a human to look at
        _set_theme(page, "JupyterLab Dark")
        page.screenshot(path=str(ARTIFACTS / "lab-share-dialog-dark.png"))
        _set_theme(page, "JupyterLab Light")

        # When I delete the share (and confirm), then the dialog says so and the link is dead
        body.get_by_role("button", name="Delete share").click()
        confirm = body.locator(".jp-convshare-confirm")
        page.screenshot(path=str(ARTIFACTS / "lab-share-dialog-confirm-delete.png"))
        confirm.get_by_role("button", name="Delete", exact=True).click()
        expect(body.locator(".jp-convshare-status")).to_have_text("Not shared", timeout=WAIT)
        gone = viewer.goto(url)
        assert gone is not None and gone.status == 404
        viewer.screenshot(path=str(ARTIFACTS / "lab-viewer-after-delete.png"))
        assert api(lab, "GET", "convshare/api/shares")[1]["shares"] == []
    finally:
        context.close()
        visitor.close()


def test_the_dialog_lists_what_viewers_may_see(lab: str, chromium: Chromium) -> None:
    """Sharing a real chat whose messages hold home directory paths lists them in the
    dialog, masked, with whether viewers see them (the server's findings)."""
    real_fixture(*REAL_PATHS_CHAT_PARTS)  # skips, saying so, without ../shared
    chromium.run(_share_with_findings, lab)


def _share_with_findings(browser: "Browser", lab: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        body = _open_share_dialog(page, lab, REAL_PATHS_CHAT_NAME)
        with page.expect_response(lambda r: r.request.method == "POST" and "/convshare/api/shares" in r.url) as made:
            body.get_by_role("button", name="Create link").click()
        if "findings" not in made.value.json():
            pytest.skip("this server answers no findings (core.redact findings not in the share API)")
        findings = body.locator(".jp-convshare-findings")
        expect(findings).to_contain_text("home directory path", timeout=WAIT)
        expect(findings.locator("code").first).to_contain_text("/home/k…")
        assert "/home/k…" in findings.inner_text() and "hidden from viewers" in findings.inner_text()
        page.screenshot(path=str(ARTIFACTS / "lab-share-dialog-findings.png"))
    finally:
        context.close()
        status, listed = api(lab, "GET", "convshare/api/shares")
        for share in listed.get("shares", []):
            api(lab, "DELETE", f"convshare/api/shares/{share['share_id']}")


# The Web Share API as a page sees it where the browser has one (Linux chromium has none):
# it records what it was handed.
WEB_SHARE = """
Object.defineProperty(Navigator.prototype, 'share', {
  configurable: true,
  value: async function (data) { window.__convshareShared = data; }
});
"""


def test_the_chat_panel_toolbar_button_opens_the_share_dialog(lab: str, chromium: Chromium) -> None:
    """A .chat opened in jupyterlab-chat has a Share button in its toolbar; it opens the
    dialog of that file, and "Share via…" hands the link to the device's share sheet."""
    chromium.run(_share_from_chat_toolbar, lab)


def _share_from_chat_toolbar(browser: "Browser", lab: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(WEB_SHARE)
    try:
        page = context.new_page()
        # Given the demo chat open in jupyterlab-chat's panel (opened by the command a
        # double click runs: on a loaded machine a double click may arrive as two clicks)
        _open_lab(page, lab, DEMO_CHAT.name)
        page.evaluate(
            """path => window.jupyterapp.restored
                .then(() => window.jupyterapp.commands.execute('docmanager:open', {path}))
                .then(() => true)""",
            DEMO_CHAT.name,
        )
        button = page.locator(".jp-MainAreaWidget .jp-Toolbar .jp-convshare-chat-share")
        button.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "lab-chat-toolbar-button.png"))

        # When I press its Share button, then the dialog of that file opens
        button.click()
        body = page.locator(".jp-Dialog .jp-convshare-ShareBody")
        expect(body.locator(".jp-convshare-path")).to_have_text(DEMO_CHAT.name, timeout=WAIT)
        expect(body.locator(".jp-convshare-status")).to_have_text("Not shared", timeout=WAIT)

        # When I create the link and choose "Share via…", then the share sheet gets the link
        body.get_by_role("button", name="Create link").click()
        link = body.locator("input.jp-convshare-link")
        link.wait_for(timeout=WAIT)
        body.get_by_role("button", name="Share via…").click()
        shared = page.wait_for_function("() => window.__convshareShared", timeout=WAIT).json_value()
        assert shared["url"] == link.input_value()
        assert shared["title"]

        # and the File menu offers the same command while the chat is the current widget
        page.locator(".jp-Dialog").get_by_role("button", name="Close").click()
        page.locator(".lm-MenuBar-item", has_text="File").click()
        expect(page.locator(".lm-Menu-item", has_text="Share conversation…")).to_be_visible(timeout=WAIT)
        page.keyboard.press("Escape")

        # The chat side panel's toolbar has the button too (its icon only: the panel is narrow)
        page.evaluate(
            """path => window.jupyterapp.commands
                .execute('jupyterlab-chat:open', {filepath: path, inSidePanel: true})
                .then(() => true)""",
            DEMO_CHAT.name,
        )
        side = page.locator(".jp-chat-sidepanel-widget-toolbar .jp-convshare-chat-share")
        side.wait_for(timeout=WAIT)
        page.screenshot(path=str(ARTIFACTS / "lab-chat-side-panel-button.png"))
        side.click()
        body = page.locator(".jp-Dialog .jp-convshare-ShareBody")
        expect(body.locator(".jp-convshare-path")).to_have_text(DEMO_CHAT.name, timeout=WAIT)
        expect(body.locator(".jp-convshare-status")).to_contain_text("Shared since", timeout=WAIT)
    finally:
        context.close()
        status, listed = api(lab, "GET", "convshare/api/shares")
        for share in listed.get("shares", []):
            api(lab, "DELETE", f"convshare/api/shares/{share['share_id']}")


def test_without_jupyterlab_chat_the_extension_loads_and_the_file_browser_entry_works(
    lab_without_chat: str, chromium: Chromium
) -> None:
    """With jupyterlab-chat's front end disabled, the extension still activates and
    "Share conversation…" on a .chat file still opens the dialog."""
    chromium.run(_share_without_chat, lab_without_chat)


def _share_without_chat(browser: "Browser", lab: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        body = _open_share_dialog(page, lab, DEMO_CHAT.name)
        assert page.evaluate("window.jupyterapp.isPluginActivated('jupyterlab-chat-extension:factory')") is False
        assert page.evaluate("window.jupyterapp.isPluginActivated('jupyter-convshare:plugin')") is True
        expect(body.locator(".jp-convshare-status")).to_have_text("Not shared")
        body.get_by_role("button", name="Create link").click()
        expect(body.locator("input.jp-convshare-link")).to_have_value(
            re.compile(re.escape(f"{lab}convshare/s/")), timeout=WAIT
        )
    finally:
        context.close()
