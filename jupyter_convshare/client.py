"""Python client for notebooks and scripts: share a conversation in one call.

DESIGN.md sections 7 and 8. ``from jupyter_convshare import share`` gives :func:`share`,
which finds the Jupyter server (see :func:`discover_server`), sends the conversation to
the ``convshare`` REST API (``{base_url}convshare/api/...``, contract 5) and returns a
:class:`Share` that displays its link and QR code in a notebook.

:class:`ConvShareClient` wraps every REST route; every error the server answers with (or
a server that cannot be reached) is raised as :class:`ConvShareClientError`, which carries
the HTTP status and the server's message.
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from .core.errors import ConvShareError
from .core.model import Conversation, parse_time

__all__ = [
    "ConvShareClient",
    "ConvShareClientError",
    "ServerInfo",
    "Share",
    "discover_server",
    "share",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for one REST call (imports of large files take a while)."""

_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0", ""}


class ConvShareClientError(ConvShareError):
    """A REST call failed, or no server could be found.

    Attributes:
        status: the HTTP status the server answered with, or ``None`` when there was no
            answer (server not found or unreachable, or a local file problem).
        message: the server's ``message`` (or a description of the local problem).
        reason: the server's ``reason`` (``"not_found"``, ``"invalid_request"``, ...) or
            ``"client_error"``.
        field: the request field the server named, or ``None``.
    """

    reason = "client_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        # Instance attributes shadow the class defaults of ConvShareError.
        self.status = status  # type: ignore[assignment]
        if reason:
            self.reason = reason

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status else self.message


# -- server discovery -------------------------------------------------------------------


@dataclass
class ServerInfo:
    """Where a Jupyter server answers, and how to authenticate to it.

    Attributes:
        url: base URL of the server, including its ``base_url``, ending with ``/``
            (e.g. ``"http://localhost:8888/"``).
        token: the API token (``Authorization: token <token>``), ``""`` for none.
        root_dir: the server's root directory (absolute local path) when known; used to
            send local files inside the root as root-relative paths.
    """

    url: str
    token: str = ""
    root_dir: str | None = None


EXPORT_EXTENSIONS = {
    ".json": "json", ".csv": "csv", ".parquet": "parquet", ".md": "md", ".markdown": "md",
    ".html": "html", ".htm": "html", ".chat": "chat", ".ipynb": "ipynb",
}
"""File extension -> export format (the formats of ``core.exporters.EXPORT_FORMATS``)."""


def _normalise_url(url: str) -> str:
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    return url if url.endswith("/") else url + "/"


