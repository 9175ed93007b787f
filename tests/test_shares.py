"""ShareService (core.shares, DESIGN.md sections 4 and 5): real SQLite files, a settable clock."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import pytest

from jupyter_convshare.core import access
from jupyter_convshare.core.errors import Expired, InvalidRequest, NotFound, TooLarge
from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, SourceInfo
from jupyter_convshare.core.shares import (
    EXPIRY_PRESETS,
    UNSET,
    Share,
    ShareService,
    ViewCounter,
    merge_conversations,
    parse_expires,
)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
LINK_RE = re.compile(r"[A-Za-z0-9_-]{22,128}")


class Clock:
    """A settable UTC clock for the service (``service.clock``)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store_dir(tmp_path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def svc(store_dir, clock):
    service = ShareService.open(store_dir, clock=clock)
    yield service
    service.close()


def make_conversation(
    cid: str = "conv-1",
    texts: tuple[str, ...] = ("hello", "hi there"),
    title: str | None = "Demo",
    path: str | None = None,
) -> Conversation:
    conv = Conversation(
        id=cid, title=title, source=SourceInfo(format="jupyterlab-chat", path=path)
    )
    for i, text in enumerate(texts, start=1):
        role: Literal["user", "assistant"] = "user" if i % 2 else "assistant"
        conv.append(Message(id=str(i), role=role, author_id=role, parts=[Part.text_part(text)]))
    return conv


def texts_of(conv: Conversation) -> list[str]:
    return [m.text for m in conv.messages.values()]


def snapshot_of_store(store_dir: Path) -> tuple[list[str], list[tuple]]:
    """Every file (relative path) and every row of every table: 'the store as it was'."""
    files = sorted(
        str(p.relative_to(store_dir))
        for p in store_dir.rglob("*")
        if p.is_file() and not p.name.startswith("convshare.db")
    )
    conn = sqlite3.connect(store_dir / "convshare.db")
    rows: list[tuple] = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        rows.extend((table, *r) for r in conn.execute(f'SELECT * FROM "{table}" ORDER BY 1, 2'))
    conn.close()
    return files, rows


def shared(svc: ShareService, **kwargs) -> Share:
    svc.save_conversation("alice", make_conversation())
    share, created = svc.create_share("alice", "conv-1", **kwargs)
    assert created
    return share


# -- expiry -------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["1h", "24h", "7d", "30d"])
def test_preset_expiry_is_exact_to_the_microsecond(svc, clock, preset):
    # Given a share created with a preset
    share = shared(svc, expires=preset)
    expires_at = T0 + timedelta(seconds=EXPIRY_PRESETS[preset])
    assert share.expires_at == expires_at
    # When it is opened 1 microsecond before the expiry time, Then it shows
    clock.now = expires_at - US
    assert svc.resolve(share.link).share.share_id == share.share_id
    # When it is opened at the expiry time, Then it has expired (410)
    clock.now = expires_at
    with pytest.raises(Expired) as info:
        svc.resolve(share.link)
    assert info.value.status == 410


def test_explicit_expiry_time_is_exact_to_the_microsecond(svc, clock):
    when = T0 + timedelta(days=3, microseconds=7)
    share = shared(svc, expires=when.isoformat())
    assert share.expires_at == when
    clock.now = when - US
    svc.resolve(share.link)
    clock.now = when
    with pytest.raises(Expired):
        svc.resolve(share.link)


def test_explicit_expiry_accepts_offsets_and_z(svc):
    now = T0
    assert parse_expires("2030-01-02T13:00:00+01:00", now) == T0 + timedelta(days=1)
    assert parse_expires("2030-01-02T12:00:00Z", now) == T0 + timedelta(days=1)
    assert parse_expires(T0 + timedelta(hours=2), now) == T0 + timedelta(hours=2)


def test_never_expires(svc, clock):
    share = shared(svc, expires="never")
    assert share.expires_at is None
    clock.now = T0 + timedelta(days=365 * 50)
    svc.resolve(share.link)
    assert parse_expires(None, T0) is None


@pytest.mark.parametrize(
    "value",
    [
        "2h",
        "",
        "tomorrow",
        "7D",
        "2030-01-05T00:00:00",  # naive: no offset
        "2030-01-05",  # a date, no time zone
        "2029-12-31T00:00:00Z",  # in the past
        "2030-01-01T12:00:00Z",  # exactly now: not in the future
        datetime(2030, 1, 5),  # naive datetime
        3600,
        ["7d"],
    ],
    ids=repr,
)
def test_bad_expiry_values_are_rejected_naming_the_field(svc, value):
    svc.save_conversation("alice", make_conversation())
    with pytest.raises(InvalidRequest) as info:
        svc.create_share("alice", "conv-1", expires=value)
    assert info.value.field == "expires" and info.value.status == 400
    # And nothing was created
    assert svc.list_shares("alice") == []


def test_never_can_be_forbidden_by_policy(store_dir, clock):
    service = ShareService.open(store_dir, clock=clock, allow_never=False)
    service.save_conversation("alice", make_conversation())
    for value in ("never", None):
        with pytest.raises(InvalidRequest) as info:
            service.create_share("alice", "conv-1", expires=value)
        assert info.value.field == "expires"
    assert service.create_share("alice", "conv-1", expires="30d")[1]
    service.close()


def test_a_lifetime_cap_rejects_longer_expiry(store_dir, clock):
    service = ShareService.open(store_dir, clock=clock, max_expires_seconds=7 * 24 * 3600)
    service.save_conversation("alice", make_conversation())
    for value in ("30d", "never", (T0 + timedelta(days=7) + US).isoformat()):
        with pytest.raises(InvalidRequest, match="at most 7 days") as info:
            service.create_share("alice", "conv-1", expires=value)
        assert info.value.field == "expires"
    share, _ = service.create_share("alice", "conv-1", expires="7d")
    with pytest.raises(InvalidRequest):
        service.update_share("alice", share.share_id, expires="never")
    service.close()


# -- creating and reading shares ----------------------------------------------------------


def test_links_are_url_safe_and_at_least_128_bits(svc):
    share = shared(svc)
    assert LINK_RE.fullmatch(share.link) and len(share.link) == 43
    assert share.share_id not in share.link


def test_sharing_an_already_shared_conversation_returns_the_existing_share(svc, clock):
    # Given a shared conversation
    first = shared(svc, expires="1h")
    # When it is shared again, with other settings
    clock.now = T0 + timedelta(minutes=5)
    again, created = svc.create_share("alice", "conv-1", expires="30d", mode="snapshot")
    # Then the existing share and link come back unchanged
    assert created is False
    assert again == first
    assert len(svc.list_shares("alice")) == 1


def test_sharing_an_unknown_conversation_is_not_found(svc):
    with pytest.raises(NotFound):
        svc.create_share("alice", "nope")


def test_a_bad_mode_is_rejected(svc):
    svc.save_conversation("alice", make_conversation())
    with pytest.raises(InvalidRequest) as info:
        svc.create_share("alice", "conv-1", mode="frozen")  # type: ignore[arg-type]
    assert info.value.field == "mode"


def test_list_shares_has_titles_newest_first_and_expired_ones(svc, clock):
    svc.save_conversation("alice", make_conversation("a", title="First"))
    svc.save_conversation("alice", make_conversation("b", title="Second"))
    old, _ = svc.create_share("alice", "a", expires="1h")
    clock.now = T0 + timedelta(hours=2)
    new, _ = svc.create_share("alice", "b")
    listed = svc.list_shares("alice")
    assert [(s.share_id, s.title) for s in listed] == [
        (new.share_id, "Second"),
        (old.share_id, "First"),
    ]
    assert listed[1].is_expired(clock.now) and not listed[0].is_expired(clock.now)
    assert svc.get_share("alice", old.share_id).link == old.link


def test_share_json_has_every_attribute_as_iso_utc(svc):
    share = shared(svc, expires="1h")
    data = share.to_json(url="http://x/convshare/s/" + share.link)
    assert data["expires_at"] == "2030-01-01T13:00:00.000000Z"
    assert data["snapshot_at"] is None and data["view_count"] == 0
    assert data["url"].endswith(share.link) and data["title"] == "Demo"
    assert set(data) >= {
        "share_id", "link", "url", "conversation_id", "owner", "title", "mode", "expires_at",
        "created_at", "updated_at", "snapshot_at", "view_count", "last_accessed_at",
    }  # fmt: skip
    info = svc.get_conversation_info("alice", "conv-1").to_json()
    assert info["version"] == 1 and info["created_at"] == "2030-01-01T12:00:00.000000Z"


# -- live and snapshot --------------------------------------------------------------------


def test_live_share_shows_the_current_conversation(svc):
    share = shared(svc)
    before = svc.resolve(share.link)
    svc.save_conversation("alice", make_conversation(texts=("hello", "changed")))
    after = svc.resolve(share.link)
    assert texts_of(after.conversation) == ["hello", "changed"]
    assert after.cache_key != before.cache_key


def test_snapshot_share_stays_frozen(svc):
    share = shared(svc, mode="snapshot")
    assert share.snapshot_at == T0
    svc.save_conversation("alice", make_conversation(texts=("hello", "changed")))
    assert texts_of(svc.resolve(share.link).conversation) == ["hello", "hi there"]


def test_update_snapshot_refreezes_with_the_same_link(svc, clock):
    # Given a snapshot share and a changed conversation
    share = shared(svc, mode="snapshot")
    before = svc.resolve(share.link)
    svc.save_conversation("alice", make_conversation(texts=("hello", "changed")))
    # When the snapshot is updated (even with the clock standing still)
    updated = svc.update_snapshot("alice", share.share_id)
    # Then the same link shows the new state, under a new cache key
    assert updated.link == share.link and updated.snapshot_at > share.snapshot_at
    after = svc.resolve(share.link)
    assert texts_of(after.conversation) == ["hello", "changed"]
    assert after.cache_key != before.cache_key


def test_update_snapshot_of_a_live_share_is_refused(svc):
    share = shared(svc)
    with pytest.raises(InvalidRequest) as info:
        svc.update_snapshot("alice", share.share_id)
    assert info.value.field == "mode"


def test_switching_modes_freezes_and_unfreezes(svc, clock):
    share = shared(svc)
    clock.now = T0 + timedelta(minutes=1)
    frozen = svc.update_share("alice", share.share_id, mode="snapshot")
    assert frozen.mode == "snapshot" and frozen.snapshot_at == clock.now
    svc.save_conversation("alice", make_conversation(texts=("hello", "changed")))
    assert texts_of(svc.resolve(share.link).conversation) == ["hello", "hi there"]
    live = svc.update_share("alice", share.share_id, mode="live")
    assert live.snapshot_at is None and live.link == share.link
    assert texts_of(svc.resolve(share.link).conversation) == ["hello", "changed"]


def test_update_share_changes_expiry_and_keeps_the_rest(svc, clock):
    share = shared(svc, expires="1h")
    key = svc.resolve(share.link, count_view=False).cache_key
    updated = svc.update_share("alice", share.share_id, expires="30d")
    assert updated.expires_at == T0 + timedelta(days=30)
    assert updated.link == share.link and updated.mode == "live"
    # The page shows the expiry date, so the cache key moves with it.
    assert svc.resolve(share.link, count_view=False).cache_key != key
    assert svc.update_share("alice", share.share_id, expires=UNSET).expires_at == updated.expires_at
    with pytest.raises(InvalidRequest) as info:
        svc.update_share("alice", share.share_id, mode="other")  # type: ignore[arg-type]
    assert info.value.field == "mode"


def test_cache_key_is_stable_while_nothing_changes(svc, clock):
    share = shared(svc)
    key = svc.resolve(share.link).cache_key
    svc.save_conversation("alice", make_conversation())  # same content
    clock.now = T0 + timedelta(hours=1)
    assert svc.resolve(share.link).cache_key == key
    assert share.link not in key


# -- rotate, revoke, delete ---------------------------------------------------------------


def test_rotate_gives_a_new_link_and_kills_the_old_one(svc):
    share = shared(svc)
    rotated = svc.rotate_link("alice", share.share_id)
    assert rotated.link != share.link and rotated.share_id == share.share_id
    with pytest.raises(NotFound):
        svc.resolve(share.link)
    assert svc.resolve(rotated.link).share.link == rotated.link


def test_revoked_link_is_not_found_at_once(svc):
    share = shared(svc)
    svc.revoke("alice", share.share_id)
    with pytest.raises(NotFound) as info:
        svc.resolve(share.link)
    assert info.value.status == 404
    with pytest.raises(NotFound):
        svc.revoke("alice", share.share_id)
    with pytest.raises(NotFound):
        svc.get_share("alice", share.share_id)


def test_revoke_all_removes_every_share_of_the_owner_only(svc):
    links = []
    for cid in ("a", "b", "c"):
        svc.save_conversation("alice", make_conversation(cid))
        links.append(svc.create_share("alice", cid)[0].link)
    svc.save_conversation("bob", make_conversation("a"))
    bobs, _ = svc.create_share("bob", "a")
    assert svc.revoke_all("alice") == 3
    for link in links:
        with pytest.raises(NotFound):
            svc.resolve(link)
    assert svc.list_shares("alice") == []
    assert svc.resolve(bobs.link).share.owner == "bob"
    assert svc.revoke_all("alice") == 0


def test_deleting_a_conversation_revokes_its_shares_and_drops_its_blobs(svc, store_dir):
    # Given a shared conversation with an attachment only it uses,
    # and one whose bytes another conversation also uses
    conv = make_conversation()
    conv.attachments["own"] = Attachment(id="own", name="own.txt")
    conv.attachments["common"] = Attachment(id="common", name="common.txt")
    svc.save_conversation("alice", conv, blobs={"own": b"mine only", "common": b"shared bytes"})
    other = make_conversation("conv-2")
    other.attachments["x"] = Attachment(id="x", name="x.txt")
    svc.save_conversation("alice", other, blobs={"x": b"shared bytes"})
    own_sha = svc.get_conversation("alice", "conv-1").attachments["own"].sha256
    common_sha = svc.get_conversation("alice", "conv-1").attachments["common"].sha256
    share, _ = svc.create_share("alice", "conv-1", mode="snapshot")
    # When the conversation is deleted
    svc.delete_conversation("alice", "conv-1")
    # Then its link is gone, its own blob is gone, the shared blob stays
    with pytest.raises(NotFound):
        svc.resolve(share.link)
    with pytest.raises(NotFound):
        svc.get_conversation("alice", "conv-1")
    with pytest.raises(NotFound):
        svc.blob_path(own_sha)
    assert Path(svc.blob_path(common_sha)).read_bytes() == b"shared bytes"
    assert svc.list_shares("alice") == []
    conn = sqlite3.connect(store_dir / "convshare.db")
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0
    assert conn.execute("SELECT sha256 FROM blobs").fetchall() == [(common_sha,)]
    conn.close()
    with pytest.raises(NotFound):
        svc.delete_conversation("alice", "conv-1")


# -- resolve ------------------------------------------------------------------------------


def test_views_are_counted_with_last_access(svc, clock):
    share = shared(svc)
    clock.now = T0 + timedelta(minutes=1)
    first = svc.resolve(share.link)
    clock.now = T0 + timedelta(minutes=2)
    second = svc.resolve(share.link)
    svc.resolve(share.link, count_view=False)
    assert (first.share.view_count, second.share.view_count) == (1, 2)
    stored = svc.get_share("alice", share.share_id)
    assert stored.view_count == 2 and stored.last_accessed_at == T0 + timedelta(minutes=2)


def test_expired_links_are_not_counted(svc, clock):
    share = shared(svc, expires="1h")
    clock.now = T0 + timedelta(hours=1)
    with pytest.raises(Expired):
        svc.resolve(share.link)
    assert svc.get_share("alice", share.share_id).view_count == 0


@pytest.mark.parametrize(
    "link",
    ["", "short", "a" * 200, "../../etc/passwd", "é" * 43, "A" * 43, "%00" * 15, None],
    ids=repr,
)
def test_garbage_links_are_not_found(svc, link):
    shared(svc)
    with pytest.raises(NotFound):
        svc.resolve(link)  # type: ignore[arg-type]


def test_a_link_differing_in_one_character_is_not_found(svc):
    share = shared(svc)
    last = share.link[-1]
    with pytest.raises(NotFound):
        svc.resolve(share.link[:-1] + ("A" if last != "A" else "B"))


def test_a_database_copy_without_the_secret_yields_no_working_link(svc, store_dir, tmp_path):
    # Given a share, and a copy of the database alone (say, from a backup)
    share = shared(svc)
    copy_dir = tmp_path / "stolen"
    copy_dir.mkdir()
    src = sqlite3.connect(store_dir / "convshare.db")
    dst = sqlite3.connect(copy_dir / "convshare.db")
    src.backup(dst)
    src.close()
    dst.close()
    # Then the link is not in it
    assert share.link.encode() not in (copy_dir / "convshare.db").read_bytes()
    # And a server opened on the copy (it gets a new secret) cannot resolve the link
    thief = ShareService.open(copy_dir)
    with pytest.raises(NotFound):
        thief.resolve(share.link)
    assert thief.list_shares("alice")[0].link != share.link
    thief.close()


def test_replacing_the_secret_file_kills_every_link(svc, store_dir, clock):
    share = shared(svc)
    svc.close()
    os.unlink(store_dir / "link_secret")
    reopened = ShareService.open(store_dir, clock=clock)
    with pytest.raises(NotFound):
        reopened.resolve(share.link)
    reopened.close()


def test_links_never_reach_the_logs(svc, caplog):
    caplog.set_level(logging.DEBUG)
    share = shared(svc)
    svc.resolve(share.link)
    svc.rotate_link("alice", share.share_id)
    with pytest.raises(NotFound):
        svc.resolve(share.link)
    assert share.link not in caplog.text
    assert share.link not in repr(svc)


# -- owners -------------------------------------------------------------------------------


def test_another_owner_cannot_see_or_change_a_share(svc):
    share = shared(svc)
    for call in (
        lambda: svc.get_share("bob", share.share_id),
        lambda: svc.update_share("bob", share.share_id, expires="1h"),
        lambda: svc.update_snapshot("bob", share.share_id),
        lambda: svc.rotate_link("bob", share.share_id),
        lambda: svc.revoke("bob", share.share_id),
        lambda: svc.get_conversation("bob", "conv-1"),
        lambda: svc.get_conversation_info("bob", "conv-1"),
        lambda: svc.delete_conversation("bob", "conv-1"),
        lambda: svc.create_share("bob", "conv-1"),
        lambda: svc.sync_conversation("bob", "conv-1", make_conversation()),
    ):
        with pytest.raises(NotFound):
            call()
    assert svc.list_shares("bob") == [] and svc.list_conversations("bob") == []
    assert svc.resolve(share.link, count_view=False).share.link == share.link


def test_owners_have_separate_conversation_ids(svc):
    # Two owners importing the same file get two independent conversations.
    svc.save_conversation("alice", make_conversation(texts=("alice",)))
    svc.save_conversation("bob", make_conversation(texts=("bob",)))
    assert texts_of(svc.get_conversation("alice", "conv-1")) == ["alice"]
    assert texts_of(svc.get_conversation("bob", "conv-1")) == ["bob"]
    a, _ = svc.create_share("alice", "conv-1")
    b, _ = svc.create_share("bob", "conv-1")
    assert texts_of(svc.resolve(b.link).conversation) == ["bob"]
    assert a.link != b.link


def test_access_decisions_are_owner_only():
    share = Share(
        share_id="s", link="l", conversation_id="c", owner="alice", mode="live",
        expires_at=None, created_at=T0, updated_at=T0, snapshot_at=None, view_count=0,
        last_accessed_at=None, title=None,
    )  # fmt: skip
    assert access.can_manage("alice", share)
    assert not access.can_manage("bob", share)
    assert not access.can_manage(access.Principal("alice", authenticated=False), share)
    assert not access.can_manage("", Share(**{**share.__dict__, "owner": ""}))


# -- conversations ------------------------------------------------------------------------


def test_saving_bumps_the_version_only_on_change(svc, clock):
    first = svc.save_conversation("alice", make_conversation())
    clock.now = T0 + timedelta(minutes=1)
    same = svc.save_conversation("alice", make_conversation())
    changed = svc.save_conversation("alice", make_conversation(title="Renamed"))
    assert (first.version, same.version, changed.version) == (1, 1, 2)
    assert same.updated_at == T0 and changed.updated_at == clock.now
    assert svc.get_conversation_info("alice", "conv-1").title == "Renamed"


def test_saving_does_not_modify_the_callers_conversation(svc):
    conv = make_conversation()
    conv.attachments["a"] = Attachment(id="a", name="a.txt")
    svc.save_conversation("alice", conv, blobs={"a": b"bytes"})
    assert conv.attachments["a"].available is False and conv.attachments["a"].sha256 is None


def test_attachments_are_stored_content_addressed(svc, store_dir):
    conv = make_conversation()
    conv.attachments["a"] = Attachment(id="a", name="a.txt")
    conv.attachments["b"] = Attachment(id="b", name="b.txt")
    svc.save_conversation("alice", conv, blobs={"a": b"same", "b": b"same"})
    stored = svc.get_conversation("alice", "conv-1").attachments
    assert stored["a"].available and stored["a"].size_bytes == 4
    assert stored["a"].sha256 == stored["b"].sha256
    assert Path(svc.blob_path(stored["a"].sha256)).read_bytes() == b"same"
    assert len([p for p in (store_dir / "blobs").rglob("*") if p.is_file()]) == 1


@pytest.mark.parametrize("sha", ["../../link_secret", "0" * 64, "", "G" * 64])
def test_blob_path_of_unknown_or_malformed_digests_is_not_found(svc, sha):
    with pytest.raises(NotFound):
        svc.blob_path(sha)


def test_a_blob_for_an_unknown_attachment_is_rejected(svc, store_dir):
    before = snapshot_of_store(store_dir)
    with pytest.raises(InvalidRequest) as info:
        svc.save_conversation("alice", make_conversation(), blobs={"ghost": b"x"})
    assert info.value.field == "attachments.ghost"
    assert snapshot_of_store(store_dir) == before


def test_too_large_attachment_leaves_the_store_as_it_was(store_dir, clock):
    service = ShareService.open(store_dir, clock=clock, max_blob_bytes=4)
    service.save_conversation("alice", make_conversation())
    before = snapshot_of_store(store_dir)
    conv = make_conversation(texts=("changed",))
    conv.attachments["ok"] = Attachment(id="ok", name="ok.txt")
    conv.attachments["big"] = Attachment(id="big", name="big.bin")
    with pytest.raises(TooLarge) as info:
        service.save_conversation("alice", conv, blobs={"ok": b"1234", "big": b"12345"})
    assert info.value.status == 413 and info.value.field == "attachments.big"
    assert snapshot_of_store(store_dir) == before
    service.close()


def test_a_failure_inside_the_write_leaves_the_store_as_it_was(svc, store_dir):
    # Given a store whose database refuses blob references (a real SQLite error)
    svc.save_conversation("alice", make_conversation())
    conn = sqlite3.connect(store_dir / "convshare.db")
    conn.execute(
        "CREATE TRIGGER fail BEFORE INSERT ON conversation_blobs"
        " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    conn.commit()
    conn.close()
    before = snapshot_of_store(store_dir)
    # When a save with new content and new bytes fails mid-transaction
    conv = make_conversation(texts=("changed",))
    conv.attachments["a"] = Attachment(id="a", name="a.txt")
    with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
        svc.save_conversation("alice", conv, blobs={"a": b"new bytes"})
    # Then no row changed and the blob file written before the transaction is gone
    assert snapshot_of_store(store_dir) == before
    assert texts_of(svc.get_conversation("alice", "conv-1")) == ["hello", "hi there"]


def test_empty_conversation_id_is_rejected(svc):
    with pytest.raises(InvalidRequest) as info:
        svc.save_conversation("alice", make_conversation(cid=""))
    assert info.value.field == "id"


def test_list_and_find_conversations(svc, clock):
    svc.save_conversation("alice", make_conversation("a", path="chats/a.chat"), source_mtime=10.0)
    clock.now = T0 + timedelta(minutes=1)
    svc.save_conversation("alice", make_conversation("b"))
    assert [c.id for c in svc.list_conversations("alice")] == ["b", "a"]
    found = svc.find_conversation_by_path("alice", "chats/a.chat")
    assert found is not None and found.id == "a" and found.source_mtime == 10.0
    assert svc.find_conversation_by_path("bob", "chats/a.chat") is None
    assert svc.find_conversation_by_path("alice", "chats/other.chat") is None


# -- sync (live .chat sources) ------------------------------------------------------------


def _chat_in_store(svc: ShareService) -> Conversation:
    conv = make_conversation(texts=("q1", "a1"), path="demo.chat")
    conv.attachments["nb"] = Attachment(id="nb", name="nb.ipynb", uri="nb.ipynb")
    svc.save_conversation("alice", conv, blobs={"nb": b"{}"}, source_mtime=1.0)
    # A message that exists only in the store (e.g. added by a collaborator)
    stored = svc.get_conversation("alice", "conv-1")
    stored.append(Message(id="store-1", role="user", author_id="carol", parts=[Part.text_part("from carol")]))
    svc.save_conversation("alice", stored)
    return stored


def test_sync_updates_and_appends_source_messages_and_keeps_store_only_ones(svc):
    _chat_in_store(svc)
    # When the source file changed: message 2 edited, message 3 added
    fresh = make_conversation(texts=("q1", "a1 (edited)", "q2"), path="demo.chat")
    fresh.attachments["nb"] = Attachment(id="nb", name="nb.ipynb", uri="nb.ipynb")
    info = svc.sync_conversation("alice", "conv-1", fresh, source_mtime=2.0)
    merged = svc.get_conversation("alice", "conv-1")
    # Then source messages are updated and added, and the store-only one is kept
    assert texts_of(merged) == ["q1", "a1 (edited)", "q2", "from carol"]
    assert merged.messages["store-1"].parent_id == "2"
    assert merged.messages["2"].children_ids == ["3", "store-1"]
    assert info.version == 3 and info.source_mtime == 2.0 and info.message_count == 4
    assert merged.active_leaf_id == "3"  # the source moved on: its new leaf is the default
    # And the attachment keeps its stored bytes
    assert merged.attachments["nb"].available and merged.attachments["nb"].sha256


def test_sync_without_changes_keeps_the_version(svc):
    _chat_in_store(svc)
    fresh = make_conversation(texts=("q1", "a1"), path="demo.chat")
    fresh.attachments["nb"] = Attachment(id="nb", name="nb.ipynb", uri="nb.ipynb")
    before = svc.get_conversation_info("alice", "conv-1")
    after = svc.sync_conversation("alice", "conv-1", fresh, source_mtime=5.0)
    assert after.version == before.version and after.source_mtime == 5.0


def test_sync_of_an_unknown_conversation_is_not_found(svc):
    with pytest.raises(NotFound):
        svc.sync_conversation("alice", "nope", make_conversation("nope"))


def test_merge_keeps_messages_removed_from_the_source(svc):
    stored = make_conversation(texts=("a", "b", "c"))
    fresh = make_conversation(texts=("a",))
    merged = merge_conversations(stored, fresh)
    assert texts_of(merged) == ["a", "b", "c"]
    assert merged.messages["3"].parent_id == "2"
    assert merged.active_leaf_id == "3"  # the stored path continues the source's
    assert texts_of(stored) == ["a", "b", "c"] and texts_of(fresh) == ["a"]  # inputs untouched


def test_merge_does_not_carry_bytes_to_a_different_file(svc):
    stored = make_conversation()
    stored.attachments["x"] = Attachment(
        id="x", name="a.txt", uri="a.txt", sha256="a" * 64, size_bytes=1, available=True
    )
    fresh = make_conversation()
    fresh.attachments["x"] = Attachment(id="x", name="b.txt", uri="b.txt")
    merged = merge_conversations(stored, fresh)
    assert merged.attachments["x"].available is False and merged.attachments["x"].sha256 is None


# -- viewer fast path, threads, snapshots keep their bytes --------------------------------


def test_resolve_share_checks_the_link_without_loading_the_conversation(svc, clock):
    # Given a live share
    share = shared(svc, expires="1h")
    # When the viewer checks the link, then loads the content on a cache miss
    checked, key = svc.resolve_share(share.link)
    conversation, load_key = svc.load_shared_conversation(checked)
    # Then it gets the same key resolve() gives, and the view is counted once
    assert key == load_key == svc.resolve(share.link, count_view=False).cache_key
    assert texts_of(conversation) == ["hello", "hi there"]
    assert checked.view_count == 1 == svc.get_share("alice", share.share_id).view_count
    # And it refuses expired and rotated links like resolve()
    clock.now = T0 + timedelta(hours=1)
    with pytest.raises(Expired):
        svc.resolve_share(share.link)
    clock.now = T0
    svc.rotate_link("alice", share.share_id)
    with pytest.raises(NotFound):
        svc.load_shared_conversation(checked)


def test_views_from_many_threads_are_all_counted(svc):
    # Server handlers call the service from a thread pool: one connection per thread.
    from concurrent.futures import ThreadPoolExecutor

    share = shared(svc)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: svc.resolve(share.link).share.view_count, range(80)))
    assert sorted(results) == list(range(1, 81))
    assert svc.get_share("alice", share.share_id).view_count == 80


