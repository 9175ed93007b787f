"""The Python client (``jupyter_convshare.client``) against a real Jupyter server.

The server runs in the test's event loop (pytest-jupyter), so every blocking client call
runs in a worker thread (``asyncio.to_thread``) while the loop serves it. The server's
base URL is pytest-jupyter's ``/a%40b/``, which catches hand-joined URLs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from jupyter_convshare import share as lazy_share
from jupyter_convshare.client import (
    ConvShareClient,
    ConvShareClientError,
    Share,
    discover_server,
    share,
)
from jupyter_convshare.core.model import Conversation, Message, Part, SourceInfo

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "demo"
LINK_URL = re.compile(r"^http://127\.0\.0\.1:\d+/a%40b/convshare/s/[A-Za-z0-9_-]{22,128}$")

OPENAI_MESSAGES = [
    {"role": "system", "content": "You are a helpful data analyst."},
    {"role": "user", "content": "What is the median of 1, 3 and 10?"},
    {"role": "assistant", "content": "The median is **3**."},
]


@pytest.fixture
def server(jp_serverapp, http_server, jp_http_port, jp_base_url):
    """``(url, token)`` of the running test server, which listens on ``jp_http_port``."""
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    return url, jp_serverapp.identity_provider.token


@pytest.fixture
def client(server):
    """A client of the test server, with the token given explicitly."""
    url, token = server
    return ConvShareClient(url, token)


@pytest.fixture
def demo_in_root(jp_root_dir):
    """The example ``.chat`` file and its ``sales.csv`` attachment at the server's root.

    (jupyterlab-chat attachment paths are relative to the root: ``"sales.csv"``.)
    """
    shutil.copytree(EXAMPLES, jp_root_dir, dirs_exist_ok=True)
    return jp_root_dir / "sales-analysis.chat"


def run(func, *args, **kwargs):
    """Run a blocking client call in a thread while the test loop serves the request."""
    return asyncio.to_thread(func, *args, **kwargs)


# -- sharing sources --------------------------------------------------------------------------


async def test_chat_file_inside_the_root_is_shared_by_path_with_its_attachment(
    server, demo_in_root, service, convshare_app
):
    # Given the example .chat file and its sales.csv inside the server's root
    url, token = server
    # When it is shared by its absolute local path
    result = await run(share, str(demo_in_root), server_url=url, token=token)
    # Then the link is a viewer URL under the server's base_url
    assert isinstance(result, Share)
    assert LINK_URL.match(result.url)
    assert result.created is True
    assert result.mode == "live"
    # And the server read the file itself (root-relative path) and stored the attachment
    stored = service.get_conversation(convshare_app.owner, result.conversation_id)
    assert stored.source.path == "sales-analysis.chat"
    (attachment,) = stored.attachments.values()
    assert attachment.name == "sales.csv"
    assert attachment.available is True
    assert attachment.size_bytes == (demo_in_root.parent / "sales.csv").stat().st_size


async def test_default_expiry_is_seven_days(client, demo_in_root):
    # Given no expiry argument, When a file is shared
    before = datetime.now(timezone.utc)
    result = await run(client.share, demo_in_root)
    # Then it expires in 7 days
    assert result.expires_at is not None
    assert timedelta(days=7) - timedelta(minutes=5) < result.expires_at - before <= timedelta(days=7, minutes=5)


async def test_root_relative_path_that_is_not_local_is_sent_as_is(client, demo_in_root, monkeypatch, tmp_path):
    # Given a working directory outside the root, where "sales-analysis.chat" does not exist
    monkeypatch.chdir(tmp_path)
    # When that relative path is shared
    result = await run(client.share, "sales-analysis.chat")
    # Then the server resolved it against its root
    assert result.created is True
    again = await run(client.share, demo_in_root)
    assert again.share_id == result.share_id


async def test_chat_file_outside_the_root_is_sent_as_content(client, tmp_path, service, convshare_app):
    # Given a .chat file outside the server's root
    outside = tmp_path / "elsewhere"
    shutil.copytree(EXAMPLES, outside)
    # When it is shared
    result = await run(client.share, outside / "sales-analysis.chat", title="Sales 2025")
    # Then its content was imported under its file name (no root path, attachment unresolved)
    stored = service.get_conversation(convshare_app.owner, result.conversation_id)
    assert stored.source.path is None
    assert stored.source.file_name == "sales-analysis.chat"
    assert stored.title == "Sales 2025"
    assert len(stored.messages) == 11
    assert [a.available for a in stored.attachments.values()] == [False]


async def test_jsonl_file_outside_the_root_is_sent_and_index_picks_one(client, tmp_path, service, convshare_app):
    # Given a JSONL file outside the root with two message lists, one per line
    path = tmp_path / "batch.jsonl"
    lines = [
        [{"role": "user", "content": "first"}, {"role": "assistant", "content": "one"}],
        [{"role": "user", "content": "second"}, {"role": "assistant", "content": "two"}],
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    # When the second conversation is shared
    result = await run(client.share, path, index=1)
    # Then it is the one stored
    stored = service.get_conversation(convshare_app.owner, result.conversation_id)
    assert [m.text for m in stored.active_path()] == ["second", "two"]


async def test_file_that_is_not_json_is_rejected_naming_it(client, tmp_path):
    # Given a file outside the root that is not JSON, When it is shared
    path = tmp_path / "notes.chat"
    path.write_text("just some notes")
    # Then the error names the file, before anything is sent
    with pytest.raises(ConvShareClientError, match="notes.chat: not a JSON conversation file"):
        await run(client.share, path)


async def test_openai_message_list_is_shared(client, service, convshare_app):
    # Given an OpenAI Chat Completions message list, When it is shared with a title
    result = await run(client.share, OPENAI_MESSAGES, title="Median question", expires="1h")
    # Then a share of a three-message conversation comes back
    assert result.created is True
    assert result.title == "Median question"
    stored = service.get_conversation(convshare_app.owner, result.conversation_id)
    assert [m.role for m in stored.active_path()] == ["system", "user", "assistant"]
    assert result.expires_at is not None
    assert result.expires_at - datetime.now(timezone.utc) <= timedelta(hours=1)


async def test_anthropic_dict_with_messages_is_shared(client, service, convshare_app):
    # Given an Anthropic Messages request (top-level system, content blocks)
    request = {
        "model": "claude-sonnet-4-5",
        "system": "Answer briefly.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Capital of Kenya?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Nairobi."}]},
        ],
    }
    # When it is shared
    result = await run(client.share, request)
    # Then the conversation holds the question and the answer
    stored = service.get_conversation(convshare_app.owner, result.conversation_id)
    texts = [m.text for m in stored.active_path() if m.role in ("user", "assistant")]
    assert texts == ["Capital of Kenya?", "Nairobi."]


async def test_conversation_object_is_shared(client, service, convshare_app):
    # Given a Conversation built in Python
    conversation = Conversation(id="notebook:median", source=SourceInfo(format="convshare"), title="Built here")
    conversation.append(Message(id="1", role="user", author_id="me", parts=[Part.text_part("Hi")]))
    conversation.append(Message(id="2", role="assistant", author_id="bot", parts=[Part.text_part("Hello!")]))
    # When it is shared
    result = await run(client.share, conversation)
    # Then the stored conversation is that one
    stored = service.get_conversation(convshare_app.owner, result.conversation_id)
    assert stored.title == "Built here"
    assert [m.text for m in stored.active_path()] == ["Hi", "Hello!"]


async def test_extra_files_are_attached(client, tmp_path, service, convshare_app):
    # Given a local file to attach
    figure = tmp_path / "figure.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    # When a message list is shared with it
    result = await run(client.share, OPENAI_MESSAGES, files=[figure])
    # Then the conversation carries it, stored and downloadable
    stored = service.get_conversation(convshare_app.owner, result.conversation_id)
    (attachment,) = stored.attachments.values()
    assert attachment.name == "figure.png"
    assert attachment.available is True
    assert attachment.size_bytes == 40


async def test_missing_extra_file_is_a_clear_error_before_any_request(client, tmp_path):
    # Given a path that does not exist, When it is passed in files
    with pytest.raises(ConvShareClientError) as caught:
        await run(client.share, OPENAI_MESSAGES, files=[tmp_path / "missing.csv"])
    # Then the error names the file
    assert "missing.csv" in str(caught.value)
    assert caught.value.status is None


async def test_secrets_in_the_content_come_back_as_warnings(client):
    # Given a message list with a pasted GitHub token
    token = "ghp_" + "a1B2c3D4e5" * 4
    messages = [{"role": "user", "content": f"clone with {token}"}, {"role": "assistant", "content": "Done."}]
    # When it is shared, Then the share carries a warning that the notebook display shows
    result = await run(client.share, messages)
    assert [w["kind"] for w in result.warnings] == ["github_token"]
    assert "Check before sending" in result._repr_html_()
    assert "warning:" in repr(result)


async def test_sharing_again_returns_the_existing_share(client, demo_in_root):
    # Given a shared file
    first = await run(client.share, demo_in_root)
    # When it is shared again
    second = await run(client.share, demo_in_root)
    # Then the same share and link come back, marked as existing
    assert second.created is False
    assert (second.share_id, second.url) == (first.share_id, first.url)
    assert "already shared" in repr(second)


async def test_lazy_package_attribute_is_the_client_share():
    # Given the package, When `share` is imported from it, Then it is the client function
    assert lazy_share is share


# -- managing shares ------------------------------------------------------------------------


async def test_update_changes_expiry_and_mode_but_not_the_link(client, demo_in_root):
    # Given a live share
    result = await run(client.share, demo_in_root)
    url = result.url
    # When its expiry and mode are changed
    await run(result.update, expires="never", mode="snapshot")
    # Then the share says so and the link is unchanged
    assert result.expires_at is None
    assert result.mode == "snapshot"
    assert result.url == url
    fetched = await run(client.get_share, result.share_id)
    assert (fetched.mode, fetched.expires_at) == ("snapshot", None)
    refrozen = await run(result.update_snapshot)
    assert refrozen.snapshot_at is not None


async def test_rotate_gives_a_new_link(client, demo_in_root):
    # Given a share
    result = await run(client.share, demo_in_root)
    old_url = result.url
    # When it is rotated
    await run(result.rotate)
    # Then it has a new link, and the listing shows only the new one
    assert result.url != old_url
    assert LINK_URL.match(result.url)
    listed = await run(client.list_shares)
    assert [s.url for s in listed] == [result.url]


async def test_revoke_removes_the_share(client, demo_in_root):
    # Given a share
    result = await run(client.share, demo_in_root)
    # When it is revoked
    await run(result.revoke)
    # Then the server no longer knows it (404 carried by the error)
    with pytest.raises(ConvShareClientError) as caught:
        await run(client.get_share, result.share_id)
    assert caught.value.status == 404
    assert await run(client.list_shares) == []


async def test_revoke_all_counts_the_revoked_shares(client, demo_in_root):
    # Given two shares
    await run(client.share, demo_in_root)
    await run(client.share, OPENAI_MESSAGES)
    # When all are revoked, Then the count is 2 and nothing is left
    assert await run(client.revoke_all) == 2
    assert await run(client.list_shares) == []


async def test_qr_codes_and_export_come_from_the_api(client, demo_in_root):
    # Given a share
    result = await run(client.share, demo_in_root)
    # When its QR codes and an export are fetched
    svg = await run(client.qr_svg, result.share_id)
    png = await run(client.qr_png, result.share_id)
    markdown = await run(client.export, result.share_id, "md")
    exported = json.loads(await run(client.export_conversation, result.conversation_id, "json"))
    # Then they are an SVG, a PNG and the conversation
    assert b"<svg" in svg
    assert png.startswith(b"\x89PNG")
    assert "Jupyternaut" in markdown.decode()
    assert exported["schema"] == "convshare/1"


async def test_conversations_are_listed_and_info_answers(client, demo_in_root):
    # Given a shared file
    result = await run(client.share, demo_in_root)
    # When conversations and the server info are read
    conversations = await run(client.list_conversations)
    info = await run(client.info)
    # Then the shared conversation is listed and the info names the presets
    assert [c["id"] for c in conversations] == [result.conversation_id]
    assert "7d" in info["expiry_presets"]


# -- errors --------------------------------------------------------------------------------


async def test_malformed_message_list_raises_the_servers_400(client):
    # Given a message list with an unknown role, When it is shared
    with pytest.raises(ConvShareClientError) as caught:
        await run(client.share, [{"role": "wizard", "content": "hi"}])
    # Then the error carries the status and the server's message naming the field
    assert caught.value.status == 400
    assert "[0].role" in caught.value.message


async def test_wrong_token_is_refused(server):
    # Given a client with a wrong token
    url, _ = server
    bad = ConvShareClient(url, "not-the-token")
    # When it calls the API, Then the error says the token was refused
    with pytest.raises(ConvShareClientError) as caught:
        await run(bad.list_shares)
    assert caught.value.status == 403
    assert "refused the token" in caught.value.message


async def test_unreachable_server_is_a_clear_error():
    # Given nothing listening on a port, When a client calls it
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ConvShareClient(f"http://127.0.0.1:{port}/", "t")
    with pytest.raises(ConvShareClientError) as caught:
        await run(client.info)
    # Then the error says the server cannot be reached
    assert "cannot reach" in str(caught.value)
    assert caught.value.status is None


def test_unsupported_source_type_is_rejected():
    # Given something that is not a conversation
    client = ConvShareClient("http://127.0.0.1:1/", "t")
    # When it is shared, Then the error says what may be shared
    with pytest.raises(ConvShareClientError, match="cannot share a int"):
        client.share(42)


# -- discovery ------------------------------------------------------------------------------


async def test_discovery_uses_the_environment(monkeypatch):
    # Given JUPYTER_SERVER_URL and JPY_API_TOKEN (as in a JupyterHub single-user server)
    monkeypatch.setenv("JUPYTER_SERVER_URL", "http://127.0.0.1:9999/user/ada")
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    monkeypatch.setenv("JPY_API_TOKEN", "hub-token")
    # When the server is discovered, Then those are used
    info = discover_server()
    assert (info.url, info.token) == ("http://127.0.0.1:9999/user/ada/", "hub-token")


async def test_discovery_finds_the_only_running_server(server, monkeypatch, jp_serverapp, jp_root_dir):
    # Given no environment, and the test server's info file in the runtime dir
    monkeypatch.delenv("JUPYTER_SERVER_URL", raising=False)
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    monkeypatch.delenv("JPY_API_TOKEN", raising=False)
    # When the server is discovered
    info = discover_server()
    # Then it is the test server, with its token and root
    assert info.url == jp_serverapp.connection_url
    assert info.token == jp_serverapp.identity_provider.token
    assert Path(info.root_dir).resolve() == Path(jp_root_dir).resolve()


async def test_share_without_arguments_uses_discovery(server, monkeypatch, demo_in_root, jp_serverapp, jp_http_port):
    # Given the environment names the test server
    url, token = server
    monkeypatch.setenv("JUPYTER_SERVER_URL", url)
    monkeypatch.setenv("JUPYTER_TOKEN", token)
    # When share() is called with a path only, Then it shares through that server
    result = await run(share, demo_in_root)
    assert result.created is True
    assert f":{jp_http_port}/" in result.url


def _on_a_hub(monkeypatch, own_server: str, token: str) -> None:
    """The environment JupyterHub's spawner gives a single-user server and its kernels
    (``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_API_TOKEN``), with ``CONVSHARE_SERVICE_URL``
    from ``c.Spawner.environment`` naming a service that is not running."""
    for name in ("JUPYTER_SERVER_URL", "JUPYTER_TOKEN", "JPY_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONVSHARE_SERVICE_URL", "http://127.0.0.1:9/services/convshare/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", token)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", own_server)


async def test_on_a_hub_the_users_own_server_is_preferred_when_it_runs_the_extension(
    server, monkeypatch, jp_http_port, jp_base_url, jp_root_dir
):
    # Given a kernel of a hub single-user server whose spawner bound it to all interfaces
    # ("http://:<port>/user/..."; here the test server stands for her server)
    url, token = server
    _on_a_hub(monkeypatch, f"http://:{jp_http_port}{jp_base_url}", token)
    # When the server is discovered
    info = await run(discover_server)
    # Then it is her own server (which forwards to the service and follows her files),
    # reached on loopback, with its root from convshare/api/info
    assert (info.url, info.token) == (url, token)
    assert Path(info.root_dir).resolve() == Path(jp_root_dir).resolve()


async def test_on_a_hub_a_file_of_the_users_home_is_shared_by_path(
    server, monkeypatch, jp_http_port, jp_base_url, demo_in_root, service, convshare_app
):
    # Given a kernel on a hub whose own server runs the extension
    url, token = server
    _on_a_hub(monkeypatch, f"http://127.0.0.1:{jp_http_port}{jp_base_url}", token)
    # When share() is given a .chat file of the server's root
    result = await run(share, demo_in_root)
    # Then the server read the file itself: a live share that follows it
    assert result.created is True
    assert f":{jp_http_port}/" in result.url
    stored = service.get_conversation(convshare_app.owner, result.conversation_id)
    assert stored.source.path == "sales-analysis.chat"
    assert result.mode == "live"


async def test_on_a_hub_the_service_is_used_when_the_own_server_refuses_or_lacks_the_extension(
    server, monkeypatch, jp_http_port, jp_base_url
):
    # Given her server refuses the token (e.g. server_token_scopes without access:servers)
    _on_a_hub(monkeypatch, f"http://127.0.0.1:{jp_http_port}{jp_base_url}", "not-her-token")
    # When the server is discovered, Then it is the hub's service (with the hub token)
    info = await run(discover_server)
    assert (info.url, info.token) == ("http://127.0.0.1:9/services/convshare/", "not-her-token")
    # and the same when her server has no convshare API at that address
    url, token = server
    _on_a_hub(monkeypatch, f"http://127.0.0.1:{jp_http_port}{jp_base_url}no-such-server/", token)
    info = await run(discover_server)
    assert info.url == "http://127.0.0.1:9/services/convshare/"


def test_on_a_hub_the_service_is_used_when_the_own_server_is_unreachable(monkeypatch):
    # Given JUPYTERHUB_SERVICE_URL names a port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _on_a_hub(monkeypatch, f"http://127.0.0.1:{port}/user/ada/", "hub-token")
    # When the server is discovered, Then it is the service
    info = discover_server()
    assert (info.url, info.token, info.root_dir) == ("http://127.0.0.1:9/services/convshare/", "hub-token", None)


def test_no_server_found_is_a_clear_error(monkeypatch, tmp_path):
    # Given no environment and an empty runtime dir
    monkeypatch.delenv("JUPYTER_SERVER_URL", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    # When a server is discovered, Then the error says how to name one
    with pytest.raises(ConvShareClientError, match="no running Jupyter server found"):
        discover_server()


# -- display --------------------------------------------------------------------------------


def _share(**overrides) -> Share:
    values = {
        "share_id": "abc123",
        "url": "http://localhost:8888/convshare/s/" + "A" * 43,
        "conversation_id": "c1",
        "expires_at": datetime.now(timezone.utc) + timedelta(days=7),
        "title": "Sales",
        "created": True,
    }
    values.update(overrides)
    return Share(**values)


def test_html_repr_shows_link_qr_and_expiry():
    # Given a share, When it is displayed as HTML
    shown = _share()._repr_html_()
    # Then it has a safe link, the copyable URL, an inline SVG QR code and the expiry
    assert f'<a href="{_share().url}" target="_blank" rel="noopener noreferrer">' in shown
    assert 'user-select:all' in shown
    match = re.search(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', shown)
    assert match and b"<svg" in base64.b64decode(match.group(1))
    assert "(in 7 days)" in shown


def test_html_repr_escapes_a_hostile_title_and_warnings():
    # Given a title and a warning that carry markup
    hostile = _share(
        title='<script>alert(1)</script><img src=x onerror="alert(2)">',
        warnings=[{"kind": "api_key", "message": "<b onmouseover=alert(3)>key</b>", "message_id": "1"}],
    )
    # When it is displayed, Then no tag from them survives
    shown = hostile._repr_html_()
    assert "<script>" not in shown
    assert "<img src=x" not in shown
    assert "<b onmouseover" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown


def test_html_repr_never_makes_a_javascript_link():
    # Given a share whose URL is not http(s) (a broken or hostile server)
    shown = _share(url='javascript:alert(1)//"><b>x</b>')._repr_html_()
    # Then it is shown as text, not as a link
    assert "href=" not in shown
    assert "<b>x</b>" not in shown


def test_plain_text_repr_and_mimebundle():
    # Given a share that never expires
    item = _share(expires_at=None)
    # When it is shown as text, Then the link and the expiry are there
    text = repr(item)
    assert item.url in text
    assert "expires: never" in text
    bundle = item._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == text


def test_share_qr_codes_are_made_locally():
    # Given a share, When its QR codes are made, Then they are an SVG and a PNG
    item = _share()
    assert b"<svg" in item.qr_svg()
    assert item.qr_png().startswith(b"\x89PNG")


async def test_share_from_a_kernel_finds_the_server_that_runs_it(
    server, client, jp_serverapp, jp_runtime_dir, monkeypatch, demo_in_root
):
    # Given a kernel started by the test server, and a second "running server" info file
    # (so that "the only running server" cannot be the answer: the kernel id must decide)
    monkeypatch.delenv("JUPYTER_SERVER_URL", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    decoy = {"url": f"http://127.0.0.1:{free_port}/", "token": "x", "pid": os.getpid(), "root_dir": "/"}
    (Path(jp_runtime_dir) / "jpserver-decoy.json").write_text(json.dumps(decoy))
    manager = jp_serverapp.kernel_manager
    kernel_id = await manager.start_kernel(kernel_name="python3")
    # A client made by the kernel's own manager asks the manager (not the heartbeat,
    # which has not beaten yet) whether the kernel is alive.
    kernel = manager.get_kernel(kernel_id).client()
    kernel.start_channels()
    try:
        await kernel.wait_for_ready(timeout=120)
        # When code in the kernel calls share() with no server arguments
        code = "from jupyter_convshare import share\ns = share('sales-analysis.chat')\nprint(s.share_id)"
        outputs: list[str] = []
        reply = await kernel.execute_interactive(
            code, timeout=120, output_hook=lambda msg: outputs.append(msg["content"].get("text", ""))
        )
        # Then it shared through the server running the kernel
        assert reply["content"]["status"] == "ok", reply["content"]
        assert "".join(outputs).strip() == (await run(client.list_shares))[0].share_id
    finally:
        kernel.stop_channels()
        await manager.shutdown_kernel(kernel_id, now=True)
