"""Data-export ZIPs (``core.importers.archive`` through ``stream.prepare``): the archive
ChatGPT sends is imported as it is, its conversations streamed out of
``conversations.json`` and the files they refer to stored as real blobs; a Claude.ai
export ZIP imports its conversations; hostile archives (zip bombs, path traversal,
symbolic links, nested and encrypted archives, lying headers) are refused or kept inert.

The ZIPs are built in tmp from the real fixtures, read in place from ../shared (skipped,
saying so, when absent), plus small generated PNG bytes.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from jupyter_convshare.core.errors import ImportFailed, TooLarge
from jupyter_convshare.core.importers.archive import ZipLimits
from jupyter_convshare.core.importers.stream import prepare
from jupyter_convshare.core.shares import ShareService

from .conftest import real_fixture
from .test_cli import cli, cli_env, store  # noqa: F401

IMAGE_GENERATION = ("chatgpt", "pionxzh__chatgpt-exporter", "image-generation.json")
POLYLOGUE = ("chatgpt", "Sinity__polylogue", "native-conversation-v1.json")
PKUPPENS = ("chatgpt", "pkuppens__my_chat_gpt", "conversations.json")
CLAUDE = ("claude", "Gsunny45__Claude_Vault", "conversations.json")


def png(rgb: tuple[int, int, int] = (200, 30, 30), size: int = 2) -> bytes:
    """A small valid PNG (``size`` x ``size`` pixels of one colour)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def make_zip(path: Path, entries: dict[str, bytes] | list[tuple[Any, bytes]]) -> Path:
    """Write a deflated ZIP of ``entries`` (name or ZipInfo -> bytes) at ``path``."""
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return path


def chatgpt_export(tmp_path: Path, **extra: bytes) -> Path:
    """A ChatGPT export ZIP: the real image-generation conversation (``sediment://file_1``
    ... ``file_5``), four of its five generated images, and the export's other files."""
    entries = {
        "conversations.json": b"[" + real_fixture(*IMAGE_GENERATION).read_bytes() + b"]",
        "user.json": b'{"email": "someone@example.com", "phone_number": "+1 555"}',
        "chat.html": b"<html>conversations</html>",
        "message_feedback.json": b"[]",
        "dalle-generations/file_1-0b7c1f5e.png": png((255, 0, 0)),
        "dalle-generations/file_2-5aa0e2c9.png": png((0, 255, 0)),
        "file_3-sunset.png": png((0, 0, 255)),
        "user-abc/file_4-another.webp": png((9, 9, 9)),
    }
    entries.update(extra)
    return make_zip(tmp_path / "chatgpt-export.zip", entries)


def import_all(path: Path, store_dir: Path, **options: Any) -> list[str]:
    """Import every picked conversation of ``path`` into the store at ``store_dir``; the ids."""
    service = ShareService.open(store_dir)
    try:
        with prepare(path, **options) as plan:
            return [service.save_conversation("me", conversation, blobs).id
                    for conversation, blobs in plan.conversations()]
    finally:
        service.close()


def stored(store_dir: Path, conversation_id: str):
    service = ShareService.open(store_dir)
    try:
        return service.get_conversation("me", conversation_id)
    finally:
        service.close()


def stored_count(store_dir: Path) -> int:
    service = ShareService.open(store_dir)
    try:
        return len(service.list_conversations("me"))
    finally:
        service.close()


# -- ChatGPT export ZIPs ----------------------------------------------------------------------


