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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import VECConfig
from ..goals import BALANCED, GoalSpec
from ..reward import RewardScale, own_costs, reward_terms, total
from ..tasks import TaskTypes, ZoneProfile
from ..vocab import CLASSES
from . import arrivals, backend, cells, phases, radio, traffic
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

    def __init__(self, cfg: VECConfig, n_roads: int = 1, kernels: str = "auto"):
        self.cfg = cfg
        self._k = backend.select(kernels)
        self.kernels = self._k.name
        """The hot-spot implementation in use: "numpy" (the reference) or "numba" (``core.kernels``)."""
        self.B, self.M, self.K, self.S = int(n_roads), cfg.slots, cfg.n_task_types, cfg.n_servers
        self.types = TaskTypes.from_config(cfg)
        self.zone = ZoneProfile(cfg)
        self.result_ratio = np.asarray(cfg.per_type("result_ratio"), dtype=np.float64)
        self.rsu_x = np.asarray(cfg.rsu_x_m, dtype=np.float64)
        self.lane_y_m = cfg.lane_offset_m + cfg.lane_width_m * np.arange(cfg.n_lanes)
        self.kappa_edge = cfg.kappa_edge_value
        self.local_j_per_cycle = cfg.kappa_vehicle * cfg.vehicle_cpu_hz**2
        self.scale = RewardScale(
            tasks_per_vehicle=float(self.types.rate_hz.sum() * cfg.slot_s),
            local_energy_per_vehicle_j=float((self.types.rate_hz * self.types.mean_cycles).sum() * cfg.slot_s)
            * self.local_j_per_cycle,
        )
        self.metrics = BatchMetrics(self.B, self.M, self.K, self.S, cfg)
        self.draw_arrivals = self._k.draw_arrivals
        """The arrival process (replace it to replay recorded or scripted tasks)."""
        self.trace: list[dict] | None = None
        """Set to a list to record each slot's inputs and outcomes (for the reference-model tests)."""
        self._allocate()

    def __getstate__(self) -> dict:
        # The kernel table holds (compiled) functions: pickle its name and select it again.
        state = self.__dict__.copy()
        state["_k"] = self._k.name
        state.pop("_kernel_task_buf", None)  # kernels.arrive's spare rows: rebuilt on demand
        if state["draw_arrivals"] is self._k.draw_arrivals:
            state["draw_arrivals"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._k = backend.select(state["_k"])
        if self.draw_arrivals is None:
            self.draw_arrivals = self._k.draw_arrivals

    # ------------------------------------------------------------------------------------------
    def _allocate(self) -> None:
        B, M, K, S, C = self.B, self.M, self.K, self.S, len(CLASSES)
        z = np.zeros
        self.seed = z(B, dtype=np.int64)
        self.slot = z(B, dtype=np.int64)
        self.next_id = z(B, dtype=np.int64)
        self.active = z((B, M), dtype=bool)
        self.vid = np.full((B, M), -1, dtype=np.int64)
        self.vclass = z((B, M), dtype=np.int64)
        self.lane = z((B, M), dtype=np.int64)
        self.x = z((B, M))
        self.v = z((B, M))
        self.v_target = z((B, M))
        self.fade = z((2, B, M))  # Rayleigh coefficient (re, im), E|h|² = 1
        self.act_z = z((B, M, K))
        self.cell = np.full((B, M), -1, dtype=np.int64)  # serving RSU for the coming slot; -1 gap
        self.holder = np.full((B, M), -1, dtype=np.int64)  # server holding the vehicle's edge queues
        self.gain = z((B, M))  # |h|²·10^(-(PL+S)/10) towards the serving (or nearest) RSU
        self.lam = z((B, M, K))  # expected arrivals in the coming slot
        self.weight = np.ones((B, M))
        self.last_arrivals_bytes = z((B, M, K))
        self.radio_map = z((B, S, self.cfg.n_lanes, radio.map_grid(self.cfg).shape[0]))
        self.link_free_s = z((B, max(S - 1, 1)))
        self.tasks = np.empty((0, N_COLS))
        self.pending_migration_j = z(B)
        self.pending_handovers = z((B, 2))  # handovers, migrated bytes at the last boundary
        # Goal per road.
        self.goals: list[GoalSpec] = [BALANCED] * B
        self.beta = np.ones((B, 2))  # qos, energy
        self.fairness = z(B)
        self.deadline_scale = np.ones(B)
        self.class_w = np.ones((B, C))
        self.named = np.full((B, 0), -2, dtype=np.int64)
        self.named_w = np.ones((B, 0))

    @property
    def t_s(self) -> np.ndarray:
        """Current time of each road (s), exact multiples of τ."""
        return self.slot * self.cfg.slot_s

    # ------------------------------------------------------------------------------------------
    def reset(self, seeds: np.ndarray, roads: np.ndarray | None = None) -> None:
        """Start new episodes on ``roads`` ((B,) mask; all if None) with ``seeds`` ((B,) ints).

        A stationary road (Poisson(N) vehicles, speeds length-biased), empty queues, a fresh
        radio map, the balanced goal.
        """
        mask = np.ones(self.B, dtype=bool) if roads is None else np.asarray(roads, dtype=bool)
        seeds = np.asarray(seeds, dtype=np.int64).reshape(self.B)
        self.seed = np.where(mask, seeds, self.seed)
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
            self.tasks = self.tasks[~mask[self.tasks[:, G].astype(np.intp) // self.M]]
        self.radio_map[mask] = self._k.draw_radio_map(self.seed[mask], self.cfg)
        self.metrics.reset(mask)
        for b in np.flatnonzero(mask):
            self.set_goal(int(b), BALANCED)
        new = self._k.initial(self.seed[mask], self.cfg)
        new.road = np.flatnonzero(mask)[new.road]
        self._admit(new)
        self._prepare_slot(mask, migrate=False)

    # ------------------------------------------------------------------------------------------
    def set_goal(self, road: int, goal: GoalSpec) -> None:
        """Make ``goal`` road ``road``'s objective (weights of present and future vehicles)."""
        self.goals[road] = goal
        self.beta[road] = (goal.beta_qos, goal.beta_energy)
        self.fairness[road] = goal.fairness
        self.deadline_scale[road] = goal.deadline_scale
        self.class_w[road] = [goal.class_weights.get(c, 1.0) for c in CLASSES]
        vids = list(goal.vehicle_weights)
        if len(vids) > self.named.shape[1]:
            extra = len(vids) - self.named.shape[1]
            self.named = np.concatenate((self.named, np.full((self.B, extra), -2, np.int64)), axis=1)
            self.named_w = np.concatenate((self.named_w, np.ones((self.B, extra))), axis=1)
        self.named[road] = -2
        self.named_w[road] = 1.0
        self.named[road, : len(vids)] = vids
        self.named_w[road, : len(vids)] = [goal.vehicle_weights[v] for v in vids]
        self.metrics.track(road, [int(v) for v in vids])
        self.weight[road] = self._weights(self.vid[road : road + 1], self.vclass[road : road + 1], [road])[0]

    def _weights(self, vid: np.ndarray, vclass: np.ndarray, roads: np.ndarray | list[int]) -> np.ndarray:
        """QoS weight (class weight × named-vehicle weight) of vehicles (R, M') on ``roads``."""
        w = np.take_along_axis(self.class_w[roads], vclass, axis=1)
        if self.named.shape[1]:
            match = vid[:, :, None] == self.named[roads][:, None, :]
            w = w * np.where(match, self.named_w[roads][:, None, :], 1.0).prod(axis=2)
        return w

    # ------------------------------------------------------------------------------------------
    def _admit(self, new: traffic.NewVehicles) -> np.ndarray:
        """Put entering vehicles into the first free vehicle slots of their road; (B,) blocked."""
        B = self.B
        if new.road.shape[0] == 0:
            return np.zeros(B, dtype=np.int64)
        n_new = np.bincount(new.road, minlength=B)
        free = ~self.active
        rank = np.cumsum(free, axis=1) - 1
        starts = np.cumsum(n_new) - n_new
        take = free & (rank < n_new[:, None])
        b_idx, m_idx = np.nonzero(take)
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
        self.next_id = np.maximum(self.next_id, self._max_vid_plus_one(new, B))
        self.metrics.admit(take)
        if take.any():
            rows = np.unique(b_idx)
            self.weight[rows] = np.where(
                take[rows], self._weights(self.vid[rows], self.vclass[rows], rows), self.weight[rows]
            )
        return n_new - take.sum(axis=1)

    @staticmethod
    def _max_vid_plus_one(new: traffic.NewVehicles, B: int) -> np.ndarray:
        out = np.zeros(B, dtype=np.int64)
        np.maximum.at(out, new.road, new.vid + 1)
        return out

    # ------------------------------------------------------------------------------------------
    def _prepare_slot(self, roads: np.ndarray, migrate: bool) -> None:
        """At a time-slot boundary: serving cells and handovers, then gains and arrival means."""
        cfg = self.cfg
        cell = np.where(self.active, cells.serving_cell(self.x, cfg), -1)
        cell = np.where(roads[:, None], cell, self.cell)
        moving = self.active & roads[:, None] & (cell >= 0) & (self.holder >= 0) & (cell != self.holder)
        if migrate and moving.any():
            g = np.flatnonzero(moving.ravel())
            if self.trace is not None and self.trace:
                self.trace[-1]["migration"] = {
                    "g": g,
                    "src": self.holder.ravel()[g].copy(),
                    "dst": cell.ravel()[g].copy(),
                    "t": self.t_s.copy(),
                }
            mig = cells.migrate(
                self.tasks, g, self.holder.ravel()[g], cell.ravel()[g], self.t_s, self.link_free_s, self.M, cfg
            )
            self.link_free_s = mig.link_free_s
            self.pending_migration_j += mig.energy_j
            self.pending_handovers += np.stack((mig.handovers, mig.bytes), axis=1)
        self.cell = cell
        self.holder = np.where(self.active & (cell >= 0), cell, self.holder)
        self.holder = np.where(self.active, self.holder, -1)
        self._channel_gains(roads)
        lam = arrivals.mean_counts(self.act_z, self.x, self.vclass, self.active, self.types, self.zone, cfg)
        self.lam = np.where(roads[:, None, None], lam, self.lam)

    def _channel_gains(self, roads: np.ndarray) -> None:
        """|h|²·10^(-(PL+S)/10) towards the serving RSU (the nearest one in a gap)."""
        cfg = self.cfg
        towards = np.where(self.cell >= 0, self.cell, np.abs(self.x[..., None] - self.rsu_x).argmin(axis=-1))
        dist = radio.distance_m(self.x, self.lane_y_m[self.lane], self.rsu_x[towards], cfg.antenna_height_m)
        b_idx = np.broadcast_to(np.arange(self.B)[:, None], self.x.shape)
        shadow = self._k.map_shadowing_db(
            self.radio_map, b_idx.ravel(), towards.ravel(), self.lane.ravel(), self.x.ravel(), cfg
        ).reshape(self.x.shape)
        fade = self.fade[0] ** 2 + self.fade[1] ** 2 if cfg.fading else 1.0
        gain = fade * 10.0 ** (-(radio.path_loss_db(dist, cfg.carrier_hz) + shadow) / 10.0)
        self.gain = np.where(roads[:, None] & self.active, gain, np.where(roads[:, None], 0.0, self.gain))

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
    def step(self, w: np.ndarray, a: np.ndarray) -> BatchResult:
        """Advance every road one time slot with offload ratios ``w`` and edge shares ``a``.

        ``w``, ``a``: (B, M, K) float arrays, already checked (``vecgym.actions``).
        """
        cfg, B, M = self.cfg, self.B, self.M
        t0 = self.t_s
        t1 = (self.slot + 1) * cfg.slot_s
        t0_g, t1_g = np.repeat(t0, M), np.repeat(t1, M)
        x_end, v_end, target, exiting, tcut = self._move(t0)
        tcut_g = tcut.ravel()
        if self.trace is not None:
            self.trace.append(self._trace_inputs(w, a, t0, t1, tcut, exiting))
        n_new = self._arrive(w, t0, tcut_g)
        up_bits, r_up, n_up = self._upload(t0_g, tcut_g)
        edge_j, edge_cycles_s, edge_j_g = self._serve_edge(a, t0_g, t1_g, tcut_g)
        dl_bits, r_dl = self._download(t0_g, t1_g, tcut_g)
        local_cycles = self._k.local_phase(self.tasks, t0_g, np.where(exiting.ravel(), INF, t1_g), cfg.vehicle_cpu_hz)
        settled = self._settle(t1, exiting)
        n_active = self.active.sum(axis=1).astype(np.float64)
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
        handovers = self.pending_handovers.copy()
        self._account(energy, reward, terms, edge_cycles_s, n_new, handovers)
        self.pending_migration_j[:] = 0.0
        self.pending_handovers[:] = 0.0
        self.metrics.counts[:, 8] += blocked
        metrics = {
            "n_active": n_active,
            "n_uploading": n_up,
            "tasks_arrived": n_new,
            **settled["counts"],
            **self._energy_metrics(energy),
            "edge_utilisation": edge_cycles_s.mean(axis=1) / (cfg.edge_cpu_hz * cfg.slot_s),
            "tasks_in_flight": np.bincount(self.tasks[:, G].astype(np.intp) // M, minlength=B).astype(np.float64),
            "vehicles_entered": entered,
            "vehicles_exited": exiting.sum(axis=1).astype(np.float64),
            "entry_blocked": blocked,
            "handovers": handovers[:, 0],
            "migrated_bytes": handovers[:, 1],
            "jain_window": jain,
        }
        qos_g = settled["qos_cost_per_vehicle"]
        own = own_costs(qos_g, energy_g.sum(axis=2), self.beta[:, 0], self.beta[:, 1], self.scale)
        return BatchResult(reward=reward, reward_terms=terms, metrics=metrics, own_cost=own)

    def _vehicle_energy(self, local_cycles, up_bits, r_up, dl_bits, r_dl, edge_j_g) -> np.ndarray:
        """The slot's joules per vehicle slot, (B, M, 4): local, upload, download, edge."""
        cfg, B, M = self.cfg, self.B, self.M
        return np.stack(
            (
                self.local_j_per_cycle * local_cycles.reshape(B, M),
                cfg.tx_power_w * _busy_s(up_bits, r_up).reshape(B, M),
                cfg.rsu_tx_power_w * _busy_s(dl_bits, r_dl).reshape(B, M),
                edge_j_g,
            ),
            axis=2,
        )

    def _energy(self, energy_g: np.ndarray, edge_j: np.ndarray) -> np.ndarray:
        """The slot's joules per road, (B, 5): local, upload, download, migration, edge."""
        per_road = energy_g[..., :3].sum(axis=1)
        return np.column_stack((per_road, self.pending_migration_j, edge_j))

    @staticmethod
    def _energy_metrics(energy: np.ndarray) -> dict[str, np.ndarray]:
        """v1's per-slot energy names (plus download and migration), each (B,)."""
        names = ("energy_local_j", "energy_upload_j", "energy_download_j", "energy_migration_j", "energy_edge_j")
        return {"energy_j": energy.sum(axis=1), **{k: energy[:, i] for i, k in enumerate(names)}}

    # ------------------------------------------------------------------------------------------
    def _trace_inputs(self, w, a, t0, t1, tcut, exiting) -> dict:
        """A copy of what a slot starts from (the reference model replays it)."""
        return {
            "slot": self.slot.copy(),
            "t0": t0.copy(),
            "t1": t1.copy(),
            "active": self.active.copy(),
            "vid": self.vid.copy(),
            "x": self.x.copy(),
            "cell": self.cell.copy(),
            "holder": self.holder.copy(),
            "gain": self.gain.copy(),
            "w": np.array(w, dtype=np.float64),
            "a": np.array(a, dtype=np.float64),
            "tcut": tcut.copy(),
            "exiting": exiting.copy(),
            "weight": self.weight.copy(),
            "deadline_scale": self.deadline_scale.copy(),
        }

    def _move(self, t0: np.ndarray):
        """Phase 1: positions at t1, and each leaving vehicle's exit instant ``t_cut`` (B, M)."""
        cfg = self.cfg
        x_end, v_end, target = self._k.advance(self.x, self.v, self.v_target, self.seed, self.slot, self.vid, t0, cfg)
        exiting = self.active & (x_end >= cfg.road_length_m)
        frac = (cfg.road_length_m - self.x) / np.maximum(x_end - self.x, 1e-12)
        t1 = ((self.slot + 1) * cfg.slot_s)[:, None]  # exactly the slot end the other phases use
        tcut = np.where(exiting, np.minimum(t0[:, None] + cfg.slot_s * np.clip(frac, 0.0, 1.0), t1), t1)
        return x_end, v_end, target, exiting, tcut

    def _arrive(self, w: np.ndarray, t0: np.ndarray, tcut_g: np.ndarray) -> np.ndarray:
        """Phase 2: new tasks (those after their vehicle's exit never arrive); (B,) counts."""
        if self._k.arrive is not None and self.trace is None and self.draw_arrivals is self._k.draw_arrivals:
            return self._k.arrive(self, w, t0, tcut_g)  # the same in one compiled pass
        new = self.draw_arrivals(self.lam, self.seed, self.slot, self.vid, t0, self.types, self.cfg.slot_s)
        keep = new.t_arr_s < tcut_g[new.g]
        g, typ, t_arr, size = new.g[keep], new.typ[keep], new.t_arr_s[keep], new.size_bytes[keep]
        order = np.lexsort((t_arr, g))
        g, typ, t_arr, size = g[order], typ[order], t_arr[order], size[order]
        covered = self.cell.ravel()[g] >= 0
        w_task = np.where(covered, w.reshape(-1, self.K)[g, typ], 0.0)
        cycles = size * self.types.cycles_per_byte[typ]
        rows = new_rows(g, typ, t_arr, cycles, w_task, size, self.result_ratio)
        if self.trace is not None:
            self.trace[-1]["arrivals"] = {"g": g, "typ": typ, "t_arr": t_arr, "size_bytes": size, "w": w_task}
        self.tasks = np.concatenate((self.tasks, rows)) if rows.shape[0] else self.tasks
        self.last_arrivals_bytes = (
            np.bincount(g * self.K + typ, weights=size, minlength=self.B * self.M * self.K)
            .astype(np.float64)
            .reshape(self.B, self.M, self.K)
        )
        return np.bincount(g // self.M, minlength=self.B).astype(np.float64)

    def _shared_rate(self, busy_g: np.ndarray, band_hz: float, power_w: float) -> tuple[np.ndarray, np.ndarray]:
        """Rate (bit/s) of each vehicle on its cell's band split equally among ``busy_g`` vehicles."""
        cfg = self.cfg
        cell = self.cell.ravel()
        busy = busy_g & (cell >= 0)
        key = np.repeat(np.arange(self.B), self.M) * self.S + np.maximum(cell, 0)
        n_cell = np.bincount(key[busy], minlength=self.B * self.S)
        band = band_hz / np.maximum(n_cell[key], 1)
        snr = power_w * self.gain.ravel() / radio.noise_w(band, cfg)
        rate = np.where(busy, radio.rate_bps(band, snr, cfg.max_spectral_efficiency), 0.0)
        return rate, busy.reshape(self.B, self.M).sum(axis=1).astype(np.float64)

    def _upload(self, t0_g: np.ndarray, tcut_g: np.ndarray):
        """Phase 3: uplinks. Returns bits sent and rate per vehicle, and uploaders per road."""
        pending = self._k.rows_per_vehicle(self.tasks, UP_REM, self.B * self.M)
        r_up, n_up = self._shared_rate(pending > 0, self.cfg.bandwidth_hz, self.cfg.tx_power_w)
        bits = self._k.uplink_phase(self.tasks, t0_g, tcut_g, r_up)
        return bits, r_up, n_up

    def _serve_edge(self, a: np.ndarray, t0_g: np.ndarray, t1_g: np.ndarray, tcut_g: np.ndarray):
        """Phase 4: edge FIFOs at a·F_e; DVFS energy κ_e·f²·cycles per server at f = Σa·F_e.

        Returns the edge energy (B,), the cycles served per server (B, S) and the edge energy
        spent on each vehicle's queues (B, M).
        """
        cfg, B, S = self.cfg, self.B, self.S
        held = self.active & (self.holder >= 0)
        share = np.where(held[..., None], a, 0.0)
        served_q = self._k.edge_phase(self.tasks, t0_g, t1_g, tcut_g, (share * cfg.edge_cpu_hz).ravel(), self.K)
        server = (np.arange(B)[:, None] * S + np.maximum(self.holder, 0)).ravel()
        held_f = held.ravel()
        freq = cfg.edge_cpu_hz * np.bincount(server[held_f], weights=share.sum(axis=2).ravel()[held_f], minlength=B * S)
        cycles = np.bincount(server[held_f], weights=served_q.reshape(-1, self.K).sum(axis=1)[held_f], minlength=B * S)
        energy = (self.kappa_edge * freq * freq * cycles).reshape(B, S).sum(axis=1)
        served_g = served_q.reshape(-1, self.K).sum(axis=1)
        energy_g = np.where(held_f, self.kappa_edge * freq[server] ** 2 * served_g, 0.0).reshape(B, self.M)
        return energy, cycles.reshape(B, S), energy_g

    def _download(self, t0_g: np.ndarray, t1_g: np.ndarray, tcut_g: np.ndarray):
        """Phase 5: result downloads from the serving RSU. Returns bits and rate per vehicle."""
        idx = self._k.downloading(self.tasks, t1_g)
        busy = np.bincount(self.tasks[idx, G].astype(np.intp), minlength=self.B * self.M) > 0
        r_dl, _ = self._shared_rate(busy, self.cfg.downlink_bandwidth_hz, self.cfg.rsu_tx_power_w)
        bits = self._k.downlink_phase(self.tasks, idx, t0_g, tcut_g, r_dl)
        return bits, r_dl

    # ------------------------------------------------------------------------------------------
    def _settle(self, t1: np.ndarray, exiting: np.ndarray) -> dict:
        """Phase 7: resolve tasks (completed, failed, dropped), charge QoS cost, count violations."""
        if self._k.settle is not None and self.trace is None:
            return self._k.settle(self, t1, exiting)  # the same, with _record, in one compiled pass
        cfg, B, M = self.cfg, self.B, self.M
        tasks = self.tasks
        g = tasks[:, G].astype(np.intp)
        road = g // M
        typ = tasks[:, TYP].astype(np.intp)
        finish = phases.finish_time(tasks)
        completed = np.isfinite(finish)
        failed = ~completed & exiting.ravel()[g]
        deadline = self.types.deadline_s[typ]
        d_eff = deadline * self.deadline_scale[road]
        cap = cfg.qos_cost_cap
        age = t1[road] - tasks[:, T_ARR]
        dropped = ~completed & ~failed & (age >= cap * d_eff * (1.0 - 1e-12))
        lat = finish - tasks[:, T_ARR]
        acc = np.where(completed, np.minimum(lat / d_eff, cap), np.minimum(age / d_eff, cap))
        acc = np.where(failed | dropped, cap, acc)
        acc = np.maximum(acc, tasks[:, ACC])
        qos_g = np.bincount(g, weights=self.weight.ravel()[g] * (acc - tasks[:, ACC]), minlength=B * M).reshape(B, M)
        qos_cost = qos_g.sum(axis=1)
        tasks[:, ACC] = acc
        fresh = tasks[:, LATE] == 0.0
        resolved = completed | failed | dropped
        on_time = completed & (lat <= deadline)
        late_now = ~resolved & fresh & (age > deadline)
        viol = fresh & ((resolved & ~on_time) | late_now)
        decided = fresh & (resolved | late_now)
        tasks[late_now, LATE] = 1.0
        if self.trace is not None:
            self.trace[-1]["resolved"] = {
                "g": g[resolved],
                "typ": typ[resolved],
                "t_arr": tasks[resolved, T_ARR],
                "outcome": np.select([completed, failed], [0, 1], 2)[resolved],
                "finish": finish[resolved],
            }
            self.trace[-1]["qos_cost"] = qos_cost
        self._record(g, road, typ, completed, lat, viol, decided, failed, dropped)
        per_vehicle = (
            np.stack((np.bincount(g[resolved], minlength=B * M), np.bincount(g[on_time], minlength=B * M)), axis=1)
            .reshape(B, M, 2)
            .astype(np.float64)
        )
        self.tasks = tasks[~resolved]
        counts = {
            "tasks_completed": np.bincount(road[completed], minlength=B).astype(np.float64),
            "tasks_failed": np.bincount(road[failed], minlength=B).astype(np.float64),
            "tasks_dropped": np.bincount(road[dropped], minlength=B).astype(np.float64),
            "violations": np.bincount(road[viol], minlength=B).astype(np.float64),
            "tasks_decided": np.bincount(road[decided], minlength=B).astype(np.float64),
        }
        with np.errstate(invalid="ignore", divide="ignore"):
            counts["violation_rate"] = np.where(
                counts["tasks_decided"] > 0, counts["violations"] / np.maximum(counts["tasks_decided"], 1), 0.0
            )
            lat_sum = np.bincount(road[completed], weights=lat[completed], minlength=B)
            counts["latency_ms_mean"] = np.where(
                counts["tasks_completed"] > 0, 1e3 * lat_sum / np.maximum(counts["tasks_completed"], 1), np.nan
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
        """Fold a slot's resolved tasks into the episode metrics."""
        m, B, C = self.metrics, self.B, len(CLASSES)
        m.counts[:, 3] += np.bincount(road[failed], minlength=B)
        m.counts[:, 4] += np.bincount(road[dropped], minlength=B)
        m.counts[:, 5] += np.bincount(road[viol], minlength=B)
        m.counts[:, 6] += np.bincount(road[decided], minlength=B)
        m.add_latencies(road[completed], lat[completed])
        cls = self.vclass.ravel()[g]
        rc = road * C + cls
        m.by_class[..., 0] += np.bincount(rc[completed], minlength=B * C).reshape(B, C)
        m.by_class[..., 1] += np.bincount(rc[completed], weights=lat[completed], minlength=B * C).reshape(B, C)
        m.by_class[..., 2] += np.bincount(rc[viol], minlength=B * C).reshape(B, C)
        m.by_class[..., 3] += np.bincount(rc[decided], minlength=B * C).reshape(B, C)
        rt = road * self.K + typ
        m.by_type[..., 0] += np.bincount(rt[completed], minlength=B * self.K).reshape(B, self.K)
        m.by_type[..., 1] += np.bincount(rt[completed], weights=lat[completed], minlength=B * self.K).reshape(B, self.K)
        if m.tracked_vid.shape[1] and (m.tracked_vid != -2).any():
            n = B * self.M
            per = np.stack(
                (
                    np.bincount(g[completed], minlength=n),
                    np.bincount(g[completed], weights=lat[completed], minlength=n),
                    np.bincount(g[viol], minlength=n),
                    np.bincount(g[decided], minlength=n),
                ),
                axis=1,
            ).reshape(B, self.M, 4)
            match = (self.vid[:, :, None] == m.tracked_vid[:, None, :]) & self.active[:, :, None]
            m.tracked += np.einsum("bmt,bmc->btc", match.astype(np.float64), per)

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
    def _boundary(self, x_end, v_end, target, exiting) -> tuple[np.ndarray, np.ndarray]:
        """Phase 8: departures, entries and the next slot's channel, activity, cells and gains."""
        cfg, B = self.cfg, self.B
        self.x, self.v, self.v_target = x_end, v_end, target
        self.metrics.depart(exiting)
        self.active &= ~exiting
        self.vid[exiting] = -1
        self.holder[exiting] = -1
        t_next = (self.slot + 1) * cfg.slot_s
        new = self._k.entries(self.seed, self.slot, t_next, self.next_id, cfg)
        self.slot += 1
        # Fading and activity step for the vehicles that stay, keyed by the new time slot.
        rho = radio.fading_rho(self.v, cfg)
        innov = self._k.fading_draw(self.seed[:, None], self.slot[:, None], self.vid, Stream.FADING)
        self.fade = rho * self.fade + np.sqrt(1.0 - rho * rho) * innov
        self.act_z = self._k.activity_step(self.act_z, self.seed, self.slot, self.vid, cfg)
        if cfg.radio_map_drift_s is not None:
            self.radio_map = self._k.drift_radio_map(self.radio_map, self.seed, self.slot, cfg)
        active_before = self.active.sum(axis=1)
        blocked = self._admit(new)
        entered = (self.active.sum(axis=1) - active_before).astype(np.float64)
        self._prepare_slot(np.ones(B, dtype=bool), migrate=True)
        return entered, blocked.astype(np.float64)


def _busy_s(work: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Seconds a link was busy serving ``work`` at ``rate`` (0 where nothing was served)."""
    return np.where(work > 0.0, work / np.where(rate > 0.0, rate, 1.0), 0.0)
