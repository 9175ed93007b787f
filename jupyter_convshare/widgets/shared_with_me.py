"""``SharedWithMe``: conversations that others granted to me (organization, group, user)."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..client import ConvShareClient, _time
from .status import LazyClient, StatusLine, reporting, safe_link, short_time

__all__ = ["SharedWithMe"]


class SharedWithMe(LazyClient, w.VBox):
    """The conversations shared with the current user, with links to open them.

    Args:
        client: the REST client (default: a :class:`ConvShareClient` for the discovered
            server).

    Calls (through the client): ``GET convshare/api/shared-with-me`` (on creation and
    Refresh).

    Attributes:
        items: the listed conversations (``share_id, conversation_id, title, owner,
            permission, url, updated_at``).
        rows: one HBox per item (title, owner, permission, updated, open link).
        refresh_button: reload.
        status: the status line (errors appear here).
    """

    def __init__(self, client: ConvShareClient | None = None) -> None:
        self._client = client
        self.items: list[dict[str, Any]] = []
        self.rows: list[w.HBox] = []
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.list_box = w.VBox()
        self.status = StatusLine()
        self.refresh_button.on_click(lambda _: self.refresh())
        super().__init__(
            [
                w.HBox([w.HTML("<strong>Shared with you</strong>"), self.refresh_button]),
                self.list_box,
                self.status,
            ]
        )
        self.refresh()

    @reporting
    def refresh(self) -> None:
        """Reload the list from the server."""
        self.items = self.client.shared_with_me()
        self.rows = [self._row(item) for item in self.items]
        self.list_box.children = self.rows
        count = len(self.items)
        self.status.say(
            f"{count} conversation{'s' if count != 1 else ''} shared with you."
            if count
            else "Nothing has been shared with you yet."
        )

    @staticmethod
    def _row(item: dict[str, Any]) -> w.HBox:
        title = html.escape(str(item.get("title") or "(untitled conversation)"))
        return w.HBox(
            [
                w.HTML(f"<strong>{title}</strong>", layout=w.Layout(width="16em")),
                w.Label(f"from {item.get('owner') or '?'}", layout=w.Layout(width="10em")),
                w.Label(str(item.get("permission") or "view"), layout=w.Layout(width="7em")),
                w.Label(f"updated {short_time(_time(item.get('updated_at')))}",
                        layout=w.Layout(width="16em")),
                # The owner may have switched the link off (url None): say so.
                w.HTML(safe_link(item.get("url"), "open") if item.get("url") else "<em>link off</em>"),
            ]
        )