def test_a_chatgpt_export_zip_imports_its_conversations_and_stores_the_images(tmp_path: Path) -> None:
    # Given the ZIP ChatGPT sends, holding four of the five images its conversation shows
    path = chatgpt_export(tmp_path)
    # When it is prepared and imported
    with prepare(path) as plan:
        summary = plan.summary
    (conversation_id,) = import_all(path, tmp_path / "store")
    # Then the format is named, the archive too, and the summary counts the files found
    assert (summary.format, summary.archive, summary.streamed) == ("chatgpt", "chatgpt-export.zip", True)
    (listed,) = summary.conversations
    assert (listed.conversation_id, listed.messages, listed.attachments, listed.files) == ("chatgpt:fixture", 24, 5, 4)
    # and each image found is a real blob with its original name, linked to the same part
    conversation = stored(tmp_path / "store", conversation_id)
    first = conversation.attachments["file_1"]
    assert first.available and first.sha256 == hashlib.sha256(png((255, 0, 0))).hexdigest()
    assert (first.name, first.mime_type, first.kind, first.uri) == ("0b7c1f5e.png", "image/png", "image", "sediment://file_1")
    assert first.extra["chatgpt"]["zip_entry"] == "dalle-generations/file_1-0b7c1f5e.png"
    assert conversation.attachments["file_3"].name == "sunset.png"
    assert conversation.attachments["file_4"].mime_type == "image/webp"
    shown = {p.attachment_id for m in conversation.messages.values() for p in m.parts if p.type == "image"}
    assert shown == {"file_1", "file_2", "file_3", "file_4", "file_5"}
    # the image missing from the ZIP stays a reference, and no export file became an attachment
    assert not conversation.attachments["file_5"].available
    blob_dir = tmp_path / "store" / "blobs"
    stored_bytes = {f.read_bytes() for f in blob_dir.rglob("*") if f.is_file()}
    assert png((255, 0, 0)) in stored_bytes and not any(b"someone@example.com" in b for b in stored_bytes)


def test_uploaded_files_named_by_metadata_attachments_are_stored_too(tmp_path: Path) -> None:
    # Given a conversation with an uploaded text file (metadata.attachments) and an image pointer
    path = make_zip(tmp_path / "export.zip", {
        "conversations.json": real_fixture(*POLYLOGUE).read_bytes(),
        "fixture-upload-1-input.txt": b"forty-two bytes of uploaded text, exactly.",
        "fixture-input-image.png": png(),
    })
    # When it is imported
    (conversation_id,) = import_all(path, tmp_path / "store")
    conversation = stored(tmp_path / "store", conversation_id)
    # Then both are blobs, the upload keeps its own name and type, and the user message links them
    upload = conversation.attachments["fixture-upload-1"]
    assert (upload.available, upload.name, upload.mime_type, upload.size_bytes) == (True, "input.txt", "text/plain", 42)
    assert conversation.attachments["fixture-input-image"].available
    assert [p.attachment_id for p in conversation.messages["user"].parts if p.attachment_id] == [
        "fixture-input-image", "fixture-upload-1"]
    assert not conversation.attachments["fixture-output-image"].available


def test_one_conversation_is_picked_out_of_a_whole_export_zip_by_title(tmp_path: Path) -> None:
    # Given a real six-conversation export, zipped
    path = make_zip(tmp_path / "export.zip", {"conversations.json": real_fixture(*PKUPPENS).read_bytes()})
    # When one title is picked
    ids = import_all(path, tmp_path / "store", titles=["GitHub Wikis & Source Code"])
    # Then only that conversation is stored
    assert ids == ["chatgpt:c21a4db5-68eb-471a-b590-bb6ef7b81b42"]
    assert stored_count(tmp_path / "store") == 1


def test_a_claude_export_zip_imports_its_conversations(tmp_path: Path) -> None:
    # Given a Claude.ai export ZIP (conversations, users, projects; no file bytes)
    path = make_zip(tmp_path / "data-2026-05-29.zip", {
        "conversations.json": real_fixture(*CLAUDE).read_bytes(),
        "users.json": b'[{"email_address": "someone@example.com"}]',
        "projects.json": b"[]",
    })
    # When it is imported
    with prepare(path) as plan:
        summary = plan.summary
    ids = import_all(path, tmp_path / "store")
    # Then its three conversations are there, their files kept as references
    assert summary.format == "claude-ai" and len(ids) == 3
    assert all(c.files == 0 for c in summary.conversations)
    for conversation_id in ids:
        assert not any(a.available for a in stored(tmp_path / "store", conversation_id).attachments.values())


