"""Config, environment and key checks: no network, fast enough to run at every `serve`."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..config import Config, load_config
from ..config._env import EnvResolver
from ..config._step_facts import provider_facts
from ..config._text import read_text_file
from ..errors import ConfigError, Facts
from ._findings import Finding, Severity, mask_key

__all__ = ["ConfigLoad", "check_keys", "load_for_doctor", "warnings_as_findings"]

_REF = re.compile(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLACEHOLDER = "doctor-placeholder-value"
_SECRET_LEAVES = ("api_key", "master_key")
# host suffix -> (expected key prefix, provider label)
KEY_PREFIXES: dict[str, tuple[str, str]] = {
    "api.groq.com": ("gsk_", "Groq"),
    "openrouter.ai": ("sk-or-", "OpenRouter"),
    "api.openai.com": ("sk-", "OpenAI"),
    "api.anthropic.com": ("sk-ant-", "Anthropic"),
}


@dataclass
class ConfigLoad:
    """The config as doctor sees it: loaded with placeholders for missing variables."""

    path: Path
    config: Config | None = None
    findings: list[Finding] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)      # variable -> first key path
    optional_missing: set[str] = field(default_factory=set)    # only used by optional providers
    raw: Any = None

    def key_missing(self, provider: str) -> str | None:
        """The unset variable behind this provider's api_key, if any."""
        if self.config is None:
            return None
        spec = self.config.providers.get(provider)
        source = spec.api_key_source if spec else None
        if source and source.startswith("os.environ/"):
            name = source.removeprefix("os.environ/")
            return name if name in self.missing else None
        if source:
            return next((n for n in _REF_NAMES(source) if n in self.missing), None)
        return None


def _REF_NAMES(text: str) -> list[str]:  # noqa: N802 - reads like the regex it wraps
    return [a or b for a, b in _REF.findall(text)]


def _references(data: Any, path: str = "", optional: bool = False
                ) -> Iterator[tuple[str, str, bool]]:
    """(key path, variable, inside an optional provider) for every env reference."""
    if isinstance(data, dict):
        if path.startswith("providers[") and path.count("[") == 1 and path.endswith("]"):
            optional = data.get("optional") is True
        for k, v in data.items():
            yield from _references(v, f"{path}.{k}" if path else str(k), optional)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _references(v, f"{path}[{i}]", optional)
    elif isinstance(data, str):
        for name in _REF_NAMES(data):
            yield path, name, optional


