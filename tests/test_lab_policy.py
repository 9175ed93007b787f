"""The JupyterLab share dialog offers only what the server's sharing policy allows.

A real JupyterLab (``tests/lab_helpers.py``) whose ``ConvShareApp.policy`` caps links at
7 days, forbids "never" and anonymous links; Debian chromium opens the share dialog of the
demo chat from the file browser. Skips when the labextension is not built.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Iterator

import pytest

from .lab_helpers import ARTIFACTS, CHROMIUM, ROOT, TOKEN, Chromium, Lab, start_lab

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")

DEMO_CHAT = ROOT / "examples" / "demo" / "sales-analysis.chat"
WAIT = 30_000  # ms: a ceiling for a loaded 2-core machine, not a timing assertion


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab whose server policy is ``max_expires=7d``, no "never", no anonymous links."""
    tmp = tmp_path_factory.mktemp("lab-policy")
    root = tmp / "root"
    root.mkdir()
    shutil.copy(DEMO_CHAT, root / DEMO_CHAT.name)
    lab = start_lab(tmp, root, server_config={
        "ConvShareApp": {"policy": {"max_expires": "7d", "allow_never": False, "allow_link": False}}
    })
    try:
        yield lab
    finally:
        lab.stop()


def test_the_share_dialog_offers_only_the_allowed_expiry_and_no_link(lab: Lab) -> None:
    chromium = Chromium()
    try:
        chromium.run(_check_dialog, lab)
    finally:
        chromium.close()


def _check_dialog(browser: "Browser", lab: Lab) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{lab.base}lab?token={TOKEN}")
        item = page.locator(".jp-DirListing-item", has_text=DEMO_CHAT.name)
        item.wait_for(timeout=60_000)
        # Given the demo chat, When I choose "Share conversation…"
        item.click(button="right")
        page.locator(".lm-Menu-item", has_text="Share conversation…").click()
        body = page.locator(".jp-Dialog .jp-convshare-ShareBody")
        menu = body.locator("select.jp-convshare-expires")
        menu.wait_for(timeout=WAIT)
        # Then the expiry menu has no 30 days and no never, and 7 days is chosen
        options = menu.locator("option")
        assert options.evaluate_all("os => os.map(o => o.value)") == ["1h", "24h", "7d"]
        assert menu.input_value() == "7d"
        # And a short note says why
        expect(body.locator(".jp-convshare-policy").first).to_contain_text("limits links to 7 days")
        expect(body).to_contain_text("allows no links for anyone")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "lab-policy-create.png"))
        # When the link is created, Then its expiry menu is as short and the link cannot be turned on
        body.get_by_role("button", name="Create link").click()
        box = body.locator("input.jp-convshare-link_enabled")
        box.wait_for(timeout=WAIT)
        assert box.is_disabled() and not box.is_checked()
        change = body.locator("select.jp-convshare-expires")
        assert change.locator("option").evaluate_all("os => os.map(o => o.value)") == ["", "1h", "24h", "7d"]
        page.screenshot(path=str(ARTIFACTS / "lab-policy-share.png"))
    finally:
        context.close()
