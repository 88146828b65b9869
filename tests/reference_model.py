"""An independent, event-by-event model of vecgym physics v2 (``docs/physics_v2.md``).

It replays what the engine records in ``Engine.trace`` (each slot's inputs: activity, serving
cell, holder, gain, the action, the exit instant ``t_cut``, the weights; and the tasks that
arrived) and recomputes, from the spec alone, every task's fate: its own FIFOs (one object per
task, one explicit loop per queue), band sharing, DVFS energy, handovers with migration over the
backhaul links, drops at cap deadlines, exits. It imports nothing from ``vecgym.core`` and nothing
of ``vecgym.queues``: only the config is read.

Usage (see ``tests/test_reference_model.py``)::

    ref = ReferenceModel(cfg, n_roads)
    for s, tr in enumerate(trace):
        if s:
            ref.boundary(tr)          # the end boundary of slot s-1, given slot s's inputs
        out = ref.run_slot(tr)        # slot s: resolved tasks, energy (B, 5), QoS cost, ...

``boundary`` adds the migration energy of the handovers it performs to the slot that boundary
ends (spec: "charged in the slot whose end boundary performs it"): ``ref.slots[s-1]``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

INF = math.inf

# Energy components, in the order of the engine's ``energy_j`` columns.
LOCAL, UPLOAD, DOWNLOAD, MIGRATION, EDGE = range(5)
COMPLETED, FAILED, DROPPED = 0, 1, 2


class Task:
    """One task: its local part and its edge path (upload -> edge compute -> download)."""

    __slots__ = (
        "acc",
        "at_server",
        "cycles",
        "delivered",
        "edge_rem",
        "edge_w0",
        "fwd_at",
        "g",
        "in_bits",
        "late",
        "loc_done",
        "loc_rem",
        "res_bits",
        "res_ready",
        "res_rem",
        "road",
        "size",
        "t_arr",
        "typ",
        "uid",
        "up_rem",
        "vid",
        "w",
    )

    def __init__(self, uid, road, vid, g, typ, t_arr, size, w, cycles, result_ratio):
        self.uid = uid
        self.road, self.vid, self.g, self.typ = road, vid, g, typ
        self.t_arr, self.size, self.w, self.cycles = t_arr, size, w, cycles
        # Local part: (1 - w)·C on the vehicle's CPU; a part of size 0 is done at t_arr.
        self.loc_rem = (1.0 - w) * cycles
        self.loc_done = t_arr if self.loc_rem <= 0.0 else INF
        # Edge part: w·C cycles, 8·size·w input bits, ratio·(input bits) result bits.
        self.in_bits = 8.0 * size * w
        self.up_rem = self.in_bits
        self.fwd_at = -INF  # arrival at the holder of a partial upload forwarded at a handover
        self.edge_w0 = w * cycles
        self.edge_rem = self.edge_w0
        self.res_bits = result_ratio * self.in_bits
        self.res_rem = self.res_bits
        if w > 0.0:
            self.at_server = INF
            self.res_ready = INF
            self.delivered = INF
        else:  # no edge part: the edge path is done at arrival
            self.at_server = t_arr
            self.res_ready = t_arr
            self.delivered = t_arr
        self.acc = 0.0
        self.late = False

    @property
    def offloaded(self) -> bool:
        return self.edge_w0 > 0.0

    @property
    def finish(self) -> float:
        return max(self.loc_done, self.delivered)


@dataclass
class Vehicle:
    vid: int
    n: int  # vehicle slot
    holder: int
    tasks: list[Task] = field(default_factory=list)  # in arrival order


@dataclass
class SlotOut:
    """What the model computes for one slot of one batch (all roads)."""

    resolved: list[tuple[int, int, int, float, int, float]]  # (road, g, typ, t_arr, outcome, finish)
    energy: np.ndarray  # (B, 5)
    qos_cost: np.ndarray  # (B,)
    violations: np.ndarray  # (B,)
    counts: np.ndarray  # (B, 3) completed, failed, dropped
    n_uploading: np.ndarray  # (B,) vehicles sharing an uplink band (uploaders of the slot)
    server_cycles: np.ndarray  # (B, S) edge cycles served at each server
    in_flight: np.ndarray  # (B,) tasks still pending after settling
    arrived: np.ndarray  # (B,) tasks that arrived
    migrations: list[tuple[int, int, int, int]] = field(default_factory=list)  # (road, g, src, dst) at its end


def serve_fifo(jobs: list[tuple[float, float]], rate: float, t0: float, horizon: float):
    """Serve ``jobs`` [(arrival >= t0, work)] in the given order at a constant ``rate`` from t0.

    Event by event: the server is free at t0; a job starts when it has arrived and the server is
    free, and is served without a break. Returns per job (done, work left at ``horizon``, time spent
    serving it before ``horizon``). A rate of 0 serves nothing (done = inf).
    """
    out = []
    free = t0
    for arrival, work in jobs:
        if rate <= 0.0:
            out.append((INF, work, 0.0))
            continue
        start = max(arrival, free)
        done = start + work / rate
        free = done
        if done <= horizon:
            out.append((done, 0.0, done - start))
        elif start < horizon:
            busy = horizon - start
            out.append((done, min(max(work - busy * rate, 0.0), work), busy))
        else:
            out.append((done, work, 0.0))
    return out


class ReferenceModel:
    """B independent roads of one config, replayed slot by slot from the engine's trace.

    ``check_cells_from``: the first slot whose serving cells are checked against the recorded
    positions (a test that moves vehicles after ``reset`` starts from stale cells).
    """

    def __init__(self, cfg: Any, n_roads: int = 1, check_cells_from: int = 0):
        self.cfg = cfg
        self.B = n_roads
        self.S = len(cfg.rsu_x_m)
        self.cpb = [float(x) for x in cfg.per_type("cycles_per_byte")]
        self.deadline = [float(x) for x in cfg.per_type("deadline_s")]
        self.ratio = [float(x) for x in cfg.per_type("result_ratio")]
        self.kappa_v = cfg.kappa_vehicle
        self.f_v = cfg.vehicle_cpu_hz
        self.f_e = cfg.edge_cpu_hz
        if cfg.kappa_edge is not None:
            self.kappa_e = cfg.kappa_edge
        else:  # κ_e = φ·κ_v·f_v²/F_e²
            self.kappa_e = cfg.edge_energy_phi * cfg.kappa_vehicle * cfg.vehicle_cpu_hz**2 / cfg.edge_cpu_hz**2
        self.check_cells_from = check_cells_from  # first slot whose serving cells are checked against x
        self.vehicles: list[dict[int, Vehicle]] = [{} for _ in range(n_roads)]
        self.link_free = [[-INF] * max(self.S - 1, 1) for _ in range(n_roads)]
        self.uid = 0
        self.slots: list[SlotOut] = []
        self._last: dict | None = None  # the inputs of the slot just run (for its end boundary)
        self.stats: Counter = Counter()
        """What the replay exercised (so a test cannot pass vacuously)."""

    # ------------------------------------------------------------------------------------------
    def _rate(self, band_hz: float, n_share: int, power_w: float, gain: float) -> float:
        """b·min(log2(1 + P·gain/N(b)), se_max) with b = band / n_share."""
        cfg = self.cfg
        b = band_hz / n_share
        if cfg.noise_model == "fixed":
            noise = cfg.noise_w
        else:
            noise = 10.0 ** ((cfg.noise_psd_dbm_hz + 10.0 * math.log10(b) + cfg.noise_figure_db - 30.0) / 10.0)
        return b * min(math.log2(1.0 + power_w * gain / noise), cfg.max_spectral_efficiency)

    # ------------------------------------------------------------------------------------------
    def run_slot(self, tr: dict) -> SlotOut:
        """Run one slot [t0, t1) of every road from the trace entry ``tr``."""
        B = self.B
        energy = np.zeros((B, 5))
        qos = np.zeros(B)
        viol = np.zeros(B)
        counts = np.zeros((B, 3))
        n_up = np.zeros(B)
        cycles = np.zeros((B, self.S))
        in_flight = np.zeros(B)
        arrived = np.zeros(B)
        resolved: list = []
        arr = tr["arrivals"]
        M = tr["active"].shape[1]
        new = [
            (int(g), int(k), float(t), float(size), float(w))
            for g, k, t, size, w in zip(arr["g"], arr["typ"], arr["t_arr"], arr["size_bytes"], arr["w"], strict=True)
        ]
        for b in range(B):
            mine = [task for task in new if task[0] // M == b]
            n_up[b], cycles[b], in_flight[b] = self._run_road(tr, b, M, mine, energy[b], resolved, qos, viol, counts)
            arrived[b] = len(mine)
        out = SlotOut(
            resolved=resolved,
            energy=energy,
            qos_cost=qos,
            violations=viol,
            counts=counts,
            n_uploading=n_up,
            server_cycles=cycles,
            in_flight=in_flight,
            arrived=arrived,
        )
        self.slots.append(out)
        self._last = tr
        return out

    def _run_road(self, tr, b, M, arrivals, energy, resolved, qos, viol, counts) -> tuple[int, list[float], int]:
        """Road b's slot; adds to ``energy`` (5,), ``resolved``, ``qos``, ``viol``, ``counts``.

        Returns the uploaders, the edge cycles served per server and the tasks left in flight."""
        cfg = self.cfg
        t0 = float(tr["t0"][b])
        t1 = float(tr["t1"][b])
        active = tr["active"][b]
        vid_of = tr["vid"][b]
        cell = tr["cell"][b]
        gain = tr["gain"][b]
        tcut = tr["tcut"][b]
        exiting = tr["exiting"][b]
        vehicles = self.vehicles[b]

        # --- who is on the road: known vehicles keep their slot; new ones get their first holder.
        present: dict[int, Vehicle] = {}
        for n in range(M):
            if not active[n]:
                continue
            vid = int(vid_of[n])
            v = vehicles.get(vid)
            if v is None:
                v = Vehicle(vid=vid, n=n, holder=int(cell[n]) if cell[n] >= 0 else -1)
                vehicles[vid] = v
            assert v.n == n, f"road {b}: vehicle {vid} moved from slot {v.n} to {n}"
            assert v.holder == int(tr["holder"][b, n]), (
                f"road {b} t0={t0}: vehicle {vid} holder: model {v.holder}, engine {int(tr['holder'][b, n])}"
            )
            present[vid] = v
        gone = set(vehicles) - set(present)
        assert not gone, f"road {b}: vehicles {sorted(gone)} vanished without exiting"
        by_slot = {v.n: v for v in present.values()}
        # Service counts until t_cut: t1 (exactly), or the exit instant of a leaving vehicle.
        horizon_of = {v.vid: (float(tcut[v.n]) if exiting[v.n] else t1) for v in present.values()}
        # The serving cell at the slot's start: the nearest RSU if within range and not in a tunnel.
        if "x" in tr and len(self.slots) >= self.check_cells_from:
            for v in present.values():
                x = float(tr["x"][b, v.n])
                near = min(range(self.S), key=lambda s: abs(x - cfg.rsu_x_m[s]))
                covered = abs(x - cfg.rsu_x_m[near]) <= cfg.coverage_radius_m and not any(
                    x0 <= x < x1 for x0, x1 in cfg.tunnels
                )
                assert int(cell[v.n]) == (near if covered else -1), (
                    f"road {b} t0={t0}: vehicle {v.vid} at x={x}: cell {int(cell[v.n])}, spec {near if covered else -1}"
                )
                self.stats["cells_checked"] += 1
        for v in present.values():
            tc = float(tcut[v.n])
            assert abs(tc - t1) <= 1e-12 * max(1.0, t1) if not exiting[v.n] else t0 <= tc <= t1 + 1e-12 * max(1.0, t1)
            if not exiting[v.n] and tc != t1:
                self.stats["tcut_not_t1"] += 1
            if cell[v.n] < 0:
                self.stats["vehicle_slots_in_gap"] += 1

        # --- arrivals: w is the action's, except 0 while the vehicle is in a gap.
        for g, typ, t_arr, size, w_engine in arrivals:
            n = g - b * M
            v = by_slot.get(n)
            assert v is not None, f"road {b}: a task arrived at the empty vehicle slot {n}"
            assert t0 <= t_arr < float(tcut[n]), f"task at {t_arr} outside [t0, t_cut) = [{t0}, {tcut[n]})"
            w = float(tr["w"][b, n, typ]) if cell[n] >= 0 else 0.0
            assert w == w_engine, f"road {b} slot {n}: applied w {w_engine}, spec says {w}"
            if cell[n] < 0:
                self.stats["arrivals_in_gap"] += 1
            task = Task(self.uid, b, v.vid, g, typ, t_arr, size, w, size * self.cpb[typ], self.ratio[typ])
            self.uid += 1
            if v.tasks:
                assert v.tasks[-1].t_arr <= t_arr
            v.tasks.append(task)
            self.stats["arrivals"] += 1

        # --- 1. uplinks: the band of a cell split among its uploaders (counted for the whole slot).
        uploaders: Counter[int] = Counter()
        for v in present.values():
            if cell[v.n] >= 0 and any(t.up_rem > 0.0 for t in v.tasks):
                uploaders[int(cell[v.n])] += 1
        for v in present.values():
            queue = sorted((t for t in v.tasks if t.up_rem > 0.0), key=lambda t: t.t_arr)
            if not queue:
                continue
            c = int(cell[v.n])
            rate = self._rate(cfg.bandwidth_hz, uploaders[c], cfg.tx_power_w, float(gain[v.n])) if c >= 0 else 0.0
            served = serve_fifo([(max(t.t_arr, t0), t.up_rem) for t in queue], rate, t0, horizon_of[v.vid])
            for t, (done, left, busy) in zip(queue, served, strict=True):
                energy[UPLOAD] += cfg.tx_power_w * busy
                t.up_rem = left
                if left == 0.0:
                    # At the holding server once the forwarded partial upload (if any) is there too.
                    t.at_server = max(done, t.fwd_at)

        # --- 2. edge: one FIFO per (vehicle, type) at the holder, rate a·F_e; DVFS per server.
        cycles_at = [0.0] * self.S
        share_at = [0.0] * self.S
        for v in present.values():
            if v.holder < 0:
                continue
            share_at[v.holder] += float(np.sum(tr["a"][b, v.n]))
            for k in range(tr["a"].shape[2]):
                queue = [t for t in v.tasks if t.typ == k and t.up_rem == 0.0 and t.edge_rem > 0.0 and t.at_server < t1]
                if not queue:
                    continue
                queue.sort(key=lambda t: (t.at_server, t.t_arr))
                rate = float(tr["a"][b, v.n, k]) * self.f_e
                served = serve_fifo([(max(t.at_server, t0), t.edge_rem) for t in queue], rate, t0, horizon_of[v.vid])
                for t, (done, left, _busy) in zip(queue, served, strict=True):
                    cycles_at[v.holder] += t.edge_rem - left
                    t.edge_rem = left
                    if left == 0.0:
                        t.res_ready = done
        for s in range(self.S):
            f_s = self.f_e * share_at[s]
            energy[EDGE] += self.kappa_e * f_s * f_s * cycles_at[s]

        # --- 3. downloads: results ready before t1, band of the serving cell split among its downloaders.
        waiting = {
            v.vid: [t for t in v.tasks if t.offloaded and t.edge_rem == 0.0 and t.delivered == INF and t.res_ready < t1]
            for v in present.values()
        }
        downloaders = Counter(int(cell[v.n]) for v in present.values() if waiting[v.vid] and cell[v.n] >= 0)
        for v in present.values():
            queue = sorted(waiting[v.vid], key=lambda t: (t.res_ready, t.t_arr))
            if not queue:
                continue
            c = int(cell[v.n])
            rate = (
                self._rate(cfg.downlink_bandwidth_hz, downloaders[c], cfg.rsu_tx_power_w, float(gain[v.n]))
                if c >= 0
                else 0.0
            )
            served = serve_fifo([(max(t.res_ready, t0), t.res_rem) for t in queue], rate, t0, horizon_of[v.vid])
            for t, (done, left, busy) in zip(queue, served, strict=True):
                energy[DOWNLOAD] += cfg.rsu_tx_power_w * busy
                t.res_rem = left
                if done <= horizon_of[v.vid]:
                    t.delivered = done

        # --- 4. local CPUs: horizon t1, or inf for a vehicle leaving the road in this slot.
        for v in present.values():
            queue = [t for t in v.tasks if t.loc_rem > 0.0]
            if not queue:
                continue
            horizon = INF if exiting[v.n] else t1
            served = serve_fifo([(max(t.t_arr, t0), t.loc_rem) for t in queue], self.f_v, t0, horizon)
            for t, (done, left, _busy) in zip(queue, served, strict=True):
                energy[LOCAL] += self.kappa_v * self.f_v**2 * (t.loc_rem - left)
                t.loc_rem = left
                if left == 0.0:
                    t.loc_done = done
                    if exiting[v.n] and done > float(tcut[v.n]):
                        self.stats["local_done_after_exit"] += 1

        # --- settle at t1.
        scale = float(tr["deadline_scale"][b])
        cap = cfg.qos_cost_cap
        for v in present.values():
            if cell[v.n] < 0 and any(
                t.offloaded and t.edge_rem == 0.0 and t.delivered == INF and t.res_ready < t1 for t in v.tasks
            ):
                self.stats["results_waiting_in_gap"] += 1
            keep = []
            weight = float(tr["weight"][b, v.n])
            for t in v.tasks:
                d_k = self.deadline[t.typ]
                d_eff = d_k * scale
                age = t1 - t.t_arr
                fin = t.finish
                if fin < INF:
                    outcome, acc = COMPLETED, min((fin - t.t_arr) / d_eff, cap)
                elif exiting[v.n]:
                    outcome, acc = FAILED, cap
                elif age >= cap * d_eff:
                    outcome, acc = DROPPED, cap
                else:
                    outcome, acc = None, min(age / d_eff, cap)
                qos[b] += weight * (acc - t.acc)
                t.acc = acc
                if not t.late:
                    if outcome is None:
                        late = age > d_k
                    else:
                        late = outcome != COMPLETED or fin - t.t_arr > d_k
                    if late:
                        t.late = True
                        viol[b] += 1
                if outcome is None:
                    keep.append(t)
                    continue
                counts[b, outcome] += 1
                resolved.append((b, t.g, t.typ, t.t_arr, outcome, fin))
                self.stats[("completed", "failed", "dropped")[outcome]] += 1
                if outcome == DROPPED and t.offloaded:
                    self.stats["dropped_offloaded"] += 1
                if outcome == COMPLETED and t.offloaded and t.w < 1.0:
                    self.stats["completed_split"] += 1
            v.tasks = keep
            if exiting[v.n]:
                assert not keep
                del vehicles[v.vid]
                self.stats["exits"] += 1
        return sum(uploaders.values()), cycles_at, sum(len(v.tasks) for v in vehicles.values())

    # ------------------------------------------------------------------------------------------
    def boundary(self, nxt: dict, cells_before_reset: dict | None = None) -> None:
        """The end boundary of the slot just run: holders and handovers for the next slot ``nxt``.

        A vehicle whose new serving cell c >= 0 differs from its holder h hands over: the inputs
        of its tasks at the server (remaining fraction), its undelivered results and a partial
        upload (bits sent) cross the FIFO of link min(h, c) at rate R, each from max(t1, link free,
        its ready time), in task order; each is at c at done + |c - h|·delay. Energy e_bit·bits·hops
        is charged to the slot that this boundary ends.

        A road reset before ``nxt`` (its slot counter is 0 again) starts a new episode and carries
        nothing over; the boundary that ended its old episode still happened, but ``nxt`` no longer
        holds its vehicles' cells: ``cells_before_reset`` {(road, vehicle slot): cell at t1} gives the
        cells of the vehicles that moved to another cell (the others do not hand over).
        """
        cfg = self.cfg
        prev = self.slots[-1]
        M = nxt["active"].shape[1]
        assert self._last is not None
        for b in range(self.B):
            reset = int(nxt["slot"][b]) == 0
            t1 = float(self._last["t1"][b])
            if not reset:
                assert t1 == float(nxt["t0"][b])
            items = []  # (task, kind, bits, ready, link, hops)
            for v in self.vehicles[b].values():
                if reset:
                    c = (cells_before_reset or {}).get((b, v.n), v.holder)
                else:
                    assert nxt["active"][b, v.n] and int(nxt["vid"][b, v.n]) == v.vid, (
                        f"road {b}: vehicle {v.vid} did not stay in slot {v.n}"
                    )
                    c = int(nxt["cell"][b, v.n])
                h = v.holder
                if c < 0 or h < 0 or c == h:
                    if c >= 0:
                        v.holder = c
                    continue
                prev.migrations.append((b, b * M + v.n, h, c))
                self.stats["handovers"] += 1
                link, hops = min(h, c), abs(c - h)
                moved = 0
                for t in v.tasks:
                    if t.up_rem == 0.0 and t.edge_rem > 0.0:  # input at (or on its way to) the server
                        items.append((t, "input", t.in_bits * t.edge_rem / t.edge_w0, t.at_server, link, hops))
                        self.stats["migrated_inputs"] += 1
                        if t.edge_rem < t.edge_w0:
                            self.stats["migrated_partly_computed"] += 1
                    elif t.offloaded and t.edge_rem == 0.0 and t.delivered == INF:  # undelivered result
                        items.append((t, "result", t.res_rem, t.res_ready, link, hops))
                        self.stats["migrated_results"] += 1
                        if t.res_rem < t.res_bits:
                            self.stats["migrated_partial_download"] += 1
                    elif 0.0 < t.up_rem < t.in_bits:  # partial upload: the bits already sent
                        items.append((t, "partial", t.in_bits - t.up_rem, t.fwd_at, link, hops))
                        self.stats["migrated_partial_upload"] += 1
                    else:
                        continue
                    moved += 1
                if moved:
                    self.stats["handovers_with_migration"] += 1
                if hops > 1:
                    self.stats["multi_hop_handovers"] += 1
                v.holder = c
            by_link: dict[int, list] = {}
            for it in items:
                by_link.setdefault(it[4], []).append(it)
            for link, its in by_link.items():
                # "In task order": the tasks' arrival order (whatever vehicle slot they come from).
                its.sort(key=lambda it: (it[0].t_arr, it[0].uid))
                free = max(t1, self.link_free[b][link])
                if self.link_free[b][link] > t1:
                    self.stats["link_busy_at_boundary"] += 1
                for t, kind, bits, ready, _link, hops in its:
                    start = max(t1, ready, free)
                    if start > max(t1, free):
                        self.stats["link_waits_for_ready"] += 1
                    done = start + bits / cfg.backhaul_rate_bps
                    free = done
                    there = done + hops * cfg.backhaul_delay_s
                    if kind == "input":
                        t.at_server = there
                    elif kind == "result":
                        t.res_ready = there
                    else:
                        t.fwd_at = there
                    prev.energy[b, MIGRATION] += cfg.backhaul_energy_j_per_bit * bits * hops
                    self.stats["migrated_items"] += 1
                self.link_free[b][link] = free
            if reset:  # a new episode: nothing carries over
                self.vehicles[b] = {}
                self.link_free[b] = [-INF] * len(self.link_free[b])
                self.stats["road_resets"] += 1
