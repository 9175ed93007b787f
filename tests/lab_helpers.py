"""A real JupyterLab for UI tests, and Debian chromium driven from its own thread.

:func:`start_lab` (used by every ``tests/test_lab_*.py``): ``jupyter lab`` as a subprocess
with its own config, data, runtime, settings and workspaces directories, the store and the
contents root in a temp directory. The built labextension is the
installed one (``pip install`` builds it into ``share/jupyter/labextensions``) or, in a
checkout where only ``jlpm build`` ran, ``jupyter_convshare/labextension`` (linked in
through ``LabApp.extra_labextensions_path``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
HAVE_LAB = all(importlib.util.find_spec(name) is not None for name in ("jupyterlab", "playwright"))
"""Whether JupyterLab and Playwright (the test extra) are installed."""
LAB_TEST_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (Debian package 'chromium')"),
    pytest.mark.skipif(not HAVE_LAB, reason="jupyterlab and playwright (the test extra) are not installed"),
]
"""``pytestmark`` of the JupyterLab UI test modules."""


def installed_labextension() -> Path | None:
    """The labextension directory JupyterLab finds by itself, if any."""
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path("labextensions"):
        candidate = Path(base) / "jupyter-convshare" / "package.json"
        if candidate.exists():
            return candidate.parent
    return None


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One authenticated REST call of the lab under test: ``(status, JSON body or {})``."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    headers = {"Authorization": f"token {TOKEN}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = Request(base + path, data=data, method=method, headers=headers)
    try:
        with urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw) if raw else {}
        except ValueError:
            return error.code, {"body": raw.decode("utf-8", "replace")}


def anonymous_status(url: str) -> int:
    """The HTTP status an anonymous visitor (no token, no cookie) gets for ``url``."""
    try:
        with urlopen(url, timeout=30) as response:
            return int(response.status)
    except HTTPError as error:
        return int(error.code)


@dataclass
class Lab:
    """A running ``jupyter lab``: ``base`` URL (``http://127.0.0.1:<port>/``) and ``root`` dir."""

    base: str
    root: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        """Terminate the server (kill after 20 s)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_lab(
    tmp: Path,
    root: Path,
    *,
    settings: dict[str, dict[str, Any]] | None = None,
    server_config: dict[str, Any] | None = None,
    args: Sequence[str] = (),
    disabled_labextensions: Sequence[str] = (),
) -> Lab:
    """Start JupyterLab with the extension over ``root``; wait until the REST API answers.

    Args:
        tmp: a private temp directory (config, data, runtime, settings, store, log; and
            the working directory, where jupyter-server-ydoc keeps its store).
        root: the contents root (already filled).
        settings: user settings, ``{"<package>/<plugin>": {...}}`` (e.g. the theme).
        server_config: this lab's ``jupyter_server_config.json`` (e.g. ``ConvShareApp``
            options), in its own config directory.
        args: more ``jupyter lab`` command-line options.
        disabled_labextensions: front-end packages disabled with ``jupyter labextension
            disable`` in this lab's config directory, as a user without them has it.

    Skips the test when the labextension is neither installed nor built.
    """
    extra: list[str] = []
    if installed_labextension() is None:
        if not (BUILD_OUTPUT / "package.json").exists():
            pytest.skip("the labextension is not built: pip install -e . with Node 20, or jlpm build in labextension/")
        linked = tmp / "labextensions"
        linked.mkdir()
        (linked / "jupyter-convshare").symlink_to(BUILD_OUTPUT, target_is_directory=True)
        extra.append(f"--LabApp.extra_labextensions_path={linked}")

    # no "Would you like to get notified about official Jupyter news?" toast in screenshots
    all_settings = {"@jupyterlab/apputils-extension/notification": {"fetchNews": "false"}, **(settings or {})}
    for key, value in all_settings.items():
        package, plugin = key.rsplit("/", 1)
        target = tmp / "settings" / package / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))

    # the extension is enabled in the config file, not on the command line: a command-line
    # jpserver_extensions would replace the file's whole dict (e.g. jupyter_server_ydoc: false)
    config = dict(server_config or {})
    server_app = dict(config.get("ServerApp", {}))
    server_app["jpserver_extensions"] = {"jupyter_convshare": True, **server_app.get("jpserver_extensions", {})}
    config["ServerApp"] = server_app
    (tmp / "config").mkdir(exist_ok=True)
    (tmp / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
    )
    for package in disabled_labextensions:
        subprocess.run(
            [sys.executable, "-m", "jupyter", "labextension", "disable", "--level=user", package],
            env=env, check=True, capture_output=True,
        )
    port = free_port()
    log_path = tmp / "lab.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter", "lab", "--no-browser",
                f"--port={port}", "--ip=127.0.0.1", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={TOKEN}",
                f"--ServerApp.root_dir={root}",
                f"--ConvShareApp.store_dir={tmp / 'store'}",
                "--allow-root",  # CI containers run as root
                *args,
                *extra,
            ],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    lab = Lab(f"http://127.0.0.1:{port}/", root, process, log_path)
    deadline = time.monotonic() + LAB_START_SECONDS
    while True:
        try:
            if api(lab.base, "GET", "convshare/api/info")[0] == 200:
                return lab
        except (URLError, ConnectionError, OSError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            lab.stop()
            pytest.fail(f"jupyter lab did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
        time.sleep(0.5)


class Chromium:
    """Debian chromium (never a downloaded browser), driven from its own thread.

    Playwright's sync API runs an event loop in the thread that starts it; pytest-jupyter's
    fixtures own the main thread's loop, so Playwright gets a thread of its own.
    """

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._sync_playwright = sync_playwright
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._pool.submit(self._start).result()

    def _start(self) -> None:
        self._playwright = self._sync_playwright().start()
        self.browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(browser, *args)`` in the browser's thread; its exceptions propagate."""
        return self._pool.submit(fn, self.browser, *args).result()

    def close(self) -> None:
        """Close the browser and stop Playwright."""

        def stop() -> None:
            self.browser.close()
            self._playwright.stop()

        self._pool.submit(stop).result()
        self._pool.shutdown()
