"""The agents: ``dpp`` (reactive), ``sp-dpp`` (the twin's forecasts, follows commands), ``oracle``
(the true future): each builds the slot problem and alternates shares and offloading from two starts
(``agents.lyapunov``: **Passes**, **Goal**, **Horizon**)."""

from __future__ import annotations

import math
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from agents.base import Agent
from twins import PredictiveTwin
from vecgym.config import VECConfig
from vecgym.goals import BALANCED, GoalSpec, parse_command
from vecgym.tasks import TaskTypes

from .offload import offload_step
from .prices import RewardScale, goal_weights, slot_prices
from .problem import SlotProblem, model_cost, offload_safe, pass_state
from .queues import size_moment
from .shares import shares_for


class CommandFollower(Protocol):
    """An agent that takes its goal from the operator's commands (``follow_commands``)."""

    cfg: VECConfig
    goal: GoalSpec
    command_id: int
    expires_s: float
    commands_rejected: int

    def interpret(self, text: str) -> GoalSpec: ...


def follow_commands(agent: CommandFollower, obs: dict[str, np.ndarray], info: dict[str, Any]) -> str | None:
    """Update ``agent.goal`` from this slot's ``info``: a new command is interpreted with
    ``agent.interpret`` (a refusal is counted in ``commands_rejected`` and the goal stays), and a
    goal with a duration returns to the balanced one when it expires. Returns what changed the
    goal: ``"command"``, ``"expired"`` or None."""
    now = float(obs["slot"][0]) * agent.cfg.slot_s
    event = None
    if info.get("command_id", 0) != agent.command_id:
        agent.command_id = info["command_id"]
        try:
            agent.goal = agent.interpret(info["command"])
            agent.expires_s = now + agent.goal.duration_s if agent.goal.duration_s else math.inf
            event = "command"
        except ValueError:
            agent.commands_rejected += 1  # counted, visible in stats(); the goal stays
    if now >= agent.expires_s:
        agent.goal, agent.expires_s = BALANCED, math.inf
        event = "expired"
    return event


