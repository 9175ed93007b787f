"""Importing a big ChatGPT data export in bounded memory (issue 5).

A synthetic ``conversations.json`` of the requested size is built from the real ChatGPT
export ``../shared/fixtures/real/chatgpt/pkuppens__my_chat_gpt/conversations.json`` (its
six conversations repeated with fresh ids, so every element is a real export object).
Each side runs in its own fresh Python process, which reports its peak RSS (``ru_maxrss``)
and its wall time; the baseline RSS of a process that only imports the package is
subtracted from both:

* ours: ``core.importers.stream.scan`` (ijson, one conversation at a time; the pass
  ``jupyter convshare import`` runs before storing anything);
* reference: the whole-file path, ``json.load`` of the file then ``core.importers.load``
  (what reading the export in one piece costs).

Target: ours' peak RSS growth < 64 MB whatever the file size.

Usage::

    /work/venv/bin/python benchmarks/bench_import.py             # 256 MB export
    /work/venv/bin/python benchmarks/bench_import.py --mb 512
    /work/venv/bin/python benchmarks/bench_import.py --quick     # 32 MB
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

SOURCE = (Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "chatgpt"
          / "pkuppens__my_chat_gpt" / "conversations.json")

_CHILD = r"""
import json, resource, sys, time
mode, path = sys.argv[1], sys.argv[2]
import jupyter_convshare.core.importers as importers
from jupyter_convshare.core.importers.stream import scan
start = time.perf_counter()
count = 0
if mode == "stream":
    count = len(scan(path).conversations)
elif mode == "whole":
    with open(path, "rb") as f:
        data = json.load(f)
    count = len(importers.load(data, format="chatgpt", name="conversations.json"))
elif mode == "baseline":
    pass
elapsed = time.perf_counter() - start
print(json.dumps({"count": count, "seconds": elapsed,
                  "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def build_export(path: Path, megabytes: int) -> int:
    """Write a JSON array of about ``megabytes`` MB of real export conversations; their count."""
    conversations = json.loads(SOURCE.read_text(encoding="utf-8"))
    target = megabytes * 1024 * 1024
    written = 0
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        while written < target:
            for item in conversations:
                copy = dict(item)
                copy["id"] = copy["conversation_id"] = str(uuid.uuid4())
                text = json.dumps(copy)
                out.write(("," if count else "") + text)
                written += len(text) + 1
                count += 1
        out.write("]")
    return count


def run(mode: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path)], capture_output=True, text=True,
                          timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main() -> None:
    parser = c.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="size of the synthetic export (MB)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    megabytes = 32 if args.quick else args.mb
    if not SOURCE.exists():
        raise SystemExit(f"needs the real fixture {SOURCE} (../shared beside the clone)")
    facts = c.machine_facts()
    with c.tempdir("convshare-bench-import-", keep=args.keep) as tmp:
        path = tmp / "conversations.json"
        count = build_export(path, megabytes)
        size_mb = path.stat().st_size / 1024 / 1024
        base = run("baseline", path)
        ours = run("stream", path)
        ref = run("whole", path)
    assert ours["count"] == ref["count"] == count, (ours, ref, count)
    grow_ours = (ours["max_rss_kb"] - base["max_rss_kb"]) / 1024
    grow_ref = (ref["max_rss_kb"] - base["max_rss_kb"]) / 1024
    rows = [
        c.Row(f"peak RSS growth, {size_mb:.0f} MB export ({count:,} conversations)", grow_ours, grow_ref, "MB",
              "< 64 MB", grow_ours < 64, "streamed (ijson) vs json.load + load", ratio=grow_ref / max(grow_ours, 0.1)),
        c.Row("conversations per second", ours["count"] / ours["seconds"], ref["count"] / ref["seconds"], "/s",
              "", None, "check pass of `jupyter convshare import`",
              ratio=(ours["count"] / ours["seconds"]) / (ref["count"] / ref["seconds"])),
        c.Row("MB per second", size_mb / ours["seconds"], size_mb / ref["seconds"], "MB/s", "", None, ""),
    ]
    c.print_table("Import a big ChatGPT export", rows, facts)
    c.write_json(args.json, "import", rows, facts, {"mb": megabytes, "conversations": count})


if __name__ == "__main__":
    main()
