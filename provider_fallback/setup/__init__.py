"""First-run setup: `init` (a starter config) and `import-litellm` (convert a LiteLLM proxy config)."""

from ._catalog import CATALOG, CHAINS, ProviderChoice, default_plan
from ._init import (
    InitPlan,
    build_config,
    custom_provider,
    env_example,
    render_yaml,
    validate_plan,
    with_models,
    with_plan,
    write_files,
)

__all__ = [
    "CATALOG",
    "CHAINS",
    "InitPlan",
    "ProviderChoice",
    "build_config",
    "custom_provider",
    "default_plan",
    "env_example",
    "render_yaml",
    "validate_plan",
    "with_models",
    "with_plan",
    "write_files",
]
