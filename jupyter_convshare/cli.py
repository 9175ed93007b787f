"""``jupyter convshare``: share, list, revoke and export conversations from a terminal.

DESIGN.md sections 7 and 8. The command is a :class:`jupyter_core.application.JupyterApp`
with subcommands (traitlets, like every Jupyter command):

* ``share PATH [--expires 7d] [--snapshot] [--title T] [--index N] [--json]``
* ``list [--json]``
* ``revoke SHARE_ID``
* ``save URL [--json]``: save a share link (of this or another server) into your library
* ``export (SHARE_ID | CONVERSATION_ID | PATH) [--format json|csv|parquet|md|html|chat|ipynb] [-o FILE]``
* ``demo [--port N] [--no-browser] [--exit-after-share]``
* ``backup DEST_DIR``, ``prune``, ``check``: store maintenance (always on the store folder)
* ``admin list [filters]``, ``admin revoke-user USER [--yes]``, ``admin policy [...]``: for
  admins, always through a running server (or hub service) with an admin's token
* ``hub-service [--store-dir DIR] [--cache-max-age S]``: the JupyterHub service (``server/hub.py``)

When a Jupyter server of this user runs (or ``--server-url`` / ``JUPYTER_SERVER_URL`` names
one), the commands go through its REST API (:mod:`jupyter_convshare.client`); a file inside
its root is sent as a root-relative path so that the server resolves attachments and keeps
a live share in sync. When no server runs (or with ``--no-server``) they work directly on
the store folder (``--store-dir``, by default the server's default store).

Errors print one line, ``jupyter convshare <command>: error: <message>``, and exit with 1
(2 for a usage error); never a traceback (``--debug`` shows one).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import webbrowser
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, cast

from jupyter_core.application import JupyterApp, base_aliases, base_flags
from traitlets import Bool, CaselessStrEnum, Integer, List, Unicode, default

from ._version import __version__
from .core.errors import ConvShareError, InvalidRequest

if TYPE_CHECKING:
    from .core.shares import ShareMode

__all__ = ["ConvShareCommand", "main"]

DEFAULT_PUBLIC_URL = "http://localhost:8888/"
"""Base URL printed in links made without a server (the server's own default address)."""

MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024
"""Largest attachment (bytes) read from disk in store mode; the server's default limit."""

SERVER_START_SECONDS = 90.0
"""How long ``demo`` waits for its Jupyter server to answer ``GET api/status``."""


class CommandError(Exception):
    """A user-facing failure of a command: printed as one line, exit ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# -- the two ways of working: through a server, or on the store directly -------------------


def _public_link(public_url: str, link: str) -> str:
    """``{public_url}convshare/s/<link>`` (``public_url`` ends with ``/`` or gets one)."""
    base = public_url or DEFAULT_PUBLIC_URL
    return f"{base.rstrip('/')}/convshare/s/{link}"


class _ServerBackend:
    """Commands through a running server's REST API."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.where = f"the Jupyter server at {client.server_url}"

    def share(self, path: Path, *, title: str | None, expires: str, mode: str, index: int | None) -> dict[str, Any]:
        result = self.client.share(str(path), title=title, expires=expires, mode=mode, index=index)
        return result.to_json()

    def list(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.client.list_shares()]

    def revoke(self, share_id: str) -> None:
        from .client import ConvShareClientError

        try:
            self.client.revoke(share_id)
        except ConvShareClientError as exc:
            if exc.status == 404:
                raise CommandError(f"{share_id}: no such share (on {self.where})") from None
            raise

    def save(self, url: str) -> dict[str, Any]:
        return self.client.save_to_library(url)

    def fit_blobs(self, conversation: Any, blobs: dict[str, bytes]) -> dict[str, bytes]:
        """The attachment bytes that fit the server's limits (``ConvShareClient.fit_blobs``:
        the others stay references, with a warning)."""
        return self.client.fit_blobs(conversation, blobs) if blobs else blobs

    def import_conversation(self, conversation: Any, blobs: dict[str, bytes] | None = None) -> str:
        """Store one conversation (convshare/1 over the REST API) with the bytes of its
        attachments (``{attachment id: bytes}``); its stored id."""
        return self.client.import_conversation(conversation, blobs)

    def export(self, target: str, fmt: str) -> bytes:
        from .client import ConvShareClientError

        try:
            conversation_id = self.client.get_share(target).conversation_id
        except ConvShareClientError as exc:
            if exc.status != 404:
                raise
            conversation_id = target
        try:
            return self.client.export_conversation(conversation_id, fmt)
        except ConvShareClientError as exc:
            if exc.status == 404:
                raise CommandError(
                    f"{target}: no such file, share or conversation (on {self.where})"
                ) from None
            raise


class _StoreBackend:
    """Commands directly on the store folder (no server runs)."""

    def __init__(self, store_dir: str, owner: str, public_url: str, root_dir: str) -> None:
        from .core.shares import ShareService

        self.service = ShareService.open(store_dir)
        self.owner = owner
        self.public_url = public_url
        self.root_dir = Path(root_dir or os.getcwd())
        self.where = f"the store {store_dir}"
        self.notes: list[str] = []

    def _json(self, share: Any, **extra: Any) -> dict[str, Any]:
        data = share.to_json(url=_public_link(self.public_url, share.link))
        data.pop("link", None)
        data.pop("owner", None)
        data.update(extra)
        return data

    def share(self, path: Path, *, title: str | None, expires: str, mode: str, index: int | None) -> dict[str, Any]:
        from .core.importers import load_one

        conversation = load_one(path, index=index)
        if title:
            conversation.title = title
        blobs = self._read_attachments(conversation, path)
        from .core.redact import secrets_only

        # No source path is recorded: without a server nothing re-reads the file, so the
        # stored copy is what a live share shows until the file is shared again.
        stored = self.service.save_conversation(self.owner, conversation, blobs=blobs)
        share, created = self.service.create_share(
            self.owner, stored.id, expires=expires, mode=cast("ShareMode", mode)
        )
        # as the server answers: every finding (stored text files too), ``hidden`` per the
        # share's choices, and the secrets alone as ``warnings``
        found = self.service.scan(self.service.get_conversation(self.owner, stored.id), share.redaction)
        warnings = [f.to_json() for f in secrets_only(found)]
        return self._json(share, created=created, warnings=warnings, findings=[f.to_json() for f in found])

    def _read_attachments(self, conversation: Any, chat_path: Path) -> dict[str, bytes]:
        """Bytes of the file attachments a ``.chat`` file refers to (root-relative paths).

        Paths are looked up under ``--root-dir`` (the Jupyter root; default the current
        folder), then beside the chat file. Like the server's contents manager, nothing
        outside those folders and no hidden file is ever read: a ``.chat`` file received
        from someone else must not be able to publish ``~/.ssh/id_rsa`` through a share.
        """
        blobs: dict[str, bytes] = {}
        bases = [self.root_dir.resolve(), chat_path.resolve().parent]
        for attachment in conversation.attachments.values():
            uri = attachment.uri
            if attachment.available or not uri or "://" in uri:
                continue
            rel = PurePosixPath(uri)
            if rel.is_absolute() or any(p.startswith(".") for p in rel.parts):
                self.notes.append(f"attachment {attachment.name}: {uri} is not a plain relative path: not included")
                continue
            for base in bases:
                candidate = (base / rel).resolve()
                try:
                    candidate.relative_to(base)
                except ValueError:
                    continue
                if candidate.is_file():
                    size = candidate.stat().st_size
                    if size > MAX_ATTACHMENT_BYTES:
                        self.notes.append(
                            f"attachment {attachment.name}: {size} bytes is over the "
                            f"{MAX_ATTACHMENT_BYTES}-byte limit: not included"
                        )
                    else:
                        blobs[attachment.id] = candidate.read_bytes()
                    break
            else:
                self.notes.append(f"attachment {attachment.name}: {uri} not found: not included")
        return blobs

    def list(self) -> list[dict[str, Any]]:
        return [self._json(s) for s in self.service.list_shares(self.owner)]

    def revoke(self, share_id: str) -> None:
        from .core.errors import NotFound

        try:
            self.service.revoke(self.owner, share_id)
        except NotFound:
            raise CommandError(f"{share_id}: no such share (in {self.where})") from None

    def fit_blobs(self, conversation: Any, blobs: dict[str, bytes]) -> dict[str, bytes]:
        """All of ``blobs``: the export ZIP's file limit is the store's (50 MiB)."""
        return blobs

    def import_conversation(self, conversation: Any, blobs: dict[str, bytes] | None = None) -> str:
        """Store one conversation in the store (the owner's) with the bytes of its
        attachments (``{attachment id: bytes}``); its stored id."""
        return self.service.save_conversation(self.owner, conversation, blobs or None).id

    def save(self, url: str) -> dict[str, Any]:
        from .core.library import Library

        item, created = Library(self.service).save_url(self.owner, url)
        data = item.to_json(url=_public_link(self.public_url, item.link) if item.link else None)
        data["created"] = created
        return data

    def export(self, target: str, fmt: str) -> bytes:
        from .core.errors import NotFound
        from .core.exporters import export

        try:
            conversation_id = self.service.get_share(self.owner, target).conversation_id
        except NotFound:
            conversation_id = target
        try:
            conversation = self.service.get_conversation(self.owner, conversation_id)
        except NotFound:
            raise CommandError(f"{target}: no such file, share or conversation (in {self.where})") from None
        from .core.exporters import blob_reader

        return export(conversation, fmt, read_blob=blob_reader(self.service.blob_path))


# -- the commands ----------------------------------------------------------------------------

_common_aliases = {
    **base_aliases,
    "server-url": "ConvShareCommand.server_url",
    "token": "ConvShareCommand.token",
    "store-dir": "ConvShareCommand.store_dir",
    "public-url": "ConvShareCommand.public_url",
    "root-dir": "ConvShareCommand.root_dir",
    "owner": "ConvShareCommand.owner",
}
_common_flags = {
    **base_flags,
    "no-server": (
        {"ConvShareCommand": {"no_server": True}},
        "Work on the store folder even when a Jupyter server runs.",
    ),
    "json": (
        {"ConvShareCommand": {"json_output": True}},
        "Print JSON instead of text.",
    ),
}


class ConvShareCommand(JupyterApp):
    """Base class of the subcommands: how to reach the server or the store, error output."""

    name = "jupyter-convshare"
    version = __version__
    aliases = _common_aliases  # type: ignore[assignment]
    flags = _common_flags  # type: ignore[assignment]

    server_url = Unicode(
        "",
        config=True,
        help="""URL of the Jupyter server (including its base_url). Default: JUPYTER_SERVER_URL,
        else the running server of this user; without one, the store is used directly.""",
    )
    token = Unicode("", config=True, help="API token of the server (default: JUPYTER_TOKEN or discovery).")
    no_server = Bool(False, config=True, help="Use the store folder directly even when a server runs.")
    store_dir = Unicode(
        config=True,
        help="Store folder used when no server runs (the server's ConvShareApp.store_dir default).",
    )
    public_url = Unicode(
        "",
        config=True,
        help=f"""Base URL that links are printed with when no server runs
        (default {DEFAULT_PUBLIC_URL}; a server must run there to open them).""",
    )
    root_dir = Unicode(
        "",
        config=True,
        help="Jupyter root folder that .chat attachments are relative to when no server runs "
        "(default: the current folder).",
    )
    owner = Unicode(config=True, help="Owner of the shares when no server runs (default: the OS user).")
    json_output = Bool(False, config=True, help="Print JSON instead of text.")

    @default("store_dir")
    def _default_store_dir(self) -> str:
        from .core.store import default_store_dir

        return str(default_store_dir())

    @default("owner")
    def _default_owner(self) -> str:
        return getpass.getuser()

    def parse_command_line(self, argv: list[str] | None = None) -> None:
        """Parse options; an unknown option is a usage error (traitlets only warns)."""
        args = list(sys.argv[1:] if argv is None else argv)
        for arg in args:
            if arg == "--":
                break
            if not arg.startswith("-") or arg == "-":
                continue
            name = arg.lstrip("-").split("=", 1)[0]
            # "--Class.trait=value" is the traitlets long form: leave it to traitlets.
            if "." in name or name in self.aliases or name in self.flags or name in ("h", "help", "help-all"):
                continue
            hint = ""
            if not arg.startswith("--") and re.fullmatch(r"-[A-Za-z0-9_-]{11}", arg):
                # Older stores made ids that may start with "-": name the way out.
                hint = f" (if {arg} is a share id, put it after --, e.g. -- {arg})"
            raise CommandError(f"unknown option {arg.split('=', 1)[0]}: see --help{hint}", code=2)
        super().parse_command_line(argv)

    def positional(self, count: int, usage: str) -> list[str]:
        """The ``count`` positional arguments, or a usage error (exit 2)."""
        if len(self.extra_args) != count:
            raise CommandError(f"usage: jupyter convshare {usage}", code=2)
        return list(self.extra_args)

    def backend(self, path_hint: Path | None = None) -> _ServerBackend | _StoreBackend:
        """The server's REST API when a server is named or runs; else the store."""
        from .client import ConvShareClient, _running_servers, discover_server

        explicit = self.server_url or os.environ.get("JUPYTER_SERVER_URL")
        if not self.no_server and (explicit or _running_servers()):
            info = discover_server(self.server_url or None, self.token or None, path_hint=path_hint)
            return _ServerBackend(ConvShareClient.from_server_info(info))
        return _StoreBackend(self.store_dir, self.owner, self.public_url, self.root_dir)

    def print_json(self, value: Any) -> None:
        """One JSON document on stdout."""
        print(json.dumps(value, indent=2, ensure_ascii=False))


def _existing_file(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise CommandError(f"{value}: no such file")
    if not path.is_file():
        raise CommandError(f"{value}: not a file")
    return path


class ShareCommand(ConvShareCommand):
    """Share a conversation file and print its link and a QR code."""

    name = "jupyter-convshare-share"
    description = """Share a conversation file (.chat, OpenAI/Anthropic .json/.jsonl, convshare JSON)
    and print its link and a terminal QR code. Sharing an already shared conversation
    prints its existing link."""
    examples = "jupyter convshare share chats/analysis.chat --expires 30d"

    aliases = {
        **_common_aliases,
        "expires": "ShareCommand.expires",
        "title": "ShareCommand.title",
        "index": "ShareCommand.index",
    }
    flags = {
        **_common_flags,
        "snapshot": ({"ShareCommand": {"mode": "snapshot"}}, "Freeze the conversation now (default: live)."),
        "live": ({"ShareCommand": {"mode": "live"}}, "Viewers see changes to the conversation (default)."),
    }

    expires = Unicode("7d", config=True, help='Expiry: "1h", "24h", "7d", "30d", "never" or an ISO 8601 time.')
    title = Unicode(None, allow_none=True, config=True, help="Title shown to viewers.")
    index = Integer(None, allow_none=True, config=True, help="Which conversation of a file that holds several (from 0).")
    mode = CaselessStrEnum(["live", "snapshot"], default_value="live", config=True, help="live or snapshot.")

    def start(self) -> None:
        """Run ``share PATH``."""
        (value,) = self.positional(1, "share PATH [--expires 7d] [--snapshot] [--title T] [--index N] [--json]")
        path = _existing_file(value)
        backend = self.backend(path_hint=path)
        try:
            result = backend.share(path, title=self.title, expires=self.expires, mode=self.mode, index=self.index)
        except ConvShareError as exc:
            message = getattr(exc, "message", str(exc))
            # Always say which file the problem is in (not every error names it).
            if path.name not in message:
                raise CommandError(f"{value}: {message}") from None
            raise
        for note in getattr(backend, "notes", []):
            print(f"note: {note}", file=sys.stderr)
        findings = result.get("findings")
        for finding in findings if findings is not None else result.get("warnings") or []:
            print(_finding_line(finding), file=sys.stderr)
        if self.json_output:
            self.print_json(result)
            return
        _print_share(result)
        if isinstance(backend, _StoreBackend):
            print(
                f"\nNo Jupyter server is running: the link opens once a Jupyter server with "
                f"jupyter-convshare runs on this store at "
                f"{self.public_url or DEFAULT_PUBLIC_URL} (use --public-url to print another address).",
                file=sys.stderr,
            )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _finding_line(finding: Any) -> str:
    """One line of stderr for a finding of ``share`` (``core.redact.Finding`` JSON, or an
    older server's secret warning ``{"kind", "message"}``): ``warning:`` for a secret,
    ``finding:`` for personal data, the masked preview (never the value) and whether
    viewers see it. Control characters (a hostile attachment name holding terminal escape
    sequences) become ``?``."""
    if not isinstance(finding, dict):
        return _CONTROL.sub("?", f"warning: {finding}")
    label = "warning" if finding.get("category", "secret") == "secret" else "finding"
    line = f"{label}: {finding.get('message') or finding.get('kind')}"
    if finding.get("preview"):
        line += f" [{finding['preview']}]"
    if isinstance(finding.get("hidden"), bool):
        line += " (hidden from viewers)" if finding["hidden"] else " (visible to viewers)"
    return _CONTROL.sub("?", line)


def _print_share(result: dict[str, Any]) -> None:
    from .core.qr import qr_terminal

    url = result["url"]
    status = "Shared" if result.get("created", True) else "Already shared (existing link)"
    title = f" {result['title']!r}" if result.get("title") else ""
    print(f"{status}{title}: {url}")
    print(f"Expires: {result.get('expires_at') or 'never'}   Mode: {result.get('mode')}   "
          f"Share id: {result.get('share_id')}")
    print(qr_terminal(url))


class ListCommand(ConvShareCommand):
    """List your shares."""

    name = "jupyter-convshare-list"
    description = "List your shares (expired ones included): share id, mode, expiry, views, title, link."

    def start(self) -> None:
        """Run ``list``."""
        self.positional(0, "list [--json]")
        shares = self.backend().list()
        if self.json_output:
            self.print_json(shares)
            return
        if not shares:
            print("No shares.")
            return
        for item in shares:
            title = item.get("title") or "(untitled)"
            print(
                f"{item['share_id']}  {item.get('mode', ''):8}  expires {item.get('expires_at') or 'never':27}  "
                f"views {item.get('view_count', 0):<4}  {title}\n    {item['url']}"
            )


class RevokeCommand(ConvShareCommand):
    """Revoke a share: its link answers 404 at once."""

    name = "jupyter-convshare-revoke"
    description = "Revoke a share by its share id (see `jupyter convshare list`): its link stops working at once."

    def start(self) -> None:
        """Run ``revoke SHARE_ID``."""
        (share_id,) = self.positional(1, "revoke SHARE_ID")
        self.backend().revoke(share_id)
        if self.json_output:
            self.print_json({"revoked": share_id})
        else:
            print(f"Revoked {share_id}: its link no longer works.")


class ImportCommand(ConvShareCommand):
    """Import the conversations of a file (a whole ChatGPT export included) into the store."""

    name = "jupyter-convshare-import"
    description = """Import every conversation of a file into your store, ready to share: the
    format is detected and named (or give --format). Big exports (ChatGPT, Claude.ai, Open
    WebUI conversations.json) are read one conversation at a time with a progress bar; the
    export ZIP ChatGPT sends is read as it is, with its uploaded and generated files. The
    whole file is checked first: a malformed file imports nothing. --list shows what the
    file holds; --id and --title pick conversations. Prints what was imported and what was
    skipped, and why."""
    examples = """
    jupyter convshare import ~/Downloads/chatgpt-export.zip
    jupyter convshare import conversations.json --list
    jupyter convshare import conversations.json --title "Trip to Lisbon" --id chatgpt:6e1f0c2a-...
    jupyter convshare import conversations.json --json
    """

    aliases = {**_common_aliases, "format": "ImportCommand.format", "id": "ImportCommand.ids",
               "title": "ImportCommand.titles"}
    flags = {
        **_common_flags,
        "dry-run": ({"ImportCommand": {"dry_run": True}}, "Check and summarise the file; store nothing."),
        "list": ({"ImportCommand": {"list_only": True}},
                 "List the conversations of the file (id, title, messages, branches, created); store nothing."),
        "no-progress": ({"ImportCommand": {"progress": False}}, "No progress bar."),
    }

    format = Unicode(None, allow_none=True, config=True, help="The input format (default: detected).")
    ids = List(Unicode(), config=True,
               help="Import only the conversation with this id (as --list shows it, or the export's own id); "
               "repeat it for several.")
    titles = List(Unicode(), config=True,
                  help="Import only the conversation with exactly this title; repeat it for several. "
                  "A title several conversations share is an error listing their ids.")
    dry_run = Bool(False, config=True, help="Check and summarise the file; store nothing.")
    list_only = Bool(False, config=True, help="List the conversations of the file; store nothing.")
    progress = Bool(True, config=True, help="Show a progress bar on stderr while reading big exports.")

    def start(self) -> None:
        """Run ``import FILE``."""
        from .core.importers.stream import ConversationSummary, prepare

        (value,) = self.positional(1, "import FILE [--format F] [--list] [--id ID] [--title TEXT] [--json] [--dry-run]")
        path = _existing_file(value)
        show_progress = self.progress and not self.json_output and sys.stderr.isatty()
        # First pass: check everything, summarise and pick; nothing is stored if it fails.
        with prepare(path, format=self.format, ids=self.ids, titles=self.titles, progress=show_progress) as plan:
            summary = plan.summary
            if not (self.dry_run or self.list_only) and summary.conversations:
                backend = self.backend(path_hint=path)
                stored = []
                for conversation, blobs in plan.conversations():
                    blobs = backend.fit_blobs(conversation, blobs)
                    files = len(blobs) if summary.archive else None
                    conversation.id = backend.import_conversation(conversation, blobs)
                    # the ids of what was stored (a message list without ids gets new ones per read)
                    stored.append(ConversationSummary.of(conversation, files=files))
                summary.conversations = stored
        if self.json_output:
            self.print_json(summary.to_json())
            return
        if self.list_only:
            self._print_list(summary)
            return
        count = len(summary.conversations)
        messages = sum(c.messages for c in summary.conversations)
        verb = "Would import" if self.dry_run else "Imported"
        print(f"Format: {summary.format} ({summary.title})" + (f", from the ZIP {summary.archive}" if summary.archive else ""))
        files = sum(c.files or 0 for c in summary.conversations)
        with_files = f", {files} attached file{'s' if files != 1 else ''}" if summary.archive else ""
        print(f"{verb} {count} conversation{'s' if count != 1 else ''} ({messages} messages{with_files}).")
        for listed in summary.conversations[:20]:
            branches = f", {listed.branches} branches" if listed.branches > 1 else ""
            print(f"  {listed.conversation_id}  {listed.messages} messages{branches}  {listed.title or '(untitled)'}")
        if count > 20:
            print(f"  ... and {count - 20} more (--json lists them all)")
        if summary.skipped:
            print(f"Skipped {len(summary.skipped)}:")
            for skipped in summary.skipped:
                print(f"  {skipped.where}  {skipped.title or '(untitled)'}: {skipped.reason}")

    @staticmethod
    def _print_list(summary: Any) -> None:
        count = len(summary.conversations)
        print(f"Format: {summary.format} ({summary.title})" + (f", from the ZIP {summary.archive}" if summary.archive else ""))
        print(f"{count} conversation{'s' if count != 1 else ''}:")
        print(f"  {'ID':44}  {'MESSAGES':>8}  {'BRANCHES':>8}  {'CREATED (UTC)':19}  TITLE")
        for listed in summary.conversations:
            created = (listed.created_at or "")[:19].replace("T", " ") or "-"
            print(f"  {listed.conversation_id:44}  {listed.messages:>8}  {listed.branches:>8}  {created:19}  "
                  f"{listed.title or '(untitled)'}")
        if summary.skipped:
            print(f"Not importable ({len(summary.skipped)}):")
            for skipped in summary.skipped:
                print(f"  {skipped.conversation_id or skipped.where}  {skipped.title or '(untitled)'}: {skipped.reason}")


class SaveCommand(ConvShareCommand):
    """Save a shared conversation (a share link) into your library."""

    name = "jupyter-convshare-save"
    description = """Save a shared conversation into your library by its link: a link of this
    server follows the share until it expires or is revoked; another server's link is
    imported as your own copy, marked with where it came from."""
    examples = "jupyter convshare save https://hub.example.org/user/ada/convshare/s/<link>"

    def start(self) -> None:
        """Run ``save URL``."""
        (url,) = self.positional(1, "save URL [--json]")
        result = self.backend().save(url)
        if self.json_output:
            self.print_json(result)
            return
        title = result.get("name") or result.get("title") or "(untitled conversation)"
        verb = "Saved" if result.get("created", True) else "Already in your library"
        print(f"{verb}: {title!r} from {result.get('origin')} (item {result.get('item_id')}, {result.get('status')})")


EXPORT_FORMAT_NAMES = ("json", "csv", "parquet", "md", "html", "chat", "ipynb")
"""The keys of ``core.exporters.EXPORT_FORMATS`` (spelt out: importing the exporters loads
pyarrow, too slow for every command's start)."""


class ExportCommand(ConvShareCommand):
    """Export a conversation (by share id, conversation id, or file) as JSON, CSV, Parquet, Markdown, HTML, .chat or .ipynb."""

    name = "jupyter-convshare-export"
    description = """Export a conversation, given a share id, a conversation id or a conversation
    file, as json (lossless convshare/1), csv, parquet, md, html (one self-contained page),
    chat (jupyterlab-chat) or ipynb (a notebook). Without --format the extension of -o picks
    it (talk.html, talk.ipynb, ...), else json. The owner's full conversation is exported;
    html shows its stored raster images inline, ipynb carries its stored files as cell
    attachments."""
    examples = """
    jupyter convshare export <share id> -o analysis.html
    jupyter convshare export <share id> --format chat -o analysis.chat
    jupyter convshare export chats/analysis.chat --format ipynb -o analysis.ipynb
    """

    aliases = {
        **_common_aliases,
        "format": "ExportCommand.format",
        "o": "ExportCommand.output",
        "output": "ExportCommand.output",
        "index": "ExportCommand.index",
    }

    format = CaselessStrEnum(
        list(EXPORT_FORMAT_NAMES), default_value=None, allow_none=True, config=True,
        help="Export format (default: from the extension of --output, else json).",
    )
    output = Unicode("", config=True, help="File to write (default: standard output).")
    index = Integer(None, allow_none=True, config=True, help="Which conversation of a file that holds several.")

    def start(self) -> None:
        """Run ``export TARGET``."""
        (target,) = self.positional(
            1, "export (SHARE_ID | CONVERSATION_ID | PATH) [--format json|csv|parquet|md|html|chat|ipynb] [-o FILE]"
        )
        fmt = self.format.lower() if self.format else _format_of(self.output)
        path = Path(target).expanduser()
        if path.is_file():
            from .core.exporters import export
            from .core.importers import load_one

            data = export(load_one(path, index=self.index), fmt)
        elif path.suffix.lower() in (".chat", ".json", ".jsonl") or os.sep in target:
            raise CommandError(f"{target}: no such file")
        else:
            data = self.backend().export(target, fmt)
        if self.output:
            out = Path(self.output).expanduser()
            tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, out)  # never a half-written export
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise CommandError(f"{self.output}: cannot write: {exc.strerror}") from None
            print(f"Wrote {out} ({len(data)} bytes)", file=sys.stderr)
        elif fmt == "parquet" and sys.stdout.isatty():
            raise CommandError("parquet is binary: give -o FILE", code=2)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()


def _format_of(output: str) -> str:
    """The export format an output file name asks for by its extension (``json`` when none
    matches; ``.markdown`` and ``.htm`` too)."""
    suffix = Path(output).suffix.lower().lstrip(".") if output else ""
    suffix = {"markdown": "md", "htm": "html"}.get(suffix, suffix)
    return suffix if suffix in EXPORT_FORMAT_NAMES else "json"


def _demo_source_dir() -> Path:
    """The example conversation folder (``examples/demo``): a checkout, or bundled in the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_demo", here.parent / "examples" / "demo"):
        if (candidate / "sales-analysis.chat").is_file():
            return candidate
    raise CommandError("the demo conversation (examples/demo/sales-analysis.chat) is not installed with this package")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class DemoCommand(ConvShareCommand):
    """Start a Jupyter server with an example conversation, share it and print the link."""

    name = "jupyter-convshare-demo"
    description = """Start a Jupyter server on 127.0.0.1 whose root is a temporary copy of the example
    conversation (a data scientist and Jupyternaut analysing sales.csv), share it, and print the
    link and a QR code. Ctrl-C stops the server."""

    aliases = {**_common_aliases, "port": "DemoCommand.port"}
    flags = {
        **_common_flags,
        "no-browser": ({"DemoCommand": {"open_browser": False}}, "Do not open the link in a browser."),
        "exit-after-share": (
            {"DemoCommand": {"exit_after_share": True, "open_browser": False}},
            "Share, check that the link answers, stop the server (for tests and CI).",
        ),
    }

    port = Integer(0, config=True, help="Port of the demo server (default: a free one).")
    open_browser = Bool(True, config=True, help="Open the link in a browser.")
    exit_after_share = Bool(False, config=True, help="Stop after sharing and checking the link.")

    def start(self) -> None:
        """Run ``demo``."""
        self.positional(0, "demo [--port N] [--no-browser] [--exit-after-share]")
        source = _demo_source_dir()
        explicit_store = self.config.get("ConvShareCommand", {}).get("store_dir")
        with tempfile.TemporaryDirectory(prefix="convshare-demo-") as tmp:
            tmp_path = Path(tmp)
            root = tmp_path / "root"
            shutil.copytree(source, root)
            store = Path(explicit_store) if explicit_store else tmp_path / "store"
            server = _DemoServer(tmp_path, root, store, self.port or _free_port())
            # The server runs in its own session (a terminal's Ctrl-C reaches only us), so
            # every way of stopping us must stop it too: Ctrl-C, kill, a closed terminal.
            previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
            for sig in _STOP_SIGNALS:
                signal.signal(sig, _interrupt)
            try:
                url, token = server.start()
                self._share_and_wait(url, token, root)
            finally:
                server.stop()
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    def _share_and_wait(self, url: str, token: str, root: Path) -> None:
        import requests

        from .client import ConvShareClient
        from .core.qr import qr_terminal

        client = ConvShareClient(url, token, root_dir=str(root))
        result = client.share(root / "sales-analysis.chat", title="2025 sales analysis with Jupyternaut")
        if self.json_output:
            self.print_json(result.to_json())
        else:
            print(f"Shared the example conversation {result.title!r}:\n\n  {result.url}\n")
            print(qr_terminal(result.url))
            print(f"Open it in a browser: {result.url} (no login needed); Ctrl-C stops the server.")
            print(
                "(The server listens on 127.0.0.1 only: a phone cannot open this link; set "
                "ConvShareApp.public_url and ServerApp.ip on a real deployment.)"
            )
        sys.stdout.flush()
        if self.exit_after_share:
            # The viewer is public: the check must succeed without the token.
            answer = requests.get(result.url, timeout=30)
            if answer.status_code != 200:
                raise CommandError(f"the shared link answered {answer.status_code}, not 200")
            print(f"Checked: the link answers {answer.status_code} without login. Stopping the server.")
            return
        if self.open_browser:
            webbrowser.open(result.url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nStopping the server.")
            sys.stdout.flush()


class _DemoServer:
    """A ``jupyter server`` subprocess with the convshare extension, isolated in a temp folder."""

    def __init__(self, tmp: Path, root: Path, store: Path, port: int) -> None:
        self.tmp = tmp
        self.root = root
        self.store = store
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / "server.log"

    def start(self) -> tuple[str, str]:
        """Start the server and wait until ``GET api/status`` answers; returns ``(url, token)``.

        Raises:
            CommandError: the server exited or did not answer within SERVER_START_SECONDS.
        """
        import requests

        config_dir = self.tmp / "config"
        runtime_dir = self.tmp / "runtime"
        config_dir.mkdir()
        runtime_dir.mkdir()
        # A private config dir: the user's own server config (passwords, other
        # extensions' settings) must not change the demo; the token comes through the
        # environment so that it does not show in `ps`.
        (config_dir / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "ServerApp": {
                        "jpserver_extensions": {"jupyter_convshare": True},
                        "root_dir": str(self.root),
                        "ip": "127.0.0.1",
                        "port": self.port,
                        "open_browser": False,
                        # Containers and CI often run as root; the demo server only
                        # listens on 127.0.0.1 with a fresh random token.
                        "allow_root": hasattr(os, "geteuid") and os.geteuid() == 0,
                    },
                    "ConvShareApp": {"store_dir": str(self.store)},
                }
            )
        )
        token = secrets.token_urlsafe(32)
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_RUNTIME_DIR": str(runtime_dir),
            "JUPYTER_TOKEN": token,
        }
        for name in ("JUPYTER_SERVER_URL", "JPY_API_TOKEN"):
            env.pop(name, None)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server"],
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Ctrl-C in the terminal goes to our process only; we stop the server ourselves.
            start_new_session=True,
        )
        log.close()
        from .client import _running_servers

        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CommandError(f"the demo server exited with code {self.process.returncode}:\n{self._log_tail()}")
            for info in _running_servers(runtime_dir):
                if info.get("pid") != self.process.pid:
                    continue
                url = str(info["url"])
                url = url if url.endswith("/") else url + "/"
                try:
                    status = requests.get(
                        url + "api/status", headers={"Authorization": f"token {token}"}, timeout=5
                    )
                except requests.RequestException:
                    break
                if status.status_code == 200:
                    return url, token
            time.sleep(0.2)
        raise CommandError(f"the demo server did not start within {SERVER_START_SECONDS:.0f} s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 15 s); safe to call twice."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class StoreMaintenanceCommand(ConvShareCommand):
    """Base of the commands that work on the store folder itself (never through a server).

    SQLite in WAL mode lets them run while servers of the same OS user use the store.
    """

    def open_service(self) -> Any:
        """The :class:`~jupyter_convshare.core.shares.ShareService` of ``--store-dir``.

        Raises:
            CommandError: the folder holds no store (nothing is created by a maintenance command).
        """
        from .core.shares import ShareService

        if not (Path(self.store_dir) / "convshare.db").is_file():
            raise CommandError(f"{self.store_dir}: no convshare store here (see --store-dir)")
        return ShareService.open(self.store_dir)


class BackupCommand(StoreMaintenanceCommand):
    """Copy the store online into a new folder."""

    name = "jupyter-convshare-backup"
    description = """Back up the store into DEST_DIR (a new or empty folder): the database through
    SQLite's online backup (servers may keep running), the attachment blobs, and the link secret
    (mode 0600: whoever holds it and the database can open every link; keep the backup private)."""

    def start(self) -> None:
        """Run ``backup DEST_DIR``."""
        (dest,) = self.positional(1, "backup DEST_DIR")
        target = Path(dest).expanduser()
        if target.exists() and any(target.iterdir()):
            raise CommandError(f"{dest}: not empty; give a new or empty folder")
        service = self.open_service()
        source = Path(self.store_dir)
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        service.store.backup(target / "convshare.db")
        blobs = 0
        if (source / "blobs").is_dir():
            shutil.copytree(source / "blobs", target / "blobs")
            blobs = sum(1 for p in (target / "blobs").rglob("*") if p.is_file())
        from .core.shares import LINK_SECRET_FILE

        secret = source / LINK_SECRET_FILE
        if secret.is_file():
            fd = os.open(target / LINK_SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secret.read_bytes())
        problems = service.store.integrity_check()
        if self.json_output:
            self.print_json({"backup": str(target), "blobs": blobs, "problems": problems})
        else:
            print(f"Backed up {self.store_dir} to {target} ({blobs} attachment blobs).")
        if problems:
            raise CommandError(f"the source store has problems: {'; '.join(problems)}")


class PruneCommand(StoreMaintenanceCommand):
    """Delete expired shares."""

    name = "jupyter-convshare-prune"
    description = """Delete every expired share in the store (all owners). Their links then answer
    404 instead of 410; conversations stay."""

    def start(self) -> None:
        """Run ``prune``."""
        self.positional(0, "prune")
        count = self.open_service().prune_expired()
        if self.json_output:
            self.print_json({"pruned": count})
        else:
            print(f"Deleted {count} expired share{'s' if count != 1 else ''}.")


class CheckCommand(StoreMaintenanceCommand):
    """Check the store's integrity."""

    name = "jupyter-convshare-check"
    description = """Check the store: SQLite integrity and foreign keys, and that every attachment
    blob the database refers to is on disk. Exit code 1 when something is wrong."""

    def start(self) -> None:
        """Run ``check``."""
        self.positional(0, "check")
        service = self.open_service()
        problems = list(service.store.integrity_check())
        # Read-only look through sqlite-utils: the blobs table lists every stored blob.
        referenced = {row["sha256"] for row in service.store.database()["blobs"].rows}
        missing = sorted(sha for sha in referenced if not service.store.has_blob(sha))
        problems += [f"missing attachment blob {sha}" for sha in missing]
        if self.json_output:
            self.print_json({"ok": not problems, "problems": problems, "blobs": len(referenced)})
        elif not problems:
            print(f"The store {self.store_dir} is sound ({len(referenced)} attachment blobs).")
        if problems:
            raise CommandError("; ".join(problems))


def listen_early(service_url: str) -> socket.socket:
    """Bind and listen on the host and port of ``service_url`` (``JUPYTERHUB_SERVICE_URL``)
    before the Jupyter server is imported: JupyterHub gives a managed service about ten
    seconds to accept connections, less than importing jupyter-server takes on a busy
    machine (see ``server.hub.HubServiceServerApp``).

    Raises:
        OSError: the address is in use or not allowed.
    """
    from urllib.parse import urlparse

    url = urlparse(service_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    sock = socket.create_server((url.hostname or "127.0.0.1", port), backlog=128)
    sock.setblocking(False)  # tornado accepts on non-blocking sockets
    return sock


class HubServiceCommand(JupyterApp):
    """Run the share service for a JupyterHub (a hub-managed service)."""

    name = "jupyter-convshare-hub-service"
    version = __version__
    description = """Run the convshare service of a JupyterHub: the hub starts it (an entry of
    c.JupyterHub.services, see examples/jupyterhub_config.py) at /services/convshare/. It owns
    the store, serves the public viewer without login and the REST API to hub users (HubOAuth
    or hub API tokens). Needs the environment the hub gives a managed service
    (JUPYTERHUB_SERVICE_URL, JUPYTERHUB_API_TOKEN, ...). Reads no Jupyter config files: use
    --config FILE for more settings (c.ConvShareApp.*)."""
    examples = "jupyter convshare hub-service --store-dir /srv/convshare --cache-max-age 60"
    aliases = {  # type: ignore[assignment]
        **base_aliases,
        "store-dir": "HubServiceCommand.store_dir",
        "cache-max-age": "HubServiceCommand.cache_max_age",
        "public-url": "HubServiceCommand.public_url",
        "config": "HubServiceCommand.service_config_file",
    }
    flags = base_flags  # type: ignore[assignment]

    store_dir = Unicode(
        config=True,
        help="Store folder of the service (default: the Jupyter data dir's convshare folder).",
    )
    cache_max_age = Integer(
        60,
        config=True,
        help="""Seconds the service reuses what the hub said about a token, user or group
        (HubOAuth.cache_max_age): group, admin and scope changes on the hub apply within it.""",
    )
    public_url = Unicode(
        "",
        config=True,
        help="""Base URL of the links handed out, e.g. https://hub.example.org/services/convshare/
        (default: JUPYTERHUB_PUBLIC_URL when the hub sets it, else the request's host).""",
    )
    service_config_file = Unicode(
        "",
        config=True,
        help="A Python config file for the service's Jupyter server and ConvShareApp (loaded last).",
    )

    @default("store_dir")
    def _default_store_dir(self) -> str:
        from .core.store import default_store_dir

        return str(default_store_dir())

    def start(self) -> None:
        """Run the service until the hub stops it."""
        if self.extra_args:
            raise CommandError(f"hub-service takes no arguments, got {self.extra_args[0]!r}", code=2)
        if self.cache_max_age < 0:
            raise CommandError("--cache-max-age must be 0 or more seconds", code=2)
        required = ("JUPYTERHUB_SERVICE_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_API_URL", "JUPYTERHUB_CLIENT_ID")
        missing = [k for k in required if not os.environ.get(k)]
        if missing:
            raise CommandError(
                f"not started by a JupyterHub: {', '.join(missing)} not set "
                "(run it as a managed service: see examples/jupyterhub_config.py)"
            )
        try:
            early = listen_early(os.environ["JUPYTERHUB_SERVICE_URL"])
        except OSError as exc:
            raise CommandError(f"cannot listen at {os.environ['JUPYTERHUB_SERVICE_URL']}: {exc}") from None
        try:
            from .server.hub import run_hub_service
        except ImportError as exc:
            raise CommandError(f"hub-service needs jupyterhub (pip install jupyterhub): {exc}") from None
        # the service's ServerApp is the process's singleton Jupyter application, not us
        type(self).clear_instance()
        run_hub_service(
            os.environ,
            early_socket=early,
            store_dir=self.store_dir,
            cache_max_age=self.cache_max_age,
            public_url=self.public_url,
            config_file=self.service_config_file,
        )


class AdminCommand(ConvShareCommand):
    """Base of ``jupyter convshare admin ...``: always through a running server, as an admin."""

    def admin_client(self) -> Any:
        """The REST client of the named or running server (admin routes need one: who is an
        admin is the server's decision, ``ConvShareApp.admin_users`` or the hub's admins).

        Raises:
            CommandError: no server is named or running.
        """
        from .client import ConvShareClient, _running_servers, discover_server

        explicit = self.server_url or os.environ.get("JUPYTER_SERVER_URL")
        if self.no_server or not (explicit or _running_servers()):
            raise CommandError(
                "admin commands go through a running Jupyter server (or hub service): "
                "give --server-url and an admin's --token"
            )
        info = discover_server(self.server_url or None, self.token or None)
        return ConvShareClient.from_server_info(info)


def _policy_text(policy: dict[str, Any]) -> str:
    from .core.policy import describe_seconds

    cap = policy.get("max_expires_seconds")
    parts = [f"max expiry {describe_seconds(cap)}" if cap else "no expiry cap"]
    for key, label in (("allow_never", "never"), ("allow_link", "anonymous links"), ("allow_reshare", "reshare")):
        value = policy.get(key)
        if value is False:
            parts.append(f"no {label}")
        elif value is True:
            parts.append(f"{label} allowed")
    return ", ".join(parts)


class AdminListCommand(AdminCommand):
    """List every owner's shares (admins)."""

    name = "jupyter-convshare-admin-list"
    description = """List every owner's shares (admins): filter by owner, group, mode, state
    (active, expired, revoked), link on/off and title; pages of --limit (all pages with --all)."""
    examples = "jupyter convshare admin list --owner bob --state active --all"

    aliases = {
        **_common_aliases,
        "owner": "AdminListCommand.owner_filter",
        "group": "AdminListCommand.group",
        "mode": "AdminListCommand.mode",
        "state": "AdminListCommand.state",
        "link": "AdminListCommand.link",
        "search": "AdminListCommand.search",
        "limit": "AdminListCommand.limit",
        "offset": "AdminListCommand.offset",
    }
    flags = {
        **_common_flags,
        "all": ({"AdminListCommand": {"all_pages": True}}, "Fetch every page."),
    }

    owner_filter = Unicode("", config=True, help="Only shares of this owner.")
    group = Unicode("", config=True, help="Only shares granted to this group.")
    mode = Unicode("", config=True, help="live or snapshot.")
    state = Unicode("", config=True, help="active, expired or revoked.")
    link = Unicode("", config=True, help="on or off.")
    search = Unicode("", config=True, help="Title contains (case-insensitive).")
    limit = Integer(50, config=True, help="Shares per page (1-500).")
    offset = Integer(0, config=True, help="Skip this many shares.")
    all_pages = Bool(False, config=True, help="Fetch every page.")

    def start(self) -> None:
        """Run ``admin list``."""
        self.positional(0, "admin list [--owner U] [--group G] [--mode M] [--state S] [--link on|off] "
                           "[--search TEXT] [--limit N] [--offset N] [--all] [--json]")
        client = self.admin_client()
        filters = {
            "owner": self.owner_filter or None, "group": self.group or None, "mode": self.mode or None,
            "state": self.state or None, "link": self.link or None, "q": self.search or None,
        }
        if self.all_pages:
            shares = client.admin_all_shares(**filters, limit=min(max(self.limit, 1), 500))
            total = len(shares)
        else:
            page = client.admin_shares(**filters, limit=self.limit, offset=self.offset)
            shares, total = page.get("shares") or [], page.get("total", 0)
        if self.json_output:
            self.print_json({"shares": shares, "total": total})
            return
        if not shares:
            print("No shares.")
            return
        for item in shares:
            if item.get("state") == "revoked":
                print(f"{item['share_id']}  {item['owner']:12}  revoked {item['revoked_at']} by {item['revoked_by']}")
                continue
            over = f"  beyond policy: {', '.join(item['exceeds_policy'])}" if item.get("exceeds_policy") else ""
            print(
                f"{item['share_id']}  {item['owner']:12}  {item['state']:7}  {item['mode']:8}  "
                f"link {'on ' if item['link_enabled'] else 'off'}  expires {item.get('expires_at') or 'never':27}  "
                f"views {item.get('view_count', 0):<4}  {item.get('title') or '(untitled)'}{over}"
            )
        if len(shares) < total:
            print(f"({len(shares)} of {total}; --offset {self.offset + len(shares)} for more, or --all)")


class AdminRevokeUserCommand(AdminCommand):
    """Revoke every share of a user (admins)."""

    name = "jupyter-convshare-admin-revoke-user"
    description = """Revoke every share of USER and every reshare they made, in one transaction
    (e.g. when someone leaves): their links answer 404 at once. Asks first unless --yes."""
    examples = "jupyter convshare admin revoke-user bob --yes"

    flags = {
        **_common_flags,
        "yes": ({"AdminRevokeUserCommand": {"yes": True}}, "Do not ask for confirmation."),
    }
    yes = Bool(False, config=True, help="Do not ask for confirmation.")

    def start(self) -> None:
        """Run ``admin revoke-user USER``."""
        (user,) = self.positional(1, "admin revoke-user USER [--yes]")
        client = self.admin_client()
        if not self.yes:
            if not sys.stdin.isatty():
                raise CommandError("give --yes to revoke every share of a user without a terminal", code=2)
            if input(f"Revoke every share of {user!r}? [y/N] ").strip().lower() not in ("y", "yes"):
                raise CommandError("nothing revoked")
        result = client.admin_revoke_user(user)
        if self.json_output:
            self.print_json(result)
        else:
            print(f"Revoked {result['revoked']} share(s) of {user} ({result['shares']} own, "
                  f"{result['reshares']} reshare(s) of others' shares): their links no longer work.")


class AdminPolicyCommand(AdminCommand):
    """Show, set or remove sharing policies (admins)."""

    name = "jupyter-convshare-admin-policy"
    description = """Sharing policies (admins). Without arguments: the server's, every group's and
    user's. 'group NAME key=value ...' or 'user NAME key=value ...' sets one (keys: max_expires=7d,
    allow_never, allow_link, allow_reshare = true/false; only stricter than the levels above);
    'group NAME --delete' removes it; 'apply [OWNER]' brings existing shares within policy."""
    examples = """jupyter convshare admin policy group students max_expires=7d allow_link=false
    jupyter convshare admin policy apply"""

    flags = {
        **_common_flags,
        "delete": ({"AdminPolicyCommand": {"delete": True}}, "Remove the stored policy."),
    }
    delete = Bool(False, config=True, help="Remove the stored policy.")

    def start(self) -> None:
        """Run ``admin policy [...]``."""
        args = list(self.extra_args)
        client = self.admin_client()
        if not args:
            data = client.admin_policies()
            if self.json_output:
                self.print_json(data)
                return
            print(f"server: {_policy_text(data.get('server') or {})}")
            for scope in ("groups", "users"):
                for item in data.get(scope) or []:
                    print(f"{scope[:-1]} {item['name']} ({item['source']}): {_policy_text(item['policy'])}")
            return
        if args[0] == "apply":
            if len(args) > 2:
                raise CommandError("usage: jupyter convshare admin policy apply [OWNER]", code=2)
            result = client.admin_apply_policy(args[1] if len(args) == 2 else None)
            if self.json_output:
                self.print_json(result)
            else:
                print(f"Brought {result['count']} share(s) within policy.")
                for item in result.get("changed") or []:
                    print(f"  {item['share_id']}  {item['owner']}: {', '.join(item['changed'])}")
            return
        if args[0] not in ("group", "user") or len(args) < 2:
            raise CommandError(
                "usage: jupyter convshare admin policy [(group|user) NAME key=value ... | "
                "(group|user) NAME --delete | apply [OWNER]]", code=2,
            )
        scope, name, pairs = args[0], args[1], args[2:]
        if self.delete:
            if pairs:
                raise CommandError("--delete takes no key=value", code=2)
            client.admin_delete_policy(scope, name)
            print(f"Removed the stored policy of {scope} {name}.")
            return
        rule: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise CommandError(f"{pair}: expected key=value", code=2)
            if key in ("allow_never", "allow_link", "allow_reshare"):
                if value.lower() not in ("true", "false"):
                    raise CommandError(f"{key}: expected true or false", code=2)
                rule[key] = value.lower() == "true"
            else:
                rule[key] = value
        stored = client.admin_set_policy(scope, name, **rule)
        if self.json_output:
            self.print_json(stored)
        else:
            print(f"{scope} {name}: {_policy_text(stored['policy'])}")


class AdminCLI(JupyterApp):
    """``jupyter convshare admin``: every owner's shares and sharing policies (admins)."""

    name = "jupyter-convshare-admin"
    version = __version__
    description = """Admin commands, through a running server as one of its admins
    (ConvShareApp.admin_users, or a hub admin): list every share, revoke a user's shares, policies."""
    subcommands = {
        "list": (AdminListCommand, AdminListCommand.description.splitlines()[0]),
        "revoke-user": (AdminRevokeUserCommand, AdminRevokeUserCommand.description.splitlines()[0]),
        "policy": (AdminPolicyCommand, AdminPolicyCommand.description.splitlines()[0]),
    }

    def start(self) -> None:
        """Run the admin subcommand; without one, list them (exit 2)."""
        if self.subapp is not None:
            self.subapp.start()
            return
        raise CommandError(f"give an admin command: {', '.join(self.subcommands)}", code=2)


class ConvShareCLI(JupyterApp):
    """``jupyter convshare``: share AI conversations as links and QR codes."""

    name = "jupyter-convshare"
    version = __version__
    description = """Share AI conversations (jupyterlab-chat .chat files, OpenAI and Anthropic
    message lists) as links and QR codes. Works through the running Jupyter server of this
    user, or directly on the store when none runs."""
    examples = """
    jupyter convshare share chats/analysis.chat --expires 30d
    jupyter convshare list
    jupyter convshare revoke <share id>
    jupyter convshare save <share link>
    jupyter convshare export <share id> --format md -o analysis.md
    jupyter convshare export <share id> -o analysis.html
    jupyter convshare demo
    """
    subcommands = {
        "share": (ShareCommand, ShareCommand.description.splitlines()[0]),
        "list": (ListCommand, ListCommand.description.splitlines()[0]),
        "revoke": (RevokeCommand, RevokeCommand.description.splitlines()[0]),
        "save": (SaveCommand, SaveCommand.description.splitlines()[0]),
        "import": (ImportCommand, ImportCommand.description.splitlines()[0]),
        "export": (ExportCommand, ExportCommand.description.splitlines()[0]),
        "demo": (DemoCommand, DemoCommand.description.splitlines()[0]),
        "backup": (BackupCommand, BackupCommand.description.splitlines()[0]),
        "prune": (PruneCommand, PruneCommand.description.splitlines()[0]),
        "check": (CheckCommand, CheckCommand.description.splitlines()[0]),
        "admin": (AdminCLI, AdminCLI.description.splitlines()[0]),
        "hub-service": (HubServiceCommand, HubServiceCommand.description.splitlines()[0]),
    }

    def start(self) -> None:
        """Run the subcommand; without one, print the list of subcommands (exit 2)."""
        if self.subapp is not None:
            self.subapp.start()
            return
        if self.extra_args:
            raise CommandError(
                f"unknown command {self.extra_args[0]!r}: use one of {', '.join(self.subcommands)}", code=2
            )
        self.print_subcommands()
        raise CommandError(f"give a command: {', '.join(self.subcommands)}", code=2)


def _command_name(argv: list[str]) -> str:
    for arg in argv:
        if arg in ConvShareCLI.subcommands:
            return f"jupyter convshare {arg}"
    return "jupyter convshare"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``jupyter-convshare`` / ``jupyter convshare``; returns the exit code.

    Exit codes: 0 success, 1 failure (file, import, server or store error), 2 usage error,
    130 interrupted.
    """
    from traitlets import TraitError
    from traitlets.config.loader import ArgumentError

    args = list(sys.argv[1:] if argv is None else argv)
    prefix = _command_name(args)
    app = ConvShareCLI()
    try:
        app.initialize(args)
        app.start()
    except CommandError as exc:
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return exc.code
    except InvalidRequest as exc:
        print(f"{prefix}: error: {exc.message}", file=sys.stderr)
        return 1
    except ConvShareError as exc:
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return 1
    except (TraitError, ArgumentError) as exc:
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the promise is one line, never a traceback
        if "--debug" in args:
            raise
        print(f"{prefix}: error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
