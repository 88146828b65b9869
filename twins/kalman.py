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
        x, P = self.x[idx], self.P[idx]
        x[:, 0] += self.dt * x[:, 1]
        self.x[idx] = x
        self.P[idx] = _propagate(P, self.dt, self.Q)

    def update(self, idx: np.ndarray, pos_m: np.ndarray, speed_mps: np.ndarray) -> None:
        """Measurement update of the filters ``idx`` with z = [pos, speed] (Joseph form).

        Written out per 2 × 2 entry: numpy's stacked ``@`` and ``inv`` cost several times more
        for thousands of tiny matrices.
        """
        if idx.shape[0] == 0:
            return
        P = self.P[idx]
        p00, p01, p11 = P[:, 0, 0], P[:, 0, 1], P[:, 1, 1]
        r0, r1 = self.R[0, 0], self.R[1, 1]
        s00, s01, s11 = p00 + r0, p01, p11 + r1
        det = s00 * s11 - s01 * s01
        i00, i01, i11 = s11 / det, -s01 / det, s00 / det  # S⁻¹ (symmetric)
        k00 = p00 * i00 + p01 * i01
        k01 = p00 * i01 + p01 * i11
        k10 = p01 * i00 + p11 * i01
        k11 = p01 * i01 + p11 * i11
        y0 = pos_m - self.x[idx, 0]
        y1 = speed_mps - self.x[idx, 1]
        self.x[idx, 0] += k00 * y0 + k01 * y1
        self.x[idx, 1] += k10 * y0 + k11 * y1
        # Joseph form: (I - K) P (I - K)ᵀ + K R Kᵀ.
        a00, a01, a10, a11 = 1.0 - k00, -k01, -k10, 1.0 - k11
        b00 = a00 * p00 + a01 * p01  # B = (I - K) P
        b01 = a00 * p01 + a01 * p11
        b10 = a10 * p00 + a11 * p01
        b11 = a10 * p01 + a11 * p11
        out = np.empty_like(P)
        out[:, 0, 0] = b00 * a00 + b01 * a01 + k00 * k00 * r0 + k01 * k01 * r1
        out[:, 0, 1] = b00 * a10 + b01 * a11 + k00 * k10 * r0 + k01 * k11 * r1
        out[:, 1, 0] = b10 * a00 + b11 * a01 + k10 * k00 * r0 + k11 * k01 * r1
        out[:, 1, 1] = b10 * a10 + b11 * a11 + k10 * k10 * r0 + k11 * k11 * r1
        self.P[idx] = out

    def forecast(self, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Means (H, n, 2) and covariances (H, n, 2, 2) for h = 1..H without measurements."""
        means = np.empty((horizon, self.n, 2))
        covs = np.empty((horizon, self.n, 2, 2))
        x, P = self.x, self.P
        for h in range(horizon):  # H is a handful of steps; each step is batched over vehicles
            means[h, :, 0] = x[:, 0] + (h + 1) * self.dt * x[:, 1]
            means[h, :, 1] = x[:, 1]
            P = _propagate(P, self.dt, self.Q)
            covs[h] = P
        return means, covs


def _propagate(P: np.ndarray, dt: float, Q: np.ndarray) -> np.ndarray:
    """F P Fᵀ + Q for F = [[1, dt], [0, 1]], entry by entry over a stack of (2, 2) matrices."""
    p00, p01, p10, p11 = P[:, 0, 0], P[:, 0, 1], P[:, 1, 0], P[:, 1, 1]
    out = np.empty_like(P)
    out[:, 0, 0] = p00 + dt * (p01 + p10) + dt * dt * p11 + Q[0, 0]
    out[:, 0, 1] = p01 + dt * p11 + Q[0, 1]
    out[:, 1, 0] = p10 + dt * p11 + Q[1, 0]
    out[:, 1, 1] = p11 + Q[1, 1]
    return out
