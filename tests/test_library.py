"""The users' libraries (issue 3 item 7; DESIGN.md section 4, *Library*).

One real server with several users (``TokenUsersIdentityProvider`` of ``test_grants``:
``<name>-token`` is user ``<name>``; the owner is ``teacher``). Links of another server
come from a second real Jupyter server with the extension (a subprocess, its own store
and token), and the attacks from a small hostile HTTP server (a real socket server in a
thread) that answers a share-export path with redirects, huge, compressed, non-JSON or
malformed bodies.
"""

from __future__ import annotations

import gzip
import http.server
import json
import secrets
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from jupyter_convshare.core.access import Principal
from jupyter_convshare.core.errors import Forbidden, InvalidRequest
from jupyter_convshare.core.exporters import export
from jupyter_convshare.core.importers import load_one
from jupyter_convshare.core.library import Library, parse_share_url

from .conftest import real_fixture
from .server_helpers import (
    BOT,
    another_server,
    body_json,
    chat_message,
    make_api,
    share_on,
    two_message_chat,
    write_chat,
)
from .test_audit import captured  # noqa: F401
from .test_grants import OWNER, as_user, chat, grant, jp_server_config, new_share  # noqa: F401


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


async def save(api, user: str | None, **body: Any):
    return await api("POST", "library", body=body, headers=as_user(user))


async def library(api, user: str, **params: str) -> list[dict[str, Any]]:
    response = await api("GET", "library", params=params or None, headers=as_user(user))
    assert response.code == 200, response.body
    return body_json(response)["items"]


def link_of(share: dict[str, Any]) -> str:
    return share["url"].rsplit("/", 1)[1]


def fake_link() -> str:
    return secrets.token_urlsafe(32)


# -- saving a link of this server ---------------------------------------------------------------


async def test_a_recipient_saves_a_link_and_it_shows_as_shared_with_them(api):
    # Given the teacher's share and its link
    share = await new_share(api, "lesson")
    # When student1 saves the link's URL
    response = await save(api, "student1", url=share["url"])
    # Then it is in their library: saved, from this server, readable, no owner named
    assert response.code == 201, response.body
    item = body_json(response)
    assert item["created"] is True
    assert (item["kind"], item["origin"], item["status"], item["permission"]) == ("saved", "this server", "active", "view")
    assert item["share_id"] == share["share_id"] and item["title"] == "lesson"
    assert item["owner"] is None  # a link never tells who shared it
    assert item["url"] == share["url"] and item["saved_at"]
    assert [i["item_id"] for i in await library(api, "student1")] == [item["item_id"]]


async def test_saving_the_same_link_twice_returns_the_existing_item(api):
    share = await new_share(api)
    first = body_json(await save(api, "student1", url=share["url"]))
    again = await save(api, "student1", url=share["url"])
    assert again.code == 200
    assert body_json(again)["item_id"] == first["item_id"] and body_json(again)["created"] is False
    assert len(await library(api, "student1")) == 1


async def test_a_save_is_audited_in_the_owners_log(api):
    share = await new_share(api)
    await save(api, "dave", url=share["url"])
    events = body_json(await api("GET", "shares", share["share_id"], "audit", headers=as_user(OWNER)))["events"]
    saved = [e for e in events if e["action"] == "library.saved"]
    assert [(e["who"], e["owner"], e["details"]) for e in saved] == [("dave", OWNER, {"via": "link"})]
    assert share["url"].rsplit("/", 1)[1] not in json.dumps(events)


async def test_a_save_is_emitted_as_a_jupyter_server_event(api, captured):
    share = await new_share(api)
    await save(api, "dave", url=share["url"])
    await library(api, "dave")  # one more request: events from worker threads reach the loop first
    saved = [e for e in captured.events if e["action"] == "library.saved"]
    assert [(e["who"], e["owner"], e["share_id"]) for e in saved] == [("dave", OWNER, share["share_id"])]


async def test_renames_tags_and_archives_are_not_in_the_owners_log(api):
    share = await new_share(api)
    item = body_json(await save(api, "dave", url=share["url"]))
    await api("PATCH", "library", item["item_id"], body={"name": "mine", "tags": ["x"], "archived": True},
              headers=as_user("dave"))
    events = body_json(await api("GET", "shares", share["share_id"], "audit", headers=as_user(OWNER)))["events"]
    assert [e["action"] for e in events].count("library.saved") == 1
    assert "mine" not in json.dumps(events)


