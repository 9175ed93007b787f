"""Store maintenance from the command line: ``backup``, ``prune``, ``check`` (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from jupyter_convshare.core.errors import Expired, NotFound
from jupyter_convshare.core.model import Attachment, Conversation, Message, Part, SourceInfo, utcnow
from jupyter_convshare.core.shares import ShareService


def run_cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY"))}
    env["JUPYTER_RUNTIME_DIR"] = str(store.parent / "runtime")  # no running server is found
    return subprocess.run(
        [sys.executable, "-m", "jupyter_convshare.cli", *args, "--no-server", f"--store-dir={store}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def conversation_with_file(cid: str) -> Conversation:
    conv = Conversation(id=cid, source=SourceInfo(format="convshare"), title=f"chat {cid}")
    conv.attachments["a"] = Attachment(id="a", name="data.csv", mime_type="text/csv")
    conv.append(Message(id="1", role="user", author_id="u", parts=[Part.text_part("see file")]))
    return conv


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store with a 7-day share (c1) and a 1-hour share made two hours ago (c2: expired)."""
    path = tmp_path / "store"
    service = ShareService.open(path)
    for cid in ("c1", "c2"):
        service.save_conversation("me", conversation_with_file(cid), blobs={"a": f"x,y\n{cid}\n".encode()})
    service.create_share("me", "c1", expires="7d")
    service.clock = lambda: utcnow() - timedelta(hours=2)
    service.create_share("me", "c2", expires="1h")
    service.close()
    return path


def shares_by_conversation(store: Path) -> dict[str, str]:
    service = ShareService.open(store)
    try:
        return {s.conversation_id: s.link for s in service.list_shares("me")}
    finally:
        service.close()


def test_prune_deletes_only_expired_shares(store: Path) -> None:
    # Given a live share and one that expired an hour ago (410 for now)
    links = shares_by_conversation(store)
    service = ShareService.open(store)
    with pytest.raises(Expired):
        service.resolve(links["c2"], count_view=False)
    service.close()
    # When prune runs
    done = run_cli(store, "prune", "--json")
    # Then exactly the expired share is gone (404 now) and the other still resolves
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"pruned": 1}
    service = ShareService.open(store)
    with pytest.raises(NotFound):
        service.resolve(links["c2"], count_view=False)
    assert service.resolve(links["c1"], count_view=False).conversation.id == "c1"
    # And its conversation stays
    assert service.get_conversation("me", "c2").title == "chat c2"


def test_backup_copies_database_blobs_and_secret_so_links_keep_working(store: Path, tmp_path: Path) -> None:
    # Given a store with shares
    link = shares_by_conversation(store)["c1"]
    # When it is backed up
    dest = tmp_path / "backup"
    done = run_cli(store, "backup", str(dest), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["blobs"] == 2
    # Then the backup alone serves the same link, with the attachment's bytes
    restored = ShareService.open(dest)
    resolved = restored.resolve(link, count_view=False)
    sha = resolved.conversation.attachments["a"].sha256
    assert Path(restored.blob_path(sha)).read_bytes() == b"x,y\nc1\n"
    assert (dest / "link_secret").stat().st_mode & 0o777 == 0o600


def test_backup_refuses_a_non_empty_folder(store: Path, tmp_path: Path) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    done = run_cli(store, "backup", str(dest))
    assert done.returncode == 1
    assert "not empty" in done.stderr and "Traceback" not in done.stderr
    assert (dest / "keep.txt").read_text() == "mine"


def test_check_reports_a_sound_store_and_a_missing_blob(store: Path) -> None:
    # Given a sound store, check passes
    done = run_cli(store, "check", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True
    # When an attachment blob disappears from disk
    blob = next(p for p in (store / "blobs").rglob("*") if p.is_file())
    blob.unlink()
    done = run_cli(store, "check")
    # Then check names it and exits 1
    assert done.returncode == 1
    assert blob.name in done.stderr


def test_maintenance_commands_refuse_a_folder_without_a_store(tmp_path: Path) -> None:
    done = run_cli(tmp_path / "nothing", "check")
    assert done.returncode == 1
    assert "no convshare store" in done.stderr
    assert not (tmp_path / "nothing").exists()
