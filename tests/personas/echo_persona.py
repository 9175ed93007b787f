"""Two small Jupyter AI personas for the live-chat tests (no LLM, deterministic answers).

Written against jupyter-ai-persona-manager 0.2's ``BasePersona`` API. The tests copy this
file into ``<server root>/.jupyter/personas/``, where the persona manager discovers
``*persona*.py`` files for every chat under that root (local discovery, no install). Their
ids are ``jupyter-ai-personas::echo_persona::EchoPersona`` and ``...::ShoutPersona``.
"""

from __future__ import annotations

from pathlib import Path

from jupyter_ai_persona_manager import BasePersona, PersonaDefaults
from jupyterlab_chat.models import Message

AVATAR = str(Path(__file__).with_name("echo_avatar.svg"))


class EchoPersona(BasePersona):
    """Answers ``echo to <sender>: <body>``."""

    @property
    def defaults(self) -> PersonaDefaults:
        """Name, description, avatar (an svg next to this file) and an unused prompt."""
        return PersonaDefaults(name="Echo", description="Repeats the message.", avatar_path=AVATAR,
                               system_prompt="Repeat the message.")

    async def process_message(self, message: Message) -> None:
        """Send one reply naming the message's sender."""
        self.send_message(f"echo to {message.sender}: {message.body}")


class ShoutPersona(BasePersona):
    """Answers ``SHOUT TO <sender>: <BODY>``."""

    @property
    def defaults(self) -> PersonaDefaults:
        """Name, description, avatar (an svg next to this file) and an unused prompt."""
        return PersonaDefaults(name="Shout", description="Repeats the message, louder.", avatar_path=AVATAR,
                               system_prompt="Repeat the message in capitals.")

    async def process_message(self, message: Message) -> None:
        """Send one reply naming the message's sender."""
        self.send_message(f"SHOUT TO {message.sender}: {message.body.upper()}")
