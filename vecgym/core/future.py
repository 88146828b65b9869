"""The exogenous future of B roads: what the next H time slots hold whatever the policy does.

*Exogenous* means not influenced by the actions (offload ratios ``w``, edge shares ``a``):

* mobility: which vehicle sits in which vehicle slot, its position, lane and speed, who enters
  (at the entry and on ramps), who is blocked, who leaves the road during a slot;
* the channel: serving cells (and so handovers and gaps), fading, the radio map (and its drift),
  hence the uplink gain and SNR;
* the task arrivals: activity, Poisson counts, arrival instants and sizes per (vehicle, type).

Only the task table (the queues) and what is computed from it (rates shared among the uploaders,
completions, energy, cost, migrations, backhaul link state, metrics) depend on the actions.

Why stepping a shadow copy of the exogenous state gives the real future *exactly* (bit for bit),
under any actions:

* every random draw is counter-based (``vecgym.core.rng``): a pure function of (seed, time slot,
  stream, vehicle id, index), never of the order in which draws are made, of the vehicle slot
  or of what the queues hold;
* none of the exogenous phases reads the task table or the action: ``_move`` (mobility, exit
  instant ``t_cut``), the arrival draws (``draw_arrivals`` from the expected counts ``lam`` of the
  activity and the position; a task arriving in a gap gets w = 0 but arrives all the same), and
  ``_boundary`` (entries, fading and activity steps, radio map drift, ``_admit``, serving cells,
  gains, ``lam``);
* where a new vehicle goes depends only on which vehicle slots are free, i.e. on exits and
  entries, so the slot layout is exogenous too; so is the holding server (it follows the serving
  cell and keeps its value through a gap), though the future does not report it.

The shadow engine holds copies of the engine's arrays (vehicle arrays, ``fade``, ``radio_map``,
``seed``, ``slot``, ``next_id``, goal weights, link state), an *empty* task table, fresh metrics
and no trace of its own, and is stepped H times with w = 0 and a = 0: about the cost of H engine steps on an
empty queue. The engine passed in is not modified.

Caveat: if ``engine.draw_arrivals`` was replaced (the replay hook), the shadow calls the same
function; the future is exact only if that function is a pure function of its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .metrics import BatchMetrics
from .radio import noise_w
from .taskcols import N_COLS
from .xp import is_torch

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine


@dataclass(frozen=True)
class ExogenousFuture:
    """The next ``horizon`` slots of B roads, h = 0 being the slot the next action applies to.

    Per-vehicle-slot arrays are (H, B, M) (``arrivals_bytes`` (H, B, M, K)); ``road(b)`` drops the
    B axis. Values of an inactive vehicle slot are whatever the engine holds there (as
    ``Simulator.x`` shows them): read them through ``active``.
    """

    horizon: int
    vehicle_id: np.ndarray
    """(H, B, M) int64: the vehicle in each vehicle slot during slot h, -1 if empty."""
    active: np.ndarray
    """(H, B, M) bool: a vehicle occupies the vehicle slot during slot h."""
    x_m: np.ndarray
    """(H, B, M) position along the road at the start of slot h (m)."""
    y_m: np.ndarray
    """(H, B, M) lateral position (the lane's offset from the RSUs' line, m)."""
    speed_mps: np.ndarray
    """(H, B, M) speed at the start of slot h (m/s)."""
    cell: np.ndarray
    """(H, B, M) int64: the serving RSU during slot h, -1 in a coverage gap or if empty."""
    snr: np.ndarray
    """(H, B, M) linear uplink SNR alone on the full band, fading included, during slot h:
    P·gain / N(W), 0 for an empty slot (``Simulator.snr()`` before slot h is played)."""
    arrivals_bytes: np.ndarray
    """(H, B, M, K) bytes of the tasks that arrive during slot h per (vehicle slot, type)
    (``engine.last_arrivals_bytes`` right after slot h)."""
    exits: np.ndarray
    """(H, B, M) bool: the vehicle in the slot leaves the road during slot h."""

    FIELDS = ("vehicle_id", "active", "x_m", "y_m", "speed_mps", "cell", "snr", "arrivals_bytes", "exits")

    def road(self, b: int) -> ExogenousFuture:
        """Road ``b``'s future: every array with the B axis dropped ((H, M) or (H, M, K))."""
        return ExogenousFuture(self.horizon, **{f: getattr(self, f)[:, b] for f in self.FIELDS})


def shadow_engine(engine: Engine) -> Engine:
    """A copy of ``engine`` that shares nothing mutable with it and holds no tasks.

    Every array attribute is copied (they are all small once the task table is left out), the
    task table is empty, the metrics are fresh, the engine's trace is not touched. Config-derived objects
    (config, task types, kernels, ``draw_arrivals``) are shared: a step only reads them.
    """
    shadow = object.__new__(type(engine))
    X = engine.xp
    state = {}
    for key, val in engine.__dict__.items():
        if isinstance(val, np.ndarray) or is_torch(val):
            val = X.copy(val)
        elif isinstance(val, list):
            val = list(val)
        state[key] = val
    state.pop("_kernel_task_buf", None)  # kernels.arrive's spare rows: never share the engine's
    state["tasks"] = X.empty((0, N_COLS), dtype=X.float64)
    # No trace, but a tracing engine runs its numpy arrival/settle paths: the shadow takes the same
    # paths (into a throwaway list), so sums such as the arrival bytes add up in the same order.
    state["trace"] = None if engine.trace is None else []
    state["metrics"] = BatchMetrics(engine.B, engine.M, engine.K, engine.S, engine.cfg, xp=X)
    shadow.__dict__.update(state)
    return shadow


def exogenous_future(engine: Engine, horizon: int) -> ExogenousFuture:
    """The exogenous future of ``engine``'s B roads for the next ``horizon`` slots (module doc).

    Exact (``np.array_equal``) against what the engine will do under any actions. Costs about
    ``horizon`` engine steps on empty queues; ``engine`` is not modified.
    """
    H = int(horizon)
    if H < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon!r}")
    X, cfg, B, M, K = engine.xp, engine.cfg, engine.B, engine.M, engine.K
    f = X.float64
    vid = X.empty((H, B, M), dtype=X.int64)
    active = X.empty((H, B, M), dtype=X.bool_)
    x = X.empty((H, B, M), dtype=f)
    y = X.empty((H, B, M), dtype=f)
    v = X.empty((H, B, M), dtype=f)
    cell = X.empty((H, B, M), dtype=X.int64)
    snr = X.empty((H, B, M), dtype=f)
    arr = X.empty((H, B, M, K), dtype=f)
    exits = X.empty((H, B, M), dtype=X.bool_)
    if H:
        sim = shadow_engine(engine)
        zeros = X.zeros((B, M, K), dtype=f)
        noise = float(noise_w(cfg.bandwidth_hz, cfg))
        for h in range(H):
            vid[h], active[h], x[h], v[h], cell[h] = sim.vid, sim.active, sim.x, sim.v, sim.cell
            y[h] = sim.lane_y_m[sim.lane]
            snr[h] = X.where(sim.active, cfg.tx_power_w * sim.gain / noise, 0.0)
            sim.step(zeros, zeros)
            arr[h] = sim.last_arrivals_bytes
            # Ids are never reused, so a vehicle left iff its slot now holds no one or someone else.
            exits[h] = active[h] & (~sim.active | (sim.vid != vid[h]))
    return ExogenousFuture(H, vid, active, x, y, v, cell, snr, arr, exits)