def test_a_snapshot_keeps_its_attachment_bytes_after_the_conversation_drops_them(svc):
    # Given a snapshot of a conversation with an attachment
    conv = make_conversation()
    conv.attachments["a"] = Attachment(id="a", name="a.txt")
    svc.save_conversation("alice", conv, blobs={"a": b"frozen bytes"})
    share, _ = svc.create_share("alice", "conv-1", mode="snapshot")
    # When the conversation is replaced by a version without it
    svc.save_conversation("alice", make_conversation(texts=("new",)))
    # Then the snapshot's attachment can still be downloaded
    frozen = svc.resolve(share.link).conversation.attachments["a"]
    assert Path(svc.blob_path(frozen.sha256)).read_bytes() == b"frozen bytes"


def test_a_rename_survives_the_next_sync_from_the_source_file(svc):
    # Given a file-backed conversation that the owner renamed
    svc.save_conversation("alice", make_conversation(title="demo", path="demo.chat"))
    renamed = svc.get_conversation("alice", "conv-1")
    renamed.title = "Week 3: gradient descent"
    svc.save_conversation("alice", renamed)
    # When the source file changes and is re-synced (its title is the file stem)
    fresh = make_conversation(texts=("hello", "hi there", "more"), title="demo", path="demo.chat")
    info = svc.sync_conversation("alice", "conv-1", fresh)
    # Then the new message is in and the owner's title stays
    assert info.title == "Week 3: gradient descent" and info.message_count == 3


