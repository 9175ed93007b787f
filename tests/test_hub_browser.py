"""A browser on the hub: login, the JupyterLab share dialog, the service's OAuth, the link.

Issue 6 "done means": Debian chromium (Playwright, never a downloaded browser) walks a real
JupyterHub through its proxy (the hub of ``tests/hub_helpers.py``: ``examples/jupyterhub_config.py``,
configurable-http-proxy, the dummy authenticator, local-process spawner), with single-user
servers that run JupyterLab and the convshare extension (the built labextension linked in
as ``tests/lab_helpers.py`` does), and the hub-managed convshare service:

1. alice logs in on the hub's login page; the hub starts her server and opens JupyterLab;
2. she shares ``seminar.chat`` of her home from the file browser's "Share conversation…"
   dialog: her server forwards ``convshare/api`` to the service, so the link is the
   service's (``/services/convshare/convshare/s/...``);
3. bob (same hub group) logs in on the hub's login page and opens the share's grantee page
   on the service: the service sends him through the hub's OAuth and back;
4. a fresh browser context (no cookie, no token) opens the link through the proxy.

Screenshots: ``test-artifacts/hub-*.png``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

pytest.importorskip("jupyterhub", reason="jupyterhub is not installed (pip install -e '.[test]')")
pytest.importorskip("playwright", reason="playwright (python) is not installed")

from playwright.sync_api import Browser, Page, expect  # noqa: E402

from .lab_helpers import ARTIFACTS, BUILD_OUTPUT, CHROMIUM, Chromium, installed_labextension  # noqa: E402

from . import hub_helpers as hub_module  # noqa: E402
from .hub_helpers import PASSWORD, Hub  # noqa: E402
from .hub_helpers import chat_document as _chat  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("configurable-http-proxy") is None,
        reason="configurable-http-proxy is not on PATH (npm install -g configurable-http-proxy; .ci/run does)",
    ),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (/usr/bin/chromium)"),
]

WAIT = 30_000
"""Milliseconds a UI change may take on a loaded 2-core machine (a ceiling, not a timing assertion)."""
SPAWN_WAIT = 150_000
"""Milliseconds the hub may take to start a single-user JupyterLab (2 loaded cores)."""
def _lab_config(tmp: Path) -> str:
    """Config lines appended to the test hub's: single-user servers run JupyterLab with the
    convshare server extension and labextension, and open at ``/lab``."""
    args = ["--allow-root"] if os.geteuid() == 0 else []
    args += [
        "--ServerApp.jpserver_extensions=jupyter_convshare=True",
        "--ServerApp.jpserver_extensions=jupyterlab=True",
    ]
    if installed_labextension() is None:
        linked = tmp / "labextensions"
        linked.mkdir(exist_ok=True)
        (linked / "jupyter-convshare").symlink_to(BUILD_OUTPUT, target_is_directory=True)
        args.append(f"--LabApp.extra_labextensions_path={linked}")
    # no "official Jupyter news?" toast over the screenshots
    settings = tmp / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"fetchNews": "false"}))
    return f"""
