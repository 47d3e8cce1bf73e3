"""Mid-stream continuation over loopback: a stream broken after content is finished by the
next target of the chain, and the client gets one whole answer."""

from __future__ import annotations

import orjson
import pytest
from gateway_harness import CHAT, make_config, sims_running

from provider_fallback import Router
from provider_fallback.errors import StreamInterruptedError
from provider_fallback.sim import Fault

REPLY = ("The quick brown fox jumps over the lazy dog, then naps in the warm afternoon sun "
         "while the farmer counts his sheep.")
OTHER = "A completely different answer that shares nothing with the first one at all."
ARGS = '{"path": "src/main.py", "line": 42, "note": "fix the bug"}'
TOOLS = [{"type": "function", "function": {"name": "edit", "parameters": {"type": "object"}}}]


def _sim(name: str, model: str, **kw):
    return {"name": name, "models": [model], "chunk_count": 0, "reply": REPLY, **kw}


def _config(p, b, *, chains=None, **kw):
    return make_config({"primary": p, "backup": b},
                       chains or {"chat": ["primary/m1", "backup/b1"]},
                       policy={"stall_timeout": 0.3, "ttft_timeout": 2}, **kw)


async def _read(stream) -> tuple[list[dict], StreamInterruptedError | None]:
    chunks: list[dict] = []
    try:
        async for chunk in stream:
            chunks.append(chunk)
    except StreamInterruptedError as exc:
        return chunks, exc
    return chunks, None


def _text(chunks: list[dict]) -> str:
    return "".join((c.get("delta") or {}).get("content") or ""
                   for ch in chunks for c in ch.get("choices", []))


def _finishes(chunks: list[dict]) -> list[str]:
    return [c["finish_reason"] for ch in chunks for c in ch.get("choices", [])
            if c.get("finish_reason")]


@pytest.mark.parametrize("fault", [
    Fault(cut_after=5), Fault(stall_after=6),
    Fault(error_after=4, error_status=502),                        # OpenRouter's in-band error
    Fault(error_after=4, error_finish_only=True),                  # finish_reason "error" only
    Fault(malformed_after=3, cut_after=7),                         # a bad event, then a cut
    Fault(no_done=True, cut_after=30),                             # ends without finish_reason
], ids=["cut", "stall", "error-event", "finish-error", "malformed-then-cut", "no-finish"])
async def test_a_broken_stream_is_finished_by_the_next_target(fault):
    async with sims_running(_sim("primary", "m1", chunk_delay=0.002), _sim("backup", "b1")) as (p, b):
        p.set_fault(fault)
        async with Router(_config(p, b)) as router:
            records = []
            router.requests.add(records.append)
            stream = await router.chat_stream(model="chat", **CHAT)
            chunks, error = await _read(stream)
            events = router.events.recent()
    assert error is None
    assert _text(chunks) == REPLY                   # whole, nothing twice
    assert _finishes(chunks) == ["stop"]            # one finish_reason
    assert len({c["id"] for c in chunks}) == 1      # the first chunk's id throughout
    assert len({c["created"] for c in chunks}) == 1
    assert not [c for c in chunks if "role" in (c["choices"][0].get("delta") or {})][1:]
    cont = [e for e in events if e.type == "CONTINUED"]
    assert len(cont) == 1 and cont[0].fields["from_target"] == "primary/m1"
    assert cont[0].fields["to_target"] == "backup/b1" and cont[0].fields["strategy"] == "prefill"
    assert cont[0].fields["chars_sent"] > 0
    rec = records[-1]
    assert rec.outcome == "ok" and rec.continuations == 1
    assert [a.code for a in rec.attempts][-1] == "ok"
    assert rec.attempts[0].provider == "primary" and "after content" in rec.attempts[0].note
    assert rec.provider == "backup"                 # who finished the answer


