"""Random goals from GoalSpec's range, for training goal-conditioned policies (``gc-marl``).

There is no text in training: a sampled ``GoalSpec`` is the road's ground truth (it sets the
reward) and, with ``goal_channel="truth"``, what the policy reads. At run time the same policy
reads the goal an interpreter made of the operator's command (``goal_channel="interpreted"``).

Each road's episode gets a plan: a goal at slot 0 and, with probability ``switch_prob``, a second
one at a uniform slot, so the policy sees goals change mid-episode (as ``goal_switch`` does).

``GoalSampler.v2()`` (``python -m agents.train --goal-dist v2``) is the distribution meant for goal
conditioning, fixing two weaknesses of the default (v1, which trained the shipped ``gc-marl``):

* what a goal asks for is the *ratio* β_E/β_Q (the rewards are divided by β_E + β_Q, so the scale
  only moves the features): v1 draws β_E and β_Q independently, so log(β_E/β_Q) is triangular and
  most goals sit near the balanced ratio (~9% of goals weigh energy ≥ 10× QoS). v2 draws the
  log-ratio uniformly in ±log 30 (the paper's modes: balanced, energy saving, low latency, each
  with real mass: ~21% of goals favour energy ≥ 5×, as many favour QoS ≥ 5×) and the geometric
  mean log-uniformly apart;
* v1 holds one goal for half an episode or more, so a rollout of 8 roads × 200 slots holds about
  10 goals, each tied to one road's traffic: the goal's effect on the advantage is confounded with
  the road's. v2 switches goals as a Poisson process (``mean_goal_slots`` = 50), so every road
  sees several goals per rollout and the same traffic under different goals.
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
    """Chance of a second goal within the episode (when ``mean_goal_slots`` is None)."""
    ratio_range: tuple[float, float] | None = None
    """If set: β_E/β_Q log-uniform in this range and their geometric mean log-uniform in
    ``scale_range`` (instead of β_E, β_Q independent in ``beta_range``)."""
    scale_range: tuple[float, float] = (0.3, 3.0)
    mean_goal_slots: float | None = None
    """If set: goals change as a Poisson process with this mean interval in slots (instead of
    ``switch_prob``)."""

    @classmethod
    def v2(cls) -> GoalSampler:
        """The goal-conditioning distribution (see the module docstring)."""
        return cls(p_balanced=0.2, ratio_range=(1 / 30, 30.0), mean_goal_slots=50.0)

    def _betas(self, rng: np.random.Generator) -> tuple[float, float]:
        if self.ratio_range is None:
            lo, hi = (math.log(v) for v in self.beta_range)
            return float(math.exp(rng.uniform(lo, hi))), float(math.exp(rng.uniform(lo, hi)))
        r_lo, r_hi = (math.log(v) for v in self.ratio_range)
        m_lo, m_hi = (math.log(v) for v in self.scale_range)
        r, m = rng.uniform(r_lo, r_hi), rng.uniform(m_lo, m_hi)
        return float(math.exp(m + r / 2)), float(math.exp(m - r / 2))

    def sample(self, rng: np.random.Generator) -> GoalSpec:
        """One goal."""
        if rng.random() < self.p_balanced:
            return BALANCED
        beta_e, beta_q = self._betas(rng)
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
        """(slot, goal) events of one episode of ``n_slots``: slot 0, then one more (maybe) or a
        Poisson process of them (``mean_goal_slots``)."""
        events = [(0, self.sample(rng))]
        if self.mean_goal_slots is not None:
            slot = 0
            while True:
                slot += int(rng.geometric(1.0 / self.mean_goal_slots))
                if slot >= n_slots - 1:
                    return events
                events.append((slot, self.sample(rng)))
        if n_slots > 2 and rng.random() < self.switch_prob:
            events.append((int(rng.integers(1, n_slots - 1)), self.sample(rng)))
        return events
