"""Reference server for the viewer benchmarks: bare tornado writing fixed bytes from memory.

Usage: ``python refserver.py --port P --dir D``. ``D/manifest.json`` maps URL paths to
``{"file": name, "gzip_file": name or null, "headers": {...}}``; the files are in ``D``.
A GET of a listed path answers the gzip bytes when the request accepts gzip and a gzip
file is listed, else the plain bytes, with the listed headers. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path
from typing import Any

import tornado.routing
import tornado.web


class FixedBytes(tornado.web.RequestHandler):
    """Writes one preloaded response (the reference for a viewer route)."""

    def initialize(self, plain: bytes, gz: bytes | None, headers: dict[str, str]) -> None:
        self.plain = plain
        self.gz = gz
        self.fixed_headers = headers

    def get(self) -> None:
        for k, v in self.fixed_headers.items():
            self.set_header(k, v)
        if self.gz and "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")
            self.set_header("Vary", "Accept-Encoding")
            self.write(self.gz)
        else:
            self.write(self.plain)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    d = Path(args.dir)
    manifest: dict[str, Any] = json.loads((d / "manifest.json").read_text())
    routes = []
    for path, spec in manifest.items():
        gz = (d / spec["gzip_file"]).read_bytes() if spec.get("gzip_file") else None
        plain = (d / spec["file"]).read_bytes()
        routes.append((tornado.routing.PathMatches("^" + re.escape(path) + "$"), FixedBytes,
                       {"plain": plain, "gz": gz, "headers": spec.get("headers", {})}))

    async def serve() -> None:
        app = tornado.web.Application(routes)
        app.listen(args.port, address="127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
