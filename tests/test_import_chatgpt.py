"""ChatGPT data export importer (``core.importers.chatgpt``, FORMATS.md section 3).

Every real file under ../shared/fixtures/real/chatgpt imports (read in place, skipped when
absent), with what a person would check per file; small hostile inputs written here get
an ImportFailed naming the file, the format and the place; and a real branching
conversation shared through a real server shows the ``‹ 1 / 2 ›`` switcher at its fork.
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
from jupyter_convshare.core.importers import FORMATS, chatgpt, detect, load, load_one
from jupyter_convshare.core.model import Conversation

from .conftest import real_fixture, real_params
from .server_helpers import body_json, make_anonymous_fetch, make_api


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def visible(conversation: Conversation) -> list:
    return [m for m in conversation.active_path() if not m.hidden]


def load_real(*parts: str) -> list[Conversation]:
    path = real_fixture("chatgpt", *parts)
    assert detect(path) == "chatgpt"
    return load(path)


# -- every real file ------------------------------------------------------------------------


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", real_params("chatgpt/*/*.json"))
def test_every_real_chatgpt_file_keeps_every_node_and_the_current_node(path: Path) -> None:
    # Given a real ChatGPT export (a list) or a single conversation object
    raw = json.loads(path.read_text(encoding="utf-8"))
    items = raw if isinstance(raw, list) else [raw]
    # When it is imported
    assert detect(path) == "chatgpt"
    conversations = load(path)
    # Then one conversation per object, every node with a message kept under its mapping key
    assert len(conversations) == len(items)
    for item, conversation in zip(items, conversations):
        with_message = [key for key, node in item["mapping"].items() if node.get("message")]
        assert sorted(conversation.messages) == sorted(with_message)
        assert conversation.active_leaf_id == item["current_node"] and not conversation.active_leaf_inferred
        assert conversation.id == f"chatgpt:{item.get('conversation_id') or item['id']}"
        assert conversation.title == item["title"] and conversation.source.format == "chatgpt"
        assert conversation.source.file_name == path.name
        # every author is a participant, every referenced attachment exists and is a reference
        assert {m.author_id for m in conversation.messages.values()} <= set(conversation.participants)
        refs = {p.attachment_id for m in conversation.messages.values() for p in m.parts if p.attachment_id}
        assert refs == set(conversation.attachments)
        assert all(not a.available for a in conversation.attachments.values())
        # and the lossless JSON form imports back identical
        assert load_one(export(conversation, "json")).to_dict() == conversation.to_dict()


@pytest.mark.fixtures_real
def test_real_code_interpreter_export_keeps_calls_outputs_and_plots() -> None:
    # Given a 2023 Code Interpreter conversation (45 nodes, one branch)
    (conversation,) = load_real("realazthat__chatgpt2graph", "conversations.json")
    messages = conversation.messages
    assert len(messages) == 44 and len(conversation.leaves()) == 1
    path = conversation.active_path()
    assert len(path) == 44 and path[-1].id == "875ad56f-8b75-4e69-9fdc-f96acf212f9c"
    roles = [m.role for m in messages.values()]
    assert (roles.count("system"), roles.count("user"), roles.count("assistant"), roles.count("tool")) == (2, 8, 23, 11)
    # Then the two system nodes (one empty custom-instructions node) are hidden, not dropped
    assert [m.hidden for m in path[:2]] == [True, True] and path[0].created_at is None
    # the code goes to python as a hidden tool call, answered by the tool's hidden result
    call = messages["10513078-098e-44a7-851b-8cb32592969c"]
    assert call.hidden and [p.type for p in call.parts] == ["tool_call"]
    assert call.parts[0].name == "python" and call.parts[0].arguments_raw.startswith("from sympy import symbols")
    result = messages["db2ead84-921a-46f9-a0a3-5dd0eae8e6c8"]
    assert (result.role, result.author_id, result.hidden) == ("tool", "tool:python", True)
    assert (result.parts[0].type, result.parts[0].call_id, result.parts[0].text) == ("tool_result", call.id, "0")
    # a plot output is shown: the result plus the image (a reference, never fetched)
    plot = messages["573050bd-a17f-4c52-87c5-c2710da9f60f"]
    assert not plot.hidden and [p.type for p in plot.parts] == ["tool_result", "image"]
    image = conversation.attachments[plot.parts[1].attachment_id]
    assert image.kind == "image" and image.uri.startswith("file-service://") and not image.available
    assert len(conversation.attachments) == 7
    # models, times, texts
    assert {m.model for m in messages.values() if m.role == "assistant"} == {"gpt-4-code-interpreter"}
    assert conversation.participants["assistant"].model is None  # default_model_slug is null
    shown = visible(conversation)
    assert len(shown) == 27
    assert shown[0].text.startswith("given two random independent variables x,y in U(0,1)")
    assert shown[0].created_at == at(1695326273.969279)
    assert shown[-1].text.startswith("Here's the updated graph with the mean split frequ")
    assert conversation.created_at == at(1695326273.968528) and conversation.updated_at == at(1695370984.0)


@pytest.mark.fixtures_real
def test_real_mid_2025_export_hides_custom_instructions_under_client_created_root() -> None:
    (conversation,) = load_real("yetanotherchris__openwebui-importer", "gpt_example.json")
    # Given the client-created-root (no message): dropped, recorded, its child is the root
    assert "client-created-root" not in conversation.messages
    assert conversation.extra["chatgpt"]["empty_nodes"] == ["client-created-root"]
    assert conversation.root_ids == ["e5529cf9-c042-40ea-aba9-f90efa479c28"]
    assert len(conversation.messages) == 12 and len(conversation.leaves()) == 1
    # Then the user_editable_context (custom instructions) is a hidden user message with its text
    context = conversation.messages["a021bc5d-b3f2-4120-a182-c00058472c7b"]
    assert (context.role, context.hidden) == ("user", True)
    assert context.parts[0].extra == {"chatgpt": {"field": "user_instructions"}}
    assert "Please keep the initial response to 1 to 2 paragraphs" in context.text
    # and the visible exchange is five questions and five gpt-4o answers
    shown = visible(conversation)
    assert [m.role for m in shown] == ["user", "assistant"] * 5
    assert {m.model for m in shown if m.role == "assistant"} == {"gpt-4o"}
    assert conversation.participants["assistant"].model == "gpt-4o"
    assert shown[0].text == "Can you explain how photosynthesis works in simple terms?"
    assert shown[-2].text == "What about forests?"
    assert shown[-1].text.startswith("Forests, like ponds, are not sentient")
    assert shown[0].created_at == at(1750537483.102)
    # 2025 conversation-level fields are kept
    assert conversation.extra["chatgpt"]["memory_scope"] == "global_enabled"


@pytest.mark.fixtures_real
def test_real_2023_extract_branch_browsing_plugins_and_key_not_message_id() -> None:
    logo, website, wikis, offer, flutter, django = load_real("pkuppens__my_chat_gpt", "conversations.json")
    # Given a regenerated answer: both siblings kept, the active branch continues the first
    fork = logo.messages["c42c6b04-0a3c-4563-897d-b7317866288d"]
    assert fork.children_ids == ["d80333b5-678d-4c76-b562-80a23dbfad0d", "50d1ea72-f1b0-4814-ada5-2bf66276ad16"]
    assert len(logo.messages) == 16 and len(logo.leaves()) == 2
    assert "d80333b5-678d-4c76-b562-80a23dbfad0d" in [m.id for m in logo.active_path()]
    assert logo.messages["50d1ea72-f1b0-4814-ada5-2bf66276ad16"].text.startswith("If you'd like a third color")
    assert {m.model for m in logo.messages.values() if m.role == "assistant"} == {"text-davinci-002-render-sha"}
    assert len(visible(logo)) == 14 and visible(logo)[-1].text.endswith("refine your logo design!")
    # Browsing: hidden calls to the browser, failed ones as error results, quotes as citations
    assert len(website.messages) == 13
    open_url = website.messages["8d8cc556-7f0f-4e3e-a34d-00f03357965c"].parts[0]
    assert (open_url.type, open_url.name, open_url.language) == ("tool_call", "browser", None)
    failed = website.messages["64d9ae31-c2ba-4f9e-98dc-ae684dad9396"].parts[0]
    assert failed.type == "tool_result" and failed.is_error and failed.call_id == "8d8cc556-7f0f-4e3e-a34d-00f03357965c"
    assert failed.text.startswith("Error when executing command `open_url(www.pieterkuppens.net)`")
    page = website.messages["7010056a-5eff-4a97-9f01-c603d83560dc"].parts[0]
    assert page.type == "tool_result" and page.text.startswith("\nURL: https://www.pieterkuppens.nl/")
    quote = website.messages["553fee13-9580-4a1b-8e82-d820547a50f2"].parts[0]
    assert (quote.type, quote.url, quote.title) == ("citation", "https://www.pieterkuppens.nl/", "www.pieterkuppens.nl")
    assert [m.role for m in visible(website)] == ["user", "assistant", "user", "assistant"]
    # A plugin call and its answer
    plugin = wikis.messages["7e7680b8-7048-4150-bf00-a19faef57523"]
    assert plugin.hidden and plugin.parts[0].name == "show_me.get_MermaidRoute"
    assert plugin.parts[0].arguments["mermaid"].startswith("graph TB")
    assert "tool:show_me.get_MermaidRoute" in wikis.participants
    assert wikis.participants["tool:show_me.get_MermaidRoute"].kind == "tool"
    # A user-only conversation and a system node whose message.id differs from its key
    assert [m.role for m in visible(flutter)] == ["user"] and visible(flutter)[0].text == "what is Flutter?"
    system = django.messages["fda7ac01-bb91-4219-af0c-c4fdd426596c"]
    assert system.extra["chatgpt"]["message_id"] == "3f2c7fb8-6938-4a09-9325-95faa2eef484" and system.hidden
    assert [m.model for m in visible(offer)] == [None, "gpt-4"]


@pytest.mark.fixtures_real
def test_real_synthetic_fixture_keeps_attachments_reasoning_and_both_answers() -> None:
    (conversation,) = load_real("Sinity__polylogue", "native-conversation-v1.json")
    # Given a user turn answered twice; the active answer came after reasoning and a search
    user = conversation.messages["user"]
    assert user.children_ids == ["answer-inactive", "thought-active"]
    assert [m.id for m in conversation.active_path()] == [
        "context", "user", "thought-active", "tool-call", "tool-result", "recap-active", "answer-active"
    ]
    # Then the image and the uploaded file are references
    assert [p.type for p in user.parts] == ["text", "image", "file_ref"]
    image = conversation.attachments["fixture-input-image"]
    assert (image.kind, image.uri, image.size_bytes, image.available) == (
        "image", "file-service://fixture-input-image", 128, False
    )
    upload = conversation.attachments["fixture-upload-1"]
    assert (upload.name, upload.mime_type, upload.size_bytes) == ("input.txt", "text/plain", 42)
    # reasoning is hidden reasoning parts; the search is a hidden call and result
    thought = conversation.messages["thought-active"]
    assert thought.hidden and thought.parts[0].type == "reasoning"
    assert thought.parts[0].text == "Privacy-safe reasoning trace."
    assert conversation.messages["recap-active"].parts[0].summary == "Privacy-safe reasoning summary."
    assert conversation.messages["tool-call"].parts[0].arguments == {"query": "fixture evidence"}
    assert conversation.messages["tool-result"].parts[0].call_id == "tool-call"
    # the custom instructions are hidden system text
    assert conversation.messages["context"].hidden and conversation.messages["context"].text.startswith("Privacy-safe")
    assert [m.id for m in visible(conversation)] == ["user", "answer-active"]
    assert conversation.messages["answer-active"].model == "gpt-5-6-pro"
    assert conversation.messages["answer-inactive"].created_at == at(1784164542.0)
    assert conversation.messages["context"].extra["chatgpt"]["message_id"] == "context-message"


@pytest.mark.fixtures_real
def test_real_image_generation_shows_each_generated_image_once() -> None:
    (conversation,) = load_real("pionxzh__chatgpt-exporter", "image-generation.json")
    # Given a GPT-5 image conversation: no create_time on nodes, a root without parent
    assert len(conversation.messages) == 24 and conversation.root_ids == ["n1"]
    assert all(m.created_at is None for m in conversation.messages.values())
    assert conversation.created_at == at(1) and conversation.extra["chatgpt"]["empty_nodes"] == ["n0"]
    # Then the shown turns are as chatgpt-exporter shows them: questions and generated images
    shown = visible(conversation)
    assert [(m.id, m.role) for m in shown] == [
        ("n1", "user"), ("n2", "tool"), ("n7", "user"), ("n8", "tool"),
        ("n13", "user"), ("n16", "tool"), ("n19", "user"), ("n20", "tool"),
    ]
    assert [conversation.attachments[p.attachment_id].uri for m in shown for p in m.parts if p.type == "image"] == [
        "sediment://file_1", "sediment://file_2", "sediment://file_3", "sediment://file_4", "sediment://file_5"
    ]
    # the empty finals after a recap are hidden leaves: three branches in all
    assert [m.id for m in conversation.leaves()] == ["n6", "n12", "n24"]
    assert conversation.messages["n5"].parts[0].summary == "Thought for 47s"
    assert conversation.messages["n3"].hidden and conversation.messages["n3"].extra["chatgpt"]["channel"] == "commentary"
    assert conversation.messages["n14"].parts[0].name == "internal_tool"
    assert conversation.messages["n24"].model == "gpt-5-4-thinking"
    assert set(conversation.attachments) == {"file_1", "file_2", "file_3", "file_4", "file_5"}


# -- the project's own small inputs ---------------------------------------------------------


def node(key: str, parent: str | None, children: list[str], role: str = "user", text: str = "hi",
         time: float | None = 1780000000.0, **message: Any) -> dict[str, Any]:
    body = {"id": key, "author": {"role": role}, "content": {"content_type": "text", "parts": [text]},
            "create_time": time, **message}
    return {"id": key, "message": body, "parent": parent, "children": children}


def conversation_with(*nodes: dict[str, Any], current: str | None = "b", **fields: Any) -> dict[str, Any]:
    root = {"id": "root", "message": None, "parent": None, "children": [n["id"] for n in nodes if n["parent"] == "root"]}
    return {"id": "conv", "title": "T", "current_node": current, "mapping": {"root": root, **{n["id"]: n for n in nodes}},
            **fields}


def two_answers() -> dict[str, Any]:
    return conversation_with(
        node("a", "root", ["b", "c"], text="question"),
        node("b", "a", [], role="assistant", text="first", time=1780000010.0),
        node("c", "a", [], role="assistant", text="second", time=1780000020.0),
    )


def test_without_current_node_the_latest_leaf_is_active_and_flagged() -> None:
    data = two_answers()
    del data["current_node"]
    conversation = load_one(data, name="one.json")
    assert conversation.active_leaf_id == "c" and conversation.active_leaf_inferred
    assert conversation.source.warnings == ["current_node: missing: the active branch is the latest leaf"]


def test_a_wrapped_export_and_a_single_object_are_both_read() -> None:
    wrapped = {"conversations": [two_answers(), two_answers()]}
    assert detect(wrapped) == "chatgpt" and len(load(wrapped)) == 2
    assert load_one(two_answers()).active_leaf_id == "b"


def test_an_empty_node_in_the_middle_is_transparent() -> None:
    data = conversation_with(
        node("a", "root", ["gap"]),
        {"id": "gap", "message": None, "parent": "a", "children": ["b"]},
        node("b", "gap", [], role="assistant", text="answer"),
    )
    conversation = load_one(data)
    assert conversation.messages["b"].parent_id == "a" and conversation.messages["a"].children_ids == ["b"]
    assert conversation.extra["chatgpt"]["empty_nodes"] == ["root", "gap"]


def test_missing_children_lists_are_rebuilt_from_parents() -> None:
    data = two_answers()
    for n in data["mapping"].values():
        n.pop("children")
    conversation = load_one(data)
    assert conversation.messages["a"].children_ids == ["b", "c"] and conversation.root_ids == ["a"]


def test_detection_tells_chatgpt_from_api_lists_and_claude() -> None:
    assert chatgpt.matches([two_answers()]) and chatgpt.matches(two_answers())
    assert not chatgpt.matches([{"role": "user", "content": "hi"}])
    assert not chatgpt.matches([{"uuid": "u", "name": "n", "chat_messages": []}])
    assert not chatgpt.matches({"messages": [], "mapping": {}})  # no conversation field
    assert detect([{"role": "user", "content": "hi"}]) == "openai-chat"
    assert FORMATS["chatgpt"].extensions == (".json",)


def test_convert_reads_one_conversation_and_names_its_place() -> None:
    conversation = chatgpt.convert(two_answers(), name="conversations.json", where="conversations[7]")
    assert conversation.source.file_name == "conversations.json" and len(conversation.messages) == 3
    bad = two_answers()
    bad["mapping"]["b"]["parent"] = "zz"
    with pytest.raises(ImportFailed) as info:
        chatgpt.convert(bad, name="conversations.json", where="conversations[7]")
    assert str(info.value) == (
        "conversations.json: chatgpt format: conversations[7].mapping[\"b\"].parent: no such node 'zz'"
    )


def mutated(change) -> bytes:
    good = two_answers()
    data = [good, json.loads(json.dumps(good))]
    change(data[1])
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["mapping"]["b"].update(parent="zz"), 'conversations[1].mapping["b"].parent: no such node \'zz\''),
        (lambda c: c["mapping"]["a"].update(children=["b", "ghost"]),
         'conversations[1].mapping["a"].children[1]: no such node \'ghost\''),
        (lambda c: (c["mapping"]["a"].update(parent="b"), c["mapping"]["b"].update(children=["a"])),
         'conversations[1].mapping["a"].parent: cycle in the parent links'),
        (lambda c: c["mapping"]["a"].update(parent="a"),
         'conversations[1].mapping["a"].parent: a node cannot be its own parent (cycle)'),
        (lambda c: c.update(current_node="nowhere"), "conversations[1].current_node: no such node 'nowhere'"),
        (lambda c: c.pop("mapping"), "conversations[1].mapping: missing field"),
        (lambda c: c.update(mapping=[]), "conversations[1].mapping: expected an object, got a list"),
        (lambda c: c["mapping"]["b"]["message"].update(create_time="noon"),
         'conversations[1].mapping["b"].message.create_time: expected a number, got a string'),
        (lambda c: c["mapping"]["b"]["message"]["author"].update(role="robot"),
         'conversations[1].mapping["b"].message.author.role: expected one of'),
        (lambda c: c["mapping"]["b"]["message"].pop("author"), 'conversations[1].mapping["b"].message.author: missing field'),
        (lambda c: c["mapping"]["b"]["message"]["content"].update(parts="hi"),
         'conversations[1].mapping["b"].message.content.parts: expected a list, got a string'),
        (lambda c: c["mapping"]["b"]["message"].update(content={"parts": ["x"]}),
         'conversations[1].mapping["b"].message.content.content_type: missing field'),
        (lambda c: c.update(id=7), "conversations[1].id: expected a non-empty string, got a number"),
        (lambda c: c["mapping"].update(b="node"), 'conversations[1].mapping["b"]: expected an object, got a string'),
    ],
)
def test_a_malformed_export_names_file_format_and_place(change, expected: str) -> None:
    with pytest.raises(ImportFailed) as info:
        load(mutated(change), name="conversations.json")
    assert str(info.value).startswith(f"conversations.json: chatgpt format: {expected}")
    assert info.value.status == 400


def test_a_truncated_export_names_line_and_column_and_imports_nothing() -> None:
    data = json.dumps([two_answers(), two_answers()], indent=1).encode()
    with pytest.raises(ImportFailed, match=r"^conversations\.json: invalid JSON at line \d+ column \d+"):
        load(data[: len(data) // 2], name="conversations.json")


def test_a_list_with_something_else_than_a_conversation_is_refused() -> None:
    with pytest.raises(ImportFailed, match=r"^x\.json: chatgpt format: conversations\[1\]: expected an object, got a number"):
        load([two_answers(), 3], name="x.json")
    with pytest.raises(ImportFailed, match="chatgpt format: the export holds no conversations"):
        load([], format="chatgpt")


def test_a_very_long_chain_imports_without_recursion() -> None:
    nodes = [node(f"n{i}", "root" if i == 0 else f"n{i - 1}", [f"n{i + 1}"] if i < 4999 else [],
                  role="user" if i % 2 == 0 else "assistant") for i in range(5000)]
    conversation = load_one(conversation_with(*nodes, current="n4999"))
    assert len(conversation.active_path()) == 5000


# -- the viewer ---------------------------------------------------------------------------------


class _Switchers(HTMLParser):
    """The ``i / n`` positions and the texts of a viewer page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.positions: list[str] = []
        self.arrows: list[str] = []
        self._in_pos = False

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "a" and "branch-arrow" in classes:
            self.arrows.append(dict(attrs)["href"])
        self._in_pos = tag == "span" and "branch-pos" in classes

    def handle_data(self, data):
        if self._in_pos:
            self.positions.append(data.strip())
            self._in_pos = False


