"""``ShareDialog``: create a share of a conversation, or change, rotate or revoke it."""

from __future__ import annotations

import html
import os
from datetime import datetime, timezone
from typing import Any

import ipywidgets as w

from ..client import ConvShareClient, ConvShareClientError, Share, _describe_expiry
from ..core.policy import describe_seconds
from .qrcode import QRCode
from .status import LazyClient, COPY_HINT, ReadOnlyText, StatusLine, describe_error, reporting, safe_link

__all__ = ["CHAT_POSTING_WARNING", "EXPIRY_CHOICES", "ShareDialog", "describe_findings"]

EXPIRY_CHOICES: list[tuple[str, str]] = [
    ("1 hour", "1h"),
    ("24 hours", "24h"),
    ("7 days", "7d"),
    ("30 days", "30d"),
    ("never", "never"),
]
"""Dropdown labels and the REST API's expiry presets (DESIGN.md section 4)."""

CHAT_POSTING_WARNING = (
    "AI personas act with your credentials and tools (your files, terminal and AI accounts): "
    "a collaborator's message makes your persona act for them."
)
"""Shown under the chat-posting checkbox at all times (DESIGN.md section 4, Collaborate)."""


class ShareDialog(LazyClient, w.VBox):
    """Share one conversation and manage its link, in a notebook.

    Args:
        source: what to share, as :func:`jupyter_convshare.share` takes it: a ``.chat``
            (or JSON) path, a message list, a dict with ``"messages"`` or a
            ``Conversation``. Give either ``source`` or ``conversation_id``.
        conversation_id: a conversation already in the store (its existing share, if
            any, is shown at once).
        client: the REST client (default: a :class:`ConvShareClient` for the
            discovered server).
        title: title for viewers (default: the conversation's own).

    Calls (through the client): ``POST convshare/api/shares`` (Create), ``PATCH
    convshare/api/shares/<id>`` (Update, and after Create when the conversation was
    already shared, so that the chosen settings apply), ``POST .../snapshot``, ``POST
    .../rotate``, ``DELETE .../<id>`` (Revoke, after a confirm step) and, for a
    ``conversation_id``, ``GET convshare/api/shares`` to find its existing share.

    The link on/off, reshare and single-use checkboxes are enabled once a share exists
    and the server's share JSON has ``link_enabled`` / ``allow_reshare`` /
    ``single_use`` (servers with issue-3 grants); Update sends them.

    Redaction (issue 5, *Before sharing*): :attr:`findings_html` lists what the server
    found (secrets, e-mail addresses, home paths; previews masked, never the value) after
    Create and each Update; :attr:`exclude_messages` picks messages that hold a finding to
    leave out; the :attr:`exclude_tool_payloads`, :attr:`exclude_reasoning`,
    :attr:`mask_secrets` and :attr:`mask_emails` checkboxes are the share's ``redaction``
    choices. Create sends them (a PATCH right after, so every server path applies them);
    Update sends changes; ``GET .../findings`` refreshes the list.

    The chat-posting checkbox ("Let collaborators' messages reach this chat's AI
    personas", the share's ``chat_posting``) is enabled for a live share whose JSON has
    ``chat_posting``, on a server whose ``GET convshare/api/info`` has
    ``allow_chat_posting: true``; otherwise :attr:`chat_posting_note` says why. The note
    always carries :data:`CHAT_POSTING_WARNING`. Update sends a change of it (the server
    answers 409, shown in the status line, for a share that is not of a ``.chat`` file).

    Attributes:
        share: the current :class:`~jupyter_convshare.client.Share`, or ``None``.
        expires, mode, link_enabled, allow_reshare, single_use, chat_posting: the setting
            controls.
        chat_posting_note: why chat posting is unavailable, and the credentials warning.
        policy: the server's ``GET convshare/api/policy`` answer (``{}``: none), asked at
            construction when a ``client`` is given, else on the first Create; the
            dropdown offers only its ``expiry_presets``, and the link / reshare
            checkboxes stay off and disabled when it forbids them.
        policy_note: why (the policy's limits and which level set them).
        findings: the last findings the server reported (list of finding dicts).
        findings_html: them, escaped, with what viewers will and will not see.
        exclude_messages: messages to leave out (a ``SelectMultiple`` of message ids).
        exclude_tool_payloads, exclude_reasoning, mask_secrets, mask_emails: the redaction
            checkboxes.
        create_button: "Create link", then "Update".
        link_text, copy_button, open_link, qr: the link, selectable, and its QR code.
        snapshot_button, rotate_button, revoke_button: actions on the share.
        confirm_box, confirm_button, cancel_button: the revoke confirm step.
        status: the status line (errors appear here).
    """

    def __init__(
        self,
        source: Any = None,
        *,
        conversation_id: str | None = None,
        client: ConvShareClient | None = None,
        title: str | None = None,
    ) -> None:
        self.source = source
        self.conversation_id = conversation_id
        self.title = title
        self.share: Share | None = None
        self._client = client

        self.expires = w.Dropdown(options=EXPIRY_CHOICES, value="7d", description="Expires")
        self.mode = w.ToggleButtons(
            options=[("Live", "live"), ("Snapshot", "snapshot")],
            value="live",
            description="Mode",
            tooltips=[
                "viewers see the conversation as it is now, and as it goes on",
                "viewers see it frozen as it is when you share (Update snapshot refreshes it)",
            ],
        )
        self.link_enabled = w.Checkbox(
            value=True, description="Anyone with the link can view", disabled=True, indent=False
        )
        self.allow_reshare = w.Checkbox(
            value=False, description="Recipients may reshare", disabled=True, indent=False
        )
        self.single_use = w.Checkbox(
            value=False, description="Single use (first opener only)", disabled=True, indent=False
        )
        self.chat_posting = w.Checkbox(
            value=False,
            description="Let collaborators' messages reach this chat's AI personas",
            disabled=True,
            indent=False,
            layout=w.Layout(width="auto"),
        )
        self.chat_posting_note = w.HTML()
        self.policy: dict[str, Any] | None = None  # GET convshare/api/policy, asked once
        self.policy_note = w.HTML()
        self.findings: list[dict[str, Any]] = []
        self.findings_html = w.HTML()
        self.exclude_messages = w.SelectMultiple(
            options=[], description="Leave out", rows=3, layout=w.Layout(width="36em"),
            tooltip="messages viewers will not see (their replies stay)",
        )  # fmt: skip
        self.exclude_tool_payloads = w.Checkbox(
            value=False, description="Leave out tool call arguments and results", indent=False
        )
        self.exclude_reasoning = w.Checkbox(value=False, description="Leave out reasoning", indent=False)
        self.mask_secrets = w.Checkbox(
            value=True, description="Mask secrets (API keys, tokens, passwords, private keys)", indent=False,
            layout=w.Layout(width="auto"),
        )  # fmt: skip
        self.mask_emails = w.Checkbox(value=False, description="Mask e-mail addresses", indent=False)
        self._server_allows_chat_posting: bool | None = None  # GET info, asked once
        self._chat_posting_reported: bool | None = None  # the share JSON's chat_posting
        self.create_button = w.Button(description="Create link", button_style="primary", icon="link")
        self.link_text = ReadOnlyText(
            value="", placeholder="no link yet", layout=w.Layout(width="36em")
        )
        self.copy_button = w.Button(description="Copy", icon="copy", disabled=True)
        self.open_link = w.HTML()
        self.qr = QRCode("")
        self.snapshot_button = w.Button(description="Update snapshot", icon="camera", disabled=True)
        self.rotate_button = w.Button(description="Rotate link", icon="refresh", disabled=True)
        self.revoke_button = w.Button(
            description="Revoke", icon="trash", button_style="danger", disabled=True
        )
        self.confirm_button = w.Button(description="Yes, revoke", button_style="danger")
        self.cancel_button = w.Button(description="Cancel")
        self.confirm_box = w.HBox(
            [
                w.Label("Revoke this link? Anyone who opens it will get 'not found'."),
                self.confirm_button,
                self.cancel_button,
            ],
            layout=w.Layout(display="none"),
        )
        self.status = StatusLine()

        self.create_button.on_click(lambda _: self.create_or_update())
        self.copy_button.on_click(lambda _: self.copy())
        self.snapshot_button.on_click(lambda _: self.update_snapshot())
        self.rotate_button.on_click(lambda _: self.rotate())
        self.revoke_button.on_click(lambda _: self.ask_revoke())
        self.confirm_button.on_click(lambda _: self.revoke())
        self.cancel_button.on_click(lambda _: self.cancel_revoke())

        super().__init__(
            [
                w.HTML("<strong>Share conversation</strong>"),
                self.expires,
                self.mode,
                w.HBox([self.link_enabled, self.allow_reshare, self.single_use]),
                self.policy_note,
                self.chat_posting,
                self.chat_posting_note,
                w.HTML("<strong>Before sharing</strong>"),
                self.findings_html,
                self.exclude_messages,
                w.HBox([self.exclude_tool_payloads, self.exclude_reasoning]),
                w.HBox([self.mask_secrets, self.mask_emails]),
                self.create_button,
                w.HBox([self.link_text, self.copy_button, self.open_link]),
                self.qr,
                w.HBox([self.snapshot_button, self.rotate_button, self.revoke_button]),
                self.confirm_box,
                self.status,
            ]
        )
        if (source is None) == (conversation_id is None):
            self.status.error("give either a source or a conversation_id to share")
            self.create_button.disabled = True
            return
        self._explain_chat_posting()
        self._show_findings()
        if client is not None:
            self._load_policy()  # a discovered server is asked on first use (Create)
        if conversation_id is not None:
            self._find_existing()

    # -- actions ------------------------------------------------------------------------

    @reporting
    def create_or_update(self) -> Share | None:
        """Create the share with the chosen settings, or apply them to the current share."""
        if self.policy is None:
            self._load_policy()
        if self.share is None:
            if self.conversation_id is not None:
                share = self.client.create_share(
                    conversation_id=self.conversation_id,
                    title=self.title,
                    expires=self.expires.value,
                    mode=self.mode.value,
                )
            else:
                share = self.client.share(
                    self.source, title=self.title, expires=self.expires.value, mode=self.mode.value
                )
            warnings = list(share.warnings)
            self.findings = list(share.findings)
            if share.created:
                message = "Link created."
                if share.redaction is not None and self._redaction() != _choices(share.redaction):
                    share = self.client.update_share(share.share_id, redaction=self._redaction())
                    self._refresh_findings(share)
            else:
                # The conversation was already shared: the server gave its existing link;
                # what the user chose here should still apply to it.
                share = self.client.update_share(share.share_id, **self._settings())
                self._refresh_findings(share)
                message = (
                    "Already shared: the existing link now has these settings "
                    "(its redaction choices are kept: see below)."
                )
            self._show(share)
            if warnings:
                message += " Check before sending: " + "; ".join(
                    str(item.get("message", item)) for item in warnings
                )
            self.status.say(message)
        else:
            share = self.client.update_share(self.share.share_id, **self._settings())
            self._refresh_findings(share)
            self._show(share)
            self.status.say("Settings saved; the link is unchanged.")
        return self.share

    def copy(self) -> None:
        """Explain how to copy the link (core widgets cannot reach the clipboard)."""
        self.status.say(COPY_HINT)

    @reporting
    def update_snapshot(self) -> None:
        """Re-freeze a snapshot share at the conversation's current state (same link)."""
        share = self._current()
        self._show(self.client.update_snapshot(share.share_id))
        self.status.say("Snapshot updated; the link is unchanged.")

    @reporting
    def rotate(self) -> None:
        """Give the share a new link; the old link stops working at once."""
        share = self._current()
        self._show(self.client.rotate(share.share_id))
        self.status.say("New link made; the old link no longer works.")

    def ask_revoke(self) -> None:
        """First step of Revoke: show the confirm row."""
        if self.share is not None:
            self.confirm_box.layout.display = None
            self.status.clear()

    def cancel_revoke(self) -> None:
        """Hide the confirm row; nothing changes."""
        self.confirm_box.layout.display = "none"
        self.status.say("Not revoked.")

    @reporting
    def revoke(self) -> None:
        """Second step of Revoke: delete the share (its link answers 404 at once)."""
        self.confirm_box.layout.display = "none"
        share = self._current()
        self.client.revoke(share.share_id)
        self._show(None)
        self.status.say("Revoked: the link no longer works. Create link makes a new one.")

    # -- state --------------------------------------------------------------------------

    def _current(self) -> Share:
        if self.share is None:
            raise ValueError("there is no share yet: click Create link first")
        return self.share

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"expires": self.expires.value, "mode": self.mode.value}
        if self.share is not None and self.share.link_enabled is not None:
            settings["link_enabled"] = self.link_enabled.value
        if self.share is not None and self.share.allow_reshare is not None:
            settings["allow_reshare"] = self.allow_reshare.value
        if self.share is not None and self.share.single_use is not None:
            settings["single_use"] = self.single_use.value
        if self.share is not None and not self.chat_posting.disabled:
            # enabled only where the server reported it and allows it (live .chat shares)
            settings["chat_posting"] = bool(self.chat_posting.value)
        if self.share is not None and self.share.redaction is not None:
            # only for a share shown here: a dialog opened afresh on an already shared
            # conversation must not loosen the choices made earlier (they are shown instead)
            settings["redaction"] = self._redaction()
        return settings

    # -- redaction (the share's "redaction"; issue 5, Before sharing) ----------------------

    def _redaction(self) -> dict[str, Any]:
        """The redaction choices of the controls, as the REST API takes them."""
        return {
            "exclude_message_ids": sorted(self.exclude_messages.value),
            "exclude_tool_payloads": bool(self.exclude_tool_payloads.value),
            "exclude_reasoning": bool(self.exclude_reasoning.value),
            "mask_secrets": bool(self.mask_secrets.value),
            "mask_emails": bool(self.mask_emails.value),
        }

    def _refresh_findings(self, share: Share) -> None:
        """Read the share's findings again (their ``hidden`` follows the new choices)."""
        if share.redaction is None:
            return  # a server without redaction: nothing to ask
        try:
            self.findings = self.client.findings(share.share_id)
        except Exception as exc:  # the share works; only the list is stale: say so
            self.status.error(f"findings not refreshed: {describe_error(exc)}")

    def _show_findings(self) -> None:
        share = self.share
        if share is not None and share.redaction is not None:
            choices = _choices(share.redaction)
            self.exclude_tool_payloads.value = choices["exclude_tool_payloads"]
            self.exclude_reasoning.value = choices["exclude_reasoning"]
            self.mask_secrets.value = choices["mask_secrets"]
            self.mask_emails.value = choices["mask_emails"]
            excluded = list(choices["exclude_message_ids"])
        else:
            excluded = list(self.exclude_messages.value)
        options: dict[str, str] = {}
        for finding in self.findings:
            message_id = finding.get("message_id")
            if isinstance(message_id, str) and message_id not in options:
                where = str(finding.get("message", "")).split(" contains ")[0]
                options[message_id] = f"{where}: {finding.get('kind')}"
        for message_id in excluded:
            options.setdefault(message_id, f"message {message_id}")
        self.exclude_messages.options = [(label, key) for key, label in options.items()]
        self.exclude_messages.value = tuple(m for m in excluded if m in options)
        self.findings_html.value = describe_findings(self.findings, shared=share is not None)

    @reporting
    def _find_existing(self) -> None:
        for share in self.client.list_shares():
            if share.conversation_id == self.conversation_id:
                self._refresh_findings(share)
                self._show(share)
                self.expires.value = self._allowed_preset(_preset_for(share))
                self.status.say("This conversation is already shared: here is its link.")
                return

    def _show(self, share: Share | None) -> None:
        if share is None or self.share is None or share.share_id != self.share.share_id:
            self._chat_posting_reported = None  # another share: ask the server again
        self.share = share
        url = share.url if share else ""
        self.link_text.set(url)
        self.open_link.value = safe_link(url, "open") if url else ""
        self.qr.set_url(url)
        if share is not None:
            self.mode.value = share.mode
            # Checkboxes only for servers that report the setting (issue-3 grants).
            if share.link_enabled is not None:
                self.link_enabled.value = share.link_enabled
            if share.allow_reshare is not None:
                self.allow_reshare.value = share.allow_reshare
            if share.single_use is not None:
                self.single_use.value = share.single_use
            self.conversation_id = share.conversation_id
            if share.chat_posting is not None:
                self._chat_posting_reported = share.chat_posting
            if self._chat_posting_reported is not None:
                self.chat_posting.value = self._chat_posting_reported
        else:
            self.findings = []
        self._show_findings()
        self._enable()

    def _enable(self) -> None:
        share = self.share
        self.create_button.description = "Update" if share else "Create link"
        for button in (self.copy_button, self.rotate_button, self.revoke_button):
            button.disabled = share is None
        # Update snapshot only re-freezes what the server holds as a snapshot share.
        self.snapshot_button.disabled = share is None or share.mode != "snapshot"
        self.link_enabled.disabled = share is None or share.link_enabled is None or not self._allows("allow_link")
        self.allow_reshare.disabled = (
            share is None or share.allow_reshare is None or not self._allows("allow_reshare")
        )
        self.single_use.disabled = share is None or share.single_use is None
        self._explain_chat_posting()

    # -- sharing policy (GET convshare/api/policy; README "Admin and policy") -------------

    def _load_policy(self) -> None:
        """Ask the server for the user's effective policy once and offer only what it
        allows: the expiry presets it lists (the current choice kept when allowed, else
        its ``default_expires``), the link and reshare checkboxes off and disabled when it
        forbids them, with :attr:`policy_note` saying why. A server without the route (an
        older one) or unreachable leaves every choice (the server still enforces)."""
        try:
            policy = self.client.policy()
        except ConvShareClientError:
            self.policy = {}
            return
        self.policy = policy
        allowed = policy.get("expiry_presets")
        if isinstance(allowed, list):
            choices = [(label, value) for label, value in EXPIRY_CHOICES if value in allowed]
            if choices:
                current = self.expires.value
                default = policy.get("default_expires")
                values = [value for _, value in choices]
                self.expires.options = choices
                self.expires.value = current if current in values else (default if default in values else values[-1])
        reasons = []
        sources = policy.get("sources") or {}
        if not self._allows("allow_link"):
            self.link_enabled.value = False
            reasons.append(f"Links for anyone are off by your sharing policy ({sources.get('allow_link', 'server')}):"
                           " only people you grant access can open it.")
        if not self._allows("allow_reshare"):
            self.allow_reshare.value = False
            reasons.append(f"Resharing is off by your sharing policy ({sources.get('allow_reshare', 'server')}).")
        cap = (policy.get("policy") or {}).get("max_expires_seconds")
        if isinstance(cap, int):
            reasons.append(f"Links expire within {describe_seconds(cap)} ({sources.get('max_expires_seconds', 'server')}).")
        self.policy_note.value = "".join(f"<div><small>{html.escape(r)}</small></div>" for r in reasons)
        self._enable()

    def _allows(self, name: str) -> bool:
        """``False`` only when the server's policy says so (unknown: allowed)."""
        return (self.policy or {}).get("policy", {}).get(name) is not False

    def _allowed_preset(self, preset: str) -> str:
        """``preset`` when the dropdown offers it, else the longest one it offers."""
        values = [value for _, value in self.expires.options]
        return preset if preset in values else values[-1]

    # -- chat posting (the share's "chat_posting"; DESIGN.md section 4, Collaborate) ------

    def _read_chat_posting(self, share_id: str) -> bool | None:
        """The share's ``chat_posting`` (``None``: the server does not report it)."""
        return self.client.get_share(share_id).chat_posting

    def _chat_posting_unavailable(self) -> str | None:
        """Why the checkbox is disabled now, or ``None`` (it may be used)."""
        source = self.source
        is_chat_file = isinstance(source, (str, os.PathLike)) and os.fspath(source).endswith(".chat")
        if source is not None and not is_chat_file:
            return "Only for a share of a jupyterlab-chat (.chat) file."
        if self.share is None:
            return "Create the link first."
        if self.share.mode != "live":
            return "Only for a live share: a snapshot does not follow the chat."
        if self._server_allows_chat_posting is None:
            try:
                self._server_allows_chat_posting = bool(self.client.info().get("allow_chat_posting"))
            except Exception:  # unreachable or older server: not available, no traceback
                self._server_allows_chat_posting = False
        if not self._server_allows_chat_posting:
            return (
                "This server does not allow it: an admin can turn on "
                "ConvShareApp.allow_chat_posting."
            )
        if self._chat_posting_reported is None:
            self._chat_posting_reported = self._read_chat_posting(self.share.share_id)
            if self._chat_posting_reported is None:
                return "This server does not report the setting."
            self.chat_posting.value = self._chat_posting_reported
        return None

    def _explain_chat_posting(self) -> None:
        try:
            reason = self._chat_posting_unavailable()
        except Exception as exc:  # e.g. the share was revoked elsewhere: say so, stay disabled
            reason = describe_error(exc)
        self.chat_posting.disabled = reason is not None
        text = html.escape(CHAT_POSTING_WARNING)
        if reason is not None:
            text = f"{html.escape(reason)} {text}"
        self.chat_posting_note.value = f'<small class="convshare-chat-posting-note">&#9888; {text}</small>'

    def describe(self) -> str:
        """One line about the current share (for logs and tests)."""
        if self.share is None:
            return "not shared"
        return f"{self.share.url} (expires {_describe_expiry(self.share.expires_at)}, {self.share.mode})"