def _same_server(a: str, b: str) -> bool:
    """``True`` when two server URLs point at the same local server (loopback aliases equal)."""
    sa, sb = urlsplit(_normalise_url(a)), urlsplit(_normalise_url(b))
    host_a, host_b = (sa.hostname or ""), (sb.hostname or "")
    same_host = host_a == host_b or (host_a in _LOOPBACK and host_b in _LOOPBACK)
    return (
        same_host
        and sa.scheme == sb.scheme
        and sa.port == sb.port
        and sa.path.rstrip("/") == sb.path.rstrip("/")
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _running_servers(runtime_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Server info dicts of this user's running Jupyter servers.

    Reads the ``jpserver-<pid>.json`` files of ``jupyter_runtime_dir()`` whose process is
    alive, as ``jupyter_server.serverapp.list_running_servers()`` does; that module is not
    imported because importing it costs seconds (jupyter_events' JSON-schema machinery),
    which every CLI call and ``share()`` would pay. Servers on a Unix socket are skipped
    (no URL that requests can reach).

    Args:
        runtime_dir: where to look (default ``jupyter_core.paths.jupyter_runtime_dir()``).
    """
    from jupyter_core.paths import jupyter_runtime_dir

    runtime = Path(runtime_dir or jupyter_runtime_dir())
    if not runtime.is_dir():
        return []
    servers = []
    for file in sorted(runtime.glob("jpserver-*.json")):
        if file.name.endswith("-open.html"):
            continue
        try:
            info = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # being written, or unreadable
            continue
        if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
            continue
        if not _pid_alive(info["pid"]) or info.get("sock") or not info.get("url"):
            continue
        servers.append(info)
    return servers


def _info_from_running(info: Mapping[str, Any]) -> ServerInfo:
    return ServerInfo(
        url=_normalise_url(str(info["url"])),
        token=str(info.get("token") or ""),
        root_dir=info.get("root_dir") or info.get("notebook_dir"),
    )


def _current_kernel_id() -> str | None:
    """The id of the kernel this code runs in (from ipykernel's connection file), or ``None``."""
    try:
        from ipykernel.kernelapp import IPKernelApp
    except ImportError:
        return None
    if not IPKernelApp.initialized():
        return None
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).name
    except Exception:  # not a kernel started by a server: no connection file to read
        return None
    # Connection files are named "kernel-<kernel id>.json" by jupyter_client.
    if name.startswith("kernel-") and name.endswith(".json"):
        return name[len("kernel-") : -len(".json")]
    return None


def _server_has_kernel(info: ServerInfo, kernel_id: str) -> bool:
    try:
        response = requests.get(
            info.url + "api/kernels",
            headers=_auth_headers(info.token),
            timeout=5,
        )
    except requests.RequestException:
        return False
    if response.status_code != 200:
        return False
    try:
        return any(k.get("id") == kernel_id for k in response.json())
    except (ValueError, AttributeError):
        return False


def _path_inside(path: Path, root: str | os.PathLike[str]) -> bool:
    try:
        path.relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True


HUB_SERVICE_URL_ENV = "CONVSHARE_SERVICE_URL"
"""Environment variable naming the JupyterHub convshare service's URL, e.g.
``https://hub.example.org/services/convshare/`` (``examples/jupyterhub_config.py`` sets it
for every single-user server)."""


def _connectable_url(url: str) -> str:
    """``url`` with a bind-all host (``""``, ``*``, ``0.0.0.0``, ``::``) made loopback.

    JupyterHub's spawner sets ``JUPYTERHUB_SERVICE_URL`` to the address the server binds,
    e.g. ``http://:8888/user/alice/`` when ``Spawner.ip`` is ``""``.
    """
    parts = urlsplit(_normalise_url(url))
    host = parts.netloc.rsplit("@", 1)[-1]
    port = parts.port
    name = host[: -len(f":{port}")] if port is not None and host.endswith(f":{port}") else host
    if name in {"", "*", "0.0.0.0"}:
        name = "127.0.0.1"
    elif name in {"::", "[::]"}:
        name = "[::1]"
    netloc = f"{name}:{port}" if port is not None else name
    return parts._replace(netloc=netloc).geturl()


def _own_hub_server(token: str) -> ServerInfo | None:
    """This JupyterHub single-user server, when it runs the convshare extension.

    The spawner gives the server, its kernels and its terminals ``JUPYTERHUB_SERVICE_URL``
    (the server's own address, e.g. ``http://127.0.0.1:51234/user/alice/``) and
    ``JUPYTERHUB_API_TOKEN`` (the server's token, which JupyterHub's default ``server``
    role lets open the server itself: ``access:servers!server``). One
    ``GET convshare/api/info`` (5 s at most) tells whether the extension answers there;
    its ``root_dir`` is the server's contents root.

    Returns:
        The server, or ``None`` when the variable is unset, the server cannot be reached,
        refuses the token or has no convshare API (the caller then uses the service).
    """
    address = os.environ.get("JUPYTERHUB_SERVICE_URL")
    if not address or not token:
        return None
    url = _connectable_url(address)
    try:
        response = requests.get(
            url + "convshare/api/info", headers=_auth_headers(token), timeout=5, allow_redirects=False
        )
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    try:
        info = response.json()
    except ValueError:
        return None
    if not isinstance(info, dict) or "version" not in info:
        return None
    root = info.get("root_dir")
    return ServerInfo(url, token, str(root) if isinstance(root, str) and root else None)


def discover_server(
    server_url: str | None = None,
    token: str | None = None,
    *,
    path_hint: str | os.PathLike[str] | None = None,
) -> ServerInfo:
    """Find the Jupyter server to talk to.

    Order: the explicit ``server_url`` (with ``token``, else the token from the
    environment or from the matching running server); else the environment
    (``JUPYTER_SERVER_URL`` with ``JUPYTER_TOKEN`` or ``JPY_API_TOKEN``); else, on a
    JupyterHub (``CONVSHARE_SERVICE_URL``, which the hub admin sets through
    ``c.Spawner.environment``, with the server's ``JUPYTERHUB_API_TOKEN``), the user's own
    single-user server (``JUPYTERHUB_SERVICE_URL``) when it runs the extension, which
    forwards to the hub's convshare service and keeps live ``.chat`` shares of the user's
    files in step, else that service itself;
    else the server
    that runs this kernel (ipykernel's connection file gives the kernel id; the server
    whose ``GET api/kernels`` lists it); else the only running server of this user
    (the ``jpserver-*.json`` files that ``list_running_servers()`` reads), or, when several run, the one
    whose root directory contains ``path_hint`` (deepest root wins).

    Args:
        server_url: base URL including the server's base_url, e.g.
            ``"http://localhost:8888/"``.
        token: API token.
        path_hint: a local file the caller is about to share (picks among several servers).

    Returns:
        A :class:`ServerInfo` (``root_dir`` filled when a running-server file gives it).

    Raises:
        ConvShareClientError: (``status=None``) no server was found, or several run and
            none could be chosen.
    """
    running = _running_servers()

    def root_of(url: str) -> str | None:
        for info in running:
            if _same_server(str(info["url"]), url):
                return info.get("root_dir") or info.get("notebook_dir")
        return None

    def token_of(url: str) -> str:
        for info in running:
            if _same_server(str(info["url"]), url):
                return str(info.get("token") or "")
        return ""

    env_token = os.environ.get("JUPYTER_TOKEN") or os.environ.get("JPY_API_TOKEN") or ""
    if server_url:
        url = _normalise_url(server_url)
        return ServerInfo(url, token or env_token or token_of(url), root_of(url))

    env_url = os.environ.get("JUPYTER_SERVER_URL")
    if env_url:
        url = _normalise_url(env_url)
        return ServerInfo(url, token or env_token or token_of(url), root_of(url))

    hub_service = os.environ.get(HUB_SERVICE_URL_ENV)
    hub_token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if hub_service and (token or hub_token):
        # a JupyterHub single-user server (and its kernels and terminals): its own server
        # when it runs the extension (it forwards to the service, and reads and follows
        # .chat files of the user's home); else the hub's convshare service directly, which
        # owns the store (the hub token needs access:services!service=convshare)
        own = _own_hub_server(token or hub_token or "")
        if own is not None:
            return own
        return ServerInfo(_normalise_url(hub_service), token or hub_token or "", None)

    candidates = [_info_from_running(info) for info in running]
    if token:
        for candidate in candidates:
            candidate.token = token

    kernel_id = _current_kernel_id()
    if kernel_id:
        for candidate in candidates:
            if _server_has_kernel(candidate, kernel_id):
                return candidate

    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ConvShareClientError(
            "no running Jupyter server found: start one (e.g. `jupyter lab`), or pass "
            "server_url= and token=, or set JUPYTER_SERVER_URL and JUPYTER_TOKEN"
        )
    if path_hint is not None:
        hint = Path(path_hint).expanduser().resolve()
        inside = [c for c in candidates if c.root_dir and _path_inside(hint, c.root_dir)]
        if inside:
            return max(inside, key=lambda c: len(Path(c.root_dir or "").resolve().parts))
    urls = ", ".join(c.url for c in candidates)
    raise ConvShareClientError(
        f"several Jupyter servers are running ({urls}): choose one with server_url= "
        "(or JUPYTER_SERVER_URL and JUPYTER_TOKEN)"
    )


def _auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"} if token else {}


# -- the Share returned to notebooks ------------------------------------------------------


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        return parse_time(str(value))
    except ValueError:
        return None


def _optional_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _describe_expiry(expires_at: datetime | None, now: datetime | None = None) -> str:
    """``"2025-01-08 10:00 UTC (in 7 days)"``, or ``"never"``."""
    if expires_at is None:
        return "never"
    now = now or datetime.now(timezone.utc)
    stamp = expires_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    seconds = (expires_at - now).total_seconds()
    if seconds <= 0:
        return f"{stamp} (expired)"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = round(seconds / size)
            return f"{stamp} (in {count} {unit}{'s' if count != 1 else ''})"
    return f"{stamp} (in less than a minute)"


@dataclass(eq=False)
class Share:
    """A share (a secret link to one conversation), as returned by the REST API.

    Displays in a notebook as its link, a QR code and its expiry.

    Attributes:
        share_id: public, non-secret id (for management).
        url: the absolute link to the public viewer (``.../convshare/s/<link>``); anyone
            with it can read the conversation.
        conversation_id: id of the shared conversation in the store.
        mode: ``"live"`` or ``"snapshot"``.
        expires_at: UTC expiry, or ``None`` for never.
        title: the conversation's title, or ``None``.
        created: ``True`` when this call created the share, ``False`` when the
            conversation was already shared (the existing link is returned).
        warnings: secrets found in the content, ``[{"kind", "message", "message_id"}]``.
        created_at, updated_at, snapshot_at, last_accessed_at: UTC or ``None``.
        view_count: number of viewer page views.
        link_enabled, allow_reshare, single_use: the share's audience settings (issue 3:
            anyone-with-the-link access, recipients may reshare, first opener claims the
            link), or ``None`` when the server does not report them (an older server).
        chat_posting: collaborators' messages go into the live ``.chat`` document, where
            its Jupyter AI personas answer them (``None``: not reported by the server).
        redaction: the owner's redaction choices (``{"exclude_message_ids": [str],
            "exclude_tool_payloads", "exclude_reasoning", "mask_secrets", "mask_emails"}``,
            see ``server/api.py``), or ``None`` when the server does not report them.
        findings: secrets and personal data found when the share was created
            (``[{"kind", "category", "message", "message_id", "part_index", "part_type",
            "attachment_id", "location", "preview", "count", "hidden"}]``; previews are
            masked). :meth:`ConvShareClient.findings` reads them again.
    """

    share_id: str
    url: str
    conversation_id: str
    mode: str = "live"
    expires_at: datetime | None = None
    title: str | None = None
    created: bool = False
    warnings: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    snapshot_at: datetime | None = None
    view_count: int = 0
    last_accessed_at: datetime | None = None
    link_enabled: bool | None = None
    allow_reshare: bool | None = None
    single_use: bool | None = None
    chat_posting: bool | None = None
    redaction: dict[str, Any] | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    _client: ConvShareClient | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], client: ConvShareClient | None = None) -> Share:
        """Build a Share from the server's share JSON (contract 5).

        Raises:
            ConvShareClientError: ``share_id`` or ``url`` is missing.
        """
        if not data.get("share_id") or not data.get("url"):
            raise ConvShareClientError(
                "the server's answer is not a share (no share_id or url)", field="share_id"
            )
        return cls(
            share_id=str(data["share_id"]),
            url=str(data["url"]),
            conversation_id=str(data.get("conversation_id") or ""),
            mode=str(data.get("mode") or "live"),
            expires_at=_time(data.get("expires_at")),
            title=data.get("title"),
            created=bool(data.get("created", False)),
            warnings=list(data.get("warnings") or []),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
            snapshot_at=_time(data.get("snapshot_at")),
            view_count=int(data.get("view_count") or 0),
            last_accessed_at=_time(data.get("last_accessed_at")),
            link_enabled=_optional_bool(data.get("link_enabled")),
            allow_reshare=_optional_bool(data.get("allow_reshare")),
            single_use=_optional_bool(data.get("single_use")),
            chat_posting=_optional_bool(data.get("chat_posting")),
            redaction=dict(data["redaction"]) if isinstance(data.get("redaction"), Mapping) else None,
            findings=list(data.get("findings") or []),
            _client=client,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict: the attributes above, times as ISO 8601 UTC or ``None``."""
        from .core.model import format_time

        return {
            "share_id": self.share_id,
            "url": self.url,
            "conversation_id": self.conversation_id,
            "title": self.title,
            "mode": self.mode,
            "expires_at": format_time(self.expires_at),
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
            "snapshot_at": format_time(self.snapshot_at),
            "view_count": self.view_count,
            "last_accessed_at": format_time(self.last_accessed_at),
            "created": self.created,
            "warnings": list(self.warnings),
            # The issue-3 settings only when the server reported them.
            **{
                name: getattr(self, name)
                for name in ("link_enabled", "allow_reshare", "single_use", "chat_posting", "redaction")
                if getattr(self, name) is not None
            },
            "findings": list(self.findings),
        }

    # -- actions (through the client that made this share) --------------------------

    def _need_client(self) -> ConvShareClient:
        if self._client is None:
            raise ConvShareClientError("this Share is not connected to a server")
        return self._client

    def _refresh(self, other: Share) -> Share:
        for name in self.__dataclass_fields__:
            if name not in ("_client", "created", "warnings", "findings"):
                setattr(self, name, getattr(other, name))
        return self

    def qr_svg(self) -> bytes:
        """The link as a QR code, SVG document bytes (segno, made locally)."""
        from .core.qr import qr_svg

        return qr_svg(self.url)

    def qr_png(self, scale: int = 8) -> bytes:
        """The link as a QR code, PNG bytes; ``scale`` is pixels per module."""
        from .core.qr import qr_png

        return qr_png(self.url, scale=scale)

    def revoke(self) -> None:
        """Delete the share on the server: its link answers 404 at once.

        Raises:
            ConvShareClientError: e.g. 404 when it was already revoked.
        """
        self._need_client().revoke(self.share_id)

    def rotate(self) -> Share:
        """Give the share a new link (the old one dies); updates ``url`` in place, returns self."""
        return self._refresh(self._need_client().rotate(self.share_id))

    def update(self, *, expires: str | datetime | None | Any = ..., mode: str | Any = ...) -> Share:
        """Change expiry (preset, ISO time, ``None``/``"never"``) and/or mode; returns self.

        Omitted settings stay as they are. The link does not change.

        Raises:
            ConvShareClientError: 400 naming the field for a bad value.
        """
        return self._refresh(
            self._need_client().update_share(self.share_id, expires=expires, mode=mode)
        )

    def update_snapshot(self) -> Share:
        """Re-freeze a snapshot share at the conversation's current state (same link)."""
        return self._refresh(self._need_client().update_snapshot(self.share_id))

    # -- display --------------------------------------------------------------------

    def __repr__(self) -> str:
        title = f"{self.title!r}" if self.title else "conversation"
        lines = [
            f"Shared {title}: {self.url}",
            f"  expires: {_describe_expiry(self.expires_at)}; mode: {self.mode}; "
            f"share id: {self.share_id}",
        ]
        if not self.created:
            lines.append("  (already shared: this is the existing link)")
        for warning in self.warnings:
            lines.append(f"  warning: {warning.get('message', warning)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        url = self.url
        # Only http(s) links become clickable: a hostile or broken server must not be
        # able to hand the notebook a javascript: URL.
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("http", "https"):
            link = (
                f'<a href="{esc(url, quote=True)}" target="_blank" '
                f'rel="noopener noreferrer">{esc(url)}</a>'
            )
        else:
            link = f"<code>{esc(url)}</code>"
        try:
            svg = self.qr_svg()
            qr = (
                '<img alt="QR code of the link" width="160" height="160" '
                f'style="image-rendering:pixelated" src="data:image/svg+xml;base64,'
                f'{base64.b64encode(svg).decode("ascii")}">'
            )
        except Exception:  # a URL too long for a QR code must not break the display
            qr = ""
        title = esc(self.title) if self.title else "Shared conversation"
        already = (
            "" if self.created else "<div><em>Already shared: this is the existing link.</em></div>"
        )
        warnings = "".join(
            f"<li>{esc(str(w.get('message', w)))}</li>" for w in self.warnings
        )
        warnings_html = (
            f'<div style="color:#b45309"><strong>Check before sending:</strong><ul>{warnings}</ul></div>'
            if warnings
            else ""
        )
        return (
            '<div class="convshare-share" style="display:flex;gap:1em;align-items:center;'
            'font-family:var(--jp-ui-font-family,sans-serif)">'
            f"{qr}"
            "<div>"
            f"<div><strong>{title}</strong></div>"
            f"<div>{link}</div>"
            '<div><code style="user-select:all">'
            f"{esc(url)}</code></div>"
            f"<div>Expires: {esc(_describe_expiry(self.expires_at))} &middot; "
            f"Mode: {esc(self.mode)} &middot; Share id: <code>{esc(self.share_id)}</code></div>"
            f"{already}{warnings_html}"
            "</div></div>"
        )

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}


# -- the REST client ------------------------------------------------------------------------


def _jsonable(value: Any, where: str = "conversation") -> Any:
    """Turn SDK objects (pydantic ``model_dump``, ``to_dict``) into plain JSON values.

    Raises:
        ConvShareClientError: a value cannot be represented in JSON (``field`` names it).
    """
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    for method in ("model_dump", "to_dict", "dict"):
        dump = getattr(value, method, None)
        if callable(dump):
            try:
                return _jsonable(dump(), where)
            except TypeError:
                continue
    raise ConvShareClientError(
        f"{where}: cannot send a {type(value).__name__} as JSON", field=where
    )


def _read_json_file(path: Path) -> Any:
    """Parse a local conversation file (JSON, or JSONL as a list of records).

    JSONL lines that are bare message lists become ``{"messages": [...]}`` records, so the
    result is one JSON value the server's importers accept (a list of records).

    Raises:
        ConvShareClientError: unreadable or not JSON (the message names the file).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConvShareClientError(f"{path}: cannot read: {exc.strerror}", field="path") from exc
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        first_error = exc
    try:
        text = raw.decode("utf-8")
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        lines = [{"messages": line} if isinstance(line, list) else line for line in lines]
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConvShareClientError(
            f"{path}: not a JSON conversation file: {first_error}", field="path"
        ) from None
    return lines


class ConvShareClient:
    """Client of the ``convshare`` REST API of one Jupyter server (contract 5).

    Args:
        server_url: base URL including the server's base_url; ``None`` discovers the
            server (see :func:`discover_server`).
        token: API token (sent as ``Authorization: token <token>``).
        timeout: seconds per request.
        root_dir: the server's root directory when known (else discovered lazily).

    Every method raises :class:`ConvShareClientError` (with ``status`` and the server's
    ``message``) when the server answers with an error or cannot be reached.
    """

    def __init__(
        self,
        server_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        root_dir: str | None = None,
    ) -> None:
        info = discover_server(server_url, token)
        self.server_url: str = info.url
        self.token: str = info.token
        self.timeout = timeout
        self._root_dir: str | None = root_dir or info.root_dir
        self._root_checked = bool(self._root_dir)
        self._session = requests.Session()
        self._session.headers.update(_auth_headers(self.token))

    @classmethod
    def from_server_info(cls, info: ServerInfo, *, timeout: float = DEFAULT_TIMEOUT) -> ConvShareClient:
        """A client for an already discovered server."""
        return cls(info.url, info.token, timeout=timeout, root_dir=info.root_dir)

    def __repr__(self) -> str:
        return f"ConvShareClient({self.server_url!r})"

    # -- plumbing -------------------------------------------------------------------

    def api_url(self, *segments: str) -> str:
        """Absolute URL of ``convshare/api/<segments...>`` (each segment percent-quoted)."""
        tail = "/".join(quote(s, safe="") for s in segments)
        return f"{self.server_url}convshare/api/{tail}".rstrip("/")

    def _request(
        self,
        method: str,
        *segments: str,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        url = self.api_url(*segments)
        try:
            response = self._session.request(
                method,
                url,
                json=json_body,
                params=params,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise ConvShareClientError(
                f"cannot reach the Jupyter server at {self.server_url}: {exc.__class__.__name__}"
            ) from exc
        if response.status_code >= 300:
            raise self._error(response)
        if raw:
            return response.content
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ConvShareClientError(
                f"{method} {url}: the server did not answer with JSON",
                status=response.status_code,
            ) from None

    def _error(self, response: requests.Response) -> ConvShareClientError:
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        # A refused token gives a bare "Forbidden"/"Unauthorized" (tornado's reason phrase);
        # a real 403 from convshare explains itself.
        bare = str(message or "").strip().lower() in ("forbidden", "unauthorized", "")
        if isinstance(body, dict) and message and not (response.status_code in (401, 403) and bare):
            return ConvShareClientError(
                str(body["message"]),
                status=response.status_code,
                reason=body.get("reason") if isinstance(body.get("reason"), str) else None,
                field=body.get("field") if isinstance(body.get("field"), str) else None,
            )
        if response.status_code in (401, 403):
            return ConvShareClientError(
                f"the Jupyter server at {self.server_url} refused the token "
                "(pass token= or set JUPYTER_TOKEN)",
                status=response.status_code,
                reason="forbidden",
            )
        if response.status_code == 404:
            return ConvShareClientError(
                f"the convshare API was not found at {self.server_url}: is jupyter-convshare "
                "installed and enabled on that server (jupyter server extension list)?",
                status=404,
                reason="not_found",
            )
        return ConvShareClientError(
            f"the Jupyter server answered {response.status_code} {response.reason}",
            status=response.status_code,
        )

    def _share(self, data: Any) -> Share:
        if not isinstance(data, Mapping):
            raise ConvShareClientError("the server's answer is not a share object")
        return Share.from_json(data, self)

    @staticmethod
    def _items(data: Any, key: str) -> list[dict[str, Any]]:
        # Listings are {"<key>": [...]} (tolerate a bare list too).
        if isinstance(data, Mapping):
            data = data.get(key, [])
        return [dict(item) for item in data or []]

    # -- server ---------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``GET convshare/api/info``: the extension's version and settings (a dict)."""
        return dict(self._request("GET", "info") or {})

    @property
    def root_dir(self) -> str | None:
        """The server's root directory (absolute local path) when it can be known."""
        if not self._root_checked:
            self._root_checked = True
            try:
                value = self.info().get("root_dir")
            except ConvShareClientError:
                value = None
            self._root_dir = str(value) if value else None
        return self._root_dir

    def root_relative(self, path: str | os.PathLike[str]) -> str | None:
        """``path`` relative to the server's root (POSIX form), or ``None`` if outside/unknown."""
        root = self.root_dir
        if not root:
            return None
        absolute = Path(path).expanduser().resolve()
        try:
            rel = absolute.relative_to(Path(root).expanduser().resolve())
        except ValueError:
            return None
        return rel.as_posix()

    # -- conversations ----------------------------------------------------------------

    def list_conversations(self) -> list[dict[str, Any]]:
        """``GET convshare/api/conversations``: the owner's stored conversations (metadata)."""
        return self._items(self._request("GET", "conversations"), "conversations")

    def create_conversation(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST convshare/api/conversations``: import a conversation without sharing it.

        ``body`` is like the share body: ``{"path": ...}`` or ``{"conversation": ...,
        "name"?: str, "format"?: str}``.
        """
        return dict(self._request("POST", "conversations", json_body=dict(body)) or {})

    def import_conversation(self, conversation: Conversation, blobs: Mapping[str, bytes] | None = None) -> str:
        """Store ``conversation`` on the server (``POST convshare/api/conversations``, as
        convshare/1) with the bytes of its attachments, without sharing it.

        Args:
            conversation: the conversation (e.g. from ``core.importers``).
            blobs: ``{attachment id: bytes}`` for attachments the conversation already
                declares (sent as ``blobs: [{"attachment_id", "content_base64"}]``); those
                over the server's limits are left out (the attachment stays a reference,
                with a warning in ``conversation.source.warnings``).

        Returns:
            The stored conversation's id.

        Raises:
            ConvShareClientError: the server refused it (e.g. 413 over its size limits).
        """
        if blobs:
            blobs = self.fit_blobs(conversation, blobs)
        body: dict[str, Any] = {"conversation": conversation.to_dict(), "format": "convshare"}
        if blobs:
            body["blobs"] = [
                {"attachment_id": attachment_id, "content_base64": base64.b64encode(bytes(data)).decode("ascii")}
                for attachment_id, data in blobs.items()
            ]
        answer = self.create_conversation(body)
        return str(answer.get("id") or answer.get("conversation_id") or conversation.id)

    def fit_blobs(self, conversation: Conversation, blobs: Mapping[str, bytes]) -> dict[str, bytes]:
        """The blobs that fit the server's ``max_attachment_bytes`` and, all together with
        the conversation, its ``max_import_bytes`` (request body; base64 is 4/3 of the
        bytes). The others are left out, smallest kept first: their attachments stay
        references, each with a warning in ``conversation.source.warnings``, so one big
        file never fails a whole import half-way."""
        limits = self.__dict__.get("_import_limits")
        if limits is None:
            info = self.info()
            limits = self.__dict__["_import_limits"] = (
                info.get("max_attachment_bytes"), info.get("max_import_bytes"))
        max_file, max_body = (v if isinstance(v, int) and not isinstance(v, bool) else None for v in limits)
        warnings: list[str] = []
        size = len(json.dumps({"conversation": conversation.to_dict(), "format": "convshare"})) + 4096
        kept: dict[str, bytes] = {}
        for attachment_id, data in sorted(blobs.items(), key=lambda item: len(item[1])):
            name = conversation.attachments[attachment_id].name if attachment_id in conversation.attachments else attachment_id
            cost = (len(data) + 2) // 3 * 4 + len(attachment_id) + 64
            if max_file is not None and len(data) > max_file:
                warnings.append(f"attachment {name}: {len(data)} bytes is over the server's "
                                f"{max_file}-byte attachment limit: kept as a reference")
            elif max_body is not None and size + cost > max_body:
                warnings.append(f"attachment {name}: does not fit the server's {max_body}-byte request "
                                "limit with the rest of the conversation: kept as a reference")
            else:
                kept[attachment_id] = data
                size += cost
        conversation.source.warnings.extend(warnings)
        return {attachment_id: blobs[attachment_id] for attachment_id in blobs if attachment_id in kept}

    def import_file(
        self,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        conversation_id: str | Iterable[str] | None = None,
        title: str | Iterable[str] | None = None,
        progress: bool = True,
    ) -> dict[str, Any]:
        """Import the conversations of a local file into the server's store, ready to share.

        The notebook form of ``jupyter convshare import``: the format is detected (or
        ``format``, a key of ``core.importers.FORMATS``); the whole file is checked first,
        so a malformed file imports nothing; a big export (a JSON array of conversations:
        ChatGPT, Claude.ai, Open WebUI) is read one conversation at a time, with a tqdm
        progress bar (a widget in a notebook) when ``progress``. The file may be the data
        export ZIP ChatGPT sends: its conversations are imported with the uploaded and
        generated files they refer to. Each conversation is one
        ``POST convshare/api/conversations``.

        Args:
            conversation_id: import only this conversation (or these), by the id
                :meth:`list_file` shows or the export's own id.
            title: import only the conversation with exactly this title (or these titles).
                Without ``conversation_id`` and ``title`` every conversation is imported.

        Returns:
            ``{"format", "conversations": [{"conversation_id", "title", "messages",
            "branches", "created_at", "attachments", "files"?}], "skipped": [{"where",
            "title", "reason"}], "archive"?}`` with the stored ids.

        Raises:
            ImportFailed: the file cannot be imported (names the file, format and place),
                or an id or title matches nothing (or a title several conversations);
            ConvShareClientError: the server refused a conversation (those before it stay).
        """
        from .core.importers.stream import ConversationSummary, prepare

        ids = [conversation_id] if isinstance(conversation_id, str) else list(conversation_id or ())
        titles = [title] if isinstance(title, str) else list(title or ())
        with prepare(path, format=format, ids=ids, titles=titles, progress=progress) as plan:
            summary = plan.summary
            stored = []
            for conversation, blobs in plan.conversations():
                blobs = self.fit_blobs(conversation, blobs) if blobs else blobs
                files = len(blobs) if summary.archive else None
                conversation.id = self.import_conversation(conversation, blobs)
                stored.append(ConversationSummary.of(conversation, files=files))
            summary.conversations = stored
        return summary.to_json()

    @staticmethod
    def list_file(path: str | os.PathLike[str], *, format: str | None = None) -> dict[str, Any]:
        """What a local file (an export, an export ZIP, any importable file) holds, without
        importing anything: the ``jupyter convshare import FILE --list --json`` answer.

        Returns:
            ``{"format", "conversations": [{"conversation_id", "title", "messages",
            "branches", "created_at", "attachments", "files"?}], "skipped": [...]}``.

        Raises:
            ImportFailed: the file cannot be imported (names the file, format and place).
        """
        from .core.importers.stream import scan

        return scan(path, format=format).to_json()

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """``GET convshare/api/conversations/<id>``: the stored conversation."""
        return dict(self._request("GET", "conversations", conversation_id) or {})

    def update_conversation(self, conversation_id: str, **changes: Any) -> dict[str, Any]:
        """``PATCH convshare/api/conversations/<id>`` with ``changes`` (e.g. ``title=``)."""
        return dict(
            self._request("PATCH", "conversations", conversation_id, json_body=changes) or {}
        )

    def delete_conversation(self, conversation_id: str) -> None:
        """``DELETE convshare/api/conversations/<id>``: also revokes its shares."""
        self._request("DELETE", "conversations", conversation_id)

    def export_conversation(self, conversation_id: str, format: str = "json") -> bytes:
        """``GET convshare/api/conversations/<id>/export?format=...``: the file bytes of the
        owner's whole conversation.

        ``format`` is one of :data:`EXPORT_EXTENSIONS`' values: ``"json"`` (lossless
        convshare/1), ``"csv"``, ``"parquet"``, ``"md"``, ``"html"`` (one self-contained
        page), ``"chat"`` (jupyterlab-chat) or ``"ipynb"`` (a notebook).

        Raises:
            ConvShareClientError: 400 unknown format (``field="format"``), 404 no such
                conversation.
        """
        return bytes(
            self._request(
                "GET", "conversations", conversation_id, "export",
                params={"format": format}, raw=True,
            )
        )

    # -- shares -----------------------------------------------------------------------

    def create_share(
        self,
        *,
        path: str | None = None,
        conversation: Any = None,
        conversation_id: str | None = None,
        name: str | None = None,
        format: str | None = None,
        title: str | None = None,
        expires: str | datetime | None = "7d",
        mode: str = "live",
        files: Iterable[str | os.PathLike[str] | tuple[str, bytes]] = (),
        index: int | None = None,
        redaction: Mapping[str, Any] | None = None,
    ) -> Share:
        """``POST convshare/api/shares``: share a conversation, or get its existing share.

        Exactly one of ``path`` (root-relative on the server), ``conversation`` (any
        importable JSON object) or ``conversation_id`` is given.

        Args:
            expires: ``"1h"``, ``"24h"``, ``"7d"``, ``"30d"``, ``"never"`` (or ``None``),
                an ISO 8601 time or an aware datetime.
            mode: ``"live"`` or ``"snapshot"``.
            files: extra attachments: local paths, or ``(name, bytes)`` pairs.
            index: which conversation of a multi-conversation file.
            redaction: the owner's choices, any of ``exclude_message_ids`` (list of
                message ids), ``exclude_tool_payloads``, ``exclude_reasoning``,
                ``mask_secrets``, ``mask_emails`` (bools); for a conversation already
                shared they replace the existing share's.

        Returns:
            The :class:`Share` (``created`` is ``False`` when it already existed) with its
            ``findings``.

        Raises:
            ConvShareClientError: bad arguments, unreadable files, or the server's error.
        """
        given = [x is not None for x in (path, conversation, conversation_id)]
        if sum(given) != 1:
            raise ConvShareClientError(
                "give exactly one of path, conversation or conversation_id", field="source"
            )
        body: dict[str, Any] = {}
        if path is not None:
            body["path"] = path
        elif conversation_id is not None:
            body["conversation_id"] = conversation_id
        else:
            body["conversation"] = _jsonable(conversation)
            if name:
                body["name"] = name
        if format:
            body["format"] = format
        if title is not None:
            body["title"] = title
        body["expires"] = _expires_json(expires)
        body["mode"] = mode
        if index is not None:
            body["index"] = index
        extra = _encode_files(files)
        if extra:
            body["files"] = extra
        if redaction is not None:
            body["redaction"] = _redaction_json(redaction)
        return self._share(self._request("POST", "shares", json_body=body))

    def share(
        self,
        source: Any,
        title: str | None = None,
        expires: str | datetime | None = "7d",
        mode: str = "live",
        files: Iterable[str | os.PathLike[str] | tuple[str, bytes]] = (),
        *,
        index: int | None = None,
        format: str | None = None,
    ) -> Share:
        """Share ``source`` (see :func:`share` for what it may be). Returns a :class:`Share`."""
        if isinstance(source, Conversation):
            return self.create_share(
                conversation=source.to_dict(), title=title, expires=expires, mode=mode,
                files=files, index=index, format=format or "convshare",
            )
        if isinstance(source, (str, os.PathLike)):
            return self._share_path(
                source, title=title, expires=expires, mode=mode, files=files,
                index=index, format=format,
            )
        if isinstance(source, (bytes, bytearray)):
            try:
                parsed = json.loads(bytes(source))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ConvShareClientError(
                    f"<bytes>: not a JSON conversation: {exc}", field="conversation"
                ) from None
            source = parsed
        if isinstance(source, (Mapping, Sequence)):
            return self.create_share(
                conversation=source, title=title, expires=expires, mode=mode,
                files=files, index=index, format=format,
            )
        raise ConvShareClientError(
            f"cannot share a {type(source).__name__}: give a .chat path, a message list, "
            "a dict with 'messages' or a Conversation",
            field="source",
        )

    def _share_path(
        self,
        source: str | os.PathLike[str],
        **options: Any,
    ) -> Share:
        local = Path(os.path.expanduser(os.fspath(source)))
        if local.is_file():
            relative = self.root_relative(local)
            if relative is not None:
                # Inside the root: the server reads it itself, resolves its attachments
                # and can keep a live share in sync with the file.
                return self.create_share(path=relative, **options)
            return self.create_share(
                conversation=_read_json_file(local), name=local.name, **options
            )
        if local.exists():
            raise ConvShareClientError(f"{source}: not a file", field="path")
        if local.is_absolute():
            raise ConvShareClientError(f"{source}: no such file", field="path")
        # Not a local file: a path relative to the server's root (the server says if not).
        return self.create_share(path=Path(source).as_posix(), **options)

    def list_shares(self) -> list[Share]:
        """``GET convshare/api/shares``: the owner's shares, newest first."""
        return [self._share(item) for item in self._items(self._request("GET", "shares"), "shares")]

    def get_share(self, share_id: str) -> Share:
        """``GET convshare/api/shares/<share_id>``."""
        return self._share(self._request("GET", "shares", share_id))

    def update_share(
        self,
        share_id: str,
        *,
        expires: str | datetime | None | Any = ...,
        mode: str | Any = ...,
        link_enabled: bool | Any = ...,
        allow_reshare: bool | Any = ...,
        single_use: bool | Any = ...,
        chat_posting: bool | Any = ...,
        redaction: Mapping[str, Any] | Any = ...,
    ) -> Share:
        """``PATCH convshare/api/shares/<share_id>``; ``...`` (the default) leaves a setting as is.

        ``redaction`` (a dict of some of the redaction fields, see :meth:`create_share`) is
        merged into the share's choices; an unknown message id raises
        :class:`ConvShareClientError` (status 400, ``field="redaction.exclude_message_ids"``).

        ``link_enabled``, ``allow_reshare``, ``single_use`` and ``chat_posting`` (bools) need
        a server with the issue-3 share settings; an older one ignores or refuses them.
        ``chat_posting=True`` answers 403 unless the server's admin allows it
        (``ConvShareApp.allow_chat_posting``) and 409 unless the share is a live share of a
        ``.chat`` file (raised as :class:`ConvShareClientError` with ``status``).
        """
        body: dict[str, Any] = {}
        if expires is not ...:
            body["expires"] = _expires_json(expires)
        if mode is not ...:
            body["mode"] = mode
        for name, value in (
            ("link_enabled", link_enabled),
            ("allow_reshare", allow_reshare),
            ("single_use", single_use),
            ("chat_posting", chat_posting),
        ):
            if value is not ...:
                body[name] = bool(value)
        if redaction is not ...:
            body["redaction"] = _redaction_json(redaction)
        return self._share(self._request("PATCH", "shares", share_id, json_body=body))

    def findings(self, share_id: str) -> list[dict[str, Any]]:
        """``GET convshare/api/shares/<share_id>/findings``: secrets and personal data in
        what the share shows, judged with its current choices (owner or admin).

        Returns:
            ``[{"kind", "category", "message", "message_id", "part_index", "part_type",
            "attachment_id", "location", "preview", "count", "hidden"}, ...]`` (previews are
            masked; ``hidden``: viewers will not see it).
        """
        data = self._request("GET", "shares", share_id, "findings")
        return self._items(data, "findings")

    def update_snapshot(self, share_id: str) -> Share:
        """``POST convshare/api/shares/<share_id>/snapshot``: re-freeze, same link."""
        return self._share(self._request("POST", "shares", share_id, "snapshot", json_body={}))

    def rotate(self, share_id: str) -> Share:
        """``POST convshare/api/shares/<share_id>/rotate``: a new link; the old one dies."""
        return self._share(self._request("POST", "shares", share_id, "rotate", json_body={}))

    def revoke(self, share_id: str) -> None:
        """``DELETE convshare/api/shares/<share_id>``: the link answers 404 at once."""
        self._request("DELETE", "shares", share_id)

    def revoke_all(self) -> int:
        """``DELETE convshare/api/shares``: revoke every share; returns how many."""
        data = self._request("DELETE", "shares")
        return int((data or {}).get("revoked", 0))

    # -- sharing policy and admin (issue 6) ---------------------------------------------

    def policy(self, user: str | None = None) -> dict[str, Any]:
        """``GET convshare/api/policy``: the effective sharing policy of the current user (an
        admin may name another ``user``): ``{"user", "policy": {"max_expires_seconds",
        "allow_never", "allow_link", "allow_reshare"}, "sources", "expiry_presets",
        "default_expires"}``."""
        return dict(self._request("GET", "policy", params={"user": user} if user else None) or {})

    def admin_shares(self, **filters: Any) -> dict[str, Any]:
        """``GET convshare/api/admin/shares`` (admins): one page of every owner's shares.

        Filters (keyword arguments, see the REST API): ``owner``, ``group``, ``mode``,
        ``state`` (``"active"``, ``"expired"``, ``"revoked"``), ``link`` (``"on"``/``"off"``
        or a bool), ``reshare`` (``"yes"``/``"no"`` or a bool), ``q``, ``created_after``,
        ``created_before``, ``expires_after``, ``expires_before`` (ISO 8601 strings or aware
        datetimes), ``limit``, ``offset``. Returns ``{"shares", "total", "limit", "offset",
        "next_offset"}``. Raises ConvShareClientError (403 for a non-admin, 400 naming a bad filter).
        """
        params: dict[str, str] = {}
        for key, value in filters.items():
            if value is None:
                continue
            if key == "link" and isinstance(value, bool):
                value = "on" if value else "off"
            elif key == "reshare" and isinstance(value, bool):
                value = "yes" if value else "no"
            elif isinstance(value, datetime):
                value = value.isoformat()
            params[key] = str(value)
        return dict(self._request("GET", "admin", "shares", params=params) or {})

    def admin_all_shares(self, **filters: Any) -> list[dict[str, Any]]:
        """Every page of :meth:`admin_shares` (``limit`` per request, default 500), as one list."""
        filters.setdefault("limit", 500)
        filters["offset"] = filters.get("offset") or 0
        out: list[dict[str, Any]] = []
        while True:
            page = self.admin_shares(**filters)
            out += page.get("shares") or []
            if page.get("next_offset") is None:
                return out
            filters["offset"] = page["next_offset"]

    def admin_revoke_user(self, user: str) -> dict[str, Any]:
        """``POST convshare/api/admin/users/<user>/revoke`` (admins): revoke every share of
        ``user`` and every reshare they made, in one transaction. Returns ``{"user",
        "revoked", "shares", "reshares"}``."""
        return dict(self._request("POST", "admin", "users", user, "revoke", json_body={}) or {})

    def admin_policies(self) -> dict[str, Any]:
        """``GET convshare/api/admin/policies`` (admins): ``{"server", "groups", "users"}``."""
        return dict(self._request("GET", "admin", "policies") or {})

    def admin_set_policy(self, scope: str, name: str, **rule: Any) -> dict[str, Any]:
        """``PUT convshare/api/admin/policies/<scope>/<name>`` (admins): store the policy of a
        ``"group"`` or ``"user"`` (``max_expires`` like ``"7d"`` or ``max_expires_seconds``,
        ``allow_never``, ``allow_link``, ``allow_reshare``). Refused (400 naming the field)
        when looser than the levels above."""
        return dict(self._request("PUT", "admin", "policies", scope, name, json_body=rule) or {})

    def admin_delete_policy(self, scope: str, name: str) -> None:
        """``DELETE convshare/api/admin/policies/<scope>/<name>`` (admins; 404: none stored)."""
        self._request("DELETE", "admin", "policies", scope, name)

    def admin_apply_policy(self, owner: str | None = None) -> dict[str, Any]:
        """``POST convshare/api/admin/policies/apply`` (admins): bring existing shares (of
        ``owner``, or everyone's) within their makers' policies. Returns ``{"changed", "count"}``."""
        body = {"owner": owner} if owner else {}
        return dict(self._request("POST", "admin", "policies", "apply", json_body=body) or {})

    # -- identity, groups and grants (issue 3) -------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """``GET convshare/api/whoami``: ``{"name": str, "groups": [str], "is_admin": bool}``."""
        return dict(self._request("GET", "whoami") or {})

    def groups(self) -> list[dict[str, Any]]:
        """``GET convshare/api/groups``: the configured groups, ``[{"name": str, "members": int}]``."""
        return self._items(self._request("GET", "groups"), "groups")

    def list_grants(self, share_id: str) -> list[dict[str, Any]]:
        """``GET convshare/api/shares/<share_id>/grants``: the share's grants.

        Each grant is ``{"grant_id", "principal_type": "organization"|"group"|"user",
        "principal": str|None, "permission": "view"|"collaborate", "created_at",
        "updated_at"}`` (times ISO 8601 UTC).
        """
        return self._items(self._request("GET", "shares", share_id, "grants"), "grants")

    def grant(
        self,
        share_id: str,
        principal_type: str,
        principal: str | None = None,
        permission: str = "view",
    ) -> dict[str, Any]:
        """``POST convshare/api/shares/<share_id>/grants``: give ``permission`` to a principal.

        Args:
            principal_type: ``"organization"`` (every authenticated user; ``principal``
                ``None``), ``"group"`` or ``"user"`` (``principal`` names it).
            permission: ``"view"`` or ``"collaborate"``.

        Returns:
            The grant (an existing grant of the same principal is updated).
        """
        body = {"principal_type": principal_type, "principal": principal, "permission": permission}
        return dict(self._request("POST", "shares", share_id, "grants", json_body=body) or {})

    def update_grant(self, share_id: str, grant_id: str, permission: str) -> dict[str, Any]:
        """``PATCH convshare/api/shares/<share_id>/grants/<grant_id>``: change the permission."""
        return dict(
            self._request(
                "PATCH", "shares", share_id, "grants", grant_id,
                json_body={"permission": permission},
            )
            or {}
        )

    def revoke_grant(self, share_id: str, grant_id: str) -> None:
        """``DELETE convshare/api/shares/<share_id>/grants/<grant_id>``: remove a grant."""
        self._request("DELETE", "shares", share_id, "grants", grant_id)

    def shared_with_me(self) -> list[dict[str, Any]]:
        """``GET convshare/api/shared-with-me``: conversations granted to the current user.

        Each item is ``{"share_id", "conversation_id", "title", "owner", "permission",
        "url", "updated_at"}``.
        """
        return self._items(self._request("GET", "shared-with-me"), "conversations")

    def add_message(self, share_id: str, text: str, parent_id: str | None = None) -> dict[str, Any]:
        """``POST convshare/api/shares/<share_id>/messages``: add a message as a collaborator.

        Args:
            share_id: a share the current user may collaborate on (a ``collaborate``
                grant), or their own.
            text: the message, markdown (at most 100 000 characters).
            parent_id: the message to reply to (default: the last message of the default
                path; an earlier one starts a branch).

        Returns:
            ``{"message": <convshare/1 message>, "share_id", "conversation_id", ...}``.

        Raises:
            ConvShareClientError: 403 view-only or anonymous, 404 no access, 409 a
                snapshot share, 410 expired, 400 bad text, 404 (``field``
                ``parent_id``) an unknown parent or one the share excludes.
        """
        body: dict[str, Any] = {"text": text}
        if parent_id is not None:
            body["parent_id"] = parent_id
        return dict(self._request("POST", "shares", share_id, "messages", json_body=body) or {})

    # -- the library: conversations shared with me (issue 3 item 7) --------------------

    def library(
        self,
        *,
        archived: bool | None = False,
        tag: str | None = None,
        q: str | None = None,
    ) -> list[dict[str, Any]]:
        """``GET convshare/api/library``: my library (saved items and granted shares), newest first.

        Args:
            archived: ``False`` (default) not archived, ``True`` archived only, ``None`` all.
            tag: only items with this tag.
            q: only items whose name, title, origin, owner or a tag contains this text.

        Returns:
            Items ``{"item_id", "kind": "saved"|"granted", "share_id", "conversation_id",
            "title", "name", "origin", "owner", "permission", "status":
            "active"|"expired"|"revoked"|"copy", "tags", "archived", "saved_at",
            "updated_at", "url"}`` (times ISO 8601 UTC).
        """
        params = {"archived": "all" if archived is None else ("true" if archived else "false")}
        if tag:
            params["tag"] = tag
        if q:
            params["q"] = q
        return self._items(self._request("GET", "library", params=params), "items")

    def save_to_library(self, url_or_share_id: str) -> dict[str, Any]:
        """``POST convshare/api/library``: save a shared conversation into my library.

        Args:
            url_or_share_id: a share link URL (``.../convshare/s/<link>``) of this server
                (the item follows the share) or of another server (its export is
                imported as my own copy, marked with its origin); or the share id of a
                share granted to me.

        Returns:
            The item, with ``"created": False`` when it was already saved.

        Raises:
            ConvShareClientError: 400 (``field="url"``) not a share link, 404 the link
                does not work, 410 expired, 413 too large.
        """
        value = str(url_or_share_id).strip()
        body = {"url": value} if "://" in value else {"share_id": value}
        return dict(self._request("POST", "library", json_body=body) or {})

    def get_library_item(self, item_id: str) -> dict[str, Any]:
        """``GET convshare/api/library/<item_id>``: one item of my library."""
        return dict(self._request("GET", "library", item_id) or {})

    def _update_library_item(self, item_id: str, **changes: Any) -> dict[str, Any]:
        return dict(self._request("PATCH", "library", item_id, json_body=changes) or {})

    def rename_library_item(self, item_id: str, name: str | None) -> dict[str, Any]:
        """Give an item my own name (``None`` or ``""``: back to its title); returns the item.

        A granted item is saved by this: use the returned ``item_id`` from then on.
        """
        return self._update_library_item(item_id, name=name)

    def tag_library_item(self, item_id: str, tags: Iterable[str]) -> dict[str, Any]:
        """Replace an item's tags (strings, at most 30 of 50 characters); returns the item."""
        if isinstance(tags, str):
            tags = [tags]
        return self._update_library_item(item_id, tags=list(tags))

    def archive_library_item(self, item_id: str, archived: bool = True) -> dict[str, Any]:
        """Archive an item (``archived=False``: bring it back); returns the item."""
        return self._update_library_item(item_id, archived=bool(archived))

    def remove_library_item(self, item_id: str) -> None:
        """``DELETE convshare/api/library/<item_id>``: remove it (a copy is deleted with it).

        Raises:
            ConvShareClientError: 409 for a granted item never saved (archive it instead).
        """
        self._request("DELETE", "library", item_id)

    def read_library_item(self, item_id: str) -> Conversation:
        """``GET convshare/api/library/<item_id>/conversation``: the conversation it shows.

        Raises:
            ConvShareClientError: 404 the share is gone, 410 it expired.
        """
        data = self._request("GET", "library", item_id, "conversation")
        try:
            return Conversation.from_dict(data)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ConvShareClientError(f"the server's answer is not a conversation: {exc}") from None

    def qr_svg(self, share_id: str) -> bytes:
        """``GET convshare/api/shares/<share_id>/qr.svg``: the link's QR code (SVG bytes)."""
        return bytes(self._request("GET", "shares", share_id, "qr.svg", raw=True))

    def qr_png(self, share_id: str) -> bytes:
        """``GET convshare/api/shares/<share_id>/qr.png``: the link's QR code (PNG bytes)."""
        return bytes(self._request("GET", "shares", share_id, "qr.png", raw=True))

    def export(self, share_id: str, format: str = "json") -> bytes:
        """The shared conversation of ``share_id`` exported as ``format`` (owner's copy;
        formats as :meth:`export_conversation`)."""
        return self.export_conversation(self.get_share(share_id).conversation_id, format)

    def export_shared(self, share_id: str, format: str = "json") -> bytes:
        """``GET convshare/api/shares/<share_id>/export?format=...``: what the share shows,
        as its viewers see it (redacted: no system prompts, no owner account, no paths),
        for its owner, an admin or a grantee (formats as :meth:`export_conversation`).

        Raises:
            ConvShareClientError: 400 unknown format, 404 no such share (or no access),
                410 expired.
        """
        return bytes(self._request("GET", "shares", share_id, "export", params={"format": format}, raw=True))

    def save_export(
        self,
        share_id: str,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        as_viewer: bool = False,
    ) -> Path:
        """Write an export of the share ``share_id`` to the file ``path`` and return its path.

        Args:
            share_id: the share.
            path: the file to write (replaced whole, never half-written).
            format: the format; by default the one :data:`EXPORT_EXTENSIONS` gives for
                ``path``'s extension (``talk.html`` -> ``"html"``), else ``"json"``.
            as_viewer: write what viewers see (:meth:`export_shared`) rather than the
                owner's whole conversation (:meth:`export`).

        Raises:
            ConvShareClientError: as :meth:`export` / :meth:`export_shared`.
            OSError: the file cannot be written.
        """
        target = Path(path).expanduser()
        fmt = format or EXPORT_EXTENSIONS.get(target.suffix.lower(), "json")
        data = self.export_shared(share_id, fmt) if as_viewer else self.export(share_id, fmt)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return target