async def test_the_saved_conversation_reads_as_viewers_see_it(api):
    share = await new_share(api, "lesson")
    item = body_json(await save(api, "student1", url=share["url"]))
    response = await api("GET", "library", item["item_id"], "conversation", headers=as_user("student1"))
    assert response.code == 200
    doc = body_json(response)
    assert doc["schema"] == "convshare/1"
    roles = sorted(m["role"] for m in doc["messages"].values())
    assert roles == ["assistant", "user"]  # the system prompt is redacted
    assert "secret system prompt" not in response.body.decode()


async def test_the_owner_does_not_save_their_own_link(api):
    share = await new_share(api)
    response = await save(api, OWNER, url=share["url"])
    assert response.code == 400 and body_json(response)["field"] == "url"


async def test_an_unknown_link_of_this_server_is_a_404(api, jp_base_url):
    share = await new_share(api)
    url = share["url"].replace(link_of(share), fake_link())
    response = await save(api, "student1", url=url)
    assert response.code == 404 and body_json(response)["field"] == "url"
    assert await library(api, "student1") == []


async def test_a_link_switched_off_cannot_be_saved(api):
    share = await new_share(api)
    await api("PATCH", "shares", share["share_id"], body={"link_enabled": False}, headers=as_user(OWNER))
    assert (await save(api, "student1", url=share["url"])).code == 404


def test_anonymous_principals_cannot_save(service):
    library_ = Library(service)
    anonymous = Principal(name="", authenticated=False)
    with pytest.raises(Forbidden):
        library_.save_local(anonymous, fake_link())
    with pytest.raises(Forbidden):
        library_.save_url(anonymous, "https://example.org/convshare/s/" + fake_link())
    assert library_.list(anonymous) == []


async def test_the_library_api_refuses_requests_without_credentials(http_server_client, jp_base_url):
    response = await http_server_client.fetch(
        f"{jp_base_url}convshare/api/library", method="POST", body=json.dumps({"url": "x"}),
        raise_error=False, follow_redirects=False,
    )
    assert response.code in (401, 403)


async def test_a_single_use_link_is_claimed_by_the_saver_and_nobody_else_can_save_it(api):
    share = await new_share(api)
    await api("PATCH", "shares", share["share_id"], body={"single_use": True}, headers=as_user(OWNER))
    assert (await save(api, "student1", url=share["url"])).code == 201
    assert (await save(api, "dave", url=share["url"])).code == 404
    [item] = await library(api, "student1")
    assert item["status"] == "active"


# -- lifecycle: the item follows the share ------------------------------------------------------


async def test_a_revoked_share_shows_revoked_and_its_content_answers_404(api):
    share = await new_share(api)
    item = body_json(await save(api, "student1", url=share["url"]))
    await api("DELETE", "shares", share["share_id"], headers=as_user(OWNER))
    [listed] = await library(api, "student1")
    assert (listed["status"], listed["url"], listed["title"]) == ("revoked", None, "lesson")
    response = await api("GET", "library", item["item_id"], "conversation", headers=as_user("student1"))
    assert response.code == 404


async def test_an_expired_share_shows_expired_and_its_content_answers_410(api, service):
    share = await new_share(api, expires="1h")
    item = body_json(await save(api, "student1", url=share["url"]))
    later = service.now() + timedelta(hours=2)
    service.clock = lambda: later
    [listed] = await library(api, "student1")
    assert (listed["status"], listed["url"]) == ("expired", None)
    response = await api("GET", "library", item["item_id"], "conversation", headers=as_user("student1"))
    assert response.code == 410


async def test_a_rotated_link_no_longer_opens_the_saved_item(api):
    share = await new_share(api)
    item = body_json(await save(api, "student1", url=share["url"]))
    await api("POST", "shares", share["share_id"], "rotate", body={}, headers=as_user(OWNER))
    [listed] = await library(api, "student1")
    assert listed["status"] == "revoked"
    assert (await api("GET", "library", item["item_id"], "conversation", headers=as_user("student1"))).code == 404


async def test_a_live_item_shows_the_owners_later_change(api):
    share = await new_share(api, "before")
    item = body_json(await save(api, "student1", url=share["url"]))
    await api("PATCH", "conversations", share["conversation_id"], body={"title": "after"}, headers=as_user(OWNER))
    assert (await library(api, "student1"))[0]["title"] == "after"
    doc = body_json(await api("GET", "library", item["item_id"], "conversation", headers=as_user("student1")))
    assert doc["title"] == "after"


