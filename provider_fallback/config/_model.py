"""The compiled config: frozen values the router reads on every request. No pydantic here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .._secret import Secret

__all__ = ["AlertSettings", "AlertSink", "BudgetSettings", "ContinuationSettings",
           "LoggingSettings", "MetricsSettings",
           "TelemetrySettings", "Chain", "CircuitSettings", "Config", "HealthSettings", "Policy",
           "Pricing", "ProviderSpec", "QueueSettings", "RateLimits", "ServerSettings",
           "SupervisorSpec", "Target"]

_EMPTY: Mapping[str, float] = MappingProxyType({})
CONTINUATIONS = ("prefill", "restart", "off")


@dataclass(frozen=True, slots=True)
class Policy:
    """Timeouts, retries and backoff for one target (seconds). Override with `dataclasses.replace`."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    ttft_timeout: float = 20.0
    stall_timeout: float = 15.0
    request_deadline: float = 120.0
    rate_limit_max_wait: float = 2.0
    max_retries: int = 1
    backoff_base: float = 0.25
    backoff_max: float = 4.0
    content_policy_fallback: bool = False
    cooldowns: Mapping[str, float] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self) -> None:
        if not isinstance(self.cooldowns, MappingProxyType):
            object.__setattr__(self, "cooldowns", MappingProxyType(dict(self.cooldowns)))

    def cooldown_for(self, code: str, default: float) -> float:
        """The configured cooldown for registry code `code`, else `default` (the registry's)."""
        return self.cooldowns.get(code, default)


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """Active probe tiers: quick ping, full health (GET /models), API validation (opt-in)."""

    enabled: bool = True
    quick_interval: float = 30.0
    quick_timeout: float = 5.0
    full_interval: float = 60.0
    full_timeout: float = 10.0
    validate_interval: float = 300.0
    validate_timeout: float = 15.0
    reliability_window: int = 20


@dataclass(frozen=True, slots=True)
class CircuitSettings:
    """When a circuit opens, for how long, and what counts as slow."""

    failure_threshold: int = 3
    failure_rate: float = 0.5
    min_calls: int = 10
    window: float = 60.0
    max_open: float = 1800.0          # cap of the growing open period of hard failures
    transient_open: float = 5.0       # first open period of a transient failure (503, cut, timeout)
    transient_max_open: float = 60.0  # cap of the growing open period of transient failures
    #                                   that cost a timer (timeouts, stalls)
    fast_max_open: float = 10.0       # ... and of those that answered at once (503, cut, refused)
    reopen_decay: float = 60.0        # each such span closed takes one step off the growth
    multiplier: float = 2.0
    jitter: float = 0.1
    slow_call_rate: float = 0.5
    slow_call_threshold: float | None = None


@dataclass(frozen=True, slots=True)
class RateLimits:
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    tpd: int | None = None


@dataclass(frozen=True, slots=True)
class Pricing:
    """USD per 1M tokens; `free` targets stay allowed when the budget kill-switch is on."""

    input_per_m: float = 0.0
    output_per_m: float = 0.0
    free: bool = False


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    monthly_usd: float | None = None
    daily_usd: float | None = None
    warning: float = 0.75
    critical: float = 0.90
    data_dir: str | None = None


@dataclass(frozen=True, slots=True)
class QueueSettings:
    enabled: bool = True
    max_wait: float = 30.0
    size: int = 1000


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    enabled: bool = True
    log_dir: str | None = None
    events_file_max: int = 10 * 1024 * 1024
    events_file_backups: int = 5
    retention_days: float = 30.0
    request_log: bool = True
    log_content: bool = False


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    enabled: bool = True
    public: bool = False


