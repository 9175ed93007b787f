"""The admin API from the notebook client and ``jupyter convshare admin`` (issue 6 item 3).

A real server with several users (``TokenUsersIdentityProvider`` of ``test_grants``); the
client and the CLI run in a worker thread while the server's loop answers them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_convshare.client import ConvShareClient, ConvShareClientError

from .test_grants import jp_server_config  # noqa: F401

MESSAGES = [{"role": "user", "content": "Is 17 prime?"}, {"role": "assistant", "content": "Yes."}]


def run(func: Any, *args: Any, **kwargs: Any) -> Any:
    return asyncio.to_thread(func, *args, **kwargs)


@pytest.fixture
def server_url(jp_serverapp, http_server, jp_http_port, jp_base_url) -> str:
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}"


def client_of(server_url: str, name: str) -> ConvShareClient:
    return ConvShareClient(server_url, f"{name}-token", timeout=20)


async def test_the_client_lists_filters_and_pages_every_owners_shares(server_url):
    for user, title in (("dave", "primes"), ("carol", "fractions"), ("dave", "graphs")):
        await run(client_of(server_url, user).share, MESSAGES, title=title)
    admin = client_of(server_url, "admin")
    page = await run(admin.admin_shares, owner="dave", link=True, limit=1)
    assert [s["title"] for s in page["shares"]] == ["graphs"] and page["next_offset"] == 1
    every = await run(admin.admin_all_shares, limit=2)
    assert [s["title"] for s in every] == ["graphs", "fractions", "primes"]


async def test_the_client_revokes_a_user_and_a_non_admin_gets_403(server_url):
    await run(client_of(server_url, "dave").share, MESSAGES, title="primes")
    with pytest.raises(ConvShareClientError) as info:
        await run(client_of(server_url, "carol").admin_revoke_user, "dave")
    assert info.value.status == 403
    result = await run(client_of(server_url, "admin").admin_revoke_user, "dave")
    assert result == {"user": "dave", "revoked": 1, "shares": 1, "reshares": 0}


async def test_the_client_sets_and_reads_policies(server_url):
    admin = client_of(server_url, "admin")
    stored = await run(admin.admin_set_policy, "group", "class-2026", max_expires="24h", allow_link=False)
    assert stored["policy"]["max_expires_seconds"] == 86400
    mine = await run(client_of(server_url, "student1").policy)
    assert mine["expiry_presets"] == ["1h", "24h"] and mine["policy"]["allow_link"] is False
    with pytest.raises(ConvShareClientError) as info:
        await run(client_of(server_url, "student1").share, MESSAGES, expires="7d")
    assert (info.value.status, info.value.field, info.value.reason) == (403, "expires", "policy")
    assert (await run(admin.admin_apply_policy))["count"] == 0
    await run(admin.admin_delete_policy, "group", "class-2026")
    assert (await run(admin.admin_policies))["groups"] == []


ROOT = Path(__file__).resolve().parent.parent


class Done:
    """What a CLI run printed: ``code``, ``out``, ``err``."""

    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.code, self.out, self.err = done.returncode, done.stdout, done.stderr


def cli(server_url: str, user: str, *args: str) -> Done:
    """``jupyter convshare admin ARGS`` as ``user`` in a child process (a CLI is its own
    process: it must not share traitlets singletons with the test's server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_")}
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_convshare.cli", "admin", *args,
         "--server-url", server_url, "--token", f"{user}-token"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )
    return Done(done)


async def test_admin_list_and_revoke_user_from_the_command_line(server_url):
    await run(client_of(server_url, "dave").share, MESSAGES, title="primes")
    await run(client_of(server_url, "carol").share, MESSAGES, title="fractions")
    done = await run(cli, server_url, "admin", "list", "--owner", "dave", "--json")
    assert done.code == 0, done.err
    listed = json.loads(done.out)
    assert [s["title"] for s in listed["shares"]] == ["primes"] and listed["total"] == 1
    done = await run(cli, server_url, "admin", "revoke-user", "dave", "--yes")
    assert done.code == 0 and "Revoked 1 share(s) of dave" in done.out
    done = await run(cli, server_url, "admin", "list")
    assert "fractions" in done.out and "primes" not in done.out


async def test_admin_commands_refuse_a_non_admin_in_one_line(server_url):
    done = await run(cli, server_url, "dave", "list")
    assert done.code == 1
    assert len(done.err.strip().splitlines()) == 1 and "only an admin" in done.err


async def test_admin_policy_from_the_command_line(server_url):
    done = await run(cli, server_url, "admin", "policy", "group", "class-2026", "max_expires=7d", "allow_link=false")
    assert done.code == 0, done.err
    assert "class-2026: max expiry 1 week, no anonymous links" in done.out
    done = await run(cli, server_url, "admin", "policy")
    assert "group class-2026 (store): max expiry 1 week" in done.out
    done = await run(cli, server_url, "admin", "policy", "group", "class-2026", "max_expires=a-week")
    assert done.code == 1 and "max_expires" in done.err
    done = await run(cli, server_url, "admin", "policy", "apply")
    assert done.code == 0 and "Brought 0 share(s) within policy." in done.out


async def test_admin_revoke_user_without_a_terminal_needs_yes(server_url):
    done = await run(cli, server_url, "admin", "revoke-user", "dave")
    assert done.code == 2 and "--yes" in done.err
