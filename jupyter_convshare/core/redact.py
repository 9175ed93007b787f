"""What a viewer never sees, and secrets the owner is warned about (DESIGN.md section 5).

:func:`viewer_copy` is the one place that decides what an anonymous viewer (the public
page and every export made from it) may see of a conversation. :func:`find_secrets`
scans a conversation for credentials before it is shared, so the owner can be warned;
its findings never repeat the secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from .model import Conversation, Message, Part

__all__ = ["SecretFinding", "find_secrets", "scrub_paths", "viewer_copy"]

_DROPPED_ROLES = frozenset({"system", "developer"})

# A home directory names the account: /home/<u>, /Users/<u>, C:\Users\<u> (any drive,
# either slash, doubled backslashes as inside JSON strings). The lookbehind keeps
# "/data/home/x" or "x/Users/y" (relative paths) untouched.
_HOME_POSIX_RE = re.compile(r"(?<![\w.~-])/(?:home|Users)/[^/\\\s\"'<>`]+")
_HOME_WINDOWS_RE = re.compile(r"(?i)(?<![\w])[a-z]:(?:\\+|/)Users(?:\\+|/)[^\\/\s\"'<>`]+")
_ABSOLUTE_RE = re.compile(r"^(?:/|[A-Za-z]:[\\/]|\\\\|file:)", re.IGNORECASE)


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


def _scrub(value: Any) -> Any:
    """Scrub home paths in every string of a JSON-like value (dict keys included)."""
    if isinstance(value, str):
        return scrub_paths(value)
    if isinstance(value, dict):
        return {(_scrub(k) if isinstance(k, str) else k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_scrub(v) for v in value)
    return value


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


def _scrub_part(part: Part) -> None:
    part.extra = {}
    part.metadata = None
    for name in ("text", "summary", "arguments_raw", "title", "alt", "name"):
        value = getattr(part, name)
        if isinstance(value, str):
            setattr(part, name, scrub_paths(value))
    part.arguments = _scrub(part.arguments)
    part.data = _scrub(part.data)
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


def viewer_copy(conversation: Conversation) -> Conversation:
    """What an anonymous viewer, and every export made by the viewer, may see.

    Returns a new conversation (the argument is not changed) where:

    * ``system`` and ``developer`` messages are removed, their children re-linked to their
      parent (in their place among the siblings); an active leaf that was removed
      becomes its parent;
    * hidden messages stay, still ``hidden`` (the viewer skips them);
    * every ``extra`` (conversation, participants, messages, parts, attachments) is
      emptied; part ``metadata`` is dropped;
    * ``source.path`` is removed; home-directory paths (``/home/<u>``, ``/Users/<u>``,
      ``C:\\Users\\<u>``) become ``~`` in every text, tool payload, attachment uri,
      selection and importer warning; other absolute attachment uris keep only the
      base name;
    * human participants get opaque ids ``"user-1"``, ``"user-2"``, ... (in participant
      order; display names kept), so the owner's account name never appears; avatar
      URLs are dropped; participants no message refers to any more are removed.

    Args:
        conversation: the stored conversation.

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

    for message in [m for m in conv.messages.values() if m.role in _DROPPED_ROLES]:
        _drop_message(conv, message)

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
    return conv


# -- secrets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretFinding:
    """Something that looks like a credential in a conversation.

    Attributes:
        kind: ``"openai_api_key"``, ``"anthropic_api_key"``, ``"github_token"``,
            ``"aws_access_key"``, ``"aws_secret_key"``, ``"slack_token"``,
            ``"huggingface_token"``, ``"bearer_token"``, ``"private_key"`` or ``"password"``.
        message: human-readable warning naming where it is (never the secret itself).
        message_id: the message it is in, or ``None`` (title, attachment text).
    """

    kind: str
    message: str
    message_id: str | None

    def to_json(self) -> dict[str, str | None]:
        """``{"kind": str, "message": str, "message_id": str | None}``."""
        return {"kind": self.kind, "message": self.message, "message_id": self.message_id}


# (kind, description, pattern). Order matters: the Anthropic key also starts with "sk-".
_SECRET_PATTERNS: list[tuple[str, str, re.Pattern[str]]] = [
    ("anthropic_api_key", "an Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    (
        "openai_api_key",
        "an OpenAI API key",
        re.compile(r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}"),
    ),
    ("github_token", "a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("aws_access_key", "an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "aws_secret_key",
        "an AWS secret access key",
        re.compile(r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40}\b"),
    ),
    (
        "slack_token",
        "a Slack token or webhook",
        re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
    ),
    ("huggingface_token", "a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("bearer_token", "a bearer token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{20,}=*")),
    (
        "private_key",
        "a private key",
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    ),
    (
        "password",
        "a password",
        # password = "literal" / password: literal (config style). Calls, variables and
        # placeholders (getpass(), os.environ[...], ****, <password>, ${VAR}) do not count.
        re.compile(
            r"(?i)\b(?:password|passwd|pwd|db_pass|pass_word)\b[\"']?\s*[:=]\s*"
            r"(?:([\"'])(?![*x.<{$%\s]*\1)[^\"'\n]{4,}\1"
            r"|(?![*<{$%]|[xX]{3})[A-Za-z0-9!@#^&*_+\-.~]{6,}(?![\w.(\[]))"
        ),
    ),
]


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
    for value in (part.text, part.summary, part.arguments_raw, part.title, part.url, part.alt):
        if value:
            yield value
    yield from _strings(part.arguments)
    yield from _strings(part.data)
    yield from _strings(part.metadata)


def _kinds_in(texts: Iterator[str]) -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for text in texts:
        for kind, description, pattern in _SECRET_PATTERNS:
            if kind not in found and pattern.search(text):
                found[kind] = description
    return list(found.items())


def find_secrets(conversation: Conversation) -> list[SecretFinding]:
    """Look for credentials in a conversation before it is shared.

    Scans the title, every message of every branch (system prompts included: the owner
    should know even if viewers will not see them), every part (text, code, tool
    arguments and results, mime bundles, unknown data) and the attachments' inline text.
    Detects OpenAI / Anthropic / GitHub / AWS / Slack / Hugging Face keys, bearer tokens,
    private key blocks and password assignments. One finding per kind per message.

    Args:
        conversation: the conversation about to be shared.

    Returns:
        Findings in message order; each ``message`` says what and where, never quoting
        the secret (e.g. ``"Message 3 (assistant) contains what looks like an OpenAI
        API key."``).
    """
    findings: list[SecretFinding] = []
    if conversation.title:
        for kind, description in _kinds_in(iter([conversation.title])):
            findings.append(SecretFinding(kind, f"The title contains what looks like {description}.", None))
    for index, message in enumerate(conversation.messages.values(), start=1):
        texts = (s for part in message.parts for s in _part_strings(part))
        for kind, description in _kinds_in(texts):
            findings.append(
                SecretFinding(
                    kind,
                    f"Message {index} ({message.role}) contains what looks like {description}.",
                    message.id,
                )
            )
    for attachment in conversation.attachments.values():
        attachment_texts = iter([attachment.extracted_text or "", *_strings(attachment.selection)])
        for kind, description in _kinds_in(attachment_texts):
            findings.append(
                SecretFinding(
                    kind,
                    f"The text of attachment {attachment.name!r} contains what looks like {description}.",
                    None,
                )
            )
    return findings
