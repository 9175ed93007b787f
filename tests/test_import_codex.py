"""Codex CLI rollouts: the real rollout, an own rollout with tool calls and reasoning, bad input.

Real fixtures are read in place from ../shared/fixtures/real/api-messages (skipped when absent).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from jupyter_convshare.core.errors import ImportFailed
from jupyter_convshare.core.exporters import export
from jupyter_convshare.core.importers import detect, load, load_one

from .conftest import real_fixture

FILE = ("api-messages", "Sinity__polylogue", "codex-session.jsonl")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.fixtures_real
def test_real_rollout_is_a_user_question_and_its_answer() -> None:
    path = real_fixture(*FILE)
    conversation = load_one(path)
    user, answer = conversation.active_path()
    assert detect(path) == "codex" and conversation.id == "codex:origin-matrix-codex"
    assert len(conversation.messages) == 2 and len(conversation.leaves()) == 1
    assert (user.id, user.role, user.text) == ("matrix-user", "user", "Prove the parser claim.")
    assert (answer.id, answer.role, answer.text) == (
        "matrix-assistant", "assistant", "The production route parsed this witness.")
    assert user.created_at == utc("2026-08-01T10:00:01") and answer.created_at == utc("2026-08-01T10:00:02")
    assert conversation.created_at == utc("2026-08-01T10:00:00")
    assert conversation.participants["assistant"].provider == "openai" and answer.model is None
    assert conversation.title == "codex-session"
    assert load_one(export(conversation, "json")).to_dict() == conversation.to_dict()


def rollout() -> list[dict[str, Any]]:
    def item(ts: str, payload: dict) -> dict:
        return {"timestamp": ts, "type": "response_item", "payload": payload}

    return [
        {"timestamp": "2026-03-01T09:00:00Z", "type": "session_meta",
         "payload": {"id": "sess-1", "timestamp": "2026-03-01T09:00:00Z", "cwd": "/work", "cli_version": "0.40.0"}},
        item("2026-03-01T09:00:01Z", {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "<environment_context>\n<cwd>/work</cwd>\n</environment_context>"}]}),
        {"timestamp": "2026-03-01T09:00:01Z", "type": "turn_context", "payload": {"model": "gpt-5-codex"}},
        item("2026-03-01T09:00:02Z", {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "List the files"}]}),
        {"timestamp": "2026-03-01T09:00:02Z", "type": "event_msg", "payload": {"type": "user_message"}},
        item("2026-03-01T09:00:03Z", {"type": "reasoning", "id": "rs_1", "summary": [
            {"type": "summary_text", "text": "**Listing**"}], "encrypted_content": "gAAA"}),
        item("2026-03-01T09:00:04Z", {"type": "function_call", "name": "shell", "call_id": "call_1",
                                      "arguments": "{\"command\":[\"ls\"]}"}),
        item("2026-03-01T09:00:05Z", {"type": "function_call_output", "call_id": "call_1",
                                      "output": "{\"output\":\"a.py\\n\",\"metadata\":{\"exit_code\":0}}"}),
        item("2026-03-01T09:00:06Z", {"type": "message", "role": "assistant", "id": "msg_9", "content": [
            {"type": "output_text", "text": "One file: a.py"}]}),
    ]


def jsonl(lines: list[Any]) -> bytes:
    return "\n".join(json.dumps(x) for x in lines).encode()


def test_rollout_groups_reasoning_and_calls_into_the_assistant_turn() -> None:
    conversation = load_one(jsonl(rollout()), name="rollout-2026-03-01.jsonl")
    messages = conversation.active_path()
    # Then: hidden environment message, the question, the assistant's reasoning + call, the tool
    # output, and the answer
    assert [m.role for m in messages] == ["user", "user", "assistant", "tool", "assistant"]
    assert messages[0].hidden and not messages[1].hidden
    assert [p.type for p in messages[2].parts] == ["reasoning", "tool_call"]
    assert messages[2].parts[0].summary == "**Listing**" and messages[2].parts[1].arguments == {"command": ["ls"]}
    assert messages[3].parts[0].call_id == "call_1" and "a.py" in messages[3].parts[0].text
    assert messages[4].id == "msg_9" and messages[4].text == "One file: a.py"
    # And the model comes from the turn context; times from the lines
    assert messages[2].model == messages[4].model == "gpt-5-codex"
    assert messages[2].created_at == utc("2026-03-01T09:00:03")
    assert conversation.source.format_version == "0.40.0" and conversation.id == "codex:sess-1"
    assert conversation.source.warnings == [
        "lines not imported (they repeat the items or hold UI state): 1 event_msg"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r[3]["payload"].update(role="robot"), r"line 4: payload\.role: expected one of"),
        (lambda r: r[3].update(payload=[1]), r"line 4: payload: expected an object"),
        (lambda r: r[6]["payload"].pop("name"), r"line 7: payload\.name: missing field"),
        (lambda r: r[3].update(timestamp=5), r"line 4: payload\.timestamp: expected an ISO 8601 time"),
        (lambda r: r.__setitem__(2, "text"), r"line 3: expected an object"),
    ],
)
def test_broken_rollout_names_the_line(change, expected: str) -> None:
    lines = rollout()
    change(lines)
    with pytest.raises(ImportFailed, match=r"^r\.jsonl: codex format: " + expected):
        load(jsonl(lines), name="r.jsonl", format="codex")


def test_rollout_without_items_is_refused() -> None:
    with pytest.raises(ImportFailed, match="codex format: no response_item messages"):
        load(jsonl(rollout()[:1] + rollout()[2:3]), name="r.jsonl")


def test_truncated_rollout_line_is_named() -> None:
    with pytest.raises(ImportFailed, match=r"^r\.jsonl: invalid JSON at line 9 column"):
        load(jsonl(rollout())[:-5], name="r.jsonl")


def test_rollout_of_early_2025_versions_is_read_too() -> None:
    # Given a rollout written before RolloutLine: a header line, bare items and state lines
    lines = [
        {"id": "old-1", "timestamp": "2025-05-01T08:00:00.000Z", "instructions": None},
        {"record_type": "state"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]},
        {"type": "message", "role": "assistant", "id": "msg_a", "content": [{"type": "output_text", "text": "hi"}]},
    ]
    conversation = load_one(jsonl(lines), name="rollout-old.jsonl", format="codex")
    assert conversation.id == "codex:old-1"
    assert [(m.id, m.text) for m in conversation.active_path()] == [("line-3", "hello"), ("msg_a", "hi")]
    assert conversation.created_at == utc("2025-05-01T08:00:00")
    assert "1 record_type" in conversation.source.warnings[0]
