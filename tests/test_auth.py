"""Authentication of every route the extension registers (DESIGN.md section 5).

The server runs with ``ServerApp.allow_unauthenticated_access = False`` (conftest), and
pyproject turns ``JupyterServerAuthWarning`` into an error, so an undecorated handler fails
the server start. On top of that: every REST route refuses requests without credentials,
cross-origin and cookie requests without the XSRF token are refused, and a walk over the
handler table fails on any method that is neither ``@web.authenticated`` nor
``@allow_unauthenticated``, and on any ``@allow_unauthenticated`` method that is not a
viewer GET/HEAD.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import warnings
from http.cookies import SimpleCookie

import pytest
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import JupyterServerAuthWarning, url_path_join
from tornado import web

from jupyter_convshare.server import admin_api as admin_api_module
from jupyter_convshare.server import hub_proxy as hub_proxy_module
from jupyter_convshare.server import api as api_module
from jupyter_convshare.server import health as health_module
from jupyter_convshare.server import library_api as library_api_module
from jupyter_convshare.server import viewer as viewer_module

from .server_helpers import body_json, make_api, two_message_chat, write_chat

ROUTES = [
    ("GET", "info"),
    ("GET", "conversations"),
    ("POST", "conversations"),
    ("GET", "conversations/{conversation_id}"),
    ("PATCH", "conversations/{conversation_id}"),
    ("DELETE", "conversations/{conversation_id}"),
    ("GET", "conversations/{conversation_id}/export"),
    ("PATCH", "conversations/{conversation_id}/messages/{message_id}"),
    ("DELETE", "conversations/{conversation_id}/messages/{message_id}"),
    ("GET", "shares"),
    ("POST", "shares"),
    ("DELETE", "shares"),
    ("GET", "shares/{share_id}"),
    ("PATCH", "shares/{share_id}"),
    ("DELETE", "shares/{share_id}"),
    ("POST", "shares/{share_id}/rotate"),
    ("POST", "shares/{share_id}/snapshot"),
    ("GET", "shares/{share_id}/qr.svg"),
    ("GET", "shares/{share_id}/qr.png"),
    ("GET", "shares/{share_id}/export"),
    ("POST", "shares/{share_id}/reshare"),
    ("POST", "shares/{share_id}/messages"),
    ("GET", "shares/{share_id}/audit"),
    ("GET", "shares/{share_id}/grants"),
    ("POST", "shares/{share_id}/grants"),
    ("PATCH", "shares/{share_id}/grants/{grant_id}"),
    ("DELETE", "shares/{share_id}/grants/{grant_id}"),
    ("GET", "whoami"),
    ("GET", "groups"),
    ("GET", "shared-with-me"),
    ("GET", "library"),
    ("POST", "library"),
    ("GET", "library/{item_id}"),
    ("PATCH", "library/{item_id}"),
    ("DELETE", "library/{item_id}"),
    ("GET", "library/{item_id}/conversation"),
]

_AUTHENTICATED_CODE = web.authenticated(lambda self: None).__code__  # type: ignore[arg-type]


def is_web_authenticated(method) -> bool:
    """``True`` when ``method``'s outermost decorator is tornado's ``@web.authenticated``."""
    return getattr(method, "__code__", None) is _AUTHENTICATED_CODE and hasattr(method, "__wrapped__")


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


async def make_share(api, jp_root_dir):
    """A real share, so that a refused request is not merely a 404."""
    write_chat(jp_root_dir, "private.chat", two_message_chat())
    response = await api("POST", "shares", body={"path": "private.chat"})
    assert response.code == 201
    return body_json(response)


def api_url(jp_base_url: str, route: str, share: dict) -> str:
    path = route.format(
        conversation_id=urllib.parse.quote(share["conversation_id"], safe=""),
        share_id=share["share_id"],
        grant_id="no-such-grant",
        item_id="no-such-item",
        message_id="m1",
    )
    return url_path_join(jp_base_url, "convshare", "api", path)


def test_the_server_runs_without_unauthenticated_access(jp_serverapp):
    assert jp_serverapp.allow_unauthenticated_access is False
    assert jp_serverapp.web_app.settings["allow_unauthenticated_access"] is False


@pytest.mark.parametrize("method, route", ROUTES, ids=[f"{m} {r}" for m, r in ROUTES])
@pytest.mark.parametrize("credentials", ["none", "wrong-token"])
async def test_every_api_route_refuses_requests_without_valid_credentials(
    http_server_client, jp_base_url, jp_root_dir, api, method, route, credentials
):
    existing_share = await make_share(api, jp_root_dir)
    headers = {"Authorization": "token not-the-server-token"} if credentials == "wrong-token" else {}
    body = json.dumps({"path": "private.chat"}) if method in ("POST", "PATCH") else None
    response = await http_server_client.fetch(
        api_url(jp_base_url, route, existing_share),
        method=method,
        headers=headers,
        body=body,
        raise_error=False,
        follow_redirects=False,
        allow_nonstandard_methods=True,
    )
    assert response.code in (401, 403), (response.code, response.body)
    assert existing_share["share_id"].encode() not in response.body
    # And nothing changed: the share is still there with its link
    still = await api("GET", "shares", existing_share["share_id"])
    assert body_json(still)["url"] == existing_share["url"]


async def test_a_cookie_session_needs_the_xsrf_token_and_the_same_origin(http_server_client, jp_base_url, jp_serverapp, jp_root_dir):
    # Given a browser session logged in with the server token (cookie auth, not token auth)
    write_chat(jp_root_dir, "c.chat", two_message_chat())
    login_url = url_path_join(jp_base_url, "login")
    page = await http_server_client.fetch(login_url, raise_error=False, follow_redirects=False)
    cookies = SimpleCookie()
    for header in page.headers.get_list("Set-Cookie"):
        cookies.load(header)
    xsrf = cookies["_xsrf"].value
    login = await http_server_client.fetch(
        login_url,
        method="POST",
        body=urllib.parse.urlencode({"password": jp_serverapp.identity_provider.token, "_xsrf": xsrf}),
        headers={"Cookie": f"_xsrf={xsrf}"},
        raise_error=False,
        follow_redirects=False,
    )
    assert login.code == 302
    for header in login.headers.get_list("Set-Cookie"):
        cookies.load(header)
    cookie_header = "; ".join(f"{k}={v.value}" for k, v in cookies.items())
    shares_url = url_path_join(jp_base_url, "convshare", "api", "shares")
    body = json.dumps({"path": "c.chat"})
    # When a page posts with the session cookie but without the XSRF token (a CSRF attempt)
    forged = await http_server_client.fetch(
        shares_url, method="POST", body=body, headers={"Cookie": cookie_header},
        raise_error=False, follow_redirects=False,
    )
    # Then it is refused
    assert forged.code == 403
    # And a page on another origin is refused even with a stolen XSRF token
    cross_origin = await http_server_client.fetch(
        shares_url, method="POST", body=body,
        headers={"Cookie": cookie_header, "X-XSRFToken": xsrf, "Origin": "https://evil.example"},
        raise_error=False, follow_redirects=False,
    )
    assert cross_origin.code in (403, 404)
    # While the same-origin page with the token (as JupyterLab sends it) succeeds
    genuine = await http_server_client.fetch(
        shares_url, method="POST", body=body,
        headers={"Cookie": cookie_header, "X-XSRFToken": xsrf},
        raise_error=False, follow_redirects=False,
    )
    assert genuine.code == 201, genuine.body


def registered_handlers(convshare_app) -> list[tuple[str, type]]:
    return [(item[0], item[1]) for item in convshare_app.handlers]


def test_the_handler_table_is_the_viewer_then_the_api(convshare_app):
    handlers = registered_handlers(convshare_app)
    expected = (
        [(p, h) for p, h, *_ in viewer_module.default_handlers]
        + list(health_module.default_handlers)
        + list(api_module.default_handlers)
        + list(library_api_module.default_handlers)
        + list(admin_api_module.default_handlers)
        + list(hub_proxy_module.sync_handlers)
    )
    assert handlers == expected


def test_every_handler_method_has_an_auth_decision(convshare_app):
    problems = []
    for pattern, handler in registered_handlers(convshare_app):
        for name in handler.SUPPORTED_METHODS:
            method = getattr(handler, name.lower())
            if method is web.RequestHandler._unimplemented_method:
                continue
            public = getattr(method, "__allow_unauthenticated", False)
            if not public and not is_web_authenticated(method):
                problems.append(f"{name} of {handler.__name__} ({pattern}) has no auth decorator")
            if public:
                viewer_read = handler.__module__ == viewer_module.__name__ and name in ("GET", "HEAD")
                # the health check (status only, nothing else: test_health.py)
                viewer_read = viewer_read or (handler is health_module.HealthHandler and name in ("GET", "HEAD"))
                cors_preflight = method is APIHandler.options  # jupyter-server's own, writes no data
                if not (viewer_read or cors_preflight):
                    problems.append(f"{name} of {handler.__name__} ({pattern}) is public")
    assert problems == []


def test_public_viewer_routes_take_a_link_secret(convshare_app):
    # Only link-gated viewer routes (and the static assets) may be public
    for pattern, handler in registered_handlers(convshare_app):
        if handler.__module__ != viewer_module.__name__:
            continue
        methods = [getattr(handler, name.lower()) for name in handler.SUPPORTED_METHODS]
        if not any(getattr(m, "__allow_unauthenticated", False) for m in methods):
            continue  # the viewer's signed-in routes (forms, grantee pages) are authenticated
        assert pattern.startswith("convshare/"), pattern
        link_gated = re.search(r"\{22,128\}", pattern) is not None
        assert link_gated or "static" in pattern or handler.__name__ == "NotFoundHandler", pattern


async def test_a_malformed_link_is_a_404_for_anonymous_visitors(http_server_client, jp_base_url):
    url = url_path_join(jp_base_url, "convshare", "s", "short", "files", "x")
    response = await http_server_client.fetch(url, raise_error=False, follow_redirects=False)
    assert response.code == 404


def test_jupyter_server_finds_no_undecorated_endpoint(convshare_app, jp_serverapp):
    # The same check jupyter-server runs when the extension adds its handlers
    with warnings.catch_warnings():
        warnings.simplefilter("error", JupyterServerAuthWarning)
        for pattern, handler in registered_handlers(convshare_app):
            assert jp_serverapp.web_app._check_handler_auth(pattern, handler) == []


def test_api_handlers_are_authorized_on_the_convshare_resource():
    for _pattern, handler in [*api_module.default_handlers, *library_api_module.default_handlers]:
        assert handler.auth_resource == "convshare"
