"""A small LSTM arrival forecaster (extra ``forecast``: torch), with weights shipped in the package.

It shares the decomposition of ``twins.arrivals``: arrivals of (vehicle, type) divided by the
pooled type mean and the pooled location profile give a normalised activity series; a one-layer
LSTM (input 1, hidden ``HIDDEN``) reads it one slot at a time, keeping one state per series, and a
linear head predicts the next H normalised values, which are multiplied back by the type mean and
the profile at the predicted positions. ``python -m twins.train`` trains it on simulator data and
writes ``twins/weights/lstm_arrivals.npz``; loading needs no download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .arrivals import ArrivalForecaster

WEIGHTS = Path(__file__).with_name("weights") / "lstm_arrivals.npz"
HIDDEN = 16
HORIZON = 5


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "the 'lstm' arrival forecaster needs torch: pip install torch==2.13.0 'vecgym[forecast]'"
        ) from exc
    return torch


def build_model(hidden: int = HIDDEN, horizon: int = HORIZON) -> Any:
    """The network: ``LSTMCell(1, hidden)`` and ``Linear(hidden, horizon)`` in a ``ModuleDict``."""
    torch = _torch()
    return torch.nn.ModuleDict({"cell": torch.nn.LSTMCell(1, hidden), "head": torch.nn.Linear(hidden, horizon)})


def load_model(path: Path | str = WEIGHTS) -> Any:
    """The trained network from an ``.npz`` of its state dict; errors name what is wrong."""
    torch = _torch()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LSTM weights not found at {path}; train them with: python -m twins.train")
    model = build_model()
    expected = model.state_dict()
    with np.load(path) as data:
        missing = sorted(set(expected) - set(data.files))
        if missing:
            raise ValueError(f"LSTM weights {path} lack {missing}; retrain with: python -m twins.train")
        state = {}
        for key, ref in expected.items():
            arr = data[key]
            if tuple(arr.shape) != tuple(ref.shape):
                raise ValueError(
                    f"LSTM weights {path}: '{key}' has shape {arr.shape}, expected {tuple(ref.shape)} "
                    f"(hidden={HIDDEN}, horizon={HORIZON}); retrain with: python -m twins.train"
                )
            state[key] = torch.as_tensor(arr, dtype=torch.float32)
    model.load_state_dict(state)
    model.eval()
    return model


class LSTMArrivals(ArrivalForecaster):
    """Arrival forecaster whose level is an LSTM's H-step forecast of the normalised series."""

    name = "lstm"

    def __init__(self, n_slots: int, n_types: int, road_length_m: float, weights: Path | str = WEIGHTS):
        super().__init__(n_slots, n_types, road_length_m)
        self.torch = _torch()
        self.model = load_model(weights)
        self.n_series = n_slots * n_types
        self.h = self.torch.zeros(self.n_series, HIDDEN)
        self.c = self.torch.zeros(self.n_series, HIDDEN)
        self.pred = np.ones((HORIZON, n_slots, n_types))

    def restart(self, idx: np.ndarray) -> None:
        super().restart(idx)
        series = (idx[:, None] * self.level.shape[1] + np.arange(self.level.shape[1])).ravel()
        rows = self.torch.as_tensor(series, dtype=self.torch.long)
        self.h[rows] = 0.0
        self.c[rows] = 0.0
        self.pred[:, idx] = 1.0

    def _update_level(self, idx: np.ndarray, normed: np.ndarray) -> None:
        super()._update_level(idx, normed)
        k = self.level.shape[1]
        series = (idx[:, None] * k + np.arange(k)).ravel()
        rows = self.torch.as_tensor(series, dtype=self.torch.long)
        x = normed / np.maximum(self.type_mean, 1e-9)  # activity relative to the type mean
        with self.torch.no_grad():
            inp = self.torch.as_tensor(x.reshape(-1, 1), dtype=self.torch.float32)
            h, c = self.model["cell"](inp, (self.h[rows], self.c[rows]))
            self.h[rows], self.c[rows] = h, c
            out = self.model["head"](h).numpy().astype(np.float64)  # (m·K, H)
        self.pred[:, idx] = np.maximum(out.T.reshape(HORIZON, idx.shape[0], k), 0.0)

    def _levels(self, horizon: int) -> np.ndarray:
        if horizon > HORIZON:
            raise ValueError(f"the shipped LSTM forecasts {HORIZON} slots; horizon {horizon} is too long")
        return self.pred[:horizon] * self.type_mean