@dataclass(frozen=True, slots=True)
class AlertSink:
    url: Secret = field(repr=False)     # webhook URLs are credentials
    format: str = "generic"             # generic | slack | discord
    alerts: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class AlertSettings:
    webhooks: tuple[AlertSink, ...] = ()
    provider_down_after: float = 60.0
    high_fallback_rate: int = 20
    repeat_after: float = 3600.0
    max_per_minute: int = 10


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Where routing state lives: this process (memory) or Redis shared by every worker."""

    backend: str = "memory"             # memory | redis
    url: Secret | None = field(default=None, repr=False)   # may carry a password
    prefix: str = "pf:"
    cache_ttl: float = 0.25             # max staleness of a locally cached read
    timeout: float = 0.05               # per Redis call on the request path
    key_ttl: float = 86_400.0           # every key expires; rewritten while in use

    @property
    def key_prefix(self) -> str:
        """The prefix Redis keys really get: `prefix`, wrapped in a hash tag on a Redis
        Cluster if it has none (`pf:` -> `{pf}:`), so all keys share one slot."""
        from ..state._redis_url import effective_prefix

        return effective_prefix(None if self.url is None else self.url.reveal(), self.prefix)


@dataclass(frozen=True, slots=True)
class ContinuationSettings:
    """A stream that breaks after content is continued on the next eligible target."""

    enabled: bool = True
    max_attempts: int = 2


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    format: str = "console"
    level: str = "info"


@dataclass(frozen=True, slots=True)
class SupervisorSpec:
    command: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    restart_on_unhealthy: bool = True
    max_restarts_per_hour: int = 5
    startup_grace: float = 10.0


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One upstream endpoint (OpenAI-compatible unless `api` says otherwise). Header values
    from the environment are Secret."""

    name: str
    base_url: str
    api_key: Secret | None = None
    headers: Mapping[str, Secret | str] = field(default_factory=lambda: MappingProxyType({}))
    policy: Policy = field(default_factory=Policy)
    optional: bool = False
    probe: bool = True
    max_connections: int = 100
    # where the key came from, for display: "os.environ/GROQ_API_KEY", "literal" or None
    api_key_source: str | None = None
    health_path: str | None = None
    validate_calls: bool = False
    supervise: SupervisorSpec | None = None
    # per-model facts from the provider's `models:` map: context, limits, price
    model_settings: Mapping[str, Mapping[str, object]] = field(
        default_factory=lambda: MappingProxyType({}))
    # the account's plan at this provider ("free", "developer", ...; see the catalog)
    plan: str | None = None
    # the catalog entry to use: None = found by base URL host, port or name; "none" = no entry
    catalog: str | None = None
    # the wire format it speaks: "openai" (chat completions) or "anthropic" (Messages)
    api: str = "openai"
    # Several keys (`api_key: [...]`): one ProviderSpec per key, named `groq`, `groq#2`, ...
    # `family` is the configured name, `key_index` this key's place (1-based) of `key_count`.
    family: str = ""
    key_index: int = 1
    key_count: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not self.family:
            object.__setattr__(self, "family", self.name)
        if not isinstance(self.headers, MappingProxyType):
            object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))


@dataclass(frozen=True, slots=True)
class Target:
    """One model on one provider, with its effective policy; `key` is "provider/model".

    `context` (the context window in tokens), `continuation` and `stream_usage` are the
    model's capabilities: from the config when it sets them, else from the catalog.
    """

    provider: ProviderSpec = field(repr=False)
    model: str
    policy: Policy
    context: int | None = None
    priority: int | None = None
    limits: RateLimits | None = None     # configured; shipped defaults are applied by limits/
    price: Pricing | None = None         # configured; shipped defaults are applied by budget/
    # How a cut stream is continued on this target: "prefill" (a trailing assistant message
    # is continued), "restart" (the request is sent again from the start) or "off".
    continuation: str = "prefill"
    # whether the target accepts `stream_options: {include_usage: true}`
    stream_usage: bool = True
    key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.provider.name}/{self.model}")
        if self.continuation not in CONTINUATIONS:
            raise ValueError(f"continuation must be one of {', '.join(CONTINUATIONS)}, "
                             f"got {self.continuation!r}")


