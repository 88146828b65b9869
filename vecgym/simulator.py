"""The simulator core: one slot of mobility, channel, arrivals, queues, energy and metrics.

Struct of arrays throughout: vehicles live in ``n_max`` fixed slots (``active`` mask), and the
tasks in flight live in one float matrix ``tasks`` of shape (T, N_COLS), compacted every slot.
No per-vehicle or per-task Python object exists in the step loop.

Per slot [t0, t1) the order is: mobility (who exits, when) → arrivals (Poisson per (n, k),
uniform arrival times) → local FIFO per vehicle at f_v → uplink FIFO per vehicle at its share of
W → edge FIFO per (n, k) at a[n,k]·F_e for the offloaded parts whose upload is done → completion,
failure, QoS cost and energy → departures and entries → channel and activity for the next slot.
Result download time is neglected (results are a few bytes against kilobytes of input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import channel
from .config import CLASSES, VECConfig
from .goals import BALANCED, GoalSpec
from .metrics import EpisodeMetrics
from .mobility import HighwayMobility, MobilityModel, NewVehicles
from .queues import lindley, segment_last
from .tasks import TaskTypes, ZoneProfile, activity_level, activity_step

# Columns of the in-flight task matrix (all float64; VEH and TYP hold small integers exactly).
# CHARGED: the task's QoS cost has been charged (it went overdue); LATE: it has been counted as a
# violation (its deadline passed while it was still pending).
VEH, TYP, T_ARR, LOCAL_DONE, UP_POS, UP_DONE, EDGE_WORK, EDGE_POS, EDGE_DONE, CHARGED, LATE = range(11)
N_COLS = 11
INF = np.inf


@dataclass
class SlotResult:
    """What one slot produced (the env turns it into reward and ``info``)."""

    reward: float
    reward_terms: dict[str, float]
    metrics: dict[str, float]


class Simulator:
    """The physical layer. ``reset(rng)`` then ``step(w, a)`` with validated (n_max, K) arrays."""

    def __init__(self, cfg: VECConfig, mobility: MobilityModel | None = None):
        self.cfg = cfg
        self.n_max = cfg.slots
        self.K = cfg.n_task_types
        self.types = TaskTypes.from_config(cfg)
        self.mobility = mobility if mobility is not None else HighwayMobility(cfg)
        self.zone = ZoneProfile(cfg)
        self.class_rate = np.asarray(cfg.class_rate_multiplier, dtype=np.float64)
        self.lane_y_m = cfg.lane_offset_m + cfg.lane_width_m * np.arange(cfg.n_lanes)
        self.metrics = EpisodeMetrics(cfg.peak_window_slots, cfg.slot_s, self.K)
        # Constants used per slot.
        self._local_energy_per_cycle = cfg.kappa_vehicle * cfg.vehicle_cpu_hz**2
        self._kappa_edge = cfg.kappa_edge_value
        self._mean_cycles = self.types.mean_cycles
        self._expected_tasks_per_vehicle = float(self.types.rate_hz.sum() * cfg.slot_s)
        self._expected_cycles_per_vehicle = float((self.types.rate_hz * self._mean_cycles).sum() * cfg.slot_s)
        self._f_v = np.full(self.n_max, cfg.vehicle_cpu_hz)
        self.rng: np.random.Generator = np.random.default_rng()

    # ------------------------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator) -> None:
        """Empty queues, a stationary road with about N vehicles, the balanced goal."""
        self.rng = rng
        M, K = self.n_max, self.K
        self.slot = 0
        self.t = 0.0
        self.next_id = 0
        self.active = np.zeros(M, dtype=bool)
        self.vid = np.full(M, -1, dtype=np.int64)
        self.vclass = np.zeros(M, dtype=np.int8)
        self.lane = np.zeros(M, dtype=np.int8)
        self.x = np.zeros(M)
        self.y = np.zeros(M)
        self.v = np.zeros(M)
        self.v_target = np.zeros(M)
        self.shadow_db = np.zeros(M)
        self.h = np.zeros(M, dtype=np.complex128)
        self.rho = np.zeros(M)  # fading AR(1) coefficient J0(2π f_d τ), cached per vehicle speed
        self.gain = np.zeros(M)  # |h|²·10^(-(PL+S)/10) for the coming slot
        self.act_z = np.zeros((M, K))
        self.local_free_at = np.zeros(M)
        self.up_arrived = np.zeros(M)
        self.up_backlog = np.zeros(M)
        self.edge_arrived = np.zeros((M, K))
        self.edge_backlog = np.zeros((M, K))
        self.last_arrivals_bytes: np.ndarray = np.zeros((M, K))
        self.weight = np.ones(M)
        # Per vehicle: number and sum of the unweighted QoS costs charged (Jain's fairness index).
        self.veh_cost_n = np.zeros(M)
        self.veh_cost_sum = np.zeros(M)
        self.tasks = np.empty((0, N_COLS))
        self.goal: GoalSpec = BALANCED
        self.metrics.reset()
        self.last_uploading = np.zeros(M, dtype=bool)
        self._admit(self.mobility.initial(rng), at_s=0.0)
        self._refresh_channel_and_rates(moved_m=None)

    # ------------------------------------------------------------------------------------------
    def set_goal(self, goal: GoalSpec) -> None:
        """Make ``goal`` the objective of the reward (weights of present and future vehicles)."""
        self.goal = goal
        for vid in goal.vehicle_weights:
            self.metrics.tracked.setdefault(int(vid), [0.0, 0.0, 0.0, 0.0])
        self.weight = self._weights(self.vid, self.vclass)

    def _weights(self, vid: np.ndarray, vclass: np.ndarray) -> np.ndarray:
        cw = np.array([self.goal.class_weights.get(c, 1.0) for c in CLASSES])
        w = cw[vclass]
        for v, wv in self.goal.vehicle_weights.items():
            w[vid == v] *= wv
        return w

    # ------------------------------------------------------------------------------------------
    def _admit(self, new: NewVehicles, at_s: float) -> int:
        """Put entering vehicles into free slots; return how many found none (blocked)."""
        n_new = new.x_m.shape[0]
        if n_new == 0:
            return 0
        free = np.flatnonzero(~self.active)
        take = min(n_new, free.shape[0])
        idx = free[:take]
        self.active[idx] = True
        self.vid[idx] = np.arange(self.next_id, self.next_id + take)
        self.next_id += take
        self.x[idx] = new.x_m[:take]
        self.v[idx] = new.speed_mps[:take]
        self.v_target[idx] = new.speed_mps[:take]
        self.lane[idx] = new.lane[:take]
        self.y[idx] = self.lane_y_m[new.lane[:take]]
        self.vclass[idx] = new.vclass[:take]
        rng = self.rng
        self.shadow_db[idx] = self.cfg.shadowing_std_db * rng.standard_normal(take)
        self.h[idx] = channel.new_fading(take, rng) if self.cfg.fading else 1.0
        self.rho[idx] = channel.fading_correlation(new.speed_mps[:take], self.cfg)
        self.act_z[idx] = self.cfg.activity_std * rng.standard_normal((take, self.K))
        self.local_free_at[idx] = at_s
        self.up_arrived[idx] = 0.0
        self.up_backlog[idx] = 0.0
        self.edge_arrived[idx] = 0.0
        self.edge_backlog[idx] = 0.0
        self.last_arrivals_bytes[idx] = 0.0
        self.veh_cost_n[idx] = 0.0
        self.veh_cost_sum[idx] = 0.0
        self.weight[idx] = self._weights(self.vid[idx], self.vclass[idx])
        return n_new - take

    def _refresh_channel_and_rates(self, moved_m: np.ndarray | None) -> None:
        """Channel gain and arrival intensity of every slot for the coming slot."""
        cfg, rng = self.cfg, self.rng
        if moved_m is not None:
            self.shadow_db = channel.shadowing_step(self.shadow_db, moved_m, cfg, rng)
            if cfg.fading:
                if cfg.dynamic_speed:
                    self.rho = channel.fading_correlation(self.v, cfg)
                self.h = channel.fading_step_rho(self.h, self.rho, rng)
            self.act_z = activity_step(self.act_z, cfg, rng)
        dist = channel.distance_m(self.x, self.y, cfg)
        fade = (self.h.real**2 + self.h.imag**2) if cfg.fading else 1.0
        self.gain = fade * 10.0 ** (-(channel.path_loss_db(dist) + self.shadow_db) / 10.0)
        mult = self.zone(self.x) * self.class_rate[self.vclass] * self.active
        self.lam = activity_level(self.act_z, cfg) * (self.types.rate_hz * cfg.slot_s) * mult[:, None]

    def snr(self) -> np.ndarray:
        """True SNR (linear) of every slot for the coming slot (0 for inactive slots)."""
        return np.where(self.active, self.cfg.tx_power_w * self.gain / self.cfg.noise_w, 0.0)

    # ------------------------------------------------------------------------------------------
    def step(self, w: np.ndarray, a: np.ndarray) -> SlotResult:
        """Advance one slot with offload ratios ``w`` and edge shares ``a``, both (n_max, K)."""
        cfg, rng, K, M = self.cfg, self.rng, self.K, self.n_max
        tau = cfg.slot_s
        t0 = self.t
        t1 = t0 + tau
        act = self.active

        # --- mobility: who leaves during the slot, and when --------------------------------
        x_end, v_end, target = self.mobility.advance(self.x, self.v, self.v_target, rng)
        exiting = act & (x_end >= cfg.road_length_m)
        t_cut = np.full(M, t1)
        if exiting.any():
            frac = (cfg.road_length_m - self.x[exiting]) / np.maximum(x_end[exiting] - self.x[exiting], 1e-12)
            t_cut[exiting] = t0 + tau * np.clip(frac, 0.0, 1.0)

        # --- arrivals -------------------------------------------------------------------------
        counts = rng.poisson(self.lam)
        q = np.repeat(np.arange(M * K), counts.ravel())
        u = rng.random(q.shape[0])
        size_u = rng.random(q.shape[0])
        veh = q // K
        typ = q - veh * K
        t_arr = t0 + tau * u
        if exiting.any():
            keep = t_arr < t_cut[veh]
            veh, typ, t_arr, u, size_u, q = veh[keep], typ[keep], t_arr[keep], u[keep], size_u[keep], q[keep]
        order = np.argsort(veh + u, kind="stable")  # by vehicle, then arrival time
        veh, typ, t_arr, q = veh[order], typ[order], t_arr[order], q[order]
        size = (
            self.types.size_min_bytes[typ]
            + (self.types.size_max_bytes[typ] - self.types.size_min_bytes[typ]) * size_u[order]
        )
        n_new = veh.shape[0]
        self.last_arrivals_bytes = np.bincount(q, weights=size, minlength=M * K).reshape(M, K)
        cycles = size * self.types.cycles_per_byte[typ]
        w_task = w[veh, typ]
        edge_work = cycles * w_task
        local_work = cycles - edge_work
        bits = 8.0 * size * w_task

        # --- local FIFO per vehicle at f_v and uplink FIFO per vehicle at its share of W -------
        # Both are keyed by vehicle, so one Lindley pass serves both: queue n is vehicle n's CPU,
        # queue M + n its uplink. The local completion time is final at arrival (f_v is constant).
        f_v = cfg.vehicle_cpu_hz
        free_start = np.maximum(self.local_free_at, t0)
        local_backlog0 = f_v * (free_start - t0)
        lm = local_work > 0.0
        um = bits > 0.0
        new_up_per_veh = np.bincount(veh[um], weights=bits[um], minlength=M)
        uploading = act & ((self.up_backlog > 0.0) | (new_up_per_veh > 0.0))
        n_up = int(uploading.sum())
        band = cfg.bandwidth_hz / max(n_up, 1)
        snr = cfg.tx_power_w * self.gain / cfg.noise_w
        r_up = np.maximum(channel.shannon_rate_bps(band, snr), 1e-3)
        served_up0 = self.up_arrived - self.up_backlog
        free_up = t0 + self.up_backlog / r_up

        new = np.empty((n_new, N_COLS))
        new[:, VEH] = veh
        new[:, TYP] = typ
        new[:, T_ARR] = t_arr
        new[:, LOCAL_DONE] = t_arr
        new[:, UP_POS] = np.nan
        new[:, UP_DONE] = t_arr
        new[:, EDGE_WORK] = edge_work
        new[:, EDGE_POS] = np.nan
        new[:, EDGE_DONE] = np.where(um, INF, t_arr)
        new[:, CHARGED] = 0.0
        new[:, LATE] = 0.0
        free_end = np.concatenate((free_start, free_up))
        n_local = int(lm.sum())
        if n_new:
            veh_u = veh[um]
            done, cum = lindley(
                np.concatenate((veh[lm], veh_u + M)),
                np.concatenate((t_arr[lm], t_arr[um])),
                np.concatenate((local_work[lm], bits[um])),
                np.concatenate((self._f_v, r_up)),
                free_end,
            )
            done_l, done_u = done[:n_local], done[n_local:]
            new[lm, LOCAL_DONE] = done_l
            new[um, UP_POS] = self.up_arrived[veh_u] + cum[n_local:]
            new[um, UP_DONE] = np.where(done_u <= t1, done_u, INF)
            seg, last = segment_last(np.concatenate((veh[lm], veh_u + M)), done)
            free_end = free_end.copy()
            free_end[seg] = last
        self.local_free_at = free_end[:M]
        local_new = np.bincount(veh, weights=local_work, minlength=M)
        local_served = local_backlog0 + local_new - f_v * np.maximum(self.local_free_at - t_cut, 0.0)

        tasks = self.tasks
        pend_up = tasks[:, UP_DONE] == INF
        if pend_up.any():
            iv = tasks[pend_up, VEH].astype(np.intp)
            ahead = np.maximum(tasks[pend_up, UP_POS] - served_up0[iv], 0.0)
            done_old = t0 + ahead / r_up[iv]
            tasks[pend_up, UP_DONE] = np.where(done_old <= t1, done_old, INF)
        self.up_arrived = self.up_arrived + new_up_per_veh
        up_backlog_end = r_up * np.maximum(free_end[M:] - t_cut, 0.0)
        up_served = self.up_backlog + new_up_per_veh - up_backlog_end
        self.up_backlog = up_backlog_end

        tasks = np.concatenate((tasks, new)) if n_new else tasks
        tveh = tasks[:, VEH].astype(np.intp)
        tq = tveh * K + tasks[:, TYP].astype(np.intp)

        # --- edge FIFO per (vehicle, type) at a[n,k]·F_e ---------------------------------------
        r_e = (a * cfg.edge_cpu_hz).ravel()
        has_rate = r_e > 0.0
        r_safe = np.where(has_rate, r_e, 1.0)
        e_backlog0 = self.edge_backlog.ravel()
        e_arrived = self.edge_arrived.ravel()
        served_e0 = e_arrived - e_backlog0
        free_e = np.where(has_rate, t0 + e_backlog0 / r_safe, t1)
        # Tasks already queued at the edge (upload done in an earlier slot).
        at_edge = (tasks[:, EDGE_DONE] == INF) & ~np.isnan(tasks[:, EDGE_POS])
        if at_edge.any():
            iq = tq[at_edge]
            done_e = t0 + np.maximum(tasks[at_edge, EDGE_POS] - served_e0[iq], 0.0) / r_safe[iq]
            tasks[at_edge, EDGE_DONE] = np.where(has_rate[iq] & (done_e <= t1), done_e, INF)
        # Tasks whose upload completed in this slot (before their vehicle left) join now.
        joins = np.flatnonzero(
            np.isnan(tasks[:, EDGE_POS]) & (tasks[:, EDGE_DONE] == INF) & (tasks[:, UP_DONE] <= t_cut[tveh])
        )
        e_new: np.ndarray = np.zeros(M * K)
        e_free_end = free_e
        if joins.shape[0]:
            jq = tq[joins]
            # Sort by queue, then upload completion (in [t0, t1]): one float key, cheaper than lexsort.
            jorder = np.argsort(jq + 0.5 * (tasks[joins, UP_DONE] - t0) / tau, kind="stable")
            joins, jq = joins[jorder], jq[jorder]
            jwork = tasks[joins, EDGE_WORK]
            done_e, cum = lindley(jq, tasks[joins, UP_DONE], jwork, r_safe, free_e)
            done_e = np.where(has_rate[jq], done_e, INF)
            tasks[joins, EDGE_POS] = e_arrived[jq] + cum
            tasks[joins, EDGE_DONE] = np.where(done_e <= t1, done_e, INF)
            e_new = np.bincount(jq, weights=jwork, minlength=M * K)
            seg, last = segment_last(jq, done_e)
            e_free_end = free_e.copy()
            e_free_end[seg] = np.maximum(free_e[seg], last)
        tcut_q = np.repeat(t_cut, K)
        e_backlog_end = np.where(has_rate, r_safe * np.maximum(e_free_end - tcut_q, 0.0), e_backlog0 + e_new)
        e_served = e_backlog0 + e_new - e_backlog_end
        self.edge_backlog = e_backlog_end.reshape(M, K)
        self.edge_arrived = (e_arrived + e_new).reshape(M, K)

        # --- energy (J) ---------------------------------------------------------------------
        e_local = self._local_energy_per_cycle * float(local_served.sum())
        e_upload = cfg.tx_power_w * float((up_served / r_up).sum())
        e_edge = self._kappa_edge * float((r_e * r_e * e_served).sum())
        energy = e_local + e_upload + e_edge

        # --- completions, failures, QoS cost -------------------------------------------------
        done = np.maximum(tasks[:, LOCAL_DONE], tasks[:, EDGE_DONE])
        vcut = t_cut[tveh]
        completed = done <= vcut
        failed = ~completed & exiting[tveh]
        deadline = self.types.deadline_s[tasks[:, TYP].astype(np.intp)]
        eff_deadline = deadline * self.goal.deadline_scale
        cap = cfg.qos_cost_cap
        weight = self.weight[tveh]
        uncharged = tasks[:, CHARGED] == 0.0
        fresh = tasks[:, LATE] == 0.0  # not yet counted as a violation
        lat = done[completed] - tasks[completed, T_ARR]
        # Unweighted cost of each task charged this slot: min(latency / deadline_eff, cap) when it
        # completes, cap when it fails or goes overdue (cap deadlines without completing).
        c_cost = np.minimum(lat / eff_deadline[completed], cap)
        c_charge = uncharged[completed]
        f_charge = uncharged[failed]
        overdue = ~completed & ~failed & uncharged & (t1 - tasks[:, T_ARR] >= cap * eff_deadline)
        cost = float((weight[completed] * c_cost * c_charge).sum())
        cost += cap * float((weight[failed] * f_charge).sum()) + cap * float(weight[overdue].sum())
        tasks[overdue, CHARGED] = 1.0
        charged_veh = np.concatenate((tveh[completed][c_charge], tveh[failed][f_charge], tveh[overdue]))
        charged_cost = np.concatenate((c_cost[c_charge], np.full(int(f_charge.sum()) + int(overdue.sum()), cap)))
        self.veh_cost_n += np.bincount(charged_veh, minlength=M)
        self.veh_cost_sum += np.bincount(charged_veh, weights=charged_cost, minlength=M)

        # Violations: each task is decided once, when it completes, fails, or its deadline passes
        # while it is still pending (so a growing backlog cannot hide its late tasks).
        c_fresh = fresh[completed]
        viol_c = (lat > deadline[completed]) & c_fresh
        f_new = failed & fresh
        late_now = ~completed & ~failed & fresh & (t1 - tasks[:, T_ARR] > deadline)
        tasks[late_now, LATE] = 1.0

        m = self.metrics
        cv = tveh[completed]
        n_completed = int(completed.sum())
        n_failed = int(failed.sum())
        n_viol = int(viol_c.sum()) + int(f_new.sum()) + int(late_now.sum())
        n_decided = int(c_fresh.sum()) + int(f_new.sum()) + int(late_now.sum())
        m.arrived += n_new
        m.failed += n_failed
        m.violations += n_viol
        m.decided += n_decided
        m.add_latencies(lat)
        n_cls = len(CLASSES)
        ccls = self.vclass[cv]
        m.class_count += np.bincount(ccls, minlength=n_cls)
        m.class_sum += np.bincount(ccls, weights=lat, minlength=n_cls)
        dcls = self.vclass[np.concatenate((cv[c_fresh], tveh[f_new], tveh[late_now]))]
        vcls = self.vclass[np.concatenate((cv[viol_c], tveh[f_new], tveh[late_now]))]
        m.class_decided += np.bincount(dcls, minlength=n_cls)
        m.class_viol += np.bincount(vcls, minlength=n_cls)
        ctyp = tasks[completed, TYP].astype(np.intp)
        m.type_count += np.bincount(ctyp, minlength=K)
        m.type_sum += np.bincount(ctyp, weights=lat, minlength=K)
        if m.tracked:
            self._track(cv, lat, c_fresh, viol_c, tveh[f_new], tveh[late_now])
        m.energy += (e_local, e_upload, e_edge)
        m.end_slot(n_decided, n_viol)
        self.tasks = tasks[~(completed | failed)]

        # --- reward ---------------------------------------------------------------------------
        n_active = int(act.sum())
        # Normalisers count at least one vehicle so an empty road cannot blow the reward up.
        n_norm = max(n_active, 1)
        norm_tasks = max(1.0, n_norm * self._expected_tasks_per_vehicle)
        norm_energy = max(1e-12, n_norm * self._expected_cycles_per_vehicle * self._local_energy_per_cycle)
        qos_term = cost / norm_tasks
        energy_term = energy / norm_energy
        fair_term = 0.0
        if self.goal.fairness > 0.0:
            fair_term = self.goal.fairness * (1.0 - self._jain_active())
        g = self.goal
        terms = {
            "qos": -g.beta_qos * qos_term,
            "energy": -g.beta_energy * energy_term,
            "fairness": -fair_term,
        }
        reward = terms["qos"] + terms["energy"] + terms["fairness"]
        m.reward += reward
        for key, val in terms.items():
            m.reward_terms[key] += val

        # --- departures and entries, then the channel for the next slot ----------------------
        moved = x_end - self.x
        self.x, self.v, self.v_target = x_end, v_end, target
        n_exit = int(exiting.sum())
        if n_exit:
            self._depart(exiting)
        self.t = t1
        self.slot += 1
        blocked = self._admit(self.mobility.entries(rng), at_s=t1)
        m.entry_blocked += blocked
        self._refresh_channel_and_rates(moved)
        self.last_uploading = uploading

        metrics = {
            "n_active": float(n_active),
            "n_uploading": float(n_up),
            "tasks_arrived": float(n_new),
            "tasks_completed": float(n_completed),
            "tasks_failed": float(n_failed),
            "violations": float(n_viol),
            "tasks_decided": float(n_decided),
            "violation_rate": n_viol / n_decided if n_decided else 0.0,
            "latency_ms_mean": 1e3 * float(lat.mean()) if n_completed else float("nan"),
            "energy_j": energy,
            "energy_local_j": e_local,
            "energy_upload_j": e_upload,
            "energy_edge_j": e_edge,
            "edge_utilisation": float(e_served.sum()) / (cfg.edge_cpu_hz * tau),
            "tasks_in_flight": float(self.tasks.shape[0]),
            "vehicles_entered": float(self.active.sum() - n_active + n_exit),
            "vehicles_exited": float(n_exit),
            "entry_blocked": float(blocked),
        }
        return SlotResult(reward=reward, reward_terms=terms, metrics=metrics)

    # ------------------------------------------------------------------------------------------
    def _vehicle_costs(self, mask: np.ndarray) -> np.ndarray:
        """Mean unweighted QoS cost of the vehicles in ``mask`` that were charged any."""
        sel = mask & (self.veh_cost_n > 0)
        return self.veh_cost_sum[sel] / self.veh_cost_n[sel]

    def _jain_active(self) -> float:
        mu = self._vehicle_costs(self.active)
        s2 = float((mu * mu).sum())
        return float(mu.sum() ** 2 / (mu.shape[0] * s2)) if s2 > 0 else 1.0

    def _track(
        self,
        cveh: np.ndarray,
        lat: np.ndarray,
        c_fresh: np.ndarray,
        viol_c: np.ndarray,
        fveh: np.ndarray,
        lveh: np.ndarray,
    ) -> None:
        for vid, rec in self.metrics.tracked.items():
            slots = np.flatnonzero(self.vid == vid)
            if slots.shape[0] == 0:
                continue
            n = slots[0]
            sel = cveh == n
            extra = int((fveh == n).sum()) + int((lveh == n).sum())
            rec[0] += float(sel.sum())
            rec[1] += float(lat[sel].sum())
            rec[2] += float(viol_c[sel].sum()) + extra
            rec[3] += float(c_fresh[sel].sum()) + extra

    def _depart(self, exiting: np.ndarray) -> None:
        self.metrics.add_departed(self._vehicle_costs(exiting))
        self.active[exiting] = False
        self.vid[exiting] = -1
        self.v[exiting] = 0.0
        self.v_target[exiting] = 0.0
        self.local_free_at[exiting] = 0.0  # abandoned work is not served, nor charged
        self.up_backlog[exiting] = 0.0
        self.edge_backlog[exiting] = 0.0
        self.weight[exiting] = 1.0

    def episode_metrics(self) -> dict[str, Any]:
        tasks = self.tasks
        return self.metrics.summary(
            self._vehicle_costs(self.active),
            pending=tasks.shape[0],
            pending_late=int((tasks[:, LATE] != 0.0).sum()),
            pending_age_s=float((self.t - tasks[:, T_ARR]).mean()) if tasks.shape[0] else float("nan"),
        )
