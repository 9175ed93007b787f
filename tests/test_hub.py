"""The convshare service on a real JupyterHub (issue 6; DESIGN.md sections 6 and 7).

One JupyterHub for the module: pip ``jupyterhub``, ``configurable-http-proxy`` from npm
(``.ci/run`` installs it; the tests skip, saying so, when it is absent), the dummy
authenticator with a password, the simple local-process spawner with homes in tmp, a
SQLite hub database in tmp, and ``examples/jupyterhub_config.py`` loaded as it is, so the
example is what runs. The service is the hub-managed ``jupyter convshare hub-service``.

Users: alice and bob in the hub group ``physics``, carol in ``chemistry``, hubadmin a hub
admin. Each logs in with the dummy password through the hub's REST API (a token request
authenticated by ``{"auth": {"username", "password"}}``) and talks to the service through
the proxy with that hub API token. A test service token administers the hub (groups,
servers). The service reuses hub answers for ``--cache-max-age`` seconds: here
:data:`CACHE_MAX_AGE`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("jupyterhub", reason="jupyterhub is not installed (pip install -e '.[test]')")
import requests  # noqa: E402

from .hub_helpers import ADMIN_TOKEN, CACHE_MAX_AGE, EXAMPLE_CONFIG, PASSWORD, Hub, hub  # noqa: E402,F401

pytestmark = pytest.mark.skipif(
    shutil.which("configurable-http-proxy") is None,
    reason="configurable-http-proxy is not on PATH (npm install -g configurable-http-proxy; .ci/run does)",
)

MESSAGES = [
    {"role": "user", "content": "What is the boiling point of water at 2000 m?"},
    {"role": "assistant", "content": "About 93 °C: the air pressure is lower there."},
]


def _share(hub: Hub, user: str, title: str) -> dict[str, Any]:
    response = hub.call(user, "POST", "shares", json={"conversation": MESSAGES, "title": title})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _link_page(url: str) -> requests.Response:
    """Open a link anonymously: no token, no cookie."""
    return requests.get(url, timeout=30, allow_redirects=False)


# -- the service and its link ------------------------------------------------------------------


def test_health_answers_without_login_and_tells_nothing_else(hub: Hub) -> None:
    response = requests.get(hub.api + "health", timeout=30)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_whoami_is_the_hub_user_with_the_hubs_groups_and_admin_flag(hub: Hub) -> None:
    assert hub.call("alice", "GET", "whoami").json() == {"name": "alice", "groups": ["physics"], "is_admin": False}
    assert hub.call("carol", "GET", "whoami").json() == {"name": "carol", "groups": ["chemistry"], "is_admin": False}
    assert hub.call("hubadmin", "GET", "whoami").json()["is_admin"] is True


def test_the_api_needs_a_hub_login(hub: Hub) -> None:
    assert hub.call(None, "GET", "shares").status_code == 403
    response = hub.call(None, "GET", "shares", headers={"Authorization": "token not-a-hub-token"})
    assert response.status_code == 403


def test_a_link_made_with_a_hub_token_opens_anonymously_through_the_proxy(hub: Hub) -> None:
    share = _share(hub, "alice", "Boiling point")
    assert share["url"].startswith(hub.service_url + "convshare/s/")
    page = _link_page(share["url"])
    assert page.status_code == 200
    assert "Boiling point" in page.text
    assert "93 °C" in page.text


def test_a_link_outlives_its_owners_server(hub: Hub) -> None:
    # Given alice's share, and her single-user server started then stopped
    share = _share(hub, "alice", "Outlives the server")
    assert hub.hub_api("POST", "users/alice/server").status_code in (201, 202)
    hub.wait_server("alice", running=True)
    assert _link_page(share["url"]).status_code == 200
    assert hub.hub_api("DELETE", "users/alice/server").status_code in (202, 204)
    hub.wait_server("alice", running=False)
    # Then the link still opens
    page = _link_page(share["url"])
    assert page.status_code == 200
    assert "Outlives the server" in page.text


# -- groups: view, collaborate, outsiders, leaving ----------------------------------------------


def _group_share(hub: Hub, title: str, permission: str = "collaborate") -> dict[str, Any]:
    share = _share(hub, "alice", title)
    grant = hub.call(
        "alice",
        "POST",
        f"shares/{share['share_id']}/grants",
        json={"principal_type": "group", "principal": "physics", "permission": permission},
    )
    assert grant.status_code == 201, grant.text
    return share


def test_a_hub_group_grant_lets_members_view_and_collaborate(hub: Hub) -> None:
    share = _group_share(hub, "Physics seminar")
    seen = hub.call("bob", "GET", f"shares/{share['share_id']}")
    assert seen.status_code == 200, seen.text
    assert seen.json()["permission"] == "collaborate"
    posted = hub.call("bob", "POST", f"shares/{share['share_id']}/messages", json={"text": "And at 4000 m?"})
    assert posted.status_code == 201, posted.text
    # the message is in what the link shows
    assert "And at 4000 m?" in _link_page(share["url"]).text
    listed = hub.call("bob", "GET", "shared-with-me").json()
    assert share["share_id"] in [c["share_id"] for c in listed["conversations"]]


def test_a_non_member_neither_sees_nor_collaborates(hub: Hub) -> None:
    share = _group_share(hub, "Physics only")
    assert hub.call("carol", "GET", f"shares/{share['share_id']}").status_code == 404
    posted = hub.call("carol", "POST", f"shares/{share['share_id']}/messages", json={"text": "let me in"})
    assert posted.status_code == 404
    listed = hub.call("carol", "GET", "shared-with-me").json()
    assert share["share_id"] not in [c["share_id"] for c in listed["conversations"]]


def test_a_grant_to_an_unknown_hub_group_is_refused(hub: Hub) -> None:
    share = _share(hub, "alice", "No such group")
    response = hub.call(
        "alice",
        "POST",
        f"shares/{share['share_id']}/grants",
        json={"principal_type": "group", "principal": "astronomy", "permission": "view"},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "principal"


def test_removing_a_member_from_the_hub_group_ends_access_within_the_cache_bound(hub: Hub) -> None:
    # Given dave, a physics member who reads a group share (his hub identity is now cached)
    assert hub.hub_api("POST", "users/dave").status_code in (201, 409)
    assert hub.hub_api("POST", "groups/physics/users", json={"users": ["dave"]}).status_code == 200
    share = _group_share(hub, "Members only", permission="view")
    path = f"shares/{share['share_id']}"
    assert hub.call("dave", "GET", path).status_code == 200
    # When an admin removes him from the group on the hub
    removed = hub.hub_api("DELETE", "groups/physics/users", json={"users": ["dave"]})
    assert removed.status_code == 200
    started = time.monotonic()
    # Then his access ends within the documented bound (cache_max_age), plus request time
    bound = CACHE_MAX_AGE + 5.0
    while hub.call("dave", "GET", path).status_code == 200:
        assert time.monotonic() - started < bound, "dave still reads the share after the bound"
        time.sleep(0.2)
    assert hub.call("dave", "GET", path).status_code == 404
    assert hub.call("dave", "GET", "whoami").json()["groups"] == []


# -- a browser: hub login, OAuth, the viewer's collaborate form ---------------------------------


def _browser_login(hub: Hub, name: str) -> requests.Session:
    """A cookie session logged in to the hub's login page (the dummy authenticator's form)."""
    browser = requests.Session()
    form = browser.get(f"{hub.url}/hub/login", timeout=30)
    assert form.status_code == 200
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)
    assert xsrf is not None
    done = browser.post(
        f"{hub.url}/hub/login",
        data={"username": name, "password": PASSWORD, "_xsrf": xsrf.group(1)},
        timeout=30,
        allow_redirects=False,
    )
    assert done.status_code == 302, done.text[:300]
    return browser


def test_a_browser_logs_in_through_the_hub_and_collaborates_on_the_link_page(hub: Hub) -> None:
    # Given a physics share, and bob logged in to the hub in a browser
    share = _group_share(hub, "Browser collaboration")
    browser = _browser_login(hub, "bob")
    # When he opens the grantee page: the service sends him through the hub's OAuth and back
    page = browser.get(hub.service_url + f"convshare/v/{share['share_id']}", timeout=30)
    assert page.status_code == 200, page.url
    assert page.url == hub.service_url + f"convshare/v/{share['share_id']}"
    assert "Browser collaboration" in page.text
    # Then the public link page recognises him too (the hub's OAuth cookie), with the form
    link_page = browser.get(share["url"], timeout=30)
    assert link_page.status_code == 200
    assert 'name="text"' in link_page.text
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', link_page.text)
    assert xsrf is not None
    posted = browser.post(
        share["url"] + "/messages",
        data={"text": "Posted from the browser", "_xsrf": xsrf.group(1)},
        headers={"Origin": hub.url, "Sec-Fetch-Site": "same-origin"},
        timeout=30,
        allow_redirects=False,
    )
    assert posted.status_code == 303, posted.text[:500]
    assert "Posted from the browser" in _link_page(share["url"]).text
    # and an anonymous visitor of the same link sees no form
    assert 'name="text"' not in _link_page(share["url"]).text


def test_a_browser_post_without_the_xsrf_token_is_refused(hub: Hub) -> None:
    share = _group_share(hub, "No cross-site posts")
    browser = _browser_login(hub, "bob")
    assert browser.get(hub.service_url + f"convshare/v/{share['share_id']}", timeout=30).status_code == 200
    forged = browser.post(
        share["url"] + "/messages",
        data={"text": "FORGED-MESSAGE"},
        headers={"Origin": "https://evil.example.org"},
        timeout=30,
        allow_redirects=False,
    )
    assert forged.status_code in (403, 404)
    assert "FORGED-MESSAGE" not in _link_page(share["url"]).text


# -- admins -------------------------------------------------------------------------------------


def test_a_hub_admin_revokes_any_share_and_its_link_answers_404(hub: Hub) -> None:
    share = _share(hub, "alice", "To be revoked")
    assert _link_page(share["url"]).status_code == 200
    # bob (not an admin, not the owner) may not
    assert hub.call("bob", "DELETE", f"shares/{share['share_id']}").status_code == 404
    revoked = hub.call("hubadmin", "DELETE", f"shares/{share['share_id']}")
    assert revoked.status_code == 204, revoked.text
    assert _link_page(share["url"]).status_code == 404


# -- scopes -------------------------------------------------------------------------------------


def test_a_token_without_the_share_scope_cannot_create_links(hub: Hub) -> None:
    token = hub.login("bob", scopes=["access:services!service=convshare"])
    headers = {"Authorization": f"token {token}"}
    response = requests.post(
        hub.api + "shares", json={"conversation": MESSAGES}, headers=headers, timeout=30
    )
    assert response.status_code == 403
    assert "custom:convshare:share" in response.json()["message"]
    # but it still reads what is shared with bob
    assert requests.get(hub.api + "shared-with-me", headers=headers, timeout=30).status_code == 200


def test_a_token_without_the_public_scope_shares_with_the_link_off(hub: Hub) -> None:
    token = hub.login("bob", scopes=["access:services!service=convshare", "custom:convshare:share"])
    headers = {"Authorization": f"token {token}"}
    created = requests.post(
        hub.api + "shares", json={"conversation": MESSAGES, "title": "Grants only"}, headers=headers, timeout=30
    )
    assert created.status_code == 201, created.text
    share = created.json()
    assert share["link_enabled"] is False
    assert _link_page(share["url"]).status_code == 404
    turned_on = requests.patch(
        hub.api + f"shares/{share['share_id']}", json={"link_enabled": True}, headers=headers, timeout=30
    )
    assert turned_on.status_code == 403
    assert turned_on.json()["field"] == "link_enabled"
    assert "custom:convshare:public" in turned_on.json()["message"]
    # the same user with the scope (his full login token) may turn it on
    assert hub.call("bob", "PATCH", f"shares/{share['share_id']}", json={"link_enabled": True}).status_code == 200
    assert _link_page(share["url"]).status_code == 200


def test_a_token_without_the_collaborate_scope_cannot_post_messages(hub: Hub) -> None:
    share = _group_share(hub, "Read but not write")
    token = hub.login("bob", scopes=["access:services!service=convshare"])
    response = requests.post(
        hub.api + f"shares/{share['share_id']}/messages",
        json={"text": "hello"},
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert response.status_code == 403
    assert "custom:convshare:collaborate" in response.json()["message"]


def test_a_token_without_access_to_the_service_is_refused(hub: Hub) -> None:
    token = hub.login("bob", scopes=["read:users:name!user=bob"])
    response = requests.get(hub.api + "whoami", headers={"Authorization": f"token {token}"}, timeout=30)
    assert response.status_code == 403


# -- the service is no notebook server ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "api/contents"),
        ("POST", "api/kernels"),
        ("GET", "api/sessions"),
        ("GET", "api/kernelspecs"),
        ("GET", "files/convshare.db"),
    ],
)
def test_contents_kernels_and_files_of_the_service_are_refused(hub: Hub, method: str, path: str) -> None:
    response = requests.request(
        method,
        hub.service_url + path,
        headers={"Authorization": f"token {hub.token('alice')}"},
        timeout=30,
        allow_redirects=False,
    )
    assert response.status_code in (403, 404), (path, response.status_code, response.text[:200])


# -- notebooks on the hub: the client uses the service ------------------------------------------

KERNEL_SCRIPT = """
import json
from jupyter_convshare.client import ConvShareClient
client = ConvShareClient()
share = client.share([
    {"role": "user", "content": "Shared from a kernel"},
    {"role": "assistant", "content": "Through the hub service."},
], title="From a kernel")
print(json.dumps({"server_url": client.server_url, "url": share.url, "whoami": client.whoami()}))
"""


def test_a_kernel_on_the_hub_shares_through_the_service_with_its_servers_token(hub: Hub, tmp_path: Path) -> None:
    # Given the environment a kernel of alice's server has: the hub's variables, the
    # service URL from c.Spawner.environment, and a token with c.Spawner.server_token_scopes
    namespace: dict[str, Any] = {}
    exec(compile(EXAMPLE_CONFIG.read_text(), "example", "exec"), {"get_config": lambda: _Recorder(), "sys": sys}, namespace)
    server_scopes = namespace["c"].Spawner.server_token_scopes
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "CONVSHARE"))}
    env.update(
        {
            "JUPYTERHUB_API_TOKEN": hub.login("alice", scopes=list(server_scopes)),
            "JUPYTERHUB_API_URL": f"http://127.0.0.1:{hub.ports['hub']}/hub/api",
            "JUPYTERHUB_USER": "alice",
            "CONVSHARE_SERVICE_URL": hub.service_url,
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),  # no running servers to find
        }
    )
    # When it shares with the notebook client
    done = subprocess.run(
        [sys.executable, "-c", KERNEL_SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Then the share is alice's, made on the service, and its link opens anonymously
    assert result["server_url"] == hub.service_url
    assert result["whoami"]["name"] == "alice"
    page = _link_page(result["url"])
    assert page.status_code == 200
    assert "Through the hub service." in page.text


class _Recorder:
    """Stands in for JupyterHub's config object when the example is read for its values."""

    def __getattr__(self, name: str) -> Any:
        value = _Section()
        object.__setattr__(self, name, value)
        return value


class _Section:
    pass
