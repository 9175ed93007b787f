"""The redaction pass itself (``core.redact``): findings, masks and the owner's choices,
on small conversations built here (no server; the server routes are in
``test_redaction_server.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_convshare.core.errors import InvalidRequest
from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, Participant, SourceInfo
from jupyter_convshare.core.redact import (
    MAX_SCAN_BYTES,
    Redaction,
    blob_reader,
    find_sensitive,
    mask_text,
    viewer_copy,
)

KEY = "sk-proj-" + "Hq2m" * 10
EMAIL = "ada@lovelace-labs.io"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"


def conversation() -> Conversation:
    """user -> assistant (reasoning + tool call) -> tool -> assistant; an attachment on the user's message."""
    conv = Conversation(id="c", title="Deploy", source=SourceInfo(format="convshare"))
    conv.participants = {"u": Participant(id="u", kind="human"), "a": Participant(id="a", kind="assistant")}
    conv.attachments = {"env": Attachment(id="env", name=".env", mime_type="text/plain", sha256="0" * 64,
                                          available=True, size_bytes=10)}  # fmt: skip
    conv.append(Message(id="m1", role="user", author_id="u",
                        parts=[Part.text_part(f"I am {EMAIL}, key {KEY}"), Part(type="file_ref", attachment_id="env")]))
    conv.append(Message(id="m2", role="assistant", author_id="a", parts=[
        Part(type="reasoning", text="THINKING-ABOUT-IT"),
        Part(type="tool_call", call_id="t1", name="shell", arguments={"cmd": "cat ~/.ssh/id_rsa"},
             arguments_raw='{"cmd": "cat ~/.ssh/id_rsa"}'),
    ]))  # fmt: skip
    conv.append(Message(id="m3", role="tool", author_id="a",
                        parts=[Part(type="tool_result", call_id="t1", text=PEM, data={"exit": 0})]))
    conv.append(Message(id="m4", role="assistant", author_id="a", parts=[Part(type="reasoning", text="ONLY-THOUGHT")]))
    conv.append(Message(id="m5", role="assistant", author_id="a", parts=[Part.text_part("Done.")]))
    return conv


def reader(data: bytes):
    return lambda attachment: data


# -- findings -------------------------------------------------------------------------------------


def test_each_finding_names_its_place_and_never_its_value():
    findings = find_sensitive(conversation(), read_attachment=reader(b"API_TOKEN=ghp_" + b"x" * 36))
    places = {(f.kind, f.message_id, f.part_index, f.attachment_id) for f in findings}
    assert places == {
        ("email", "m1", 0, None), ("openai_api_key", "m1", 0, None),
        ("private_key", "m3", 0, None), ("github_token", None, None, "env"),
    }  # fmt: skip
    text = json.dumps([f.to_json() for f in findings])
    for value in (KEY[3:], "lovelace", "b3BlbnNzaC1rZXkt", "x" * 12):
        assert value not in text


@pytest.mark.parametrize(
    ("text", "preview"),
    [
        (f"key {KEY}", "sk-•••••• (48 characters)"),
        ("password = 'correct horse battery'", "•••••• (21 characters)"),
        (EMAIL, "a…@l….io"),
        ("see /Users/grace/notes", "/Users/g… (shown to viewers as ~)"),
        (PEM, "-----BEGIN OPENSSH PRIVATE KEY----- … (112 characters)"),
    ],
)
def test_previews_show_a_public_prefix_at_most(text, preview):
    conv = Conversation(id="c", source=SourceInfo(format="convshare"))
    conv.append(Message(id="m", role="user", author_id="u", parts=[Part.text_part(text)]))
    (finding,) = find_sensitive(conv)
    assert finding.preview == preview


@pytest.mark.parametrize("text", ["git@github.com:org/repo.git", "icon@2x.png", "no address here", "a@b"])
def test_things_that_are_not_addresses(text):
    conv = Conversation(id="c", source=SourceInfo(format="convshare"))
    conv.append(Message(id="m", role="user", author_id="u", parts=[Part.text_part(text)]))
    assert [f.kind for f in find_sensitive(conv)] == []


def test_a_text_attachment_over_the_cap_is_reported_unscanned():
    findings = find_sensitive(conversation(), read_attachment=reader(b"a" * (MAX_SCAN_BYTES + 1)))
    (unscanned,) = [f for f in findings if f.kind == "unscanned_attachment"]
    assert unscanned.attachment_id == "env" and unscanned.category == "unscanned"


def test_binary_attachments_are_not_read(tmp_path: Path):
    blob = tmp_path / "blob"
    blob.write_bytes(b"password = 'hunter2hunter2'")
    read = blob_reader(lambda sha: blob)
    image = Attachment(id="i", name="photo.png", mime_type="image/png", sha256="1" * 64, available=True)
    text = Attachment(id="t", name="notes", mime_type="text/plain", sha256="1" * 64, available=True)
    assert read(image) is None and read(text) == b"password = 'hunter2hunter2'"


def test_hidden_says_what_viewers_will_not_see():
    redaction = Redaction(exclude_tool_payloads=True)
    hidden = {f.kind: f.hidden for f in find_sensitive(conversation(), redaction=redaction)}
    assert hidden == {"email": False, "openai_api_key": True, "private_key": True}


