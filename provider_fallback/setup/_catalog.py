"""What `init` knows: the providers a user may have, and the seeds' fallback chains."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CATALOG", "CHAINS", "ProviderChoice"]


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


CATALOG: dict[str, ProviderChoice] = {c.name: c for c in (
    ProviderChoice("groq", "Groq (api.groq.com)", "https://api.groq.com/openai/v1",
                   "GROQ_API_KEY", "https://console.groq.com/keys (starts with gsk_)",
                   models=("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "groq/compound")),
    ProviderChoice("litellm", "a local LiteLLM proxy (localhost:4000)", "http://localhost:4000/v1",
                   "LITELLM_MASTER_KEY", "the master_key of your LiteLLM proxy",
                   {"health_path": "/health/liveliness"}, models=("groq-70b", "groq-8b")),
    ProviderChoice("openrouter", "OpenRouter (openrouter.ai)", "https://openrouter.ai/api/v1",
                   "OPENROUTER_API_KEY", "https://openrouter.ai/keys (starts with sk-or-)",
                   models=("minimax/minimax-m2.1:free",)),
    ProviderChoice("kilo", "Kilo Code gateway", "https://kilocode.ai/api/openrouter",
                   "KILOCODE_API_KEY", "your Kilo Code account token (Kilo Code settings)",
                   models=("z-ai/glm-5:free",)),
    ProviderChoice("ollama", "Ollama on this machine (localhost:11434)",
                   "http://localhost:11434/v1", None, models=("llama3.2",)),
)}

# alias -> (provider, model) in fallback order, from the seeds' Groq tables: 70b -> 8b -> free
# models; compound -> 70b -> 8b. Targets of providers the user does not have are left out.
CHAINS: dict[str, tuple[tuple[str, str], ...]] = {
    "groq-70b": (("groq", "llama-3.3-70b-versatile"), ("litellm", "groq-70b"),
                 ("groq", "llama-3.1-8b-instant"), ("kilo", "z-ai/glm-5:free"),
                 ("openrouter", "minimax/minimax-m2.1:free"), ("ollama", "llama3.2")),
    "groq-8b": (("groq", "llama-3.1-8b-instant"), ("litellm", "groq-8b"),
                ("kilo", "z-ai/glm-5:free"), ("openrouter", "minimax/minimax-m2.1:free"),
                ("ollama", "llama3.2")),
    "groq-compound": (("groq", "groq/compound"), ("groq", "llama-3.3-70b-versatile"),
                      ("groq", "llama-3.1-8b-instant")),
}
