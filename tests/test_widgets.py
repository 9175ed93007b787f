"""The notebook widgets (``jupyter_convshare.widgets``) against a real Jupyter server.

The server runs in the test's event loop (pytest-jupyter), so building a widget that
loads data and every ``Button.click()`` run in a worker thread while the loop serves the
REST calls. Results are checked in the store through the ``service`` fixture. The server's
base URL is pytest-jupyter's ``/a%40b/``.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from jupyter_convshare.client import ConvShareClient
from .test_grants import TokenUsersIdentityProvider

from jupyter_convshare.widgets import (
    GroupPermissionEditor,
    QRCode,
    ShareDialog,
    SharedWithMe,
    SharesManager,
)

MESSAGES = [
    {"role": "user", "content": "What is the median of 1, 3 and 10?"},
    {"role": "assistant", "content": "The median is **3**."},
]
OTHER = [
    {"role": "user", "content": "Name a prime above 10."},
    {"role": "assistant", "content": "11."},
]


def run(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run blocking widget code in a thread while the test loop serves its requests."""
    return asyncio.to_thread(func, *args, **kwargs)


@pytest.fixture
def jp_server_config(jp_server_config):
    """The project's server config plus one configured group, ``class-2026``, and users.

    The server's own token is the owner; ``<name>-token`` authenticates user ``<name>``
    (the identity provider of the grants tests).
    """
    config = dict(jp_server_config)
    config["ServerApp"] = {**config["ServerApp"], "identity_provider_class": TokenUsersIdentityProvider}
    config["ConvShareApp"] = {**config["ConvShareApp"], "groups": {"class-2026": ["student1", "student2"]}}
    return config


@pytest.fixture
def server_url(jp_serverapp, http_server, jp_http_port, jp_base_url) -> str:
    """Base URL of the test server, listening (``http_server``) on ``jp_http_port``."""
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}"


@pytest.fixture
def client(server_url, jp_serverapp) -> ConvShareClient:
    """A REST client of the test server, with its token."""
    return ConvShareClient(server_url, jp_serverapp.identity_provider.token, timeout=20)


@pytest.fixture
def owner(convshare_app) -> str:
    """The owner principal the server stores shares under."""
    return convshare_app.owner


def stored(service, owner):
    """The owner's shares as the store has them."""
    return service.list_shares(owner)


# -- QRCode -----------------------------------------------------------------------------------


def test_qr_code_shows_an_svg_image_and_the_link_text():
    # Given a link, When a QRCode is made of it
    qr = QRCode("http://localhost:8888/convshare/s/" + "a" * 43)
    # Then the image is an SVG QR code and the link is shown as selectable text
    assert qr.image.format == "svg+xml"
    assert bytes(qr.image.value).startswith(b"<svg")
    assert "a" * 43 in qr.link.value and "user-select:all" in qr.link.value


def test_qr_code_as_png():
    qr = QRCode("http://localhost/convshare/s/" + "b" * 43, format="png")
    assert qr.image.format == "png" and bytes(qr.image.value).startswith(b"\x89PNG")


def test_qr_code_escapes_the_link_text():
    # Given a hostile "link", Then its text is escaped, not markup
    qr = QRCode('"><img src=x onerror=alert(1)>')
    assert "<img" not in qr.link.value and "&lt;img" in qr.link.value


def test_qr_code_too_long_for_a_qr_says_so_instead_of_failing():
    qr = QRCode("http://x/" + "y" * 5000)
    assert qr.image.layout.display == "none"
    assert "No QR code" in qr.link.value


# -- ShareDialog ------------------------------------------------------------------------------