def test_an_export_zipped_again_in_its_folder_is_read(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "export.zip", {
        "chatgpt-export/conversations.json": real_fixture(*PKUPPENS).read_bytes(),
    })
    with prepare(path) as plan:
        assert len(plan.summary.conversations) + len(plan.summary.skipped) == 6


def test_the_cli_imports_a_zip_and_says_how_many_files_it_stored(cli, store, tmp_path: Path) -> None:  # noqa: F811
    # Given a ChatGPT export ZIP
    path = chatgpt_export(tmp_path)
    # When jupyter convshare import reads it
    done = cli("import", str(path), "--no-server")
    # Then it names the archive and the files it stored, and the store holds the images
    assert done.returncode == 0, done.stderr
    assert "Format: chatgpt (" in done.stdout and "from the ZIP chatgpt-export.zip" in done.stdout
    assert "Imported 1 conversation (24 messages, 4 attached files)." in done.stdout
    service = ShareService.open(store)
    try:
        conversation = service.get_conversation(getpass.getuser(), "chatgpt:fixture")
    finally:
        service.close()
    assert sum(a.available for a in conversation.attachments.values()) == 4


# -- hostile archives ------------------------------------------------------------------------


def refused(path: Path, expected: str, tmp_path: Path, error: type[Exception] = ImportFailed,
            **options: Any) -> None:
    """``path`` is refused with ``expected`` in the message, nothing stored, nothing written."""
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(error) as caught:
        import_all(path, tmp_path / "store", **options)
    assert expected in str(caught.value)
    assert path.name in str(caught.value)
    assert stored_count(tmp_path / "store") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(before) | {"store"})


@pytest.mark.parametrize("name", ["../file_1-evil.png", "/etc/file_1-evil.png", "dalle/../../file_1-x.png",
                                  "C:/file_1-evil.png", "dalle\\..\\file_1-evil.png", "file_1-\x1b[2J.png"])
def test_an_entry_name_that_climbs_out_is_refused(tmp_path: Path, name: str) -> None:
    # Given an export with one entry whose name is absolute, climbs with '..' or hides control codes
    path = chatgpt_export(tmp_path, **{name: png()})
    # When it is imported, Then the whole archive is refused naming the entry; nothing lands anywhere
    refused(path, "unsafe entry name", tmp_path)