def load_for_doctor(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
                    ) -> ConfigLoad:
    """Validate the file, report each unset variable once, and still build a Config
    (placeholders stand in for unset variables) so the network checks can run."""
    env = dict(os.environ if environ is None else environ)
    load = ConfigLoad(Path(path))
    try:
        load.raw = yaml.safe_load(read_text_file(load.path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        load.raw = None  # load_config below reports it precisely
    resolver = EnvResolver.for_dir(env, load.path.absolute().parent)
    used_by_required: set[str] = set()
    for key_path, name, optional in _references(load.raw):
        value = resolver.lookup(name)
        if not optional:
            used_by_required.add(name)
        if value is None or (value == "" and key_path.endswith(_SECRET_LEAVES)):
            load.missing.setdefault(name, key_path)
    load.optional_missing = {n for n in load.missing if n not in used_by_required}
    for name, key_path in load.missing.items():
        optional = name in load.optional_missing
        where = f" (from .env too: {resolver.dotenv_path})" if resolver.dotenv_path else ""
        load.findings.append(Finding(
            "env", name, Severity.WARNING if optional else Severity.ERROR,
            f"{name} is not set{where}; used by {key_path}"
            + (" (optional provider: it will be skipped)" if optional else ""),
            "env_var_missing", facts=Facts.of(env_var=name, env_file=resolver.dotenv_path)))
    filled = {**env, **{n: _PLACEHOLDER for n in load.missing}}
    try:
        load.config = load_config(load.path, environ=filled)
    except ConfigError as exc:
        problems = getattr(exc, "problems", None) or [exc.message]
        for problem in problems:
            code = "literal_secret" if "literal secret" in problem else "config_error"
            load.findings.append(Finding("config", str(load.path), Severity.ERROR, problem, code))
        return load
    load.findings.append(Finding("config", str(load.path), Severity.OK,
                                 f"valid: {len(load.config.providers)} providers, "
                                 f"{len(load.config.chains)} models"))
    load.findings += warnings_as_findings(load.config, skip_missing=bool(load.missing))
    return load


def warnings_as_findings(config: Config, *, skip_missing: bool = False) -> list[Finding]:
    """The loader's warnings (skipped optional providers, no models) as findings."""
    out = []
    for text in config.warnings:
        if "not set (optional: true)" in text:
            if skip_missing:
                continue  # doctor already reported the variable itself
            out.append(Finding("env", "optional provider", Severity.WARNING, text,
                               "env_var_missing"))
        else:
            out.append(Finding("config", config.source or "config", Severity.WARNING, text,
                               "config_error"))
    return out


def expected_prefix(base_url: str) -> tuple[str, str] | None:
    host = (urlsplit(base_url).hostname or "").lower()
    for suffix, expected in KEY_PREFIXES.items():
        if host == suffix or host.endswith("." + suffix):
            return expected
    return None


def check_keys(config: Config, *, missing: Mapping[str, str] | None = None) -> list[Finding]:
    """Whitespace, quotes and provider prefix of every key; values shown only masked."""
    findings: list[Finding] = []
    missing = missing or {}
    for provider in config.providers.values():
        if provider.api_key is None:
            continue
        source = provider.api_key_source or "literal"
        if any(name in source for name in missing):
            continue
        findings += _inspect(f"providers.{provider.name}.api_key", source,
                             provider.api_key.reveal(), expected_prefix(provider.base_url),
                             provider_facts(provider))
    key = config.server.master_key
    if key is not None:
        source = config.server.master_key_source or "literal"
        if not any(name in source for name in missing):
            findings += _inspect("server.master_key", source, key.reveal(), None,
                                 Facts.of(env_var=_variable(source)))
    if not findings:
        findings.append(Finding("keys", "api keys", Severity.OK,
                                "no whitespace, quotes or wrong prefixes in the keys"))
    return findings


def _variable(source: str) -> str | None:
    names = _REF_NAMES(source)
    return names[0] if names else None


def _inspect(where: str, source: str, value: str, expected: tuple[str, str] | None,
             facts: Facts) -> list[Finding]:
    shown = f"{where} from {source} ({mask_key(value)})"
    out: list[Finding] = []
    core = value.strip()
    if core != value:
        out.append(Finding("keys", where, Severity.ERROR,
                           f"{shown} has leading/trailing whitespace or a newline",
                           "key_malformed", (f"remove the spaces/newline around the value of "
                                             f"{source.removeprefix('os.environ/')}",),
                           facts=facts))
    if len(core) >= 2 and core[0] in "'\"" or core[-1:] in ("'", '"'):
        out.append(Finding("keys", where, Severity.ERROR,
                           f"{shown} is wrapped in quotes (they become part of the key)",
                           "key_malformed", ("set the variable without quotes",), facts=facts))
    core = core.strip("'\"")
    if expected and core and not core.startswith(expected[0]):
        looks = next((label for prefix, label in KEY_PREFIXES.values()
                      if label != expected[1] and core.startswith(prefix) and len(prefix) > 3),
                     None)
        hint = f"; it looks like a {looks} key" if looks else ""
        out.append(Finding("keys", where, Severity.ERROR,
                           f"{shown} does not start with {expected[0]!r} as {expected[1]} keys "
                           f"do{hint}", "key_malformed", facts=facts))
    return out
