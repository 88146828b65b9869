"""The edge-share solver: per server, the closed-form split for a total S and a certified root
search for S (``agents.lyapunov``: **Edge shares**); and the model's edge energy of a slot."""

from __future__ import annotations

import math

import numpy as np

from vecgym.config import VECConfig

from .problem import SlotProblem, edge_inputs
from .queues import _STABLE_EPS, _inv
from .roots import monotone_root


def share_objective(
    a: np.ndarray,
    c: np.ndarray,
    d: float,
    load: float,
    energy_coef: float,
    backlog_part: float = 0.0,
    budget: float = 1.0,
) -> float:
    """One server's cost (Σ_q c_q/a_q)·(1 + β·L/(S - L)) + d/(S·(S - L)) + B·S², S = Σ a, with
    β = ``backlog_part`` and 1/(S - L) tangent-continued below a spare share of 0.02 (inf if a
    queue with c_q > 0 gets no share or the budget is exceeded)."""
    S = float(a.sum())
    if S > budget * (1.0 + 1e-12) or (a < 0.0).any():
        return math.inf
    if ((c > 0.0) & (a <= 0.0)).any() or (d > 0.0 and S <= 0.0):
        return math.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        A = float(np.where(c > 0.0, c / a, 0.0).sum())
    T = float(_inv(np.array(S - load), _STABLE_EPS)[0])
    wait = d * T / S if d > 0.0 else 0.0
    return A * (1.0 + backlog_part * load * T) + wait + energy_coef * S * S


def solve_edge_shares(
    c: np.ndarray,
    d: np.ndarray | float,
    load: np.ndarray | float,
    energy_coef: np.ndarray | float,
    server: np.ndarray | None = None,
    n_servers: int = 1,
    backlog_part: np.ndarray | float = 0.0,
    budget: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Shares minimising, per server, (Σ_q c_q/a_q)·(1 + β·L/(S - L)) + d/(S·(S - L)) + B·S², S = Σ a ≤ budget.

    ``c`` (Q,) ≥ 0 per queue, ``server`` (Q,) its server (None: all at 0); ``d``, ``load`` L,
    ``energy_coef`` B and ``backlog_part`` β per server (scalars or (n_servers,)). Returns
    (a (Q,), S (n_servers,)).

    For a total S the factor (1 + β·L/(S - L)) is common to the server's queues, so the split is
    closed form, a_q = S·√c_q/R with R = Σ √c_q (Cauchy-Schwarz: Σ c/a ≥ R²/S, with equality
    there), and the server's cost is R²/S + (β·L·R² + d)·T(S - L)/S + B·S² with T = 1/z
    tangent-continued below 0.02: convex in S > 0. S is the root of its derivative, which
    increases, bracketed in (0, budget] (certified search to 1e-13), or the budget where the
    derivative is still ≤ 0 there.
    """
    c = np.maximum(np.asarray(c, dtype=np.float64), 0.0)
    server = np.zeros(c.shape, dtype=np.intp) if server is None else np.asarray(server, dtype=np.intp)
    shape = (n_servers,)
    L = np.broadcast_to(np.asarray(load, dtype=np.float64), shape)
    coef = np.broadcast_to(np.asarray(energy_coef, dtype=np.float64), shape)
    root_c = np.sqrt(c)
    R = np.bincount(server, weights=root_c, minlength=n_servers)
    D = np.broadcast_to(np.asarray(d, dtype=np.float64), shape) + np.asarray(backlog_part) * L * R * R

    def slope(s: np.ndarray) -> np.ndarray:
        T, dT = _inv(s - L, _STABLE_EPS)
        return -R * R / (s * s) + D * (dT / s - T / (s * s)) + 2.0 * coef * s

    needed = (R > 0.0) | (D > 0.0)
    top = np.full(n_servers, float(budget))
    full = needed & (slope(top) <= 0.0)
    solve = needed & ~full
    S = np.where(full, float(budget), 0.0)
    if solve.any():
        lo = np.full(n_servers, 1e-12 * budget)
        S = np.where(solve, monotone_root(slope, lo, np.where(solve, top, lo), 1e-13 * budget), S)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(R[server] > 0.0, S[server] * root_c / R[server], 0.0)
    S = np.bincount(server, weights=a, minlength=n_servers)
    over = S > budget
    if over.any():  # rounding only
        a = a * np.where(over, budget / S, 1.0)[server]
        S = np.bincount(server, weights=a, minlength=n_servers)
    return a, S


def predicted_edge_energy_j(
    cfg: VECConfig, a: np.ndarray, holder: np.ndarray, active: np.ndarray, work_cycles: np.ndarray
) -> float:
    """The edge energy of one slot as the solver's model has it: per server s,
    κ_e·(F_e·S_s)²·Σ_q min(W_q, a_q·F_e·τ), S_s = Σ a over the queues s holds.

    ``work_cycles`` (M, K) is the work each edge queue can serve in the slot (at the server at
    the slot start). Exact for work that is at the server at the slot start and a vehicle that
    stays on the road for the slot; work that reaches the server later (uploads) or leaves
    with its vehicle is served less.
    """
    held = np.asarray(active, dtype=bool) & (np.asarray(holder) >= 0)
    share = np.where(held[:, None], a, 0.0)
    srv = np.maximum(np.asarray(holder), 0)
    F, tau = cfg.edge_cpu_hz, cfg.slot_s
    S = np.bincount(srv[held], weights=share.sum(axis=1)[held], minlength=cfg.n_servers)
    served = np.minimum(np.maximum(work_cycles, 0.0), share * F * tau).sum(axis=1)
    cyc = np.bincount(srv[held], weights=served[held], minlength=cfg.n_servers)
    return float((cfg.kappa_edge_value * (F * S) ** 2 * cyc).sum())


def shares_for(p: SlotProblem, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact share step: a (M, K) and S (n_servers,) minimising J(w, ·)."""
    e = edge_inputs(p, w)
    held = np.broadcast_to(p.held[:, None], e.c.shape)
    srv = np.broadcast_to(p.server[:, None], e.c.shape)
    a = np.zeros(e.c.shape)
    a_h, S = solve_edge_shares(e.c[held], e.d, e.load, e.energy_coef, srv[held], p.cfg.n_servers, e.backlog_part)
    a[held] = a_h
    return a, S
