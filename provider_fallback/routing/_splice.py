"""Continuing a broken stream on another attempt: what of its output the client gets.

Three ways, chosen by the router for the continuing target:

- `fresh`: the client has no text yet (only a role or reasoning): relay from the start.
- `prefill`: the attempt was sent the text so far as an assistant message and continues
  it. Its output is relayed at once, unless it starts by repeating the text the client
  already has (a target that ignored the prefill and started over): then it is held and
  matched like a restart (one that repeats the first 8 characters and then differs
  restarted differently: `Diverged`).
- `restart`: the attempt was sent the original request. Its output is held until it has
  reproduced what the client already has (text compared with whitespace normalised, tool
  calls by name and argument prefix), then only the remainder is relayed. Output that
  does not match raises `Diverged`: text that does not match is never spliced. What is
  held is bounded by what was sent (a mismatch is found at its first character).

On every continuation the role is not sent twice, reasoning deltas are dropped (the client
keeps the first attempt's reasoning), and tool calls the client has already seen keep their
id and name: only their remaining arguments are relayed.
"""

from __future__ import annotations

from typing import Any

from ._transcript import Transcript

__all__ = ["Continuation", "Diverged"]

PROBE_CHARS = 32       # a prefill answer that repeats this much of the text so far restarted
PROBE_SAME = 8         # ...and one that repeats this much and then differs restarted otherwise
_REASONING = ("reasoning_content", "reasoning", "reasoning_details", "thinking")


class Diverged(Exception):
    """The restarted attempt's output does not reproduce what the client already has."""


class _Matcher:
    """Matches characters of new output against `want`, whitespace runs as one space."""

    __slots__ = ("json", "pos", "space", "string", "escape", "want")

    def __init__(self, want: str, *, json: bool = False) -> None:
        self.want = want
        self.pos = 0
        self.json = json          # arguments: whitespace outside strings is ignored
        self.space = True         # at a run of whitespace (leading whitespace is ignored)
        self.string = False
        self.escape = False

    @property
    def done(self) -> bool:
        return self.pos >= len(self.want)

    def feed(self, text: str) -> int | None:
        """Consume `text`; the index just past the point where `want` was covered (what
        follows is new), or None if not yet covered. Raises Diverged on a mismatch."""
        want, n = self.want, len(self.want)
        for i, ch in enumerate(text):
            if self.pos >= n:
                return i
            if self.json:
                if not self.string and ch.isspace():
                    continue
                if self.string:
                    if self.escape:
                        self.escape = False
                    elif ch == "\\":
                        self.escape = True
                    elif ch == '"':
                        self.string = False
                elif ch == '"':
                    self.string = True
            elif ch.isspace():
                if self.space:
                    continue
                self.space = True
                ch = " "
            else:
                self.space = False
            if want[self.pos] != ch:
                raise Diverged(f"differs at character {self.pos}")
            self.pos += 1
        return len(text) if self.pos >= n else None


def _norm(text: str) -> str:
    return " ".join(text.split()) + (" " if text[-1:].isspace() and text.strip() else "")


def _strip_json(text: str) -> str:
    out, string, escape = [], False, False
    for ch in text:
        if string:
            out.append(ch)
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                string = False
        elif not ch.isspace():
            out.append(ch)
            string = ch == '"'
    return "".join(out)


