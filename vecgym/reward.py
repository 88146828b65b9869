"""The reward: −(β_Q·qos + β_E·energy + fairness), as named terms, for B roads at once.

It lives beside the physics, not inside it: the simulator reports what happened in a slot (the
QoS cost accrued, the joules spent, Jain's index over the window) and this module weighs it by
the active goal.

* ``qos``: the QoS cost accrued this slot — every task in flight is charged, slot by slot, its
  weight × the growth of min(age / (deadline·deadline_scale), cap); a completed task up to its
  latency, a failed or dropped one the rest of the cap — divided by the expected arrivals per slot.
  So a growing backlog is felt at once, not only when its tasks resolve.
* ``energy``: the slot's joules divided by the energy of computing the expected arrivals locally.
* ``fairness``: goal.fairness·(1 − J), J = Jain's index over the vehicles' on-time fractions in
  the last ``fairness_window_slots`` slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RewardScale:
    """Per-vehicle normalisers: expected tasks and local-computing joules per slot."""

    tasks_per_vehicle: float
    local_energy_per_vehicle_j: float


def reward_terms(
    qos_cost: np.ndarray,
    energy_j: np.ndarray,
    jain: np.ndarray,
    n_active: np.ndarray,
    beta_qos: np.ndarray,
    beta_energy: np.ndarray,
    fairness: np.ndarray,
    scale: RewardScale,
) -> dict[str, np.ndarray]:
    """The signed terms (each (B,)); the reward is their sum.

    Normalisers count at least one vehicle, so an empty road cannot blow the reward up.
    """
    n = np.maximum(n_active, 1.0)
    norm_tasks = np.maximum(1.0, n * scale.tasks_per_vehicle)
    norm_energy = np.maximum(1e-12, n * scale.local_energy_per_vehicle_j)
    return {
        "qos": -beta_qos * qos_cost / norm_tasks,
        "energy": -beta_energy * energy_j / norm_energy,
        "fairness": -fairness * (1.0 - jain),
    }


def own_costs(
    qos_cost: np.ndarray, energy_j: np.ndarray, beta_qos: np.ndarray, beta_energy: np.ndarray, scale: RewardScale
) -> np.ndarray:
    """Each vehicle slot's own cost (B, M): β_Q·(its QoS cost) and β_E·(the joules spent on its
    work: local CPU, its upload, its results' download, the edge cycles of its queues), each
    normalised per vehicle as the road's terms are per road. Migration and fairness are road-wide
    and not in it; for a road of n vehicles, the mean own cost is about its qos + energy cost."""
    per_task = max(scale.tasks_per_vehicle, 1e-12)
    per_joule = max(scale.local_energy_per_vehicle_j, 1e-12)
    return beta_qos[:, None] * qos_cost / per_task + beta_energy[:, None] * energy_j / per_joule


def total(terms: dict[str, np.ndarray]) -> np.ndarray:
    """The reward: the sum of the terms."""
    return terms["qos"] + terms["energy"] + terms["fairness"]
