"""Redaction before sharing (issue 5, *Before sharing*), through a real Jupyter server.

The owner shares a live ``.chat`` file of the Jupyter root that holds an e-mail address,
an API key, a home path, a text attachment with a token, and a private message with its
own attachment. Findings come back masked; the owner's choices (PATCH ``redaction``) then
hold on every route anyone else can reach: the public page, every export format, files
and the ZIP, grantee pages and REST reads, a reshare, a library save. Users come from
``test_grants``' token identity provider (``<name>-token``; the owner is ``teacher``).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import pyarrow.parquet as pq
import pytest

from jupyter_convshare.core.exporters import EXPORT_FORMATS

from .conftest import real_fixture
from .server_helpers import BOT, body_json, chat_document, chat_message, make_anonymous_fetch, make_api, write_chat
from .test_grants import GROUPS, OWNER, TokenUsersIdentityProvider, as_user, grant

T0 = 1781232974.0
SECRET = "SECRET-PLAN-XYZZY"
PLAN_BYTES = b"SECRET-PLAN-ROWS,1\n"
KEY = "sk-proj-" + "Zq9x" * 10
EMAIL = "ada.lovelace@analytical-engines.org"
TOKEN = "ghp_" + "N" * 36
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
FORMATS = sorted(EXPORT_FORMATS)


@pytest.fixture
def jp_server_config(jp_server_config):
    """test_grants' users (``<name>-token``; owner ``teacher``), live files re-read at once."""
    config = dict(jp_server_config)
    config["ServerApp"] = {**config["ServerApp"], "identity_provider_class": TokenUsersIdentityProvider}
    config["ConvShareApp"] = {
        **config["ConvShareApp"], "owner": OWNER, "groups": GROUPS, "admin_users": {"admin"},
        "live_check_interval": 0.0,
    }  # fmt: skip
    return config


@pytest.fixture
def api(jp_fetch):
    return make_api(jp_fetch)


@pytest.fixture
def fetch(http_server_client, jp_base_url):
    """An anonymous visitor (no credentials)."""
    return make_anonymous_fetch(http_server_client, jp_base_url)


def messages(*more: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        chat_message("m1", f"Reach me at {EMAIL}; the key is {KEY}", T0, attachments=["notes"]),
        chat_message("m2", "Saved it to /home/ada/project/out.csv", T0 + 5, sender=BOT, attachments=["chart"]),
        chat_message("m3", f"{SECRET}: between us only", T0 + 10, attachments=["plan"]),
        chat_message("m4", "Understood, nothing more.", T0 + 15, sender=BOT),
        *more,
    ]


ATTACHMENTS = {
    "notes": {"type": "file", "value": "data/notes.txt"},
    "chart": {"type": "file", "value": "data/chart.png"},
    "plan": {"type": "file", "value": "data/plan.csv"},
}


@pytest.fixture
def root(jp_root_dir):
    """The Jupyter root with the chat and its three attachments."""
    (jp_root_dir / "data").mkdir()
    (jp_root_dir / "data" / "notes.txt").write_text(f"deploy token: {TOKEN}\n")
    (jp_root_dir / "data" / "chart.png").write_bytes(PNG)
    (jp_root_dir / "data" / "plan.csv").write_bytes(PLAN_BYTES)
    write_chat(jp_root_dir, "team.chat", chat_document(messages(), ATTACHMENTS), mtime=T0)
    return jp_root_dir


async def create(api, **body: Any) -> Any:
    return await api("POST", "shares", body={"path": "team.chat", **body})


async def new_share(api) -> dict[str, Any]:
    """The owner's live share of ``team.chat`` (the POST answer)."""
    response = await create(api)
    assert response.code == 201, response.body
    return body_json(response)


def link_of(share: dict[str, Any]) -> str:
    return share["url"].rsplit("/", 1)[1]


