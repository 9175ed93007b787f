"""A single-user server on JupyterHub uses the hub's convshare service (issue 6 item 2).

The real hub of ``tests/hub_helpers.py`` (``examples/jupyterhub_config.py``), with single-user
servers that load ``jupyter_convshare`` (``CONVSHARE_SERVICE_URL`` from
``c.Spawner.environment``, the server's ``JUPYTERHUB_API_TOKEN``): alice's server forwards
``convshare/api/*`` to the service, shares a ``.chat`` file of her home, and pushes the
file's changes to the service while it runs; the link keeps the last state once it stops.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("jupyterhub", reason="jupyterhub is not installed (pip install -e '.[test]')")
import requests  # noqa: E402

from .hub_helpers import CHAT_T0, Hub  # noqa: E402
from .hub_helpers import chat_document as _chat  # noqa: E402

pytestmark = pytest.mark.skipif(
    shutil.which("configurable-http-proxy") is None,
    reason="configurable-http-proxy is not on PATH (npm install -g configurable-http-proxy; .ci/run does)",
)

T0 = CHAT_T0
PUSH_WAIT_SECONDS = 30.0
"""Bound on how long a change of the file may take to reach the link (checks every 0.5 s)."""


def _write_chat(path: Path, document: dict[str, Any], mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    os.utime(path, (mtime, mtime))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub whose single-user servers load the convshare extension."""
    started = Hub(tmp_path_factory.mktemp("hub-singleuser"), singleuser_extension=True)
    try:
        started.start()
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def alice_home(hub: Hub) -> Path:
    """alice's home (her server's root) with a ``.chat`` file, and her server running."""
    home = hub.tmp / "home" / "alice"
    _write_chat(home / "seminar.chat", _chat("Why is the sky blue?", "Rayleigh scattering."), T0)
    assert hub.hub_api("POST", "users/alice/server").status_code in (201, 202)
    hub.wait_server("alice", running=True)
    return home


def _server(hub: Hub, user: str, method: str, path: str, token: str | None = "", **kwargs: Any) -> requests.Response:
    """A call to ``user``'s own server's convshare API through the proxy (default: their token)."""
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"token {token or hub.token(user)}"
    return requests.request(
        method, f"{hub.url}/user/{user}/convshare/api/{path}", headers=headers, timeout=60,
        allow_redirects=False, **kwargs,
    )


def _page(url: str) -> requests.Response:
    """Open a link anonymously: no token, no cookie."""
    return requests.get(url, timeout=30, allow_redirects=False)


def _wait_for_text(hub: Hub, url: str, text: str) -> None:
    """Wait (``PUSH_WAIT_SECONDS`` at most) until the link at ``url`` shows ``text``."""
    deadline = time.monotonic() + PUSH_WAIT_SECONDS
    while text not in _page(url).text:
        assert time.monotonic() < deadline, f"the change never reached the link:\n{hub.log_tail()}"
        time.sleep(0.3)


def test_her_servers_api_is_the_service_as_alice(hub: Hub, alice_home: Path) -> None:
    # When alice asks her own server who she is
    response = _server(hub, "alice", "GET", "whoami")
    # Then the service answers, with her hub identity (her server's token)
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "alice", "groups": ["physics"], "is_admin": False}
    # and what a share made on the service directly is listed through her server
    made = hub.call("alice", "POST", "shares", json={"conversation": [{"role": "user", "content": "hi"}]})
    assert made.status_code == 201
    listed = _server(hub, "alice", "GET", "shares").json()["shares"]
    assert made.json()["share_id"] in [s["share_id"] for s in listed]


def test_her_server_forwards_nothing_without_her_login(hub: Hub, alice_home: Path) -> None:
    assert _server(hub, "alice", "GET", "whoami", token=None).status_code in (302, 403)
    # bob's token does not open alice's server
    assert _server(hub, "alice", "GET", "whoami", token=hub.token("bob")).status_code in (302, 403, 404)


@pytest.mark.parametrize("path", ["%2E%2E/%2E%2E/hub/api/user", "shares/..%2F..%2Fhealth", "shares//x"])
def test_a_path_that_leaves_the_api_is_not_forwarded(hub: Hub, alice_home: Path, path: str) -> None:
    # (a client may resolve the dot segments itself: then jupyter-server's own 404 answers)
    response = _server(hub, "alice", "GET", path)
    assert response.status_code == 404
    assert '"name": "alice"' not in response.text


def test_only_the_owner_pushes_a_new_state_of_a_conversation(hub: Hub) -> None:
    # Given a conversation of alice on the service
    first = {"conversation": _chat("One", "Two", chat_id="owner-only"), "name": "a.chat"}
    made = hub.call("alice", "POST", "conversations", json=first)
    assert made.status_code == 201, made.text
    conversation_id = made.json()["id"]
    newer = {"conversation": _chat("One", "Two", "Three", chat_id="owner-only"), "format": "jupyterlab-chat"}
    # bob cannot push to it
    refused = hub.call("bob", "POST", f"conversations/{conversation_id}/sync", json=newer)
    assert refused.status_code == 404
    # alice can, and the new message is merged in
    pushed = hub.call("alice", "POST", f"conversations/{conversation_id}/sync", json=newer)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["message_count"] == 3


