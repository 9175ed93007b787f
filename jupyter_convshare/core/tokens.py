"""Link secrets (DESIGN.md section 5).

A share has a public, non-secret ``share_id`` and a secret *link* token. The link is not
stored: it is derived from a server secret kept in a file outside the database::

    link = base64url(HMAC-SHA256(secret, "convshare-link/1" | share_id | nonce))  # 43 chars

The database keeps only the per-share random ``nonce`` and ``lookup_key(link)`` (the
SHA-256 of the link) for an indexed lookup. Consequences:

* a copy of the database alone yields no working link (the secret is not in it, and a
  SHA-256 of 256 random-looking bits cannot be reversed);
* the owner can see the link again (it is recomputed from the secret and the nonce);
* rotating one link = a new nonce; replacing the secret file kills every link at once.

Links are never logged: nothing here logs, and callers must not either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

SECRET_BYTES = 32
"""Length of the server link secret, in bytes (256 bits)."""

NONCE_BYTES = 16
"""Length of a share's link nonce, in bytes (128 bits)."""

LINK_LENGTH = 43
"""Length of a link token in characters: 32 bytes of HMAC-SHA256, base64url, no padding."""

_DOMAIN = b"convshare-link/1\x00"


def new_share_id() -> str:
    """A fresh public share id: 12 url-safe characters (about 72 random bits; not a secret).

    Never starts with ``-``: an id is typed as a command-line argument
    (``jupyter convshare revoke ID``), where a leading dash reads as an option.
    """
    while True:
        share_id = secrets.token_urlsafe(9)
        if not share_id.startswith("-"):
            return share_id


def new_nonce() -> bytes:
    """A fresh per-share link nonce: :data:`NONCE_BYTES` random bytes from :mod:`secrets`."""
    return secrets.token_bytes(NONCE_BYTES)


def derive_link(secret: bytes, share_id: str, nonce: bytes) -> str:
    """The link token of a share.

    Args:
        secret: the server link secret (see :func:`load_or_create_secret`).
        share_id: the share's public id.
        nonce: the share's current nonce (bytes; a new one on every rotation).

    Returns:
        HMAC-SHA256 over a domain tag, the share id and the nonce, base64url-encoded
        without padding: :data:`LINK_LENGTH` (43) characters of ``[A-Za-z0-9_-]``,
        256 bits.

    Raises:
        ValueError: the secret is shorter than 16 bytes (a bug, not user input).
    """
    if len(secret) < 16:
        raise ValueError("link secret too short")
    # Length-prefix the share id so that (id, nonce) pairs can never collide.
    sid = share_id.encode("utf-8")
    message = _DOMAIN + len(sid).to_bytes(2, "big") + sid + nonce
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def lookup_key(link: str) -> str:
    """What the database stores for a link: the SHA-256 hex digest (64 chars) of its UTF-8 text."""
    return hashlib.sha256(link.encode("utf-8", "surrogatepass")).hexdigest()


def verify(secret: bytes, share_id: str, nonce: bytes, link: str) -> bool:
    """``True`` when ``link`` is the current link of the share, compared in constant time."""
    expected = derive_link(secret, share_id, nonce)
    return hmac.compare_digest(expected.encode("ascii"), link.encode("utf-8", "surrogatepass"))


def load_or_create_secret(path: str | os.PathLike[str]) -> bytes:
    """Read the server link secret, creating it on first use.

    The file holds :data:`SECRET_BYTES` random bytes, mode ``0600``. Creation is atomic and
    race-free: the bytes are written to a private temporary file that is then hard-linked
    to ``path`` (which fails if another process created it first; that process's secret
    then wins and is read back). Replacing or deleting this file kills every link.

    Args:
        path: the secret file (its folder is created, mode ``0700``, when missing).

    Returns:
        The secret bytes.

    Raises:
        ValueError: the existing file holds fewer than :data:`SECRET_BYTES` bytes.
        OSError: the file cannot be read or created.
    """
    target = Path(path)
    try:
        return _read_secret(target)
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".link_secret.", dir=target.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(SECRET_BYTES))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, target)
        except FileExistsError:
            pass  # another process won the race: use its secret
        except OSError:
            # File systems without hard links: O_EXCL keeps "first creator wins".
            _create_exclusive(target, Path(tmp).read_bytes())
    finally:
        os.unlink(tmp)
    return _read_secret(target)


def _create_exclusive(target: Path, data: bytes) -> None:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _read_secret(path: Path) -> bytes:
    # A secret readable by others is tightened rather than trusted as is.
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    data = path.read_bytes()
    if len(data) < SECRET_BYTES:
        raise ValueError(f"{path}: link secret file is too short ({len(data)} bytes)")
    return data
