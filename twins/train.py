"""Train the LSTM arrival forecaster on simulator data and write its weights into the package.

    OMP_NUM_THREADS=1 python -m twins.train [--seeds 4] [--slots 1500] [--epochs 6] [--out PATH]

Data: ``VEC-v0`` roads (static and dynamic speeds, N = 10, 20 and 30), every task offloaded. The
normalised series the forecaster sees at run time (arrivals / (type mean · location profile),
computed by the same online ``twins.arrivals`` machinery) is recorded per vehicle; each training
window of 64 slots asks the network for the next 5 values after every slot (MSE). The held-out
seed's MAE against an EWMA of the same series is printed. Seeds make the run repeatable.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import vecgym

from .arrivals import EWMAArrivals
from .lstm import HIDDEN, HORIZON, WEIGHTS, load_model

WINDOW = 64


@dataclass
class Args:
    seeds: int = 4
    """Training roads per configuration (one more is held out for validation)."""
    slots: int = 1500
    """Slots per road."""
    epochs: int = 6
    lr: float = 3e-3
    batch: int = 256
    seed: int = 0
    out: Path = WEIGHTS


class _Recorder(EWMAArrivals):
    """The online EWMA forecaster, recording the normalised series it computes each slot."""

    def __init__(self, n: int, k: int, road: float):
        super().__init__(n, k, road)
        self.current = np.full((n, k), np.nan)

    def _update_level(self, idx: np.ndarray, normed: np.ndarray) -> None:
        super()._update_level(idx, normed)
        self.current[:] = np.nan
        self.current[idx] = normed / np.maximum(self.type_mean, 1e-9)


def series_from_road(n_vehicles: float, dynamic: bool, seed: int, slots: int) -> list[np.ndarray]:
    """Normalised arrival series, one per (vehicle, type), from one simulated road."""
    env = vecgym.VECEnv(n_vehicles=n_vehicles, dynamic_speed=dynamic)
    rec = _Recorder(env.n_max, env.n_task_types, env.cfg.road_length_m)
    obs, _ = env.reset(seed=seed)
    action = np.zeros((2, env.n_max, env.n_task_types), np.float32)
    runs: dict[tuple[int, int], list[float]] = {}
    done: list[np.ndarray] = []
    for _ in range(slots):
        active = obs["active"].astype(bool)
        action[0] = active[:, None]
        action[1] = active[:, None] / max(int(active.sum()) * env.n_task_types, 1)
        obs, *_ = env.step(action)
        rec.update(obs["active"].astype(bool), env.sim.x, obs["arrivals_bytes"].astype(np.float64))
        live = set()
        for n in np.flatnonzero(obs["active"]):
            vid = int(obs["vehicle_id"][n])
            for k in range(env.n_task_types):
                value = rec.current[n, k]
                if np.isfinite(value):
                    runs.setdefault((vid, k), []).append(float(value))
                    live.add((vid, k))
        for key in [key for key in runs if key not in live]:
            done.append(np.asarray(runs.pop(key)))
    done.extend(np.asarray(v) for v in runs.values())
    return [s for s in done if s.shape[0] > WINDOW + HORIZON]


def windows(series: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (B, WINDOW) and targets (B, WINDOW, H): the next H values after every slot."""
    xs, ys = [], []
    for s in series:
        for start in range(0, s.shape[0] - WINDOW - HORIZON, WINDOW // 2):
            seg = s[start : start + WINDOW + HORIZON]
            xs.append(seg[:WINDOW])
            ys.append(np.stack([seg[h + 1 : h + 1 + WINDOW] for h in range(HORIZON)], axis=-1))
    order = rng.permutation(len(xs))
    return np.asarray(xs)[order], np.asarray(ys)[order]


def collect(seeds: list[int], slots: int) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for n in (10.0, 20.0, 30.0):
        for dynamic in (False, True):
            for seed in seeds:
                out += series_from_road(n, dynamic, seed, slots)
    return out


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in vars(Args()).items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    args = Args(**vars(parser.parse_args(argv)))
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    train = collect(list(range(args.seed, args.seed + args.seeds)), args.slots)
    valid = collect([args.seed + 1000], args.slots)
    x_tr, y_tr = windows(train, rng)
    x_va, y_va = windows(valid, rng)
    print(f"data: {x_tr.shape[0]} training and {x_va.shape[0]} validation windows ({time.perf_counter() - t0:.0f} s)")

    lstm = torch.nn.LSTM(1, HIDDEN, batch_first=True)
    head = torch.nn.Linear(HIDDEN, HORIZON)
    opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=args.lr)
    xt = torch.as_tensor(x_tr[..., None], dtype=torch.float32)
    yt = torch.as_tensor(y_tr, dtype=torch.float32)
    xv = torch.as_tensor(x_va[..., None], dtype=torch.float32)
    for epoch in range(args.epochs):
        perm = torch.randperm(xt.shape[0])
        total = 0.0
        for i in range(0, xt.shape[0], args.batch):
            b = perm[i : i + args.batch]
            out, _ = lstm(xt[b])
            loss = torch.mean((head(out) - yt[b]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * b.shape[0]
        with torch.no_grad():
            pred = head(lstm(xv)[0]).numpy()
        burn = 16  # the first slots of a window start from an empty state
        mae = np.mean(np.abs(pred[:, burn:] - y_va[:, burn:]), axis=(0, 1))
        print(f"epoch {epoch + 1}: train MSE {total / xt.shape[0]:.4f}, validation MAE by h {np.round(mae, 3)}")

    # Baseline on the same validation windows: EWMA (alpha 0.15) of the series, flat over h.
    ewma = np.zeros_like(x_va)
    for t in range(x_va.shape[1]):
        ewma[:, t] = x_va[:, t] if t == 0 else ewma[:, t - 1] + 0.15 * (x_va[:, t] - ewma[:, t - 1])
    mae_ewma = np.mean(np.abs(ewma[:, burn:, None] - y_va[:, burn:]), axis=(0, 1))
    print(f"EWMA validation MAE by h {np.round(mae_ewma, 3)}")

    state = {f"cell.{k.replace('_l0', '')}": v.detach().numpy() for k, v in lstm.state_dict().items()}
    state.update({f"head.{k}": v.detach().numpy() for k, v in head.state_dict().items()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **state)
    load_model(args.out)  # the run-time network (LSTMCell + head) accepts the trained weights
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB) in {time.perf_counter() - t0:.0f} s")
    return args.out


if __name__ == "__main__":
    main()
