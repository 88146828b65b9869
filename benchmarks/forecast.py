"""Forecast accuracy of the predictive twin (v2) against persistence and EWMA baselines, per h.

    python -m benchmarks.forecast [--scenarios dynamic corridor] [--slots 600] [--seeds 2]
                                  [--forecasters ewma] [--horizon 5] [--out results/forecast]

For every scenario, seed and h = 1..H it compares the twin's forecasts made after the observation
of slot t with the truth of slot t+h, for the vehicles present at both:

* position x (m): against the true position (the observation's is noisy);
* full-band uplink rate (Mbit/s): against the true W·min(log2(1+SNR), se_max) of slot t+h, fading
  included, 0 in a coverage gap (what ``rate_mbps`` reports without its sensor noise);
* arrivals (bytes per vehicle and type): against the arrivals reported at t+h;
* server load (cycles per server): the cycles of the tasks arriving in slot t+h at the vehicles
  each RSU serves then (arrival bytes × cycles per byte: the load under full offloading), against
  the twin's ``server_work_cycles``;
* time to handover (s): the twin's ``time_to_handover_s`` made at t against the time at which the
  vehicle's serving cell did change (the crossing, interpolated between the true positions of the
  two slots around it), for the forecasts followed by an observed change; bucketed by that true
  time. Persistence there is the observation's ``distance_to_handover_m`` / ``speed_mps``.

Baselines: persistence ("tomorrow = today", the observation of slot t) and an EWMA (α = 0.3) of the
vehicle's own past reports (rate, arrivals) or of each server's past load. At the end of each
episode it reports the twin's radio-map RMSE (dB) against the true shadowing field over the
visited (RSU, lane, 10 m bin) cells. The driving policy offloads everything with equal small edge
shares (the forecasts do not depend on it). It also times the twin's update + forecast per slot
(corridor at N = 90, and a 1000-vehicle road). Writes ``forecast.md`` and ``forecast.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from twins.twin import PredictiveTwin
from vecgym import scenarios
from vecgym.core import cells, radio

QUANTITIES = ("position", "rate", "arrivals", "load")
MODELS = ("twin", "persistence", "ewma")
ALPHA = 0.3
TTH_BUCKETS = ((0.0, 1.0), (1.0, 5.0), (5.0, np.inf))


def _full_offload(core: Any) -> np.ndarray:
    M, K = core.n_max, core.n_task_types
    return np.stack((np.ones((M, K)), np.full((M, K), 1.0 / (M * K)))).astype(np.float32)


def _true_rate_mbps(sim: Any, cfg: Any) -> np.ndarray:
    snr = cfg.tx_power_w * sim.gain / radio.noise_w(cfg.bandwidth_hz, cfg)
    rate = radio.rate_bps(np.full(snr.shape, cfg.bandwidth_hz), snr, cfg.max_spectral_efficiency) * 1e-6
    return np.where(sim.active & (sim.cell >= 0), rate, 0.0)


def _server_load(obs: dict[str, np.ndarray], cpb: np.ndarray, n_servers: int) -> np.ndarray:
    cyc = obs["arrivals_bytes"].astype(np.float64) @ cpb
    served = (obs["active"] > 0) & (obs["cell"] >= 0)
    return np.bincount(obs["cell"][served], weights=cyc[served], minlength=n_servers)


def evaluate(scenario: str, seed: int, slots: int, horizon: int, forecaster: str) -> dict[str, Any]:
    """Errors ``{f"{quantity}_{model}": list per h of error arrays}``, ``tth_*`` arrays (error,
    true time) and the end-of-episode radio-map error, for one episode."""
    env = scenarios.make(scenario, max_episode_steps=None)
    core: Any = env.unwrapped
    cfg = core.cfg
    M, S = core.n_max, cfg.n_servers
    cpb = np.asarray(cfg.per_type("cycles_per_byte"), dtype=np.float64)
    twin = PredictiveTwin(cfg, horizon=horizon, arrivals=forecaster)
    action = _full_offload(core)
    obs, _ = env.reset(seed=seed)
    sim = core.sim
    errors: dict[str, list[list[np.ndarray]]] = {
        f"{q}_{m}": [[] for _ in range(horizon)] for q in QUANTITIES for m in MODELS
    }
    del errors["position_ewma"]
    # Per-vehicle EWMA of own reports, per-server EWMA of load.
    vid_prev = np.full(M, -1)
    ew_rate = np.zeros(M)
    ew_arr = np.zeros((M, cfg.n_task_types))
    ew_load = np.zeros(S)
    # Handover-time bookkeeping (t indexes observations: 0 = reset).
    tth_twin = np.full((slots + 1, M), np.nan)
    tth_pers = np.full((slots + 1, M), np.nan)
    first = np.zeros(M, dtype=np.int64)
    cell_prev = np.full(M, -2)
    x_prev = np.zeros(M)
    tth_err: dict[str, list[np.ndarray]] = {"twin": [], "persistence": []}
    tth_true: list[np.ndarray] = []
    history: list[tuple[int, Any, dict[str, np.ndarray]]] = []
    tau = cfg.slot_s
    for t in range(slots + 1):
        if t > 0:
            obs, *_ = env.step(action)
        active = obs["active"] > 0
        vid = np.where(active, obs["vehicle_id"], -1)
        twin.update(obs)
        true_rate = _true_rate_mbps(sim, cfg)
        load = _server_load(obs, cpb, S)
        # Score the forecasts made at t - h.
        for t_made, fc, past in history:
            h = t - t_made - 1
            ok = fc.mask[h] & (sim.vid == fc.vehicle_id) & sim.active
            for m, pred in (
                ("twin", fc.server_work_cycles[h]),
                ("persistence", past["load"]),
                ("ewma", past["ew_load"]),
            ):
                errors[f"load_{m}"][h].append(pred - load)
            if not ok.any():
                continue
            errors["position_twin"][h].append(fc.position_m[h, ok, 0] - sim.x[ok])
            errors["position_persistence"][h].append(past["position_m"][ok, 0] - sim.x[ok])
            errors["rate_twin"][h].append(fc.rate_mbps[h, ok] - true_rate[ok])
            errors["rate_persistence"][h].append(past["rate_mbps"][ok] - true_rate[ok])
            errors["rate_ewma"][h].append(past["ew_rate"][ok] - true_rate[ok])
            arr = obs["arrivals_bytes"][ok].astype(np.float64)
            errors["arrivals_twin"][h].append((fc.arrivals_bytes[h, ok] - arr).ravel())
            errors["arrivals_persistence"][h].append((past["arrivals_bytes"][ok] - arr).ravel())
            errors["arrivals_ewma"][h].append((past["ew_arr"][ok] - arr).ravel())
        # Handover times: resolve the pending forecasts of vehicles whose cell just changed.
        same = active & (vid == vid_prev)
        changed = np.flatnonzero(same & (obs["cell"] != cell_prev))
        if changed.shape[0] and t > 0:
            d = cells.distance_to_change_m(x_prev[changed], None, cfg)
            step = np.maximum(sim.x[changed] - x_prev[changed], 1e-9)
            t_cross = (t - 1 + np.clip(d / step, 0.0, 1.0)) * tau
            for j, n in enumerate(changed):  # a few vehicles per slot
                rows = np.arange(first[n], t)
                true = t_cross[j] - rows * tau
                tth_true.append(true)
                tth_err["twin"].append(tth_twin[rows, n] - true)
                tth_err["persistence"].append(tth_pers[rows, n] - true)
            first[changed] = t
        fresh = active & ~same
        first[fresh] = t
        cell_prev = np.where(active, obs["cell"], -2)
        x_prev = sim.x.copy()
        # Baselines' state.
        ew_rate = np.where(fresh, obs["rate_mbps"], ew_rate + ALPHA * (obs["rate_mbps"] - ew_rate))
        ew_arr = np.where(fresh[:, None], obs["arrivals_bytes"], ew_arr + ALPHA * (obs["arrivals_bytes"] - ew_arr))
        ew_load = load.copy() if t == 0 else ew_load + ALPHA * (load - ew_load)
        vid_prev = vid
        fc = twin.forecast()
        tth_twin[t] = np.where(active, fc.time_to_handover_s, np.nan)
        speed = np.maximum(obs["speed_mps"].astype(np.float64), 1e-9)
        tth_pers[t] = np.where(active, obs["distance_to_handover_m"] / speed, np.nan)
        keep = {k: obs[k].astype(np.float64) for k in ("position_m", "rate_mbps", "arrivals_bytes")}
        keep.update(load=load, ew_load=ew_load.copy(), ew_rate=ew_rate.copy(), ew_arr=ew_arr.copy())
        history = [item for item in history if t - item[0] < horizon] + [(t, fc, keep)]
    out: dict[str, Any] = {k: [np.concatenate(v) if v else np.empty(0) for v in per_h] for k, per_h in errors.items()}
    out["tth_true"] = np.concatenate(tth_true) if tth_true else np.empty(0)
    for m in ("twin", "persistence"):
        out[f"tth_{m}"] = np.concatenate(tth_err[m]) if tth_err[m] else np.empty(0)
    out["map_rmse_db"], out["map_visited"] = twin.radio_map.error_db(sim.engine.radio_map[0], cfg)
    out["map_prior_rmse_db"] = float(np.sqrt(np.mean(sim.engine.radio_map[0] ** 2)))
    return out


def time_twin(scenario: str, slots: int, seed: int, **overrides: Any) -> float:
    """Median seconds of one twin update + forecast on ``scenario``."""
    env = scenarios.make(scenario, max_episode_steps=None, **overrides)
    core: Any = env.unwrapped
    twin = PredictiveTwin(core.cfg)
    obs, _ = env.reset(seed=seed)
    action = _full_offload(core)
    times = []
    for _ in range(slots):
        obs, *_ = env.step(action)
        t0 = time.perf_counter()
        twin.update(obs)
        twin.forecast()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[10:]))


def _mae(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.mean(np.abs(x))) if x.size else float("nan")


def _rmse(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) if x.size else float("nan")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["dynamic", "corridor"])
    parser.add_argument("--forecasters", nargs="+", default=["ewma"], help="arrival forecasters (ewma, ar, lstm)")
    parser.add_argument("--slots", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("results") / "forecast")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    H = args.horizon
    lines = [
        "# Forecast accuracy of the predictive twin (v2)",
        "",
        f"Command: `python -m benchmarks.forecast {' '.join(argv if argv is not None else sys.argv[1:])}`".rstrip(),
        "",
        f"{args.seeds} seeds × {args.slots} slots per scenario. MAE over all vehicle-slots present at t and "
        "t+h (position: RMSE too; server load: over servers and slots). Baselines: persistence (the "
        f"observation of slot t) and an EWMA (α = {ALPHA}) of the vehicle's own reports / the server's "
        "past load. Rate truth: the full-band rate of slot t+h with its fading, 0 in a gap.",
        "",
    ]
    curves: dict[str, dict[str, list[float]]] = {}
    for scenario in args.scenarios:
        for fname in args.forecasters:
            t0 = time.perf_counter()
            runs = [evaluate(scenario, seed, args.slots, H, fname) for seed in range(args.seeds)]
            err = {
                k: [np.concatenate([r[k][h] for r in runs]) for h in range(H)]
                for k in runs[0]
                if "_" in k and k.split("_")[0] in QUANTITIES
            }
            lines += [
                f"## `{scenario}`, arrivals forecaster `{fname}` ({time.perf_counter() - t0:.0f} s)",
                "",
                "| h | position RMSE twin (m) | persistence | rate MAE twin (Mbit/s) | persistence | EWMA "
                "| arrivals MAE twin (B) | persistence | EWMA | server load MAE twin (Gcycles) | persistence | EWMA |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for h in range(H):
                g = {k: _mae(v[h]) for k, v in err.items()}
                lines.append(
                    f"| {h + 1} | {_rmse(err['position_twin'][h]):.2f} | {_rmse(err['position_persistence'][h]):.2f} "
                    f"| {g['rate_twin']:.2f} | {g['rate_persistence']:.2f} | {g['rate_ewma']:.2f} "
                    f"| {g['arrivals_twin']:.0f} | {g['arrivals_persistence']:.0f} | {g['arrivals_ewma']:.0f} "
                    f"| {g['load_twin'] * 1e-9:.3f} | {g['load_persistence'] * 1e-9:.3f} "
                    f"| {g['load_ewma'] * 1e-9:.3f} |"
                )
            last = H - 1
            gain = {
                q: 1 - _mae(err[f"{q}_twin"][last]) / _mae(err[f"{q}_persistence"][last])
                for q in ("rate", "arrivals", "load")
            }
            gain_ew = {
                q: 1 - _mae(err[f"{q}_twin"][last]) / _mae(err[f"{q}_ewma"][last]) for q in ("rate", "arrivals", "load")
            }
            lines += [
                "",
                f"At h = {H}: rate MAE {100 * gain['rate']:+.0f}% below persistence ({100 * gain_ew['rate']:+.0f}% "
                f"below EWMA); arrivals MAE {100 * gain['arrivals']:+.0f}% ({100 * gain_ew['arrivals']:+.0f}%); "
                f"server load MAE {100 * gain['load']:+.0f}% ({100 * gain_ew['load']:+.0f}%).",
                "",
            ]
            true = np.concatenate([r["tth_true"] for r in runs])
            e_tw = np.concatenate([r["tth_twin"] for r in runs])
            e_pe = np.concatenate([r["tth_persistence"] for r in runs])
            if true.size:
                lines += [
                    "Time to handover (forecasts followed by an observed change of serving cell):",
                    "",
                    "| true time | forecasts | MAE twin (s) | MAE persistence (d/v of the observation) (s) |",
                    "|---|---:|---:|---:|",
                ]
                for lo, hi in (*TTH_BUCKETS, (0.0, np.inf)):
                    sel = (true >= lo) & (true < hi)
                    label = "all" if (lo, hi) == (0.0, np.inf) else f"{lo:g}–{hi:g} s"
                    lines.append(f"| {label} | {int(sel.sum())} | {_mae(e_tw[sel]):.3f} | {_mae(e_pe[sel]):.3f} |")
                lines.append("")
            else:
                lines += ["Time to handover: no change of serving cell on this road (one RSU covers it).", ""]
            maps = ", ".join(
                f"seed {i}: {r['map_rmse_db']:.2f} dB over {100 * r['map_visited']:.1f}% of the cells "
                f"(prior, the zero map: {r['map_prior_rmse_db']:.2f} dB)"
                for i, r in enumerate(runs)
            )
            lines += [f"Radio-map RMSE against the true field at the episode end: {maps}.", ""]
            curves[f"{scenario}/{fname}"] = {
                f"{q}_{m}": [(_rmse if q == "position" else _mae)(err[f"{q}_{m}"][h]) for h in range(H)]
                for q in QUANTITIES
                for m in MODELS
                if f"{q}_{m}" in err
            }
    t90 = time_twin("corridor", 300, 0)
    t1000 = time_twin("dynamic", 100, 0, n_vehicles=1000.0)
    lines += [
        "## Speed",
        "",
        f"Twin update + forecast, one core (median per slot): corridor, N = 90: {1e3 * t90:.2f} ms; "
        f"1000 vehicles (dynamic road): {1e3 * t1000:.2f} ms.",
        "",
        "![forecast](forecast.png)",
        "",
    ]
    _plot(curves, H, args.out / "forecast.png")
    text = "\n".join(lines)
    (args.out / "forecast.md").write_text(text)
    print(text)
    return args.out


def _plot(curves: dict[str, dict[str, list[float]]], horizon: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hs = np.arange(1, horizon + 1)
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    titles = ("position RMSE (m)", "rate MAE (Mbit/s)", "arrivals MAE (bytes)", "server load MAE (cycles)")
    styles = {"twin": "-", "persistence": "--", "ewma": ":"}
    for ax, key, title in zip(axes, QUANTITIES, titles, strict=True):
        for name, c in curves.items():
            color = None
            for m, ls in styles.items():
                if f"{key}_{m}" in c:
                    (line,) = ax.plot(hs, c[f"{key}_{m}"], marker="o", ls=ls, color=color, label=f"{m} {name}")
                    color = line.get_color()
        ax.set(xlabel="horizon h (slots)", title=title)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
