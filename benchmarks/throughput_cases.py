"""The cases, policies and timers of ``benchmarks.throughput``: record a policy's actions on a
case, then replay them with only the step timed. ``benchmarks.throughput`` (one process),
``benchmarks.scaleout`` (W workers) and ``benchmarks.backend_sweep`` (numpy / torch backends)
all time the same cases with these functions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

import vecgym
from vecgym.config import VECConfig
from vecgym.core.engine import Engine
from vecgym.vector import VECVectorEnv

CASES = ("paper-30", "corridor-30", "batch-64", "n-1000")
POLICIES = ("good", "random", "const")
TARGETS = {  # case -> (what, threshold, unit)
    "paper-30": ("raw env, paper, N=30, B=1", 5_000.0, "steps/s"),
    "corridor-30": ("raw env, corridor, N=30, B=1", 5_000.0, "steps/s"),
    "batch-64": ("Engine, paper, B=64 × N=30", 1_000_000.0, "vehicle-slots/s"),
    "n-1000": ("raw env, paper, N=1000 (scaled), B=1", 500_000.0, "vehicle-slots/s"),
}


@dataclass
class Row:
    case: str
    runner: str
    policy: str
    kernels: str
    active: float
    steps_per_s: float

    @property
    def vehicle_slots_per_s(self) -> float:
        return self.active * self.steps_per_s


def _config(case: str) -> dict[str, Any]:
    if case == "n-1000":
        n = 1000.0
        return {"preset": "paper", "n_vehicles": n, "edge_cpu_hz": 400e9 * n / 20.0, "bandwidth_hz": 20e6 * n / 20.0}
    preset = "corridor" if case.startswith("corridor") else "paper"
    return {"preset": preset, "n_vehicles": 30.0}


# ---------------------------------------------------------------------------------------------
# Policies on (B, M) arrays of the engine: (B, 2, M, K) float32 actions
def _per_server(a: np.ndarray, active: np.ndarray, holder: np.ndarray, n_servers: int) -> np.ndarray:
    """Shares of the vehicles each server holds, scaled down so that their sum is at most 1."""
    B = a.shape[0]
    held = active & (holder >= 0)
    key = np.arange(B)[:, None] * n_servers + np.maximum(holder, 0)
    tot = np.bincount(key[held], weights=a.sum(axis=2)[held], minlength=B * n_servers)
    return np.where(held[..., None], a / np.maximum(tot[key], 1.0)[..., None], 0.0)


def _equal_offload(active: np.ndarray, holder: np.ndarray, K: int, S: int, gen: np.random.Generator) -> np.ndarray:
    w = np.ones((*active.shape, K))
    a = _per_server(np.full(w.shape, 1e9), active, holder, S)  # every share equal, Σa = 1 per server
    return np.stack((w, a), axis=1)


def _random(active: np.ndarray, holder: np.ndarray, K: int, S: int, gen: np.random.Generator) -> np.ndarray:
    shape = (*active.shape, K)
    return np.stack((gen.random(shape), _per_server(gen.random(shape), active, holder, S)), axis=1)


def _const(active: np.ndarray, holder: np.ndarray, K: int, S: int, gen: np.random.Generator) -> np.ndarray:
    shape = (*active.shape, K)
    return np.stack((np.full(shape, 0.5), _per_server(np.full(shape, 0.5), active, holder, S)), axis=1)


BATCH_POLICIES: dict[str, Callable[..., np.ndarray]] = {"good": _equal_offload, "random": _random, "const": _const}


# ---------------------------------------------------------------------------------------------
class _Clock:
    def __init__(self, kind: str):
        self.now = time.process_time if kind == "cpu" else time.perf_counter


Ready = Callable[[], None] | None
"""Called after the warm-up, just before the clock starts (the scale-out's start barrier)."""
TimeFn = Callable[..., float]


def _env(case: str, kernels: str) -> vecgym.VECEnv:
    env = vecgym.VECEnv(**_config(case))
    env.sim.engine = Engine(env.cfg, 1, kernels=kernels)
    assert kernels == "auto" or env.sim.engine.kernels == kernels, f"kernels={kernels!r} is not available"
    return env


def _record_single(case: str, policy: str, n_steps: int, seed: int) -> tuple[list[np.ndarray], float, str]:
    """The actions of ``policy`` over ``n_steps`` from reset(seed), the mean active vehicles, and
    the policy's name as run."""
    env = _env(case, "auto")
    obs, info = env.reset(seed=seed)
    eng = env.sim.engine
    gen = np.random.default_rng(seed)
    name, agent = policy, None
    if policy == "good":
        try:
            import agents

            agent = agents.make_agent("dpp", env)
            name = "good (dpp)"
        except Exception as exc:  # the benchmark should still run; the table says what ran
            print(f"(dpp agent unavailable: {exc!r}; equal shares stand in)")
            name = "good (w=1, equal shares)"
    actions, active = [], []
    for _ in range(n_steps):
        if agent is not None:
            act = np.asarray(agent.act(obs, info), dtype=np.float32)
        else:
            act = BATCH_POLICIES[policy](eng.active, eng.holder, eng.K, eng.S, gen)[0].astype(np.float32)
        actions.append(act)
        active.append(int(eng.active.sum()))
        obs, _, _, _, info = env.step(act)
    return actions, float(np.mean(active)), name


def _replay(step: Callable[[Any], Any], items: list[Any], warmup: int, clock: _Clock, ready: Ready = None) -> float:
    """Steps/s of ``step`` over ``items[warmup:]``, after ``items[:warmup]`` untimed; ``ready`` (if
    given) is called between the two, just before the clock starts."""
    for item in items[:warmup]:
        step(item)
    if ready is not None:
        ready()
    t = clock.now()
    for item in items[warmup:]:
        step(item)
    return (len(items) - warmup) / (clock.now() - t)


def _time_single(
    case: str, kernels: str, actions: list[np.ndarray], warmup: int, seed: int, clock: _Clock, ready: Ready = None
) -> float:
    env = _env(case, kernels)
    env.reset(seed=seed)
    return _replay(env.unwrapped.step, actions, warmup, clock, ready)


def _record_batch(B: int, policy: str, n_steps: int, seed: int) -> tuple[list[np.ndarray], float]:
    cfg = VECConfig.from_kwargs(**_config("batch-64"))
    eng = Engine(cfg, B)
    eng.reset(seed + np.arange(B))
    gen = np.random.default_rng(seed)
    actions, active = [], []
    for _ in range(n_steps):
        act = BATCH_POLICIES[policy](eng.active, eng.holder, eng.K, eng.S, gen)
        actions.append(act.astype(np.float32))
        active.append(int(eng.active.sum()))
        eng.step(act[:, 0], act[:, 1])
    return actions, float(np.mean(active))


def _time_batch_engine(
    B: int, kernels: str, actions: list[np.ndarray], warmup: int, seed: int, clock: _Clock, ready: Ready = None
) -> float:
    cfg = VECConfig.from_kwargs(**_config("batch-64"))
    eng = Engine(cfg, B, kernels=kernels)
    eng.reset(seed + np.arange(B))
    wa = [(act[:, 0].astype(np.float64), act[:, 1].astype(np.float64)) for act in actions]
    return _replay(lambda w_a: eng.step(*w_a), wa, warmup, clock, ready)


def _time_vector_env(
    B: int, kernels: str, actions: list[np.ndarray], warmup: int, seed: int, clock: _Clock, ready: Ready = None
) -> float:
    env = VECVectorEnv(num_envs=B, **_config("batch-64"))
    env.engine = Engine(env.cfg, B, kernels=kernels)
    env.reset(seed=seed)
    return _replay(env.step, actions, warmup, clock, ready)


# ---------------------------------------------------------------------------------------------
# What each case runs: the timed slots, the recorded actions, the runners that replay them
def schedule(case: str, steps: int, warmup: int) -> tuple[int, int]:
    """(timed slots, warm-up slots) of ``case``: slower cases run fewer timed slots (about the same
    seconds per row) and at most 100 warm-up slots."""
    n_timed = {"batch-64": max(steps // 10, 20), "n-1000": max(steps // 5, 20)}.get(case, steps)
    return n_timed, (min(warmup, 100) if case in ("batch-64", "n-1000") else warmup)


def record(case: str, policy: str, n_steps: int, seed: int) -> tuple[list[np.ndarray], float, str]:
    """The actions of ``policy`` on ``case`` over ``n_steps`` from ``seed``, the mean active
    vehicles, and the policy's name as run."""
    if case == "batch-64":
        actions, active = _record_batch(64, policy, n_steps, seed)
        return actions, active, "good (w=1, equal shares)" if policy == "good" else policy
    return _record_single(case, policy, n_steps, seed)


def runners(case: str) -> dict[str, TimeFn]:
    """The runners timed on ``case`` by name: each replays recorded actions
    ``(kernels, actions, warmup, seed, clock, ready=None) -> steps/s``."""
    if case == "batch-64":
        return {"Engine.step": partial(_time_batch_engine, 64), "VECVectorEnv.step": partial(_time_vector_env, 64)}
    return {"env.unwrapped.step": partial(_time_single, case)}
