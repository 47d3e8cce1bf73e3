"""What `init` knows: the providers a user may have (from the provider catalog, so the
URLs, key variables and plans are the ones the catalog's numbers are for), and the seeds'
fallback chains."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ..catalog import default_catalog

__all__ = ["CATALOG", "CHAINS", "ProviderChoice", "default_plan"]


@dataclass(frozen=True, slots=True)
class ProviderChoice:
    """One provider `init` can write: where it lives, which variable holds its key."""

    name: str
    label: str
    base_url: str
    key_env: str | None                 # None: no key (local Ollama)
    key_hint: str = ""                  # where to get the key, for .env.example
    extra: dict[str, object] = field(default_factory=dict)   # more provider keys in the YAML
    models: tuple[str, ...] = ()        # model ids the default chains use
    plans: tuple[str, ...] = ()         # the catalog entry's plans (init asks which)
    plan: str | None = None             # the one written as `plan:`

    @property
    def asks_model(self) -> bool:
        """Local servers run whatever the user pulled: init asks which model."""
        return self.name in ("ollama", "lmstudio")


def default_plan(plans: tuple[str, ...]) -> str | None:
    """`free` where the provider has one (users start on free tiers), else the first."""
    if not plans:
        return None
    return "free" if "free" in plans else plans[0]


# name -> (catalog entry, model ids the chains use, extra provider keys)
_PICKS: dict[str, tuple[str, tuple[str, ...], dict[str, object]]] = {
    "groq": ("groq", ("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "groq/compound"), {}),
    "litellm": ("litellm", ("groq-70b", "groq-8b"), {"health_path": "/health/liveliness"}),
    # the seeds' minimax/minimax-m2.1:free and z-ai/glm-5:free are no longer listed by
    # OpenRouter or Kilo (Kilo CLI 7.7.9's models.dev snapshot): their free routers instead
    "openrouter": ("openrouter", ("openrouter/free",), {}),
    "kilo": ("kilo", ("kilo-auto/free",), {}),
    "ollama": ("ollama", ("llama3.2",), {}),
    "lmstudio": ("lmstudio", ("openai/gpt-oss-20b",), {}),
    "gemini": ("gemini", ("gemini-2.5-flash",), {}),
    "cerebras": ("cerebras", ("gpt-oss-120b",), {}),
}


def _choices() -> dict[str, ProviderChoice]:
    entries = default_catalog().entries
    out: dict[str, ProviderChoice] = {}
    for name, (entry_name, models, extra) in _PICKS.items():
        entry = entries[entry_name]
        plans = tuple(entry.plans)
        out[name] = ProviderChoice(name, entry.title, entry.base_url, entry.key_env,
                                   entry.key_hint, dict(extra), models, plans,
                                   default_plan(plans))
    return out


class _Choices(Mapping[str, ProviderChoice]):
    """The choices, built from the catalog on first use (not when the CLI is imported)."""

    def __init__(self) -> None:
        self._built: dict[str, ProviderChoice] | None = None

    def _all(self) -> dict[str, ProviderChoice]:
        if self._built is None:
            self._built = _choices()
        return self._built

    def __getitem__(self, name: str) -> ProviderChoice:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_PICKS)

    def __len__(self) -> int:
        return len(_PICKS)


CATALOG: Mapping[str, ProviderChoice] = _Choices()

# alias -> (provider, model) in fallback order, from the seeds' Groq tables: 70b -> 8b -> free
# models; compound -> 70b -> 8b. Targets of providers the user does not have are left out.
CHAINS: dict[str, tuple[tuple[str, str], ...]] = {
    "groq-70b": (("groq", "llama-3.3-70b-versatile"), ("litellm", "groq-70b"),
                 ("groq", "llama-3.1-8b-instant"), ("kilo", "kilo-auto/free"),
                 ("openrouter", "openrouter/free"), ("ollama", "llama3.2")),
    "groq-8b": (("groq", "llama-3.1-8b-instant"), ("litellm", "groq-8b"),
                ("kilo", "kilo-auto/free"), ("openrouter", "openrouter/free"),
                ("ollama", "llama3.2")),
    "groq-compound": (("groq", "groq/compound"), ("groq", "llama-3.3-70b-versatile"),
                      ("groq", "llama-3.1-8b-instant")),
}
