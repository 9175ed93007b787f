"""Importers: every real fixture of each format, the project's own fixtures, and bad input.

Real fixtures are read in place from ../shared/fixtures/real (skipped when absent); the
project's own small fixtures are in tests/fixtures/importers/.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from jupyter_convshare.core.errors import ImportFailed, InvalidRequest
from jupyter_convshare.core.exporters import export
from jupyter_convshare.core.importers import FORMATS, detect, load, load_one
from jupyter_convshare.core.model import Conversation

from .conftest import PROJECT_FIXTURES, real_fixture, real_params

OWN = PROJECT_FIXTURES / "importers"
SYSTEM_USER = "hidden::jupyter_ai_system"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def assert_linear_chain(conversation: Conversation) -> None:
    """Every message is on one chain, in time order where times are known."""
    path = conversation.active_path()
    assert len(path) == len(conversation.messages)
    assert conversation.root_ids == [path[0].id]
    for parent, child in zip(path, path[1:]):
        assert child.parent_id == parent.id
        assert parent.children_ids == [child.id]
    times = [m.created_at for m in path if m.created_at is not None]
    assert times == sorted(times)


# -- jupyterlab-chat: every real file ----------------------------------------------------


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", real_params("jupyterlab-chat/*/*.chat"))
def test_every_real_chat_file_imports_all_its_messages_as_a_time_ordered_chain(path: Path) -> None:
    # Given a real .chat file
    raw = json.loads(path.read_text(encoding="utf-8"))
    # When it is imported
    assert detect(path) == "jupyterlab-chat"
    conversation = load_one(path)
    # Then every message is there, once, on one chain in time order, with UTC times
    assert len(conversation.messages) == len(raw["messages"])
    assert set(conversation.messages) == {m["id"] for m in raw["messages"]}
    assert_linear_chain(conversation)
    assert all(m.created_at is not None and m.created_at.tzinfo is not None for m in conversation.messages.values())
    assert conversation.id == f"jupyterlab-chat:{raw['metadata']['id']}"
    assert conversation.source.original_id == raw["metadata"]["id"]
    assert conversation.source.file_name == path.name
    assert conversation.source.path is None
    assert conversation.title == path.stem
    # and every sender is a participant
    assert {m.author_id for m in conversation.messages.values()} <= set(conversation.participants)


@pytest.mark.fixtures_real
def test_real_personas_demo_maps_humans_and_personas() -> None:
    # Given the early Jupyter AI v3 personas demo (6 messages, 5 personas, 1 human)
    conversation = load_one(real_fixture("jupyterlab-chat", "jupyter-ai-contrib__jupyter-ai-personas", "demo.chat"))
    path = conversation.active_path()
    # Then humans and personas alternate, personas are jupyter-ai assistants without a model
    assert [m.role for m in path] == ["user", "assistant"] * 3
    team = conversation.participants["jupyter-ai-personas::jupyter_ai_personas::DataAnalyticsTeam"]
    assert (team.kind, team.display_name, team.provider, team.model) == ("assistant", "DataAnalyticsTeam", "jupyter-ai", None)
    assert team.avatar_url == "/api/ai/static/jupyternaut.svg"
    human = conversation.participants["23403d00652e4bbe9d7c630c8de7ef45"]
    assert (human.kind, human.display_name) == ("human", "Anonymous Carpo")
    # a user without the ``bot`` flag keeps its leftovers namespaced
    assert human.extra["jupyterlab-chat"]["mention_name"] == "@Anonymous-Carpo"
    assert len(conversation.participants) == 6
    # mentions and times
    assert path[0].mentions == ["jupyter-ai-personas::jupyter_ai_personas::DataAnalyticsTeam"]
    assert path[0].text == "@DataAnalyticsTeam hi"
    assert path[0].created_at == datetime.fromtimestamp(1751578921.679969, tz=timezone.utc)
    assert path[-1].text.startswith("I'll help you create a visualization")
    # code blocks in the body are kept verbatim
    assert "```\nimport pandas as pd" in path[2].text


@pytest.mark.fixtures_real
def test_real_workshop_chat_keeps_the_deleted_tombstone_and_the_system_user() -> None:
    # Given the workshop chat: a deleted message, System messages from an unlisted sender
    conversation = load_one(
        real_fixture("jupyterlab-chat", "gogorogon__jupytercon2025-extension-workshop", "test.chat")
    )
    path = conversation.active_path()
    assert len(path) == 26
    # Then the tombstone stays in the chain, marked deleted, without content
    deleted = conversation.messages["827f6b1a-e79a-4203-b0dd-0c7454629e51"]
    assert deleted.status == "deleted" and deleted.parts == [] and path[2] is deleted
    # and the system user's messages are hidden system messages
    system_messages = [m for m in path if m.author_id == SYSTEM_USER]
    assert len(system_messages) == 12
    assert all(m.role == "system" and m.hidden for m in system_messages)
    assert conversation.participants[SYSTEM_USER].kind == "system"
    assert conversation.participants[SYSTEM_USER].display_name == "System"
    # the sender missing from ``users`` is tolerated with a warning
    assert any(SYSTEM_USER in w and "unknown user" in w for w in conversation.source.warnings)
    # tracebacks and non-ASCII text are kept
    assert "SyntaxError: unterminated string literal" in path[6].text
    assert path[22].text == "@Ollama 今日の天気は"
    assert path[23].role == "assistant" and path[23].author_id == "jupyter-ai-personas::ollama_persona::MyLocalPersona"
    assert path[-1].text == "Refreshed all AI personas in this chat."
    assert conversation.created_at == path[0].created_at and conversation.updated_at == path[-1].created_at


@pytest.mark.fixtures_real
def test_real_acp_chat_turns_tool_call_messages_into_tool_parts() -> None:
    # Given an ACP persona chat with tool-call-only messages
    conversation = load_one(real_fixture("jupyterlab-chat", "chenTracy25__codespace", "untitled.chat"))
    path = conversation.active_path()
    assert [m.role for m in path] == ["user", "assistant", "user", "assistant", "assistant", "user", "assistant", "assistant"]
    # Then the empty-body message holds tool_call + tool_result parts
    first_tools = path[3]
    assert [p.type for p in first_tools.parts] == ["tool_call", "tool_result", "tool_call", "tool_result"]
    call = first_tools.parts[0]
    assert (call.call_id, call.name, call.status) == ("call_bddf30db9c2c47f3ad04f9ba", "glob", "completed")
    assert call.arguments == {"pattern": "**/opencode-demo.ipynb"}
    assert call.extra["jupyterlab-chat"]["kind"] == "search"
    result = first_tools.parts[1]
    assert result.call_id == call.call_id and result.text == "/workspaces/codespace/opencode-demo.ipynb"
    assert result.data["metadata"]["count"] == 1.0 and result.is_error is False
    assert len([p for p in path[6].parts if p.type == "tool_call"]) == 3
    # the human's request metadata and the chat's ACP sessions are kept
    assert path[0].extra["jupyterlab-chat"]["metadata"]["to_persona"].endswith("OpenCodeAcpPersona")
    assert conversation.extra["jupyterlab-chat"]["metadata"]["acp_session_ids"] == {
        "jupyter-ai-personas::jupyter_ai_acp_client::OpenCodeAcpPersona": "ses_ef333bd54ffeazHGKN9L5eEnN7"
    }
    assert path[-1].text == "Done. Removed both empty cells; 2 cells remain."
    assert conversation.participants["8b89cae240ed443cb147b29fb3400a3a"].display_name == "Anonymous Helike"


@pytest.mark.fixtures_real
def test_real_notebook_attachment_becomes_a_reference() -> None:
    # Given a chat whose second message carries only a notebook attachment
    conversation = load_one(real_fixture("jupyterlab-chat", "mrsmmori1234__notebooks_rep", "untitled.chat"))
    path = conversation.active_path()
    assert len(path) == 11 and all(m.role == "user" for m in path)
    # Then the attachment is a reference, not read, with its cells
    attachment = conversation.attachments["3cfac072-28e0-4fe7-bf1f-e04475b730a8"]
    assert attachment.kind == "notebook"
    assert (attachment.uri, attachment.name, attachment.available) == ("notebooks/_SGX.ipynb", "_SGX.ipynb", False)
    assert attachment.mime_type == "application/x-ipynb+json"
    assert attachment.cells == [{"id": "24d0b9b6-d9e6-4d54-bb92-78a44dfc09be", "cell_type": "code"}]
    assert [(p.type, p.attachment_id) for p in path[1].parts] == [("file_ref", attachment.id)]
    assert path[0].text == "dfを分析したい。" and path[-1].text == "tets"
    # the Copilot persona never spoke but is listed
    assert conversation.participants["jupyter-ai-personas::jupyter_ai_acp_client::CopilotAcpPersona"].kind == "assistant"


@pytest.mark.fixtures_real
def test_real_edited_message_with_file_attachment() -> None:
    # Given a two-message chat whose second message was edited and has a file attached
    conversation = load_one(real_fixture("jupyterlab-chat", "Naren1122__Road_To_Data_Science_Python", "untitled.chat"))
    first, second = conversation.active_path()
    assert (first.edited, second.edited) == (False, True)
    assert second.text == "can u fix the code"
    attachment = conversation.attachments["5e4084b1-4955-4cd8-a919-608948bf9dc4"]
    assert (attachment.kind, attachment.uri, attachment.name) == ("file", "inheritance/Untitled.ipynb", "Untitled.ipynb")
    assert [p.type for p in second.parts] == ["text", "file_ref"]
    assert second.created_at == datetime.fromtimestamp(1781233009.1674514, tz=timezone.utc)


@pytest.mark.fixtures_real
def test_real_old_file_without_bot_flags_classifies_personas_by_prefix() -> None:
    # Given a May 2025 file: users have no ``bot`` flag
    conversation = load_one(real_fixture("jupyterlab-chat", "Abigayle-Mercer__test_repo", "test.chat"))
    path = conversation.active_path()
    assert len(path) == 19
    # Then personas are recognised by their username prefix
    persona = conversation.participants["jupyter-ai-personas::test_ai_persona::AINotebookCollaborator"]
    assert (persona.kind, persona.display_name, persona.provider) == ("assistant", "AI Collaborator", "jupyter-ai")
    assert conversation.participants["a9bc206a3a4e428cbefc252b3f834837"].kind == "human"
    assert sum(m.role == "assistant" for m in path) == 11 and sum(m.role == "user" for m in path) == 8
    assert path[6].text == "❌ Could not find your active notebook!"
    assert path[-1].text.startswith("@AI-Collaborator can you explore list comprehension")


@pytest.mark.fixtures_real
def test_real_chat_with_only_human_mentions() -> None:
    # Given a chat where the human mentions an ACP persona that never answered
    conversation = load_one(
        real_fixture("jupyterlab-chat", "geojupyter__prototype-map2cell-ipyopenlayers", "untitled.chat")
    )
    path = conversation.active_path()
    assert [m.text for m in path] == [
        "Read the code in cell 2 and suggest how I can integrate the shape defined there with the code in the rest of my notebook.",
        "@Copilot ",
        "@Copilot test",
    ]
    assert path[1].mentions == ["jupyter-ai-personas::jupyter_ai_acp_client::CopilotAcpPersona"]
    copilot = conversation.participants["jupyter-ai-personas::jupyter_ai_acp_client::CopilotAcpPersona"]
    assert copilot.extra["jupyterlab-chat"]["mention_name"] == "Copilot"


# -- jupyterlab-chat: the project's own fixture ------------------------------------------


@pytest.fixture(scope="module")
def features() -> Conversation:
    return load_one(OWN / "features.chat")


def test_own_chat_is_sorted_by_time_not_file_order(features: Conversation) -> None:
    # Given m3 written before m2 in the file but later in time
    # Then the chain follows the clock
    assert [m.id for m in features.active_path()] == [f"m{i}" for i in range(1, 10)]
    assert_linear_chain(features)
    assert features.messages["m1"].created_at == datetime(2026, 5, 28, 20, 26, 40, 250000, tzinfo=timezone.utc)


def test_own_chat_attachments_are_references_with_selection_and_cells(features: Conversation) -> None:
    file_att = features.attachments["att-file"]
    assert (file_att.kind, file_att.uri, file_att.name, file_att.mime_type) == ("file", "src/load.py", "load.py", "text/x-python")
    assert file_att.selection == {"start": [0, 0], "end": [1, 13], "content": "def load():\n    return 42"}
    notebook = features.attachments["att-nb"]
    assert notebook.kind == "notebook"
    assert notebook.cells == [{"id": "c-1", "cell_type": "code"}, {"id": "c-2", "cell_type": "markdown"}]
    # an attachment no message refers to is kept too
    assert features.attachments["att-unused"].uri == "data/raw.csv"
    assert [p.attachment_id for p in features.messages["m1"].parts if p.type == "file_ref"] == ["att-file", "att-nb"]


def test_own_chat_tool_calls_failed_and_pending(features: Conversation) -> None:
    parts = features.messages["m3"].parts
    assert [p.type for p in parts] == ["tool_call", "tool_result", "tool_call", "tool_result", "tool_call"]
    assert parts[0].extra["jupyterlab-chat"] == {"kind": "read", "locations": [{"path": "src/load.py", "line": 1}]}
    assert parts[3].is_error is True and parts[3].text == "1 failed"
    assert parts[4].status == "in_progress" and parts[4].arguments == {}


def test_own_chat_flags_roles_and_unknown_keys(features: Conversation) -> None:
    m = features.messages
    assert m["m4"].edited and m["m5"].status == "deleted" and m["m5"].parts == []
    # the HTML error block is kept as text; the renderer sanitises it
    assert m["m6"].status == "error" and '<details class="jp-jai-error-details">' in m["m6"].text
    assert (m["m7"].role, m["m7"].hidden) == ("system", True)
    # an old persona without ``bot`` is an assistant
    assert m["m8"].role == "assistant"
    assert features.participants["jupyter-ai-personas::legacy_pkg::OldPersona"].provider == "jupyter-ai"
    bundle = m["m8"].parts[0]
    assert bundle.type == "mime_bundle" and bundle.data["text/markdown"] == "**Plot** ready"
    assert bundle.metadata == {"isolated": True} and bundle.extra == {"jupyterlab-chat": {"trusted": False}}
    assert m["m8"].extra["jupyterlab-chat"]["stacked"] is True
    # an unknown sender is tolerated, with a warning
    assert features.participants["ghost-user"].kind == "human"
    assert features.source.warnings == ["messages[8].sender: unknown user 'ghost-user' (not in users)"]
    # unknown top-level keys and chat metadata are kept
    assert features.extra["jupyterlab-chat"]["future_key"] == {"kept": True}
    assert features.extra["jupyterlab-chat"]["metadata"]["acp_session_ids"]
    assert features.id == "jupyterlab-chat:7d0c6a39-5d0e-4b67-9c0e-3c7b1e2f4a55"
    # the XSS-looking body is kept verbatim (escaping is the viewer's job)
    assert "<script>alert(1)</script>" in m["m1"].text


def test_chat_document_as_bytes_and_as_object() -> None:
    raw = (OWN / "features.chat").read_bytes()
    from_bytes = load_one(raw, name="notes/features.chat")
    assert from_bytes.title == "features" and from_bytes.source.file_name == "features.chat"
    from_object = load_one(json.loads(raw))
    assert from_object.title is None and from_object.source.file_name is None
    assert len(from_object.messages) == len(from_bytes.messages) == 9


def test_chat_without_metadata_id_gets_a_fresh_uuid() -> None:
    doc = {"messages": [], "users": {}}
    first, second = load_one(doc, name="a.chat"), load_one(doc, name="a.chat")
    assert first.id != second.id and len(first.id) == 36
    assert first.messages == {} and first.active_leaf_id is None


# -- OpenAI Chat Completions ------------------------------------------------------------


@pytest.mark.fixtures_real
def test_real_openai_jsonl_gives_four_conversations() -> None:
    # Given the eval-builder JSONL: four records, one a request/response wrapper
    path = real_fixture("api-messages", "Abelo9996__eval-builder", "openai_chat.jsonl")
    assert detect(path) == "openai-chat"
    conversations = load(path)
    # Then one conversation per line
    assert [len(c.messages) for c in conversations] == [3, 4, 2, 2]
    assert [c.title for c in conversations] == [f"openai_chat ({i}/4)" for i in range(1, 5)]
    for conversation in conversations:
        assert_linear_chain(conversation)
        assert list(conversation.messages) == [str(i) for i in range(1, len(conversation.messages) + 1)]
        assert all(m.created_at is None for m in conversation.messages.values())
    support, weather, wrapped, failed = conversations
    assert [m.role for m in support.active_path()] == ["system", "user", "assistant"]
    assert support.extra["openai-chat"]["metadata"] == {"route": "account", "feedback": "thumbs_up"}
    # content: null with tool_calls, and the tool answer
    call_message = weather.messages["2"]
    assert [p.type for p in call_message.parts] == ["tool_call"]
    call = call_message.parts[0]
    assert (call.call_id, call.name, call.arguments, call.arguments_raw) == (
        "c1", "get_weather", {"city": "Paris"}, '{"city": "Paris"}'
    )
    tool = weather.messages["3"]
    assert (tool.role, tool.author_id, tool.parts[0].type, tool.parts[0].call_id, tool.parts[0].text) == (
        "tool", "tool", "tool_result", "c1", "18C, cloudy"
    )
    assert weather.messages["4"].text == "It's 18C and cloudy in Paris."
    # request/response: the response message is appended, model from the request
    assert [m.text for m in wrapped.active_path()][-1] == "Please rotate that key now."
    assert wrapped.participants["assistant"].provider == "openai"
    assert wrapped.participants["assistant"].model == "gpt-4o-mini"
    assert wrapped.source.original_id == "req-3"
    assert wrapped.extra["openai-chat"]["user_feedback"] == "down"
    assert "jane.doe@example.com" in wrapped.messages["1"].text
    assert failed.extra["openai-chat"]["error"] == "TimeoutError: upstream"
    assert set(weather.participants) == {"user", "assistant", "tool"}


def test_own_openai_record_maps_every_content_kind() -> None:
    conversation = load_one(OWN / "openai_tools.json")
    m = conversation.messages
    assert len(m) == 11
    assert (m["1"].role, m["1"].author_id) == ("developer", "system")
    assert m["2"].text == "You can call tools."
    user_parts = m["3"].parts
    assert [p.type for p in user_parts] == ["text", "image", "file_ref", "file_ref"]
    assert user_parts[1].url.startswith("data:image/png;base64,") and user_parts[1].mime_type == "image/png"
    assert user_parts[1].extra == {"openai-chat": {"detail": "low"}}
    audio, document = (conversation.attachments[p.attachment_id] for p in user_parts[2:])
    assert (audio.kind, audio.name, audio.mime_type, audio.available) == ("audio", "audio-1.wav", "audio/wav", False)
    assert (document.kind, document.name, document.mime_type) == ("document", "report.pdf", "application/pdf")
    assert m["3"].extra["openai-chat"] == {"name": "ana"}
    # double-encoded arguments are decoded twice; broken JSON stays a string
    double, broken = m["4"].parts
    assert double.arguments == {"detail": "high"} and double.arguments_raw == '"{\\"detail\\": \\"high\\"}"'
    assert broken.arguments == "{not json" and broken.arguments_raw == "{not json"
    assert m["6"].parts[0].text == "error: bad arguments"
    # legacy function_call and function role
    assert (m["7"].parts[0].name, m["7"].parts[0].arguments, m["7"].parts[0].call_id) == ("lookup", {"q": "mat"}, None)
    assert (m["8"].role, m["8"].parts[0].name, m["8"].parts[0].text) == ("tool", "lookup", "a floor covering")
    assert m["11"].parts[0].extra == {"openai-chat": {"refusal": True}}
    assert conversation.participants["assistant"].model == "gpt-4o-2024-08-06"
    assert conversation.extra["openai-chat"]["tools"][0]["function"]["name"] == "describe"


def test_python_message_list_is_one_conversation() -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert detect(messages) == "openai-chat"
    conversation = load_one(messages)
    assert [m.text for m in conversation.active_path()] == ["hi", "hello"]
    assert conversation.title is None and conversation.source.format == "openai-chat"
    assert conversation.participants["assistant"].provider == "openai"


def test_response_with_created_time_keeps_it() -> None:
    record = {
        "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "2+2?"}]},
        "response": {"id": "chatcmpl-1", "created": 1780000000, "model": "gpt-4o-2024-08-06",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}],
                     "usage": {"total_tokens": 9}},
    }
    conversation = load_one(record)
    answer = conversation.messages["2"]
    assert answer.created_at == datetime.fromtimestamp(1780000000, tz=timezone.utc)
    assert answer.model == "gpt-4o-2024-08-06" and conversation.messages["1"].created_at is None
    assert answer.extra["openai-chat"]["response"]["choice"]["finish_reason"] == "stop"
    assert conversation.source.original_id == "chatcmpl-1"


def test_jsonl_without_extension_is_recognised() -> None:
    lines = b'{"messages": [{"role": "user", "content": "a"}]}\n{"messages": [{"role": "user", "content": "b"}]}\n'
    conversations = load(lines, name="log.txt")
    assert [c.messages["1"].text for c in conversations] == ["a", "b"]


# -- Anthropic Messages -----------------------------------------------------------------


@pytest.mark.fixtures_real
def test_real_anthropic_file_gives_two_conversations() -> None:
    # Given the eval-builder Anthropic file: a list of two records
    path = real_fixture("api-messages", "Abelo9996__eval-builder", "anthropic_messages.json")
    assert detect(path) == "anthropic"
    haiku, math = load(path)
    # Then the first (request/response) has the system string, the user turn and the response
    assert [m.role for m in haiku.active_path()] == ["system", "user", "assistant"]
    assert haiku.messages["1"].text == "You are a coding assistant."
    assert haiku.messages["3"].text.startswith("Red then green again,")
    assert haiku.messages["3"].model == "claude-sonnet-4-5"
    assert haiku.participants["assistant"].provider == "anthropic"
    assert haiku.source.original_id == "msg_01"
    assert haiku.messages["3"].extra["anthropic"]["stop_reason"] == "end_turn"
    # the second has system blocks, a tool_use and a tool-result-only user turn (role tool)
    assert [m.role for m in math.active_path()] == ["system", "user", "assistant", "tool", "assistant"]
    assert math.messages["1"].text == "Use tools when needed."
    assert [p.type for p in math.messages["3"].parts] == ["text", "tool_call"]
    call = math.messages["3"].parts[1]
    assert (call.call_id, call.name, call.arguments) == ("tu1", "calculator", {"expr": "17*23"})
    result = math.messages["4"].parts[0]
    assert (result.type, result.call_id, result.text) == ("tool_result", "tu1", "391")
    assert math.messages["5"].text == "17 * 23 = 391."
    assert math.extra["anthropic"]["metadata"] == {"route": "math", "rating": 5}
    assert math.participants["assistant"].model == "claude-sonnet-4-5"
    assert set(math.participants) == {"system", "user", "assistant", "tool"}


def test_own_anthropic_wrapper_maps_every_block_kind() -> None:
    conversation = load_one(OWN / "anthropic_blocks.json")
    m = conversation.messages
    assert [x.role for x in conversation.active_path()] == ["system", "user", "assistant", "tool", "assistant"]
    assert m["1"].parts[0].extra == {"anthropic": {"cache_control": {"type": "ephemeral"}}}
    image = m["2"].parts[1]
    assert image.url == "data:image/png;base64,iVBORw0KGgo=" and image.mime_type == "image/png"
    document = conversation.attachments[m["2"].parts[2].attachment_id]
    assert (document.kind, document.name, document.extracted_text, document.mime_type) == (
        "document", "notes.txt", "Meeting at 10.", "text/plain"
    )
    thinking, redacted, call = m["3"].parts
    assert thinking.type == "reasoning" and thinking.text == "I should check the calendar."
    assert redacted.redacted and redacted.extra == {"anthropic": {"data": "ENCRYPTED"}}
    assert call.arguments == {"day": "today"}
    assert m["4"].parts[0].is_error and m["4"].status == "error" and m["4"].parts[0].text == "no access"
    text, citation = m["5"].parts
    assert citation.type == "citation" and citation.text == "Meeting at 10." and citation.title == "notes.txt"
    assert m["5"].model == "claude-sonnet-4-5-20250929"
    assert conversation.source.original_id == "msg_01XYZ"
    assert conversation.extra["anthropic"]["request"] == {"max_tokens": 1024}


def test_explicit_format_overrides_detection() -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    conversation = load_one(messages, format="anthropic")
    assert conversation.source.format == "anthropic"
    assert conversation.participants["assistant"].provider == "anthropic"


# -- agent transcripts are not misread as API message lists -------------------------------


@pytest.mark.fixtures_real
@pytest.mark.parametrize(
    ("parts", "fmt"),
    [
        (("api-messages", "daaain__claude-code-log", "representative_messages.jsonl"), "claude-code"),
        (("api-messages", "Sinity__polylogue", "codex-session.jsonl"), "codex"),
    ],
)
def test_agent_transcripts_are_detected_as_their_tool_not_as_message_lists(parts: tuple[str, ...], fmt: str) -> None:
    path = real_fixture(*parts)
    assert detect(path) == fmt
    assert [c.source.format for c in load(path)] == [fmt]


# -- convshare/1 -------------------------------------------------------------------------


def test_own_convshare_file_keeps_branches() -> None:
    conversation = load_one(OWN / "branching.json")
    assert detect(OWN / "branching.json") == "convshare"
    assert conversation.messages["1"].children_ids == ["2", "3"]
    assert [m.id for m in conversation.active_path()] == ["1", "3", "4"]
    assert conversation.source.format == "demo" and conversation.source.file_name == "branching.json"


@pytest.mark.parametrize("fixture", ["features.chat", "openai_tools.json", "anthropic_blocks.json", "branching.json"])
def test_json_export_imports_back_exactly(fixture: str) -> None:
    original = load_one(OWN / fixture)
    again = load_one(export(original, "json"), name="copy.json")
    assert again.to_dict() == original.to_dict()


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", real_params("jupyterlab-chat/*/*.chat") + real_params("api-messages/Abelo9996__*/*"))
def test_real_fixtures_round_trip_through_json(path: Path) -> None:
    for original in load(path):
        assert load_one(export(original, "json")).to_dict() == original.to_dict()


# -- malformed input ---------------------------------------------------------------------


def chat_with(message_changes: dict) -> dict:
    good = {"type": "msg", "id": "a", "body": "hi", "time": 1780000000.0, "sender": "u"}
    bad = {k: v for k, v in {**good, **message_changes}.items() if v is not ...}
    return {"messages": [dict(good, id="x"), dict(good, id="y"), bad], "users": {}, "metadata": {"id": "z"}}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"time": "yesterday"}, "untitled.chat: jupyterlab-chat format: messages[2].time: expected a number, got a string"),
        ({"time": ...}, "untitled.chat: jupyterlab-chat format: messages[2].time: missing field"),
        ({"body": 42}, "untitled.chat: jupyterlab-chat format: messages[2].body: expected a string, got a number"),
        ({"sender": None}, "untitled.chat: jupyterlab-chat format: messages[2].sender: expected a string, got null"),
        ({"deleted": "yes"}, "untitled.chat: jupyterlab-chat format: messages[2].deleted: expected true or false"),
        ({"attachments": "a.txt"}, "untitled.chat: jupyterlab-chat format: messages[2].attachments: expected a list"),
        ({"time": 1e300}, "untitled.chat: jupyterlab-chat format: messages[2].time: time 1e+300 is out of range"),
    ],
)
def test_wrong_field_in_a_chat_names_file_format_and_field(changes: dict, expected: str) -> None:
    data = json.dumps(chat_with(changes)).encode()
    with pytest.raises(ImportFailed) as info:
        load(data, name="untitled.chat")
    assert str(info.value).startswith(expected)
    assert info.value.field == expected.split(": ")[2]
    assert info.value.status == 400 and info.value.to_json()["reason"] == "import_failed"


def test_duplicate_message_ids_in_a_chat_are_refused() -> None:
    doc = chat_with({})
    doc["messages"][1]["id"] = "x"
    with pytest.raises(ImportFailed, match=r"messages\[1\]\.id: duplicate message id 'x' \(also messages\[0\]\)"):
        load(doc, name="dup.chat")


def test_chat_without_messages_list_is_refused() -> None:
    with pytest.raises(ImportFailed, match="broken.chat: jupyterlab-chat format: messages: missing field"):
        load(b'{"users": {}}', name="broken.chat")
    with pytest.raises(ImportFailed, match="messages: expected a list, got an object"):
        load(b'{"messages": {}, "users": {}}', name="broken.chat")


def test_truncated_json_names_line_and_column() -> None:
    text = (OWN / "features.chat").read_bytes()[:200]
    with pytest.raises(ImportFailed) as info:
        load(text, name="untitled.chat")
    message = str(info.value)
    assert message.startswith("untitled.chat: jupyterlab-chat format: invalid JSON at line ")
    assert "column" in message


def test_truncated_jsonl_names_the_line() -> None:
    data = b'{"messages": [{"role": "user", "content": "a"}]}\n{"messages": [{"role": "us'
    with pytest.raises(ImportFailed, match=r"^log\.jsonl: invalid JSON at line 2 column \d+"):
        load(data, name="log.jsonl")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([{"role": "robot", "content": "x"}], "openai-chat format: [0].role: expected one of"),
        ({"messages": [{"role": "user"}]}, None),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]},
         "openai-chat format: messages[0].content[0].text: missing field"),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function", "function": {"arguments": "{}"}}]}]},
         "openai-chat format: messages[0].tool_calls[0].function.name: missing field"),
        ({"request": {"messages": [{"role": "user", "content": "x"}]}, "response": {"choices": []}},
         "openai-chat format: response.choices: empty list"),
        ({"messages": []}, "openai-chat format: messages: no messages"),
    ],
)
def test_wrong_openai_input_names_the_field(data: object, expected: str | None) -> None:
    if expected is None:
        # content missing on a user message is tolerated as "no content"
        assert load_one(data).messages["1"].parts == []
        return
    with pytest.raises(ImportFailed) as info:
        load(data)
    assert str(info.value).startswith(f"<object>: {expected}")


def test_wrong_line_in_jsonl_is_named() -> None:
    data = b'{"messages": [{"role": "user", "content": "a"}]}\n{"messages": [{"role": 7, "content": "b"}]}\n'
    with pytest.raises(ImportFailed, match=r"^chat\.jsonl: openai-chat format: line 2: messages\[0\]\.role: expected a string"):
        load(data, name="chat.jsonl")


def test_wrong_anthropic_block_names_the_field() -> None:
    data = {"system": "s", "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}]}
    with pytest.raises(ImportFailed, match=r"anthropic format: messages\[0\]\.content\[0\]\.source\.data: missing field"):
        load(data)
    with pytest.raises(ImportFailed, match=r"anthropic format: messages\[0\]\.role: expected one of user, assistant"):
        load({"system": "s", "messages": [{"role": "tool", "content": "x"}]})


def test_unknown_format_name_is_refused() -> None:
    with pytest.raises(InvalidRequest) as info:
        load([{"role": "user", "content": "x"}], format="no-such-format")
    assert info.value.field == "format"


def test_unrecognised_content_names_the_file() -> None:
    with pytest.raises(ImportFailed, match="notes.json: unrecognised conversation format"):
        load(b'{"hello": "world"}', name="notes.json")
    with pytest.raises(ImportFailed, match="<object>: unrecognised conversation format"):
        detect({"rows": []})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty.json: empty file"),
        (b"\xff\xfe{", "empty.json: not UTF-8 text"),
        (b'{"schema": "convshare/1", "id": "a", "id": "b"}', "empty.json: duplicate key 'id'"),
        (b'[{"role": "user", "content": NaN}]', "empty.json: NaN is not valid JSON"),
        (b"[" * 100000, "empty.json: JSON nested too deeply"),
    ],
)
def test_undecodable_bytes_are_refused(data: bytes, expected: str) -> None:
    with pytest.raises(ImportFailed, match="^" + expected.replace("(", r"\(")):
        load(data, name="empty.json")


def test_missing_file_names_only_its_base_name(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed) as info:
        load(tmp_path / "secret-dir" / "gone.chat")
    assert str(info.value).startswith("gone.chat: cannot read the file")
    assert str(tmp_path) not in str(info.value)


def valid_convshare() -> dict:
    return json.loads((OWN / "branching.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(schema="convshare/2"), "schema: unsupported schema 'convshare/2'"),
        (lambda d: d["messages"]["2"].update(created_at="yesterday"), "messages['2']: Invalid isoformat string"),
        (lambda d: d["messages"]["2"].update(colour="red"), "messages['2']: Message: unknown field(s) ['colour']"),
        (lambda d: d["messages"]["2"].update(role="robot"), "messages['2'].role: expected one of"),
        (lambda d: d["messages"]["2"].update(parent_id="9"), "messages['2'].parent_id: unknown message '9'"),
        (lambda d: d["messages"]["3"]["parts"][2].update(attachment_id="nope"),
         "messages['3'].parts[2].attachment_id: unknown attachment 'nope'"),
        (lambda d: d.update(active_leaf_id="99"), "active_leaf_id: unknown message '99'"),
        (lambda d: d.pop("source"), "source: missing field"),
        (lambda d: d["participants"]["u"].update(kind="alien"), "participants['u'].kind: expected one of"),
    ],
)
def test_invalid_convshare_names_the_field(mutate, expected: str) -> None:
    data = valid_convshare()
    mutate(data)
    with pytest.raises(ImportFailed) as info:
        load(json.dumps(data).encode(), name="share.json")
    assert str(info.value).startswith(f"share.json: convshare format: {expected}")


def test_cycle_in_convshare_parent_links_is_refused() -> None:
    # Given messages 1 and 2 that are each other's parent (and 1 no longer a root)
    data = valid_convshare()
    data["messages"] = {
        "1": {"id": "1", "role": "user", "author_id": "u", "parent_id": "2", "children_ids": ["2"]},
        "2": {"id": "2", "role": "assistant", "author_id": "a", "parent_id": "1", "children_ids": ["1"]},
    }
    data["root_ids"] = []
    data["active_leaf_id"] = None
    data["attachments"] = {}
    with pytest.raises(ImportFailed, match=r"share\.json: convshare format: messages\['1'\]\.parent_id: cycle"):
        load(json.dumps(data).encode(), name="share.json")


def test_load_one_requires_index_for_several_conversations() -> None:
    path = OWN / "two.jsonl"
    with pytest.raises(ImportFailed) as info:
        load_one(path)
    assert info.value.field == "index" and "holds 2 conversations" in str(info.value)
    assert load_one(path, index=1).messages["1"].text == "second"
    with pytest.raises(ImportFailed, match="index 2 out of range"):
        load_one(path, index=2)


def test_format_registry_lists_the_four_formats() -> None:
    assert list(FORMATS)[:4] == ["jupyterlab-chat", "openai-chat", "anthropic", "convshare"]
    assert {"chatgpt", "claude-ai"} <= set(FORMATS)  # whole-export importers (test_import_chatgpt/claude_ai)


def test_jsonl_is_refused_for_a_single_document_format() -> None:
    with pytest.raises(ImportFailed, match="two.jsonl: jupyterlab-chat format: JSONL input"):
        load(OWN / "two.jsonl", format="jupyterlab-chat")


def test_attachment_paths_outside_the_root_are_kept_with_a_warning() -> None:
    doc = {"messages": [], "users": {}, "attachments": {
        "a": {"type": "file", "value": "../../etc/passwd"},
        "b": {"type": "file", "value": "/home/me/.ssh/id_rsa"},
    }}
    conversation = load_one(doc, name="x.chat")
    assert conversation.attachments["a"].name == "passwd" and conversation.attachments["b"].name == "id_rsa"
    assert len([w for w in conversation.source.warnings if "not a path inside the Jupyter root" in w]) == 2


def test_time_in_utc_is_exact(features: Conversation) -> None:
    assert features.messages["m9"].created_at == utc("2026-05-28T20:27:50")
