"""Helpers for the server tests: JSON calls to the REST API and small ``.chat`` documents.

The ``.chat`` documents follow jupyterlab-chat's on-disk schema (FORMATS.md section 1):
``{"messages": [...], "users": {...}, "attachments": {...}, "metadata": {"id": ...}}``.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tornado.httpclient import HTTPResponse

CHAT_ID = "0b7c6a1e-5f0e-4d43-9a53-2b0f4e9a8c11"
USER = "f48c0d9aa00242e7b1f7e50306cd9750"
BOT = "jupyter-ai-personas::jupyter_ai_jupyternaut::JupyternautPersona"


def chat_message(msg_id: str, body: str, time: float, sender: str = USER, **extra: Any) -> dict[str, Any]:
    """One jupyterlab-chat message (``time`` in epoch seconds)."""
    return {"type": "msg", "id": msg_id, "body": body, "time": time, "sender": sender, "raw_time": False, **extra}


def chat_document(messages: list[dict[str, Any]], attachments: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``.chat`` document with one human and one persona user."""
    return {
        "messages": messages,
        "users": {
            USER: {"username": USER, "name": "Ada", "display_name": "Ada", "initials": "A", "bot": False},
            BOT: {"username": BOT, "name": "Jupyternaut", "display_name": "Jupyternaut", "bot": True},
        },
        "attachments": attachments or {},
        "metadata": {"id": CHAT_ID},
    }


def write_chat(root: Path, rel: str, document: dict[str, Any], mtime: float | None = None) -> Path:
    """Write ``document`` as ``root/rel`` (indent 2, like jupyterlab-chat); set its mtime if given."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def two_message_chat() -> dict[str, Any]:
    """A question and an answer."""
    return chat_document(
        [
            chat_message("m1", "How do I read a CSV with pandas?", 1781232974.5),
            chat_message("m2", "Use `pd.read_csv(path)`.", 1781232980.25, sender=BOT),
        ]
    )


def body_json(response: HTTPResponse) -> Any:
    """The response body parsed as JSON."""
    return json.loads(response.body.decode("utf-8"))


def make_api(jp_fetch: Any) -> Any:
    """``await api(method, *parts, body=..., params=...)`` -> response (never raises on 4xx/5xx).

    ``parts`` are joined under ``convshare/api``; a dict/list ``body`` is sent as JSON.
    """

    async def call(
        method: str,
        *parts: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> HTTPResponse:
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["body"] = body if isinstance(body, (bytes, str)) else json.dumps(body)
        elif method in ("POST", "PATCH", "PUT"):
            kwargs["body"] = b""
        return await jp_fetch(
            "convshare",
            "api",
            *parts,
            method=method,
            params=params,
            headers=headers,
            raise_error=False,
            allow_nonstandard_methods=True,
            **kwargs,
        )

    return call


def make_anonymous_fetch(http_server_client: Any, jp_base_url: str) -> Any:
    """``await fetch(*parts, method=..., params=..., headers=...)`` under the base URL, as a
    visitor without credentials (``jp_fetch`` adds the server's token: the owner, logged
    in); never raises on 4xx/5xx. ``parts`` are URL-escaped like ``jp_fetch`` does."""
    from urllib.parse import urlencode

    from jupyter_server.utils import url_path_join
    from tornado.escape import url_escape

    async def call(
        *parts: str, method: str = "GET", params: dict[str, str] | None = None, **kwargs: Any
    ) -> HTTPResponse:
        url = url_path_join(jp_base_url, url_escape(url_path_join(*parts), plus=False))
        if params:
            url += "?" + urlencode(params)
        return await http_server_client.fetch(url, method=method, raise_error=False, **kwargs)

    return call


@contextmanager
def another_server(tmp: Path) -> Iterator[tuple[str, str]]:
    """A second real Jupyter server with jupyter-convshare: a subprocess with its own root,
    store and token in ``tmp`` (what ``jupyter convshare demo`` starts). Yields
    ``(base URL ending with "/", token)``; stops it on exit."""
    from jupyter_convshare.cli import _DemoServer, _free_port

    root = tmp / "root"
    root.mkdir()
    server = _DemoServer(tmp, root, tmp / "store", _free_port())
    url, token = server.start()
    try:
        yield url, token
    finally:
        server.stop()


def share_on(server: tuple[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """``POST convshare/api/shares`` with ``body`` on ``server`` (``(url, token)`` of
    :func:`another_server`); returns the created share (asserts 201)."""
    import requests

    url, token = server
    response = requests.post(
        f"{url}convshare/api/shares", json=body, headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
