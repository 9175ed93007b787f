"""Classroom burst: 300 clients open one link and its assets at once (DESIGN.md section 9).

A real ``jupyter server`` with the extension (subprocess, 127.0.0.1) shares a 200-message
conversation. 300 asyncio clients (``aiohttp``, one session and so one connection pool
each, like 300 phones) start together; each GETs the page, then its assets (the
stylesheet and script the page links, and the QR code) in parallel, once. Errors
(exceptions, non-200 answers) are counted: target 0. Reported: time until every client
has everything, per-request p50/p99, per-client p99.

Reference: the same burst against a bare tornado app serving the identical bytes
(fetched once from the viewer, gzip form included) from memory.

Needs ``aiohttp`` in the venv (``/work/venv/bin/pip install aiohttp``).

Usage::

    /work/venv/bin/python benchmarks/bench_burst.py             # 300 clients, 3 rounds
    /work/venv/bin/python benchmarks/bench_burst.py --quick     # 300 clients, 1 round
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

_ASSET_RE = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")


def find_assets(page_url: str, html: str) -> list[str]:
    """Same-origin stylesheet, script and QR URLs the page references (absolute)."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page_url))
    out: list[str] = []
    for ref in _ASSET_RE.findall(html):
        ref = ref.replace("&amp;", "&")
        absolute = urljoin(page_url, ref)
        if not absolute.startswith(origin):
            continue
        path = urlsplit(absolute).path
        if path.endswith((".css", ".js")) or re.search(r"/qr\.(svg|png)$", path):
            if absolute not in out:
                out.append(absolute)
    if not any(re.search(r"/qr\.(svg|png)$", urlsplit(u).path) for u in out):
        out.append(page_url.rstrip("/") + "/qr.svg")
    return out


async def burst(page_url: str, assets: list[str], clients: int, timeout_s: float) -> dict[str, Any]:
    """``clients`` concurrent clients, each: page, then all assets in parallel."""
    import aiohttp

    go = asyncio.Event()
    req_lat: list[float] = []
    client_lat: list[float] = []
    errors: dict[str, int] = {}

    def fail(key: str) -> None:
        errors[key] = errors.get(key, 0) + 1

    async def get(session: Any, url: str) -> bool:
        t0 = time.perf_counter()
        try:
            async with session.get(url) as resp:
                await resp.read()
                ok = resp.status == 200
                if not ok:
                    fail(f"HTTP {resp.status} {urlsplit(url).path.rsplit('/', 1)[-1]}")
        except Exception as err:  # noqa: BLE001 - every failure is counted, by type
            fail(type(err).__name__)
            ok = False
        req_lat.append(time.perf_counter() - t0)
        return ok

    async def client() -> None:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, headers={"Accept-Encoding": "gzip"}) as session:
            await go.wait()
            t0 = time.perf_counter()
            if await get(session, page_url):
                await asyncio.gather(*(get(session, u) for u in assets))
            client_lat.append(time.perf_counter() - t0)

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(0.2)  # every session created before the start signal
    t0 = time.perf_counter()
    go.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=timeout_s + 30)
    return {
        "wall": time.perf_counter() - t0,
        "req_lat": req_lat,
        "client_lat": client_lat,
        "errors": errors,
        "requests": len(req_lat),
    }