@pytest.mark.fixtures_real
async def test_a_shared_real_chatgpt_branch_shows_a_switcher_at_the_regenerated_answer(
    jp_fetch, http_server_client, jp_base_url
) -> None:
    # Given the real 2023 export with a regenerated answer, posted to the API (first conversation)
    raw = json.loads(real_fixture("chatgpt", "pkuppens__my_chat_gpt", "conversations.json").read_text("utf-8"))
    api = make_api(jp_fetch)
    response = await api("POST", "shares", body={"conversation": raw, "index": 0, "name": "conversations.json"})
    assert response.code == 201, response.body
    link = body_json(response)["url"].rsplit("/", 1)[-1]
    # When a visitor opens the page
    fetch = make_anonymous_fetch(http_server_client, jp_base_url)
    page = await fetch("convshare", "s", link)
    assert page.code == 200
    parsed = _Switchers()
    parsed.feed(page.body.decode("utf-8"))
    # Then the active answer is 1 / 2 with a link to the regenerated one, which is not shown
    assert parsed.positions == ["1 / 2"]
    assert parsed.arrows == [f"{jp_base_url}convshare/s/{link}?path=50d1ea72-f1b0-4814-ada5-2bf66276ad16#m8"]
    assert b"We could consider adding a third color" in page.body
    assert b"If you&#x27;d like a third color" not in page.body and b"If you'd like a third color" not in page.body
    # and following it shows the other answer as 2 / 2
    other = await fetch("convshare", "s", link, params={"path": "50d1ea72-f1b0-4814-ada5-2bf66276ad16"})
    parsed = _Switchers()
    parsed.feed(other.body.decode("utf-8"))
    assert parsed.positions == ["2 / 2"]
    assert b"third color to complement the blue and orange" in other.body


