"""The HTML export opened from ``file://`` in Debian chromium with the network blocked: it
shows everything from the one file, loads nothing, and runs nothing, however hostile the
conversation. Screenshots go to ``test-artifacts/export-html-*.png`` for a human to look at.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jupyter_convshare.core.exporters import export
from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, Participant, SourceInfo

from .test_browser import ARTIFACTS, CHROMIUM, HAVE_PLAYWRIGHT, T0, bar_chart_png, chromium, open_share  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (Debian package 'chromium')"),
    pytest.mark.skipif(not HAVE_PLAYWRIGHT, reason="playwright (python) is not installed"),
]

PAYLOAD = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1;alert(1)">'
CHART = bar_chart_png()


def analysis() -> Conversation:
    """A readable analysis (code, math, a table, a stored chart, a CSV) whose every field also
    carries script, event-handler and ``javascript:`` payloads."""
    conv = Conversation(id="sales", title=f"Quarterly sales {PAYLOAD}", source=SourceInfo(format="convshare"),
                        created_at=T0, updated_at=T0 + timedelta(minutes=3))
    conv.participants = {
        "ada": Participant(id="ada", kind="human", display_name=f"Ada {PAYLOAD}"),
        "bot": Participant(id="bot", kind="assistant", display_name="Claude", provider="anthropic",
                           model=f"claude-sonnet-4 {PAYLOAD}"),
    }
    conv.attachments = {
        "csv": Attachment(id="csv", name=f'sales"><img src=x onerror=alert(2)>.csv', mime_type="text/csv",
                          size_bytes=2048, available=True, sha256="a" * 64),
        "chart": Attachment(id="chart", name="chart.png", kind="image", mime_type="image/png",
                            size_bytes=len(CHART), available=True, sha256="b" * 64),
        "svg": Attachment(id="svg", name="logo.svg", kind="image", mime_type="image/svg+xml",
                          available=True, sha256="c" * 64),
    }
    conv.append(Message(id="q", role="user", author_id="ada", created_at=T0, parts=[
        Part.text_part(
            f"Plot the monthly sales in the attached file. {PAYLOAD}\n\n"
            "[click me](javascript:window.__pwned=2) <a href=\"javascript:window.__pwned=3\">raw link</a> "
            "[data link](data:text/html,<script>parent.__pwned=4</script>) "
            "<iframe src=\"javascript:parent.__pwned=5\"></iframe> <svg onload=\"window.__pwned=6\"></svg> "
            "<form action=\"https://evil.example/\"><button>Send</button></form>\n\n"
            "![remote](https://evil.example/track.png)"
        ),
        Part(type="file_ref", attachment_id="csv"),
    ]))
    conv.append(Message(id="a", role="assistant", author_id="bot", created_at=T0 + timedelta(seconds=12), parts=[
        Part.text_part(
            "Here is the monthly total:\n\n```python\nimport pandas as pd\n\n"
            "df = pd.read_csv('sales.csv', parse_dates=['date'])\n"
            "monthly = df.resample('ME', on='date')['amount'].sum()\nmonthly.plot.bar()\n```\n\n"
            "| month | total |\n|---|---:|\n| Jan | 1 204 |\n| Feb | 1 391 |\n\n"
            "Growth follows $g = \\left(\\frac{x_n}{x_0}\\right)^{1/n} - 1$, about **4.2 %** a month. "
            "See [the pandas docs](https://pandas.pydata.org/docs/)."
        ),
        Part(type="image", attachment_id="chart", alt="Monthly sales, bar chart"),
        Part(type="image", attachment_id="svg", alt="logo"),
        Part(type="citation", url="javascript:window.__pwned=7", title=f"Source {PAYLOAD}", text="quoted"),
    ]))
    return conv


BLOBS = {"csv": b"date,amount\n", "chart": CHART, "svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(9)"/>'}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The export written to a file, as a user saves the download."""
    path = tmp_path_factory.mktemp("export") / "Quarterly sales.html"
    path.write_bytes(export(analysis(), "html", read_blob=lambda att: BLOBS.get(att.id)))
    return path


