"""Shared test fixtures.

Real third-party conversation files live in ``../shared/fixtures/real`` (beside the
clone; CI has it). They are read in place, never copied into the project. Tests that
need them are skipped, with the reason shown, when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

HERE = Path(__file__).resolve().parent
PROJECT_FIXTURES = HERE / "fixtures"
SHARED = Path(os.environ.get("CONVSHARE_SHARED_DIR", HERE.parent.parent / "shared"))
REAL = SHARED / "fixtures" / "real"


def real_fixture(*parts: str) -> Path:
    """Path of a real fixture under ``../shared/fixtures/real``; skips the test if absent."""
    path = REAL.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real fixture {path} is absent (../shared/fixtures/real not beside the clone)")
    return path


def real_fixtures(pattern: str) -> list[Path]:
    """Real fixtures matching a glob under ``../shared/fixtures/real`` (``[]`` when absent).

    Use with :func:`real_params` so that an absent folder shows as a skipped test.
    """
    if not REAL.exists():
        return []
    return sorted(REAL.glob(pattern))


def real_params(pattern: str) -> list:
    """``pytest.param`` list for ``parametrize``: one per real fixture, or one skip."""
    paths = real_fixtures(pattern)
    if not paths:
        return [
            pytest.param(
                None,
                marks=pytest.mark.skip(reason=f"no real fixtures {pattern} in {REAL} (../shared absent)"),
                id="real-fixtures-absent",
            )
        ]
    return [pytest.param(p, id=str(p.relative_to(REAL))) for p in paths]


@pytest.fixture
def jp_server_config(tmp_path):
    """Enable the extension, forbid unauthenticated access, keep the store in tmp_path."""
    return {
        "ServerApp": {
            "jpserver_extensions": {
                "jupyter_convshare": True,
                # its TermSocket GET has no auth decorator, which our filterwarnings turns into an error
                "jupyter_server_terminals": False,
            },
            "allow_unauthenticated_access": False,
        },
        "ConvShareApp": {
            "store_dir": str(tmp_path / "convshare-store"),
            # standalone even when the tests run inside a JupyterHub single-user server
            "hub_service_url": "",
        },
    }


@pytest.fixture
def convshare_app(jp_serverapp):
    """The running ConvShareApp extension instance."""
    ext = jp_serverapp.extension_manager.extension_apps["jupyter_convshare"]
    return next(iter(ext))


@pytest.fixture
def service(convshare_app):
    """The running server's ShareService (its ``clock`` attribute may be replaced)."""
    return convshare_app.service
