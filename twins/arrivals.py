"""Batched online forecasters of task arrivals (bytes per slot) for every (vehicle slot, type).

Arrivals in vecgym are Poisson with a rate modulated by a persistent per-(vehicle, type) activity
level and by location (hot zones). Both forecasters here separate the two: a location profile
``g_k(x)`` pooled over all vehicles (50 m bins, learned online), and a per-(vehicle, type) level of
arrivals divided by ``g_k`` at the vehicle's position. The forecast for slot t+h is that level,
pulled towards the type's pooled mean, times ``g_k`` at the *predicted* position x̂(t+h).

* ``ewma``: the level is an exponentially weighted mean (no reversion).
* ``ar``: the level's deviation from the type mean follows a pooled AR(p) fitted online by
  recursive least squares over all vehicles (one regression per type, with forgetting).

Everything is (n_slots, K) arrays; a slot restarted for a new vehicle starts from the type mean.
"""

from __future__ import annotations

import numpy as np

BIN_M = 50.0


class LocationProfile:
    """Pooled arrivals-by-position profile per type, normalised to mean 1 along the road."""

    def __init__(self, road_length_m: float, n_types: int, alpha: float = 0.02):
        self.n_bins = max(1, int(np.ceil(road_length_m / BIN_M)))
        self.road_length_m = road_length_m
        self.alpha = alpha
        self.level = np.ones((self.n_bins, n_types))
        self.seen = np.zeros(self.n_bins, dtype=bool)

    def bins(self, x_m: np.ndarray) -> np.ndarray:
        return np.clip((x_m / BIN_M).astype(np.intp), 0, self.n_bins - 1)

    def update(self, x_m: np.ndarray, arrivals: np.ndarray, type_mean: np.ndarray) -> None:
        """Fold one slot's arrivals (n, K) of active vehicles at positions x_m (n,) into the profile."""
        if x_m.shape[0] == 0:
            return
        b = self.bins(x_m)
        count = np.bincount(b, minlength=self.n_bins)
        ratio = arrivals / np.maximum(type_mean, 1e-9)
        sums = np.zeros_like(self.level)
        np.add.at(sums, b, ratio)
        hit = count > 0
        mean_ratio = sums[hit] / count[hit][:, None]
        self.level[hit] += self.alpha * (mean_ratio - self.level[hit])
        self.seen |= hit

    def __call__(self, x_m: np.ndarray) -> np.ndarray:
        """g(x) for positions of any shape (...,) → (..., K), normalised to mean 1 over seen bins."""
        norm = self.level[self.seen].mean(axis=0) if self.seen.any() else np.ones(self.level.shape[1])
        return self.level[self.bins(x_m)] / np.maximum(norm, 1e-9)


