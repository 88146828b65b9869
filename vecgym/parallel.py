"""``VEC-v0`` as a PettingZoo ``ParallelEnv``: the learning interface, one agent per vehicle slot.

| Creation             | `vecgym.parallel_env(**config)`, `pettingzoo.make("parallel", "VEC-v0")`  |
|----------------------|---------------------------------------------------------------------------|
| Actions              | Continuous                                                                |
| Parallel API         | Yes                                                                       |
| Manual Control       | No                                                                        |
| Agents               | `agents = ['slot_0', 'slot_1', ..., 'slot_{n_max-1}']`                    |
| Number of agents     | n_max (47 with the default config: N = 20 vehicles)                       |
| Action Shape         | (2K,)  (K = n_task_types, 3 by default: (6,))                             |
| Action Values        | [-1, 1]; every point is a valid action                                    |
| Observation Shape    | (D,) float32, D = `len(vecgym.features.feature_names(cfg))` (38 by default) |
| Observation Values   | (-inf, inf), O(1) by construction (log scales, relative positions)       |
| State Shape          | (G + n_max·D,)  (10 + 47·38 = 1796 with the default config)               |
| State Values         | (-inf, inf): the road summary, then every slot's observation              |

The env is a thin PettingZoo layer over ``vecgym.learning.AgentRoads`` with one road (B = 1,
``autoreset=False``), the core it shares with the Stable-Baselines3 ``VecEnv`` of
``agents.marl``; the physics and the goal handling are those of ``VECVectorEnv`` (``VEC-v0``).

**Agents.** Agent ``slot_i`` drives vehicle slot i. Slots are reused: when a vehicle leaves the road
its slot goes idle and a later entering vehicle may take it. PettingZoo forbids a done agent to
come back (``parallel_api_test``: "agent cannot be revived once dead"), so every slot stays an
agent for the whole episode: an idle slot observes all zeros, has ``infos[agent]["active"] = False``
(``action_mask`` 0) and its action is ignored. All agents are truncated together after
``max_cycles`` steps (the road never terminates), after which ``agents`` is empty and ``step``
raises until ``reset``.

**Observations.** An agent's observation is its slot's row of ``vecgym.features.agent_features``:
a flat float32 vector of D features of order 1, what the vehicle can know locally; there are no
ids and no clock. ``vecgym.features.feature_names(cfg)`` names every column: ``active`` (column 0),
the class one-hot, log QoS weight under the observed goal, log backlogs (local, uplink, edge per
type) and arrivals per type in units of one slot's worth, log rate, SNR/50, speed/30, the position
relative to the serving RSU and across the road, ``in_gap``, log time to the next handover/gap,
the downlink backlog, the serving server's load, the edge share the slot was granted last slot,
and the goal channel (``goal_channel``: "interpreted" by default, "truth" or "none"; log scale).
``observation_space(agent)`` is ``Box(-inf, inf, (D,), float32)``.

**Actions.** ``Box(-1, 1, (2K,), float32)`` per agent, decoded by ``vecgym.agent_actions``:
offload ratios ``w = (u[:K] + 1) / 2``; edge shares by a softmax per server over the logits
``4·u[K:]`` of the queues it holds plus one idle logit ``log(Q_s)`` (Q_s = queues it holds), so
all-zero actions give ``w = 0.5`` and Σa = 0.5 on every server, and Σa stays within about
[0.02, 0.98]: a valid output is never repaired. Invalid entries (NaN, outside [-1, 1]) are
repaired (NaN → 0, clip) and counted in ``info["action_repairs"]`` (``nan``, ``range``); a missing
or ``None`` action of an active agent is the neutral all-zero output and counts as ``missing``.
Repairs also count in ``episode_metrics()["action_repairs"]``. With ``strict=True`` any of these
raises ``vecgym.InvalidActionError`` before the step; a wrong shape or dtype always raises.

**State.** ``state()`` = ``vecgym.features.global_summary`` (G road-wide figures: occupancy, mean
log backlogs and rate, the gap fraction, every server's load) followed by every slot's
observation, flattened: the global view for a centralised critic. ``agent_state(agent)`` is MAPPO's
agent-specific global state, the agent's observation then the summary, (D + G,)
(``vecgym.features.agent_state``).

**Rewards and infos.** Every agent receives the road's team reward (idle slots too); with
``reward="own"`` each agent gets minus its vehicle's own cost plus the road's fairness term, and
with ``reward="mixed"`` the mean of the two (``vecgym.learning.AgentRoads``; 0 for an idle slot).
Each agent's info is a small dict of its own, ``{"active": bool, "action_mask": np.int8(1 or 0)}``, merged with
the road-level entries built once per step and shared (the same objects in every agent's dict, not
copies, so a step stays O(n_max); do not mutate them): ``metrics`` and ``reward_terms`` (floats, as
``VECEnv``'s info; absent after ``reset``), ``goal`` (the ground-truth goal's label), ``command`` and
``command_id`` (the last operator command), ``interpretation`` (``"interpreted"`` channel only,
else None) and ``action_repairs`` (``nan``, ``range``, ``missing``). Note that PettingZoo's
AEC-only ``api_test``/``seed_test`` pass an info ``action_mask`` to ``action_space.sample``, which a
Box refuses; the parallel tests (``parallel_api_test``, ``parallel_seed_test``, ``state_test``) pass.

**Arguments.** ``vecgym.parallel_env(render_mode=None, max_cycles=1000, config=None, **config)``:
``max_cycles`` = steps before every agent is truncated; ``config`` and the keywords are those of
``VECVectorEnv`` (any field of ``vecgym.VECConfig``, ``commands`` and ``goal_channel``) and
``goals`` (a ``vecgym.goal_sampler.GoalSampler``: sampled training goals, with ``goal_channel=
"truth"``). ``render_mode="rgb_array"`` draws the road with ``vecgym.render``. ``aec_env(...)``
(``pettingzoo.make("aec", "VEC-v0")``) is the AEC version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from .config import VECConfig
from .errors import InvalidActionError
from .features import agent_state
from .goals import GoalSpec
from .learning import AgentRoads
from .render import render_rgb
from .simulator import Simulator

AgentID = str

#: Default number of steps before every agent is truncated (100 s at τ = 0.1 s, as ``VEC-v0``).
MAX_CYCLES = 1000


class VECParallelEnv(ParallelEnv[AgentID, np.ndarray, np.ndarray]):
    """``VEC-v0`` with one PettingZoo agent per vehicle slot; see the module docstring."""

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array"],
        "render_fps": 10,
        "name": "vec_v0",
        "is_parallelizable": True,
    }

    def __init__(
        self,
        render_mode: str | None = None,
        max_cycles: int = MAX_CYCLES,
        config: VECConfig | Mapping[str, Any] | None = None,
        goal_channel: str = "interpreted",
        reward: str = "team",
        **config_kwargs: Any,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        _check_max_cycles(max_cycles)
        self.roads = AgentRoads(
            1,
            max_episode_steps=max_cycles,
            config=config,
            goal_channel=goal_channel,
            autoreset=False,
            reward=reward,
            **config_kwargs,
        )
        self.cfg = self.roads.cfg
        self.render_mode = render_mode
        self._max_cycles = max_cycles
        self.n_max = self.roads.n_max
        self.n_task_types = self.roads.n_types
        self.n_features = self.roads.n_features
        self.n_global = self.roads.n_global
        self.possible_agents: list[AgentID] = [f"slot_{i}" for i in range(self.n_max)]
        self.agents: list[AgentID] = []
        self._index = {agent: i for i, agent in enumerate(self.possible_agents)}
        f32 = np.float32
        # One object per agent, then always the same one (PettingZoo requires it).
        self._obs_spaces = {a: spaces.Box(-np.inf, np.inf, (self.n_features,), f32) for a in self.possible_agents}
        self._act_spaces = {a: spaces.Box(-1.0, 1.0, (2 * self.n_task_types,), f32) for a in self.possible_agents}
        self.state_space = spaces.Box(-np.inf, np.inf, (self.n_global + self.n_max * self.n_features,), f32)
        self._feats = np.zeros((1, self.n_max, self.n_features), f32)
        self._summary = np.zeros((1, self.n_global), f32)
        self._has_reset = False
        self._view = Simulator.view(self.roads.vec.engine)

    # ------------------------------------------------------------------------------------------
    @property
    def max_cycles(self) -> int:
        """Steps before every agent is truncated (setting it takes effect from the next step)."""
        return self._max_cycles

    @max_cycles.setter
    def max_cycles(self, value: int) -> None:
        # PettingZoo's parallel_api_test sets it on a built env.
        _check_max_cycles(value)
        self._max_cycles = value
        self.roads.max_episode_steps = value
        self.roads.vec.max_episode_steps = value

    def observation_space(self, agent: AgentID) -> spaces.Box:
        self._slot(agent)
        return self._obs_spaces[agent]

    def action_space(self, agent: AgentID) -> spaces.Box:
        self._slot(agent)
        return self._act_spaces[agent]

    # ------------------------------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[AgentID, np.ndarray], dict[AgentID, dict[str, Any]]]:
        """Start an episode (``options`` is accepted for the API and unused)."""
        self._feats, self._summary = self.roads.reset(seed=seed)
        self._has_reset = True
        self.agents = self.possible_agents[:]
        road = self._road_info(None, {"nan": 0, "range": 0, "missing": 0})
        return self._observations(), self._infos(road)

    def step(
        self, actions: Mapping[AgentID, np.ndarray | None]
    ) -> tuple[
        dict[AgentID, np.ndarray],
        dict[AgentID, float],
        dict[AgentID, bool],
        dict[AgentID, bool],
        dict[AgentID, dict[str, Any]],
    ]:
        if not self.agents:
            raise RuntimeError("the episode is over (every agent is truncated); call reset()")
        active = self._feats[0, :, 0] > 0
        u, missing = self._policy_outputs(actions, active)
        if self.cfg.strict and missing:
            raise InvalidActionError(f"no action for active agent(s) {missing}; give every active agent one")
        n_nan = int(np.isnan(u[0, active]).sum())
        out = self.roads.step(u)  # raises on NaN / out-of-range entries with strict=True
        repairs = {"nan": n_nan, "range": out.repairs - n_nan, "missing": len(missing)}
        if out.repairs or missing:
            self.roads.vec.engine.metrics.count_repairs(np.array([out.repairs + len(missing)]))
        self._feats, self._summary = out.features, out.summary
        truncated = bool(out.truncated[0])
        agents = self.agents
        if truncated:
            self.agents = []
        if self.roads.reward == "team":  # the same number for everyone: no per-agent lookup
            rewards = dict.fromkeys(agents, float(out.reward[0]))
        else:
            rewards = {a: float(out.agent_reward[0, self._index[a]]) for a in agents}
        return (
            self._observations(),
            rewards,
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, truncated),
            self._infos(self._road_info(out.infos, repairs), agents),
        )

    def state(self) -> np.ndarray:
        """The global state (G + n_max·D,): the road summary, then every slot's observation."""
        self._check_reset("state")
        return np.concatenate((self._summary[0], self._feats[0].ravel()))

    def agent_state(self, agent: AgentID) -> np.ndarray:
        """MAPPO's agent-specific global state (D + G,): the agent's observation, then the summary."""
        i = self._slot(agent)
        self._check_reset("agent_state")
        return agent_state(self._feats[:, i : i + 1], self._summary)[0, 0]

    # ------------------------------------------------------------------------------------------
    def issue_command(self, text: str, goal: GoalSpec | None = None) -> None:
        """Record an operator command (see ``VECVectorEnv.issue_command``): ``goal``, the ground
        truth, sets the reward from the next slot; ``state()`` and the next observations carry the
        goal channel it leads to."""
        self.roads.vec.issue_command(0, text, goal)
        self._feats, self._summary = self.roads.refresh_goals()

    @property
    def goal(self) -> GoalSpec:
        """The active ground-truth goal (the reward's objective)."""
        return self.roads.vec.engine.goals[0]

    def episode_metrics(self) -> dict[str, Any]:
        """Running totals of the episode (see ``VECVectorEnv.episode_metrics``)."""
        return self.roads.vec.episode_metrics(0)

    def render(self) -> np.ndarray | None:
        """With ``render_mode="rgb_array"``, an (H, W, 3) uint8 frame of the road (else None)."""
        if self.render_mode is None:
            return None
        self._check_reset("render")
        return render_rgb(self._view)

    def close(self) -> None:
        self.roads.vec.close()

    # ------------------------------------------------------------------------------------------
    def _slot(self, agent: AgentID) -> int:
        try:
            return self._index[agent]
        except (KeyError, TypeError):
            raise ValueError(f"unknown agent {agent!r}; agents are 'slot_0' ... 'slot_{self.n_max - 1}'") from None

    def _check_reset(self, what: str) -> None:
        if not self._has_reset:
            raise RuntimeError(f"call reset() before {what}()")

    def _policy_outputs(
        self, actions: Mapping[AgentID, np.ndarray | None], active: np.ndarray
    ) -> tuple[np.ndarray, list[AgentID]]:
        """The (1, n_max, 2K) policy outputs and the active agents that gave none (their rows, like
        those of idle slots, are 0: the neutral output; ``AgentRoads`` ignores idle rows)."""
        twoK = 2 * self.n_task_types
        u = np.zeros((1, self.n_max, twoK))
        given = np.zeros(self.n_max, dtype=bool)
        for agent, act in actions.items():
            i = self._slot(agent)
            if act is None:
                continue
            arr = np.asarray(act)
            if arr.shape != (twoK,) or arr.dtype.kind not in "fiub":
                raise InvalidActionError(
                    f"action of {agent} has shape {arr.shape} and dtype {arr.dtype}; expected a real array "
                    f"of shape ({twoK},) = (2·n_task_types,) in [-1, 1], e.g. float32"
                )
            u[0, i] = arr
            given[i] = True
        missing = [self.possible_agents[i] for i in np.flatnonzero(active & ~given)]
        return u, missing

    def _observations(self) -> dict[AgentID, np.ndarray]:
        """Each agent's row of the features (views of a fresh per-step array)."""
        feats = self._feats[0]
        return {agent: feats[i] for i, agent in enumerate(self.possible_agents)}

    def _road_info(self, vec_infos: dict[str, Any] | None, repairs: dict[str, int]) -> dict[str, Any]:
        """The road-level info, built once per step (and shared by every agent's info)."""
        vec = self.roads.vec
        channel = vec.channels[0]
        road: dict[str, Any] = {}
        if vec_infos is not None:
            road["metrics"] = {k: float(v[0]) for k, v in vec_infos["metrics"].items()}
            road["reward_terms"] = {k: float(v[0]) for k, v in vec_infos["reward_terms"].items()}
        road["goal"] = vec.engine.goals[0].label
        road["command"] = channel.command
        road["command_id"] = channel.command_id
        road["interpretation"] = channel.interpretation()
        road["goal_explanation"] = channel.goal_explanation()
        road["action_repairs"] = repairs
        return road

    def _infos(self, road: dict[str, Any], agents: list[AgentID] | None = None) -> dict[AgentID, dict[str, Any]]:
        active = (self._feats[0, :, 0] > 0).tolist()
        return {
            agent: {**road, "active": active[i], "action_mask": np.int8(active[i])}
            for agent in (self.possible_agents if agents is None else agents)
            for i in (self._index[agent],)
        }


# ---------------------------------------------------------------------------------------------
def _check_max_cycles(max_cycles: Any) -> None:
    if not isinstance(max_cycles, int) or isinstance(max_cycles, bool) or max_cycles < 1:
        raise ValueError(f"max_cycles must be a positive integer, got {max_cycles!r}")


def parallel_env(render_mode: str | None = None, max_cycles: int = MAX_CYCLES, **config: Any) -> VECParallelEnv:
    """``VEC-v0`` as a PettingZoo ``ParallelEnv`` (one agent per vehicle slot)."""
    return VECParallelEnv(render_mode=render_mode, max_cycles=max_cycles, **config)


def aec_env(render_mode: str | None = None, max_cycles: int = MAX_CYCLES, **config: Any) -> AECEnv:
    """The AEC version of ``parallel_env`` (PettingZoo's ``parallel_to_aec`` conversion)."""
    return parallel_to_aec(parallel_env(render_mode=render_mode, max_cycles=max_cycles, **config))