def _choices(redaction: Any) -> dict[str, Any]:
    """A share's ``redaction`` JSON with every field (defaults for missing ones)."""
    data = dict(redaction or {})
    return {
        "exclude_message_ids": sorted(str(i) for i in data.get("exclude_message_ids") or []),
        "exclude_tool_payloads": bool(data.get("exclude_tool_payloads", False)),
        "exclude_reasoning": bool(data.get("exclude_reasoning", False)),
        "mask_secrets": bool(data.get("mask_secrets", True)),
        "mask_emails": bool(data.get("mask_emails", False)),
    }


def describe_findings(findings: list[dict[str, Any]], *, shared: bool = True) -> str:
    """HTML (every value escaped) listing findings: what, where, the masked preview, and
    whether viewers will see it; a line saying nothing was found, or that findings come
    once the link exists."""
    if not findings:
        if not shared:
            return "<small>Secrets and personal data found in the conversation are listed here once the link exists.</small>"
        return "<small>No secrets or personal data found.</small>"
    items = []
    for finding in findings:
        state = "hidden from viewers" if finding.get("hidden") else "<strong>viewers see it</strong>"
        preview = html.escape(str(finding.get("preview") or ""))
        count = finding.get("count") or 1
        items.append(
            f"<li>{html.escape(str(finding.get('message', '')))}"
            + (f" <code>{preview}</code>" if preview else "")
            + (f" (&times;{int(count)})" if isinstance(count, int) and count > 1 else "")
            + f" &mdash; {state}</li>"
        )
    return '<div class="convshare-findings" style="color:#b45309"><ul>' + "".join(items) + "</ul></div>"


def _preset_for(share: Share) -> str:
    """The dropdown preset closest to a share's remaining lifetime (``"never"`` for none)."""
    if share.expires_at is None:
        return "never"
    seconds = (share.expires_at - datetime.now(timezone.utc)).total_seconds()
    for preset, limit in (("1h", 3600), ("24h", 86400), ("7d", 7 * 86400)):
        if seconds <= limit * 1.01:
            return preset
    return "30d"
