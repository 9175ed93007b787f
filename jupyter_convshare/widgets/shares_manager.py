"""``SharesManager``: my shares, with search, copy, open, revoke and revoke all."""

from __future__ import annotations

import html

import ipywidgets as w

from ..client import ConvShareClient, Share
from .status import (
    LazyClient,
    COPY_HINT,
    ReadOnlyText,
    StatusLine,
    reporting,
    safe_link,
    short_time,
)

__all__ = ["ShareRow", "SharesManager"]


class ShareRow(w.HBox):
    """One share in :class:`SharesManager`: title, expiry, views, Copy, open, Revoke.

    Attributes:
        share: the :class:`~jupyter_convshare.client.Share` shown.
        copy_button, open_link, revoke_button: the row's actions.
        confirm_button, cancel_button: the revoke confirm step (hidden until Revoke).
    """

    def __init__(self, share: Share, manager: SharesManager) -> None:
        self.share = share
        self._manager = manager
        title = html.escape(share.title or "(untitled conversation)")
        self.copy_button = w.Button(description="Copy", icon="copy", layout=w.Layout(width="auto"))
        self.open_link = w.HTML(safe_link(share.url, "open"))
        self.revoke_button = w.Button(
            description="Revoke", icon="trash", button_style="danger", layout=w.Layout(width="auto")
        )
        self.confirm_button = w.Button(
            description="Yes, revoke", button_style="danger", layout=w.Layout(width="auto", display="none")
        )
        self.cancel_button = w.Button(
            description="Cancel", layout=w.Layout(width="auto", display="none")
        )
        self.copy_button.on_click(lambda _: manager.copy(self))
        self.revoke_button.on_click(lambda _: self.ask_revoke())
        self.cancel_button.on_click(lambda _: self.cancel_revoke())
        self.confirm_button.on_click(lambda _: manager.revoke(self))
        super().__init__(
            [
                w.HTML(f"<strong>{title}</strong>", layout=w.Layout(width="16em")),
                w.Label(f"expires {short_time(share.expires_at)}", layout=w.Layout(width="18em")),
                w.Label(
                    f"{share.view_count} view{'s' if share.view_count != 1 else ''}",
                    layout=w.Layout(width="6em"),
                ),
                w.Label(share.mode, layout=w.Layout(width="5em")),
                # A share whose link is switched off still reaches its grantees.
                w.Label("link off" if share.link_enabled is False else "",
                        layout=w.Layout(width="5em")),
                self.copy_button,
                self.open_link,
                self.revoke_button,
                self.confirm_button,
                self.cancel_button,
            ],
            layout=w.Layout(align_items="center"),
        )

    def ask_revoke(self) -> None:
        """First step of Revoke: show this row's confirm buttons."""
        self.revoke_button.layout.display = "none"
        self.confirm_button.layout.display = None
        self.cancel_button.layout.display = None

    def cancel_revoke(self) -> None:
        """Hide the confirm buttons; nothing changes."""
        self.revoke_button.layout.display = None
        self.confirm_button.layout.display = "none"
        self.cancel_button.layout.display = "none"

    def matches(self, query: str) -> bool:
        """``True`` when ``query`` (case-insensitive) is in the title, share id or link."""
        query = query.strip().lower()
        if not query:
            return True
        haystack = " ".join([self.share.title or "", self.share.share_id, self.share.url]).lower()
        return query in haystack


class SharesManager(LazyClient, w.VBox):
    """The current user's shares, newest first, with their view counts.

    Args:
        client: the REST client (default: a :class:`ConvShareClient` for the discovered
            server).

    Calls (through the client): ``GET convshare/api/shares`` (on creation and Refresh),
    ``DELETE convshare/api/shares/<share_id>`` (a row's Revoke, after its confirm step)
    and ``DELETE convshare/api/shares`` (Revoke all, after a confirm step).

    Attributes:
        search: filters the rows by title, share id or link as you type.
        refresh_button, revoke_all_button: reload; revoke every share (asks first).
        confirm_all_button, cancel_all_button, confirm_all_box: the Revoke all confirm step.
        rows: the :class:`ShareRow` of every share (hidden ones included).
        copied: the link of the last row whose Copy was clicked, selectable.
        status: the status line (errors appear here).
    """

    def __init__(self, client: ConvShareClient | None = None) -> None:
        self._client = client
        self.rows: list[ShareRow] = []
        self.search = w.Text(placeholder="search title, id or link", description="Search")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.revoke_all_button = w.Button(description="Revoke all", icon="trash", button_style="danger")
        self.confirm_all_button = w.Button(description="Yes, revoke all", button_style="danger")
        self.cancel_all_button = w.Button(description="Cancel")
        self.confirm_all_label = w.Label("")
        self.confirm_all_box = w.HBox(
            [self.confirm_all_label, self.confirm_all_button, self.cancel_all_button],
            layout=w.Layout(display="none"),
        )
        self.copied = ReadOnlyText(value="", layout=w.Layout(width="40em", display="none"))
        self.list_box = w.VBox()
        self.status = StatusLine()

        self.search.observe(lambda _: self._filter(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.revoke_all_button.on_click(lambda _: self.ask_revoke_all())
        self.confirm_all_button.on_click(lambda _: self.revoke_all())
        self.cancel_all_button.on_click(lambda _: self.cancel_revoke_all())
        super().__init__(
            [
                w.HTML("<strong>My shares</strong>"),
                w.HBox([self.search, self.refresh_button, self.revoke_all_button]),
                self.confirm_all_box,
                self.copied,
                self.list_box,
                self.status,
            ]
        )
        self.refresh()

    @property
    def visible_rows(self) -> list[ShareRow]:
        """The rows the search box lets through."""
        return [row for row in self.rows if row.layout.display != "none"]

    @reporting
    def refresh(self) -> None:
        """Reload the list from the server (keeps the search)."""
        shares = self.client.list_shares()
        self.rows = [ShareRow(share, self) for share in shares]
        self.list_box.children = self.rows
        self._filter()
        self.status.say(f"{len(shares)} share{'s' if len(shares) != 1 else ''}.")

    def copy(self, row: ShareRow) -> None:
        """Show ``row``'s link, selectable, and how to copy it."""
        self.copied.set(row.share.url)
        self.copied.layout.display = None
        self.status.say(COPY_HINT)

    @reporting
    def revoke(self, row: ShareRow) -> None:
        """Revoke one share (its confirm step done) and drop its row."""
        self.client.revoke(row.share.share_id)
        self.rows = [r for r in self.rows if r is not row]
        self.list_box.children = self.rows
        self.status.say(f"Revoked {row.share.title or row.share.share_id}.")

    def ask_revoke_all(self) -> None:
        """First step of Revoke all: show the confirm row with how many links die."""
        count = len(self.rows)
        self.confirm_all_label.value = (
            f"Revoke all {count} share{'s' if count != 1 else ''}? Every link stops working."
        )
        self.confirm_all_box.layout.display = None

    def cancel_revoke_all(self) -> None:
        """Hide the confirm row; nothing changes."""
        self.confirm_all_box.layout.display = "none"
        self.status.say("Nothing revoked.")

    @reporting
    def revoke_all(self) -> None:
        """Second step of Revoke all: revoke every share of mine, then reload."""
        self.confirm_all_box.layout.display = "none"
        count = self.client.revoke_all()
        self.refresh()
        self.status.say(f"Revoked {count} share{'s' if count != 1 else ''}.")

    def _filter(self) -> None:
        for row in self.rows:
            row.layout.display = None if row.matches(self.search.value) else "none"
