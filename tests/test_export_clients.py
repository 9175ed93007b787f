"""The export formats from a terminal (``jupyter convshare export``) and from a notebook
(:class:`~jupyter_convshare.client.ConvShareClient`), against a real store and a real server."""

from __future__ import annotations

import json
from pathlib import Path

import html5lib
import nbformat
import pytest

from jupyter_convshare.cli import EXPORT_FORMAT_NAMES, _format_of
from jupyter_convshare.client import EXPORT_EXTENSIONS, ConvShareClientError
from jupyter_convshare.core.exporters import EXPORT_FORMATS

from .test_cli import cli, cli_env, demo_chat, share_json, store  # noqa: F401 (fixtures)
from .test_client import client, demo_in_root, run, server  # noqa: F401 (fixtures)


def test_the_cli_and_the_client_know_every_export_format() -> None:
    assert EXPORT_FORMAT_NAMES == tuple(EXPORT_FORMATS)
    assert set(EXPORT_EXTENSIONS.values()) == set(EXPORT_FORMATS)
    for name, fmt in EXPORT_FORMATS.items():
        assert EXPORT_EXTENSIONS[fmt.extension] == name


@pytest.mark.parametrize(
    ("output", "fmt"),
    [("a.html", "html"), ("A.HTM", "html"), ("x/talk.ipynb", "ipynb"), ("t.chat", "chat"), ("t.md", "md"),
     ("t.markdown", "md"), ("t.parquet", "parquet"), ("t.csv", "csv"), ("t.txt", "json"), ("", "json")],
)
def test_the_cli_takes_the_format_from_the_output_extension(output: str, fmt: str) -> None:
    assert _format_of(output) == fmt


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_exports_a_share_as_a_self_contained_html_page(cli, demo_chat, tmp_path):  # noqa: F811
    # Given a shared .chat file
    result = share_json(cli, str(demo_chat))
    # When it is exported to a .html file without --format
    out = tmp_path / "talk.html"
    done = cli("export", result["share_id"], f"-o={out}")
    # Then the file is the HTML page: CSP meta tag, inline style, no script, the messages
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    doc = html5lib.parse(text, namespaceHTMLElements=False)
    assert any(m.get("http-equiv") == "Content-Security-Policy" for m in doc.iter("meta"))
    assert list(doc.iter("script")) == [] and len(list(doc.iter("style"))) == 1
    assert "Jupyternaut" in text and "sales.csv" in text


def test_cli_exports_a_share_as_a_chat_file_jupyterlab_chat_loads(cli, demo_chat):  # noqa: F811
    result = share_json(cli, str(demo_chat))
    done = cli("export", result["conversation_id"], "--format=chat")
    assert done.returncode == 0, done.stderr
    original = json.loads(demo_chat.read_text(encoding="utf-8"))
    exported = json.loads(done.stdout)
    assert [m["id"] for m in exported["messages"]] == [m["id"] for m in original["messages"]]
    assert set(exported["users"]) == set(original["users"])
    ychat = pytest.importorskip("jupyterlab_chat.ychat")
    chat = ychat.YChat()
    chat.set(done.stdout)
    assert len(chat.get_messages()) == len(original["messages"])


def test_cli_exports_a_file_as_a_valid_notebook_without_storing_it(cli, demo_chat, tmp_path):  # noqa: F811
    out = tmp_path / "talk.ipynb"
    done = cli("export", str(demo_chat), f"-o={out}")
    assert done.returncode == 0, done.stderr
    notebook = nbformat.read(out, as_version=4)
    nbformat.validate(notebook)
    assert notebook.cells[0].source.startswith("# ")
    assert json.loads(cli("list", "--json").stdout) == []


def test_cli_refuses_an_unknown_format_naming_the_choices(cli, demo_chat):  # noqa: F811
    done = cli("export", str(demo_chat), "--format=pdf")
    assert done.returncode != 0 and "ipynb" in done.stderr and "Traceback" not in done.stderr


# -- the notebook client ----------------------------------------------------------------------


async def test_client_saves_exports_named_by_their_extension(client, demo_in_root, tmp_path):  # noqa: F811
    # Given a share made from a notebook
    shared = await run(client.share, demo_in_root)
    # When its exports are saved to files named .ipynb, .chat and .html
    notebook_path = await run(client.save_export, shared.share_id, tmp_path / "talk.ipynb")
    chat_path = await run(client.save_export, shared.share_id, tmp_path / "talk.chat")
    html_path = await run(client.save_export, shared.share_id, tmp_path / "talk.html", as_viewer=True)
    # Then each file is in the format its extension names
    nbformat.validate(nbformat.read(notebook_path, as_version=4))
    assert json.loads(chat_path.read_text(encoding="utf-8"))["messages"]
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("talk", ".talk"))) == [
        "talk.chat", "talk.html", "talk.ipynb"]


async def test_client_exports_what_viewers_see(client, demo_in_root):  # noqa: F811
    shared = await run(client.share, demo_in_root)
    owners = json.loads(await run(client.export, shared.share_id, "chat"))
    viewers = json.loads(await run(client.export_shared, shared.share_id, "chat"))
    # the viewer's copy has opaque user ids; the owner's keeps the chat's own
    assert [m["id"] for m in viewers["messages"]] == [m["id"] for m in owners["messages"]]
    humans = [k for k, u in viewers["users"].items() if not u["bot"]]
    assert humans and all(k.startswith("user-") for k in humans)
    assert not all(k.startswith("user-") for k, u in owners["users"].items() if not u["bot"])


async def test_client_export_of_an_unknown_format_is_a_400_naming_the_field(client, demo_in_root):  # noqa: F811
    shared = await run(client.share, demo_in_root)
    with pytest.raises(ConvShareClientError) as caught:
        await run(client.export_shared, shared.share_id, "pdf")
    assert caught.value.status == 400 and "format" in str(caught.value)


def test_save_export_writes_nothing_when_the_export_fails(tmp_path: Path) -> None:
    from jupyter_convshare.client import ConvShareClient

    offline = ConvShareClient("http://127.0.0.1:9/", "token", timeout=0.5)
    with pytest.raises((ConvShareClientError, OSError)):
        offline.save_export("s1", tmp_path / "x.html")
    assert list(tmp_path.iterdir()) == []
