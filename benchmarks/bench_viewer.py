"""Viewer page throughput under wrk vs bare tornado serving the same bytes (DESIGN.md section 9).

A real ``jupyter server`` with the extension runs as a subprocess on 127.0.0.1 (login token
set; the viewer route is anonymous, ``allow_unauthenticated_access`` off) with a
200-message conversation shared. The page is fetched once (plain and with
``Accept-Encoding: gzip``); a bare tornado app on another port then serves exactly those
response bytes and content headers from memory (the reference). ``wrk`` loads each in
turn at 50 and 300 connections (10 s each by default), with and without gzip.

Target: viewer requests/s at least 0.6 of the reference.

Needs ``wrk`` (Debian: ``apt-get install wrk``).

Usage::

    /work/venv/bin/python benchmarks/bench_viewer.py
    /work/venv/bin/python benchmarks/bench_viewer.py --quick          # 3 s runs
    /work/venv/bin/python benchmarks/bench_viewer.py --connections 50 300 --duration 10
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402


def store_costs(store: Path, link: str, rounds: int = 200) -> list[c.Row]:
    """In-process cost of the store calls a page view can make, for this conversation.

    Interleaved, ``rounds`` of each: ``resolve`` (decodes the whole conversation) with and
    without counting the view, and ``resolve_share`` (the link check alone) when present.
    """
    import time

    from jupyter_convshare.core.shares import ShareService

    service = ShareService.open(store)
    calls = {
        "resolve(count_view=False)": lambda: service.resolve(link, count_view=False),
        "resolve(count_view=True)": lambda: service.resolve(link, count_view=True),
    }
    if hasattr(service, "resolve_share"):
        calls["resolve_share(count_view=False)"] = lambda: service.resolve_share(link, count_view=False)
        calls["resolve_share(count_view=True)"] = lambda: service.resolve_share(link, count_view=True)
    lat: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            lat[name].append(time.perf_counter() - t0)
    service.close()
    ref = "resolve_share(count_view=False)" if "resolve_share(count_view=False)" in lat else "resolve(count_view=False)"
    ref_p50 = c.percentile(lat[ref], 50) * 1000
    return [
        c.Row(f"store call per view: {name} p50", c.percentile(v, 50) * 1000, ref_p50, "ms",
              note=f"p99 {c.percentile(v, 99) * 1000:.2f} ms; in-process; reference: {ref}",
              ratio=ref_p50 / (c.percentile(v, 50) * 1000))
        for name, v in lat.items()
    ]


def main() -> None:
    parser = c.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="messages in the shared conversation")
    parser.add_argument("--connections", type=int, nargs="+", default=[50, 300])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the server has 2 cores to share)")
    parser.add_argument("--no-gzip", action="store_true", help="skip the gzip runs")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.duration = min(args.duration, 3.0)
    c.need_wrk()
    facts = c.machine_facts()
    print(f"bench_viewer: {args.messages} messages; {args.connections} connections x {args.duration:.0f} s; machine {facts}", flush=True)

    rows: list[c.Row] = []
    with c.tempdir("convshare-bench-viewer-", keep=args.keep) as tmp:
        store = tmp / "store"
        link = c.share_conversation(store, c.make_conversation(args.messages, conv_id="bench-viewer"))
        rows += store_costs(store, link, rounds=50 if args.quick else 200)
        with c.JupyterServer(tmp / "server", store) as server:
            url = server.viewer_url(link)
            status, headers, plain = c.fetch(url)
            if status != 200:
                sys.exit(f"viewer answered {status} for the shared link: is server/viewer.py in place?\n{server.log_tail()}")
            gz_status, gz_headers, gz_body = c.fetch(url, {"Accept-Encoding": "gzip"})
            viewer_gzips = gz_headers.get("Content-Encoding", "").lower() == "gzip"
            # When the viewer does not compress, the reference's gzip form is what it could send.
            ref_gz = gz_body if viewer_gzips else gzip.compress(plain, 6)
            print(
                f"page: {len(plain):,} bytes; gzip: {len(ref_gz):,} bytes "
                f"({'sent by the viewer' if viewer_gzips else 'NOT sent by the viewer; reference uses gzip level 6'})",
                flush=True,
            )
            views_before = c.view_count(store, link)
            routes = {"/page": (plain, ref_gz, c.copyable_headers(headers))}
            with c.RefServer(tmp / "ref", routes) as ref:
                variants = [("plain", {})]
                if not args.no_gzip:
                    variants.append(("gzip", {"Accept-Encoding": "gzip"}))
                total_requests = 0
                for conns in args.connections:
                    for label, hdrs in variants:
                        # Ours then the reference, back to back, so that both see the same machine.
                        ours = c.run_wrk(url, connections=conns, duration=args.duration, threads=args.threads, headers=hdrs)
                        theirs = c.run_wrk(ref.url(), connections=conns, duration=args.duration, threads=args.threads, headers=hdrs)
                        total_requests += ours.requests
                        ratio = ours.rps / theirs.rps if theirs.rps else 0.0
                        bad = ours.errors + ours.non_2xx
                        print(f"  c={conns} {label}: ours {ours.rps:.0f}/s p50 {ours.p50_ms:.1f} ms p99 {ours.p99_ms:.1f} ms errors {bad}; "
                              f"ref {theirs.rps:.0f}/s p50 {theirs.p50_ms:.1f} ms p99 {theirs.p99_ms:.1f} ms", flush=True)
                        note = f"errors/non-2xx: {ours.errors}/{ours.non_2xx} (ref {theirs.errors}/{theirs.non_2xx})"
                        if label == "gzip" and not viewer_gzips:
                            note += "; viewer sent no gzip"
                        rows.append(
                            c.Row(f"{conns} conns, {label}: requests/s", ours.rps, theirs.rps, "/s",
                                  ">= 0.6 of reference", ratio >= 0.6 and bad == 0, note=note, ratio=ratio)
                        )
                        rows.append(
                            c.Row(f"{conns} conns, {label}: p50 / p99 latency", ours.p50_ms, theirs.p50_ms, "ms",
                                  note=f"p99 {ours.p99_ms:.1f} ms vs {theirs.p99_ms:.1f} ms",
                                  ratio=theirs.p50_ms / ours.p50_ms if ours.p50_ms else None)
                        )
            views_after = c.view_count(store, link)
            rows.append(
                c.Row("page size plain / gzip", len(plain) / 1e3, len(ref_gz) / 1e3, "KB",
                      note="ours = plain page, reference column = gzip form")
            )
            counted = views_after - views_before
            rows.append(
                c.Row("views counted during the runs", float(counted), float(total_requests), "",
                      note="reference column: responses wrk completed; each counted view is a store write")
            )
            log = server.log_tail(15)
    c.print_table(f"Viewer page ({args.messages} messages) under wrk vs bare tornado", rows, facts)
    if "Traceback" in log or "[E " in log:
        print("server log (tail):\n" + log)
    c.write_json(args.json, "viewer", rows, facts, vars(args))


if __name__ == "__main__":
    main()
