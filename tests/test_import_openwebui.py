"""Open WebUI chats: the real fixtures, an export with branches and tool blocks, and bad input.

Real fixtures are read in place from ../shared/fixtures/real/openwebui (skipped when absent).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from jupyter_convshare.core.errors import ImportFailed
from jupyter_convshare.core.exporters import export
from jupyter_convshare.core.importers import detect, load, load_one, openwebui

from .conftest import real_fixture, real_params

DIR = ("openwebui", "yetanotherchris__openwebui-importer")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def msg(mid: str, parent: str | None, children: list[str], role: str, content: str, ts: int, **more: Any) -> dict:
    return {"id": mid, "parentId": parent, "childrenIds": children, "role": role, "content": content,
            "timestamp": ts, **more}


REASONED = (
    '<details type="reasoning" done="true" duration="3">\n<summary>Thought for 3 seconds</summary>\n'
    "> Weather needs a tool.\n> Call it.\n</details>\n"
    '<details type="tool_calls" done="true" id="call_1" name="get_weather" '
    'arguments="{&quot;city&quot;: &quot;Paris&quot;}" result="&quot;18 C, cloudy&quot;">\n'
    "<summary>Tool Executed</summary>\n</details>\n"
    "It is 18 C in Paris."
)


def export_rows() -> list[dict]:
    """An "Export All Chats" file: one chat with a regenerated answer (two branches), one with a file."""
    chat = {
        "id": "",
        "title": "Weather",
        "models": ["llama3:8b", "qwen3:4b"],
        "history": {
            "currentId": "a2",
            "messages": {
                "u1": msg("u1", None, ["a1", "a2"], "user", "Weather in Paris?", 1735689601, models=["llama3:8b"]),
                "a1": msg("a1", "u1", [], "assistant", "I cannot know.", 1735689602, model="llama3:8b",
                          modelName="Llama 3", modelIdx=0, done=True),
                "a2": msg("a2", "u1", [], "assistant", REASONED, 1735689610, model="qwen3:4b", modelName="Qwen 3",
                          modelIdx=0, done=True, usage={"total_tokens": 42}),
            },
        },
        "messages": [],
        "tags": ["travel"],
        "timestamp": 1735689600000,
    }
    files_chat = {
        "title": "Summary",
        "history": {
            "currentId": "f2",
            "messages": {
                "f1": msg("f1", None, ["f2"], "user", "Summarise this", 1735700000, files=[
                    {"type": "file", "id": "file-9", "name": "report.pdf", "url": "/api/v1/files/file-9",
                     "size": 2048, "file": {"meta": {"content_type": "application/pdf"}, "data": {"content": "Q3"}}},
                    {"type": "image", "url": "data:image/png;base64,iVBORw0KGgo="},
                ]),
                "f2": msg("f2", "f1", [], "assistant", "", 1735700005, model="llama3:8b", done=False,
                          error={"content": "Ollama is not running"}),
            },
        },
        "timestamp": 1735700000000,
    }
    return [
        {"id": "c-1", "user_id": "u-7", "title": "Weather", "chat": chat, "created_at": 1735689600,
         "updated_at": 1735689700, "share_id": None, "archived": False, "pinned": True,
         "meta": {"tags": ["travel", "paris"]}, "folder_id": None},
        {"id": "c-2", "user_id": "u-7", "title": "Summary", "chat": files_chat, "created_at": 1735700000,
         "updated_at": 1735700010, "meta": {}},
    ]


# -- real fixtures -------------------------------------------------------------------------


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", real_params("openwebui/*/*"))
def test_every_real_open_webui_file_imports_as_one_conversation(path: Path) -> None:
    # Given a real Open WebUI chat file, When it is detected and imported
    conversations = load(path)
    # Then it is one Open WebUI conversation whose active path is user -> assistant
    assert detect(path) == "openwebui"
    assert len(conversations) == 1
    conversation = conversations[0]
    assert [m.role for m in conversation.active_path()] == ["user", "assistant"]
    assert conversation.source.warnings == []
    assert load_one(export(conversation, "json")).to_dict() == conversation.to_dict()


@pytest.mark.fixtures_real
def test_real_inner_chat_object_keeps_models_times_and_usage() -> None:
    # Given the inner `chat` column of an Open WebUI row (webui-json.json)
    conversation = load_one(real_fixture(*DIR, "webui-json.json"))
    # Then it has two messages on one branch, ending at history.currentId
    assert len(conversation.messages) == 2 and len(conversation.leaves()) == 1
    user, answer = conversation.active_path()
    assert conversation.active_leaf_id == "a9436447-add3-4bd8-a25f-6ce54b73903c" == answer.id
    assert not conversation.active_leaf_inferred
    assert conversation.title == "\N{BRAIN} Goldwater Rule Ethics"
    assert user.text.startswith("what was the ruling in the US called")
    assert answer.text.endswith("prevent the misuse of psychiatry in political contexts.")
    # And the chat's millisecond time and the messages' second times are both right
    assert conversation.created_at == utc("2025-04-13T20:52:37.127000")
    assert user.created_at == answer.created_at == utc("2025-04-13T20:52:37")
    # And the model, its display name and the usage are kept
    assert answer.model == "deepseek/deepseek-chat:free"
    assert conversation.participants[answer.author_id].display_name == "DeepSeek: DeepSeek V3 (free)"
    assert answer.extra["openwebui"]["usage"] == {"prompt_tokens": 26, "completion_tokens": 310, "total_tokens": 336}
    assert conversation.participants[user.author_id].kind == "human"
    assert conversation.attachments == {}


@pytest.mark.fixtures_real
def test_real_reasoning_block_becomes_a_reasoning_part_before_the_answer() -> None:
    # Given an Open WebUI answer whose content starts with a <details type="reasoning"> block
    conversation = load_one(real_fixture(*DIR, "claude_thinking_output.json"))
    answer = conversation.active_path()[-1]
    # Then the block is a reasoning part (summary, unquoted text, duration) and the rest is the text
    reasoning, text = answer.parts
    assert reasoning.type == "reasoning" and reasoning.summary == "Planning a warm greeting"
    assert reasoning.text == "The user asked for a greeting. I should respond warmly and invite further conversation."
    assert reasoning.extra == {"openwebui": {"done": "true", "duration": "2"}}
    assert text.type == "text" and answer.text == "Hello there! It's great to hear from you."
    assert "<details" in answer.extra["openwebui"]["content"]  # the raw content is kept
    assert answer.created_at == utc("2025-01-01T00:00:05") and conversation.created_at == utc("2025-01-01T00:00:00")
    assert answer.model == "claude_4_5_with_thinking.claude-sonnet-4-5-20250929-think"
    assert conversation.title == "Thinking Demo"


# -- an export of several chats ------------------------------------------------------------


def test_export_list_gives_one_conversation_per_row_with_every_branch() -> None:
    # Given an "Export All Chats" file with two rows
    data = json.dumps(export_rows()).encode()
    # When it is imported
    weather, summary = load(data, name="chat-export-1735689700000.json")
    # Then the regenerated answer is a second branch and history.currentId picks the active one
    assert detect(data, name="x.json") == "openwebui"
    assert weather.id == "openwebui:c-1" and weather.title == "Weather"
    assert weather.messages["u1"].children_ids == ["a1", "a2"]
    assert [m.id for m in weather.active_path()] == ["u1", "a2"] and len(weather.leaves()) == 2
    # And row times (seconds) win over the chat's timestamp; tags from the chat and the row meta
    assert weather.created_at == utc("2025-01-01T00:00:00") and weather.updated_at == utc("2025-01-01T00:01:40")
    assert weather.tags == ["travel", "paris"]
    assert weather.extra["openwebui"]["row"]["user_id"] == "u-7"
    assert weather.source.warnings == []  # an empty legacy list is not a stale copy
    # And each model answering is its own assistant participant
    assert {p.model for p in weather.participants.values() if p.kind == "assistant"} == {"llama3:8b", "qwen3:4b"}
    assert summary.id == "openwebui:c-2" and len(summary.messages) == 2


def test_reasoning_and_tool_call_blocks_are_split_into_parts_in_order() -> None:
    weather = load(export_rows(), name="export.json")[0]
    parts = weather.messages["a2"].parts
    assert [p.type for p in parts] == ["reasoning", "tool_call", "tool_result", "text"]
    assert parts[0].text == "Weather needs a tool.\nCall it." and parts[0].summary == "Thought for 3 seconds"
    assert parts[1].name == "get_weather" and parts[1].call_id == "call_1"
    assert parts[1].arguments == {"city": "Paris"} and parts[1].arguments_raw == '{"city": "Paris"}'
    assert parts[2].call_id == "call_1" and parts[2].text == "18 C, cloudy"
    assert weather.messages["a2"].text == "It is 18 C in Paris."


def test_files_become_attachment_references_and_images() -> None:
    summary = load(export_rows(), name="export.json")[1]
    question, failed = summary.active_path()
    file_ref, image = question.parts[1:]
    attachment = summary.attachments[file_ref.attachment_id]
    assert (attachment.name, attachment.kind, attachment.mime_type, attachment.size_bytes) == (
        "report.pdf", "document", "application/pdf", 2048)
    assert attachment.uri == "/api/v1/files/file-9" and not attachment.available
    assert attachment.extracted_text == "Q3"
    assert image.type == "image" and image.mime_type == "image/png" and image.url.startswith("data:image/png")
    # And an answer that failed shows its error
    assert failed.status == "error" and failed.text == "Ollama is not running"


def test_convert_and_matches_work_per_export_item() -> None:
    rows = export_rows()
    assert openwebui.matches(rows[0]) and openwebui.matches(rows[0]["chat"])
    assert not openwebui.matches({"messages": [{"role": "user", "content": "hi"}]})
    conversation = openwebui.convert(rows[1], name="/home/me/export.json", where="[1]")
    assert conversation.id == "openwebui:c-2" and conversation.source.file_name == "export.json"
    with pytest.raises(ImportFailed, match=r"^export.json: openwebui format: \[1\]\.chat\.history\.messages"):
        bad = copy.deepcopy(rows[1])
        bad["chat"]["history"]["messages"]["f2"]["parentId"] = "nope"
        openwebui.convert(bad, name="/home/me/export.json", where="[1]")


def test_legacy_chat_without_history_is_a_chain_of_its_messages() -> None:
    chat = {"title": "Old", "messages": [msg("m1", None, ["m2"], "user", "hi", 1700000000),
                                         msg("m2", "m1", [], "assistant", "hello", 1700000001, model="m")]}
    conversation = load_one(chat, name="old.json")
    assert conversation.source.format == "openwebui"
    assert [m.text for m in conversation.active_path()] == ["hi", "hello"]


def test_unknown_current_id_shows_the_latest_leaf_with_a_warning() -> None:
    rows = export_rows()
    rows[0]["chat"]["history"]["currentId"] = "gone"
    weather = load(rows, name="export.json")[0]
    assert weather.active_leaf_id == "a2" and weather.active_leaf_inferred
    assert any("currentId" in w and "gone" in w for w in weather.source.warnings)


# -- hostile input ---------------------------------------------------------------------------


def _broken(change) -> list[dict]:
    rows = export_rows()
    change(rows[0]["chat"]["history"]["messages"])
    return rows


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m["a1"].update(parentId="ghost"), r"\[0\]\.chat\.history\.messages\['a1'\]\.parentId: unknown parent"),
        (lambda m: m["u1"].update(parentId="a1"), r"parentId: cycle in the parent links"),
        (lambda m: m["a1"].update(role="wizard"), r"messages\['a1'\]\.role: expected one of user, assistant, system"),
        (lambda m: m["a1"].update(timestamp="yesterday"), r"messages\['a1'\]\.timestamp: expected a number"),
        (lambda m: m["a1"].update(content=["x"]), r"messages\['a1'\]\.content: expected a string"),
        (lambda m: m.update(u1=[]), r"messages\['u1'\]: expected an object"),
        (lambda m: m["a1"].update(files="report.pdf"), r"messages\['a1'\]\.files: expected a list"),
    ],
)
def test_broken_export_names_file_format_and_place(change, expected: str) -> None:
    with pytest.raises(ImportFailed, match=r"^export\.json: openwebui format: .*" + expected):
        load(_broken(change), name="export.json", format="openwebui")


def test_truncated_export_is_refused_with_line_and_column() -> None:
    data = json.dumps(export_rows()).encode()[:-40]
    with pytest.raises(ImportFailed, match=r"^cut\.json: invalid JSON at line 1 column \d+"):
        load(data, name="cut.json")


def test_self_parent_is_a_cycle_not_a_hang() -> None:
    chat = {"history": {"currentId": "x", "messages": {"x": msg("x", "x", ["x"], "user", "loop", 1)}}}
    with pytest.raises(ImportFailed, match=r"cycle in the parent links through message 'x'"):
        load(chat, name="loop.json")


def test_content_html_stays_text_for_the_renderer_to_escape() -> None:
    chat = {"history": {"currentId": "x", "messages": {"x": msg(
        "x", None, [], "user", '<img src=x onerror=alert(1)><details type="evil" x="1"><summary>s</summary>b</details>',
        1)}}}
    message = load_one(chat, name="xss.json").messages["x"]
    assert [p.type for p in message.parts] == ["text", "unknown"]
    assert message.parts[1].source_type == "details:evil"


def test_chat_without_messages_is_left_out_of_an_export_but_refused_alone() -> None:
    rows = export_rows()
    rows[0]["chat"]["history"] = {"messages": {}, "currentId": None}
    assert [c.id for c in load(rows, name="export.json")] == ["openwebui:c-2"]
    assert openwebui.convert(rows[0], name="export.json", where="[0]").messages == {}
    with pytest.raises(ImportFailed, match=r"^one\.json: openwebui format: chat\.history\.messages: no messages"):
        load(rows[0], name="one.json")


def test_big_export_streams_one_chat_at_a_time_and_reports_empty_chats(tmp_path: Path) -> None:
    # Given an export file whose last chat has no messages
    from jupyter_convshare.core.importers.stream import scan

    rows = export_rows() + [{"id": "c-3", "user_id": "u-7", "title": "Empty",
                             "chat": {"history": {"messages": {}, "currentId": None}}}]
    path = tmp_path / "chat-export-1.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    # When it is scanned the streaming way (per-chat convert)
    summary = scan(path).to_json()
    # Then both chats are listed with their branch counts, and the empty one is skipped with a reason
    assert summary["format"] == "openwebui"
    assert [(c["conversation_id"], c["messages"], c["branches"]) for c in summary["conversations"]] == [
        ("openwebui:c-1", 3, 2), ("openwebui:c-2", 2, 1)]
    assert summary["skipped"] == [{"where": "conversations[2]", "title": "Empty", "reason": "no messages",
                                   "conversation_id": "openwebui:c-3"}]


def test_many_unclosed_details_blocks_stay_text_without_rescanning() -> None:
    # Given content with twenty thousand unclosed <details> openers (a regex search would rescan
    # the rest of the content for each: quadratic)
    content = '<details type="reasoning"><summary>s</summary>' * 20000 + "tail"
    chat = {"history": {"currentId": "x", "messages": {"x": msg("x", None, [], "assistant", content, 1)}}}
    # When it is imported, Then it is kept as one text part
    message = load_one(chat, name="many.json").messages["x"]
    assert [p.type for p in message.parts] == ["text"] and message.text.endswith("tail")


def test_stale_legacy_message_list_is_kept_with_a_warning() -> None:
    rows = export_rows()
    rows[0]["chat"]["messages"] = [msg("u1", None, ["a1"], "user", "Weather in Paris?", 1735689601)]
    weather = load(rows, name="export.json")[0]
    assert [m.id for m in weather.active_path()] == ["u1", "a2"]  # history wins
    assert weather.extra["openwebui"]["legacy_messages"][0]["id"] == "u1"
    assert any("legacy message list differs" in w for w in weather.source.warnings)