async def patch(api, share: dict[str, Any], user: str | None = OWNER, **redaction: Any):
    return await api("PATCH", "shares", share["share_id"], body={"redaction": redaction}, headers=as_user(user))


def readable(fmt: str, body: bytes) -> str:
    """An export's content as text (Parquet decoded: its pages may be compressed)."""
    if fmt == "parquet":
        return json.dumps(pq.read_table(io.BytesIO(body)).to_pylist(), default=str, ensure_ascii=False)
    return body.decode("utf-8")


def zip_text(body: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return " ".join(archive.namelist()) + " " + " ".join(
            archive.read(n).decode("utf-8", "replace") for n in archive.namelist()
        )


# -- findings ---------------------------------------------------------------------------------------


async def test_create_answers_findings_with_kind_place_and_a_masked_preview(api, root):
    shared = await new_share(api)
    # Given a chat with an e-mail, an API key, a home path and a token in a text attachment
    found = {(f["kind"], f["message_id"], f["attachment_id"]): f for f in shared["findings"]}
    # Then each is reported at its place
    email = found[("email", "m1", None)]
    assert email["category"] == "personal" and email["part_index"] == 0 and email["part_type"] == "text"
    assert email["preview"] == "a…@a….org" and email["hidden"] is False  # e-mails are shown unless masked
    key = found[("openai_api_key", "m1", None)]
    assert key["category"] == "secret" and key["hidden"] is True  # secrets are masked by default
    assert key["preview"].startswith("sk-") and "(48 characters)" in key["preview"]
    home = found[("home_path", "m2", None)]
    assert home["preview"].startswith("/home/a…") and home["hidden"] is True
    token = found[("github_token", None, "notes")]
    assert token["location"] == "attachment" and "notes.txt" in token["message"]
    # And no finding repeats what it found
    text = json.dumps(shared)
    for value in (KEY, KEY[8:20], EMAIL, "lovelace", TOKEN, "NNNNNNNN", "/home/ada"):
        assert value not in text, value
    # And the secrets-only warnings stay as before
    assert {w["kind"] for w in shared["warnings"]} == {"openai_api_key", "github_token"}


async def test_the_owner_reads_findings_with_the_current_choices(api, root):
    shared = await new_share(api)
    # Given the owner masks e-mails
    assert (await patch(api, shared, mask_emails=True)).code == 200
    # When the findings are read
    response = await api("GET", "shares", shared["share_id"], "findings")
    assert response.code == 200
    data = body_json(response)
    # Then they say the e-mail is now hidden from viewers
    assert data["redaction"]["mask_emails"] is True
    (email,) = [f for f in data["findings"] if f["kind"] == "email"]
    assert email["hidden"] is True


async def test_findings_are_for_the_owner_only(api, root):
    shared = await new_share(api)
    await grant(api, shared["share_id"], "user", "carol", "view")
    assert (await api("GET", "shares", shared["share_id"], "findings", headers=as_user("carol"))).code == 403
    assert (await api("GET", "shares", shared["share_id"], "findings", headers=as_user("mallory"))).code == 404
    assert (await api("GET", "shares", shared["share_id"], "findings", headers=as_user("admin"))).code == 200


# -- choices: validation and storage ------------------------------------------------------------------


async def test_choices_are_stored_and_shown_in_the_share_json(api, root):
    shared = await new_share(api)
    assert shared["redaction"] == {
        "exclude_message_ids": [], "exclude_tool_payloads": False, "exclude_reasoning": False,
        "mask_secrets": True, "mask_emails": False,
    }  # fmt: skip
    response = await patch(api, shared, exclude_message_ids=["m3"], exclude_reasoning=True)
    assert body_json(response)["redaction"]["exclude_message_ids"] == ["m3"]
    # a PATCH merges: the earlier choice stays
    response = await patch(api, shared, mask_emails=True)
    again = body_json(await api("GET", "shares", shared["share_id"]))["redaction"]
    assert again == body_json(response)["redaction"]
    assert again["exclude_message_ids"] == ["m3"] and again["exclude_reasoning"] and again["mask_emails"]


@pytest.mark.parametrize(
    ("redaction", "field"),
    [
        ({"exclude_message_ids": ["m3", "no-such-message"]}, "redaction.exclude_message_ids"),
        ({"exclude_message_ids": "m3"}, "redaction.exclude_message_ids"),
        ({"exclude_message_ids": [3]}, "redaction.exclude_message_ids"),
        ({"mask_emails": "yes"}, "redaction.mask_emails"),
        ({"hide_everything": True}, "redaction.hide_everything"),
    ],
)
async def test_bad_choices_are_a_400_naming_the_field(api, root, redaction, field):
    shared = await new_share(api)
    response = await api("PATCH", "shares", shared["share_id"], body={"redaction": redaction})
    assert response.code == 400, response.body
    assert body_json(response)["field"] == field
    # and nothing changed
    assert body_json(await api("GET", "shares", shared["share_id"]))["redaction"]["exclude_message_ids"] == []


async def test_a_bad_choice_at_creation_is_a_400_and_makes_no_share(api, root):
    response = await create(api, redaction={"exclude_message_ids": ["nope"]})
    assert response.code == 400 and body_json(response)["field"] == "redaction.exclude_message_ids"
    assert body_json(await api("GET", "shares"))["shares"] == []


async def test_choices_given_at_creation_apply_at_once(api, root, fetch):
    response = await create(api, redaction={"exclude_message_ids": ["m3"], "mask_emails": True})
    assert response.code == 201
    share = body_json(response)
    assert share["redaction"]["exclude_message_ids"] == ["m3"]
    html = (await fetch("convshare", "s", link_of(share))).body.decode()
    assert SECRET not in html and EMAIL not in html and "[redacted e-mail]" in html


async def test_only_the_owner_changes_the_choices(api, root):
    shared = await new_share(api)
    await grant(api, shared["share_id"], "user", "carol", "collaborate")
    assert (await patch(api, shared, "carol", exclude_message_ids=[])).code == 403
    assert (await patch(api, shared, "mallory", exclude_message_ids=[])).code == 404


# -- excluding a message ----------------------------------------------------------------------------


async def test_an_excluded_message_leaves_the_page_and_its_replies_stay(api, root, fetch):
    shared = await new_share(api)
    assert (await patch(api, shared, exclude_message_ids=["m3"])).code == 200
    html = (await fetch("convshare", "s", link_of(shared))).body.decode()
    assert SECRET not in html
    assert "Understood, nothing more." in html  # m4, its reply, is re-linked to m2


@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_excluded_message_is_in_no_export(api, root, fetch, fmt):
    shared = await new_share(api)
    # Given the control: before the exclusion the export holds the message
    before = await fetch("convshare", "s", link_of(shared), f"export.{fmt}")
    assert before.code == 200 and SECRET in readable(fmt, before.body)
    # When the owner excludes it
    assert (await patch(api, shared, exclude_message_ids=["m3"])).code == 200
    # Then the public export and the share export of the API leave it out
    after = await fetch("convshare", "s", link_of(shared), f"export.{fmt}")
    assert after.code == 200 and SECRET not in readable(fmt, after.body)
    api_export = await api("GET", "shares", shared["share_id"], "export", params={"format": fmt})
    assert api_export.code == 200 and SECRET not in readable(fmt, api_export.body)


async def test_an_excluded_messages_attachment_is_not_downloadable_nor_in_the_zip(api, root, fetch):
    shared = await new_share(api)
    link = link_of(shared)
    assert (await fetch("convshare", "s", link, "files", "plan")).code == 200  # control
    assert (await patch(api, shared, exclude_message_ids=["m3"])).code == 200
    assert (await fetch("convshare", "s", link, "files", "plan")).code == 404
    archive = await fetch("convshare", "s", link, "files.zip")
    assert archive.code == 200
    with zipfile.ZipFile(io.BytesIO(archive.body)) as z:
        assert "plan.csv" not in z.namelist() and "chart.png" in z.namelist()
    assert (await fetch("convshare", "s", link, "files", "chart")).code == 200


async def test_an_exclusion_survives_a_change_of_the_live_chat_file(api, root, fetch):
    shared = await new_share(api)
    assert (await patch(api, shared, exclude_message_ids=["m3"])).code == 200
    link = link_of(shared)
    assert SECRET not in (await fetch("convshare", "s", link)).body.decode()
    # When the .chat file gets a new message (saved later)
    more = chat_message("m5", "A later question arrives.", T0 + 20)
    write_chat(root, "team.chat", chat_document(messages(more), ATTACHMENTS), mtime=T0 + 60)
    # Then the page shows it, and the excluded message stays out everywhere
    html = (await fetch("convshare", "s", link)).body.decode()
    assert "A later question arrives." in html and SECRET not in html
    md = (await fetch("convshare", "s", link, "export.md")).body.decode()
    assert "A later question arrives." in md and SECRET not in md
    assert (await fetch("convshare", "s", link, "files", "plan")).code == 404


async def test_a_snapshot_share_keeps_the_exclusion_after_an_update(api, root, fetch):
    share = body_json(await create(api, mode="snapshot", redaction={"exclude_message_ids": ["m3"]}))
    assert (await api("POST", "shares", share["share_id"], "snapshot")).code == 200
    html = (await fetch("convshare", "s", link_of(share))).body.decode()
    assert SECRET not in html and "Understood, nothing more." in html


# -- masks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["page", *FORMATS])
async def test_masks_apply_in_every_format(api, root, fetch, fmt):
    shared = await new_share(api)
    assert (await patch(api, shared, mask_emails=True)).code == 200
    parts = ("convshare", "s", link_of(shared)) + (() if fmt == "page" else (f"export.{fmt}",))
    response = await fetch(*parts)
    assert response.code == 200
    text = response.body.decode() if fmt == "page" else readable(fmt, response.body)
    assert EMAIL not in text and KEY not in text and KEY[8:24] not in text
    assert "[redacted e-mail]" in text and "[redacted OpenAI API key]" in text
    assert "/home/ada" not in text


async def test_a_text_attachment_holding_a_masked_secret_is_withheld(api, root, fetch):
    shared = await new_share(api)
    link = link_of(shared)
    assert (await fetch("convshare", "s", link, "files", "notes")).code == 404
    archive = await fetch("convshare", "s", link, "files.zip")
    assert TOKEN not in zip_text(archive.body)
    # When the owner switches the secret mask off (their choice), it is downloadable again
    assert (await patch(api, shared, mask_secrets=False)).code == 200
    response = await fetch("convshare", "s", link, "files", "notes")
    assert response.code == 200 and TOKEN.encode() in response.body
    assert KEY in (await fetch("convshare", "s", link)).body.decode()


async def test_the_owners_own_routes_stay_unredacted(api, root):
    shared = await new_share(api)
    # The owner's conversation (not the share) is their own data: nothing masked or excluded
    assert (await patch(api, shared, exclude_message_ids=["m3"], mask_emails=True)).code == 200
    response = await api("GET", "conversations", shared["conversation_id"])
    text = response.body.decode()
    assert SECRET in text and EMAIL in text


# -- the attacker's routes --------------------------------------------------------------------------


async def everything_visible(api, fetch, http_server_client, jp_base_url, share: dict[str, Any]) -> dict[str, str]:
    """What every route anyone but the owner's own conversation routes can reach answers
    (``route -> text``), for a share granted to carol and reshared by her, after student1
    saved its link."""
    link, share_id = link_of(share), share["share_id"]
    out: dict[str, str] = {}

    async def add(name: str, response: Any, fmt: str | None = None) -> None:
        if response.code == 200:
            if name.endswith("files.zip"):
                out[name] = zip_text(response.body)
            else:
                out[name] = readable(fmt, response.body) if fmt else response.body.decode("utf-8", "replace")
        else:
            out[name] = f"HTTP {response.code}"

    for query in ({}, {"path": "m3"}, {"reply": "m3"}):
        await add(f"page {query}", await fetch("convshare", "s", link, params=query or None))
    await add("files.zip", await fetch("convshare", "s", link, "files.zip"))
    for fmt in FORMATS:
        await add(f"export.{fmt}", await fetch("convshare", "s", link, f"export.{fmt}"), fmt)
        for user in ("carol", OWNER):
            await add(f"api export {fmt} as {user}",
                      await api("GET", "shares", share_id, "export", params={"format": fmt}, headers=as_user(user)), fmt)
            await add(f"grantee export.{fmt} as {user}",
                      await fetch("convshare", "v", share_id, f"export.{fmt}", headers=as_user(user)), fmt)
    for user in ("carol", OWNER):
        await add(f"grantee page as {user}", await fetch("convshare", "v", share_id, headers=as_user(user)))
        await add(f"grantee page m3 as {user}",
                  await fetch("convshare", "v", share_id, params={"path": "m3"}, headers=as_user(user)))
        await add(f"grantee files.zip as {user}", await fetch("convshare", "v", share_id, "files.zip", headers=as_user(user)))
    await add("share json as carol", await api("GET", "shares", share_id, headers=as_user("carol")))
    reshared = await api("POST", "shares", share_id, "reshare", body={}, headers=as_user("carol"))
    assert reshared.code == 201, reshared.body
    relink = link_of(body_json(reshared))
    await add("reshare page", await fetch("convshare", "s", relink))
    await add("reshare export.json", await fetch("convshare", "s", relink, "export.json"), "json")
    saved = await api("POST", "library", body={"url": share["url"]}, headers=as_user("student1"))
    assert saved.code in (200, 201), saved.body
    item = body_json(saved)["item_id"]
    await add("library item", await api("GET", "library", item, "conversation", headers=as_user("student1")))
    return out


async def test_no_route_gives_an_excluded_message_or_its_file_to_anyone_else(
    api, root, fetch, http_server_client, jp_base_url
):
    shared = await new_share(api)
    share_id = shared["share_id"]
    assert (await grant(api, share_id, "user", "carol", "view")).code in (200, 201)
    assert (await api("PATCH", "shares", share_id, body={"allow_reshare": True})).code == 200
    assert (await patch(api, shared, exclude_message_ids=["m3"], mask_emails=True)).code == 200
    seen = await everything_visible(api, fetch, http_server_client, jp_base_url, shared)
    # every route answered (the matrix is not vacuous) and none leaks
    failed = {name: text for name, text in seen.items() if text.startswith("HTTP ") and "m3" not in name}
    assert failed == {}
    for name, text in seen.items():
        for value in (SECRET, PLAN_BYTES.decode().strip(), EMAIL, KEY, TOKEN):
            assert value not in text, (name, value)
    # and the excluded message's file answers 404 on every file route
    link = link_of(shared)
    assert (await fetch("convshare", "s", link, "files", "plan")).code == 404
    for user in ("carol", OWNER):
        response = await fetch("convshare", "v", share_id, "files", "plan", headers=as_user(user))
        assert response.code == 404, user


async def test_a_reshare_follows_its_parents_later_choices(api, root, fetch):
    shared = await new_share(api)
    share_id = shared["share_id"]
    await grant(api, share_id, "user", "carol", "view")
    assert (await api("PATCH", "shares", share_id, body={"allow_reshare": True})).code == 200
    relink = link_of(body_json(await api("POST", "shares", share_id, "reshare", body={}, headers=as_user("carol"))))
    assert SECRET in (await fetch("convshare", "s", relink)).body.decode()  # control
    assert (await patch(api, shared, exclude_message_ids=["m3"])).code == 200
    assert SECRET not in (await fetch("convshare", "s", relink)).body.decode()
    assert (await fetch("convshare", "s", relink, "files", "plan")).code == 404


# -- real conversations -------------------------------------------------------------------------------


async def post_real(api, path, **body: Any) -> dict[str, Any]:
    response = await api("POST", "shares", body={"conversation": path.read_text(encoding="utf-8"), "name": path.name, **body})
    assert response.code == 201, response.body
    return body_json(response)


async def test_real_chatgpt_reasoning_and_tool_payloads_leave_every_export(api, fetch):
    # Given a real ChatGPT export with a reasoning trace, a tool call and its result (hidden
    # on the page, but in the JSON / CSV / Parquet exports of every branch)
    share = await post_real(api, real_fixture("chatgpt", "Sinity__polylogue", "native-conversation-v1.json"))
    private = ("Privacy-safe reasoning trace.", "Privacy-safe reasoning summary.", "fixture evidence",
               "Privacy-safe tool result.")  # fmt: skip
    link = link_of(share)
    before = (await fetch("convshare", "s", link, "export.json")).body.decode()
    assert all(text in before for text in private)  # control
    # When the owner leaves out reasoning and tool payloads
    response = await patch(api, share, exclude_reasoning=True, exclude_tool_payloads=True)
    assert response.code == 200
    # Then no format holds them, and the tool call itself is still named
    for fmt in ["page", *FORMATS]:
        parts = ("convshare", "s", link) + (() if fmt == "page" else (f"export.{fmt}",))
        got = await fetch(*parts)
        assert got.code == 200, fmt
        text = got.body.decode() if fmt == "page" else readable(fmt, got.body)
        for value in private:
            assert value not in text, (fmt, value)
    doc = json.loads((await fetch("convshare", "s", link, "export.json")).body)
    parts = [p for m in doc["messages"].values() for p in m["parts"]]
    assert not [p for p in parts if p["type"] == "reasoning"]
    assert [p["type"] for p in parts if p["type"].startswith("tool")] == ["tool_call", "tool_result"]


async def test_real_pasted_key_and_address_are_found_and_masked(api, fetch):
    # Given a real chat log where the user pasted an e-mail address and an API key
    path = real_fixture("api-messages", "Abelo9996__eval-builder", "openai_chat.jsonl")
    share = await post_real(api, path, index=2, redaction={"mask_emails": True})
    kinds = {f["kind"] for f in share["findings"]}
    assert {"email", "openai_api_key"} <= kinds
    assert "abcdefghijklmnopqrstuvwx1234" not in json.dumps(share) and "jane.doe" not in json.dumps(share)
    # Then viewers see neither, in the page or an export
    for parts in ((), ("export.md",), ("export.csv",)):
        text = (await fetch("convshare", "s", link_of(share), *parts)).body.decode()
        assert "abcdefghijklmnopqrstuvwx1234" not in text and "jane.doe@example.com" not in text
        assert "[redacted OpenAI API key]" in text and "[redacted e-mail]" in text


async def test_real_chat_home_paths_are_found_and_shown_as_tilde(api, fetch, jp_root_dir):
    source = real_fixture("jupyterlab-chat", "gogorogon__jupytercon2025-extension-workshop", "test.chat")
    (jp_root_dir / "workshop.chat").write_bytes(source.read_bytes())
    response = await api("POST", "shares", body={"path": "workshop.chat"})
    share = body_json(response)
    homes = [f for f in share["findings"] if f["kind"] == "home_path"]
    assert homes and all(f["hidden"] and f["preview"].startswith("/home/") for f in homes)
    # Then the page names neither the home directory nor the account in it
    accounts = set(re.findall(r"/home/([A-Za-z0-9_.-]+)", source.read_text(encoding="utf-8")))
    assert accounts
    html = (await fetch("convshare", "s", link_of(share))).body.decode()
    assert "/home/" not in html and not [a for a in accounts if a in html]
