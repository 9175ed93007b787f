"""'Download all (ZIP)' of ~1 GB of attachments through the running server (DESIGN.md section 9).

Random (incompressible) files are generated and attached to a conversation as blobs with
``ShareService.save_conversation``; the conversation is shared and a real ``jupyter
server`` with the extension serves ``convshare/s/<link>/files.zip``. Measured:

* download MB/s (a separate downloader process reads the stream into a sink) vs stdlib
  ``zipfile`` writing the same files, with the compression method the server used, into a
  non-seekable byte-counting sink (the reference);
* the server process's peak RSS growth during the download (``/proc/<pid>/status``:
  VmHWM after resetting it through ``clear_refs``, and VmRSS polled): target < 64 MB;
* other viewers' page latency (p50/p99, one keep-alive client polling the page) while
  the download runs vs idle: target p99 < 2x idle.

Usage::

    /work/venv/bin/python benchmarks/bench_zip.py             # 1024 MB
    /work/venv/bin/python benchmarks/bench_zip.py --mb 256
    /work/venv/bin/python benchmarks/bench_zip.py --quick     # 96 MB
"""

from __future__ import annotations

import http.client
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

MIB = 1024 * 1024


class CountingSink:
    """A write-only, non-seekable file object that counts bytes (``zipfile`` streams into it)."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, data: bytes) -> int:
        self.n += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def tell(self) -> int:
        # zipfile asks for the position; a pipe has none, so it falls back to streaming mode.
        raise OSError("not seekable")

    def seekable(self) -> bool:
        return False


def download(url: str) -> dict[str, Any]:
    """GET ``url`` into a sink; keep the head and tail to read the ZIP's first header and directory."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    t0 = time.perf_counter()
    conn.request("GET", parts.path)
    resp = conn.getresponse()
    head = b""
    tail = b""
    n = 0
    first_byte = None
    while True:
        chunk = resp.read(MIB)
        if not chunk:
            break
        if first_byte is None:
            first_byte = time.perf_counter() - t0
        n += len(chunk)
        if len(head) < 64:
            head += chunk[: 64 - len(head)]
        tail = (tail + chunk)[-(256 * 1024):]
    elapsed = time.perf_counter() - t0
    entries = None
    i = tail.rfind(b"PK\x05\x06")
    if i >= 0:
        entries = struct.unpack("<H", tail[i + 10 : i + 12])[0]
        if entries == 0xFFFF:
            j = tail.rfind(b"PK\x06\x06")
            if j >= 0:
                entries = struct.unpack("<Q", tail[j + 32 : j + 40])[0]
    method = struct.unpack("<H", head[8:10])[0] if head[:4] == b"PK\x03\x04" else None
    return {
        "status": resp.status,
        "headers": dict(resp.getheaders()),
        "bytes": n,
        "seconds": elapsed,
        "first_byte_s": first_byte,
        "entries": entries,
        "method": method,
    }


def reference_zip(files: list[tuple[str, str]], method: int) -> tuple[int, float]:
    """stdlib zipfile writing ``files`` ([(path, arcname)]) to a counting sink: (bytes, seconds)."""
    sink = CountingSink()
    t0 = time.perf_counter()
    with zipfile.ZipFile(sink, "w", compression=method, allowZip64=True) as zf:  # type: ignore[arg-type]
        for path, arcname in files:
            zf.write(path, arcname)
    return sink.n, time.perf_counter() - t0


class Prober(threading.Thread):
    """One keep-alive viewer polling the page as fast as it is answered, until stopped."""

    def __init__(self, url: str, max_seconds: float) -> None:
        super().__init__(daemon=True)
        self.url = urlsplit(url)
        self.max_seconds = max_seconds
        self.lat: list[float] = []
        self.errors = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
        deadline = time.monotonic() + self.max_seconds
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                conn.request("GET", self.url.path, headers={"Accept-Encoding": "gzip"})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.errors += 1
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
            self.lat.append(time.perf_counter() - t0)
            time.sleep(0.005)  # a person clicking, not a load generator
        conn.close()