async def test_a_saved_live_file_share_shows_the_files_new_message(api, jp_root_dir, convshare_app):
    # Given a live share of a .chat file in the root, saved by student1
    convshare_app.live_check_interval = 0
    document = two_message_chat()
    write_chat(jp_root_dir, "live.chat", document, mtime=1_800_000_000)
    response = await api("POST", "shares", body={"path": "live.chat"}, headers=as_user(OWNER))
    share = body_json(response)
    item = body_json(await save(api, "student1", url=share["url"]))
    # When the file gets a new message
    document["messages"].append(chat_message("m3", "A new answer", 1781233000.0, sender=BOT))
    write_chat(jp_root_dir, "live.chat", document, mtime=1_800_000_100)
    # Then reading the library item shows it
    doc = body_json(await api("GET", "library", item["item_id"], "conversation", headers=as_user("student1")))
    assert "A new answer" in json.dumps(doc)


# -- grants ---------------------------------------------------------------------------------------


async def test_a_granted_share_appears_with_its_owner_and_goes_with_the_grant(api):
    share = await new_share(api, "granted lesson")
    made = body_json(await grant(api, share["share_id"], "group", "class-2026", "collaborate"))
    [item] = await library(api, "student1")
    assert (item["kind"], item["owner"], item["permission"], item["item_id"]) == (
        "granted", OWNER, "collaborate", f"grant-{share['share_id']}"
    )
    assert await library(api, "dave") == []
    await api("DELETE", "shares", share["share_id"], "grants", made["grant_id"], headers=as_user(OWNER))
    assert await library(api, "student1") == []


async def test_a_granted_item_whose_link_is_off_opens_the_grantee_page(api, http_server_client, jp_base_url):
    share = await new_share(api, "private lesson")
    await grant(api, share["share_id"], "user", "carol", "view")
    await api("PATCH", "shares", share["share_id"], body={"link_enabled": False}, headers=as_user(OWNER))
    [item] = await library(api, "carol")
    assert item["url"].endswith(f"{jp_base_url}convshare/v/{share['share_id']}")
    assert link_of(share) not in json.dumps(item)
    page = await http_server_client.fetch(
        f"{jp_base_url}convshare/v/{share['share_id']}", headers=as_user("carol"), raise_error=False
    )
    assert page.code == 200 and b"private lesson" in page.body


async def test_a_saved_grant_disappears_when_the_grant_is_removed(api):
    share = await new_share(api)
    made = body_json(await grant(api, share["share_id"], "user", "carol", "view"))
    response = await save(api, "carol", share_id=share["share_id"])
    assert response.code == 201
    item = body_json(response)
    assert (item["kind"], item["owner"]) == ("saved", OWNER)
    assert [i["item_id"] for i in await library(api, "carol")] == [item["item_id"]]  # no duplicate
    await api("DELETE", "shares", share["share_id"], "grants", made["grant_id"], headers=as_user(OWNER))
    assert await library(api, "carol") == []
    assert (await api("GET", "library", item["item_id"], headers=as_user("carol"))).code == 404


async def test_saving_by_share_id_needs_a_grant(api):
    share = await new_share(api)
    assert (await save(api, "dave", share_id=share["share_id"])).code == 404
    assert (await save(api, "dave", share_id="nope")).code == 404


async def test_a_granted_item_is_saved_when_renamed_and_cannot_be_removed(api):
    share = await new_share(api)
    await grant(api, share["share_id"], "organization", None, "view")
    [item] = await library(api, "dave")
    response = await api("DELETE", "library", item["item_id"], headers=as_user("dave"))
    assert response.code == 409
    renamed = await api("PATCH", "library", item["item_id"], body={"name": "Week 1"}, headers=as_user("dave"))
    assert renamed.code == 200
    assert (body_json(renamed)["kind"], body_json(renamed)["name"]) == ("saved", "Week 1")
    assert [(i["kind"], i["name"]) for i in await library(api, "dave")] == [("saved", "Week 1")]


# -- rename, tag, archive, remove -----------------------------------------------------------------


