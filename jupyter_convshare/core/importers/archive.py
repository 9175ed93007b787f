"""Data-export ZIPs: the archive ChatGPT (and Claude.ai) send, read safely in place.

Source format (FORMATS.md sections 3 and 4): ChatGPT's Settings -> Data controls -> Export
is a ZIP holding ``conversations.json`` at its top, ``chat.html``, ``user.json`` and the
uploaded and generated files, named after their file id: ``file-<id>-<original name>``
(``file-service://file-<id>`` pointers), ``file_<hex>-<name>`` (``sediment://file_<hex>``),
possibly in folders (``dalle-generations/``, ``user-<id>/``). A Claude.ai export ZIP holds
``conversations.json``, ``users.json``, ``projects.json`` and no file bytes.

:class:`ExportArchive` opens such a ZIP without extracting anything to disk: it streams
``conversations.json`` out of it (for ``core.importers.stream``) and reads the bytes of the
files a conversation refers to (:meth:`ExportArchive.blobs_for`), matched by file id.

The ZIP comes from outside, so everything about it is checked before a byte is used
(:class:`ZipLimits`): the number of entries; entry names (absolute paths, ``..``,
backslashes, drive letters and control characters are refused, even though nothing is
written to disk); symbolic links, encrypted entries and duplicate names are refused; the
declared size of ``conversations.json`` and of every attachment is capped, and so is their
sum over one import; an entry that expands more than ``max_ratio`` times its compressed
size is a zip bomb. Python's zipfile never returns more than the size an entry declares
and checks its CRC, so a lying header ends in a "damaged" error, never in unbounded
output. Nested archives are never opened (a ``.zip`` attachment stays opaque bytes).
"""

from __future__ import annotations

import bisect
import mimetypes
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from ..errors import ImportFailed, TooLarge
from ..model import Attachment, Conversation

__all__ = ["ExportArchive", "ZipLimits", "is_zip", "CONVERSATIONS_JSON"]

CONVERSATIONS_JSON = "conversations.json"
"""The entry a data export keeps its conversations in."""

_MIB = 1024 * 1024
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_METADATA_FILES = frozenset({
    "conversations.json", "chat.html", "user.json", "users.json", "message_feedback.json",
    "model_comparisons.json", "shared_conversations.json", "group_chats.json", "shopping.json", "sora.json",
    "projects.json", "memories.json",
})
"""Export files that are never an attachment, whatever id a conversation names (``user.json``
holds the account's e-mail and phone)."""
_MIN_ID = 4
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ZipLimits:
    """What an export ZIP may hold (sizes in bytes, uncompressed unless said otherwise).

    Attributes:
        max_entries: entries in the archive (a real ChatGPT export has a few thousand).
        max_json_bytes: size of ``conversations.json``.
        max_attachment_bytes: size of one attached file; a bigger one stays a reference
            (``available=False``) with a warning.
        max_total_bytes: everything one import reads from the archive
            (``conversations.json`` and the attached files it uses); over it, the import is
            refused before anything is stored.
        max_ratio: largest expansion (uncompressed / compressed) of an entry over
            ``ratio_floor_bytes``; above it the entry is treated as a zip bomb
            (JSON compresses about 10:1, images barely at all).
        ratio_floor_bytes: entries smaller than this are not ratio-checked (tiny entries
            have meaningless ratios and cannot hurt).
    """

    max_entries: int = 100_000
    max_json_bytes: int = 4 * 1024 * _MIB
    max_attachment_bytes: int = 50 * _MIB
    max_total_bytes: int = 16 * 1024 * _MIB
    max_ratio: int = 100
    ratio_floor_bytes: int = _MIB


