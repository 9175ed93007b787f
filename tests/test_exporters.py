"""Exporters: JSON round trip, CSV parse-back, Parquet types, Markdown contents, and attacks."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jupyter_convshare.core.errors import InvalidRequest
from jupyter_convshare.core.exporters import COLUMNS, EXPORT_FORMATS, export
from jupyter_convshare.core.importers import load, load_one
from jupyter_convshare.core.model import Conversation, Message, Part, Participant, SourceInfo

from .conftest import PROJECT_FIXTURES, real_params

OWN = PROJECT_FIXTURES / "importers"
OWN_FIXTURES = ["features.chat", "openai_tools.json", "anthropic_blocks.json", "branching.json"]


def csv_rows(conversation: Conversation) -> list[dict[str, str]]:
    data = export(conversation, "csv")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def parquet_table(conversation: Conversation) -> pa.Table:
    return pq.read_table(io.BytesIO(export(conversation, "parquet")))


def markdown(conversation: Conversation) -> str:
    return export(conversation, "md").decode("utf-8")


@pytest.fixture(scope="module")
def branching() -> Conversation:
    return load_one(OWN / "branching.json")


@pytest.fixture(scope="module")
def features() -> Conversation:
    return load_one(OWN / "features.chat")


def attack_conversation() -> Conversation:
    """A conversation whose text, names and title try HTML and spreadsheet injection."""
    conversation = Conversation(
        id="attack",
        title='=cmd|"/c calc"!A1 <script>alert("t")</script>',
        source=SourceInfo(format="openai-chat"),
        participants={
            "user": Participant(id="user", display_name="@evil<img src=x onerror=alert(1)>"),
            "assistant": Participant(id="assistant", kind="assistant", display_name="+bot", model="-model"),
        },
    )
    conversation.append(Message(id="1", role="user", author_id="user",
                                parts=[Part.text_part('<script>alert("x")</script> & <b>bold</b>')]))
    conversation.append(Message(id="2", role="assistant", author_id="assistant",
                                parts=[Part.text_part("=1+2")]))
    conversation.append(Message(id="3", role="user", author_id="user",
                                parts=[Part.text_part("-2 is negative\n@SUM(A1)")]))
    conversation.append(Message(id="4", role="assistant", author_id="assistant",
                                parts=[Part.text_part("\t=tab first")]))
    return conversation


# -- registry -----------------------------------------------------------------------------


def test_every_format_has_a_media_type_and_an_extension() -> None:
    assert {k: (f.media_type, f.extension) for k, f in EXPORT_FORMATS.items()} == {
        "json": ("application/json; charset=utf-8", ".json"),
        "csv": ("text/csv; charset=utf-8", ".csv"),
        "parquet": ("application/vnd.apache.parquet", ".parquet"),
        "md": ("text/markdown; charset=utf-8", ".md"),
        "html": ("text/html; charset=utf-8", ".html"),
        "chat": ("application/json; charset=utf-8", ".chat"),
        "ipynb": ("application/x-ipynb+json", ".ipynb"),
    }


def test_unknown_format_is_an_invalid_request_naming_the_field(branching: Conversation) -> None:
    with pytest.raises(InvalidRequest) as info:
        export(branching, "xlsx")
    assert info.value.field == "format" and "xlsx" in info.value.message


# -- JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", OWN_FIXTURES)
def test_json_is_indented_utf8_convshare_and_round_trips(fixture: str) -> None:
    conversation = load_one(OWN / fixture)
    data = export(conversation, "json")
    assert data.startswith(b'{\n  "schema": "convshare/1",')
    assert json.loads(data.decode("utf-8")) == conversation.to_dict()
    assert load_one(data).to_dict() == conversation.to_dict()


def test_json_keeps_non_ascii_as_utf8(features: Conversation) -> None:
    assert "完璧です".encode("utf-8") in export(features, "json")


# -- CSV ----------------------------------------------------------------------------------


def test_csv_has_one_row_per_message_of_every_branch_in_tree_order(branching: Conversation) -> None:
    rows = csv_rows(branching)
    assert list(rows[0]) == list(COLUMNS)
    assert [(r["message_id"], r["parent_id"], r["depth"], r["on_active_path"]) for r in rows] == [
        ("1", "", "0", "true"),
        ("2", "1", "1", "false"),
        ("3", "1", "1", "true"),
        ("4", "3", "2", "true"),
    ]
    third = rows[2]
    assert (third["author_name"], third["provider"], third["model"]) == ("Helper", "openai", "gpt-4o-mini")
    assert rows[1]["model"] == "gpt-4o"  # the author's default model
    assert third["created_at"] == "2026-01-02T03:05:00.000000Z" and rows[3]["created_at"] == ""
    assert third["attachments"] == "result.csv"
    # code keeps its fence, longer than the backticks inside it
    assert "````python\nprint('```')\n````" in third["text"]
    assert rows[3]["edited"] == "true" and rows[3]["hidden"] == "false"
    assert {r["conversation_title"] for r in rows} == {"Branching demo"}


def test_csv_renders_tool_calls_and_results_as_text(features: Conversation) -> None:
    rows = {r["message_id"]: r for r in csv_rows(features)}
    tools = rows["m3"]["text"]
    assert "**Tool call:** `Read load.py` (call_1)" in tools
    assert '"file_path": "src/load.py"' in tools
    assert "**Tool error** (call_2)" in tools and "1 failed" in tools
    assert rows["m1"]["attachments"] == "load.py; report.ipynb"
    assert (rows["m5"]["status"], rows["m5"]["text"]) == ("deleted", "")
    assert (rows["m7"]["role"], rows["m7"]["hidden"]) == ("system", "true")
    assert rows["m8"]["text"].startswith("**Plot** ready")
    assert rows["m9"]["text"] == "Merci, c'est parfait — 完璧です"


def test_csv_leaves_html_alone_but_neutralises_formulas() -> None:
    rows = csv_rows(attack_conversation())
    # HTML is data here: unchanged (escaping is the viewer's job)
    assert rows[0]["text"] == '<script>alert("x")</script> & <b>bold</b>'
    # cells a spreadsheet would evaluate get a leading apostrophe
    assert rows[1]["text"] == "'=1+2"
    assert rows[2]["text"] == "'-2 is negative\n@SUM(A1)"
    assert rows[3]["text"] == "'\t=tab first"
    assert rows[0]["conversation_title"] == "'=cmd|\"/c calc\"!A1 <script>alert(\"t\")</script>"
    assert rows[0]["author_name"] == "'@evil<img src=x onerror=alert(1)>"
    assert rows[1]["author_name"] == "'+bot" and rows[1]["model"] == "'-model"


def test_every_csv_cell_is_safe_from_formula_injection() -> None:
    for row in csv_rows(attack_conversation()):
        for column, value in row.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (column, value)


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", real_params("jupyterlab-chat/*/*.chat") + real_params("api-messages/Abelo9996__*/*"))
def test_real_fixtures_export_to_csv_with_one_row_per_message(path: Path) -> None:
    for conversation in load(path):
        rows = csv_rows(conversation)
        assert len(rows) == len(conversation.messages)
        assert [r["message_id"] for r in rows] == [m.id for m in conversation.active_path()]
        assert all(r["on_active_path"] == "true" for r in rows)
        assert [int(r["depth"]) for r in rows] == list(range(len(rows)))


# -- Parquet ------------------------------------------------------------------------------


def test_parquet_has_the_csv_columns_typed(branching: Conversation) -> None:
    table = parquet_table(branching)
    assert table.column_names == list(COLUMNS)
    schema = table.schema
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("depth").type == pa.int32()
    for column in ("on_active_path", "hidden", "edited"):
        assert schema.field(column).type == pa.bool_()
    for column in set(COLUMNS) - {"created_at", "depth", "on_active_path", "hidden", "edited"}:
        assert schema.field(column).type == pa.string(), column
    rows = table.to_pylist()
    assert [r["message_id"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[1]["created_at"] == datetime(2026, 1, 2, 3, 4, 6, 500000, tzinfo=timezone.utc)
    assert rows[3]["created_at"] is None and rows[0]["parent_id"] is None
    assert [r["on_active_path"] for r in rows] == [True, False, True, True]
    assert schema.metadata[b"convshare.schema"] == b"convshare/1"


def test_parquet_keeps_raw_values_without_apostrophes() -> None:
    rows = parquet_table(attack_conversation()).to_pylist()
    assert rows[1]["text"] == "=1+2"
    assert rows[0]["text"] == '<script>alert("x")</script> & <b>bold</b>'


def test_parquet_of_an_empty_conversation_has_the_schema_and_no_rows() -> None:
    table = parquet_table(Conversation(id="empty", source=SourceInfo(format="openai-chat")))
    assert table.num_rows == 0 and table.column_names == list(COLUMNS)


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", real_params("jupyterlab-chat/*/*.chat"))
def test_real_chat_files_export_to_parquet_with_times(path: Path) -> None:
    conversation = load_one(path)
    table = parquet_table(conversation)
    assert table.num_rows == len(conversation.messages)
    times = table.column("created_at").to_pylist()
    assert times == [m.created_at for m in conversation.active_path()]


# -- Markdown -----------------------------------------------------------------------------


def test_markdown_shows_the_active_path_with_headings(branching: Conversation) -> None:
    text = markdown(branching)
    assert text.startswith("# Branching demo\n\n_3 messages · demo · exported from jupyter-convshare_\n")
    assert "### **User — Ada** · 2026-01-02 03:04:05 UTC\n\n+1 or -1?" in text
    assert "### **Assistant — Helper (gpt-4o-mini)** · 2026-01-02 03:05:00 UTC" in text
    # the other branch is not on the path
    assert "First answer." not in text
    # code blocks are kept, attachments listed
    assert "````python\nprint('```')\n````" in text
    assert "Attachments:\n- result.csv" in text
    assert "### **User — Ada** · edited\n" in text


def test_markdown_of_a_chat_marks_deleted_and_system_messages(features: Conversation) -> None:
    text = markdown(features)
    assert "### **User — Anonymous Io** · 2026-05-28 20:27:10 UTC · deleted\n\n_This message was deleted._" in text
    assert "### **System — System** · 2026-05-28 20:27:30 UTC · hidden" in text
    assert "### **Assistant — Claude** · 2026-05-28 20:27:20 UTC · error" in text
    assert "**Tool call:** `Read load.py` (call_1)" in text
    assert "Attachments:\n- load.py\n- report.ipynb" in text


def test_markdown_leaves_html_unchanged() -> None:
    text = markdown(attack_conversation())
    assert '<script>alert("x")</script> & <b>bold</b>' in text
    assert "### **User — @evil<img src=x onerror=alert(1)>**" in text
    assert text.startswith('# =cmd|"/c calc"!A1 <script>alert("t")</script>\n')


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", real_params("jupyterlab-chat/*/*.chat") + real_params("api-messages/Abelo9996__*/*"))
def test_real_fixtures_export_to_markdown_with_every_message(path: Path) -> None:
    for conversation in load(path):
        text = markdown(conversation)
        path_messages = conversation.active_path()
        assert text.count("\n### **") == len(path_messages)
        last_text = next((m.text for m in reversed(path_messages) if m.text), "")
        assert last_text in text


# -- size ---------------------------------------------------------------------------------


def test_long_chains_export_without_recursion_limits() -> None:
    conversation = Conversation(id="long", source=SourceInfo(format="openai-chat"),
                                participants={"user": Participant(id="user")})
    for i in range(3000):
        conversation.append(Message(id=str(i), role="user", author_id="user", parts=[Part.text_part(f"m{i}")]))
    rows = csv_rows(conversation)
    assert len(rows) == 3000 and rows[-1]["depth"] == "2999"
