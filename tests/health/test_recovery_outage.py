"""bench/bench_recovery.py's scenarios, time-compressed 10x (its --quick): a smoke run of the
figures' code on every test run. The figures themselves are measured by the script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "bench_recovery", Path(__file__).resolve().parents[2] / "bench" / "bench_recovery.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


async def test_a_503_outage_is_invisible_and_the_primary_comes_back():
    fig = await bench.scenario("503", outage=2.0, rate=40, scale=0.1, after=3.0)
    assert fig["requests_during_outage"] > 30
    assert fig["answered"] == fig["requests"]         # every request answered
    assert fig["open_periods"] >= 1
    # after the first strike the primary saw one trial per open period, no more
    assert fig["primary_failures_during_outage"] <= fig["open_periods"] + 1
    assert fig["recovery_to_primary_s"] is not None    # and traffic went back to it


async def test_the_flapping_primary_changes_state_at_most_twice_per_open_period():
    fig = await bench.scenario("flap", outage=2.0, rate=40, scale=0.1, after=3.0)
    assert fig["answered"] == fig["requests"]
    assert fig["open_periods"] >= 1
    assert fig["state_changes_during_outage"] <= 2 * fig["open_periods"] + 1
