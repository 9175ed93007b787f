"""What the hub service makes of JupyterHub's answers (server/hub.py), without a hub.

The end-to-end behaviour, with a real JupyterHub, is in tests/test_hub.py; these pin the
pure pieces: scopes to capabilities, the hub's user model to our Principal, the resources
the service's authorizer allows, and the service's server configuration.
"""

from __future__ import annotations

import stat
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("jupyterhub", reason="jupyterhub is not installed (pip install -e '.[test]')")

from jupyter_convshare.core.access import (  # noqa: E402
    Principal,
    decide_collaborate,
    has_capability,
    require_capability,
)
from jupyter_convshare.core.errors import Forbidden  # noqa: E402
from jupyter_convshare.server.hub import (  # noqa: E402
    ADMIN_SCOPE,
    CUSTOM_SCOPES,
    HubGroupSource,
    HubIdentityProvider,
    HubServiceAuthorizer,
    capabilities_from_scopes,
    hub_service_config,
    principal_from_hub_model,
)

SERVICE_ENV = {
    "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:10101",
    "JUPYTERHUB_SERVICE_PREFIX": "/services/convshare/",
    "JUPYTERHUB_SERVICE_NAME": "convshare",
    "JUPYTERHUB_API_TOKEN": "service-token",
    "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
    "JUPYTERHUB_CLIENT_ID": "service-convshare",
}


def test_the_example_config_defines_exactly_the_services_custom_scopes() -> None:
    namespace: dict[str, Any] = {}
    config = SimpleNamespace(
        JupyterHub=SimpleNamespace(), Spawner=SimpleNamespace()
    )
    namespace["get_config"] = lambda: config
    from pathlib import Path

    source = (Path(__file__).resolve().parent.parent / "examples" / "jupyterhub_config.py").read_text()
    exec(compile(source, "jupyterhub_config.py", "exec"), namespace)
    assert set(config.JupyterHub.custom_scopes) == set(CUSTOM_SCOPES)
    service = config.JupyterHub.services[0]
    assert service["name"] == "convshare"
    assert set(service["oauth_client_allowed_scopes"]) == set(CUSTOM_SCOPES)
    assert "access:services!service=convshare" in config.Spawner.server_token_scopes


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        ([], set()),
        (["custom:convshare:share"], {"share"}),
        (["custom:convshare:share", "custom:convshare:collaborate"], {"share", "collaborate"}),
        ([ADMIN_SCOPE], {"share", "public", "collaborate"}),
        # a filtered custom scope is not the scope
        (["custom:convshare:share!user=alice"], set()),
        (["access:services!service=convshare", "read:users:name!user=alice"], set()),
    ],
)
def test_scopes_give_capabilities(scopes: list[str], expected: set[str]) -> None:
    assert capabilities_from_scopes(scopes) == frozenset(expected)


def test_a_hub_user_model_becomes_a_principal_with_hub_groups_admin_and_capabilities() -> None:
    model = {
        "kind": "user",
        "name": "alice",
        "admin": False,
        "groups": ["physics"],
        "scopes": ["access:services!service=convshare", "custom:convshare:share"],
    }
    principal = principal_from_hub_model(model, extra_groups={"configured"})
    assert principal == Principal(
        name="alice",
        is_admin=False,
        groups=frozenset({"physics", "configured"}),
        capabilities=frozenset({"share"}),
    )


def test_hub_admins_and_admin_scope_holders_are_admins() -> None:
    assert principal_from_hub_model({"name": "root", "admin": True, "scopes": []}).is_admin
    assert principal_from_hub_model({"name": "teacher", "admin": False, "scopes": [ADMIN_SCOPE]}).is_admin


def test_a_service_token_never_acts_as_a_user_of_the_same_name() -> None:
    principal = principal_from_hub_model({"kind": "service", "name": "alice", "scopes": []})
    assert principal.name == "service/alice"
    assert principal.groups == frozenset()


def test_standalone_principals_and_admins_have_every_capability() -> None:
    assert has_capability(Principal(name="me"), "public")
    assert has_capability(Principal(name="root", is_admin=True, capabilities=frozenset()), "share")
    assert not has_capability(Principal(name="bob", capabilities=frozenset()), "share")


