"""What a config says about a provider, as the facts resolution steps are filled with:
its base URL, host and port, the variable holding its key, the config and .env files,
the gateway's URL, a supervised LiteLLM's own config file."""

from __future__ import annotations

from pathlib import Path

from ..errors import Facts
from ._model import Config, ProviderSpec

__all__ = ["FactsBook", "config_facts", "key_variable", "provider_facts"]

_ENV_PREFIX = "os.environ/"


def key_variable(provider: ProviderSpec) -> str | None:
    """The environment variable `api_key` reads (`os.environ/NAME` or `${NAME}`), if any."""
    source = provider.api_key_source or ""
    if source.startswith(_ENV_PREFIX):
        return source.removeprefix(_ENV_PREFIX)
    if "${" in source:
        return source.split("${", 1)[1].split("}", 1)[0] or None
    return None


def config_facts(config: Config) -> Facts:
    """The config file, the .env beside it and the gateway's URL."""
    server = config.server
    host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
    host = f"[{host}]" if ":" in host else host
    source = config.source if config.source and not config.source.startswith("<") else None
    path = Path(source) if source and Path(source).is_file() else None
    return Facts.of(config=path, env_file=path.parent / ".env" if path else None,
                    gateway_url=f"http://{host}:{server.port}")


def provider_facts(provider: ProviderSpec, model: str | None = None) -> Facts:
    """One provider's URL, host, port and key variable (and a supervised LiteLLM's config)."""
    return Facts.of(provider=provider.name, model=model, base_url=provider.base_url,
                    env_var=key_variable(provider),
                    litellm_config=_upstream_config(provider))


def _upstream_config(provider: ProviderSpec) -> str | None:
    command = provider.supervise.command if provider.supervise else ()
    for flag in ("--config", "-c"):
        if flag in command[:-1]:
            return command[command.index(flag) + 1]
    return None


class FactsBook:
    """Facts per (provider, model) of one config, computed once each (error paths only)."""

    _LIMIT = 1024   # a client's unknown model names must not grow it without bound

    def __init__(self, config: Config) -> None:
        self.config = config
        self._general = config_facts(config)
        self._known: dict[tuple[str | None, str | None], Facts] = {}

    def of(self, provider: str | None = None, model: str | None = None) -> Facts:
        key = (provider, model)
        facts = self._known.get(key)
        if facts is None:
            spec = self.config.providers.get(provider) if provider else None
            facts = provider_facts(spec, model).merge(self._general) if spec else self._general
            if len(self._known) >= self._LIMIT:
                self._known.clear()
            self._known[key] = facts
        return facts
