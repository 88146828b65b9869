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
