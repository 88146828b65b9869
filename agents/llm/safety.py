"""A cost-based safety filter for the LLM's answer: replace an answer the solver's model prices
well above the solver's own decision.

``check_answer`` (``agents.llm.answer``) bounds an answer by the action space only: a compromised
or confused model can still starve a vehicle, hand one vehicle the whole edge server or offload
everything into a congested cell, every slot. ``SafetyFilter.check`` prices the answer and the
slot's solver decision with the solver's own cost model, **capped where the reward is capped**
(``capped_terms``: reward units, mean over the twin's horizon), on the **same slot problem**
(``solver.last_problem``: the same forecasts, backlogs, QoS and energy prices, goal) and rejects
the answer when

    J(answer) > J(solver) + margin_rel·|J(solver)| + margin_abs,

or when J(answer) is infinite (an edge queue with work and no share: its work would stall) or not
a number. The caller then applies the solver's decision for the slot.

**The capped cost.** J = Σ_vehicles Σ_queues min(model QoS cost, bound) + the model's energy
terms (``agents.lyapunov.model_terms``, unchanged). The per-vehicle, per-queue QoS costs (local
CPU, uplink, edge, downlink) and their bounds come from ``agents.lyapunov.problem.queue_qos_costs``
(the solver itself never calls it: its decisions are unchanged). The reward charges a task
weight × min(latency / D_eff, qos_cost_cap) / norm (D_eff = deadline · goal.deadline_scale); the
model prices a task-second at q = β_Q·ω/(D_eff·norm), so a task costs the reward at most
q·D_eff·cap, and a queue at most cap · Σ (its new tasks + its backlog as tasks, backlog / mean
task size) × q·D_eff. The model's own overload cost has no such limit (1/(r − λ) continued along
its tangent): uncapped, a decision that the twin's forecasts say overloads one vehicle's CPU was
priced at 10¹–10⁴ × J(solver), and 34% of the oracle's decisions were rejected. A cost that is
not finite stays infinite (an offloaded queue with no share is still a hard reject). The cap
needs the goal's deadline scale: ``check(..., deadline_scale=solver.goal.deadline_scale)``
(default 1, the balanced goal's).

**What is costed: the action as the env executes it.** Both decisions are projected as
``vecgym.actions.check_action`` and the engine would: inactive slots zeroed, values clipped to
[0, 1] (NaN is rejected, reason ``"not_finite"``), a server's Σa > 1 scaled down to 1, and w = 0
for a vehicle in a coverage gap (``p.cell < 0``: it offloads nothing new). Without the last step a
harmless w > 0 in a gap would be priced as an upload at rate 0 (infinite energy).

**Link rates and backlog prices.** The uplink and downlink rates (a cell's band is split among the
vehicles that upload, so they depend on w) and the per-unit QoS price of each FIFO backlog (from
the mix of work w routes there) are each decision's **own** (``pass_prices``, as the solver itself
ranks its candidates in ``DPPAgent.decide``): the same function J of the decision for both, on the
same problem. Holding the solver's would price an answer that offloads more vehicles at rates
computed for the solver's (smaller) set of uploaders: congestion-free uploads, a bias in favour of
exactly the answers that crowd the cell. ``benchmarks.safety`` reports both variants; on its runs
(one RSU) they reject the same slots.

**The margin** (``MARGIN_REL`` = 3.0, ``MARGIN_ABS`` = 0.02 reward units: an answer may cost up
to 4·J(solver) + 0.02) was chosen on the held-out runs (``benchmarks.safety --seeds 1``,
``docs/results/safety/calibration_seed1``) as the smallest margin of the sweep at which the
legitimate decisions priced on ``sp-dpp``'s problem (the oracle's: the same solver with the true
future; ``dpp``'s and ``dpp-ewma``'s) are all rejected in ≤ 2% of the slots: at 3, 0.5%, 0.1%,
0.1% (at 2: 3.7%, 1.8%, 1.5%). With the cap their cost ratios (J(d) − J(solver))/|J(solver)|
end near +3 to +4 (seed 1 max: oracle +3.97, dpp +3.40). The absolute part only matters where
J(solver) ≈ 0 (no modelled work; J(solver)'s p1 is 0.29).

**Measured (``docs/results/safety/``, seed 0 = the exemplar pool's runs, 2400 slots).** False
rejects: oracle 0.04% (1/2400), dpp 0.2%, dpp-ewma 0.1% (uncapped, the same margin: 34.0%, 19.7%,
17.9%). A hijacked answer (every share to one vehicle; w = 1 or the solver's) is replaced in 100%
of the slots with two or more vehicles on the server and modelled work (infinite cost: the
others' edge work stalls). **The price of the cap:** a bounded cost leaves less room between a
legitimate decision and a bad one. The finite hijack (99% of the server to one vehicle) is
replaced in 89.7% of those slots (uncapped: 96.5%) and a random answer in 52.8% (uncapped 99.0%;
seed 1: 91.3%): under the reward's cap a random answer often costs less than 4 × the solver's. A
decision that keeps one vehicle's work entirely local (its tasks all at the cap) adds at most
cap/n_vehicles of the reward per slot for its new tasks, plus its backlog's, and passes
(``tests/test_safety.py``).

Pure numpy; one ``check`` is two evaluations of the capped J: median 2.5 ms at 8 vehicles (27
slots) on one core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agents.lyapunov.problem import (
    QOS_QUEUES,
    PassState,
    SlotProblem,
    backlog_prices,
    link_rates,
    model_terms,
    queue_qos_costs,
)

MARGIN_REL = 3.0
"""Relative slack over |J(solver)|: J(answer) up to 4·J(solver) (see the module docstring)."""
MARGIN_ABS = 0.02
"""Absolute slack in reward units: it matters only where J(solver) ≈ 0 (no modelled work)."""
N_WORST = 3


@dataclass(frozen=True)
class Verdict:
    """The filter's decision on one answer. Costs in the reward's units (capped model J, horizon mean)."""

    accepted: bool
    answer_cost: float
    solver_cost: float
    excess: float  # answer_cost - solver_cost (inf when the answer's cost is infinite)
    allowed: float  # the largest answer cost accepted: solver + margin_rel·|solver| + margin_abs
    reason: str | None  # None when accepted; "cost_excess" | "infinite_cost" | "not_finite" | "bad_shape"
    worst_terms: tuple[tuple[str, float], ...]  # the terms of J that grew most (answer − solver), > 0 only

    def describe(self) -> str:
        """One line for logs and transcripts."""
        if self.accepted:
            return f"accepted: J {self.answer_cost:.4g} vs solver {self.solver_cost:.4g} (allowed {self.allowed:.4g})"
        terms = ", ".join(f"{name} +{d:.3g}" for name, d in self.worst_terms) or "-"
        return (
            f"rejected ({self.reason}): J {self.answer_cost:.4g} vs solver {self.solver_cost:.4g} "
            f"(allowed {self.allowed:.4g}); grew most: {terms}"
        )


def executed(p: SlotProblem, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(w, a) (M, K) as the env would execute them on this problem's road (see the module docstring).
    Raises ``ValueError`` on a wrong shape or a non-finite entry in an active slot."""
    M, K = p.q.shape
    w = np.asarray(w, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if w.shape != (M, K) or a.shape != (M, K):
        raise ValueError(f"w and a need shape {(M, K)}, got {w.shape} and {a.shape}")
    act = p.active[:, None]
    if not (np.isfinite(w) | ~act).all() or not (np.isfinite(a) | ~act).all():
        raise ValueError("NaN or infinity in an active slot")
    w = np.where(act & (p.cell >= 0)[:, None], np.clip(w, 0.0, 1.0), 0.0)
    a = np.where(p.held[:, None], np.clip(a, 0.0, 1.0), 0.0)
    held = p.held
    S = np.bincount(p.server[held], weights=a.sum(1)[held], minlength=p.cfg.n_servers)
    if (S > 1.0).any():  # scaled down radially, as the env does
        scale = 1.0 / np.maximum(S, 1.0)
        a = a * np.where(held, scale[p.server], 1.0)[:, None]
    return w, a


def pass_prices(p: SlotProblem, w: np.ndarray) -> PassState:
    """The part of ``agents.lyapunov.pass_state(p, w, a)`` that ``model_terms`` reads (link rates,
    backlog prices and task sizes: functions of w only), without the share-step fields (left
    empty); ``tests/test_safety.py`` checks they agree."""
    r_up, r_dl = link_rates(p, w)
    psi, size = backlog_prices(p, w)
    empty = np.zeros(0)
    return PassState(r_up, r_dl, psi, size, share=empty, speed=empty, spare=empty, dilution=empty)


def decision_terms(p: SlotProblem, w: np.ndarray, a: np.ndarray) -> dict[str, float]:
    """J(w, a) by term for an executed decision, under its own link rates and backlog prices
    (equal to ``model_terms(p, w, a)``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return model_terms(p, w, a, pass_prices(p, w))


def capped_terms(
    p: SlotProblem, w: np.ndarray, a: np.ndarray, deadline_scale: float = 1.0, ps: PassState | None = None
) -> dict[str, float]:
    """The filter's J by term for an executed decision: each vehicle's QoS cost per queue capped at
    what the reward can charge for the tasks in that queue (``agents.lyapunov.problem.
    queue_qos_costs``: tasks × q·D_eff·qos_cost_cap, D_eff = deadline · ``deadline_scale``), summed;
    the energy terms of ``model_terms`` unchanged. A cost that is not finite is kept (an edge queue
    with work and no share: +inf, a hard reject). Own link rates and backlog prices, as
    ``decision_terms`` (``ps`` None) or those given."""
    ps = pass_prices(p, w) if ps is None else ps
    d_eff = np.asarray(p.cfg.per_type("deadline_s"), dtype=np.float64) * float(deadline_scale)
    if not (math.isfinite(deadline_scale) and deadline_scale > 0.0):
        raise ValueError(f"deadline_scale must be finite and > 0, got {deadline_scale!r}")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        terms = model_terms(p, w, a, ps)
        qc = queue_qos_costs(p, w, a, ps, d_eff)
    for queue in QOS_QUEUES:
        cost, bound = qc[f"qos_{queue}"], qc[f"cap_{queue}"]
        capped = np.where(np.isfinite(cost), np.minimum(cost, bound), cost)  # inf and NaN stay
        terms[f"qos_{queue}"] = float(capped.sum())
    return terms


def _total(terms: dict[str, float]) -> float:
    total = float(sum(terms.values()))
    return math.inf if math.isnan(total) else total


class SafetyFilter:
    """Accept an answer unless its capped model cost exceeds the solver's by more than the margin.

    ``check(problem, answer_w, answer_a, solver_w, solver_a, *, deadline_scale=1.0)``: all four
    (M, K) arrays over the env's vehicle slots (``action[0]``, ``action[1]``), ``problem`` the
    solver's ``last_problem`` of this slot, ``deadline_scale`` its goal's (for the reward's cap).
    Counters ``checked`` / ``rejected`` (by reason) for stats.
    """

    def __init__(self, margin_rel: float = MARGIN_REL, margin_abs: float = MARGIN_ABS):
        if not (margin_rel >= 0.0 and margin_abs >= 0.0 and math.isfinite(margin_rel) and math.isfinite(margin_abs)):
            raise ValueError("margins must be finite and >= 0")
        self.margin_rel = float(margin_rel)
        self.margin_abs = float(margin_abs)
        self.reset()

    def reset(self) -> None:
        """Zero the counters (an agent's episode starts)."""
        self.checked = 0
        self.rejected: dict[str, int] = {}

    def allowed(self, solver_cost: float) -> float:
        """The largest answer cost accepted against a solver cost."""
        return solver_cost + self.margin_rel * abs(solver_cost) + self.margin_abs

    def check(
        self,
        problem: SlotProblem,
        answer_w: np.ndarray,
        answer_a: np.ndarray,
        solver_w: np.ndarray,
        solver_a: np.ndarray,
        *,
        deadline_scale: float = 1.0,
    ) -> Verdict:
        """The verdict on the answer (see the class docstring). ``deadline_scale``: the goal's
        (``solver.goal.deadline_scale``), for the reward's cap of a task's cost (3 deadlines ×
        scale); default 1."""
        self.checked += 1
        sw, sa = executed(problem, solver_w, solver_a)
        s_terms = capped_terms(problem, sw, sa, deadline_scale)
        s_cost = _total(s_terms)
        allowed = self.allowed(s_cost)
        try:
            aw, aa = executed(problem, answer_w, answer_a)
        except ValueError as exc:
            reason = "not_finite" if "NaN" in str(exc) else "bad_shape"
            return self._reject(Verdict(False, math.inf, s_cost, math.inf, allowed, reason, ()))
        a_terms = capped_terms(problem, aw, aa, deadline_scale)
        a_cost = _total(a_terms)
        # The terms that grew (inf - inf is NaN: a term infinite for both is left out).
        grew = sorted(
            ((k, a_terms[k] - s_terms[k]) for k in a_terms if a_terms[k] - s_terms[k] > 0.0),
            key=lambda kv: (-kv[1], kv[0]),
        )
        worst = tuple((k, float(d)) for k, d in grew[:N_WORST])
        excess = a_cost - s_cost if math.isfinite(a_cost) else math.inf
        if not math.isfinite(a_cost):  # even against an infinite solver cost: the solver is the safe path
            return self._reject(Verdict(False, a_cost, s_cost, excess, allowed, "infinite_cost", worst))
        if a_cost > allowed:
            return self._reject(Verdict(False, a_cost, s_cost, excess, allowed, "cost_excess", worst))
        return Verdict(True, a_cost, s_cost, excess, allowed, None, worst)

    def check_action(
        self, problem: SlotProblem, answer: np.ndarray, solver: np.ndarray, *, deadline_scale: float = 1.0
    ) -> Verdict:
        """``check`` on two env actions of shape (2, M, K) (row 0 = w, row 1 = a)."""
        return self.check(problem, answer[0], answer[1], solver[0], solver[1], deadline_scale=deadline_scale)

    def _reject(self, v: Verdict) -> Verdict:
        assert v.reason is not None
        self.rejected[v.reason] = self.rejected.get(v.reason, 0) + 1
        return v

    def stats(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "margin_rel": self.margin_rel,
            "margin_abs": self.margin_abs,
        }
