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

**Layout.** ``prices`` (the reward's normalisers, goal weights), ``queues`` (FIFO and pooled
M/G/1 costs, the tangent-continued 1/z), ``problem`` (the slot problem, link rates, the share
problem's inputs, a pass's held state, J by term), ``roots`` (``monotone_root``), ``shares``
(the edge-share solver), ``offload`` (the offloading solver), ``agent`` (``DPPAgent``,
``SPDPPAgent``, ``OracleAgent``). Every public name is importable from ``agents.lyapunov``.
"""

from __future__ import annotations

from .agent import DPPAgent, DPPEWMAAgent, OracleAgent, SPDPPAgent
from .offload import offload_gradient, offload_lines, offload_step, offload_surrogate
from .prices import RewardScale, goal_weights
from .problem import (
    EdgeInputs,
    PassState,
    SlotProblem,
    edge_inputs,
    link_rates,
    model_cost,
    model_terms,
    pass_state,
)
from .queues import fifo_cost, pooled_wait_cost, size_moment
from .roots import monotone_root
from .shares import predicted_edge_energy_j, share_objective, shares_for, solve_edge_shares

__all__ = [
    "DPPAgent",
    "DPPEWMAAgent",
    "EdgeInputs",
    "OracleAgent",
    "PassState",
    "RewardScale",
    "SPDPPAgent",
    "SlotProblem",
    "edge_inputs",
    "fifo_cost",
    "goal_weights",
    "link_rates",
    "model_cost",
    "model_terms",
    "monotone_root",
    "offload_gradient",
    "offload_lines",
    "offload_step",
    "offload_surrogate",
    "pass_state",
    "pooled_wait_cost",
    "predicted_edge_energy_j",
    "share_objective",
    "shares_for",
    "size_moment",
    "solve_edge_shares",
]
