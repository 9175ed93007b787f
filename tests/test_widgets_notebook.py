"""``examples/widgets.ipynb`` runs top to bottom in a real kernel against a real server.

The kernel (nbclient, the ``python3`` kernel of this environment) finds the test server
through ``JUPYTER_SERVER_URL`` / ``JUPYTER_TOKEN`` in its environment, which
``client.discover_server`` reads. The server runs in the test's event loop, so the
notebook is executed with ``async_execute`` while the loop serves the kernel's requests.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "widgets.ipynb"


@pytest.fixture
def jp_server_config(jp_server_config):
    """The project's server config plus one configured group, so the notebook adds it."""
    config = dict(jp_server_config)
    config["ConvShareApp"] = {**config["ConvShareApp"], "groups": {"class-2026": ["student1"]}}
    return config


def texts(notebook: nbformat.NotebookNode) -> list[str]:
    """Every stream text and text/plain result of the executed notebook."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                found.append(output.text)
            elif "data" in output and "text/plain" in output.data:
                found.append(output.data["text/plain"])
    return found


async def test_widgets_notebook_runs_without_errors(
    jp_serverapp, http_server, jp_http_port, jp_base_url, service, convshare_app, tmp_path
):
    # Given the example notebook and a kernel that knows the test server
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    env = dict(os.environ)
    env.pop("JPY_API_TOKEN", None)
    env["JUPYTER_SERVER_URL"] = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    env["JUPYTER_TOKEN"] = jp_serverapp.identity_provider.token
    runner = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    # When it is executed top to bottom
    await runner.async_execute(env=env)
    # Then no cell failed and no widget reported an error
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    output = "\n".join(texts(notebook))
    assert "Error:" not in output, output
    # ... the walk-through did what it says: link created, rotated, group added, all revoked
    assert "Link created." in output
    assert "link changed: True" in output
    assert "group class-2026 collaborate" in output
    assert "Revoked 1 share." in output
    # ... widgets were displayed as widget views
    views = [
        o for c in notebook.cells for o in c.get("outputs", [])
        if "data" in o and "application/vnd.jupyter.widget-view+json" in o.data
    ]
    assert len(views) >= 5
    # ... and the store is left empty
    assert service.list_shares(convshare_app.owner) == []
