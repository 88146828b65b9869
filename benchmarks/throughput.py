"""Env speed: steps/s and vehicle-slots/s against N: the bare simulator core, the raw ``VECEnv``
(action checks and noisy observations included) and the env through ``gym.make`` (its wrappers).

    OMP_NUM_THREADS=1 python -m benchmarks.throughput [--n 10 30 100 1000] [--seconds 5]

Every N runs the default physics with the edge CPU and the uplink band scaled by N / 20, so each
vehicle sees the load and resources of the default N = 20 road (one 400 GHz, 20 MHz RSU cannot
serve 1000 vehicles; without scaling the queues grow without bound and the run measures the
backlog, not the simulator). The driving policy offloads 80% and shares the edge by backlog; its
own cost (a few numpy calls) is included. Single process, one thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np

import vecgym
from benchmarks._policy import backlog_policy
from vecgym.config import VECConfig
from vecgym.simulator import Simulator

W_OFFLOAD = 0.8


def _config(n: float) -> dict[str, Any]:
    return {"n_vehicles": n, "edge_cpu_hz": 400e9 * n / 20.0, "bandwidth_hz": 20e6 * n / 20.0}


def _run(env: gym.Env, seconds: float, warmup: int, seed: int) -> tuple[float, float]:
    """Median steps/s over 1-second chunks, and mean active vehicles per slot."""
    k = env.action_space.shape[2]  # type: ignore[index]
    obs, _ = env.reset(seed=seed)
    for _ in range(warmup):
        obs, *_ = env.step(backlog_policy(obs, W_OFFLOAD, k))
    rates, active = [], []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 1.0:
            obs, _, term, trunc, _ = env.step(backlog_policy(obs, W_OFFLOAD, k))
            active.append(int(obs["active"].sum()))
            n += 1
            if term or trunc:
                obs, _ = env.reset()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), float(np.mean(active))


def _run_core(n: float, seconds: float, warmup: int, seed: int) -> float:
    """Median steps/s of the bare ``Simulator.step`` (no observation noise, no action checks)."""
    sim = Simulator(VECConfig(**_config(n)))
    sim.reset(np.random.default_rng(seed))

    def step() -> None:
        view = {
            "active": sim.active,
            "edge_backlog_gcycles": sim.edge_backlog * 1e-9,
            "arrivals_bytes": sim.last_arrivals_bytes,
        }
        action = backlog_policy(view, W_OFFLOAD, sim.K).astype(np.float64)
        sim.step(action[0], action[1])

    for _ in range(warmup):
        step()
    rates = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0, k = time.perf_counter(), 0
        while time.perf_counter() - t0 < 1.0:
            step()
            k += 1
        rates.append(k / (time.perf_counter() - t0))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=float, nargs="+", default=[10, 30, 100, 1000], help="vehicle counts N")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per row and mode")
    parser.add_argument("--warmup", type=int, default=200, help="slots before measuring (queues fill)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = []
    print(
        "| N | active vehicles | simulator core steps/s | raw env steps/s | raw env vehicle-slots/s "
        "| gym.make steps/s | gym.make vehicle-slots/s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.n:
        core = _run_core(n, args.seconds, args.warmup, args.seed)
        raw, act = _run(vecgym.VECEnv(**_config(n)), args.seconds, args.warmup, args.seed)
        made, _ = _run(gym.make("VEC-v0", **_config(n)), args.seconds, args.warmup, args.seed)
        rows.append({"n": n, "active": act, "core": core, "raw": raw, "made": made})
        print(
            f"| {n:g} | {act:.0f} | {core:,.0f} | {raw:,.0f} | {raw * act:,.0f} | {made:,.0f} | {made * act:,.0f} |",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    main()
