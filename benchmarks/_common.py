"""Shared pieces of the benchmark scripts (DESIGN.md section 9).

Not part of the package and never run by the test suite. Each ``bench_*.py`` script
measures one figure next to a reference measured in the same run on the same machine,
and prints a table with the target and PASS/FAIL.

Everything here talks to 127.0.0.1 only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable

# -- machine facts and reporting ------------------------------------------------------


def machine_facts() -> dict[str, str]:
    """Facts that make a figure comparable: cores, CPU, Python, SQLite and library versions."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    facts = {
        "cores": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": f"{platform.system()} {platform.release()}",
        # Other work on the machine shows here; ratios come from interleaved measurements.
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    for dist in ("tornado", "jupyter_server", "sqlite-utils", "markdown-it-py", "nh3", "pygments", "nbconvert", "aiohttp"):
        try:
            facts[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=5)
        facts["wrk"] = (out.stdout or out.stderr).split()[1]
    except (OSError, IndexError, subprocess.SubprocessError):
        pass
    return facts


@dataclass
class Row:
    """One line of a result table.

    ``ours`` and ``reference`` are numbers in ``unit``; ``ratio`` is ours/reference (or the
    inverse when ``higher_is_better`` is false, so that > 1 always means "ours is better");
    ``target`` is a human phrase and ``passed`` its verdict (``None``: no target).
    """

    name: str
    ours: float | None
    reference: float | None = None
    unit: str = ""
    target: str = ""
    passed: bool | None = None
    note: str = ""
    ratio: float | None = None


def fmt(value: float | None, unit: str = "") -> str:
    """A number with 3 significant figures (or '-')."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    a = abs(value)
    if a >= 1000:
        s = f"{value:,.0f}"
    elif a >= 100:
        s = f"{value:.0f}"
    elif a >= 10:
        s = f"{value:.1f}"
    elif a >= 1:
        s = f"{value:.2f}"
    else:
        s = f"{value:.3g}"
    return s


def print_table(title: str, rows: Sequence[Row], facts: dict[str, str] | None = None) -> None:
    """Print ``rows`` as a Markdown table (copyable into results.md)."""
    print()
    print(f"## {title}")
    if facts:
        print(
            "machine: "
            + ", ".join(f"{k} {v}" for k, v in facts.items() if k in ("cores", "cpu", "python", "sqlite", "load"))
        )
    print()
    print("| measure | ours | reference | ratio | target | verdict | note |")
    print("|---|---:|---:|---:|---|---|---|")
    for r in rows:
        verdict = "" if r.passed is None else ("PASS" if r.passed else "FAIL")
        ratio = "-" if r.ratio is None else (f"{r.ratio:,.0f}x" if r.ratio >= 100 else f"{r.ratio:.2f}x")
        unit = f" {r.unit}" if r.unit else ""
        ours = fmt(r.ours) + (unit if r.ours is not None else "")
        ref = fmt(r.reference) + (unit if r.reference is not None else "")
        print(f"| {r.name} | {ours} | {ref} | {ratio} | {r.target} | {verdict} | {r.note} |")
    print(flush=True)


def write_json(path: str | None, name: str, rows: Sequence[Row], facts: dict[str, str], params: dict[str, Any]) -> None:
    """Append this run's rows to ``path`` (a JSON object keyed by benchmark name)."""
    if not path:
        return
    p = Path(path)
    data: dict[str, Any] = {}
    if p.exists():
        try:
            data = json.loads(p.read_text())
        except ValueError:
            data = {}
    data[name] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": facts,
        "params": params,
        "rows": [asdict(r) for r in rows],
    }
    p.write_text(json.dumps(data, indent=2))


