"""``VEC-v0`` as a PettingZoo ``ParallelEnv``: one agent per vehicle slot, one shared team reward.

| Creation             | `vecgym.parallel_env(**config)`, `pettingzoo.make("parallel", "VEC-v0")` |
|----------------------|---------------------------------------------------------------------------|
| Actions              | Continuous                                                                |
| Parallel API         | Yes                                                                       |
| Manual Control       | No                                                                        |
| Agents               | `agents = ['slot_0', 'slot_1', ..., 'slot_{n_max-1}']`                    |
| Number of agents     | n_max (47 with the default config: N = 20 vehicles)                       |
| Action Shape         | (2, K)  (K = n_task_types, 3 by default)                                  |
| Action Values        | [0, 1]                                                                    |
| Observation Shape    | Dict of 13 arrays, 26 + 2K values in all (32 for K = 3)                   |
| Observation Values   | see the table below                                                       |
| State Shape          | (n_max·(13 + 2K) + 13,)  (906 with the default config)                    |
| State Values         | the bounds of ``VECEnv``'s observation space, flattened                   |

The physics, the goal handling and the action checks are those of ``VECEnv`` (``VEC-v0``): this
env holds one (``self.vec_env``) and translates between its joint arrays and per-agent dicts.

**Agents.** Agent ``slot_i`` drives vehicle slot i. Slots are reused: when a vehicle leaves the road
its slot goes idle (``active = 0``) and a later entering vehicle may take it. PettingZoo forbids a
done agent to come back (``parallel_api_test``: "agent cannot be revived once dead"), so agents are
*not* removed when their vehicle leaves: every slot stays an agent for the whole episode, reads
``active`` in its observation and has its action ignored while idle. All agents are truncated
together after ``max_cycles`` steps (the road never terminates), after which ``agents`` is empty.

**Actions.** ``action[0]`` = offload ratios w (fraction of each new task of type k sent to the
edge), ``action[1]`` = the *requested* share of the edge CPU for each of the agent's K edge queues.
The env normalises the requests: if the requested shares of the active agents sum to more than 1,
every share is scaled by the same factor so that they sum to exactly 1 (each agent keeps its
proportion; ``info["edge_share_normalised"]`` says when). This holds with ``strict=True`` too,
where only NaN / out-of-range entries raise ``vecgym.InvalidActionError``; by default those are
repaired (NaN → 0, clip to [0, 1]) and counted in ``info["action_repairs"]``. A missing or
``None`` action means "all local, no edge share"; for an active agent it raises with
``strict=True`` and counts as ``action_repairs["missing"]`` otherwise.

**Observations.** The agent's own row of ``VECEnv``'s observation, plus the global goal and load
(K = n_task_types, C = 4 vehicle classes; an idle slot reads 0 except ``goal``, ``n_active_frac``):

| Key                     | Shape | Dtype   | Meaning                                              |
|-------------------------|-------|---------|------------------------------------------------------|
| `active`                | (1,)  | int8    | the slot holds a vehicle                             |
| `vehicle_class`         | (C,)  | int8    | one-hot car / bus / truck / emergency                |
| `position_m`            | (2,)  | float32 | (x along road, y from RSU), GPS noise                |
| `speed_mps`             | (1,)  | float32 | speed with sensor noise                              |
| `snr_db`                | (1,)  | float32 | estimated uplink SNR for the coming slot             |
| `rate_mbps`             | (1,)  | float32 | W·log2(1+SNR): rate if alone on the band             |
| `local_backlog_gcycles` | (1,)  | float32 | work queued on the vehicle CPU                       |
| `uplink_backlog_kbit`   | (1,)  | float32 | data waiting to be uploaded                          |
| `edge_backlog_gcycles`  | (K,)  | float32 | work queued at the edge for each of its task types   |
| `arrivals_bytes`        | (K,)  | float32 | task bytes that arrived in the last slot             |
| `qos_weight`            | (1,)  | float32 | the vehicle's QoS weight under the ground-truth goal |
| `goal`                  | (12,) | float32 | ``VECEnv``'s goal channel (see ``goal_channel``)     |
| `n_active_frac`         | (1,)  | float32 | number of active vehicles / n_max, in [0, 1]         |

**State.** ``state()`` concatenates ``VECEnv``'s observation arrays in the order ``STATE_KEYS``
(every key but ``vehicle_id``, an arbitrary label that float32 cannot hold exactly), flattened, as
float32: the global view for a centralised critic.

**Rewards and infos.** Every agent receives ``VECEnv``'s team reward. Every agent's info is *the
same* dict (one object, not copies, to keep a step O(n_max)): ``VECEnv``'s info (``metrics``,
``reward_terms``, ``command``, ``command_id``, ``goal``, ``goal_channel``, ``interpretation``) with
``action_repairs`` by kind (``dtype``, ``nan``, ``range``, ``missing``) and ``edge_share_normalised``.

**Arguments.** ``vecgym.parallel_env(render_mode=None, max_cycles=1000, config=None, **config)``:
``max_cycles`` = steps before every agent is truncated; ``config`` and the keywords are those of
``VECEnv`` (any field of ``vecgym.VECConfig``, ``commands`` and ``goal_channel``).
``render_mode="rgb_array"`` draws the road with ``vecgym.render``. ``aec_env(...)``
(``pettingzoo.make("aec", "VEC-v0")``) is the AEC version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from .actions import check_action
from .config import VECConfig
from .env import VECEnv
from .errors import InvalidActionError
from .goals import GoalSpec
from .observation import observation_space as vec_observation_space

AgentID = str
LocalObs = dict[str, np.ndarray]

#: Per-slot keys of ``VECEnv``'s observation that an agent sees (its own row).
LOCAL_KEYS = (
    "active",
    "vehicle_class",
    "position_m",
    "speed_mps",
    "snr_db",
    "rate_mbps",
    "local_backlog_gcycles",
    "uplink_backlog_kbit",
    "edge_backlog_gcycles",
    "arrivals_bytes",
    "qos_weight",
)
#: Keys of ``VECEnv``'s observation concatenated, in this order, into ``state()``.
STATE_KEYS = (*LOCAL_KEYS, "goal", "slot")
#: Default number of steps before every agent is truncated (100 s at τ = 0.1 s, as ``VEC-v0``).
MAX_CYCLES = 1000


class VECParallelEnv(ParallelEnv[AgentID, LocalObs, np.ndarray]):
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
        mobility: Any = None,
        **config_kwargs: Any,
    ):
        if not isinstance(max_cycles, int) or isinstance(max_cycles, bool) or max_cycles < 1:
            raise ValueError(f"max_cycles must be a positive integer, got {max_cycles!r}")
        self.vec_env = VECEnv(render_mode=render_mode, config=config, mobility=mobility, **config_kwargs)
        self.cfg = self.vec_env.cfg
        self.render_mode = render_mode
        self.max_cycles = max_cycles
        self.n_max = self.vec_env.n_max
        self.n_task_types = self.vec_env.n_task_types
        self.possible_agents: list[AgentID] = [f"slot_{i}" for i in range(self.n_max)]
        self.agents: list[AgentID] = []
        self._index = {agent: i for i, agent in enumerate(self.possible_agents)}
        # Built lazily, one object per agent, then always the same one (PettingZoo requires it).
        self._obs_spaces: dict[AgentID, spaces.Dict] = {}
        self._act_spaces: dict[AgentID, spaces.Box] = {}
        f32 = np.float32
        glob = {k: _as_box(space) for k, space in vec_observation_space(self.cfg).spaces.items()}
        # (low, high, dtype) of an agent's fields: slot 0's row (every slot has the same bounds).
        self._field_bounds = {
            k: (np.atleast_1d(glob[k].low[0]), np.atleast_1d(glob[k].high[0]), glob[k].dtype) for k in LOCAL_KEYS
        }
        self._field_bounds["goal"] = (glob["goal"].low, glob["goal"].high, glob["goal"].dtype)
        self._field_bounds["n_active_frac"] = (np.zeros(1, f32), np.ones(1, f32), np.dtype(f32))
        self.state_space = spaces.Box(
            np.concatenate([glob[k].low.ravel() for k in STATE_KEYS]).astype(f32),
            np.concatenate([glob[k].high.ravel() for k in STATE_KEYS]).astype(f32),
            dtype=f32,
        )
        self._obs: dict[str, np.ndarray] = {}
        self._cycles = 0

    # ------------------------------------------------------------------------------------------
    def observation_space(self, agent: AgentID) -> spaces.Dict:
        space = self._obs_spaces.get(agent)
        if space is None:
            self._slot(agent)
            fields: dict[str, spaces.Space[Any]] = {
                k: spaces.Box(low, high, dtype=dt) for k, (low, high, dt) in self._field_bounds.items()
            }
            space = self._obs_spaces[agent] = spaces.Dict(fields)
        return space

    def action_space(self, agent: AgentID) -> spaces.Box:
        space = self._act_spaces.get(agent)
        if space is None:
            self._slot(agent)
            space = self._act_spaces[agent] = spaces.Box(0.0, 1.0, (2, self.n_task_types), np.float32)
        return space

    # ------------------------------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[AgentID, LocalObs], dict[AgentID, dict[str, Any]]]:
        self._obs, info = self.vec_env.reset(seed=seed, options=options)
        info["action_repairs"] = {"dtype": 0, "nan": 0, "range": 0, "missing": 0}
        info["edge_share_normalised"] = False
        self.agents = self.possible_agents[:]
        self._cycles = 0
        return self._local_obs(), dict.fromkeys(self.agents, info)

    def step(
        self, actions: Mapping[AgentID, np.ndarray | None]
    ) -> tuple[
        dict[AgentID, LocalObs],
        dict[AgentID, float],
        dict[AgentID, bool],
        dict[AgentID, bool],
        dict[AgentID, dict[str, Any]],
    ]:
        if not self.agents:
            raise RuntimeError("the episode is over (every agent is truncated); call reset()")
        sim = self.vec_env.sim
        joint, missing = self._joint_action(actions, sim.active)
        w, a, repairs = check_action(joint, sim.active, self.n_task_types, strict=False, holder=sim.holder)
        normalised = bool(repairs.pop("edge_budget"))
        if self.cfg.strict and any(repairs.values()):
            # Raise the same detailed error ``VECEnv`` would (Σa > 1 is checked last, so it never
            # masks a NaN or range error; with clean entries the call above already returned).
            check_action(joint, sim.active, self.n_task_types, strict=True, holder=sim.holder)
        if self.cfg.strict and missing:
            raise InvalidActionError(f"no action for active agent(s) {missing}; give every active agent one")
        repairs["missing"] = len(missing)
        self._obs, reward, _, _, info = self.vec_env.step(np.stack((w, a)))
        sim.metrics.count_repairs(np.array([sum(repairs.values())]))
        info["action_repairs"] = repairs
        info["edge_share_normalised"] = normalised
        self._cycles += 1
        truncated = self._cycles >= self.max_cycles
        agents = self.agents
        if truncated:
            self.agents = []
        return (
            self._local_obs(),
            dict.fromkeys(agents, float(reward)),
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, truncated),
            dict.fromkeys(agents, info),
        )

    def state(self) -> np.ndarray:
        """The global state: ``VECEnv``'s observation arrays in ``STATE_KEYS`` order, float32."""
        if not self._obs:
            raise RuntimeError("call reset() before state()")
        return np.concatenate([self._obs[k].ravel() for k in STATE_KEYS], dtype=np.float32)

    # ------------------------------------------------------------------------------------------
    def issue_command(self, text: str, goal: GoalSpec | None = None) -> None:
        """Record an operator command (see ``VECEnv.issue_command``)."""
        self.vec_env.issue_command(text, goal)

    @property
    def goal(self) -> GoalSpec:
        """The active ground-truth goal (the reward's objective)."""
        return self.vec_env.goal

    def episode_metrics(self) -> dict[str, Any]:
        """Running totals of the episode (see ``VECEnv.episode_metrics``)."""
        return self.vec_env.episode_metrics()

    def render(self) -> np.ndarray | None:
        return self.vec_env.render()

    def close(self) -> None:
        self.vec_env.close()

    # ------------------------------------------------------------------------------------------
    def _slot(self, agent: AgentID) -> int:
        try:
            return self._index[agent]
        except (KeyError, TypeError):
            raise ValueError(f"unknown agent {agent!r}; agents are 'slot_0' ... 'slot_{self.n_max - 1}'") from None

    def _joint_action(
        self, actions: Mapping[AgentID, np.ndarray | None], active: np.ndarray
    ) -> tuple[np.ndarray, list[AgentID]]:
        """The (2, n_max, K) float64 joint action and the active agents that gave none. Rows of
        absent and idle agents are 0 (not copied: a NaN there must not reach the simulator)."""
        K = self.n_task_types
        joint = np.zeros((2, self.n_max, K))
        given = np.zeros(self.n_max, dtype=bool)
        for agent, act in actions.items():
            i = self._slot(agent)
            if act is None:
                continue
            arr = np.asarray(act)
            if arr.shape != (2, K) or arr.dtype.kind not in "fiub":
                raise InvalidActionError(
                    f"action of {agent} has shape {arr.shape} and dtype {arr.dtype}; expected a real "
                    f"array of shape (2, {K}) = ([w, a], n_task_types), e.g. float32"
                )
            if active[i]:
                joint[:, i] = arr
            given[i] = True
        missing = [self.possible_agents[i] for i in np.flatnonzero(active & ~given)]
        return joint, missing

    def _local_obs(self) -> dict[AgentID, LocalObs]:
        """Each agent's row of the global observation (views into fresh per-step arrays)."""
        g = self._obs
        M = self.n_max
        rows = {k: g[k].reshape(M, -1) for k in LOCAL_KEYS}
        rows["goal"] = np.tile(g["goal"], (M, 1))
        rows["n_active_frac"] = np.full((M, 1), g["active"].sum() / M, dtype=np.float32)
        return {agent: {k: v[i] for k, v in rows.items()} for i, agent in enumerate(self.possible_agents)}


# ---------------------------------------------------------------------------------------------
def _as_box(space: spaces.Space[Any]) -> spaces.Box:
    assert isinstance(space, spaces.Box), f"expected a Box, got {space}"
    return space


def parallel_env(render_mode: str | None = None, max_cycles: int = MAX_CYCLES, **config: Any) -> VECParallelEnv:
    """``VEC-v0`` as a PettingZoo ``ParallelEnv`` (one agent per vehicle slot)."""
    return VECParallelEnv(render_mode=render_mode, max_cycles=max_cycles, **config)


def aec_env(render_mode: str | None = None, max_cycles: int = MAX_CYCLES, **config: Any) -> AECEnv:
    """The AEC version of ``parallel_env`` (PettingZoo's ``parallel_to_aec`` conversion)."""
    return parallel_to_aec(parallel_env(render_mode=render_mode, max_cycles=max_cycles, **config))