def test_a_push_keeps_what_collaborators_added(hub: Hub) -> None:
    # Given a live share of alice's granted to physics for collaboration, and bob's message in it
    first = {"conversation": _chat("Start", "Reply", chat_id="collaborated"), "name": "c.chat"}
    made = hub.call("alice", "POST", "shares", json=first)
    assert made.status_code == 201, made.text
    share = made.json()
    grant = hub.call("alice", "POST", f"shares/{share['share_id']}/grants",
                     json={"principal_type": "group", "principal": "physics", "permission": "collaborate"})
    assert grant.status_code == 201, grant.text
    posted = hub.call("bob", "POST", f"shares/{share['share_id']}/messages", json={"text": "BOB-WAS-HERE"})
    assert posted.status_code == 201, posted.text
    # When alice's server pushes a newer state of the file
    newer = {"conversation": _chat("Start", "Reply", "Next question", chat_id="collaborated"),
             "format": "jupyterlab-chat"}
    pushed = hub.call("alice", "POST", f"conversations/{share['conversation_id']}/sync", json=newer)
    assert pushed.status_code == 200, pushed.text
    # Then the link shows the new message, and bob's stays in the conversation (a branch
    # beside the file's newer message, as on a standalone server)
    assert "Next question" in _page(share["url"]).text
    stored = hub.call("alice", "GET", f"conversations/{share['conversation_id']}").json()["conversation"]
    texts = json.dumps(stored["messages"])
    assert "BOB-WAS-HERE" in texts
    assert "Next question" in texts


def test_a_file_never_takes_over_a_conversation_already_on_the_service(hub: Hub, alice_home: Path) -> None:
    # Given a conversation alice posted to the service (e.g. from a notebook)
    posted = hub.call("alice", "POST", "conversations",
                      json={"conversation": _chat("POSTED-COPY", chat_id="copied"), "name": "p.chat"})
    assert posted.status_code == 201, posted.text
    # When she shares a file of her home holding the same chat document, changed since
    _write_chat(alice_home / "copy.chat", _chat("FILE-VERSION", chat_id="copied"), T0)
    created = _server(hub, "alice", "POST", "shares", json={"path": "copy.chat"})
    assert created.status_code == 201, created.text
    # Then the file is a conversation of its own, and the posted one is unchanged
    assert created.json()["conversation_id"] != posted.json()["id"]
    kept = hub.call("alice", "GET", f"conversations/{posted.json()['id']}").json()["conversation"]
    assert "POSTED-COPY" in json.dumps(kept["messages"])
    assert "FILE-VERSION" not in json.dumps(kept["messages"])


def test_a_saved_share_is_written_as_a_chat_file_of_her_server(hub: Hub, alice_home: Path) -> None:
    # Given bob's share, saved in alice's library on the service
    bobs = hub.call("bob", "POST", "shares", json={"conversation": _chat("FROM-BOB", chat_id="bobs"), "name": "b.chat"})
    assert bobs.status_code == 201, bobs.text
    saved = hub.call("alice", "POST", "library", json={"url": bobs.json()["url"]})
    assert saved.status_code == 201, saved.text
    item_id = saved.json()["item_id"]
    # When she saves it as a .chat file through her server
    written = _server(hub, "alice", "POST", f"library/{item_id}/save-as", json={"path": "from-bob.chat"})
    # Then the file is in her home (the service has no workspace), and never overwritten
    assert written.status_code == 201, written.text
    assert "FROM-BOB" in (alice_home / "from-bob.chat").read_text(encoding="utf-8")
    again = _server(hub, "alice", "POST", f"library/{item_id}/save-as", json={"path": "from-bob.chat"})
    assert again.status_code == 409
    assert again.json()["field"] == "path"


def _server_environment(user: str) -> dict[str, str]:
    """The environment the hub's spawner gave ``user``'s running single-user server: what
    its kernels and terminals inherit (read from ``/proc/<pid>/environ``)."""
    proc = Path("/proc")
    if not (proc / "self" / "environ").exists():
        pytest.skip("reading the single-user server's environment needs Linux's /proc")
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            raw = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if b"jupyterhub.singleuser" not in cmdline:
            continue
        env = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
        if env.get("JUPYTERHUB_USER") == user:
            return env
    raise AssertionError(f"no single-user server process of {user} found")


NOTEBOOK_CODE = """
import json, sys
from jupyter_convshare import share
shared = share(sys.argv[1], mode="live", expires="24h")
print(json.dumps({"url": shared.url, "conversation_id": shared.conversation_id}))
"""


