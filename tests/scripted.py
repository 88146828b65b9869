"""A scripted road for hand-computed physics tests (``test_physics.py``, ``test_radio.py``).

``World`` builds a one-road ``Engine`` with no traffic of its own (N is tiny, so nobody enters),
places exactly the vehicles a test lists (vehicle slot n holds vehicle id n, class car, |h|² = 1,
a flat radio map unless asked otherwise) and replaces the arrival process with the tasks the test
schedules (``arrive``). A test can set each vehicle's channel gain for the coming slot (the engine
recomputes gains from positions at every boundary) and reads back, per slot, the metrics and the
engine's trace (resolved tasks with outcome and finish time, energy (5,), QoS cost, migrations).

Nothing here computes an expected value: expectations are written out in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecgym.config import VECConfig
from vecgym.core.arrivals import NewTasks
from vecgym.core.engine import Engine
from vecgym.simulator import backlogs

COMPLETED, FAILED, DROPPED = 0, 1, 2

try:
    import numba  # noqa: F401

    KERNELS: tuple[str, ...] = ("numpy", "numba")
except ImportError:  # the numba fast path is optional
    KERNELS = ("numpy",)
"""The engine implementations the hand-computed tests run on (the reference and, if installed, numba)."""
ENERGY = ("local", "upload", "download", "migration", "edge")


@dataclass
class Veh:
    """A vehicle to place: position (m), speed (m/s), lane."""

    x: float
    v: float = 0.0
    lane: int = 0


@dataclass
class Slot:
    """What one scripted slot produced."""

    metrics: dict[str, float]
    trace: dict[str, Any]
    energy: dict[str, float] = field(default_factory=dict)
    reward_terms: dict[str, float] = field(default_factory=dict)

    @property
    def qos_cost(self) -> float:
        return float(self.trace["qos_cost"][0])

    def resolved(self) -> dict[float, tuple[int, float]]:
        """Arrival time -> (outcome, finish time) of the tasks that resolved in this slot."""
        r = self.trace["resolved"]
        assert np.unique(r["t_arr"]).shape[0] == r["t_arr"].shape[0], "scripted tasks need distinct arrival times"
        return {float(t): (int(o), float(f)) for t, o, f in zip(r["t_arr"], r["outcome"], r["finish"], strict=True)}


class World:
    """One road with the listed vehicles in vehicle slots 0, 1, ... and scripted arrivals."""

    def __init__(
        self,
        vehicles: list[Veh],
        *,
        keep_radio_map: bool = False,
        seed: int = 0,
        kernels: str = "auto",
        **overrides: Any,
    ):
        base: dict[str, Any] = dict(n_vehicles=1e-9, n_max=max(len(vehicles), 1) + 1, activity_std=0.0)
        base.update(overrides)
        self.cfg = VECConfig.from_kwargs(**base)
        eng = self.eng = Engine(self.cfg, n_roads=1, kernels=kernels)
        eng.reset(np.array([seed]))
        assert not eng.active.any(), "the scripted road must start empty"
        if not keep_radio_map:
            eng.radio_map[:] = 0.0
        eng.active[:] = False
        eng.vid[:] = -1
        for n, veh in enumerate(vehicles):
            eng.active[0, n] = True
            eng.vid[0, n] = n
            eng.x[0, n] = veh.x
            eng.v[0, n] = veh.v
            eng.v_target[0, n] = veh.v
            eng.lane[0, n] = veh.lane
            eng.vclass[0, n] = 0
            eng.fade[:, 0, n] = (1.0, 0.0)
        eng.next_id[0] = len(vehicles)
        eng.weight[:] = 1.0
        eng._prepare_slot(np.ones(1, dtype=bool), migrate=False)
        self.M, self.K = eng.M, eng.K
        self._scheduled: list[tuple[int, int, float, float]] = []
        eng.draw_arrivals = self._draw
        eng.trace = []
        self.slots: list[Slot] = []

    # --- scripting ------------------------------------------------------------------------------
    @property
    def t0(self) -> float:
        return float(self.eng.t_s[0])

    def arrive(self, n: int, k: int, t_arr: float, size_bytes: float) -> float:
        """A task of type k and ``size_bytes`` at vehicle slot n at ``t_arr`` in the coming slot."""
        t0 = self.t0
        assert t0 <= t_arr < t0 + self.cfg.slot_s, (t_arr, t0)
        self._scheduled.append((n, k, t_arr, size_bytes))
        return t_arr

    def _draw(self, lam, seed, slot, vid, t0_s, types, slot_s) -> NewTasks:
        tasks, self._scheduled = self._scheduled, []
        return NewTasks(
            g=np.array([n for n, _, _, _ in tasks], dtype=np.int64),
            typ=np.array([k for _, k, _, _ in tasks], dtype=np.int64),
            t_arr_s=np.array([t for _, _, t, _ in tasks], dtype=np.float64),
            size_bytes=np.array([s for _, _, _, s in tasks], dtype=np.float64),
        )

    def grid(self, value: float | dict[tuple[int, int], float] | np.ndarray) -> np.ndarray:
        """A (1, M, K) action from a scalar (every entry), a {(n, k): value} dict or an array."""
        if isinstance(value, dict):
            out = np.zeros((self.M, self.K))
            for (n, k), v in value.items():
                out[n, k] = v
            return out[None]
        if np.ndim(value) == 0:
            return np.full((1, self.M, self.K), float(value))
        return np.asarray(value, dtype=np.float64).reshape(1, self.M, self.K)

    def step(
        self,
        w: float | dict[tuple[int, int], float] | np.ndarray = 0.0,
        a: float | dict[tuple[int, int], float] | np.ndarray = 0.0,
        gain: dict[int, float] | None = None,
    ) -> Slot:
        """One slot with offload ratios ``w`` and edge shares ``a``; ``gain`` sets vehicles' channel
        gains |h|²·10^(-(PL+S)/10) for this slot (the engine's own otherwise)."""
        for n, g in (gain or {}).items():
            self.eng.gain[0, n] = g
        res = self.eng.step(self.grid(w), self.grid(a))
        metrics = {k: float(v[0]) for k, v in res.metrics.items()}
        assert metrics["vehicles_entered"] == 0.0, "a vehicle entered the scripted road"
        tr = self.eng.trace[-1]
        slot = Slot(
            metrics=metrics,
            trace=tr,
            energy={k: float(tr["energy_j"][0, i]) for i, k in enumerate(ENERGY)},
            reward_terms={k: float(v[0]) for k, v in res.reward_terms.items()},
        )
        self.slots.append(slot)
        return slot

    # --- state read-outs --------------------------------------------------------------------------
    def backlog(self) -> dict[str, np.ndarray]:
        """Work each vehicle slot still holds (local cycles, upload bits, edge cycles (M, K), result bits)."""
        return {k: v[0] for k, v in backlogs(self.eng).items()}

    def outcome(self, t_arr: float) -> tuple[int, float, int]:
        """(outcome, finish, index of the slot it resolved in) of the task that arrived at ``t_arr``."""
        for i, s in enumerate(self.slots):
            hit = s.resolved().get(float(t_arr))
            if hit is not None:
                return hit[0], hit[1], i
        raise AssertionError(f"the task that arrived at {t_arr} has not resolved")

    def total(self, key: str) -> float:
        """Sum of an energy component or a metric over the slots run so far."""
        if key in ENERGY:
            return sum(s.energy[key] for s in self.slots)
        if key == "qos_cost":
            return sum(s.qos_cost for s in self.slots)
        return sum(s.metrics[key] for s in self.slots)