async def test_create_shares_the_message_list_with_the_chosen_settings(client, service, owner):
    # Given a dialog for a message list, with 30 days and snapshot chosen
    dialog = await run(ShareDialog, MESSAGES, client=client, title="Median")
    dialog.expires.value = "30d"
    dialog.mode.value = "snapshot"
    # When Create is clicked
    await run(dialog.create_button.click)
    # Then the store has one snapshot share expiring in about 30 days, and the dialog shows its link and QR
    [share] = stored(service, owner)
    assert share.mode == "snapshot" and share.title == "Median"
    days = (share.expires_at - service.now()).total_seconds() / 86400
    assert 29.9 < days <= 30
    assert dialog.link_text.value.endswith("/convshare/s/" + share.link)
    assert "/a%40b/convshare/s/" in dialog.link_text.value
    assert dialog.qr.url == dialog.link_text.value and bytes(dialog.qr.image.value).startswith(b"<svg")
    assert dialog.create_button.description == "Update"
    assert not dialog.status.is_error and "created" in dialog.status.text.lower()


async def test_update_changes_the_settings_but_not_the_link(client, service, owner):
    # Given a shared conversation
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    link = dialog.link_text.value
    # When "never" is chosen and Update is clicked
    dialog.expires.value = "never"
    await run(dialog.create_button.click)
    # Then the share never expires and keeps its link
    [share] = stored(service, owner)
    assert share.expires_at is None
    assert dialog.link_text.value == link


async def test_dialog_for_a_stored_conversation_shows_its_existing_share(client, service, owner):
    # Given a share made elsewhere
    made = await run(client.share, MESSAGES, expires="24h")
    # When a dialog opens on its conversation id
    dialog = await run(ShareDialog, conversation_id=made.conversation_id, client=client)
    # Then it shows that link, the matching preset and "Update"
    assert dialog.link_text.value == made.url
    assert dialog.expires.value == "24h"
    assert dialog.create_button.description == "Update"


async def test_create_on_an_already_shared_conversation_applies_the_chosen_settings(client, service, owner):
    # Given a stored conversation with no share, and a dialog opened on it
    conversation = await run(client.create_conversation, {"conversation": MESSAGES})
    dialog = await run(ShareDialog, conversation_id=conversation["id"], client=client)
    assert dialog.share is None
    # ... which someone then shares elsewhere for 7 days, live
    made = await run(client.create_share, conversation_id=conversation["id"], expires="7d")
    # When Create is clicked with snapshot chosen
    dialog.mode.value = "snapshot"
    await run(dialog.create_button.click)
    # Then the existing share (same link) now has the chosen mode
    [share] = stored(service, owner)
    assert share.mode == "snapshot" and dialog.link_text.value == made.url
    assert "Already shared" in dialog.status.text


async def test_rotate_gives_a_new_link_and_the_old_one_dies(client, service, owner):
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    old = dialog.link_text.value
    # When Rotate is clicked
    await run(dialog.rotate_button.click)
    # Then the dialog shows the store's new link, and its QR follows
    [share] = stored(service, owner)
    assert dialog.link_text.value != old
    assert dialog.link_text.value.endswith(share.link)
    assert dialog.qr.url == dialog.link_text.value


async def test_update_snapshot_is_offered_for_snapshot_shares_only(client, service, owner):
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    assert dialog.snapshot_button.disabled  # live share
    dialog.mode.value = "snapshot"
    await run(dialog.create_button.click)
    [before] = stored(service, owner)
    # When Update snapshot is clicked on the snapshot share
    assert not dialog.snapshot_button.disabled
    await run(dialog.snapshot_button.click)
    # Then the store's snapshot time moves on and the link stays
    [after] = stored(service, owner)
    assert after.snapshot_at >= before.snapshot_at and after.link == before.link
    assert "Snapshot updated" in dialog.status.text


async def test_revoke_asks_first_and_cancel_keeps_the_share(client, service, owner):
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    # When Revoke is clicked, Then only the confirm row appears
    dialog.revoke_button.click()
    assert dialog.confirm_box.layout.display is None
    assert len(stored(service, owner)) == 1
    # When Cancel is clicked, Then nothing is revoked
    dialog.cancel_button.click()
    assert dialog.confirm_box.layout.display == "none"
    assert len(stored(service, owner)) == 1