def test_prune_deletes_expired_shares_only(svc, clock):
    svc.save_conversation("alice", make_conversation("a"))
    svc.save_conversation("bob", make_conversation("b"))
    gone, _ = svc.create_share("alice", "a", expires="1h")
    kept, _ = svc.create_share("bob", "b", expires="7d")
    clock.now = T0 + timedelta(hours=1)  # exactly at expiry: expired
    assert svc.prune_expired() == 1
    with pytest.raises(NotFound):
        svc.resolve(gone.link)
    assert svc.resolve(kept.link).share.owner == "bob"


def test_the_link_check_derives_no_second_link_and_keeps_every_share_field(svc, clock):
    # Given a share that has been viewed once
    share = shared(svc, expires="1h")
    clock.now = T0 + timedelta(minutes=1)
    svc.resolve(share.link)
    # When the viewer checks the link
    checked, _key = svc.resolve_share(share.link, count_view=False)
    # Then it is the owner's share exactly (times parsed from the stored text, as UTC)
    assert checked == svc.get_share("alice", share.share_id)
    assert checked.last_accessed_at == T0 + timedelta(minutes=1)
    assert checked.expires_at is not None and checked.expires_at.utcoffset() == timedelta(0)


def test_views_counted_elsewhere_are_added_in_one_write(svc, clock):
    # Given a share, and views a server counted in memory
    share = shared(svc)
    later = T0 + timedelta(minutes=3)
    # When they are recorded (with one for a share revoked meanwhile)
    recorded = svc.record_views({share.share_id: (4, later), "revoked-share": (2, later)})
    # Then the share has them all and the last access time of the latest
    stored = svc.get_share("alice", share.share_id)
    assert recorded == 4
    assert stored.view_count == 4 and stored.last_accessed_at == later


