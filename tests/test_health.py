"""``GET {base_url}convshare/api/health`` (server/health.py): up or not, and nothing else.

On a real server with ``allow_unauthenticated_access = False`` (tests/conftest.py). The
hub service's health through the proxy is in tests/test_hub.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from jupyter_server.utils import url_path_join


async def _health(http_server_client, jp_base_url, method="GET"):
    url = url_path_join(jp_base_url, "convshare", "api", "health")
    return await http_server_client.fetch(url, method=method, raise_error=False, follow_redirects=False)


async def test_health_answers_ok_without_credentials(http_server_client, jp_base_url, convshare_app):
    response = await _health(http_server_client, jp_base_url)
    assert response.code == 200
    assert json.loads(response.body) == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    # no identity was looked up: no login cookie is minted for the caller
    assert "Set-Cookie" not in response.headers


async def test_head_gives_the_status_only(http_server_client, jp_base_url, convshare_app):
    response = await _health(http_server_client, jp_base_url, method="HEAD")
    assert response.code == 200
    assert response.body == b""


async def test_an_unreadable_store_is_503_without_details(http_server_client, jp_base_url, convshare_app):
    # Given a store whose database file was overwritten (not SQLite any more)
    convshare_app.service.close()
    store = Path(convshare_app.store_dir)
    for suffix in ("-wal", "-shm"):
        (store / f"convshare.db{suffix}").unlink(missing_ok=True)
    (store / "convshare.db").write_bytes(b"this is not a database " * 100)
    response = await _health(http_server_client, jp_base_url)
    assert response.code == 503
    assert json.loads(response.body) == {"status": "unavailable"}


async def test_health_takes_no_writes(http_server_client, jp_base_url, convshare_app):
    url = url_path_join(jp_base_url, "convshare", "api", "health")
    response = await http_server_client.fetch(url, method="POST", body=b"{}", raise_error=False)
    assert response.code == 405