# -- masks ----------------------------------------------------------------------------------------


def test_masks_replace_the_value_and_keep_the_words_around_it():
    text = f"mail {EMAIL}; password: s3cretPassw0rd; Authorization: Bearer abcdefghijklmnopqrstuvwxyz"
    masked = mask_text(text, {"secret", "email"})
    assert masked == (
        "mail [redacted e-mail]; password: [redacted password]; Authorization: Bearer [redacted bearer token]"
    )
    assert mask_text(text, {"secret"}).startswith(f"mail {EMAIL};")


def test_viewer_copy_masks_every_string_viewers_get():
    conv = conversation()
    conv.title = f"Keys of {EMAIL}"
    view = viewer_copy(conv, Redaction(mask_emails=True))
    text = json.dumps(view.to_dict())
    assert KEY not in text and EMAIL not in text and "OPENSSH PRIVATE KEY-----\\nb3Bl" not in text
    assert "[redacted private key]" in text and view.title == "Keys of [redacted e-mail]"


def test_no_choices_means_the_rules_for_every_share_only():
    view = viewer_copy(conversation())
    assert KEY in json.dumps(view.to_dict())


def test_a_text_attachment_holding_a_masked_value_is_withheld():
    held = viewer_copy(conversation(), Redaction(), read_attachment=reader(b"token " + KEY.encode()))
    assert held.attachments["env"].available is False
    clean = viewer_copy(conversation(), Redaction(), read_attachment=reader(b"nothing to see"))
    assert clean.attachments["env"].available is True
    off = viewer_copy(conversation(), Redaction(mask_secrets=False), read_attachment=reader(KEY.encode()))
    assert off.attachments["env"].available is True


# -- exclusions -----------------------------------------------------------------------------------


def test_an_excluded_message_goes_with_its_only_attachment_and_its_reply_is_relinked():
    view = viewer_copy(conversation(), Redaction(exclude_message_ids=("m1",)))
    assert "m1" not in view.messages and "env" not in view.attachments
    assert view.root_ids == ["m2"] and view.messages["m2"].parent_id is None


def test_an_attachment_another_kept_message_refers_to_stays():
    conv = conversation()
    conv.messages["m5"].parts.append(Part(type="file_ref", attachment_id="env"))
    view = viewer_copy(conv, Redaction(exclude_message_ids=("m1",)))
    assert "env" in view.attachments


def test_excluding_reasoning_removes_it_and_a_message_of_nothing_else():
    view = viewer_copy(conversation(), Redaction(exclude_reasoning=True))
    assert "m4" not in view.messages and view.messages["m5"].parent_id == "m3"
    assert [p.type for p in view.messages["m2"].parts] == ["tool_call"]
    assert "THINKING" not in json.dumps(view.to_dict())


def test_excluding_tool_payloads_keeps_the_call_name_only():
    view = viewer_copy(conversation(), Redaction(exclude_tool_payloads=True))
    call = view.messages["m2"].parts[1]
    assert (call.name, call.arguments, call.arguments_raw) == ("shell", None, None)
    (result,) = view.messages["m3"].parts
    assert (result.type, result.call_id, result.text, result.data) == ("tool_result", "t1", "[tool output not shared]", None)
    assert "id_rsa" not in json.dumps(view.to_dict())


def test_applying_the_copy_twice_changes_nothing_more():
    choices = Redaction(exclude_message_ids=("m3",), exclude_reasoning=True, mask_emails=True)
    once = viewer_copy(conversation(), choices)
    assert viewer_copy(once, choices).to_dict() == once.to_dict()


# -- the choices ----------------------------------------------------------------------------------


def test_choices_merge_and_round_trip_through_the_store_text():
    choices = Redaction().merged({"exclude_message_ids": ["b", "a", "b"], "mask_emails": True})
    assert choices.exclude_message_ids == ("a", "b") and choices.mask_secrets
    assert Redaction.from_stored(choices.to_stored()) == choices
    assert choices.merged({"exclude_reasoning": True}).exclude_message_ids == ("a", "b")


@pytest.mark.parametrize("stored", [None, "", "not json", "[]", '{"mask_secrets": "no"}'])
def test_damaged_stored_choices_read_as_the_safe_defaults(stored):
    assert Redaction.from_stored(stored).mask_secrets is True


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ([], "redaction"),
        ({"mask_everything": True}, "redaction.mask_everything"),
        ({"exclude_reasoning": 1}, "redaction.exclude_reasoning"),
        ({"exclude_message_ids": ["ok", ""]}, "redaction.exclude_message_ids"),
    ],
)
def test_bad_choices_name_the_field(changes, field):
    with pytest.raises(InvalidRequest) as caught:
        Redaction().merged(changes)
    assert caught.value.field == field


def test_unknown_message_ids_name_the_field():
    with pytest.raises(InvalidRequest) as caught:
        Redaction(exclude_message_ids=("m1", "zz")).check_messages({"m1", "m2"})
    assert caught.value.field == "redaction.exclude_message_ids" and "'zz'" in caught.value.message
