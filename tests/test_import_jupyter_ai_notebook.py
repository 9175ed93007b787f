"""Jupyter AI ``%%ai`` notebooks: the two real example notebooks, an own notebook and bad input.

Real fixtures are read in place from ../shared/fixtures/real/jupyter-ai (skipped when absent).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from jupyter_convshare.core.errors import ImportFailed
from jupyter_convshare.core.exporters import export
from jupyter_convshare.core.importers import detect, load, load_one

from .conftest import real_fixture, real_params

DIR = ("jupyter-ai", "jupyterlab__jupyter-ai")


@pytest.mark.fixtures_real
@pytest.mark.parametrize("path", real_params("jupyter-ai/*/*.ipynb"))
def test_every_real_notebook_imports_its_ai_cells_as_alternating_turns(path: Path) -> None:
    # Given a real notebook of %%ai examples, When it is imported
    conversation = load_one(path)
    # Then it is one linear chain of user prompts each answered once, without invented times
    assert detect(path) == "jupyter-ai-notebook"
    path_ = conversation.active_path()
    assert len(path_) == len(conversation.messages) and len(conversation.leaves()) == 1
    assert [m.role for m in path_] == ["user", "assistant"] * (len(path_) // 2)
    assert all(m.created_at is None for m in path_) and conversation.created_at is None
    assert all(m.model for m in path_ if m.role == "assistant")
    assert load_one(export(conversation, "json")).to_dict() == conversation.to_dict()


@pytest.mark.fixtures_real
def test_real_commands_notebook_takes_models_from_output_metadata() -> None:
    # Given commands.ipynb: four %%ai cells among %ai commands, outputs carrying jupyter_ai metadata
    conversation = load_one(real_fixture(*DIR, "commands.ipynb"))
    messages = conversation.active_path()
    # Then only the four %%ai cells are turns (the %ai list/register/... cells are not)
    assert len(messages) == 8
    assert messages[0].id == "ea75ac14-d83d-45b4-8c1d-40e4fbc1d263" and messages[0].text == "What model is this?"
    assert messages[0].extra["jupyter-ai"]["magic"] == "%%ai gpt4"
    # And the model and provider come from the metadata, not from the alias on the magic line
    answers = [m for m in messages if m.role == "assistant"]
    assert [m.model for m in answers] == ["gpt-4", "babbage-002", "company", "company"]
    assert conversation.participants[answers[0].author_id].provider == "openai-chat"
    assert conversation.participants[answers[1].author_id].provider == "openai"
    assert answers[0].text.startswith("Apologies for the confusion")
    # And the last answer is a text/plain-only output (top-level jupyter_ai metadata)
    assert messages[-1].parts[0].format == "plain" and messages[-1].text == " Spectra Socks "
    assert answers[-1].extra["jupyter-ai"]["provenance"] == {"custom_chain_id": "company"}


@pytest.mark.fixtures_real
def test_real_2023_notebook_without_metadata_parses_the_magic_line() -> None:
    # Given magics.ipynb (2023): display_data outputs with no provenance metadata
    conversation = load_one(real_fixture(*DIR, "magics.ipynb"))
    messages = conversation.active_path()
    assert len(messages) == 22
    assert messages[0].text == "Write a poem about C++." and messages[1].model == "claude-v1.2"
    assert conversation.participants[messages[1].author_id].provider == "anthropic"
    assert messages[1].extra["jupyter-ai"] == {"provenance_from": "magic line"}
    # And prompts keep their interpolation braces as written
    assert "{In[11]}" in messages[14].text and messages[15].model == "command-xlarge-nightly"
    # And HTML and LaTeX answers are mime bundles (the renderer decides how to show them)
    html = messages[9].parts[0]
    assert html.type == "mime_bundle" and html.data["text/html"].startswith("<svg")
    assert messages[11].parts[0].type == "mime_bundle" and "text/latex" in messages[11].parts[0].data
    assert messages[-1].text.startswith("Here's the Python code to solve the 2D Laplace equation")
    assert conversation.title == "magics"


def own_notebook() -> dict:
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# Notes"),
        new_code_cell("%%ai openai-chat:gpt-4o -f markdown\nExplain {x}",
                      outputs=[new_output("execute_result", {"text/markdown": "It is **x**.", "text/plain": "x"},
                                          execution_count=1,
                                          metadata={"text/markdown": {"jupyter_ai_v3": {"model_id": "gpt-4o"}}})]),
        new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="1\n")]),
        new_code_cell("%%ai bad:model\nFail please",
                      outputs=[new_output("error", ename="ValueError", evalue="no key", traceback=["tb"])]),
        new_code_cell("%%ai local:m\nNot run yet"),
    ]
    return json.loads(nbformat.writes(nb))


def test_own_notebook_maps_errors_unrun_cells_and_v3_metadata() -> None:
    conversation = load_one(json.dumps(own_notebook()).encode(), name="work/ai.ipynb")
    messages = conversation.active_path()
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1].model == "gpt-4o" and messages[1].text == "It is **x**."
    assert messages[3].status == "error" and messages[3].text == "ValueError: no key"
    assert messages[3].model == "model" and conversation.participants[messages[3].author_id].provider == "bad"
    assert messages[-1].text == "Not run yet"
    assert conversation.source.file_name == "ai.ipynb" and conversation.title == "ai"


def test_notebook_without_ai_cells_is_refused() -> None:
    nb = json.loads(nbformat.writes(new_notebook(cells=[new_code_cell("%ai list")])))
    with pytest.raises(ImportFailed, match=r"^plain\.ipynb: jupyter-ai-notebook format: cells: no %%ai cell"):
        load(nb, name="plain.ipynb")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda nb: nb.update(nbformat="four"), r"nbformat: expected an integer"),
        (lambda nb: nb["cells"][1].update(outputs="none"), r"not a valid notebook"),
        (lambda nb: nb["cells"][1].update(cell_type="wizard"), r"not a valid notebook"),
    ],
)
def test_invalid_notebook_names_file_format_and_place(change, expected: str) -> None:
    nb = own_notebook()
    change(nb)
    with pytest.raises(ImportFailed, match=r"^bad\.ipynb: jupyter-ai-notebook format: .*" + expected):
        load(nb, name="bad.ipynb", format="jupyter-ai-notebook")


def test_truncated_notebook_is_refused() -> None:
    with pytest.raises(ImportFailed, match=r"^cut\.ipynb: invalid JSON at line"):
        load(json.dumps(own_notebook()).encode()[:-30], name="cut.ipynb")


def test_code_format_answer_takes_the_inserted_cell_below() -> None:
    nb = new_notebook(cells=[
        new_code_cell("%%ai chatgpt -f code\nA function that adds", outputs=[new_output(
            "execute_result", {"text/markdown": "AI generated code inserted below &#11015;&#65039;",
                               "text/plain": "x"}, execution_count=1)]),
        new_code_cell("def add(a, b):\n    return a + b"),
    ])
    answer = load_one(json.loads(nbformat.writes(nb)), name="code.ipynb").active_path()[-1]
    assert [p.type for p in answer.parts] == ["text", "code"]
    assert answer.parts[1].text == "def add(a, b):\n    return a + b" and answer.parts[1].language == "python"