async def test_revoke_confirmed_deletes_the_share(client, service, owner):
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    dialog.revoke_button.click()
    # When the revoke is confirmed
    await run(dialog.confirm_button.click)
    # Then the store has no share and the dialog offers to create a new one
    assert stored(service, owner) == []
    assert dialog.share is None and dialog.link_text.value == ""
    assert dialog.create_button.description == "Create link" and dialog.revoke_button.disabled


async def test_server_errors_appear_in_the_dialog_not_as_a_traceback(client, service, owner):
    # Given a message list the server refuses (a role it does not know)
    dialog = await run(ShareDialog, [{"role": 42, "content": "?"}], client=client)
    # When Create is clicked, Then nothing is raised and the server's message shows in red
    await run(dialog.create_button.click)
    assert dialog.status.is_error and "HTTP 400" in dialog.status.text
    assert stored(service, owner) == []
    assert dialog.share is None


async def test_a_share_revoked_elsewhere_shows_an_error_on_rotate(client, service, owner):
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    await run(client.revoke, dialog.share.share_id)
    await run(dialog.rotate_button.click)
    assert dialog.status.is_error and "404" in dialog.status.text


async def test_unreachable_server_is_shown_in_the_dialog():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ConvShareClient(f"http://127.0.0.1:{port}/", "t", timeout=5)
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    assert dialog.status.is_error and "cannot reach" in dialog.status.text


def test_dialog_needs_exactly_one_source():
    dialog = ShareDialog(client=None)
    assert dialog.status.is_error and dialog.create_button.disabled


def test_copy_says_to_select_and_copy():
    dialog = ShareDialog(MESSAGES, client=None)
    dialog.copy_button.click()
    assert "Select the link and copy it" in dialog.status.text


def test_the_link_text_cannot_be_edited():
    dialog = ShareDialog(MESSAGES, client=None)
    dialog.link_text.set("http://example/convshare/s/" + "c" * 43)
    dialog.link_text.value = "http://evil.example/"
    assert dialog.link_text.value == "http://example/convshare/s/" + "c" * 43


async def test_link_and_reshare_checkboxes_follow_what_the_server_reports(client, service, owner):
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    share = dialog.share
    # Then the checkboxes are usable exactly when the share JSON has the settings
    assert dialog.link_enabled.disabled == (share.link_enabled is None)
    assert dialog.allow_reshare.disabled == (share.allow_reshare is None)


async def chat_dialog(client, jp_root_dir) -> ShareDialog:
    """A dialog that shared ``lab.chat`` (a two-message jupyterlab-chat file) as a live link."""
    from .server_helpers import two_message_chat, write_chat

    path = write_chat(jp_root_dir, "lab.chat", two_message_chat())
    dialog = await run(ShareDialog, str(path), client=client)
    await run(dialog.create_button.click)
    assert dialog.share is not None and not dialog.status.is_error, dialog.status.text
    return dialog


async def test_chat_posting_is_disabled_with_the_reason_when_the_server_does_not_allow_it(client, jp_root_dir):
    # Given a server that does not allow chat posting (the default), When a .chat file is shared
    dialog = await chat_dialog(client, jp_root_dir)
    # Then the checkbox is disabled, the note names the admin setting and warns about credentials
    assert dialog.chat_posting.disabled
    assert "allow_chat_posting" in dialog.chat_posting_note.value
    assert "your credentials and tools" in dialog.chat_posting_note.value


