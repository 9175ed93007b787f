"""Reference server for the viewer benchmarks: bare tornado writing fixed bytes from memory.

Usage: ``python refserver.py --port P --dir D`` where ``D`` holds ``ref-body`` (the page as
the viewer sent it), ``ref-body.gz`` (its gzip form, may be empty) and ``ref-headers.json``
(response headers to copy). ``GET /page`` answers the gzip bytes when the request accepts
gzip and they exist, else the plain bytes. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import tornado.web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    d = Path(args.dir)
    plain = (d / "ref-body").read_bytes()
    gz = (d / "ref-body.gz").read_bytes()
    headers = json.loads((d / "ref-headers.json").read_text())

    class Page(tornado.web.RequestHandler):
        def get(self) -> None:
            for k, v in headers.items():
                self.set_header(k, v)
            if gz and "gzip" in self.request.headers.get("Accept-Encoding", ""):
                self.set_header("Content-Encoding", "gzip")
                self.set_header("Vary", "Accept-Encoding")
                self.write(gz)
            else:
                self.write(plain)

    async def serve() -> None:
        app = tornado.web.Application([(r"/page", Page)])
        app.listen(args.port, address="127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
