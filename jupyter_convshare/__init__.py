"""jupyter-convshare: share AI conversations from Jupyter as links and QR codes.

``from jupyter_convshare import share`` gives the notebook client (see
:func:`jupyter_convshare.client.share`); the server extension is
:class:`jupyter_convshare.server.app.ConvShareApp`.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__", "share"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Entry point that jupyter-server reads to load the ``convshare`` extension."""
    from .server.app import ConvShareApp

    return [{"module": "jupyter_convshare", "app": ConvShareApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where ``jupyter labextension develop`` finds the built JupyterLab extension:
    ``labextension`` (relative to this package, the output of ``jlpm build`` in the
    repository's ``labextension/``) installed as ``jupyter-convshare``."""
    return [{"src": "labextension", "dest": "jupyter-convshare"}]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package (e.g. by jupyter-server) must not import the client.
    if name == "share":
        from .client import share

        return share
    raise AttributeError(name)