async def test_the_owner_turns_chat_posting_on_and_off_with_the_checkbox(client, jp_root_dir, convshare_app, service, owner):
    # Given a server that allows chat posting and a live share of a .chat file
    convshare_app.allow_chat_posting = True
    dialog = await chat_dialog(client, jp_root_dir)
    assert not dialog.chat_posting.disabled and dialog.chat_posting.value is False
    assert "your credentials and tools" in dialog.chat_posting_note.value
    # When the owner ticks it and clicks Update
    dialog.chat_posting.value = True
    await run(dialog.create_button.click)
    # Then the share has chat posting on; unticking and Update turns it off again
    assert not dialog.status.is_error, dialog.status.text
    [share] = stored(service, owner)
    assert share.chat_posting is True
    dialog.chat_posting.value = False
    await run(dialog.create_button.click)
    [share] = stored(service, owner)
    assert share.chat_posting is False


async def test_chat_posting_is_not_offered_for_a_message_list_or_a_snapshot(client, jp_root_dir, convshare_app):
    convshare_app.allow_chat_posting = True
    listed = await run(ShareDialog, MESSAGES, client=client)
    await run(listed.create_button.click)
    assert listed.chat_posting.disabled and ".chat" in listed.chat_posting_note.value
    dialog = await chat_dialog(client, jp_root_dir)
    dialog.mode.value = "snapshot"
    await run(dialog.create_button.click)
    assert dialog.chat_posting.disabled and "live share" in dialog.chat_posting_note.value


def test_the_chat_posting_note_is_fixed_text_never_markup_from_the_source():
    # Given a hostile file name, Then the note shows only the dialog's own (escaped) text
    dialog = ShareDialog("<img src=x onerror=alert(1)>.chat", client=None)
    assert "<img" not in dialog.chat_posting_note.value
    assert dialog.chat_posting.disabled and "Create the link first" in dialog.chat_posting_note.value


# -- SharesManager ----------------------------------------------------------------------------


async def two_shares(client):
    first = await run(client.share, MESSAGES, title="Median question")
    second = await run(client.share, OTHER, title="Prime question")
    return first, second


async def test_manager_lists_my_shares_with_views_and_expiry(client):
    first, second = await two_shares(client)
    manager = await run(SharesManager, client)
    assert {row.share.share_id for row in manager.rows} == {first.share_id, second.share_id}
    texts = [child.value for row in manager.rows for child in row.children if hasattr(child, "value")]
    assert any("0 views" in str(t) for t in texts) and any("expires 20" in str(t) for t in texts)
    assert manager.status.text == "2 shares."


async def test_manager_search_filters_rows(client):
    first, _ = await two_shares(client)
    manager = await run(SharesManager, client)
    manager.search.value = "median"
    assert [row.share.share_id for row in manager.visible_rows] == [first.share_id]
    manager.search.value = ""
    assert len(manager.visible_rows) == 2


async def test_manager_escapes_titles(client):
    await run(client.share, MESSAGES, title="<script>alert(1)</script>")
    manager = await run(SharesManager, client)
    title_html = manager.rows[0].children[0].value
    assert "<script>" not in title_html and "&lt;script&gt;" in title_html


async def test_manager_row_copy_and_open(client):
    first, _ = await two_shares(client)
    manager = await run(SharesManager, client)
    row = next(r for r in manager.rows if r.share.share_id == first.share_id)
    row.copy_button.click()
    assert manager.copied.value == first.url and "copy" in manager.status.text
    assert f'href="{first.url}"' in row.open_link.value and 'rel="noopener noreferrer"' in row.open_link.value


async def test_manager_row_revoke_needs_a_confirm(client, service, owner):
    first, second = await two_shares(client)
    manager = await run(SharesManager, client)
    row = next(r for r in manager.rows if r.share.share_id == first.share_id)
    # When Revoke is clicked then cancelled, Then nothing changes
    row.revoke_button.click()
    assert row.confirm_button.layout.display is None
    row.cancel_button.click()
    assert len(stored(service, owner)) == 2
    # When Revoke is confirmed, Then only that share is gone, from the store and the list
    row.revoke_button.click()
    await run(row.confirm_button.click)
    assert [s.share_id for s in stored(service, owner)] == [second.share_id]
    assert [r.share.share_id for r in manager.rows] == [second.share_id]


