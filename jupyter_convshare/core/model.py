"""The provider-neutral conversation model (DESIGN.md section 3, FORMATS.md section 7).

Every importer turns its source format into a :class:`Conversation`; every exporter, the
store and the viewer read one. The model is a tree of messages (linear sources are a
single chain) and is JSON-serialisable as ``{"schema": "convshare/1", ...}`` through
:meth:`Conversation.to_dict` / :meth:`Conversation.from_dict`, which round-trip exactly.

Times are timezone-aware UTC :class:`datetime.datetime` values (or ``None`` when the
source has none: times are never invented), serialised as ISO 8601 with microseconds and
a ``Z`` suffix.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar, get_args

SCHEMA = "convshare/1"
"""The ``schema`` value of the lossless JSON form."""

Role = Literal["user", "assistant", "system", "tool", "developer"]
ROLES: tuple[str, ...] = get_args(Role)

ParticipantKind = Literal["human", "assistant", "system", "tool"]
PARTICIPANT_KINDS: tuple[str, ...] = get_args(ParticipantKind)

MessageStatus = Literal["complete", "incomplete", "error", "deleted"]
MESSAGE_STATUSES: tuple[str, ...] = get_args(MessageStatus)

PartType = Literal[
    "text",
    "code",
    "reasoning",
    "tool_call",
    "tool_result",
    "image",
    "file_ref",
    "mime_bundle",
    "citation",
    "unknown",
]
PART_TYPES: tuple[str, ...] = get_args(PartType)

AttachmentKind = Literal["file", "notebook", "image", "document", "audio", "pasted_text"]
ATTACHMENT_KINDS: tuple[str, ...] = get_args(AttachmentKind)


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A fresh random id (UUID4, 36 characters)."""
    return str(uuid.uuid4())


def format_time(value: datetime | None) -> str | None:
    """Serialise a datetime as ISO 8601 UTC with microseconds and ``Z``; ``None`` stays ``None``.

    Raises:
        ValueError: ``value`` is naive (has no timezone).
    """
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime: convshare times are timezone-aware UTC")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime | None:
    """Parse an ISO 8601 string (``Z`` or an offset) into a UTC datetime; ``None`` stays ``None``.

    A string without an offset is taken to be UTC.

    Raises:
        ValueError: the string is not ISO 8601.
    """
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def from_epoch(value: float | int | None) -> datetime | None:
    """Convert epoch seconds (or milliseconds, detected by magnitude > 1e11) to UTC."""
    if value is None:
        return None
    seconds = float(value)
    if seconds > 1e11:
        seconds /= 1000.0
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


@dataclass
class Participant:
    """Someone or something that writes messages.

    Attributes:
        id: stable id within the conversation (jupyterlab-chat username, persona id,
            ``"openai:assistant"``, ...).
        kind: ``"human"``, ``"assistant"`` (a model or persona), ``"system"`` or ``"tool"``.
        display_name: name shown in the viewer, or ``None``.
        provider: ``"openai"``, ``"anthropic"``, ``"jupyter-ai"``, ... or ``None``.
        model: default model of this participant, or ``None`` when unknown.
        avatar_url: as found in the source (may be server-relative); never fetched.
        extra: namespaced leftovers (color, initials, bot flag, mention_name, ...).
    """

    id: str
    kind: ParticipantKind = "human"
    display_name: str | None = None
    provider: str | None = None
    model: str | None = None
    avatar_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Part:
    """One piece of a message's content, discriminated by :attr:`type`.

    Which attributes a part uses depends on its type:

    ============  ==================================================================
    type          attributes
    ============  ==================================================================
    text          ``text`` (markdown unless ``format`` is ``"plain"`` or ``"html"``)
    code          ``text`` (the code), ``language``
    reasoning     ``text`` and/or ``summary``; ``redacted``
    tool_call     ``call_id``, ``name``, ``arguments`` (parsed JSON when possible),
                  ``arguments_raw`` (the source string), ``status``, ``title``
    tool_result   ``call_id``, ``text``, ``is_error``, ``data`` (structured output)
    image         ``attachment_id`` or ``url``; ``mime_type``, ``alt``
    file_ref      ``attachment_id``
    mime_bundle   ``data`` ({mime type: value}), ``metadata``
    citation      ``url``, ``title``, ``text`` (the quote)
    unknown       ``source_type``, ``data`` (the raw source object, kept losslessly)
    ============  ==================================================================
    """

    type: PartType
    text: str | None = None
    format: str | None = None
    language: str | None = None
    summary: str | None = None
    redacted: bool = False
    call_id: str | None = None
    name: str | None = None
    title: str | None = None
    status: str | None = None
    arguments: Any = None
    arguments_raw: str | None = None
    is_error: bool = False
    attachment_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    alt: str | None = None
    source_type: str | None = None
    data: Any = None
    metadata: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def text_part(cls, text: str, format: str = "markdown") -> Part:
        """A ``text`` part holding ``text`` (markdown by default)."""
        return cls(type="text", text=text, format=format)


