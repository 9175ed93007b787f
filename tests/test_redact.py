"""What viewers never see, and secrets the owner is warned about (core.redact)."""

from __future__ import annotations

import json

import pytest

from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, Participant, SourceInfo
from jupyter_convshare.core.redact import SecretFinding, find_secrets, scrub_paths, viewer_copy


def chat() -> Conversation:
    """A jupyterlab-chat-like conversation with a system prompt, an owner account and paths."""
    conv = Conversation(
        id="c",
        title="Project chat",
        source=SourceInfo(format="jupyterlab-chat", file_name="a.chat", path="work/a.chat"),
        extra={"jupyterlab-chat": {"metadata": {"acp_session_ids": ["s1"]}}},
    )
    conv.participants = {
        "alice": Participant(id="alice", kind="human", display_name="Alice", avatar_url="/api/users/alice.png",
                             extra={"color": "red", "username": "alice"}),
        "bob": Participant(id="bob", kind="human", display_name="Bob"),
        "jupyternaut": Participant(id="jupyternaut", kind="assistant", display_name="Jupyternaut",
                                   provider="jupyter-ai", extra={"settings": {"api_key_env": "X"}}),
        "hidden::system": Participant(id="hidden::system", kind="system"),
    }  # fmt: skip
    conv.append(Message(id="sys", role="system", author_id="hidden::system",
                        parts=[Part.text_part("You are Jupyternaut. Secret persona config.")]))  # fmt: skip
    conv.append(Message(id="u1", role="user", author_id="alice", mentions=["jupyternaut", "bob"],
                        parts=[Part.text_part("open /home/alice/project/data.csv please")],
                        extra={"jupyterlab-chat": {"raw_time": False}}))  # fmt: skip
    conv.append(Message(id="dev", role="developer", author_id="hidden::system",
                        parts=[Part.text_part("tool policy")]))  # fmt: skip
    conv.append(Message(id="a1", role="assistant", author_id="jupyternaut", parts=[
        Part(type="tool_call", name="read", arguments={"path": "/Users/alice/x.py", "n": 1},
             arguments_raw='{"path": "C:\\\\Users\\\\alice\\\\x.py"}', extra={"acp": {"raw_input": 1}}),
        Part(type="tool_result", text="read C:\\Users\\alice\\x.py ok", data={"cwd": "/home/alice"}),
    ]))  # fmt: skip
    conv.append(Message(id="t1", role="tool", author_id="jupyternaut", hidden=True,
                        parts=[Part.text_part("plumbing")]))  # fmt: skip
    conv.attachments = {
        "f1": Attachment(id="f1", name="data.csv", uri="/home/alice/project/data.csv", extra={"k": 1},
                         selection={"start": [0, 0], "end": [1, 0], "content": "cd /home/alice"}),
        "f2": Attachment(id="f2", name="nb.ipynb", uri="notebooks/nb.ipynb"),
        "f3": Attachment(id="f3", name="report.pdf", uri="/srv/shared/reports/report.pdf"),
    }  # fmt: skip
    return conv


def test_system_and_developer_messages_are_dropped_and_the_chain_relinked():
    # Given system -> user -> developer -> assistant -> hidden tool
    view = viewer_copy(chat())
    # Then the prompts are gone and the remaining messages form one chain
    assert list(view.messages) == ["u1", "a1", "t1"]
    assert view.root_ids == ["u1"]
    assert view.messages["u1"].parent_id is None and view.messages["u1"].children_ids == ["a1"]
    assert view.messages["a1"].parent_id == "u1"
    assert view.active_leaf_id == "t1"
    assert view.active_path() == [view.messages[i] for i in ("u1", "a1", "t1")]


def test_a_dropped_message_keeps_its_place_among_siblings():
    # Given u1 with three replies, the middle one a system message that has its own reply
    conv = Conversation(id="c", source=SourceInfo(format="convshare"))
    conv.add_message(Message(id="u1", role="user", author_id="u"))
    for mid in ("a", "s", "b"):
        conv.add_message(Message(id=mid, role="system" if mid == "s" else "assistant", author_id="x", parent_id="u1"))
    conv.add_message(Message(id="s-child", role="user", author_id="u", parent_id="s"))
    conv.active_leaf_id = "s"
    view = viewer_copy(conv)
    # Then its child takes its place, and the active leaf moves up to the parent
    assert view.messages["u1"].children_ids == ["a", "s-child", "b"]
    assert view.messages["s-child"].parent_id == "u1"
    assert view.active_leaf_id == "u1"


def test_hidden_messages_stay_hidden():
    assert viewer_copy(chat()).messages["t1"].hidden is True


def test_every_extra_and_the_source_path_are_removed():
    view = viewer_copy(chat())
    assert view.extra == {} and view.source.path is None and view.source.file_name == "a.chat"
    assert all(p.extra == {} for p in view.participants.values())
    assert all(m.extra == {} for m in view.messages.values())
    assert all(part.extra == {} for m in view.messages.values() for part in m.parts)
    assert all(a.extra == {} for a in view.attachments.values())


def test_humans_get_opaque_ids_and_keep_display_names():
    view = viewer_copy(chat())
    assert view.participants["user-1"].display_name == "Alice"
    assert view.participants["user-2"].display_name == "Bob"
    assert view.messages["u1"].author_id == "user-1"
    assert view.messages["u1"].mentions == ["jupyternaut", "user-2"]
    assert view.participants["user-1"].avatar_url is None


