"""Memory the gateway keeps per request: bytes held through an attempt are of their own size.

orjson returns the buffer it grew (4 KiB for a 60-byte body, about 13 times the text for
a 10 kB one): an upstream request body held while the request waits for a pooled
connection must not carry that. Sizes are read with tracemalloc (allocations, not time).
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from provider_fallback import _json
from provider_fallback.providers._anthropic import ANTHROPIC
from provider_fallback.providers._dialects import OPENAI

SMALL = {"model": "m1", "messages": [{"role": "user", "content": "Write a haiku."}],
         "stream": True}
LARGE = {"model": "m1", "messages": [{"role": "user", "content": "x" * 10_000}]}


def allocated(make: Any) -> tuple[Any, int]:
    """What `make()` returns and the bytes still allocated for it afterwards."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        value = make()
        return value, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("body", [SMALL, LARGE], ids=["small", "10kB"])
def test_dumps_kept_is_dumps_in_its_own_size(body: dict[str, Any]) -> None:
    kept, size = allocated(lambda: _json.dumps_kept(body))
    assert kept == _json.dumps(body)
    assert size <= len(kept) + 256


@pytest.mark.parametrize("body", [SMALL, LARGE], ids=["small", "10kB"])
def test_upstream_bodies_are_of_their_own_size(body: dict[str, Any]) -> None:
    for dialect in (OPENAI, ANTHROPIC):
        payload, size = allocated(lambda d=dialect: d.encode(body))
        assert _json.loads(payload)
        assert size <= len(payload) + 256, dialect


# -- what a gateway process keeps loaded ---------------------------------------------

def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (a subprocess: this
    test process has imported everything already)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


# imported by other commands only (tables, the simulator's web server, service files;
# aiohttp: the simulator and the demo, since the gateway speaks HTTP with its own client)
NOT_FOR_SERVE = ("rich", "aiohttp", "provider_fallback.sim", "plistlib", "xml.sax")


def _offenders(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_the_command_line_imports_no_rich_nor_simulator() -> None:
    """`provider-fallback serve` imports the command line, then stays up for good: what
    only other commands use is imported by them, when they run."""
    assert _offenders(_loaded_after("import provider_fallback.cli"), NOT_FOR_SERVE) == []


def test_the_server_imports_no_command_line() -> None:
    """(click comes with uvicorn: its own command line.)"""
    loaded = _loaded_after("import provider_fallback.server")
    assert _offenders(loaded, NOT_FOR_SERVE + ("typer", "provider_fallback.cli")) == []


def test_the_console_imports_rich_on_first_use() -> None:
    """The console is rich's, made on first use."""
    loaded = _loaded_after("from provider_fallback.cli._common import console\n"
                           "console.print('[bold]x[/]')")
    assert "rich.console" in loaded


def test_the_telemetry_writer_keeps_a_small_page_cache(tmp_path: Any) -> None:
    """It appends: the last pages are all it touches. A reader keeps SQLite's default."""
    from provider_fallback.telemetry._store import WRITER_CACHE_KIB, TelemetryStore

    writer = TelemetryStore(tmp_path / "t.sqlite3")
    reader = TelemetryStore(tmp_path / "t.sqlite3", readonly=True)
    try:
        assert writer._db.execute("PRAGMA cache_size").fetchone()[0] == -WRITER_CACHE_KIB
        assert reader._db.execute("PRAGMA cache_size").fetchone()[0] == -2000
    finally:
        writer.close()
        reader.close()


# -- after a burst -------------------------------------------------------------------

def test_a_burst_is_cleaned_up_once_nothing_is_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    from provider_fallback import _memory

    collected: list[int] = []
    monkeypatch.setattr(_memory.gc, "collect", lambda: collected.append(1) or 0)
    trim = _memory.BurstTrim(burst=3)
    for n in (1, 2, 3):
        trim.rose(n)
    trim.fell(2)
    trim.fell(1)
    assert collected == []              # still in flight: never on a busy gateway
    trim.fell(0)
    assert collected == [1] and trim.done == 1
    for n in (1, 2, 3):                 # a second burst at once: not again within GAP
        trim.rose(n)
    trim.fell(0)
    assert trim.done == 1
    small = _memory.BurstTrim(burst=3)
    small.rose(1)
    small.rose(2)
    small.fell(0)                       # not a burst
    assert small.done == 0


def test_malloc_trim_is_a_no_op_where_there_is_none() -> None:
    import sys

    from provider_fallback import _memory

    assert _memory.malloc_trim() in (True, False)
    if sys.platform == "win32" or sys.platform == "darwin":
        assert _memory.malloc_trim() is False
