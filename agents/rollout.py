"""One episode of an agent on a vecgym env: the loop the benchmarks and tests share.

    from agents.rollout import rollout

    result = rollout(env, agents.make_agent("dpp", env), seed=0)
    result.total_reward, result.energy_j[:5], result.episode_metrics["latency_ms_mean"]

``rollout`` resets the agent (``agent.reset(seed)``) and then the env (``env.reset(seed=seed)``),
steps until the env terminates or truncates (or ``max_steps``), times every ``agent.act`` call,
and hands each slot to ``on_step`` (a ``StepRecord``) for whatever else a caller collects. It
returns an ``EpisodeResult`` with the per-slot figures the benchmarks use. The agent is not
closed: the caller owns it (and the env).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from .base import Agent

#: ``EpisodeResult`` fields that may differ between two runs of the same seed: wall-clock timing
#: and where the episode ran (the process id and host name); every other field is a function of
#: the env, the agent and the seed. An agent's own timing figures (an LLM agent's latency in
#: ``agent_stats`` / ``report_fields``) vary too.
NONDETERMINISTIC_FIELDS: tuple[str, ...] = ("decision_s", "wall_s", "worker", "host")


@dataclass(frozen=True)
class StepRecord:
    """One slot, as ``on_step`` sees it right after ``env.step``.

    ``obs`` and ``info`` are what the agent acted on; ``next_obs`` and ``next_info`` what the env
    returned for the action (``next_info["metrics"]`` holds the slot's figures)."""

    slot: int
    obs: dict[str, np.ndarray]
    info: dict[str, Any]
    action: np.ndarray
    reward: float
    next_obs: dict[str, np.ndarray]
    next_info: dict[str, Any]
    terminated: bool
    truncated: bool
    decision_s: float


@dataclass(frozen=True)
class EpisodeResult:
    """What one episode did. Per-slot tuples have one entry per step, in slot order.

    ``active_vehicles`` counts the vehicles in the observation the agent acted on; the other
    per-slot figures come from the step's ``info["metrics"]`` (``latency_sum_ms`` is the slot's
    mean latency times its completed tasks) and ``info["goal"]``."""

    seed: int | None
    steps: int
    total_reward: float
    rewards: tuple[float, ...]
    energy_j: tuple[float, ...]
    tasks_completed: tuple[int, ...]
    latency_sum_ms: tuple[float, ...]
    goals: tuple[Any, ...]
    active_vehicles: tuple[int, ...]
    decision_s: tuple[float, ...]
    wall_s: float
    terminated: bool
    truncated: bool
    episode_metrics: dict[str, Any]
    agent_stats: dict[str, Any]
    report_fields: dict[str, float | int | str]
    worker: int
    """The id of the process that ran the episode."""
    host: str
    """The name of the machine that ran it."""


def rollout(
    env: gym.Env[Any, Any],
    agent: Agent,
    seed: int | None,
    on_step: Callable[[StepRecord], None] | None = None,
    max_steps: int | None = None,
) -> EpisodeResult:
    """Run one episode of ``agent`` on ``env`` from ``seed`` (see the module docstring)."""
    started = time.perf_counter()
    agent.reset(seed)
    obs, info = env.reset(seed=seed)
    rewards: list[float] = []
    energy: list[float] = []
    tasks: list[int] = []
    lat_sum: list[float] = []
    goals: list[Any] = []
    active: list[int] = []
    decision: list[float] = []
    term = trunc = False
    slot = 0
    while not (term or trunc) and (max_steps is None or slot < max_steps):
        active.append(int(obs["active"].sum()))
        t0 = time.perf_counter()
        action = agent.act(obs, info)
        decision.append(time.perf_counter() - t0)
        next_obs, reward, term, trunc, next_info = env.step(action)
        term, trunc = bool(term), bool(trunc)
        rewards.append(float(reward))
        m = next_info["metrics"]
        energy.append(m["energy_j"])
        tasks.append(m["tasks_completed"])
        lat_sum.append(m["latency_ms_mean"] * m["tasks_completed"] if m["tasks_completed"] else 0.0)
        goals.append(next_info.get("goal"))
        if on_step is not None:
            on_step(StepRecord(slot, obs, info, action, float(reward), next_obs, next_info, term, trunc, decision[-1]))
        obs, info = next_obs, next_info
        slot += 1
    return EpisodeResult(
        seed=seed,
        steps=slot,
        total_reward=float(sum(rewards)),
        rewards=tuple(rewards),
        energy_j=tuple(energy),
        tasks_completed=tuple(tasks),
        latency_sum_ms=tuple(lat_sum),
        goals=tuple(goals),
        active_vehicles=tuple(active),
        decision_s=tuple(decision),
        wall_s=time.perf_counter() - started,
        terminated=term,
        truncated=trunc,
        episode_metrics=env.unwrapped.episode_metrics(),  # type: ignore[attr-defined]
        agent_stats=agent.stats(),
        report_fields=agent.report_fields(),
        worker=os.getpid(),
        host=socket.gethostname(),
    )
