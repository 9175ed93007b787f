"""The authenticated REST API: ``{base_url}convshare/api/...`` (DESIGN.md sections 4 and 5).

Thin handlers: each one validates the JSON body (a clear 400 naming the field), calls the
:class:`~jupyter_convshare.core.shares.ShareService` in a worker thread, and writes JSON.
Errors are raised as :class:`~jupyter_convshare.core.errors.ConvShareError` subclasses and
mapped to HTTP in one place (``server/base.py``). Every request acts as the server's
principal, ``ConvShareApp.owner``.

Routes (relative to ``base_url``):

=======================================================  =====================================
``GET convshare/api/info``                               server settings for clients
``GET|POST convshare/api/conversations``                 list / import (no share)
``GET|PATCH|DELETE convshare/api/conversations/<id>``    one conversation
``GET convshare/api/conversations/<id>/export``          ``?format=json|csv|parquet|md|html|chat|ipynb``
``PATCH|DELETE convshare/api/conversations/<id>/messages/<message_id>``  owner edits (non-file)
``GET|POST|DELETE convshare/api/shares``                 list / create / revoke all
``GET|PATCH|DELETE convshare/api/shares/<share_id>``     one share
``POST convshare/api/shares/<share_id>/rotate``          new link, old one dies
``POST convshare/api/shares/<share_id>/snapshot``        re-freeze a snapshot (same link)
``GET convshare/api/shares/<share_id>/qr.svg|qr.png``    QR code of the share's URL
``GET convshare/api/shares/<share_id>/export``           ``?format=``: what a grantee may read
``GET convshare/api/shares/<share_id>/findings``         secrets / personal data (owner/admin)
``POST convshare/api/shares/<share_id>/reshare``         a grantee's own link (if allowed)
``POST convshare/api/shares/<share_id>/messages``        a collaborator adds a message
``GET convshare/api/shares/<share_id>/audit``           the share's audit log (owner/admin)
``GET|POST convshare/api/shares/<share_id>/grants``      list / add (or update) a grant
``PATCH|DELETE .../shares/<share_id>/grants/<grant_id>`` change / remove a grant
``GET convshare/api/whoami``                             the current user, groups, admin flag
``GET convshare/api/groups``                             configured groups and member counts
``GET convshare/api/shared-with-me``                     conversations granted to me
=======================================================  =====================================

Who a request acts as: ``ConvShareApp.principal_for`` (the server's owner, or another user
of a multi-user identity provider). Share management (settings, grants, rotate, revoke,
snapshot, QR) is for the share's owner or an admin: a grantee gets 403, anyone else 404.
The creator of a reshare reads it, changes its ``expires`` and ``link_enabled``, rotates,
revokes it and draws its QR (403 naming the field for anything else; ``core.access``).
Grantees read a share (``GET shares/<id>``, ``shares/<id>/export``) while it has not
expired (410 after).

Redaction (issue 5, ``core.redact``). Every share JSON has ``redaction``, the owner's
choices; ``POST shares`` takes it (any subset of the fields; the rest default) and ``PATCH
shares/<id>`` merges the fields given into the current choices (owner or admin; a
reshare's creator 403 ``field="redaction"``; reshares follow their parent's choices):

=========================  =======  ========  ==========================================
field                      type     default   effect on everything but the owner's routes
=========================  =======  ========  ==========================================
``exclude_message_ids``    [str]    ``[]``    messages never shown (their replies re-linked
                                              to the parent); attachments only they refer
                                              to answer 404 and are left out of the ZIP; an
                                              id not in the conversation: 400
                                              ``field="redaction.exclude_message_ids"``
``exclude_tool_payloads``  bool     false     tool call arguments and results emptied (a
                                              result reads ``[tool output not shared]``)
``exclude_reasoning``      bool     false     reasoning parts removed
``mask_secrets``           bool     true      secrets become ``[redacted <kind label>]``
                                              (e.g. ``[redacted OpenAI API key]``); a text
                                              attachment holding one answers 404
``mask_emails``            bool     false     e-mail addresses become ``[redacted e-mail]``
=========================  =======  ========  ==========================================

A wrong type or unknown field is 400 naming it (``redaction.mask_emails``). The choices
apply in one place (``ShareService.viewer_copy``) to the viewer page, files, ZIP, every
export format, grantee pages, ``GET shares/<id>`` for grantees (``"redacted": true``),
``shares/<id>/export`` (owner included) and library items; a ``title`` shown without the
conversation (grantee JSON, ``shared-with-me``, library items, the share JSON for anyone
but the owner) is ``core.redact.viewer_title``. For anyone but the owner an excluded
message does not exist: ``POST shares/<id>/messages`` naming it as ``parent_id`` is 404
(``field="parent_id"``), as an unknown id is. The owner's own routes
(``conversations/<id>``, ``conversations/<id>/export``) stay unredacted.

A finding (``POST shares`` answer ``findings``; ``GET shares/<id>/findings`` answers
``{"share_id", "redaction", "findings"}``) is ``{"kind", "category", "message",
"message_id", "part_index", "part_type", "attachment_id", "location", "preview", "count",
"hidden"}``: ``kind`` one of ``core.redact.SECRET_KINDS``, ``"email"``, ``"home_path"``,
``"unscanned_attachment"``; ``category`` ``"secret"``, ``"personal"`` or ``"unscanned"``;
``location`` ``"title"``, ``"message"`` or ``"attachment"``; ``preview`` a masked form
(never the value); ``hidden`` true when viewers will not see it with the current choices.
``warnings`` (``POST shares``) keeps the secrets-only list of earlier versions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import posixpath
import re
import unicodedata
from datetime import timedelta
from typing import Any, Callable, TypeVar
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from tornado import web

from .._version import __version__
from ..core import exporters, qr, redact
from ..core.errors import Forbidden, InvalidRequest, NotFound, TooLarge
from ..core.importers import load, load_one, select
from ..core.model import Attachment, AttachmentKind, Conversation, format_time, new_id
from ..core.model import _to_json  # the convshare/1 form of one Message
from ..core import policy as policy_rules
from ..core.access import Principal, require_capability
from ..core.admin import maker as share_maker
from ..core.shares import EXPIRY_PRESETS, UNSET, Share, StoredConversation, parse_expires
from . import sources
from .base import ConvShareAPIHandler
from .viewer import grantee_url

T = TypeVar("T")

MODES = ("live", "snapshot")

_SOURCE_KEYS = ("conversation_id", "path", "conversation")
_IMPORT_KEYS = {"path", "conversation", "format", "name", "index", "files", "title", "blobs", "select"}
_SHARE_KEYS = _IMPORT_KEYS | {"conversation_id", "expires", "mode", "link_enabled", "redaction"}


# -- body validation ----------------------------------------------------------------------


def _check_keys(body: dict[str, Any], allowed: set[str]) -> None:
    """Raise InvalidRequest naming the first unknown key of ``body``."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(
            f"unknown field {unknown[0]!r}; expected some of {sorted(allowed)}", field=unknown[0]
        )


