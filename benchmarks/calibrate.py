"""The load calibration in the README (DESIGN §2): how loaded each preset is, and how far the
greedy baseline is from what any policy could do.

    python -m benchmarks.calibrate [--slots 1500] [--seeds 3] [--paper 10 20 30] [--corridor 30 60 90]

For each preset and N it runs ``go`` (the paper's greedy offloading) on the road, records every
arriving task, and reports:

* the offered load: tasks/s and Mcycles/s per vehicle;
* the **utilisation under full offloading**: per server, the mean over slots of the arriving
  cycles of the vehicles in its cell / (F_e·τ); and per cell the arriving offloadable bits / the
  cell's uplink capacity (its band times the mean capped spectral efficiency of the vehicles in
  the cell when the band is split among all of them) — both as the largest over cells;
* the **fluid bound**: the recorded stream fed to the ideal controller of ``benchmarks.fluid``
  (each vehicle's CPU takes what it can finish in time; the rest goes, with no upload time, to one
  FIFO server of rate F_e per cell that never abandons a task before the cap), miss rate =
  (late + dropped) / arrived; and beside it the same controller allowed to reject hopeless tasks
  on arrival (a reference lower bound under those idealisations);
* ``go``'s violation rate on the real road.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import agents
import vecgym
from benchmarks.fluid import ArrivalStream, fluid_bound, fluid_bound_reject
from vecgym.core import cells, radio


def _record(preset: str, n: float, slots: int, seed: int) -> dict[str, Any]:
    """Run ``go`` for ``slots`` slots; return the arrival stream, loads and go's metrics."""
    env = vecgym.VECEnv(preset=preset, n_vehicles=n)
    cfg = env.cfg
    eng = env.sim.engine
    agent = agents.make_agent("go", env)
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    eng.trace = []
    cpb = np.asarray(cfg.per_type("cycles_per_byte"))
    deadline = np.asarray(cfg.per_type("deadline_s"))
    S = cfg.n_servers
    vehicle_slots = 0
    cycles_per_cell = np.zeros((slots, S))
    bits_per_cell = np.zeros((slots, S))
    capacity = np.zeros((slots, S))
    stream: dict[str, list[np.ndarray]] = {k: [] for k in ("t", "vid", "cell", "next", "cycles", "deadline")}
    for t in range(slots):
        obs, _, _, _, info = env.step(agent.act(obs, info))
        rec = eng.trace.pop()
        vehicle_slots += int(rec["active"].sum())
        arr = rec["arrivals"]
        g = arr["g"]
        cell = rec["cell"].ravel()[g]
        x = rec["x"].ravel()[g]
        ahead = x + cells.distance_to_change_m(x, cell, cfg) + 1e-3
        nxt = np.where(cell >= 0, cell, cells.serving_cell(ahead, cfg))
        cyc = arr["size_bytes"] * cpb[arr["typ"]]
        stream["t"].append(arr["t_arr"])
        stream["vid"].append(rec["vid"].ravel()[g])
        stream["cell"].append(cell)
        stream["next"].append(nxt)
        stream["cycles"].append(cyc)
        stream["deadline"].append(deadline[arr["typ"]])
        covered = cell >= 0
        cycles_per_cell[t] = np.bincount(cell[covered], weights=cyc[covered], minlength=S)
        bits_per_cell[t] = np.bincount(cell[covered], weights=8.0 * arr["size_bytes"][covered], minlength=S)
        capacity[t] = _uplink_capacity_bps(rec, cfg) * cfg.slot_s
    order = np.argsort(np.concatenate(stream["t"]), kind="stable")
    cat = {k: np.concatenate(v)[order] for k, v in stream.items()}
    arrivals = ArrivalStream(
        t_arr_s=cat["t"],
        vehicle=cat["vid"],
        cell=cat["cell"],
        cycles=cat["cycles"],
        deadline_s=cat["deadline"],
        vehicle_cpu_hz=cfg.vehicle_cpu_hz,
        edge_cpu_hz=cfg.edge_cpu_hz,
        n_servers=S,
        cap=cfg.qos_cost_cap,
        next_cell=cat["next"],
    )
    m = env.episode_metrics()
    with np.errstate(invalid="ignore", divide="ignore"):
        u_up = bits_per_cell.sum(axis=0) / capacity.sum(axis=0)
    return {
        "stream": arrivals,
        "vehicles": vehicle_slots / slots,
        "tasks_per_vehicle_s": m["tasks_arrived"] / (vehicle_slots * cfg.slot_s),
        "u_edge": cycles_per_cell.mean(axis=0) / (cfg.edge_cpu_hz * cfg.slot_s),
        "u_uplink": u_up,
        "go_violation_pct": m["violation_rate_pct"],
    }


