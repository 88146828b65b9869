"""The batch-first simulator: B independent roads of one config advanced one time slot per call.

State is struct-of-arrays with a leading road axis: vehicles live in ``n_max`` vehicle slots per
road ((B, M) arrays with an ``active`` mask), tasks in flight in one float table of all roads
(``taskcols``), compacted every slot. A *vehicle slot* is a place in those arrays; a *time slot*
is one τ of simulated time. No Python loop runs over roads, vehicles or tasks in a step.

One time slot [t0, t1) runs these phases in order:

1. ``_move``: mobility; who leaves the road during the slot, and when (``t_cut``).
2. ``_arrive``: Poisson arrivals per (vehicle, type); a vehicle in a gap offloads nothing new.
3. ``_upload``: uplink FIFOs at each cell's band share (uploaders at the slot start or arriving).
4. ``_serve_edge``: edge FIFOs at a·F_e on the holding server; DVFS energy per server.
5. ``_download``: result FIFOs from the serving RSU.
6. ``_compute_local``: the vehicles' CPUs (a leaving vehicle's local parts run to completion).
7. ``_settle``: completions, failures, drops at cap deadlines, QoS cost accrual, violations.
8. ``_boundary``: departures, entries, fading / activity / radio map steps, serving cells and
   handovers (with migration) for the next slot, channel gains, expected arrivals.

Every random draw is counter-based (``rng``): road b seeded s + b reproduces a single road seeded
s + b, whatever B, the policy, or the vehicle slots.

Backends: every array lives in the engine's array namespace ``self.xp`` (``vecgym.core.xp``):
numpy (the default) or torch on ``device`` (``Engine(backend="torch", device="cuda")``), float64 /
int64 / bool throughout. The phases are one implementation for both; the torch backend runs the
reference functions (``kernels`` "auto" or "numpy"), and reproduces the numpy backend on the CPU
(``tests/test_backend_torch.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ..config import VECConfig
from ..goals import BALANCED, GoalSpec
from ..reward import RewardScale, own_costs, reward_terms, total
from ..tasks import TaskTypes, ZoneProfile
from ..vocab import CLASSES
from . import arrivals, cells, phases, radio, traffic
from . import backend as kernel_backend
from . import xp as xp_mod
from .future import ExogenousFuture, exogenous_future
from .metrics import BatchMetrics
from .rng import Stream
from .taskcols import ACC, LATE, N_COLS, T_ARR, TYP, UP_REM, G, new_rows

INF = np.inf


@dataclass
class BatchResult:
    """What one time slot produced on each road: reward (B,), named terms and metrics (B,) each."""

    reward: np.ndarray
    reward_terms: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]
    own_cost: np.ndarray
    """(B, M) each vehicle slot's own cost this slot (``vecgym.reward.own_costs``): its tasks' QoS
    cost and the joules spent on its work, weighed by the goal; 0 for an empty slot."""


class Engine:
    """B roads of one ``VECConfig``. ``reset(seeds)`` then ``step(w, a)`` with (B, M, K) arrays."""

    #: Per-vehicle-slot state, each (B, M) or (B, M, K) (``fade`` is (2, B, M) and not listed).
    VEHICLE_ARRAYS: tuple[str, ...] = (
        "active", "vid", "vclass", "lane", "x", "v", "v_target", "act_z", "cell", "holder", "gain", "lam",
        "weight", "last_arrivals_bytes",
    )  # fmt: skip

    def __init__(
        self, cfg: VECConfig, n_roads: int = 1, kernels: str = "auto", backend: str = "numpy", device: str = "cpu"
    ):
        self.cfg = cfg
        self.xp = xp_mod.get(backend, device)
        """The array namespace of every array here: numpy, or torch on ``device``."""
        self.backend, self.device = backend, str(device)
        self._k = kernel_backend.select(kernels, backend)
        self.kernels = self._k.name
        """The hot-spot implementation in use: "numpy" (the reference) or "numba" (``core.kernels``)."""
        self.B, self.M, self.K, self.S = int(n_roads), cfg.slots, cfg.n_task_types, cfg.n_servers
        X = self.xp
        types = TaskTypes.from_config(cfg)
        self.kappa_edge = cfg.kappa_edge_value
        self.local_j_per_cycle = cfg.kappa_vehicle * cfg.vehicle_cpu_hz**2
        self.scale = RewardScale(
            tasks_per_vehicle=float(types.rate_hz.sum() * cfg.slot_s),
            local_energy_per_vehicle_j=float((types.rate_hz * types.mean_cycles).sum() * cfg.slot_s)
            * self.local_j_per_cycle,
        )
        self.types = types if X is xp_mod.NUMPY else _types_on(types, X)
        self.zone = ZoneProfile(cfg)
        self.result_ratio = X.asarray(np.asarray(cfg.per_type("result_ratio"), dtype=np.float64))
        self.rsu_x = X.asarray(np.asarray(cfg.rsu_x_m, dtype=np.float64))
        self.lane_y_m = X.asarray(cfg.lane_offset_m + cfg.lane_width_m * np.arange(cfg.n_lanes), dtype=X.float64)
        self.metrics = BatchMetrics(self.B, self.M, self.K, self.S, cfg, xp=X)
        self.draw_arrivals = self._k.draw_arrivals
        """The arrival process (replace it to replay recorded or scripted tasks)."""
        self.trace: list[dict] | None = None
        """Set to a list to record each slot's inputs and outcomes (for the reference-model tests)."""
        self._allocate()

    def __getstate__(self) -> dict:
        # The kernel table holds (compiled) functions: pickle its name and select it again; the
        # namespace is rebuilt from the backend's name and device.
        state = self.__dict__.copy()
        state["_k"] = self._k.name
        state.pop("xp", None)
        state.pop("_kernel_task_buf", None)  # kernels.arrive's spare rows: rebuilt on demand
        if state["draw_arrivals"] is self._k.draw_arrivals:
            state["draw_arrivals"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.backend = state.get("backend", "numpy")
        self.device = state.get("device", "cpu")
        self.xp = xp_mod.get(self.backend, self.device)
        self._k = kernel_backend.select(state["_k"], self.backend)
        if self.draw_arrivals is None:
            self.draw_arrivals = self._k.draw_arrivals

    # ------------------------------------------------------------------------------------------
    def _allocate(self) -> None:
        B, M, K, S, C = self.B, self.M, self.K, self.S, len(CLASSES)
        X = self.xp
        f, i, b = X.float64, X.int64, X.bool_
        z = X.zeros
        self.seed = z(B, dtype=i)
        self.slot = z(B, dtype=i)
        self.next_id = z(B, dtype=i)
        self.active = z((B, M), dtype=b)
        self.vid = X.full((B, M), -1, dtype=i)
        self.vclass = z((B, M), dtype=i)
        self.lane = z((B, M), dtype=i)
        self.x = z((B, M), dtype=f)
        self.v = z((B, M), dtype=f)
        self.v_target = z((B, M), dtype=f)
        self.fade = z((2, B, M), dtype=f)  # Rayleigh coefficient (re, im), E|h|² = 1
        self.act_z = z((B, M, K), dtype=f)
        self.cell = X.full((B, M), -1, dtype=i)  # serving RSU for the coming slot; -1 gap
        self.holder = X.full((B, M), -1, dtype=i)  # server holding the vehicle's edge queues
        self.gain = z((B, M), dtype=f)  # |h|²·10^(-(PL+S)/10) towards the serving (or nearest) RSU
        self.lam = z((B, M, K), dtype=f)  # expected arrivals in the coming slot
        self.weight = X.ones((B, M), dtype=f)
        self.last_arrivals_bytes = z((B, M, K), dtype=f)
        self.radio_map = z((B, S, self.cfg.n_lanes, radio.map_grid(self.cfg).shape[0]), dtype=f)
        self.link_free_s = z((B, max(S - 1, 1)), dtype=f)
        self.tasks = X.empty((0, N_COLS), dtype=f)
        self.pending_migration_j = z(B, dtype=f)
        self.pending_handovers = z((B, 2), dtype=f)  # handovers, migrated bytes at the last boundary
        # Goal per road.
        self.goals: list[GoalSpec] = [BALANCED] * B
        self.beta = X.ones((B, 2), dtype=f)  # qos, energy
        self.fairness = z(B, dtype=f)
        self.deadline_scale = X.ones(B, dtype=f)
        self.class_w = X.ones((B, C), dtype=f)
        self.named = X.full((B, 0), -2, dtype=i)
        self.named_w = X.ones((B, 0), dtype=f)

    @property
    def t_s(self) -> Any:
        """Current time of each road (s), exact multiples of τ."""
        return self._times(self.slot)

    def _times(self, slot: Any) -> Any:
        """Start times (s) of time slots ``slot`` (int64): slot·τ in float64 (as numpy's int × float)."""
        return self.xp.astype(slot, self.xp.float64) * self.cfg.slot_s

    def _on_device(self, arr: Any) -> Any:
        """``arr`` as an array of this engine's namespace (numpy input passes unchanged on numpy)."""
        X = self.xp
        return arr if X is xp_mod.NUMPY or xp_mod.is_torch(arr) else X.asarray(arr)

    # ------------------------------------------------------------------------------------------
    def reset(self, seeds: Any, roads: Any = None) -> None:
        """Start new episodes on ``roads`` ((B,) mask; all if None) with ``seeds`` ((B,) ints).

        A stationary road (Poisson(N) vehicles, speeds length-biased), empty queues, a fresh
        radio map, the balanced goal.
        """
        X = self.xp
        mask = X.ones(self.B, dtype=X.bool_) if roads is None else X.asarray(roads, dtype=X.bool_)
        seeds = X.asarray(seeds, dtype=X.int64).reshape(self.B)
        self.seed = X.where(mask, seeds, self.seed)
        self.slot[mask] = 0
        self.next_id[mask] = 0
        self.active[mask] = False
        self.vid[mask] = -1
        self.holder[mask] = -1
        self.link_free_s[mask] = 0.0
        self.last_arrivals_bytes[mask] = 0.0
        self.pending_migration_j[mask] = 0.0
        self.pending_handovers[mask] = 0.0
        if self.tasks.shape[0]:
            self.tasks = self.tasks[~mask[X.astype(self.tasks[:, G], X.int64) // self.M]]
        self.radio_map[mask] = self._k.draw_radio_map(self.seed[mask], self.cfg)
        self.metrics.reset(mask)
        self._set_goals(mask, BALANCED)
        new = self._k.initial(self.seed[mask], self.cfg)
        new.road = X.flatnonzero(mask)[new.road]
        self._admit(new)
        self._prepare_slot(mask, migrate=False)

    # ------------------------------------------------------------------------------------------
    def set_goal(self, road: int, goal: GoalSpec) -> None:
        """Make ``goal`` road ``road``'s objective (weights of present and future vehicles)."""
        X = self.xp
        self.goals[road] = goal
        self.beta[road] = X.asarray([goal.beta_qos, goal.beta_energy], dtype=X.float64)
        self.fairness[road] = goal.fairness
        self.deadline_scale[road] = goal.deadline_scale
        self.class_w[road] = X.asarray([goal.class_weights.get(c, 1.0) for c in CLASSES], dtype=X.float64)
        vids = list(goal.vehicle_weights)
        if len(vids) > self.named.shape[1]:
            extra = len(vids) - self.named.shape[1]
            self.named = X.concatenate((self.named, X.full((self.B, extra), -2, dtype=X.int64)), axis=1)
            self.named_w = X.concatenate((self.named_w, X.ones((self.B, extra), dtype=X.float64)), axis=1)
        self.named[road] = -2
        self.named_w[road] = 1.0
        if vids:
            self.named[road, : len(vids)] = X.asarray(vids, dtype=X.int64)
            self.named_w[road, : len(vids)] = X.asarray([goal.vehicle_weights[v] for v in vids], dtype=X.float64)
        self.metrics.track(road, [int(v) for v in vids])
        self.weight[road] = self._weights(self.vid[road : road + 1], self.vclass[road : road + 1], [road])[0]

    def _set_goals(self, mask: Any, goal: GoalSpec) -> None:
        """``set_goal(b, goal)`` for every road of the (B,) mask at once; ``goal`` names no vehicle."""
        assert not goal.vehicle_weights, "a goal naming vehicles is set road by road (set_goal)"
        X = self.xp
        for b in X.to_numpy(X.flatnonzero(mask)).tolist():
            self.goals[b] = goal
        self.beta[mask] = X.asarray([goal.beta_qos, goal.beta_energy], dtype=X.float64)
        self.fairness[mask] = goal.fairness
        self.deadline_scale[mask] = goal.deadline_scale
        self.class_w[mask] = X.asarray([goal.class_weights.get(c, 1.0) for c in CLASSES], dtype=X.float64)
        self.named[mask] = -2
        self.named_w[mask] = 1.0
        self.weight = X.where(mask[:, None], self._weights(self.vid, self.vclass), self.weight)

    def _weights(self, vid: Any, vclass: Any, roads: Any = None) -> Any:
        """QoS weight (class weight × named-vehicle weight) of vehicles (R, M') on ``roads`` (all if None)."""
        X = self.xp
        class_w = self.class_w if roads is None else self.class_w[roads]
        w = X.take_along_axis(class_w, vclass, axis=1)
        if self.named.shape[1]:
            named = self.named if roads is None else self.named[roads]
            named_w = self.named_w if roads is None else self.named_w[roads]
            match = vid[:, :, None] == named[:, None, :]
            w = w * X.where(match, named_w[:, None, :], 1.0).prod(axis=2)
        return w

    # ------------------------------------------------------------------------------------------
    def _admit(self, new: traffic.NewVehicles) -> Any:
        """Put entering vehicles into the first free vehicle slots of their road; (B,) blocked."""
        X, B, M = self.xp, self.B, self.M
        if new.road.shape[0] == 0:
            return X.zeros(B, dtype=X.int64)
        n_new = X.bincount(new.road, length=B)
        free = ~self.active
        rank = X.cumsum(free, axis=1) - 1
        starts = X.cumsum(n_new, axis=0) - n_new
        take = free & (rank < n_new[:, None])
        flat = X.flatnonzero(take)
        b_idx, m_idx = flat // M, flat % M
        src = starts[b_idx] + rank[b_idx, m_idx]
        self.active[b_idx, m_idx] = True
        self.vid[b_idx, m_idx] = new.vid[src]
        self.x[b_idx, m_idx] = new.x_m[src]
        self.v[b_idx, m_idx] = new.speed_mps[src]
        self.v_target[b_idx, m_idx] = new.speed_mps[src]
        self.lane[b_idx, m_idx] = new.lane[src]
        self.vclass[b_idx, m_idx] = new.vclass[src]
        seeds = self.seed[b_idx]
        self.fade[:, b_idx, m_idx] = self._k.fading_draw(seeds, -1, new.vid[src], Stream.VEHICLE_INIT)
        self.act_z[b_idx, m_idx] = self._k.activity_init(seeds, new.vid[src], self.K, self.cfg)
        self.holder[b_idx, m_idx] = -1
        self.last_arrivals_bytes[b_idx, m_idx] = 0.0
        self.next_id = X.maximum(self.next_id, self._max_vid_plus_one(new, B))
        self.metrics.admit(take)
        # Per element the same as recomputing the taken roads only: no host sync on the taken set.
        self.weight = X.where(take, self._weights(self.vid, self.vclass), self.weight)
        return n_new - take.sum(axis=1)

    @staticmethod
    def _max_vid_plus_one(new: traffic.NewVehicles, B: int) -> Any:
        X = xp_mod.xp_of(new.vid)
        out = X.zeros(B, dtype=X.int64)
        X.scatter_max(out, new.road, new.vid + 1)
        return out

    # ------------------------------------------------------------------------------------------
    def _prepare_slot(self, roads: Any, migrate: bool) -> None:
        """At a time-slot boundary: serving cells and handovers, then gains and arrival means."""
        X, cfg = self.xp, self.cfg
        cell = X.where(self.active, cells.serving_cell(self.x, cfg), -1)
        cell = X.where(roads[:, None], cell, self.cell)
        moving = self.active & roads[:, None] & (cell >= 0) & (self.holder >= 0) & (cell != self.holder)
        if migrate and bool(moving.any()):
            g = X.flatnonzero(moving)
            src, dst = self.holder.reshape(-1)[g], cell.reshape(-1)[g]
            if self.trace is not None and self.trace:
                self.trace[-1]["migration"] = {"g": g, "src": X.copy(src), "dst": X.copy(dst), "t": self.t_s}
            mig = cells.migrate(self.tasks, g, src, dst, self.t_s, self.link_free_s, self.M, cfg)
            self.link_free_s = mig.link_free_s
            self.pending_migration_j += mig.energy_j
            self.pending_handovers += X.stack(
                (X.astype(mig.handovers, X.float64), X.astype(mig.bytes, X.float64)), axis=1
            )
        self.cell = cell
        self.holder = X.where(self.active & (cell >= 0), cell, self.holder)
        self.holder = X.where(self.active, self.holder, -1)
        self._channel_gains(roads)
        lam = arrivals.mean_counts(self.act_z, self.x, self.vclass, self.active, self.types, self.zone, cfg)
        self.lam = X.where(roads[:, None, None], lam, self.lam)

    def _channel_gains(self, roads: Any) -> None:
        """|h|²·10^(-(PL+S)/10) towards the serving RSU (the nearest one in a gap)."""
        X, cfg = self.xp, self.cfg
        nearest = X.argmin(X.abs(self.x[..., None] - self.rsu_x), axis=-1)
        towards = X.where(self.cell >= 0, self.cell, nearest)
        dist = radio.distance_m(self.x, self.lane_y_m[self.lane], self.rsu_x[towards], cfg.antenna_height_m)
        b_idx = X.broadcast_to(X.arange(self.B)[:, None], self.x.shape).reshape(-1)
        shadow = self._k.map_shadowing_db(
            self.radio_map, b_idx, towards.reshape(-1), self.lane.reshape(-1), self.x.reshape(-1), cfg
        ).reshape(self.x.shape)
        fade = self.fade[0] ** 2 + self.fade[1] ** 2 if cfg.fading else 1.0
        gain = fade * 10.0 ** (-(radio.path_loss_db(dist, cfg.carrier_hz) + shadow) / 10.0)
        self.gain = X.where(roads[:, None] & self.active, gain, X.where(roads[:, None], 0.0, self.gain))

    # ------------------------------------------------------------------------------------------
    def exogenous_future(self, horizon: int) -> ExogenousFuture:
        """What the next ``horizon`` slots hold whatever the actions: vehicles in each vehicle slot,
        positions, speeds, serving cells, uplink SNR, task arrivals (bytes per vehicle slot and
        type) and exits, (H, B, M[, K]) arrays with h = 0 the slot the next ``step`` plays.

        Exact under any actions, because every random draw is counter-based (a pure function of
        seed, road, slot, stream, vehicle id, index) and none of mobility, channel, arrivals or
        vehicle-slot placement (which depends only on exits and entries) reads the queues or the
        action. Steps a task-free shadow copy; this engine is not modified (``core.future``).
        """
        return exogenous_future(self, horizon)

    # ------------------------------------------------------------------------------------------
    def step(self, w: Any, a: Any) -> BatchResult:
        """Advance every road one time slot with offload ratios ``w`` and edge shares ``a``.

        ``w``, ``a``: (B, M, K) float arrays, already checked (``vecgym.actions``); on the torch
        backend numpy arrays are moved to the device.
        """
        X, cfg, B, M = self.xp, self.cfg, self.B, self.M
        w, a = self._on_device(w), self._on_device(a)
        t0 = self.t_s
        t1 = self._times(self.slot + 1)
        t0_g = X.broadcast_to(t0[:, None], (B, M)).reshape(-1)
        t1_g = X.broadcast_to(t1[:, None], (B, M)).reshape(-1)
        x_end, v_end, target, exiting, tcut = self._move(t0)
        tcut_g = tcut.reshape(-1)
        if self.trace is not None:
            self.trace.append(self._trace_inputs(w, a, t0, t1, tcut, exiting))
        n_new = self._arrive(w, t0, tcut_g)
        up_bits, r_up, n_up = self._upload(t0_g, tcut_g)
        edge_j, edge_cycles_s, edge_j_g = self._serve_edge(a, t0_g, t1_g, tcut_g)
        dl_bits, r_dl = self._download(t0_g, t1_g, tcut_g)
        local_cycles = self._k.local_phase(
            self.tasks, t0_g, X.where(exiting.reshape(-1), INF, t1_g), cfg.vehicle_cpu_hz
        )
        settled = self._settle(t1, exiting)
        n_active = X.astype(self.active.sum(axis=1), X.float64)
        jain = self.metrics.end_slot(settled["decided"], settled["violations"], settled["per_vehicle"])
        # The end boundary hands vehicles over; its migrations are this slot's energy.
        entered, blocked = self._boundary(x_end, v_end, target, exiting)
        energy_g = self._vehicle_energy(local_cycles, up_bits, r_up, dl_bits, r_dl, edge_j_g)
        energy = self._energy(energy_g, edge_j)
        terms = reward_terms(
            settled["qos_cost"],
            energy.sum(axis=1),
            jain,
            n_active,
            self.beta[:, 0],
            self.beta[:, 1],
            self.fairness,
            self.scale,
        )
        reward = total(terms)
        if self.trace is not None:
            self.trace[-1]["energy_j"] = energy
        handovers = X.copy(self.pending_handovers)
        self._account(energy, reward, terms, edge_cycles_s, n_new, handovers)
        self.pending_migration_j[:] = 0.0
        self.pending_handovers[:] = 0.0
        self.metrics.counts[:, 8] += blocked
        in_flight = X.bincount(X.astype(self.tasks[:, G], X.int64) // M, length=B)
        metrics = {
            "n_active": n_active,
            "n_uploading": n_up,
            "tasks_arrived": n_new,
            **settled["counts"],
            **self._energy_metrics(energy),
            "edge_utilisation": edge_cycles_s.mean(axis=1) / (cfg.edge_cpu_hz * cfg.slot_s),
            "tasks_in_flight": X.astype(in_flight, X.float64),
            "vehicles_entered": entered,
            "vehicles_exited": X.astype(exiting.sum(axis=1), X.float64),
            "entry_blocked": blocked,
            "handovers": handovers[:, 0],
            "migrated_bytes": handovers[:, 1],
            "jain_window": jain,
        }
        qos_g = settled["qos_cost_per_vehicle"]
        own = own_costs(qos_g, energy_g.sum(axis=2), self.beta[:, 0], self.beta[:, 1], self.scale)
        return BatchResult(reward=reward, reward_terms=terms, metrics=metrics, own_cost=own)

    def _vehicle_energy(self, local_cycles, up_bits, r_up, dl_bits, r_dl, edge_j_g) -> Any:
        """The slot's joules per vehicle slot, (B, M, 4): local, upload, download, edge."""
        cfg, B, M = self.cfg, self.B, self.M
        return self.xp.stack(
            (
                self.local_j_per_cycle * local_cycles.reshape(B, M),
                cfg.tx_power_w * _busy_s(up_bits, r_up).reshape(B, M),
                cfg.rsu_tx_power_w * _busy_s(dl_bits, r_dl).reshape(B, M),
                edge_j_g,
            ),
            axis=2,
        )

    def _energy(self, energy_g: Any, edge_j: Any) -> Any:
        """The slot's joules per road, (B, 5): local, upload, download, migration, edge."""
        per_road = energy_g[..., :3].sum(axis=1)
        return self.xp.concatenate((per_road, self.pending_migration_j[:, None], edge_j[:, None]), axis=1)

    @staticmethod
    def _energy_metrics(energy: Any) -> dict[str, Any]:
        """v1's per-slot energy names (plus download and migration), each (B,)."""
        names = ("energy_local_j", "energy_upload_j", "energy_download_j", "energy_migration_j", "energy_edge_j")
        return {"energy_j": energy.sum(axis=1), **{k: energy[:, i] for i, k in enumerate(names)}}

    # ------------------------------------------------------------------------------------------
    def _trace_inputs(self, w, a, t0, t1, tcut, exiting) -> dict:
        """A copy of what a slot starts from (the reference model replays it)."""
        X = self.xp
        return {
            "slot": X.copy(self.slot),
            "t0": X.copy(t0),
            "t1": X.copy(t1),
            "active": X.copy(self.active),
            "vid": X.copy(self.vid),
            "x": X.copy(self.x),
            "cell": X.copy(self.cell),
            "holder": X.copy(self.holder),
            "gain": X.copy(self.gain),
            "w": X.copy(X.astype(w, X.float64)),
            "a": X.copy(X.astype(a, X.float64)),
            "tcut": X.copy(tcut),
            "exiting": X.copy(exiting),
            "weight": X.copy(self.weight),
            "deadline_scale": X.copy(self.deadline_scale),
        }

    def _move(self, t0: Any):
        """Phase 1: positions at t1, and each leaving vehicle's exit instant ``t_cut`` (B, M)."""
        X, cfg = self.xp, self.cfg
        x_end, v_end, target = self._k.advance(self.x, self.v, self.v_target, self.seed, self.slot, self.vid, t0, cfg)
        exiting = self.active & (x_end >= cfg.road_length_m)
        frac = (cfg.road_length_m - self.x) / X.maximum(x_end - self.x, 1e-12)
        t1 = self._times(self.slot + 1)[:, None]  # exactly the slot end the other phases use
        tcut = X.where(exiting, X.minimum(t0[:, None] + cfg.slot_s * X.clip(frac, 0.0, 1.0), t1), t1)
        return x_end, v_end, target, exiting, tcut

    def _arrive(self, w: Any, t0: Any, tcut_g: Any) -> Any:
        """Phase 2: new tasks (those after their vehicle's exit never arrive); (B,) counts."""
        if self._k.arrive is not None and self.trace is None and self.draw_arrivals is self._k.draw_arrivals:
            return self._k.arrive(self, w, t0, tcut_g)  # the same in one compiled pass
        X, B, M, K = self.xp, self.B, self.M, self.K
        new = self.draw_arrivals(self.lam, self.seed, self.slot, self.vid, t0, self.types, self.cfg.slot_s)
        keep = X.flatnonzero(new.t_arr_s < tcut_g[new.g])  # one compaction (a host sync on a device)
        g, typ, t_arr, size = new.g[keep], new.typ[keep], new.t_arr_s[keep], new.size_bytes[keep]
        order = X.lexsort((t_arr, g))
        g, typ, t_arr, size = g[order], typ[order], t_arr[order], size[order]
        covered = self.cell.reshape(-1)[g] >= 0
        w_task = X.where(covered, w.reshape(-1, K)[g, typ], 0.0)
        cycles = size * self.types.cycles_per_byte[typ]
        rows = new_rows(g, typ, t_arr, cycles, w_task, size, self.result_ratio)
        if self.trace is not None:
            self.trace[-1]["arrivals"] = {"g": g, "typ": typ, "t_arr": t_arr, "size_bytes": size, "w": w_task}
        self.tasks = X.concatenate((self.tasks, rows)) if rows.shape[0] else self.tasks
        # Weighted bincounts are float64 already (as numpy's, summed in row order).
        self.last_arrivals_bytes = X.bincount(g * K + typ, weights=size, length=B * M * K).reshape(B, M, K)
        return X.astype(X.bincount(g // M, length=B), X.float64)

    def _shared_rate(self, busy_g: Any, band_hz: float, power_w: float) -> tuple[Any, Any]:
        """Rate (bit/s) of each vehicle on its cell's band split equally among ``busy_g`` vehicles."""
        X, cfg, B, M, S = self.xp, self.cfg, self.B, self.M, self.S
        cell = self.cell.reshape(-1)
        busy = busy_g & (cell >= 0)
        key = (X.arange(B)[:, None] * S + X.maximum(self.cell, 0)).reshape(-1)
        # Busy vehicles per cell as a weighted count (exact integers, no compaction).
        n_cell = X.bincount(key, weights=busy, length=B * S)
        band = band_hz / X.maximum(n_cell[key], 1.0)
        snr = power_w * self.gain.reshape(-1) / radio.noise_w(band, cfg)
        rate = X.where(busy, radio.rate_bps(band, snr, cfg.max_spectral_efficiency), 0.0)
        return rate, X.astype(busy.reshape(B, M).sum(axis=1), X.float64)

    def _upload(self, t0_g: Any, tcut_g: Any):
        """Phase 3: uplinks. Returns bits sent and rate per vehicle, and uploaders per road."""
        pending = self._k.rows_per_vehicle(self.tasks, UP_REM, self.B * self.M)
        r_up, n_up = self._shared_rate(pending > 0, self.cfg.bandwidth_hz, self.cfg.tx_power_w)
        bits = self._k.uplink_phase(self.tasks, t0_g, tcut_g, r_up)
        return bits, r_up, n_up

    def _serve_edge(self, a: Any, t0_g: Any, t1_g: Any, tcut_g: Any):
        """Phase 4: edge FIFOs at a·F_e; DVFS energy κ_e·f²·cycles per server at f = Σa·F_e.

        Returns the edge energy (B,), the cycles served per server (B, S) and the edge energy
        spent on each vehicle's queues (B, M).
        """
        X, cfg, B, S = self.xp, self.cfg, self.B, self.S
        held = self.active & (self.holder >= 0)
        share = X.where(held[..., None], a, 0.0)
        served_q = self._k.edge_phase(self.tasks, t0_g, t1_g, tcut_g, (share * cfg.edge_cpu_hz).reshape(-1), self.K)
        server = (X.arange(B)[:, None] * S + X.maximum(self.holder, 0)).reshape(-1)
        held_f = held.reshape(-1)
        served_g = served_q.reshape(-1, self.K).sum(axis=1)
        # Sums over the held vehicles, as weights that are 0 elsewhere (the same bits as compacting).
        share_g = X.where(held_f, share.sum(axis=2).reshape(-1), 0.0)
        freq = cfg.edge_cpu_hz * X.bincount(server, weights=share_g, length=B * S)
        cycles = X.bincount(server, weights=X.where(held_f, served_g, 0.0), length=B * S)
        energy = (self.kappa_edge * freq * freq * cycles).reshape(B, S).sum(axis=1)
        energy_g = X.where(held_f, self.kappa_edge * freq[server] ** 2 * served_g, 0.0).reshape(B, self.M)
        return energy, cycles.reshape(B, S), energy_g

    def _download(self, t0_g: Any, t1_g: Any, tcut_g: Any):
        """Phase 5: result downloads from the serving RSU. Returns bits and rate per vehicle."""
        X = self.xp
        idx = self._k.downloading(self.tasks, t1_g)
        busy = X.bincount(X.astype(self.tasks[idx, G], X.int64), length=self.B * self.M) > 0
        r_dl, _ = self._shared_rate(busy, self.cfg.downlink_bandwidth_hz, self.cfg.rsu_tx_power_w)
        bits = self._k.downlink_phase(self.tasks, idx, t0_g, tcut_g, r_dl)
        return bits, r_dl

    # ------------------------------------------------------------------------------------------
    def _settle(self, t1: Any, exiting: Any) -> dict:
        """Phase 7: resolve tasks (completed, failed, dropped), charge QoS cost, count violations.

        Per-road counts are weighted bincounts over all rows (a mask as the weight): the same bits
        as counting the masked rows, without compacting them first.
        """
        if self._k.settle is not None and self.trace is None:
            return self._k.settle(self, t1, exiting)  # the same, with _record, in one compiled pass
        X, cfg, B, M = self.xp, self.cfg, self.B, self.M
        tasks = self.tasks
        g = X.astype(tasks[:, G], X.int64)
        road = g // M
        typ = X.astype(tasks[:, TYP], X.int64)
        finish = phases.finish_time(tasks)
        completed = X.isfinite(finish)
        failed = ~completed & exiting.reshape(-1)[g]
        deadline = self.types.deadline_s[typ]
        d_eff = deadline * self.deadline_scale[road]
        cap = cfg.qos_cost_cap
        age = t1[road] - tasks[:, T_ARR]
        dropped = ~completed & ~failed & (age >= cap * d_eff * (1.0 - 1e-12))
        lat = finish - tasks[:, T_ARR]
        acc = X.where(completed, X.minimum(lat / d_eff, cap), X.minimum(age / d_eff, cap))
        acc = X.where(failed | dropped, cap, acc)
        acc = X.maximum(acc, tasks[:, ACC])
        qos_g = X.bincount(g, weights=self.weight.reshape(-1)[g] * (acc - tasks[:, ACC]), length=B * M)
        qos_g = qos_g.reshape(B, M)
        qos_cost = qos_g.sum(axis=1)
        tasks[:, ACC] = acc
        fresh = tasks[:, LATE] == 0.0
        resolved = completed | failed | dropped
        on_time = completed & (lat <= deadline)
        late_now = ~resolved & fresh & (age > deadline)
        viol = fresh & ((resolved & ~on_time) | late_now)
        decided = fresh & (resolved | late_now)
        tasks[:, LATE] = X.where(late_now, 1.0, tasks[:, LATE])
        if self.trace is not None:
            self.trace[-1]["resolved"] = {
                "g": g[resolved],
                "typ": typ[resolved],
                "t_arr": tasks[resolved, T_ARR],
                "outcome": X.select([completed, failed], [0, 1], 2)[resolved],
                "finish": finish[resolved],
            }
            self.trace[-1]["qos_cost"] = qos_cost
        self._record(g, road, typ, completed, lat, viol, decided, failed, dropped)
        per_vehicle = X.stack(
            (X.bincount(g, weights=resolved, length=B * M), X.bincount(g, weights=on_time, length=B * M)),
            axis=1,
        ).reshape(B, M, 2)
        self.tasks = tasks[~resolved]
        counts = {
            "tasks_completed": X.bincount(road, weights=completed, length=B),
            "tasks_failed": X.bincount(road, weights=failed, length=B),
            "tasks_dropped": X.bincount(road, weights=dropped, length=B),
            "violations": X.bincount(road, weights=viol, length=B),
            "tasks_decided": X.bincount(road, weights=decided, length=B),
        }
        with X.errstate(invalid="ignore", divide="ignore"):
            counts["violation_rate"] = X.where(
                counts["tasks_decided"] > 0, counts["violations"] / X.maximum(counts["tasks_decided"], 1.0), 0.0
            )
            lat_sum = X.bincount(road, weights=X.where(completed, lat, 0.0), length=B)
            counts["latency_ms_mean"] = X.where(
                counts["tasks_completed"] > 0, 1e3 * lat_sum / X.maximum(counts["tasks_completed"], 1.0), np.nan
            )
        return {
            "qos_cost": qos_cost,
            "qos_cost_per_vehicle": qos_g,
            "decided": counts["tasks_decided"],
            "violations": counts["violations"],
            "per_vehicle": per_vehicle,
            "counts": counts,
        }

    def _record(self, g, road, typ, completed, lat, viol, decided, failed, dropped) -> None:
        """Fold a slot's resolved tasks into the episode metrics (masks over all task rows)."""
        X, m, B, C, K = self.xp, self.metrics, self.B, len(CLASSES), self.K
        lat_c = X.where(completed, lat, 0.0)
        m.counts[:, 3] += X.bincount(road, weights=failed, length=B)
        m.counts[:, 4] += X.bincount(road, weights=dropped, length=B)
        m.counts[:, 5] += X.bincount(road, weights=viol, length=B)
        m.counts[:, 6] += X.bincount(road, weights=decided, length=B)
        m.add_latencies(road, lat, completed)
        cls = self.vclass.reshape(-1)[g]
        rc = road * C + cls
        m.by_class[..., 0] += X.bincount(rc, weights=completed, length=B * C).reshape(B, C)
        m.by_class[..., 1] += X.bincount(rc, weights=lat_c, length=B * C).reshape(B, C)
        m.by_class[..., 2] += X.bincount(rc, weights=viol, length=B * C).reshape(B, C)
        m.by_class[..., 3] += X.bincount(rc, weights=decided, length=B * C).reshape(B, C)
        rt = road * K + typ
        m.by_type[..., 0] += X.bincount(rt, weights=completed, length=B * K).reshape(B, K)
        m.by_type[..., 1] += X.bincount(rt, weights=lat_c, length=B * K).reshape(B, K)
        if m.tracked_vid.shape[1] and bool((m.tracked_vid != -2).any()):
            n = B * self.M
            per = X.stack(
                (
                    X.bincount(g, weights=completed, length=n),
                    X.bincount(g, weights=lat_c, length=n),
                    X.bincount(g, weights=viol, length=n),
                    X.bincount(g, weights=decided, length=n),
                ),
                axis=1,
            ).reshape(B, self.M, 4)
            match = (self.vid[:, :, None] == m.tracked_vid[:, None, :]) & self.active[:, :, None]
            m.tracked += X.einsum("bmt,bmc->btc", X.astype(match, X.float64), per)

    def _account(self, energy, reward, terms, edge_cycles_s, n_new, handovers) -> None:
        """Fold a slot's energy (B, 5), reward, arrivals and handovers into the episode totals."""
        m = self.metrics
        m.counts[:, 1] += n_new
        m.counts[:, 7] += handovers[:, 0]
        m.misc[:, 0] += handovers[:, 1]
        m.energy += energy
        m.reward[:, 0] += reward
        for i, key in enumerate(("qos", "energy", "fairness")):
            m.reward[:, i + 1] += terms[key]
        m.server_cycles += edge_cycles_s

    # ------------------------------------------------------------------------------------------
    def _boundary(self, x_end, v_end, target, exiting) -> tuple[Any, Any]:
        """Phase 8: departures, entries and the next slot's channel, activity, cells and gains."""
        X, cfg, B = self.xp, self.cfg, self.B
        self.x, self.v, self.v_target = x_end, v_end, target
        self.metrics.depart(exiting)
        self.active &= ~exiting
        self.vid = X.where(exiting, -1, self.vid)
        self.holder = X.where(exiting, -1, self.holder)
        t_next = self._times(self.slot + 1)
        new = self._k.entries(self.seed, self.slot, t_next, self.next_id, cfg)
        self.slot += 1
        # Fading and activity step for the vehicles that stay, keyed by the new time slot.
        rho = radio.fading_rho(self.v, cfg)
        innov = self._k.fading_draw(self.seed[:, None], self.slot[:, None], self.vid, Stream.FADING)
        self.fade = rho * self.fade + X.sqrt(1.0 - rho * rho) * innov
        self.act_z = self._k.activity_step(self.act_z, self.seed, self.slot, self.vid, cfg)
        if cfg.radio_map_drift_s is not None:
            self.radio_map = self._k.drift_radio_map(self.radio_map, self.seed, self.slot, cfg)
        active_before = self.active.sum(axis=1)
        blocked = self._admit(new)
        entered = X.astype(self.active.sum(axis=1) - active_before, X.float64)
        self._prepare_slot(X.ones(B, dtype=X.bool_), migrate=True)
        return entered, X.astype(blocked, X.float64)


def _busy_s(work: Any, rate: Any) -> Any:
    """Seconds a link was busy serving ``work`` at ``rate`` (0 where nothing was served)."""
    X = xp_mod.xp_of(work, rate)
    return X.where(work > 0.0, work / X.where(rate > 0.0, rate, 1.0), 0.0)


def _types_on(types: TaskTypes, X: Any) -> TaskTypes:
    """``types`` with its per-type arrays in namespace ``X`` (on its device)."""
    arrays = {f.name: X.asarray(getattr(types, f.name)) for f in fields(types) if f.name != "names"}
    return replace(types, **arrays)
