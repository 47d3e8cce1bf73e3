"""deploy/: the Prometheus rules pass promtool, and every metric the rules and the Grafana
dashboard use is one the gateway really exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest
from gateway_harness import CHAT, gateway_running, make_config, sims_running
from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
NAME = re.compile(r"\bprovider_[a-z_]+")


def test_promtool_accepts_the_rules():
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool missing in CI: .ci/run installs the prometheus package")
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    res = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


async def test_rules_and_dashboard_use_real_metric_names():
    used = set(NAME.findall(RULES.read_text()))
    dash = json.loads(DASHBOARD.read_text())
    for panel in dash["panels"]:
        for target in panel["targets"]:
            used |= set(NAME.findall(target["expr"]))
    async with sims_running({"name": "primary", "models": ["m"]}) as (p,):
        cfg = make_config({"primary": p}, {"chat": ["primary/m"]})
        async with gateway_running(cfg) as gw:
            client = AsyncOpenAI(base_url=gw.url, api_key="x", max_retries=0)
            await client.chat.completions.create(model="chat", **CHAT)
            await client.close()
            async with aiohttp.ClientSession() as s, s.get(gw.base_url + "/metrics") as r:
                text = await r.text()
    exported = set(NAME.findall(text))
    used = {re.sub(r"_(bucket|count|sum)$", "", n) for n in used}   # histogram series
    assert used and not (used - exported), sorted(used - exported)