def base_parser(description: str) -> argparse.ArgumentParser:
    """Argument parser with the options every script has (``--quick``, ``--json``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in under a minute")
    parser.add_argument("--json", metavar="PATH", help="also write the rows into this JSON file")
    return parser


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; ``values`` need not be sorted."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


# -- generated conversations ----------------------------------------------------------

_WORDS = (
    "model tensor kernel notebook gradient batch loss accuracy dataset feature pipeline sample "
    "vector matrix cluster metric epoch token prompt context window layer weight bias output input "
    "function variable result error value array frame column index query schema cache latency"
).split()

_CODE = {
    "python": [
        "import numpy as np\n\ndef softmax(x):\n    e = np.exp(x - x.max())\n    return e / e.sum()\n\nprint(softmax(np.arange({n})))",
        "import pandas as pd\n\ndf = pd.read_csv('data_{n}.csv')\nsummary = df.groupby('label').agg(['mean', 'std'])\nprint(summary.head())",
        "class Counter:\n    def __init__(self):\n        self.n = {n}\n\n    def step(self) -> int:\n        self.n += 1\n        return self.n",
    ],
    "javascript": [
        "const xs = Array.from({{length: {n}}}, (_, i) => i * i);\nconsole.log(xs.filter(x => x % 2).reduce((a, b) => a + b, 0));",
    ],
    "sql": [
        "SELECT label, COUNT(*) AS n, AVG(score)\nFROM results\nWHERE epoch > {n}\nGROUP BY label\nORDER BY n DESC;",
    ],
    "bash": ["pip install -U numpy pandas\npython train.py --epochs {n} --lr 3e-4 | tee log.txt"],
}

_MATH_INLINE = [r"$E = mc^2$", r"$\alpha_{n} + \beta^2$", r"$\sum_{i=1}^{n} x_i$", r"$\sqrt{2}/2$"]
_MATH_BLOCK = [
    "$$\n\\int_0^1 x^2 \\, dx = \\frac{1}{3}\n$$",
    "$$\n\\mathcal{L}(\\theta) = -\\sum_{i} y_i \\log \\hat{y}_i\n$$",
    "$$\n\\frac{\\partial L}{\\partial w} = X^T (X w - y)\n$$",
]


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def message_texts(count: int, seed: int = 1) -> list[tuple[str, str]]:
    """``count`` deterministic ``(role, markdown)`` pairs, alternating user / assistant.

    Assistant messages mix paragraphs with **bold**, `inline code` and links, fenced code
    blocks (python, javascript, sql, bash), GFM tables, bullet lists, inline and display
    math (``$...$``, ``$$...$$``); about 1.3 KB each. User messages are a short question.
    """
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for i in range(count):
        if i % 2 == 0:
            text = f"Question {i // 2 + 1}: " + _sentence(rng, rng.randint(8, 25)) + f" What about `{rng.choice(_WORDS)}`?"
            out.append(("user", text))
            continue
        blocks = [
            _sentence(rng, rng.randint(12, 30))
            + f" See **{rng.choice(_WORDS)}** and `{rng.choice(_WORDS)}_{i}` for details, "
            + f"as in {rng.choice(_MATH_INLINE)} ([docs](https://example.org/docs/{i}))."
        ]
        kind = i % 6
        lang = rng.choice(list(_CODE))
        code = rng.choice(_CODE[lang]).format(n=i)
        if kind in (1, 3, 5):
            blocks.append(f"```{lang}\n{code}\n```")
        if kind in (1, 5):
            rows = "\n".join(
                f"| {rng.choice(_WORDS)} | {rng.randint(1, 999)} | {rng.random():.3f} |" for _ in range(rng.randint(3, 6))
            )
            blocks.append("| name | count | score |\n|---|---:|---:|\n" + rows)
        if kind in (3, 5):
            blocks.append(rng.choice(_MATH_BLOCK))
        blocks.append(_sentence(rng, rng.randint(20, 40)) + " " + _sentence(rng, rng.randint(10, 30)))
        blocks.append("\n".join(f"- {_sentence(rng, rng.randint(4, 10))}" for _ in range(rng.randint(2, 4))))
        blocks.append(_sentence(rng, rng.randint(10, 24)))
        out.append(("assistant", "\n\n".join(blocks)))
    return out


def make_conversation(count: int, *, seed: int = 1, title: str | None = None, conv_id: str | None = None) -> Any:
    """A linear :class:`Conversation` of ``count`` generated messages (see :func:`message_texts`)."""
    from jupyter_convshare.core.model import Conversation, Message, Part, Participant, SourceInfo

    start = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
    conv = Conversation(
        id=conv_id or f"bench:{count}:{seed}",
        source=SourceInfo(format="convshare", file_name=f"bench-{count}.json"),
        title=title or f"Benchmark conversation ({count} messages)",
        created_at=start,
        updated_at=start + timedelta(seconds=30 * count),
        participants={
            "student": Participant(id="student", kind="human", display_name="Student"),
            "assistant": Participant(
                id="assistant", kind="assistant", display_name="Tutor", provider="openai", model="gpt-4o"
            ),
        },
    )
    for i, (role, text) in enumerate(message_texts(count, seed)):
        conv.append(
            Message(
                id=str(i + 1),
                role=role,  # type: ignore[arg-type]
                author_id="student" if role == "user" else "assistant",
                parts=[Part.text_part(text)],
                created_at=start + timedelta(seconds=30 * i),
                model="gpt-4o" if role == "assistant" else None,
            )
        )
    return conv


# -- a real Jupyter server with the extension -------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterServer:
    """A real ``jupyter server`` subprocess with the convshare extension, on 127.0.0.1.

    It has a login token (the viewer routes are anonymous), ``allow_unauthenticated_access``
    off, its own runtime/data/config folders under ``workdir`` and the store in
    ``store_dir``. Use as a context manager; :meth:`stop` terminates only this process.
    """

    def __init__(self, workdir: Path, store_dir: Path, *, port: int | None = None, extra_args: Sequence[str] = ()):
        self.workdir = Path(workdir)
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.token = "bench-" + os.urandom(12).hex()
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "jupyter-server.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def viewer_url(self, link: str, suffix: str = "") -> str:
        """Absolute URL of ``convshare/s/<link><suffix>``."""
        return f"{self.base}convshare/s/{link}{suffix}"

    def start(self, timeout: float = 60.0) -> "JupyterServer":
        root = self.workdir / "root"
        root.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "config"
        cfg.mkdir(parents=True, exist_ok=True)
        (cfg / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "ServerApp": {
                        "jpserver_extensions": {"jupyter_convshare": True},
                        "allow_unauthenticated_access": False,
                    }
                }
            )
        )
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(cfg),
            JUPYTER_CONFIG_PATH=str(cfg),
            JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"),
            JUPYTER_DATA_DIR=str(self.workdir / "data"),
            JUPYTER_PLATFORM_DIRS="1",
            JUPYTER_NO_CONFIG="",
        )
        cmd = [
            PYTHON,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={self.token}",
            f"--ConvShareApp.store_dir={self.store_dir}",
            "--ServerApp.log_level=WARN",
            "--ServerApp.terminals_enabled=False",
            *(["--allow-root"] if os.geteuid() == 0 else []),
            *self.extra_args,
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited ({self.proc.returncode}); log:\n{self.log_tail()}")
            try:
                req = urllib.request.Request(self.base + "api/status", headers={"Authorization": f"token {self.token}"})
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"jupyter server not ready after {timeout:.0f} s; log:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> "JupyterServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Response headers that describe one transfer, not the content: never copied.
_HOP_HEADERS = {"content-length", "date", "server", "transfer-encoding", "connection", "content-encoding", "vary",
                "set-cookie", "etag", "keep-alive"}


def copyable_headers(headers: dict[str, str]) -> dict[str, str]:
    """The content headers of a response (type, security headers), to be replayed."""
    return {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}


class RefServer:
    """The reference: a bare tornado app (``refserver.py``) serving fixed bytes from memory.

    Args:
        workdir: a folder for its files.
        routes: ``{url path: (plain bytes, gzip bytes or None, headers)}``.
    """

    def __init__(self, workdir: Path, routes: dict[str, tuple[bytes, bytes | None, dict[str, str]]]):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        manifest = {}
        for i, (path, (plain, gz, headers)) in enumerate(routes.items()):
            (self.workdir / f"body-{i}").write_bytes(plain)
            if gz:
                (self.workdir / f"body-{i}.gz").write_bytes(gz)
            manifest[path] = {"file": f"body-{i}", "gzip_file": f"body-{i}.gz" if gz else None, "headers": headers}
        (self.workdir / "manifest.json").write_text(json.dumps(manifest))
        self.first_path = next(iter(routes))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str | None = None) -> str:
        return self.base + (path or self.first_path)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> "RefServer":
        self._log = open(self.workdir / "refserver.log", "wb")
        self.proc = subprocess.Popen(
            [PYTHON, str(HERE / "refserver.py"), "--port", str(self.port), "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("reference server exited: " + (self.workdir / "refserver.log").read_text())
            try:
                with urllib.request.urlopen(self.url(), timeout=2) as resp:
                    resp.read()
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError("reference tornado server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def share_conversation(store_dir: Path, conversation: Any, blobs: dict[str, bytes] | None = None) -> str:
    """Save ``conversation`` (with attachment ``blobs``) in the store and share it; returns the link.

    Done through ``ShareService`` on the store folder before the server starts (the store
    is safe for several processes of one user; the link secret is in the folder).
    """
    import getpass

    from jupyter_convshare.core.shares import ShareService

    service = ShareService.open(store_dir)
    try:
        owner = getpass.getuser()
        service.save_conversation(owner, conversation, blobs=blobs)
        share, _ = service.create_share(owner, conversation.id, expires="30d")
        return share.link
    finally:
        service.close()


def view_count(store_dir: Path, link: str) -> int:
    """The share's view count as stored (reads the store, counts nothing)."""
    from jupyter_convshare.core.shares import ShareService

    service = ShareService.open(store_dir)
    try:
        return service.resolve(link, count_view=False).share.view_count
    finally:
        service.close()


