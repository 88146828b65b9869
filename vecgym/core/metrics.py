"""Streaming episode metrics for B roads: fixed-size arrays, so memory does not grow with time.

Each slot the engine hands over what resolved (per task: road, vehicle slot, class, type,
latency, on-time) and the slot's totals; ``summary(b)`` gives road b's episode so far with v1's
metric names (``latency_ms_mean``, ``violation_rate_pct``, ``energy_j``, ``energy_per_slot_j``, ...).
Jain's index is over the vehicles' on-time fractions (vehicles with ≥ ``min_tasks`` resolved
tasks), so uniformly bad service scores as unfair as it is bad: J = 0 when no task was on time.

The running totals live in the engine's array namespace (``vecgym.core.xp``: numpy, or torch on
its device); ``summary`` reads them back to the host.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..vocab import CLASSES
from . import xp as xp_mod

ENERGY_KEYS = ("local", "upload", "download", "migration", "edge")


def jain_index(resolved: np.ndarray, on_time: np.ndarray, min_tasks: int, axis: int = -1) -> np.ndarray:
    """Jain's index of on-time fractions over the entries with ≥ ``min_tasks`` resolved tasks.

    1 where no entry qualifies (nothing to judge); 0 where entries qualify but none was on time.
    """
    X = xp_mod.xp_of(resolved, on_time)
    ok = resolved >= min_tasks
    frac = X.where(ok, on_time / X.maximum(resolved, 1.0), 0.0)
    n = ok.sum(axis=axis)
    s1 = frac.sum(axis=axis)
    s2 = (frac * frac).sum(axis=axis)
    with X.errstate(invalid="ignore", divide="ignore"):
        j = X.where(s2 > 0.0, s1 * s1 / (X.maximum(n, 1) * s2), 0.0)
    return X.where(n > 0, j, 1.0)


class BatchMetrics:
    """Running totals of B episodes (one per road)."""

    def __init__(self, n_roads: int, n_max: int, n_types: int, n_servers: int, cfg: Any, xp: Any = None):
        self.xp = xp_mod.NUMPY if xp is None else xp
        self.B, self.M, self.K, self.S = n_roads, n_max, n_types, n_servers
        self.slot_s = cfg.slot_s
        self.window = cfg.peak_window_slots
        self.fair_window = cfg.fairness_window_slots
        self.min_tasks = cfg.fairness_min_tasks
        self.edge_capacity = cfg.edge_cpu_hz * cfg.slot_s
        self.reset(self.xp.ones(n_roads, dtype=self.xp.bool_))

    def reset(self, roads: np.ndarray) -> None:
        """Zero the totals of the roads in the (B,) mask ``roads``."""
        B, M, K, S, C = self.B, self.M, self.K, self.S, len(CLASSES)
        X = self.xp
        if not hasattr(self, "arrived"):

            def z(shape: Any) -> Any:
                return X.zeros(shape, dtype=X.float64)

            self.counts = z(
                (B, 9)
            )  # slots, arrived, completed, failed, dropped, violations, decided, handovers, blocked
            self.lat = z((B, 2))  # mean (s), M2
            self.energy = z((B, len(ENERGY_KEYS)))
            self.by_class = z((B, C, 4))  # completed, latency sum, violations, decided
            self.by_type = z((B, K, 2))  # completed, latency sum
            self.win = z((self.window, B, 2))  # violations, decided
            self.peak = z(B)
            self.jain_dep = z((B, 3))  # departed vehicles: n, Σf, Σf²
            self.veh = z((B, M, 2))  # per vehicle slot over its stay: resolved, on time
            self.fair = z((self.fair_window, B, M, 2))
            self.fair_sum = z((B, M, 2))  # self.fair summed over the window
            self.win_sum = z((B, 2))  # self.win summed over the window
            self.reward = z((B, 4))  # total, qos, energy, fairness
            self.misc = z((B, 3))  # migrated bytes, action repairs, edge cycles served
            self.server_cycles = z((B, S))
            self.tracked_vid = X.full((B, 0), -2, dtype=X.int64)
            self.tracked = z((B, 0, 4))
            self.arrived = True
        for arr in (
            self.counts,
            self.lat,
            self.energy,
            self.by_class,
            self.by_type,
            self.peak,
            self.jain_dep,
            self.veh,
            self.reward,
            self.misc,
            self.server_cycles,
            self.tracked,
        ):
            arr[roads] = 0.0
        self.win[:, roads] = 0.0
        self.fair[:, roads] = 0.0
        self.win_sum[roads] = 0.0
        self.fair_sum[roads] = 0.0
        self.tracked_vid[roads] = -2

    # ------------------------------------------------------------------------------------------
    def track(self, road: int, vids: list[int]) -> None:
        """Keep per-vehicle latency and violations of vehicle ids ``vids`` on ``road``."""
        X = self.xp
        have = set(self.tracked_vid[road].tolist()) - {-2}
        new = [v for v in vids if v not in have]
        if not new:
            return
        free = X.flatnonzero(self.tracked_vid[road] == -2)
        if free.shape[0] < len(new):
            extra = len(new) - free.shape[0]
            self.tracked_vid = X.concatenate((self.tracked_vid, X.full((self.B, extra), -2, dtype=X.int64)), axis=1)
            self.tracked = X.concatenate((self.tracked, X.zeros((self.B, extra, 4), dtype=X.float64)), axis=1)
            free = X.flatnonzero(self.tracked_vid[road] == -2)
        self.tracked_vid[road, free[: len(new)]] = X.asarray(new, dtype=X.int64)

    def admit(self, slots: np.ndarray) -> None:
        """Vehicle slots (B, M) mask that got a new vehicle start with empty per-vehicle counts."""
        self.veh[slots] = 0.0
        self.fair[:, slots] = 0.0
        self.fair_sum[slots] = 0.0

    def depart(self, slots: np.ndarray) -> None:
        """Fold the on-time fractions of departing vehicles (B, M) mask into Jain's index."""
        X = self.xp
        res, on = self.veh[..., 0], self.veh[..., 1]
        ok = slots & (res >= self.min_tasks)
        frac = X.where(ok, on / X.maximum(res, 1.0), 0.0)
        n_ok = X.astype(ok.sum(axis=1), X.float64)
        self.jain_dep += X.stack((n_ok, frac.sum(axis=1), (frac * frac).sum(axis=1)), axis=1)

    def count_repairs(self, n_repairs: np.ndarray) -> None:
        """Add each road's action repairs (B,) of this slot."""
        self.misc[:, 1] += n_repairs

    # ------------------------------------------------------------------------------------------
    def add_latencies(self, road: Any, lat_s: Any, mask: Any = None) -> None:
        """Chan et al.'s parallel update of each road's latency mean and M2, over the tasks of
        ``mask`` (all if None): masked rows weigh 0 (the same sums as leaving them out)."""
        X, B = self.xp, self.B
        if mask is None:
            n_b = X.astype(X.bincount(road, length=B), X.float64)
            lat_m = lat_s
        else:
            n_b = X.bincount(road, weights=mask, length=B)
            lat_m = X.where(mask, lat_s, 0.0)
        if X is xp_mod.NUMPY and not n_b.any():
            return  # nothing to fold in (the update below would add exact zeros)
        sum_b = X.bincount(road, weights=lat_m, length=B)
        mean_b = X.where(n_b > 0, sum_b / X.maximum(n_b, 1.0), 0.0)
        dev2 = (lat_m - mean_b[road]) ** 2
        m2_b = X.bincount(road, weights=dev2 if mask is None else X.where(mask, dev2, 0.0), length=B)
        n_a = self.counts[:, 2]
        tot = n_a + n_b
        delta = mean_b - self.lat[:, 0]
        with X.errstate(invalid="ignore", divide="ignore"):
            self.lat[:, 1] += X.where(tot > 0, m2_b + delta * delta * n_a * n_b / X.maximum(tot, 1.0), 0.0)
            self.lat[:, 0] += X.where(tot > 0, delta * n_b / X.maximum(tot, 1.0), 0.0)
        self.counts[:, 2] = tot

    def end_slot(self, decided: np.ndarray, violations: np.ndarray, per_vehicle: np.ndarray) -> np.ndarray:
        """Close a slot; returns Jain's index (B,) over the fairness window for the reward.

        ``per_vehicle`` (B, M, 2): tasks resolved and on time this slot per vehicle slot.
        """
        # Ring buffers with running sums (the counts are integers: the sums stay exact).
        X = self.xp
        slot_i = X.astype(self.counts[:, 0], X.int64)
        roads = X.arange(self.B)
        i = slot_i % self.window
        new = X.stack((violations, decided), axis=1)
        self.win_sum += new - self.win[i, roads]
        self.win[i, roads] = new
        tot = self.win_sum
        rate = X.where(tot[:, 1] > 0, tot[:, 0] / X.maximum(tot[:, 1], 1.0), 0.0)
        self.peak = X.maximum(self.peak, rate)
        self.counts[:, 0] += 1
        self.veh += per_vehicle
        j = slot_i % self.fair_window
        self.fair_sum += per_vehicle - self.fair[j, roads]
        self.fair[j, roads] = per_vehicle
        return jain_index(self.fair_sum[..., 0], self.fair_sum[..., 1], self.min_tasks)

    def to_host(self) -> BatchMetrics:
        """A numpy copy of these totals (itself on the numpy backend)."""
        if self.xp is xp_mod.NUMPY:
            return self
        host = copy.copy(self)
        host.xp = xp_mod.NUMPY
        for key, val in vars(self).items():
            if xp_mod.is_torch(val):
                setattr(host, key, self.xp.to_numpy(val))
        return host

    # ------------------------------------------------------------------------------------------
    def summary(self, b: int, active: np.ndarray, pending: dict[str, float]) -> dict[str, Any]:
        """Road ``b``'s episode so far as plain floats (ms, J, %); NaN where nothing was measured."""
        if self.xp is not xp_mod.NUMPY:
            return self.to_host().summary(b, self.xp.to_numpy(active), pending)
        slots, arrived, completed, failed, dropped, viol, decided, handovers, blocked = self.counts[b]
        nan = float("nan")
        res, on = self.veh[b, :, 0], self.veh[b, :, 1]
        ok = active & (res >= self.min_tasks)
        frac = on[ok] / res[ok]
        n = self.jain_dep[b, 0] + frac.shape[0]
        s1 = self.jain_dep[b, 1] + frac.sum()
        s2 = self.jain_dep[b, 2] + (frac * frac).sum()
        jain = (s1 * s1 / (n * s2) if s2 > 0 else 0.0) if n else nan
        dur = slots * self.slot_s
        energy = self.energy[b]
        cls = self.by_class[b]
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = {
                c: {
                    "latency_ms": float(1e3 * cls[i, 1] / cls[i, 0]) if cls[i, 0] else nan,
                    "violation_rate_pct": float(100 * cls[i, 2] / cls[i, 3]) if cls[i, 3] else nan,
                    "tasks": int(cls[i, 0]),
                }
                for i, c in enumerate(CLASSES)
            }
        typ = self.by_type[b]
        util = self.server_cycles[b] / (self.edge_capacity * slots) if slots else np.full(self.S, nan)
        out: dict[str, Any] = {
            "slots": int(slots),
            "tasks_arrived": int(arrived),
            "tasks_completed": int(completed),
            "tasks_failed": int(failed),
            "tasks_dropped": int(dropped),
            "violations": int(viol),
            "latency_ms_mean": 1e3 * float(self.lat[b, 0]) if completed else nan,
            "latency_ms_std": 1e3 * float(np.sqrt(self.lat[b, 1] / completed)) if completed else nan,
            "tasks_decided": int(decided),
            **pending,
            "violation_rate_pct": 100.0 * viol / decided if decided else nan,
            "peak_violation_rate_pct": 100.0 * float(self.peak[b]),
            "energy_j": float(energy.sum()),
            **{f"energy_{k}_j": float(energy[i]) for i, k in enumerate(ENERGY_KEYS)},
            "energy_per_slot_j": float(energy.sum() / slots) if slots else nan,
            "throughput_tasks_per_s": completed / dur if dur else nan,
            "jain_fairness": float(jain),
            "handovers": int(handovers),
            "migrated_bytes": float(self.misc[b, 0]),
            "edge_utilisation": float(util.mean()),
            "edge_utilisation_per_server": [float(u) for u in util],
            "per_class": per_class,
            "per_type_latency_ms": [float(1e3 * s / c) if c else nan for c, s in typ],
            "per_vehicle": {
                int(vid): {
                    "tasks": int(r),
                    "latency_ms": 1e3 * s / c if c else nan,
                    "violation_rate_pct": 100.0 * v / r if r else nan,
                }
                for vid, (c, s, v, r) in zip(self.tracked_vid[b], self.tracked[b], strict=True)
                if vid != -2
            },
            "reward": float(self.reward[b, 0]),
            "reward_terms": {k: float(self.reward[b, i + 1]) for i, k in enumerate(("qos", "energy", "fairness"))},
            "entry_blocked": int(blocked),
            "action_repairs": int(self.misc[b, 1]),
        }
        return out