def open_offline(browser: Any, path: Path, **context_options: Any) -> tuple[Any, Any, dict[str, list[str]]]:
    """``(context, page, seen)``: the file opened with every non-``file:`` request aborted;
    ``seen`` records requests, dialogs and console errors."""
    context = browser.new_context(**context_options)
    seen: dict[str, list[str]] = {"requests": [], "dialogs": [], "blocked": []}

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            seen["blocked"].append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return context, page, seen


async def test_the_export_opens_offline_with_its_image_and_styles(chromium, exported):  # noqa: F811
    await chromium.run(opens_offline_with_its_image_and_styles, exported)


def opens_offline_with_its_image_and_styles(browser: Any, exported: Path) -> None:
    # When the saved file is opened from disk with the network blocked
    context, page, seen = open_offline(browser, exported, viewport={"width": 1200, "height": 900})
    try:
        # Then it asked for nothing but itself (the chart is inline)
        assert [u for u in seen["requests"] if not u.startswith(("file:", "data:"))] == []
        assert seen["blocked"] == []
        # and it shows the title, both messages, the chart, the highlighted code, the math and the table
        assert page.title().startswith("Quarterly sales <script>")
        assert page.locator("li.message").count() == 2
        chart = page.locator("figure.part-image img")
        assert chart.count() == 1 and chart.evaluate("img => img.complete && img.naturalWidth") == 480
        assert page.locator("pre.highlight .kn").first.inner_text() == "import"
        assert page.locator("math").count() >= 1 and page.locator("table").count() == 1
        # styled by its own inline stylesheet
        assert page.evaluate("getComputedStyle(document.querySelector('h1.title')).fontWeight") in ("600", "700")
        page.screenshot(path=str(ARTIFACTS / "export-html-desktop.png"), full_page=True)
    finally:
        context.close()


async def test_nothing_in_a_hostile_export_runs(chromium, exported):  # noqa: F811
    await chromium.run(nothing_runs, exported)


def nothing_runs(browser: Any, exported: Path) -> None:
    context, page, seen = open_offline(browser, exported)
    try:
        # Then no payload ran, no dialog opened, and nothing was fetched (not the remote image either)
        assert page.evaluate("window.__pwned") is None
        assert seen["dialogs"] == [] and seen["blocked"] == []
        # no element has an event handler, a script, a frame, a form, or a javascript:/data:text link
        found = page.evaluate("""() => {
            const bad = [];
            for (const el of document.querySelectorAll('*')) {
                for (const a of el.attributes) {
                    if (a.name.startsWith('on')) bad.push(el.tagName + ' ' + a.name);
                    if (/^\\s*(javascript|vbscript|data:text)/i.test(a.value)) bad.push(el.tagName + ' ' + a.name + '=' + a.value);
                }
                if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'FORM', 'BASE', 'LINK'].includes(el.tagName)) bad.push(el.tagName);
            }
            return bad;
        }""")
        assert found == []
        # the payloads are shown as text where they were written
        assert PAYLOAD in page.locator("h1.title").inner_text()
        assert 'sales"><img src=x onerror=alert(2)>.csv' in page.locator(".file-name").first.inner_text()
        # every link goes somewhere harmless
        hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
        assert hrefs and all(h.startswith(("https://", "http://", "mailto:", "#")) for h in hrefs), hrefs
        # and the page's own policy stops a script even when one is injected after the fact
        page.evaluate("""() => {
            const s = document.createElement('script');
            s.textContent = 'window.__injected = 1';
            document.body.appendChild(s);
        }""")
        assert page.evaluate("window.__injected") is None
        # clicking every link that stays on the page runs nothing either
        for anchor in page.locator("a[href^='#']").all():
            anchor.click()
        assert page.evaluate("window.__pwned") is None and seen["dialogs"] == []
    finally:
        context.close()


async def test_the_export_reads_on_a_phone_in_dark_mode(chromium, exported):  # noqa: F811
    await chromium.run(reads_on_a_phone_in_dark_mode, exported)


def reads_on_a_phone_in_dark_mode(browser: Any, exported: Path) -> None:
    context, page, _seen = open_offline(
        browser, exported, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True, color_scheme="dark",
    )
    try:
        # nothing is wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(ARTIFACTS / "export-html-phone-dark.png"), full_page=True)
    finally:
        context.close()


