"""Forecast accuracy of the predictive twin against persistence, per horizon h.

    python -m benchmarks.forecast [--scenarios dynamic scalability] [--slots 1500] [--seeds 3]
                                  [--forecasters ewma ar] [--out results/forecast]

For every scenario, seed and h = 1..H it compares the twin's forecasts made after the observation
of slot t with what the observation of slot t+h holds, for the vehicles present at both:

* position x (m): against the true position (the observation's is noisy);
* full-band uplink rate (Mbit/s): against the true W·log2(1+SNR) of slot t+h, fading included;
* arrivals (bytes per vehicle and type): against the arrivals reported at t+h.

Persistence ("tomorrow = today") uses the observation of slot t. The arrival forecasters are
``ewma``, ``ar`` and, where torch is installed, the shipped ``lstm``. The driving policy offloads
everything with equal edge shares (the forecasts do not depend on it). It also times the twin's
update + forecast per slot on a 1000-vehicle road. Writes ``forecast.md`` and ``forecast.png``.
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

import agents
from twins.twin import PredictiveTwin
from vecgym import scenarios

QUANTITIES = ("position", "rate", "arrivals")


def evaluate(scenario: str, seed: int, slots: int, horizon: int, forecaster: str) -> dict[str, list[np.ndarray]]:
    """Errors ``{f"{quantity}_{model}": list per h of error arrays}`` for one episode."""
    env = scenarios.make(scenario, max_episode_steps=None)
    core: Any = env.unwrapped
    cfg = core.cfg
    twin = PredictiveTwin(cfg, horizon=horizon, arrivals=forecaster)
    agent = agents.make_agent("offload", env)
    agent.reset(seed)
    obs, info = env.reset(seed=seed)
    twin.update(obs)
    errors: dict[str, list[list[np.ndarray]]] = {
        f"{q}_{m}": [[] for _ in range(horizon)] for q in QUANTITIES for m in ("twin", "persistence")
    }
    history: list[tuple[int, Any, dict[str, np.ndarray]]] = []
    for t in range(slots):
        obs, _, _, _, info = env.step(agent.act(obs, info))
        twin.update(obs)
        sim = core.sim
        true_rate = cfg.bandwidth_hz * np.log2(1.0 + cfg.tx_power_w * sim.gain / cfg.noise_w) * 1e-6
        for t_made, fc, past in history:
            h = t - t_made - 1
            ok = fc.mask[h] & (sim.vid == fc.vehicle_id) & sim.active
            if not ok.any():
                continue
            errors["position_twin"][h].append(fc.position_m[h, ok, 0] - sim.x[ok])
            errors["position_persistence"][h].append(past["position_m"][ok, 0] - sim.x[ok])
            errors["rate_twin"][h].append(fc.rate_mbps[h, ok] - true_rate[ok])
            errors["rate_persistence"][h].append(past["rate_mbps"][ok] - true_rate[ok])
            errors["arrivals_twin"][h].append((fc.arrivals_bytes[h, ok] - obs["arrivals_bytes"][ok]).ravel())
            errors["arrivals_persistence"][h].append((past["arrivals_bytes"][ok] - obs["arrivals_bytes"][ok]).ravel())
        keep = {k: obs[k].astype(np.float64) for k in ("position_m", "rate_mbps", "arrivals_bytes")}
        history = [item for item in history if t - item[0] < horizon] + [(t, twin.forecast(), keep)]
    return {k: [np.concatenate(v) if v else np.empty(0) for v in per_h] for k, per_h in errors.items()}


def time_twin(n_vehicles: float, slots: int, seed: int) -> float:
    """Median seconds of one twin update + forecast on a road with ``n_vehicles``."""
    env = scenarios.make("dynamic", n_vehicles=n_vehicles, max_episode_steps=None)
    core: Any = env.unwrapped
    twin = PredictiveTwin(core.cfg)
    obs, _ = env.reset(seed=seed)
    zero = np.zeros((2, core.n_max, core.n_task_types), np.float32)
    times = []
    for _ in range(slots):
        obs, *_ = env.step(zero)
        t0 = time.perf_counter()
        twin.update(obs)
        twin.forecast()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[10:]))


def _mae(err: dict[str, list[np.ndarray]], key: str, h: int) -> float:
    return float(np.mean(np.abs(err[key][h])))


def _rmse(err: dict[str, list[np.ndarray]], key: str, h: int) -> float:
    return float(np.sqrt(np.mean(err[key][h] ** 2)))


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["dynamic", "scalability"])
    parser.add_argument(
        "--forecasters", nargs="+", default=None, help="arrival forecasters (default: ewma ar, and lstm with torch)"
    )
    parser.add_argument("--slots", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("results") / "forecast")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    H = args.horizon
    skipped = []
    if args.forecasters is None:
        args.forecasters = ["ewma", "ar"]
        try:
            import torch  # noqa: F401

            args.forecasters.append("lstm")
        except ImportError:
            skipped.append("lstm (torch is not installed: pip install torch==2.13.0 'vecgym[forecast]')")
    lines = [
        "# Forecast accuracy of the predictive twin",
        "",
        f"Command: `python -m benchmarks.forecast {' '.join(argv if argv is not None else sys.argv[1:])}`".rstrip(),
        f"{args.seeds} seeds × {args.slots} slots per scenario; MAE and RMSE over all vehicle-slots "
        "present at t and t+h.",
        "",
    ]
    curves: dict[str, dict[str, list[float]]] = {}
    for scenario in args.scenarios:
        for fname in args.forecasters:
            runs = [evaluate(scenario, seed, args.slots, H, fname) for seed in range(args.seeds)]
            err = {k: [np.concatenate([r[k][h] for r in runs]) for h in range(H)] for k in runs[0]}
            lines += [
                f"## `{scenario}`, arrivals forecaster `{fname}`",
                "",
                "| h | position RMSE twin (m) | persistence | rate MAE twin (Mbit/s) | persistence "
                "| arrivals MAE twin (B) | persistence | arrivals RMSE twin (B) | persistence |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for h in range(H):
                lines.append(
                    f"| {h + 1} | {_rmse(err, 'position_twin', h):.2f} | {_rmse(err, 'position_persistence', h):.2f} "
                    f"| {_mae(err, 'rate_twin', h):.2f} | {_mae(err, 'rate_persistence', h):.2f} "
                    f"| {_mae(err, 'arrivals_twin', h):.0f} | {_mae(err, 'arrivals_persistence', h):.0f} "
                    f"| {_rmse(err, 'arrivals_twin', h):.0f} | {_rmse(err, 'arrivals_persistence', h):.0f} |"
                )
            last = H - 1
            ratio_pos = np.sqrt(np.mean(err["position_persistence"][last] ** 2)) / np.sqrt(
                np.mean(err["position_twin"][last] ** 2)
            )
            gain_rate = 1 - np.mean(np.abs(err["rate_twin"][last])) / np.mean(np.abs(err["rate_persistence"][last]))
            gain_arr = 1 - np.mean(np.abs(err["arrivals_twin"][last])) / np.mean(
                np.abs(err["arrivals_persistence"][last])
            )
            lines += [
                "",
                f"At h = {H}: position RMSE {ratio_pos:.1f}× lower than persistence; rate MAE "
                f"{100 * gain_rate:.0f}% lower; arrivals MAE {100 * gain_arr:.0f}% lower.",
                "",
            ]
            curves[f"{scenario}/{fname}"] = {
                "position": [float(np.sqrt(np.mean(err["position_twin"][h] ** 2))) for h in range(H)],
                "position_p": [float(np.sqrt(np.mean(err["position_persistence"][h] ** 2))) for h in range(H)],
                "rate": [float(np.mean(np.abs(err["rate_twin"][h]))) for h in range(H)],
                "rate_p": [float(np.mean(np.abs(err["rate_persistence"][h]))) for h in range(H)],
                "arrivals": [float(np.mean(np.abs(err["arrivals_twin"][h]))) for h in range(H)],
                "arrivals_p": [float(np.mean(np.abs(err["arrivals_persistence"][h]))) for h in range(H)],
            }
    t1000 = time_twin(1000.0, 200, 0)
    if skipped:
        lines += ["Skipped arrival forecasters: " + "; ".join(skipped), ""]
    lines += [
        "## Speed",
        "",
        f"Twin update + forecast, 1000 vehicles (dynamic road), one core: {1e3 * t1000:.2f} ms per slot (median).",
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
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    titles = ("position RMSE (m)", "rate MAE (Mbit/s)", "arrivals MAE (bytes)")
    for ax, key, title in zip(axes, ("position", "rate", "arrivals"), titles, strict=True):
        for name, c in curves.items():
            (line,) = ax.plot(hs, c[key], marker="o", label=f"twin {name}")
            ax.plot(hs, c[f"{key}_p"], ls="--", color=line.get_color(), label=f"persistence {name}")
        ax.set(xlabel="horizon h (slots)", title=title)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
