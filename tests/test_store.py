"""The SQLite store (core.store, DESIGN.md section 6): real database files in tmp_path."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from jupyter_convshare.core.model import Conversation, Message, Part, SourceInfo
from jupyter_convshare.core.shares import ShareService
from jupyter_convshare.core.store import (
    SCHEMA_VERSION,
    SQLiteStore,
    StoreVersionError,
    default_store_dir,
)

# "fork" keeps these tests fast (a spawned child re-imports pytest and the package: ~1.5 s
# each on 2 cores); nothing here runs threads before forking, and the store reopens its
# connection in a child process.
SPAWN = multiprocessing.get_context(
    "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
)


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "store")
    yield s
    s.close()


def _pragma(store: SQLiteStore, name: str):
    return store.database().execute(f"PRAGMA {name}").fetchone()[0]


def test_default_store_dir_is_convshare_in_the_jupyter_data_dir():
    from jupyter_core.paths import jupyter_data_dir

    assert default_store_dir() == Path(jupyter_data_dir()) / "convshare"


def test_opening_creates_database_and_blob_folder(tmp_path):
    # Given an empty folder
    # When a store is opened in it
    store = SQLiteStore(tmp_path / "new")
    # Then the database and blobs/ exist, migrated to the current schema
    assert (tmp_path / "new" / "convshare.db").is_file()
    assert (tmp_path / "new" / "blobs").is_dir()
    assert store.schema_version() == SCHEMA_VERSION
    tables = set(store.database().table_names())
    assert {"conversations", "shares", "snapshots", "blobs", "conversation_blobs"} <= tables
    store.close()


def test_connections_use_wal_busy_timeout_foreign_keys_and_normal_sync(store):
    assert _pragma(store, "journal_mode") == "wal"
    assert _pragma(store, "busy_timeout") == 5000
    assert _pragma(store, "foreign_keys") == 1
    assert _pragma(store, "synchronous") == 1  # NORMAL
    assert store.database().conn.isolation_level is None


def test_link_lookup_is_unique_and_indexed(store):
    indexes = {i.name: i for i in store.database()["shares"].indexes}  # type: ignore[union-attr]
    unique = [i for i in indexes.values() if i.columns == ["link_lookup"]]
    assert unique and unique[0].unique


def test_reopening_applies_no_migration_twice(tmp_path):
    SQLiteStore(tmp_path / "s").close()
    again = SQLiteStore(tmp_path / "s", migrate=False)
    assert again.migrate() == 0
    assert again.schema_version() == SCHEMA_VERSION
    again.close()


def test_a_newer_schema_is_refused(tmp_path):
    # Given a database written by a future version
    SQLiteStore(tmp_path / "s").close()
    conn = sqlite3.connect(tmp_path / "s" / "convshare.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    # Then opening it fails clearly instead of corrupting it
    with pytest.raises(StoreVersionError, match="newer"):
        SQLiteStore(tmp_path / "s")


def _migrate_after_barrier(directory: str, barrier, results) -> None:
    store = SQLiteStore(directory, migrate=False)
    barrier.wait()
    try:
        results.put(("ok", store.migrate()))
    except Exception as e:  # reported to the parent, which fails the test
        results.put(("error", repr(e)))
    store.close()


def test_migrations_run_exactly_once_when_two_processes_start_together(tmp_path):
    # Given two processes that open the same new store at the same moment
    directory = str(tmp_path / "race")
    barrier = SPAWN.Barrier(2)
    results = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=_migrate_after_barrier, args=(directory, barrier, results))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    # Then neither failed and the migrations were applied once in total
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    assert sum(applied for _, applied in outcomes) == SCHEMA_VERSION
    store = SQLiteStore(directory, migrate=False)
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


def _write_shares(directory: str, worker: int, count: int, barrier, results) -> None:
    service = ShareService.open(directory)
    barrier.wait()
    errors: list[str] = []
    for i in range(count):
        try:
            conv = Conversation(id=f"w{worker}-{i}", source=SourceInfo(format="openai-chat"))
            conv.append(Message(id="1", role="user", author_id="u", parts=[Part.text_part("hi")]))
            service.save_conversation("alice", conv)
            service.create_share("alice", conv.id, expires="7d")
        except Exception as e:
            errors.append(repr(e))
    results.put(errors)
    service.close()


def test_four_writer_processes_create_shares_concurrently_without_errors(tmp_path):
    # Given one store and four processes writing to it at once
    directory = str(tmp_path / "busy")
    ShareService.open(directory).close()
    barrier = SPAWN.Barrier(4)
    results = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=_write_shares, args=(directory, w, 25, barrier, results))
        for w in range(4)
    ]
    for p in procs:
        p.start()
    errors = [e for _ in procs for e in results.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
    # Then every write succeeded
    assert errors == []
    service = ShareService.open(directory)
    assert len(service.list_shares("alice")) == 100
    assert len({s.link for s in service.list_shares("alice")}) == 100
    service.close()


def test_a_failed_write_transaction_is_rolled_back(store):
    # Given a write that fails half-way
    with pytest.raises(RuntimeError, match="boom"):
        with store.write() as tx:
            tx.db.execute("INSERT INTO blobs (sha256, size) VALUES (?, ?)", ["a" * 64, 1])
            raise RuntimeError("boom")
    # Then nothing of it is in the database and the connection is usable again
    assert store.database().execute("SELECT count(*) FROM blobs").fetchone()[0] == 0
    with store.write() as tx:
        tx.db.execute("INSERT INTO blobs (sha256, size) VALUES (?, ?)", ["b" * 64, 1])
    assert store.database().execute("SELECT count(*) FROM blobs").fetchone()[0] == 1


def test_nested_transactions_are_refused(store):
    with store.write():
        with pytest.raises(RuntimeError, match="nested"):
            with store.write():
                pass


def test_blobs_are_content_addressed_and_written_once(store):
    # When the same bytes are stored twice
    sha, created = store.put_blob(b"hello")
    sha2, created2 = store.put_blob(b"hello")
    # Then they share one file under blobs/<sha[:2]>/<sha>
    assert sha == sha2 == hashlib.sha256(b"hello").hexdigest()
    assert (created, created2) == (True, False)
    path = store.blob_path(sha)
    assert path == store.blobs_dir / sha[:2] / sha and path.read_bytes() == b"hello"
    assert [p.name for p in path.parent.iterdir()] == [sha]  # no temp files left


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "A" * 64, "a" * 63, "a" * 65, "", "/" + "a" * 63]
)
def test_blob_paths_only_accept_sha256_hex(store, bad):
    with pytest.raises(ValueError):
        store.blob_path(bad)
    assert not store.has_blob(bad)


def test_collecting_blobs_keeps_referenced_ones(store):
    # Given two blobs, one referenced by a conversation
    used, _ = store.put_blob(b"used")
    unused, _ = store.put_blob(b"unused")
    with store.write() as tx:
        tx.db.execute(
            "INSERT INTO conversations (owner, id, version, message_count, source_format,"
            " created_at, updated_at, doc) VALUES ('a', 'c', 1, 0, 'x', 't', 't', '{}')"
        )
        tx.add_conversation_blobs("a", "c", {used: 4})
    # When both are offered for collection
    removed = store.collect_blobs([used, unused, "../not-a-sha"])
    # Then only the unreferenced one is deleted
    assert removed == [unused]
    assert store.has_blob(used) and not store.has_blob(unused)


def test_sql_takes_values_as_parameters(store):
    # A title full of SQL stays data.
    evil = "x'); DROP TABLE shares; --"
    with store.write() as tx:
        tx.db.execute(
            "INSERT INTO conversations (owner, id, version, message_count, source_format,"
            " created_at, updated_at, doc) VALUES (?, ?, 1, 0, 'x', ?, ?, '{}')",
            [evil, evil, "2030-01-01T00:00:00.000000Z", "2030-01-01T00:00:00.000000Z"],
        )
    with store.read() as session:
        assert [c.id for c in session.list_conversations(evil)] == [evil]
        assert "shares" in session.db.table_names()


def test_database_and_secret_are_private_to_the_owner(tmp_path):
    import stat

    service = ShareService.open(tmp_path / "private")
    for name in ("convshare.db", "link_secret"):
        assert stat.S_IMODE((tmp_path / "private" / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    service.close()


def test_online_backup_is_a_sound_copy(store, tmp_path):
    with store.write() as tx:
        tx.db.execute("INSERT INTO blobs (sha256, size) VALUES (?, ?)", ["c" * 64, 3])
    store.backup(tmp_path / "backup.db")
    conn = sqlite3.connect(tmp_path / "backup.db")
    assert conn.execute("SELECT sha256 FROM blobs").fetchall() == [("c" * 64,)]
    conn.close()
    assert store.integrity_check() == []


# -- the link check (the viewer's per-request read) ------------------------------------------


def _shared_store(tmp_path: Path) -> tuple[ShareService, str]:
    service = ShareService.open(tmp_path / "svc")
    conv = Conversation(id="c", title="T", source=SourceInfo(format="convshare"))
    conv.append(Message(id="1", role="user", author_id="u", parts=[Part.text_part("hi")]))
    service.save_conversation("alice", conv)
    share, _ = service.create_share("alice", "c", expires="7d")
    return service, share.link


def test_a_link_check_is_one_select_outside_any_transaction(tmp_path):
    # Given a shared conversation and the statements the store's connection runs
    from jupyter_convshare.core.tokens import lookup_key

    service, link = _shared_store(tmp_path)
    statements: list[str] = []
    service.store.database().conn.set_trace_callback(statements.append)
    try:
        # When the viewer checks the link
        row = service.store.lookup_link(lookup_key(link))
    finally:
        service.store.database().conn.set_trace_callback(None)
        service.close()
    # Then exactly one SELECT ran: no BEGIN / ROLLBACK round trips, no document read
    assert len(statements) == 1 and statements[0].startswith("SELECT")
    assert row is not None and row.doc is None and row.title == "T" and row.conversation_version == 1


def test_a_link_check_uses_the_indexes_only(tmp_path):
    # The share by its unique link_lookup index, the conversation by its primary key
    from jupyter_convshare.core import store as store_module

    service, _link = _shared_store(tmp_path)
    plan = service.store.database().conn.execute(
        "EXPLAIN QUERY PLAN " + store_module._LINK_SQL, ("0" * 64,)
    ).fetchall()
    service.close()
    details = [row[-1] for row in plan]
    assert any("USING INDEX" in d and "link_lookup" in d for d in details), details
    assert all(not d.startswith("SCAN") for d in details), details


def test_a_link_check_with_the_document_reads_the_snapshot_of_a_snapshot_share(tmp_path):
    from jupyter_convshare.core.tokens import lookup_key

    service, link = _shared_store(tmp_path)
    service.update_share("alice", service.list_shares("alice")[0].share_id, mode="snapshot")
    conv = service.get_conversation("alice", "c")
    conv.append(Message(id="2", role="user", author_id="u", parts=[Part.text_part("later")]))
    service.save_conversation("alice", conv)
    row = service.store.lookup_link(lookup_key(link), with_doc=True)
    service.close()
    assert row is not None and row.mode == "snapshot"
    assert '"later"' not in row.doc and '"hi"' in row.doc


def test_a_batch_of_views_adds_up_and_never_moves_the_last_access_back(store):
    from datetime import datetime, timezone

    t1 = datetime(2030, 1, 1, tzinfo=timezone.utc)
    t2 = datetime(2030, 1, 2, tzinfo=timezone.utc)
    created = "2029-12-31T00:00:00.000000Z"
    with store.write() as tx:
        tx.db.execute(
            "INSERT INTO conversations (owner, id, version, message_count, source_format,"
            " created_at, updated_at, doc) VALUES ('a', 'c', 1, 0, 'x', ?, ?, '{}')",
            [created, created],
        )
        tx.db.execute(
            "INSERT INTO shares (share_id, owner, conversation_id, link_nonce, link_lookup,"
            " mode, created_at, updated_at) VALUES ('s', 'a', 'c', x'00', 'k', 'live', ?, ?)",
            [created, created],
        )
    with store.write() as tx:
        assert tx.record_view("s", t2, 5) == 5
        assert tx.record_view("s", t1, 2) == 7  # a late batch with an older time
        assert tx.record_view("gone", t2, 3) is None
    with store.read() as session:
        share = session.get_share("s")
    assert share is not None and share.view_count == 7 and share.last_accessed_at == t2


def test_stored_times_parse_to_aware_utc_in_every_form():
    from datetime import datetime, timedelta, timezone

    from jupyter_convshare.core.store import parse_stored_time

    t = datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    assert parse_stored_time("2030-01-02T03:04:05.000006Z") == t
    assert parse_stored_time("2030-01-02T04:04:05.000006+01:00") == t  # not the canonical form
    assert parse_stored_time("2030-01-02T03:04:05.000006").utcoffset() == timedelta(0)  # type: ignore[union-attr]
    assert parse_stored_time(None) is None
