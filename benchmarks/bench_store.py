"""Store with many shares: link lookup, share creation, concurrent writers (DESIGN.md section 9).

1. Builds a store of N shares (default 1,000,000) fast: the schema comes from
   ``ShareService.open`` (the store's own migrations and link secret); conversations and
   shares are then bulk-inserted with sqlite-utils ``insert_all`` into those tables, each
   share with a real nonce and the lookup key of its real link (``core.tokens``), so that
   every link resolves. 100 shares per conversation, 10 conversations per owner.
2. Link lookup: ``ShareService.resolve(link, count_view=False)`` (the viewer's call) and the
   store's own ``get_share_by_lookup`` vs a raw indexed ``sqlite3`` lookup of the share row
   by its key on the same file. Target: within 2x.
3. Share creation: ``ShareService.create_share`` latency (p50/p99) on the big store.
4. 4 writer processes each saving conversations and creating shares concurrently (separate
   ``ShareService.open`` each), errors counted (target 0), vs one process doing the same;
   meanwhile this process resolves links and reports read latency under write contention.

Usage::

    /work/venv/bin/python benchmarks/bench_store.py                 # 1,000,000 shares
    /work/venv/bin/python benchmarks/bench_store.py --shares 100000
    /work/venv/bin/python benchmarks/bench_store.py --quick         # 50,000 shares
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import sqlite3
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

SHARES_PER_CONVERSATION = 100
CONVERSATIONS_PER_OWNER = 10


def _doc(conv: Any) -> str:
    # The same canonical JSON text the service stores (shares._encode).
    return json.dumps(conv.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def build_store(store_dir: Path, n_shares: int, sample: int, seed: int = 7) -> tuple[Any, list[str], float]:
    """Create the store and bulk-insert ``n_shares`` shares; returns (service, sample links, seconds)."""
    import sqlite_utils

    from jupyter_convshare.core.model import format_time, utcnow
    from jupyter_convshare.core.shares import ShareService
    from jupyter_convshare.core.tokens import derive_link, lookup_key, new_nonce, new_share_id

    t0 = time.perf_counter()
    service = ShareService.open(store_dir)
    secret = service._secret  # the benchmark mints real links, as create_share does
    service.close()

    n_conv = max(1, -(-n_shares // SHARES_PER_CONVERSATION))
    template = c.make_conversation(4, seed=3)
    now = utcnow()
    db = sqlite_utils.Database(sqlite3.connect(store_dir / "convshare.db", isolation_level=None))
    # Build-only settings of this one connection; the service's own PRAGMAs apply afterwards.
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")

    def conv_rows() -> Any:
        for i in range(n_conv):
            template.id = f"bench-conv-{i}"
            template.title = f"Bench conversation {i}"
            yield {
                "owner": f"user{i // CONVERSATIONS_PER_OWNER}",
                "id": template.id,
                "title": template.title,
                "version": 1,
                "message_count": len(template.messages),
                "source_format": "convshare",
                "source_path": None,
                "source_mtime": None,
                "created_at": format_time(now),
                "updated_at": format_time(now),
                "doc": _doc(template),
            }

    rng = random.Random(seed)
    keep = min(1.0, sample * 1.5 / max(n_shares, 1))
    links: list[str] = []

    def share_rows() -> Any:
        stamp = format_time(now)
        expires = format_time(now + timedelta(days=30))
        for i in range(n_shares):
            share_id = new_share_id()
            nonce = new_nonce()
            link = derive_link(secret, share_id, nonce)
            if rng.random() < keep:
                links.append(link)
            conv = i % n_conv
            yield {
                "share_id": share_id,
                "owner": f"user{conv // CONVERSATIONS_PER_OWNER}",
                "conversation_id": f"bench-conv-{conv}",
                "link_nonce": nonce,
                "link_lookup": lookup_key(link),
                "mode": "live",
                "expires_at": expires,
                "created_at": stamp,
                "updated_at": stamp,
                "snapshot_at": None,
                "view_count": 0,
                "last_accessed_at": None,
            }
            if i and i % 200_000 == 0:
                print(f"  ... {i:,} shares", flush=True)

    db.execute("BEGIN")
    db["conversations"].insert_all(conv_rows(), batch_size=2000)
    db["shares"].insert_all(share_rows(), batch_size=5000)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("ANALYZE")
    db.conn.close()
    rng.shuffle(links)
    return ShareService.open(store_dir), links[:sample], time.perf_counter() - t0


def time_each(fn: Any, items: list[Any], budget_s: float) -> list[float]:
    """Latency of ``fn(item)`` for each item (seconds), stopping after ``budget_s``."""
    out: list[float] = []
    deadline = time.perf_counter() + budget_s
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t0)
        if t0 > deadline:
            break
    return out


def _writer(store_dir: str, worker: int, count: int, budget_s: float, start: Any, queue: Any) -> None:
    """One writer process: save a small conversation and share it, ``count`` times."""
    from jupyter_convshare.core.shares import ShareService

    lat: list[float] = []
    errors: dict[str, int] = {}
    service = ShareService.open(store_dir)
    conv = c.make_conversation(4, seed=5)
    start.wait(30)
    t_start = time.perf_counter()
    for i in range(count):
        conv.id = f"writer-{os.getpid()}-{worker}-{i}"
        t0 = time.perf_counter()
        try:
            service.save_conversation(f"writer{worker}", conv)
            service.create_share(f"writer{worker}", conv.id, expires="30d")
        except Exception as err:  # noqa: BLE001 - every failure is counted, by type
            key = f"{type(err).__name__}: {str(err)[:80]}"
            errors[key] = errors.get(key, 0) + 1
        lat.append(time.perf_counter() - t0)
        if time.perf_counter() - t_start > budget_s:
            break
    elapsed = time.perf_counter() - t_start
    service.close()
    queue.put({"worker": worker, "lat": lat, "errors": errors, "elapsed": elapsed})


def run_writers(store_dir: Path, procs: int, count: int, budget_s: float, links: list[str], service: Any) -> dict[str, Any]:
    """``procs`` writer processes at once; this process resolves links meanwhile."""
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_writer, args=(str(store_dir), w, count, budget_s, start, queue)) for w in range(procs)
    ]
    for p in workers:
        p.start()
    time.sleep(2.0)  # let the spawned interpreters import the package
    t0 = time.perf_counter()
    start.set()
    results = []
    read_lat: list[float] = []
    i = 0
    deadline = time.monotonic() + budget_s + 60
    while len(results) < procs and time.monotonic() < deadline:
        # Reads under write contention, paced so this process does not starve the writers.
        link = links[i % len(links)]
        i += 1
        r0 = time.perf_counter()
        service.resolve(link, count_view=False)
        read_lat.append(time.perf_counter() - r0)
        while not queue.empty():
            results.append(queue.get())
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    for p in workers:
        p.join(timeout=30)
        if p.is_alive():
            p.terminate()
    lat = [x for r in results for x in r["lat"]]
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {
        "ops": len(lat),
        "wall": wall,
        "lat": lat,
        "errors": errors,
        "read_lat": read_lat,
        "finished": len(results),
    }


def main() -> None:
    parser = c.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--shares", type=int, default=1_000_000, help="shares in the store (default 1,000,000)")
    parser.add_argument("--lookups", type=int, default=20_000, help="timed lookups of each kind")
    parser.add_argument("--creates", type=int, default=1000, help="timed share creations")
    parser.add_argument("--writers", type=int, default=4, help="concurrent writer processes")
    parser.add_argument("--writes-per-process", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the temporary store folder")
    args = parser.parse_args()
    if args.quick:
        args.shares = min(args.shares, 50_000)
        args.lookups = min(args.lookups, 5000)
        args.creates = min(args.creates, 200)
        args.writes_per_process = min(args.writes_per_process, 100)
    facts = c.machine_facts()
    print(f"bench_store: {args.shares:,} shares; machine {facts}", flush=True)

    from jupyter_convshare.core.tokens import lookup_key

    with c.tempdir("convshare-bench-store-", keep=args.keep) as tmp:
        store_dir = tmp / "store"
        service, links, build_s = build_store(store_dir, args.shares, args.lookups)
        db_mb = (store_dir / "convshare.db").stat().st_size / 1e6
        print(f"built {args.shares:,} shares in {build_s:.1f} s ({db_mb:.0f} MB); {len(links)} sample links", flush=True)

        # Sanity: every sampled link resolves through the real service.
        for link in links[:50]:
            service.resolve(link, count_view=False)

        raw = sqlite3.connect(store_dir / "convshare.db")
        raw_keys = [lookup_key(link) for link in links]

        def raw_lookup(key: str) -> None:
            row = raw.execute("SELECT * FROM shares WHERE link_lookup = ?", (key,)).fetchone()
            assert row is not None

        def raw_lookup_doc(key: str) -> None:
            row = raw.execute(
                "SELECT s.*, c.doc FROM shares s JOIN conversations c"
                " ON c.owner = s.owner AND c.id = s.conversation_id WHERE s.link_lookup = ?",
                (key,),
            ).fetchone()
            json.loads(row[-1])

        def store_lookup(link: str) -> None:
            with service.store.read() as session:
                assert session.get_share_by_lookup(lookup_key(link)) is not None

        def resolve(link: str) -> None:
            service.resolve(link, count_view=False)

        def resolve_share(link: str) -> None:
            service.resolve_share(link, count_view=False)

        # A 200-message conversation shared the normal way: resolve parses the whole
        # document, so its cost grows with the conversation.
        big = c.make_conversation(200, seed=2, conv_id="bench-big-200")
        service.save_conversation("user0", big)
        big_link = service.create_share("user0", big.id, expires="30d")[0].link

        # Round-robin over the kinds, one lookup each in turn, so that load from anything
        # else on the machine hits ours and the reference alike.
        kinds = {
            "raw": (raw_lookup, raw_keys),
            "raw_doc": (raw_lookup_doc, raw_keys),
            "store": (store_lookup, links),
            "resolve": (resolve, links),
            "resolve_big": (resolve, [big_link] * len(links)),
        }
        if hasattr(service, "resolve_share"):  # the viewer's fast path (no document decode)
            kinds["resolve_share"] = (resolve_share, links)
            kinds["resolve_share_big"] = (resolve_share, [big_link] * len(links))
        for fn, items in kinds.values():  # warm-up: page cache, statement cache
            for item in items[:300]:
                fn(item)
        lat: dict[str, list[float]] = {k: [] for k in kinds}
        deadline = time.perf_counter() + 90.0
        for i in range(len(links)):
            for name, (fn, items) in kinds.items():
                if name == "resolve_big" and i % 10:
                    continue  # ten times fewer: it is slow
                t0 = time.perf_counter()
                fn(items[i])
                lat[name].append(time.perf_counter() - t0)
            if time.perf_counter() > deadline:
                break
        raw_lat, raw_doc_lat, store_lat = lat["raw"], lat["raw_doc"], lat["store"]
        resolve_lat, big_lat = lat["resolve"], lat["resolve_big"]
        fast_lat, fast_big_lat = lat.get("resolve_share", []), lat.get("resolve_share_big", [])
        raw.close()
        budget = 60.0

        # Share creation on the big store (conversations saved first, untimed).
        conv = c.make_conversation(4, seed=11)
        ids = []
        save_lat = []
        for i in range(args.creates):
            conv.id = f"create-{i}"
            t0 = time.perf_counter()
            service.save_conversation("creator", conv)
            save_lat.append(time.perf_counter() - t0)
            ids.append(conv.id)
        create_lat = time_each(lambda cid: service.create_share("creator", cid, expires="7d"), ids, budget)

        writers = run_writers(store_dir, args.writers, args.writes_per_process, 120.0, links, service)
        single = run_writers(store_dir, 1, args.writes_per_process, 120.0, links, service)
        service.close()

    def p(lat: list[float], q: float) -> float:
        return c.percentile(lat, q) * 1e6

    def rate(lat: list[float]) -> float:
        return len(lat) / sum(lat)

    n_err = sum(writers["errors"].values())
    rows = []
    if fast_lat:
        rows += [
            c.Row(
                "resolve_share(count_view=False) p50",
                p(fast_lat, 50),
                p(raw_lat, 50),
                "us",
                "within 2x of raw",
                p(fast_lat, 50) <= 2 * p(raw_lat, 50),
                note=f"the viewer's link check (no document decode); p99 {p(fast_lat, 99):.0f} us vs raw {p(raw_lat, 99):.0f} us",
                ratio=p(raw_lat, 50) / p(fast_lat, 50),
            ),
            c.Row(
                "resolve_share lookups/s (one thread)",
                rate(fast_lat),
                rate(raw_lat),
                "/s",
                ratio=rate(fast_lat) / rate(raw_lat),
            ),
            c.Row(
                "resolve_share p50, 200-message conversation",
                p(fast_big_lat, 50),
                p(raw_lat, 50),
                "us",
                "within 2x of raw",
                p(fast_big_lat, 50) <= 2 * p(raw_lat, 50),
                note=f"p99 {p(fast_big_lat, 99):.0f} us",
                ratio=p(raw_lat, 50) / p(fast_big_lat, 50),
            ),
        ]
    rows += [
        c.Row(
            "resolve(count_view=False) p50",
            p(resolve_lat, 50),
            p(raw_lat, 50),
            "us",
            note="includes decoding the conversation document (the viewer's cache-miss path); reference: raw sqlite3 SELECT of the share row by indexed key",
            ratio=p(raw_lat, 50) / p(resolve_lat, 50),
        ),
        c.Row(
            "resolve(count_view=False) p99",
            p(resolve_lat, 99),
            p(raw_lat, 99),
            "us",
            ratio=p(raw_lat, 99) / p(resolve_lat, 99),
        ),
        c.Row(
            "resolve lookups/s (one thread)",
            rate(resolve_lat),
            rate(raw_lat),
            "/s",
            ratio=rate(resolve_lat) / rate(raw_lat),
        ),
        c.Row(
            "resolve p50, 200-message conversation",
            p(big_lat, 50),
            p(raw_lat, 50),
            "us",
            note=f"p99 {p(big_lat, 99):.0f} us; resolve decodes the whole document on every call",
            ratio=p(raw_lat, 50) / p(big_lat, 50),
        ),
        c.Row(
            "store get_share_by_lookup p50",
            p(store_lat, 50),
            p(raw_lat, 50),
            "us",
            "within 2x of raw",
            p(store_lat, 50) <= 2 * p(raw_lat, 50),
            note=f"p99 {p(store_lat, 99):.0f} us (read transaction + join + record)",
            ratio=p(raw_lat, 50) / p(store_lat, 50),
        ),
        c.Row(
            "resolve vs raw row + doc + json.loads p50",
            p(resolve_lat, 50),
            p(raw_doc_lat, 50),
            "us",
            note="same information fetched raw; resolve also verifies the HMAC and builds the model",
            ratio=p(raw_doc_lat, 50) / p(resolve_lat, 50),
        ),
        c.Row(
            "create_share p50 / p99",
            p(create_lat, 50) / 1000,
            None,
            "ms",
            note=f"p99 {p(create_lat, 99) / 1000:.2f} ms; save_conversation p50 {p(save_lat, 50) / 1000:.2f} ms, p99 {p(save_lat, 99) / 1000:.2f} ms ({len(create_lat)} each)",
        ),
        c.Row(
            f"{args.writers} writer processes: errors",
            float(n_err),
            None,
            "",
            "0 errors",
            n_err == 0 and writers["finished"] == args.writers,
            note=(
                "; ".join(f"{k} x{v}" for k, v in writers["errors"].items())
                or f"{writers['ops']} save+share ops in {writers['wall']:.1f} s"
            ),
        ),
        c.Row(
            f"{args.writers} writers: save+share ops/s",
            writers["ops"] / writers["wall"],
            single["ops"] / single["wall"],
            "/s",
            note="reference: the same loop in 1 writer process",
            ratio=(writers["ops"] / writers["wall"]) / (single["ops"] / single["wall"]),
        ),
        c.Row(
            f"{args.writers} writers: save+share p50 / p99",
            p(writers["lat"], 50) / 1000,
            p(single["lat"], 50) / 1000,
            "ms",
            note=f"p99 {p(writers['lat'], 99) / 1000:.1f} ms (1 writer: {p(single['lat'], 99) / 1000:.1f} ms); max {max(writers['lat'] or [0]) * 1000:.0f} ms",
        ),
        c.Row(
            "resolve p99 during the writers",
            p(writers["read_lat"], 99),
            p(resolve_lat, 99),
            "us",
            note=f"p50 {p(writers['read_lat'], 50):.0f} us over {len(writers['read_lat'])} reads; reference: idle p99",
            ratio=p(resolve_lat, 99) / p(writers["read_lat"], 99),
        ),
    ]
    c.print_table(f"Store: {args.shares:,} shares ({db_mb:.0f} MB database, built in {build_s:.0f} s)", rows, facts)
    c.write_json(args.json, "store", rows, facts, vars(args))


if __name__ == "__main__":
    main()