async def test_rename_tag_archive_and_remove(api):
    first = await new_share(api, "algebra")
    second = await new_share(api, "geometry")
    one = body_json(await save(api, "student2", url=first["url"]))
    two = body_json(await save(api, "student2", url=second["url"]))
    # Newest first
    assert [i["item_id"] for i in await library(api, "student2")] == [two["item_id"], one["item_id"]]
    # Rename and tag
    patched = body_json(await api("PATCH", "library", one["item_id"], body={"name": "  My  algebra ", "tags": ["maths", "maths", " week 1 "]},
                                  headers=as_user("student2")))
    assert (patched["name"], patched["tags"]) == ("My algebra", ["maths", "week 1"])
    assert [i["item_id"] for i in await library(api, "student2", tag="maths")] == [one["item_id"]]
    assert [i["item_id"] for i in await library(api, "student2", q="ALGEBRA")] == [one["item_id"]]
    assert [i["item_id"] for i in await library(api, "student2", q="geometry")] == [two["item_id"]]
    # Archive: hidden by default, listed with archived=true / all
    await api("PATCH", "library", two["item_id"], body={"archived": True}, headers=as_user("student2"))
    assert [i["item_id"] for i in await library(api, "student2")] == [one["item_id"]]
    assert [i["item_id"] for i in await library(api, "student2", archived="true")] == [two["item_id"]]
    assert len(await library(api, "student2", archived="all")) == 2
    # Remove
    assert (await api("DELETE", "library", one["item_id"], headers=as_user("student2"))).code == 204
    assert [i["item_id"] for i in await library(api, "student2", archived="all")] == [two["item_id"]]
    # ... the share itself is untouched
    assert (await api("GET", "shares", first["share_id"], headers=as_user(OWNER))).code == 200


async def test_another_users_item_is_a_404(api):
    share = await new_share(api)
    item = body_json(await save(api, "student1", url=share["url"]))
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        response = await api(method, "library", item["item_id"], body=body, headers=as_user("dave"))
        assert response.code == 404, method
    assert (await api("GET", "library", item["item_id"], "conversation", headers=as_user("dave"))).code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"tags": "maths"}, "tags"),
        ({"tags": [1]}, "tags"),
        ({"tags": ["x" * 51]}, "tags"),
        ({"name": 3}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"archived": "yes"}, "archived"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_changes_are_400_naming_the_field(api, body, field):
    share = await new_share(api)
    item = body_json(await save(api, "student1", url=share["url"]))
    response = await api("PATCH", "library", item["item_id"], body=body, headers=as_user("student1"))
    assert response.code == 400 and body_json(response)["field"] == field


@pytest.mark.parametrize(
    "body, field",
    [({}, "url"), ({"url": "x", "share_id": "y"}, "url"), ({"link": "x"}, "link"), ({"url": 7}, "url")],
)
async def test_a_bad_save_body_is_400(api, body, field):
    response = await save(api, "student1", **body)
    assert response.code == 400 and body_json(response)["field"] == field


async def test_a_bad_archived_filter_is_400(api):
    response = await api("GET", "library", params={"archived": "maybe"}, headers=as_user("student1"))
    assert response.code == 400 and body_json(response)["field"] == "archived"


# -- URLs that are refused before any request --------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.org/convshare/s/" + "a" * 43,
        "javascript:alert(1)",
        "gopher://127.0.0.1:6379/_convshare/s/" + "a" * 43,
        "https://example.org/not/a/share",
        "https://example.org/convshare/s/short",
        "https://example.org/convshare/s/" + "a" * 43 + "/files/x",
        "https://user:pw@example.org/convshare/s/" + "a" * 43,
        "https://example.org/../convshare/s/" + "a" * 43,
        "https://example.org:99999/convshare/s/" + "a" * 43,
        "https:///convshare/s/" + "a" * 43,
        "http://169.254.169.254/convshare/s/" + "a" * 43,
        "http://[::ffff:169.254.169.254]/convshare/s/" + "a" * 43,
        "http://0.0.0.0/convshare/s/" + "a" * 43,
        "http://224.0.0.1/convshare/s/" + "a" * 43,
        "https://example.org/convshare/s/" + "a" * 43 + "\n",
    ],
)
async def test_urls_that_are_not_share_links_of_a_reachable_server_are_refused(api, service, url):
    response = await save(api, "student1", url=url)
    assert response.code == 400, response.body
    assert body_json(response)["field"] == "url"
    assert await library(api, "student1") == []
    assert service.list_conversations("student1") == []


