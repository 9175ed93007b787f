"""The viewer page in a real browser: Debian chromium driven by Playwright.

The browser is an anonymous visitor (no token, no cookie) of a real pytest-jupyter server.
Playwright's sync API runs in one dedicated thread (Playwright objects belong to the
thread that made them) while the test's event loop keeps serving the requests.
Screenshots go to ``test-artifacts/`` (gitignored) for a human to look at.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from jupyter_convshare.core import importers
from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, Participant, SourceInfo

from .conftest import real_fixture
from .lab_helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

T0 = datetime(2030, 3, 14, 9, 26, 53, tzinfo=timezone.utc)

try:
    import playwright.sync_api  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:  # pragma: no cover - the test extra installs it
    HAVE_PLAYWRIGHT = False

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (Debian package 'chromium')"),
    pytest.mark.skipif(not HAVE_PLAYWRIGHT, reason="playwright (python) is not installed"),
]


class Chromium:
    """One headless chromium, driven from its own thread with Playwright's sync API."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._pool.submit(self._start).result()

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(browser, *args)`` in the browser thread, awaiting it on the test's loop."""
        return await asyncio.wrap_future(self._pool.submit(fn, self.browser, *args))

    def close(self) -> None:
        def stop() -> None:
            self.browser.close()
            self._playwright.stop()

        self._pool.submit(stop).result()
        self._pool.shutdown()


@pytest.fixture(scope="module")
def chromium():
    browser = Chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    yield browser
    browser.close()


@pytest.fixture
def open_share(service, convshare_app, http_server_client, jp_base_url):
    """``open_share(conversation, blobs) -> absolute URL`` of a new share's page."""

    def make(conversation: Conversation, blobs: dict[str, bytes] | None = None) -> str:
        owner = convshare_app.owner
        service.save_conversation(owner, conversation, blobs)
        share, _ = service.create_share(owner, conversation.id, expires="30d")
        return http_server_client.get_url(f"{jp_base_url}convshare/s/{share.link}")

    return make


# -- content ----------------------------------------------------------------------------


