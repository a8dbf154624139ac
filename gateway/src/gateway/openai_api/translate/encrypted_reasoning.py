"""``reasoning.encrypted_content``: the reasoning a stateless client carries to the next turn.

Clients that keep no server state (Codex with ``store: false``) ask for
``include: ["reasoning.encrypted_content"]`` and send the value back on the reasoning item of the
next request, so that the model sees its previous thinking. OpenAI encrypts it; this gateway
holds no state or key for that and the client already received the reasoning text, so the value
is that text, base64-encoded behind a version prefix: opaque to clients, readable by any replica.
A value without the prefix (another server's) is ignored.
"""

from __future__ import annotations

import base64
import binascii

PREFIX = "gptoss-reasoning.v1:"
INCLUDE = "reasoning.encrypted_content"


def seal(text: str) -> str:
    """The ``encrypted_content`` for the reasoning ``text``."""
    return PREFIX + base64.b64encode(text.encode()).decode()


def unseal(value: object) -> str | None:
    """The reasoning text of an ``encrypted_content`` this gateway made, else None.

    Raises :class:`ValueError` for a value with the prefix that was altered on the way.
    """
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return None
    try:
        return base64.b64decode(value[len(PREFIX) :], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError(f"not the base64 of UTF-8 text after {PREFIX!r}") from error
