"""Collaborating on a shared conversation in a real browser (issue 3, "Done means").

Debian chromium driven by Playwright (helpers of ``test_browser.py``) against a real
pytest-jupyter server with several users (the identity provider of ``test_grants.py``,
whose tokens are also accepted by the login form here). A collaborator logs in through
jupyter-server's login page, opens the link, presses *Reply* on an earlier message,
posts, sees the new branch and its ``‹ 2 / 2 ›`` switcher, switches branches (with
JavaScript, no reload); an anonymous browser opens the same link and sees the branch
but no form. Screenshots (desktop and phone) go to ``test-artifacts/``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from jupyter_server.auth.identity import User

from .test_browser import ARTIFACTS, Chromium, chromium, pytestmark  # noqa: F401  (fixture and marks)
from .test_grants import GROUPS, OWNER, USERS, TokenUsersIdentityProvider
from .test_viewer_collaborate import lesson

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


class LoginFormUsers(TokenUsersIdentityProvider):
    """:class:`TokenUsersIdentityProvider` whose login form also takes ``<name>-token``
    (jupyter-server's own form accepts only the server's token)."""

    def process_login_form(self, handler: Any) -> User | None:
        typed = handler.get_argument("password", default="")
        name = typed[: -len("-token")] if typed.endswith("-token") else ""
        if name in USERS:
            return User(username=name, name=name, display_name=name)
        return super().process_login_form(handler)


@pytest.fixture
def jp_server_config(jp_server_config):
    config = dict(jp_server_config)
    config["ServerApp"] = {**config["ServerApp"], "identity_provider_class": LoginFormUsers}
    config["ConvShareApp"] = {**config["ConvShareApp"], "owner": OWNER, "groups": GROUPS}
    return config


@pytest.fixture
def link_url(service, http_server_client, jp_base_url):
    """The absolute URL of a live share of the lesson, which group ``team`` (carol) may
    collaborate on."""
    service.save_conversation(OWNER, lesson())
    share, _ = service.create_share(OWNER, "lesson", expires="30d")
    service.add_grant(OWNER, share.share_id, "group", "team", "collaborate")
    return http_server_client.get_url(f"{jp_base_url}convshare/s/{share.link}")


def no_csp_trouble(console: list[str]) -> list[str]:
    return [c for c in console if "Refused" in c or "Content Security Policy" in c or c.startswith("error")]


def collaborate(browser: Any, url: str, login_url: str) -> dict[str, Any]:
    """carol logs in, replies to the first answer, switches branches with the script."""
    ctx = browser.new_context(**DESKTOP)
    page = ctx.new_page()
    console: list[str] = []
    documents: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)
    result: dict[str, Any] = {}
    # Logs in through jupyter-server's own login page, which sends her back to the link
    page.goto(f"{login_url}?next={quote(url[url.index('/', 8):], safe='')}")
    page.fill("input[name=password]", "carol-token")
    with page.expect_navigation(wait_until="load"):
        page.click("button[type=submit]")
    result["landed"] = page.url
    result["form_at_end"] = page.locator("#reply textarea").count()
    page.screenshot(path=str(ARTIFACTS / "collaborate-1-logged-in.png"), full_page=True)
    # Presses Reply on the first answer (an earlier message): the form opens under it
    with page.expect_navigation(wait_until="load"):
        page.locator("#m2 a.reply-link").click()
    result["reply_form_inside_m2"] = page.locator("#m2 #reply textarea").count()
    page.screenshot(path=str(ARTIFACTS / "collaborate-2-reply-form.png"), full_page=True)
    page.fill("#reply textarea", "What about **algae**? BRANCH-TEXT <img src=x onerror=window.__pwned=1><script>window.__pwned=1</script>")
    with page.expect_navigation(wait_until="load"):
        page.click("#reply button[type=submit]")
    result["after_post_url"] = page.url
    result["after_post"] = page.locator("ol.messages").inner_text()
    result["positions"] = [t.strip() for t in page.locator(".branch-pos").all_inner_texts()]
    result["m3_author"] = page.locator("#m3 .author").inner_text()
    result["pwned"] = page.evaluate("() => window.__pwned")
    page.screenshot(path=str(ARTIFACTS / "collaborate-3-new-branch.png"), full_page=True)
    # Switches back to the first branch with the script: no reload, the form follows
    page.evaluate("() => { window.__marker = 'kept'; }")
    documents_before = len(documents)
    page.locator("#m3 a.branch-prev").click()
    page.wait_for_function("() => document.querySelector('#m3 .branch-pos').textContent.trim() === '1 / 2'")
    result["switched"] = page.locator("ol.messages").inner_text()
    result["marker"] = page.evaluate("() => window.__marker")
    result["documents_during_switch"] = documents[documents_before:]
    result["parent_after_switch"] = page.locator("#reply input[name=parent_id]").get_attribute("value")
    result["save_path_after_switch"] = page.locator("form.save-form input[name=path]").get_attribute("value")
    page.screenshot(path=str(ARTIFACTS / "collaborate-4-switched-back.png"), full_page=True)
    page.locator("#m3 a.branch-next").click()
    page.wait_for_function("() => document.querySelector('#m3 .branch-pos').textContent.trim() === '2 / 2'")
    result["switched_again"] = page.locator("ol.messages").inner_text()
    # The same page on a phone (dark), with the form
    phone = browser.new_context(**PHONE, color_scheme="dark", storage_state=ctx.storage_state())
    small = phone.new_page()
    small.goto(url + "?reply=a1#reply", wait_until="load")
    result["phone_overflow"] = small.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    small.screenshot(path=str(ARTIFACTS / "collaborate-5-phone-reply.png"), full_page=True)
    small.goto(url, wait_until="load")
    small.screenshot(path=str(ARTIFACTS / "collaborate-6-phone-end.png"), full_page=True)
    phone.close()
    result["console"] = console
    ctx.close()
    return result


def anonymous_visit(browser: Any, url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, context in (("desktop", DESKTOP), ("phone", PHONE)):
        ctx = browser.new_context(**context)
        page = ctx.new_page()
        page.goto(url, wait_until="load")
        out[name] = {
            "text": page.locator("ol.messages").inner_text(),
            "forms": page.locator("form").count(),
            "reply_links": page.locator("a.reply-link").count(),
            "positions": [t.strip() for t in page.locator(".branch-pos").all_inner_texts()],
            "overflow": page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth"),
            "cookies": ctx.cookies(),
        }
        page.screenshot(path=str(ARTIFACTS / f"collaborate-anonymous-{name}.png"), full_page=True)
        ctx.close()
    return out


async def test_a_collaborator_replies_on_an_earlier_message_and_an_anonymous_reader_sees_the_branch(
    chromium: Chromium, link_url, http_server_client, jp_base_url, service
):
    login_url = http_server_client.get_url(f"{jp_base_url}login")
    # Given carol, logged in, on the link of a conversation her group may collaborate on
    result = await chromium.run(lambda browser: collaborate(browser, link_url, login_url))
    assert result["landed"] == link_url and result["form_at_end"] == 1
    # When she replies to the first answer, the form is under it
    assert result["reply_form_inside_m2"] == 1
    # Then her message starts a branch after it, shown with her name and a 2 / 2 switcher
    conv = service.get_conversation(OWNER, "lesson")
    new_id = conv.active_leaf_id
    assert conv.messages[new_id].parent_id == "a1"
    assert result["after_post_url"] == f"{link_url}?path={new_id}#reply"
    assert "BRANCH-TEXT" in result["after_post"] and "Q2-TEXT" not in result["after_post"]
    assert result["positions"] == ["2 / 2"] and result["m3_author"].startswith("carol")
    assert result["pwned"] is None and "<script>window.__pwned=1</script>" in result["after_post"]  # shown as text
    # and ‹ switches to the first branch in place (no document load), with the form following it
    assert "Q2-TEXT" in result["switched"] and "A2-TEXT" in result["switched"] and "BRANCH-TEXT" not in result["switched"]
    assert result["marker"] == "kept" and result["documents_during_switch"] == []
    assert result["parent_after_switch"] == "a2" and result["save_path_after_switch"] == "a2"
    assert "BRANCH-TEXT" in result["switched_again"]
    assert result["phone_overflow"] == 0
    assert no_csp_trouble(result["console"]) == []
    # And an anonymous reader sees the branch (now the active one) but no form
    seen = await chromium.run(lambda browser: anonymous_visit(browser, link_url))
    for name in ("desktop", "phone"):
        assert "BRANCH-TEXT" in seen[name]["text"] and seen[name]["positions"] == ["2 / 2"], name
        assert seen[name]["forms"] == 0 and seen[name]["reply_links"] == 0, name
        assert seen[name]["cookies"] == [], name
    assert seen["phone"]["overflow"] == 0