def probe_for(url: str, seconds: float) -> Prober:
    p = Prober(url, seconds)
    p.start()
    p.join(seconds + 35)
    return p


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--download":
        print(json.dumps(download(sys.argv[2])))
        return
    parser = c.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="total attachment size in MiB (default 1024)")
    parser.add_argument("--file-mb", type=int, default=32, help="size of each attachment in MiB (max 50)")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="idle latency probe duration")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.mb = min(args.mb, 96)
        args.file_mb = min(args.file_mb, 12)
        args.idle_seconds = min(args.idle_seconds, 3.0)
    facts = c.machine_facts()
    print(f"bench_zip: {args.mb} MiB in {args.file_mb} MiB files; machine {facts}", flush=True)

    from jupyter_convshare.core.model import Attachment, Part
    from jupyter_convshare.core.shares import ShareService

    with c.tempdir("convshare-bench-zip-", keep=args.keep) as tmp:
        store = tmp / "store"
        conv = c.make_conversation(20, conv_id="bench-zip", title="Attachments benchmark")
        n_files = max(1, args.mb // args.file_mb)
        blobs: dict[str, bytes] = {}
        last_message = conv.messages[conv.active_leaf_id]
        for i in range(n_files):
            att_id = f"att-{i}"
            conv.attachments[att_id] = Attachment(
                id=att_id, name=f"data-{i:03d}.bin", kind="file", mime_type="application/octet-stream"
            )
            last_message.parts.append(Part(type="file_ref", attachment_id=att_id))
            blobs[att_id] = os.urandom(args.file_mb * MIB)
        t0 = time.perf_counter()
        link = c.share_conversation(store, conv, blobs=blobs)
        print(f"stored {n_files} attachments ({args.mb} MiB) in {time.perf_counter() - t0:.1f} s", flush=True)
        blobs.clear()
        service = ShareService.open(store)
        stored = service.resolve(link, count_view=False).conversation
        files = [(service.blob_path(a.sha256), a.name) for a in stored.attachments.values() if a.sha256]
        service.close()
        total = sum(os.path.getsize(p) for p, _ in files)

        with c.JupyterServer(tmp / "server", store) as server:
            page = server.viewer_url(link)
            zip_url = server.viewer_url(link, "/files.zip")
            status, _, _ = c.fetch(page)
            if status != 200:
                sys.exit(f"viewer answered {status}: is server/viewer.py in place?\n{server.log_tail()}")
            idle = probe_for(page, args.idle_seconds)

            before = c.proc_status_kb(server.pid)
            hwm_reset = c.reset_hwm(server.pid)
            base_rss = c.proc_status_kb(server.pid)["VmRSS"]
            prober = Prober(page, max_seconds=600)
            prober.start()
            dl = subprocess.Popen(
                [c.PYTHON, __file__, "--download", zip_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            max_rss = base_rss
            deadline = time.monotonic() + max(120.0, args.mb / 5)
            while dl.poll() is None and time.monotonic() < deadline:
                max_rss = max(max_rss, c.proc_status_kb(server.pid)["VmRSS"])
                time.sleep(0.02)
            if dl.poll() is None:
                dl.kill()
            out, err = dl.communicate(timeout=30)
            prober.stop_event.set()
            prober.join(35)
            after = c.proc_status_kb(server.pid)
            log = server.log_tail(15)
        if not out.strip():
            sys.exit(f"downloader failed: {err}\nserver log:\n{log}")
        got = json.loads(out)
        method = got["method"] if got["method"] is not None else zipfile.ZIP_STORED
        ref_bytes, ref_s = reference_zip(files, method)
        if total <= 256 * MIB:  # small runs: best of two, against noise
            ref_s = min(ref_s, reference_zip(files, method)[1])
        # What storing without compression costs (random attachments do not compress).
        stored_bytes, stored_s = reference_zip(files, zipfile.ZIP_STORED) if method != zipfile.ZIP_STORED else (ref_bytes, ref_s)

    growth_polled = (max_rss - base_rss) / 1024
    growth_hwm = (after["VmHWM"] - base_rss) / 1024 if hwm_reset else None
    growth = max(growth_polled, growth_hwm or 0.0)
    mbps = got["bytes"] / MIB / got["seconds"]
    ref_mbps = ref_bytes / MIB / ref_s
    ok_zip = got["status"] == 200 and got["entries"] == len(files) and got["bytes"] >= total
    method_name = {0: "stored", 8: "deflated"}.get(method, str(method))
    idle_p99 = c.percentile(idle.lat, 99) * 1000
    busy_p99 = c.percentile(prober.lat, 99) * 1000
    rows = [
        c.Row(
            f"ZIP download of {total / MIB:.0f} MiB ({len(files)} files)",
            mbps,
            ref_mbps,
            "MiB/s",
            "complete, all entries",
            ok_zip,
            note=f"HTTP {got['status']}, {got['bytes'] / MIB:.0f} MiB, {got['entries']} entries, {method_name}; "
            f"first byte {1000 * (got['first_byte_s'] or 0):.0f} ms; reference: stdlib zipfile to a sink",
            ratio=mbps / ref_mbps,
        ),
        c.Row(
            "  for scale: stdlib zipfile, stored (no compression)",
            None,
            stored_bytes / MIB / stored_s,
            "MiB/s",
            note=f"output {stored_bytes / MIB:.0f} MiB vs {ref_bytes / MIB:.0f} MiB with {method_name}",
        ),
        c.Row(
            "server peak RSS growth during download",
            growth,
            None,
            "MB",
            "< 64 MB",
            growth < 64,
            note=f"RSS before {base_rss / 1024:.0f} MB (VmHWM {before['VmHWM'] / 1024:.0f} MB before reset); "
            f"polled max +{growth_polled:.0f} MB; VmHWM +{growth_hwm if growth_hwm is not None else float('nan'):.0f} MB",
        ),
        c.Row(
            "other viewer's page p99 during download",
            busy_p99,
            idle_p99,
            "ms",
            "< 2x idle",
            busy_p99 < 2 * idle_p99 and prober.errors == 0,
            note=f"p50 {c.percentile(prober.lat, 50) * 1000:.1f} vs {c.percentile(idle.lat, 50) * 1000:.1f} ms idle; "
            f"{len(prober.lat)} vs {len(idle.lat)} requests; errors {prober.errors}",
            ratio=idle_p99 / busy_p99 if busy_p99 else None,
        ),
    ]
    c.print_table(f"Download all (ZIP): {total / MIB:.0f} MiB of random attachments", rows, facts)
    if "Traceback" in log or "[E " in log:
        print("server log (tail):\n" + log)
    c.write_json(args.json, "zip", rows, facts, vars(args))


if __name__ == "__main__":
    main()
