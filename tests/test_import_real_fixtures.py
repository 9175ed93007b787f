"""Every real file of ../shared/fixtures/real, checked the way a person would check an import.

One row per file: the format detected, how many conversations and messages (every branch),
the roles, the branches, the active path (its first and last shown text and the first shown
time), the models and the attachments. The per-format test files go deeper (tool calls,
reasoning, hidden nodes); this table makes sure no fixture is left without these checks:
a file added to ../shared without a row fails :func:`test_every_real_fixture_has_a_row`.
Files are read in place (skipped, saying so, when ../shared is absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from jupyter_convshare.core.importers import detect, load
from jupyter_convshare.core.model import Conversation, format_time

from .conftest import REAL, real_fixture, real_fixtures


@dataclass(frozen=True)
class Expected:
    """What a person checks in one real file.

    ``first`` / ``last`` / ``at`` / ``shown_roles`` are about the shown (not hidden) messages
    of the active path of the conversation with the most messages; ``None`` for ``at``
    means the source has no time there.
    """

    format: str
    messages: tuple[int, ...]  # per conversation, every branch
    branches: tuple[int, ...]  # leaves per conversation
    roles: frozenset[str]  # over the whole file
    shown_roles: tuple[str, ...]  # first shown messages of the active path, in order
    first: str  # start of the first shown text
    last: str  # start of the last shown text
    at: str | None  # first shown message's time, ISO UTC
    models: frozenset[str]
    attachments: int  # over the whole file
    inferred: bool = False  # active leaf inferred (the source has no pointer)


ALL = frozenset({"user", "assistant", "system", "tool"})

ROWS: dict[str, Expected] = {
    "api-messages/Abelo9996__eval-builder/anthropic_messages.json": Expected(
        "anthropic", (3, 5), (1, 1), ALL, ("system", "user", "assistant", "tool", "assistant"),
        "Use tools when needed.", "17 * 23 = 391.", None, frozenset({"claude-sonnet-4-5"}), 0),
    "api-messages/Abelo9996__eval-builder/openai_chat.jsonl": Expected(
        "openai-chat", (3, 4, 2, 2), (1, 1, 1, 1), ALL, ("user", "assistant", "tool", "assistant"),
        "What's the weather in Paris?", "It's 18C and cloudy in Paris.", None, frozenset({"gpt-4o-mini"}), 0),
    "api-messages/Sinity__polylogue/codex-session.jsonl": Expected(
        "codex", (2,), (1,), frozenset({"user", "assistant"}), ("user", "assistant"),
        "Prove the parser claim.", "The production route parsed this witness", "2026-08-01T10:00:01.000000Z",
        frozenset(), 0),
    "api-messages/daaain__claude-code-log/representative_messages.jsonl": Expected(
        "claude-code", (11,), (1,), frozenset({"user", "assistant", "tool"}), ("user", "assistant"),
        "Hello Claude! Can you help me understand", "This is really helpful! Let me try to implement",
        "2025-06-14T10:00:00.000000Z", frozenset({"claude-3-sonnet-20240229"}), 0),
    "chatgpt/Sinity__polylogue/native-conversation-v1.json": Expected(
        "chatgpt", (8,), (2,), ALL, ("user", "assistant"),
        "Analyze the attached fixture and create", "Final answer.", "2026-07-16T01:15:40.000000Z",
        frozenset({"gpt-5-6-pro"}), 3),
    "chatgpt/pionxzh__chatgpt-exporter/image-generation.json": Expected(
        "chatgpt", (24,), (3,), frozenset({"user", "assistant", "tool"}), ("user", "tool", "user", "tool"),
        "question 1", "", None, frozenset({"gpt-5-4-auto-thinking", "gpt-5-4-thinking", "gpt-5-6-thinking"}), 5),
    "chatgpt/pkuppens__my_chat_gpt/conversations.json": Expected(
        "chatgpt", (16, 13, 7, 3, 2, 5), (2, 1, 1, 1, 1, 1), ALL, ("user", "assistant"),
        "I want you to act as a business logo des", "Sure, here's a text description of the l",
        "2023-03-29T06:57:16.387153Z",
        frozenset({"gpt-4", "gpt-4-browsing", "gpt-4-plugins", "text-davinci-002-render-sha"}), 0),
    "chatgpt/realazthat__chatgpt2graph/conversations.json": Expected(
        "chatgpt", (44,), (1,), ALL, ("user", "assistant", "assistant", "assistant", "assistant", "user"),
        "given two random independent variables x", "Here's the updated graph with the mean s",
        "2023-09-21T19:57:53.969279Z", frozenset({"gpt-4-code-interpreter"}), 7),
    "chatgpt/yetanotherchris__openwebui-importer/gpt_example.json": Expected(
        "chatgpt", (12,), (1,), frozenset({"user", "assistant", "system"}), ("user", "assistant") * 3,
        "Can you explain how photosynthesis works", "Forests, like ponds, are not sentient",
        "2025-06-21T20:24:43.102000Z", frozenset({"gpt-4o"}), 0),
    "claude/Gsunny45__Claude_Vault/conversations.json": Expected(
        "claude-ai", (10, 16, 5), (1, 1, 2), frozenset({"user", "assistant"}), ("user", "assistant") * 3,
        "something heavy is eating all my memory", " Hey. That's real and it makes sense.",
        "2026-03-04T13:05:21.213163Z", frozenset(), 1, inferred=True),
    "claude/yetanotherchris__openwebui-importer/claude_thinking_example.json": Expected(
        "claude-ai", (2,), (1,), frozenset({"user", "assistant"}), ("user", "assistant"),
        "Can you greet me?", "Hello there! It's great to hear from you", "2025-01-01T00:00:01.000000Z",
        frozenset(), 0, inferred=True),
    "jupyter-ai/jupyterlab__jupyter-ai/commands.ipynb": Expected(
        "jupyter-ai-notebook", (8,), (1,), frozenset({"user", "assistant"}), ("user", "assistant") * 3,
        "What model is this?", " Spectra Socks ", None, frozenset({"babbage-002", "company", "gpt-4"}), 0),
    "jupyter-ai/jupyterlab__jupyter-ai/magics.ipynb": Expected(
        "jupyter-ai-notebook", (22,), (1,), frozenset({"user", "assistant"}), ("user", "assistant") * 3,
        "Write a poem about C++.", "Here's the Python code to solve the 2D L", None,
        frozenset({"chatgpt", "claude-v1.2", "command-xlarge-nightly", "google/flan-t5-xl", "gpt2",
                   "j2-jumbo-instruct"}), 0),
    "jupyterlab-chat/Abigayle-Mercer__test_repo/test.chat": Expected(
        "jupyterlab-chat", (19,), (1,), frozenset({"user", "assistant"}),
        ("user", "assistant", "user", "assistant", "assistant", "user"),
        "@AI-Collaborator hello, what is the curr", "@AI-Collaborator can you explore list co",
        "2025-05-25T21:41:28.109564Z", frozenset(), 0),
    "jupyterlab-chat/Naren1122__Road_To_Data_Science_Python/untitled.chat": Expected(
        "jupyterlab-chat", (2,), (1,), frozenset({"user"}), ("user", "user"),
        "how to fix the code using ai jupyter lab", "can u fix the code", "2026-06-12T02:56:14.671849Z",
        frozenset(), 1),
    "jupyterlab-chat/chenTracy25__codespace/untitled.chat": Expected(
        "jupyterlab-chat", (8,), (1,), frozenset({"user", "assistant"}),
        ("user", "assistant", "user", "assistant", "assistant", "user"),
        "hi", "Done. Removed both empty cells; 2 cells ", "2026-10-05T16:01:18.936174Z", frozenset(), 0),
    "jupyterlab-chat/geojupyter__prototype-map2cell-ipyopenlayers/untitled.chat": Expected(
        "jupyterlab-chat", (3,), (1,), frozenset({"user"}), ("user", "user", "user"),
        "Read the code in cell 2 and suggest how", "@Copilot test", "2026-05-19T20:56:44.236157Z",
        frozenset(), 0),
    "jupyterlab-chat/gogorogon__jupytercon2025-extension-workshop/test.chat": Expected(
        "jupyterlab-chat", (26,), (1,), frozenset({"user", "assistant", "system"}),
        ("user", "user", "user", "assistant", "user", "user"),
        "/refresh-personas", "/refresh-personas", "2025-11-06T18:49:14.535374Z", frozenset(), 0),
    "jupyterlab-chat/jupyter-ai-contrib__jupyter-ai-personas/demo.chat": Expected(
        "jupyterlab-chat", (6,), (1,), frozenset({"user", "assistant"}), ("user", "assistant") * 3,
        "@DataAnalyticsTeam hi", "I'll help you create a visualization tha", "2025-07-03T21:42:01.679969Z",
        frozenset(), 0),
    "jupyterlab-chat/mrsmmori1234__notebooks_rep/untitled.chat": Expected(
        "jupyterlab-chat", (11,), (1,), frozenset({"user"}), ("user",) * 6,
        "dfを分析したい。", "tets", "2026-06-07T04:02:50.977378Z", frozenset(), 1),
    "openwebui/yetanotherchris__openwebui-importer/claude_thinking_output.json": Expected(
        "openwebui", (2,), (1,), frozenset({"user", "assistant"}), ("user", "assistant"),
        "Can you greet me?", "Hello there! It's great to hear from you", "2025-01-01T00:00:01.000000Z",
        frozenset({"claude_4_5_with_thinking.claude-sonnet-4-5-20250929-think"}), 0),
    "openwebui/yetanotherchris__openwebui-importer/webui-json.json": Expected(
        "openwebui", (2,), (1,), frozenset({"user", "assistant"}), ("user", "assistant"),
        "what was the ruling in the US called whe", "The principle you''re referring to is kn",
        "2025-04-13T20:52:37.000000Z", frozenset({"deepseek/deepseek-chat:free"}), 0),
}


def shown(conversation: Conversation) -> list:
    return [m for m in conversation.active_path() if not m.hidden]


@pytest.mark.fixtures_real
@pytest.mark.parametrize("relative", sorted(ROWS))
def test_a_real_file_imports_with_what_a_person_would_check(relative: str) -> None:
    # Given a real third-party file
    path = real_fixture(*relative.split("/"))
    expected = ROWS[relative]
    # When it is imported
    conversations = load(path)
    # Then its format, conversations, messages (all branches) and branches are right
    assert detect(path) == expected.format
    assert tuple(len(c.messages) for c in conversations) == expected.messages
    assert tuple(len(c.leaves()) for c in conversations) == expected.branches
    assert {m.role for c in conversations for m in c.messages.values()} == expected.roles
    assert {m.model for c in conversations for m in c.messages.values() if m.model} == expected.models
    assert sum(len(c.attachments) for c in conversations) == expected.attachments
    # and the active path of its longest conversation reads as the source shows it
    longest = max(conversations, key=lambda c: len(c.messages))
    assert longest.active_leaf_id is not None and longest.active_leaf_inferred == expected.inferred
    assert longest.active_path()[-1].id == longest.active_leaf_id and not longest.messages[longest.active_leaf_id].children_ids
    path_shown = shown(longest)
    assert tuple(m.role for m in path_shown[: len(expected.shown_roles)]) == expected.shown_roles
    assert path_shown[0].text.startswith(expected.first)
    assert path_shown[-1].text.startswith(expected.last)
    assert format_time(path_shown[0].created_at) == expected.at
    # every author is a participant and every referenced attachment exists
    for conversation in conversations:
        assert {m.author_id for m in conversation.messages.values()} <= set(conversation.participants)
        refs = {p.attachment_id for m in conversation.messages.values() for p in m.parts if p.attachment_id}
        assert refs <= set(conversation.attachments)


def test_every_real_fixture_has_a_row() -> None:
    files = [p for p in real_fixtures("**/*") if p.is_file() and p.name != "SOURCES.md"]
    if not files:
        pytest.skip(f"no real fixtures in {REAL} (../shared absent)")
    assert sorted(str(Path(p).relative_to(REAL)) for p in files) == sorted(ROWS)
