"""The conversation model's lossless JSON form (core.model, DESIGN.md section 3)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from jupyter_convshare.core.model import (
    Attachment,
    Conversation,
    Message,
    Part,
    Participant,
    SourceInfo,
)

T0 = datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def full_conversation() -> Conversation:
    """A conversation that sets every kind of field: nested, times, defaults and not."""
    conv = Conversation(
        id="c",
        title="All fields",
        created_at=T0,
        updated_at=T0 + timedelta(minutes=1),
        source=SourceInfo(format="openai-chat", file_name="chat.json", exported_at=T0, warnings=["w"]),
        tags=["t"],
        extra={"x": {"nested": [1, 2]}},
    )
    conv.participants["ada"] = Participant(id="ada", display_name="Ada", extra={"color": "red"})
    conv.participants["bot"] = Participant(id="bot", kind="assistant", provider="openai", model="gpt")
    conv.attachments["a"] = Attachment(
        id="a", name="data.csv", mime_type="text/csv", size_bytes=3, sha256="0" * 64, available=True,
        selection={"start": [1, 0], "end": [2, 0], "content": "x"}, cells=[{"id": "1", "cell_type": "code"}],
    )  # fmt: skip
    conv.append(Message(id="1", role="user", author_id="ada", created_at=T0, mentions=["bot"],
                        parts=[Part.text_part("hello"), Part(type="file_ref", attachment_id="a")]))  # fmt: skip
    conv.append(Message(id="2", role="assistant", author_id="bot", model="gpt", status="error", edited=True,
                        parts=[Part(type="tool_call", call_id="k", name="f", arguments={"a": 1},
                                    arguments_raw='{"a": 1}'),
                               Part(type="unknown", source_type="weird", data=[{"raw": True}])]))  # fmt: skip
    conv.add_message(Message(id="3", role="user", author_id="ada", parent_id="1", hidden=True))
    return conv


def test_the_json_form_round_trips_exactly():
    # Given a conversation using every kind of field
    conv = full_conversation()
    # When it goes to JSON text and back
    data = json.loads(json.dumps(conv.to_dict()))
    again = Conversation.from_dict(data)
    # Then the objects and the JSON forms are equal
    assert again == conv
    assert again.to_dict() == data


def test_default_values_are_left_out_of_the_json_form():
    conv = Conversation(id="c", source=SourceInfo(format="convshare"))
    conv.append(Message(id="1", role="user", author_id="u"))
    data = conv.to_dict()
    assert data["messages"]["1"] == {"id": "1", "role": "user", "author_id": "u"}
    assert "tags" not in data and "extra" not in data and "participants" not in data


def test_a_changed_list_or_dict_field_is_never_mistaken_for_its_default():
    # Field defaults are computed once per class for the comparison: changing one
    # object's list must neither leak into another object nor hide the change
    first = Message(id="1", role="user", author_id="u")
    first.mentions.append("bot")
    first.extra["k"] = "v"
    second = Message(id="2", role="user", author_id="u")
    conv = Conversation(id="c", source=SourceInfo(format="convshare"))
    conv.add_message(first)
    conv.add_message(second)
    data = conv.to_dict()
    assert data["messages"]["1"]["mentions"] == ["bot"] and data["messages"]["1"]["extra"] == {"k": "v"}
    assert "mentions" not in data["messages"]["2"] and second.mentions == []


def test_an_unknown_field_is_named():
    data = Conversation(id="c", source=SourceInfo(format="convshare")).to_dict()
    data["messages"] = {"1": {"id": "1", "role": "user", "author_id": "u", "colour": "red"}}
    with pytest.raises(ValueError, match=r"Message: unknown field\(s\) \['colour'\]"):
        Conversation.from_dict(data)


def test_a_wrong_shape_is_a_type_error():
    data = Conversation(id="c", source=SourceInfo(format="convshare")).to_dict()
    data["participants"] = ["not", "an", "object"]
    with pytest.raises(TypeError):
        Conversation.from_dict(data)
