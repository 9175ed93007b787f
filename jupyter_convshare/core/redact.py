"""What a viewer never sees, the owner's redaction choices, and what the owner is warned about.

DESIGN.md section 5 and issue 5 (*Before sharing*).

* :func:`viewer_copy` is the ONE place that decides what anyone but the owner sees of a
  shared conversation: the public page, every export made from it (every format goes
  through ``core.exporters.export`` after it), the attachments and the ZIP, grantee pages,
  the REST routes for grantees and library items. It always removes system prompts,
  account names, ``extra`` fields and home paths, and applies the owner's
  :class:`Redaction` choices of the share: excluded messages (by id, so they stay excluded
  when a live ``.chat`` file is read again), tool payloads, reasoning, and masks for
  secrets and e-mail addresses.
* :func:`find_sensitive` scans a conversation (message parts, title, attachment text and
  the stored bytes of text-like attachments, within :data:`MAX_SCAN_BYTES`) for secrets
  (API keys, tokens, passwords, private keys) and personal data (e-mail addresses,
  absolute home paths). A :class:`Finding` names the kind and the place, with a masked
  preview: never the secret itself. :func:`find_secrets` is the secrets-only subset.

Detection is a documented set of regular expressions (:data:`SECRET_KINDS`), not a
dependency: ``detect-secrets`` would add a plugin framework, entropy heuristics with many
false positives on code and UUIDs, and file-oriented scanning, for a handful of prefixes
we match directly. The patterns favour precision: a placeholder (``sk-...``,
``password = getpass()``, ``<password>``) is not a finding.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from .errors import InvalidRequest
from .model import Attachment, Conversation, Message, Part

__all__ = [
    "MAX_SCAN_BYTES",
    "REDACTION_FIELDS",
    "SECRET_KINDS",
    "Finding",
    "Redaction",
    "SecretFinding",
    "blob_reader",
    "find_secrets",
    "find_sensitive",
    "hidden_message_ids",
    "is_text_attachment",
    "mask_text",
    "scrub_paths",
    "secrets_only",
    "viewer_copy",
    "viewer_title",
]

_DROPPED_ROLES = frozenset({"system", "developer"})

MAX_SCAN_BYTES = 1024 * 1024
"""Text-like attachments are scanned (and, when a mask applies, withheld) up to this size
in bytes; a larger one is reported as ``unscanned_attachment``."""

MAX_FINDINGS = 500
"""At most this many findings are returned (a pasted log can hold thousands of matches)."""

# A home directory names the account: /home/<u>, /Users/<u>, C:\Users\<u> (any drive,
# either slash, doubled backslashes as inside JSON strings). The lookbehind keeps
# "/data/home/x" or "x/Users/y" (relative paths) untouched.
_HOME_POSIX_RE = re.compile(r"(?<![\w.~-])/(?:home|Users)/[^/\\\s\"'<>`]+")
_HOME_WINDOWS_RE = re.compile(r"(?i)(?<![\w])[a-z]:(?:\\+|/)Users(?:\\+|/)[^\\/\s\"'<>`]+")
_ABSOLUTE_RE = re.compile(r"^(?:/|[A-Za-z]:[\\/]|\\\\|file:)", re.IGNORECASE)

# RFC 5322 is far wider; this is the address people paste. ``git@host`` SSH remotes and
# names like ``logo@2x.png`` are not addresses. Reserved example domains (RFC 2606) count:
# people paste their own address into a sentence that also uses example.com, and masking a
# placeholder costs nothing.
_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])(?P<local>[A-Za-z0-9][A-Za-z0-9._%+-]{0,63})@"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,24}))\b"
)
_NOT_EMAIL_TLDS = frozenset(
    "png jpg jpeg gif svg webp bmp ico pdf js ts css html py ipynb json yaml yml md txt csv lock".split()
)


def scrub_paths(text: str) -> str:
    """Replace home-directory prefixes with ``~``.

    ``/home/<u>/x`` -> ``~/x``, ``/Users/<u>/x`` -> ``~/x``, ``C:\\Users\\<u>\\x`` ->
    ``~\\x`` (the rest of the path is kept as written).

    Args:
        text: any text (message, JSON string, tool output).
    """
    if "/" not in text and "\\" not in text:
        return text
    text = _HOME_POSIX_RE.sub("~", text)
    return _HOME_WINDOWS_RE.sub("~", text)


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """``fn`` applied to every string of a JSON-like value (dict keys included)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {(fn(k) if isinstance(k, str) else k): _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(_map_strings(v, fn) for v in value)
    return value


def _scrub(value: Any) -> Any:
    """Scrub home paths in every string of a JSON-like value (dict keys included)."""
    return _map_strings(value, scrub_paths)


def _scrub_uri(uri: str | None) -> str | None:
    if uri is None:
        return None
    scrubbed = scrub_paths(uri)
    if scrubbed != uri:
        return scrubbed
    if _ABSOLUTE_RE.match(uri):
        # Another absolute local path (/srv/..., D:\..., file:...): only the base name.
        base = re.split(r"[\\/]", uri.rstrip("\\/"))[-1]
        return base or None
    return uri


_PART_STRING_FIELDS = ("text", "summary", "arguments_raw", "title", "alt", "name")


def _map_part(part: Part, fn: Callable[[str], str]) -> None:
    for name in _PART_STRING_FIELDS:
        value = getattr(part, name)
        if isinstance(value, str):
            setattr(part, name, fn(value))
    part.arguments = _map_strings(part.arguments, fn)
    part.data = _map_strings(part.data, fn)


def _scrub_part(part: Part) -> None:
    part.extra = {}
    part.metadata = None
    _map_part(part, scrub_paths)
    if part.url is not None and not part.url.startswith("data:"):
        part.url = _scrub_uri(part.url)


def _drop_message(conv: Conversation, message: Message) -> None:
    """Remove ``message`` from the tree, re-linking its children to its parent in its place."""
    children = [c for c in message.children_ids if c in conv.messages]
    parent = conv.messages.get(message.parent_id) if message.parent_id is not None else None
    parent_id = parent.id if parent is not None else None
    for child_id in children:
        conv.messages[child_id].parent_id = parent_id
    siblings = conv.root_ids if parent is None else parent.children_ids
    if message.id in siblings:
        at = siblings.index(message.id)
        siblings[at : at + 1] = children
    else:
        siblings.extend(children)
    if conv.active_leaf_id == message.id:
        conv.active_leaf_id = parent_id
    del conv.messages[message.id]


# -- the owner's choices ------------------------------------------------------------------

REDACTION_FIELDS: dict[str, str] = {
    "exclude_message_ids": "list of message ids (strings) viewers never see",
    "exclude_tool_payloads": "true or false: tool call arguments and tool results are not shared",
    "exclude_reasoning": "true or false: reasoning (thinking) parts are not shared",
    "mask_secrets": "true or false: found secrets show as '[redacted <kind>]'",
    "mask_emails": "true or false: e-mail addresses show as '[redacted e-mail]'",
}
"""The fields of a share's ``redaction`` object (REST and ``convshare/1``-independent)."""

MAX_EXCLUDED_MESSAGES = 10_000


@dataclass(frozen=True)
class Redaction:
    """The owner's redaction choices for one share (issue 5, *Before sharing*).

    Attributes:
        exclude_message_ids: messages viewers never see (sorted, unique). Their replies
            stay, re-linked to the excluded message's parent; attachments only they refer
            to are not downloadable (404) and not in the ZIP. Ids survive a live re-read
            of the source (``.chat`` message ids are stable).
        exclude_tool_payloads: tool call arguments and tool results are emptied (the call's
            tool name stays, the result reads ``[tool output not shared]``).
        exclude_reasoning: reasoning parts are removed (a message holding nothing else goes,
            its replies re-linked).
        mask_secrets: every secret :func:`find_sensitive` finds is replaced with
            ``[redacted <kind label>]``; a text attachment holding one is withheld (on by
            default: a credential is never meant for viewers).
        mask_emails: e-mail addresses become ``[redacted e-mail]`` (off by default).
    """

    exclude_message_ids: tuple[str, ...] = ()
    exclude_tool_payloads: bool = False
    exclude_reasoning: bool = False
    mask_secrets: bool = True
    mask_emails: bool = False

    def to_json(self) -> dict[str, Any]:
        """``{"exclude_message_ids": [str], "exclude_tool_payloads": bool,
        "exclude_reasoning": bool, "mask_secrets": bool, "mask_emails": bool}``."""
        return {
            "exclude_message_ids": list(self.exclude_message_ids),
            "exclude_tool_payloads": self.exclude_tool_payloads,
            "exclude_reasoning": self.exclude_reasoning,
            "mask_secrets": self.mask_secrets,
            "mask_emails": self.mask_emails,
        }

    @classmethod
    def from_stored(cls, text: str | None) -> Redaction:
        """The choices stored as JSON text in ``shares.redaction`` (``None``: the defaults).

        A damaged value gives the defaults for what cannot be read (never an error: the
        viewer must keep working), masks on.
        """
        import json

        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        ids = data.get("exclude_message_ids")
        return cls(
            exclude_message_ids=tuple(sorted({i for i in ids if isinstance(i, str)})) if isinstance(ids, list) else (),
            exclude_tool_payloads=data.get("exclude_tool_payloads") is True,
            exclude_reasoning=data.get("exclude_reasoning") is True,
            mask_secrets=data.get("mask_secrets") is not False,
            mask_emails=data.get("mask_emails") is True,
        )

    def to_stored(self) -> str:
        """JSON text for ``shares.redaction`` (compact, keys sorted)."""
        import json

        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def merged(self, changes: Any, *, field: str = "redaction") -> Redaction:
        """These choices with ``changes`` (a JSON object of some :data:`REDACTION_FIELDS`) applied.

        Fields left out keep their value; ``exclude_message_ids`` replaces the whole list.

        Raises:
            InvalidRequest: not an object, an unknown field, or a wrong type; ``field`` names
                it (``"redaction.mask_emails"``, ``"redaction.exclude_message_ids[2]"``).
        """
        if isinstance(changes, Redaction):
            return changes
        if not isinstance(changes, Mapping):
            raise InvalidRequest(f"{field}: expected an object with some of {sorted(REDACTION_FIELDS)}", field=field)
        unknown = sorted(set(changes) - set(REDACTION_FIELDS))
        if unknown:
            raise InvalidRequest(
                f"{field}.{unknown[0]}: unknown field; expected some of {sorted(REDACTION_FIELDS)}",
                field=f"{field}.{unknown[0]}",
            )
        values: dict[str, Any] = {}
        for key in ("exclude_tool_payloads", "exclude_reasoning", "mask_secrets", "mask_emails"):
            if key in changes:
                if not isinstance(changes[key], bool):
                    raise InvalidRequest(f"{field}.{key}: expected true or false", field=f"{field}.{key}")
                values[key] = changes[key]
        if "exclude_message_ids" in changes:
            ids = changes["exclude_message_ids"]
            where = f"{field}.exclude_message_ids"
            if not isinstance(ids, list):
                raise InvalidRequest(f"{where}: expected a list of message ids", field=where)
            if len(ids) > MAX_EXCLUDED_MESSAGES:
                raise InvalidRequest(f"{where}: at most {MAX_EXCLUDED_MESSAGES} ids", field=where)
            for i, value in enumerate(ids):
                if not isinstance(value, str) or not value:
                    raise InvalidRequest(f"{where}[{i}]: expected a message id (a non-empty string)", field=where)
            values["exclude_message_ids"] = tuple(sorted(set(ids)))
        return dataclasses.replace(self, **values)

    def check_messages(self, known: Iterable[str], *, field: str = "redaction") -> None:
        """Raise InvalidRequest (``field="redaction.exclude_message_ids"``) naming the first
        excluded id that is not a message of the conversation (``known``)."""
        known_ids = set(known)
        for message_id in self.exclude_message_ids:
            if message_id not in known_ids:
                where = f"{field}.exclude_message_ids"
                raise InvalidRequest(f"{where}: no message {message_id!r} in this conversation", field=where)

    @property
    def masks(self) -> frozenset[str]:
        """The finding categories masked: ``"secret"`` and/or ``"email"``."""
        return frozenset(
            name for name, on in (("secret", self.mask_secrets), ("email", self.mask_emails)) if on
        )


# -- secrets and personal data ------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    kind: str
    label: str  # "OpenAI API key": what the mask says
    description: str  # "an OpenAI API key": what the warning says
    category: str  # "secret" | "email" | "home_path"
    pattern: re.Pattern[str]
    keep_prefix: int = 4  # characters of the match shown in the preview (a public prefix)


def _k(kind: str, label: str, article: str, pattern: str, keep: int = 4, category: str = "secret") -> _Kind:
    return _Kind(kind, label, f"{article} {label}", category, re.compile(pattern), keep)


# Order matters: the Anthropic key also starts with "sk-". A named group ``v`` is the part
# masked (a password's value, not the word "password").
_KINDS: list[_Kind] = [
    _k("anthropic_api_key", "Anthropic API key", "an", r"\bsk-ant-[A-Za-z0-9_-]{20,}", 7),
    _k("openai_api_key", "OpenAI API key", "an",
       r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}", 3),
    _k("github_token", "GitHub token", "a", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})", 4),
    _k("aws_access_key", "AWS access key id", "an", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 4),
    _k("aws_secret_key", "AWS secret access key", "an",
       r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?(?P<v>[A-Za-z0-9/+=]{40})\b", 0),
    _k("slack_token", "Slack token or webhook", "a",
       r"\bxox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}", 5),
    _k("huggingface_token", "Hugging Face token", "a", r"\bhf_[A-Za-z0-9]{30,}", 3),
    _k("bearer_token", "bearer token", "a", r"(?i)\bbearer\s+(?P<v>[A-Za-z0-9._~+/-]{20,}=*)", 0),
    # the whole block when its end is there, else the header line onwards to a blank line
    _k("private_key", "private key", "a",
       r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
       # the body never crosses another "-----" (the next header): linear on pasted logs
       r"(?:(?:[^-]|-(?!----)){0,16384}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
       r"|[A-Za-z0-9+/=\s\\n]{0,16384})", 0),
    # password = "literal" / password: literal (config style). Calls, variables and
    # placeholders (getpass(), os.environ[...], ****, <password>, ${VAR}) do not count.
    _k("password", "password", "a",
       r"(?i)\b(?:password|passwd|pwd|db_pass|pass_word)\b[\"']?\s*[:=]\s*"
       r"(?:([\"'])(?![*x.<{$%\s]{0,256}\1)(?P<v>[^\"'\n]{4,256})\1"
       r"|(?![*<{$%]|[xX]{3})(?P<w>[A-Za-z0-9!@#^&*_+\-.~]{6,256})(?![\w.(\[]))", 0),
]
_EMAIL_KIND = _Kind("email", "e-mail", "an e-mail address", "email", _EMAIL_RE, 1)
_HOME_KIND = _Kind("home_path", "home path", "an absolute home directory path", "home_path", _HOME_POSIX_RE, 0)

SECRET_KINDS: dict[str, str] = {k.kind: k.description for k in _KINDS}
"""Secret kinds found (name -> description): OpenAI / Anthropic / GitHub / AWS / Slack /
Hugging Face keys, bearer tokens, private key blocks, password assignments. Personal data
kinds are ``"email"`` and ``"home_path"``; ``"unscanned_attachment"`` says a text-like
attachment was too large to scan."""


def _is_email(match: re.Match[str]) -> bool:
    if match.group("tld").lower() in _NOT_EMAIL_TLDS:
        return False
    return match.group("local").lower() != "git"


def _spans(kind: _Kind, text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, matched)`` of what a kind masks in ``text`` (the ``v`` group when set)."""
    for match in kind.pattern.finditer(text):
        if kind is _EMAIL_KIND and not _is_email(match):
            continue
        for group in ("v", "w"):
            if group in kind.pattern.groupindex and match.group(group) is not None:
                yield match.start(group), match.end(group), match.group(group)
                break
        else:
            yield match.start(), match.end(), match.group()


def _home_matches(text: str) -> Iterator[str]:
    if "/" in text or "\\" in text:
        yield from (m.group() for m in _HOME_POSIX_RE.finditer(text))
        yield from (m.group() for m in _HOME_WINDOWS_RE.finditer(text))


def mask_text(text: str, masks: Iterable[str]) -> str:
    """``text`` with what ``masks`` names replaced.

    Args:
        text: any text.
        masks: ``"secret"`` (every :data:`SECRET_KINDS` match becomes ``[redacted <label>]``,
            e.g. ``[redacted OpenAI API key]``) and/or ``"email"`` (``[redacted e-mail]``).
    """
    masks = frozenset(masks)
    if not masks or not text:
        return text
    kinds = (_KINDS if "secret" in masks else []) + ([_EMAIL_KIND] if "email" in masks else [])
    for kind in kinds:
        # one pass of slices, not a new string per match (a log of thousands stays linear)
        pieces: list[str] = []
        at = 0
        for start, end, _ in _spans(kind, text):
            pieces.append(text[at:start])
            pieces.append(f"[redacted {kind.label}]")
            at = end
        if pieces:
            pieces.append(text[at:])
            text = "".join(pieces)
    return text


def _preview(kind: _Kind, matched: str) -> str:
    """A masked preview: a public prefix at most, the rest as its length."""
    if kind is _EMAIL_KIND:
        local, _, domain = matched.partition("@")
        tld = domain.rsplit(".", 1)[-1]
        return f"{local[:1]}…@{domain[:1]}….{tld}"
    if kind is _HOME_KIND:
        root = re.match(r"(?i)(/home/|/Users/|[a-z]:(?:\\+|/)Users(?:\\+|/))", matched)
        head = root.group(1) if root else ""
        name = matched[len(head):]
        return f"{head}{name[:1]}… (shown to viewers as ~)"
    if kind.kind == "private_key":
        header = matched.split("-----", 2)
        return f"-----{header[1]}----- … ({len(matched)} characters)" if len(header) > 2 else "-----BEGIN … PRIVATE KEY-----"
    shown = matched[: kind.keep_prefix] if len(matched) > kind.keep_prefix * 3 else ""
    return f"{shown}{'•' * 6} ({len(matched)} characters)"


@dataclass(frozen=True)
class Finding:
    """A secret or a piece of personal data in a conversation (never the value itself).

    Attributes:
        kind: a :data:`SECRET_KINDS` name, ``"email"``, ``"home_path"`` or
            ``"unscanned_attachment"``.
        message: a human-readable warning naming what and where (never the value), e.g.
            ``"Message 3 (assistant) contains what looks like an OpenAI API key."``.
        message_id: the message it is in, or ``None`` (title, attachment).
        category: ``"secret"``, ``"personal"`` (e-mail, home path) or ``"unscanned"``.
        part_index: index of the part in the message's ``parts``, or ``None``.
        part_type: that part's type (``"text"``, ``"tool_call"``, ...), or ``None``.
        attachment_id: the attachment it is in, or ``None``.
        location: ``"title"``, ``"message"`` or ``"attachment"``.
        preview: a masked preview: a public prefix at most (``"sk-••••••
            (51 characters)"``, ``"a…@e….org"``), never enough to use.
        count: how many matches of this kind at this place.
        hidden: viewers will not see it with the share's current choices (message
            excluded or dropped as a system prompt, part excluded, masked, home paths always).
    """

    kind: str
    message: str
    message_id: str | None
    category: str = "secret"
    part_index: int | None = None
    part_type: str | None = None
    attachment_id: str | None = None
    location: str = "message"
    preview: str = ""
    count: int = 1
    hidden: bool = False

    def to_json(self) -> dict[str, Any]:
        """Every attribute as JSON (``{"kind", "message", "message_id", "category",
        "part_index", "part_type", "attachment_id", "location", "preview", "count",
        "hidden"}``)."""
        return dataclasses.asdict(self)


SecretFinding = Finding
"""The name of :class:`Finding` before personal data was found too."""


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                yield k
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _part_strings(part: Part) -> Iterator[str]:
    for value in (part.text, part.summary, part.arguments_raw, part.title, part.url, part.alt, part.name):
        if value:
            yield value
    yield from _strings(part.arguments)
    yield from _strings(part.data)
    yield from _strings(part.metadata)


def _scan(texts: Iterable[str], personal: bool = True) -> dict[str, tuple[_Kind, int, str]]:
    """``{kind: (kind, count, first match)}`` over ``texts``."""
    found: dict[str, tuple[_Kind, int, str]] = {}

    def add(kind: _Kind, matched: str) -> None:
        old = found.get(kind.kind)
        found[kind.kind] = (kind, 1, matched) if old is None else (kind, old[1] + 1, old[2])

    for text in texts:
        for kind in _KINDS:
            for _start, _end, matched in _spans(kind, text):
                add(kind, matched)
        if personal:
            if "@" in text:
                for _start, _end, matched in _spans(_EMAIL_KIND, text):
                    add(_EMAIL_KIND, matched)
            for matched in _home_matches(text):
                add(_HOME_KIND, matched)
    return found


TEXT_MEDIA_TYPES = frozenset(
    {
        "application/json", "application/x-ipynb+json", "application/xml", "application/x-yaml",
        "application/yaml", "application/javascript", "application/x-sh", "application/toml",
        "application/sql", "application/x-python", "application/ld+json",
    }
)  # fmt: skip
TEXT_EXTENSIONS = frozenset(
    ".txt .md .csv .tsv .json .jsonl .ipynb .py .r .jl .js .ts .sh .bash .zsh .env .ini .cfg .conf .toml"
    " .yaml .yml .xml .html .htm .sql .log .tex .rst .c .h .cpp .java .go .rs .rb .php .chat .properties"
    " .pem .key .netrc .pgpass".split()
)
"""What :func:`is_text_attachment` treats as text (besides ``text/*`` media types)."""


def is_text_attachment(attachment: Attachment) -> bool:
    """``True`` when an attachment's media type or name says it is text (scanned for findings)."""
    media = (attachment.mime_type or "").split(";")[0].strip().lower()
    if media.startswith("text/") or media in TEXT_MEDIA_TYPES or media.endswith(("+json", "+xml")):
        return True
    name = attachment.name.lower()
    ext = os.path.splitext(name)[1]
    return ext in TEXT_EXTENSIONS or name in {".env", ".netrc", ".pgpass", "id_rsa", "id_ed25519", "credentials"}


AttachmentReader = Callable[[Attachment], "bytes | None"]
"""Returns the stored bytes of a text-like attachment (at most :data:`MAX_SCAN_BYTES` + 1),
or ``None`` when they are not stored."""


def blob_reader(blob_path: Callable[[str], Any], limit: int = MAX_SCAN_BYTES) -> AttachmentReader:
    """An :data:`AttachmentReader` over content-addressed blobs.

    Args:
        blob_path: ``sha256 -> path`` of the stored bytes (``ShareService.blob_path``);
            may raise (``NotFound``, ``OSError``): the attachment then reads as ``None``.
        limit: bytes read at most (one more is read to tell an over-long file).
    """

    def read(attachment: Attachment) -> bytes | None:
        if not (attachment.available and attachment.sha256) or not is_text_attachment(attachment):
            return None
        try:
            with open(blob_path(attachment.sha256), "rb") as f:
                return f.read(limit + 1)
        except Exception:  # a missing blob is not a finding; the viewer answers 404 for it
            return None

    return read


def _attachment_text(attachment: Attachment, read: AttachmentReader | None) -> tuple[str | None, bool]:
    """``(stored text or None, too large to scan)``."""
    if read is None or not is_text_attachment(attachment):
        return None, False
    data = read(attachment)
    if data is None:
        return None, False
    if len(data) > MAX_SCAN_BYTES:
        return None, True
    if b"\x00" in data[:8192]:
        return None, False  # binary after all
    return data.decode("utf-8", errors="replace"), False


def _attachment_refs(conversation: Conversation) -> dict[str, set[str]]:
    """``{attachment id: {ids of the messages whose parts refer to it}}``."""
    refs: dict[str, set[str]] = {}
    for message in conversation.messages.values():
        for part in message.parts:
            if part.attachment_id:
                refs.setdefault(part.attachment_id, set()).add(message.id)
    return refs


def _part_hidden(part: Part, message: Message, redaction: Redaction) -> bool:
    if redaction.exclude_tool_payloads and (part.type in ("tool_call", "tool_result") or message.role == "tool"):
        return True
    return redaction.exclude_reasoning and part.type == "reasoning"


def find_sensitive(
    conversation: Conversation,
    *,
    read_attachment: AttachmentReader | None = None,
    redaction: Redaction | None = None,
) -> list[Finding]:
    """Secrets and personal data in a conversation, for its owner before (and after) sharing.

    Scans the title, every part of every message of every branch (system prompts too: the
    owner should know even though viewers will not see them), every attachment's inline
    text and selection, and the stored bytes of text-like attachments
    (:func:`is_text_attachment`; at most :data:`MAX_SCAN_BYTES` each, a larger one gives an
    ``unscanned_attachment`` finding). One finding per kind and place (message part, title,
    attachment) with its ``count``; at most :data:`MAX_FINDINGS`.

    Args:
        conversation: the conversation (as stored: not a viewer copy).
        read_attachment: reads an attachment's stored bytes (:func:`blob_reader`); without
            it only inline attachment text is scanned.
        redaction: the share's choices, to set each finding's ``hidden``; ``None`` reads as
            the defaults (:class:`Redaction`).

    Returns:
        Findings in order: title, messages (source order, then part order), attachments.
    """
    redaction = redaction or Redaction()
    masks = redaction.masks
    excluded = set(redaction.exclude_message_ids)
    findings: list[Finding] = []

    def add(found: dict[str, tuple[_Kind, int, str]], where: str, gone: bool, **place: Any) -> None:
        for kind, count, matched in found.values():
            category = "secret" if kind.category == "secret" else "personal"
            masked = kind.category == "home_path" or (kind.category == "email" and "email" in masks) or (
                category == "secret" and "secret" in masks
            )
            findings.append(
                Finding(
                    kind=kind.kind,
                    message=f"{where} contains what looks like {kind.description}.",
                    message_id=place.get("message_id"),
                    category=category,
                    part_index=place.get("part_index"),
                    part_type=place.get("part_type"),
                    attachment_id=place.get("attachment_id"),
                    location=place.get("location", "message"),
                    preview=_preview(kind, matched),
                    count=count,
                    hidden=gone or masked,
                )
            )

    if conversation.title:
        add(_scan([conversation.title]), "The title", False, location="title")
    for index, message in enumerate(conversation.messages.values(), start=1):
        gone = message.id in excluded or message.role in _DROPPED_ROLES
        for part_index, part in enumerate(message.parts):
            found = _scan(_part_strings(part))
            if found:
                add(found, f"Message {index} ({message.role})", gone or _part_hidden(part, message, redaction),
                    message_id=message.id, part_index=part_index, part_type=part.type)
    refs = _attachment_refs(conversation)
    for attachment in conversation.attachments.values():
        users = refs.get(attachment.id, set())
        gone = bool(users) and users <= excluded
        where = f"Attachment {attachment.name!r}"
        inline = [attachment.extracted_text or "", *_strings(attachment.selection)]
        text, too_large = _attachment_text(attachment, read_attachment)
        if too_large:
            findings.append(
                Finding(
                    kind="unscanned_attachment",
                    message=f"{where} is over {MAX_SCAN_BYTES} bytes and was not scanned: check it yourself.",
                    message_id=None, category="unscanned", attachment_id=attachment.id,
                    location="attachment", preview="", count=1, hidden=gone,
                )
            )  # fmt: skip
        add(_scan([*inline, *([text] if text else [])]), where, gone, attachment_id=attachment.id,
            location="attachment")
        if len(findings) >= MAX_FINDINGS:
            break
    return findings[:MAX_FINDINGS]


def secrets_only(findings: Iterable[Finding]) -> list[Finding]:
    """The secrets of ``findings``, one per kind and place (message, title or attachment):
    the warning given when a share is created (``warnings`` in the REST answer)."""
    out: list[Finding] = []
    seen: set[tuple[str, str | None, str | None, str]] = set()
    for finding in findings:
        if finding.category != "secret":
            continue
        key = (finding.kind, finding.message_id, finding.attachment_id, finding.location)
        if key in seen:
            continue
        seen.add(key)
        out.append(finding)
    return out


def find_secrets(conversation: Conversation, *, read_attachment: AttachmentReader | None = None) -> list[Finding]:
    """The secrets (not personal data) of :func:`find_sensitive`, one finding per kind per
    message (or per title / attachment): the warning given when a share is created.

    Args:
        conversation: the conversation about to be shared.
        read_attachment: as for :func:`find_sensitive` (stored text attachments).

    Returns:
        Findings in message order; each ``message`` says what and where, never quoting the
        secret (e.g. ``"Message 3 (assistant) contains what looks like an OpenAI API key."``).
    """
    return secrets_only(find_sensitive(conversation, read_attachment=read_attachment))


# -- the viewer's copy --------------------------------------------------------------------


def _exclude_payloads(message: Message) -> None:
    if message.role == "tool":
        call_id = next((p.call_id for p in message.parts if p.call_id), None)
        message.parts = [Part(type="tool_result", call_id=call_id, text="[tool output not shared]")]
        return
    for part in message.parts:
        if part.type == "tool_call":
            part.arguments = None
            part.arguments_raw = None
        elif part.type == "tool_result":
            part.text = "[tool output not shared]"
            part.data = None


def viewer_copy(
    conversation: Conversation,
    redaction: Redaction | None = None,
    *,
    read_attachment: AttachmentReader | None = None,
) -> Conversation:
    """What anyone but the owner may see of a shared conversation, and every export of it.

    Returns a new conversation (the argument is not changed) where:

    * ``system`` and ``developer`` messages are removed, their children re-linked to their
      parent (in their place among the siblings); an active leaf that was removed
      becomes its parent; the same for the messages ``redaction`` excludes;
    * hidden messages stay, still ``hidden`` (the viewer skips them);
    * every ``extra`` (conversation, participants, messages, parts, attachments) is
      emptied; part ``metadata`` is dropped;
    * ``source.path`` is removed; home-directory paths (``/home/<u>``, ``/Users/<u>``,
      ``C:\\Users\\<u>``) become ``~`` in every text, tool payload, attachment uri,
      selection and importer warning; other absolute attachment uris keep only the
      base name;
    * human participants get opaque ids ``"user-1"``, ``"user-2"``, ... (in participant
      order; display names kept), so the owner's account name never appears; avatar
      URLs are dropped; participants no message refers to any more are removed;
    * with a ``redaction`` (the share's choices): tool payloads and reasoning removed as
      chosen; secrets / e-mails masked everywhere (texts, tool payloads, title, names,
      attachment text); attachments that only excluded messages refer to are removed
      (not downloadable, not in the ZIP); a text attachment whose stored bytes hold a
      masked match (read with ``read_attachment``) becomes ``available=False`` (its bytes
      cannot be masked in place, so they are withheld).

    Applying it twice with the same ``redaction`` gives the same result.

    Args:
        conversation: the stored conversation.
        redaction: the share's choices; ``None`` applies only the rules above that hold for
            every share (no exclusions, no masks).
        read_attachment: reads stored attachment bytes (:func:`blob_reader`).

    Returns:
        The redacted copy (a :class:`Conversation`).
    """
    conv = conversation.copy()
    conv.extra = {}
    conv.source.path = None
    conv.source.warnings = [scrub_paths(w) for w in conv.source.warnings]
    if conv.source.file_name:
        conv.source.file_name = re.split(r"[\\/]", scrub_paths(conv.source.file_name))[-1]
    if conv.title:
        conv.title = scrub_paths(conv.title)

    excluded = set(redaction.exclude_message_ids) if redaction else set()
    refs = _attachment_refs(conv) if excluded else {}
    for message in [m for m in conv.messages.values() if m.role in _DROPPED_ROLES or m.id in excluded]:
        _drop_message(conv, message)
    if excluded:
        for attachment_id, users in refs.items():
            if users <= excluded:
                conv.attachments.pop(attachment_id, None)
    if redaction is not None:
        for message in list(conv.messages.values()):
            if redaction.exclude_tool_payloads:
                _exclude_payloads(message)
            if redaction.exclude_reasoning:
                kept = [p for p in message.parts if p.type != "reasoning"]
                if not kept and message.parts:
                    _drop_message(conv, message)
                    continue
                message.parts = kept

    # Opaque ids for humans; keep everything else's id (persona ids, "openai:assistant").
    renamed: dict[str, str] = {}
    for participant in conv.participants.values():
        if participant.kind == "human":
            renamed[participant.id] = f"user-{len(renamed) + 1}"
    referenced: set[str] = set()
    for message in conv.messages.values():
        message.extra = {}
        message.author_id = renamed.get(message.author_id, message.author_id)
        message.mentions = [renamed.get(m, m) for m in message.mentions]
        referenced.add(message.author_id)
        referenced.update(message.mentions)
        for part in message.parts:
            _scrub_part(part)
    participants = {}
    for old_id, participant in conv.participants.items():
        new_id = renamed.get(old_id, old_id)
        if new_id not in referenced:
            continue
        participant.id = new_id
        participant.extra = {}
        participant.avatar_url = None
        if participant.display_name:
            participant.display_name = scrub_paths(participant.display_name)
        participants[new_id] = participant
    conv.participants = participants

    for attachment in conv.attachments.values():
        attachment.extra = {}
        attachment.uri = _scrub_uri(attachment.uri)
        attachment.name = re.split(r"[\\/]", scrub_paths(attachment.name))[-1] or attachment.id
        if attachment.extracted_text:
            attachment.extracted_text = scrub_paths(attachment.extracted_text)
        if attachment.selection is not None:
            attachment.selection = _scrub(attachment.selection)

    masks = redaction.masks if redaction is not None else frozenset()
    if masks:
        _apply_masks(conv, masks, read_attachment)
    return conv


def hidden_message_ids(conversation: Conversation, redaction: Redaction | None) -> set[str]:
    """The ids of the messages the owner's choices remove from :func:`viewer_copy`: the
    ones ``redaction`` excludes and, with ``exclude_reasoning``, those holding only
    reasoning. A collaborator naming one of these as a parent gets the answer of a message
    that does not exist. (System prompts, which every viewer copy drops, are not in it: a
    reply to one is re-linked in the viewer's copy like its other children.)

    Args:
        conversation: the stored conversation.
        redaction: the share's choices (``None``: none).
    """
    if redaction is None:
        return set()
    excluded = set(redaction.exclude_message_ids)
    reasoning = redaction.exclude_reasoning
    return {
        m.id
        for m in conversation.messages.values()
        if m.id in excluded or (reasoning and m.parts and all(p.type == "reasoning" for p in m.parts))
    }


def viewer_title(title: str | None, redaction: Redaction | None) -> str | None:
    """A share's title as anyone but the owner sees it: exactly the title of
    :func:`viewer_copy` (home paths as ``~``, then the masks of ``redaction``), for the
    places that show a title without the conversation (shared-with-me, library items,
    grantee JSON, a reshare maker's share listing).

    Args:
        title: the stored title, or ``None``.
        redaction: the share's choices; ``None``: the defaults (secrets masked), so a
            title whose share is gone never shows a secret.
    """
    if not title:
        return title
    return mask_text(scrub_paths(title), (redaction if redaction is not None else Redaction()).masks)


def _apply_masks(conv: Conversation, masks: frozenset[str], read_attachment: AttachmentReader | None) -> None:
    """Mask ``masks`` in every string a viewer may see; withhold text attachments that hold one."""

    def fn(text: str) -> str:
        return mask_text(text, masks)

    if conv.title:
        conv.title = fn(conv.title)
    conv.source.warnings = [fn(w) for w in conv.source.warnings]
    for message in conv.messages.values():
        for part in message.parts:
            _map_part(part, fn)
            if part.url is not None and not part.url.startswith("data:"):
                part.url = fn(part.url)
    for participant in conv.participants.values():
        if participant.display_name:
            participant.display_name = fn(participant.display_name)
    for attachment in conv.attachments.values():
        attachment.name = fn(attachment.name)
        if attachment.uri:
            attachment.uri = fn(attachment.uri)
        if attachment.extracted_text:
            attachment.extracted_text = fn(attachment.extracted_text)
        if attachment.selection is not None:
            attachment.selection = _map_strings(attachment.selection, fn)
        if attachment.available:
            text, too_large = _attachment_text(attachment, read_attachment)
            if text is not None and fn(text) != text:
                attachment.available = False  # content-addressed bytes cannot be masked in place