# -- tests/test_hub_browser.py: JupyterLab in the single-user servers
c.Spawner.args = {args!r}
c.Spawner.default_url = "/lab"
c.Spawner.environment = {{**c.Spawner.environment, "JUPYTERLAB_SETTINGS_DIR": {str(settings.parents[2])!r}}}
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A hub whose single-user servers run JupyterLab with convshare; alice has a ``.chat``."""
    if installed_labextension() is None and not (BUILD_OUTPUT / "package.json").exists():
        pytest.skip("the labextension is not built: pip install -e . with Node 20, or jlpm build in labextension/")
    tmp = tmp_path_factory.mktemp("hub-browser")
    home = tmp / "home" / "alice"
    home.mkdir(parents=True)
    (home / "seminar.chat").write_text(
        json.dumps(_chat("Why is the sky blue?", "Rayleigh scattering: blue light scatters most.")), encoding="utf-8"
    )
    write_config: Callable[..., Path] = hub_module._write_config

    def with_lab(*args: Any, **kwargs: Any) -> Path:
        config = write_config(*args, **kwargs)
        config.write_text(config.read_text() + _lab_config(tmp))
        return config

    started = Hub(tmp)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(hub_module, "_write_config", with_lab)
            started.start()
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    """One headless Debian chromium for the module (in its own thread)."""
    browser = Chromium()
    yield browser
    browser.close()


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"hub-{name}.png"))


def _log_in(page: Page, hub: Any, name: str, next_url: str = "") -> None:
    """Fill and send the hub's login form (the dummy authenticator's) as ``name``."""
    page.goto(f"{hub.url}/hub/login" + (f"?next={next_url}" if next_url else ""))
    page.locator("input[name=username]").fill(name)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()


def test_hub_login_lab_share_dialog_service_oauth_and_the_anonymous_link(hub: Any, chromium: Chromium) -> None:
    chromium.run(_walk, hub)


def _walk(browser: Browser, hub: Any) -> None:
    alice = browser.new_context(viewport={"width": 1280, "height": 860})
    bob = browser.new_context(viewport={"width": 1100, "height": 760})
    visitor = browser.new_context(viewport={"width": 1100, "height": 760})  # no cookie, no token
    try:
        # Given alice on the hub's login page
        page = alice.new_page()
        page.goto(f"{hub.url}/hub/login")
        expect(page.locator("input[name=username]")).to_be_visible(timeout=WAIT)
        _shot(page, "1-login")
        # When she logs in, then the hub starts her server and JupyterLab opens with her files
        _log_in(page, hub, "alice")
        item = page.locator(".jp-DirListing-item", has_text="seminar.chat")
        item.wait_for(timeout=SPAWN_WAIT)
        assert page.url.startswith(f"{hub.url}/user/alice/lab"), page.url
        _shot(page, "2-lab")

        # When she chooses "Share conversation…" on seminar.chat and creates a link
        item.click(button="right")
        page.locator(".lm-Menu-item", has_text="Share conversation…").click()
        body = page.locator(".jp-Dialog .jp-convshare-ShareBody")
        expect(body.locator(".jp-convshare-status")).to_have_text("Not shared", timeout=WAIT)
        body.get_by_role("button", name="Create link").click()
        link_input = body.locator("input.jp-convshare-link")
        link_input.wait_for(timeout=WAIT)
        expect(body.locator(".jp-convshare-status")).to_contain_text("Shared since", timeout=WAIT)
        qr = body.locator("img.jp-convshare-qr")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle(), timeout=WAIT)
        url = link_input.input_value()
        _shot(page, "3-share-dialog")
        # Then the link is the hub service's (her server forwarded the request to it)
        assert url.startswith(hub.service_url + "convshare/s/"), url
        shares = hub.call("alice", "GET", "shares").json()["shares"]
        assert len(shares) == 1, shares
        share_id = shares[0]["share_id"]
        granted = hub.call(
            "alice", "POST", f"shares/{share_id}/grants",
            json={"principal_type": "group", "principal": "physics", "permission": "view"},
        )
        assert granted.status_code == 201, granted.text

        # Given bob (physics) logs in on the hub's login page, asking for the share's grantee page
        grantee_url = f"{hub.service_url}convshare/v/{share_id}"
        page_b = bob.new_page()
        _log_in(page_b, hub, "bob", next_url=f"/services/convshare/convshare/v/{share_id}")
        # Then the service's OAuth round trip brings him back to it, logged in
        page_b.wait_for_url(grantee_url, timeout=WAIT)
        expect(page_b.locator("body")).to_contain_text("Rayleigh scattering", timeout=WAIT)
        expect(page_b.locator("body")).to_contain_text("signed in as bob")
        _shot(page_b, "4-service-grantee-page")

        # When a visitor with no hub login opens the link through the proxy
        page_v = visitor.new_page()
        response = page_v.goto(url)
        # Then the conversation shows, read-only, without a login
        assert response is not None and response.status == 200
        assert page_v.url == url
        expect(page_v.locator("body")).to_contain_text("Why is the sky blue?")
        expect(page_v.locator("body")).to_contain_text("Rayleigh scattering")
        expect(page_v.locator("body")).not_to_contain_text("signed in")
        assert page_v.locator("[name=text]").count() == 0  # no collaborate form
        _shot(page_v, "5-anonymous-link")
    finally:
        alice.close()
        bob.close()
        visitor.close()
