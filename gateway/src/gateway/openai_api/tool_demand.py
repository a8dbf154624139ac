"""``tool_choice`` made real: which tools the model is offered, and whether it must call one.

Ollama ignores ``tool_choice``, so the gateway enforces it itself:

* ``"none"``: no tools are sent to the model at all.
* ``"auto"`` (or absent): every tool is sent; the model decides.
* ``"required"``: every tool is sent and the answer must call one (400 when there is none).
* a named function: only that tool is sent and the answer must call it; a name that is not in
  ``tools`` is a 400.

An answer that must call a tool and does not is asked again once, with an instruction added
as the last user message; a second answer without a call is a 502 ``tool_choice_not_followed``.
The check needs the whole answer, so when a call is demanded a stream starts once the answer is
complete (its events are the same).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidRequest, ToolChoiceNotFollowed

RETRIES = 1
"""New attempts, with an instruction, after an answer that did not call a demanded tool."""

ChunkSource = Callable[[dict[str, Any]], AsyncGenerator[dict[str, Any], None]]
"""Opens one upstream attempt for a request body and yields Ollama's objects."""


def chosen_function(choice: object) -> str | None:
    """The function a named ``tool_choice`` asks for, in the chat or the Responses shape."""
    if not isinstance(choice, dict) or choice.get("type") != "function":
        return None
    function = choice.get("function")
    name = function.get("name") if isinstance(function, dict) else choice.get("name")
    return name if isinstance(name, str) else None


@dataclass(frozen=True)
class ToolDemand:
    """What ``tool_choice`` asks of one request, checked against the names in ``tools``."""

    offer: bool = True
    """Whether any tool is sent to the model."""
    only: str | None = None
    """The single tool sent and demanded (a named ``tool_choice``)."""
    must_call: bool = False
    """Whether the answer must call a tool."""

    @classmethod
    def of(cls, choice: object, names: Iterable[str]) -> ToolDemand:
        """The demand of ``choice`` (a ``tool_choice`` value) for tools named ``names``."""
        if choice is None or choice == "auto":
            return cls()
        if choice == "none":
            return cls(offer=False)
        names = set(names)
        if choice == "required":
            if not names:
                raise InvalidRequest(
                    "'tool_choice' is 'required' but the request offers no function tools (hosted "
                    "tools such as web_search cannot run here). Add 'tools' or use 'auto'.",
                    param="tool_choice",
                )
            return cls(must_call=True)
        name = chosen_function(choice)
        if name is None:
            raise InvalidRequest(
                "'tool_choice' must be 'none', 'auto', 'required' or a named function "
                '({"type": "function", "name": "..."}).',
                param="tool_choice",
            )
        if name not in names:
            raise InvalidRequest(
                f"'tool_choice' names the function {name!r}, which is not in 'tools'. Add it to "
                "'tools' or name one of the tools you send.",
                param="tool_choice",
            )
        return cls(only=name, must_call=True)

    def allows(self, name: str) -> bool:
        """Whether the tool ``name`` is sent to the model."""
        return self.offer and (self.only is None or self.only == name)

    def chunks(
        self, start: ChunkSource, body: dict[str, Any], retrying: Callable[[str], None]
    ) -> AsyncGenerator[dict[str, Any]]:
        """Ollama's objects for ``body``: as they come, or, when a call is demanded, the
        objects of the first whole answer that made one (asking again once with an
        instruction; ``retrying`` is told why first); raises :class:`ToolChoiceNotFollowed`
        when none did."""
        if not self.must_call:
            return start(body)
        return self._insisting(start, body, retrying)

    async def _insisting(
        self, start: ChunkSource, body: dict[str, Any], retrying: Callable[[str], None]
    ) -> AsyncGenerator[dict[str, Any]]:
        attempt = body
        for retry in range(RETRIES + 1):
            async with aclosing(start(attempt)) as stream:
                answer = [chunk async for chunk in stream]
            if any(self._called(chunk) for chunk in answer):
                for chunk in answer:
                    yield chunk
                return
            if retry < RETRIES:
                retrying(f"the answer called no tool, and tool_choice demands {self._wanted}")
                attempt = {**body, "messages": [*body["messages"], self._instruction()]}
        raise ToolChoiceNotFollowed(
            "'tool_choice' demands a tool call, and the model answered without one twice (the "
            f"second time it was told to call {self._wanted}). Send the request "
            "again, make the prompt ask for the tool, or use tool_choice 'auto'.",
            param="tool_choice",
        )

    def _called(self, chunk: dict[str, Any]) -> bool:
        calls = (chunk.get("message") or {}).get("tool_calls") or ()
        return any(self.allows(str((call.get("function") or {}).get("name"))) for call in calls)

    @property
    def _wanted(self) -> str:
        return f"the tool {self.only!r}" if self.only else "one of the tools you were given"

    def _instruction(self) -> dict[str, str]:
        return {
            "role": "user",
            "content": f"Answer by calling {self._wanted} now; do not answer in text.",
        }