def main() -> None:
    parser = c.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="bursts against each server (median reported)")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=60.0, help="per-client time limit, seconds")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        sys.exit("aiohttp is missing: /work/venv/bin/pip install aiohttp")
    facts = c.machine_facts()
    print(f"bench_burst: {args.clients} clients x {args.rounds} rounds; machine {facts}", flush=True)

    with c.tempdir("convshare-bench-burst-", keep=args.keep) as tmp:
        store = tmp / "store"
        link = c.share_conversation(store, c.make_conversation(args.messages, conv_id="bench-burst"))
        with c.JupyterServer(tmp / "server", store) as server:
            url = server.viewer_url(link)
            status, headers, body = c.fetch(url)
            if status != 200:
                sys.exit(f"viewer answered {status}: is server/viewer.py in place?\n{server.log_tail()}")
            assets = find_assets(url, body.decode("utf-8", "replace"))
            print("assets: " + ", ".join(urlsplit(a).path.replace(link, "<link>") for a in assets), flush=True)
            routes: dict[str, tuple[bytes, bytes | None, dict[str, str]]] = {}
            for u in [url, *assets]:
                st, h, plain = c.fetch(u)
                _, hz, gz = c.fetch(u, {"Accept-Encoding": "gzip"})
                if st != 200:
                    print(f"warning: {urlsplit(u).path.replace(link, '<link>')} answered {st}", flush=True)
                routes[urlsplit(u).path] = (plain, gz if hz.get("Content-Encoding") == "gzip" else None, c.copyable_headers(h))
            with c.RefServer(tmp / "ref", routes) as ref:
                ref_page = ref.url(urlsplit(url).path)
                ref_assets = [ref.url(urlsplit(a).path) for a in assets]
                ours_runs, ref_runs = [], []
                for r in range(args.rounds):
                    ours_runs.append(asyncio.run(burst(url, assets, args.clients, args.timeout)))
                    ref_runs.append(asyncio.run(burst(ref_page, ref_assets, args.clients, args.timeout)))
                    o, f = ours_runs[-1], ref_runs[-1]
                    print(f"  round {r + 1}: ours {o['wall']:.2f} s, {sum(o['errors'].values())} errors; "
                          f"ref {f['wall']:.2f} s, {sum(f['errors'].values())} errors", flush=True)
            log = server.log_tail(15)

    def med(runs: list[dict[str, Any]], key: str, q: float | None = None) -> float:
        if q is None:
            return statistics.median(r[key] for r in runs)
        return statistics.median(c.percentile(r[key], q) for r in runs)

    errors: dict[str, int] = {}
    for r in ours_runs:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    n_err = sum(errors.values())
    ref_err = sum(sum(r["errors"].values()) for r in ref_runs)
    per_client = 1 + len(assets)
    rows = [
        c.Row(f"{args.clients} clients: errors ({args.rounds} rounds)", float(n_err), float(ref_err), "", "0 errors",
              n_err == 0, note="; ".join(f"{k} x{v}" for k, v in errors.items()) or f"{per_client} requests per client"),
        c.Row("time to serve every client", med(ours_runs, "wall"), med(ref_runs, "wall"), "s",
              ratio=med(ref_runs, "wall") / med(ours_runs, "wall")),
        c.Row("requests/s over the burst", args.clients * per_client / med(ours_runs, "wall"),
              args.clients * per_client / med(ref_runs, "wall"), "/s",
              ratio=med(ref_runs, "wall") / med(ours_runs, "wall")),
        c.Row("per-request p50", med(ours_runs, "req_lat", 50) * 1000, med(ref_runs, "req_lat", 50) * 1000, "ms",
              ratio=med(ref_runs, "req_lat", 50) / med(ours_runs, "req_lat", 50)),
        c.Row("per-request p99", med(ours_runs, "req_lat", 99) * 1000, med(ref_runs, "req_lat", 99) * 1000, "ms",
              ratio=med(ref_runs, "req_lat", 99) / med(ours_runs, "req_lat", 99)),
        c.Row("per-client (page + assets) p99", med(ours_runs, "client_lat", 99) * 1000,
              med(ref_runs, "client_lat", 99) * 1000, "ms",
              ratio=med(ref_runs, "client_lat", 99) / med(ours_runs, "client_lat", 99)),
    ]
    c.print_table(f"Classroom burst: {args.clients} clients open one link (page + {len(assets)} assets)", rows, facts)
    if "Traceback" in log or "[E " in log:
        print("server log (tail):\n" + log)
    c.write_json(args.json, "burst", rows, facts, vars(args))


if __name__ == "__main__":
    main()
