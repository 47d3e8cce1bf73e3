"""`provider-fallback doctor`: the seeds' manual runbook (netstat, echo %KEY%, curl /models,
nslookup, NO_PROXY, ...) as checks that run in parallel and report registry codes.

Each check is a small function returning `Finding`s; `run_doctor` runs them all,
`startup_findings` is the fast subset `serve` runs, `check_providers` backs `check`.
"""

from ._findings import Finding, Report, Severity, mask_key
from ._keys import ConfigLoad, check_keys, load_for_doctor
from ._local import check_clock, check_port, check_proxy_env, port_holder
from ._network import ProviderCheck, check_provider, is_litellm
from ._run import check_providers, models_by_provider, run_doctor, startup_findings
from ._state import check_state

__all__ = [
    "ConfigLoad",
    "Finding",
    "ProviderCheck",
    "Report",
    "Severity",
    "check_clock",
    "check_keys",
    "check_port",
    "check_provider",
    "check_providers",
    "check_proxy_env",
    "check_state",
    "is_litellm",
    "load_for_doctor",
    "mask_key",
    "models_by_provider",
    "port_holder",
    "run_doctor",
    "startup_findings",
]
