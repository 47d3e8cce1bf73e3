"""Real coding agents through the gateway, offline: Claude Code (`claude -p`, Anthropic
Messages) and Codex CLI (`codex exec`, OpenAI Responses) each do one small task (write a
file with their own tool) through a chain whose primary is dead and whose fallback is a
scripted OpenAI-compatible sim. What the agent's requests became upstream is saved under
artifacts/agents/. Marked `agents`: `python -m pytest -m agents` (skipped without the CLI).

Install: `npm install -g @anthropic-ai/claude-code @openai/codex`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import gateway_running, make_config, sims_running

from provider_fallback.sim import SimReply, ToolCall

pytestmark = pytest.mark.agents
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "agents"
# Claude Code offline: no telemetry, error reports, update checks or other side traffic
CLAUDE_OFFLINE = {"DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
                  "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}


def needs(cli: str) -> None:
    if shutil.which(cli) is None:
        pytest.skip(f"`{cli}` is not installed (npm install -g @anthropic-ai/claude-code @openai/codex)")


async def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 180) -> tuple[int, str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
            "NO_PROXY": "127.0.0.1,localhost"}
    proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env={**base, **env},
                                                stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode("utf-8", "replace")


def save(name: str, sim: Any, output: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rows = [{"path": r.path, "status": r.status, "stream": r.stream, "body": r.body}
            for r in sim.log]
    (ARTIFACTS / f"{name}_upstream.json").write_text(json.dumps(rows, indent=1), "utf-8")
    (ARTIFACTS / f"{name}_output.txt").write_text(output, "utf-8")


def tool_turns(body: dict[str, Any]) -> int:
    return sum(1 for m in body["messages"] if m["role"] == "tool")


async def test_claude_code_writes_a_file_through_a_dead_primary(tmp_path):
    needs("claude")
    target = tmp_path / "work" / "hello.txt"
    target.parent.mkdir()

    def script(body: dict[str, Any]) -> SimReply | None:
        if not body.get("tools"):
            return None   # side requests (titles, summaries) get the canned answer
        if tool_turns(body):
            return SimReply(text="Done: hello.txt is written.")
        return SimReply(text="Writing the file.", tool_calls=(ToolCall(
            "Write", {"file_path": str(target), "content": "hello from the gateway\n"},
            "toolu_01"),))

    async with sims_running({"name": "primary", "models": ["m1"]},
                            {"name": "backup", "models": ["b1"], "keep_bodies": True,
                             "responder": script}) as (primary, backup):
        await primary.close_listener()
        cfg = make_config({"primary": primary, "backup": backup},
                          {"chat": ["primary/m1", "backup/b1"]}, policy={"timeout": 60})
        async with gateway_running(cfg) as gw:
            home = tmp_path / "home"
            home.mkdir()
            code, output = await run(
                ["claude", "-p", "Create hello.txt containing a greeting",
                 "--permission-mode", "acceptEdits", "--model", "chat"],
                target.parent, {"HOME": str(home), "ANTHROPIC_BASE_URL": gw.base_url,
                                "ANTHROPIC_API_KEY": "sk-ant-unused", **CLAUDE_OFFLINE})
    save("claude_code", backup, output)
    assert code == 0, output
    assert target.read_text() == "hello from the gateway\n"
    assert "Done: hello.txt is written." in output
    turns = [r.body for r in backup.log if r.body and r.body.get("tools")]
    assert len(turns) >= 2 and turns[-1]["messages"][-1]["role"] == "tool"
    assert turns[-1]["messages"][-1]["tool_call_id"] == "toolu_01"


CODEX_CONFIG = """\
model = "chat"
model_provider = "gateway"

[model_providers.gateway]
name = "provider-fallback"
base_url = "{url}"
env_key = "PROVIDER_FALLBACK_KEY"
wire_api = "responses"
"""


def codex_call(tools: list[dict[str, Any]], command: str) -> ToolCall:
    """Codex names its shell tool differently across versions."""
    names = {t["function"]["name"] for t in tools}
    if "exec_command" in names:
        return ToolCall("exec_command", {"cmd": command}, "call_01")
    if "shell_command" in names:
        return ToolCall("shell_command", {"command": command}, "call_01")
    return ToolCall("shell", {"command": ["bash", "-lc", command]}, "call_01")


async def test_codex_runs_a_command_through_a_dead_primary(tmp_path):
    needs("codex")
    work = tmp_path / "work"
    work.mkdir()

    def script(body: dict[str, Any]) -> SimReply | None:
        if not body.get("tools"):
            return None
        if tool_turns(body):
            return SimReply(text="Done: hello.txt is written.")
        return SimReply(tool_calls=(codex_call(body["tools"], "echo hello > hello.txt"),))

    async with sims_running({"name": "primary", "models": ["m1"]},
                            {"name": "backup", "models": ["b1"], "keep_bodies": True,
                             "responder": script}) as (primary, backup):
        await primary.close_listener()
        cfg = make_config({"primary": primary, "backup": backup},
                          {"chat": ["primary/m1", "backup/b1"]}, policy={"timeout": 60})
        async with gateway_running(cfg) as gw:
            codex_home = tmp_path / "codex"
            codex_home.mkdir()
            (codex_home / "config.toml").write_text(CODEX_CONFIG.format(url=gw.url), "utf-8")
            code, output = await run(
                ["codex", "exec", "--skip-git-repo-check",
                 "--dangerously-bypass-approvals-and-sandbox", "create hello.txt containing hello"],
                work, {"HOME": str(tmp_path), "CODEX_HOME": str(codex_home),
                       "PROVIDER_FALLBACK_KEY": "unused"})
    save("codex", backup, output)
    assert code == 0, output
    assert (work / "hello.txt").read_text() == "hello\n"
    assert "Done: hello.txt is written." in output
    turns = [r.body for r in backup.log if r.body and r.body.get("tools")]
    assert turns[-1]["messages"][-1]["role"] == "tool"
    assert turns[-1]["messages"][-1]["tool_call_id"] == "call_01"
