"""Random goals from GoalSpec's range, for training goal-conditioned policies (``gc-marl``).

There is no text in training: a sampled ``GoalSpec`` is the road's ground truth (it sets the
reward) and, with ``goal_channel="truth"``, what the policy reads. At run time the same policy
reads the goal an interpreter made of the operator's command (``goal_channel="interpreted"``).

Each road's episode gets a plan: a goal at slot 0 and, with probability ``switch_prob``, a second
one at a uniform slot, so the policy sees goals change mid-episode (as ``goal_switch`` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .goals import BALANCED, GoalSpec
from .vocab import CLASSES


@dataclass(frozen=True)
class GoalSampler:
    """The distribution of training goals (every field within GoalSpec's bounds)."""

    p_balanced: float = 0.25
    """Chance that a goal is exactly the balanced one."""
    beta_range: tuple[float, float] = (0.1, 10.0)
    """β_E and β_Q are drawn log-uniform in this range, independently."""
    deadline_scale_range: tuple[float, float] = (1.0, 3.0)
    p_fairness: float = 0.25
    fairness_max: float = 3.0
    p_class_weight: float = 0.25
    """Chance that one random class gets a log-uniform weight in ``class_weight_range``."""
    class_weight_range: tuple[float, float] = (1.0, 10.0)
    switch_prob: float = 0.5
    """Chance of a second goal within the episode."""

    def sample(self, rng: np.random.Generator) -> GoalSpec:
        """One goal."""
        if rng.random() < self.p_balanced:
            return BALANCED
        lo, hi = (math.log(v) for v in self.beta_range)
        beta_e, beta_q = (float(math.exp(rng.uniform(lo, hi))) for _ in range(2))
        classes = {}
        if rng.random() < self.p_class_weight:
            clo, chi = (math.log(v) for v in self.class_weight_range)
            classes = {CLASSES[int(rng.integers(len(CLASSES)))]: float(math.exp(rng.uniform(clo, chi)))}
        fairness = float(rng.uniform(0.0, self.fairness_max)) if rng.random() < self.p_fairness else 0.0
        return GoalSpec(
            beta_energy=beta_e,
            beta_qos=beta_q,
            class_weights=classes,
            fairness=fairness,
            deadline_scale=float(rng.uniform(*self.deadline_scale_range)),
            label="sampled",
        )

    def plan(self, rng: np.random.Generator, n_slots: int) -> list[tuple[int, GoalSpec]]:
        """(slot, goal) events of one episode of ``n_slots``: slot 0, maybe one more."""
        events = [(0, self.sample(rng))]
        if n_slots > 2 and rng.random() < self.switch_prob:
            events.append((int(rng.integers(1, n_slots - 1)), self.sample(rng)))
        return events
