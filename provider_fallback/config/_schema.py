"""The file format as pydantic models: every section validated once, unknown keys rejected.

Each piece (server, policy, one provider, one chain target) is validated on its own so one
bad entry does not hide the problems of the others; `validate()` turns pydantic errors into
`Problem`s that name the key path and the fix.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any, TypeVar, Union
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ._durations import parse_duration_value, parse_size
from ._problems import Problem, did_you_mean

__all__ = [
    "POLICY_KEYS",
    "ChainModel",
    "ContinuationModel",
    "PROVIDER_SHORTHAND_KEYS",
    "TOP_LEVEL_KEYS",
    "PolicyModel",
    "ProviderModel",
    "ServerModel",
    "TargetModel",
    "validate",
]

Duration = Annotated[float, BeforeValidator(parse_duration_value)]
Timeout = Annotated[float, BeforeValidator(parse_duration_value), Field(gt=0)]
Size = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]

_PROVIDER_NAME = re.compile(r"[A-Za-z0-9_.-]+")
TOP_LEVEL_KEYS = ("server", "allow_literal_secrets", "policy", "health", "circuit", "budget", "queue",
                  "telemetry", "metrics", "alerts", "logging", "state", "continuation",
                  "providers", "models")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyModel(_Strict):
    """Overrides of `Policy`; every key optional, unset keys inherit from the layer below."""

    timeout: Timeout | None = None
    connect_timeout: Timeout | None = None
    ttft_timeout: Timeout | None = None
    stall_timeout: Timeout | None = None
    request_deadline: Timeout | None = None
    rate_limit_max_wait: Duration | None = None
    max_retries: Annotated[int, Field(ge=0, le=100)] | None = None
    backoff_base: Duration | None = None
    backoff_max: Duration | None = None
    content_policy_fallback: bool | None = None
    cooldowns: dict[str, Duration] | None = None

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


POLICY_KEYS = tuple(PolicyModel.model_fields)
PROVIDER_SHORTHAND_KEYS = ("timeout", "connect_timeout", "ttft_timeout", "stall_timeout")


class ServerModel(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 4100
    master_key: str | None = None
    max_body_size: Size = 20 * 1024 * 1024
    max_header_size: Annotated[int, BeforeValidator(parse_size), Field(ge=1024)] = 64 * 1024
    max_headers: Annotated[int, Field(ge=8, le=10_000)] = 100
    header_timeout: Timeout = 10.0
    body_timeout: Timeout = 30.0
    keep_alive_timeout: Timeout = 30.0
    max_connections: Annotated[int, Field(ge=1)] | None = None
    linger_timeout: Annotated[float, BeforeValidator(parse_duration_value), Field(ge=0)] = 5.0
    linger_size: Annotated[int, BeforeValidator(parse_size), Field(ge=0)] = 32 * 1024 * 1024
    cors_origins: list[str] = Field(default_factory=list)
    max_passthrough_models: Annotated[int, Field(ge=0)] = 256
    watch_config: bool = False          # reload when the config file or its .env changes

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("host must not be empty (use 127.0.0.1 for this machine only)")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            origin = value.strip().rstrip("/").lower()
            parts = urlsplit(origin)
            if origin != "*" and (parts.scheme not in ("http", "https") or not parts.hostname
                                  or parts.path or parts.query or parts.fragment):
                raise ValueError(f"{value!r} is not an origin: write scheme://host[:port], "
                                 "e.g. http://localhost:3000 (or \"*\" with a master key)")
            out.append(origin)
        return out


class HealthModel(_Strict):
    """Active probes (three tiers, as in the runbook) and how health is scored."""

    enabled: bool = True
    quick_interval: Timeout = 30.0
    quick_timeout: Timeout = 5.0
    full_interval: Timeout = 60.0
    full_timeout: Timeout = 10.0
    validate_interval: Timeout = 300.0
    validate_timeout: Timeout = 15.0
    reliability_window: Annotated[int, Field(ge=1, le=1000)] = 20


class CircuitModel(_Strict):
    """Circuit breakers per target and per provider."""

    failure_threshold: Annotated[int, Field(ge=1)] = 3
    failure_rate: Annotated[float, Field(gt=0, le=1)] = 0.5
    min_calls: Annotated[int, Field(ge=1)] = 10
    window: Timeout = 60.0
    max_open: Timeout = 1800.0
    transient_open: Timeout = 5.0
    transient_max_open: Timeout = 60.0
    fast_max_open: Timeout = 10.0
    reopen_decay: Timeout = 60.0
    multiplier: Annotated[float, Field(ge=1)] = 2.0
    jitter: Annotated[float, Field(ge=0, lt=1)] = 0.1
    slow_call_rate: Annotated[float, Field(gt=0, le=1)] = 0.5
    slow_call_threshold: Timeout | None = None   # default: 2 x p95, or ttft_timeout


class LimitsModel(_Strict):
    """Known limits of one model on one provider (None = unknown; headers teach the rest)."""

    rpm: Annotated[int, Field(ge=1)] | None = None
    rpd: Annotated[int, Field(ge=1)] | None = None
    tpm: Annotated[int, Field(ge=1)] | None = None
    tpd: Annotated[int, Field(ge=1)] | None = None


class PriceModel(_Strict):
    """USD per 1M tokens."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]