def _redaction_json(redaction: Any) -> dict[str, Any]:
    """A ``redaction`` argument as the JSON object the server takes (the server validates
    the fields); a tuple of message ids becomes a list."""
    if not isinstance(redaction, Mapping):
        raise ConvShareClientError("redaction: expected a dict of redaction choices", field="redaction")
    out = dict(redaction)
    ids = out.get("exclude_message_ids")
    if isinstance(ids, (tuple, set, frozenset)):
        out["exclude_message_ids"] = sorted(ids) if isinstance(ids, (set, frozenset)) else list(ids)
    return out


def _expires_json(expires: str | datetime | None) -> str | None:
    if expires is None:
        return "never"
    if isinstance(expires, datetime):
        if expires.tzinfo is None:
            raise ConvShareClientError(
                "expires: give a timezone-aware datetime (UTC)", field="expires"
            )
        return expires.astimezone(timezone.utc).isoformat()
    return str(expires)


def _encode_files(
    files: Iterable[str | os.PathLike[str] | tuple[str, bytes]],
) -> list[dict[str, str]]:
    """Extra attachments as ``[{"name", "content_base64", "mime_type"}]``.

    Raises:
        ConvShareClientError: a file is missing or unreadable (the message names it).
    """
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    encoded = []
    for item in files:
        if isinstance(item, tuple):
            name, content = item
            name = os.path.basename(str(name))
        else:
            path = Path(os.path.expanduser(os.fspath(item)))
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise ConvShareClientError(
                    f"{item}: cannot read attachment: {exc.strerror}", field="files"
                ) from exc
            name = path.name
        mime_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        encoded.append(
            {
                "name": name,
                "content_base64": base64.b64encode(bytes(content)).decode("ascii"),
                "mime_type": mime_type,
            }
        )
    return encoded


