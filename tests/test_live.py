"""Live shares follow their ``.chat`` file (DESIGN.md section 4, "Live or snapshot").

A live share of a file-backed conversation shows new messages after the file is saved:
no restart, no re-share. The file is re-read through the contents manager when its mtime
changed, at most once per ``live_check_interval`` per conversation. Tests change files
with explicit, later mtimes (``os.utime``): nothing here waits on a clock.
"""

from __future__ import annotations

import pytest

from .server_helpers import body_json, chat_document, chat_message, make_api, two_message_chat, write_chat

T0 = 1_781_233_000.0


@pytest.fixture
def jp_server_config(jp_server_config):
    # check the source on every request (the throttle has its own test)
    jp_server_config["ConvShareApp"]["live_check_interval"] = 0.0
    return jp_server_config


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


async def share_file(api, jp_root_dir, rel="live.chat", mode="live", document=None):
    write_chat(jp_root_dir, rel, document or two_message_chat(), mtime=T0)
    response = await api("POST", "shares", body={"path": rel, "mode": mode})
    assert response.code == 201, response.body
    share = body_json(response)
    return share, share["url"].rsplit("/", 1)[1]


def with_reply(body: str = "And with Excel files, use `pd.read_excel`.") -> dict:
    document = two_message_chat()
    document["messages"].append(chat_message("m3", body, T0 + 30))
    return document


async def test_a_saved_message_appears_without_reshare(api, jp_root_dir, convshare_app):
    # Given a live share of a .chat file
    _share, link = await share_file(api, jp_root_dir)
    assert "m3" not in (await convshare_app.resolve_link(link)).conversation.messages
    # When a new message is saved into the file (a later mtime)
    write_chat(jp_root_dir, "live.chat", with_reply(), mtime=T0 + 60)
    # Then the link shows it, and the cache key changed
    resolved = await convshare_app.resolve_link(link)
    assert "m3" in resolved.conversation.messages
    assert resolved.conversation.messages["m3"].text.startswith("And with Excel")


async def test_the_cache_key_changes_with_the_content(api, jp_root_dir, convshare_app):
    _share, link = await share_file(api, jp_root_dir)
    before = (await convshare_app.resolve_link(link)).cache_key
    assert (await convshare_app.resolve_link(link)).cache_key == before
    write_chat(jp_root_dir, "live.chat", with_reply(), mtime=T0 + 60)
    assert (await convshare_app.resolve_link(link)).cache_key != before


async def test_the_viewer_page_shows_the_new_message(api, jp_root_dir, jp_fetch):
    _share, link = await share_file(api, jp_root_dir)
    write_chat(jp_root_dir, "live.chat", with_reply("A freshly saved answer"), mtime=T0 + 60)
    page = await jp_fetch("convshare", "s", link, raise_error=False, follow_redirects=False)
    assert page.code == 200
    assert "A freshly saved answer" in page.body.decode()


async def test_a_cached_viewer_page_follows_the_saved_file(api, jp_root_dir, jp_fetch):
    # Given a viewer page already rendered and cached
    _share, link = await share_file(api, jp_root_dir)
    first = await jp_fetch("convshare", "s", link)
    assert "A freshly saved answer" not in first.body.decode()
    # When a new message is saved into the file
    write_chat(jp_root_dir, "live.chat", with_reply("A freshly saved answer"), mtime=T0 + 60)
    # Then the next request (the throttle allows a check) shows it
    again = await jp_fetch("convshare", "s", link)
    assert "A freshly saved answer" in again.body.decode()


async def test_an_attachment_added_later_is_read_on_resync(api, jp_root_dir, convshare_app):
    _share, link = await share_file(api, jp_root_dir)
    (jp_root_dir / "result.txt").write_bytes(b"42\n")
    document = with_reply()
    document["messages"][-1]["attachments"] = ["att"]
    document["attachments"] = {"att": {"type": "file", "value": "result.txt"}}
    write_chat(jp_root_dir, "live.chat", document, mtime=T0 + 60)
    conversation = (await convshare_app.resolve_link(link)).conversation
    assert conversation.attachments["att"].available is True


