"""The REST API, ``{base_url}convshare/api/...`` (contract 5), against a real Jupyter server.

Every test starts a pytest-jupyter server with the extension enabled, a temporary Jupyter
root (``jp_root_dir``) and a temporary store (conftest). The base URL is pytest-jupyter's
``/a%40b/``, which catches hand-joined URLs.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest

from jupyter_convshare.core.errors import NotFound

from .conftest import real_fixture, real_params
from .server_helpers import (
    body_json,
    chat_document,
    chat_message,
    make_api,
    two_message_chat,
    write_chat,
)

SHARE_KEYS = {
    "share_id", "url", "conversation_id", "title", "mode", "expires_at", "created_at",
    "updated_at", "snapshot_at", "view_count", "last_accessed_at",
}
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


@pytest.fixture
def fixed_clock(service):
    """Freeze the service clock at NOW (expiry tests are exact)."""
    now = {"t": NOW}
    service.clock = lambda: now["t"]
    return now


@pytest.fixture
def chat_path(jp_root_dir):
    write_chat(jp_root_dir, "chats/pandas.chat", two_message_chat())
    return "chats/pandas.chat"


def assert_error(response, status, field=None, reason=None):
    """The response is a JSON error ``{"message", "reason", "field"}`` with this status."""
    assert response.code == status, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    body = body_json(response)
    assert set(body) == {"message", "reason", "field"}, body
    assert body["message"]
    if field is not None:
        assert body["field"] == field, body
    if reason is not None:
        assert body["reason"] == reason, body
    return body


async def create_share(api, **body):
    response = await api("POST", "shares", body=body)
    assert response.code in (200, 201), response.body
    return body_json(response)


# -- info -------------------------------------------------------------------------------


async def test_info_describes_the_server(api, convshare_app):
    response = await api("GET", "info")
    assert response.code == 200
    info = body_json(response)
    assert info["owner"] == convshare_app.owner
    assert info["default_expires"] == "7d"
    assert info["expiry_presets"] == ["1h", "24h", "7d", "30d", "never"]
    assert info["modes"] == ["live", "snapshot"]
    assert set(info["export_formats"]) >= {"json", "csv", "parquet", "md"}


async def test_info_gives_the_version_and_the_contents_root(api, jp_root_dir):
    # A notebook client turns a local file path into a root-relative one with root_dir
    from jupyter_convshare import __version__

    info = body_json(await api("GET", "info"))
    assert info["version"] == __version__
    assert info["root_dir"] == str(jp_root_dir.resolve())


async def test_info_needs_authentication(jp_fetch):
    # The contents root is the owner's business: no token, no answer
    response = await jp_fetch("convshare", "api", "info", headers={"Authorization": ""}, raise_error=False)
    assert response.code == 403


async def test_api_answers_are_not_cached(api):
    # The answers carry secret links: no shared cache may keep them
    response = await api("GET", "shares")
    assert "no-store" in response.headers["Cache-Control"]


# -- creating shares ----------------------------------------------------------------------


async def test_share_a_chat_file_by_path(api, chat_path, jp_base_url):
    # Given a .chat file in the Jupyter root, When the owner shares it by path
    response = await api("POST", "shares", body={"path": chat_path})
    # Then a new share is created with an absolute link under the base URL
    assert response.code == 201
    share = body_json(response)
    assert SHARE_KEYS <= set(share)
    assert share["created"] is True
    assert share["warnings"] == []
    assert share["mode"] == "live"
    assert share["url"].startswith("http")
    assert f"{jp_base_url}convshare/s/" in share["url"]
    link = share["url"].rsplit("/", 1)[1]
    assert len(link) >= 22


async def test_sharing_the_same_path_again_returns_the_existing_share(api, chat_path):
    first = await create_share(api, path=chat_path)
    # When the same file is shared again
    response = await api("POST", "shares", body={"path": chat_path, "expires": "1h"})
    # Then the existing share and link come back with 200, unchanged
    assert response.code == 200
    again = body_json(response)
    assert again["created"] is False
    assert again["share_id"] == first["share_id"]
    assert again["url"] == first["url"]
    assert again["expires_at"] == first["expires_at"]


async def test_sharing_again_after_expiry_gives_a_new_link(api, chat_path, fixed_clock):
    # Given a share whose link has expired
    first = await create_share(api, path=chat_path, expires="1h")
    fixed_clock["t"] = NOW + timedelta(hours=2)
    # When the same file is shared again
    response = await api("POST", "shares", body={"path": chat_path})
    # Then a new share and link come back with 201, and the dead one is not listed
    assert response.code == 201
    again = body_json(response)
    assert again["created"] is True
    assert again["share_id"] != first["share_id"] and again["url"] != first["url"]
    listed = body_json(await api("GET", "shares"))["shares"]
    assert [s["share_id"] for s in listed] == [again["share_id"]]


async def test_resharing_a_path_resyncs_the_stored_conversation(api, chat_path, jp_root_dir, service, convshare_app):
    first = await create_share(api, path=chat_path)
    document = two_message_chat()
    document["messages"].append(chat_message("m3", "And Excel files?", 1781233000.0))
    write_chat(jp_root_dir, chat_path, document)
    # When the file is shared again after a change
    await create_share(api, path=chat_path)
    # Then the stored conversation has the new message
    stored = service.get_conversation(convshare_app.owner, first["conversation_id"])
    assert "m3" in stored.messages


async def test_share_a_posted_openai_message_list(api):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    response = await api("POST", "shares", body={"conversation": messages, "title": "Arithmetic"})
    assert response.code == 201
    share = body_json(response)
    assert share["title"] == "Arithmetic"


async def test_share_a_posted_chat_document_with_format_and_name(api):
    response = await api(
        "POST", "shares",
        body={"conversation": two_message_chat(), "format": "jupyterlab-chat", "name": "posted.chat"},
    )
    assert response.code == 201


async def test_share_a_stored_conversation_by_id(api):
    imported = await api("POST", "conversations", body={"conversation": two_message_chat()})
    assert imported.code == 201
    conversation_id = body_json(imported)["id"]
    share = await create_share(api, conversation_id=conversation_id, mode="snapshot")
    assert share["conversation_id"] == conversation_id
    assert share["mode"] == "snapshot"
    assert share["snapshot_at"] is not None


async def test_uploaded_files_become_available_attachments(api, service, convshare_app):
    data = b"col\n1\n2\n"
    share = await create_share(
        api,
        conversation=two_message_chat(),
        files=[{"name": "../../etc/data.csv", "content_base64": base64.b64encode(data).decode(), "mime_type": "text/csv"}],
    )
    conversation = service.get_conversation(convshare_app.owner, share["conversation_id"])
    (attachment,) = conversation.attachments.values()
    # Then the bytes are stored, and the name is a safe base name
    assert attachment.available is True
    assert attachment.name == "data.csv"
    assert attachment.sha256 == hashlib.sha256(data).hexdigest()
    with open(service.blob_path(attachment.sha256), "rb") as f:
        assert f.read() == data


async def test_secrets_in_the_content_are_reported_as_warnings(api):
    key = "sk-" + "proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
    document = chat_document([chat_message("m1", f"my key is {key} please help", 1781232974.0)])
    share = await create_share(api, conversation=document)
    assert share["warnings"], share
    warning = share["warnings"][0]
    assert set(warning) >= {"kind", "message", "message_id"}
    assert warning["message_id"] == "m1"
    assert key not in json.dumps(share["warnings"])  # the warning never repeats the secret


# -- attachments through the contents manager --------------------------------------------------


async def test_chat_attachments_are_read_through_the_contents_manager(api, jp_root_dir, service, convshare_app):
    # Given a .chat whose message attaches a file by root-relative path, and one missing file
    (jp_root_dir / "data").mkdir()
    (jp_root_dir / "data" / "notes.txt").write_bytes(b"hello attachments\n")
    document = chat_document(
        [chat_message("m1", "see files", 1781232974.0, attachments=["a1", "a2"])],
        attachments={
            "a1": {"type": "file", "value": "data/notes.txt"},
            "a2": {"type": "file", "value": "data/missing.txt"},
        },
    )
    write_chat(jp_root_dir, "sub/with-files.chat", document)
    # When it is shared
    share = await create_share(api, path="sub/with-files.chat")
    conversation = service.get_conversation(convshare_app.owner, share["conversation_id"])
    # Then the readable attachment's bytes are stored; the missing one stays a reference
    a1, a2 = conversation.attachments["a1"], conversation.attachments["a2"]
    assert a1.available is True
    assert a1.sha256 == hashlib.sha256(b"hello attachments\n").hexdigest()
    assert a2.available is False
    assert any("missing.txt" in w for w in conversation.source.warnings)
    # And the source path is root-relative, never absolute
    assert conversation.source.path == "sub/with-files.chat"
    assert str(jp_root_dir) not in json.dumps(conversation.to_dict())


async def test_attachments_outside_the_root_or_hidden_are_not_read(api, jp_root_dir, tmp_path, service, convshare_app):
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("not for sharing")
    (jp_root_dir / ".hidden").mkdir()
    (jp_root_dir / ".hidden" / "key.txt").write_text("hidden")
    document = chat_document(
        [chat_message("m1", "files", 1781232974.0, attachments=["up", "abs", "hid"])],
        attachments={
            "up": {"type": "file", "value": "../outside-secret.txt"},
            "abs": {"type": "file", "value": str(outside)},
            "hid": {"type": "file", "value": ".hidden/key.txt"},
        },
    )
    write_chat(jp_root_dir, "escape.chat", document)
    share = await create_share(api, path="escape.chat")
    conversation = service.get_conversation(convshare_app.owner, share["conversation_id"])
    assert [a.available for a in conversation.attachments.values()] == [False, False, False]


async def test_real_chat_with_a_notebook_attachment_gets_the_ipynb_bytes(api, jp_root_dir, service, convshare_app):
    # Given a real jupyterlab-chat file (copied into the tmp root at test time) and its attachment
    source = real_fixture("jupyterlab-chat", "Naren1122__Road_To_Data_Science_Python", "untitled.chat")
    shutil.copyfile(source, jp_root_dir / "untitled.chat")
    notebook = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'
    (jp_root_dir / "inheritance").mkdir()
    (jp_root_dir / "inheritance" / "Untitled.ipynb").write_bytes(notebook)
    share = await create_share(api, path="untitled.chat")
    conversation = service.get_conversation(convshare_app.owner, share["conversation_id"])
    (attachment,) = conversation.attachments.values()
    assert attachment.available is True
    with open(service.blob_path(attachment.sha256), "rb") as f:
        assert f.read() == notebook


@pytest.mark.fixtures_real
@pytest.mark.parametrize("source", real_params("jupyterlab-chat/*/*.chat"))
async def test_every_real_chat_file_can_be_shared_by_path(api, jp_root_dir, source):
    shutil.copyfile(source, jp_root_dir / source.name)
    response = await api("POST", "shares", body={"path": source.name})
    assert response.code == 201, response.body


# -- bad requests ---------------------------------------------------------------------------


async def test_invalid_json_is_a_400_naming_the_body(api):
    assert_error(await api("POST", "shares", body=b"{not json"), 400, field="body")


async def test_a_json_array_body_is_a_400(api):
    assert_error(await api("POST", "shares", body=b"[1, 2]"), 400, field="body")


async def test_unknown_keys_are_a_400_naming_the_key(api, chat_path):
    assert_error(await api("POST", "shares", body={"path": chat_path, "expiry": "1h"}), 400, field="expiry")


async def test_a_wrongly_typed_field_is_a_400_naming_it(api, chat_path):
    assert_error(await api("POST", "shares", body={"path": chat_path, "title": 5}), 400, field="title")
    assert_error(await api("POST", "shares", body={"path": chat_path, "index": "0"}), 400, field="index")
    assert_error(await api("POST", "shares", body={"path": 7}), 400, field="path")


async def test_exactly_one_source_is_required(api, chat_path):
    assert_error(await api("POST", "shares", body={}), 400)
    assert_error(
        await api("POST", "shares", body={"path": chat_path, "conversation": two_message_chat()}), 400
    )


@pytest.mark.parametrize("expires", ["2d", "tomorrow", 3600, "2001-01-01T00:00:00Z"])
async def test_a_bad_expiry_is_a_400_naming_expires(api, chat_path, fixed_clock, expires):
    assert_error(await api("POST", "shares", body={"path": chat_path, "expires": expires}), 400, field="expires")


async def test_an_unknown_mode_is_a_400_naming_mode(api, chat_path):
    assert_error(await api("POST", "shares", body={"path": chat_path, "mode": "frozen"}), 400, field="mode")


async def test_a_missing_path_is_a_404_naming_the_path(api):
    body = assert_error(await api("POST", "shares", body={"path": "nope/absent.chat"}), 404, field="path")
    assert "nope/absent.chat" in body["message"]


@pytest.mark.parametrize("path", ["../outside.chat", "a/../../outside.chat"])
async def test_a_path_outside_the_root_is_refused(api, path, jp_root_dir):
    (jp_root_dir.parent / "outside.chat").write_text(json.dumps(two_message_chat()))
    response = await api("POST", "shares", body={"path": path})
    assert_error(response, response.code, field="path")
    assert response.code in (403, 404)


async def test_a_directory_is_a_400(api, jp_root_dir):
    (jp_root_dir / "folder").mkdir()
    assert_error(await api("POST", "shares", body={"path": "folder"}), 400, field="path")


async def test_a_file_that_is_not_a_conversation_is_a_400_import_failed(api, jp_root_dir):
    (jp_root_dir / "broken.chat").write_text('{"messages": [{"id": 1}]')
    body = assert_error(await api("POST", "shares", body={"path": "broken.chat"}), 400, reason="import_failed")
    assert "broken.chat" in body["message"]


async def test_a_posted_non_conversation_is_a_400(api):
    assert_error(await api("POST", "shares", body={"conversation": 42}), 400, field="conversation")
    assert_error(await api("POST", "shares", body={"conversation": {"hello": "world"}}), 400)


async def test_bad_base64_in_files_is_a_400(api):
    body = {"conversation": two_message_chat(), "files": [{"name": "a.txt", "content_base64": "***"}]}
    assert_error(await api("POST", "shares", body=body), 400, field="files[0].content_base64")


async def test_an_unknown_conversation_id_is_a_404(api):
    assert_error(await api("POST", "shares", body={"conversation_id": "no-such-id"}), 404)


@pytest.fixture
def small_limits(jp_server_config):
    jp_server_config["ConvShareApp"]["max_import_bytes"] = 2000
    jp_server_config["ConvShareApp"]["max_attachment_bytes"] = 10
    return jp_server_config


async def test_an_oversized_body_is_a_413(small_limits, api):
    big = {"conversation": [{"role": "user", "content": "x" * 5000}]}
    assert_error(await api("POST", "shares", body=big), 413, reason="too_large")


async def test_an_oversized_file_by_path_is_a_413(small_limits, api, jp_root_dir):
    document = chat_document([chat_message("m1", "x" * 5000, 1781232974.0)])
    write_chat(jp_root_dir, "big.chat", document)
    assert_error(await api("POST", "shares", body={"path": "big.chat"}), 413, field="path")


async def test_an_oversized_upload_is_a_413(small_limits, api):
    body = {
        "conversation": [{"role": "user", "content": "hi"}],
        "files": [{"name": "a.bin", "content_base64": base64.b64encode(b"0123456789abcdef").decode()}],
    }
    assert_error(await api("POST", "shares", body=body), 413, field="files[0].content_base64")


async def test_an_oversized_attachment_by_reference_stays_unavailable(small_limits, api, jp_root_dir, service, convshare_app):
    (jp_root_dir / "big.txt").write_bytes(b"x" * 100)
    document = chat_document(
        [chat_message("m1", "f", 1781232974.0, attachments=["a"])],
        attachments={"a": {"type": "file", "value": "big.txt"}},
    )
    write_chat(jp_root_dir, "att.chat", document)
    share = await create_share(api, path="att.chat")
    conversation = service.get_conversation(convshare_app.owner, share["conversation_id"])
    assert conversation.attachments["a"].available is False
    assert any("big.txt" in w for w in conversation.source.warnings)


async def test_an_unexpected_error_is_a_500_without_details(api, service, monkeypatch):
    # Given a fault deep in the service (injected), When a request hits it
    def broken(owner):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(service, "list_shares", broken)
    response = await api("GET", "shares")
    # Then the client gets a generic 500: no message, no traceback
    body = assert_error(response, 500, reason="internal_error")
    assert "hunter2" not in response.body.decode()
    assert "Traceback" not in response.body.decode()
    assert body["message"] == "internal server error"


# -- expiry -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "preset, delta",
    [("1h", timedelta(hours=1)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)),
     ("30d", timedelta(days=30)), ("never", None)],
)
async def test_expiry_presets(api, chat_path, fixed_clock, preset, delta):
    share = await create_share(api, path=chat_path, expires=preset)
    if delta is None:
        assert share["expires_at"] is None
    else:
        assert datetime.fromisoformat(share["expires_at"].replace("Z", "+00:00")) == NOW + delta


async def test_default_expiry_is_seven_days(api, chat_path, fixed_clock):
    share = await create_share(api, path=chat_path)
    assert datetime.fromisoformat(share["expires_at"].replace("Z", "+00:00")) == NOW + timedelta(days=7)


async def test_an_explicit_expiry_time(api, chat_path, fixed_clock):
    share = await create_share(api, path=chat_path, expires="2030-02-01T00:00:00Z")
    assert share["expires_at"].startswith("2030-02-01T00:00:00")


@pytest.fixture
def never_forbidden(jp_server_config):
    jp_server_config["ConvShareApp"]["allow_never_expires"] = False
    return jp_server_config


async def test_never_is_refused_when_the_admin_forbids_it(never_forbidden, api, chat_path):
    assert_error(await api("POST", "shares", body={"path": chat_path, "expires": "never"}), 400, field="expires")
    assert_error(await api("POST", "shares", body={"path": chat_path, "expires": None}), 400, field="expires")
    info = body_json(await api("GET", "info"))
    assert "never" not in info["expiry_presets"]


# -- managing shares ------------------------------------------------------------------------


async def test_list_and_get_shares(api, chat_path):
    share = await create_share(api, path=chat_path)
    listed = body_json(await api("GET", "shares"))["shares"]
    assert [s["share_id"] for s in listed] == [share["share_id"]]
    got = body_json(await api("GET", "shares", share["share_id"]))
    assert got["url"] == share["url"]


async def test_an_unknown_share_id_is_a_404_everywhere(api):
    for method, parts in [("GET", ()), ("PATCH", ()), ("DELETE", ()), ("POST", ("rotate",)),
                          ("POST", ("snapshot",)), ("GET", ("qr.svg",)), ("GET", ("qr.png",))]:
        body = {"mode": "live"} if method == "PATCH" else None
        assert_error(await api(method, "shares", "no-such-share", *parts, body=body), 404, reason="not_found")


async def test_patch_changes_expiry_and_mode_but_keeps_the_url(api, chat_path, fixed_clock):
    share = await create_share(api, path=chat_path)
    response = await api("PATCH", "shares", share["share_id"], body={"expires": "1h", "mode": "snapshot"})
    assert response.code == 200
    patched = body_json(response)
    assert patched["url"] == share["url"]
    assert patched["mode"] == "snapshot"
    assert datetime.fromisoformat(patched["expires_at"].replace("Z", "+00:00")) == NOW + timedelta(hours=1)


async def test_patch_validates_its_body(api, chat_path):
    share = await create_share(api, path=chat_path)
    assert_error(await api("PATCH", "shares", share["share_id"], body={"link": "x"}), 400, field="link")
    assert_error(await api("PATCH", "shares", share["share_id"], body={"mode": "x"}), 400, field="mode")
    assert_error(await api("PATCH", "shares", share["share_id"], body={"expires": "2d"}), 400, field="expires")


async def test_update_snapshot_keeps_the_url(api, chat_path, fixed_clock):
    share = await create_share(api, path=chat_path, mode="snapshot")
    fixed_clock["t"] = NOW + timedelta(minutes=5)
    response = await api("POST", "shares", share["share_id"], "snapshot")
    assert response.code == 200
    updated = body_json(response)
    assert updated["url"] == share["url"]
    assert updated["snapshot_at"] != share["snapshot_at"]


async def test_update_snapshot_of_a_live_share_is_a_400(api, chat_path):
    share = await create_share(api, path=chat_path)
    assert_error(await api("POST", "shares", share["share_id"], "snapshot"), 400, field="mode")


async def test_rotate_gives_a_new_link_and_kills_the_old(api, chat_path, jp_fetch, convshare_app):
    share = await create_share(api, path=chat_path)
    old_link = share["url"].rsplit("/", 1)[1]
    response = await api("POST", "shares", share["share_id"], "rotate")
    assert response.code == 200
    rotated = body_json(response)
    assert rotated["share_id"] == share["share_id"]
    assert rotated["url"] != share["url"]
    with pytest.raises(NotFound):
        await convshare_app.resolve_link(old_link)
    new_link = rotated["url"].rsplit("/", 1)[1]
    assert (await convshare_app.resolve_link(new_link)).share.share_id == share["share_id"]
    assert (await jp_fetch("convshare", "s", old_link, raise_error=False)).code == 404


async def test_revoke_makes_the_viewer_404_at_once(api, chat_path, jp_fetch):
    share = await create_share(api, path=chat_path)
    link = share["url"].rsplit("/", 1)[1]
    assert (await jp_fetch("convshare", "s", link, raise_error=False)).code == 200
    response = await api("DELETE", "shares", share["share_id"])
    assert response.code == 204
    assert response.body == b""
    assert (await jp_fetch("convshare", "s", link, raise_error=False)).code == 404
    assert_error(await api("GET", "shares", share["share_id"]), 404)


async def test_revoke_all(api, jp_root_dir):
    for name in ("a.chat", "b.chat"):
        document = two_message_chat()
        document["metadata"]["id"] = name
        write_chat(jp_root_dir, name, document)
        await create_share(api, path=name)
    response = await api("DELETE", "shares")
    assert response.code == 200
    assert body_json(response) == {"revoked": 2}
    assert body_json(await api("GET", "shares"))["shares"] == []


# -- QR codes -------------------------------------------------------------------------------


async def test_qr_svg(api, chat_path):
    share = await create_share(api, path=chat_path)
    response = await api("GET", "shares", share["share_id"], "qr.svg")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in response.body
    assert b"<script" not in response.body


async def test_qr_png_decodes_to_the_share_url(api, chat_path):
    zxingcpp = pytest.importorskip("zxingcpp")
    image_module = pytest.importorskip("PIL.Image")
    share = await create_share(api, path=chat_path)
    response = await api("GET", "shares", share["share_id"], "qr.png")
    assert response.code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.body[:8] == b"\x89PNG\r\n\x1a\n"
    (decoded,) = zxingcpp.read_barcodes(image_module.open(io.BytesIO(response.body)))
    assert decoded.text == share["url"]


# -- conversations ----------------------------------------------------------------------------


async def test_import_list_get_patch_delete_a_conversation(api, chat_path):
    created = await api("POST", "conversations", body={"path": chat_path})
    assert created.code == 201
    conversation_id = body_json(created)["id"]
    again = await api("POST", "conversations", body={"path": chat_path})
    assert again.code == 200 and body_json(again)["id"] == conversation_id

    listed = body_json(await api("GET", "conversations"))["conversations"]
    assert [c["id"] for c in listed] == [conversation_id]

    got = body_json(await api("GET", "conversations", conversation_id))
    assert got["conversation"]["schema"] == "convshare/1"
    assert set(got["conversation"]["messages"]) == {"m1", "m2"}

    patched = await api("PATCH", "conversations", conversation_id, body={"title": "Pandas help"})
    assert patched.code == 200 and body_json(patched)["title"] == "Pandas help"
    assert_error(await api("PATCH", "conversations", conversation_id, body={"tags": "x"}), 400, field="tags")

    assert (await api("DELETE", "conversations", conversation_id)).code == 204
    assert_error(await api("GET", "conversations", conversation_id), 404)


async def test_deleting_a_conversation_revokes_its_shares(api, chat_path, convshare_app):
    share = await create_share(api, path=chat_path)
    await api("DELETE", "conversations", share["conversation_id"])
    assert_error(await api("GET", "shares", share["share_id"]), 404)
    with pytest.raises(NotFound):
        await convshare_app.resolve_link(share["url"].rsplit("/", 1)[1])


@pytest.mark.parametrize(
    "fmt, media_type, extension",
    [("json", "application/json", ".json"), ("csv", "text/csv", ".csv"),
     ("parquet", "application/vnd.apache.parquet", ".parquet"), ("md", "text/markdown", ".md")],
)
async def test_export_formats(api, chat_path, fmt, media_type, extension):
    share = await create_share(api, path=chat_path)
    response = await api("GET", "conversations", share["conversation_id"], "export", params={"format": fmt})
    assert response.code == 200
    assert response.headers["Content-Type"].split(";")[0] == media_type
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and extension in disposition
    if fmt == "json":
        assert json.loads(response.body)["schema"] == "convshare/1"
    if fmt == "parquet":
        assert response.body[:4] == b"PAR1"


async def test_export_of_a_system_prompt_keeps_it_for_the_owner(api):
    messages = [{"role": "system", "content": "SECRET-PERSONA"}, {"role": "user", "content": "hi"}]
    share = await create_share(api, conversation=messages)
    response = await api("GET", "conversations", share["conversation_id"], "export", params={"format": "json"})
    assert b"SECRET-PERSONA" in response.body


async def test_export_errors(api, chat_path):
    share = await create_share(api, path=chat_path)
    assert_error(
        await api("GET", "conversations", share["conversation_id"], "export", params={"format": "exe"}),
        400, field="format",
    )
    assert_error(await api("GET", "conversations", "nope", "export", params={"format": "json"}), 404)



async def test_index_picks_one_conversation_of_a_multi_conversation_file(api, jp_root_dir):
    lines = [
        json.dumps([{"role": "user", "content": "first?"}, {"role": "assistant", "content": "one"}]),
        json.dumps([{"role": "user", "content": "second?"}, {"role": "assistant", "content": "two"}]),
    ]
    (jp_root_dir / "two.jsonl").write_text("\n".join(lines) + "\n")
    assert_error(await api("POST", "shares", body={"path": "two.jsonl"}), 400, reason="import_failed")
    response = await api("POST", "shares", body={"path": "two.jsonl", "index": 1})
    assert response.code == 201


async def test_a_renamed_conversation_shows_its_title_in_the_share(api, chat_path):
    share = await create_share(api, path=chat_path)
    await api("PATCH", "conversations", share["conversation_id"], body={"title": "Reading CSV files"})
    assert body_json(await api("GET", "shares", share["share_id"]))["title"] == "Reading CSV files"


@pytest.mark.filterwarnings("ignore:The synchronous ContentsManager:DeprecationWarning")
class TestSyncContentsManager:
    """The same reads through a synchronous contents manager (``ensure_async`` path)."""

    @pytest.fixture
    def jp_server_config(self, jp_server_config):
        jp_server_config["ServerApp"]["contents_manager_class"] = (
            "jupyter_server.services.contents.largefilemanager.LargeFileManager"
        )
        return jp_server_config

    async def test_share_by_path_with_an_attachment(self, api, jp_root_dir, jp_serverapp, service, convshare_app):
        assert not type(jp_serverapp.contents_manager).__name__.startswith("Async")
        (jp_root_dir / "notes.txt").write_bytes(b"sync bytes")
        document = chat_document(
            [chat_message("m1", "f", 1781232974.0, attachments=["a"])],
            attachments={"a": {"type": "file", "value": "notes.txt"}},
        )
        write_chat(jp_root_dir, "sync.chat", document)
        share = await create_share(api, path="sync.chat")
        conversation = service.get_conversation(convshare_app.owner, share["conversation_id"])
        assert conversation.attachments["a"].available is True
        assert_error(await api("POST", "shares", body={"path": "absent.chat"}), 404, field="path")