@dataclass
class Message:
    """One message: a node of the conversation tree.

    Attributes:
        id: the source's id (generated ``"1"``, ``"2"``, ... for id-less sources).
        parent_id: the previous message on this branch, ``None`` for a root.
        children_ids: replies, in source order (more than one means a fork).
        role: ``"user"``, ``"assistant"``, ``"system"``, ``"tool"`` or ``"developer"``.
        author_id: key into :attr:`Conversation.participants`.
        created_at, updated_at: UTC datetimes, or ``None`` when the source has none.
        model: the model that wrote this message, when the source records it.
        status: ``"complete"``, ``"incomplete"``, ``"error"`` or ``"deleted"``.
        hidden: hidden by the source UI (system and tool plumbing); viewers skip it.
        edited: the source says the text was edited in place.
        mentions: participant ids mentioned in the message.
        parts: the content.
        extra: namespaced unknown fields (e.g. ``{"jupyterlab-chat": {...}}``), never dropped.
    """

    id: str
    role: Role
    author_id: str
    parts: list[Part] = field(default_factory=list)
    parent_id: str | None = None
    children_ids: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    model: str | None = None
    status: MessageStatus = "complete"
    hidden: bool = False
    edited: bool = False
    mentions: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The message's ``text`` parts joined by blank lines (plain view, for CSV/search)."""
        return "\n\n".join(p.text for p in self.parts if p.type == "text" and p.text)


