"""The Lyapunov drift-plus-penalty family: ``dpp`` (reactive), ``sp-dpp`` (proactive, goal-aware), ``oracle``.

Each slot the solver minimises one explicit model cost J(w, a) built from the env's reward terms
(``vecgym.reward``) with the same normalisations, so that V has a meaning: with V = 1, J estimates
the reward's cost β_Q·qos + β_E·energy of the decision (fairness: see **Goal**); V ≠ 1 scales the
energy term. J is the cost of the work present (backlogs and this slot's expected arrivals) until
it is served, the decision held (a receding horizon: the problem is solved again every slot); the
quadratic backlog terms below are the drift of a Lyapunov function weighted by the drain rates.

**Prices (reward units).** QoS: q_k = β_Q·ω_n / (D_k·deadline_scale · n_active·E[tasks per
vehicle and slot]) per task-second: the reward charges each pending task ω·τ/D_eff per slot and
divides by the road's expected arrivals. Energy: e = V·β_E / (n_active·E[local energy of a
vehicle's arrivals per slot]) per joule: local κ_v·f_v² per cycle, upload P·bits/r_up, download
P_rsu·bits/r_dl, edge κ_e·(F_e·S_s)² per cycle at server s, S_s = Σ a over the queues s holds
(DVFS: the split of S_s does not change the cost of the work; a smaller S_s makes every cycle
cheaper and every queue slower). The edge energy counts all the work at the server (backlog and
this slot's offloads) at the speed held.

**Vehicle FIFOs** (CPU at f_v, uplink at r_up, downlink at r_dl: the cell's band split equally among
its users, noise and rate cap as in ``vecgym.core.radio``). Fed n_k tasks of size s_k this slot
(λ = Σ n_k·s_k/τ), holding a backlog B:

    Σ_k q_k·n_k·s_k/r                                       own service
  + (Σ_k q_k·n_k)·(Σ_k n_k·s_k²·(1 + CV_k²)) / (2·τ·r·(r - λ))  M/G/1 wait (Pollaczek-Khinchine)
  + ψ_B·B²/(2·(r - λ)) + ψ_B·B·s_B/(2·r)                    the backlog drains, arrivals behind it

(ψ_B, s_B: the backlog's QoS price per unit and task size, for the mix of work routed there;
1/(r - λ) continues along its tangent below a spare rate of 2% of r: an overload costs a lot
but stays finite, C¹ and convex.)

**Edge** (one queue per (vehicle, type) at its holding server, served at a_q·F_e). Queue q's
present work P = B_q + w·U_q (U: expected new work) costs c_q/a_q with c_q = (q_k/s_k)·(P² +
P·s_k)/(2·F_e) (its fluid drain area at its share); the backlog's part β of Σ c drains at the net
rate S - L (L = the offered load in shares), so the queues' cost is (Σ c_q/a_q)·(1 + β·L/(S - L));
the server's new tasks queue as one M/G/1 pool of rate S·F_e (the shares follow the work from slot
to slot): d/(S·(S - L)) with d = (Σ q·n)·(Σ n·s²·(1 + CV²))/(2·τ·F_e²).

**Not modelled.** The reward's cap (a task costs at most 3 deadlines: the model's QoS grows
without bound, so the solver never gives tasks up), migration (charged at a handover: tens of mJ
per task), and the max of a task's two parts: fractional offloading is modelled as routing (a
part is charged as that fraction of a task).

**Edge shares (exact; each server on its own once w is fixed).**

    min  (Σ_q c_q/a_q)·(1 + β·L/(S - L)) + d/(S·(S - L)) + B·S²   s.t.  Σ_q a_q = S ≤ 1,

B = e·κ_e·F_e²·W (W: the server's work). The factor is common to the server's queues, so for a
total S the split is closed form, a_q = S·√c_q/R, R = Σ √c_q (Cauchy-Schwarz), and the cost is
R²/S + (β·L·R² + d)/(S·(S - L)) + B·S², convex in S: S is the bracketed root of its derivative
(``monotone_root``, certified to 1e-13), or 1 when the budget binds (``solve_edge_shares``).

**Offloading (exact per type).** Given the shares, each w[n, k] minimises a cost convex in it (FIFO
ratios of quadratics with nonnegative coefficients to positive affine functions, quadratic edge
terms, a cubic server energy): the vehicle's own terms of J with the shares, the uplink rates, the
backlog prices and the edge dilution held, and the server's speed following the load it is
offered (S = L + the spare S - L of the pass), so that an offloaded cycle pays for speeding up the
server's work. The minimiser is a certified root search on the derivative (safeguarded Newton in
a bracket, ``offload_step``): types in turn (Gauss-Seidel), all vehicles at once (Jacobi).
Offloading is allowed only where the vehicle is covered (``obs["cell"] >= 0``) and will not leave
the road or enter a coverage gap within a deadline (so the part comes back), and (``sp-dpp``)
where it is forecast to stay on the road.

**Passes.** Shares and offloading alternate (``passes``, each with ``sweeps`` over the types),
from the last slot's w of the same vehicles and from full offloading; the start whose result has
the lower J wins, and its shares are solved once more, so they are exact for the final w. The pair
is not certified jointly optimal.

**Goal.** ``dpp`` uses the balanced goal; ``sp-dpp`` follows the operator's commands through
``vecgym.goals.parse_command`` (honouring their expiry). With ``goal.fairness`` > 0 a vehicle's QoS
weight grows with how far its queued work exceeds the road's mean (a surrogate of the
fairness·(1 - J) term, which is not a per-slot function of the decision).

**Horizon.** ``sp-dpp`` feeds the solver the twin's H-slot forecasts (arrivals, median SNR);
``oracle`` the true next H slots; ``dpp`` the last slot's arrivals (the config's mean rate for a
type that had none). The decision is held over the horizon and J is the mean over h of each
slot's cost, on the current backlogs plus slot h's arrivals (queue carry-over between horizon
slots is not modelled); the edge terms use the horizon-mean load, which keeps the closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from twins import PredictiveTwin
from vecgym.config import CLASSES, VECConfig
from vecgym.core import cells, radio
from vecgym.goals import BALANCED, GoalSpec, parse_command
from vecgym.tasks import TaskTypes

_ROOT_ITERS = 200
_STABLE_EPS = 0.02
"""A FIFO's cost follows 1/(r - λ) down to a spare rate of this fraction of r (a spare share of
this much for the edge server), then its tangent."""


# ---------------------------------------------------------------------------------------------
# Root search
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

    f_lo = value(lo)[0].copy()
    f_hi = value(hi)[0].copy()
    side = np.zeros(lo.shape, dtype=np.int8)
    done = (hi - lo) <= tol
    x = 0.5 * (lo + hi)
    f, df = value(x)
    for it in range(_ROOT_ITERS):
        open_ = ~done
        zero = open_ & (f == 0.0)
        up = open_ & (f < 0.0)
        down = open_ & (f > 0.0)
        lo = np.where(up | zero, x, lo)
        hi = np.where(down | zero, x, hi)
        done |= zero | ((hi - lo) <= tol)
        if not with_derivative:
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
        inside = (step > lo) & (step < hi)
        if with_derivative:
            inside = (step >= lo) & (step <= hi)
            done |= inside & (np.abs(step - x) <= 1e-2 * tol)
        if done.all():
            break
        x = np.where(done, x, np.where(inside, step, mid))
        f, df = value(x)
    bracket = (hi - lo) <= tol
    return np.where(
        bracket & ~((lo <= x) & (x <= hi)), 0.5 * (lo + hi), np.where(bracket & ~with_derivative, 0.5 * (lo + hi), x)
    )


# ---------------------------------------------------------------------------------------------
# Queue costs
def _inv(z: np.ndarray, thr: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """1/z and d(1/z)/dz for z ≥ thr; below thr the tangent at thr (C¹, convex). 0 where thr ≤ 0."""
    thr = np.broadcast_to(np.asarray(thr, dtype=np.float64), np.shape(z))
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


# ---------------------------------------------------------------------------------------------
# Edge shares
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


# ---------------------------------------------------------------------------------------------
# The slot problem
@dataclass
class SlotProblem:
    """Everything the model cost J(w, a) of one slot needs (shapes: H horizon slots, M vehicle
    slots, K types). Prices are in the reward's units."""

    cfg: VECConfig
    work: np.ndarray  # (H, M, K) expected new work (cycles) per horizon slot
    tasks: np.ndarray  # (H, M, K) expected new tasks
    cycles: np.ndarray  # (K,) mean cycles of a task
    bits: np.ndarray  # (K,) mean input bits of a task
    m2: np.ndarray  # (K,) 1 + CV² of the task size
    result_ratio: np.ndarray  # (K,)
    q: np.ndarray  # (M, K) QoS price per task-second
    energy_price: float  # reward units per joule (V·β_E / the reward's energy normaliser)
    local: np.ndarray  # (M,) cycles queued on the vehicle
    uplink: np.ndarray  # (M,) bits waiting to be uploaded
    downlink: np.ndarray  # (M,) result bits waiting
    edge: np.ndarray  # (M, K) edge cycles per queue
    active: np.ndarray  # (M,) bool
    cell: np.ndarray  # (M,) serving RSU, -1 in a gap
    holder: np.ndarray  # (M,) server holding the edge queues, -1 none
    offloadable: np.ndarray  # (M, K) bool: w may be > 0
    snr: np.ndarray  # (H, M) linear uplink SNR over the whole band

    @property
    def held(self) -> np.ndarray:
        return self.active & (self.holder >= 0)

    @property
    def server(self) -> np.ndarray:
        """(M,) server index of each vehicle's edge queues (0 where none; mask with ``held``)."""
        return np.maximum(self.holder, 0)


