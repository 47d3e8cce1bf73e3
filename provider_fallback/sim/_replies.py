"""What a simulated provider answers: its canned text, a tool call, or a test's script.

A test (or an agent test driving a real CLI) passes `responder=` to SimProvider: a
function of the request body (the provider's own format: chat completions or Messages)
returning a `SimReply`, or None for the default answer. Both wire formats build their
answers from the same `SimReply`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Responder", "SimReply", "ToolCall", "default_reply"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""


@dataclass(frozen=True, slots=True)
class SimReply:
    """One answer: text, tool calls (the finish reason follows), optional reasoning."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str = ""
    signature: str = ""      # Messages only: the thinking block's signature

    @property
    def finish(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    def call_id(self, n: int) -> str:
        return self.tool_calls[n].id or f"call_sim_{n + 1}"


Responder = Callable[[dict[str, Any]], "SimReply | None"]


def default_reply(text: str, body: Mapping[str, Any]) -> SimReply:
    """The canned answer: a call of the request's first tool (arguments `{}`) when it
    offers tools, else `text`."""
    tools = body.get("tools") or []
    tool = tools[0] if tools and isinstance(tools[0], dict) else None
    if tool is None:
        return SimReply(text=text)
    fn = tool.get("function")
    name = fn.get("name") if isinstance(fn, dict) else tool.get("name")   # chat | Messages
    return SimReply(tool_calls=(ToolCall(str(name or "tool")),))
