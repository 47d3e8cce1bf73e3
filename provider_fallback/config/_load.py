"""Reading a config: file -> YAML -> env references -> pydantic pieces -> frozen Config.

Every problem found on the way is collected; one ConfigError reports them all.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ._compile import Parsed, compile_config
from ._env import EnvResolver, find_literal_secrets
from ._model import Config
from ._problems import Problem, did_you_mean, raise_problems
from ._schema import (
    TOP_LEVEL_KEYS,
    AlertsModel,
    BudgetModel,
    ChainModel,
    CircuitModel,
    ContinuationModel,
    HealthModel,
    LoggingModel,
    MetricsModel,
    PolicyModel,
    ProviderModel,
    QueueModel,
    ServerModel,
    StateModel,
    TargetModel,
    TelemetryModel,
    validate,
)
from ._text import NOT_TEXT_FIX, read_text_file

__all__ = ["config_from_dict", "load_config"]

_YAML_FIX = ("fix the YAML syntax: consistent indentation with spaces, `key: value` pairs, "
             "quotes around values containing ': ' or ' #'")
_TARGET_EXAMPLE = "e.g. `- groq/llama-3.3-70b-versatile`"


def load_config(path: str | os.PathLike[str], *,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and compile a YAML config file.

    References (`os.environ/NAME`, `${NAME}`) resolve from `environ` (default: the process
    environment), then from the `.env` file beside the config. Raises ConfigError listing
    every problem, each with its key path and a fix.
    """
    file = Path(path)
    source = str(file)
    try:
        text = read_text_file(file)
    except FileNotFoundError:
        raise_problems([Problem(None, "config file not found", _init_fix(file))], source)
    except IsADirectoryError:
        raise_problems([Problem(None, "is a directory, not a config file",
                                "pass the path of the YAML file")], source)
    except UnicodeDecodeError as exc:
        raise_problems([Problem(None, f"the config file is not UTF-8 or UTF-16 text ({exc})",
                                NOT_TEXT_FIX)], source)
    except OSError as exc:
        raise_problems([Problem(None, f"cannot read the config file: {exc}",
                                "check the path and the file's permissions")], source)
    raw = _parse_yaml(text, source)
    if raw is None:
        raise_problems([Problem(None, "the config file is empty",
                                "add `providers:` and `models:` sections")], source)
    return _build(raw, source=source, base_dir=file.absolute().parent, environ=environ)


def _init_fix(file: Path) -> str:
    """The command that creates the missing file (`init` writes provider_config.yaml)."""
    where = "" if file.parent in (Path(""), Path(".")) else f" --dir {file.parent}"
    made = file.parent / "provider_config.yaml"
    then = "" if file.name == "provider_config.yaml" else f", then use --config {made}"
    return (f"create it with `provider-fallback init{where}` (writes {made} and "
            f".env.example{then}), or pass --config with the right path")


def config_from_dict(data: Mapping[str, Any], *, source: str | None = None,
                     base_dir: Path | None = None,
                     environ: Mapping[str, str] | None = None) -> Config:
    """Validate and compile a config given as a dict in the YAML's shape (for library use).

    `.env` is read from `base_dir` only when one is given.
    """
    return _build(data, source=source, base_dir=base_dir, environ=environ)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # only PyYAML's description, never the snippet: the line may hold a key
        raise_problems([Problem(None, f"invalid YAML{where}: {exc.problem or exc.context}",
                                _YAML_FIX)], source)
    except yaml.YAMLError as exc:
        raise_problems([Problem(None, f"invalid YAML: {type(exc).__name__}", _YAML_FIX)], source)