def _cpb(cfg: VECConfig) -> np.ndarray:
    return np.asarray(cfg.per_type("cycles_per_byte"), dtype=np.float64)


def _edge_j_full(cfg: VECConfig) -> float:
    """κ_e·F_e²: joules of an edge cycle at S = 1."""
    return cfg.kappa_edge_value * cfg.edge_cpu_hz**2


def link_rates(p: SlotProblem, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uplink and downlink rates (H, M) of each vehicle if it uses the link, under offloading ``w``.

    The band of a cell is split equally among its users (physics): the covered vehicles with
    bits waiting or about to send; a vehicle counts itself in. Noise and the spectral-efficiency
    cap as in ``vecgym.core.radio``.
    """
    cfg = p.cfg
    covered = p.active & (p.cell >= 0)
    cell = np.maximum(p.cell, 0)
    n_srv = cfg.n_servers
    bits = w[None] * p.work * (8.0 / _cpb(cfg))
    noise_full = radio.noise_w(cfg.bandwidth_hz, cfg)
    gain_rel = p.snr * noise_full  # P_tx·gain (W), (H, M)
    out = []
    for busy_now, new, band_hz, power in (
        (p.uplink > 0.0, bits.sum(2) > 0.0, cfg.bandwidth_hz, cfg.tx_power_w),
        (p.downlink > 0.0, (bits * p.result_ratio).sum(2) > 0.0, cfg.downlink_bandwidth_hz, cfg.rsu_tx_power_w),
    ):
        users = covered[None] & (busy_now[None] | new)
        rates = np.zeros(p.snr.shape)
        for h in range(p.snr.shape[0]):
            n_cell = np.bincount(cell[users[h]], minlength=n_srv)
            n = n_cell[cell] - users[h] + 1  # the others in the cell, plus this vehicle
            b = band_hz / np.maximum(n, 1)
            snr_b = gain_rel[h] * (power / cfg.tx_power_w) / radio.noise_w(b, cfg)
            rates[h] = np.where(covered, radio.rate_bps(b, snr_b, cfg.max_spectral_efficiency), 0.0)
        out.append(rates)
    return out[0], out[1]


def _per_server(p: SlotProblem, x: np.ndarray) -> np.ndarray:
    """Σ over each server's queues of x (M, K) or (M,), (n_servers,)."""
    x = x.sum(1) if x.ndim == 2 else x
    return np.bincount(p.server[p.held], weights=x[p.held], minlength=p.cfg.n_servers)


@dataclass
class EdgeInputs:
    """The share problem under an offloading w: per queue c (M, K); per server the pooled-wait
    numerator d = (Σ q·n)·(Σ n·s²·m2)/(2·τ·F²), the offered load L (in shares) and the energy
    coefficient B = e·κ_e·F_e²·W (W the work at the server); and the sums behind d."""

    c: np.ndarray
    d: np.ndarray
    load: np.ndarray
    energy_coef: np.ndarray
    qn: np.ndarray  # (n_servers,) Σ q·n of the new tasks
    v: np.ndarray  # (n_servers,) Σ n·s²·m2 of the new tasks (cycles²)
    backlog_part: np.ndarray  # (n_servers,) β: the backlog's part of Σ c (it drains at S - L)


def edge_inputs(p: SlotProblem, w: np.ndarray) -> EdgeInputs:
    """The share problem's inputs under offloading ``w`` (horizon means of the new work)."""
    cfg = p.cfg
    F, tau = cfg.edge_cpu_hz, cfg.slot_s
    P = p.edge[None] + w[None] * p.work
    N = (p.q / p.cycles)[None] * (P * P + P * p.cycles) / 2.0
    c = np.where(p.held[:, None], N.mean(0) / F, 0.0)
    Bq = p.edge
    c_backlog = np.where(p.held[:, None], (p.q / p.cycles) * (Bq * Bq + Bq * p.cycles) / 2.0 / F, 0.0)
    c_sum = _per_server(p, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(c_sum > 0.0, _per_server(p, c_backlog) / c_sum, 0.0)
    n = w * p.tasks.mean(0)
    qn = _per_server(p, p.q * n)
    v = _per_server(p, n * p.cycles**2 * p.m2)
    load = _per_server(p, w * p.work.mean(0)) / (tau * F)
    W = _per_server(p, p.edge + w * p.work.mean(0))
    return EdgeInputs(c, qn * v / (2.0 * tau * F * F), load, p.energy_price * _edge_j_full(cfg) * W, qn, v, beta)


def shares_for(p: SlotProblem, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact share step: a (M, K) and S (n_servers,) minimising J(w, ·)."""
    e = edge_inputs(p, w)
    held = np.broadcast_to(p.held[:, None], e.c.shape)
    srv = np.broadcast_to(p.server[:, None], e.c.shape)
    a = np.zeros(e.c.shape)
    a_h, S = solve_edge_shares(e.c[held], e.d, e.load, e.energy_coef, srv[held], p.cfg.n_servers, e.backlog_part)
    a[held] = a_h
    return a, S


@dataclass
class PassState:
    """What a pass holds fixed while it minimises over w: link rates (they depend on who uploads),
    each FIFO backlog's QoS price per unit and task size (from the mix routed there), the share
    each edge queue is costed at (a prospective one for a queue with no share yet), and each
    server's speed S and spare share S - L (the offloading step lets S follow the offered load)."""

    r_up: np.ndarray  # (H, M) bit/s
    r_dl: np.ndarray  # (H, M) bit/s
    psi: dict[str, np.ndarray]  # 'local' | 'up' | 'dl' -> (M,) price per unit-second of backlog
    size: dict[str, np.ndarray]  # -> (M,) task size of the backlog
    share: np.ndarray  # (M, K)
    speed: np.ndarray  # (n_servers,) S = Σ a
    spare: np.ndarray  # (n_servers,) S - L
    dilution: np.ndarray  # (n_servers,) 1 + β·L/(S - L), held in the offloading step


def pass_state(p: SlotProblem, w: np.ndarray, a: np.ndarray) -> PassState:
    """Rates, backlog prices and edge shares for a pass starting from (w, a)."""
    cfg = p.cfg
    r_up, r_dl = link_rates(p, w)
    m = p.tasks.mean(0)  # (M, K)
    rate = np.asarray(cfg.per_type("task_rate_hz"), dtype=np.float64)
    prior = (rate / rate.sum())[None, :]
    psi, size = {}, {}
    for key, frac, unit in (
        ("local", 1.0 - w, p.cycles),
        ("up", w, p.bits),
        ("dl", w * (p.result_ratio > 0.0), p.bits * p.result_ratio),
    ):
        n = frac * m
        n = np.where(n.sum(1, keepdims=True) > 0.0, n, prior * (unit > 0.0))
        units = (n * unit).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            psi[key] = np.where(units > 0.0, (n * p.q).sum(1) / units, 0.0)
        size[key] = units / np.maximum(n.sum(1), 1e-300)
    # A queue with no share yet is costed at the share it would get with all its work offloaded.
    c = edge_inputs(p, w).c
    c_full = edge_inputs(p, np.ones_like(w)).c
    S = _per_server(p, a)
    R = _per_server(p, np.sqrt(c))
    s_of, r_of = S[p.server][:, None], R[p.server][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        prospective = np.nan_to_num(s_of * np.sqrt(c_full) / (r_of + np.sqrt(c_full)))
    share = np.where(a > 0.0, a, np.where(p.held[:, None], prospective, 0.0))
    e_in = edge_inputs(p, w)
    T, _ = _inv(S - e_in.load, _STABLE_EPS)
    return PassState(
        r_up, r_dl, psi, size, share, speed=S, spare=S - e_in.load, dilution=1.0 + e_in.backlog_part * e_in.load * T
    )


# ---------------------------------------------------------------------------------------------
# The model cost
def model_terms(p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState | None = None) -> dict[str, float]:
    """J(w, a) by term, in the reward's units: QoS of the local, uplink, edge and downlink queues;
    energy of local computing, upload, download and the edge. ``ps`` fixes the link rates and
    backlog prices (default: those of ``w``)."""
    cfg = p.cfg
    ps = pass_state(p, w, a) if ps is None else ps
    tau, f_v, F = cfg.slot_s, cfg.vehicle_cpu_hz, cfg.edge_cpu_hz
    n_loc = (1.0 - w)[None] * p.tasks
    n_up = w[None] * p.tasks
    has_res = p.result_ratio > 0.0
    q = p.q[None]
    loc = fifo_cost(
        n_loc, p.cycles, p.m2, q, p.local, ps.psi["local"], ps.size["local"], np.full(p.snr.shape, f_v) * p.active, tau
    )
    up = fifo_cost(n_up, p.bits, p.m2, q, p.uplink, ps.psi["up"], ps.size["up"], ps.r_up, tau)
    dl = fifo_cost(
        n_up * has_res, p.bits * p.result_ratio, p.m2, q, p.downlink, ps.psi["dl"], ps.size["dl"], ps.r_dl, tau
    )
    e_in = edge_inputs(p, w)
    S = _per_server(p, a)
    if ((e_in.c > 0.0) & (a <= 0.0)).any():
        qos_edge = math.inf
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            A = _per_server(p, np.where(e_in.c > 0.0, e_in.c / np.where(a > 0.0, a, 1.0), 0.0))
        wait = pooled_wait_cost(e_in.qn, e_in.v, S, e_in.load, F, tau)
        T, _ = _inv(S - e_in.load, _STABLE_EPS)
        qos_edge = float((A * (1.0 + e_in.backlog_part * e_in.load * T) + wait).sum())
    e = p.energy_price
    bits_up = (n_up * p.bits).sum(2)
    bits_dl = (n_up * p.bits * p.result_ratio).sum(2)
    with np.errstate(divide="ignore", invalid="ignore"):
        j_up = np.where(bits_up > 0.0, cfg.tx_power_w * bits_up / ps.r_up, 0.0)
        j_dl = np.where(bits_dl > 0.0, cfg.rsu_tx_power_w * bits_dl / ps.r_dl, 0.0)
    W = _per_server(p, p.edge + w * p.work.mean(0))
    return {
        "qos_local": float(loc.mean(0).sum()),
        "qos_uplink": float(up.mean(0).sum()),
        "qos_edge": qos_edge,
        "qos_downlink": float(dl.mean(0).sum()),
        "energy_local": e * cfg.kappa_vehicle * f_v**2 * float(((1.0 - w)[None] * p.work).sum(axis=(1, 2)).mean()),
        "energy_upload": e * float(j_up.sum(1).mean()),
        "energy_download": e * float(j_dl.sum(1).mean()),
        "energy_edge": e * _edge_j_full(cfg) * float((S * S * W).sum()),
    }


def model_cost(p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState | None = None) -> float:
    """J(w, a): the model's cost of the decision, in the reward's units (mean over the horizon)."""
    return float(sum(model_terms(p, w, a, ps).values()))


# ---------------------------------------------------------------------------------------------
# Offloading
@dataclass
class _Line:
    """A cost along w[:, k] = x: N(x)·T(z(x)) + b0 + b1·x with N = a0 + a1·x + a2·x² and
    z = z0 + z1·x ((H, M) arrays, averaged over h); T = 1/z down to ``thr``, then its tangent."""

    a0: np.ndarray
    a1: np.ndarray
    a2: np.ndarray
    z0: np.ndarray
    z1: np.ndarray
    thr: np.ndarray
    b0: np.ndarray | float = 0.0
    b1: np.ndarray | float = 0.0
    weight: np.ndarray | None = None  # (rows, 1): the rows' weights (None: the mean over rows)

    def _sum(self, x: np.ndarray) -> np.ndarray:
        return x.mean(0) if self.weight is None else (x * self.weight).sum(0)

    def value(self, x: np.ndarray) -> np.ndarray:
        T, _ = _inv(self.z0 + self.z1 * x, self.thr)
        return self._sum(
            np.broadcast_to((self.a0 + (self.a1 + self.a2 * x) * x) * T + self.b0 + self.b1 * x, np.shape(self.z0))
        )

    @staticmethod
    def stack(lines: list[_Line]) -> _Line:
        """One line whose cost is the sum of ``lines``' costs (their rows stacked, weighted)."""
        fields = ("a0", "a1", "a2", "z0", "z1", "thr", "b0", "b1")
        rows = [np.shape(line.z0)[0] for line in lines]
        parts = {
            f: np.concatenate([np.broadcast_to(getattr(line, f), np.shape(line.z0)) for line in lines]) for f in fields
        }
        weight = np.concatenate([np.full((r, 1), 1.0 / r) for r in rows])
        return _Line(**parts, weight=weight)

    def derivatives(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and second derivatives of the cost in x (mean over h), (M,)."""
        ok = self.thr > 0.0
        thr = np.where(ok, self.thr, 1.0)
        z = self.z0 + self.z1 * x
        above = z >= thr
        zs = np.where(above, z, 1.0)
        T = np.where(above, 1.0 / zs, (2.0 * thr - z) / (thr * thr))
        dT = np.where(above, -1.0 / (zs * zs), -1.0 / (thr * thr))
        d2T = np.where(above, 2.0 / (zs * zs * zs), 0.0)
        N = self.a0 + (self.a1 + self.a2 * x) * x
        dN = self.a1 + 2.0 * self.a2 * x
        g = np.where(ok, dN * T + N * dT * self.z1, 0.0) + self.b1
        h = 2.0 * self.a2 * T + 2.0 * dN * dT * self.z1 + N * d2T * self.z1 * self.z1
        return self._sum(np.broadcast_to(g, z.shape)), self._sum(np.where(ok, h, 0.0))


def _fifo_line(
    n: np.ndarray,
    k: int,
    base: np.ndarray,
    slope: np.ndarray,
    size: np.ndarray,
    m2: np.ndarray,
    q: np.ndarray,
    backlog: np.ndarray,
    psi_b: np.ndarray,
    size_b: np.ndarray,
    rate: np.ndarray,
    tau: float,
) -> _Line:
    """``fifo_cost`` along x, where type k's task count is base + slope·x ((H, M) each) and the
    other types keep ``n``."""
    size = np.broadcast_to(size, n.shape[-1:])
    m2 = np.broadcast_to(m2, n.shape[-1:])
    ok = rate > 0.0
    r = np.where(ok, rate, 1.0)
    n0 = n.copy()
    n0[:, :, k] = base
    Y0 = (n0 * size).sum(2)
    dY = slope * size[k]
    Qn0 = (q * n0).sum(2)
    V0 = (n0 * size * size * m2).sum(2)
    dQn = q[..., k] * slope
    dV = slope * size[k] ** 2 * m2[k]
    c = 1.0 / (2.0 * tau * r)
    return _Line(
        a0=np.where(ok, psi_b * backlog * backlog / 2.0 + Qn0 * V0 * c, 0.0),
        a1=np.where(ok, (Qn0 * dV + dQn * V0) * c, 0.0),
        a2=np.where(ok, dQn * dV * c, 0.0),
        z0=rate - Y0 / tau,
        z1=-dY / tau * np.ones_like(rate),
        thr=_STABLE_EPS * rate,
        b0=np.where(ok, (psi_b * backlog * size_b / 2.0 + (q * n0 * size).sum(2)) / r, 0.0),
        b1=np.where(ok, dQn * size[k] / r, 0.0),
    )


@dataclass
class _ServerEnergy:
    """A server's edge energy along x when its speed follows its offered load:
    k·(s0 + b·x)²·(W0 + u·x), (M,) arrays (convex for x ≥ 0: all coefficients are ≥ 0)."""

    k: np.ndarray
    s0: np.ndarray
    b: np.ndarray
    W0: np.ndarray
    u: np.ndarray

    def value(self, x: np.ndarray) -> np.ndarray:
        s = self.s0 + self.b * x
        return self.k * s * s * (self.W0 + self.u * x)

    def derivatives(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self.s0 + self.b * x
        W = self.W0 + self.u * x
        return self.k * (2.0 * self.b * s * W + self.u * s * s), self.k * (
            2.0 * self.b * self.b * W + 4.0 * self.b * self.u * s
        )


def offload_lines(
    p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState, k: int
) -> tuple[list[_Line | _ServerEnergy], np.ndarray]:
    """The costs along w[:, k] = x, everything else held, for each vehicle at once: its local,
    uplink and downlink FIFOs, its edge queue (n, k) at its share, its server's pooled wait and
    edge energy with the server's spare share S - L held (the speed follows the offered load), and
    the constant slope of the other energy terms (M,)."""
    cfg = p.cfg
    tau, f_v, F = cfg.slot_s, cfg.vehicle_cpu_hz, cfg.edge_cpu_hz
    m = p.tasks[:, :, k]
    qb = np.broadcast_to(p.q[None], p.tasks.shape)
    local = _fifo_line(
        (1.0 - w)[None] * p.tasks,
        k,
        m,
        -m,
        p.cycles,
        p.m2,
        qb,
        p.local,
        ps.psi["local"],
        ps.size["local"],
        np.full(p.snr.shape, f_v) * p.active,
        tau,
    )
    up = _fifo_line(
        w[None] * p.tasks, k, 0.0 * m, m, p.bits, p.m2, qb, p.uplink, ps.psi["up"], ps.size["up"], ps.r_up, tau
    )
    lines: list[_Line | _ServerEnergy] = [local, up]
    if p.result_ratio[k] > 0.0:
        has_res = p.result_ratio > 0.0
        lines.append(
            _fifo_line(
                w[None] * p.tasks * has_res,
                k,
                0.0 * m,
                m,
                p.bits * p.result_ratio,
                p.m2,
                qb,
                p.downlink,
                ps.psi["dl"],
                ps.size["dl"],
                ps.r_dl,
                tau,
            )
        )
    held = p.held
    srv = p.server
    U = p.work[:, :, k]
    Ubar = U.mean(0) * held
    B = p.edge[:, k]
    c = p.cycles[k]
    ones = np.ones((1, U.shape[1]))
    zero = 0.0 * ones
    # Edge queue (n, k): (q/c)·(P² + P·c)/2 / (a·F), P = B + x·U_h, averaged over h.
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(held & (ps.share[:, k] > 0.0), p.q[:, k] / c / (ps.share[:, k] * F), 0.0)
    r = r * np.where(held, ps.dilution[srv], 0.0)
    lines.append(
        _Line(
            a0=(r * (B * B + B * c) / 2.0)[None],
            a1=(r * (2.0 * B + c) / 2.0 * Ubar)[None],
            a2=(r / 2.0 * (U * U).mean(0))[None],
            z0=ones,
            z1=zero,
            thr=ones,
        )
    )
    # The server's pooled wait d/(S·(S - L)) at the pass's spare S - L, and its energy
    # e·κ_e·F²·S²·W with S = L + spare: this vehicle's type-k offloads are the variable.
    e_in = edge_inputs(p, w)
    spare = np.where(held, ps.spare[srv], 0.0)
    own_n = w[:, k] * p.tasks[:, :, k].mean(0) * held
    m_bar = p.tasks[:, :, k].mean(0) * held
    dQn, dV = p.q[:, k] * m_bar, m_bar * c * c * p.m2[k]
    qn0 = e_in.qn[srv] - own_n * p.q[:, k]
    v0 = e_in.v[srv] - own_n * c * c * p.m2[k]
    load0 = np.where(held, e_in.load[srv], 0.0) - w[:, k] * Ubar / (tau * F)
    s0 = np.maximum(load0 + spare, 0.0)
    T, _ = _inv(spare, _STABLE_EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(held & (ps.speed[srv] > 0.0), T / (2.0 * tau * F * F * ps.speed[srv]), 0.0)
    lines.append(
        _Line(
            a0=(qn0 * v0 * g)[None],
            a1=((qn0 * dV + dQn * v0) * g)[None],
            a2=(dQn * dV * g)[None],
            z0=ones,
            z1=zero,
            thr=ones,
        )
    )
    W_srv = _per_server(p, p.edge + w * p.work.mean(0))
    lines.append(
        _ServerEnergy(
            k=p.energy_price * _edge_j_full(cfg) * held,
            s0=s0,
            b=Ubar / (tau * F),
            W0=np.where(held, W_srv[srv], 0.0) - w[:, k] * Ubar,
            u=Ubar,
        )
    )
    bits_per_cycle = 8.0 / _cpb(cfg)[k]
    with np.errstate(divide="ignore", invalid="ignore"):
        j_up = np.where(ps.r_up > 0.0, cfg.tx_power_w * U * bits_per_cycle / ps.r_up, 0.0)
        j_dl = np.where(ps.r_dl > 0.0, cfg.rsu_tx_power_w * U * bits_per_cycle * p.result_ratio[k] / ps.r_dl, 0.0)
    j_loc = cfg.kappa_vehicle * f_v**2 * U.mean(0)
    return lines, p.energy_price * (j_up.mean(0) + j_dl.mean(0) - j_loc)


def offload_surrogate(p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState, k: int, x: np.ndarray) -> np.ndarray:
    """The cost the offloading step minimises along w[:, k] = x (M,), each vehicle's with the
    others' w at ``w`` (up to a constant per vehicle)."""
    lines, slope = offload_lines(p, w, a, ps, k)
    return slope * x + sum(line.value(x) for line in lines)


def offload_gradient(p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState, k: int) -> np.ndarray:
    """∂/∂w[:, k] of ``offload_surrogate`` at w (M,)."""
    lines, slope = offload_lines(p, w, a, ps, k)
    return slope + sum(line.derivatives(w[:, k])[0] for line in lines)


def offload_step(p: SlotProblem, w: np.ndarray, a: np.ndarray, ps: PassState, sweeps: int = 1) -> np.ndarray:
    """The offloading step: type by type, each vehicle's w[n, k] = argmin over [0, 1] of J with
    everything else held (convex in it), by a certified root search (safeguarded Newton) on the
    derivative; 0 where offloading is not allowed. All vehicles move at once (Jacobi)."""
    w = np.where(p.offloadable, w, 0.0).astype(np.float64)
    M = w.shape[0]
    for _ in range(sweeps):
        for k in range(w.shape[1]):
            can = p.offloadable[:, k] & (p.work[:, :, k].sum(0) > 0.0)
            if not can.any():
                w[:, k] = 0.0
                continue
            lines, slope = offload_lines(p, w, a, ps, k)
            lines = [_Line.stack([x for x in lines if isinstance(x, _Line)])] + [
                x for x in lines if not isinstance(x, _Line)
            ]

            def grad(
                x: np.ndarray, lines: list[_Line | _ServerEnergy] = lines, slope: np.ndarray = slope
            ) -> tuple[np.ndarray, np.ndarray]:
                g, h = slope.copy(), np.zeros(M)
                for line in lines:
                    dg, dh = line.derivatives(x)
                    g += dg
                    h += dh
                return g, h

            g0, _ = grad(np.zeros(M))
            g1, _ = grad(np.ones(M))
            inner = can & (g0 < 0.0) & (g1 > 0.0)
            x = np.where(g1 <= 0.0, 1.0, 0.0)
            if inner.any():
                root = monotone_root(grad, np.zeros(M), np.where(inner, 1.0, 0.0), 1e-9, with_derivative=True)
                x = np.where(inner, root, x)
            w[:, k] = np.where(can, x, 0.0)
    return w


# ---------------------------------------------------------------------------------------------
def goal_weights(obs: dict[str, np.ndarray], goal: GoalSpec) -> np.ndarray:
    """QoS weight of every slot under ``goal`` (class weight × vehicle weight), shape (M,).

    Computed from the agent's own goal, the observed ids and classes: the env's ground-truth
    ``qos_weight`` observation is not used, so an agent that ignores commands stays balanced.
    """
    cls = np.asarray([goal.class_weights.get(c, 1.0) for c in CLASSES])
    w = cls[np.argmax(obs["vehicle_class"], axis=1)]
    for vid, vw in goal.vehicle_weights.items():
        w = np.where(obs["vehicle_id"] == vid, w * vw, w)
    return np.where(obs["active"] > 0, w, 1.0)


@dataclass(frozen=True)
class RewardScale:
    """The reward's per-vehicle normalisers (``vecgym.reward.RewardScale``), from the config."""

    tasks_per_vehicle: float
    local_energy_per_vehicle_j: float

    @classmethod
    def of(cls, cfg: VECConfig) -> RewardScale:
        types = TaskTypes.from_config(cfg)
        return cls(
            tasks_per_vehicle=float(types.rate_hz.sum() * cfg.slot_s),
            local_energy_per_vehicle_j=float((types.rate_hz * types.mean_cycles).sum() * cfg.slot_s)
            * cfg.kappa_vehicle
            * cfg.vehicle_cpu_hz**2,
        )


class DPPAgent:
    """Reactive drift-plus-penalty on the current observation, with a fixed (balanced) goal."""

    name = "dpp"

    def __init__(self, env: gym.Env, v: float = 1.0, passes: int = 3, sweeps: int = 2):
        core: Any = env.unwrapped
        self.cfg: VECConfig = core.cfg
        self.v = v
        self.passes = passes
        self.sweeps = sweeps
        cfg = self.cfg
        self.K = cfg.n_task_types
        self.types = TaskTypes.from_config(cfg)
        self.cpb = np.asarray(cfg.per_type("cycles_per_byte"), dtype=np.float64)
        self.deadline = np.asarray(cfg.per_type("deadline_s"), dtype=np.float64)
        self.cycles = self.types.mean_cycles
        self.bits = 4.0 * (self.types.size_min_bytes + self.types.size_max_bytes)
        self.result_ratio = np.asarray(cfg.per_type("result_ratio"), dtype=np.float64)
        self.m2 = size_moment(cfg)
        self.scale = RewardScale.of(cfg)
        self.class_rate = np.asarray(cfg.class_rate_multiplier, dtype=np.float64)
        self.goal: GoalSpec = BALANCED
        self.last_problem: SlotProblem | None = None
        self._last_w: np.ndarray | None = None
        self._last_ids = np.zeros(0, dtype=np.int64)

    def reset(self, seed: int | None = None) -> None:
        self.goal = BALANCED
        self._last_w = None

    # ------------------------------------------------------------------------------------------
    def prior_work(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Expected work (cycles) of a slot per (vehicle, type) from the config's rates (M, K)."""
        mult = self.class_rate[np.argmax(obs["vehicle_class"], axis=1)]
        return mult[:, None] * (self.types.rate_hz * self.cfg.slot_s * self.cycles)[None, :]

    def _inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per horizon slot h: expected new work (cycles, (H, M, K)) and uplink SNR (linear, (H, M));
        and whether each slot's vehicle stays on the road over the horizon ((M,)). Here H = 1:
        the last slot's arrivals, or the config's mean rate for a type that had none."""
        active = obs["active"].astype(bool)
        work = obs["arrivals_bytes"].astype(np.float64) * self.cpb
        work = np.where(work > 0.0, work, self.prior_work(obs))
        snr = 10.0 ** (obs["snr_db"].astype(np.float64) / 10.0)
        return (work * active[:, None])[None], (snr * active)[None], active

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        work, snr, stay = self._inputs(obs, info)
        w, a = self.decide(obs, work, snr, stay, self.goal)
        return np.stack((w, a)).astype(np.float32)

    def offloadable(self, obs: dict[str, np.ndarray], goal: GoalSpec) -> np.ndarray:
        """(M, K): covered, and neither leaving the road nor entering a gap within a deadline."""
        cfg = self.cfg
        active = obs["active"].astype(bool)
        cell = obs["cell"] if "cell" in obs else np.zeros(active.shape, dtype=np.int64)
        x = obs["position_m"][:, 0].astype(np.float64)
        v = np.maximum(obs["speed_mps"].astype(np.float64), 1.0)
        t_exit = (cfg.road_length_m - x) / v
        if "distance_to_handover_m" in obs:
            d = obs["distance_to_handover_m"].astype(np.float64)
            beyond = cells.serving_cell(np.minimum(x + d + 20.0, cfg.road_length_m - 1e-6), cfg)
            t_gap = np.where((beyond < 0) & (x + d < cfg.road_length_m), d / v, np.inf)
        else:
            t_gap = np.full(x.shape, np.inf)
        horizon = self.deadline[None, :] * goal.deadline_scale
        return (active & (cell >= 0))[:, None] & (t_exit[:, None] > horizon) & (t_gap[:, None] > horizon)

    def problem(
        self, obs: dict[str, np.ndarray], work: np.ndarray, snr: np.ndarray, stay: np.ndarray, goal: GoalSpec
    ) -> SlotProblem:
        """The slot problem of this observation (prices from the goal, the reward's normalisers)."""
        cfg = self.cfg
        active = obs["active"].astype(bool)
        M, K = active.shape[0], self.K
        n_active = float(active.sum())
        n = max(n_active, 1.0)
        norm_tasks = max(1.0, n * self.scale.tasks_per_vehicle)
        norm_energy = max(1e-12, n * self.scale.local_energy_per_vehicle_j)
        weight = goal_weights(obs, goal)
        if goal.fairness > 0.0:
            # Fairness: vehicles whose queued work (in seconds of their own service) is above the
            # road's mean get their QoS weight raised in proportion, so none is left behind.
            queued_s = (
                obs["local_backlog_gcycles"] * 1e9 / cfg.vehicle_cpu_hz
                + obs["edge_backlog_gcycles"].sum(1) * 1e9 / cfg.edge_cpu_hz
            )
            mean_s = float(queued_s[active].mean()) if active.any() else 0.0
            excess = np.maximum(queued_s / max(mean_s, 1e-9) - 1.0, 0.0)
            weight = weight * (1.0 + goal.fairness * excess)
        d_eff = self.deadline * goal.deadline_scale
        q = goal.beta_qos * weight[:, None] / (d_eff[None, :] * norm_tasks) * active[:, None]
        stay = np.asarray(stay, dtype=bool)
        stay = stay[:, None] if stay.ndim == 1 else stay
        holder = obs["holder"] if "holder" in obs else np.where(active, 0, -1)
        cell = obs["cell"] if "cell" in obs else np.where(active, 0, -1)
        dl = obs["downlink_backlog_kbit"] if "downlink_backlog_kbit" in obs else np.zeros(M)
        work = np.asarray(work, dtype=np.float64) * active[None, :, None]
        return SlotProblem(
            cfg=cfg,
            work=work,
            tasks=work / self.cycles,
            cycles=self.cycles,
            bits=self.bits,
            m2=self.m2,
            result_ratio=self.result_ratio,
            q=q,
            energy_price=self.v * goal.beta_energy / norm_energy,
            local=obs["local_backlog_gcycles"].astype(np.float64) * 1e9 * active,
            uplink=obs["uplink_backlog_kbit"].astype(np.float64) * 1e3 * active,
            downlink=np.asarray(dl, dtype=np.float64) * 1e3 * active,
            edge=obs["edge_backlog_gcycles"].astype(np.float64) * 1e9 * active[:, None],
            active=active,
            cell=np.where(active, np.asarray(cell), -1),
            holder=np.where(active, np.asarray(holder), -1),
            offloadable=self.offloadable(obs, goal) & stay & np.ones((M, K), dtype=bool),
            snr=np.asarray(snr, dtype=np.float64) * active[None, :],
        )

    def decide(
        self, obs: dict[str, np.ndarray], work: np.ndarray, snr: np.ndarray, stay: np.ndarray, goal: GoalSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        """Offload ratios and edge shares, both (M, K), minimising the horizon-mean model cost J.

        ``work`` (H, M, K) is the new work (cycles) expected in each of the H coming slots and
        ``snr`` (H, M) the uplink SNR over the whole band; ``stay`` (M,) or (M, K) where offloading
        is allowed by the caller's forecast. The decision is held over the horizon.
        """
        p = self.problem(obs, work, snr, stay, goal)
        self.last_problem = p
        # Warm start from the last decision of the same vehicles (a receding horizon moves
        # little from slot to slot); new vehicles start from full offloading.
        w = p.offloadable.astype(np.float64)
        if self._last_w is not None and self._last_ids.shape == obs["vehicle_id"].shape:
            same = (self._last_ids == obs["vehicle_id"]) & p.active
            w = np.where(same[:, None] & p.offloadable, self._last_w, w)
        starts = [w] if np.array_equal(w, p.offloadable) else [w, p.offloadable.astype(np.float64)]
        best: tuple[float, np.ndarray, np.ndarray] | None = None
        for w in starts:
            for _ in range(self.passes):
                a, _ = shares_for(p, w)
                w = offload_step(p, w, a, pass_state(p, w, a), self.sweeps)
            a, _ = shares_for(p, w)
            cost = model_cost(p, w, a)
            if best is None or cost < best[0]:
                best = (cost, w, a)
        assert best is not None
        _, w, a = best
        self._last_w, self._last_ids = w.copy(), np.asarray(obs["vehicle_id"]).copy()
        return w, a


class SPDPPAgent(DPPAgent):
    """Proactive and goal-aware: the twin's forecasts feed the solver; commands set the goal."""

    name = "sp-dpp"

    def __init__(self, env: gym.Env, v: float = 1.0, passes: int = 3, horizon: int = 5, sweeps: int = 2):
        super().__init__(env, v, passes, sweeps)
        self.twin = PredictiveTwin(self.cfg, horizon=horizon)
        self.command_id = 0
        self.expires_s = math.inf
        self.commands_rejected = 0

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.twin.reset()
        self.command_id = 0
        self.expires_s = math.inf
        self.commands_rejected = 0

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        self.twin.update(obs)
        now = float(obs["slot"][0]) * self.cfg.slot_s
        if info.get("command_id", 0) != self.command_id:
            self.command_id = info["command_id"]
            try:
                self.goal = self.interpret(info["command"])
                self.expires_s = now + self.goal.duration_s if self.goal.duration_s else math.inf
            except ValueError:
                self.commands_rejected += 1  # counted, visible in stats(); the goal stays
        if now >= self.expires_s:
            self.goal, self.expires_s = BALANCED, math.inf
        return super().act(obs, info)

    def interpret(self, text: str) -> GoalSpec:
        """The goal an operator command means (offline ``parse_command``); ``ValueError`` if none."""
        return parse_command(text)

    def _inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fc = self.twin.forecast()
        active = obs["active"].astype(bool)
        # Expected arrivals in each horizon slot (bytes per slot), as cycles, (H, M, K).
        work = fc.arrivals_bytes * self.cpb * active[:, None]
        # Predicted mean SNR per horizon slot; with fading its median (x ln 2) sets the typical rate.
        snr = 10.0 ** (fc.snr_db / 10.0) * (math.log(2.0) if self.cfg.fading else 1.0)
        # A vehicle predicted to leave the road within the horizon keeps its new work local.
        stay = active & fc.mask[-1]
        return work, snr * active, stay

    def stats(self) -> dict[str, Any]:
        return {"goal": self.goal.label, "commands_rejected": self.commands_rejected}


class OracleAgent(SPDPPAgent):
    """``sp-dpp`` with perfect foresight: a bound, not a policy.

    Unlike every other agent it reads simulator internals: each slot it clones the simulator
    (``copy.deepcopy`` of ``env.unwrapped.sim``) and runs the clone H slots ahead, so the clone
    sees exactly the arrivals, channel gains (fading included) and departures the real road will
    have (the v2 engine's draws are counter-based: they do not depend on the actions). The solver
    then gets the true future in place of the twin's forecasts.
    """

    name = "oracle"

    def __init__(self, env: gym.Env, v: float = 1.0, passes: int = 3, horizon: int = 5, sweeps: int = 2):
        super().__init__(env, v, passes, horizon, sweeps)
        self.env = env
        self.horizon = horizon

    def _inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import copy

        core: Any = self.env.unwrapped
        sim = copy.deepcopy(core.sim)
        active = obs["active"].astype(bool)
        vid = sim.vid.copy()
        M, K = sim.n_max, sim.K
        zero = np.zeros((M, K))
        work = np.zeros((self.horizon, M, K))
        snr = np.zeros((self.horizon, M))
        stay = active.copy()
        for h in range(self.horizon):
            snr[h] = sim.snr()  # the true SNR of the coming slot, fading included
            sim.step(zero, zero)
            work[h] = sim.last_arrivals_bytes * self.cpb
            stay &= sim.vid == vid
        return work * active[:, None], snr * active, stay