def test_a_missing_capability_is_a_403_naming_the_hub_scope() -> None:
    with pytest.raises(Forbidden) as caught:
        require_capability(Principal(name="bob", capabilities=frozenset()), "public", field="link_enabled")
    assert caught.value.field == "link_enabled"
    assert "custom:convshare:public" in caught.value.message


def test_a_collaborate_grantee_without_the_capability_is_refused_but_the_owner_is_not() -> None:
    share = SimpleNamespace(owner="alice", mode="live", share_id="s1")
    grant = SimpleNamespace(principal_type="group", principal="physics", permission="collaborate")
    bob = Principal(name="bob", groups=frozenset({"physics"}), capabilities=frozenset())
    with pytest.raises(Forbidden) as caught:
        decide_collaborate(bob, share, [grant], expired=False)
    assert "custom:convshare:collaborate" in caught.value.message
    alice = Principal(name="alice", capabilities=frozenset())
    assert decide_collaborate(alice, share, [grant], expired=False) == "manage"
    # without a grant it stays a 404, whatever the scopes
    carol = Principal(name="carol", groups=frozenset({"chemistry"}), capabilities=frozenset())
    with pytest.raises(Exception) as missing:
        decide_collaborate(carol, share, [grant], expired=False)
    assert getattr(missing.value, "status", None) == 404


@pytest.mark.parametrize("resource", ["contents", "kernels", "sessions", "terminals", "kernelspecs", "api", "events"])
def test_the_service_authorizer_refuses_everything_but_its_api(resource: str) -> None:
    from jupyterhub.services.auth import HubOAuth

    hub_auth = HubOAuth(
        api_token="service-token",
        api_url="http://127.0.0.1:8081/hub/api",
        access_scopes={"access:services!service=convshare"},
    )
    authorizer = HubServiceAuthorizer(identity_provider=HubIdentityProvider(hub_auth=hub_auth))
    user = SimpleNamespace(hub_user={"name": "alice", "scopes": ["access:services!service=convshare"]})
    assert authorizer.is_authorized(None, user, "read", "convshare")
    assert not authorizer.is_authorized(None, user, "read", resource)
    outsider = SimpleNamespace(hub_user={"name": "eve", "scopes": []})
    assert not authorizer.is_authorized(None, outsider, "read", "convshare")


def test_the_service_serves_at_its_prefix_with_hub_identity_and_an_empty_private_root(tmp_path: Any) -> None:
    config = hub_service_config(SERVICE_ENV, store_dir=str(tmp_path / "store"), cache_max_age=7)
    assert config.ServerApp.base_url == "/services/convshare/"
    assert (config.ServerApp.ip, config.ServerApp.port) == ("127.0.0.1", 10101)
    assert config.ServerApp.identity_provider_class is HubIdentityProvider
    assert config.ServerApp.authorizer_class is HubServiceAuthorizer
    assert config.ServerApp.jpserver_extensions == {"jupyter_convshare": True}
    assert config.HubOAuth.cache_max_age == 7
    assert config.ConvShareApp.group_source_class is HubGroupSource
    assert "/" in config.ConvShareApp.owner  # no hub user name can be the service's principal
    root = tmp_path / "store" / "service-root"
    assert root.is_dir() and not any(root.iterdir())
    assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o700


def test_the_service_needs_the_hubs_environment(tmp_path: Any) -> None:
    env = dict(SERVICE_ENV)
    del env["JUPYTERHUB_API_TOKEN"]
    with pytest.raises(KeyError, match="JUPYTERHUB_API_TOKEN"):
        hub_service_config(env, store_dir=str(tmp_path))


def test_links_use_the_hubs_public_url_when_it_has_one(tmp_path: Any) -> None:
    env = {**SERVICE_ENV, "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/services/convshare/"}
    config = hub_service_config(env, store_dir=str(tmp_path))
    assert config.ConvShareApp.public_url == "https://hub.example.org/services/convshare/"
