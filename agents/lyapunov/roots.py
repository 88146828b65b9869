"""Certified root search of increasing functions (``monotone_root``): the edge-share total and
the offloading step both minimise a convex cost of one variable per entry by bracketing the root of
its derivative."""

from __future__ import annotations

from typing import Any

import numpy as np

_ROOT_ITERS = 200


def monotone_root(fun: Any, lo: np.ndarray, hi: np.ndarray, tol: float, with_derivative: bool = False) -> np.ndarray:
    """Roots of increasing functions, one per entry, each bracketed: fun(lo) < 0 < fun(hi).

    Without a derivative: Illinois (regula falsi with the stale end halved) and a bisection step
    every third iteration; an entry stops once its bracket is narrower than ``tol``.
    ``with_derivative``: ``fun`` returns (value, derivative) and the step is Newton's, replaced by
    bisection whenever it leaves the bracket; an entry stops once its bracket is narrower than
    ``tol`` or a Newton step inside the bracket moves less than tol/100 (quadratic convergence).
    Either way the bracket always holds the root. Entries with lo == hi come back as they are.
    """
    lo = np.array(lo, dtype=np.float64)
    hi = np.array(hi, dtype=np.float64)

    def value(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = fun(x)
        if with_derivative:
            return np.asarray(out[0], dtype=np.float64), np.asarray(out[1], dtype=np.float64)
        return np.asarray(out, dtype=np.float64), np.zeros(x.shape)

    # The ends' values only drive the regula falsi steps (Newton's steps need none).
    f_lo = np.zeros(lo.shape) if with_derivative else value(lo)[0].copy()
    f_hi = np.zeros(hi.shape) if with_derivative else value(hi)[0].copy()
    side = np.zeros(lo.shape, dtype=np.int8)
    done = (hi - lo) <= tol
    x = 0.5 * (lo + hi)
    f, df = value(x)
    for it in range(_ROOT_ITERS):
        open_ = ~done
        zero = open_ & (f == 0.0)
        lo = np.where(open_ & (f <= 0.0), x, lo)
        hi = np.where(open_ & (f >= 0.0), x, hi)
        done |= zero | ((hi - lo) <= tol)
        if not with_derivative:
            up = open_ & (f < 0.0)
            down = open_ & (f > 0.0)
            f_lo = np.where(up, f, np.where(down & (side == 1), 0.5 * f_lo, f_lo))
            f_hi = np.where(down, f, np.where(up & (side == -1), 0.5 * f_hi, f_hi))
            side = np.where(up, -1, np.where(down, 1, side)).astype(np.int8)
        mid = 0.5 * (lo + hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if with_derivative:
                step = x - f / df
            elif it % 3 != 2:
                step = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
            else:
                step = mid
        if with_derivative:
            inside = (step >= lo) & (step <= hi)
            done |= inside & (np.abs(step - x) <= 1e-2 * tol)
        else:
            inside = (step > lo) & (step < hi)
        if done.all():
            break
        x = np.where(done, x, np.where(inside, step, mid))
        f, df = value(x)
    bracket = (hi - lo) <= tol
    return np.where(
        bracket & ~((lo <= x) & (x <= hi)), 0.5 * (lo + hi), np.where(bracket & ~with_derivative, 0.5 * (lo + hi), x)
    )
