"""`init`: a starter provider_config.yaml and .env.example; never a secret in either."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, config_from_dict
from ._catalog import CATALOG, CHAINS, ProviderChoice

__all__ = ["InitPlan", "build_config", "custom_provider", "env_example", "referenced_variables",
           "render_yaml", "validate_plan", "with_models", "with_plan", "write_files"]

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_HEADER = """\
# provider-fallback config, written by `provider-fallback init`.
# Keys are read from the environment or the .env file beside this file (see .env.example);
# never write a key here. Check everything with: provider-fallback doctor
# To require a key from clients (needed off loopback), add under server:
#   master_key: os.environ/PROVIDER_FALLBACK_MASTER_KEY
"""


@dataclass
class InitPlan:
    """The user's answers: which providers (catalog or custom), which port."""

    providers: list[ProviderChoice] = field(default_factory=list)
    port: int = 4100
    # a single alias for custom/local-only setups, when no seed chain applies
    default_alias: str = "default"


def custom_provider(name: str, base_url: str, key_env: str | None,
                    models: Sequence[str]) -> ProviderChoice:
    """Any OpenAI-compatible URL; validated like the config loader validates it."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"provider name {name!r}: use letters, digits, '_', '.', '-'")
    if key_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env):
        raise ValueError(f"{key_env!r} is not a valid environment variable name")
    return ProviderChoice(name, f"custom ({base_url})", base_url.rstrip("/"), key_env,
                          "the key for " + base_url, models=tuple(m for m in models if m))


def build_config(plan: InitPlan) -> dict[str, Any]:
    """The config as a dict in the file's shape (keys only as os.environ/ references)."""
    by_name = {p.name: p for p in plan.providers}
    providers = []
    for p in plan.providers:
        entry: dict[str, Any] = {"name": p.name, "base_url": p.base_url}
        if p.key_env:
            entry["api_key"] = f"os.environ/{p.key_env}"
        if p.plan:
            entry["plan"] = p.plan
        entry.update(p.extra)
        providers.append(entry)
    models: dict[str, list[str]] = {}
    for alias, targets in CHAINS.items():
        chain = [f"{prov}/{m}" for prov, model in targets
                 if (m := _chosen_model(by_name.get(prov), model)) is not None]
        if chain:
            models[alias] = list(dict.fromkeys(chain))
    # providers not in any seed chain (custom URLs, or a chain-less pick) get their own alias
    used = {t.split("/", 1)[0] for chain in models.values() for t in chain}
    extra = [f"{p.name}/{m}" for p in plan.providers if p.name not in used for m in p.models]
    if extra:
        alias = plan.default_alias if plan.default_alias not in models else "default-local"
        models[alias] = extra
    return {"server": {"host": "127.0.0.1", "port": plan.port},
            "providers": providers, "models": models}


def _chosen_model(choice: ProviderChoice | None, model: str) -> str | None:
    """`model` if the user kept it; their own pick where they replaced the catalog default."""
    if choice is None or not choice.models:
        return None
    if model in choice.models:
        return model
    default = CATALOG.get(choice.name)
    if default is not None and default.models and model == default.models[0]:
        return choice.models[0]
    return None


def render_yaml(data: dict[str, Any]) -> str:
    return _HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                                    allow_unicode=True)


def env_example(plan: InitPlan) -> str:
    lines = ["# Copy to .env (same folder as provider_config.yaml) and fill in the values.",
             "# .env holds secrets: keep it out of version control.", ""]
    for p in plan.providers:
        if p.key_env:
            lines += [f"# {p.label}: {p.key_hint}", f"{p.key_env}=", ""]
    lines += ["# Only with `master_key: os.environ/PROVIDER_FALLBACK_MASTER_KEY` under server:",
              "# (required when the gateway listens beyond 127.0.0.1). Clients send it as",
              "# `Authorization: Bearer <key>`.",
              "# PROVIDER_FALLBACK_MASTER_KEY=", ""]
    return "\n".join(lines)


def referenced_variables(plan: InitPlan) -> list[str]:
    return [p.key_env for p in plan.providers if p.key_env]


def validate_plan(plan: InitPlan) -> Config:
    """The generated config through the real loader, variables filled with stand-ins."""
    stand_ins = {name: "init-validation-placeholder" for name in referenced_variables(plan)}
    return config_from_dict(build_config(plan), source="provider_config.yaml", environ=stand_ins)


def write_files(plan: InitPlan, directory: Path, *, force: bool = False,
                config_name: str = "provider_config.yaml") -> tuple[Path, Path]:
    """Write the config and .env.example; refuse to overwrite unless `force`."""
    validate_plan(plan)   # raises ConfigError before anything is written
    config_path, env_path = directory / config_name, directory / ".env.example"
    if not force:
        for path in (config_path, env_path):
            if path.exists():
                raise FileExistsError(path)
    directory.mkdir(parents=True, exist_ok=True)
    config_path.write_text(render_yaml(build_config(plan)), encoding="utf-8")
    env_path.write_text(env_example(plan), encoding="utf-8")
    return config_path, env_path


def with_models(choice: ProviderChoice, models: Sequence[str]) -> ProviderChoice:
    return replace(choice, models=tuple(models))


def with_plan(choice: ProviderChoice, plan: str) -> ProviderChoice:
    """`choice` with `plan:` set; a custom provider only takes `free`. Raises ValueError
    naming the plans."""
    plans = choice.plans or ("free",)
    if plan not in plans:
        raise ValueError(f"{choice.name}: plan {plan!r} is not one of {', '.join(plans)}")
    return replace(choice, plan=plan)

