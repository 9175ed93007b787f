"""A redacted share in a real browser (Debian chromium through Playwright): what a viewer
reads has the masks and none of the excluded message; screenshot in
``test-artifacts/redaction-viewer.png``."""

from __future__ import annotations

from typing import Any

from jupyter_convshare.core.model import Conversation, Message, Part, Participant, SourceInfo
from jupyter_convshare.core.redact import Redaction

from .test_browser import ARTIFACTS, chromium, pytestmark  # noqa: F401

KEY = "sk-proj-" + "Pm4k" * 10
EMAIL = "hedy.lamarr@frequency-hopping.org"


def conversation() -> Conversation:
    conv = Conversation(id="redacted", title="Deploying the model", source=SourceInfo(format="convshare"))
    conv.participants = {
        "u": Participant(id="u", kind="human", display_name="Hedy"),
        "a": Participant(id="a", kind="assistant", display_name="Assistant", model="gpt-4o"),
    }
    conv.append(Message(id="q", role="user", author_id="u", parts=[
        Part.text_part(f"Deploy with my key `{KEY}` and mail the result to {EMAIL}."),
    ]))  # fmt: skip
    conv.append(Message(id="private", role="user", author_id="u",
                        parts=[Part.text_part("PRIVATE-ASIDE: my salary is in /home/hedy/pay.csv")]))  # fmt: skip
    conv.append(Message(id="a", role="assistant", author_id="a", parts=[
        Part(type="reasoning", text="INNER-THOUGHTS about the key"),
        Part(type="tool_call", name="deploy", arguments={"token": KEY, "notify": EMAIL}),
        Part.text_part("Deployed. Rotate the key you pasted: it is in this chat."),
    ]))  # fmt: skip
    return conv


def read_page(browser: Any, url: str) -> str:
    context = browser.new_context(viewport={"width": 900, "height": 900})
    page = context.new_page()
    assert page.goto(url, wait_until="load").status == 200
    text = page.locator("body").inner_text()
    page.screenshot(path=str(ARTIFACTS / "redaction-viewer.png"), full_page=True)
    context.close()
    return text


async def test_a_viewer_reads_the_masked_conversation_without_the_excluded_parts(
    chromium, service, convshare_app, http_server_client, jp_base_url  # noqa: F811
):
    # Given a share that excludes a message and reasoning and masks secrets and e-mails
    owner = convshare_app.owner
    service.save_conversation(owner, conversation())
    share, _ = service.create_share(
        owner, "redacted", redaction=Redaction(exclude_message_ids=("private",), exclude_reasoning=True, mask_emails=True)
    )
    # When a viewer opens the link in chromium
    url = http_server_client.get_url(f"{jp_base_url}convshare/s/{share.link}")
    text = await chromium.run(read_page, url)
    # Then the page reads with the masks, and without the excluded message or the reasoning
    assert "[redacted OpenAI API key]" in text and "[redacted e-mail]" in text
    assert "Deployed. Rotate the key" in text
    for hidden in (KEY, KEY[8:20], EMAIL, "PRIVATE-ASIDE", "INNER-THOUGHTS", "/home/hedy"):
        assert hidden not in text, hidden
