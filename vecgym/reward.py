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

from .core.xp import xp_of


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
    X = xp_of(qos_cost, n_active)
    n = X.maximum(n_active, 1.0)
    norm_tasks = X.maximum(1.0, n * scale.tasks_per_vehicle)
    norm_energy = X.maximum(1e-12, n * scale.local_energy_per_vehicle_j)
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


def clock_costs(
    share: np.ndarray, server: np.ndarray, cycles: np.ndarray, kappa_edge: float, edge_cpu_hz: float
) -> np.ndarray:
    """What each vehicle's edge share adds to its server's DVFS bill this slot (B, M) joules: a
    difference reward for the shared clock (opt-in, ``vecgym.learning``'s ``reward="marginal"``).

    A server's slot costs E_s = κ_e·f_s²·C_s, f_s = F_e·Σ_n A_n (A_n: vehicle n's total share,
    C_s: the cycles it served). Removing vehicle n's share with the slot's work held fixed leaves
    κ_e·(f_s − F_e·A_n)²·C_s, so n's clock cost is

        D_n = κ_e·C_s·(f_s² − (f_s − F_e·A_n)²) = κ_e·F_e²·C_s·A_n·(2·Σ_m A_m − A_n).

    The counterfactual does not depend on A_n, so ∂D_n/∂A_n = ∂E_s/∂A_n = 2κ_e·F_e²·C_s·Σ_m A_m:
    the whole server's marginal energy, where a vehicle's own edge energy (κ_e·f_s²·c_n, its own
    cycles c_n only) feels about c_n/C_s of it. Σ_n D_n lies in [E_s, 2·E_s].

    ``share`` (B, M): A_n, 0 for a vehicle no server holds; ``server`` (B, M): its server index
    (ignored where the share is 0); ``cycles`` (B, S): C_s.
    """
    X = xp_of(share, server, cycles)
    srv = X.clip(server, 0, cycles.shape[1] - 1)
    total_share = X.zeros(cycles.shape, dtype=X.float64)
    X.scatter_add(total_share, (X.arange(share.shape[0])[:, None], srv), share)
    s_n = X.take_along_axis(total_share, srv, axis=1)
    c_n = X.take_along_axis(cycles, srv, axis=1)
    return X.where(share > 0, kappa_edge * edge_cpu_hz**2 * c_n * share * (2.0 * s_n - share), 0.0)


def total(terms: dict[str, np.ndarray]) -> np.ndarray:
    """The reward: the sum of the terms."""
    return terms["qos"] + terms["energy"] + terms["fairness"]
