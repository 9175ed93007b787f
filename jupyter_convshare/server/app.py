"""The ``convshare`` jupyter-server extension: configuration, the service, the handler table.

DESIGN.md sections 2, 4, 5 and 7. ``ConvShareApp`` holds the traitlets configuration
(``c.ConvShareApp.*``), opens the :class:`~jupyter_convshare.core.shares.ShareService`
on the store folder, and registers the public viewer routes (``server/viewer.py``) and the
authenticated REST API (``server/api.py``) under ``{base_url}convshare/``.

It also owns the things both handler families need: :meth:`ConvShareApp.share_url`
(the absolute link of a share), :meth:`ConvShareApp.resolve_link` (what a link shows,
with live re-sync of file-backed conversations from the contents manager), its fast form
:meth:`ConvShareApp.check_link` (the viewer's per-request link check, no document decode)
and the page views counted in memory (:attr:`ConvShareApp.views`, written in batches).
"""

from __future__ import annotations

import asyncio
import getpass
import hmac
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from jupyter_server.extension.application import ExtensionApp, ExtensionAppJinjaMixin
from jupyter_server.utils import url_path_join
from tornado.httputil import HTTPServerRequest
from traitlets import Bool, Dict, Float, Integer, List, Set, Type, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from .._version import __version__
from ..core.access import Principal, has_capability
from ..core.policy import Policy
from ..core.errors import Conflict, ConvShareError, Forbidden, InvalidRequest
from ..core.model import Message
from ..core.redact import hidden_message_ids
from ..core.shares import (
    EXPIRY_PRESETS,
    MAX_MESSAGE_CHARS,
    UNSET,
    ResolvedShare,
    Share,
    ShareService,
    ViewCounter,
)
from . import live_chat, sources
from .base import link_redacting_log_function

try:  # jupyter-server's request-duration metric (absent in some versions)
    from jupyter_server.prometheus.log_functions import prometheus_log_method
except ImportError:  # pragma: no cover
    prometheus_log_method = None  # type: ignore[assignment]

PACKAGE_DIR = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

VIEW_FLUSH_SECONDS = 1.0
"""Page views are counted in memory and written at most this many seconds later."""


