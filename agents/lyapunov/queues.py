"""Queue-delay models in the reward's units: a vehicle FIFO (own service, M/G/1 wait, backlog
drain), the edge server's pooled M/G/1 wait, and the tangent-continued 1/z that keeps an overload
finite, C¹ and convex (``agents.lyapunov``: **Vehicle FIFOs**, **Edge**)."""

from __future__ import annotations

import math

import numpy as np

from vecgym.config import VECConfig

_STABLE_EPS = 0.02
"""A FIFO's cost follows 1/(r - λ) down to a spare rate of this fraction of r (a spare share of
this much for the edge server), then its tangent."""


def _inv(z: np.ndarray, thr: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """1/z and d(1/z)/dz for z ≥ thr; below thr the tangent at thr (C¹, convex). 0 where thr ≤ 0."""
    thr = np.asarray(thr, dtype=np.float64)
    if thr.shape != np.shape(z):  # broadcast_to is slow on small arrays: only when needed
        thr = np.broadcast_to(thr, np.shape(z))
    ok = thr > 0.0
    t = np.where(ok, thr, 1.0)
    above = z >= t
    zs = np.where(above, z, 1.0)
    val = np.where(above, 1.0 / zs, (2.0 * t - z) / (t * t))
    der = np.where(above, -1.0 / (zs * zs), -1.0 / (t * t))
    return np.where(ok, val, 0.0), np.where(ok, der, 0.0)


def size_moment(cfg: VECConfig) -> np.ndarray:
    """E[X²]/E[X]² = 1 + CV² of each type's task size (uniform on its range), (K,)."""
    sizes = np.asarray(cfg.per_type("task_size_bytes"), dtype=np.float64)
    lo, hi = sizes[:, 0], sizes[:, 1]
    return 1.0 + (hi - lo) ** 2 / (3.0 * (hi + lo) ** 2)


def fifo_cost(
    n: np.ndarray,
    size: np.ndarray,
    m2: np.ndarray,
    q: np.ndarray,
    backlog: np.ndarray,
    psi_b: np.ndarray,
    size_b: np.ndarray,
    rate: np.ndarray,
    tau: float,
) -> np.ndarray:
    """The QoS cost (H, M) of a FIFO of rate r fed this slot n_k tasks of size s_k (price q_k,
    size moment m2_k) and holding a backlog B (price ψ_B per unit-second, task size s_B):

        Σ_k q_k·n_k·s_k/r                                    own service of the new tasks
      + (Σ_k q_k·n_k)·(Σ_k n_k·s_k²·m2_k) / (2·τ·r·(r - λ))  M/G/1 wait (Pollaczek-Khinchine)
      + ψ_B·B²/(2·(r - λ)) + ψ_B·B·s_B/(2·r)                 the backlog drains (fluid, arrivals behind)

    with λ = Σ n_k·s_k/τ; 1/(r - λ) continues along its tangent below r - λ = 0.02·r. Shapes: n
    (H, M, K); size, m2, q broadcast to it; backlog, psi_b, size_b (M,); rate (H, M) (0: no
    link, cost 0 and the caller keeps n = 0).
    """
    ok = rate > 0.0
    r = np.where(ok, rate, 1.0)
    Y = (n * size).sum(2)
    T, _ = _inv(rate - Y / tau, _STABLE_EPS * rate)
    Qn = (q * n).sum(2)
    V = (n * size * size * m2).sum(2)
    cost = (psi_b * backlog * backlog / 2.0 + Qn * V / (2.0 * tau * r)) * T
    cost = cost + (psi_b * backlog * size_b / 2.0 + (q * n * size).sum(2)) / r
    return np.where(ok, cost, 0.0)


def pooled_wait_cost(
    qn: np.ndarray, v: np.ndarray, S: np.ndarray, load: np.ndarray, F: float, tau: float
) -> np.ndarray:
    """M/G/1 wait of a server's new tasks as one pool of rate S·F (the shares follow the work from
    slot to slot): (Σ q·n)·(Σ n·s²·m2) / (2·τ·F²·S·(S - L)); per server."""
    T, _ = _inv(np.asarray(S, dtype=np.float64) - load, _STABLE_EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(S > 0.0, qn * v / (2.0 * tau * F * F * np.where(S > 0.0, S, 1.0)) * T, 0.0)
    return np.where((qn * v > 0.0) & (S <= 0.0), math.inf, out)