async def test_prefill_sends_exactly_the_text_so_far():
    async with sims_running(_sim("primary", "m1"), _sim("backup", "b1", keep_bodies=True)) as (p, b):
        p.set_fault(Fault(cut_after=6))
        async with Router(_config(p, b)) as router:
            chunks, error = await _read(await router.chat_stream(model="chat", **CHAT))
    assert error is None and _text(chunks) == REPLY
    body = b.log[-1].body
    assert body["messages"][:-1] == CHAT["messages"]
    prefix = body["messages"][-1]
    assert prefix["role"] == "assistant"
    assert REPLY.startswith(prefix["content"]) and len(prefix["content"].split()) == 6


TRICKY = ('Print "hi" \\ then a\nnewline, a\ttab, café 漢字 🙂, {"json": [1, 2]} and '
          '\u2028 more words to cut across')


async def test_text_taken_by_its_bytes_is_the_text_so_far_with_escapes_and_unicode():
    """After the first text chunk the relay recognises text chunks by their bytes (no
    parse): the text it keeps for a prefill must be exactly what the client was sent."""
    reply = TRICKY.replace("{", "{{").replace("}", "}}")   # the sim formats its reply
    async with sims_running(_sim("primary", "m1", reply=reply),
                            _sim("backup", "b1", reply=reply, keep_bodies=True)) as (p, b):
        p.set_fault(Fault(cut_after=9))
        async with Router(_config(p, b)) as router:
            chunks, error = await _read(await router.chat_stream(model="chat", **CHAT))
    assert error is None and _text(chunks) == TRICKY
    prefix = b.log[-1].body["messages"][-1]
    assert prefix["role"] == "assistant"
    assert TRICKY.startswith(prefix["content"]) and len(prefix["content"].split()) == 9


async def test_a_rejected_prefill_is_learned_and_the_request_restarts():
    async with sims_running(_sim("primary", "m1"), _sim("backup", "b1", prefill=False)) as (p, b):
        p.set_fault(Fault(cut_after=5))
        async with Router(_config(p, b)) as router:
            records = []
            router.requests.add(records.append)
            chunks, error = await _read(await router.chat_stream(model="chat", **CHAT))
            router.health.restore("primary")   # one cut opened it; let it break another one
            again, error2 = await _read(await router.chat_stream(model="chat", **CHAT))
            kinds = [e.type for e in router.events.recent()]
    assert error is None and error2 is None
    assert _text(chunks) == REPLY and _text(again) == REPLY
    codes = [(a.provider, a.code) for a in records[0].attempts]
    assert codes == [("primary", "stream_cut"), ("backup", "bad_request"), ("backup", "ok")]
    assert "continuation: restart" in records[0].attempts[-1].note
    assert kinds.count("PREFILL_UNSUPPORTED") == 1
    # learned: the second request goes straight to a restart (no second rejection)
    assert [a.code for a in records[1].attempts if a.provider == "backup"] == ["ok"]
    assert "continuation: restart" in records[1].attempts[-1].note


async def test_a_restart_that_diverges_ends_with_a_clean_inband_error_naming_both():
    async with sims_running(_sim("primary", "m1"),
                            _sim("backup", "b1", prefill=False, reply=OTHER)) as (p, b):
        p.set_fault(Fault(cut_after=5))
        cfg = _config(p, b, providers={"backup": {"models": {"b1": {"continuation": "restart"}}}})
        async with Router(cfg) as router:
            chunks, error = await _read(await router.chat_stream(model="chat", **CHAT))
    assert error is not None and error.code == "continuation_diverged"
    assert "primary/m1" in error.message and "backup/b1" in error.message
    assert _text(chunks) == " ".join(REPLY.split()[:5])     # nothing spliced on
    assert "A completely" not in _text(chunks)


async def test_a_prefill_target_that_starts_over_is_spliced_like_a_restart():
    """A target that ignores the prefill and answers from the start: its repeat of the text
    the client has is dropped, only the rest is relayed."""
    async with sims_running(_sim("primary", "m1"), _sim("backup", "b1", prefill="ignore")) as (p, b):
        p.set_fault(Fault(cut_after=5))
        async with Router(_config(p, b)) as router:
            chunks, error = await _read(await router.chat_stream(model="chat", **CHAT))
    assert error is None and _text(chunks) == REPLY


