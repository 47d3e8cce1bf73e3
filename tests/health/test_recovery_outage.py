"""Outage and recovery over loopback, time-compressed: 503s for 3 s, quick ping every 0.5 s."""

from __future__ import annotations

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "bench_recovery", Path(__file__).resolve().parents[2] / "bench" / "bench_recovery.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


async def test_outage_is_invisible_and_primary_comes_back():
    fig = await bench.run_recovery(outage=3.0, quick_interval=0.5, rate=40, before=0.5, after=2.0)
    # every request during the outage was answered (by the fallback)
    assert fig["requests_during_outage"] > 30
    assert fig["served_during_outage"] == fig["requests_during_outage"]
    # the primary saw the failures that opened the circuit, then one trial per open period
    assert fig["open_periods"] >= 1
    assert fig["primary_attempts_during_outage"] <= fig["failure_threshold"] + fig["open_periods"]
    # and traffic went back to it after recovery (goal: within one quick-ping interval; a
    # loose bound here, the measured figure is reported by bench/bench_recovery.py)
    assert fig["recovery_to_primary_s"] is not None and fig["recovery_to_primary_s"] < 2.0
    assert fig["restored_events"] >= 1
