"""A cost-based safety filter for the LLM's answer: replace an answer the solver's model prices
well above the solver's own decision.

``check_answer`` (``agents.llm.answer``) bounds an answer by the action space only: a compromised
or confused model can still starve a vehicle, hand one vehicle the whole edge server or offload
everything into a congested cell, every slot. ``SafetyFilter.check`` prices the answer and the
slot's solver decision with the solver's own model cost J(w, a) (``agents.lyapunov.model_terms``,
reward units, mean over the twin's horizon) on the **same slot problem** (``solver.last_problem``:
the same forecasts, backlogs, QoS and energy prices, goal) and rejects the answer when

    J(answer) > J(solver) + margin_rel·|J(solver)| + margin_abs,

or when J(answer) is infinite (an edge queue with work and no share: its work would stall) or not
a number. The caller then applies the solver's decision for the slot.

**What is costed: the action as the env executes it.** Both decisions are projected as
``vecgym.actions.check_action`` and the engine would: inactive slots zeroed, values clipped to
[0, 1] (NaN is rejected, reason ``"not_finite"``), a server's Σa > 1 scaled down to 1, and w = 0
for a vehicle in a coverage gap (``p.cell < 0``: it offloads nothing new). Without the last step a
harmless w > 0 in a gap would be priced as an upload at rate 0 (infinite energy).

**Link rates and backlog prices (``model_terms(..., ps=...)``).** ``ps`` holds the uplink and
downlink rates (a cell's band is split among the vehicles that upload, so they depend on w) and
the per-unit QoS price of each FIFO backlog (from the mix of work w routes there). Each decision
is costed under **its own** ``ps`` (``ps=None``, as the solver itself ranks its candidates in
``DPPAgent.decide``): the same function J of the decision for both, on the same problem. Holding
the solver's ``ps`` for the answer would price an answer that offloads more vehicles at rates
computed for the solver's (smaller) set of uploaders: congestion-free uploads, a bias in favour of
exactly the answers that crowd the cell. ``benchmarks.safety`` reports both variants; on its runs
(one RSU) they reject the same number of slots of every kind of decision.

**The margin** (defaults ``MARGIN_REL`` = 2.0, ``MARGIN_ABS`` = 0.02 reward units: an answer may
cost up to 3·J(solver) + 0.02) comes from the cost ratios (J(d) − J(solver))/|J(solver)| that
``benchmarks.safety`` measured for legitimate decisions d priced on ``sp-dpp``'s problem: the
oracle's (the same solver with the true future), ``dpp``'s and ``dpp-ewma``'s. The distribution is
bimodal. Its body ends near +1.5 (held-out seed 1: p80 +1.15 for dpp, +1.01 for dpp-ewma, +0.5 for
the oracle; p90 +1.54 and +1.18 for dpp and dpp-ewma); above it is a tail of decisions that, under
the twin's forecasts, overload a FIFO (mostly a vehicle CPU: work kept local that the twin expects
to exceed 0.5 Gcycles a slot), which the model prices along its overload tangent at 10¹–10⁴ ×
J(solver). Margin 2 sits at the knee on the held-out runs (seed 1: from margin 1 to 2 the dpp
false rejects fall 22% → 8.5%, from 2 to 10 only to 8.0%, while the finite-cost hijack's
replacement stays ≥ 98% up to 2 and falls to 92% at 10 and 17% at 30). The absolute part only
matters where J(solver) ≈ 0 (no modelled work; J(solver)'s p1 is 0.27).

**Measured (``docs/results/safety/``, seed 0 = the exemplar pool's runs, 2400 slots).** A
hijacked answer (every share to one vehicle) is replaced in 100% of the slots with two or more
vehicles on the server and modelled work (infinite cost: the others' edge work stalls); 97.8%
for a finite variant (99% of the server to one vehicle); a random answer 99.2%. The false-reject
target (≤ 2%) is **not** met: oracle 35.8%, dpp 21.0%, dpp-ewma 19.1% (seed 1: 16.4%, 8.5%,
7.6%), and no margin below 1000 × J(solver) meets it (at 1000: 3.2%, 1.5%, 1.6%, and the finite
hijack is no longer caught). The cause is the tail above: a decision made on other information is
judged on the twin's forecasts, and the model's QoS has no cap where the reward caps a task at
``qos_cost_cap`` deadlines. Capping each queue's modelled QoS at that bound is the next step.

Pure numpy; one ``check`` is two evaluations of J: median 1.5 ms at 8 vehicles (27 slots) on one core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agents.lyapunov.problem import PassState, SlotProblem, link_rates, model_terms

MARGIN_REL = 2.0
"""Relative slack over |J(solver)|: J(answer) up to 3·J(solver) (see the module docstring)."""
MARGIN_ABS = 0.02
"""Absolute slack in reward units: it matters only where J(solver) ≈ 0 (no modelled work)."""
N_WORST = 3


@dataclass(frozen=True)
class Verdict:
    """The filter's decision on one answer. Costs in the reward's units (model J, horizon mean)."""

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
    empty). Same arithmetic as ``pass_state``; ``tests/test_safety.py`` checks they agree."""
    cfg = p.cfg
    r_up, r_dl = link_rates(p, w)
    m = p.tasks.mean(0)
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
    empty = np.zeros(0)
    return PassState(r_up, r_dl, psi, size, share=empty, speed=empty, spare=empty, dilution=empty)


def decision_terms(p: SlotProblem, w: np.ndarray, a: np.ndarray) -> dict[str, float]:
    """J(w, a) by term for an executed decision, under its own link rates and backlog prices
    (equal to ``model_terms(p, w, a)``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return model_terms(p, w, a, pass_prices(p, w))


def _total(terms: dict[str, float]) -> float:
    total = float(sum(terms.values()))
    return math.inf if math.isnan(total) else total


class SafetyFilter:
    """Accept an answer unless its model cost exceeds the solver's by more than the margin.

    ``check(problem, answer_w, answer_a, solver_w, solver_a)``: all four (M, K) arrays over the
    env's vehicle slots (``action[0]``, ``action[1]``), ``problem`` the solver's
    ``last_problem`` of this slot. Counters ``checked`` / ``rejected`` (by reason) for stats.
    """

    def __init__(self, margin_rel: float = MARGIN_REL, margin_abs: float = MARGIN_ABS):
        if not (margin_rel >= 0.0 and margin_abs >= 0.0 and math.isfinite(margin_rel) and math.isfinite(margin_abs)):
            raise ValueError("margins must be finite and >= 0")
        self.margin_rel = float(margin_rel)
        self.margin_abs = float(margin_abs)
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
    ) -> Verdict:
        self.checked += 1
        sw, sa = executed(problem, solver_w, solver_a)
        s_terms = decision_terms(problem, sw, sa)
        s_cost = _total(s_terms)
        allowed = self.allowed(s_cost)
        try:
            aw, aa = executed(problem, answer_w, answer_a)
        except ValueError as exc:
            reason = "not_finite" if "NaN" in str(exc) else "bad_shape"
            return self._reject(Verdict(False, math.inf, s_cost, math.inf, allowed, reason, ()))
        a_terms = decision_terms(problem, aw, aa)
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

    def check_action(self, problem: SlotProblem, answer: np.ndarray, solver: np.ndarray) -> Verdict:
        """``check`` on two env actions of shape (2, M, K) (row 0 = w, row 1 = a)."""
        return self.check(problem, answer[0], answer[1], solver[0], solver[1])

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
