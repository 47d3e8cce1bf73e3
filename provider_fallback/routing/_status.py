"""The router's status document: per provider and target, health, circuits, limits, budget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._router import Router

__all__ = ["router_status"]


def router_status(router: Router, now: float) -> dict[str, Any]:
    """Per provider and target: health, circuits, probes, counters, latency."""
    health = router.health
    providers: dict[str, Any] = {}
    for name, provider in router.config.providers.items():
        view = health.provider_view(name, now)
        view["base_url"] = provider.base_url
        targets: dict[str, Any] = {}
        for target in health.targets_of(name):
            st = router.state.stats(target.key)
            targets[target.key] = {
                "model": target.model,
                "status": health.target_status(target, now),
                "circuit": health.circuit_view(target.key, now),
                "successes": st.successes if st else 0,
                "failures": st.failures if st else 0,
                "last_code": st.last_code if st else None,
                "last_success": st.last_success if st else None,
                "last_failure": st.last_failure if st else None,
                "latency_ms_p50": st.latency_percentile(0.5) if st else None,
                "latency_ms_p95": st.latency_percentile(0.95) if st else None,
                "ttft_ms_p50": st.ttft_percentile(0.5) if st else None,
                "ttft_ms_p95": st.ttft_percentile(0.95) if st else None,
                "limits": router.accounting.limits_view(target, now),
            }
        view["targets"] = targets
        if router.monitor is not None:
            sup = router.monitor.supervisor_status(name)
            if sup:
                view["supervised"] = sup
        providers[name] = view
    return {"providers": providers, "forced": router.state.forced(),
            "chains": {a: [t.key for t in c.targets] for a, c in router.config.chains.items()},
            "queue": {"depth": router.queue.depth(), "by_alias": router.queue.depths(),
                      "size": router.config.queue.size,
                      "max_wait_s": router.config.queue.max_wait},
            "budget": router.accounting.budget_view(),
            "state": router.state.view()}
