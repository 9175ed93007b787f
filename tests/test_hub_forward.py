"""What a single-user server sends to the hub service, and what comes back (server/hub_proxy.py).

A real Jupyter server with ``ConvShareApp.hub_service_url`` set, in front of a small HTTP
server standing where the hub service would be, that records every request reaching it:
the end-to-end behaviour with the real hub service is in tests/test_hub_singleuser.py;
here, what must never cross (the browser's cookies, XSRF token and server token, the
service's cookies), the size caps, and that nothing is forwarded without a login.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from tornado import web
from tornado.httpclient import HTTPClientError
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

HUB_TOKEN = "hub-token-of-this-server-0123456789"
MAX_IMPORT_BYTES = 4000


class _Recorder(web.RequestHandler):
    """Answers like the service would, and records what reached it."""

    def initialize(self, seen: list[dict[str, Any]]) -> None:
        self.seen = seen

    def _record(self, route: str) -> None:
        self.seen.append(
            {"method": self.request.method, "route": route, "query": self.request.query,
             "headers": dict(self.request.headers), "body": self.request.body}
        )
        if route == "big":
            self.finish(b"x" * (3 * MAX_IMPORT_BYTES))
            return
        self.set_status(409 if route == "conflict" else 200)
        self.set_header("Set-Cookie", "service-session=secret; Path=/")
        self.set_header("Location", "https://evil.example.org/")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"route": route}))

    def get(self, route: str) -> None:
        self._record(route)

    def post(self, route: str) -> None:
        self._record(route)

    def delete(self, route: str) -> None:
        self._record(route)


@pytest.fixture
def upstream() -> tuple[Any, int, list[dict[str, Any]]]:
    sock, port = bind_unused_port()
    return sock, port, []


@pytest.fixture
def running_upstream(upstream: tuple[Any, int, list[dict[str, Any]]], io_loop: Any) -> Iterator[list[dict[str, Any]]]:
    """The recording server, on the test's event loop."""
    sock, _port, seen = upstream
    app = web.Application([(r"/services/convshare/convshare/api/(.*)", _Recorder, {"seen": seen})])
    server = HTTPServer(app)
    server.add_sockets([sock])
    yield seen
    server.stop()