class Continuation:
    """Feed each parsed chunk of the continuing attempt; get back what to relay."""

    def __init__(self, sent: Transcript, strategy: str) -> None:
        self.strategy = strategy
        self.seen_content = False     # the attempt produced content (held or not)
        self._sent = sent
        choice = sent.choices.get(0)
        self._tools_sent: dict[int, Any] = dict(choice.tools) if choice else {}
        text = choice.content if choice else ""
        self._text = _Matcher(_norm(text)) if text.strip() else None
        # a restart's output goes on with the whitespace run the client already has
        self._ends_ws = bool(text) and text[-1:].isspace()
        self._trim_ws = strategy == "restart" and self._ends_ws
        # restart: match every sent tool in index order, the last may be partial
        self._tools = sorted(self._tools_sent)
        self._tool_matchers: dict[int, _Matcher] = {}
        self._names: dict[int, str] = {}
        if strategy == "prefill":
            self._phase = "probe" if self._text is not None else "through"
            if self._text is not None:
                self._probe = _Matcher(self._text.want[:PROBE_CHARS])
        elif strategy == "restart":
            self._phase = "text" if self._text is not None else ("tools" if self._tools
                                                                else "through")
        else:
            self._phase = "through"
        self._held: list[dict[str, Any]] = []

    @property
    def matching(self) -> bool:
        return self._phase != "through"

    def feed(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        choices = obj.get("choices")
        if not choices:
            return [obj] if self._phase == "through" else self._hold(obj)
        choice = choices[0]
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls"):
            self.seen_content = True
        if self._phase == "through":
            return self._through(obj)
        if self._phase == "probe":
            return self._probing(obj, choice, delta)
        return self._matching(obj, choice, delta)

    # -- prefill: did it continue, or start over? -------------------------------------
    def _probing(self, obj: dict[str, Any], choice: dict[str, Any],
                 delta: dict[str, Any]) -> list[dict[str, Any]]:
        content = delta.get("content")
        if delta.get("tool_calls") or choice.get("finish_reason"):
            return self._release(obj)
        if not content:
            return self._hold(obj)
        try:
            covered = self._probe.feed(content)
        except Diverged:
            if self._probe.pos >= PROBE_SAME:
                raise Diverged("started the answer over, differently") from None
            return self._release(obj)      # a real continuation
        if covered is None:
            return self._hold(obj)
        # it repeats the start of the answer: it started over; match it like a restart
        held, self._held = self._held, []
        self._phase = "text"
        self._trim_ws = self._ends_ws
        out: list[dict[str, Any]] = []
        for o in [*held, obj]:
            out += self._matching(o, *_first(o))
        return out

    def _release(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        held, self._held = self._held, []
        self._phase = "through"
        out: list[dict[str, Any]] = []
        for o in [*held, obj]:
            out += self._through(o)
        return out

    # -- restart: reproduce, then the remainder ------------------------------------------
    def _matching(self, obj: dict[str, Any], choice: dict[str, Any],
                  delta: dict[str, Any]) -> list[dict[str, Any]]:
        content = delta.get("content")
        rest_text: str | None = None
        if content:
            if self._phase == "text":
                assert self._text is not None
                at = self._text.feed(content)
                if at is not None:
                    self._phase = "tools" if self._tools else "through"
                    rest_text = content[at:]
            elif content.strip():
                raise Diverged("answered text where a tool call was sent")
        calls = delta.get("tool_calls")
        rest_calls: list[dict[str, Any]] = []
        if calls:
            if self._phase == "text":
                raise Diverged("started a tool call before reproducing the text")
            for call in calls:
                rest = self._match_call(call) if self._phase == "tools" else call
                if rest is not None:
                    rest_calls.append(rest)
        finish = choice.get("finish_reason")
        if finish and self._phase != "through":
            raise Diverged("finished before reproducing the answer so far")
        if self._phase != "through":
            return self._hold(obj)
        self._held = []
        new_delta: dict[str, Any] = {}
        if rest_text:
            if self._trim_ws:
                rest_text = rest_text.lstrip()
                self._trim_ws = not rest_text
            if rest_text:
                new_delta["content"] = rest_text
        if rest_calls:
            new_delta["tool_calls"] = rest_calls
        if not new_delta and not finish:
            return []
        out = {**obj, "choices": [{**choice, "delta": new_delta}]}
        return self._through(out)

    def _match_call(self, call: dict[str, Any]) -> dict[str, Any] | None:
        """Match one tool-call delta against the calls sent; the part past them, if any."""
        index = call.get("index", 0)
        sent = self._tools_sent.get(index)
        if sent is None:
            raise Diverged("a tool call the client's answer does not have")
        fn = call.get("function") or {}
        if fn.get("name"):
            got = self._names[index] = self._names.get(index, "") + fn["name"]
            if not sent.name.startswith(got):
                raise Diverged(f"tool call {index} names another function")
        for earlier in self._tools:   # the calls before this one must be complete
            if earlier >= index:
                break
            m = self._tool_matchers.get(earlier)
            if m is None or not m.done or self._names.get(earlier) != self._tools_sent[earlier].name:
                raise Diverged("tool calls out of order")
        m = self._tool_matchers.get(index)
        if m is None:
            m = self._tool_matchers[index] = _Matcher(_strip_json(sent.arguments), json=True)
        args = fn.get("arguments") or ""
        at = m.feed(args)
        if at is None:
            return None
        if index != self._tools[-1]:
            if args[at:].strip():
                raise Diverged(f"tool call {index} goes on where the client's ended")
            return None
        if self._names.get(index) != sent.name:
            raise Diverged(f"tool call {index} names another function")
        self._phase = "through"
        rest = args[at:]
        return {"index": index, "function": {"arguments": rest}} if rest else None

    # -- relaying --------------------------------------------------------------------------
    def _hold(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        self._held.append(obj)
        return []

    def _through(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """A chunk as the client may see it: no second role, no reasoning, no second id or
        name for a tool call it already has."""
        choices = obj.get("choices")
        if not choices:
            return [obj]
        out_choices = []
        for choice in choices:
            delta = choice.get("delta")
            if delta:
                delta = {k: v for k, v in delta.items()
                         if k != "role" and k not in _REASONING}
                calls = delta.get("tool_calls")
                if calls:
                    delta["tool_calls"] = [self._strip_known(c) for c in calls]
                content = delta.get("content")
                if content and self._trim_ws:
                    content = content.lstrip()
                    self._trim_ws = not content
                    if content:
                        delta["content"] = content
                    else:
                        del delta["content"]
            if not delta and not choice.get("finish_reason"):
                continue
            out_choices.append({**choice, "delta": delta or {}})
        if not out_choices:
            return []
        return [{**obj, "choices": out_choices}]

    def _strip_known(self, call: dict[str, Any]) -> dict[str, Any]:
        if call.get("index", 0) not in self._tools_sent:
            return call
        fn = call.get("function") or {}
        out: dict[str, Any] = {"index": call.get("index", 0)}
        if fn.get("arguments"):
            out["function"] = {"arguments": fn["arguments"]}
        return out


def _first(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    choice = (obj.get("choices") or [{}])[0]
    return choice, choice.get("delta") or {}