def test_a_notebook_on_her_server_shares_her_file_live_through_her_server(hub: Hub, alice_home: Path) -> None:
    # Given a .chat file of alice's home, and code that runs where her kernels run: with the
    # environment the spawner gave her server (JUPYTERHUB_SERVICE_URL, her server's
    # JUPYTERHUB_API_TOKEN, CONVSHARE_SERVICE_URL), in her home
    _write_chat(alice_home / "notebook.chat", _chat("Shared from a notebook", "First answer."), T0)
    env = _server_environment("alice")
    assert env["JUPYTERHUB_SERVICE_URL"].endswith("/user/alice/")
    # When it calls share() on the file, with no server named
    done = subprocess.run(
        [sys.executable, "-c", NOTEBOOK_CODE, "notebook.chat"],
        cwd=alice_home, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    shared = json.loads(done.stdout.strip().splitlines()[-1])
    # Then the link is the service's, and opens anonymously
    assert shared["url"].startswith(hub.service_url + "convshare/s/")
    assert "First answer." in _page(shared["url"]).text
    # and her server shared the file by its path, not a copy of its content (the service
    # alone gets a copy, which never changes): when the file changes, the link follows
    _write_chat(
        alice_home / "notebook.chat",
        _chat("Shared from a notebook", "First answer.", "A later question"),
        T0 + 60,
    )
    _wait_for_text(hub, shared["url"], "A later question")


def _attachment(url: str, name: str) -> bytes:
    """The bytes of the attachment ``name`` as the link at ``url`` serves them."""
    exported = requests.get(url + "/export.json", timeout=30)
    assert exported.status_code == 200, exported.text
    attachments = exported.json()["attachments"]
    (attachment_id,) = [k for k, a in attachments.items() if a["name"] == name]
    file = requests.get(f"{url}/files/{attachment_id}", timeout=30)
    assert file.status_code == 200, file.text
    return file.content


def test_an_attachment_stays_when_only_the_text_changes_and_follows_its_file(hub: Hub, alice_home: Path) -> None:
    # Given a live share of a .chat file whose last message attaches results.csv
    def document(*bodies: str) -> dict[str, Any]:
        chat = _chat(*bodies, chat_id="with-attachment")
        chat["messages"][1]["attachments"] = ["att"]
        chat["attachments"] = {"att": {"type": "file", "value": "results.csv"}}
        return chat

    (alice_home / "results.csv").write_bytes(b"region,revenue\nEast,89408\n")
    _write_chat(alice_home / "attached.chat", document("Totals?", "See the file."), T0)
    created = _server(hub, "alice", "POST", "shares", json={"path": "attached.chat", "mode": "live"})
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    assert _attachment(url, "results.csv") == b"region,revenue\nEast,89408\n"
    # When only the chat's text changes (her server pushes it without the file's bytes)
    _write_chat(alice_home / "attached.chat", document("Totals?", "See the file.", "Thanks!"), T0 + 60)
    _wait_for_text(hub, url, "Thanks!")
    # Then the link still serves the attachment
    assert _attachment(url, "results.csv") == b"region,revenue\nEast,89408\n"
    # When the attached file changes too
    (alice_home / "results.csv").write_bytes(b"region,revenue\nEast,90000\n")
    _write_chat(alice_home / "attached.chat", document("Totals?", "See the file.", "Thanks!", "Updated."), T0 + 120)
    _wait_for_text(hub, url, "Updated.")
    # Then the link serves its new bytes
    assert _attachment(url, "results.csv") == b"region,revenue\nEast,90000\n"


def test_a_live_chat_shared_from_her_server_follows_the_file_and_outlives_the_server(
    hub: Hub, alice_home: Path
) -> None:
    # Given alice shares seminar.chat of her home through her server
    created = _server(hub, "alice", "POST", "shares", json={"path": "seminar.chat", "mode": "live"})
    assert created.status_code == 201, created.text
    share = created.json()
    # Then the link is the service's, and opens anonymously
    assert share["url"].startswith(hub.service_url + "convshare/s/")
    assert "Rayleigh scattering." in _page(share["url"]).text
    # and sharing the file again answers the same share
    again = _server(hub, "alice", "POST", "shares", json={"path": "seminar.chat"})
    assert again.status_code == 200, again.text
    assert again.json()["share_id"] == share["share_id"]
    # When the file changes while her server runs
    _write_chat(
        alice_home / "seminar.chat",
        _chat("Why is the sky blue?", "Rayleigh scattering.", "And why are sunsets red?"),
        T0 + 60,
    )
    # Then the viewer shows the change (her server pushed it)
    _wait_for_text(hub, share["url"], "And why are sunsets red?")
    # When her server stops
    assert hub.hub_api("DELETE", "users/alice/server").status_code in (202, 204)
    hub.wait_server("alice", running=False)
    # Then the link still serves the last state
    page = _page(share["url"])
    assert page.status_code == 200
    assert "And why are sunsets red?" in page.text