def _uplink_capacity_bps(rec: dict[str, Any], cfg: vecgym.VECConfig) -> np.ndarray:
    """Per cell: band × mean capped spectral efficiency when the band is split among all its vehicles."""
    S = cfg.n_servers
    act = rec["active"][0]
    cell = rec["cell"][0]
    inside = act & (cell >= 0)
    n_cell = np.bincount(cell[inside], minlength=S)
    band = cfg.bandwidth_hz / np.maximum(n_cell[cell[inside]], 1)
    snr = cfg.tx_power_w * rec["gain"][0][inside] / radio.noise_w(band, cfg)
    se = np.minimum(np.log2(1.0 + snr), cfg.max_spectral_efficiency)
    mean_se = np.bincount(cell[inside], weights=se, minlength=S) / np.maximum(n_cell, 1)
    return cfg.bandwidth_hz * mean_se


def measure(preset: str, n: float, slots: int, seed: int) -> dict[str, float]:
    """One run's calibration row."""
    rec = _record(preset, n, slots, seed)
    bound = fluid_bound(rec["stream"])
    reject = fluid_bound_reject(rec["stream"])
    cycles_rate = float(rec["stream"].cycles.sum()) / (slots * 0.1) / rec["vehicles"]
    return {
        "vehicles": rec["vehicles"],
        "tasks_per_vehicle_s": rec["tasks_per_vehicle_s"],
        "mcycles_per_vehicle_s": cycles_rate / 1e6,
        "u_edge_max": float(np.nanmax(rec["u_edge"])),
        "u_uplink_max": float(np.nanmax(rec["u_uplink"])),
        "fluid_bound_pct": 100.0 * bound.miss_rate,
        "fluid_reject_pct": 100.0 * reject.miss_rate,
        "go_violation_pct": rec["go_violation_pct"],
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper", type=float, nargs="*", default=[10, 20, 30], help="N values on the paper road")
    parser.add_argument("--corridor", type=float, nargs="*", default=[30, 60, 90], help="N values on the corridor")
    parser.add_argument("--slots", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, default=3, help="runs per row (seed, seed+1, ...), averaged")
    args = parser.parse_args(argv)
    rows = []
    for preset, ns in (("paper", args.paper), ("corridor", args.corridor)):
        for n in ns:
            runs = [measure(preset, n, args.slots, args.seed + i) for i in range(args.seeds)]
            row: dict[str, Any] = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
            row.update(preset=preset, n=n)
            rows.append(row)
    print(
        "| preset | N | vehicles | tasks/s per vehicle | Mcycles/s per vehicle | edge u (full offload, max cell) "
        "| uplink u (full offload, max cell) | fluid bound miss % | fluid bound with rejection % | go violations % |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['preset']} | {r['n']:g} | {r['vehicles']:.1f} | {r['tasks_per_vehicle_s']:.1f} "
            f"| {r['mcycles_per_vehicle_s']:.0f} "
            f"| {r['u_edge_max']:.2f} | {r['u_uplink_max']:.2f} | {r['fluid_bound_pct']:.2f} "
            f"| {r['fluid_reject_pct']:.2f} | {r['go_violation_pct']:.1f} |"
        )
    return rows


if __name__ == "__main__":
    main()
