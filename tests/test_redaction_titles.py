"""Redaction gaps closed: a share's title as anyone but the owner sees it, and replies to
messages the share leaves out, through a real Jupyter server.

The owner renames the shared conversation to a title holding an API key, an e-mail address
and a home path; every place that shows the title without the conversation (shared-with-me,
library items, grantee JSON, a reshare maker's share JSON) shows what the viewer page shows
(``ShareService.viewer_copy``'s title). A collaborator naming an excluded message as the
parent of a reply gets the answer of a message that does not exist (404 naming
``parent_id``). Fixtures and users: ``test_redaction_server`` and ``test_grants``.
"""

from __future__ import annotations

import html
import re
from typing import Any

from .server_helpers import body_json
from .test_grants import OWNER, as_user, grant
from .test_redaction_server import (  # noqa: F401  (pytest fixtures)
    EMAIL,
    KEY,
    api,
    fetch,
    jp_server_config,
    link_of,
    new_share,
    patch,
    root,
)

TITLE = f"Plan for {EMAIL} with {KEY} in /home/ada/project"
SHOWN = "Plan for [redacted e-mail] with [redacted OpenAI API key] in ~/project"


async def titled_share(api, **settings: Any) -> dict[str, Any]:
    """The owner's share of team.chat, renamed to :data:`TITLE`, e-mails masked, granted to
    carol (collaborate), resharing allowed, with ``settings`` PATCHed."""
    shared = await new_share(api)
    renamed = await api("PATCH", "conversations", shared["conversation_id"], body={"title": TITLE})
    assert renamed.code == 200, renamed.body
    assert (await patch(api, shared, mask_emails=True)).code == 200
    assert (await grant(api, shared["share_id"], "user", "carol", "collaborate")).code in (200, 201)
    assert (await api("PATCH", "shares", shared["share_id"], body={"allow_reshare": True, **settings})).code == 200
    return shared


def leaks(value: Any) -> bool:
    text = str(value)
    return KEY in text or EMAIL in text or "/home/ada" in text


async def test_the_owner_still_sees_the_title_as_written(api, root):
    shared = await titled_share(api)
    mine = body_json(await api("GET", "shares", shared["share_id"], headers=as_user(OWNER)))
    assert mine["title"] == TITLE


async def test_the_viewer_page_title_is_masked(api, root, fetch):
    shared = await titled_share(api)
    page = (await fetch("convshare", "s", link_of(shared))).body.decode()
    head_title = html.unescape(re.search(r"<title>(.*?)</title>", page, re.S).group(1))
    assert head_title.startswith(SHOWN) and not leaks(page)


async def test_grantee_json_and_shared_with_me_show_the_masked_title(api, root):
    shared = await titled_share(api)
    carol = as_user("carol")
    read = body_json(await api("GET", "shares", shared["share_id"], headers=carol))
    assert read["title"] == SHOWN and read["conversation"]["title"] == SHOWN
    listed = body_json(await api("GET", "shared-with-me", headers=carol))["conversations"]
    assert [c["title"] for c in listed] == [SHOWN]


async def test_library_items_show_the_masked_title(api, root):
    shared = await titled_share(api)
    # Given carol's granted item and student1's item saved by link
    saved = await api("POST", "library", body={"url": shared["url"]}, headers=as_user("student1"))
    assert saved.code in (200, 201), saved.body
    assert body_json(saved)["title"] == SHOWN
    for user in ("carol", "student1"):
        items = body_json(await api("GET", "library", headers=as_user(user)))["items"]
        assert [i["title"] for i in items] == [SHOWN], user
        # And searching for the secret finds nothing
        found = body_json(await api("GET", "library", params={"q": KEY[:12]}, headers=as_user(user)))["items"]
        assert found == [], user


async def test_a_reshare_makers_share_json_shows_the_masked_title(api, root):
    shared = await titled_share(api)
    made = await api("POST", "shares", shared["share_id"], "reshare", body={}, headers=as_user("carol"))
    assert made.code == 201, made.body
    reshare = body_json(made)
    assert reshare["title"] == SHOWN
    listed = body_json(await api("GET", "shares", headers=as_user("carol")))["shares"]
    assert [s["title"] for s in listed] == [SHOWN]


async def test_a_title_changes_with_the_owners_later_choices(api, root):
    shared = await titled_share(api)
    assert (await patch(api, shared, mask_emails=False)).code == 200
    read = body_json(await api("GET", "shares", shared["share_id"], headers=as_user("carol")))
    assert read["title"] == SHOWN.replace("[redacted e-mail]", EMAIL)


# -- replies to messages viewers do not see ------------------------------------------------------


async def reply(api, share_id: str, parent_id: str, user: str = "carol") -> Any:
    return await api("POST", "shares", share_id, "messages", body={"text": "about that", "parent_id": parent_id},
                     headers=as_user(user))


async def test_a_reply_to_an_excluded_message_is_a_404_naming_parent_id(api, root):
    shared = await titled_share(api)
    assert (await patch(api, shared, exclude_message_ids=["m3"])).code == 200
    # When carol (collaborate) names the excluded message as the parent
    refused = await reply(api, shared["share_id"], "m3")
    # Then it does not exist for her: 404 JSON naming the field, nothing added
    assert refused.code == 404
    error = body_json(refused)
    assert error["field"] == "parent_id"
    # And the answer is the one an unknown id gets (no way to tell excluded ids apart)
    unknown = body_json(await reply(api, shared["share_id"], "m9"))
    assert error["message"].replace("'m3'", "'m9'") == unknown["message"]
    assert "about that" not in (await api("GET", "conversations", shared["conversation_id"])).body.decode()


async def test_a_reply_to_a_shown_message_still_works(api, root):
    shared = await titled_share(api)
    assert (await patch(api, shared, exclude_message_ids=["m3"])).code == 200
    added = await reply(api, shared["share_id"], "m4")
    assert added.code == 201, added.body
    assert body_json(added)["message"]["parent_id"] == "m4"


async def test_a_reply_without_parent_follows_the_last_message_viewers_see(api, root):
    shared = await titled_share(api)
    # Given the active leaf (m4) excluded
    assert (await patch(api, shared, exclude_message_ids=["m4"])).code == 200
    added = await api("POST", "shares", shared["share_id"], "messages", body={"text": "next"},
                      headers=as_user("carol"))
    # Then the reply goes under the last message the viewer shows (m3), not the excluded one
    assert added.code == 201, added.body
    assert body_json(added)["message"]["parent_id"] == "m3"


async def test_the_owner_may_still_reply_to_an_excluded_message(api, root):
    shared = await titled_share(api)
    assert (await patch(api, shared, exclude_message_ids=["m3"])).code == 200
    added = await reply(api, shared["share_id"], "m3", user=OWNER)
    assert added.code == 201, added.body
