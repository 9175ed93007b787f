"""``ShareDialog`` offers only what the sharing policy allows (``GET convshare/api/policy``),
against a real Jupyter server whose ``ConvShareApp.policy`` caps links at 7 days and forbids
anonymous links and resharing. Fixtures: ``test_widgets``."""

from __future__ import annotations

import pytest

from jupyter_convshare.widgets import ShareDialog

from .test_widgets import MESSAGES, client, owner, run, server_url  # noqa: F401  (pytest fixtures)
from .test_widgets import jp_server_config as _widgets_config  # noqa: F401


@pytest.fixture
def jp_server_config(_widgets_config):
    config = dict(_widgets_config)
    config["ConvShareApp"] = {
        **config["ConvShareApp"],
        "policy": {"max_expires": "7d", "allow_never": False, "allow_link": False, "allow_reshare": False},
    }
    return config


async def test_the_dialog_offers_only_the_allowed_expiry_presets(client):
    # Given a server whose policy caps links at 7 days
    dialog = await run(ShareDialog, MESSAGES, client=client)
    # Then 30 days and never are not offered, and 7 days is chosen
    assert [value for _, value in dialog.expires.options] == ["1h", "24h", "7d"]
    assert dialog.expires.value == "7d"
    assert "Links expire within 1 week (server)" in dialog.policy_note.value


async def test_link_and_reshare_stay_off_with_the_reason(client, service, owner):
    dialog = await run(ShareDialog, MESSAGES, client=client)
    # When a share is created
    await run(dialog.create_button.click)
    assert not dialog.status.is_error, dialog.status.text
    # Then its link is off, and neither checkbox can be turned on, saying why
    assert dialog.link_enabled.value is False and dialog.link_enabled.disabled
    assert dialog.allow_reshare.value is False and dialog.allow_reshare.disabled
    assert "Links for anyone are off by your sharing policy (server)" in dialog.policy_note.value
    assert "Resharing is off" in dialog.policy_note.value
    (stored,) = service.list_shares(owner)
    assert stored.link_enabled is False and stored.expires_at is not None
    # And Update keeps within the policy (no 403)
    await run(dialog.create_button.click)
    assert not dialog.status.is_error, dialog.status.text


async def test_a_dialog_without_a_given_client_asks_on_create(client, monkeypatch):
    # Given a dialog that finds its server on first use
    dialog = ShareDialog(MESSAGES, client=None)
    assert len(dialog.expires.options) == 5 and dialog.policy is None
    dialog._client = client  # what discovery would find
    # When Create is pressed, Then the policy is asked first and applied
    await run(dialog.create_button.click)
    assert not dialog.status.is_error, dialog.status.text
    assert [value for _, value in dialog.expires.options] == ["1h", "24h", "7d"]