def test_citation_markers_are_removed_from_the_shown_text_and_kept_in_extra() -> None:
    source = "Paris is the capital \ue200cite\ue202turn0search1\ue201 of France."
    data = two_answers()
    data["mapping"]["b"]["message"]["content"]["parts"] = [source]
    part = load_one(data).messages["b"].parts[0]
    assert part.text == "Paris is the capital  of France."
    assert part.extra == {"chatgpt": {"text_with_markers": source}}


def test_hostile_attachment_names_and_pointers_stay_inert_references() -> None:
    # Given an upload named like a path and an image pointer that is a web URL
    data = two_answers()
    message = data["mapping"]["a"]["message"]
    message["content"] = {"content_type": "multimodal_text", "parts": [
        "look", {"content_type": "image_asset_pointer", "asset_pointer": "https://evil.example/track.png"},
    ]}
    message["metadata"] = {"attachments": [{"id": "file-1", "name": "../../home/me/.ssh/id_rsa", "size": 9}]}
    conversation = load_one(data)
    # Then names are base names, nothing is fetched or marked available, and the image is
    # an attachment reference (the viewer never loads a source URL)
    upload = conversation.attachments["file-1"]
    assert (upload.name, upload.available, upload.size_bytes) == ("id_rsa", False, 9)
    image_part = conversation.messages["a"].parts[1]
    assert image_part.type == "image" and image_part.url is None
    assert conversation.attachments[image_part.attachment_id].available is False


