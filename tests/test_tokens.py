"""Link secrets (core.tokens, DESIGN.md section 5)."""

from __future__ import annotations

import base64
import hashlib
import re
import stat
import threading

import pytest

from jupyter_convshare.core import tokens

SECRET = b"s" * 32
LINK_RE = re.compile(r"[A-Za-z0-9_-]{22,128}")


def test_link_is_43_url_safe_characters_carrying_256_bits():
    # Given a share id and a fresh nonce
    link = tokens.derive_link(SECRET, tokens.new_share_id(), tokens.new_nonce())
    # Then the link matches the viewer route and decodes to 32 bytes (>= 128 bits)
    assert len(link) == tokens.LINK_LENGTH == 43
    assert LINK_RE.fullmatch(link)
    assert len(base64.urlsafe_b64decode(link + "=")) == 32


def test_link_is_deterministic_for_secret_share_and_nonce():
    nonce = tokens.new_nonce()
    assert tokens.derive_link(SECRET, "abc", nonce) == tokens.derive_link(SECRET, "abc", nonce)


@pytest.mark.parametrize(
    "secret, share_id, nonce",
    [
        (b"t" * 32, "abc", b"n" * 16),  # another server secret
        (SECRET, "abd", b"n" * 16),  # another share
        (SECRET, "abc", b"m" * 16),  # a rotated nonce
    ],
)
def test_changing_any_input_changes_the_link(secret, share_id, nonce):
    assert tokens.derive_link(secret, share_id, nonce) != tokens.derive_link(
        SECRET, "abc", b"n" * 16
    )


def test_share_id_and_nonce_boundaries_cannot_be_shifted():
    # Given ids/nonces that concatenate to the same bytes
    # Then the length prefix keeps their links apart
    assert tokens.derive_link(SECRET, "ab", b"c" + b"n" * 15) != tokens.derive_link(
        SECRET, "abc", b"n" * 15
    )


def test_verify_accepts_the_current_link_only():
    nonce = tokens.new_nonce()
    link = tokens.derive_link(SECRET, "share1", nonce)
    assert tokens.verify(SECRET, "share1", nonce, link)
    assert not tokens.verify(SECRET, "share1", tokens.new_nonce(), link)
    assert not tokens.verify(b"x" * 32, "share1", nonce, link)
    assert not tokens.verify(SECRET, "share1", nonce, link[:-1] + ("A" if link[-1] != "A" else "B"))
    assert not tokens.verify(SECRET, "share1", nonce, "é" * 43)


def test_lookup_key_is_the_sha256_of_the_link_not_the_link():
    link = tokens.derive_link(SECRET, "share1", tokens.new_nonce())
    key = tokens.lookup_key(link)
    assert key == hashlib.sha256(link.encode()).hexdigest()
    assert link not in key


def test_share_ids_are_12_url_safe_characters_and_nonces_16_bytes():
    ids = {tokens.new_share_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 12 and LINK_RE.fullmatch(i + "x" * 10) for i in ids)
    # An id is a command-line argument: never one that reads as an option. A plain
    # token_urlsafe starts with "-" once in 64; 2000 draws would all but surely show one.
    assert not any(tokens.new_share_id().startswith("-") for _ in range(2000))
    assert len(tokens.new_nonce()) == 16
    assert tokens.new_nonce() != tokens.new_nonce()


def test_secret_is_created_once_with_mode_0600(tmp_path):
    # Given no secret file
    path = tmp_path / "store" / "link_secret"
    # When it is loaded twice
    first = tokens.load_or_create_secret(path)
    second = tokens.load_or_create_secret(path)
    # Then 32 random bytes were written once, readable by the owner only
    assert first == second and len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["link_secret"]  # no temp files left


def test_concurrent_secret_creation_agrees_on_one_secret(tmp_path):
    # Given 8 threads creating the same secret file at once
    path = tmp_path / "link_secret"
    barrier = threading.Barrier(8)
    results: list[bytes] = []

    def create() -> None:
        barrier.wait()
        results.append(tokens.load_or_create_secret(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then every one of them got the secret that is on disk
    assert len(results) == 8 and set(results) == {path.read_bytes()}


def test_truncated_secret_file_is_an_error_not_a_weak_key(tmp_path):
    path = tmp_path / "link_secret"
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="too short"):
        tokens.load_or_create_secret(path)


def test_derive_link_refuses_a_tiny_secret():
    with pytest.raises(ValueError):
        tokens.derive_link(b"k", "abc", b"n" * 16)


def test_a_world_readable_secret_is_tightened_to_0600(tmp_path):
    path = tmp_path / "link_secret"
    path.write_bytes(b"k" * 32)
    path.chmod(0o644)
    assert tokens.load_or_create_secret(path) == b"k" * 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
