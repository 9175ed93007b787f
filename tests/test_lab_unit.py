"""The JupyterLab extension's jest unit tests (``labextension/src/__tests__``), run by pytest.

``pip install -e ".[test]"`` on a machine with Node installs the extension's npm packages
(hatch-jupyter-builder runs ``jlpm install``), so the suite README.md gives runs the
TypeScript REST client's unit tests too. Without Node or without ``node_modules`` (a wheel
install) the test skips and says why.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LABEXTENSION = Path(__file__).resolve().parent.parent / "labextension"


def test_the_labextension_jest_suite_passes() -> None:
    """``jlpm test`` (jest, jsdom) in ``labextension/`` exits 0."""
    if shutil.which("node") is None:
        pytest.skip("Node is not installed: the jest tests need it")
    if not (LABEXTENSION / "node_modules" / ".bin").exists():
        pytest.skip("labextension/node_modules is absent: pip install -e . with Node runs jlpm install")
    beside = Path(sys.executable).with_name("jlpm")
    jlpm = str(beside) if beside.exists() else shutil.which("jlpm")
    if jlpm is None:
        pytest.skip("jlpm (shipped by jupyterlab, the test extra) is not on PATH")
    done = subprocess.run(
        [jlpm, "test", "--ci", "--silent"],
        cwd=LABEXTENSION,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Tests:" in done.stderr + done.stdout
    assert " failed" not in (done.stderr + done.stdout).split("Tests:")[-1].splitlines()[0]
