"""The parts every convshare widget shares: its client, its status line, safe links.

Not public API: the widgets import from here.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ipywidgets as w

from ..client import ConvShareClient, ConvShareClientError

F = TypeVar("F", bound=Callable[..., Any])

COPY_HINT = (
    "Select the link and copy it (Ctrl+C / \N{PLACE OF INTEREST SIGN}C): "
    "notebook widgets cannot write to the clipboard without JavaScript."
)
"""Said when a Copy button is clicked: core widgets have no clipboard access."""


def client_or_default(client: ConvShareClient | None) -> ConvShareClient:
    """``client``, or a :class:`ConvShareClient` for the discovered server.

    Raises:
        ConvShareClientError: no server could be found (the widget shows it).
    """
    return client if client is not None else ConvShareClient()



class LazyClient:
    """Mixin of the widgets that call the REST API: ``self._client`` (a
    :class:`~jupyter_convshare.client.ConvShareClient` or ``None``) is made on first use, so
    a missing server shows as an error in the widget's status line, not at construction."""

    _client: ConvShareClient | None

    @property
    def client(self) -> ConvShareClient:
        """The REST client (made on first use, so a missing server shows as a status error)."""
        if self._client is None:
            self._client = client_or_default(None)
        return self._client


def describe_error(exc: BaseException) -> str:
    """One line for the user: the server's message for client errors, the type otherwise."""
    if isinstance(exc, ConvShareClientError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


class StatusLine(w.HTML):
    """One line of status text under a widget; errors in red. Text is always escaped."""

    def __init__(self) -> None:
        super().__init__(value="")
        self.text = ""
        self.is_error = False

    def say(self, text: str) -> None:
        """Show ``text`` as information."""
        self._show(text, error=False)

    def error(self, text: str) -> None:
        """Show ``text`` as an error."""
        self._show(text, error=True)

    def clear(self) -> None:
        """Show nothing."""
        self._show("", error=False)

    def _show(self, text: str, *, error: bool) -> None:
        self.text, self.is_error = text, error
        if not text:
            self.value = ""
            return
        colour = "var(--jp-error-color1, #b00020)" if error else "var(--jp-ui-font-color1, inherit)"
        prefix = "Error: " if error else ""
        self.value = f'<span style="color:{colour}">{html.escape(prefix + text)}</span>'


def reporting(method: F) -> F:
    """Decorate a widget method so that any exception shows in ``self.status`` instead.

    A notebook user should see what went wrong in the widget, never a traceback in the
    log; the method returns ``None`` after an error.
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # every failure ends in the status line
            self.status.error(describe_error(exc))
            return None

    return wrapper  # type: ignore[return-value]


def safe_link(url: str | None, text: str = "open") -> str:
    """HTML of an anchor that opens ``url`` in a new tab, only for http(s) URLs.

    A hostile or broken server must not hand the notebook a ``javascript:`` link; other
    schemes show as plain escaped text.
    """
    if not url:
        return ""
    if urlsplit(url).scheme.lower() in ("http", "https"):
        return (
            f'<a href="{html.escape(url, quote=True)}" target="_blank" '
            f'rel="noopener noreferrer">{html.escape(text)}</a>'
        )
    return f"<code>{html.escape(url)}</code>"


def selectable(url: str) -> str:
    """HTML of ``url`` as code that one click selects entirely (``user-select: all``)."""
    return f'<code style="user-select:all;word-break:break-all">{html.escape(url)}</code>'


class ReadOnlyText(w.Text):
    """A Text whose value the user cannot change (edits are undone at once).

    ipywidgets has no ``readonly`` input; a disabled one cannot be selected in every
    browser, so this stays enabled (selectable) and puts the value back on edits.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fixed: str = str(kwargs.get("value", ""))
        self.observe(self._restore, names="value")

    def set(self, value: str) -> None:
        """Change the value (the only way to)."""
        self._fixed = value
        self.value = value

    def _restore(self, change: dict[str, Any]) -> None:
        if change["new"] != self._fixed:
            self.value = self._fixed


def short_time(value: Any) -> str:
    """``"2026-01-08 10:00 UTC"`` for an aware datetime, ``"never"`` for ``None``."""
    if value is None:
        return "never"
    return value.strftime("%Y-%m-%d %H:%M UTC")