def test_the_origin_never_holds_the_link():
    link = fake_link()
    parsed = parse_share_url(f"https://Hub.Example.org:8443/user/ada/convshare/s/{link}?path=m3#top")
    assert parsed.origin == "https://hub.example.org:8443/user/ada/"
    assert link not in parsed.origin and link not in repr(parsed)
    assert parsed.export_url == f"https://hub.example.org:8443/user/ada/convshare/s/{link}/export.json"


# -- a hostile server -----------------------------------------------------------------------------------


def _valid_export() -> bytes:
    return export(load_one(chat("remote"), name="remote.json"), "json")


class _Hostile(http.server.BaseHTTPRequestHandler):
    """Answers ``/<behaviour>/convshare/s/<link>/export.json`` as the behaviour says."""

    protocol_version = "HTTP/1.0"
    requests_seen: list[str] = []

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        type(self).requests_seen.append(self.path)
        behaviour = self.path.strip("/").split("/", 1)[0]
        tail = self.path.split("/", 2)[2] if self.path.count("/") > 1 else ""
        port = self.server.server_address[1]
        if behaviour == "good":
            self._send(200, _valid_export(), "application/json; charset=utf-8")
        elif behaviour == "away":
            self._redirect(f"http://127.0.0.2:{port}/good/{tail}")
        elif behaviour == "other-path":
            self._redirect("/good/api/contents")
        elif behaviour == "same":
            self._redirect(f"/good/{tail}")
        elif behaviour == "loop":
            self._redirect(self.path)
        elif behaviour == "huge":
            self._send(200, b'{"schema": "convshare/1", "pad": "' + b"x" * 200_000 + b'"}', "application/json")
        elif behaviour == "huge-undeclared":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"pad": "' + b"x" * 200_000 + b'"}')
        elif behaviour == "gzip":
            self._send(200, gzip.compress(_valid_export()), "application/json", {"Content-Encoding": "gzip"})
        elif behaviour == "html":
            self._send(200, b"<html>hello</html>", "text/html")
        elif behaviour == "notjson":
            self._send(200, b"{not json", "application/json")
        elif behaviour == "otherjson":
            self._send(200, b'{"messages": []}', "application/json")
        elif behaviour == "malformed":
            doc = json.loads(_valid_export())
            first = next(iter(doc["messages"].values()))
            first["parent_id"] = "no-such-message"
            self._send(200, json.dumps(doc).encode(), "application/json")
        elif behaviour == "gone":
            self._send(410, b"{}", "application/json")
        elif behaviour == "error":
            self._send(500, b"oops", "text/plain")
        else:
            self._send(404, b"{}", "application/json")

    def _send(self, status: int, body: bytes, media_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    """Base URL of the hostile server (``http://127.0.0.1:<port>/``)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def small_imports(convshare_app):
    """Imports of other servers' exports capped at 100 000 bytes for this test."""
    convshare_app.library.max_import_bytes = 100_000


@pytest.mark.parametrize(
    "behaviour, status",
    [
        ("away", 400),
        ("other-path", 400),
        ("loop", 400),
        ("huge", 413),
        ("huge-undeclared", 413),
        ("gzip", 400),
        ("html", 400),
        ("notjson", 400),
        ("otherjson", 400),
        ("malformed", 400),
        ("gone", 410),
        ("missing", 404),
        ("error", 400),
    ],
)
async def test_a_hostile_server_gets_a_clear_error_and_nothing_is_written(
    api, service, hostile, small_imports, behaviour, status
):
    response = await save(api, "student1", url=f"{hostile}{behaviour}/convshare/s/{fake_link()}")
    assert response.code == status, response.body
    error = body_json(response)
    assert error["field"] == "url"
    assert "x" * 100 not in error["message"]  # the body is never echoed
    assert await library(api, "student1") == []
    assert service.list_conversations("student1") == []


async def test_a_redirect_within_the_same_server_is_followed(api, hostile):
    link = fake_link()
    response = await save(api, "student1", url=f"{hostile}same/convshare/s/{link}")
    assert response.code == 201, response.body
    item = body_json(response)
    assert (item["status"], item["origin"]) == ("copy", f"{hostile}same/")
    assert _Hostile.requests_seen[-2:] == [f"/same/convshare/s/{link}/export.json", f"/good/convshare/s/{link}/export.json"]


async def test_the_fetch_asks_only_for_the_export_of_the_link(api, hostile):
    link = fake_link()
    await save(api, "student1", url=f"{hostile}good/convshare/s/{link}?token=abc&path=x#frag")
    assert _Hostile.requests_seen[-1] == f"/good/convshare/s/{link}/export.json"


def test_a_server_may_refuse_loopback_and_private_addresses(service, hostile):
    # Given a library whose server must not fetch from internal hosts
    library_ = Library(service, allow_private_networks=False)
    # Then a link on 127.0.0.1 is refused before any request, and nothing is written
    seen = len(_Hostile.requests_seen)
    with pytest.raises(InvalidRequest) as caught:
        library_.save_url("student1", f"{hostile}good/convshare/s/{fake_link()}")
    assert caught.value.field == "url" and "private network" in caught.value.message
    assert len(_Hostile.requests_seen) == seen
    assert library_.list("student1") == [] and service.list_conversations("student1") == []


# -- a link of another real Jupyter server ------------------------------------------------------------


@pytest.fixture(scope="module")
def remote_server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A second Jupyter server with jupyter-convshare (subprocess, own store and token)."""
    with another_server(tmp_path_factory.mktemp("remote")) as remote:
        yield remote


def remote_share(remote: tuple[str, str], path: Path) -> dict[str, Any]:
    return share_on(remote, {"conversation": json.loads(path.read_text(encoding="utf-8")), "name": path.name})


def store_bytes(store_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(store_dir.glob("convshare.db*")))


async def test_a_link_of_another_server_is_saved_as_the_users_own_copy(api, remote_server, convshare_app, service):
    # Given a real conversation shared on another Jupyter server
    source = real_fixture("jupyterlab-chat", "gogorogon__jupytercon2025-extension-workshop", "test.chat")
    shared = remote_share(remote_server, source)
    remote_export = requests.get(shared["url"] + "/export.json", timeout=30).json()
    # When student1 saves its link here
    response = await save(api, "student1", url=shared["url"])
    # Then it is a copy owned by student1, marked with the other server's origin
    assert response.code == 201, response.body
    item = body_json(response)
    assert (item["status"], item["kind"], item["origin"], item["owner"], item["permission"]) == (
        "copy", "saved", remote_server[0], None, None
    )
    assert item["url"] is None and item["conversation_id"]
    mine = [c.id for c in service.list_conversations("student1")]
    assert mine == [item["conversation_id"]]
    doc = body_json(await api("GET", "library", item["item_id"], "conversation", headers=as_user("student1")))
    assert len(doc["messages"]) == len(remote_export["messages"])
    assert doc["title"] == remote_export["title"]
    assert doc["extra"]["convshare"]["library_origin"] == remote_server[0]
    # ... the remote link is stored nowhere in this server's store
    link = link_of(shared)
    assert link.encode() not in store_bytes(Path(convshare_app.store_dir))
    # ... saving it again returns the same copy
    again = await save(api, "student1", url=shared["url"])
    assert again.code == 200 and body_json(again)["item_id"] == item["item_id"]
    # ... and the copy is theirs: it stays when the other server revokes the link
    url, token = remote_server
    requests.delete(f"{url}convshare/api/shares/{shared['share_id']}", headers={"Authorization": f"token {token}"},
                    timeout=30).raise_for_status()
    assert (await api("GET", "library", item["item_id"], "conversation", headers=as_user("student1"))).code == 200
    # ... while a new save of the revoked link is a 404
    assert (await save(api, "carol", url=shared["url"])).code == 404
    # Removing the item deletes the copy
    assert (await api("DELETE", "library", item["item_id"], headers=as_user("student1"))).code == 204
    assert service.list_conversations("student1") == []


async def test_the_copy_audit_is_in_the_users_own_log(api, remote_server, service):
    shared = remote_share(remote_server, real_fixture("jupyterlab-chat", "chenTracy25__codespace", "untitled.chat"))
    item = body_json(await save(api, "carol", url=shared["url"]))
    with service.store.read() as session:
        rows = [r for r in session.list_audit("-", "carol", item["conversation_id"]) if r.action == "library.saved"]
    assert [(r.who, r.owner, r.details) for r in rows] == [("carol", "carol", {"via": "import", "origin": remote_server[0]})]
