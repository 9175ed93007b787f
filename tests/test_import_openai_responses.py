"""OpenAI Responses API items: the containers, every item kind, detection and bad input.

No real Responses log is among the shared fixtures (the Codex rollout, which wraps Responses
items, is tested in test_import_codex.py); these are the project's own inputs, written from the
API reference.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from jupyter_convshare.core.errors import ImportFailed
from jupyter_convshare.core.exporters import export
from jupyter_convshare.core.importers import detect, load, load_one


def response() -> dict[str, Any]:
    return {
        "id": "resp_1", "object": "response", "created_at": 1741476777, "model": "gpt-4.1-2025-04-14",
        "instructions": "Be brief.", "previous_response_id": None, "usage": {"total_tokens": 99},
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Check weather"}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
             "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
            {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "content": [
                {"type": "output_text", "text": "See the forecast.", "annotations": [
                    {"type": "url_citation", "url": "https://example.org/w", "title": "Forecast"}]}]},
        ],
    }


def log_record() -> dict[str, Any]:
    return {
        "model": "gpt-4.1",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"},
                                         {"type": "input_image", "image_url": "https://example.org/p.png"},
                                         {"type": "input_file", "file_id": "file-1", "filename": "notes.pdf"}]},
            {"type": "function_call", "call_id": "call_0", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_0", "output": "sunny"},
        ],
        "output": response()["output"],
    }


def test_response_object_maps_instructions_reasoning_calls_and_text() -> None:
    conversation = load_one(response(), name="resp.json")
    system, answer = conversation.active_path()
    assert detect(response(), name="resp.json") == "openai-responses"
    assert system.role == "system" and system.text == "Be brief."
    # Then the assistant's output items are one assistant turn, in order
    assert [p.type for p in answer.parts] == ["reasoning", "tool_call", "text", "citation"]
    assert answer.parts[0].summary == "Check weather"
    assert answer.parts[1].arguments == {"city": "Paris"} and answer.parts[1].call_id == "call_1"
    assert answer.parts[3].url == "https://example.org/w" and answer.text == "See the forecast."
    assert answer.model == "gpt-4.1-2025-04-14" and conversation.participants["assistant"].provider == "openai"
    assert answer.created_at == datetime.fromtimestamp(1741476777, timezone.utc)
    assert conversation.source.original_id == "resp_1" and conversation.extra["openai-responses"]["usage"]
    assert load_one(export(conversation, "json")).to_dict() == conversation.to_dict()


def test_log_record_keeps_inputs_tool_outputs_and_attachments() -> None:
    conversation = load_one(log_record(), name="log.json")
    roles = [m.role for m in conversation.active_path()]
    assert roles == ["user", "assistant", "tool", "assistant"]
    user = conversation.messages["1"]
    assert [p.type for p in user.parts] == ["text", "image", "file_ref"]
    assert conversation.attachments[user.parts[2].attachment_id].name == "notes.pdf"
    assert conversation.messages["3"].parts[0].text == "sunny"


def test_item_list_and_jsonl_of_records() -> None:
    items = log_record()["input"]
    assert detect(items, name="items.json") == "openai-responses"
    assert len(load_one(items, name="items.json").messages) == 3
    data = "\n".join(json.dumps(r) for r in [log_record(), response()]).encode()
    conversations = load(data, name="calls.jsonl")
    assert [c.source.format for c in conversations] == ["openai-responses"] * 2
    assert conversations[1].title == "calls (2/2)"


def test_plain_chat_message_lists_are_still_chat_completions() -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert detect(messages, name="m.json") == "openai-chat"


def test_request_wrapper_with_string_input() -> None:
    record = {"request": {"model": "gpt-4.1", "input": "Hi"}, "response": response()}
    conversation = load_one(record, name="w.json")
    assert [m.role for m in conversation.active_path()] == ["system", "user", "assistant"]
    assert [m.text for m in conversation.active_path()] == ["Be brief.", "Hi", "See the forecast."]
    assert conversation.extra["openai-responses"]["response"]["id"] == "resp_1"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r["output"][1].pop("name"), r"output\[1\]\.name: missing field"),
        (lambda r: r["output"][2].update(role="robot"), r"output\[2\]\.role: expected one of"),
        (lambda r: r["output"][2]["content"][0].pop("text"), r"output\[2\]\.content\[0\]\.text: missing field"),
        (lambda r: r["output"].append("oops"), r"output\[3\]: expected an object"),
        (lambda r: r.update(output={}), r"output: expected a list"),
        (lambda r: r.update(created_at="now"), r"created_at: expected a number"),
    ],
)
def test_broken_response_names_the_field(change, expected: str) -> None:
    record = response()
    change(record)
    with pytest.raises(ImportFailed, match=r"^r\.json: openai-responses format: " + expected):
        load(record, name="r.json", format="openai-responses")


def test_wrong_jsonl_line_is_named() -> None:
    bad = response()
    bad["output"][1]["arguments"] = 3
    bad["output"][1].pop("name")
    data = "\n".join(json.dumps(r) for r in [log_record(), bad]).encode()
    with pytest.raises(ImportFailed, match=r"^r\.jsonl: openai-responses format: line 2: output\[1\]\.name"):
        load(data, name="r.jsonl")


def test_responses_linked_by_previous_response_id_are_one_tree() -> None:
    # Given three logged turns: the second continues the first, the third re-asks after the first
    def turn(rid: str, prev: str | None, question: str, answer: str) -> dict:
        return {"request": {"model": "gpt-4.1", "input": question, "previous_response_id": prev},
                "response": {"id": rid, "object": "response", "created_at": 1741476777, "model": "gpt-4.1",
                             "previous_response_id": prev, "output": [
                                 {"type": "message", "role": "assistant", "content": [
                                     {"type": "output_text", "text": answer}]}]}}

    data = "\n".join(json.dumps(t) for t in [turn("resp_a", None, "Q1", "A1"), turn("resp_b", "resp_a", "Q2", "A2"),
                                             turn("resp_c", "resp_a", "Q2 again", "A2 again")]).encode()
    conversation = load_one(data, name="turns.jsonl")
    # Then it is one conversation with a fork below A1, the last logged turn active
    assert conversation.id == "openai-responses:resp_a" and len(conversation.messages) == 6
    assert [m.text for m in conversation.active_path()] == ["Q1", "A1", "Q2 again", "A2 again"]
    assert conversation.messages["2"].children_ids == ["3", "5"] and len(conversation.leaves()) == 2


def test_unlinked_records_stay_separate_conversations() -> None:
    records = [response(), {**response(), "id": "resp_2", "previous_response_id": "resp_unknown"}]
    assert len(load(records, name="two.json")) == 2
