"""The ``convshare`` server extension: loading, configuration, links (DESIGN.md sections 2 and 7)."""

from __future__ import annotations

import getpass
import io
import json
import logging
from pathlib import Path

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from jupyter_convshare.core.shares import ShareService
from jupyter_convshare.server.app import ConvShareApp, lean_viewer_log_function


def _request(host: str) -> HTTPServerRequest:
    return HTTPServerRequest(
        start_line=RequestStartLine("GET", "/x", "HTTP/1.1"), headers=HTTPHeaders({"Host": host})
    )


class PolicyShareService(ShareService):
    """A ShareService subclass, to show that config can swap the service class."""


def test_extension_loads_and_exposes_app_and_service(convshare_app, jp_serverapp):
    # Given a server with the extension enabled (conftest)
    settings = jp_serverapp.web_app.settings
    # Then the app and its service are in the tornado settings
    assert isinstance(convshare_app, ConvShareApp)
    assert convshare_app.name == "convshare"
    assert settings["convshare_app"] is convshare_app
    assert settings["convshare_service"] is convshare_app.service
    assert isinstance(convshare_app.service, ShareService)


def test_store_is_created_in_the_configured_folder(convshare_app, tmp_path):
    # Given store_dir configured by conftest, Then the database and link secret live there
    store = tmp_path / "convshare-store"
    assert convshare_app.store_dir == str(store)
    assert (store / "convshare.db").is_file()
    assert (store / "link_secret").is_file()


def test_trait_defaults(convshare_app):
    # Given no configuration beyond the store folder, Then the documented defaults apply
    assert convshare_app.owner == getpass.getuser()
    assert convshare_app.public_url == ""
    assert convshare_app.default_expires == "7d"
    assert convshare_app.allow_never_expires is True
    assert convshare_app.max_attachment_bytes == 50 * 1024 * 1024
    assert convshare_app.max_import_bytes == 100 * 1024 * 1024
    assert convshare_app.live_check_interval == 2.0
    assert convshare_app.frame_ancestors == []
    assert convshare_app.service_class is ShareService


def test_default_store_dir_is_in_the_jupyter_data_dir():
    # Given an app without store_dir config, Then the store is <jupyter data dir>/convshare
    from jupyter_core.paths import jupyter_data_dir

    assert ConvShareApp().store_dir.rstrip("/").endswith("convshare")
    assert ConvShareApp().store_dir.startswith(jupyter_data_dir())


def test_every_configurable_trait_has_help():
    # Every c.ConvShareApp.* setting is documented where `jupyter ... --help-all` shows it
    own = ConvShareApp.class_own_traits(config=True)
    assert {"store_dir", "owner", "public_url", "default_expires", "allow_never_expires",
            "max_attachment_bytes", "max_import_bytes", "live_check_interval",
            "frame_ancestors", "service_class"} <= set(own)
    for name, trait in own.items():
        assert trait.help and len(trait.help) > 20, name


def test_bad_default_expires_is_refused():
    # Given a typo in the configured default expiry, Then the app refuses it at config time
    with pytest.raises(Exception, match="default_expires"):
        ConvShareApp(default_expires="7days")


def test_public_url_must_be_http_and_gets_a_trailing_slash():
    assert ConvShareApp(public_url="https://example.org/jupyter").public_url == "https://example.org/jupyter/"
    with pytest.raises(Exception, match="public_url"):
        ConvShareApp(public_url="javascript:alert(1)")


def test_share_url_uses_request_scheme_host_and_base_url(convshare_app, jp_base_url):
    # Given a request to this server (pytest-jupyter's base URL is /a%40b/)
    request = _request("jupyter.example:8888")
    request.protocol = "https"
    # When a link's URL is built, Then it is absolute and keeps the base URL
    url = convshare_app.share_url("L" * 43, request)
    assert url == f"https://jupyter.example:8888{jp_base_url}convshare/s/{'L' * 43}"


def test_share_url_prefers_public_url(convshare_app):
    convshare_app.public_url = "https://hub.example.org/user/ada/"
    request = _request("127.0.0.1:1")
    assert convshare_app.share_url("abc", request) == "https://hub.example.org/user/ada/convshare/s/abc"


def test_share_url_without_request_uses_the_connection_url(convshare_app, jp_serverapp):
    assert convshare_app.share_url("abc") == jp_serverapp.connection_url + "convshare/s/abc"


@pytest.fixture
def swapped_service_config(jp_server_config):
    jp_server_config["ConvShareApp"]["service_class"] = f"{__name__}.PolicyShareService"
    jp_server_config["ConvShareApp"]["owner"] = "teacher"
    return jp_server_config


def test_service_class_and_owner_are_configurable(swapped_service_config, convshare_app, jp_serverapp):
    # Given c.ConvShareApp.service_class and owner set in config
    # Then the running service is the configured class and API calls act as that owner
    assert type(convshare_app.service) is PolicyShareService
    assert convshare_app.owner == "teacher"


def test_the_extension_validates_like_jupyter_server_extension_list():
    # `jupyter server extension list` validates each enabled package this way (in-process
    # here: a subprocess would pay jupyter-server's import again)
    from jupyter_server.extension.manager import ExtensionPackage

    package = ExtensionPackage(name="jupyter_convshare", enabled=True)
    assert package.validate()
    assert list(package.extension_points) == ["convshare"]
    assert isinstance(package.extension_points["convshare"].app, ConvShareApp)


def test_the_package_ships_the_config_that_enables_the_extension():
    config = Path(__file__).parent.parent / "jupyter-config" / "jupyter_server_config.d" / "jupyter_convshare.json"
    assert json.loads(config.read_text())["ServerApp"]["jpserver_extensions"]["jupyter_convshare"] is True


async def test_request_logs_never_show_a_link_secret(jp_fetch, caplog):
    # Given a request for a viewer link (unknown: the log line is a warning)
    link = "S3cr3tL1nkS3cr3tL1nkS3cr3tL1nkS3cr3tL1nk_-x"
    response = await jp_fetch("convshare", "s", link, raise_error=False, follow_redirects=False)
    assert response.code == 404
    # Then the access log names the route but not the secret
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "convshare/s/[link]" in logged
    assert link not in logged


class _Answered:
    """What the log function reads of a finished viewer request."""

    convshare_lean_log = True

    def __init__(self, log: logging.Logger, status: int) -> None:
        self.log = log
        self.status = status

    def get_status(self) -> int:
        return self.status


def _logger(name: str, handler_level: int) -> logging.Logger:
    logger = logging.getLogger(f"convshare-test.{name}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = logging.StreamHandler(io.StringIO())
    handler.setLevel(handler_level)
    logger.handlers = [handler]
    return logger


def test_a_viewer_success_is_not_logged_when_no_handler_shows_debug():
    # Given jupyter-server's usual logger: DEBUG records pass, its handler shows WARN and up
    logged: list[int] = []
    log = lean_viewer_log_function(lambda h: logged.append(h.get_status()), record_metrics=False)
    quiet = _logger("quiet", logging.WARNING)
    # When viewer requests end with 200 and 404
    log(_Answered(quiet, 200))
    log(_Answered(quiet, 404))
    # Then only the error goes through the full request log
    assert logged == [404]


def test_a_viewer_success_is_logged_when_debug_is_shown():
    logged: list[int] = []
    log = lean_viewer_log_function(lambda h: logged.append(h.get_status()), record_metrics=False)
    log(_Answered(_logger("debug", logging.DEBUG), 200))
    assert logged == [200]
