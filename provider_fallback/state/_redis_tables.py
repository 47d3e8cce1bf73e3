"""The hashes RedisState replicates row by row: `circuits`, `overrides` (disabled and forced
providers, budget overrides) and `limits` (what a replica learned about a target's limits).

Every row carries a revision (the writer's wall clock, strictly increasing per row) and
its writer's replica id. A row is written only if Redis holds no newer revision
(`PUT_LUA`), applied only if newer than what this replica has, and re-written after an
outage if Redis lost it. Times travel as Unix time and are kept locally as monotonic.

A circuit row also carries its generation (`g`), and circuits are ordered by generation
first, revision second: Redis keeps, and a replica applies, a circuit row only if its
generation is at least the one already there, so a replica that acted on an older
generation (a late answer, a slow pub/sub message) can never roll a circuit back.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _json
from ..health._breaker import Circuit, CircuitState, RollingWindow
from ._redis_exchange import facts_from_wire, facts_to_wire

if TYPE_CHECKING:
    from ..limits import LimitFacts
    from ._base import Peers
    from ._memory import MemoryState

__all__ = ["TABLES", "Row", "SharedTables"]

TABLES = ("circuits", "overrides", "limits")
Row = tuple[str, str]   # (table, field)


class SharedTables:
    """This replica's side of the replicated rows: what it wrote, what it has yet to write
    (`dirty`), and which revision of each row it reflects. Applied rows land in `local`
    (circuits, overrides) or go to `peers` (limit facts, budget overrides)."""

    def __init__(self, replica: str, local: MemoryState, *, circuit_window: float,
                 clock: Callable[[], float], wall: Callable[[], float]) -> None:
        self.replica = replica
        self.peers: Peers | None = None
        self.dirty: dict[Row, dict[str, Any]] = {}   # rows to write, newest snapshot each
        self._local = local
        self._window = circuit_window
        self._clock = clock
        self._wall = wall
        self._revs: dict[Row, float] = {}            # revision each row reflects here
        self._mine: dict[Row, dict[str, Any]] = {}   # the last snapshot we wrote, per row
        self._shapes: dict[str, tuple[Any, ...]] = {}

    # -- time: monotonic locally, wall clock in Redis ----------------------------------
    def _to_wall(self, t: float) -> float | str:
        if t == 0.0:
            return 0.0
        if math.isinf(t):
            return "inf"
        return t - self._clock() + self._wall()

    def _to_mono(self, w: float | str) -> float:
        if w == "inf":
            return math.inf
        w = float(w)
        return 0.0 if w == 0.0 else w - self._wall() + self._clock()

    # -- writes ----------------------------------------------------------------------------
    @staticmethod
    def _shape(c: Circuit) -> tuple[Any, ...]:
        return (c.generation, c.state, c.open_until, c.opened_at, c.reopens, c.code,
                c.trial_until, c.closed_at)

    def put_circuit(self, c: Circuit) -> bool:
        """Queue a circuit's row; False if only its local rolling window moved."""
        shape = self._shape(c)
        if self._shapes.get(c.key) == shape:
            return False
        self._shapes[c.key] = shape
        self.mark("circuits", c.key, {
            "g": c.generation, "s": c.state.value, "ou": self._to_wall(c.open_until),
            "oa": self._to_wall(c.opened_at), "ca": self._to_wall(c.changed_at),
            "ct": self._to_wall(c.closed_at), "r": c.reopens, "c": c.code,
            "tu": self._to_wall(c.trial_until)})
        return True

    def put_disabled(self, provider: str, until: float | None) -> None:
        self.mark("overrides", f"disabled:{provider}",
                  {"u": None if until is None else self._to_wall(until)})

    def put_forced(self, provider: str | None) -> None:
        self.mark("overrides", "forced", {"p": provider})

    def put_limits(self, target_key: str, facts: LimitFacts) -> None:
        self.mark("limits", target_key, facts_to_wire(facts, self._wall()))

    def put_override(self, name: str, value: str | None) -> None:
        self.mark("overrides", f"budget:{name}", {"v": value})

    def mark(self, table: str, field: str, snap: dict[str, Any]) -> None:
        row = (table, field)
        rev = max(self._wall(), self._revs.get(row, 0.0) + 1e-6)   # newer than we saw
        self._revs[row] = rev
        snap["rev"] = rev
        snap["o"] = self.replica
        self.dirty[row] = snap
        self._mine[row] = snap

    def take_dirty(self) -> dict[Row, dict[str, Any]]:
        dirty, self.dirty = self.dirty, {}
        return dirty

    def restore(self, dirty: dict[Row, dict[str, Any]]) -> None:
        """Rows a failed write took: kept for the next try, unless superseded."""
        for row, snap in dirty.items():
            self.dirty.setdefault(row, snap)

    def push_newer(self, remote: dict[str, dict[Any, Any]]) -> None:
        """After an outage (Redis may have restarted empty): re-share what we wrote last,
        with its original revision, where Redis (`remote`: table -> rows) holds nothing
        newer."""
        seen: dict[Row, float] = {}
        for table, rows in remote.items():
            for field, raw in rows.items():
                with contextlib.suppress(Exception):
                    seen[(table, _text(field))] = float(_json.loads(raw).get("rev", 0.0))
        for row, snap in self._mine.items():
            rev = snap["rev"]
            if rev >= self._revs.get(row, 0.0) and rev > seen.get(row, -1.0):
                self.dirty.setdefault(row, snap)

    # -- reads -----------------------------------------------------------------------------
    def apply_rows(self, table: str, rows: dict[Any, Any]) -> None:
        """Every row of one table as read by the poll."""
        for field, raw in rows.items():
            try:
                snap = _json.loads(raw)
            except _json.JSONDecodeError:
                continue
            self.apply(table, _text(field), snap)

    def apply(self, table: str, field: str, snap: dict[str, Any]) -> None:
        """One row from Redis (the poll) or another replica (pub/sub)."""
        row = (table, field)
        rev = float(snap.get("rev", 0.0))
        if table == "circuits" and self._newer_generation(field, snap):
            self.dirty.pop(row, None)   # Redis refuses our older-generation write anyway
        elif rev <= self._revs.get(row, 0.0) or row in self.dirty:
            return   # ours, already applied, or about to be overwritten by our newer write
        self._revs[row] = rev
        peers = self.peers
        if table == "limits":
            facts = facts_from_wire(snap, self._wall())
            if facts is not None and peers is not None:
                peers.peer_facts(field, facts)
        elif field.startswith("budget:"):
            if peers is not None:
                value = snap.get("v")
                peers.peer_override(field.partition(":")[2],
                                    None if value is None else str(value))
        elif table == "circuits":
            self._apply_circuit(field, snap)
        elif field == "forced":
            self._local.set_forced(snap.get("p"))
        elif field.startswith("disabled:"):
            until = snap.get("u")
            self._local.set_disabled(field.partition(":")[2],
                                     None if until is None else self._to_mono(until))

    def _newer_generation(self, key: str, snap: dict[str, Any]) -> bool:
        c = self._local.circuit(key)
        return c is not None and int(snap.get("g", 0)) > c.generation

    def _apply_circuit(self, key: str, snap: dict[str, Any]) -> None:
        c = self._local.circuit(key)
        if c is None:
            c = Circuit(key, RollingWindow(self._window))
        generation = int(snap.get("g", 0))
        if generation < c.generation:
            return   # we already moved past it: never roll a circuit back
        if generation > c.generation or c.state.value != snap["s"]:
            c.consecutive = 0
        c.generation = generation
        c.state = CircuitState(snap["s"])
        c.open_until = self._to_mono(snap["ou"])
        c.opened_at = self._to_mono(snap["oa"])
        c.changed_at = self._to_mono(snap.get("ca", 0.0))
        c.closed_at = self._to_mono(snap.get("ct", 0.0))
        c.reopens = int(snap["r"])
        c.code = snap.get("c")
        c.trial_until = self._to_mono(snap["tu"])
        self._local.put_circuit(c)
        self._shapes[key] = self._shape(c)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
