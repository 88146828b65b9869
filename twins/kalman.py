"""A batched constant-velocity Kalman filter along the road, in numpy.

One filter per vehicle slot, all advanced by the same few array operations (no per-vehicle Python
loop): state ``[x_m, v_mps]``, transition ``F = [[1, τ], [0, 1]]``, white-noise acceleration of
variance ``accel_std²`` (``Q`` = filterpy's ``Q_discrete_white_noise(2, τ, accel_std²)``), and a
measurement of both position (GPS) and speed. The update uses the Joseph form, exactly as
filterpy's ``KalmanFilter`` does, which the tests use as an oracle.
"""

from __future__ import annotations

import numpy as np


class ConstantVelocityKF:
    """``n`` independent 2-state filters; slots are (re)started with ``start`` and may be idle."""

    def __init__(self, n: int, dt_s: float, accel_std_mps2: float, pos_std_m: float, speed_std_mps: float):
        if n < 1 or dt_s <= 0 or accel_std_mps2 < 0 or pos_std_m < 0 or speed_std_mps < 0:
            raise ValueError("ConstantVelocityKF needs n >= 1, dt_s > 0 and non-negative noise levels")
        self.n = n
        self.dt = dt_s
        self.F = np.array([[1.0, dt_s], [0.0, 1.0]])
        q = accel_std_mps2**2
        self.Q = q * np.array([[0.25 * dt_s**4, 0.5 * dt_s**3], [0.5 * dt_s**3, dt_s**2]])
        # A floor keeps the innovation covariance invertible with noiseless sensors.
        self.R = np.diag([max(pos_std_m, 1e-6) ** 2, max(speed_std_mps, 1e-6) ** 2])
        self.x = np.zeros((n, 2))
        self.P = np.zeros((n, 2, 2))
        self.P[:] = np.eye(2)

    def start(self, idx: np.ndarray, pos_m: np.ndarray, speed_mps: np.ndarray) -> None:
        """(Re)initialise the filters ``idx`` from one measurement (covariance R)."""
        self.x[idx, 0] = pos_m
        self.x[idx, 1] = speed_mps
        self.P[idx] = self.R

    def predict(self, idx: np.ndarray | slice = slice(None)) -> None:
        """x ← F x, P ← F P Fᵀ + Q for the filters ``idx``."""
        self.x[idx] = self.x[idx] @ self.F.T
        self.P[idx] = self.F @ self.P[idx] @ self.F.T + self.Q

    def update(self, idx: np.ndarray, pos_m: np.ndarray, speed_mps: np.ndarray) -> None:
        """Measurement update of the filters ``idx`` with z = [pos, speed] (Joseph form)."""
        if idx.shape[0] == 0:
            return
        P = self.P[idx]
        z = np.stack((pos_m, speed_mps), axis=1)
        y = z - self.x[idx]
        S = P + self.R
        K = P @ np.linalg.inv(S)
        self.x[idx] = self.x[idx] + np.einsum("nij,nj->ni", K, y)
        I_K = np.eye(2) - K
        self.P[idx] = I_K @ P @ np.swapaxes(I_K, 1, 2) + K @ self.R @ np.swapaxes(K, 1, 2)

    def forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Means (H, n, 2) and covariances (H, n, 2, 2) for h = 1..H without measurements."""
        means = np.empty((horizon, self.n, 2))
        covs = np.empty((horizon, self.n, 2, 2))
        x, P = self.x, self.P
        for h in range(horizon):  # H is a handful of steps; each step is batched over vehicles
            x = x @ self.F.T
            P = self.F @ P @ self.F.T + self.Q
            means[h], covs[h] = x, P
        return means, covs
