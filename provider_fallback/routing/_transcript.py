"""What the client has been sent so far in one streamed answer, choice by choice.

The stream relay updates it from every chunk it relays; continuation reads it to build the
prefill (the text sent so far), to check a restarted attempt against it, and to know which
tool calls the client has already seen (their id and name are never sent twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import _json

__all__ = ["ChoiceSoFar", "ToolSoFar", "Transcript"]


@dataclass(slots=True)
class ToolSoFar:
    id: str | None = None
    name: str = ""
    args: list[str] = field(default_factory=list)

    @property
    def arguments(self) -> str:
        return "".join(self.args)

    def valid_json(self) -> bool:
        """Complete, valid JSON arguments (an empty string counts as `{}`)."""
        text = self.arguments
        if not text.strip():
            return True
        try:
            _json.loads(text)
        except _json.JSONDecodeError:
            return False
        return True


@dataclass(slots=True)
class ChoiceSoFar:
    text: list[str] = field(default_factory=list)
    tools: dict[int, ToolSoFar] = field(default_factory=dict)
    finish: str | None = None

    @property
    def content(self) -> str:
        return "".join(self.text)

    @property
    def in_tool_call(self) -> bool:
        return bool(self.tools)


class Transcript:
    """The client's view of a stream: the first chunk's identity and each choice so far."""

    __slots__ = ("choices", "created", "id", "model", "n", "role_sent")

    def __init__(self, n: int = 1) -> None:
        self.n = n
        self.id: Any = None
        self.created: Any = None
        self.model: Any = None
        self.role_sent = False
        self.choices: dict[int, ChoiceSoFar] = {}

    def identity(self, obj: dict[str, Any]) -> None:
        """Remember the first chunk's id, created and model (kept for the whole stream)."""
        if self.id is None:
            self.id = obj.get("id")
            self.created = obj.get("created")
            self.model = obj.get("model")

    def choice(self, index: int) -> ChoiceSoFar:
        c = self.choices.get(index)
        if c is None:
            c = self.choices[index] = ChoiceSoFar()
        return c

    def tool_delta(self, choice: ChoiceSoFar, call: dict[str, Any]) -> None:
        index = call.get("index", 0)
        tool = choice.tools.get(index)
        if tool is None:
            tool = choice.tools[index] = ToolSoFar()
        if call.get("id"):
            tool.id = call["id"]
        fn = call.get("function")
        if isinstance(fn, dict):
            if fn.get("name"):
                tool.name += fn["name"]
            args = fn.get("arguments")
            if isinstance(args, str) and args:
                tool.args.append(args)

    @property
    def complete(self) -> bool:
        """Every expected choice reached its finish_reason."""
        if len(self.choices) < self.n:
            return False
        return all(self.choices.get(i) is not None and self.choices[i].finish is not None
                   for i in range(self.n))

    def unfinished(self) -> list[int]:
        return [i for i in range(self.n)
                if (c := self.choices.get(i)) is None or c.finish is None]

    @property
    def chars(self) -> int:
        """Characters of text and tool arguments sent: the basis of a usage estimate."""
        total = 0
        for c in self.choices.values():
            total += sum(len(t) for t in c.text)
            for tool in c.tools.values():
                total += len(tool.name) + sum(len(a) for a in tool.args)
        return total