class DPPAgent(Agent):
    """Reactive drift-plus-penalty on the current observation, with a fixed (balanced) goal."""

    name = "dpp"

    def __init__(self, env: gym.Env, v: float = 1.0, passes: int = 3, sweeps: int = 2):
        super().__init__(env)
        self.cfg: VECConfig = self.config
        self.v = v
        self.passes = passes
        self.sweeps = sweeps
        cfg = self.cfg
        self.K = cfg.n_task_types
        self.types = TaskTypes.from_config(cfg)
        self.cpb = np.asarray(cfg.per_type("cycles_per_byte"), dtype=np.float64)
        self.deadline = np.asarray(cfg.per_type("deadline_s"), dtype=np.float64)
        self.cycles = self.types.mean_cycles
        self.bits = 4.0 * (self.types.size_min_bytes + self.types.size_max_bytes)
        self.result_ratio = np.asarray(cfg.per_type("result_ratio"), dtype=np.float64)
        self.m2 = size_moment(cfg)
        self.scale = RewardScale.of(cfg)
        self.class_rate = np.asarray(cfg.class_rate_multiplier, dtype=np.float64)
        self.goal: GoalSpec = BALANCED
        self.steered = False
        self.last_problem: SlotProblem | None = None
        self.last_decision: tuple[np.ndarray, np.ndarray] | None = None
        self._last_w: np.ndarray | None = None
        self._last_ids = np.zeros(0, dtype=np.int64)

    def reset(self, seed: int | None = None) -> None:
        self.goal = BALANCED
        self._last_w = None

    def steer(self, goal: GoalSpec) -> None:
        """Solve for ``goal`` from now on; the agent stops reading the commands itself."""
        self.goal, self.steered = goal, True

    # ------------------------------------------------------------------------------------------
    def prior_work(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Expected work (cycles) of a slot per (vehicle, type) from the config's rates (M, K)."""
        mult = self.class_rate[np.argmax(obs["vehicle_class"], axis=1)]
        return mult[:, None] * (self.types.rate_hz * self.cfg.slot_s * self.cycles)[None, :]

    def _inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per horizon slot h: expected new work (cycles, (H, M, K)) and uplink SNR (linear, (H, M));
        and whether each slot's vehicle stays on the road over the horizon ((M,)). Here H = 1:
        the last slot's arrivals, or the config's mean rate for a type that had none."""
        active = obs["active"].astype(bool)
        work = obs["arrivals_bytes"].astype(np.float64) * self.cpb
        work = np.where(work > 0.0, work, self.prior_work(obs))
        snr = 10.0 ** (obs["snr_db"].astype(np.float64) / 10.0)
        return (work * active[:, None])[None], (snr * active)[None], active

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        work, snr, stay = self._inputs(obs, info)
        w, a = self.decide(obs, work, snr, stay, self.goal)
        return np.stack((w, a)).astype(np.float32)

    def offloadable(self, obs: dict[str, np.ndarray], goal: GoalSpec) -> np.ndarray:
        """(M, K): covered, and neither leaving the road nor entering a gap within a deadline."""
        active = obs["active"].astype(bool)
        cell = obs["cell"] if "cell" in obs else np.zeros(active.shape, dtype=np.int64)
        safe = offload_safe(obs, self.cfg, self.deadline * goal.deadline_scale)
        return (active & (cell >= 0))[:, None] & safe

    def problem(
        self, obs: dict[str, np.ndarray], work: np.ndarray, snr: np.ndarray, stay: np.ndarray, goal: GoalSpec
    ) -> SlotProblem:
        """The slot problem of this observation (prices from the goal, the reward's normalisers)."""
        cfg = self.cfg
        active = obs["active"].astype(bool)
        M, K = active.shape[0], self.K
        weight = goal_weights(obs, goal)
        if goal.fairness > 0.0:
            # Fairness: vehicles whose queued work (in seconds of their own service) is above the
            # road's mean get their QoS weight raised in proportion, so none is left behind.
            queued_s = (
                obs["local_backlog_gcycles"] * 1e9 / cfg.vehicle_cpu_hz
                + obs["edge_backlog_gcycles"].sum(1) * 1e9 / cfg.edge_cpu_hz
            )
            mean_s = float(queued_s[active].mean()) if active.any() else 0.0
            excess = np.maximum(queued_s / max(mean_s, 1e-9) - 1.0, 0.0)
            weight = weight * (1.0 + goal.fairness * excess)
        q, energy_price = slot_prices(active, weight, goal, self.deadline, self.scale, self.v)
        stay = np.asarray(stay, dtype=bool)
        stay = stay[:, None] if stay.ndim == 1 else stay
        holder = obs["holder"] if "holder" in obs else np.where(active, 0, -1)
        cell = obs["cell"] if "cell" in obs else np.where(active, 0, -1)
        dl = obs["downlink_backlog_kbit"] if "downlink_backlog_kbit" in obs else np.zeros(M)
        work = np.asarray(work, dtype=np.float64) * active[None, :, None]
        return SlotProblem(
            cfg=cfg,
            work=work,
            tasks=work / self.cycles,
            cycles=self.cycles,
            bits=self.bits,
            m2=self.m2,
            result_ratio=self.result_ratio,
            q=q,
            energy_price=energy_price,
            local=obs["local_backlog_gcycles"].astype(np.float64) * 1e9 * active,
            uplink=obs["uplink_backlog_kbit"].astype(np.float64) * 1e3 * active,
            downlink=np.asarray(dl, dtype=np.float64) * 1e3 * active,
            edge=obs["edge_backlog_gcycles"].astype(np.float64) * 1e9 * active[:, None],
            active=active,
            cell=np.where(active, np.asarray(cell), -1),
            holder=np.where(active, np.asarray(holder), -1),
            offloadable=self.offloadable(obs, goal) & stay & np.ones((M, K), dtype=bool),
            snr=np.asarray(snr, dtype=np.float64) * active[None, :],
        )

    def decide(
        self, obs: dict[str, np.ndarray], work: np.ndarray, snr: np.ndarray, stay: np.ndarray, goal: GoalSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        """Offload ratios and edge shares, both (M, K), minimising the horizon-mean model cost J.

        ``work`` (H, M, K) is the new work (cycles) expected in each of the H coming slots and
        ``snr`` (H, M) the uplink SNR over the whole band; ``stay`` (M,) or (M, K) where offloading
        is allowed by the caller's forecast. The decision is held over the horizon.
        """
        p = self.problem(obs, work, snr, stay, goal)
        self.last_problem = p
        # Warm start from the last decision of the same vehicles (a receding horizon moves
        # little from slot to slot); new vehicles start from full offloading.
        w = p.offloadable.astype(np.float64)
        if self._last_w is not None and self._last_ids.shape == obs["vehicle_id"].shape:
            same = (self._last_ids == obs["vehicle_id"]) & p.active
            w = np.where(same[:, None] & p.offloadable, self._last_w, w)
        starts = [w] if np.array_equal(w, p.offloadable) else [w, p.offloadable.astype(np.float64)]
        best: tuple[float, np.ndarray, np.ndarray] | None = None
        for w in starts:
            for _ in range(self.passes):
                a, _ = shares_for(p, w)
                w = offload_step(p, w, a, pass_state(p, w, a), self.sweeps)
            a, _ = shares_for(p, w)
            cost = model_cost(p, w, a)
            if best is None or cost < best[0]:
                best = (cost, w, a)
        assert best is not None
        _, w, a = best
        self._last_w, self._last_ids = w.copy(), np.asarray(obs["vehicle_id"]).copy()
        self.last_decision = (w, a)
        return w, a

    def explain(self) -> str | None:
        """The last decision in plain language (``agents.explain``: who offloaded, how each server's
        CPU was split, the dominant cost terms); None before the first decision."""
        from agents.explain import explain_slot

        if self.last_problem is None or self.last_decision is None:
            return None
        return explain_slot(self.last_problem, *self.last_decision, self._last_ids).text


class DPPEWMAAgent(DPPAgent):
    """``dpp-ewma``: ``dpp`` fed an EWMA of each queue's own arrivals (``agents.horizon.inputs.EWMASource``):
    the reactive-filter baseline any proactive claim must beat."""

    name = "dpp-ewma"

    def __init__(self, env: gym.Env, v: float = 1.0, passes: int = 3, sweeps: int = 2, alpha: float | None = None):
        from agents.horizon.inputs import EWMA_ALPHA, EWMASource

        super().__init__(env, v, passes, sweeps)
        self.ewma = EWMASource(env, 1, EWMA_ALPHA if alpha is None else alpha)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.ewma.reset()

    def _inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        active = obs["active"].astype(bool)
        work = self.ewma.work_bytes(obs, info) * self.cpb * active[:, None]
        snr = 10.0 ** (obs["snr_db"].astype(np.float64) / 10.0)
        return work[None], (snr * active)[None], active


class SPDPPAgent(DPPAgent):
    """Proactive and goal-aware: the twin's forecasts feed the solver; commands set the goal."""

    name = "sp-dpp-mg1"

    def __init__(self, env: gym.Env, v: float = 1.0, passes: int = 3, horizon: int = 5, sweeps: int = 2):
        super().__init__(env, v, passes, sweeps)
        self.twin = PredictiveTwin(self.cfg, horizon=horizon)
        self.command_id = 0
        self.expires_s = math.inf
        self.commands_rejected = 0

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.twin.reset()
        self.command_id = 0
        self.expires_s = math.inf
        self.commands_rejected = 0

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        self.twin.update(obs)
        if not self.steered:
            follow_commands(self, obs, info)
        return super().act(obs, info)

    def interpret(self, text: str) -> GoalSpec:
        """The goal an operator command means (offline ``parse_command``); ``ValueError`` if none."""
        return parse_command(text)

    def _inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fc = self.twin.forecast()
        active = obs["active"].astype(bool)
        # Expected arrivals in each horizon slot (bytes per slot), as cycles, (H, M, K).
        work = fc.arrivals_bytes * self.cpb * active[:, None]
        # Predicted mean SNR per horizon slot; with fading its median (x ln 2) sets the typical rate.
        snr = 10.0 ** (fc.snr_db / 10.0) * (math.log(2.0) if self.cfg.fading else 1.0)
        # A vehicle predicted to leave the road within the horizon keeps its new work local.
        stay = active & fc.mask[-1]
        return work, snr * active, stay

    def stats(self) -> dict[str, Any]:
        return {"goal": self.goal.label, "commands_rejected": self.commands_rejected}


class OracleAgent(SPDPPAgent):
    """``sp-dpp`` with perfect foresight: a bound, not a policy.

    Unlike every other agent it reads simulator internals: each slot it clones the simulator
    (``copy.deepcopy`` of ``env.unwrapped.sim``) and runs the clone H slots ahead, so the clone
    sees exactly the arrivals, channel gains (fading included) and departures the real road will
    have (the v2 engine's draws are counter-based: they do not depend on the actions). The solver
    then gets the true future in place of the twin's forecasts.
    """

    name = "oracle"

    def __init__(self, env: gym.Env, v: float = 1.0, passes: int = 3, horizon: int = 5, sweeps: int = 2):
        super().__init__(env, v, passes, horizon, sweeps)
        self.horizon = horizon

    def _inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import copy

        sim = copy.deepcopy(self.core.sim)
        active = obs["active"].astype(bool)
        vid = sim.vid.copy()
        M, K = sim.n_max, sim.K
        zero = np.zeros((M, K))
        work = np.zeros((self.horizon, M, K))
        snr = np.zeros((self.horizon, M))
        stay = active.copy()
        for h in range(self.horizon):
            snr[h] = sim.snr()  # the true SNR of the coming slot, fading included
            sim.step(zero, zero)
            work[h] = sim.last_arrivals_bytes * self.cpb
            stay &= sim.vid == vid
        return work * active[:, None], snr * active, stay