Continuation = typing.Literal["prefill", "restart", "off"]


class ModelSettingsModel(_Strict):
    """Per-model facts under a provider's `models:` map."""

    context: Annotated[int, Field(gt=0)] | None = None
    limits: LimitsModel | None = None
    price: PriceModel | None = None
    free: bool | None = None
    continuation: Continuation | None = None   # how a cut stream is continued here
    stream_usage: bool | None = None           # accepts stream_options.include_usage
    fronts: str | None = None                  # a proxy alias: the "prefix/model" it serves


class BudgetModel(_Strict):
    monthly_usd: Annotated[float, Field(gt=0)] | None = None
    daily_usd: Annotated[float, Field(gt=0)] | None = None
    warning: Annotated[float, Field(gt=0, le=1)] = 0.75
    critical: Annotated[float, Field(gt=0, le=1)] = 0.90
    data_dir: str | None = None


class QueueModel(_Strict):
    """Wait for rate-limit capacity instead of failing, when every target is limited."""

    enabled: bool = True
    max_wait: Duration = 30.0
    size: Annotated[int, Field(ge=0)] = 1000


class TelemetryModel(_Strict):
    """Persistent events (JSONL + SQLite) and the request log."""

    enabled: bool = True                # false: nothing written to disk (metrics still work)
    log_dir: str | None = None          # default: $FALLBACK_LOG_DIR, else <data dir>/logs
    events_file_max: Size = 10 * 1024 * 1024
    events_file_backups: Annotated[int, Field(ge=0)] = 5
    retention_days: Annotated[float, Field(gt=0)] = 30.0
    request_log: bool = True
    log_content: bool = False


class MetricsModel(_Strict):
    enabled: bool = True
    public: bool = False                # true: /metrics answers without the master key


class AlertSinkModel(_Strict):
    url: str
    format: typing.Literal["generic", "slack", "discord"] = "generic"
    alerts: list[str] | None = None     # default: every alert


class AlertsModel(_Strict):
    webhooks: list[AlertSinkModel] = Field(default_factory=list)
    provider_down_after: Duration = 60.0
    high_fallback_rate: Annotated[int, Field(ge=1)] = 20      # fallbacks per hour
    repeat_after: Duration = 3600.0     # the same alert again only after this long
    max_per_minute: Annotated[int, Field(ge=1)] = 10


class ContinuationModel(_Strict):
    """Mid-stream continuation: a stream that breaks after content goes on on another target."""

    enabled: bool = True
    max_attempts: Annotated[int, Field(ge=0, le=10)] = 2   # continuations per request


class ChainModel(_Strict):
    """The mapping form of a chain: `alias: {targets: [...], continuation: off}`."""

    targets: list[Any]
    continuation: bool | None = None    # off: a broken stream ends with an in-band error


class LoggingModel(_Strict):
    format: typing.Literal["console", "json"] = "console"
    level: typing.Literal["debug", "info", "warning", "error"] = "info"


class StateModel(_Strict):
    """Routing state backend: `memory` (this process) or `redis` (shared by workers/replicas)."""

    backend: typing.Literal["memory", "redis"] = "memory"
    url: str | None = None              # redis://, rediss://, unix://, redis+sentinel://,
                                        # redis+cluster://, rediss+cluster://
    prefix: Annotated[str, Field(min_length=1, max_length=64)] = "pf:"
    cache_ttl: Annotated[float, BeforeValidator(parse_duration_value), Field(gt=0, le=10)] = 0.25
    timeout: Annotated[float, BeforeValidator(parse_duration_value), Field(gt=0, le=5)] = 0.05
    key_ttl: Annotated[float, BeforeValidator(parse_duration_value), Field(ge=60)] = 86_400.0

    @model_validator(mode="after")
    def _url_for_redis(self) -> StateModel:
        if self.backend == "redis":
            if not self.url:
                raise ValueError("state.backend redis needs `url: redis://host:6379/0` "
                                 "(or `url: os.environ/REDIS_URL`)")
            from ..state._redis_url import (
                CLUSTER_SCHEMES,
                SCHEMES,
                parse_cluster_url,
                parse_sentinel_url,
            )

            scheme = urlsplit(self.url).scheme
            if scheme not in SCHEMES:
                raise ValueError(f"state.url scheme '{scheme}' not understood: use redis://, "
                                 "rediss://, unix://, redis+sentinel:// or redis+cluster://")
            parse = (parse_sentinel_url if scheme == "redis+sentinel" else
                     parse_cluster_url if scheme in CLUSTER_SCHEMES else None)
            if parse is not None:
                try:
                    parse(self.url)
                except ValueError as exc:
                    raise ValueError(f"state.url: {exc}") from None
        return self