def _build(raw: Any, *, source: str | None, base_dir: Path | None,
           environ: Mapping[str, str] | None) -> Config:
    if not isinstance(raw, Mapping):
        raise_problems([Problem(None, f"the top level must be a mapping, got "
                                      f"{type(raw).__name__}",
                                "start the file with `providers:` and `models:` sections")], source)
    problems: list[Problem] = []
    if raw.get("allow_literal_secrets") is not True:
        problems += find_literal_secrets(dict(raw))
    resolver = EnvResolver.for_dir(os.environ if environ is None else environ, base_dir)
    parsed = Parsed()
    problems += _parse(raw, resolver, parsed)
    problems += resolver.problems
    parsed.warnings += resolver.warnings
    problems += [Problem(path, f"environment variable {name} {why}",
                         resolver.missing_fix(name, optional_hint=path.startswith("providers[")))
                 for path, name, why in resolver.missing]
    parsed.sources = dict(resolver.sources)
    config, cross = compile_config(parsed, source)
    problems += cross
    if problems or config is None:
        raise_problems(problems, source)
    return config


def _parse(raw: Mapping[Any, Any], resolver: EnvResolver, parsed: Parsed) -> list[Problem]:
    problems: list[Problem] = []
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            problems.append(Problem(None, f"unknown top-level key '{key}'"
                                          f"{did_you_mean(str(key), TOP_LEVEL_KEYS)}",
                                    f"use only {', '.join(TOP_LEVEL_KEYS)}"))
    allow = raw.get("allow_literal_secrets", False)
    if not isinstance(allow, bool):
        problems.append(Problem("allow_literal_secrets", "must be true or false"))

    server_data = resolver.resolve(raw.get("server") or {}, "server")
    server, errs = validate(ServerModel, server_data, "server",
                            sensitive=frozenset(resolver.sources))
    problems += _without_missing(errs, resolver)
    parsed.server = server or _bind_fields(server_data) or parsed.server
    policy, errs = validate(PolicyModel, resolver.resolve(raw.get("policy") or {}, "policy"),
                            "policy", sensitive=frozenset(resolver.sources))
    problems += _without_missing(errs, resolver)
    parsed.policy = policy or parsed.policy

    for section, schema in (("health", HealthModel), ("circuit", CircuitModel),
                            ("budget", BudgetModel), ("queue", QueueModel),
                            ("telemetry", TelemetryModel), ("metrics", MetricsModel),
                            ("alerts", AlertsModel), ("logging", LoggingModel),
                            ("state", StateModel), ("continuation", ContinuationModel)):
        data = raw.get(section)
        if section == "continuation" and isinstance(data, bool):
            data = {"enabled": data}   # `continuation: off`
        value, errs = validate(schema, resolver.resolve(data or {}, section), section,
                               sensitive=frozenset(resolver.sources))
        problems += _without_missing(errs, resolver)
        if value is not None:
            setattr(parsed, section, value)

    problems += _parse_providers(raw.get("providers"), resolver, parsed)
    problems += _parse_models(raw.get("models"), resolver, parsed)
    return problems


def _bind_fields(server: Any) -> ServerModel | None:
    """Host and key of an otherwise invalid `server:`, so the exposure check still runs."""
    if not isinstance(server, dict):
        return None
    host, key = server.get("host", "127.0.0.1"), server.get("master_key")
    if isinstance(host, str) and isinstance(key, str | None):
        return ServerModel.model_construct(host=host, master_key=key)
    return None


def _parse_providers(entries: Any, resolver: EnvResolver, parsed: Parsed) -> list[Problem]:
    if entries is None:
        return [Problem(None, "missing required key 'providers'",
                        "add a `providers:` list, each entry with `name:` and `base_url:`")]
    if not isinstance(entries, list):
        return [Problem("providers", "must be a list of providers",
                        "write each provider as `- name: ...` with `base_url: ...` below it")]
    problems: list[Problem] = []
    for i, entry in enumerate(entries):
        path = f"providers[{i}]"
        before = len(resolver.missing)
        resolved = resolver.resolve(entry, path)
        name = entry.get("name") if isinstance(entry, dict) else None
        label = name if isinstance(name, str) else path
        missing = resolver.missing[before:]
        if missing and isinstance(resolved, dict):
            missing = _spare_keys(resolved, path, missing, resolver, before, parsed, label)
        if missing and isinstance(entry, dict) and entry.get("optional") is True:
            del resolver.missing[before:]
            variables = ", ".join(sorted({var for _, var, _ in missing}))
            parsed.skipped[label] = variables
            parsed.warnings.append(f"provider '{label}' skipped: {variables} not set "
                                   f"(optional: true)")
            continue
        model, errs = validate(ProviderModel, resolved, path,
                               sensitive=frozenset(resolver.sources))
        if model is None:
            problems += _without_missing(errs, resolver)
            if isinstance(name, str):
                parsed.invalid_provider_names.add(name)
            continue
        parsed.providers.append((i, model))
    return problems


