"""Claude.ai data export importer (``core.importers.claude_ai``, FORMATS.md section 4).

Every real file under ../shared/fixtures/real/claude imports (read in place, skipped when
absent) with what a person would check; small hostile inputs written here get an
ImportFailed naming the file, the format and the place; a real branching conversation
shared through a real server shows the ``‹ 1 / 2 ›`` switcher at its fork.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from jupyter_convshare.core.errors import ImportFailed
from jupyter_convshare.core.exporters import export
from jupyter_convshare.core.importers import FORMATS, chatgpt, claude_ai, detect, load, load_one
from jupyter_convshare.core.model import Conversation

from .conftest import real_fixture, real_params
from .server_helpers import body_json, make_anonymous_fetch, make_api

SENTINEL = "00000000-0000-4000-8000-000000000000"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def load_real(*parts: str) -> list[Conversation]:
    path = real_fixture("claude", *parts)
    assert detect(path) == "claude-ai"
    return load(path)


# -- every real file ------------------------------------------------------------------------


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", real_params("claude/*/*.json"))
def test_every_real_claude_file_keeps_every_message_and_infers_the_active_leaf(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert detect(path) == "claude-ai"
    conversations = load(path)
    assert len(conversations) == len(raw)
    for item, conversation in zip(raw, conversations):
        assert list(conversation.messages) != [] and set(conversation.messages) == {m["uuid"] for m in item["chat_messages"]}
        assert conversation.id == f"claude-ai:{item['uuid']}" and conversation.title == (item["name"] or None)
        # the export records no active branch: the latest leaf, flagged as inferred
        assert conversation.active_leaf_inferred
        latest = max(conversation.leaves(), key=lambda m: m.created_at)
        assert conversation.active_leaf_id == latest.id
        assert {m.role for m in conversation.messages.values()} <= {"user", "assistant"}
        assert all(m.created_at is not None and not m.hidden for m in conversation.messages.values())
        assert load_one(export(conversation, "json")).to_dict() == conversation.to_dict()


@pytest.mark.fixtures_real
def test_real_2026_export_maps_thinking_tools_files_and_a_fork_at_the_root() -> None:
    docker, memory, orchestration = load_real("Gsunny45__Claude_Vault", "conversations.json")
    # Given the first conversation: 5 questions, 5 answers with thinking, one chain
    assert len(docker.messages) == 10 and len(docker.leaves()) == 1
    path = docker.active_path()
    assert [m.role for m in path] == ["user", "assistant"] * 5
    answer = path[1]
    # Then the whitespace-only opening block is skipped, thinking is reasoning with its summary
    assert [p.type for p in answer.parts] == ["reasoning", "text"]
    thinking = answer.parts[0]
    assert thinking.text.startswith("The user has Docker running on a 4GB RAM phone using Termux.")
    assert thinking.summary == "Evaluated practical possibilities for containerized development on constrained hardware."
    assert thinking.extra["claude-ai"]["truncated"] is True
    assert answer.text.startswith("\n# Docker on Termux (4GB RAM)")
    assert path[0].text.startswith("I  just got docker running on 4ram phone termux.")
    assert path[0].created_at == utc("2026-03-21T19:10:15.972889")
    assert docker.created_at == utc("2026-03-21T19:10:14.910018")
    assert docker.participants["assistant"].provider == "anthropic" and docker.participants["assistant"].model is None
    assert all(m.model is None for m in docker.messages.values())
    # a tool_use / tool_result pair inside an answer
    memory_answer = memory.active_path()[1]
    assert [p.type for p in memory_answer.parts] == ["text", "tool_call", "tool_result", "text"]
    call, result = memory_answer.parts[1:3]
    assert (call.call_id, call.name, call.title) == ("toolu_019av5MqBjiAmMA9UNFpdWZa", "ask_user_input_v0",
                                                     "Generating ask_user_input_v0...")
    assert call.arguments["questions"][0]["type"] == "multi_select"
    assert result.call_id == call.call_id and not result.is_error and json.loads(result.text)["questions"]
    assert len(memory.messages) == 16 and memory.active_path()[-1].text.startswith(" Hey. That's real")
    # the third conversation was re-asked: two roots, the later one continued and active
    first, second = orchestration.root_ids
    assert orchestration.messages[first].children_ids == [] and len(orchestration.leaves()) == 2
    assert orchestration.active_path()[0].id == second and len(orchestration.active_path()) == 4
    assert orchestration.active_leaf_id == "019cabae-7c6c-7c0d-ae46-296facc8c27e"
    # both questions carry the same pasted file: one reference, never fetched
    (attachment,) = orchestration.attachments.values()
    assert (attachment.id, attachment.name, attachment.available) == (
        "2bf52c92-a40f-4d30-bbbd-926e5c26e936", "pasted_text_b5d9ef5c-5906-4e7e-8d1c-57037aebf71d.txt", False
    )
    for root in (first, second):
        assert [p.type for p in orchestration.messages[root].parts] == ["text", "file_ref"]
    assert orchestration.extra["claude-ai"]["account"] == {"uuid": "8377092d-b919-40b9-a527-88da9d93a4af"}


@pytest.mark.fixtures_real
def test_real_hand_written_thinking_example() -> None:
    (conversation,) = load_real("yetanotherchris__openwebui-importer", "claude_thinking_example.json")
    question, answer = conversation.active_path()
    assert (question.text, answer.text) == ("Can you greet me?", "Hello there! It's great to hear from you.")
    assert answer.parts[0].summary == "Planning a warm greeting"
    assert answer.created_at == utc("2025-01-01T00:00:05")
    # no parent_message_uuid: the list is the chain
    assert answer.parent_id == question.id and conversation.title == "Thinking Demo"


# -- the project's own small inputs ---------------------------------------------------------


def message(uuid: str, parent: str | None, sender: str = "human", text: str = "hi",
            at: str = "2026-01-01T00:00:00Z", **fields: Any) -> dict[str, Any]:
    item = {"uuid": uuid, "text": text, "sender": sender, "created_at": at, "updated_at": at,
            "content": [{"type": "text", "text": text}], "attachments": [], "files": [], **fields}
    if parent is not ...:
        item["parent_message_uuid"] = parent if parent is not None else SENTINEL
    return item


def retried() -> dict[str, Any]:
    return {"uuid": "c1", "name": "", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "chat_messages": [
                message("q", None),
                message("a1", "q", "assistant", "first try", "2026-01-01T00:00:05Z"),
                message("a2", "q", "assistant", "second try", "2026-01-01T00:00:09Z"),
            ]}


def test_a_retry_is_a_sibling_and_the_latest_leaf_is_active() -> None:
    conversation = load_one([retried()], name="conversations.json")
    assert conversation.messages["q"].children_ids == ["a1", "a2"]
    assert conversation.active_leaf_id == "a2" and conversation.active_leaf_inferred
    assert conversation.title is None


def test_attachments_keep_extracted_text_and_files_are_references() -> None:
    data = retried()
    data["chat_messages"][0]["attachments"] = [
        {"file_name": "notes.md", "file_size": 12, "file_type": "text/markdown", "extracted_content": "# Notes"},
        {"file_name": "", "file_size": 3, "file_type": "txt", "extracted_content": "abc"},
    ]
    data["chat_messages"][0]["files"] = [{"file_uuid": "f-1", "file_name": "photo.PNG"}, {"file_name": "old.pdf"}]
    conversation = load_one([data])
    notes, pasted, photo, old = conversation.attachments.values()
    assert (notes.kind, notes.name, notes.mime_type, notes.size_bytes, notes.extracted_text, notes.available) == (
        "document", "notes.md", "text/markdown", 12, "# Notes", False
    )
    assert (pasted.kind, pasted.extracted_text, pasted.extra) == ("pasted_text", "abc", {"claude-ai": {"file_type": "txt"}})
    assert (photo.id, photo.kind, photo.uri) == ("f-1", "image", "f-1")
    assert (old.id, old.kind) == ("q:file:1", "file")
    assert [p.type for p in conversation.messages["q"].parts] == ["text"] + ["file_ref"] * 4


def test_old_exports_without_content_use_text() -> None:
    item = message("q", ..., text="plain old text")
    del item["content"]
    conversation = load_one([{"uuid": "c", "name": "n", "chat_messages": [item]}])
    assert conversation.messages["q"].text == "plain old text"


def test_detection_tells_claude_from_chatgpt_and_api_lists() -> None:
    assert claude_ai.matches([retried()]) and not chatgpt.matches([retried()])
    assert not claude_ai.matches([{"role": "user", "content": "hi"}])
    assert detect([retried()]) == "claude-ai" and FORMATS["claude-ai"].extensions == (".json",)


def test_convert_names_its_place() -> None:
    bad = retried()
    bad["chat_messages"][2]["parent_message_uuid"] = "nope"
    with pytest.raises(ImportFailed) as info:
        claude_ai.convert(bad, name="conversations.json", where="conversations[4]")
    assert str(info.value) == (
        "conversations.json: claude-ai format: conversations[4].chat_messages[2].parent_message_uuid: no such message 'nope'"
    )


def broken(change) -> bytes:
    data = [retried(), retried()]
    change(data[1])
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["chat_messages"][1].update(parent_message_uuid="ghost"),
         "conversations[1].chat_messages[1].parent_message_uuid: no such message 'ghost'"),
        (lambda c: (c["chat_messages"][0].update(parent_message_uuid="a1")),
         "conversations[1].chat_messages[0].parent_message_uuid: cycle in the parent links"),
        (lambda c: c["chat_messages"][1].update(parent_message_uuid="a1"),
         "conversations[1].chat_messages[1].parent_message_uuid: a message cannot be its own parent"),
        (lambda c: c["chat_messages"][2].update(uuid="a1"),
         "conversations[1].chat_messages[2].uuid: duplicate message uuid 'a1' (also chat_messages[1])"),
        (lambda c: c["chat_messages"][2].pop("uuid"), "conversations[1].chat_messages[2].uuid: missing field"),
        (lambda c: c["chat_messages"][2].pop("parent_message_uuid"),
         "conversations[1].chat_messages[2].parent_message_uuid: missing field (other messages have one)"),
        (lambda c: c["chat_messages"][2].update(sender="system"),
         "conversations[1].chat_messages[2].sender: expected one of human, assistant, got 'system'"),
        (lambda c: c["chat_messages"][2].update(created_at="yesterday"),
         "conversations[1].chat_messages[2].created_at: not an ISO 8601 time: 'yesterday'"),
        (lambda c: c["chat_messages"][2].update(created_at=1780000000),
         "conversations[1].chat_messages[2].created_at: expected an ISO 8601 string, got a number"),
        (lambda c: c["chat_messages"][2].update(content={"type": "text"}),
         "conversations[1].chat_messages[2].content: expected a list, got an object"),
        (lambda c: c["chat_messages"][2]["content"][0].pop("type"),
         "conversations[1].chat_messages[2].content[0].type: missing field"),
        (lambda c: c["chat_messages"][2].update(attachments=[{"file_size": "big"}]),
         "conversations[1].chat_messages[2].attachments[0].file_size: expected an integer, got a string"),
        (lambda c: c.update(chat_messages={}), "conversations[1].chat_messages: expected a list, got an object"),
    ],
)
def test_a_malformed_export_names_file_format_and_place(change, expected: str) -> None:
    with pytest.raises(ImportFailed) as info:
        load(broken(change), name="conversations.json")
    assert str(info.value).startswith(f"conversations.json: claude-ai format: {expected}")


def test_a_truncated_export_is_refused_whole() -> None:
    data = json.dumps([retried(), retried()]).encode()
    with pytest.raises(ImportFailed, match=r"^conversations\.json: invalid JSON at line 1 column \d+"):
        load(data[:-40], name="conversations.json")


def test_a_long_branching_export_imports_without_recursion() -> None:
    items = [message("m0", None)] + [
        message(f"m{i}", f"m{i - 1}", "assistant" if i % 2 else "human") for i in range(1, 4000)
    ]
    conversation = load_one([{"uuid": "c", "name": "long", "chat_messages": items}])
    assert len(conversation.active_path()) == 4000


# -- the viewer ---------------------------------------------------------------------------------


class _Switchers(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.positions: list[str] = []
        self._in_pos = False

    def handle_starttag(self, tag, attrs):
        self._in_pos = tag == "span" and "branch-pos" in (dict(attrs).get("class") or "").split()

    def handle_data(self, data):
        if self._in_pos:
            self.positions.append(data.strip())
            self._in_pos = False


@pytest.mark.fixtures_real
async def test_a_shared_real_claude_conversation_shows_a_switcher_at_the_re_asked_question(
    jp_fetch, http_server_client, jp_base_url
) -> None:
    # Given the real 2026 export whose third conversation was asked twice (two roots)
    raw = json.loads(real_fixture("claude", "Gsunny45__Claude_Vault", "conversations.json").read_text("utf-8"))
    api = make_api(jp_fetch)
    response = await api("POST", "shares", body={"conversation": raw, "index": 2, "name": "conversations.json"})
    assert response.code == 201, response.body
    link = body_json(response)["url"].rsplit("/", 1)[-1]
    # When a visitor opens the page
    fetch = make_anonymous_fetch(http_server_client, jp_base_url)
    page = await fetch("convshare", "s", link)
    assert page.code == 200
    parsed = _Switchers()
    parsed.feed(page.body.decode("utf-8"))
    # Then the inferred active path starts at the second question: 2 / 2 at the first message
    assert parsed.positions == ["2 / 2"]
    assert b"Strategic Setup Pipeline" in page.body
    # and the first attempt (a question without answer) is one click away
    other = await fetch("convshare", "s", link, params={"path": "019c0858-06b7-7472-b5f9-fc64bd68d014"})
    parsed = _Switchers()
    parsed.feed(other.body.decode("utf-8"))
    assert parsed.positions == ["1 / 2"] and b"Strategic Setup Pipeline" not in other.body


def test_path_like_file_names_become_base_names() -> None:
    data = retried()
    data["chat_messages"][0]["attachments"] = [{"file_name": "C:\\Users\\me\\secret.txt", "extracted_content": "x"}]
    data["chat_messages"][0]["files"] = [{"file_uuid": "f", "file_name": "../../etc/passwd"}]
    names = [a.name for a in load_one([data]).attachments.values()]
    assert names == ["secret.txt", "passwd"]


def test_an_answer_made_only_of_a_failed_tool_result_is_an_error() -> None:
    data = retried()
    data["chat_messages"][1]["content"] = [
        {"type": "tool_use", "id": "toolu_1", "name": "web_search", "input": {"query": "x"}},
        {"type": "tool_result", "tool_use_id": "toolu_1", "name": "web_search", "is_error": True,
         "content": [{"type": "text", "text": "rate limited"}]},
        {"type": "token_budget", "remaining": 10},
    ]
    answer = load_one([data]).messages["a1"]
    assert [p.type for p in answer.parts] == ["tool_call", "tool_result", "unknown"]
    assert answer.status == "error" and answer.parts[1].text == "rate limited"
    assert answer.parts[2].source_type == "token_budget"
