"""In-process routing state: the default backend (one worker)."""

from __future__ import annotations

from ._base import Cooldown, TargetStats

__all__ = ["MemoryState"]

LATENCY_WINDOW = 256


class MemoryState:
    """Plain dicts; O(1) per call, bounded by the number of configured targets."""

    def __init__(self, latency_window: int = LATENCY_WINDOW) -> None:
        self._cooldowns: dict[str, Cooldown] = {}
        self._stats: dict[str, TargetStats] = {}
        self._ring_pos: dict[str, int] = {}
        self._window = latency_window

    def cooldown(self, key: str, now: float) -> Cooldown | None:
        cd = self._cooldowns.get(key)
        if cd is None:
            return None
        if cd.until <= now:
            del self._cooldowns[key]
            return None
        return cd

    def set_cooldown(self, key: str, until: float, code: str) -> None:
        current = self._cooldowns.get(key)
        if current is None or until > current.until:
            self._cooldowns[key] = Cooldown(until, code)

    def clear_cooldown(self, key: str) -> None:
        self._cooldowns.pop(key, None)

    def record(self, target_key: str, *, ok: bool, code: str, ms: float, wall: float) -> None:
        st = self._stats.get(target_key)
        if st is None:
            st = self._stats[target_key] = TargetStats()
        st.last_code = code
        if ok:
            st.successes += 1
            st.last_success = wall
            ring = st.latency_ms
            if len(ring) < self._window:
                ring.append(ms)
            else:
                pos = self._ring_pos.get(target_key, 0)
                ring[pos] = ms
                self._ring_pos[target_key] = (pos + 1) % self._window
        else:
            st.failures += 1
            st.last_failure = wall

    def stats(self, target_key: str) -> TargetStats | None:
        return self._stats.get(target_key)

    def cooldowns(self, now: float) -> dict[str, Cooldown]:
        return {k: v for k, v in self._cooldowns.items() if v.until > now}