def share(
    source: Any,
    title: str | None = None,
    expires: str | datetime | None = "7d",
    mode: str = "live",
    files: Iterable[str | os.PathLike[str] | tuple[str, bytes]] = (),
    *,
    server_url: str | None = None,
    token: str | None = None,
    index: int | None = None,
) -> Share:
    """Share a conversation and get its link and QR code.

    Args:
        source: one of

            * a ``.chat`` (or ``.json``/``.jsonl``) file path: when the file lies inside
              the server's root it is sent as a root-relative ``path`` (the server resolves
              its attachments, and a live share follows the file); otherwise it is read
              here and its content sent with its file name. A relative path that does not
              exist locally is taken as relative to the server's root;
            * a message list (OpenAI Chat Completions or Anthropic Messages dicts, SDK
              objects with ``model_dump()`` too), or a dict with ``"messages"``;
            * a :class:`~jupyter_convshare.core.model.Conversation`.
        title: title shown to viewers (default: the source's title).
        expires: ``"1h"``, ``"24h"``, ``"7d"`` (default), ``"30d"``, ``"never"``/``None``,
            an ISO 8601 time or an aware datetime.
        mode: ``"live"`` (viewers see changes) or ``"snapshot"`` (frozen now).
        files: extra attachments: local paths, or ``(name, bytes)`` pairs.
        server_url, token: the server; by default it is discovered (see
            :func:`discover_server`).
        index: which conversation of a file that holds several.

    Returns:
        A :class:`Share`; in a notebook it displays the link, a QR code and the expiry.
        Sharing an already shared conversation returns the existing link.

    Raises:
        ConvShareClientError: no server found, unreadable file, or the server's error
            (``status`` and ``message``; e.g. 400 naming the malformed field).
    """
    path_hint = source if isinstance(source, (str, os.PathLike)) else None
    info = discover_server(server_url, token, path_hint=path_hint)
    client = ConvShareClient.from_server_info(info)
    return client.share(source, title=title, expires=expires, mode=mode, files=files, index=index)