def test_a_voice_mode_turn_keeps_its_audio_and_frames_as_references() -> None:
    # Given a voice-mode user turn: a transcription and the recorded audio with one video frame
    data = two_answers()
    data["mapping"]["a"]["message"]["content"] = {"content_type": "multimodal_text", "parts": [
        {"content_type": "audio_transcription", "text": "what is the weather", "direction": "in"},
        {"content_type": "real_time_user_audio_video_asset_pointer", "expiry_datetime": "2026-01-01T00:00:00Z",
         "audio_start_timestamp": 3.5,
         "audio_asset_pointer": {"content_type": "audio_asset_pointer", "asset_pointer": "sediment://file_00aa",
                                 "size_bytes": 1200, "format": "wav"},
         "video_container_asset_pointer": None,
         "frames_asset_pointers": [{"content_type": "image_asset_pointer", "asset_pointer": "sediment://file_00bb",
                                    "size_bytes": 300, "width": 4, "height": 4}]},
    ]}
    message = load_one(data).messages["a"]
    conversation = load_one(data)
    # Then the text is shown and the recording and the frame are references to the export's files
    assert [p.type for p in message.parts] == ["text", "file_ref", "image"]
    assert message.text == "what is the weather"
    audio = conversation.attachments["file_00aa"]
    assert (audio.kind, audio.uri, audio.size_bytes, audio.available) == ("audio", "sediment://file_00aa", 1200, False)
    assert conversation.attachments["file_00bb"].kind == "image"
    assert message.parts[1].extra == {"chatgpt": {"real_time": {
        "expiry_datetime": "2026-01-01T00:00:00Z", "audio_start_timestamp": 3.5}}}
