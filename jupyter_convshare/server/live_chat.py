"""Put a collaborator's message into a live jupyterlab-chat document (DESIGN.md section 4).

One responsibility: :func:`post_to_live_chat` adds a message to the collaborative
document of a ``.chat`` file on this running server, the way a jupyterlab-chat user's
message gets there, so that a Jupyter AI persona in the chat answers it as it would answer
the owner. Everything else (who may post, whether the share allows it, storing the message
with the share) is :meth:`ConvShareApp.add_collaborator_message`'s business.

How and why (``/work/shared/notes/collaborate-into-live-chat.md`` recorded each step by
experiment; jupyterlab-chat 0.25, jupyter-server-ydoc 3.0, jupyter-ai-persona-manager 0.2):

* The document comes from jupyter-server-ydoc's ``YDocExtension.get_document(path=...,
  content_type="chat", file_format="text", copy=False, create=True)`` on **every** post:
  ``copy=False`` is the live ``YChat`` (a copy would drop our write), ``create=True`` starts
  the room when nobody has the chat open, and rooms are deleted when their last client
  leaves, so a cached ``YChat`` would be a dead one.
* ``chat.dirty = False`` right after loading: ``YChat`` ignores message events while the
  flag is set, and jupyter-server-ydoc clears it only after the first save (the first
  message after a room load would get no answer; a later room reload could even delete it).
* Opening the room makes jupyterlab-chat's ``ChatManager`` announce the chat, the
  jupyter-ai router connect to it and the persona manager build a ``PersonaManager`` for
  ``chat.get_id()`` in ``settings["jupyter-ai"]["persona-managers"]``; a message added before
  that manager exists is never routed, so we wait for it (bounded).
* The persona manager answers only a message whose ``metadata["to_persona"]`` names a
  persona (the chat input's persona picker stamps it); ``NewMessage`` has no metadata, so a
  ``trigger_actions`` callback stamps it on the ``Message`` before it is inserted.
* The sender is registered as ``User(username="remote:<name>", bot=False)``: not a bot, so
  the router classifies the insert as a client message; namespaced, so it never collides
  with a local user or a persona (``jupyter-ai-personas::...``). The name is the server's
  identity provider's, never a client-supplied one.
* One message per event-loop turn (a per-chat lock and ``asyncio.sleep(0)``): jupyterlab-chat
  0.25's ``YChat._set_timestamp`` breaks when the message it re-stamps is not the last one.

Without real-time collaboration (jupyter-server-ydoc missing or ``disable_rtc``, or another
RTC provider) nothing is posted: :class:`LiveChatUnavailable` says why and the caller keeps
the message in the store only. (Posting into jupyterlab-chat's WebSocket model would also
need us to route the message to the persona ourselves; that path is not supported.)

Rooms this module opens have no WebSocket client, so jupyter-server-ydoc would never delete
them: after each post a clean-up task (the room's ``cleaner``, which a connecting browser
cancels, as jupyter-server-ydoc's own handler does) deletes the room
``YDocExtension.document_cleanup_delay`` seconds after it became idle: no client, no
persona answering, no save pending. ``document_cleanup_delay = None`` keeps rooms forever.

jupyterlab-chat, jupyter-server-ydoc and the persona manager are optional: nothing here
imports them at module import time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "CHAT_SUFFIX",
    "LiveChatUnavailable",
    "PERSONA_WAIT_SECONDS",
    "REMOTE_PREFIX",
    "RemoteSender",
    "choose_persona",
    "live_chat_unavailable_reason",
    "post_to_live_chat",
]

CHAT_SUFFIX = ".chat"
"""File name suffix of a jupyterlab-chat document."""

PERSONA_WAIT_SECONDS = 5.0
"""Longest wait (seconds) for a chat's persona manager after its room opened (measured
about 50 ms on an idle machine)."""

_POLL_SECONDS = 0.02
_TO_PERSONA = "to_persona"  # PersonaManager.TO_PERSONA_METADATA_KEY in persona-manager 0.2
_PERSONA_PREFIX = "jupyter-ai-personas"  # persona user names start with it (persona_manager.is_persona)
REMOTE_PREFIX = "remote:"
"""Prefix of the chat user name of a collaborator who posted through a share."""

# One lock per chat path and server (a server's YDocExtension): posts to one chat go one
# at a time. Weak keys, so a stopped server's locks (bound to its event loop) go with it.
_post_locks: weakref.WeakKeyDictionary[Any, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()

log = logging.getLogger(__name__)


class LiveChatUnavailable(Exception):
    """The message could not go into the live chat document; ``str(exc)`` says why.

    Raised before anything was written to the chat, so the caller can keep the message
    in the store only.
    """


@dataclasses.dataclass(frozen=True)
class RemoteSender:
    """A collaborator as a jupyterlab-chat user.

    Attributes:
        name: the user name the server's identity provider gave the collaborator (never a
            name a client sent); the chat user name is ``"remote:<name>"``.
        display_name: what the chat shows (default: ``name``).
    """

    name: str
    display_name: str = ""

    @property
    def username(self) -> str:
        """``"remote:<name>"``: the jupyterlab-chat ``User.username`` (and message sender)."""
        return f"{REMOTE_PREFIX}{self.name}"


def live_chat_unavailable_reason(settings: Mapping[str, Any]) -> str | None:
    """Why a message cannot go into a live chat document on this server, or ``None``.

    Args:
        settings: the Tornado application settings (``serverapp.web_app.settings``).

    Returns:
        ``None`` when jupyterlab-chat is installed and jupyter-server-ydoc is the active
        real-time collaboration provider; else a sentence for logs and API answers.
    """
    try:
        import jupyterlab_chat  # noqa: F401
    except ImportError:
        return "jupyterlab-chat is not installed on this server"
    ydoc = settings.get("jupyter_server_ydoc")
    if ydoc is None or not hasattr(ydoc, "get_document"):
        return "real-time collaboration (jupyter-collaboration) is not enabled on this server"
    if getattr(ydoc, "disable_rtc", False):
        return "real-time collaboration is disabled on this server (YDocExtension.disable_rtc)"
    serverapp = getattr(ydoc, "serverapp", None)
    if serverapp is not None:
        try:
            from jupyterlab_chat.rtc_lib import get_rtc_provider
        except ImportError:  # an older jupyterlab-chat: jupyter-server-ydoc was the only provider
            return None
        provider = get_rtc_provider(serverapp)
        if provider != "jupyter_server_ydoc":
            return f"the chat documents are not served by jupyter-server-ydoc here (provider: {provider})"
    return None


def choose_persona(messages: list[Any], manager: Any) -> str | None:
    """The persona a collaborator's message is addressed to: the owner's choice.

    In order: the last ``metadata["to_persona"]`` of a message by someone other than a
    remote collaborator or a persona (the owner's persona picker) that names a persona
    of this chat; else the manager's default persona; else the only persona; else ``None``
    (the message is not routed to any persona).

    Args:
        messages: the chat's ``jupyterlab_chat.models.Message`` list, oldest first.
        manager: the chat's ``PersonaManager`` (``personas``: dict id -> persona,
            ``default_persona``: persona or ``None``), or ``None``.

    Returns:
        A persona id (``"jupyter-ai-personas::<module>::<class>"``) or ``None``.
    """
    if manager is None:
        return None
    personas: Mapping[str, Any] = getattr(manager, "personas", None) or {}
    for message in reversed(messages):
        sender = str(getattr(message, "sender", "") or "")
        if sender.startswith((REMOTE_PREFIX, _PERSONA_PREFIX)):
            continue
        target = (getattr(message, "metadata", None) or {}).get(_TO_PERSONA)
        if isinstance(target, str) and target in personas:
            return target
    default = getattr(manager, "default_persona", None)
    if default is not None:
        return str(default.id)
    if len(personas) == 1:
        return next(iter(personas))
    return None


async def post_to_live_chat(
    settings: Mapping[str, Any],
    path: str,
    sender: RemoteSender,
    text: str,
    *,
    reply_to: str | None = None,
    persona_wait: float = PERSONA_WAIT_SECONDS,
) -> str:
    """Add ``text`` by ``sender`` to the live chat document of the ``.chat`` file ``path``.

    Opens the document's room when nobody has it open, waits (at most ``persona_wait``
    seconds) for the chat's persona manager when the persona manager extension runs,
    registers the sender, adds the message addressed to :func:`choose_persona`'s persona,
    and schedules the clean-up of an idle room. jupyter-server-ydoc saves the document to
    the file about ``document_save_delay`` seconds later; a persona's answer arrives in the
    document (and then the file) on its own.

    Args:
        settings: the Tornado application settings (``serverapp.web_app.settings``).
        path: the chat file, relative to the server's contents root (``/``-separated).
        sender: the collaborator.
        text: the message body (markdown, as jupyterlab-chat stores it).
        reply_to: the id of the message this one answers; the post is refused unless it
            is the chat's last message (``None``: no check). A chat document is flat: a
            reply to an earlier message would be a branch it cannot hold.
        persona_wait: seconds to wait for the persona manager (0: do not wait).

    Returns:
        The id jupyterlab-chat gave the message (a UUID string).

    Raises:
        LiveChatUnavailable: no real-time collaboration here (see
            :func:`live_chat_unavailable_reason`), ``path`` is not a ``.chat`` file, the
            document could not be opened, or ``reply_to`` is not the chat's last message;
            nothing was written.
    """
    reason = live_chat_unavailable_reason(settings)
    if reason is not None:
        raise LiveChatUnavailable(reason)
    if not path.endswith(CHAT_SUFFIX):
        raise LiveChatUnavailable(f"{path!r} is not a jupyterlab-chat ({CHAT_SUFFIX}) file")
    from jupyterlab_chat.models import NewMessage, User
    from jupyterlab_chat.utils import find_mentions

    ydoc_ext = settings["jupyter_server_ydoc"]
    lock = _post_locks.setdefault(ydoc_ext, {}).setdefault(path, asyncio.Lock())
    try:
        async with lock:
            try:
                chat = await ydoc_ext.get_document(
                    path=path, content_type="chat", file_format="text", copy=False, create=True
                )
            except Exception as exc:  # missing file, unreadable JSON, file id store error...
                raise LiveChatUnavailable(f"the chat document {path!r} could not be opened: {exc}") from exc
            if chat is None or not hasattr(chat, "add_message"):
                raise LiveChatUnavailable(f"{path!r} did not open as a jupyterlab-chat document")
            messages = chat.get_messages()
            if reply_to is not None and (not messages or messages[-1].id != reply_to):
                raise LiveChatUnavailable(
                    f"the message replies to {reply_to!r}, not to the chat's last message: a branch"
                )
            # The document was just loaded from (or is in sync with) the file: clear the flag that
            # makes YChat drop message events until the first save (the note's pitfall 1). It is
            # a change of the document, so it comes after the last reason to refuse the post.
            chat.dirty = False
            chat_id = str(chat.get_id())
            manager = await _persona_manager(settings, chat_id, persona_wait)
            persona_id = choose_persona(messages, manager)
            chat.set_user(
                User(
                    username=sender.username,
                    name=sender.name,
                    display_name=sender.display_name or sender.name,
                    bot=False,
                )
            )
            actions: list[Callable[..., None]] = [find_mentions]
            if persona_id is not None:
                actions.append(_addressed_to(persona_id))
            message_id = str(chat.add_message(NewMessage(body=text, sender=sender.username), trigger_actions=actions))
            # One message per event-loop turn: YChat re-stamps the message in a callback that
            # assumes it is still the last one (the note's pitfall 3).
            await asyncio.sleep(0)
    finally:
        # also a room opened for a refused post: it must not stay in memory forever
        _schedule_room_cleanup(settings, ydoc_ext, path)
    return message_id


def _addressed_to(persona_id: str) -> Callable[[Any, Any], None]:
    """A ``YChat.add_message`` trigger action that addresses the message to ``persona_id``."""

    def stamp(message: Any, _chat: Any) -> None:
        message.metadata = {**(message.metadata or {}), _TO_PERSONA: persona_id}

    return stamp


async def _persona_manager(settings: Mapping[str, Any], chat_id: str, wait: float) -> Any:
    """The chat's ``PersonaManager`` once it exists, waiting up to ``wait`` seconds.

    ``None`` at once when the persona manager extension does not run here (its registry
    ``settings["jupyter-ai"]["persona-managers"]`` is absent); ``None`` after ``wait``
    seconds when the manager did not appear (the message then reaches no persona).
    """
    registry = (settings.get("jupyter-ai") or {}).get("persona-managers")
    if registry is None:
        return None
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        manager = registry.get(chat_id)
        if manager is not None or time.monotonic() >= deadline:
            if manager is None:
                log.warning("convshare: no persona manager for chat %s after %.1f s", chat_id, wait)
            return manager
        await asyncio.sleep(_POLL_SECONDS)


def _schedule_room_cleanup(settings: Mapping[str, Any], ydoc_ext: Any, path: str) -> None:
    """Give an idle room of ``path`` a ``cleaner`` task (unless it has clients or one)."""
    delay = getattr(ydoc_ext, "document_cleanup_delay", None)
    if delay is None:
        return  # the admin keeps rooms in memory forever
    room = _room_for(ydoc_ext, path)
    if room is None or getattr(room, "clients", None):
        return  # connected clients: jupyter-server-ydoc cleans up when the last one leaves
    cleaner = getattr(room, "cleaner", None)
    if cleaner is not None and not cleaner.done():
        cleaner.cancel()  # start the idle period again from this post
    room.cleaner = asyncio.ensure_future(_clean_when_idle(settings, ydoc_ext, room, path, float(delay)))


def _room_for(ydoc_ext: Any, path: str) -> Any:
    """The DocumentRoom of the chat at ``path``, or ``None``."""
    try:
        from jupyter_server_ydoc.utils import encode_file_path, room_id_from_encoded_path

        file_id = ydoc_ext.serverapp.web_app.settings["file_id_manager"].index(path)
        room_id = room_id_from_encoded_path(encode_file_path("text", "chat", file_id))
        return ydoc_ext.ywebsocket_server.rooms.get(room_id)
    except Exception:  # no file id manager or a changed internal layout: nothing to clean
        return None


async def _clean_when_idle(settings: Mapping[str, Any], ydoc_ext: Any, room: Any, path: str, delay: float) -> None:
    """Delete ``room`` once it stayed idle ``delay`` seconds, as jupyter-server-ydoc's
    WebSocket handler deletes a room its last client left (and tell jupyterlab-chat, which
    then closes the chat's persona manager). A client connecting cancels this task."""
    try:
        await asyncio.sleep(delay)
        while _room_busy(settings, room):
            await asyncio.sleep(max(delay, 0.5))
        from jupyter_server_ydoc.utils import JUPYTER_COLLABORATION_EVENTS_URI, decode_file_path

        room_id = room.room_id
        async with ydoc_ext._room_locks[room_id]:
            if getattr(room, "clients", None) or ydoc_ext.ywebsocket_server.rooms.get(room_id) is not room:
                return
            await ydoc_ext.ywebsocket_server.delete_room(room=room)
            ydoc_ext.serverapp.event_logger.emit(
                schema_id=JUPYTER_COLLABORATION_EVENTS_URI,
                data={"level": "INFO", "room": room_id, "path": path, "action": "clean", "msg": "Room deleted."},
            )
            _, _, file_id = decode_file_path(room_id)
            loader = ydoc_ext.file_loaders[file_id]
            if loader.number_of_subscriptions == 0:
                await ydoc_ext.file_loaders.remove(file_id)
        ydoc_ext._room_locks.pop(room_id, None)
        log.debug("convshare: deleted idle chat room %s (%s)", room_id, path)
    except asyncio.CancelledError:
        raise
    except Exception:  # a clean-up failure costs memory, never a request
        log.warning("convshare: could not clean up the chat room of %s", path, exc_info=True)


def _room_busy(settings: Mapping[str, Any], room: Any) -> bool:
    """Whether a room must stay: a client, a pending save, or a persona still answering."""
    if getattr(room, "clients", None):
        return True
    saving = getattr(room, "_saving_document", None)
    if saving is not None and not saving.done():
        return True
    chat = getattr(room, "_document", None)
    registry = (settings.get("jupyter-ai") or {}).get("persona-managers") or {}
    try:
        manager = registry.get(chat.get_id()) if chat is not None else None
    except Exception:
        manager = None
    personas = getattr(manager, "personas", None) or {}
    return any(getattr(p, "processing", False) for p in personas.values())