@dataclass(frozen=True, slots=True)
class Chain:
    """An alias and the targets tried in order."""

    alias: str
    targets: tuple[Target, ...]
    continuation: bool | None = None   # False: this alias never continues a broken stream
    # some target is on a provider with several keys (the router orders keys by headroom)
    several_keys: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "several_keys",
                           any(t.provider.key_count > 1 for t in self.targets))


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """`server:`: where the gateway listens and what its front door lets in."""

    host: str = "127.0.0.1"
    port: int = 4100
    master_key: Secret | None = None
    max_body_size: int = 20 * 1024 * 1024
    master_key_source: str | None = None
    max_header_size: int = 64 * 1024      # request line + headers, bytes -> 431
    max_headers: int = 100                # header lines -> 431
    header_timeout: float = 10.0          # the whole request head must arrive within this
    body_timeout: float = 30.0            # longest pause while a request body is being read
    keep_alive_timeout: float = 30.0      # an idle keep-alive connection is closed after this
    max_connections: int | None = None    # None: derived from the descriptor limit
    linger_timeout: float = 5.0           # after an early answer, drain the client's body
    linger_size: int = 32 * 1024 * 1024   # ... for at most this long and this many bytes
    cors_origins: tuple[str, ...] = ()    # browser origins allowed to call the gateway
    max_passthrough_models: int = 256     # distinct "provider/model" names not in a chain
    watch_config: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration. Build it with `load_config` or `config_from_dict`."""

    server: ServerSettings
    policy: Policy
    providers: Mapping[str, ProviderSpec]
    chains: Mapping[str, Chain]
    source: str | None = None
    warnings: tuple[str, ...] = ()
    health: HealthSettings = field(default_factory=HealthSettings)
    circuit: CircuitSettings = field(default_factory=CircuitSettings)
    budget: BudgetSettings = field(default_factory=BudgetSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    state: StateSettings = field(default_factory=StateSettings)
    continuation: ContinuationSettings = field(default_factory=ContinuationSettings)
    # bare model id -> its targets (one per key), when exactly one provider serves that id
    _by_model: Mapping[str, tuple[Target, ...]] = field(init=False, repr=False, compare=False)
    # "provider/model" -> the first configured target with that key, one per key of the
    # provider when it has several (`groq/m` -> groq/m, groq#2/m)
    _by_key: Mapping[str, tuple[Target, ...]] = field(init=False, repr=False, compare=False)
    # "provider/model" pass-through targets in no chain, built once per key (the rate ledger
    # and the health tracker see the same object every time); every one has routing state
    # (circuit, stats, rate windows), so there are at most server.max_passthrough_models
    _passing: dict[str, tuple[Target, ...]] = field(init=False, repr=False, compare=False)
    _families: Mapping[str, tuple[ProviderSpec, ...]] = field(init=False, repr=False,
                                                              compare=False)

    def __post_init__(self) -> None:
        for name in ("providers", "chains"):
            value = getattr(self, name)
            if not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, MappingProxyType(dict(value)))
        by_model, by_key = _lookups(self.chains.values())
        object.__setattr__(self, "_by_model", by_model)
        object.__setattr__(self, "_by_key", by_key)
        object.__setattr__(self, "_passing", {})
        families: dict[str, list[ProviderSpec]] = {}
        for spec in self.providers.values():
            families.setdefault(spec.family, []).append(spec)
        object.__setattr__(self, "_families", MappingProxyType({
            name: tuple(sorted(specs, key=lambda p: p.key_index))
            for name, specs in families.items()}))

    @property
    def families(self) -> Mapping[str, tuple[ProviderSpec, ...]]:
        """Configured provider name -> its ProviderSpecs, one per key, in key order."""
        return self._families

    @property
    def aliases(self) -> tuple[str, ...]:
        """Configured model aliases, in file order."""
        return tuple(self.chains)

    def resolve(self, model: str) -> Chain | None:
        """The chain for a requested model name, or None if it is not served.

        An alias gives its chain. Otherwise a model id served by exactly one provider, or
        "provider/model" for a configured provider, gives a one-target pass-through chain.
        """
        chain = self.chains.get(model)
        if chain is not None:
            return chain
        targets = self._by_model.get(model)
        if targets is None:
            targets = self._by_key.get(model)
        if targets is None:
            name, sep, model_id = model.partition("/")
            provider = self.providers.get(name) if sep and model_id else None
            if provider is None:
                return None
            targets = self._passing.get(model)
            if targets is None:
                limit = self.server.max_passthrough_models
                if len(self._passing) >= limit:
                    from ..errors import InvalidRequestError

                    raise InvalidRequestError(
                        f"model '{model[:200]}' is in no chain, and the gateway already routes "
                        f"{limit} such provider/model names (server.max_passthrough_models): "
                        "add it to a chain under `models:`", code="passthrough_limit",
                        provider=name)
                from ._facts import provider_target

                keys = (provider,) if provider.name != provider.family else \
                    self._families[name]
                targets = self._passing[model] = tuple(provider_target(p, model_id)
                                                       for p in keys)
        return Chain(model, targets)


def _lookups(chains: Iterable[Chain]) -> tuple[Mapping[str, tuple[Target, ...]],
                                               Mapping[str, tuple[Target, ...]]]:
    """By "family/model" (every key's target of it, in key order) and by bare model id
    (when one family serves it)."""
    by_key: dict[str, dict[str, Target]] = {}
    served_by: dict[str, set[str]] = {}
    for chain in chains:
        for target in chain.targets:
            family = target.provider.family
            by_key.setdefault(f"{family}/{target.model}", {}).setdefault(target.key, target)
            if family != target.provider.name:   # `groq#2/m` pins that key
                by_key.setdefault(target.key, {}).setdefault(target.key, target)
            served_by.setdefault(target.model, set()).add(family)
    keyed = {k: tuple(v.values()) for k, v in by_key.items()}
    by_model = {ts[0].model: ts for k, ts in keyed.items()
                if k == f"{ts[0].provider.family}/{ts[0].model}"
                and len(served_by[ts[0].model]) == 1}
    return MappingProxyType(by_model), MappingProxyType(keyed)
