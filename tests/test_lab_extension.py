"""The JupyterLab extension in a real JupyterLab, driven through Debian chromium.

A real ``jupyter lab`` (a subprocess with its own config, data and runtime directories,
the store and the contents root in a temp directory) serves the project's own demo
conversation ``examples/demo/sales-analysis.chat``. The built labextension is the
installed one (``pip install`` builds it into ``share/jupyter/labextensions``) or, in a
checkout where only ``jlpm build`` ran, ``jupyter_convshare/labextension``.
Screenshots go to ``test-artifacts/lab-*.png`` for a human to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_CHAT = ROOT / "examples" / "demo" / "sales-analysis.chat"
BUILD_OUTPUT = ROOT / "jupyter_convshare" / "labextension"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "convshare-lab-test-token"
LAB_START_SECONDS = 90  # a ceiling for a loaded 2-core machine, not a timing assertion

try:
    import jupyterlab  # noqa: F401
    from playwright.sync_api import Browser, Page, expect, sync_playwright

    HAVE_LAB = True
except ImportError:  # pragma: no cover - the test extra installs both
    HAVE_LAB = False

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (Debian package 'chromium')"),
    pytest.mark.skipif(not HAVE_LAB, reason="jupyterlab and playwright (the test extra) are not installed"),
]


def _installed_labextension() -> Path | None:
    """The labextension directory JupyterLab finds by itself, if any."""
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path("labextensions"):
        candidate = Path(base) / "jupyter-convshare" / "package.json"
        if candidate.exists():
            return candidate.parent
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api(base: str, method: str, path: str) -> tuple[int, dict]:
    """One authenticated REST call of the server under test: ``(status, JSON body)``."""
    request = Request(base + path, method=method, headers={"Authorization": f"token {TOKEN}"})
    try:
        with urlopen(request, timeout=10) as response:
            body = response.read()
            return response.status, json.loads(body) if body else {}
    except HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running JupyterLab with the extension; yields its base URL (``http://.../``)."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    shutil.copy(DEMO_CHAT, root / DEMO_CHAT.name)
    shutil.copy(DEMO_CHAT.parent / "sales.csv", root / "sales.csv")

    extra: list[str] = []
    if _installed_labextension() is None:
        if not (BUILD_OUTPUT / "package.json").exists():
            pytest.skip("the labextension is not built: pip install -e . with Node 20, or jlpm build in labextension/")
        # JupyterLab looks for <dir>/<package name>/package.json
        linked = tmp / "labextensions"
        linked.mkdir()
        (linked / "jupyter-convshare").symlink_to(BUILD_OUTPUT, target_is_directory=True)
        extra.append(f"--LabApp.extra_labextensions_path={linked}")

    # no "Would you like to get notified about official Jupyter news?" toast in the screenshots
    notification = tmp / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false"}))

    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
    )
    port = _free_port()
    log = (tmp / "lab.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            f"--port={port}", "--ip=127.0.0.1", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            f"--ConvShareApp.store_dir={tmp / 'store'}",
            "--ServerApp.jpserver_extensions=jupyter_convshare=True",
            "--allow-root",  # CI containers run as root
            *extra,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + LAB_START_SECONDS
    try:
        while True:
            try:
                if _api(base, "GET", "convshare/api/info")[0] == 200:
                    break
            except (URLError, ConnectionError, OSError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not start:\n{(tmp / 'lab.log').read_text(errors='replace')[-4000:]}")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


class Chromium:
    """Debian chromium (never a downloaded browser), driven from its own thread.

    Playwright's sync API runs an event loop in the thread that starts it; pytest-jupyter's
    fixtures own the main thread's loop, so Playwright gets a thread of its own (as in
    tests/test_browser.py).
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._pool.submit(self._start).result()

    def _start(self) -> None:
        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(browser, *args)`` in the browser's thread; its exceptions propagate."""
        return self._pool.submit(fn, self.browser, *args).result()

    def close(self) -> None:
        def stop() -> None:
            self.browser.close()
            self._playwright.stop()

        self._pool.submit(stop).result()
        self._pool.shutdown()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    """One headless chromium for the module."""
    browser = Chromium()
    yield browser
    browser.close()


