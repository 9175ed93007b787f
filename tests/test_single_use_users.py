"""Single-use links on a multi-user server: a logged-in user claims with their login.

Real jupyter-server authentication through the test identity provider of test_grants
(token ``<name>-token`` -> user ``<name>``).
"""

from __future__ import annotations

import pytest
from tornado.httpclient import AsyncHTTPClient

from jupyter_convshare.core.model import Conversation, Message, Part, SourceInfo
from jupyter_convshare.server.viewer import CLAIM_COOKIE

from .test_grants import OWNER, TokenUsersIdentityProvider, as_user


@pytest.fixture
def jp_server_config(jp_server_config):
    config = dict(jp_server_config)
    config["ServerApp"] = {**config["ServerApp"], "identity_provider_class": TokenUsersIdentityProvider}
    config["ConvShareApp"] = {**config["ConvShareApp"], "owner": OWNER, "admin_users": {"admin"}}
    return config


@pytest.fixture
def open_as(http_server, jp_http_port, jp_base_url):
    async def get(link: str, user: str | None):
        url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}convshare/s/{link}"
        return await AsyncHTTPClient().fetch(url, headers=as_user(user), raise_error=False)

    return get


async def test_a_logged_in_user_claims_a_single_use_link_with_their_login(service, open_as):
    # Given a single-use link of the owner's
    conv = Conversation(id="once", source=SourceInfo(format="convshare"), title="Once")
    conv.append(Message(id="1", role="user", author_id="u", parts=[Part.text_part("for dave")]))
    service.save_conversation(OWNER, conv)
    share, _ = service.create_share(OWNER, "once")
    link = service.update_share(OWNER, share.share_id, single_use=True).link
    # When the owner and an admin look first, nothing is claimed
    assert (await open_as(link, OWNER)).code == 200
    assert (await open_as(link, "admin")).code == 200
    assert service.get_share(OWNER, share.share_id).claimed_by is None
    # When dave opens it, he claims it with his login (no cookie needed to come back)
    first = await open_as(link, "dave")
    assert first.code == 200
    assert not any(c.startswith(CLAIM_COOKIE) for c in first.headers.get_list("Set-Cookie"))
    assert service.get_share(OWNER, share.share_id).claimed_by == "user:dave"
    assert (await open_as(link, "dave")).code == 200
    # Then another user and an anonymous browser get the 404 page; the owner still sees it
    assert (await open_as(link, "erin")).code == 404
    assert (await open_as(link, None)).code == 404
    assert (await open_as(link, OWNER)).code == 200