class SuperviseModel(_Strict):
    """A local upstream the gateway starts and restarts (e.g. a LiteLLM proxy)."""

    command: Annotated[list[str], Field(min_length=1)]
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    restart_on_unhealthy: bool = True
    max_restarts_per_hour: Annotated[int, Field(ge=0)] = 5
    startup_grace: Duration = 10.0


class ProviderModel(_Strict):
    name: str
    base_url: str
    # one key, or several (one account's projects): each its own circuit and rate ledger
    api_key: str | Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = None
    api: typing.Literal["openai", "anthropic"] = "openai"   # the wire format it speaks
    timeout: Timeout | None = None
    connect_timeout: Timeout | None = None
    ttft_timeout: Timeout | None = None
    stall_timeout: Timeout | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    optional: bool = False
    probe: bool = True
    health_path: str | None = None
    validate_calls: bool = False
    max_connections: Annotated[int, Field(ge=1)] = 100
    policy: PolicyModel | None = None
    supervise: SuperviseModel | None = None
    models: dict[str, ModelSettingsModel] = Field(default_factory=dict)
    plan: Annotated[str, Field(min_length=1)] | None = None   # a plan of its catalog entry
    catalog: Annotated[str, Field(min_length=1)] | None = None  # entry name, or "none"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _PROVIDER_NAME.fullmatch(value):
            raise ValueError(f"provider name {value!r} may only use letters, digits, '_', '.' "
                             "and '-' (no '/': it separates provider and model in targets)")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an http(s) URL like "
                             f"https://api.groq.com/openai/v1, got {value!r}")
        return value.rstrip("/")

    def level_overrides(self) -> dict[str, Any]:
        """Shorthand keys; `policy:` is merged on top by the compiler."""
        return {k: getattr(self, k) for k in PROVIDER_SHORTHAND_KEYS if getattr(self, k) is not None}


class TargetModel(PolicyModel):
    """One chain entry: "provider/model" or a mapping with per-target policy overrides."""

    provider: str
    model: str
    context: Annotated[int, Field(gt=0)] | None = None
    priority: int | None = None
    limits: LimitsModel | None = None
    price: PriceModel | None = None
    free: bool | None = None
    continuation: Continuation | None = None
    stream_usage: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if isinstance(data, str):
            provider, sep, model = data.strip().partition("/")
            if not sep or not provider or not model:
                raise ValueError(f"expected 'provider/model' (e.g. groq/llama-3.3-70b-versatile), "
                                 f"got {data!r}")
            return {"provider": provider, "model": model}
        return data

    @field_validator("provider", "model")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, include=set(POLICY_KEYS))


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, path: str, *,
             sensitive: frozenset[str] = frozenset()) -> tuple[M | None, list[Problem]]:
    """`model` validated from `data`, or the problems, each with its full key path.

    Values at `sensitive` paths (keys, env-derived values) are never echoed into messages.
    """
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [_problem(model, err, path, sensitive) for err in exc.errors()]


def _problem(model: type[BaseModel], err: Any, path: str, sensitive: frozenset[str]) -> Problem:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        where, key = _path(path, loc[:-1]), str(loc[-1])
        known = _known_keys(model, loc[:-1])
        hint = did_you_mean(key, known)
        listing = f"; known keys: {', '.join(known)}" if known and not hint else ""
        return Problem(where or None, f"unknown key '{key}'{hint}{listing}",
                       "fix the spelling or remove the key")
    where = _path(path, loc)
    if kind == "missing":
        parent, key = _path(path, loc[:-1]), str(loc[-1])
        return Problem(parent or None, f"missing required key '{key}'", f"add `{key}: ...`")
    message = str(err["msg"])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        if where in sensitive:  # the value came from the environment: do not echo it
            message = re.sub(r", got .*$", "", message, flags=re.S)
        return Problem(where or None, message)
    if where not in sensitive and not _secretish(where) and _echoable(err.get("input")):
        message += f", got {err['input']!r}"
    return Problem(where or None, message)


def _path(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


_SECRET_PATH = re.compile(r"(?:api_key|master_key)(?:\[\d+\])?$")


def _secretish(path: str) -> bool:
    return bool(_SECRET_PATH.search(path)) or ".headers." in path


def _echoable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | None) and len(repr(value)) <= 60


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at `loc` inside `model`, found by walking the annotations."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (list, dict):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation
