"""Prices of the model cost from the reward's per-vehicle normalisers and the goal
(``agents.lyapunov``: **Prices**, **Goal**); the slot problem's prices are set in ``DPPAgent.problem``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vecgym.config import CLASSES, VECConfig
from vecgym.goals import GoalSpec
from vecgym.tasks import TaskTypes


def goal_weights(obs: dict[str, np.ndarray], goal: GoalSpec) -> np.ndarray:
    """QoS weight of every slot under ``goal`` (class weight × vehicle weight), shape (M,).

    Computed from the agent's own goal, the observed ids and classes: the env's ground-truth
    ``qos_weight`` observation is not used, so an agent that ignores commands stays balanced.
    """
    cls = np.asarray([goal.class_weights.get(c, 1.0) for c in CLASSES])
    w = cls[np.argmax(obs["vehicle_class"], axis=1)]
    for vid, vw in goal.vehicle_weights.items():
        w = np.where(obs["vehicle_id"] == vid, w * vw, w)
    return np.where(obs["active"] > 0, w, 1.0)


def slot_prices(
    active: np.ndarray, weight: np.ndarray, goal: GoalSpec, deadline_s: np.ndarray, scale: RewardScale, v: float
) -> tuple[np.ndarray, float]:
    """The QoS price per task-second (M, K), β_Q·ω/(D·deadline_scale·n·E[tasks]) for the active
    vehicles (0 elsewhere), and the energy price per joule, V·β_E/(n·E[local joules]): the
    reward's own normalisers (at least one vehicle), so V = 1 means the reward."""
    n = max(float(active.sum()), 1.0)
    norm_tasks = max(1.0, n * scale.tasks_per_vehicle)
    norm_energy = max(1e-12, n * scale.local_energy_per_vehicle_j)
    d_eff = deadline_s * goal.deadline_scale
    q = goal.beta_qos * weight[:, None] / (d_eff[None, :] * norm_tasks) * active[:, None]
    return q, v * goal.beta_energy / norm_energy


@dataclass(frozen=True)
class RewardScale:
    """The reward's per-vehicle normalisers (``vecgym.reward.RewardScale``), from the config."""

    tasks_per_vehicle: float
    local_energy_per_vehicle_j: float

    @classmethod
    def of(cls, cfg: VECConfig) -> RewardScale:
        types = TaskTypes.from_config(cfg)
        return cls(
            tasks_per_vehicle=float(types.rate_hz.sum() * cfg.slot_s),
            local_energy_per_vehicle_j=float((types.rate_hz * types.mean_cycles).sum() * cfg.slot_s)
            * cfg.kappa_vehicle
            * cfg.vehicle_cpu_hz**2,
        )
