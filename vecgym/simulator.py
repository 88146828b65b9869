"""One road: the batch-first engine (``vecgym.core.engine``) at B = 1, with per-road views.

``Simulator`` is what ``VECEnv``, the twin and the agents hold. Its arrays are views of road 0 of
the engine (shape (n_max,) or (n_max, K)), so nothing is copied per slot. The physics, its phases
and their order are documented in ``vecgym.core.engine`` and ``docs/physics_v2.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import VECConfig
from .core.engine import Engine
from .core.future import ExogenousFuture
from .core.taskcols import EDGE_REM, LATE, LOC_REM, RES_REM, T_ARR, TYP, UP_REM, G
from .goals import GoalSpec


@dataclass
class SlotResult:
    """What one slot produced on one road (the env turns it into reward and ``info``)."""

    reward: float
    reward_terms: dict[str, float]
    metrics: dict[str, float]


def backlogs(engine: Engine) -> dict[str, np.ndarray]:
    """Work each vehicle slot still holds, (B, M) or (B, M, K): local cycles, upload bits,
    edge cycles per type, result bits."""
    fast = getattr(engine, "_k", None)
    if fast is not None and fast.backlogs is not None:
        return fast.backlogs(engine)  # the same sums in one compiled pass (vecgym.core.kernels)
    X, B, M, K = engine.xp, engine.B, engine.M, engine.K
    tasks = engine.tasks
    g = X.astype(tasks[:, G], X.int64)
    q = g * K + X.astype(tasks[:, TYP], X.int64)
    return {
        "local_cycles": X.bincount(g, weights=tasks[:, LOC_REM], length=B * M).reshape(B, M),
        "upload_bits": X.bincount(g, weights=tasks[:, UP_REM], length=B * M).reshape(B, M),
        "edge_cycles": X.bincount(q, weights=tasks[:, EDGE_REM], length=B * M * K).reshape(B, M, K),
        "result_bits": X.bincount(g, weights=tasks[:, RES_REM], length=B * M).reshape(B, M),
    }


def pending_summary(engine: Engine, road: int) -> dict[str, float]:
    """The tasks still in flight on ``road``: how many, how many already late, their mean age (ms)."""
    all_tasks = engine.xp.to_numpy(engine.tasks)  # host figures (a copy from the device on torch)
    tasks = all_tasks[all_tasks[:, G].astype(np.intp) // engine.M == road]
    now = float(engine.t_s[road])
    return {
        "tasks_pending": int(tasks.shape[0]),
        "tasks_pending_late": int((tasks[:, LATE] != 0.0).sum()),
        "pending_age_ms_mean": 1e3 * float((now - tasks[:, T_ARR]).mean()) if tasks.shape[0] else float("nan"),
    }


class Simulator:
    """The physical layer of one road. ``reset(seed)`` then ``step(w, a)`` with (n_max, K) arrays."""

    def __init__(self, cfg: VECConfig, mobility: Any = None):
        if mobility is not None:
            raise ValueError(
                "a custom mobility model is not supported by the v2 engine yet; its traffic module "
                "(vecgym.core.traffic) takes ids and arrays, so an adapter goes there"
            )
        self.cfg = cfg
        self.engine = Engine(cfg, n_roads=1)
        self.n_max = self.engine.M
        self.K = self.engine.K

    @classmethod
    def view(cls, engine: Engine) -> Simulator:
        """Road 0 of an existing ``engine`` (e.g. a ``VECVectorEnv``'s) as a ``Simulator``: its arrays
        are views of that engine's, nothing is copied. Meant for reading (rendering): its ``reset``
        and ``step`` would bypass the bookkeeping of whoever owns the engine."""
        sim = cls.__new__(cls)
        sim.cfg, sim.engine, sim.n_max, sim.K = engine.cfg, engine, engine.M, engine.K
        return sim

    # --- road-0 views --------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # Per-vehicle state of road 0 (active, vid, x, v, lane, vclass, cell, holder, gain, weight,
        # lam, last_arrivals_bytes, act_z, ...): views of the engine's (1, ...) arrays.
        if name in _ROAD_VIEWS:
            return getattr(self.engine, name)[0]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    @property
    def y(self) -> np.ndarray:
        """Lateral position of each vehicle slot (m from the RSUs' line)."""
        return self.engine.lane_y_m[self.engine.lane[0]]

    @property
    def slot(self) -> int:
        return int(self.engine.slot[0])

    @property
    def t(self) -> float:
        return float(self.engine.t_s[0])

    @property
    def seed(self) -> int:
        return int(self.engine.seed[0])

    @property
    def tasks(self) -> np.ndarray:
        return self.engine.tasks

    @property
    def metrics(self) -> Any:
        return self.engine.metrics

    @property
    def goal(self) -> GoalSpec:
        return self.engine.goals[0]

    def backlogs(self) -> dict[str, np.ndarray]:
        """Work each vehicle slot still holds (see ``backlogs``), road 0."""
        return {k: v[0] for k, v in backlogs(self.engine).items()}

    @property
    def edge_backlog(self) -> np.ndarray:
        """Edge cycles still queued per (vehicle slot, type), (n_max, K)."""
        return self.backlogs()["edge_cycles"]

    @property
    def up_backlog(self) -> np.ndarray:
        """Bits still to upload per vehicle slot, (n_max,)."""
        return self.backlogs()["upload_bits"]

    def snr(self) -> np.ndarray:
        """Uplink SNR (linear) of each vehicle slot alone on its cell's band, 0 if inactive."""
        from .core.radio import noise_w

        noise = noise_w(self.cfg.bandwidth_hz, self.cfg)
        return np.where(self.active, self.cfg.tx_power_w * self.gain / noise, 0.0)

    def exogenous_future(self, horizon: int) -> ExogenousFuture:
        """This road's next ``horizon`` slots as far as no action can change them: (H, n_max[, K])
        arrays of vehicle ids, active mask, positions, speeds, serving cells, uplink SNR (what
        ``snr()`` returns before each slot), arrival bytes per type and exits; h = 0 is the slot
        the next ``step`` plays. Exact under any actions (counter-based draws; see
        ``vecgym.core.future``); nothing here is modified, and no deep copy is made."""
        return self.engine.exogenous_future(horizon).road(0)

    # ------------------------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        """A stationary road drawn from ``seed``, empty queues, the balanced goal."""
        self.engine.reset(np.array([seed], dtype=np.int64))

    def set_goal(self, goal: GoalSpec) -> None:
        """Make ``goal`` the objective of the reward (weights of present and future vehicles)."""
        self.engine.set_goal(0, goal)

    def step(self, w: np.ndarray, a: np.ndarray) -> SlotResult:
        """Advance one slot with offload ratios ``w`` and edge shares ``a``, both (n_max, K)."""
        res = self.engine.step(w[None], a[None])
        return SlotResult(
            reward=float(res.reward[0]),
            reward_terms={k: float(v[0]) for k, v in res.reward_terms.items()},
            metrics={k: float(v[0]) for k, v in res.metrics.items()},
        )

    def episode_metrics(self) -> dict[str, Any]:
        """Running totals of the episode (v1's names; see ``BatchMetrics.summary``)."""
        return self.engine.metrics.summary(0, self.engine.active[0], pending_summary(self.engine, 0))


_ROAD_VIEWS = frozenset(Engine.VEHICLE_ARRAYS)
