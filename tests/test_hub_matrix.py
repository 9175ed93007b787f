"""The access matrix of issue 3 against the hub service (issue 6 "done means").

The same table as ``tests/test_access_matrix.py`` (its :data:`ENDPOINTS`, actors, states,
:func:`expected` and :func:`expected_on_reshare`, imported unchanged), asked of the real
``jupyter convshare hub-service`` behind a real JupyterHub and configurable-http-proxy (the
module hub of ``tests/test_hub.py``), with hub identities instead of test tokens:

* every actor is a hub user with their own hub API token (their password login), sent as
  ``Authorization: token ...`` through the proxy; the anonymous actor sends nothing;
* the groups of the table (``class-2026``: student1, student2; ``team``: carol) are hub
  groups, made through the hub's REST API;
* the table's admin ("admin") is a hub admin (the hub's admin flag, no convshare config);
* "organization" is every hub user.

Each case's share is made in the service's own store folder (``ShareService.open`` on it,
as the CLI does: the same SQLite file the service uses) by the matrix's
:func:`make_case`, so that a share can be made already expired; then the one request is
sent through the proxy. All cases are made first, then asked concurrently by a few
threads (each share belongs to one case only, so the order does not matter).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest

pytest.importorskip("jupyterhub", reason="jupyterhub is not installed (pip install -e '.[test]')")

import requests  # noqa: E402

from jupyter_convshare.core.shares import ShareService  # noqa: E402

from .test_access_matrix import (  # noqa: E402
    ACTORS,
    CASES,
    RESHARE_ACTORS,
    Endpoint,
    expected,
    expected_on_reshare,
    make_case,
)
from .test_grants import GROUPS, USERS  # noqa: E402

try:  # the hub fixtures: their own module when it exists, else test_hub's
    from .hub_helpers import Hub, hub  # type: ignore[import-not-found]  # noqa: F401
except ImportError:
    from .test_hub import Hub, hub  # noqa: F401

pytestmark = pytest.mark.skipif(
    shutil.which("configurable-http-proxy") is None,
    reason="configurable-http-proxy is not on PATH (npm install -g configurable-http-proxy; .ci/run does)",
)

HUB_ADMIN = "admin"
"""The matrix's admin actor: a hub admin here."""
THREADS = 4
"""Concurrent requests (the proxy and the service on 2 cores: more does not go faster)."""


@pytest.fixture(scope="module")
def matrix_hub(hub: Hub) -> Iterator[Hub]:
    """The module hub with the matrix's users, groups and admin, each user logged in once."""
    for name in USERS:
        created = hub.hub_api("POST", f"users/{name}")
        assert created.status_code in (201, 409), created.text
    for group, members in GROUPS.items():
        made = hub.hub_api("POST", f"groups/{group}")
        assert made.status_code in (201, 409), made.text
        added = hub.hub_api("POST", f"groups/{group}/users", json={"users": list(members)})
        assert added.status_code == 200, added.text
    # carol is in the module hub's "chemistry" group too: here only in the table's groups
    left = hub.hub_api("DELETE", "groups/chemistry/users", json={"users": ["carol"]})
    assert left.status_code == 200, left.text
    # only a hub admin may make another one
    promoted = requests.patch(
        f"{hub.url}/hub/api/users/{HUB_ADMIN}",
        json={"admin": True},
        headers={"Authorization": f"token {hub.token('hubadmin')}"},
        timeout=30,
    )
    assert promoted.status_code == 200, promoted.text
    for name in USERS:
        hub.token(name)
    yield hub


def _hub_sees_the_matrix_identities(hub: Hub) -> None:
    """Wait until the service's cached hub answers show the groups and admin made above."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        student = hub.call("student1", "GET", "whoami").json()
        admin = hub.call(HUB_ADMIN, "GET", "whoami").json()
        carol = hub.call("carol", "GET", "whoami").json()
        if "class-2026" in student["groups"] and admin["is_admin"] and carol["groups"] == ["team"]:
            return
        time.sleep(0.3)
    raise AssertionError(f"the service does not see the hub's groups/admin: {student} {admin}")


def test_whoami_of_the_matrix_users_comes_from_the_hub(matrix_hub: Hub) -> None:
    _hub_sees_the_matrix_identities(matrix_hub)
    assert matrix_hub.call("carol", "GET", "whoami").json() == {"name": "carol", "groups": ["team"], "is_admin": False}
    assert matrix_hub.call("dave", "GET", "whoami").json() == {"name": "dave", "groups": [], "is_admin": False}
    assert matrix_hub.call(HUB_ADMIN, "GET", "whoami").json()["is_admin"] is True


def _ask(hub: Hub, sessions: threading.local, endpoint: Endpoint, user: str | None, ids: dict[str, str]) -> requests.Response:
    session = getattr(sessions, "session", None)
    if session is None:
        session = sessions.session = requests.Session()
    headers = {} if user is None else {"Authorization": f"token {hub.token(user)}"}
    body = None
    if endpoint.body is not None:
        body = json.dumps(endpoint.body).replace("{share_id}", ids["share_id"]).encode()
        headers["Content-Type"] = "application/json"
    return session.request(
        endpoint.method,
        hub.service_url + endpoint.path.format(**ids),
        headers=headers,
        data=body,
        timeout=60,
        allow_redirects=False,
    )


def test_every_endpoint_answers_every_hub_actor_in_every_share_state_with_the_right_status(
    matrix_hub: Hub,
) -> None:
    # Given a fresh share per case in the service's store, in the case's state
    _hub_sees_the_matrix_identities(matrix_hub)
    service = ShareService.open(matrix_hub.tmp / "convshare-store")

    async def make_all() -> list[tuple[str, Endpoint, str, str, dict[str, str]]]:
        return [
            (target, endpoint, actor, state, await make_case(service, actor, state, number, target))
            for number, (target, endpoint, actor, state) in enumerate(CASES)
        ]

    try:
        started = time.monotonic()
        prepared = asyncio.run(make_all())
        print(f"{len(prepared)} cases made in {time.monotonic() - started:.1f} s")
    finally:
        service.close()
    sessions = threading.local()

    def one(case: tuple[str, Endpoint, str, str, dict[str, str]]) -> str | None:
        target, endpoint, actor, state, ids = case
        user = ACTORS[actor] if target == "share" else RESHARE_ACTORS[actor]
        # When the actor asks through the proxy with their hub token
        response = _ask(matrix_hub, sessions, endpoint, user, ids)
        want = expected(endpoint, actor, state) if target == "share" else expected_on_reshare(endpoint, actor, state)
        # Then the status is exactly the standalone server's, and never a 500
        if response.status_code != want or response.status_code >= 500:
            return (f"{target}: {endpoint.method} {endpoint.path} {endpoint.body or ''} as {actor}, {state}: "
                    f"{response.status_code} (expected {want}) {response.text[:120]!r}")
        return None

    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        wrong = [w for w in pool.map(one, prepared) if w is not None]
    print(f"{len(prepared)} requests in {time.monotonic() - started:.1f} s")
    assert not wrong, f"{len(wrong)} of {len(CASES)} cases wrong:\n" + "\n".join(wrong)


def test_the_hub_matrix_asks_every_actor_and_endpoint_of_the_standalone_one() -> None:
    # the table is imported, not copied: a row added there is asked here too
    from . import test_access_matrix

    assert CASES is test_access_matrix.CASES
    assert {a for _, _, a, _ in CASES} == set(ACTORS) | set(RESHARE_ACTORS)
    assert len({id(e) for _, e, _, _ in CASES}) == len(test_access_matrix.ENDPOINTS)
