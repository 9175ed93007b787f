"""A server whose authorizer refuses writing contents (e.g. the JupyterHub service, which
allows only the convshare resource) never writes a ``.chat`` copy: 403 naming ``path``."""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer

from jupyter_convshare.core.exporters import EXPORT_FORMATS

from .server_helpers import body_json, make_api
from .test_grants import OWNER, TokenUsersIdentityProvider, as_user, new_share

pytestmark = pytest.mark.skipif("chat" not in EXPORT_FORMATS, reason="the .chat exporter is not there yet")


class NoContentsWrites(Authorizer):
    """Everything is allowed except writing files."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "contents" and action == "write")


@pytest.fixture
def jp_server_config(jp_server_config):
    config = dict(jp_server_config)
    config["ServerApp"] = {
        **config["ServerApp"],
        "identity_provider_class": TokenUsersIdentityProvider,
        "authorizer_class": NoContentsWrites,
    }
    config["ConvShareApp"] = {**config["ConvShareApp"], "owner": OWNER}
    return config


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


async def test_without_the_contents_write_permission_nothing_is_written(api, jp_root_dir):
    share = await new_share(api, "lesson")
    response = await api("POST", "library", "save-as", body={"url": share["url"], "path": "lesson.chat"},
                         headers=as_user("student1"))
    assert response.code == 403, response.body
    assert body_json(response)["field"] == "path"
    assert not (jp_root_dir / "lesson.chat").exists()
