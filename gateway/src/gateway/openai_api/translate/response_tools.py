"""The ``tools`` of a Responses request as Ollama tools, and the names of calls on the way back.

* ``function`` tools pass through (``strict`` is accepted and ignored: Ollama has no strict mode).
* ``namespace`` tools (Codex groups tools this way) are flattened: the function ``f`` of the
  namespace ``ns`` is offered as ``ns__f``; a call of ``ns__f`` goes back to the client as a
  ``function_call`` named ``f`` with ``"namespace": "ns"``, and such a call in the input is
  flattened again.
* Hosted tools (``web_search``, ``file_search``, ``code_interpreter``, ...) run on OpenAI's
  servers; this stack cannot run them, so they are left out and their types reported
  (the ``X-Gateway-Dropped-Tools`` response header and an INFO log line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.errors import InvalidRequest
from gateway.openai_api.tool_demand import ToolDemand

NAMESPACE_SEPARATOR = "__"


def flat_name(namespace: str | None, name: str) -> str:
    """The name the model sees for the function ``name`` of ``namespace`` (if any)."""
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


def _function(tool: dict[str, Any], where: str, namespace: str | None) -> dict[str, Any]:
    """An Ollama tool for one Responses ``function`` tool."""
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"'{where}.name' is required.", param=f"{where}.name")
    function: dict[str, Any] = {
        "name": flat_name(namespace, name),
        "parameters": tool.get("parameters") or {},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


@dataclass
class OfferedTools:
    """The tools of one request as the model sees them."""

    tools: list[dict[str, Any]] = field(default_factory=list)
    """Ollama tools (namespaces flattened, hosted tools left out)."""
    dropped: list[str] = field(default_factory=list)
    """Types of the hosted tools left out, in request order, each once."""
    origins: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Flat name -> (namespace, name) for the functions of namespace tools."""

    def add(self, tool: dict[str, Any], where: str) -> None:
        """Take one entry of ``tools``."""
        kind = tool.get("type")
        if kind == "function":
            self.tools.append(_function(tool, where, None))
        elif kind == "namespace":
            self._namespace(tool, where)
        elif isinstance(kind, str) and kind:
            if kind not in self.dropped:
                self.dropped.append(kind)
        else:
            raise InvalidRequest(
                f"'{where}.type' must be a string: 'function', 'namespace' or a hosted tool type.",
                param=f"{where}.type",
            )

    def _namespace(self, tool: dict[str, Any], where: str) -> None:
        namespace, members = tool.get("name"), tool.get("tools")
        if not isinstance(namespace, str) or not namespace:
            raise InvalidRequest(f"'{where}.name' is required.", param=f"{where}.name")
        if not isinstance(members, list):
            raise InvalidRequest(f"'{where}.tools' must be a list.", param=f"{where}.tools")
        for index, member in enumerate(members):
            inner = f"{where}.tools[{index}]"
            if not isinstance(member, dict) or member.get("type") != "function":
                raise InvalidRequest(
                    f"'{inner}' must be a function tool: a namespace groups function tools.",
                    param=inner,
                )
            ollama_tool = _function(member, inner, namespace)
            self.tools.append(ollama_tool)
            self.origins[ollama_tool["function"]["name"]] = (namespace, member["name"])

    @property
    def names(self) -> list[str]:
        """The names the model sees (namespaced ones flattened)."""
        return [tool["function"]["name"] for tool in self.tools]

    def narrowed(self, demand: ToolDemand) -> list[dict[str, Any]]:
        """The tools ``tool_choice`` lets the model see."""
        return [tool for tool in self.tools if demand.allows(tool["function"]["name"])]

    def call_fields(self, flat: str) -> dict[str, str]:
        """``name`` (and ``namespace``) of the ``function_call`` item for a call of ``flat``."""
        if flat in self.origins:
            namespace, name = self.origins[flat]
            return {"name": name, "namespace": namespace}
        return {"name": flat}


def offered_tools(tools: list[dict[str, Any]] | None) -> OfferedTools:
    """The request's ``tools`` (400 naming the entry that is malformed)."""
    offered = OfferedTools()
    for index, tool in enumerate(tools or ()):
        offered.add(tool, f"tools[{index}]")
    return offered