def _optional_str(body: dict[str, Any], key: str, *, nullable: bool = True) -> str | None:
    """``body[key]`` as a string (or ``None`` when absent / null and ``nullable``)."""
    value = body.get(key)
    if value is None:
        if key in body and not nullable:
            raise InvalidRequest(f"{key}: expected a string, got null", field=key)
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{key}: expected a string, got {type(value).__name__}", field=key)
    return value


def _optional_index(body: dict[str, Any]) -> int | None:
    value = body.get("index")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest("index: expected a non-negative integer", field="index")
    return value


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body[key]
    if not isinstance(value, bool):
        raise InvalidRequest(f"{key}: expected true or false, got {type(value).__name__}", field=key)
    return value


def _mode(body: dict[str, Any], default: Any) -> Any:
    if "mode" not in body:
        return default
    value = body["mode"]
    if value not in MODES:
        raise InvalidRequest(f"mode: expected one of {list(MODES)}, got {value!r}", field="mode")
    return value


def _expires_value(body: dict[str, Any], default: Any) -> Any:
    """``body["expires"]`` checked for type: a preset name, an ISO 8601 time or null (never)."""
    if "expires" not in body:
        return default
    value = body["expires"]
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(
            f"expires: expected one of {list(EXPIRY_PRESETS)}, an ISO 8601 time or null, "
            f"got {type(value).__name__}",
            field="expires",
        )
    return value


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