def _spare_keys(resolved: dict[str, Any], path: str, missing: list[tuple[str, str, str]],
                resolver: EnvResolver, before: int, parsed: Parsed,
                label: str) -> list[tuple[str, str, str]]:
    """Of several keys (`api_key: [...]`), those whose variable is unset are left out with
    a warning, as long as one is set; the rest of `missing` is returned."""
    keys = resolved.get("api_key")
    if not isinstance(keys, list) or len(keys) < 2:
        return missing
    prefix = f"{path}.api_key["
    gone = {int(p[len(prefix):-1]) for p, _, _ in missing if p.startswith(prefix)}
    if not gone or len(gone) == len(keys):
        return missing
    kept = [i for i in range(len(keys)) if i not in gone]
    resolved["api_key"] = [keys[i] for i in kept]
    old = {i: resolver.sources.pop(f"{prefix}{i}]", None) for i in range(len(keys))}
    for new, i in enumerate(kept):
        if old[i] is not None:
            resolver.sources[f"{prefix}{new}]"] = old[i]  # type: ignore[assignment]
    rest = [m for m in missing if not m[0].startswith(prefix)]
    resolver.missing[before:] = rest
    variables = ", ".join(sorted({var for p, var, _ in missing if p.startswith(prefix)}))
    parsed.warnings.append(f"provider '{label}': {variables} not set; it uses "
                           f"{len(keys) - len(gone)} of its {len(keys)} keys")
    return rest


def _parse_models(models: Any, resolver: EnvResolver, parsed: Parsed) -> list[Problem]:
    if models is None:
        parsed.warnings.append("no `models:` section: only provider/model pass-through works")
        return []
    if not isinstance(models, dict):
        return [Problem("models", "must be a mapping of alias -> list of targets",
                        f"write `models:` then `  my-alias:` and its targets, {_TARGET_EXAMPLE}")]
    problems: list[Problem] = []
    for alias, entries in models.items():
        path = f"models.{alias}"
        resolved = resolver.resolve(entries, path)
        if entries is None or entries == []:
            problems.append(Problem(path, "the chain is empty",
                                    f"list at least one target, {_TARGET_EXAMPLE}"))
            continue
        if isinstance(resolved, dict):   # {targets: [...], continuation: off}
            options, errs = validate(ChainModel, resolved, path,
                                     sensitive=frozenset(resolver.sources))
            problems += _without_missing(errs, resolver)
            if options is None:
                continue
            parsed.chain_continuation[str(alias)] = options.continuation
            resolved = options.targets
            path = f"{path}.targets"
        if not isinstance(resolved, list) or not resolved:
            problems.append(Problem(path, "must be a list of targets",
                                    f"write one target per line, {_TARGET_EXAMPLE}"))
            continue
        chain: list[tuple[int, TargetModel | None]] = []
        for j, item in enumerate(resolved):
            target, errs = validate(TargetModel, item, f"{path}[{j}]",
                                    sensitive=frozenset(resolver.sources))
            problems += _without_missing(errs, resolver)
            chain.append((j, target))
        parsed.chains[str(alias)] = chain
    return problems


def _without_missing(problems: list[Problem], resolver: EnvResolver) -> list[Problem]:
    """Drop validation complaints about values whose env variable is missing (reported once)."""
    missing = {path for path, _, _ in resolver.missing}
    return [p for p in problems if p.key not in missing]
