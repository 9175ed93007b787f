"""Claude Code transcripts: the real representative transcript, an own tree with a fork and a
sub-agent, and bad input.

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

FILE = ("api-messages", "daaain__claude-code-log", "representative_messages.jsonl")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.fixtures_real
def test_real_transcript_is_one_chain_with_tool_calls_and_results() -> None:
    # Given claude-code-log's representative transcript (11 messages, a summary line)
    path = real_fixture(*FILE)
    conversation = load_one(path)
    messages = conversation.active_path()
    # Then every message is on the one chain in file order (its parentUuid are all null)
    assert detect(path) == "claude-code" and conversation.id == "claude-code:test_session"
    assert len(conversation.messages) == 11 and len(messages) == 11 and len(conversation.leaves()) == 1
    assert [m.id for m in messages] == [f"msg_{i:03d}" for i in range(1, 12)]
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant", "tool", "assistant", "user",
                                          "assistant", "tool", "assistant", "user"]
    assert conversation.source.warnings == ["parentUuid: 10 message(s) without a parent continue the chain in file order"]
    # And the summary line is the title; times are the lines' UTC times
    assert conversation.title.startswith("User learned about Python decorators")
    assert messages[0].created_at == conversation.created_at == utc("2025-06-14T10:00:00")
    assert messages[-1].created_at == conversation.updated_at == utc("2025-06-14T10:04:00")
    assert messages[0].text == "Hello Claude! Can you help me understand how Python decorators work?"
    assert messages[-1].text.startswith("This is really helpful! Let me try to implement a timing decorator")
    # And the tool calls and their results pair up by id, as the Anthropic importer maps them
    calls = [p for m in messages for p in m.parts if p.type == "tool_call"]
    results = [p for m in messages for p in m.parts if p.type == "tool_result"]
    assert [(c.name, c.call_id) for c in calls] == [("Edit", "tool_001"), ("Bash", "tool_002")]
    assert calls[1].arguments["command"] == "python /tmp/decorator_example.py"
    assert [(r.call_id, r.text) for r in results] == [
        ("tool_001", "File created successfully at: /tmp/decorator_example.py"),
        ("tool_002", "Hello, Alice!\nHello, Alice!\nHello, Alice!")]
    # And models, usage and line fields are kept
    assert {m.model for m in messages if m.role == "assistant"} == {"claude-3-sonnet-20240229"}
    assert conversation.participants["assistant"].provider == "anthropic"
    assert messages[1].extra["anthropic"]["usage"]["output_tokens"] == 120
    assert messages[4].extra["claude-code"]["toolUseResult"].startswith("File created")
    assert conversation.extra["claude-code"]["summaries"][0]["leafUuid"] == "msg_011"
    assert load_one(export(conversation, "json")).to_dict() == conversation.to_dict()


def line(uuid: str, parent: str | None, kind: str, content: Any, ts: str, **more: Any) -> dict:
    role = "assistant" if kind == "assistant" else "user"
    body = {"role": role, "content": content}
    if kind == "assistant":
        body.update(id=f"msg-{uuid}", type="message", model="claude-sonnet-4-5")
    return {"type": kind, "uuid": uuid, "parentUuid": parent, "sessionId": "s-1", "isSidechain": False,
            "timestamp": ts, "cwd": "/work", "message": body, **more}


def transcript() -> list[dict]:
    return [
        line("u1", None, "user", "Fix the bug", "2026-01-02T03:04:05.123Z"),
        line("a1", "u1", "assistant", [{"type": "thinking", "thinking": "Look first", "signature": "sig"},
                                       {"type": "text", "text": "First try"}], "2026-01-02T03:04:06Z"),
        line("a2", "u1", "assistant", [{"type": "text", "text": "Second try"}], "2026-01-02T03:04:09Z"),
        {"type": "system", "uuid": "sys", "parentUuid": "a2", "sessionId": "s-1", "content": "Hook ran",
         "level": "info", "timestamp": "2026-01-02T03:04:10Z"},
        line("side", None, "user", "sub-agent task", "2026-01-02T03:04:07Z", isSidechain=True),
        {"type": "file-history-snapshot", "messageId": "x", "snapshot": {}},
        {"type": "summary", "summary": "Bug fixing", "leafUuid": "sys"},
    ]


def jsonl(lines: list[Any]) -> bytes:
    return "\n".join(json.dumps(x) for x in lines).encode()


def test_fork_sidechain_and_system_lines_keep_their_place() -> None:
    conversation = load_one(jsonl(transcript()), name="session.jsonl")
    # Then both answers to u1 are kept as branches, the last main-chain line is the active leaf
    assert conversation.messages["u1"].children_ids == ["a1", "a2"]
    assert [m.id for m in conversation.active_path()] == ["u1", "a2", "sys"]
    assert conversation.active_leaf_inferred  # several leaves and no pointer in the file
    # And the sub-agent's messages are their own hidden root; system lines are system messages
    assert conversation.root_ids == ["u1", "side"] and conversation.messages["side"].hidden
    assert conversation.messages["sys"].role == "system" and conversation.messages["sys"].text == "Hook ran"
    assert conversation.messages["a1"].parts[0].type == "reasoning"
    assert conversation.messages["u1"].created_at == utc("2026-01-02T03:04:05.123")
    assert conversation.title == "Bug fixing"
    assert conversation.extra["claude-code"]["other_lines"][0]["line"] == 6
    assert conversation.source.warnings == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t[2].update(parentUuid="ghost"), r"line 3\.parentUuid: unknown parent message 'ghost'"),
        (lambda t: t[0].update(parentUuid="sys"), r"line 1\.parentUuid: cycle in the parent links through message 'u1'"),
        (lambda t: t[1].update(uuid="u1"), r"line 2: duplicate message id 'u1'"),
        (lambda t: t[1].pop("uuid"), r"line 2\.uuid: missing field"),
        (lambda t: t[1].update(timestamp="soon"), r"line 2\.timestamp: not an ISO 8601 time"),
        (lambda t: t[1]["message"].update(content=[{"type": "text"}]), r"line 2\.message\.content\[0\]\.text: missing"),
        (lambda t: t[1]["message"].update(role="robot"), r"line 2\.message\.role: expected one of user, assistant"),
        (lambda t: t[1].pop("message"), r"line 2\.message: missing field"),
    ],
)
def test_broken_transcript_names_the_line(change, expected: str) -> None:
    lines = transcript()
    change(lines)
    with pytest.raises(ImportFailed, match=r"^s\.jsonl: claude-code format: " + expected):
        load(jsonl(lines), name="s.jsonl")


def test_truncated_line_is_named() -> None:
    data = jsonl(transcript())
    with pytest.raises(ImportFailed, match=r"^s\.jsonl: invalid JSON at line 7 column"):
        load(data[:-10], name="s.jsonl")


def test_transcript_of_summaries_only_is_refused() -> None:
    with pytest.raises(ImportFailed, match="claude-code format: no user or assistant messages"):
        load(jsonl([{"type": "summary", "summary": "x", "leafUuid": "y"}] * 2), name="s.jsonl")


def test_compact_boundary_continues_from_its_logical_parent() -> None:
    # Given a /compact boundary: a null parentUuid with logicalParentUuid naming an earlier message
    lines = transcript()[:3] + [
        {"type": "system", "subtype": "compact_boundary", "uuid": "cb", "parentUuid": None,
         "logicalParentUuid": "a1", "sessionId": "s-1", "content": "Conversation compacted",
         "timestamp": "2026-01-02T03:05:00Z"},
        line("u2", "cb", "user", "Go on", "2026-01-02T03:05:01Z"),
    ]
    conversation = load_one(jsonl(lines), name="s.jsonl")
    # Then the chain goes on below the logical parent, not below the last line
    assert [m.id for m in conversation.active_path()] == ["u1", "a1", "cb", "u2"]
    assert conversation.messages["cb"].extra["claude-code"]["logicalParentUuid"] == "a1"
