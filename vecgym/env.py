"""``VEC-v0``: the vehicular edge computing network as a Gymnasium environment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .actions import check_action
from .config import VECConfig, as_config
from .goal_channel import GOAL_CHANNELS, GoalChannel
from .goals import GoalSpec, Interpreter
from .observation import observation_space, observation_table, observe
from .schedule import ScheduledCommand, check_schedule
from .simulator import Simulator


class VECEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """
    ## Description

    Vehicles drive a road past road-side units (RSUs), each with an edge server. Preset
    ``"paper"`` (default, the paper's Table 1): a 2 km, three-lane highway with one RSU at the
    middle covering it all and a 400 GHz server. Preset ``"corridor"``: 6 km with an RSU every km,
    100 m coverage gaps, a backhaul between neighbours, and safety / perception / bulk tasks. Every
    100 ms time slot the agent decides, for each vehicle slot n and task type k, the fraction
    ``w[n,k]`` of each new task that is offloaded (the rest runs on the vehicle's 5 GHz CPU) and the
    share ``a[n,k]`` of its edge server's CPU for the edge queue (n, k). Each RSU's band is shared
    equally among its uploaders; the radio has 3GPP path loss with a free-space floor, a
    location-fixed radio map, Rayleigh fading and a capped Shannon rate. Every queue is FIFO with
    exact per-task completion times; edge work migrates over the backhaul at a handover; a task
    whose age reaches 3 deadlines is dropped. Exact semantics: ``docs/physics_v2.md``. This is the
    physical layer of the SP-LLM paper (arXiv 2508.09149); ``VEC-pDT-v0`` adds the twin's forecasts.

    ## Action Space

    ``Box(0, 1, (2, n_max, n_task_types), float32)``: ``action[0]`` = offload ratios w,
    ``action[1]`` = edge CPU shares a, with Σ a ≤ 1 over the queues each edge server holds
    (``obs["holder"]``). Entries of inactive slots are ignored; a vehicle in a coverage gap offloads
    nothing new. By default NaN → 0, values are clipped to [0, 1] and a server's Σa > 1 is scaled
    down to 1, each repair counted in ``info["action_repairs"]``; with ``strict=True`` any of these
    raises ``vecgym.InvalidActionError`` naming the entries. A wrong shape or type always raises.

    ## Observation Space

    A ``Dict`` over the ``n_max`` vehicle slots (M = n_max, K = n_task_types, C = 4 classes;
    bounds of the default config):

    {observation_table}

    `goal` is ``GoalSpec.vector()`` of the goal that ``goal_channel`` selects: with
    ``"interpreted"`` (default) the goal the interpreter (``interpreter``, by default
    ``vecgym.goals.parse_command``) made of the last command
    text (balanced before any command, or after that goal's ``duration_s``); with ``"truth"`` the
    ground-truth goal that sets the reward (an *oracle* input: no deployed agent is told it); with
    ``"none"`` zeros. `qos_weight` always follows the ground-truth goal, whatever ``goal_channel``.

    ## Rewards

    ``r = -(β_Q·qos + β_E·energy + fairness)`` with β from the active ground-truth ``GoalSpec``
    (``vecgym.reward``): ``qos`` = the QoS cost accrued this slot: every task in flight is charged
    weight × the growth of min(age / (deadline·deadline_scale), cap) (a completed task up to its
    latency, a failed or dropped one the rest of cap = 3), divided by the expected arrivals per
    slot; ``energy`` = the slot's joules (local, upload, download, migration, edge) divided by the
    energy of computing the expected arrivals locally; ``fairness`` = goal.fairness·(1 − J), J =
    Jain's index of the vehicles' on-time fractions over the last 20 slots. Each term is reported
    in ``info["reward_terms"]``.

    ## Starting State

    The road is drawn from its stationary distribution: Poisson(N) vehicles at uniform positions
    with speeds length-biased towards slow ones; all queues are empty; the goal is balanced.

    ## Episode End

    Never terminates (the road is a stationary system); truncation comes from the registration's
    ``max_episode_steps`` (1000 slots = 100 s for ``VEC-v0``).

    ## Info

    ``metrics`` (this slot: tasks, latency, energy split, violations, edge utilisation, ...),
    ``reward_terms``, ``action_repairs`` (count by kind), ``command`` (text of the last operator
    command or None), ``command_id`` (1, 2, ... per command; 0 = none), ``goal`` (the label of the
    ground-truth goal, for logging), ``goal_explanation`` (on the step the ground-truth goal
    changes or expires, a plain-language account of which weights changed, quoting the command;
    else None), ``goal_channel`` (the mode) and ``interpretation``: with
    ``goal_channel="interpreted"`` a dict ``{"label", "refused", "error", "explanation"}`` (the
    label of the interpreted goal in force; whether the interpreter refused the last command, and
    its ``CommandError`` message, a refused command leaving the previous interpreted goal in force;
    on the step a goal changes or a command is refused, a one-paragraph plain-language
    explanation of which weights changed and why, quoting the command, else None), otherwise None.
    ``env.unwrapped.episode_metrics()`` gives the running episode totals.

    ## Arguments

    ``gym.make("VEC-v0", render_mode=None, commands=(), goal_channel="interpreted", interpreter=None,
    **config)``
    where ``config`` holds any field of ``vecgym.VECConfig`` (``preset`` = "paper" | "corridor",
    whose values apply under the others; ``n_vehicles``, ``n_max``, ``n_task_types``, ``slot_s``,
    ``strict``, the radio, tasks, traffic events, the noise levels, ...). A bad
    value raises ``ValueError`` naming the field and the allowed range. ``commands`` is the operator
    command schedule, a sequence of ``vecgym.ScheduledCommand(slot, text, goal)``: each is issued
    (see ``issue_command``) before the step of time slot ``slot``, every episode; it is not part of
    the physics config. ``goal_channel`` (one of ``GOAL_CHANNELS``) selects what the observation's
    `goal` holds (see above). ``interpreter`` (``goal_channel="interpreted"`` only) replaces
    ``parse_command``: any callable ``text -> GoalSpec`` that raises ``CommandError`` to refuse, e.g.
    ``agents.llm.GoalPlanner`` (an env holding an unpicklable interpreter does not pickle).

    ## Version History

    * v0: initial release; the ``commands`` and ``goal_channel`` arguments added; physics v2
      (presets, cells and handover, radio map, drops at cap deadlines, DVFS edge energy, new
      observation keys ``cell``, ``holder``, ``distance_to_handover_m``, ``downlink_backlog_kbit``);
      the ``interpreter`` argument and ``info["interpretation"]["explanation"]`` added.
    """

    GOAL_CHANNELS: ClassVar[tuple[str, ...]] = GOAL_CHANNELS

    metadata: ClassVar[dict[str, Any]] = {  # type: ignore[misc]
        "render_modes": ["rgb_array"],
        "render_fps": 10,
    }

    def __init__(
        self,
        render_mode: str | None = None,
        config: VECConfig | Mapping[str, Any] | None = None,
        mobility: Any = None,
        commands: Iterable[ScheduledCommand] | None = None,
        goal_channel: str = "interpreted",
        interpreter: Interpreter | None = None,
        **config_kwargs: Any,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode {render_mode!r} is not supported; use one of {self.metadata['render_modes']}"
            )
        self.channel = GoalChannel(goal_channel, interpreter)
        self.goal_channel = goal_channel
        self.cfg = as_config(config, **config_kwargs)
        self.commands = check_schedule(commands)
        self.render_mode = render_mode
        self.sim = Simulator(self.cfg, mobility)
        self.n_max = self.cfg.slots
        self.n_task_types = self.cfg.n_task_types
        self.action_space = spaces.Box(0.0, 1.0, (2, self.n_max, self.n_task_types), np.float32)
        self.observation_space = observation_space(self.cfg)  # type: ignore[assignment]
        self._has_reset = False

    # ------------------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        # The engine's draws are counter-based: an explicit seed is the road's seed; without one
        # the next road seed comes from the env's generator (so repeated resets differ).
        self.sim.reset(seed if seed is not None else int(self.np_random.integers(0, 2**62)))
        self.channel.reset()
        self._has_reset = True
        self.channel.issue_scheduled(self.sim.engine, 0, self.commands)
        info = self._info(None, {"dtype": 0, "nan": 0, "range": 0, "edge_budget": 0})
        return observe(self.sim, self.channel.vector(self.sim.goal)), info

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        w, a, repairs = check_action(action, self.sim.active, self.n_task_types, self.cfg.strict, self.sim.holder)
        result = self.sim.step(w, a)
        self.sim.metrics.count_repairs(np.array([sum(repairs.values())]))
        self.channel.after_step(self.sim.engine, 0, self.commands)
        obs = observe(self.sim, self.channel.vector(self.sim.goal))
        return obs, result.reward, False, False, self._info(result, repairs)

    # ------------------------------------------------------------------------------------------
    def issue_command(self, text: str, goal: GoalSpec | None = None) -> None:
        """Record an operator command: ``text`` reaches agents in ``info["command"]``; ``goal``
        (the ground truth, optional) becomes the objective of the reward from the next slot. With
        ``goal_channel="interpreted"``, the interpreter's reading of ``text`` replaces the interpreted
        goal, unless it refuses the text: then the previous one stays and ``info["interpretation"]`` says so."""
        if not self._has_reset:
            raise RuntimeError("call reset() before issue_command()")
        self.channel.issue(self.sim.engine, 0, text, goal)

    @property
    def goal(self) -> GoalSpec:
        """The active ground-truth goal (the reward's objective)."""
        return self.sim.goal

    @property
    def interpreted_goal(self) -> GoalSpec | None:
        """The goal the interpreter made of the commands (``goal_channel="interpreted"``), else None."""
        return self.channel.interpreted if self.goal_channel == "interpreted" else None

    def episode_metrics(self) -> dict[str, Any]:
        """Running totals of the episode (latency ms, energy J, violation %, fairness, ...)."""
        return self.sim.episode_metrics()

    # ------------------------------------------------------------------------------------------
    def _info(self, result: Any, repairs: dict[str, int]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "action_repairs": repairs,
            "command": self.channel.command,
            "command_id": self.channel.command_id,
            "goal": self.sim.goal.label,
            "goal_channel": self.goal_channel,
            "interpretation": self.channel.interpretation(),
            "goal_explanation": self.channel.goal_explanation(),
        }
        if result is not None:
            info["metrics"] = result.metrics
            info["reward_terms"] = result.reward_terms
        return info

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        from .render import render_rgb

        return render_rgb(self.sim)

    def close(self) -> None:
        pass


# The observation table in the docstring is generated from the space (one owner per fact).
VECEnv.__doc__ = (VECEnv.__doc__ or "").replace("{observation_table}", observation_table().replace("\n", "\n    "))
