"""``HorizonAgent``: the receding-horizon controller on one input source; the registry's ``sp-dpp``
and ``oracle`` are it on the twin and on the true future (``agents.horizon``: **Agents**)."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import Agent
from agents.lyapunov.agent import follow_commands
from agents.lyapunov.prices import RewardScale, goal_weights, slot_prices
from agents.lyapunov.problem import offload_safe
from vecgym.config import VECConfig
from vecgym.goals import BALANCED, GoalSpec, parse_command
from vecgym.tasks import TaskTypes

from .inputs import SlotInputs, make_source
from .model import Constants, HorizonProblem
from .solve import Plan, solve

#: Scenario points and probabilities of the forecast's spread: 3-point Gauss-Hermite (mean and
#: mean ± √3·std), exact for the expectation of any cubic in the forecast.
SPREAD_POINTS = np.array([-math.sqrt(3.0), 0.0, math.sqrt(3.0)])
SPREAD_WEIGHTS = np.array([1.0, 4.0, 1.0]) / 6.0
#: Observation keys indexed by vehicle slot (the solve runs on the active vehicles only).
VEHICLE_KEYS = frozenset((
    "active", "vehicle_id", "vehicle_class", "position_m", "speed_mps", "snr_db", "rate_mbps",
    "local_backlog_gcycles", "uplink_backlog_kbit", "edge_backlog_gcycles", "arrivals_bytes", "qos_weight",
    "cell", "holder", "distance_to_handover_m", "downlink_backlog_kbit",
))  # fmt: skip


class HorizonAgent(Agent):
    """Receding-horizon drift-plus-penalty on a fluid model of the queues.

    Args:
        env: a ``VEC-v0`` or ``VEC-pDT-v0`` env.
        v: the energy price multiplier (V = 1: the reward's own weights).
        horizon: H, slots planned (the first is applied).
        source: what the controller is told of the coming slots (``agents.horizon.inputs.SOURCES``).
        follow_commands: take the goal from the operator's commands (``parse_command``).
        spread: plan over the forecast's spread (three scenarios) where the source has one (off by
            default: it did not help, see ``agents.horizon``).
        sweeps: improvement sweeps of the solve.
    """

    name = "horizon"

    def __init__(
        self,
        env: gym.Env,
        v: float = 1.0,
        horizon: int = 1,
        source: str = "state",
        follow_commands: bool = False,
        spread: bool = False,
        sweeps: int = 1,
        **source_kw: Any,
    ):
        if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
        if not (isinstance(v, (int, float)) and v > 0.0 and math.isfinite(v)):
            raise ValueError(f"v must be a finite number > 0, got {v!r}")
        super().__init__(env)
        self.cfg: VECConfig = self.config
        self.v, self.horizon, self.sweeps, self.spread = float(v), horizon, sweeps, spread
        self.follow_commands = follow_commands
        self.steered = False
        self.source = make_source(source, env, horizon, **source_kw)
        types = TaskTypes.from_config(self.cfg)
        self.k = Constants.of(self.cfg, types.mean_cycles)
        self.deadline = np.asarray(self.cfg.per_type("deadline_s"), dtype=np.float64)
        self.scale = RewardScale.of(self.cfg)
        self.work_mix = types.rate_hz * types.mean_cycles / float((types.rate_hz * types.mean_cycles).sum())
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self.goal: GoalSpec = BALANCED
        self.command_id, self.expires_s, self.commands_rejected = 0, math.inf, 0
        self.source.reset()
        self.last_plan: Plan | None = None
        self._last_ids = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------------------------------
    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        if self.follow_commands and not self.steered:
            follow_commands(self, obs, info)
        inputs = self.source.inputs(obs, info)
        w, a = self.decide(obs, inputs)
        return np.stack((w, a)).astype(np.float32)

    def steer(self, goal: GoalSpec) -> None:
        """Plan for ``goal`` from now on; the agent stops reading the commands itself."""
        self.goal, self.steered = goal, True

    def interpret(self, text: str) -> GoalSpec:
        """The goal an operator command means (offline ``parse_command``); ``ValueError`` if none."""
        return parse_command(text)

    def decide(self, obs: dict[str, np.ndarray], inputs: SlotInputs) -> tuple[np.ndarray, np.ndarray]:
        """Offload ratios and edge shares (M, K) of the coming slot: the first slot of the plan,
        solved over the active vehicles only."""
        M, K = obs["active"].shape[0], self.k.cycles.shape[0]
        idx = np.flatnonzero(obs["active"])
        w, a = np.zeros((M, K)), np.zeros((M, K))
        if idx.shape[0] == 0:
            return w, a
        sub = {key: (np.asarray(val)[idx] if key in VEHICLE_KEYS else val) for key, val in obs.items()}
        sub_inputs = SlotInputs(*(np.asarray(getattr(inputs, f.name))[:, idx] for f in fields(SlotInputs)))
        p = self.problem(sub, sub_inputs)
        plan = solve(p, self._starts(p, sub["vehicle_id"]), self.sweeps)
        self.last_plan, self._last_ids = plan, np.asarray(sub["vehicle_id"]).copy()
        w[idx] = plan.w[0]
        a[idx] = np.tensordot(p.weight, plan.trajectory.outcomes[0].share, axes=([0], [0]))
        return w, a

    def _starts(self, p: HorizonProblem, vid: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """All offloaded, all local (both at half speed), and the last plan shifted by a slot (its
        vehicles matched by id; a new vehicle starts offloading)."""
        H, R = p.horizon, self.k.n_servers
        half = np.full((H, R), 0.5)
        starts = [(np.ones(p.offloadable.shape), half), (np.zeros(p.offloadable.shape), half)]
        prev = self.last_plan
        if prev is not None and prev.w.shape[0] == H and self._last_ids.shape[0]:
            order = np.argsort(self._last_ids)
            pos = np.clip(np.searchsorted(self._last_ids, vid, sorter=order), 0, order.shape[0] - 1)
            row = order[pos]
            same = self._last_ids[row] == vid
            shifted = np.concatenate((prev.w[1:], prev.w[-1:]))[:, row]
            w = np.where(same[None, :, None], shifted, 1.0)
            s = np.concatenate((prev.speed[1:], prev.speed[-1:]))
            starts.append((w, s))
        return starts

    # ------------------------------------------------------------------------------------------
    def prices(self, obs: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        """QoS price per cycle-second (M, K) and the energy price per joule, in reward units."""
        weight = goal_weights(obs, self.goal)
        q, energy_price = slot_prices(obs["active"].astype(bool), weight, self.goal, self.deadline, self.scale, self.v)
        return q / self.k.cycles[None, :], energy_price

    def problem(self, obs: dict[str, np.ndarray], inputs: SlotInputs) -> HorizonProblem:
        """The horizon problem of this observation."""
        active = obs["active"].astype(bool)
        H = self.horizon
        price, energy_price = self.prices(obs)
        hold = np.empty((H, active.shape[0]), dtype=np.int64)
        prev = np.where(active, np.asarray(obs["holder"]), -1)
        for h in range(H):
            prev = np.where(inputs.cell[h] >= 0, inputs.cell[h], prev)
            hold[h] = np.where(inputs.present[h], prev, -1)
        deadline = self.deadline * self.goal.deadline_scale
        offloadable = (
            inputs.present[..., None] & (inputs.cell >= 0)[..., None] & offload_safe(obs, self.cfg, deadline)[None]
        )
        work, snr, weights = self._scenarios(inputs)
        mix = self.work_mix[None, :] * active[:, None]
        up_mix = mix * self.k.bpc / np.maximum((mix * self.k.bpc).sum(1, keepdims=True), 1e-300)
        return HorizonProblem(
            cfg=self.cfg,
            k=self.k,
            work=work,
            snr=snr,
            weight=weights,
            cell=inputs.cell,
            hold=hold,
            offloadable=offloadable,
            price=price,
            energy_price=energy_price,
            local=obs["local_backlog_gcycles"].astype(np.float64)[:, None] * 1e9 * mix,
            uplink=obs["uplink_backlog_kbit"].astype(np.float64)[:, None] * 1e3 * up_mix,
            edge=obs["edge_backlog_gcycles"].astype(np.float64) * 1e9 * active[:, None],
        )

    def _scenarios(self, inputs: SlotInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Σ, H, M, K) work and (Σ, H, M) SNR per scenario, and the scenarios' weights: the mean
        alone, or with the spread the three Gauss-Hermite points (high arrivals with the
        pessimistic channel, low with the typical one)."""
        if not self.spread or not inputs.work_std.any():
            return inputs.work[None], inputs.snr[None], np.ones(1)
        work = np.maximum(inputs.work[None] + SPREAD_POINTS[:, None, None, None] * inputs.work_std[None], 0.0)
        snr = np.stack((inputs.snr, inputs.snr, inputs.snr_lo))
        return work, snr, SPREAD_WEIGHTS

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"goal": self.goal.label, "commands_rejected": self.commands_rejected}
        own = getattr(self.source, "own_forecasts", None)
        if own is not None:
            out["own_forecasts"] = own
        return out


class SPDPP(HorizonAgent):
    """``sp-dpp``: the receding horizon (H = 5) over the twin's forecasts; follows commands."""

    name = "sp-dpp"
    source_name = "twin"

    def __init__(self, env: gym.Env, v: float = 1.0, horizon: int = 5, **kw: Any) -> None:
        kw.setdefault("follow_commands", True)
        super().__init__(env, v=v, horizon=horizon, source=kw.pop("source", self.source_name), **kw)


class Oracle(SPDPP):
    """``oracle``: ``sp-dpp`` given the true future (``exogenous_future``): a bound, not a policy."""

    name = "oracle"
    source_name = "true-future"
