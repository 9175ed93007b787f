"""Redaction from a notebook (issue 5): the client's ``redaction`` / ``findings`` and the
ShareDialog's findings list and exclude checkboxes, against a real Jupyter server (the
fixtures of ``test_widgets``: blocking widget code runs in a thread while the test loop
serves its requests)."""

from __future__ import annotations

import pytest

from jupyter_convshare.client import ConvShareClientError
from jupyter_convshare.widgets import ShareDialog
from jupyter_convshare.widgets.share_dialog import describe_findings

from .test_widgets import client, jp_server_config, owner, run, server_url  # noqa: F401

KEY = "sk-proj-" + "Wv7y" * 10
EMAIL = "grace.hopper@cobol-users.net"
MESSAGES = [
    {"role": "user", "content": f"Mail me at {EMAIL}, my key is {KEY}"},
    {"role": "assistant", "content": "Noted. PRIVATE-ANSWER-42"},
    {"role": "user", "content": "Thanks!"},
]


def message_ids(share) -> dict[str, str]:
    """``{kind: message id}`` of a share's findings."""
    return {f["kind"]: f["message_id"] for f in share.findings if f["message_id"]}


async def test_the_client_creates_with_choices_and_reads_findings(client):  # noqa: F811
    # Given a message list with an e-mail and a key, shared with e-mails masked
    share = await run(client.create_share, conversation=MESSAGES, redaction={"mask_emails": True})
    # Then the share reports the choices and masked findings
    assert share.redaction["mask_emails"] is True and share.redaction["mask_secrets"] is True
    kinds = {f["kind"]: f for f in share.findings}
    assert kinds["email"]["hidden"] and kinds["openai_api_key"]["hidden"]
    assert KEY not in repr(share.findings) and EMAIL not in repr(share.findings)
    # And findings() reads them again, with the current choices
    again = await run(client.findings, share.share_id)
    assert {f["kind"] for f in again} == {"email", "openai_api_key"}


async def test_the_client_updates_choices_and_gets_a_clear_error_for_an_unknown_message(client):  # noqa: F811
    share = await run(client.create_share, conversation=MESSAGES)
    first = message_ids(share)["email"]
    updated = await run(client.update_share, share.share_id, redaction={"exclude_message_ids": (first,)})
    assert updated.redaction["exclude_message_ids"] == [first]
    with pytest.raises(ConvShareClientError) as caught:
        await run(client.update_share, share.share_id, redaction={"exclude_message_ids": ["nope"]})
    assert caught.value.status == 400 and caught.value.field == "redaction.exclude_message_ids"


async def test_the_dialog_lists_findings_masked_and_offers_their_messages(client):  # noqa: F811
    # Given a dialog for the message list, When Create is clicked
    dialog = await run(ShareDialog, MESSAGES, client=client, title="Keys")
    assert "once the link exists" in dialog.findings_html.value
    await run(dialog.create_button.click)
    # Then the findings are listed with masked previews, never the values
    listed = dialog.findings_html.value
    assert "OpenAI API key" in listed and "e-mail address" in listed
    assert KEY not in listed and EMAIL not in listed and "hidden from viewers" in listed
    assert "viewers see it" in listed  # the e-mail is not masked by default
    # And the message holding them can be left out
    assert [key for _label, key in dialog.exclude_messages.options] == [dialog.findings[0]["message_id"]]


async def test_the_dialogs_choices_apply_to_what_viewers_see(client, service, owner):  # noqa: F811
    dialog = await run(ShareDialog, MESSAGES, client=client)
    await run(dialog.create_button.click)
    first = dialog.findings[0]["message_id"]
    # When the owner leaves out the first message, masks e-mails and clicks Update
    dialog.exclude_messages.value = (first,)
    dialog.mask_emails.value = True
    await run(dialog.create_button.click)
    # Then the share stores the choices and the viewers' copy follows them
    share = service.get_share(owner, dialog.share.share_id)
    assert share.redaction.exclude_message_ids == (first,) and share.redaction.mask_emails
    conversation = service.get_conversation(owner, share.conversation_id)
    seen = service.viewer_copy(share, conversation)
    assert first not in seen.messages and "Thanks!" in [m.text for m in seen.messages.values()]
    # And the refreshed findings say the e-mail is now hidden
    assert all(f["hidden"] for f in dialog.findings)
    assert "viewers see it" not in dialog.findings_html.value


async def test_reopening_the_dialog_keeps_earlier_choices(client, service, owner):  # noqa: F811
    # Given a share whose owner excluded a message
    share = await run(client.create_share, conversation=MESSAGES)
    first = message_ids(share)["email"]
    await run(client.update_share, share.share_id, redaction={"exclude_message_ids": [first], "exclude_reasoning": True})
    # When a fresh dialog for the stored conversation opens and Update is clicked
    dialog = await run(ShareDialog, conversation_id=share.conversation_id, client=client)
    assert dialog.exclude_messages.value == (first,) and dialog.exclude_reasoning.value is True
    await run(dialog.create_button.click)
    # Then the choices are unchanged
    stored = service.get_share(owner, share.share_id).redaction
    assert stored.exclude_message_ids == (first,) and stored.exclude_reasoning


def test_findings_are_escaped_in_the_dialog():
    hostile = [{"kind": "email", "message": "Attachment '<img src=x onerror=alert(1)>' contains x",
                "preview": "<script>1</script>", "hidden": False, "count": 2}]  # fmt: skip
    text = describe_findings(hostile)
    assert "<img" not in text and "<script>" not in text and "&lt;img" in text and "&times;2" in text
