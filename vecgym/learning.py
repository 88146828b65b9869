"""B roads of ``VEC-v0`` seen as B × n_max agents: the core of the learning interface.

``AgentRoads`` steps a ``VECVectorEnv`` with per-agent policy outputs (``vecgym.agent_actions``)
and returns per-agent features (``vecgym.features``). It is shared by the PettingZoo env
(``vecgym.parallel_env``, B = 1) and the Stable-Baselines3 ``VecEnv`` (``agents.marl``, B roads).

Episodes, per slot: a vehicle's exit ends its slot's episode (``slot_done``; no terminal value),
a vehicle entering a slot starts a new one, an empty slot is inactive (to be masked out of every
loss), and a road's truncation truncates all its active slots (``truncated``; their final
features are in ``terminal_features``). With ``autoreset`` a truncated road is reset within the
same step, so the features returned are those of its new episode (Stable-Baselines3's convention).

``goals`` (a ``GoalSampler``) draws each road's goal plan at every reset and issues its events as
ground truth; with ``goal_channel="truth"`` the policy reads them (training ``gc-marl``).
``scale_by_goal`` divides the agents' rewards by β_E + β_Q of the goal in force: sampled goals span
a 100× range of reward scales, and without it the large-β goals dominate the advantage and value
statistics; for a fixed goal a positive scale leaves the best policy unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .agent_actions import check_policy_actions, decode
from .config import VECConfig
from .features import FeatureScales, agent_features, feature_names, global_names, global_summary
from .goal_sampler import GoalSampler
from .goals import GoalSpec
from .reward import clock_costs
from .vector import VECVectorEnv

#: Per-agent rewards: the road's team reward, each vehicle's own cost (plus the fairness term), or
#: their mean ("mixed": the own cost's fast credit assignment, and the team's shared effects, such as
#: the edge server's DVFS frequency that every vehicle's share raises). "marginal" (opt-in) is "own"
#: plus, in the energy term, β_E × the joules the vehicle's edge share adds to its server's DVFS bill
#: (``vecgym.reward.clock_costs``, a difference reward): the own cost prices a vehicle's edge
#: cycles at the shared clock but not what its share does to the clock, which the others pay.
REWARDS = ("team", "own", "mixed", "marginal")
#: The command text a sampled goal is issued with (training has no text).
SAMPLED_GOAL_TEXT = "sampled training goal"


@dataclass
class AgentStep:
    """What one step of B roads gives the agents; (B, M, ·) per slot, (B,) per road."""

    features: np.ndarray
    summary: np.ndarray
    reward: np.ndarray
    """(B,) the road's team reward."""
    agent_reward: np.ndarray
    """(B, M) each slot's reward under ``reward``: the team reward, or minus its own cost plus the
    road's fairness term ("own"; "marginal" adds its clock cost to the own cost); 0 for a slot that
    held no vehicle."""
    acted: np.ndarray
    """(B, M) the slot held a vehicle when the action was taken (the transitions to learn from)."""
    slot_done: np.ndarray
    """(B, M) the slot's episode ended: its vehicle left, or the road was truncated."""
    truncated: np.ndarray
    """(B,) the road reached ``max_episode_steps``."""
    terminal_features: np.ndarray
    """(B, M, D) the last features of the slots whose episode ended (zeros for a vehicle that left)."""
    terminal_summary: np.ndarray
    infos: dict[str, Any]
    repairs: int
    """Policy-output entries that were NaN or out of range and had to be repaired."""


