"""A real JupyterHub for tests (issue 6): the fixtures of ``tests/test_hub.py``,
``tests/test_hub_matrix.py`` and ``tests/test_hub_singleuser.py``.

pip ``jupyterhub``, ``configurable-http-proxy`` from npm (``.ci/run`` installs it; modules
using :func:`hub` skip, saying so, when it is absent), the dummy authenticator with a
password, the simple local-process spawner with homes in tmp, a SQLite hub database in
tmp, and ``examples/jupyterhub_config.py`` loaded as it is, so the example is what runs.
The service is the hub-managed ``jupyter convshare hub-service``.

Users: alice and bob in the hub group ``physics``, carol in ``chemistry``, hubadmin a hub
admin. Each logs in with the dummy password through the hub's REST API and talks to the
service through the proxy with that hub API token. A test service token administers the
hub (groups, servers). The service reuses hub answers for ``--cache-max-age`` seconds:
here :data:`CACHE_MAX_AGE`.

Single-user servers are bare (jupyter-server with no extension: they start faster) unless
the hub is made with ``singleuser_extension=True``: then they load ``jupyter_convshare``
only, which uses the service (``CONVSHARE_SERVICE_URL``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("jupyterhub", reason="jupyterhub is not installed (pip install -e '.[test]')")
import requests  # noqa: E402

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "jupyterhub_config.py"
PASSWORD = "convshare-hub-test-password"
ADMIN_TOKEN = "convshare-test-admin-" + os.urandom(16).hex()
CACHE_MAX_AGE = 2
"""Seconds the service reuses hub answers in these tests (``--cache-max-age``)."""
START_SECONDS = 90.0
"""How long the hub, proxy and service may take to answer (2 loaded cores)."""

pytestmark = pytest.mark.skipif(
    shutil.which("configurable-http-proxy") is None,
    reason="configurable-http-proxy is not on PATH (npm install -g configurable-http-proxy; .ci/run does)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_config(tmp: Path, ports: dict[str, int], singleuser_extension: bool = False) -> Path:
    """The test hub's config: the example, then what a test machine needs instead."""
    config = tmp / "jupyterhub_config.py"
    spawner_args = ["--allow-root"] if os.geteuid() == 0 else []
    if singleuser_extension:
        spawner_args.append("--ServerApp.jpserver_extensions=jupyter_convshare=True")
        spawner_args.append("--ConvShareApp.live_check_interval=0.5")
    config.write_text(
        f"""
import sys
c = get_config()
load_subconfig({str(EXAMPLE_CONFIG)!r})

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {ports["proxy"]}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {ports["hub"]}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports["proxy_api"]}"
c.ConfigurableHTTPProxy.pid_file = {str(tmp / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{tmp / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(tmp / "cookie_secret")!r}
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {PASSWORD!r}
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{"hubadmin"}}
c.JupyterHub.load_groups = {{
    "physics": {{"users": ["alice", "bob"]}},
    "chemistry": {{"users": ["carol"]}},
}}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp / "home" / "{username}")!r}
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.args = {spawner_args!r}
# a bare single-user server (no JupyterLab, no other extensions found): it starts faster
c.Spawner.environment = {{
    **c.Spawner.environment,
    "CONVSHARE_SERVICE_URL": "http://127.0.0.1:{ports["proxy"]}/services/convshare/",
    "JUPYTERHUB_SINGLEUSER_LOAD_OTHER_EXTENSIONS": "0",
}}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

service = c.JupyterHub.services[0]
service["url"] = "http://127.0.0.1:{ports["service"]}"
command = list(service["command"])
command[command.index("--store-dir") + 1] = {str(tmp / "convshare-store")!r}
command[command.index("--cache-max-age") + 1] = "{CACHE_MAX_AGE}"
service["command"] = command
c.JupyterHub.services.append({{"name": "test-admin", "api_token": {ADMIN_TOKEN!r}}})
c.JupyterHub.load_roles.append({{
    "name": "test-admin",
    "scopes": ["admin:users", "admin:groups", "admin:servers", "tokens", "list:users", "read:users"],
    "services": ["test-admin"],
}})
"""
    )
    return config


