"""One FIFO over one time slot as a fluid: the area under its content, what it carries over, and
the sensitivity of both to the content it starts with (``agents.horizon``: **Fluid queues**).

A queue starts the slot with content X, receives inflow a spread evenly over the slot and can
serve C in the slot (all in the same unit: cycles or bits). Its content is
X(t) = X + (a - C)·t/τ until it empties (at t_e, when a < C), then stays 0:

    t_e  = τ                        if a >= C
         = min(τ, X·τ/(C - a))      otherwise
    area = X·t_e + (a - C)·t_e²/(2τ)          (unit-seconds: the QoS a price per unit-second costs)
    X'   = max(0, X + a - C)                  (the carry-over into the next slot)

d area / dX = t_e exactly (at t_e < τ the queue is empty, so the term in dt_e/dX vanishes), and
dX'/dX = 1 while the queue ends the slot non-empty, else 0: the backward pass of ``model`` uses both.
"""

from __future__ import annotations

import numpy as np


def empty_time(x: np.ndarray, a: np.ndarray, c: np.ndarray, tau: float) -> np.ndarray:
    """t_e: when the queue empties within the slot, τ if it does not."""
    drain = c - a
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(drain > 0.0, x * tau / np.where(drain > 0.0, drain, 1.0), tau)
    return np.minimum(t, tau)


def slot(x: np.ndarray, a: np.ndarray, c: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(area, carry-over X', t_e) of a fluid FIFO over one slot, elementwise."""
    t_e = empty_time(x, a, c, tau)
    area = x * t_e + (a - c) * t_e * t_e / (2.0 * tau)
    return np.maximum(area, 0.0), np.maximum(x + a - c, 0.0), t_e


def drain_area(x: np.ndarray, rate: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Area (unit-seconds) to drain a leftover ``x`` at ``rate`` (units/s) while new work keeps
    ``load`` (0..1) of the rate busy: x²/(2·rate·(1 - load)). The terminal cost of the horizon;
    ``load`` is clipped to 0.9 so an overloaded queue's cost stays finite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * x / (2.0 * np.maximum(rate, 1e-300) * (1.0 - np.clip(load, 0.0, 0.9)))
    return np.where(x > 0.0, out, 0.0)


#: The M/G/1 wait's 1/(1 - ρ) is held at its value at this load above it: past it the fluid
#: area (the backlog that builds) carries the cost of an overload.
MAX_WAIT_LOAD = 0.5


def mg1_wait(second_moment: np.ndarray, rate: np.ndarray | float, load: np.ndarray, tau: float) -> np.ndarray:
    """Pollaczek-Khinchine mean wait (s) of the tasks arriving in a slot at a FIFO of ``rate``
    (units/s): λ·E[S²]/(2·(1 - ρ)) with λ·E[S²] = Σ n·s²·(1 + CV²) / (τ·rate²) (``second_moment``
    is that sum, in units²), ρ = ``load``. The stochastic wait of a Poisson stream the fluid, which
    queues only when the slot's work exceeds the capacity, does not see."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = second_moment / (2.0 * tau * rate * rate * (1.0 - np.minimum(load, MAX_WAIT_LOAD)))
    return np.where(np.asarray(rate) > 0.0, out, 0.0)