async def test_manager_revoke_all_asks_then_revokes_everything(client, service, owner):
    await two_shares(client)
    manager = await run(SharesManager, client)
    manager.revoke_all_button.click()
    assert "Revoke all 2 shares?" in manager.confirm_all_label.value
    manager.cancel_all_button.click()
    assert len(stored(service, owner)) == 2
    manager.revoke_all_button.click()
    await run(manager.confirm_all_button.click)
    assert stored(service, owner) == []
    assert manager.rows == [] and "Revoked 2 shares" in manager.status.text


async def test_manager_refresh_picks_up_new_shares(client):
    manager = await run(SharesManager, client)
    assert manager.rows == []
    made = await run(client.share, MESSAGES)
    await run(manager.refresh_button.click)
    assert [row.share.share_id for row in manager.rows] == [made.share_id]


async def test_manager_shows_a_refused_token_in_the_widget(server_url):
    bad = ConvShareClient(server_url, "wrong-token", timeout=20)
    manager = await run(SharesManager, bad)
    assert manager.status.is_error and "refused the token" in manager.status.text


# -- grants (issue 3 routes) ------------------------------------------------------------------


async def test_group_editor_adds_changes_and_removes_grants(client, service, owner):
    made = await run(client.share, MESSAGES)
    editor = await run(GroupPermissionEditor, made.share_id, client)
    assert not editor.status.is_error, editor.status.text
    # When the organization gets view, Then a grant exists
    await run(setattr, editor.organization, "value", "view")
    grants = await run(client.list_grants, made.share_id)
    assert [(g["principal_type"], g["permission"]) for g in grants] == [("organization", "view")]
    # When a group is added with collaborate
    editor.add_group.value = "class-2026"
    editor.add_permission.value = "collaborate"
    await run(editor.add_button.click)
    [row] = editor.group_rows
    assert row.grant["principal"] == "class-2026" and row.grant["permission"] == "collaborate"
    # When its permission is changed to view, Then the server has it
    await run(setattr, row.permission, "value", "view")
    grants = {g["principal"]: g["permission"] for g in await run(client.list_grants, made.share_id)}
    assert grants["class-2026"] == "view"
    # When it is removed and the organization set to no access, Then no grant is left
    await run(row.remove_button.click)
    await run(setattr, editor.organization, "value", "")
    assert await run(client.list_grants, made.share_id) == []
    assert not editor.status.is_error, editor.status.text


async def test_group_editor_offers_the_configured_groups(client):
    made = await run(client.share, MESSAGES)
    editor = await run(GroupPermissionEditor, made.share_id, client)
    assert editor.add_group.options == ("class-2026",)
    assert editor.organization.value == "" and editor.group_rows == []


async def test_group_editor_shows_an_unknown_group_as_an_error(client):
    made = await run(client.share, MESSAGES)
    editor = await run(GroupPermissionEditor, made.share_id, client)
    editor.add_group.value = "no-such-group"
    await run(editor.add_button.click)
    assert editor.status.is_error and "unknown group" in editor.status.text
    assert await run(client.list_grants, made.share_id) == []


async def test_group_editor_add_without_a_name_is_an_error_without_a_request(client):
    made = await run(client.share, MESSAGES)
    editor = await run(GroupPermissionEditor, made.share_id, client)
    editor.add_button.click()
    assert editor.status.is_error and "group name" in editor.status.text


async def test_group_editor_on_an_unknown_share_says_so_in_the_widget(client):
    editor = await run(GroupPermissionEditor, "no-such-share", client)
    assert editor.status.is_error and "HTTP 404" in editor.status.text


