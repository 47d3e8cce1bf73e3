"""Sample configs shared by the config tests."""

from __future__ import annotations

FULL_YAML = """\
server:
  host: 127.0.0.1
  port: 4100
  master_key: os.environ/PROVIDER_FALLBACK_MASTER_KEY
  max_body_size: 20MiB
allow_literal_secrets: false
policy:
  timeout: 30
  connect_timeout: 10
  ttft_timeout: 20
  stall_timeout: 15
  request_deadline: 120
  rate_limit_max_wait: 2
  max_retries: 1
  backoff_base: 0.25
  backoff_max: 4
  content_policy_fallback: false
  cooldowns: {rate_limit: 60s, invalid_api_key: 30m}
providers:
  - name: groq
    base_url: https://api.groq.com/openai/v1
    api_key: os.environ/GROQ_API_KEY
    timeout: 30
    headers: {X-Title: my-app}
    optional: false
    probe: true
    max_connections: 100
  - name: litellm
    base_url: http://127.0.0.1:4000/
    policy: {max_retries: 0}
  - name: openrouter
    base_url: https://openrouter.ai/api/v1
    api_key: ${OPENROUTER_API_KEY}
models:
  groq-70b:
    - groq/llama-3.3-70b-versatile
    - {provider: litellm, model: groq-70b, context: 131072, timeout: 60}
    - openrouter/minimax/minimax-m2.1:free
"""

GROQ_KEY = "gsk_DISTINCTIVEgroqKEY0123456789abcdef"
OPENROUTER_KEY = "sk-or-v1-DISTINCTIVEorKEY0123456789abcdef"
MASTER_KEY = "pf-master-DISTINCTIVE-0123456789"

FULL_ENV = {"GROQ_API_KEY": GROQ_KEY, "OPENROUTER_API_KEY": OPENROUTER_KEY,
            "PROVIDER_FALLBACK_MASTER_KEY": MASTER_KEY}