async def test_a_snapshot_share_does_not_follow_the_file(api, jp_root_dir, convshare_app):
    _share, link = await share_file(api, jp_root_dir, mode="snapshot")
    write_chat(jp_root_dir, "live.chat", with_reply(), mtime=T0 + 60)
    assert "m3" not in (await convshare_app.resolve_link(link)).conversation.messages


async def test_a_half_saved_file_keeps_the_last_good_version(api, jp_root_dir, convshare_app):
    _share, link = await share_file(api, jp_root_dir)
    path = jp_root_dir / "live.chat"
    path.write_text('{"messages": [', encoding="utf-8")
    import os

    os.utime(path, (T0 + 60, T0 + 60))
    resolved = await convshare_app.resolve_link(link)
    assert set(resolved.conversation.messages) == {"m1", "m2"}


async def test_a_deleted_source_keeps_the_stored_conversation(api, jp_root_dir, convshare_app):
    _share, link = await share_file(api, jp_root_dir)
    (jp_root_dir / "live.chat").unlink()
    resolved = await convshare_app.resolve_link(link)
    assert set(resolved.conversation.messages) == {"m1", "m2"}


async def test_a_resync_counts_one_view(api, jp_root_dir, convshare_app, service):
    share, link = await share_file(api, jp_root_dir)
    write_chat(jp_root_dir, "live.chat", with_reply(), mtime=T0 + 60)
    await convshare_app.resolve_link(link)
    assert service.get_share(convshare_app.owner, share["share_id"]).view_count == 1


async def test_a_message_removed_from_the_file_is_not_lost_when_it_came_from_the_store(
    api, jp_root_dir, convshare_app, service
):
    # Source sync merges by message id: it adds and updates, it never deletes
    _share, link = await share_file(api, jp_root_dir, document=with_reply())
    write_chat(jp_root_dir, "live.chat", chat_document(two_message_chat()["messages"]), mtime=T0 + 60)
    conversation = (await convshare_app.resolve_link(link)).conversation
    assert "m3" in conversation.messages


class TestThrottle:
    @pytest.fixture
    def jp_server_config(self, jp_server_config):
        jp_server_config["ConvShareApp"]["live_check_interval"] = 3600.0
        return jp_server_config

    async def test_the_source_is_checked_at_most_once_per_interval(self, api, jp_root_dir, convshare_app):
        # Given a long check interval and a first view (which checks the file)
        _share, link = await share_file(api, jp_root_dir)
        await convshare_app.resolve_link(link)
        # When the file changes within the interval
        write_chat(jp_root_dir, "live.chat", with_reply(), mtime=T0 + 60)
        # Then the link still shows the checked version
        assert "m3" not in (await convshare_app.resolve_link(link)).conversation.messages

    async def test_the_viewer_page_checks_the_source_again_after_the_interval(
        self, api, jp_root_dir, jp_fetch, convshare_app
    ):
        # Given a viewed page, and a file saved within the interval (not seen yet)
        share, link = await share_file(api, jp_root_dir)
        await jp_fetch("convshare", "s", link)
        write_chat(jp_root_dir, "live.chat", with_reply("Saved within the interval"), mtime=T0 + 60)
        assert "Saved within the interval" not in (await jp_fetch("convshare", "s", link)).body.decode()
        # When the interval has passed (its clock reset, no waiting)
        convshare_app.reset_live_check(share["conversation_id"])
        # Then the next request shows the saved message
        assert "Saved within the interval" in (await jp_fetch("convshare", "s", link)).body.decode()

    async def test_resharing_the_path_syncs_at_once(self, api, jp_root_dir, convshare_app):
        _share, link = await share_file(api, jp_root_dir)
        await convshare_app.resolve_link(link)
        write_chat(jp_root_dir, "live.chat", with_reply(), mtime=T0 + 60)
        assert (await api("POST", "shares", body={"path": "live.chat"})).code == 200
        assert "m3" in (await convshare_app.resolve_link(link)).conversation.messages
