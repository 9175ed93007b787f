"""``GroupPermissionEditor``: who besides link holders may view or collaborate on a share."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..client import ConvShareClient
from .status import LazyClient, StatusLine, reporting

__all__ = ["GroupPermissionEditor", "GroupGrantRow"]

PERMISSIONS: list[tuple[str, str]] = [("view", "view"), ("collaborate", "collaborate")]
"""Grant permissions of the REST API (issue 3): read-only, or may add messages."""


class GroupGrantRow(w.HBox):
    """One group grant: the group's name, its permission (changeable) and Remove.

    Attributes:
        grant: the grant JSON (``grant_id``, ``principal``, ``permission``, ...).
        permission: Dropdown; changing it PATCHes the grant.
        remove_button: deletes the grant.
    """

    def __init__(self, grant: dict[str, Any], editor: GroupPermissionEditor) -> None:
        self.grant = grant
        self.permission = w.Dropdown(
            options=PERMISSIONS, value=grant.get("permission", "view"), layout=w.Layout(width="10em")
        )
        self.remove_button = w.Button(description="Remove", icon="trash", layout=w.Layout(width="auto"))
        self.permission.observe(lambda change: editor.change(self, change["new"]), names="value")
        self.remove_button.on_click(lambda _: editor.remove(self))
        super().__init__(
            [
                w.HTML(f"group <strong>{html.escape(str(grant.get('principal')))}</strong>",
                       layout=w.Layout(width="16em")),
                self.permission,
                self.remove_button,
            ]
        )


class GroupPermissionEditor(LazyClient, w.VBox):
    """Grant the organization and groups ``view`` or ``collaborate`` on one share.

    Args:
        share_id: the share (its owner, or an admin, may change its grants).
        client: the REST client (default: a :class:`ConvShareClient` for the discovered
            server).

    Calls (through the client): ``GET convshare/api/groups`` (the configured groups),
    ``GET convshare/api/shares/<share_id>/grants`` (on creation and Refresh),
    ``POST .../grants`` (add a group, or set the organization's permission), ``PATCH
    .../grants/<grant_id>`` (change a group's permission) and ``DELETE
    .../grants/<grant_id>`` (remove; the organization set to "no access").
    User grants are kept as they are (not shown here).

    Attributes:
        organization: Dropdown "no access" / "view" / "collaborate" for every
            authenticated user of the server.
        group_rows: a :class:`GroupGrantRow` per group grant.
        add_group, add_permission, add_button: add (or update) a group grant.
        refresh_button: reload from the server.
        status: the status line (errors appear here).
    """

    def __init__(self, share_id: str, client: ConvShareClient | None = None) -> None:
        self.share_id = share_id
        self._client = client
        self.grants: list[dict[str, Any]] = []
        self.group_rows: list[GroupGrantRow] = []
        self._loading = False
        self.organization = w.Dropdown(
            options=[("no access", ""), *PERMISSIONS],
            value="",
            description="Organization",
            style={"description_width": "initial"},
        )
        self.add_group = w.Combobox(placeholder="group name", ensure_option=False,
                                    layout=w.Layout(width="16em"))
        self.add_permission = w.Dropdown(options=PERMISSIONS, value="view", layout=w.Layout(width="10em"))
        self.add_button = w.Button(description="Add group", icon="plus")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.rows_box = w.VBox()
        self.status = StatusLine()
        self.organization.observe(lambda change: self.set_organization(change["new"]), names="value")
        self.add_button.on_click(lambda _: self.add())
        self.refresh_button.on_click(lambda _: self.refresh())
        super().__init__(
            [
                w.HTML("<strong>Who can open this conversation when logged in</strong>"),
                self.organization,
                self.rows_box,
                w.HBox([self.add_group, self.add_permission, self.add_button, self.refresh_button]),
                self.status,
            ]
        )
        self.refresh()

    @reporting
    def refresh(self) -> None:
        """Reload the configured groups and the share's grants."""
        groups = self.client.groups()
        self.add_group.options = tuple(str(g.get("name")) for g in groups if g.get("name"))
        self._show(self.client.list_grants(self.share_id))
        self.status.say(f"{len(self.group_rows)} group grant{'s' if len(self.group_rows) != 1 else ''}.")

    @reporting
    def set_organization(self, permission: str) -> None:
        """Give every authenticated user ``permission``, or remove their grant (``""``)."""
        if self._loading:
            return
        current = self._organization_grant()
        if permission:
            self.client.grant(self.share_id, "organization", None, permission)
            self.status.say(f"Everyone in the organization can now {permission}.")
        elif current is not None:
            self.client.revoke_grant(self.share_id, str(current["grant_id"]))
            self.status.say("The organization no longer has access (other grants stay).")
        self._reload_grants()

    @reporting
    def add(self) -> None:
        """Grant the group typed or chosen in ``add_group`` the chosen permission."""
        name = self.add_group.value.strip()
        if not name:
            raise ValueError("choose or type a group name first")
        self.client.grant(self.share_id, "group", name, self.add_permission.value)
        self.add_group.value = ""
        self._reload_grants()
        self.status.say(f"Group {name} can now {self.add_permission.value}.")

    @reporting
    def change(self, row: GroupGrantRow, permission: str) -> None:
        """Set a group grant's permission."""
        if self._loading or permission == row.grant.get("permission"):
            return
        row.grant = self.client.update_grant(self.share_id, str(row.grant["grant_id"]), permission)
        self.status.say(f"Group {row.grant.get('principal')} can now {permission}.")

    @reporting
    def remove(self, row: GroupGrantRow) -> None:
        """Delete a group grant."""
        self.client.revoke_grant(self.share_id, str(row.grant["grant_id"]))
        self._reload_grants()
        self.status.say(f"Group {row.grant.get('principal')} no longer has access.")

    def _reload_grants(self) -> None:
        self._show(self.client.list_grants(self.share_id))

    def _organization_grant(self) -> dict[str, Any] | None:
        return next((g for g in self.grants if g.get("principal_type") == "organization"), None)

    def _show(self, grants: list[dict[str, Any]]) -> None:
        self.grants = grants
        self._loading = True  # setting controls from the server must not send requests
        try:
            org = self._organization_grant()
            self.organization.value = str(org["permission"]) if org else ""
            self.group_rows = [
                GroupGrantRow(grant, self) for grant in grants if grant.get("principal_type") == "group"
            ]
            self.rows_box.children = self.group_rows
        finally:
            self._loading = False
