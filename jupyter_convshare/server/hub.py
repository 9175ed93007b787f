"""The same ``convshare`` app as a JupyterHub service (DESIGN.md sections 6 and 7; issue 6).

``jupyter convshare hub-service`` (:func:`run_hub_service`) runs a Jupyter server with the
``convshare`` extension only, at the service's URL and prefix (``/services/convshare/``),
started and stopped by the hub (a *hub-managed service*). It owns the store (one OS user,
the same store protocol as a standalone server), so links keep working while their
owners' single-user servers are stopped or culled.

Who is asking is JupyterHub's business, reused rather than rewritten:

* :class:`HubIdentityProvider` is jupyterhub's own ``JupyterHubIdentityProvider``
  (``HubOAuth``): browsers log in through the hub's OAuth (``/services/convshare/oauth_callback``);
  scripts, kernels and single-user servers send a hub API token
  (``Authorization: token <token>``). Users need the scope
  ``access:services!service=convshare``.
* :class:`HubGroupSource` (``ConvShareApp.group_source_class``) turns the hub's user model
  into our :class:`~jupyter_convshare.core.access.Principal`: the hub user name, the hub's
  groups, admin for hub admins and for the scope ``custom:convshare:admin``, and the
  capabilities of the request's token (:data:`CUSTOM_SCOPES`).
* :class:`HubServiceAuthorizer` allows the convshare REST API only: the service is no
  notebook server, so contents, kernels, sessions and terminals answer 403 to everyone.

The public viewer (``/services/convshare/convshare/s/<link>``) needs no hub login.

**How fast hub changes apply.** ``HubOAuth`` caches what the hub says about a token for
``HubOAuth.cache_max_age`` seconds, and :class:`HubGroupSource` caches users and groups it
asks the hub about for as long. So a change on the hub (a user removed from a group, a role
or admin flag changed) reaches the service within that bound: ``--cache-max-age``,
:data:`DEFAULT_CACHE_MAX_AGE` seconds unless set (JupyterHub's own default is 300).

The service's own token needs ``read:users:name``, ``read:users:groups``, ``list:groups``
and ``read:groups`` (a role for the service: see ``examples/jupyterhub_config.py``).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote, urlparse

import requests
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.serverapp import ServerApp
from jupyterhub.singleuser.extension import JupyterHubIdentityProvider
from traitlets import Any as AnyTrait
from traitlets.config import Config

from ..core.access import CAPABILITIES, Principal
from .app import GroupSource

__all__ = [
    "ADMIN_SCOPE",
    "CUSTOM_SCOPES",
    "DEFAULT_CACHE_MAX_AGE",
    "REQUIRED_ENV",
    "SCOPE_PREFIX",
    "HubGroupSource",
    "HubIdentityProvider",
    "HubServiceServerApp",
    "HubServiceAuthorizer",
    "capabilities_from_scopes",
    "hub_service_config",
    "principal_from_hub_model",
    "run_hub_service",
]

SCOPE_PREFIX = "custom:convshare:"
"""Prefix of the service's custom scopes (``custom:convshare:<capability>``)."""

ADMIN_SCOPE = "custom:convshare:admin"
"""A holder manages every share of the service, as hub admins do."""

CUSTOM_SCOPES: dict[str, dict[str, str]] = {
    "custom:convshare:share": {
        "description": "Create conversation shares, grants and reshares in the convshare service.",
    },
    "custom:convshare:public": {
        "description": "Turn on share links that anyone can open without logging in.",
    },
    "custom:convshare:collaborate": {
        "description": "Add messages to conversations shared with you for collaboration.",
    },
    ADMIN_SCOPE: {
        "description": "Manage, list and revoke every share of the convshare service.",
    },
}
"""``c.JupyterHub.custom_scopes`` entries of the service: one scope per capability of
:data:`~jupyter_convshare.core.access.CAPABILITIES`, plus :data:`ADMIN_SCOPE`."""

DEFAULT_CACHE_MAX_AGE = 60
"""Seconds the service trusts what the hub said about a token, user or group."""

REQUIRED_ENV: tuple[str, ...] = (
    "JUPYTERHUB_SERVICE_URL",
    "JUPYTERHUB_API_TOKEN",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_CLIENT_ID",
)
"""Environment a hub-managed service with a URL receives from the hub, and needs."""

ALLOWED_RESOURCES = frozenset({"convshare"})
"""jupyter-server ``auth_resource`` names the service allows: its own REST API only."""

_HUB_PAGE = 200