def is_zip(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` starts like a ZIP archive (``PK\\3\\4`` or an empty one).

    Raises:
        ImportFailed: the file cannot be read (only its base name is named).
    """
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise ImportFailed(f"cannot read the file ({exc.strerror or type(exc).__name__})",
                           source=Path(path).name) from exc
    return head in _ZIP_MAGIC


class ExportArchive:
    """An opened, checked data-export ZIP (use as a context manager, or :meth:`close`).

    Attributes:
        name: the archive's base name (used in messages and ``SourceInfo.file_name``).
        conversations: the ``conversations.json`` entry.
        limits: the :class:`ZipLimits` it was checked against.
    """

    def __init__(self, path: str | os.PathLike[str], limits: ZipLimits | None = None) -> None:
        """Open and check the archive at ``path``.

        Raises:
            ImportFailed: not a ZIP, damaged, an unsafe entry (name, link, encryption,
                duplicate), no ``conversations.json`` at its top, a zip bomb.
            TooLarge: too many entries, or ``conversations.json`` over its limit.
        """
        self.name = Path(path).name
        self.limits = limits or ZipLimits()
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ImportFailed(f"not a readable ZIP archive ({exc})", source=self.name) from None
        try:
            self._files = self._check_entries()
            self.conversations = self._conversations_entry()
            self._check_size(self.conversations, self.limits.max_json_bytes)
            self._names = sorted(
                (PurePosixPath(i.filename).name, i.filename) for i in self._files
                if PurePosixPath(i.filename).name not in _METADATA_FILES
            )
            self._infos = {i.filename: i for i in self._files}
        except BaseException:
            self._zip.close()
            raise

    # -- context manager ------------------------------------------------------------------

    def __enter__(self) -> ExportArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive."""
        self._zip.close()

    # -- reading --------------------------------------------------------------------------

    @property
    def display(self) -> str:
        """``"<archive>/conversations.json"``: the name error messages give the JSON entry."""
        return f"{self.name}/{self.conversations.filename}"

    def open_conversations(self) -> IO[bytes]:
        """A binary stream of ``conversations.json`` (never more than its declared size)."""
        return self._zip.open(self.conversations)

    def read_conversations(self) -> bytes:
        """The whole ``conversations.json`` (for inputs that are not a JSON array).

        Raises:
            ImportFailed: the entry is damaged (bad CRC, size not as declared).
        """
        return self._read(self.conversations)

    def files_for(self, conversation: Conversation) -> Iterator[tuple[Attachment, zipfile.ZipInfo]]:
        """The attachments of ``conversation`` whose bytes are in the archive, with their entry.

        An attachment matches the entry whose base name is its file id, or starts with it
        followed by ``-`` or ``.`` (``file-ABC`` -> ``file-ABC-photo.png``, ``file_00a1`` ->
        ``file_00a1-5f0e.webp`` in ``dalle-generations/``); the id of a ``file-service://`` /
        ``sediment://`` pointer in ``uri`` counts too. The export's own files
        (``user.json``, ``chat.html``, ...) never match.
        """
        for attachment in conversation.attachments.values():
            found = self._entry_of(attachment)
            if found is not None:
                yield attachment, found[0]

    def planned(self, conversation: Conversation) -> list[zipfile.ZipInfo]:
        """The entries :meth:`blobs_for` would read for ``conversation``."""
        return [info for _a, info in self.files_for(conversation) if self._usable(info) is None]

    def verify(self, entries: list[zipfile.ZipInfo]) -> None:
        """Read ``entries`` through (1 MiB at a time, nothing kept) so a damaged one (bad
        CRC, size not as declared) fails before anything is stored.

        Raises:
            ImportFailed: naming the damaged entry.
        """
        for info in entries:
            done = 0
            try:
                with self._zip.open(info) as f:
                    while chunk := f.read(_MIB):
                        done += len(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
                raise ImportFailed(f"{info.filename} is damaged ({exc})", source=self.name) from None
            if done != info.file_size:
                raise ImportFailed(f"{info.filename} is damaged (size not as declared)", source=self.name)

    def blobs_for(self, conversation: Conversation) -> tuple[dict[str, bytes], list[str]]:
        """Read the attached files of ``conversation`` from the archive.

        Each matched attachment gets its original file name (when the source had none),
        a media type guessed from it when missing, and ``extra[<format>]["zip_entry"]``.
        A file over ``max_attachment_bytes`` or with a zip-bomb ratio is not read and stays
        a reference; the reason is returned as a warning (and added to the conversation's
        ``source.warnings``).

        Returns:
            ``({attachment id: bytes}, [warning, ...])``; store the bytes with
            ``ShareService.save_conversation(owner, conversation, blobs)``.

        Raises:
            ImportFailed: a matched entry is damaged (bad CRC, size not as declared).
        """
        blobs: dict[str, bytes] = {}
        warnings: list[str] = []
        namespace = conversation.source.format or "zip"
        for attachment, info in self.files_for(conversation):
            problem = self._usable(info)
            if problem:
                note = f"attachment {attachment.name}: {info.filename} {problem}: kept as a reference"
                warnings.append(note)
                continue
            blobs[attachment.id] = self._read(info)
            found = self._entry_of(attachment)
            original = found[1] if found else PurePosixPath(info.filename).name
            if not attachment.name or attachment.name == attachment.id:
                attachment.name = original
            if attachment.mime_type is None:
                attachment.mime_type = mimetypes.guess_type(original)[0]
            if attachment.mime_type and attachment.mime_type.startswith("image/") and attachment.kind == "file":
                attachment.kind = "image"
            attachment.extra.setdefault(namespace, {})["zip_entry"] = info.filename
        conversation.source.warnings.extend(warnings)
        return blobs, warnings

    # -- checks ---------------------------------------------------------------------------

    def _check_entries(self) -> list[zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > self.limits.max_entries:
            raise TooLarge(f"{self.name}: {len(infos)} entries; the limit is {self.limits.max_entries}",
                           field="archive")
        seen: set[str] = set()
        files = []
        for info in infos:
            name = info.filename
            problem = _unsafe_name(name)
            if problem:
                raise ImportFailed(f"unsafe entry name {name!r} ({problem}): the archive is refused",
                                   source=self.name)
            if name in seen:
                raise ImportFailed(f"entry {name!r} appears twice: the archive is refused", source=self.name)
            seen.add(name)
            mode = info.external_attr >> 16
            if mode and stat.S_ISLNK(mode):
                raise ImportFailed(f"entry {name!r} is a symbolic link: the archive is refused", source=self.name)
            if info.flag_bits & 0x1:
                raise ImportFailed(f"entry {name!r} is encrypted: the archive is refused", source=self.name)
            if not info.is_dir():
                files.append(info)
        return files

    def _conversations_entry(self) -> zipfile.ZipInfo:
        top = [i for i in self._files if i.filename == CONVERSATIONS_JSON]
        if not top:
            # An export unpacked and zipped again keeps one folder level.
            top = [i for i in self._files
                   if PurePosixPath(i.filename).name == CONVERSATIONS_JSON and i.filename.count("/") == 1]
        if len(top) != 1:
            found = "several" if top else "no"
            raise ImportFailed(
                f"{found} {CONVERSATIONS_JSON} at the top of the ZIP: a ChatGPT or Claude.ai data export "
                "holds exactly one (nested archives are not opened)",
                source=self.name,
            )
        return top[0]

    def _check_size(self, info: zipfile.ZipInfo, limit: int) -> None:
        if info.file_size > limit:
            raise TooLarge(f"{self.name}: {info.filename} is {info.file_size} bytes; the limit is {limit} bytes",
                           field="archive")
        if _bomb(info, self.limits):
            raise ImportFailed(
                f"{info.filename} expands {_ratio(info):.0f} times ({info.compress_size} -> {info.file_size} bytes): "
                "a zip bomb? The archive is refused",
                source=self.name,
            )

    def _usable(self, info: zipfile.ZipInfo) -> str | None:
        """Why an attachment entry is not read, or ``None``."""
        if info.file_size > self.limits.max_attachment_bytes:
            return f"is {info.file_size} bytes, over the {self.limits.max_attachment_bytes}-byte limit"
        if _bomb(info, self.limits):
            return f"expands {_ratio(info):.0f} times (a zip bomb?)"
        return None

    def _entry_of(self, attachment: Attachment) -> tuple[zipfile.ZipInfo, str] | None:
        """The entry of ``attachment`` and the file's original name, or ``None``."""
        from .chatgpt import pointer_file_id

        for key in (attachment.id, pointer_file_id(attachment.uri) if attachment.uri else None):
            if not key or len(key) < _MIN_ID:
                continue
            at = bisect.bisect_left(self._names, (key,))
            while at < len(self._names) and self._names[at][0].startswith(key):
                base, filename = self._names[at]
                rest = base[len(key):]
                if not rest or rest[0] in "-.":
                    original = rest[1:] if rest.startswith("-") and len(rest) > 1 else base
                    return self._infos[filename], original
                at += 1
        return None

    def _read(self, info: zipfile.ZipInfo) -> bytes:
        try:
            with self._zip.open(info) as f:
                data = f.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
            raise ImportFailed(f"{info.filename} is damaged ({exc})", source=self.name) from None
        if len(data) != info.file_size:
            raise ImportFailed(f"{info.filename} is damaged (size not as declared)", source=self.name)
        return data


def _unsafe_name(name: str) -> str | None:
    """Why an entry name is unsafe, or ``None``."""
    if not name:
        return "empty"
    if _UNSAFE_CHARS.search(name):
        return "control character"
    if "\\" in name:
        return "backslash"
    if name.startswith("/") or _DRIVE.match(name):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "'..' component"
    return None


def _ratio(info: zipfile.ZipInfo) -> float:
    return info.file_size / max(info.compress_size, 1)


def _bomb(info: zipfile.ZipInfo, limits: ZipLimits) -> bool:
    return info.file_size > limits.ratio_floor_bytes and _ratio(info) > limits.max_ratio
