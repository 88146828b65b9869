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
        self.decided = 0  # tasks completed, failed, or past their deadline while pending
        # Chan et al.'s parallel update of mean / M2 for the latency (s) of completed tasks.
        self.lat_mean = 0.0
        self.lat_m2 = 0.0
        self.energy = np.zeros(3)  # local, upload, edge (J)
        self.class_count = np.zeros(len(CLASSES))
        self.class_sum = np.zeros(len(CLASSES))
        self.class_viol = np.zeros(len(CLASSES))
        self.class_decided = np.zeros(len(CLASSES))
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

    def end_slot(self, decided: int, violations: int) -> None:
        """Close a slot: ``decided`` tasks were settled, ``violations`` of them late or failed.

        The peak violation rate is the largest violations / decided over any ``window``
        consecutive slots (over all slots so far while the episode is shorter than the window).
        """
        i = self.slots % self.window
        self._win_res[i] = decided
        self._win_viol[i] = violations
        self.slots += 1
        total = self._win_res.sum()
        if total > 0:
            self.peak_violation = max(self.peak_violation, float(self._win_viol.sum() / total))

    def add_departed(self, mean_cost: np.ndarray) -> None:
        """Fold the mean QoS costs of departing vehicles into Jain's index."""
        self.jain_n += mean_cost.shape[0]
        self.jain_s1 += float(mean_cost.sum())
        self.jain_s2 += float((mean_cost**2).sum())

    def summary(
        self, active_mean_cost: np.ndarray, pending: int, pending_late: int, pending_age_s: float
    ) -> dict[str, Any]:
        """The episode so far as plain floats (ms, J, %); NaN where nothing was measured.

        ``active_mean_cost``: mean QoS cost of each vehicle on the road (for Jain's index);
        ``pending*``: the tasks still in flight, how many of them are already late, their mean age.
        """
        n = self.jain_n + active_mean_cost.shape[0]
        s1 = self.jain_s1 + float(active_mean_cost.sum())
        s2 = self.jain_s2 + float((active_mean_cost**2).sum())
        dur = self.slots * self.slot_s
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = {
                c: {
                    "latency_ms": float(1e3 * self.class_sum[i] / self.class_count[i])
                    if self.class_count[i]
                    else float("nan"),
                    "violation_rate_pct": float(100 * self.class_viol[i] / self.class_decided[i])
                    if self.class_decided[i]
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
            "tasks_decided": self.decided,
            "tasks_pending": pending,
            "tasks_pending_late": pending_late,
            "pending_age_ms_mean": 1e3 * pending_age_s,
            "violation_rate_pct": 100.0 * self.violations / self.decided if self.decided else float("nan"),
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