def capabilities_from_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The capabilities (:data:`~jupyter_convshare.core.access.CAPABILITIES`) that hub
    ``scopes`` (a token's expanded scopes, as the hub's ``/api/user`` lists them) give.

    Only unfiltered ``custom:convshare:<capability>`` scopes count; :data:`ADMIN_SCOPE`
    gives every capability.
    """
    have = set(scopes)
    if ADMIN_SCOPE in have:
        return frozenset(CAPABILITIES)
    return frozenset(c for c in CAPABILITIES if SCOPE_PREFIX + c in have)


def principal_from_hub_model(model: Mapping[str, Any], extra_groups: Iterable[str] = ()) -> Principal:
    """Our principal for a hub user model (``GET /hub/api/user`` with the request's token).

    Args:
        model: ``{"kind": "user"|"service", "name": str, "admin"?: bool, "groups"?: [str],
            "scopes": [str]}``.
        extra_groups: groups configured on the service itself (``ConvShareApp.groups``).

    Returns:
        ``Principal(name, is_admin, groups, capabilities)``: the hub user's name; hub admins
        and holders of :data:`ADMIN_SCOPE` are admins; ``capabilities`` from the token's
        scopes. A service token acts as ``"service/<name>"`` (hub user names never hold a
        ``/``, so it cannot be mistaken for a user) with no groups.
    """
    scopes = [str(s) for s in model.get("scopes") or []]
    name = str(model.get("name") or "")
    if model.get("kind", "user") != "user":
        return Principal(
            name=f"service/{name}",
            is_admin=ADMIN_SCOPE in scopes,
            capabilities=capabilities_from_scopes(scopes),
        )
    groups = frozenset(str(g) for g in model.get("groups") or []) | frozenset(extra_groups)
    return Principal(
        name=name,
        is_admin=bool(model.get("admin")) or ADMIN_SCOPE in scopes,
        groups=groups,
        capabilities=capabilities_from_scopes(scopes),
    )


class HubIdentityProvider(JupyterHubIdentityProvider):
    """jupyterhub's ``JupyterHubIdentityProvider`` (HubOAuth and hub API tokens), naming the
    hub's OAuth cookie as the login cookie, so the viewer recognises a logged-in browser on
    its public pages (``ViewerHandler.may_be_signed_in``)."""

    def get_cookie_name(self, handler: Any) -> str:
        """The service's HubOAuth cookie (``HubOAuth.cookie_name``)."""
        return str(self.hub_auth.cookie_name)


class HubServiceAuthorizer(Authorizer):
    """Allow the convshare REST API (``auth_resource`` ``"convshare"``) to hub users with the
    service's access scope; refuse everything else jupyter-server serves.

    The service runs as its own OS user and owns every user's shares: its contents,
    kernels, sessions and terminals must never be reachable (403 for everyone).
    """

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        """``True`` only for :data:`ALLOWED_RESOURCES` and a hub user (or service) whose
        token holds ``HubOAuth.access_scopes`` (``access:services!service=<name>``)."""
        if resource not in ALLOWED_RESOURCES:
            self.log.info("convshare hub service: %s on %r refused (not a convshare resource)", action, resource)
            return False
        model = getattr(user, "hub_user", None)
        hub_auth = getattr(self.identity_provider, "hub_auth", None)
        if not isinstance(model, dict) or hub_auth is None:
            return False
        return bool(hub_auth.check_scopes(hub_auth.access_scopes, model))


class HubGroupSource(GroupSource):
    """Groups, admins and identities from JupyterHub (``ConvShareApp.group_source_class``).

    * :meth:`principal_for_user`: a request's principal from the hub model its token
      resolved to (no extra hub call; HubOAuth caches it for ``cache_max_age``).
    * :meth:`groups_of`, :meth:`is_admin`: a user who is not the requester (e.g. the creator
      of a reshare whose link is opened): ``GET /hub/api/users/<name>``.
    * :meth:`all_groups`: ``GET /hub/api/groups`` (every page), e.g. to check a group grant.

    Answers from the hub are cached for :attr:`cache_seconds` (the identity provider's
    ``HubOAuth.cache_max_age``). Groups configured on the service itself
    (``ConvShareApp.groups``, ``groups_file``) are added to the hub's. Calls are blocking
    (``requests``, :data:`TIMEOUT_SECONDS`): the REST API makes them in worker threads.
    When the hub cannot be asked, a user has no hub groups (access fails closed) and the
    reason is logged.
    """

    TIMEOUT_SECONDS = 5.0

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._lock = threading.Lock()
        self._users: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._groups: tuple[float, dict[str, list[str]]] | None = None

    @property
    def hub_auth(self) -> Any:
        """The identity provider's ``HubOAuth`` (its API URL, service token and cache age)."""
        provider: Any = getattr(self.app.serverapp, "identity_provider", None)
        return provider.hub_auth

    @property
    def cache_seconds(self) -> float:
        """How long (seconds) answers from the hub are reused: ``HubOAuth.cache_max_age``."""
        return float(self.hub_auth.cache_max_age)

    def principal_for_user(self, user: Any) -> Principal | None:
        """The principal of a request's ``current_user`` (a ``JupyterHubUser``), or ``None``
        when it carries no hub model."""
        model = getattr(user, "hub_user", None)
        if not isinstance(model, dict):
            return None
        name = str(model.get("name") or "")
        return principal_from_hub_model(model, GroupSource.groups_of(self, name) if name else ())

    def is_admin(self, name: str) -> bool:
        """``True`` when the hub says ``name`` is a hub admin (cached)."""
        model = self._user_model(name)
        return bool(model and model.get("admin"))

    def groups_of(self, user: str) -> frozenset[str]:
        """The hub's groups of ``user`` (cached) and the service's configured ones."""
        model = self._user_model(user)
        hub_groups = frozenset(str(g) for g in (model or {}).get("groups") or [])
        return hub_groups | super().groups_of(user)

    def all_groups(self) -> dict[str, list[str]]:
        """``{group: [user, ...]}``: the hub's groups (cached) and the configured ones."""
        now = time.monotonic()
        with self._lock:
            cached = self._groups
        if cached is None or now - cached[0] >= self.cache_seconds:
            try:
                groups = self._fetch_groups()
            except (requests.RequestException, ValueError) as exc:
                self.log.warning("convshare: hub groups not read: %s", exc)
                groups = cached[1] if cached is not None else {}
            else:
                with self._lock:
                    self._groups = (now, groups)
        else:
            groups = cached[1]
        merged = {g: set(m) for g, m in groups.items()}
        for group, members in super().all_groups().items():
            merged.setdefault(group, set()).update(members)
        return {g: sorted(m) for g, m in sorted(merged.items())}

    # -- the hub's REST API ----------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        hub_auth = self.hub_auth
        return requests.get(
            hub_auth.api_url.rstrip("/") + "/" + path,
            params=params,
            headers={
                "Authorization": f"token {hub_auth.api_token}",
                "Accept": "application/jupyterhub-pagination+json",
            },
            timeout=self.TIMEOUT_SECONDS,
        )

    def _user_model(self, name: str) -> dict[str, Any] | None:
        """The hub's model of user ``name`` (``None``: no such user, or the hub did not answer)."""
        if not name or "/" in name:
            return None  # not a hub user name (e.g. "service/<name>")
        now = time.monotonic()
        with self._lock:
            cached = self._users.get(name)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            response = self._get(f"users/{quote(name, safe='')}")
            if response.status_code == 404:
                model: dict[str, Any] | None = None
            else:
                response.raise_for_status()
                model = response.json()
        except (requests.RequestException, ValueError) as exc:
            self.log.warning("convshare: hub user %r not read: %s", name, exc)
            return None  # fail closed, and ask again next time
        with self._lock:
            if len(self._users) > 10_000:  # bounded: drop everything older than the cache age
                self._users = {k: v for k, v in self._users.items() if now - v[0] < self.cache_seconds}
            self._users[name] = (now, model)
        return model

    def _fetch_groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        offset = 0
        while True:
            response = self._get("groups", {"offset": offset, "limit": _HUB_PAGE})
            response.raise_for_status()
            data = response.json()
            items = data.get("items", []) if isinstance(data, dict) else data
            for item in items:
                groups[str(item["name"])] = [str(u) for u in item.get("users") or []]
            page = data.get("_pagination") if isinstance(data, dict) else None
            if not page or not page.get("next") or not items:
                return groups
            offset = int(page["next"]["offset"])


def hub_service_config(
    env: Mapping[str, str],
    *,
    store_dir: str,
    cache_max_age: int = DEFAULT_CACHE_MAX_AGE,
    public_url: str = "",
) -> Config:
    """The Jupyter server configuration of the hub service.

    Args:
        env: the environment the hub gave the service (:data:`REQUIRED_ENV`, and
            ``JUPYTERHUB_SERVICE_PREFIX``, ``JUPYTERHUB_SERVICE_NAME``,
            ``JUPYTERHUB_PUBLIC_URL`` when the hub sets them).
        store_dir: the store folder (created when missing; the service's own OS user
            only, mode 0700).
        cache_max_age: seconds hub answers are reused (see the module docstring).
        public_url: base of the links handed out; default ``JUPYTERHUB_PUBLIC_URL``
            (set when ``c.JupyterHub.public_url`` is), else the requests' own host.

    Raises:
        KeyError: a required variable is missing (names it).
    """
    missing = [k for k in REQUIRED_ENV if not env.get(k)]
    if missing:
        raise KeyError(", ".join(missing))
    name = env.get("JUPYTERHUB_SERVICE_NAME") or "convshare"
    url = urlparse(env["JUPYTERHUB_SERVICE_URL"])
    store = Path(store_dir).expanduser()
    root = store / "service-root"  # an empty root: the service serves no files of its own
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(store, 0o700)

    c = Config()
    c.ServerApp.jpserver_extensions = {"jupyter_convshare": True}
    c.ServerApp.ip = url.hostname or "127.0.0.1"
    c.ServerApp.port = url.port or (443 if url.scheme == "https" else 80)
    c.ServerApp.port_retries = 0
    c.ServerApp.base_url = env.get("JUPYTERHUB_SERVICE_PREFIX") or f"/services/{name}/"
    c.ServerApp.identity_provider_class = HubIdentityProvider
    c.ServerApp.authorizer_class = HubServiceAuthorizer
    c.ServerApp.allow_remote_access = True  # requests come through the hub's proxy
    c.ServerApp.trust_xheaders = True
    c.ServerApp.open_browser = False
    c.ServerApp.allow_root = True  # no kernels here: running as root starts none
    c.ServerApp.terminals_enabled = False
    c.ServerApp.root_dir = str(root)
    c.ServerApp.default_url = "/convshare/api/health"
    # tornado's own XSRF check runs before the identity provider; jupyter-server checks
    # every POST itself, with HubOAuth's XSRF rules (as jupyterhub-singleuser does)
    c.ServerApp.tornado_settings = {"xsrf_cookies": False}
    c.HubOAuth.cache_max_age = int(cache_max_age)
    c.ConvShareApp.store_dir = str(store)
    c.ConvShareApp.group_source_class = HubGroupSource
    c.ConvShareApp.hub_service_url = ""  # the service has the store: it forwards nowhere
    # hub user names never contain "/": no hub user acts as the service's principal
    c.ConvShareApp.owner = f"jupyterhub-service/{name}"
    link_base = public_url or env.get("JUPYTERHUB_PUBLIC_URL", "")
    if link_base:
        c.ConvShareApp.public_url = link_base
    return c


class HubServiceServerApp(ServerApp):
    """jupyter-server's ``ServerApp``, serving on a socket bound before it was imported.

    JupyterHub gives a managed service about ten seconds to accept connections before it
    gives up and exits; importing jupyter-server takes longer than that on a busy machine.
    ``jupyter convshare hub-service`` binds the service's address first
    (``jupyter_convshare.cli.listen_early``); the hub's first request waits in the socket's backlog and is
    answered once the server runs.
    """

    early_socket = AnyTrait(None, allow_none=True, help="A bound, listening, non-blocking TCP socket.")

    def _find_http_port(self) -> None:
        if self.early_socket is None:
            super()._find_http_port()

    def _bind_http_server(self) -> None:
        if self.early_socket is None:
            super()._bind_http_server()
            return
        self.http_server.add_sockets([self.early_socket])


def run_hub_service(
    env: Mapping[str, str],
    *,
    store_dir: str,
    cache_max_age: int = DEFAULT_CACHE_MAX_AGE,
    public_url: str = "",
    config_file: str = "",
    early_socket: socket.socket | None = None,
) -> None:
    """Run the service until it is stopped (the hub sends SIGTERM).

    No Jupyter config file of the OS user or the environment is read (``JUPYTER_NO_CONFIG``):
    the service is configured by :func:`hub_service_config` and, when given, ``config_file``
    (a Python config file, ``c.ConvShareApp.*`` etc., loaded last so it may override).

    Args:
        early_socket: the service's listening socket (``cli.listen_early``), or ``None``
            to bind ``JUPYTERHUB_SERVICE_URL``'s address now.

    Raises:
        KeyError: a required environment variable is missing.
    """
    from traitlets.config.loader import PyFileConfigLoader

    config = hub_service_config(env, store_dir=store_dir, cache_max_age=cache_max_age, public_url=public_url)
    if config_file:
        path = Path(config_file).expanduser().resolve()
        config.merge(PyFileConfigLoader(path.name, str(path.parent)).load_config())
    os.environ["JUPYTER_NO_CONFIG"] = "1"
    app = HubServiceServerApp.instance(config=config, early_socket=early_socket)
    app.initialize(argv=[], find_extensions=False)
    app.start()
