"""What replicas trade on each poll besides circuits: rate-limit use and spend.

- **Use** (hash `usage`, one field per replica): every `cache_ttl` each replica writes its
  own requests and tokens per target in the current minute and UTC day, and reads the
  others'. Their sum is counted by the local rate ledger in every admission, so a token or
  daily limit shared by N replicas is not spent N times. Entries older than `STALE_S` are
  ignored (a replica that stopped reporting), and removed after `FORGET_S`.
- **Circuit windows** (same entries): each replica's calls and failures per circuit over
  its rolling window; the others' sum is set on the local circuit (`peer_calls`,
  `peer_failures`), so a failure rate seen across replicas opens the circuit even when
  no single replica reached `min_calls`.
- **Spend** (strings `spend:m:<YYYY-MM>` and `spend:d:<YYYY-MM-DD>`): each answer's cost is
  added (`INCRBYFLOAT`, in the background), and the poll reads every replica's totals for
  the budget. A Redis that lost the keys (restart without persistence) is re-seeded with
  the largest total any replica's own ledger holds (`SPEND_LUA`), never less.

Nothing here runs on the request path: `add_spend` only adds to a dict.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import _json
from ..limits import LimitFacts
from ._base import Usage

if TYPE_CHECKING:
    from ._base import Peers

__all__ = ["Exchange", "facts_from_wire", "facts_to_wire"]

STALE_S = 2.0       # a replica's use older than this (or 8 polls) is not counted
FORGET_S = 60.0     # and older than this it is deleted from the hash
MONTH_TTL_S = 40 * 86_400.0
DAY_TTL_S = 2 * 86_400.0

# Add ARGV[1] to KEYS[1] if it exists; else (new period, or Redis lost it) start it at the
# caller's own total ARGV[2], which already includes ARGV[1]. Returns the new value.
SPEND_LUA = """
local v
if redis.call('EXISTS', KEYS[1]) == 1 then
  v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
else
  v = ARGV[2]
  redis.call('SET', KEYS[1], v)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return v
