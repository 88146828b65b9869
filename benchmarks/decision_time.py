"""Per-slot decision time of the non-LLM agents against the number of vehicles.

    python -m benchmarks.decision_time                     # N = 10, 30, 100, 1000
    python -m benchmarks.decision_time --n 30 --slots 400 --agents sp-dpp

Each N runs the scalability physics with the edge CPU and the uplink band scaled by N / 20 (as
``benchmarks.throughput`` does), so the road stays as loaded as at N = 20. Each agent drives its
own episode (seed 0); the first ``--warmup`` slots are not timed. Reported per agent and N: the
median, p99 and maximum of ``agent.act`` wall time on one core, and whether any slot exceeded
the 100 ms slot.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

import agents
from agents.rollout import rollout
from vecgym import scenarios

DEFAULT_AGENTS = ("go", "dpp", "sp-dpp", "oracle")
SLOT_S = 0.1


def measure(name: str, n: float, slots: int, warmup: int, seed: int = 0) -> dict[str, Any]:
    env = scenarios.make(
        "scalability",
        n_vehicles=n,
        edge_cpu_hz=400e9 * n / 20.0,
        bandwidth_hz=20e6 * n / 20.0,
        max_episode_steps=slots + warmup,
    )
    agent = agents.make_agent(name, env)
    ep = rollout(env, agent, seed, max_steps=slots + warmup)
    env.close()
    times, active = ep.decision_s[warmup:], ep.active_vehicles[warmup:]
    ms = np.asarray(times) * 1e3
    return {
        "agent": name,
        "n": n,
        "vehicles_mean": float(np.mean(active)),
        "median_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "over_slot": int((ms > SLOT_S * 1e3).sum()),
        "slots": len(ms),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=float, nargs="+", default=[10, 30, 100, 1000], help="vehicles (default 10 30 100 1000)")
    p.add_argument("--agents", nargs="+", default=list(DEFAULT_AGENTS), help=f"default: {' '.join(DEFAULT_AGENTS)}")
    p.add_argument("--slots", type=int, default=200, help="timed slots per run (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed slots first (default 20)")
    args = p.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    rows = []
    print("| agent | N | vehicles | median (ms) | p99 (ms) | max (ms) | slots > 100 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n in args.n:
        for name in args.agents:
            r = measure(name, n, args.slots, args.warmup)
            rows.append(r)
            print(
                f"| {name} | {n:g} | {r['vehicles_mean']:.0f} | {r['median_ms']:.2f} | {r['p99_ms']:.2f} "
                f"| {r['max_ms']:.2f} | {r['over_slot']} of {r['slots']} |",
                flush=True,
            )
    return rows


if __name__ == "__main__":
    main()