@pytest.fixture
def jp_server_config(
    tmp_path: Path, upstream: tuple[Any, int, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A server using the recording upstream as its hub service (and a hub token)."""
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", HUB_TOKEN)
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_convshare": True, "jupyter_server_terminals": False},
            "allow_unauthenticated_access": False,
        },
        "ConvShareApp": {
            "store_dir": str(tmp_path / "convshare-store"),
            "hub_service_url": f"http://127.0.0.1:{upstream[1]}/services/convshare",
            "max_import_bytes": MAX_IMPORT_BYTES,
            "live_check_interval": 0.2,
        },
    }


async def test_a_request_reaches_the_service_with_the_hub_token_and_no_browser_credentials(
    jp_fetch: Any, running_upstream: list[dict[str, Any]]
) -> None:
    # When a logged-in browser (cookies, XSRF token) asks its server's API
    response = await jp_fetch(
        "convshare", "api", "shares", "abc",
        params={"format": "json"},
        headers={"Cookie": "_xsrf=1; jupyterhub-user-alice=session", "X-XSRFToken": "1", "Accept": "application/json"},
    )
    # Then the service got the route and query, the server's hub token and nothing of the browser's
    (seen,) = running_upstream
    assert (seen["method"], seen["route"], seen["query"]) == ("GET", "shares/abc", "format=json")
    assert seen["headers"]["Authorization"] == f"token {HUB_TOKEN}"
    assert seen["headers"]["Accept"] == "application/json"
    for name in ("Cookie", "X-Xsrftoken", "X-Forwarded-For", "Referer"):
        assert name not in seen["headers"]
    # and the browser got the service's answer without its cookies or redirects
    assert response.code == 200
    assert json.loads(response.body) == {"route": "shares/abc"}
    assert "Set-Cookie" not in response.headers or "service-session" not in response.headers["Set-Cookie"]
    assert "Location" not in response.headers


async def test_a_post_body_and_an_error_status_pass_through(
    jp_fetch: Any, running_upstream: list[dict[str, Any]]
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("convshare", "api", "conflict", method="POST", body=json.dumps({"a": 1}),
                       headers={"Content-Type": "application/json"})
    assert caught.value.code == 409
    assert running_upstream[0]["body"] == b'{"a": 1}'
    assert running_upstream[0]["headers"]["Content-Type"] == "application/json"


async def test_an_answer_over_the_cap_is_a_502(jp_fetch: Any, running_upstream: list[dict[str, Any]]) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("convshare", "api", "big")
    assert caught.value.code == 502
    assert "did not answer" in json.loads(caught.value.response.body)["message"]


async def test_a_body_over_the_import_limit_is_413_and_not_forwarded(
    jp_fetch: Any, running_upstream: list[dict[str, Any]]
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("convshare", "api", "shares", method="POST", body="x" * (MAX_IMPORT_BYTES + 1))
    assert caught.value.code == 413
    assert running_upstream == []


async def test_nothing_is_forwarded_without_a_login(
    jp_fetch: Any, jp_serverapp: Any, running_upstream: list[dict[str, Any]]
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("convshare", "api", "whoami", headers={"Authorization": ""})
    assert caught.value.code == 403
    assert running_upstream == []


async def test_the_server_keeps_no_store_and_serves_no_links(
    jp_fetch: Any, tmp_path: Path, running_upstream: list[dict[str, Any]]
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("convshare", "s", "A" * 43)
    assert caught.value.code == 404
    assert not (tmp_path / "convshare-store" / "convshare.db").exists()


async def test_a_file_that_cannot_be_read_is_refused_here_naming_the_path(
    jp_fetch: Any, running_upstream: list[dict[str, Any]]
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("convshare", "api", "shares", method="POST", body=json.dumps({"path": "missing.chat"}))
    assert caught.value.code == 404
    assert json.loads(caught.value.response.body)["field"] == "path"
    assert running_upstream == []


def _write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))


def _chat_with_attachment(*bodies: str) -> str:
    """A jupyterlab-chat document whose first message attaches ``results.csv``."""
    messages = [{"type": "msg", "id": f"m{i}", "body": b, "time": 1781232974.0 + i, "sender": "ada", "raw_time": False}
                for i, b in enumerate(bodies)]
    messages[0]["attachments"] = ["att"]
    return json.dumps({"messages": messages, "users": {"ada": {"username": "ada", "name": "Ada"}},
                       "attachments": {"att": {"type": "file", "value": "results.csv"}}, "metadata": {"id": "c1"}})


async def _next_push(seen: list[dict[str, Any]], after: int) -> dict[str, Any]:
    """The first ``conversations/<id>/sync`` request recorded after the first ``after``."""
    deadline = time.monotonic() + 20
    while True:
        pushes = [s for s in seen[after:] if s["route"].endswith("/sync")]
        if pushes:
            return json.loads(pushes[0]["body"])
        assert time.monotonic() < deadline, f"no push reached the service: {[s['route'] for s in seen]}"
        await asyncio.sleep(0.1)


async def test_a_push_sends_an_attachments_bytes_only_when_they_changed(
    jp_fetch: Any, jp_root_dir: Path, running_upstream: list[dict[str, Any]]
) -> None:
    # Given a live .chat file with an attachment, shared through the service with its bytes
    (jp_root_dir / "results.csv").write_bytes(b"region,revenue\nEast,89408\n")
    _write(jp_root_dir / "live.chat", _chat_with_attachment("Totals?"), 1781232974.0)
    await jp_fetch("convshare", "api", "shares", method="POST", body=json.dumps({"path": "live.chat"}))
    (shared,) = [s for s in running_upstream if s["route"] == "shares"]
    assert len(json.loads(shared["body"])["blobs"]) == 1
    # When only the text changes, Then the push carries no bytes (the service keeps its copy)
    mark = len(running_upstream)
    _write(jp_root_dir / "live.chat", _chat_with_attachment("Totals?", "East leads."), 1781233034.0)
    pushed = await _next_push(running_upstream, mark)
    assert pushed["blobs"] == []
    assert "East leads." in json.dumps(pushed["conversation"])
    # When the attached file changes, Then the next push carries its new bytes
    mark = len(running_upstream)
    (jp_root_dir / "results.csv").write_bytes(b"region,revenue\nEast,90000\n")
    _write(jp_root_dir / "live.chat", _chat_with_attachment("Totals?", "East leads.", "Updated."), 1781233094.0)
    pushed = await _next_push(running_upstream, mark)
    (blob,) = pushed["blobs"]
    assert blob["content_base64"] == "cmVnaW9uLHJldmVudWUKRWFzdCw5MDAwMAo="