"""


def _month(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m")


def _day(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d")


def facts_to_wire(facts: LimitFacts, wall: float) -> dict[str, Any]:
    """Relative times -> Unix times, for the `limits` hash."""
    return {"b": wall + facts.blocked_s if facts.blocked_s > 0 else 0.0,
            "w": [None if w is None else [w[0], w[1], wall + w[2]] for w in facts.windows]}


def facts_from_wire(snap: dict[str, Any], wall: float) -> LimitFacts | None:
    try:
        blocked = float(snap.get("b") or 0.0)
        windows = tuple(None if w is None else
                        (None if w[0] is None else int(w[0]), bool(w[1]), float(w[2]) - wall)
                        for w in snap["w"][:4])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return LimitFacts(max(0.0, blocked - wall) if blocked else 0.0,
                      windows + (None,) * (4 - len(windows)))


class Exchange:
    """Use and spend, batched into RedisState's poll and write pipelines."""

    def __init__(self, replica: str, key: Callable[[str], str], *, cache_ttl: float,
                 wall: Callable[[], float],
                 windows: Callable[[], dict[str, tuple[int, int]]] = dict,
                 peer_windows: Callable[[dict[str, tuple[int, int]]], None] = lambda w: None,
                 ) -> None:
        self.replica = replica
        self.peers: Peers | None = None
        self._windows = windows
        self._peer_windows = peer_windows
        self._had_windows = False
        self._key = key
        self._wall = wall
        self._stale = max(STALE_S, 8 * cache_ttl)
        self._pending: dict[str, float] = {}          # spend key -> USD not yet added
        self._totals: tuple[str, float, str, float] | None = None   # month, usd, day, usd
        self._forget: list[str] = []
        self._peer_use: dict[str, Usage] = {}
        self.peers_seen = 0                           # other replicas alive at the last poll

    # -- spend ------------------------------------------------------------------------------
    def add_spend(self, usd: float, wall: float) -> bool:
        """Queue `usd` for the shared totals; True if there is something to write."""
        if usd <= 0 or not math.isfinite(usd):
            return False
        for key in (f"spend:m:{_month(wall)}", f"spend:d:{_day(wall)}"):
            self._pending[key] = self._pending.get(key, 0.0) + usd
        return True

    def spend_totals(self, wall: float, connected: bool) -> tuple[float, float] | None:
        totals = self._totals
        if not connected or totals is None:
            return None
        month, day = _month(wall), _day(wall)
        m = (totals[1] if totals[0] == month else 0.0) + \
            self._pending.get(f"spend:m:{month}", 0.0)
        d = (totals[3] if totals[2] == day else 0.0) + self._pending.get(f"spend:d:{day}", 0.0)
        return m, d

    @property
    def has_writes(self) -> bool:
        return bool(self._pending)

    def queue_writes(self, pipe: Any) -> dict[str, float]:
        """Add the pending spend to `pipe`; returns what was taken (to put back on error)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return pending
        wall = self._wall()
        floor = self.peers.spend_floor(wall) if self.peers is not None else (0.0, 0.0)
        month, day = f"spend:m:{_month(wall)}", f"spend:d:{_day(wall)}"
        for key, usd in pending.items():
            own = floor[0] if key == month else floor[1] if key == day else 0.0
            ttl = MONTH_TTL_S if key.startswith("spend:m:") else DAY_TTL_S
            pipe.eval(SPEND_LUA, 1, self._key(key), repr(usd), repr(max(own, usd)),
                      int(ttl * 1000))
        return pending

    def restore(self, pending: dict[str, float]) -> None:
        for key, usd in pending.items():
            self._pending[key] = self._pending.get(key, 0.0) + usd

    # -- the poll -----------------------------------------------------------------------------
    def queue_poll(self, pipe: Any, key_ttl_ms: int) -> None:
        """Write our use, read everyone's, read the spend totals (4 commands + deletes)."""
        wall = self._wall()
        own = self.peers.own_usage() if self.peers is not None else {}
        usage_key = self._key("usage")
        entry = {"t": wall, "u": own, "c": self._windows()}
        pipe.hset(usage_key, self.replica, _json.dumps(entry).decode())
        if self._forget:
            pipe.hdel(usage_key, *self._forget)
            self._forget = []
        pipe.pexpire(usage_key, key_ttl_ms)
        pipe.hgetall(usage_key)
        pipe.mget(self._key(f"spend:m:{_month(wall)}"), self._key(f"spend:d:{_day(wall)}"))

    def take_poll(self, results: list[Any]) -> None:
        """The last two results of `queue_poll`'s commands: the usage hash, the totals."""
        rows, (month, day) = results[-2], results[-1]
        wall = self._wall()
        sums: dict[str, list[int]] = {}
        windows: dict[str, list[int]] = {}
        live = 0
        for field, raw in rows.items():
            name = field.decode() if isinstance(field, bytes) else field
            if name == self.replica:
                continue
            try:
                entry = _json.loads(raw)
                age = wall - float(entry["t"])
                used = entry["u"]
            except (_json.JSONDecodeError, KeyError, TypeError, ValueError):
                self._forget.append(name)
                continue
            if age > FORGET_S:
                self._forget.append(name)
            if age > self._stale or not isinstance(used, dict):
                continue
            live += 1
            with contextlib.suppress(TypeError, ValueError, AttributeError):
                for target, counts in used.items():
                    acc = sums.setdefault(target, [0, 0, 0, 0])
                    for i, n in enumerate(counts[:4]):
                        acc[i] += int(n)
                for key, (calls, failures) in (entry.get("c") or {}).items():
                    w = windows.setdefault(key, [0, 0])
                    w[0] += int(calls)
                    w[1] += int(failures)
        self.peers_seen = live
        peer_use: dict[str, Usage] = {k: (v[0], v[1], v[2], v[3]) for k, v in sums.items()}
        peers = self.peers
        if peers is not None and (peer_use or self._peer_use):
            peers.peer_usage(peer_use)
        self._peer_use = peer_use
        if windows or self._had_windows:
            self._peer_windows({k: (v[0], v[1]) for k, v in windows.items()})
        self._had_windows = bool(windows)
        totals = (_month(wall), _float(month), _day(wall), _float(day))
        changed = totals != self._totals
        self._totals = totals
        if changed and peers is not None:
            peers.peer_spend()


def _float(raw: Any) -> float:
    try:
        return float(raw) if raw is not None else 0.0
    except (TypeError, ValueError):
        return 0.0