CHAT_T0 = 1781232974.0
"""Epoch seconds of the first message of :func:`chat_document`."""


def chat_document(*bodies: str, chat_id: str = "hub-chat") -> dict[str, Any]:
    """A jupyterlab-chat ``.chat`` document: alternating user (ada) / persona messages,
    one second apart from :data:`CHAT_T0`."""
    users = {
        "ada": {"username": "ada", "name": "Ada", "display_name": "Ada", "bot": False},
        "bot": {"username": "bot", "name": "Jupyternaut", "display_name": "Jupyternaut", "bot": True},
    }
    messages = [
        {"type": "msg", "id": f"m{i}", "body": body, "time": CHAT_T0 + i, "sender": "ada" if i % 2 == 0 else "bot",
         "raw_time": False}
        for i, body in enumerate(bodies)
    ]
    return {"messages": messages, "users": users, "attachments": {}, "metadata": {"id": chat_id}}


class Hub:
    """A running JupyterHub (subprocess) and helpers to talk to it and to the service."""

    def __init__(self, tmp: Path, *, singleuser_extension: bool = False) -> None:
        self.tmp = tmp
        self.singleuser_extension = singleuser_extension
        self.ports = {name: _free_port() for name in ("proxy", "hub", "proxy_api", "service")}
        self.url = f"http://127.0.0.1:{self.ports['proxy']}"
        self.service_url = f"{self.url}/services/convshare/"
        self.api = f"{self.service_url}convshare/api/"
        self.log_path = tmp / "jupyterhub.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.tokens: dict[str, str] = {}

    def start(self) -> None:
        config = _write_config(self.tmp, self.ports, self.singleuser_extension)
        env = dict(os.environ)
        env.pop("JUPYTERHUB_API_TOKEN", None)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=self.tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyterhub exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if requests.get(self.api + "health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the hub service did not answer within {START_SECONDS:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        try:  # whatever the hub started in its group (proxy, service, servers) and left
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- the hub's REST API ------------------------------------------------------------

    def hub_api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A hub REST call as the test admin service."""
        headers = {"Authorization": f"token {ADMIN_TOKEN}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/hub/api/{path}", headers=headers, timeout=30, **kwargs)

    def login(self, name: str, scopes: list[str] | None = None) -> str:
        """A hub API token of ``name``, obtained with their password (the dummy authenticator)."""
        body: dict[str, Any] = {"auth": {"username": name, "password": PASSWORD}, "note": "test login"}
        if scopes is not None:
            body["scopes"] = scopes
        response = requests.post(f"{self.url}/hub/api/users/{name}/tokens", json=body, timeout=30)
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def token(self, name: str) -> str:
        """``name``'s token for these tests (logged in once)."""
        if name not in self.tokens:
            self.tokens[name] = self.login(name)
        return self.tokens[name]

    def call(self, user: str | None, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A service REST call as hub user ``user`` (``None``: anonymous), through the proxy."""
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"token {self.token(user)}"
        return requests.request(method, self.api + path, headers=headers, timeout=30, allow_redirects=False, **kwargs)

    def wait_server(self, name: str, *, running: bool) -> None:
        """Wait until ``name``'s default server is ready (or gone)."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            model = self.hub_api("GET", f"users/{name}").json()
            server = model.get("servers", {}).get("")
            if running and server and server.get("ready"):
                return
            if not running and not server:
                return
            time.sleep(0.3)
        raise AssertionError(f"{name}'s server did not {'start' if running else 'stop'}:\n{self.log_tail()}")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A JupyterHub with the convshare service, for the whole module."""
    started = Hub(tmp_path_factory.mktemp("hub"))
    try:
        started.start()
        yield started
    finally:
        started.stop()
