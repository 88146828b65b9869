"""Streaming episode metrics: fixed-size state, so memory does not grow with episode length."""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import CLASSES


class EpisodeMetrics:
    """Running totals of one episode, updated once per slot from arrays of resolved tasks."""

    def __init__(self, peak_window_slots: int, slot_s: float, n_types: int):
        self.slot_s = slot_s
        self.window = int(peak_window_slots)
        self.n_types = n_types
        self.reset()

    def reset(self) -> None:
        self.slots = 0
        self.arrived = 0
        self.completed = 0
        self.failed = 0
        self.violations = 0
        # Chan et al.'s parallel update of mean / M2 for the latency (s) of completed tasks.
        self.lat_mean = 0.0
        self.lat_m2 = 0.0
        self.energy = np.zeros(3)  # local, upload, edge (J)
        self.class_count = np.zeros(len(CLASSES))
        self.class_sum = np.zeros(len(CLASSES))
        self.class_viol = np.zeros(len(CLASSES))
        self.class_resolved = np.zeros(len(CLASSES))
        self.type_count = np.zeros(self.n_types)
        self.type_sum = np.zeros(self.n_types)
        self._win_viol = np.zeros(self.window)
        self._win_res = np.zeros(self.window)
        self.peak_violation = 0.0
        # Jain's index over vehicles' mean latency: sums over departed vehicles.
        self.jain_n = 0
        self.jain_s1 = 0.0
        self.jain_s2 = 0.0
        self.reward_terms = {"qos": 0.0, "energy": 0.0, "fairness": 0.0}
        self.reward = 0.0
        self.entry_blocked = 0
        self.action_repairs = 0
        # vehicle id -> [completed, latency sum (s), violations, resolved] for vehicles a goal names
        self.tracked: dict[int, list[float]] = {}

    def add_latencies(self, lat_s: np.ndarray) -> None:
        n = lat_s.shape[0]
        if n == 0:
            return
        mean_b = float(lat_s.mean())
        m2_b = float(((lat_s - mean_b) ** 2).sum())
        tot = self.completed + n
        delta = mean_b - self.lat_mean
        self.lat_m2 += m2_b + delta * delta * self.completed * n / tot
        self.lat_mean += delta * n / tot
        self.completed = tot

    def end_slot(self, resolved: int, violations: int) -> None:
        i = self.slots % self.window
        self._win_res[i] = resolved
        self._win_viol[i] = violations
        self.slots += 1
        if self.slots >= self.window:
            total = self._win_res.sum()
            if total > 0:
                self.peak_violation = max(self.peak_violation, float(self._win_viol.sum() / total))

    def add_departed(self, mean_latency_s: np.ndarray) -> None:
        self.jain_n += mean_latency_s.shape[0]
        self.jain_s1 += float(mean_latency_s.sum())
        self.jain_s2 += float((mean_latency_s**2).sum())

    def summary(self, active_mean_latency_s: np.ndarray) -> dict[str, Any]:
        """The episode so far as plain floats (ms, J, %); NaN where nothing was measured."""
        resolved = self.completed + self.failed
        n = self.jain_n + active_mean_latency_s.shape[0]
        s1 = self.jain_s1 + float(active_mean_latency_s.sum())
        s2 = self.jain_s2 + float((active_mean_latency_s**2).sum())
        dur = self.slots * self.slot_s
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = {
                c: {
                    "latency_ms": float(1e3 * self.class_sum[i] / self.class_count[i])
                    if self.class_count[i]
                    else float("nan"),
                    "violation_rate_pct": float(100 * self.class_viol[i] / self.class_resolved[i])
                    if self.class_resolved[i]
                    else float("nan"),
                    "tasks": int(self.class_count[i]),
                }
                for i, c in enumerate(CLASSES)
            }
        return {
            "slots": self.slots,
            "tasks_arrived": self.arrived,
            "tasks_completed": self.completed,
            "tasks_failed": self.failed,
            "violations": self.violations,
            "latency_ms_mean": 1e3 * self.lat_mean if self.completed else float("nan"),
            "latency_ms_std": 1e3 * float(np.sqrt(self.lat_m2 / self.completed)) if self.completed else float("nan"),
            "violation_rate_pct": 100.0 * self.violations / resolved if resolved else float("nan"),
            "peak_violation_rate_pct": 100.0 * self.peak_violation,
            "energy_j": float(self.energy.sum()),
            "energy_local_j": float(self.energy[0]),
            "energy_upload_j": float(self.energy[1]),
            "energy_edge_j": float(self.energy[2]),
            "energy_per_slot_j": float(self.energy.sum() / self.slots) if self.slots else float("nan"),
            "throughput_tasks_per_s": self.completed / dur if dur else float("nan"),
            "jain_fairness": s1 * s1 / (n * s2) if n and s2 > 0 else float("nan"),
            "per_class": per_class,
            "per_type_latency_ms": [
                float(1e3 * s / c) if c else float("nan") for s, c in zip(self.type_sum, self.type_count, strict=True)
            ],
            "per_vehicle": {
                vid: {
                    "tasks": int(r),
                    "latency_ms": 1e3 * s / c if c else float("nan"),
                    "violation_rate_pct": 100.0 * v / r if r else float("nan"),
                }
                for vid, (c, s, v, r) in self.tracked.items()
            },
            "reward": self.reward,
            "reward_terms": dict(self.reward_terms),
            "entry_blocked": self.entry_blocked,
            "action_repairs": self.action_repairs,
        }
