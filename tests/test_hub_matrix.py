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
  every admin row is asked again as "steward", a convshare admin only by the example's
  hub role for the group "teachers" (``custom:convshare:admin``);
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
from typing import Callable, Iterator

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
SCOPE_ADMIN = "steward"
"""A convshare admin by the hub role of the group "teachers" (custom:convshare:admin), not a hub admin."""
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


Case = tuple[str, Endpoint, str, str]
"""``(target, endpoint, actor, state)``: one row of the matrix's :data:`CASES`."""


def _wrong_answers(hub: Hub, cases: list[Case], user_of: Callable[[str, str], str | None], first: int) -> list[str]:
    """Make every case's share (conversation ids from ``matrix-<first>`` on, unique per
    store), then ask each case's request as ``user_of(target, actor)`` through the proxy;
    answers one line per case whose status is not the table's, or is a 5xx."""
    service = ShareService.open(hub.tmp / "convshare-store")

    async def make_all() -> list[dict[str, str]]:
        return [
            await make_case(service, actor, state, first + number, target)
            for number, (target, _, actor, state) in enumerate(cases)
        ]

    try:
        started = time.monotonic()
        made = asyncio.run(make_all())
        print(f"{len(cases)} cases made in {time.monotonic() - started:.1f} s")
    finally:
        service.close()
    sessions = threading.local()

    def one(case: tuple[Case, dict[str, str]]) -> str | None:
        (target, endpoint, actor, state), ids = case
        response = _ask(hub, sessions, endpoint, user_of(target, actor), ids)
        want = expected(endpoint, actor, state) if target == "share" else expected_on_reshare(endpoint, actor, state)
        if response.status_code != want or response.status_code >= 500:
            return (f"{target}: {endpoint.method} {endpoint.path} {endpoint.body or ''} as {actor}, {state}: "
                    f"{response.status_code} (expected {want}) {response.text[:120]!r}")
        return None

    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        wrong = [w for w in pool.map(one, zip(cases, made)) if w is not None]
    print(f"{len(cases)} requests in {time.monotonic() - started:.1f} s")
    return wrong


def test_every_endpoint_answers_every_hub_actor_in_every_share_state_with_the_right_status(
    matrix_hub: Hub,
) -> None:
    # Given a fresh share per case in the service's store, in the case's state
    _hub_sees_the_matrix_identities(matrix_hub)
    # When each actor asks through the proxy with their hub token
    wrong = _wrong_answers(
        matrix_hub, CASES, lambda target, actor: (ACTORS if target == "share" else RESHARE_ACTORS)[actor], 0
    )
    # Then every status is exactly the standalone server's, and never a 500
    assert not wrong, f"{len(wrong)} of {len(CASES)} cases wrong:\n" + "\n".join(wrong)


def test_a_convshare_admin_by_hub_role_answers_as_a_hub_admin_does(matrix_hub: Hub) -> None:
    # Given steward, no hub admin, in the hub group "teachers" whose role (the example's
    # "convshare-teachers") grants custom:convshare:admin
    assert matrix_hub.hub_api("POST", f"users/{SCOPE_ADMIN}").status_code in (201, 409)
    made = matrix_hub.hub_api("POST", "groups/teachers")
    assert made.status_code in (201, 409), made.text
    added = matrix_hub.hub_api("POST", "groups/teachers/users", json={"users": [SCOPE_ADMIN]})
    assert added.status_code == 200, added.text
    whoami = matrix_hub.call(SCOPE_ADMIN, "GET", "whoami").json()
    assert whoami == {"name": SCOPE_ADMIN, "groups": ["teachers"], "is_admin": True}
    assert matrix_hub.hub_api("GET", f"users/{SCOPE_ADMIN}").json()["admin"] is False
    # When steward asks everything the table's admin asks
    cases = [case for case in CASES if case[2] == "admin"]
    wrong = _wrong_answers(matrix_hub, cases, lambda target, actor: SCOPE_ADMIN, len(CASES))
    # Then every answer is the admin's
    assert not wrong, f"{len(wrong)} of {len(cases)} cases wrong:\n" + "\n".join(wrong)


def test_the_hub_matrix_asks_every_actor_and_endpoint_of_the_standalone_one() -> None:
    # the table is imported, not copied: a row added there is asked here too
    from . import test_access_matrix

    assert CASES is test_access_matrix.CASES
    assert {a for _, _, a, _ in CASES} == set(ACTORS) | set(RESHARE_ACTORS)
    assert len({id(e) for _, e, _, _ in CASES}) == len(test_access_matrix.ENDPOINTS)
