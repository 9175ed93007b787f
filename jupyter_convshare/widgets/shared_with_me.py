"""``SharedWithMe``: my library — conversations shared with me, saved or granted.

Issue 3 items 7 and 9 (DESIGN.md sections 4 and 8): every item shows where it came from
(this server, or another server's origin) and when, its status (active, expired,
revoked, or a copy), and can be opened, read, renamed, tagged, archived and removed; a
share link (of this or another server) can be saved from a text field.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..client import ConvShareClient, _time
from .status import LazyClient, StatusLine, reporting, safe_link, short_time

__all__ = ["LibraryRow", "SharedWithMe"]

_STATUS_TEXT = {
    "active": "",
    "expired": "expired",
    "revoked": "no longer shared",
    "copy": "saved copy",
}


def _origin_text(item: dict[str, Any]) -> str:
    origin = str(item.get("origin") or "this server")
    owner = item.get("owner")
    return f"from {owner} on {origin}" if owner else f"from {origin}"


class LibraryRow(w.VBox):
    """One item of :class:`SharedWithMe`.

    First line: title (the user's name for it, else its title; escaped), origin, date,
    permission and status, an *open* link when the item has a viewer URL (only http(s)
    links become clickable). Second line: name and tags fields with *Rename* and *Save
    tags*, *Archive*/*Unarchive*, *Read*, *Remove* (asks first).

    Args:
        item: the library item JSON (``GET convshare/api/library``).
        manager: the :class:`SharedWithMe` whose actions the buttons call (``None``: a
            row that only shows the item).

    Attributes:
        item, info, open_link, name_text, tags_text, rename_button, tags_button,
        archive_button, read_button, remove_button, confirm_button, cancel_button.
    """

    def __init__(self, item: dict[str, Any], manager: SharedWithMe | None = None) -> None:
        self.item = item
        name = item.get("name") or item.get("title") or "(untitled conversation)"
        when = short_time(_time(item.get("saved_at")))
        status = _STATUS_TEXT.get(str(item.get("status")), str(item.get("status") or ""))
        permission = item.get("permission")
        details = [_origin_text(item), f"saved {when}" if item.get("kind") == "saved" else f"shared {when}"]
        if permission:
            details.append(str(permission))
        if status:
            details.append(status)
        if item.get("tags"):
            details.append("tags: " + ", ".join(str(t) for t in item["tags"]))
        self.info = w.HTML(
            f"<strong>{html.escape(str(name))}</strong> "
            f"<span style=\"opacity:0.75\">{html.escape(' · '.join(details))}</span>"
        )
        if item.get("url"):
            link_html = safe_link(item.get("url"), "open")
        elif item.get("status") == "active" and item.get("share_id"):
            link_html = "<em>link off</em>"  # the owner switched the link off; Read still works
        else:
            link_html = ""
        self.open_link = w.HTML(link_html)
        small = w.Layout(width="auto")
        self.name_text = w.Text(value=str(item.get("name") or ""), placeholder="your name for it",
                                layout=w.Layout(width="14em"))
        self.rename_button = w.Button(description="Rename", layout=small)
        self.tags_text = w.Text(value=", ".join(str(t) for t in item.get("tags") or []),
                                placeholder="tags, comma separated", layout=w.Layout(width="14em"))
        self.tags_button = w.Button(description="Save tags", layout=small)
        self.archive_button = w.Button(
            description="Unarchive" if item.get("archived") else "Archive", icon="archive", layout=small
        )
        self.read_button = w.Button(description="Read", icon="book", layout=small,
                                    disabled=item.get("status") not in ("active", "copy"))
        self.remove_button = w.Button(description="Remove", icon="trash", button_style="danger", layout=small,
                                      disabled=item.get("kind") == "granted")
        self.remove_button.tooltip = (
            "Granted to you: it stays while the grant does (archive it to hide it)"
            if item.get("kind") == "granted" else "Remove from your library"
        )
        self.confirm_button = w.Button(description="Yes, remove", button_style="danger",
                                       layout=w.Layout(width="auto", display="none"))
        self.cancel_button = w.Button(description="Cancel", layout=w.Layout(width="auto", display="none"))
        if manager is not None:
            self.rename_button.on_click(lambda _: manager.rename(self))
            self.tags_button.on_click(lambda _: manager.set_tags(self))
            self.archive_button.on_click(lambda _: manager.archive(self))
            self.read_button.on_click(lambda _: manager.read(self))
            self.remove_button.on_click(lambda _: self.ask_remove())
            self.cancel_button.on_click(lambda _: self.cancel_remove())
            self.confirm_button.on_click(lambda _: manager.remove(self))
        super().__init__(
            [
                w.HBox([self.info, self.open_link], layout=w.Layout(align_items="center")),
                w.HBox(
                    [
                        self.name_text, self.rename_button, self.tags_text, self.tags_button,
                        self.archive_button, self.read_button, self.remove_button,
                        self.confirm_button, self.cancel_button,
                    ],
                    layout=w.Layout(align_items="center"),
                ),
            ],
            layout=w.Layout(border_bottom="1px solid var(--jp-border-color2, #ddd)", padding="4px 0"),
        )

    @property
    def html(self) -> str:
        """The row's HTML texts (info and link), for tests and plain displays."""
        return f"{self.info.value} {self.open_link.value}"

    @property
    def tags(self) -> list[str]:
        """The tags typed in the tags field (comma separated, blanks dropped)."""
        return [t.strip() for t in self.tags_text.value.split(",") if t.strip()]

    def ask_remove(self) -> None:
        """First step of Remove: show this row's confirm buttons."""
        self.remove_button.layout.display = "none"
        self.confirm_button.layout.display = None
        self.cancel_button.layout.display = None

    def cancel_remove(self) -> None:
        """Hide the confirm buttons; nothing changes."""
        self.remove_button.layout.display = None
        self.confirm_button.layout.display = "none"
        self.cancel_button.layout.display = "none"


class SharedWithMe(LazyClient, w.VBox):
    """My library: conversations shared with me (saved from links, or granted to me).

    Args:
        client: the REST client (default: a :class:`ConvShareClient` for the discovered
            server).

    Calls (through the client): ``GET convshare/api/library`` (on creation, Refresh, and
    after every change), ``POST convshare/api/library`` (Save), ``PATCH|DELETE
    convshare/api/library/<item_id>`` (Rename, Save tags, Archive, Remove) and ``GET
    convshare/api/library/<item_id>/conversation`` (Read).

    Attributes:
        items: the listed items (library item JSON: ``item_id, kind, share_id, title,
            name, origin, owner, permission, status, tags, archived, saved_at, url``).
        rows: one :class:`LibraryRow` per item.
        link_text, save_button: save a share link (this server's or another's).
        search_text, show_archived, refresh_button: what the list shows.
        preview: the conversation that *Read* loaded (escaped text, one line per message).
        status: the status line (errors appear here).
    """

    def __init__(self, client: ConvShareClient | None = None) -> None:
        self._client = client
        self.items: list[dict[str, Any]] = []
        self.rows: list[LibraryRow] = []
        self.link_text = w.Text(placeholder="Paste a share link to save it", layout=w.Layout(width="28em"))
        self.save_button = w.Button(description="Save to my library", icon="bookmark",
                                    layout=w.Layout(width="auto"))
        self.search_text = w.Text(placeholder="search", layout=w.Layout(width="12em"))
        self.show_archived = w.Checkbox(value=False, description="show archived", indent=False,
                                        layout=w.Layout(width="auto"))
        self.refresh_button = w.Button(description="Refresh", icon="refresh", layout=w.Layout(width="auto"))
        self.list_box = w.VBox()
        self.preview = w.HTML()
        self.status = StatusLine()
        self.save_button.on_click(lambda _: self.save())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.show_archived.observe(lambda _: self.refresh(), names="value")
        super().__init__(
            [
                w.HBox([w.HTML("<strong>Shared with you</strong>"), self.search_text, self.show_archived,
                        self.refresh_button], layout=w.Layout(align_items="center")),
                w.HBox([self.link_text, self.save_button]),
                self.list_box,
                self.preview,
                self.status,
            ]
        )
        self.refresh()

    # -- list -------------------------------------------------------------------------

    @reporting
    def refresh(self, message: str | None = None) -> None:
        """Reload the list from the server (archived items only when *show archived*)."""
        self._load()
        count = len(self.items)
        self.status.say(
            message
            or (f"{count} conversation{'s' if count != 1 else ''} in your library."
                if count else "Nothing has been shared with you yet.")
        )

    def _load(self) -> None:
        archived = None if self.show_archived.value else False
        self.items = self.client.library(archived=archived, q=self.search_text.value.strip() or None)
        self.rows = [LibraryRow(item, self) for item in self.items]
        self.list_box.children = self.rows

    # -- actions ----------------------------------------------------------------------

    @reporting
    def save(self) -> None:
        """Save the link in :attr:`link_text` (or a share id) into the library."""
        value = self.link_text.value.strip()
        if not value:
            self.status.error("paste a share link first")
            return
        item = self.client.save_to_library(value)
        self.link_text.value = ""
        title = item.get("name") or item.get("title") or "the conversation"
        verb = "Saved" if item.get("created", True) else "Already in your library:"
        self._load()
        self.status.say(f"{verb} {title} (from {item.get('origin')}).")

    @reporting
    def rename(self, row: LibraryRow) -> None:
        """Give the row's item the name typed in its name field (empty: its title again)."""
        self.client.rename_library_item(row.item["item_id"], row.name_text.value.strip() or None)
        self.refresh("Renamed.")

    @reporting
    def set_tags(self, row: LibraryRow) -> None:
        """Replace the row's item's tags with those typed in its tags field."""
        self.client.tag_library_item(row.item["item_id"], row.tags)
        self.refresh("Tags saved.")

    @reporting
    def archive(self, row: LibraryRow) -> None:
        """Archive the row's item (or bring it back when it is archived)."""
        archived = not bool(row.item.get("archived"))
        self.client.archive_library_item(row.item["item_id"], archived)
        self.refresh("Archived." if archived else "Back in your library.")

    @reporting
    def remove(self, row: LibraryRow) -> None:
        """Remove the row's item (after its confirm button)."""
        self.client.remove_library_item(row.item["item_id"])
        self.refresh("Removed from your library.")

    @reporting
    def read(self, row: LibraryRow) -> None:
        """Show the row's conversation in :attr:`preview` (its default path, as text)."""
        conversation = self.client.read_library_item(row.item["item_id"])
        names = {pid: p.display_name or pid for pid, p in conversation.participants.items()}
        lines = []
        for message in conversation.active_path():
            if message.hidden or message.status == "deleted":
                continue
            text = "\n".join(p.text or "" for p in message.parts if p.type == "text")
            who = names.get(message.author_id or "", message.role)
            lines.append(f"<p><strong>{html.escape(str(who))}</strong>: {html.escape(text)}</p>")
        title = html.escape(conversation.title or "(untitled conversation)")
        self.preview.value = f"<div><h4>{title}</h4>{''.join(lines)}</div>"
        self.status.say(f"{len(lines)} message{'s' if len(lines) != 1 else ''}.")