def test_a_view_counter_writes_every_view_once_from_many_threads(svc, clock):
    # Given views counted by 8 threads while other threads flush
    from concurrent.futures import ThreadPoolExecutor

    share = shared(svc)
    counter = ViewCounter(svc)

    def view(i: int) -> None:
        counter.add(share.share_id, T0 + timedelta(seconds=i))
        if i % 10 == 0:
            counter.flush()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(view, range(200)))
    counter.flush()
    # Then each view was written exactly once, with the latest time
    stored = svc.get_share("alice", share.share_id)
    assert stored.view_count == 200 and counter.pending == 0
    assert stored.last_accessed_at == T0 + timedelta(seconds=199)


def test_a_failed_flush_keeps_the_views_for_the_next_one(store_dir, clock):
    # Given a store that fails one write (fault injected), and three counted views
    class FailingOnce(ShareService):
        failures = 1

        def record_views(self, views):  # type: ignore[no-untyped-def]
            if self.failures:
                self.failures -= 1
                raise sqlite3.OperationalError("database is locked")
            return super().record_views(views)

    svc = FailingOnce.open(store_dir, clock=clock)
    share = shared(svc)
    counter = ViewCounter(svc)
    for _ in range(3):
        counter.add(share.share_id, T0)
    # When the first flush fails and a view comes in before the next
    with pytest.raises(sqlite3.OperationalError):
        counter.flush()
    counter.add(share.share_id, T0)
    # Then the next flush writes all four
    assert counter.pending == 4 and counter.flush() == 4
    assert svc.get_share("alice", share.share_id).view_count == 4
    svc.close()


def test_sharing_again_after_expiry_gives_a_fresh_link(svc, clock):
    # Given a share that has expired
    old = shared(svc, expires="1h")
    clock.now = T0 + timedelta(hours=2)
    # When the conversation is shared again
    new, created = svc.create_share("alice", "conv-1", expires="7d")
    # Then a new share with a new link is created and the dead one is gone
    assert created is True
    assert new.share_id != old.share_id and new.link != old.link
    assert new.expires_at == clock.now + timedelta(days=7)
    assert [s.share_id for s in svc.list_shares("alice")] == [new.share_id]
    assert svc.resolve(new.link).share.share_id == new.share_id
    with pytest.raises(NotFound):
        svc.resolve(old.link)


def test_sharing_again_before_expiry_keeps_the_link(svc, clock):
    old = shared(svc, expires="1h")
    clock.now = T0 + timedelta(minutes=59)
    again, created = svc.create_share("alice", "conv-1")
    assert created is False and again.link == old.link
