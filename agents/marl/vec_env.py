"""A Stable-Baselines3 ``VecEnv`` of B roads × n_max vehicle slots, on the batch-first core.

No SuperSuit: ``vecgym.learning.AgentRoads`` steps all B roads in one call and this class lays
its per-agent arrays out as SB3 expects, one "env" per (road, slot), index ``b·n_max + m``.

* Observation ``Box((D + G,))``: the slot's features (``vecgym.features.agent_features``, D) then
  the road's summary (G). The actor reads the first D (local); the critic reads all D + G,
  MAPPO's agent-specific global state. Column 0 is the slot's ``active`` flag.
* Action ``Box(-1, 1, (2K,))`` (``vecgym.agent_actions``): every point is valid, nothing is repaired.
* Episodes per slot: a vehicle's exit is ``done`` with no terminal value; the road's truncation
  is ``done`` with ``TimeLimit.truncated`` on every active slot, and the road is reset in the same
  step. ``infos[i]["terminal_observation"]`` is set on every ``done``. An empty slot gives reward
  0, ``done`` False and ``infos[i]["active"] = False``: the masked PPO (``agents.marl.MAPPO``)
  drops it from both losses and from the advantage statistics.
* Rewards: the road's team reward to every active slot (``reward="team"``), or each vehicle's own
  cost ("own", ``vecgym.learning.AgentRoads``).
* Seeding: ``seed(s)`` then ``reset()`` seeds road b with s + b (as ``VECVectorEnv``); later
  episodes draw their seeds from per-road generators, so a seeded run is reproducible.
* ``infos[b·n_max]["episode"]`` carries the road's return and length when it ends (SB3's
  ``ep_info_buffer`` logs it as ``rollout/ep_rew_mean``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from vecgym.features import agent_state
from vecgym.goal_sampler import GoalSampler
from vecgym.learning import AgentRoads


class MARLVecEnv(VecEnv):
    """B roads × n_max slots as one SB3 ``VecEnv`` (see the module docstring)."""

    def __init__(
        self,
        num_roads: int = 8,
        max_episode_steps: int = 300,
        goal_channel: str = "none",
        goals: GoalSampler | None = None,
        reward: str = "team",
        scale_by_goal: bool = False,
        **config: Any,
    ):
        self.roads = AgentRoads(
            num_roads,
            max_episode_steps=max_episode_steps,
            goal_channel=goal_channel,
            goals=goals,
            reward=reward,
            scale_by_goal=scale_by_goal,
            **config,
        )
        self.cfg = self.roads.cfg
        self.num_roads, self.n_max = num_roads, self.roads.n_max
        self.n_local = self.roads.n_features
        dim = self.roads.n_features + self.roads.n_global
        self.render_mode = None
        obs_space = spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        act_space = spaces.Box(-1.0, 1.0, (2 * self.cfg.n_task_types,), np.float32)
        super().__init__(num_roads * self.n_max, obs_space, act_space)
        self._actions: np.ndarray | None = None
        self._seed: int | None = None
        self._returns = np.zeros(num_roads)
        self._lengths = np.zeros(num_roads, dtype=np.int64)
        self.road_episodes: list[dict[str, Any]] = []
        """Every finished road episode: return, length and the road's episode metrics."""

    # ------------------------------------------------------------------------------------------
    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the next ``reset()``: road b gets ``seed + b``."""
        self._seed = None if seed is None else int(seed)
        return [None if seed is None else int(seed) + b for b in range(self.num_roads)]

    def reset(self) -> VecEnvObs:
        feats, summary = self.roads.reset(seed=self._seed)
        self._seed = None
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self.reset_infos = [{"active": bool(a)} for a in feats[..., 0].ravel() > 0]
        return self._flat(feats, summary)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_roads, self.n_max, -1)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_async() must come before step_wait()")
        out = self.roads.step(self._actions)
        self._actions = None
        obs = self._flat(out.features, out.summary)
        terminal = self._flat(out.terminal_features, out.terminal_summary)
        rewards = out.agent_reward.astype(np.float32).ravel()
        dones = out.slot_done.ravel()
        active = out.features[..., 0].ravel() > 0
        truncated_slot = (out.slot_done & out.truncated[:, None]).ravel()
        infos: list[dict[str, Any]] = [{"active": bool(a)} for a in active]
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = terminal[i]
            infos[i]["TimeLimit.truncated"] = bool(truncated_slot[i])
        self._returns += out.reward
        self._lengths += 1
        for b in np.flatnonzero(out.truncated):
            episode = {"r": float(self._returns[b]), "l": int(self._lengths[b])}
            infos[b * self.n_max]["episode"] = episode
            self.road_episodes.append(episode)
            self._returns[b], self._lengths[b] = 0.0, 0
        return obs, rewards, dones, infos

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------------------------------
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kw: Any) -> list[Any]:
        result = getattr(self, method_name)(*method_args, **kw)
        return [result] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)

    def _flat(self, feats: np.ndarray, summary: np.ndarray) -> np.ndarray:
        return agent_state(feats, summary).reshape(self.num_envs, -1).astype(np.float32)
