"""Talking to a running gateway's admin API (`status`, `providers`): where it listens and
its master key, read the way `serve` reads them (the config, the .env beside it)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ._common import fail, friendly_errors

__all__ = ["DEFAULT_CONFIG", "GatewayTarget", "call", "config_for_reading", "resolve_gateway"]

DEFAULT_CONFIG = Path("provider_config.yaml")
DEFAULT_KEY_ENV = "PROVIDER_FALLBACK_MASTER_KEY"


@dataclass(frozen=True, slots=True)
class GatewayTarget:
    base: str
    key: str | None = field(default=None, repr=False)
    key_env: str = DEFAULT_KEY_ENV
    dotenv: Path | None = None          # where the key was looked for besides the environment


def config_for_reading(path: Path) -> Config:
    """The config as `status`, `providers`, `events` and `report` need it: the .env beside
    it is read, and a provider key that is set nowhere does not stop a read-only command
    (the gateway has the keys, this command needs the port, the master key, the log dir)."""
    from ..config import load_config
    from ..doctor import load_for_doctor
    from ..errors import Facts

    loaded = load_for_doctor(path)
    if loaded.config is not None:
        return loaded.config
    with friendly_errors(Facts.of(config=path)):
        return load_config(path)       # raises the loader's precise error
    raise AssertionError("unreachable")  # pragma: no cover


def resolve_gateway(url: str | None, config: Path | None, key_env: str) -> GatewayTarget:
    """--url, else $PROVIDER_FALLBACK_URL, else the config's server.host/port (--config, or
    ./provider_config.yaml when it exists), else http://127.0.0.1:4100. The master key:
    $KEY_ENV, else the config's own master key (resolved from the environment and .env)."""
    key = os.environ.get(key_env) or None
    path = config if config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    cfg = config_for_reading(path) if path is not None else None
    dotenv = path.absolute().parent / ".env" if path is not None else None
    if key is None and cfg is not None:
        master = cfg.server.master_key
        if master is not None and not master.reveal().startswith("doctor-placeholder"):
            key = master.reveal()
        elif dotenv is not None:
            from ..config._env import EnvResolver

            key = EnvResolver.for_dir({}, dotenv.parent).lookup(key_env) or None
    if url:
        base = url.rstrip("/")
    elif os.environ.get("PROVIDER_FALLBACK_URL"):
        base = os.environ["PROVIDER_FALLBACK_URL"].rstrip("/")
    elif cfg is not None:
        host = "127.0.0.1" if cfg.server.host in ("0.0.0.0", "::") else cfg.server.host
        host = f"[{host}]" if ":" in host else host
        base = f"http://{host}:{cfg.server.port}"
    else:
        base = "http://127.0.0.1:4100"
    return GatewayTarget(base, key, key_env, dotenv)


def call(target: GatewayTarget, method: str, path: str,
         body: dict[str, Any] | None = None) -> Any:
    """One admin API call; every failure becomes a clean CLI error."""
    data = json.dumps(body or {}).encode() if method == "POST" else None
    req = urllib.request.Request(target.base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    if target.key:
        req.add_header("Authorization", f"Bearer {target.key}")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 - user-given gateway URL
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            err = json.loads(exc.read()).get("error", {})
        except ValueError:
            err = {}
        fix = None
        if exc.code == 401:
            where = f" or to {target.dotenv}" if target.dotenv else ""
            fix = (f"set {target.key_env} to the gateway's master key (in the environment"
                   f"{where}), or pass --config with the gateway's config file")
        raise fail(err.get("message", f"HTTP {exc.code}"), code=err.get("code", "gateway_error"),
                   fix=fix) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise fail(f"cannot reach the gateway at {target.base}: {reason}",
                   code="connection_refused",
                   fix="start it with `provider-fallback serve` (or `provider-fallback service "
                       "start`), or pass --url / --config") from None