def test_a_symbolic_link_entry_is_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("file_5-link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    entries = list(zipfile.ZipFile(chatgpt_export(tmp_path)).infolist())
    source = zipfile.ZipFile(tmp_path / "chatgpt-export.zip")
    path = make_zip(tmp_path / "linked.zip", [(i.filename, source.read(i)) for i in entries] + [(link, b"/etc/passwd")])
    source.close()
    (tmp_path / "chatgpt-export.zip").unlink()
    refused(path, "is a symbolic link", tmp_path)


def test_a_zip_bomb_in_conversations_json_is_refused(tmp_path: Path) -> None:
    # Given conversations.json padded with 4 MB of blanks (valid JSON, expands ~1000 times)
    padded = real_fixture(*PKUPPENS).read_bytes() + b" " * (4 * 1024 * 1024)
    path = make_zip(tmp_path / "export.zip", {"conversations.json": padded})
    # Then nothing is read out of it
    refused(path, "zip bomb", tmp_path)


def test_a_zip_bomb_attachment_stays_a_reference(tmp_path: Path) -> None:
    # Given an export whose file_5 "image" is 4 MB of zeros
    path = chatgpt_export(tmp_path, **{"file_5-bomb.png": b"\0" * (4 * 1024 * 1024)})
    # When it is imported
    (conversation_id,) = import_all(path, tmp_path / "store")
    conversation = stored(tmp_path / "store", conversation_id)
    # Then the other images are stored, the bomb is not read, and a warning says why
    assert not conversation.attachments["file_5"].available
    assert conversation.attachments["file_1"].available
    assert any("file_5-bomb.png" in w and "zip bomb" in w for w in conversation.source.warnings)


def test_attachments_over_the_file_limit_stay_references(tmp_path: Path) -> None:
    path = chatgpt_export(tmp_path)
    (conversation_id,) = import_all(path, tmp_path / "store", limits=ZipLimits(max_attachment_bytes=10))
    conversation = stored(tmp_path / "store", conversation_id)
    assert not any(a.available for a in conversation.attachments.values())
    assert any("over the 10-byte limit" in w for w in conversation.source.warnings)


def test_an_import_over_the_total_limit_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    path = chatgpt_export(tmp_path)
    limit = len(b"[" + real_fixture(*IMAGE_GENERATION).read_bytes() + b"]") + 100
    refused(path, "pick fewer conversations", tmp_path, error=TooLarge, limits=ZipLimits(max_total_bytes=limit))


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    refused(chatgpt_export(tmp_path), "the limit is 3", tmp_path, error=TooLarge, limits=ZipLimits(max_entries=3))


def test_a_lying_size_header_is_damage_found_before_anything_is_stored(tmp_path: Path) -> None:
    # Given an export whose central directory says file_2 is 8 bytes long (it is longer)
    path = chatgpt_export(tmp_path)
    raw = bytearray(path.read_bytes())
    central = central_header(raw, b"dalle-generations/file_2-5aa0e2c9.png")
    raw[central + 24:central + 28] = struct.pack("<I", 8)
    path.write_bytes(bytes(raw))
    # When it is imported, Then it fails as damaged before the conversation is stored
    refused(path, "is damaged", tmp_path)


def test_a_nested_archive_is_never_opened(tmp_path: Path) -> None:
    # Given a ZIP whose only content is another ZIP holding the export
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("conversations.json", real_fixture(*PKUPPENS).read_bytes())
    path = make_zip(tmp_path / "outer.zip", {"chatgpt-export.zip": inner.getvalue()})
    # Then there is no conversations.json to import
    refused(path, "no conversations.json at the top of the ZIP", tmp_path)


def test_a_zip_attachment_is_stored_as_opaque_bytes(tmp_path: Path) -> None:
    # Given an uploaded file that is itself a zip bomb (a ZIP of 4 MB of zeros)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (4 * 1024 * 1024))
    path = chatgpt_export(tmp_path, **{"file_5-archive.zip": inner.getvalue()})
    (conversation_id,) = import_all(path, tmp_path / "store")
    # Then it is stored as the few KB it is, never expanded
    attachment = stored(tmp_path / "store", conversation_id).attachments["file_5"]
    assert attachment.available and attachment.size_bytes == len(inner.getvalue()) < 100_000


def test_two_entries_with_one_name_are_refused(tmp_path: Path) -> None:
    data = real_fixture(*PKUPPENS).read_bytes()
    with pytest.warns(UserWarning):  # zipfile itself warns about the duplicate
        path = make_zip(tmp_path / "export.zip", [("conversations.json", data), ("conversations.json", b"[]")])
    refused(path, "appears twice", tmp_path)


def central_header(raw: bytes, name: bytes) -> int:
    """Offset of the central-directory header of entry ``name`` in the ZIP bytes ``raw``."""
    offset = raw.find(name, raw.find(b"PK\x01\x02")) - 46
    assert raw[offset:offset + 4] == b"PK\x01\x02"
    return offset


def test_an_encrypted_entry_is_refused(tmp_path: Path) -> None:
    # Given an export whose file_5 entry is marked encrypted (general purpose flag bit 0)
    path = chatgpt_export(tmp_path, **{"file_5-secret.png": b"ciphertext"})
    raw = bytearray(path.read_bytes())
    flags = central_header(raw, b"file_5-secret.png") + 8
    raw[flags] |= 0x1
    path.write_bytes(bytes(raw))
    refused(path, "is encrypted", tmp_path)


def test_a_truncated_zip_is_a_clear_error(tmp_path: Path) -> None:
    path = chatgpt_export(tmp_path)
    path.write_bytes(path.read_bytes()[:-60])
    refused(path, "not a readable ZIP archive", tmp_path)


def test_the_export_files_never_become_attachments(tmp_path: Path) -> None:
    # Given a crafted conversation naming "user" (as in user.json) as an uploaded file
    conversation = {"id": "c", "title": "t", "current_node": "a", "mapping": {
        "a": {"id": "a", "parent": None, "children": [], "message": {
            "id": "a", "author": {"role": "user"}, "content": {"content_type": "text", "parts": ["hi"]},
            "metadata": {"attachments": [{"id": "user", "name": "user.json"}]}}}}}
    path = make_zip(tmp_path / "export.zip", {"conversations.json": json.dumps([conversation]).encode(),
                                              "user.json": b'{"email": "someone@example.com"}'})
    (conversation_id,) = import_all(path, tmp_path / "store")
    # Then the account file is not read into the store
    assert not stored(tmp_path / "store", conversation_id).attachments["user"].available


def test_a_claude_attachment_keeps_its_extracted_text_through_the_store(tmp_path: Path) -> None:
    # Given a real Claude.ai export whose first question came with a pasted file
    items = json.loads(real_fixture(*CLAUDE).read_text(encoding="utf-8"))
    items[0]["chat_messages"][0]["attachments"] = [
        {"file_name": "top.txt", "file_size": 31, "file_type": "text/plain",
         "extracted_content": "PID  %MEM  COMMAND\n4242 61.0 java"}]
    path = make_zip(tmp_path / "claude.zip", {"conversations.json": json.dumps(items).encode()})
    # When the ZIP is imported into the store
    ids = import_all(path, tmp_path / "store")
    conversation = stored(tmp_path / "store", ids[0])
    # Then the attachment holds its text (no bytes), and the question links it
    (attachment,) = [a for a in conversation.attachments.values() if a.name == "top.txt"]
    assert (attachment.kind, attachment.extracted_text, attachment.available) == (
        "document", "PID  %MEM  COMMAND\n4242 61.0 java", False)
    first = conversation.messages[items[0]["chat_messages"][0]["uuid"]]
    assert attachment.id in [p.attachment_id for p in first.parts if p.type == "file_ref"]


def test_a_zip_given_where_one_conversation_file_is_expected_says_how_to_import_it(tmp_path: Path) -> None:
    from jupyter_convshare.core.importers import load_one

    path = chatgpt_export(tmp_path)
    with pytest.raises(ImportFailed) as caught:
        load_one(path)
    assert str(caught.value).startswith("chatgpt-export.zip: a ZIP archive: import a ChatGPT or Claude.ai data-export ZIP")


def test_a_zip_holding_one_conversation_object_is_read_whole_with_its_files(tmp_path: Path) -> None:
    # Given a ZIP whose conversations.json is one conversation object (as browser exporters write it)
    path = make_zip(tmp_path / "one.zip", {
        "conversations.json": real_fixture(*IMAGE_GENERATION).read_bytes(),
        "file_2-b.png": png((0, 255, 0)),
    })
    # When it is imported with its format named
    with prepare(path, format="chatgpt") as plan:
        assert not plan.summary.streamed and plan.summary.conversations[0].files == 1
    (conversation_id,) = import_all(path, tmp_path / "store")
    # Then its one conversation is there with the one image the ZIP holds
    conversation = stored(tmp_path / "store", conversation_id)
    assert conversation.source.file_name == "one.zip"
    assert [a.id for a in conversation.attachments.values() if a.available] == ["file_2"]