def _open_share_dialog(page: "Page", base: str) -> None:
    page.goto(f"{base}lab?token={TOKEN}")
    item = page.locator(".jp-DirListing-item", has_text=DEMO_CHAT.name)
    item.wait_for(timeout=60_000)
    item.click(button="right")
    page.locator(".lm-Menu-item", has_text="Share conversation…").click()
    page.locator(".jp-Dialog .jp-convshare-ShareBody").wait_for()


def test_lab_lists_the_extension_enabled_and_ok() -> None:
    """`jupyter labextension list` shows the extension enabled and OK (installed or built)."""
    env = dict(os.environ)
    if _installed_labextension() is None and (BUILD_OUTPUT / "package.json").exists():
        pytest.skip("only built in the checkout (jlpm build), not installed by pip")
    output = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True, text=True, env=env, check=True,
    )
    text = output.stdout + output.stderr
    line = next((line for line in text.splitlines() if "jupyter-convshare" in line), "")
    assert "enabled" in line and "OK" in line, text


def test_share_from_the_file_browser_then_view_change_and_delete(lab: str, chromium: Chromium) -> None:
    """Right-click the .chat file, Share conversation…, create the link; an anonymous
    visitor opens it (200); 24 hours expiry; delete with confirmation; the link is 404."""
    chromium.run(_share_view_change_delete, lab)


def _share_view_change_delete(browser: "Browser", lab: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    visitor = browser.new_context()  # anonymous: no token, no cookie
    try:
        page = context.new_page()

        # Given a .chat file in the file browser, when I choose "Share conversation…"
        _open_share_dialog(page, lab)
        body = page.locator(".jp-convshare-ShareBody")
        expect(body.locator(".jp-convshare-status")).to_have_text("Not shared")
        page.screenshot(path=str(ARTIFACTS / "lab-share-dialog-not-shared.png"))

        # and create a link, then the dialog shows the link and its QR code
        body.get_by_role("button", name="Create link").click()
        link = body.locator("input.jp-convshare-link")
        link.wait_for()
        url = link.input_value()
        assert url.startswith(f"{lab}convshare/s/"), url
        expect(body.locator(".jp-convshare-status")).to_contain_text("Shared since")
        qr = body.locator("img.jp-convshare-qr")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
        page.screenshot(path=str(ARTIFACTS / "lab-share-dialog-shared.png"))

        # Then an anonymous visitor opens the link: the viewer page
        viewer = visitor.new_page()
        response = viewer.goto(url)
        assert response is not None and response.status == 200
        expect(viewer.locator("body")).to_contain_text("sales.csv")
        viewer.screenshot(path=str(ARTIFACTS / "lab-viewer-anonymous.png"))

        # When I change the expiry to 24 hours, then the share expires in a day
        with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
            body.locator("select.jp-convshare-expires").select_option("24h")
        assert patched.value.status == 200
        status, shares = _api(lab, "GET", "convshare/api/shares")
        assert status == 200 and len(shares["shares"]) == 1
        expires_at = datetime.fromisoformat(shares["shares"][0]["expires_at"].replace("Z", "+00:00"))
        assert timedelta(hours=23) < expires_at - datetime.now(timezone.utc) <= timedelta(hours=24)

        # When I delete the share (and confirm), then the dialog says so and the link is dead
        body.get_by_role("button", name="Delete share").click()
        confirm = body.locator(".jp-convshare-confirm")
        page.screenshot(path=str(ARTIFACTS / "lab-share-dialog-confirm-delete.png"))
        confirm.get_by_role("button", name="Delete", exact=True).click()
        expect(body.locator(".jp-convshare-status")).to_have_text("Not shared")
        page.screenshot(path=str(ARTIFACTS / "lab-share-dialog-deleted.png"))
        gone = viewer.goto(url)
        assert gone is not None and gone.status == 404
        viewer.screenshot(path=str(ARTIFACTS / "lab-viewer-after-delete.png"))
    finally:
        context.close()
        visitor.close()