class ArrivalForecaster:
    """Base: per-(slot, type) level on top of the pooled location profile."""

    name = "base"

    def __init__(self, n_slots: int, n_types: int, road_length_m: float, alpha: float = 0.15):
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"arrival smoothing alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.profile = LocationProfile(road_length_m, n_types)
        self.type_mean = np.zeros(n_types)  # pooled mean bytes per slot and vehicle
        self.type_var = np.zeros(n_types)
        self._have_mean = False
        self._slots = 0
        self.level = np.zeros((n_slots, n_types))

    def restart(self, idx: np.ndarray) -> None:
        """Slots ``idx`` now hold new vehicles: forget their history."""
        self.level[idx] = self.type_mean

    def update(self, active: np.ndarray, x_m: np.ndarray, arrivals: np.ndarray) -> None:
        """One slot's arrivals (n_slots, K) of the ``active`` slots at positions ``x_m``."""
        idx = np.flatnonzero(active)
        if idx.shape[0] == 0:
            return
        arr = arrivals[idx]
        # Pooled mean and variance per type: a running average over the first 100 slots, then
        # exponential forgetting (the load changes slowly with the number of vehicles).
        self._slots += 1
        a = max(1.0 / self._slots, 0.01)
        self.type_mean = self.type_mean + a * (arr.mean(axis=0) - self.type_mean)
        self.type_var = self.type_var + a * (arr.var(axis=0) - self.type_var)
        if not np.all(self.type_mean > 0.0):
            return  # nothing has arrived yet: no scale to learn the profile or the levels against
        if not self._have_mean:
            self.level[idx] = self.type_mean
            self._have_mean = True
        self.profile.update(x_m[idx], arr, self.type_mean)
        normed = arr / np.maximum(self.profile(x_m[idx]), 1e-6)
        self._update_level(idx, normed)

    def _update_level(self, idx: np.ndarray, normed: np.ndarray) -> None:
        self.level[idx] += self.alpha * (normed - self.level[idx])

    def _levels(self, horizon: int) -> np.ndarray:
        """Forecast levels (H, n_slots, K) before the location profile."""
        return np.broadcast_to(self.level, (horizon, *self.level.shape))

    def forecast(self, x_pred_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (H, n_slots, K) of arrival bytes at predicted positions ``x_pred_m`` (H, n)."""
        mean = self._levels(x_pred_m.shape[0]) * self.profile(x_pred_m)
        # Spread: the pooled per-vehicle variance scaled to the forecast level (Poisson-like).
        ratio = mean / np.maximum(self.type_mean, 1e-9)
        std = np.sqrt(np.maximum(self.type_var, 0.0) * np.maximum(ratio, 0.0))
        return mean, std


class EWMAArrivals(ArrivalForecaster):
    """Exponentially weighted level × location profile; the same level for every horizon."""

    name = "ewma"


class ARArrivals(ArrivalForecaster):
    """Pooled AR(p) on the level's deviation from the type mean, fitted by RLS with forgetting."""

    name = "ar"

    def __init__(self, n_slots: int, n_types: int, road_length_m: float, order: int = 3, forget: float = 0.999):
        super().__init__(n_slots, n_types, road_length_m, alpha=0.5)
        if order < 1:
            raise ValueError(f"AR order must be >= 1, got {order}")
        self.order = order
        self.forget = forget
        self.hist = np.zeros((n_slots, n_types, order))  # newest first: deviations of the level
        self.coef = np.zeros((n_types, order))
        self.coef[:, 0] = 0.9
        self._info = np.repeat(np.eye(order)[None] * 1e-2, n_types, axis=0)  # RLS information XᵀX

    def restart(self, idx: np.ndarray) -> None:
        super().restart(idx)
        self.hist[idx] = 0.0

    def _update_level(self, idx: np.ndarray, normed: np.ndarray) -> None:
        super()._update_level(idx, normed)
        dev = self.level[idx] - self.type_mean  # (m, K)
        X = self.hist[idx]  # (m, K, p) regressors: previous deviations
        # One recursive-least-squares step per type on the pooled batch, in information form:
        # Λ ← λΛ + XᵀX, θ ← θ + Λ⁻¹Xᵀ(y - Xθ).
        for k in range(self.coef.shape[0]):  # K is a handful of types; each step is p × p
            Xk, yk = X[:, k, :], dev[:, k]
            self._info[k] = self.forget * self._info[k] + Xk.T @ Xk
            self.coef[k] += np.linalg.solve(self._info[k], Xk.T @ (yk - Xk @ self.coef[k]))
        self.hist[idx, :, 1:] = self.hist[idx, :, :-1]
        self.hist[idx, :, 0] = dev

    def _levels(self, horizon: int) -> np.ndarray:
        out = np.empty((horizon, *self.level.shape))
        hist = self.hist.copy()
        for h in range(horizon):  # iterate the AR recursion H steps, batched over slots
            nxt = np.einsum("nkp,kp->nk", hist, self.coef)
            out[h] = np.maximum(self.type_mean + nxt, 0.0)
            hist[:, :, 1:] = hist[:, :, :-1]
            hist[:, :, 0] = nxt
        return out


FORECASTERS: dict[str, type[ArrivalForecaster]] = {"ewma": EWMAArrivals, "ar": ARArrivals}