class AgentRoads:
    """B roads as B × n_max agents (see the module docstring)."""

    def __init__(
        self,
        num_roads: int = 1,
        max_episode_steps: int | None = None,
        config: VECConfig | Mapping[str, Any] | None = None,
        goal_channel: str = "none",
        goals: GoalSampler | None = None,
        autoreset: bool = True,
        reward: str = "team",
        scale_by_goal: bool = False,
        **config_kwargs: Any,
    ):
        if goals is not None and not isinstance(goals, GoalSampler):
            raise ValueError(f"goals must be a vecgym.goal_sampler.GoalSampler or None, got {type(goals).__name__}")
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        if goals is not None and goal_channel == "interpreted":
            raise ValueError("sampled goals have no text to interpret; use goal_channel='truth' (or 'none')")
        self.vec = VECVectorEnv(
            num_roads, max_episode_steps=max_episode_steps, config=config, goal_channel=goal_channel, **config_kwargs
        )
        self.cfg = self.vec.cfg
        self.num_roads = num_roads
        self.n_max, self.n_types = self.cfg.slots, self.cfg.n_task_types
        self.max_episode_steps = max_episode_steps
        self.goals = goals
        self.autoreset = autoreset
        self.reward = reward
        self.scale_by_goal = scale_by_goal
        self.scales = FeatureScales.of(self.cfg)
        self.n_features = len(feature_names(self.cfg))
        self.n_global = len(global_names(self.cfg))
        self.granted = np.zeros((num_roads, self.n_max, self.n_types))
        self._goal_rng = np.random.default_rng()
        self._plans: list[list[tuple[int, GoalSpec]]] = [[] for _ in range(num_roads)]
        self.obs: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Reset every road (road b seeded seed + b); the features (B, M, D) and summary (B, G)."""
        self.obs, _ = self.vec.reset(seed=seed)
        if seed is not None:
            self._goal_rng = np.random.default_rng([int(seed), 0x60A15])
        everyone = np.ones(self.num_roads, dtype=bool)
        self.granted[:] = 0.0
        self._start_goals(everyone)
        return self._features()

    def step(self, u: np.ndarray) -> AgentStep:
        """Apply the policy outputs ``u`` (B, M, 2K) in [-1, 1]; see ``AgentStep``."""
        if not self.obs:
            raise RuntimeError("call reset() before step()")
        acted = self.obs["active"].astype(bool)
        holder = self.obs["holder"]
        vid_before = self.obs["vehicle_id"]
        arr, repairs = check_policy_actions(u, acted, self.n_types, self.cfg.strict)
        w, a = decode(arr, acted, holder, self.cfg.n_servers)
        cycles_before = self.vec.engine.metrics.server_cycles.copy() if self.reward == "marginal" else None
        self.obs, reward, _, truncated, infos = self.vec.step(np.stack((w, a), axis=1))
        if cycles_before is not None:
            infos["clock_cost_j"] = self._clock_costs(acted, holder, a, cycles_before)
        agent_reward = self._agent_reward(acted, reward, infos)
        same = self.obs["vehicle_id"] == vid_before
        self.granted = np.where(same[..., None] & acted[..., None], a, 0.0)
        slot_done = acted & (~same | truncated[:, None])
        B, M = acted.shape
        final: tuple[np.ndarray, np.ndarray] | None = None
        term_feats = np.zeros((B, M, self.n_features), np.float32)
        term_summary = np.zeros((B, self.n_global), np.float32)
        if truncated.any():  # the truncated roads' final features, before any reset
            final = self._features()
            ended = (slot_done & truncated[:, None])[..., None]
            term_feats = np.where(ended, final[0], 0.0).astype(np.float32)
            term_summary = np.where(truncated[:, None], final[1], 0.0).astype(np.float32)
        changed = False
        if self.autoreset and truncated.any():
            self.obs, _ = self.vec.reset(options={"reset_mask": truncated})
            self.granted[truncated] = 0.0
            self._start_goals(truncated)
            changed = True
        changed |= self._goal_events(~truncated if self.autoreset else np.ones(B, dtype=bool))
        feats, summary = final if final is not None and not changed else self._features()
        return AgentStep(
            feats, summary, reward, agent_reward, acted, slot_done, truncated, term_feats, term_summary, infos, repairs
        )

    def _agent_reward(self, acted: np.ndarray, reward: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
        """(B, M) the slots' rewards under ``self.reward`` (0 for a slot that held no vehicle)."""
        team = reward[:, None]
        own = infos["reward_terms"]["fairness"][:, None] - infos["own_cost"]
        if self.reward == "marginal":
            beta_e = self.vec.engine.beta[:, 1]  # the goal in force this slot (before any goal event)
            per_joule = max(self.vec.engine.scale.local_energy_per_vehicle_j, 1e-12)
            own = own - beta_e[:, None] * infos["clock_cost_j"] / per_joule
        per_slot = team if self.reward == "team" else own if self.reward in ("own", "marginal") else 0.5 * (team + own)
        if self.scale_by_goal:  # the goal that was in force this slot (before any goal event)
            per_slot = per_slot / self.vec.engine.beta.sum(axis=1)[:, None]
        return np.where(acted, per_slot, 0.0)

    def _clock_costs(
        self, acted: np.ndarray, holder: np.ndarray, a: np.ndarray, cycles_before: np.ndarray
    ) -> np.ndarray:
        """(B, M) each vehicle's DVFS clock cost this slot (``vecgym.reward.clock_costs``), from the
        shares it was given and the cycles each server served in the step."""
        held = acted & (holder >= 0)
        share = np.where(held, a.sum(axis=2), 0.0)
        cycles = np.maximum(self.vec.engine.metrics.server_cycles - cycles_before, 0.0)
        return clock_costs(share, holder, cycles, self.vec.engine.kappa_edge, self.cfg.edge_cpu_hz)

    def refresh_goals(self) -> tuple[np.ndarray, np.ndarray]:
        """Re-read every road's goal channel after a command issued between steps
        (``self.vec.issue_command``); the features (B, M, D) and summary (B, G) that follow."""
        if not self.obs:
            raise RuntimeError("call reset() before refresh_goals()")
        self.obs["goal"] = self.vec.goal_vectors
        return self._features()

    # ------------------------------------------------------------------------------------------
    def _features(self) -> tuple[np.ndarray, np.ndarray]:
        feats = agent_features(self.obs, self.cfg, self.granted, self.scales)
        return feats, global_summary(self.obs, self.cfg, feats, self.scales)

    def _start_goals(self, roads: np.ndarray) -> None:
        """Draw the goal plans of freshly reset ``roads`` and issue their slot-0 goals."""
        if self.goals is None:
            return
        n_slots = self.max_episode_steps or 1000
        for b in np.flatnonzero(roads):
            self._plans[b] = self.goals.plan(self._goal_rng, n_slots)
        self._goal_events(roads)

    def _goal_events(self, roads: np.ndarray) -> bool:
        """Issue the planned goals due at each road's current slot (only on ``roads``); whether any was."""
        if self.goals is None:
            return False
        slots = self.vec.engine.slot
        issued = False
        for b in np.flatnonzero(roads):
            for slot, goal in self._plans[b]:
                if slot == slots[b]:
                    self.vec.issue_command(int(b), SAMPLED_GOAL_TEXT, goal)
                    issued = True
        if issued:
            self.obs["goal"] = self.vec.goal_vectors
        return issued