async def test_a_tool_call_cut_midway_is_completed_only_when_reproduced():
    tool_sim = {"tool_args": ARGS, "tool_chunks": 6}
    async with sims_running(_sim("primary", "m1", **tool_sim),
                            _sim("backup", "b1", **tool_sim)) as (p, b):
        p.set_fault(Fault(cut_after=3))          # inside the arguments
        async with Router(_config(p, b)) as router:
            stream = await router.chat_stream(model="chat", tools=TOOLS, **CHAT)
            chunks, error = await _read(stream)
    assert error is None
    calls = [c for ch in chunks for c in ch["choices"][0].get("delta", {}).get("tool_calls", [])]
    assert sum(1 for c in calls if c.get("id")) == 1          # one call, its id once
    args = "".join(c.get("function", {}).get("arguments", "") for c in calls)
    assert orjson.loads(args) == orjson.loads(ARGS)
    assert _finishes(chunks) == ["tool_calls"]


async def test_a_tool_call_the_next_target_does_not_reproduce_is_never_a_success():
    other = '{"path": "README.md", "line": 1}'
    async with sims_running(_sim("primary", "m1", tool_args=ARGS, tool_chunks=6),
                            _sim("backup", "b1", tool_args=other, tool_chunks=6)) as (p, b):
        p.set_fault(Fault(cut_after=3))
        async with Router(_config(p, b)) as router:
            stream = await router.chat_stream(model="chat", tools=TOOLS, **CHAT)
            chunks, error = await _read(stream)
    assert error is not None and error.code == "continuation_diverged"
    assert not _finishes(chunks)


async def test_continuation_off_for_an_alias_keeps_the_inband_error():
    async with sims_running(_sim("primary", "m1"), _sim("backup", "b1")) as (p, b):
        p.set_fault(Fault(cut_after=5))
        chains = {"chat": {"targets": ["primary/m1", "backup/b1"], "continuation": False}}
        async with Router(_config(p, b, chains=chains)) as router:
            chunks, error = await _read(await router.chat_stream(model="chat", **CHAT))
    assert error is not None and error.code == "stream_cut" and error.provider == "primary"
    assert b.count() == 0


async def test_continuation_stops_after_max_attempts():
    async with sims_running(_sim("a", "m"), _sim("b", "m"), _sim("c", "m")) as (a, b, c):
        for sim in (a, b, c):
            sim.set_fault(Fault(cut_after=3))
        cfg = make_config({"a": a, "b": b, "c": c}, {"chat": ["a/m", "b/m", "c/m"]},
                          policy={"stall_timeout": 0.3},
                          sections={"continuation": {"max_attempts": 1}})
        async with Router(cfg) as router:
            chunks, error = await _read(await router.chat_stream(model="chat", **CHAT))
    assert error is not None and error.code == "stream_cut"
    assert c.count() == 0 and b.count() == 1


async def test_usage_adds_up_every_attempt_and_is_sent_only_when_asked():
    async with sims_running(_sim("primary", "m1"), _sim("backup", "b1", keep_bodies=True)) as (p, b):
        p.set_fault(Fault(cut_after=5))
        async with Router(_config(p, b)) as router:
            asked, _ = await _read(await router.chat_stream(
                model="chat", stream_options={"include_usage": True}, **CHAT))
            backup_body = b.log[-1].body
            p.set_fault(None)
            plain, _ = await _read(await router.chat_stream(model="chat", **CHAT))
    usage = [c["usage"] for c in asked if c.get("usage")]
    assert len(usage) == 1 and asked[-1]["choices"] == [] and asked[-1]["id"] == asked[0]["id"]
    # the backup's own count (the sim's arithmetic) plus the primary's partial answer, estimated
    rest = REPLY[len(backup_body["messages"][-1]["content"]):]
    backup_prompt = len(orjson.dumps(backup_body["messages"])) // 4
    assert usage[0]["prompt_tokens"] > backup_prompt
    assert usage[0]["completion_tokens"] > len(rest) // 4
    assert usage[0]["total_tokens"] == usage[0]["prompt_tokens"] + usage[0]["completion_tokens"]
    assert not [c for c in plain if c.get("usage")]            # not asked: not sent
    assert all(c["choices"] for c in plain)