def test_the_owner_account_name_appears_nowhere_in_the_viewer_copy():
    # Given the owner "alice" (her user id, avatar URL and home directory are in the chat)
    dumped = json.dumps(viewer_copy(chat()).to_dict())
    # Then the account name survives only as the display name she chose ("Alice")
    assert "alice" not in dumped


def test_participants_only_used_by_dropped_messages_are_removed():
    assert "hidden::system" not in viewer_copy(chat()).participants


def test_home_paths_in_text_and_tool_payloads_become_tilde():
    view = viewer_copy(chat())
    assert view.messages["u1"].parts[0].text == "open ~/project/data.csv please"
    call, result = view.messages["a1"].parts
    assert call.arguments == {"path": "~/x.py", "n": 1}
    assert call.arguments_raw == '{"path": "~\\\\x.py"}'
    assert result.text == "read ~\\x.py ok" and result.data == {"cwd": "~"}


def test_absolute_attachment_uris_are_reduced():
    atts = viewer_copy(chat()).attachments
    assert atts["f1"].uri == "~/project/data.csv"
    assert atts["f1"].selection["content"] == "cd ~"
    assert atts["f2"].uri == "notebooks/nb.ipynb"  # relative to the Jupyter root: kept
    assert atts["f3"].uri == "report.pdf"


def test_the_original_conversation_is_not_changed():
    conv = chat()
    before = conv.to_dict()
    viewer_copy(conv)
    assert conv.to_dict() == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/home/ana/x", "~/x"),
        ("/home/ana", "~"),
        ("see /Users/ana.b/Desktop/f.txt.", "see ~/Desktop/f.txt."),
        ("C:\\Users\\Ana\\doc.txt", "~\\doc.txt"),
        ("d:/users/ana/doc.txt", "~/doc.txt"),
        ('"C:\\\\Users\\\\ana\\\\x"', '"~\\\\x"'),
        ("file:///home/ana/x", "file://~/x"),
        ("relative/home/ana/x", "relative/home/ana/x"),
        ("/data/home/ana", "/data/home/ana"),
        ("/usr/lib/python3", "/usr/lib/python3"),
    ],
)
def test_scrub_paths(text, expected):
    assert scrub_paths(text) == expected


# -- secrets ----------------------------------------------------------------------------

SECRETS = {
    "openai_api_key": "sk-proj-" + "A1b2C3d4" * 6,
    "anthropic_api_key": "sk-ant-api03-" + "x9Y8z7W6" * 10,
    "github_token": "ghp_" + "a" * 36,
    "aws_access_key": "AKIA" + "ABCDEFGHIJKLMNOP",
    "aws_secret_key": "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "slack_token": "xoxb-" + "1234567890-abcdefghij",
    "huggingface_token": "hf_" + "Q" * 34,
    "bearer_token": "Authorization: Bearer " + "eyJhbGciOiJIUzI1NiJ9.e30.abcdefghijk",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    "password": 'db_password = "hunter2hunter2"'.replace("db_password", "password"),
}


def one_message(text: str, role: str = "user") -> Conversation:
    conv = Conversation(id="c", source=SourceInfo(format="convshare"))
    conv.append(Message(id="m1", role=role, author_id="u", parts=[Part.text_part(text)]))
    return conv


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_each_kind_of_secret_is_found_without_quoting_it(kind):
    # Given a message containing a credential
    secret = SECRETS[kind]
    findings = find_secrets(one_message(f"here you go: {secret} thanks"))
    # Then it is reported with its kind and message, and the warning never repeats it
    assert [(f.kind, f.message_id) for f in findings] == [(kind, "m1")]
    assert secret[-12:] not in findings[0].message


@pytest.mark.parametrize(
    "text",
    [
        "password = getpass.getpass()",
        "password = os.environ['DB_PASSWORD']",
        'password: "********"',
        "password=<your password>",
        "Set OPENAI_API_KEY=sk-... in your shell",
        "Use a bearer token in the Authorization header.",
        "-----BEGIN PUBLIC KEY-----",
        "ask for the password please",
    ],
)
def test_ordinary_text_is_not_a_secret(text):
    assert find_secrets(one_message(text)) == []


def test_secrets_in_tool_arguments_system_prompts_and_attachments_are_found():
    conv = one_message("You are a bot. Key: " + SECRETS["openai_api_key"], role="system")
    conv.append(
        Message(id="m2", role="assistant", author_id="a",
                parts=[Part(type="tool_call", name="http", arguments={"headers": {"x": SECRETS["github_token"]}})])
    )  # fmt: skip
    conv.attachments["f"] = Attachment(id="f", name="env.txt", extracted_text=SECRETS["huggingface_token"])
    findings = find_secrets(conv)
    assert [(f.kind, f.message_id) for f in findings] == [
        ("openai_api_key", "m1"),
        ("github_token", "m2"),
        ("huggingface_token", None),
    ]
    assert findings[0].message == "Message 1 (system) contains what looks like an OpenAI API key."


def test_one_finding_per_kind_and_message():
    text = SECRETS["github_token"] + " and " + "ghp_" + "b" * 36
    assert len(find_secrets(one_message(text))) == 1


def test_finding_to_json():
    finding = SecretFinding("password", "Message 1 (user) contains what looks like a password.", "m1",
                            part_index=0, part_type="text", preview="•••••• (14 characters)")
    assert finding.to_json() == {
        "kind": "password",
        "message": "Message 1 (user) contains what looks like a password.",
        "message_id": "m1",
        "category": "secret",
        "part_index": 0,
        "part_type": "text",
        "attachment_id": None,
        "location": "message",
        "preview": "•••••• (14 characters)",
        "count": 1,
        "hidden": False,
    }