def _shows_debug(logger: logging.Logger) -> bool:
    """``True`` when a DEBUG record of ``logger`` would reach at least one handler."""
    if not logger.isEnabledFor(logging.DEBUG):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        if any(h.level <= logging.DEBUG for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def lean_viewer_log_function(
    log_function: Callable[[Any], None], record_metrics: bool = True
) -> Callable[[Any], None]:
    """Wrap tornado's ``log_function`` so that a viewer's successful response costs less.

    jupyter-server logs every successful request at DEBUG level, and its server logger
    usually lets DEBUG records through to handlers that then drop them: each viewer page
    paid for a formatted message and a log record nobody sees (DESIGN.md section 9: keep
    the public route lean). For a handler marked ``convshare_lean_log`` that answered
    below 400, the full log line is written only when some handler would show it; the
    request-duration metric (prometheus) is still recorded when the server records them.
    Errors and every other handler are logged as before.
    """

    def log_request(handler: Any) -> None:
        if getattr(handler, "convshare_lean_log", False) and handler.get_status() < 400:
            if _shows_debug(handler.log):
                log_function(handler)
            elif record_metrics and prometheus_log_method is not None:
                prometheus_log_method(handler)
            return
        log_function(handler)

    return log_request


class GroupSource(LoggingConfigurable):
    """Where group membership comes from (DESIGN.md section 4; hub groups come later).

    The default reads the app's ``groups`` trait and its ``groups_file`` (JSON
    ``{"group": ["user", ...]}``, re-read when its mtime changes). A subclass set through
    ``ConvShareApp.group_source_class`` may read any other source; it is created with
    ``app=<ConvShareApp>`` and must answer :meth:`all_groups` (fast: called per request).
    """

    def __init__(self, app: ConvShareApp, **kwargs: Any) -> None:
        super().__init__(parent=app, **kwargs)
        self.app = app
        self._file_mtime: float | None = None
        self._file_groups: dict[str, list[str]] = {}

    def all_groups(self) -> dict[str, list[str]]:
        """``{group name: [user names]}`` of the configured groups and the groups file."""
        merged: dict[str, set[str]] = {g: set(m) for g, m in self.app.groups.items()}
        for group, members in self._read_file().items():
            merged.setdefault(group, set()).update(members)
        return {g: sorted(m) for g, m in sorted(merged.items())}

    def groups_of(self, user: str) -> frozenset[str]:
        """Names of the groups ``user`` belongs to."""
        return frozenset(g for g, members in self.all_groups().items() if user in members)

    def principal_for_user(self, user: Any) -> Principal | None:
        """The whole principal of a request's ``current_user`` when this source knows it
        (JupyterHub: name, groups, admin flag and scopes from the hub's user model, see
        ``server/hub.py``), else ``None``: ``ConvShareApp.principal_for`` decides."""
        return None

    def is_admin(self, user: str) -> bool:
        """``True`` when this source says ``user`` is an admin (besides ``admin_users``)."""
        return False

    def _read_file(self) -> dict[str, list[str]]:
        path = self.app.groups_file
        if not path:
            return {}
        try:
            mtime = os.stat(path).st_mtime
        except OSError as exc:
            self.log.warning("convshare: groups_file %s unreadable: %s", path, exc)
            return {}
        if mtime != self._file_mtime:
            try:
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
                self._file_groups = _check_groups(data, f"groups_file {path}")
            except (OSError, ValueError) as exc:
                # keep the last good content: a half-written file must not drop every grant
                self.log.warning("convshare: groups_file %s not (re)loaded: %s", path, exc)
                return self._file_groups
            self._file_mtime = mtime
        return self._file_groups


def _check_groups(data: Any, where: str) -> dict[str, list[str]]:
    """``data`` as ``{str: [str]}``; ValueError naming ``where`` otherwise."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object {{group: [user, ...]}}")
    for group, members in data.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ValueError(f"{where}: group {group!r} must be a list of user names")
    return {str(g): list(m) for g, m in data.items()}


class ConvShareApp(ExtensionAppJinjaMixin, ExtensionApp):
    """Share AI conversations as links and QR codes (the ``convshare`` server extension).

    Attributes (besides the configurable traits):
        service: the :class:`ShareService` over ``store_dir`` (created at startup).
        library: the users' libraries (:class:`~jupyter_convshare.core.library.Library`)
            over the same service.
        views: the :class:`~jupyter_convshare.core.shares.ViewCounter` of viewer page
            views, flushed about every :data:`VIEW_FLUSH_SECONDS`, before the REST API
            answers with view counts, and when the server stops.
    """

    name = "convshare"
    description = __doc__
    load_other_extensions = True

    store_dir = Unicode(
        help="""Folder of the share store: the SQLite database (convshare.db), the attachment
        blobs and the link secret. Default: <jupyter data dir>/convshare.""",
    ).tag(config=True)

    owner = Unicode(
        help="""Principal that owns the conversations and shares created through this
        server's REST API. Default: the OS user running the server.""",
    ).tag(config=True)

    public_url = Unicode(
        "",
        help="""Base URL used to build share links reachable by others, e.g.
        'https://jupyter.example.org/user/me/' (links are <public_url>convshare/s/<link>).
        Default '': the scheme, host and base_url of the request that asks for the link.""",
    ).tag(config=True)

    default_expires = Unicode(
        help="""Expiry of a new share when the request gives none: one of 1h, 24h, 7d, 30d,
        never.""",
    ).tag(config=True)

    allow_never_expires = Bool(
        True,
        help="""Whether a share may never expire ("never" in the API). When False, "never"
        is refused with HTTP 400.""",
    ).tag(config=True)

    max_attachment_bytes = Integer(
        help="""Largest attachment (bytes) read from the Jupyter root or uploaded with a share.
        Larger attachments are shown as unavailable (file references) or refused with 413
        (uploads).""",
    ).tag(config=True)

    max_import_bytes = Integer(
        help="""Largest conversation source (bytes): a file shared by path, or a request body
        to the REST API. Larger ones are refused with HTTP 413.""",
    ).tag(config=True)

    live_check_interval = Float(
        help="""Seconds between two checks of a live share's source file for changes
        (at most one check per conversation per interval, triggered by viewer requests).""",
    ).tag(config=True)

    frame_ancestors = List(
        Unicode(),
        help="""Sources allowed to embed viewer pages in a frame (CSP frame-ancestors), e.g.
        ['https://lms.example.org']. Default []: frame-ancestors 'none'.""",
    ).tag(config=True)

    groups = Dict(
        help="""Groups for grants: {"class-2026": ["student1", "student2"]} (user names as the
        server's identity provider gives them).""",
    ).tag(config=True)

    groups_file = Unicode(
        "",
        help="""A JSON file of more groups, same shape as 'groups'; re-read when it changes.""",
    ).tag(config=True)

    admin_users = Set(
        Unicode(),
        help="""User names that may manage every share of this server (settings, grants,
        revoke), besides each share's owner.""",
    ).tag(config=True)

    policy = Dict(
        help="""The server's sharing policy (the top level; groups and users can only be
        stricter): {"max_expires": "30d" (or "max_expires_seconds": seconds; longest link
        lifetime, which also forbids never), "allow_never": bool, "allow_link": bool (anonymous
        links at all), "allow_reshare": bool}. Default {}: no restriction. An attempt beyond
        a user's effective policy answers 403 naming the field and the limit.""",
    ).tag(config=True)

    group_policies = Dict(
        help="""Sharing policies per group, same fields as 'policy': {"students": {"max_expires":
        "7d", "allow_link": false}}. A user gets the strictest of the server's, every one of
        their groups' and their own; admins can also store group policies through the admin API.""",
    ).tag(config=True)

    user_policies = Dict(
        help="""Sharing policies per user, same fields as 'policy': {"bob": {"allow_reshare": false}}
        (combined with stored user policies: the strictest wins).""",
    ).tag(config=True)

    allow_chat_posting = Bool(
        False,
        help="""Whether a share's owner may let collaborators' messages reach the AI personas of
        a live jupyterlab-chat (.chat) conversation (the share's "chat_posting" setting). The
        message then goes into the chat document itself, and a Jupyter AI persona answers it
        acting with the owner's credentials and tools (files, terminal, agent accounts).
        Default False: collaborators' messages are stored with the share only.""",
    ).tag(config=True)

    library_private_networks = Bool(
        True,
        help="""Whether saving another server's share link into a library may fetch its export
        from loopback and private network addresses (127/8, 10/8, 172.16/12, 192.168/16, ::1,
        fc00::/7). Link-local (cloud metadata), multicast and reserved addresses are never
        fetched. Turn it off on a server whose users must not reach internal hosts through it.""",
    ).tag(config=True)

    group_source_class = Type(
        default_value=GroupSource,
        klass=GroupSource,
        help="""Where group membership comes from (a GroupSource subclass).""",
    ).tag(config=True)

    hub_service_url = Unicode(
        help="""URL of the JupyterHub convshare service this single-user server uses instead
        of a store of its own, e.g. 'https://hub.example.org/services/convshare/'. Every
        convshare/api route is then forwarded there with the server's hub token
        (JUPYTERHUB_API_TOKEN, which needs access:services!service=convshare), and files shared
        live are pushed there when they change (server/hub_proxy.py). Default:
        CONVSHARE_SERVICE_URL when JUPYTERHUB_API_TOKEN is set too, else '' (standalone).""",
    ).tag(config=True)

    service_class = Type(
        default_value=ShareService,
        klass=ShareService,
        help="""The ShareService class (a subclass may add policy or another store).""",
    ).tag(config=True)

    # -- defaults -------------------------------------------------------------------------

    @default("store_dir")
    def _default_store_dir(self) -> str:
        from ..core.store import default_store_dir

        return str(default_store_dir())

    @default("owner")
    def _default_owner(self) -> str:
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (some containers)
            return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "owner"

    @default("hub_service_url")
    def _default_hub_service_url(self) -> str:
        from .hub_proxy import service_url_from_env

        return service_url_from_env(os.environ)

    @validate("hub_service_url")
    def _validate_hub_service_url(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"ConvShareApp.hub_service_url: {value!r} must start with http:// or https://")
        return value if not value or value.endswith("/") else value + "/"

    @default("default_expires")
    def _default_default_expires(self) -> str:
        return "7d"

    @default("max_attachment_bytes")
    def _default_max_attachment_bytes(self) -> int:
        return 50 * MIB

    @default("max_import_bytes")
    def _default_max_import_bytes(self) -> int:
        return 100 * MIB

    @default("live_check_interval")
    def _default_live_check_interval(self) -> float:
        return 2.0

    @validate("default_expires")
    def _validate_default_expires(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if value not in EXPIRY_PRESETS:
            raise ValueError(
                f"ConvShareApp.default_expires: {value!r} is not one of {sorted(EXPIRY_PRESETS)}"
            )
        return str(value)

    @validate("groups")
    def _validate_groups(self, proposal: dict[str, Any]) -> dict[str, list[str]]:
        return _check_groups(proposal["value"], "ConvShareApp.groups")

    @validate("policy")
    def _validate_policy(self, proposal: dict[str, Any]) -> dict[str, Any]:
        from ..core.policy import PolicyRule

        try:
            PolicyRule.from_json(proposal["value"], "ConvShareApp.policy")
        except InvalidRequest as exc:
            raise ValueError(f"ConvShareApp.policy: {exc.message}") from None
        return dict(proposal["value"])

    @validate("group_policies", "user_policies")
    def _validate_level_policies(self, proposal: dict[str, Any]) -> dict[str, Any]:
        from ..core.policy import PolicyRule

        name = f"ConvShareApp.{proposal['trait'].name}"
        value = proposal["value"]
        for key, rule in value.items():
            try:
                PolicyRule.from_json(rule, f"{name}[{key!r}]")
            except InvalidRequest as exc:
                raise ValueError(f"{name}[{key!r}]: {exc.message}") from None
        return dict(value)

    @validate("public_url")
    def _validate_public_url(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"ConvShareApp.public_url: {value!r} must start with http:// or https://")
        if value and not value.endswith("/"):
            value += "/"
        return value

    # -- extension hooks ------------------------------------------------------------------

    def initialize_settings(self) -> None:
        """Open the share store and expose the app and service to handlers (with
        ``hub_service_url``: no store, the hub service's forwarder instead)."""
        if self.hub_service_url:
            from .hub_proxy import TOKEN_ENV, HubForwarder

            self.hub: HubForwarder | None = HubForwarder(self, os.environ.get(TOKEN_ENV, ""))
            self.settings.update({"convshare_app": self})
            self.log.info("convshare: using the hub service at %s (no local store)", self.hub_service_url)
            return
        self.hub = None
        self.service: ShareService = self.service_class.open(
            self.store_dir,
            allow_never=self.allow_never_expires,
            max_blob_bytes=self.max_attachment_bytes,
        )
        self._live_checked: dict[str, float] = {}
        self._live_locks: dict[str, asyncio.Lock] = {}
        self.views = ViewCounter(self.service)
        from ..core.library import Library

        self.library: Library = Library(
            self.service,
            max_import_bytes=self.max_import_bytes,
            allow_private_networks=self.library_private_networks,
        )
        self._view_flush_timer: asyncio.TimerHandle | None = None
        self._view_flush_task: asyncio.Future[None] | None = None
        self.group_source: GroupSource = self.group_source_class(app=self)
        from ..core.admin import AdminShares
        from ..core.policy import PolicyBook

        self.policies: PolicyBook = PolicyBook(self.service)
        self.admin: AdminShares = AdminShares(self.service)
        self._warn_looser_policies()
        self.service.principal_of = self.principal_named
        self.settings.update({"convshare_app": self, "convshare_service": self.service})
        self._register_audit_events()
        log_function = self.settings.get("log_function")
        if log_function is not None and not getattr(log_function, "_convshare_redacting", False):
            record_metrics = bool(getattr(self.serverapp, "record_http_request_metrics", True))
            wrapped = lean_viewer_log_function(link_redacting_log_function(log_function), record_metrics)
            wrapped._convshare_redacting = True  # type: ignore[attr-defined]
            self.settings["log_function"] = wrapped
        self.log.info("convshare: store in %s; links owned by %r", self.store_dir, self.owner)

    def _register_audit_events(self) -> None:
        """Emit every committed audit event as a jupyter-server event (schema
        ``jupyter_convshare/events/audit.yaml``, id :data:`~..core.shares.AUDIT_SCHEMA_ID`).

        Store writes run in worker threads; jupyter_events may start listener tasks, which
        need the server's event loop, so events from other threads are handed to the loop
        (``IOLoop.add_callback``, thread-safe and in order).
        """
        from tornado.ioloop import IOLoop

        from ..core.shares import AUDIT_SCHEMA_ID, AuditEvent

        event_logger = getattr(self.serverapp, "event_logger", None)
        if event_logger is None:
            return
        if AUDIT_SCHEMA_ID not in event_logger.schemas.schema_ids:
            event_logger.register_event_schema(PACKAGE_DIR / "events" / "audit.yaml")
        loop = IOLoop.current()
        loop_thread = threading.get_ident()

        def emit(event: AuditEvent) -> None:
            data = event.to_json()
            if threading.get_ident() == loop_thread:
                event_logger.emit(schema_id=AUDIT_SCHEMA_ID, data=data)
            else:
                loop.add_callback(event_logger.emit, schema_id=AUDIT_SCHEMA_ID, data=data)

        self.service.audit_listeners.append(emit)

    def initialize_templates(self) -> None:
        """The package's Jinja templates (autoescaped by ExtensionAppJinjaMixin)."""
        self.template_paths = [str(PACKAGE_DIR / "templates")]

    def initialize_handlers(self) -> None:
        """Viewer routes (public, link-gated), then the REST API and the library's routes
        (authenticated)."""
        from . import admin_api, api, health, hub_proxy, library_api, viewer

        if self.hub_service_url:  # a hub single-user server: the service has the store
            self.handlers.extend(hub_proxy.forward_handlers)
            return
        self.handlers.extend(viewer.default_handlers)
        self.handlers.extend(health.default_handlers)
        self.handlers.extend(api.default_handlers)
        self.handlers.extend(library_api.default_handlers)
        self.handlers.extend(admin_api.default_handlers)
        self.handlers.extend(hub_proxy.sync_handlers)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Start pushing live files to the hub service (``hub_service_url`` only)."""
        hub = getattr(self, "hub", None)
        if hub is not None:
            hub.pusher.start()

    async def stop_extension(self) -> None:
        """Write the views counted in memory, then close the store, when the server stops."""
        hub = getattr(self, "hub", None)
        if hub is not None:
            await hub.pusher.stop()
        if not hasattr(self, "service"):
            return
        if self._view_flush_timer is not None:
            self._view_flush_timer.cancel()
            self._view_flush_timer = None
        if self._view_flush_task is not None:
            await asyncio.gather(self._view_flush_task, return_exceptions=True)
        try:
            await asyncio.to_thread(self.views.flush)
        except Exception as exc:  # the store is gone or locked: say what is lost
            self.log.error("convshare: %d page views not recorded at shutdown: %s", self.views.pending, exc)
        close = getattr(self.service, "close", None)
        if callable(close):
            close()

    # -- identity -------------------------------------------------------------------------

    def principal_for(self, handler: Any) -> Principal:
        """Who an authenticated request acts as (DESIGN.md section 5).

        * jupyter-server's own identity providers (token / password: one user per server):
          every authenticated request is the owner, ``ConvShareApp.owner``.
        * Another identity provider (several users on one server): the request whose
          ``current_user.username`` equals ``owner``, or one authenticated with the
          server's own token, acts as the owner; anyone else acts as themselves.

        ``groups`` come from the group source; ``is_admin`` from ``admin_users``.
        """
        user = handler.current_user
        known = self.group_source.principal_for_user(user)
        if known is not None:  # e.g. a hub user: the hub says who they are
            return known
        name = getattr(user, "username", None) or ""
        if self._acts_as_owner(handler, name):
            name = self.owner
        return self.principal_named(name)

    def principal_named(self, name: str) -> Principal:
        """The principal of user ``name`` as this server sees them now (groups from the
        group source, admin from ``admin_users``), e.g. a reshare's creator when their
        reshare's link is used. ``""`` gives an anonymous principal."""
        return Principal(
            name=name,
            is_admin=name in self.admin_users or (bool(name) and self.group_source.is_admin(name)),
            groups=self.group_source.groups_of(name) if name else frozenset(),
            authenticated=bool(name),
        )

    # -- sharing policy -------------------------------------------------------------------

    def server_policy(self) -> Policy:
        """The server level of the sharing policy (``policy``; ``allow_never_expires=False``
        forbids "never" too)."""
        from ..core.policy import server_policy

        return server_policy(self.policy, allow_never_expires=self.allow_never_expires)

    def effective_policy(self, principal: Principal) -> Policy:
        """The strictest of the server's policy, the configured and stored policies of every
        group of ``principal`` and their own (``core.policy.effective_policy``). Blocking
        (one store read): call it in a worker thread."""
        from ..core.policy import PolicyRule, effective_policy

        stored_groups, stored_user = self.policies.rules_for(principal.name, principal.groups)
        group_rules: dict[str, list[PolicyRule]] = {}
        for group in principal.groups:
            rules = list(stored_groups.get(group, []))
            if group in self.group_policies:
                rules.insert(0, PolicyRule.from_json(self.group_policies[group]))
            if rules:
                group_rules[group] = rules
        user_rules = list(stored_user)
        if principal.name in self.user_policies:
            user_rules.insert(0, PolicyRule.from_json(self.user_policies[principal.name]))
        policy = effective_policy(self.server_policy(), group_rules, principal.name, user_rules)
        if not has_capability(principal, "public"):
            # JupyterHub: a token without custom:convshare:public makes no anonymous links
            policy = policy.restrict(PolicyRule(allow_link=False), "hub (no custom:convshare:public scope)")
        return policy

    def policy_of(self, name: str) -> Policy:
        """:meth:`effective_policy` of user ``name`` as this server sees them now (blocking)."""
        return self.effective_policy(self.principal_named(name))

    def _warn_looser_policies(self) -> None:
        """Configured group/user policies looser than the server's are clamped (the strictest
        wins); say so once at startup."""
        from ..core.policy import PolicyRule, looser_fields

        server = self.server_policy()
        for trait, level in (("group_policies", "group"), ("user_policies", "user")):
            for name, rule in getattr(self, trait).items():
                looser = looser_fields(PolicyRule.from_json(rule), server)
                if looser:
                    self.log.warning(
                        "convshare: %s policy of %r is looser than the server's in %s: the server's applies",
                        level, name, ", ".join(looser),
                    )

    def _acts_as_owner(self, handler: Any, username: str) -> bool:
        from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider

        provider = getattr(handler, "identity_provider", None)
        if provider is None or type(provider) in (IdentityProvider, PasswordIdentityProvider):
            return True
        if username and username == self.owner:
            return True
        server_token = getattr(provider, "token", "") or ""
        try:
            sent = provider.get_token(handler) or ""
        except Exception:  # a provider without token support
            sent = ""
        return bool(server_token and sent) and hmac.compare_digest(sent.encode(), server_token.encode())

    # -- links ----------------------------------------------------------------------------

    def share_url(self, link: str, request: HTTPServerRequest | None = None) -> str:
        """The absolute URL of a share's viewer page.

        Args:
            link: the share's secret link token.
            request: the request asking for it; its scheme and host are used when
                ``public_url`` is not configured.

        Returns:
            ``{public_url}convshare/s/<link>``, or
            ``{scheme}://{host}{base_url}convshare/s/<link>`` (without ``public_url``
            and ``request``: the server's own connection URL).
        """
        if self.public_url:
            base = self.public_url
        elif request is not None:
            base_url = self.serverapp.base_url if self.serverapp is not None else "/"
            base = f"{request.protocol}://{request.host}{base_url}"
        else:
            assert self.serverapp is not None
            base = self.serverapp.connection_url
        return url_path_join(base, "convshare", "s", link)

    async def resolve_link(self, link: str, *, count_view: bool = True) -> ResolvedShare:
        """What a link shows, re-synced from its source file first when it is live.

        For a live share of a file-backed conversation (``source_path`` set), the file is
        stat-ed through the contents manager at most once per ``live_check_interval``
        seconds per conversation; when its mtime changed it is re-imported (attachments
        included) and merged with ``service.sync_conversation``. A source that fails to
        read or import (deleted, half-saved) leaves the stored conversation as it is.
        Store calls run in a worker thread; ``count_view`` writes the view at once. The
        viewer's page uses :meth:`check_link` instead (no document decode per request).

        Raises:
            NotFound: unknown, rotated, revoked or deleted link.
            Expired: the share has expired.
        """
        resolved = await asyncio.to_thread(self.service.resolve, link, count_view=count_view)
        if resolved.share.mode != "live":
            return resolved
        if await self._resync(resolved.share.owner, resolved.share.conversation_id):
            resolved = await asyncio.to_thread(self.service.resolve, link, count_view=False)
        return resolved

    async def check_link(self, link: str, *, count_view: bool = False) -> tuple[Share, str]:
        """The viewer's per-request link check: ``(share, cache_key)``, no document decoded.

        Like :meth:`resolve_link` (same errors, same live re-sync of a file-backed source,
        throttled by ``live_check_interval``), but it returns only the share and the key
        of what it shows now; a viewer with a cached page for that key serves it, and
        loads the conversation (``service.load_shared_conversation``) only on a miss.

        The link check runs inline on the event loop: it is one indexed SQLite ``SELECT``
        in autocommit mode (tens of microseconds; a WAL reader never waits for a writer),
        cheaper than the hop to a worker thread and back. With ``count_view`` the view is
        counted in memory (:attr:`views`) and written by a batched flush within about
        :data:`VIEW_FLUSH_SECONDS` (the write stays off the event loop); the returned
        share's ``view_count`` does not include it yet.

        Raises:
            NotFound: unknown, rotated, revoked or deleted link.
            Expired: the share has expired.
        """
        service = self.service
        share, key = service.resolve_share(link, count_view=False)
        if count_view:
            self.views.add(share.share_id, service.now())
            if self._view_flush_timer is None:
                self._view_flush_timer = asyncio.get_running_loop().call_later(
                    VIEW_FLUSH_SECONDS, self._start_view_flush
                )
        if share.mode == "live" and self._live_check_due(share.conversation_id):
            if await self._resync(share.owner, share.conversation_id):
                share, key = service.resolve_share(link, count_view=False)
        return share, key

    async def claim_link(self, share: Share, claimant: str) -> Share:
        """Let ``claimant`` open a checked link; the first opener claims a single-use link.

        For the viewer: call it after :meth:`check_link` (or :meth:`resolve_link`) on every
        link route (page, files, ZIP, exports, QR), before serving anything, including a
        cached page. Not single-use: returns at once (no I/O). Otherwise the claim is one
        short write in a worker thread (``ShareService.claim_link``).

        Args:
            share: the share :meth:`check_link` returned.
            claimant: ``"user:<name>"`` for a logged-in user, else
                ``"browser:<sha256 hex of a random per-browser cookie>"``.

        Raises:
            NotFound: claimed by someone else (answer the same 404 page as an unknown link).
        """
        if not share.single_use:
            return share
        if share.claimed_by is not None:
            return self.service.claim_link(share, claimant)  # no write: a comparison
        return await asyncio.to_thread(self.service.claim_link, share, claimant)

    def flush_views(self) -> int:
        """Write the page views counted in memory now (blocking: call it in a thread).

        The REST API calls it before answering with view counts, so the owner always sees
        every view. Returns how many views were written.
        """
        return self.views.flush()

    def _start_view_flush(self) -> None:
        self._view_flush_timer = None
        self._view_flush_task = asyncio.ensure_future(self._flush_views_in_thread())

    async def _flush_views_in_thread(self) -> None:
        try:
            await asyncio.to_thread(self.views.flush)
        except Exception as exc:  # e.g. the database stayed locked: keep them, try again
            self.log.warning("convshare: %d page views not written yet: %s", self.views.pending, exc)
            if self._view_flush_timer is None:
                self._view_flush_timer = asyncio.get_running_loop().call_later(
                    VIEW_FLUSH_SECONDS, self._start_view_flush
                )

    def _live_check_due(self, conversation_id: str) -> bool:
        """``False`` while the conversation's source was checked less than
        ``live_check_interval`` seconds ago (or is being checked right now)."""
        last = self._live_checked.get(conversation_id)
        if last is not None and time.monotonic() - last < self.live_check_interval:
            return False
        lock = self._live_locks.get(conversation_id)
        return lock is None or not lock.locked()

    def reset_live_check(self, conversation_id: str) -> None:
        """Forget when a conversation's source was last checked (it was just re-synced)."""
        self._live_checked.pop(conversation_id, None)

    async def _resync(self, owner: str, conversation_id: str) -> bool:
        """Re-import a file-backed conversation if its source changed; ``True`` if synced."""
        now = time.monotonic()
        last = self._live_checked.get(conversation_id)
        if last is not None and now - last < self.live_check_interval:
            return False
        lock = self._live_locks.setdefault(conversation_id, asyncio.Lock())
        if lock.locked():
            return False  # another request is syncing it right now
        async with lock:
            self._live_checked[conversation_id] = time.monotonic()
            info = await asyncio.to_thread(self.service.get_conversation_info, owner, conversation_id)
            if not info.source_path:
                return False
            cm = self.serverapp.contents_manager if self.serverapp is not None else None
            try:
                mtime, _size = await sources.stat(cm, info.source_path)
                if info.source_mtime is not None and mtime == info.source_mtime:
                    return False
                fresh, blobs, mtime = await sources.load_from_contents(
                    cm,
                    info.source_path,
                    format=info.source_format,
                    max_import_bytes=self.max_import_bytes,
                    max_attachment_bytes=self.max_attachment_bytes,
                )
            except ConvShareError as exc:
                self.log.warning(
                    "convshare: live source of conversation %s not re-synced: %s",
                    conversation_id,
                    exc.message,
                )
                return False
            fresh.id = conversation_id
            await asyncio.to_thread(
                self.service.sync_conversation, owner, conversation_id, fresh, blobs, mtime
            )
            return True

    async def add_collaborator_message(
        self,
        principal: Principal,
        share_id: str,
        text: str,
        parent_id: str | None = None,
    ) -> tuple[Share, Message, bool]:
        """Add a collaborator's message to a shared conversation (the REST API and the
        viewer's form both call this).

        Access is checked first (``service.access_to``). When every condition holds, the
        message goes into the live chat document of the conversation's ``.chat`` source
        (:func:`.live_chat.post_to_live_chat`, where a Jupyter AI persona answers it) and
        is stored with the share under the id the chat gave it, so the viewer shows it at
        once and the next re-sync of the file merges with it. The conditions: the server
        allows it (``allow_chat_posting``), the share's owner turned ``chat_posting`` on, the
        share is live, its conversation is a ``.chat`` file of this server, real-time
        collaboration runs here, and the message continues the chat (it replies to the
        chat's last message: a reply to an earlier one is a branch, which a flat
        jupyterlab-chat document cannot hold). Otherwise the message is stored with the
        share only, as ``ShareService.add_collaborator_message`` does. Store calls run in
        worker threads.

        Args:
            principal: the request's principal (:meth:`principal_for`).
            share_id: the share.
            text: markdown text.
            parent_id: the message to reply to (default: the active leaf).

        Returns:
            ``(share, message, delivered_to_chat)``; ``delivered_to_chat`` is ``True`` when
            the message went into the chat document.

        Raises:
            NotFound, Expired, Forbidden, Conflict, InvalidRequest, TooLarge: as
            ``ShareService.add_collaborator_message`` (nothing is posted to the chat then).
        """
        share, decision = await asyncio.to_thread(self.service.access_to, principal, share_id)
        delivered: tuple[str, str] | None = None
        path = await self._chat_posting_path(principal, share, decision, text)
        if path is not None:
            delivered = await self._post_to_chat(principal, share, path, text, parent_id)
        if delivered is None:
            share, message = await asyncio.to_thread(
                self.service.add_collaborator_message, principal, share_id, text, parent_id
            )
            return share, message, False
        message_id, after_id = delivered
        share, message = await asyncio.to_thread(
            self.service.add_collaborator_message, principal, share_id, text, after_id, message_id=message_id
        )
        return share, message, True

    async def _chat_posting_path(self, principal: Principal, share: Share, decision: str, text: Any) -> str | None:
        """The ``.chat`` path a collaborator's message may be posted to, or ``None``
        (store only: the switches are off, the share is not live, the conversation is no
        ``.chat`` file, the caller may not add messages, or the text would be refused)."""
        if not (self.allow_chat_posting and share.chat_posting and share.mode == "live"):
            return None
        if decision not in ("manage", "collaborate") or not principal.authenticated or not principal.name:
            return None
        if decision == "collaborate" and not has_capability(principal, "collaborate"):
            return None  # refused by the service (403 naming the hub scope), never posted
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE_CHARS:
            return None
        info = await asyncio.to_thread(self.service.get_conversation_info, share.owner, share.conversation_id)
        if not info.source_path or not info.source_path.endswith(live_chat.CHAT_SUFFIX):
            return None
        return info.source_path

    async def _post_to_chat(
        self, principal: Principal, share: Share, path: str, text: str, parent_id: str | None
    ) -> tuple[str, str] | None:
        """Post into the chat document when the message continues it: ``(message_id,
        id of the chat message it follows)``, or ``None`` (a branch, or no live chat here:
        the reason is logged)."""
        # Bring the store up to date with the file first, so the message the collaborator
        # sees as the last one is the chat's last one when nobody changed the chat since.
        self.reset_live_check(share.conversation_id)
        await self._resync(share.owner, share.conversation_id)
        _, _, conversation = await asyncio.to_thread(self.service.read_shared, principal, share.share_id)
        parent = parent_id if parent_id is not None else conversation.active_leaf_id
        if parent is None or parent not in conversation.messages:
            return None
        if principal.name != share.owner and parent in hidden_message_ids(conversation, share.redaction):
            return None  # a message its viewers do not see: the store refuses it (404), nothing is posted
        if self.serverapp is None:
            return None
        try:
            posted = await live_chat.post_to_live_chat(
                self.serverapp.web_app.settings, path, live_chat.RemoteSender(principal.name), text, reply_to=parent
            )
        except live_chat.LiveChatUnavailable as exc:
            self.log.info("convshare: message for share %s stored only: %s", share.share_id, exc)
            return None
        return posted, parent

    async def check_chat_posting(self, principal: Principal, share_id: str, mode: Any) -> None:
        """Refuse turning a share's ``chat_posting`` on when it cannot apply (PATCH).

        Only the share's managers are checked here (anyone else gets the usual answer of
        ``ShareService.update_share``).

        Args:
            principal: the request's principal.
            share_id: the share.
            mode: the mode the share will have (``"live"``/``"snapshot"``), or ``UNSET``.

        Raises:
            Forbidden: (403, ``field="chat_posting"``) the server does not allow it
                (``ConvShareApp.allow_chat_posting``).
            Conflict: (409, ``field="chat_posting"``) the share is a snapshot, or its
                conversation is not a jupyterlab-chat ``.chat`` file of this server.
            NotFound, Expired: as ``ShareService.access_to``.
        """
        share, decision = await asyncio.to_thread(self.service.access_to, principal, share_id)
        if decision != "manage":
            return
        if not self.allow_chat_posting:
            raise Forbidden(
                "chat_posting: this server does not let collaborators' messages reach AI personas "
                "(an admin can allow it with ConvShareApp.allow_chat_posting)",
                field="chat_posting",
            )
        if (share.mode if mode is UNSET else mode) != "live":
            raise Conflict("chat_posting: only a live share can post into its chat", field="chat_posting")
        info = await asyncio.to_thread(self.service.get_conversation_info, share.owner, share.conversation_id)
        if not info.source_path or not info.source_path.endswith(live_chat.CHAT_SUFFIX):
            raise Conflict(
                "chat_posting: only a share of a jupyterlab-chat .chat file on this server can post into its chat",
                field="chat_posting",
            )

    def check_expires(self, expires: Any, *, field: str = "expires") -> Any:
        """Apply the server's expiry policy to a requested expiry.

        Returns the value to pass to the service. Raises InvalidRequest (``field``) when
        the value is "never" (or null) and ``allow_never_expires`` is off.
        """
        if (expires is None or expires == "never") and not self.allow_never_expires:
            raise InvalidRequest("this server does not allow links that never expire", field=field)
        return expires

