"""`provider-fallback reload`: a running gateway re-reads its config and `.env`."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import typer

from ._common import console, escape, fail
from ._providers import ConfigOpt, KeyEnvOpt, UrlOpt

__all__ = ["reload"]


def reload(url: UrlOpt = None, config: ConfigOpt = None,
           key_env: KeyEnvOpt = "PROVIDER_FALLBACK_MASTER_KEY",
           as_json: bool = typer.Option(False, "--json", help="Print the gateway's answer")) -> None:
    """Re-read the config file and .env of a running gateway and swap them in for new
    requests (in-flight ones finish on the old config). A bad file changes nothing and
    lists its problems; exit 1 then."""
    base = _base(url, config)
    answer = _post(base + "/admin/reload", key_env)
    if as_json:
        console.print_json(json.dumps(answer))
    elif answer.get("ok"):
        changed = {k: v for k, v in answer.get("changes", {}).items() if v}
        console.print(f"[green]reloaded[/] {escape(str(answer.get('file')))} "
                      f"(generation {answer.get('generation')})")
        for key, names in changed.items():
            console.print(f"  {key.replace('_', ' ')}: {escape(', '.join(names))}")
        if not changed:
            console.print("  no changes")
        for text in answer.get("warnings", []):
            console.print(f"[yellow]warning[/] {escape(text)}")
    else:
        console.print(f"[red]error[/] {escape('[config_error]')} {escape(str(answer.get('file')))}: the "
                      "running config stays; fix these and reload again:")
        for problem in answer.get("problems", []):
            console.print(f"  - {escape(problem)}")
    if not answer.get("ok"):
        raise typer.Exit(1)


def _base(url: str | None, config: Path | None) -> str:
    """Like `providers`' lookup, but the file may be the broken one being fixed: only its
    `server:` host and port are read."""
    if url:
        return url.rstrip("/")
    if os.environ.get("PROVIDER_FALLBACK_URL"):
        return os.environ["PROVIDER_FALLBACK_URL"].rstrip("/")
    if config is not None:
        import yaml

        try:
            server = (yaml.safe_load(config.read_text(encoding="utf-8-sig")) or {}).get("server")
        except (OSError, yaml.YAMLError, AttributeError):
            server = None
        server = server if isinstance(server, dict) else {}
        host = str(server.get("host", "127.0.0.1"))
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{host}:{server.get('port', 4100)}"
    return "http://127.0.0.1:4100"


def _post(url: str, key_env: str) -> dict[str, Any]:
    req = urllib.request.Request(url, data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    key = os.environ.get(key_env)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - user-given gateway URL
            return dict(json.loads(resp.read() or b"{}"))
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {}
        if exc.code == 422 and "problems" in body:
            return dict(body)
        err = body.get("error", {}) if isinstance(body, dict) else {}
        fix = f"export {key_env}=<master key>" if exc.code == 401 else None
        raise fail(err.get("message", f"HTTP {exc.code}"), code=err.get("code", "gateway_error"),
                   fix=fix) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise fail(f"cannot reach the gateway at {url}: {reason}", code="connection_refused",
                   fix="start it with `provider-fallback serve`, or pass --url") from None
