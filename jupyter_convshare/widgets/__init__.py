"""Notebook widgets for sharing conversations (DESIGN.md section 8, issue 3 item 9).

Built from ipywidgets 8 core controls only (no custom JavaScript). Every widget talks to
the ``convshare`` REST API through :class:`jupyter_convshare.client.ConvShareClient`
(never to the store), so it works in any kernel that can reach the Jupyter server.
Errors are shown in each widget's status line, never as a traceback.

* :class:`QRCode` — a link as a QR code image plus the link text.
* :class:`ShareDialog` — create or update a share: expiry, live/snapshot, link on/off,
  reshare, the link, its QR, update snapshot, rotate, revoke.
* :class:`SharesManager` — my shares: search, copy, open, revoke, revoke all, views.
* :class:`GroupPermissionEditor` — organization and group grants of one share.
* :class:`SharedWithMe` — my library: conversations shared with me (saved from a link of
  this or another server, or granted to me); save, open, read, rename, tag, archive, remove.
"""

from __future__ import annotations

from .group_permissions import GroupPermissionEditor
from .qrcode import QRCode
from .share_dialog import ShareDialog
from .shared_with_me import SharedWithMe
from .shares_manager import SharesManager

__all__ = ["GroupPermissionEditor", "QRCode", "ShareDialog", "SharedWithMe", "SharesManager"]
