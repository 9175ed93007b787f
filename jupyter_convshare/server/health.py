"""``GET {base_url}convshare/api/health``: is the share service up? (issue 6, DESIGN.md section 7)

For load balancers, JupyterHub admins and monitoring: unauthenticated, answers only
``{"status": "ok"}`` (200) when the store answers a read, or ``{"status": "unavailable"}``
(503) when it does not. No version, no counts, no paths, no user names: nothing a
stranger could use.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from tornado import web

__all__ = ["HealthHandler", "default_handlers"]


class HealthHandler(APIHandler):
    """``GET|HEAD convshare/api/health``: 200 ``{"status": "ok"}`` or 503 ``{"status": "unavailable"}``."""

    SUPPORTED_METHODS = ("GET", "HEAD")  # type: ignore[assignment]

    def set_default_headers(self) -> None:
        """jupyter-server's headers, and never cached (the answer is about now)."""
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:  # type: ignore[override]
        """No identity lookup: the answer is the same for everyone (no login redirect, no
        cookie minted); the Host header is still checked as jupyter-server does."""
        if not self.check_host():
            raise web.HTTPError(403)

    def check_xsrf_cookie(self) -> None:
        """GET and HEAD only: nothing to protect."""
        return None

    async def _status(self) -> tuple[int, dict[str, Any]]:
        app = self.settings.get("convshare_app")
        service = getattr(app, "service", None)
        if service is None:
            return 503, {"status": "unavailable"}
        try:
            # one indexed read (WAL: never waits for a writer), off the event loop like
            # every store call
            await asyncio.to_thread(_probe_store, service)
        except Exception as exc:  # any failure is "unavailable"; the reason goes to the log only
            self.log.warning("convshare: health check failed: %s", exc)
            return 503, {"status": "unavailable"}
        return 200, {"status": "ok"}

    @allow_unauthenticated
    async def get(self) -> None:
        """The status as JSON."""
        status, body = await self._status()
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    @allow_unauthenticated
    async def head(self) -> None:
        """The status code only."""
        status, _body = await self._status()
        self.set_status(status)
        self.finish()


def _probe_store(service: Any) -> None:
    """Read one row of the store (raises when the database cannot be read)."""
    with service.store.read() as session:
        session.get_share("health-probe")


default_handlers: list[tuple[str, type[HealthHandler]]] = [(r"convshare/api/health", HealthHandler)]
"""The route, relative to ``base_url``."""
