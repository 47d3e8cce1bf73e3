"""`import-litellm`: a LiteLLM proxy config converted to ours, with a report of what did not map.

model_list deployments become providers (one per distinct base URL + key reference) and
targets; model groups become chains; `fallbacks`, `context_window_fallbacks`,
`content_policy_fallbacks` and `default_fallbacks` extend the chains; `num_retries`,
`allowed_fails`, `cooldown_time` and timeouts become policy/circuit settings. Literal keys
are never copied: they are replaced by `os.environ/` references and reported.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..config._env import is_env_reference

__all__ = ["ImportNote", "ImportResult", "convert_litellm"]

# LiteLLM provider prefix -> (our provider name, base_url, conventional key variable)
KNOWN: dict[str, tuple[str, str, str | None]] = {
    "groq": ("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "openrouter": ("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "openai": ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "deepseek": ("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "mistral": ("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "together_ai": ("together", "https://api.together.xyz/v1", "TOGETHERAI_API_KEY"),
    "fireworks_ai": ("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "cerebras": ("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
    "ollama": ("ollama", "http://localhost:11434/v1", None),
    "ollama_chat": ("ollama", "http://localhost:11434/v1", None),
    "hosted_vllm": ("vllm", "http://localhost:8000/v1", None),
    "lm_studio": ("lmstudio", "http://localhost:1234/v1", None),
}
# codes LiteLLM's single cooldown_time stands for (transient upstream failures)
COOLDOWN_CODES = ("rate_limit", "server_error", "bad_gateway", "service_unavailable",
                  "gateway_timeout", "overloaded", "timeout_total", "connection_error")
_PARAMS_MAPPED = {"model", "api_base", "base_url", "api_key", "rpm", "tpm", "timeout",
                  "stream_timeout", "order"}
_ROUTER_MAPPED = {"fallbacks", "context_window_fallbacks", "content_policy_fallbacks",
                  "default_fallbacks", "num_retries", "allowed_fails", "cooldown_time", "timeout"}
_LITELLM_MAPPED = _ROUTER_MAPPED | {"request_timeout"}
_GENERAL_MAPPED = {"master_key"}
# what local servers accept as "a key" because LiteLLM's client insists on one (Ollama's
# docs say api_key: "ollama", vLLM's "EMPTY", LiteLLM's examples "sk-1234")
_PLACEHOLDER_KEY = re.compile(
    r"(?i)ollama|lm-?studio|vllm|empty|none|null|dummy|fake|anything|placeholder|test|key|x+"
    r"|not[-_ ]?needed|no[-_ ]?key|unused|sk-\d{1,8}|sk-x+|-")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "host.docker.internal")


@dataclass(frozen=True, slots=True)
class ImportNote:
    """Something the user should know: a registry code, where, what happened."""

    code: str          # litellm_setting_unmapped | literal_secret | config_error
    where: str
    message: str


@dataclass
class ImportResult:
    config: dict[str, Any]
    notes: list[ImportNote] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)   # env variables the output references


@dataclass
class _Provider:
    name: str
    base_url: str
    api_key: str | None


class _Converter:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.notes: list[ImportNote] = []
        self.providers: dict[tuple[str, str | None], _Provider] = {}
        self.groups: dict[str, list[dict[str, Any]]] = {}
        self.contexts: dict[str, int] = {}

    def note(self, code: str, where: str, message: str) -> None:
        self.notes.append(ImportNote(code, where, message))

    # -- secrets ------------------------------------------------------------------
    def secret(self, value: Any, where: str, suggested: str) -> str | None:
        if value is None or value == "":
            return None
        text = str(value).strip()
        if is_env_reference(text):
            return text
        self.note("literal_secret", where, f"a literal key was not copied; the output reads "
                                           f"os.environ/{suggested} instead: put the value in "
                                           f".env and rotate it if the file was shared")
        return f"os.environ/{suggested}"

    # -- deployments --------------------------------------------------------------
    def provider_for(self, params: Mapping[str, Any], where: str) -> tuple[str, str] | None:
        raw_model = str(params.get("model") or "")
        prefix, sep, model = raw_model.partition("/")
        if not sep:
            prefix, model = "openai", raw_model
        known = KNOWN.get(prefix)
        base = params.get("api_base") or params.get("base_url")
        if known is None and not base:
            self.note("litellm_setting_unmapped", f"{where}.model",
                      f"provider '{prefix}' is not OpenAI-compatible or has no api_base; "
                      f"deployment skipped (put it behind an OpenAI-compatible endpoint)")
            return None
        name, default_base, key_env = known or (prefix, "", None)
        base_url = str(base or default_base).rstrip("/")
        custom = bool(base) and (known is None or base_url != default_base)
        if custom:
            host = (urlsplit(base_url).hostname or "custom").split(".")[0]
            name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{name}-{host}")
        env_name = f"{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_API_KEY"
        suggested = env_name if custom or not key_env else key_env
        raw_key = params.get("api_key")
        if _is_local(base_url) and isinstance(raw_key, str) \
                and _PLACEHOLDER_KEY.fullmatch(raw_key.strip()):
            self.note("litellm_setting_unmapped", f"{where}.api_key",
                      f"the placeholder key {raw_key.strip()!r} of a local server is not "
                      "needed: the provider gets no key")
            raw_key = None
        key = self.secret(raw_key, f"{where}.api_key", suggested)
        if key is None and key_env and prefix in KNOWN and not base:
            key = f"os.environ/{key_env}"   # LiteLLM reads the conventional variable itself
        slot = (base_url, key)
        if slot not in self.providers:
            taken = {p.name for p in self.providers.values()}
            unique, n = name, 2
            while unique in taken:
                unique, n = f"{name}-{n}", n + 1
            self.providers[slot] = _Provider(unique, base_url, key)
        return self.providers[slot].name, model

    def deployments(self) -> None:
        model_list = self.data.get("model_list") or []
        if not isinstance(model_list, list):
            self.note("config_error", "model_list", "not a list; nothing imported")
            return
        for i, entry in enumerate(model_list):
            where = f"model_list[{i}]"
            if not isinstance(entry, Mapping) or not entry.get("model_name"):
                self.note("config_error", where, "no model_name; skipped")
                continue
            params = entry.get("litellm_params") or {}
            found = self.provider_for(params, f"{where}.litellm_params")
            if found is None:
                continue
            provider, model = found
            target: dict[str, Any] = {"provider": provider, "model": model}
            limits = {k: int(params[k]) for k in ("rpm", "tpm") if params.get(k)}
            if limits:
                target["limits"] = limits
            if params.get("timeout"):
                target["timeout"] = float(params["timeout"])
            if params.get("stream_timeout"):
                target["ttft_timeout"] = float(params["stream_timeout"])
            info = entry.get("model_info") or {}
            context = info.get("max_input_tokens") or info.get("max_tokens")
            if isinstance(context, int) and context > 0:
                target["context"] = context
            if params.get("order") is not None:
                target["priority"] = int(params["order"])
            for key in sorted(set(params) - _PARAMS_MAPPED):
                self.note("litellm_setting_unmapped", f"{where}.litellm_params.{key}",
                          "not imported (no equivalent per target)")
            self.groups.setdefault(str(entry["model_name"]), []).append(target)

    # -- fallbacks ----------------------------------------------------------------
    def fallback_map(self, section: Mapping[str, Any], key: str, where: str) -> dict[str, list[str]]:
        value = section.get(key)
        out: dict[str, list[str]] = {}
        for item in value or []:
            if not isinstance(item, Mapping):
                self.note("config_error", f"{where}.{key}", f"entry {item!r} is not a mapping")
                continue
            for group, nexts in item.items():
                out.setdefault(str(group), []).extend(
                    str(n) for n in (nexts if isinstance(nexts, list) else [nexts]))
        return out

    def chains(self, settings: Mapping[str, Any], where: str) -> dict[str, list[Any]]:
        regular = self.fallback_map(settings, "fallbacks", where)
        context = self.fallback_map(settings, "context_window_fallbacks", where)
        content = self.fallback_map(settings, "content_policy_fallbacks", where)
        defaults = [str(g) for g in settings.get("default_fallbacks") or []]
        chains: dict[str, list[Any]] = {}
        for group, targets in self.groups.items():
            own = [dict(t) for t in targets]
            if group in content:
                for t in own:   # a content-policy refusal here may move on to the fallbacks
                    t["content_policy_fallback"] = True
            chain = list(own)
            nexts = regular.get(group) or ([] if group in regular else defaults)
            for nxt in [*nexts, *context.get(group, []), *content.get(group, [])]:
                if nxt == group:
                    continue
                if nxt not in self.groups:
                    self.note("config_error", f"{where}.fallbacks",
                              f"'{group}' falls back to '{nxt}', which is not in model_list; "
                              f"left out")
                    continue
                for t in self.groups[nxt]:
                    if not any(_same(t, c) for c in chain):
                        chain.append({k: v for k, v in t.items()
                                      if k not in ("priority", "content_policy_fallback")})
            # deep copies: a mapping shared between chains would be written as a YAML anchor
            chains[group] = [_compact(copy.deepcopy(t)) for t in chain]
        for name, mapping in (("context_window_fallbacks", context), ("content_policy_fallbacks",
                                                                        content)):
            for group in mapping:
                if group not in self.groups:
                    self.note("config_error", f"{where}.{name}",
                              f"'{group}' is not in model_list; its fallbacks were left out")
        return chains


def _is_local(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return host in _LOCAL_HOSTS or host.startswith("127.") or host.endswith(".localhost")


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (a["provider"], a["model"]) == (b["provider"], b["model"])


def _compact(target: dict[str, Any]) -> Any:
    """"provider/model" when nothing else is set, else the mapping form."""
    if set(target) == {"provider", "model"}:
        return f"{target['provider']}/{target['model']}"
    return target


def convert_litellm(data: Mapping[str, Any]) -> ImportResult:
    """Convert a parsed LiteLLM proxy config; never raises on unknown content."""
    conv = _Converter(data)
    conv.deployments()
    router = data.get("router_settings") or {}
    litellm = data.get("litellm_settings") or {}
    general = data.get("general_settings") or {}
    # litellm_settings wins where both say something, as in LiteLLM's proxy
    merged = {**router, **{k: v for k, v in litellm.items() if k in _LITELLM_MAPPED}}
    chains = conv.chains(merged, "router_settings/litellm_settings")
    out: dict[str, Any] = {}
    key = conv.secret(general.get("master_key"), "general_settings.master_key",
                      "PROVIDER_FALLBACK_MASTER_KEY")
    out["server"] = {"host": "127.0.0.1", "port": 4100, **({"master_key": key} if key else {})}
    policy: dict[str, Any] = {}
    if merged.get("num_retries") is not None:
        policy["max_retries"] = int(merged["num_retries"])
    timeout = merged.get("request_timeout") or merged.get("timeout")
    if timeout:
        policy["timeout"] = float(timeout)
    if merged.get("cooldown_time") is not None:
        policy["cooldowns"] = {code: float(merged["cooldown_time"]) for code in COOLDOWN_CODES}
    if policy:
        out["policy"] = policy
    if merged.get("allowed_fails") is not None:
        out["circuit"] = {"failure_threshold": max(1, int(merged["allowed_fails"]))}
    out["providers"] = [{"name": p.name, "base_url": p.base_url,
                         **({"api_key": p.api_key} if p.api_key else {})}
                        for p in conv.providers.values()]
    out["models"] = chains
    for section, mapped in (("router_settings", _ROUTER_MAPPED),
                            ("litellm_settings", _LITELLM_MAPPED),
                            ("general_settings", _GENERAL_MAPPED)):
        for name in sorted(set(data.get(section) or {}) - mapped):
            conv.note("litellm_setting_unmapped", f"{section}.{name}", "not imported")
    for name in sorted(set(data) - {"model_list", "router_settings", "litellm_settings",
                                    "general_settings"}):
        conv.note("litellm_setting_unmapped", name, "not imported")
    variables = sorted({m for p in conv.providers.values() if p.api_key
                        for m in re.findall(r"os\.environ/(\w+)", p.api_key)}
                       | ({key.removeprefix("os.environ/")} if key else set()))
    return ImportResult(out, conv.notes, variables)
