"""Cold and warm render of a long conversation vs nbconvert (DESIGN.md section 9).

Ours: what the viewer does for a conversation version it has not rendered yet
(``core.redact.viewer_copy`` then ``core.render.render_conversation``, which builds the
sanitised HTML of every message; the Jinja page template is not included), timed in this
process.
Reference: ``nbconvert``'s ``HTMLExporter`` turning a notebook whose markdown cells hold the
same message texts into HTML, timed in the same process. Target: ours at least 5x faster.

The warm path is the viewer's cache: ``core.render.RenderCache`` hit for the same
``cache_key``.

Usage::

    /work/venv/bin/python benchmarks/bench_render.py            # 2,000 messages
    /work/venv/bin/python benchmarks/bench_render.py --quick    # 200 messages
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402


def ours_pipeline() -> tuple[Callable[[Any], Any], str]:
    """The cold path as a function ``conversation -> rendered``, and its description."""
    from jupyter_convshare.core.render import render_conversation

    from jupyter_convshare.core.redact import viewer_copy

    def run(conv: Any) -> Any:
        return render_conversation(viewer_copy(conv))

    # The viewer then fills its Jinja page template from this view model; that step is
    # not included (it is string assembly, small next to markdown + pygments + nh3).
    return run, "redact.viewer_copy + render.render_conversation"


def rendered_size(result: Any) -> int:
    """Bytes of HTML produced (the page, or the sum of message HTML in the view model)."""
    if isinstance(result, (str, bytes)):
        return len(result.encode() if isinstance(result, str) else result)
    total = 0
    for msg in getattr(result, "messages", []):
        for part in getattr(msg, "parts", []):
            for name in ("html", "body", "text"):
                v = getattr(part, name, None)
                if isinstance(v, str):
                    total += len(v.encode())
                    break
    return total


def time_call(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = c.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages in the conversation (default 2000)")
    parser.add_argument("--runs", type=int, default=3, help="timed cold renders of ours after the first (default 3)")
    parser.add_argument("--nbconvert-runs", type=int, default=1, help="timed nbconvert exports (default 1)")
    parser.add_argument("--warm-lookups", type=int, default=20000, help="cache hits timed for the warm path")
    args = parser.parse_args()
    if args.quick:
        args.messages = min(args.messages, 200)
        args.runs = min(args.runs, 3)
    facts = c.machine_facts()
    print(f"bench_render: {args.messages} messages; machine {facts}", flush=True)

    import nbformat
    from nbconvert import HTMLExporter

    from jupyter_convshare.core.render import RenderCache

    conv = c.make_conversation(args.messages)
    texts = [text for _, text in c.message_texts(args.messages)]
    md_bytes = sum(len(t.encode()) for t in texts)
    run, pipeline = ours_pipeline()
    print(f"ours: {pipeline}", flush=True)

    # Ours: the first call pays lazy set-up (markdown-it parser, pygments lexers) like a
    # fresh server's first view; later calls are cold for the cache, warm for the process.
    first_ours, out = time_call(lambda: run(conv))
    ours_times = [time_call(lambda: run(conv))[0] for _ in range(args.runs)]
    ours_size = rendered_size(out)
    print(f"ours: first {first_ours:.3f} s, then {[round(t, 3) for t in ours_times]}", flush=True)

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(t) for t in texts])
    nb_times: list[float] = []
    nb_size = 0
    for i in range(max(1, args.nbconvert_runs)):
        # A fresh exporter each time: nbconvert's cold path (templates, filters).
        t, (body, _res) = time_call(lambda: HTMLExporter().from_notebook_node(nb))
        nb_times.append(t)
        nb_size = len(body.encode())
        print(f"nbconvert run {i + 1}: {t:.3f} s", flush=True)

    # Warm path: the viewer's cache hit for an already rendered version.
    cache: RenderCache[str, Any] = RenderCache(maxsize=64)
    cache.put("bench:1", out)
    lat: list[float] = []
    t_all = time.perf_counter()
    for _ in range(args.warm_lookups):
        t0 = time.perf_counter()
        cache.get_or_compute("bench:1", lambda: run(conv))
        lat.append(time.perf_counter() - t0)
    warm_total = time.perf_counter() - t_all

    ours_med = statistics.median(ours_times) if ours_times else first_ours
    nb_first = nb_times[0]
    nb_med = statistics.median(nb_times)
    rows = [
        c.Row(
            f"cold render, first in process ({args.messages} msgs)",
            first_ours,
            nb_first,
            "s",
            ">= 5x faster than nbconvert",
            nb_first / first_ours >= 5,
            ratio=nb_first / first_ours,
        ),
        c.Row(
            f"cold render, median of {len(ours_times)} (cache miss)",
            ours_med,
            nb_med,
            "s",
            ">= 5x faster than nbconvert",
            nb_med / ours_med >= 5,
            ratio=nb_med / ours_med,
        ),
        c.Row("cold render per message", ours_med / args.messages * 1000, nb_med / args.messages * 1000, "ms"),
        c.Row(
            "warm (RenderCache hit) p50",
            c.percentile(lat, 50) * 1e6,
            ours_med * 1e6,
            "us",
            note=f"reference = cold render; p99 {c.percentile(lat, 99) * 1e6:.1f} us; {args.warm_lookups / warm_total:,.0f} hits/s",
            ratio=ours_med / c.percentile(lat, 50),
        ),
        c.Row(
            "HTML produced",
            ours_size / 1e6,
            nb_size / 1e6,
            "MB",
            note=f"markdown in: {md_bytes / 1e6:.2f} MB; ours: message HTML only, nbconvert: full page with its CSS",
        ),
    ]
    c.print_table(f"Render: {args.messages}-message conversation vs nbconvert HTMLExporter", rows, facts)
    c.write_json(args.json, "render", rows, facts, vars(args))


if __name__ == "__main__":
    main()
