"""The load calibration in the README: how loaded the default road is at N = 10, 20, 30.

    python -m benchmarks.calibrate [--n 10 20 30] [--slots 2000] [--seed 0] [--seeds 6]

For each N it runs the default config with every task fully offloaded and the edge CPU shared
by backlog, and reports the offered edge load (arrived cycles / (F_e·τ), i.e. the edge utilisation
full offloading asks for), the edge utilisation actually served, the offered load on a vehicle's
own CPU if it computed everything locally (cycles / (f_v·τ)), and the mean uplink demand against
the band.
"""

from __future__ import annotations

import argparse

import numpy as np

import vecgym
from benchmarks._policy import backlog_policy


def measure(n: float, slots: int, seed: int) -> dict[str, float]:
    """Offered and served loads of the default road with ``n`` vehicles, all tasks offloaded."""
    env = vecgym.VECEnv(n_vehicles=n)
    cfg = env.cfg
    cpb = np.asarray(cfg.per_type("cycles_per_byte"))
    obs, _ = env.reset(seed=seed)
    offered, served, per_vehicle, bits, active = [], [], [], [], []
    for _ in range(slots):
        obs, _, _, _, info = env.step(backlog_policy(obs, 1.0, cfg.n_task_types))
        cycles = float((obs["arrivals_bytes"] * cpb).sum())
        offered.append(cycles / (cfg.edge_cpu_hz * cfg.slot_s))
        served.append(info["metrics"]["edge_utilisation"])
        n_act = max(info["metrics"]["n_active"], 1.0)
        active.append(n_act)
        per_vehicle.append(cycles / n_act / (cfg.vehicle_cpu_hz * cfg.slot_s))
        bits.append(8.0 * float(obs["arrivals_bytes"].sum()) / cfg.slot_s)
    m = env.episode_metrics()
    return {
        "n": n,
        "vehicles": float(np.mean(active)),
        "offered_edge": float(np.mean(offered)),
        "served_edge": float(np.mean(served)),
        "local_per_vehicle": float(np.mean(per_vehicle)),
        "uplink_mbps": float(np.mean(bits)) / 1e6,
        "latency_ms": m["latency_ms_mean"],
        "violation_pct": m["violation_rate_pct"],
    }


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=float, nargs="+", default=[10, 20, 30])
    parser.add_argument("--slots", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, default=6, help="runs per N (seed, seed+1, ...), averaged")
    args = parser.parse_args(argv)
    rows = []
    for n in args.n:
        runs = [measure(n, args.slots, args.seed + i) for i in range(args.seeds)]
        rows.append({key: float(np.mean([r[key] for r in runs])) for key in runs[0]})
    print(
        "| N | mean vehicles on road | offered edge load (full offload) | edge utilisation served "
        "| local CPU load if all local | uplink demand (Mbit/s) | latency (ms) | violations (%) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['n']:g} | {r['vehicles']:.1f} | {r['offered_edge']:.2f} | {r['served_edge']:.2f} "
            f"| {r['local_per_vehicle']:.2f} | {r['uplink_mbps']:.1f} "
            f"| {r['latency_ms']:.1f} | {r['violation_pct']:.1f} |"
        )
    return rows


if __name__ == "__main__":
    main()