def safe_file_name(name: str, default: str = "attachment") -> str:
    """A base name safe to store and show: no directories, control characters or ``..``."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/")
    base = _UNSAFE_NAME.sub("_", posixpath.basename(name)).strip(" .")
    return base[:255] or default


def _uploaded_files(body: dict[str, Any], max_bytes: int) -> list[tuple[Attachment, bytes]]:
    """Attachments from ``body["files"]``: ``[{"name", "content_base64", "mime_type"?}]``.

    Ids are content-addressed (``upload-<sha256 prefix>``) so a re-POST of the same files
    does not duplicate them.

    Raises:
        InvalidRequest: wrong shape or bad base64 (field ``files[i].<key>``).
        TooLarge: a file over ``max_bytes`` (field ``files[i].content_base64``).
    """
    files = body.get("files")
    if files is None:
        return []
    if not isinstance(files, list):
        raise InvalidRequest("files: expected a list of {name, content_base64, mime_type?}", field="files")
    out: list[tuple[Attachment, bytes]] = []
    for i, item in enumerate(files):
        where = f"files[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{where}: expected an object", field=where)
        unknown = sorted(set(item) - {"name", "content_base64", "mime_type"})
        if unknown:
            raise InvalidRequest(f"{where}: unknown field {unknown[0]!r}", field=f"{where}.{unknown[0]}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest(f"{where}.name: expected a non-empty string", field=f"{where}.name")
        content = item.get("content_base64")
        if not isinstance(content, str):
            raise InvalidRequest(
                f"{where}.content_base64: expected a base64 string", field=f"{where}.content_base64"
            )
        # base64 is 4/3 of the bytes: refuse before decoding something huge.
        if len(content) * 3 // 4 > max_bytes + 3:
            raise TooLarge(
                f"{where}: over the attachment limit of {max_bytes} bytes", field=f"{where}.content_base64"
            )
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(
                f"{where}.content_base64: not valid base64", field=f"{where}.content_base64"
            ) from None
        if len(data) > max_bytes:
            raise TooLarge(
                f"{where}: {len(data)} bytes is over the attachment limit of {max_bytes} bytes",
                field=f"{where}.content_base64",
            )
        mime_type = item.get("mime_type")
        if mime_type is not None and (not isinstance(mime_type, str) or "/" not in mime_type):
            raise InvalidRequest(f"{where}.mime_type: expected a media type like 'text/plain'", field=f"{where}.mime_type")
        digest = hashlib.sha256(data).hexdigest()
        kind: AttachmentKind = "image" if mime_type and mime_type.startswith("image/") else "file"
        attachment = Attachment(
            id=f"upload-{digest[:32]}",
            name=safe_file_name(name),
            kind=kind,
            mime_type=mime_type,
            size_bytes=len(data),
        )
        out.append((attachment, data))
    return out


def _attachment_blobs(body: dict[str, Any], conversation: Conversation, max_bytes: int) -> dict[str, bytes]:
    """Bytes for attachments a posted conversation declares, from ``body["blobs"]``:
    ``[{"attachment_id", "content_base64"}]`` (``jupyter convshare import`` of an export
    ZIP sends the files its conversations refer to this way).

    Every other attachment of a posted conversation is a reference (``available=False``,
    no ``sha256``) whatever the posted JSON claims: a stored blob is reachable only
    through bytes its owner sent, never by naming another file's digest.

    Raises:
        InvalidRequest: wrong shape, bad base64, or an id the conversation does not declare
            (field ``blobs[i].<key>``).
        TooLarge: a file over ``max_bytes``.
    """
    items = body.get("blobs")
    blobs: dict[str, bytes] = {}
    if items is not None:
        if not isinstance(items, list):
            raise InvalidRequest("blobs: expected a list of {attachment_id, content_base64}", field="blobs")
        for i, item in enumerate(items):
            where = f"blobs[{i}]"
            if not isinstance(item, dict) or set(item) != {"attachment_id", "content_base64"}:
                raise InvalidRequest(f"{where}: expected {{attachment_id, content_base64}}", field=where)
            attachment_id, content = item["attachment_id"], item["content_base64"]
            if not isinstance(attachment_id, str) or attachment_id not in conversation.attachments:
                raise InvalidRequest(f"{where}.attachment_id: the conversation declares no such attachment",
                                     field=f"{where}.attachment_id")
            if not isinstance(content, str):
                raise InvalidRequest(f"{where}.content_base64: expected a base64 string",
                                     field=f"{where}.content_base64")
            if len(content) * 3 // 4 > max_bytes + 3:
                raise TooLarge(f"{where}: over the attachment limit of {max_bytes} bytes",
                               field=f"{where}.content_base64")
            try:
                data = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidRequest(f"{where}.content_base64: not valid base64",
                                     field=f"{where}.content_base64") from None
            if len(data) > max_bytes:
                raise TooLarge(f"{where}: {len(data)} bytes is over the attachment limit of {max_bytes} bytes",
                               field=f"{where}.content_base64")
            blobs[attachment_id] = data
    for attachment in conversation.attachments.values():
        if attachment.id not in blobs:
            attachment.available = False
            attachment.sha256 = None
    return blobs


def _selection(body: dict[str, Any]) -> dict[str, str] | None:
    """``body["select"]``: ``{"id": str}`` or ``{"title": str}`` (one conversation of a
    posted whole export), or ``None``.

    Raises:
        InvalidRequest: another shape, or given with ``index`` or ``path`` (field ``select``).
    """
    value = body.get("select")
    if value is None:
        return None
    if (not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("id", "title")
            or not isinstance(next(iter(value.values())), str)):
        raise InvalidRequest('select: expected {"id": "<conversation id>"} or {"title": "<exact title>"}',
                             field="select")
    if "index" in body or "path" in body:
        raise InvalidRequest("select: only with a posted conversation, and not with index", field="select")
    return dict(value)


def _load_selected(source: Any, fmt: str | None, name: str | None, choice: dict[str, str]) -> Conversation:
    """The conversation of a posted export that ``choice`` (``{"id"}`` / ``{"title"}``) names."""
    return select(load(source, format=fmt, name=name), source=name or "<object>", **choice)


def _content_disposition(file_name: str) -> str:
    """RFC 6266 ``attachment`` header with an ASCII fallback and a UTF-8 ``filename*``."""
    ascii_name = unicodedata.normalize("NFKD", file_name).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]+", "_", ascii_name).strip() or "conversation"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name, safe='')}"


# -- handlers -----------------------------------------------------------------------------


class _Base(ConvShareAPIHandler):
    """Shared import and share-JSON logic of the REST handlers."""

    async def run_counted(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """:meth:`run` a call whose answer shows view counts, after writing the page views
        the viewer counted in memory (``ConvShareApp.flush_views``): the owner sees every
        view, not only those of the last periodic flush."""
        app = self.convshare

        def call() -> T:
            try:
                app.flush_views()
            except Exception as exc:  # counts stay pending; the answer is still correct but for them
                self.log.warning("convshare: page views not written yet: %s", exc)
            return fn(*args, **kwargs)

        return await self.run(call)

    async def within_policy(
        self,
        maker: Principal,
        body: dict[str, Any],
        expires: Any,
        link_enabled: bool | None = None,
        *,
        allow_reshare: bool | None = None,
        reshare: bool = False,
    ) -> tuple[Any, bool]:
        """Check a request against ``maker``'s effective sharing policy (``core.policy``).

        ``expires`` given in ``body`` must be within the policy; without one, the server's
        default is brought within it (``policy.default_expiry``). ``link_enabled`` ``True``
        (or, for a new share, the default) needs anonymous links allowed: when not asked
        for and not allowed, a new share is made with its link off. ``allow_reshare``
        ``True`` and ``reshare`` (making a reshare) need reshare allowed.

        Returns:
            ``(expires to pass to the service, link_enabled)``.

        Raises:
            PolicyViolation: (403) naming the field and the limit.
        """
        app = self.convshare
        policy = await self.run(app.effective_policy, maker)
        now = self.service.now()
        if reshare:
            policy_rules.check_reshare(policy, field="allow_reshare")
            policy_rules.check_link(policy)
        if "expires" in body:
            policy_rules.check_expiry(policy, parse_expires(expires, now), now)
        else:
            default = policy_rules.default_expiry(policy, app.default_expires, EXPIRY_PRESETS)
            expires = default if isinstance(default, str) else now + timedelta(seconds=default)
        if link_enabled is None:
            link_enabled = policy.allow_link
        elif link_enabled:
            policy_rules.check_link(policy)
        if allow_reshare:
            policy_rules.check_reshare(policy)
        return expires, link_enabled

    def grantee_json(self, share: Share, permission: str) -> dict[str, Any]:
        """What a grantee sees of a share: ``{"share_id", "conversation_id", "title",
        "owner", "permission", "url", "updated_at"}``; ``url`` is the link while it is on,
        else the grantee page ``convshare/v/<share_id>`` (the link is the owner's to hand
        out only when it works for everyone)."""
        return {
            "share_id": share.share_id,
            "conversation_id": share.conversation_id,
            "title": redact.viewer_title(share.title, share.redaction),
            "owner": share.owner,
            "permission": permission,
            "url": (
                self.convshare.share_url(share.link, self.request)
                if share.link_enabled
                else grantee_url(self.convshare, share, self.request)
            ),
            "updated_at": format_time(share.updated_at),
        }

    def share_json(self, share: Share, **extra: Any) -> dict[str, Any]:
        """The share as JSON (``Share.to_json``) with its absolute ``url`` and ``extra`` keys;
        anyone but the owner (a reshare's creator, an admin) gets the title as viewers see
        it (``core.redact.viewer_title``)."""
        data = share.to_json(url=self.convshare.share_url(share.link, self.request))
        if self.principal.name != share.owner:
            data["title"] = redact.viewer_title(share.title, share.redaction)
        data.update(extra)
        return data

    async def import_conversation(self, body: dict[str, Any]) -> tuple[StoredConversation, bool]:
        """Import (or re-sync) the conversation a request names and store it for the owner.

        ``body`` holds exactly one of ``path`` (a file in the Jupyter root, read through the
        contents manager with its attachments) or ``conversation`` (a posted JSON object
        for ``core.importers.load_one``), plus optional ``format``, ``name``, ``index``,
        ``title`` and ``files``. A ``path`` already imported is re-synced into the same
        stored conversation.

        Returns:
            ``(stored conversation, created)``; ``created`` is ``False`` when the
            conversation was already in the store.

        Raises:
            InvalidRequest / ImportFailed / TooLarge / NotFound / Forbidden (naming the field).
        """
        app = self.convshare
        fmt = _optional_str(body, "format")
        name = _optional_str(body, "name")
        title = _optional_str(body, "title")
        index = _optional_index(body)
        uploads = _uploaded_files(body, app.max_attachment_bytes)

        blobs: dict[str, bytes]
        mtime: float | None = None
        if "path" in body:
            if "blobs" in body:
                raise InvalidRequest("blobs: only with a posted conversation", field="blobs")
            _selection(body)
            if not self.is_server_owner:
                raise Forbidden(
                    "path: only the server's owner can share files of this server; "
                    "post the conversation instead",
                    field="path",
                )
            path = sources.normalize_path(body["path"])
            conversation, blobs, mtime = await sources.load_from_contents(
                self.contents_manager,
                path,
                format=fmt,
                index=index,
                max_import_bytes=app.max_import_bytes,
                max_attachment_bytes=app.max_attachment_bytes,
            )
            existing = await self.run(self.service.find_conversation_by_path, self.owner, path)
        else:
            source = body.get("conversation")
            if isinstance(source, str):
                source = source.encode("utf-8")
            elif not isinstance(source, (dict, list)):
                raise InvalidRequest(
                    "conversation: expected a JSON object or list (convshare/1, a .chat document, "
                    "a message list or {\"messages\": [...]})",
                    field="conversation",
                )
            choice = _selection(body)
            if choice is not None:
                conversation = await self.run(_load_selected, source, fmt, name, choice)
            else:
                conversation = await self.run(load_one, source, format=fmt, name=name, index=index)
            blobs = _attachment_blobs(body, conversation, app.max_attachment_bytes)
            existing = await self._stored_or_none(conversation.id)
            if existing is not None and existing.source_path:
                existing = None  # a posted copy never takes over a file-backed conversation
                conversation.id = _fresh_id(conversation)

        if title is not None:
            conversation.title = title
        for attachment, data in uploads:
            conversation.attachments[attachment.id] = attachment
            blobs[attachment.id] = data

        if "path" in body and existing is not None:
            conversation.id = existing.id
            await self.run(
                self.service.sync_conversation, self.owner, existing.id, conversation, blobs, mtime
            )
            if title is not None or uploads:
                # sync merges messages; settings that only the request carries are saved too
                stored = await self.run(self.service.get_conversation, self.owner, existing.id)
                if title is not None:
                    stored.title = title
                for attachment, _data in uploads:
                    stored.attachments[attachment.id] = attachment
                await self.run(
                    self.service.save_conversation,
                    self.owner,
                    stored,
                    {a.id: d for a, d in uploads},
                    mtime,
                )
            app.reset_live_check(existing.id)
            info = await self.run(self.service.get_conversation_info, self.owner, existing.id)
            return info, False

        if "path" in body:
            clash = await self._stored_or_none(conversation.id)
            if clash is not None and clash.source_path != conversation.source.path:
                # the same chat document copied to another path: a separate conversation
                conversation.id = _fresh_id(conversation)
        info = await self.run(self.service.save_conversation, self.owner, conversation, blobs, mtime)
        return info, existing is None

    async def add_to_stored(self, conversation_id: str, body: dict[str, Any]) -> StoredConversation:
        """Apply ``title`` and ``files`` of a ``{"conversation_id": ...}`` request."""
        title = _optional_str(body, "title")
        uploads = _uploaded_files(body, self.convshare.max_attachment_bytes)
        info = await self.run(self.service.get_conversation_info, self.owner, conversation_id)
        if title is None and not uploads:
            return info
        conversation = await self.run(self.service.get_conversation, self.owner, conversation_id)
        if title is not None:
            conversation.title = title
        for attachment, _data in uploads:
            conversation.attachments[attachment.id] = attachment
        return await self.run(
            self.service.save_conversation,
            self.owner,
            conversation,
            {a.id: d for a, d in uploads},
            info.source_mtime,
        )

    async def _stored_or_none(self, conversation_id: str) -> StoredConversation | None:
        try:
            return await self.run(self.service.get_conversation_info, self.owner, conversation_id)
        except NotFound:
            return None


def _fresh_id(conversation: Conversation) -> str:
    """A new conversation id for a copy that must not replace a stored conversation."""
    return f"{conversation.source.format}:{new_id()}"


def _one_source(body: dict[str, Any], keys: tuple[str, ...]) -> str:
    given = [k for k in keys if k in body]
    if len(given) != 1:
        raise InvalidRequest(
            f"expected exactly one of {list(keys)}, got {given or 'none'}", field=keys[0]
        )
    return given[0]


def _root_dir(app: Any) -> str | None:
    """The absolute path of the server's contents root (the contents manager's, else the
    server's ``root_dir``), or ``None`` when the server has none."""
    serverapp = app.serverapp
    if serverapp is None:
        return None
    root = getattr(serverapp.contents_manager, "root_dir", None) or serverapp.root_dir
    return os.path.abspath(os.path.expanduser(root)) if root else None


class InfoHandler(_Base):
    """``GET convshare/api/info``: what a client needs to build a share dialog."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """``{"version", "owner", "root_dir", "default_expires", "expiry_presets",
        "allow_never_expires", "modes", "export_formats", "max_attachment_bytes",
        "max_import_bytes", "public_url", "allow_chat_posting"}``.

        ``version`` is the jupyter-convshare version; ``root_dir`` the absolute path of the
        server's contents root (where the paths of ``{"path": ...}`` shares start), so a
        notebook client can turn a local file path into one (only authenticated callers
        see it).
        """
        app = self.convshare
        presets = [p for p in EXPIRY_PRESETS if p != "never" or app.allow_never_expires]
        self.write_json(
            {
                "version": __version__,
                "owner": app.owner,
                "root_dir": _root_dir(app),
                "default_expires": app.default_expires,
                "expiry_presets": presets,
                "allow_never_expires": app.allow_never_expires,
                "modes": list(MODES),
                "export_formats": sorted(exporters.EXPORT_FORMATS),
                "max_attachment_bytes": app.max_attachment_bytes,
                "max_import_bytes": app.max_import_bytes,
                "public_url": app.public_url,
                "allow_chat_posting": app.allow_chat_posting,
            }
        )


class ConversationsHandler(_Base):
    """``GET|POST convshare/api/conversations``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """``{"conversations": [StoredConversation JSON, ...]}``, most recently updated first."""
        items = await self.run(self.service.list_conversations, self.owner)
        self.write_json({"conversations": [c.to_json() for c in items]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Import without sharing: body ``{"path"}`` or ``{"conversation", "format"?, "name"?}``
        plus ``title``, ``index``, ``files``. 201 (new) or 200 (already stored) with the
        stored conversation JSON plus ``created`` and ``warnings``."""
        body = self.json_body()
        _check_keys(body, _IMPORT_KEYS)
        _one_source(body, ("path", "conversation"))
        info, created = await self.import_conversation(body)
        conversation = await self.run(self.service.get_conversation, self.owner, info.id)
        warnings = [f.to_json() for f in redact.find_secrets(conversation)]
        self.write_json({**info.to_json(), "created": created, "warnings": warnings}, 201 if created else 200)


class ConversationHandler(_Base):
    """``GET|PATCH|DELETE convshare/api/conversations/<id>``."""

    @web.authenticated
    @authorized
    async def get(self, conversation_id: str) -> None:
        """The stored conversation JSON plus ``conversation`` (the full ``convshare/1`` form)."""
        info = await self.run(self.service.get_conversation_info, self.owner, conversation_id)
        conversation = await self.run(self.service.get_conversation, self.owner, conversation_id)
        self.write_json({**info.to_json(), "conversation": conversation.to_dict()})

    @web.authenticated
    @authorized
    async def patch(self, conversation_id: str) -> None:
        """Body ``{"title"?: str | null, "tags"?: [str]}``; answers the updated stored JSON
        (a rename is audited: ``conversation.renamed``)."""
        body = self.json_body()
        _check_keys(body, {"title", "tags"})
        title = _optional_str(body, "title") if "title" in body else UNSET
        info = await self.run(
            self.service.update_conversation, self.owner, conversation_id,
            title=title, tags=body.get("tags", UNSET),
        )
        self.write_json(info.to_json())

    @web.authenticated
    @authorized
    async def delete(self, conversation_id: str) -> None:
        """Delete the conversation, its shares and unused blobs (204)."""
        await self.run(self.service.delete_conversation, self.owner, conversation_id)
        self.set_status(204)
        self.finish()


class ConversationExportHandler(_Base):
    """``GET convshare/api/conversations/<id>/export?format=json|csv|parquet|md|html|chat|ipynb``.

    The owner's full conversation (nothing redacted: it is the owner's own data),
    downloaded as an attachment; ``html`` and ``ipynb`` embed its stored raster images.
    """

    @web.authenticated
    @authorized
    async def get(self, conversation_id: str) -> None:
        """The export bytes with the format's media type (400 for an unknown format)."""
        fmt = self.get_query_argument("format", "json")
        spec = exporters.EXPORT_FORMATS.get(fmt)
        if spec is None:
            raise InvalidRequest(
                f"format: expected one of {sorted(exporters.EXPORT_FORMATS)}, got {fmt!r}", field="format"
            )
        conversation = await self.run(self.service.get_conversation, self.owner, conversation_id)
        data = await self.run(
            exporters.export, conversation, fmt, read_blob=exporters.blob_reader(self.service.blob_path)
        )
        stem = safe_file_name(conversation.title or "conversation", "conversation")
        self.set_header("Content-Disposition", _content_disposition(stem + spec.extension))
        self.finish(data, set_content_type=spec.media_type)


class SharesHandler(_Base):
    """``GET|POST|DELETE convshare/api/shares``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """``{"shares": [share JSON, ...]}``, newest first (expired included): my shares and
        the reshares I made of shares granted to me (``parent_share_id``, ``created_by``)."""
        shares = await self.run_counted(self.service.list_shares, self.principal)
        self.write_json({"shares": [self.share_json(s) for s in shares]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Create a share (contract 5): 201 with the share JSON, or 200 with the existing one.

        Body: exactly one of ``conversation_id`` / ``path`` / ``conversation``; optional
        ``format``, ``name``, ``index``, ``title``, ``expires``, ``mode``, ``files``,
        ``redaction`` (the owner's choices, see *Redaction* above; for a conversation
        already shared they replace the existing share's).
        The answer adds ``url``, ``created``, ``warnings`` (secrets found in the content)
        and ``findings`` (secrets and personal data, see *Redaction* above).
        """
        app = self.convshare
        require_capability(self.principal, "share")
        body = self.json_body()
        _check_keys(body, _SHARE_KEYS)
        source = _one_source(body, _SOURCE_KEYS)
        if source == "conversation_id":
            _check_keys(body, {"conversation_id", "title", "expires", "mode", "files", "link_enabled", "redaction"})
        expires = app.check_expires(_expires_value(body, app.default_expires))
        mode = _mode(body, "live")
        link_enabled = _bool(body, "link_enabled") if "link_enabled" in body else None
        # the shape is checked before anything is imported (message ids once it is)
        redaction = redact.Redaction().merged(body["redaction"]) if "redaction" in body else None
        expires, link_enabled = await self.within_policy(self.principal, body, expires, link_enabled)
        if source == "conversation_id":
            conversation_id = _optional_str(body, "conversation_id", nullable=False)
            if not conversation_id:
                raise InvalidRequest("conversation_id: expected a non-empty string", field="conversation_id")
            info = await self.add_to_stored(conversation_id, body)
        else:
            info, _ = await self.import_conversation(body)
        share, created = await self.run_counted(
            self.service.create_share, self.owner, info.id, expires=expires, mode=mode, link_enabled=link_enabled,
            redaction=body.get("redaction") if redaction is not None else None,
        )
        conversation = await self.run(self.service.get_conversation, self.owner, info.id)
        found = await self.run(self.service.scan, conversation, share.redaction)
        warnings = [f.to_json() for f in redact.secrets_only(found)]
        findings = [f.to_json() for f in found]
        self.write_json(
            self.share_json(share, created=created, warnings=warnings, findings=findings), 201 if created else 200
        )

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        """Revoke every share of mine and every reshare I made: ``{"revoked": n}``."""
        count = await self.run(self.service.revoke_all, self.principal)
        self.write_json({"revoked": count})


class ShareHandler(_Base):
    """``GET|PATCH|DELETE convshare/api/shares/<share_id>``."""

    @web.authenticated
    @authorized
    async def get(self, share_id: str) -> None:
        """The share JSON for its owner, an admin or (a reshare) its creator; for a grantee,
        :meth:`grantee_json` with the conversation as a viewer sees it (the share's
        redaction applied, ``"redacted": true``; 410 once expired, 404 without a grant)."""
        principal = self.principal
        share, decision = await self.run_counted(self.service.access_to, principal, share_id, settings=True)
        if decision in ("manage", "creator"):
            self.write_json(self.share_json(share))
            return
        share, decision, conversation = await self.run(self.service.read_shared, principal, share_id)
        data = self.grantee_json(share, decision)
        data["conversation"] = (await self.run(self.service.viewer_copy, share, conversation)).to_dict()
        data["redacted"] = True
        self.write_json(data)

    @web.authenticated
    @authorized
    async def patch(self, share_id: str) -> None:
        """Body ``{"expires"?, "mode"?, "link_enabled"?, "allow_reshare"?, "single_use"?, "chat_posting"?,
        "redaction"?}`` (``redaction``: some of its fields, merged; see *Redaction* above);
        the link does not change. Answers the share JSON. ``"chat_posting": true`` answers
        403 (``field="chat_posting"``) when the server does not allow it
        (``ConvShareApp.allow_chat_posting``) and 409 unless the share is a live share of a
        ``.chat`` file."""
        body = self.json_body()
        _check_keys(
            body, {"expires", "mode", "link_enabled", "allow_reshare", "single_use", "chat_posting", "redaction"}
        )
        expires = _expires_value(body, UNSET)
        if expires is not UNSET:
            expires = self.convshare.check_expires(expires)
        mode = _mode(body, UNSET)
        flags: dict[str, Any] = {
            key: _bool(body, key)
            for key in ("link_enabled", "allow_reshare", "single_use", "chat_posting")
            if key in body
        }
        if "redaction" in body:
            flags["redaction"] = body["redaction"]  # checked by the service (fields, message ids)
        if flags.get("chat_posting"):
            # personas act with the owner's credentials: the admin's switch, and only where it can work
            await self.convshare.check_chat_posting(self.principal, share_id, mode)
        if expires is not UNSET or flags.get("link_enabled") or flags.get("allow_reshare"):
            # the policy of the share's maker (owner, or a reshare's creator) binds it, whoever
            # changes it; get_share first so outsiders get the usual 403/404, never a policy answer
            share = await self.run(self.service.get_share, self.principal, share_id)
            if flags.get("link_enabled"):  # and whoever turns the link on needs the hub scope
                require_capability(self.principal, "public", field="link_enabled")
            maker = self.convshare.principal_named(share_maker(share))
            await self.within_policy(
                maker, body, expires, flags.get("link_enabled") or False,
                allow_reshare=flags.get("allow_reshare"),
            )
        share = await self.run_counted(
            self.service.update_share, self.principal, share_id, expires=expires, mode=mode, **flags
        )
        self.write_json(self.share_json(share))

    @web.authenticated
    @authorized
    async def delete(self, share_id: str) -> None:
        """Revoke the share: its link answers 404 at once (204)."""
        await self.run(self.service.revoke, self.principal, share_id)
        self.set_status(204)
        self.finish()


class ShareRotateHandler(_Base):
    """``POST convshare/api/shares/<share_id>/rotate``: a new link; the old one answers 404."""

    @web.authenticated
    @authorized
    async def post(self, share_id: str) -> None:
        """The share JSON with its new ``link`` and ``url``."""
        share = await self.run_counted(self.service.rotate_link, self.principal, share_id)
        self.write_json(self.share_json(share))


class ShareSnapshotHandler(_Base):
    """``POST convshare/api/shares/<share_id>/snapshot``: update a snapshot, same URL."""

    @web.authenticated
    @authorized
    async def post(self, share_id: str) -> None:
        """The share JSON (new ``snapshot_at``); 400 (``field="mode"``) for a live share."""
        share = await self.run_counted(self.service.update_snapshot, self.principal, share_id)
        self.write_json(self.share_json(share))


class ShareQRHandler(_Base):
    """``GET convshare/api/shares/<share_id>/qr.svg`` and ``qr.png``: the link as a QR code."""

    @web.authenticated
    @authorized
    async def get(self, share_id: str, kind: str) -> None:
        """``image/svg+xml`` or ``image/png`` encoding the share's absolute URL."""
        share = await self.run(self.service.get_share, self.principal, share_id)
        url = self.convshare.share_url(share.link, self.request)
        if kind == "svg":
            data, media_type = qr.qr_svg(url), "image/svg+xml"
        else:
            data, media_type = qr.qr_png(url), "image/png"
        self.finish(data, set_content_type=media_type)


class ShareExportHandler(_Base):
    """``GET convshare/api/shares/<share_id>/export?format=json|csv|parquet|md|html|chat|ipynb``.

    What the share shows (live or snapshot), as a viewer may see it (the share's redaction
    applied: ``ShareService.viewer_copy``), for its owner, an admin or a grantee.
    """

    @web.authenticated
    @authorized
    async def get(self, share_id: str) -> None:
        """The export bytes (400 unknown format, 404 no access, 410 expired for a grantee)."""
        fmt = self.get_query_argument("format", "json")
        spec = exporters.EXPORT_FORMATS.get(fmt)
        if spec is None:
            raise InvalidRequest(
                f"format: expected one of {sorted(exporters.EXPORT_FORMATS)}, got {fmt!r}", field="format"
            )
        share, _decision, conversation = await self.run(self.service.read_shared, self.principal, share_id)
        copy = await self.run(self.service.viewer_copy, share, conversation)
        data = await self.run(exporters.export, copy, fmt, read_blob=exporters.blob_reader(self.service.blob_path))
        stem = safe_file_name(copy.title or "conversation", "conversation")
        self.set_header("Content-Disposition", _content_disposition(stem + spec.extension))
        self.finish(data, set_content_type=spec.media_type)


class ShareFindingsHandler(_Base):
    """``GET convshare/api/shares/<share_id>/findings``: secrets and personal data in what
    the share shows (owner or admin; a grantee 403, anyone else 404)."""

    @web.authenticated
    @authorized
    async def get(self, share_id: str) -> None:
        """``{"share_id", "redaction", "findings": [finding, ...]}`` (see *Redaction* above)."""
        share, findings = await self.run(self.service.findings, self.principal, share_id)
        self.write_json(
            {"share_id": share.share_id, "redaction": share.redaction.to_json(),
             "findings": [f.to_json() for f in findings]}
        )  # fmt: skip


class ReshareHandler(_Base):
    """``POST convshare/api/shares/<share_id>/reshare``: my own link of a share granted to me."""

    @web.authenticated
    @authorized
    async def post(self, share_id: str) -> None:
        """Body ``{"expires"?}`` (capped at the share's own expiry): 201 with the reshare's
        JSON (``url``, ``parent_share_id``, ``created_by``). 403 with a clear message when
        the share does not allow resharing (or its link is off), 410 when it has expired,
        404 without access."""
        app = self.convshare
        require_capability(self.principal, "share")
        body = self.json_body(max_bytes=64 * 1024)
        _check_keys(body, {"expires"})
        expires = app.check_expires(_expires_value(body, app.default_expires))
        expires, _link = await self.within_policy(self.principal, body, expires, reshare=True)
        share = await self.run(self.service.reshare, self.principal, share_id, expires=expires)
        self.write_json(self.share_json(share), 201)


_GRANT_KEYS = {"principal_type", "principal", "permission"}


class GrantsHandler(_Base):
    """``GET|POST convshare/api/shares/<share_id>/grants`` (owner or admin)."""

    @web.authenticated
    @authorized
    async def get(self, share_id: str) -> None:
        """``{"grants": [Grant JSON, ...]}``, oldest first."""
        grants = await self.run(self.service.list_grants, self.principal, share_id)
        self.write_json({"grants": [g.to_json() for g in grants]})

    @web.authenticated
    @authorized
    async def post(self, share_id: str) -> None:
        """Body ``{"principal_type", "principal"?, "permission"}``: 201 new grant, 200 when a
        grant for the same principal was updated. A group must be one the server knows
        (400, ``field="principal"``)."""
        require_capability(self.principal, "share")
        body = self.json_body(max_bytes=64 * 1024)
        _check_keys(body, _GRANT_KEYS)
        principal_type = body.get("principal_type")
        name = body.get("principal")
        if principal_type == "group" and isinstance(name, str):
            known = await self.run(self.convshare.group_source.all_groups)
            if name not in known:
                raise InvalidRequest(f"principal: unknown group {name!r}", field="principal")
        grant, created = await self.run(
            self.service.add_grant, self.principal, share_id, principal_type, name, body.get("permission")
        )
        self.write_json(grant.to_json(), 201 if created else 200)


class GrantHandler(_Base):
    """``PATCH|DELETE convshare/api/shares/<share_id>/grants/<grant_id>`` (owner or admin)."""

    @web.authenticated
    @authorized
    async def patch(self, share_id: str, grant_id: str) -> None:
        """Body ``{"permission"}``; answers the Grant JSON."""
        body = self.json_body(max_bytes=64 * 1024)
        _check_keys(body, {"permission"})
        grant = await self.run(
            self.service.update_grant, self.principal, share_id, grant_id, body.get("permission")
        )
        self.write_json(grant.to_json())

    @web.authenticated
    @authorized
    async def delete(self, share_id: str, grant_id: str) -> None:
        """Remove the grant (204); its holders lose access on their next request."""
        await self.run(self.service.remove_grant, self.principal, share_id, grant_id)
        self.set_status(204)
        self.finish()


class WhoamiHandler(_Base):
    """``GET convshare/api/whoami``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """``{"name": str, "groups": [str], "is_admin": bool}``."""
        p = self.principal
        self.write_json({"name": p.name, "groups": sorted(p.groups), "is_admin": p.is_admin})


class GroupsHandler(_Base):
    """``GET convshare/api/groups``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """``{"groups": [{"name": str, "members": int}]}``, by name."""
        groups = await self.run(self.convshare.group_source.all_groups)
        self.write_json({"groups": [{"name": g, "members": len(m)} for g, m in groups.items()]})


class SharedWithMeHandler(_Base):
    """``GET convshare/api/shared-with-me``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """``{"conversations": [{"share_id", "conversation_id", "title", "owner",
        "permission", "url", "updated_at"}]}``: unexpired shares of others granted to me."""
        items = await self.run(self.service.shared_with, self.principal)
        self.write_json({"conversations": [self.grantee_json(i.share, i.permission) for i in items]})


_MESSAGE_BODY_BYTES = 512 * 1024  # a message text is capped at 100 000 characters (UTF-8: < 400 KiB)


class MessageHandler(_Base):
    """``PATCH|DELETE convshare/api/conversations/<id>/messages/<message_id>`` (the owner).

    Only stored, non-file conversations: a live ``.chat`` conversation answers 409 (edit
    the file; its next re-read would undo the change).
    """

    @web.authenticated
    @authorized
    async def patch(self, conversation_id: str, message_id: str) -> None:
        """Body ``{"text": str}`` (markdown); answers ``{"message": <convshare/1 Message>}``."""
        body = self.json_body(max_bytes=_MESSAGE_BODY_BYTES)
        _check_keys(body, {"text"})
        message = await self.run(
            self.service.edit_message, self.owner, conversation_id, message_id, body.get("text")
        )
        self.write_json({"message": _to_json(message)})

    @web.authenticated
    @authorized
    async def delete(self, conversation_id: str, message_id: str) -> None:
        """Tombstone the message (status ``"deleted"``, text removed, replies kept): 204."""
        await self.run(self.service.delete_message, self.owner, conversation_id, message_id)
        self.set_status(204)
        self.finish()


class ShareMessagesHandler(_Base):
    """``POST convshare/api/shares/<share_id>/messages``: a collaborator adds a message."""

    @web.authenticated
    @authorized
    async def post(self, share_id: str) -> None:
        """Body ``{"text": str, "parent_id"?: str}``; 201 ``{"message": Message, "share_id",
        "conversation_id", "delivered_to_chat": bool}`` (``delivered_to_chat``: the message
        also went into the live ``.chat`` document, see ``ConvShareApp.add_collaborator_message``).
        403 view-only grantee, 404 no access, 410 expired (grantee), 409 snapshot share."""
        body = self.json_body(max_bytes=_MESSAGE_BODY_BYTES)
        _check_keys(body, {"text", "parent_id"})
        parent_id = _optional_str(body, "parent_id")
        text: Any = body.get("text")  # checked by the service (400 naming "text")
        share, message, delivered = await self.convshare.add_collaborator_message(
            self.principal, share_id, text, parent_id
        )
        self.write_json(
            {
                "message": _to_json(message),
                "share_id": share.share_id,
                "conversation_id": share.conversation_id,
                "delivered_to_chat": delivered,
            },
            201,
        )



class ShareAuditHandler(_Base):
    """``GET convshare/api/shares/<share_id>/audit`` (owner or admin)."""

    @web.authenticated
    @authorized
    async def get(self, share_id: str) -> None:
        """``{"events": [{"event_id", "at", "who", "action", "owner", "share_id",
        "conversation_id", "details"}, ...]}``, newest first (at most 1000): the share's
        events and its owner's edits of its conversation. 403 grantee, 404 anyone else."""
        events = await self.run(self.service.list_audit, self.principal, share_id)
        self.write_json({"events": [e.to_json() for e in events]})


_ID = r"([^/]+)"

default_handlers: list[tuple[str, type[ConvShareAPIHandler]]] = [
    (r"convshare/api/info", InfoHandler),
    (r"convshare/api/conversations", ConversationsHandler),
    (rf"convshare/api/conversations/{_ID}/export", ConversationExportHandler),
    (rf"convshare/api/conversations/{_ID}/messages/{_ID}", MessageHandler),
    (rf"convshare/api/conversations/{_ID}", ConversationHandler),
    (r"convshare/api/shares", SharesHandler),
    (rf"convshare/api/shares/{_ID}/rotate", ShareRotateHandler),
    (rf"convshare/api/shares/{_ID}/snapshot", ShareSnapshotHandler),
    (rf"convshare/api/shares/{_ID}/qr\.(svg|png)", ShareQRHandler),
    (rf"convshare/api/shares/{_ID}/export", ShareExportHandler),
    (rf"convshare/api/shares/{_ID}/findings", ShareFindingsHandler),
    (rf"convshare/api/shares/{_ID}/reshare", ReshareHandler),
    (rf"convshare/api/shares/{_ID}/messages", ShareMessagesHandler),
    (rf"convshare/api/shares/{_ID}/audit", ShareAuditHandler),
    (rf"convshare/api/shares/{_ID}/grants", GrantsHandler),
    (rf"convshare/api/shares/{_ID}/grants/{_ID}", GrantHandler),
    (r"convshare/api/whoami", WhoamiHandler),
    (r"convshare/api/groups", GroupsHandler),
    (r"convshare/api/shared-with-me", SharedWithMeHandler),
    (rf"convshare/api/shares/{_ID}", ShareHandler),
]
"""REST routes, relative to ``base_url`` (the app prepends it)."""