@dataclass
class Attachment:
    """A file that belongs to the conversation.

    Attributes:
        id: key used by :class:`Part` ``attachment_id`` and message references.
        kind: ``"file"``, ``"notebook"``, ``"image"``, ``"document"``, ``"audio"`` or
            ``"pasted_text"``.
        name: file name shown to viewers (a base name, never an absolute path).
        mime_type: media type, e.g. ``"application/x-ipynb+json"``.
        size_bytes: size of the bytes in bytes, when known.
        uri: where the source says it is (path relative to the Jupyter root, provider
            file id, URL, asset pointer).
        sha256: hex digest of the stored bytes (content-addressed blob) when available.
        available: ``True`` when the bytes are stored and downloadable.
        selection: ``{"start": [line, col], "end": [line, col], "content": str}``.
        cells: notebook cells referenced, ``[{"id": str, "cell_type": str}]``.
        extracted_text: text content shipped inline by the source.
        extra: namespaced leftovers.
    """

    id: str
    name: str
    kind: AttachmentKind = "file"
    mime_type: str | None = None
    size_bytes: int | None = None
    uri: str | None = None
    sha256: str | None = None
    available: bool = False
    selection: dict[str, Any] | None = None
    cells: list[dict[str, Any]] | None = None
    extracted_text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceInfo:
    """Where a conversation came from.

    Attributes:
        format: importer name (``"jupyterlab-chat"``, ``"openai-chat"``, ``"anthropic"``,
            ``"convshare"``, ...).
        format_version: version of the source format when known.
        file_name: base name of the imported file, or ``None`` for in-memory input.
        path: path relative to the Jupyter server root when the source is a file there
            (used by live shares to re-sync); never an absolute local path.
        original_id: the source's own conversation id.
        exported_at: when the source file was written, if recorded.
        warnings: what the importer could not map exactly (human-readable).
    """

    format: str
    format_version: str | None = None
    file_name: str | None = None
    path: str | None = None
    original_id: str | None = None
    exported_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Conversation:
    """A conversation: participants, a tree of messages, attachments and provenance.

    Attributes:
        id: stable id (``"<format>:<source id>"`` or a fresh UUID4).
        title: title, or ``None``.
        created_at, updated_at: UTC datetimes or ``None``.
        participants: ``{participant id: Participant}``.
        messages: ``{message id: Message}``, all branches, in source order.
        root_ids: ids of messages without a parent, in order.
        active_leaf_id: leaf of the default path; ``None`` for an empty conversation.
        active_leaf_inferred: ``True`` when the source does not record the active path.
        attachments: ``{attachment id: Attachment}``.
        tags: free labels.
        source: provenance (:class:`SourceInfo`).
        extra: namespaced leftovers (``{"jupyterlab-chat": {...}}``), never shown to viewers.
    """

    id: str
    source: SourceInfo
    title: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    participants: dict[str, Participant] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    root_ids: list[str] = field(default_factory=list)
    active_leaf_id: str | None = None
    active_leaf_inferred: bool = False
    attachments: dict[str, Attachment] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    # -- building -------------------------------------------------------------------

    def add_message(self, message: Message) -> Message:
        """Insert ``message`` under its ``parent_id`` (a root when ``None``).

        Keeps ``children_ids`` / ``root_ids`` in insertion order. Does not move the active
        leaf.

        Raises:
            ValueError: the id is already used, or the parent is unknown.
        """
        if message.id in self.messages:
            raise ValueError(f"duplicate message id {message.id!r}")
        if message.parent_id is None:
            self.root_ids.append(message.id)
        else:
            parent = self.messages.get(message.parent_id)
            if parent is None:
                raise ValueError(f"message {message.id!r}: unknown parent {message.parent_id!r}")
            parent.children_ids.append(message.id)
        self.messages[message.id] = message
        return message

    def append(self, message: Message) -> Message:
        """Add ``message`` after the active leaf (a linear chain) and make it the active leaf."""
        message.parent_id = self.active_leaf_id
        self.add_message(message)
        self.active_leaf_id = message.id
        return message

    # -- reading --------------------------------------------------------------------

    def path_to(self, message_id: str) -> list[Message]:
        """Messages from the root down to ``message_id`` (inclusive).

        Raises:
            KeyError: unknown id.
            ValueError: the parent links form a cycle.
        """
        path: list[Message] = []
        seen: set[str] = set()
        current: str | None = message_id
        while current is not None:
            if current in seen:
                raise ValueError(f"cycle in message tree at {current!r}")
            seen.add(current)
            msg = self.messages[current]
            path.append(msg)
            current = msg.parent_id
        path.reverse()
        return path

    def active_path(self) -> list[Message]:
        """The default path: root to :attr:`active_leaf_id` (all messages if a chain)."""
        if self.active_leaf_id is None or self.active_leaf_id not in self.messages:
            return []
        return self.path_to(self.active_leaf_id)

    def leaves(self) -> list[Message]:
        """Messages without children, in source order (one per branch)."""
        return [m for m in self.messages.values() if not m.children_ids]

    # -- serialisation --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The lossless JSON form, ``{"schema": "convshare/1", ...}`` (JSON-serialisable)."""
        data = _to_json(self)
        return {"schema": SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        """Rebuild a conversation from :meth:`to_dict` output.

        Raises:
            ValueError / TypeError / KeyError: the object is not valid ``convshare/1``;
                ``core.importers.convshare`` wraps these into an ``ImportFailed`` that
                names the field.
        """
        if data.get("schema") != SCHEMA:
            raise ValueError(f"schema: expected {SCHEMA!r}, got {data.get('schema')!r}")
        body = {k: v for k, v in data.items() if k != "schema"}
        return _from_json(cls, body)

    def copy(self) -> Conversation:
        """A deep copy (through the JSON form)."""
        return Conversation.from_dict(self.to_dict())


# -- generic dataclass <-> JSON -------------------------------------------------------

_T = TypeVar("_T")

_NESTED: dict[tuple[type, str], type] = {}
_DATETIME_FIELDS = {"created_at", "updated_at", "exported_at"}


def _default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@dataclass(frozen=True)
class _FieldSpec:
    """What (de)serialising one dataclass field needs, computed once per class.

    ``default`` is the field's default (a factory's value made once: only compared
    with, never handed out), or ``MISSING``; ``nested`` the dataclass of its values.
    """

    name: str
    default: Any
    is_time: bool
    nested: type | None


_FIELD_SPECS: dict[type, tuple[_FieldSpec, ...]] = {}
_FIELD_INDEX: dict[type, dict[str, _FieldSpec]] = {}


def _specs(cls: type) -> tuple[_FieldSpec, ...]:
    # dataclasses.fields() builds a tuple on every call: it was the largest single cost
    # of decoding a conversation (one call per message and part).
    specs = _FIELD_SPECS.get(cls)
    if specs is None:
        specs = tuple(
            _FieldSpec(f.name, _default_of(f), f.name in _DATETIME_FIELDS, _NESTED.get((cls, f.name)))
            for f in dataclasses.fields(cls)
        )
        _FIELD_INDEX[cls] = {spec.name: spec for spec in specs}
        _FIELD_SPECS[cls] = specs
    return specs


def _index(cls: type) -> dict[str, _FieldSpec]:
    index = _FIELD_INDEX.get(cls)
    if index is None:
        _specs(cls)
        index = _FIELD_INDEX[cls]
    return index


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _to_json(obj: Any) -> Any:
    """Dataclass -> dict, leaving out fields equal to their default (compact, stable)."""
    cls = type(obj)
    if cls in _SCALARS:  # most values: answered before any dataclass check
        return obj
    specs = _FIELD_SPECS.get(cls)
    if specs is None and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        specs = _specs(cls)
    if specs is not None:
        out: dict[str, Any] = {}
        for spec in specs:
            value = getattr(obj, spec.name)
            default = spec.default
            if default is not dataclasses.MISSING and value == default:
                continue
            if spec.is_time:
                out[spec.name] = format_time(value)
            else:
                out[spec.name] = _to_json(value)
        return out
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if isinstance(obj, datetime):
        return format_time(obj)
    return obj


def _from_json(cls: type[_T], data: dict[str, Any]) -> _T:
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    index = _index(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        spec = index.get(name)
        if spec is None:
            unknown = sorted(k for k in data if k not in index)
            raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}")
        nested = spec.nested
        if spec.is_time:
            value = parse_time(value)
        elif nested is not None and value is not None:
            if isinstance(value, dict) and cls is not Message:
                if name == "source":
                    value = _from_json(nested, value)
                else:
                    value = {k: _from_json(nested, v) for k, v in value.items()}
            elif isinstance(value, list):
                value = [_from_json(nested, v) for v in value]
            else:
                raise TypeError(f"{cls.__name__}.{name}: unexpected {type(value).__name__}")
        kwargs[name] = value
    return cls(**kwargs)


_NESTED.update(
    {
        (Conversation, "participants"): Participant,
        (Conversation, "messages"): Message,
        (Conversation, "attachments"): Attachment,
        (Conversation, "source"): SourceInfo,
        (Message, "parts"): Part,
    }
)