def fetch(url: str, headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` once: (status, headers, body bytes as sent, not decompressed)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


# -- wrk ------------------------------------------------------------------------------


@dataclass
class WrkResult:
    """What one wrk run measured: requests/s, latency percentiles (ms), errors."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non_2xx: int
    raw: str = field(repr=False, default="")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text.strip())
    if not m:
        raise ValueError(f"cannot parse wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def need_wrk() -> str:
    """Path of ``wrk``, or exit with how to install it."""
    path = shutil.which("wrk")
    if not path:
        sys.exit("wrk is not installed: `apt-get install wrk` (Debian package 'wrk'), then run again.")
    return path


def run_wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    threads: int = 1,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    """Run ``wrk --latency`` against ``url`` (127.0.0.1 only) and parse its report."""
    assert url.startswith("http://127.0.0.1:"), url
    cmd = [
        need_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, int(round(duration)))}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    raw = out.stdout + out.stderr
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", raw).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", raw).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", raw, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", raw, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", raw)
    if m:
        errors = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", raw)
    non_2xx = int(m.group(1)) if m else 0
    return WrkResult(rps=rps, p50_ms=p50, p99_ms=p99, requests=requests, errors=errors, non_2xx=non_2xx, raw=raw)


# -- process memory -----------------------------------------------------------------


def proc_status_kb(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM / VmPeak of ``pid`` in KiB, from ``/proc/<pid>/status``."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "VmPeak", "VmSize"):
            out[key] = int(rest.split()[0])
    return out


def reset_hwm(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of ``pid`` (``/proc/<pid>/clear_refs`` = 5)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def tempdir(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary folder, removed afterwards unless ``keep``."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield d
    finally:
        if keep:
            print(f"(kept {d})")
        else:
            shutil.rmtree(d, ignore_errors=True)