# -- from the viewer's Export menu to a file on disk ---------------------------------------------


def download_from_menu(browser: Any, url: str, folder: Path) -> dict[str, Any]:
    """Open the viewer page, open its Export menu (screenshot), download the web page and the
    notebook, then open the downloaded page from disk with the network blocked."""
    context = browser.new_context(viewport={"width": 1100, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.locator("summary", has_text="Export").click()
    labels = page.locator(".menu-list a").all_inner_texts()
    page.screenshot(path=str(ARTIFACTS / "export-menu.png"))
    saved: dict[str, Path] = {}
    for label in ("Web page (one file)", "Notebook"):
        with page.expect_download() as info:
            page.locator(".menu-list a", has_text=label).click()
        download = info.value
        saved[label] = folder / download.suggested_filename
        download.save_as(saved[label])
    context.close()
    offline, opened, seen = open_offline(browser, saved["Web page (one file)"], viewport={"width": 1100, "height": 800})
    try:
        result = {
            "labels": labels,
            "files": {k: v.name for k, v in saved.items()},
            "messages": opened.locator("li.message").count(),
            "chart_width": opened.locator("figure.part-image img").first.evaluate("img => img.naturalWidth"),
            "system_prompt_shown": "SYSTEM-PROMPT" in opened.content(),
            "blocked": seen["blocked"],
            "pwned": opened.evaluate("window.__pwned"),
            "notebook": saved["Notebook"].read_text(encoding="utf-8"),
        }
        opened.screenshot(path=str(ARTIFACTS / "export-html-downloaded.png"), full_page=True)
    finally:
        offline.close()
    return result


async def test_the_viewer_menu_downloads_a_page_that_opens_offline(chromium, open_share, tmp_path):  # noqa: F811
    import nbformat

    # Given a shared conversation with a system prompt and a stored chart
    conv = analysis()
    conv.append(Message(id="s", role="system", author_id="bot", parts=[Part.text_part("SYSTEM-PROMPT")]))
    conv.messages["s"].parent_id = None
    conv.active_leaf_id = "a"
    url = open_share(conv, {"csv": BLOBS["csv"], "chart": CHART, "svg": BLOBS["svg"]})
    # When a visitor downloads the web page and the notebook from the Export menu
    result = await chromium.run(download_from_menu, url, tmp_path)
    # Then the menu offers every format, the files are named after the title
    assert [" ".join(label.split()) for label in result["labels"]] == [
        "JSON (lossless) .json", "CSV .csv", "Parquet .parquet", "Markdown .md", "Web page (one file) .html",
        "Jupyter chat .chat", "Notebook .ipynb"]
    assert result["files"]["Web page (one file)"].endswith(".html")
    # and the page opens from disk with its chart, without the prompt, fetching and running nothing
    assert result["messages"] == 2 and result["chart_width"] == 480
    assert not result["system_prompt_shown"] and result["blocked"] == [] and result["pwned"] is None
    nbformat.validate(nbformat.reads(result["notebook"], as_version=4))


def menu_on_a_phone(browser: Any, url: str) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.locator("summary", has_text="Export").click()
    box = page.locator(".menu-list").bounding_box()
    widest = page.eval_on_selector_all(".menu-list a", "links => Math.max(...links.map(a => a.scrollWidth - a.clientWidth))")
    page.screenshot(path=str(ARTIFACTS / "export-menu-phone.png"))
    context.close()
    return {"box": box, "widest_overflow": widest}


async def test_the_export_menu_with_branch_notes_fits_a_phone(chromium, open_share):  # noqa: F811
    from jupyter_convshare.core.importers import load_one

    # Given a conversation with two branches (every menu entry says how much of the tree it holds)
    url = open_share(load_one(Path(__file__).parent / "fixtures" / "importers" / "branching.json"))
    # When its Export menu is opened on a 360 px wide phone
    result = await chromium.run(menu_on_a_phone, url)
    # Then the menu is inside the screen and no entry overflows it
    assert result["box"]["x"] >= 0 and result["box"]["x"] + result["box"]["width"] <= 360
    assert result["widest_overflow"] <= 0