async def test_grants_made_elsewhere_show_after_refresh(client):
    made = await run(client.share, MESSAGES)
    editor = await run(GroupPermissionEditor, made.share_id, client)
    await run(client.grant, made.share_id, "group", "class-2026", "collaborate")
    await run(editor.refresh_button.click)
    [row] = editor.group_rows
    assert row.permission.value == "collaborate"


async def test_link_off_from_the_dialog_reaches_the_store(client, service, owner):
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    # Given a server that reports link_enabled, When the link is switched off and Update clicked
    assert not dialog.link_enabled.disabled and not dialog.allow_reshare.disabled
    dialog.link_enabled.value = False
    dialog.allow_reshare.value = True
    await run(dialog.create_button.click)
    # Then the store has the link off and reshare allowed
    [share] = stored(service, owner)
    assert share.link_enabled is False and share.allow_reshare is True
    assert dialog.share.link_enabled is False and not dialog.status.is_error


async def test_single_use_from_the_dialog_reaches_the_store(client, service, owner):
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    dialog.single_use.value = True
    await run(dialog.create_button.click)
    [share] = stored(service, owner)
    assert share.single_use is True and dialog.share.single_use is True


async def test_manager_marks_shares_whose_link_is_off(client):
    made = await run(client.share, MESSAGES)
    await run(client.update_share, made.share_id, link_enabled=False)
    manager = await run(SharesManager, client)
    labels = [c.value for c in manager.rows[0].children if isinstance(c, type(manager.confirm_all_label))]
    assert "link off" in labels


async def test_client_whoami_and_groups(client, server_url):
    # The server's token is the owner; a user token is that user, with their groups
    student = ConvShareClient(server_url, "student1-token", timeout=20)
    me = await run(student.whoami)
    assert me == {"name": "student1", "groups": ["class-2026"], "is_admin": False}
    assert await run(client.groups) == [{"name": "class-2026", "members": 2}]


async def test_shared_with_me_lists_what_a_group_was_granted(client, server_url):
    # Given the owner's share granted to class-2026 (view) through the editor
    made = await run(client.share, MESSAGES, title="Median question")
    editor = await run(GroupPermissionEditor, made.share_id, client)
    editor.add_group.value = "class-2026"
    await run(editor.add_button.click)
    # When student1 opens Shared with you
    student = ConvShareClient(server_url, "student1-token", timeout=20)
    widget = await run(SharedWithMe, student)
    # Then it lists the conversation with its permission and an open link
    assert [(i["share_id"], i["permission"]) for i in widget.items] == [(made.share_id, "view")]
    row_html = widget.rows[0].html
    assert "Median question" in row_html and f'href="{made.url}"' in row_html
    # ... and a user outside the group sees nothing
    outsider = await run(SharedWithMe, ConvShareClient(server_url, "carol-token", timeout=20))
    assert outsider.items == []


async def test_shared_with_me_with_nothing_granted(client):
    widget = await run(SharedWithMe, client)
    assert not widget.status.is_error
    assert widget.items == [] and "Nothing has been shared" in widget.status.text


# -- links in widget HTML ---------------------------------------------------------------------


def test_only_http_links_become_clickable():
    # Given a URL a hostile server might send, Then it is shown as escaped text, not a link
    from jupyter_convshare.widgets.status import safe_link

    assert "<a " not in safe_link("javascript:alert(1)")
    assert "&lt;b&gt;" in safe_link("data:<b>")
    assert safe_link("https://x.example/convshare/s/abc").startswith('<a href="https://x.example/')


def test_shared_with_me_row_without_a_link_says_link_off():
    from jupyter_convshare.widgets.shared_with_me import LibraryRow

    row = LibraryRow({"title": "<i>T</i>", "owner": "ada", "permission": "view", "url": None,
                      "status": "active", "share_id": "s1", "kind": "granted"})
    assert "link off" in row.html
    assert "<i>T</i>" not in row.html and "&lt;i&gt;T&lt;/i&gt;" in row.html