def bar_chart_png(width: int = 480, height: int = 240) -> bytes:
    """A small PNG bar chart (a real raster image for the page), written with zlib."""
    bars = [0.35, 0.62, 0.48, 0.9, 0.73, 0.55]
    colours = [(59, 130, 246), (16, 185, 129), (245, 158, 11), (239, 68, 68), (139, 92, 246), (20, 184, 166)]
    rows = []
    bar_w = width // (len(bars) * 2)
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            index, offset = divmod(x - bar_w // 2, bar_w * 2)
            pixel = (255, 255, 255)
            if y == height - 20:
                pixel = (120, 120, 120)
            elif 0 <= index < len(bars) and offset < bar_w and height - 20 > y > height - 20 - bars[index] * (height - 40):
                pixel = colours[index]
            row += bytes(pixel)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


ANSWER = """Here is a summary of **sales per region**, with the code that made it.

| Region | Orders | Revenue (k€) |
|:-------|-------:|-------------:|
| North  | 1 204  | 312.5 |
| South  | 987    | 254.1 |
| East   | 1 532  | 401.9 |

```python
import pandas as pd

df = pd.read_csv("sales.csv", parse_dates=["date"])
summary = (
    df.groupby("region")
      .agg(orders=("order_id", "count"), revenue=("amount", "sum"))
      .sort_values("revenue", ascending=False)
)
print(summary.to_markdown())  # a long line that scrolls inside the code block on a phone, never the page
```

The growth rate is $g = \\frac{R_t - R_{t-1}}{R_{t-1}}$, and over a year

$$
R_{12} = R_0 \\prod_{t=1}^{12} (1 + g_t)
$$

See <https://pandas.pydata.org/docs/reference/api/pandas.DataFrame.groupby.html> for details.
A very long word: Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft.
"""

XSS = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=1;alert(1)\">"


def showcase(hostile_fields: bool = True) -> tuple[Conversation, dict[str, bytes]]:
    """A realistic conversation (code, table, math, image, files, tool call) with XSS payloads
    in its message text, and with ``hostile_fields`` also in every other field that reaches
    the page (title, names, provider, model, file names, code language)."""
    XSS_FIELD = XSS if hostile_fields else ""
    conv = Conversation(
        id="showcase",
        title=f"Quarterly sales analysis {XSS_FIELD}",
        source=SourceInfo(format="jupyterlab-chat", file_name="sales.chat"),
        created_at=T0,
        updated_at=T0 + timedelta(minutes=3),
    )
    conv.participants = {
        "ada": Participant(id="ada", kind="human", display_name=f"Ada Lovelace{XSS_FIELD}"),
        "naut": Participant(
            id="naut", kind="assistant", display_name="Jupyternaut", provider=f"jupyter-ai{XSS_FIELD}", model=f"claude-sonnet-4{XSS_FIELD}"
        ),
    }
    conv.attachments = {
        "csv": Attachment(id="csv", name=f"sales{XSS_FIELD}.csv", mime_type="text/csv"),
        "png": Attachment(id="png", name="revenue-by-region.png", mime_type="image/png"),
        "nb": Attachment(id="nb", name="analysis.ipynb", kind="notebook", mime_type="application/x-ipynb+json"),
        "gone": Attachment(id="gone", name="raw-export.parquet", available=False),
    }
    conv.append(
        Message(
            id="1", role="system", author_id="naut", parts=[Part.text_part("You are Jupyternaut (system prompt).")]
        )
    )
    conv.append(
        Message(
            id="2",
            role="user",
            author_id="ada",
            created_at=T0,
            parts=[
                Part.text_part(
                    "Can you summarise the attached sales data per region?\n\n"
                    + XSS
                    + "\n\n[click me](javascript:window.__pwned=1) ![pixel](https://tracker.example/p.png)"
                    + "\n\n$\\href{javascript:window.__pwned=1}{math link}$"
                ),
                Part(type="file_ref", attachment_id="csv"),
            ],
        )
    )
    conv.append(
        Message(
            id="3",
            role="assistant",
            author_id="naut",
            created_at=T0 + timedelta(seconds=12),
            parts=[
                Part(type="reasoning", text="The user wants a per-region aggregate; pandas groupby fits."),
                Part(
                    type="tool_call",
                    name="read_file",
                    call_id="c1",
                    arguments={"path": "sales.csv", "note": XSS},
                    status="completed",
                ),
                Part(type="tool_result", call_id="c1", text='{"rows": 3723, "columns": ["date", "region", "amount"]}'),
                Part.text_part(ANSWER),
                Part(type="image", attachment_id="png", alt="Bar chart of revenue by region"),
                Part(type="code", text="</code></pre><script>window.__pwned=1</script>", language=f"html{XSS_FIELD}"),
            ],
        )
    )
    conv.append(
        Message(
            id="4",
            role="user",
            author_id="ada",
            created_at=T0 + timedelta(minutes=2),
            parts=[Part.text_part("Perfect, thanks! Saving the notebook."), Part(type="file_ref", attachment_id="nb")],
        )
    )
    blobs = {"csv": b"date,region,amount\n2030-01-01,North,12.5\n", "png": bar_chart_png(), "nb": b"{}"}
    return conv, blobs


# -- browser steps (run in the browser thread) ------------------------------------------


def visit(browser: Any, url: str, name: str, **context: Any) -> dict[str, Any]:
    """Open ``url`` in a fresh context, collect what a test asserts on, save a screenshot."""
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    dialogs: list[str] = []
    console: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    response = page.goto(url, wait_until="load")
    result = {
        "status": response.status if response else None,
        "dialogs": dialogs,
        "console": console,
        "requests": requests,
        "pwned": page.evaluate("() => window.__pwned") if context.get("java_script_enabled", True) else None,
        "messages_visible": page.locator("li.message").count(),
        "first_message_visible": page.locator("li.message").first.is_visible(),
        "overflow": page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if context.get("java_script_enabled", True)
        else None,
        "title": page.title(),
    }
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.goto(url + "#qr", wait_until="load")
    result["qr_visible"] = page.locator("#qr img").is_visible()
    page.screenshot(path=str(ARTIFACTS / f"{name}-qr.png"))
    ctx.close()
    return result


def assert_safe(result: dict[str, Any]) -> None:
    assert result["status"] == 200
    assert result["dialogs"] == [], result["dialogs"]
    assert result["pwned"] is None
    # no CSP violation either (inline styles or scripts in the page would show up here)
    assert not [c for c in result["console"] if "Refused" in c or "Content Security Policy" in c], result["console"]
    # nothing remote is ever fetched (tracking pixels, CDNs)
    assert all(url.startswith(("http://127.0.0.1", "data:")) for url in result["requests"]), result["requests"]


# -- tests ------------------------------------------------------------------------------


async def test_desktop_page_shows_messages_and_runs_no_injected_script(chromium, open_share):
    url = open_share(*showcase())
    result = await chromium.run(lambda browser: visit(browser, url, "viewer-desktop", viewport={"width": 1280, "height": 900}))
    assert_safe(result)
    assert result["messages_visible"] == 3 and result["first_message_visible"]
    assert result["title"].startswith("Quarterly sales analysis <script>")
    assert result["qr_visible"]
    # the projector view, as the browser drew it, scans back to the page's own link
    zxingcpp = pytest.importorskip("zxingcpp")
    image = pytest.importorskip("PIL.Image")
    decoded = [r.text for r in zxingcpp.read_barcodes(image.open(ARTIFACTS / "viewer-desktop-qr.png"))]
    assert url in decoded


async def test_phone_page_has_no_horizontal_scroll(chromium, open_share):
    url = open_share(*showcase())
    phone = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
    result = await chromium.run(lambda browser: visit(browser, url, "viewer-phone", **phone))
    assert_safe(result)
    assert result["overflow"] == 0


async def test_dark_mode_page_renders(chromium, open_share):
    url = open_share(*showcase(hostile_fields=False))
    dark = {"viewport": {"width": 1280, "height": 900}, "color_scheme": "dark"}
    result = await chromium.run(lambda browser: visit(browser, url, "viewer-dark", **dark))
    assert_safe(result)
    assert result["messages_visible"] == 3


async def test_page_works_with_javascript_disabled(chromium, open_share):
    url = open_share(*showcase(hostile_fields=False))
    nojs = {"viewport": {"width": 1024, "height": 800}, "java_script_enabled": False}
    result = await chromium.run(lambda browser: visit(browser, url, "viewer-nojs", **nojs))
    assert result["status"] == 200 and result["dialogs"] == []
    assert result["messages_visible"] == 3 and result["first_message_visible"]
    # the projector QR view is a :target section: it opens without JavaScript
    assert result["qr_visible"]


async def test_error_page_renders_in_the_same_style(chromium, http_server_client, jp_base_url):
    url = http_server_client.get_url(f"{jp_base_url}convshare/s/{'A' * 43}")

    def open_404(browser: Any) -> tuple[int, str]:
        ctx = browser.new_context(viewport={"width": 390, "height": 700})
        page = ctx.new_page()
        response = page.goto(url)
        text = page.locator("main").inner_text()
        page.screenshot(path=str(ARTIFACTS / "viewer-404.png"))
        ctx.close()
        return response.status, text

    status, text = await chromium.run(open_404)
    assert status == 404 and "This link does not exist or was revoked." in text


@pytest.mark.fixtures_real
async def test_a_real_jupyterlab_chat_fits_a_phone(chromium, open_share):
    # Given a real .chat file (tracebacks, slash commands, a deleted message, non-ASCII)
    path = real_fixture("jupyterlab-chat", "gogorogon__jupytercon2025-extension-workshop", "test.chat")
    conversation = importers.load_one(path)
    url = open_share(conversation)
    # When a phone opens its link
    phone = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
    result = await chromium.run(lambda browser: visit(browser, url, "viewer-real-chat-phone", **phone))
    # Then it reads without sideways scrolling and without errors
    assert_safe(result)
    assert result["messages_visible"] > 0 and result["overflow"] == 0


# -- branches (issue 3 item 5) ----------------------------------------------------------

BRANCHES = Path(__file__).resolve().parent / "fixtures" / "branches"


def switch_branches(browser: Any, url: str, name: str, javascript: bool) -> dict[str, Any]:
    """Open a page with nested forks, press ``›`` at the first fork, then ``›`` at the
    second fork of the new branch, then go back; screenshots of each step."""
    ctx = browser.new_context(viewport={"width": 1024, "height": 800}, java_script_enabled=javascript)
    page = ctx.new_page()
    documents: list[str] = []
    console: list[str] = []
    page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.goto(url, wait_until="load")
    if javascript:
        page.evaluate("() => { window.__marker = 'kept'; }")

    def state() -> dict[str, Any]:
        return {
            "url": page.url,
            "positions": [t.strip() for t in page.locator(".branch-pos").all_inner_texts()],
            "text": page.locator("ol.messages").inner_text(),
            "count": page.locator("#message-count").inner_text(),
        }

    def click(selector: str, expected_position: str) -> None:
        arrow = page.locator(selector)
        if javascript:
            arrow.click()
            page.wait_for_function(
                "([sel, want]) => { const e = document.querySelector(sel); return e && e.textContent.trim() === want; }",
                arg=[selector.replace(" a.branch-next", " .branch-pos").replace(" a.branch-prev", " .branch-pos"), expected_position],
            )
        else:
            with page.expect_navigation(wait_until="load"):
                arrow.click()

    result: dict[str, Any] = {"before": state()}
    page.screenshot(path=str(ARTIFACTS / f"{name}-1-default.png"), full_page=True)
    click("#m2 a.branch-next", "2 / 2")
    result["after_first"] = state()
    page.screenshot(path=str(ARTIFACTS / f"{name}-2-second-answer.png"), full_page=True)
    click("#m4 a.branch-next", "3 / 3")
    result["after_second"] = state()
    if javascript:
        result["focused"] = page.evaluate("() => document.activeElement && document.activeElement.className")
    page.screenshot(path=str(ARTIFACTS / f"{name}-3-nested.png"), full_page=True)
    if javascript:
        page.go_back()
        page.wait_for_function("() => document.querySelector('#m4 .branch-pos').textContent.trim() === '2 / 3'")
        result["after_back"] = state()
        result["marker"] = page.evaluate("() => window.__marker")
    result["documents"] = documents
    result["console"] = console
    ctx.close()
    return result


async def test_branch_switcher_swaps_the_messages_without_a_reload(chromium, open_share):
    # Given a shared conversation with nested forks, open in a browser with JavaScript
    url = open_share(importers.load_one(BRANCHES / "nested.json"))
    # When the reader presses › at the first fork, then › at the nested fork, then Back
    result = await chromium.run(lambda browser: switch_branches(browser, url, "branches-js", True))
    # Then the default path shows first, with a switcher at each fork
    assert result["before"]["positions"] == ["1 / 2", "1 / 2"] and "A2-TEXT" in result["before"]["text"]
    # and each press swaps the branch in place: same page (the marker survives), one document load
    first, second, back = result["after_first"], result["after_second"], result["after_back"]
    assert first["positions"] == ["2 / 2", "2 / 3"] and "B3-TEXT" in first["text"] and "A1-TEXT" not in first["text"]
    assert first["url"] == f"{url}?path=b3#m2"
    assert second["positions"] == ["2 / 2", "3 / 3"] and "B4-TEXT" in second["text"] and "B3-TEXT" not in second["text"]
    assert back["positions"] == ["2 / 2", "2 / 3"] and back["url"] == f"{url}?path=b3#m2"
    assert result["marker"] == "kept"
    assert result["documents"] == [url]
    # the keyboard focus stays on the switcher that was pressed (the nodes were replaced)
    assert "branch-arrow" in (result["focused"] or "")
    assert not [c for c in result["console"] if "Refused" in c or "Content Security Policy" in c or c.startswith("error")]


async def test_branch_switcher_links_work_with_javascript_off(chromium, open_share):
    url = open_share(importers.load_one(BRANCHES / "nested.json"))
    result = await chromium.run(lambda browser: switch_branches(browser, url, "branches-nojs", False))
    first, second = result["after_first"], result["after_second"]
    assert first["url"] == f"{url}?path=b3#m2" and first["positions"] == ["2 / 2", "2 / 3"]
    assert "B3-TEXT" in first["text"] and "A2-TEXT" not in first["text"]
    assert second["url"] == f"{url}?path=b4#m4" and "B4-TEXT" in second["text"]
    # each press is a full navigation
    assert result["documents"] == [url, f"{url}?path=b3", f"{url}?path=b4"]


async def test_branch_switchers_fit_a_phone(chromium, open_share):
    url = open_share(importers.load_one(BRANCHES / "nested.json"))
    phone = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
    result = await chromium.run(lambda browser: visit(browser, url, "branches-phone", **phone))
    assert_safe(result)
    assert result["overflow"] == 0
