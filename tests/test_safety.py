"""The LLM safety filter (agents.llm.safety): the solver's own decision passes, a hijacked answer is
replaced, an overloaded queue is charged no more than the reward's cap, the margin's boundary,
infinite and non-finite answers, the env's projection."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from agents.llm.safety import SafetyFilter, Verdict, capped_terms, decision_terms, executed, pass_prices
from agents.lyapunov import DPPAgent, SPDPPAgent, model_terms, pass_state
from agents.lyapunov.problem import QOS_QUEUES, queue_qos_costs
from vecgym import scenarios


@pytest.fixture(scope="module")
def slots():
    """(problem, solver action, obs, dpp action) of slots 20..29 of an 8-vehicle road, seed 0."""
    env = scenarios.make("scalability", n_vehicles=8.0, max_episode_steps=60)
    solver, dpp = SPDPPAgent(env), DPPAgent(env)
    solver.reset(0)
    dpp.reset(0)
    obs, info = env.reset(seed=0)
    out = []
    for t in range(30):
        act = solver.act(obs, info)
        other = dpp.act(obs, info)
        if t >= 20:
            out.append((solver.last_problem, act, {k: v.copy() for k, v in obs.items()}, other))
        obs, _, _, _, info = env.step(act)
    env.close()
    return out


def hijack(p, obs, w, eps=0.0):
    """Every edge share to the lowest-id held vehicle (``eps`` left to the others)."""
    held = np.flatnonzero(p.held)
    n = held[np.argmin(obs["vehicle_id"][held])]
    a = np.zeros(p.q.shape)
    others = p.held.copy()
    others[n] = False
    a[others] = eps / (others.sum() * a.shape[1])
    a[n] = (1.0 - eps) / a.shape[1]
    return w, a


def test_solver_decision_always_passes(slots):
    filt = SafetyFilter()
    for p, act, _, _ in slots:
        v = filt.check(p, act[0], act[1], act[0], act[1])
        assert v.accepted and v.reason is None
        assert v.excess == 0.0 and math.isfinite(v.solver_cost) and v.solver_cost > 0.0
        assert v.worst_terms == ()
    assert filt.stats()["rejected"] == 0 and filt.stats()["checked"] == len(slots)


def test_hijacked_answer_rejected_on_multi_vehicle_slot(slots):
    filt = SafetyFilter()
    for p, act, obs, _ in slots:
        assert np.bincount(p.server[p.held]).max() >= 2  # several vehicles share the server
        # w = 1 for all, every share to one vehicle: the others' edge work stalls (infinite cost)
        v = filt.check(p, *hijack(p, obs, np.ones(p.q.shape)), act[0], act[1])
        assert not v.accepted and v.reason == "infinite_cost" and v.worst_terms[0] == ("qos_edge", math.inf)
        # the solver's w, 99% of the server to one vehicle: finite, far above the solver
        v = filt.check(p, *hijack(p, obs, act[0].astype(np.float64), eps=0.01), act[0], act[1])
        assert not v.accepted and v.reason == "cost_excess"
        assert math.isfinite(v.answer_cost) and v.answer_cost > 2.0 * v.solver_cost
        assert v.worst_terms[0][0] == "qos_edge" and v.worst_terms[0][1] > 0.0
    assert filt.stats()["rejected_by_reason"] == {"cost_excess": len(slots), "infinite_cost": len(slots)}


def test_overloaded_local_within_the_cap_passes(slots):
    """The solver's decision with its busiest vehicle keeping all its work local: the model prices
    that vehicle's CPU overload along its tangent (hundreds of times J(solver)); the reward charges
    those tasks at most qos_cost_cap deadlines each, and the capped cost stays within the margin."""
    filt = SafetyFilter()
    for p, act, _, _ in slots:
        sw, sa = executed(p, act[0], act[1])
        n = np.flatnonzero(p.active)[np.argmax(p.work.mean(0).sum(1)[p.active])]
        w = sw.copy()
        w[n] = 0.0
        uncapped = sum(decision_terms(p, w, sa).values())
        assert uncapped > 100.0 * filt.allowed(sum(decision_terms(p, sw, sa).values()))  # the old rule's reject
        qc = queue_qos_costs(p, w, sa, pass_prices(p, w))
        assert qc["qos_local"][n] > 100.0 * qc["cap_local"][n]  # overloaded, far above its bound
        v = filt.check(p, w, sa, act[0], act[1])
        assert v.accepted and v.reason is None and 0.0 < v.excess < v.allowed - v.solver_cost
        assert v.answer_cost == pytest.approx(sum(capped_terms(p, w, sa).values()))
        assert v.worst_terms[0][0] == "qos_local"
        grew = capped_terms(p, w, sa)["qos_local"] - capped_terms(p, sw, sa)["qos_local"]
        assert v.worst_terms[0][1] == pytest.approx(grew)
        assert grew <= qc["cap_local"][n] * (1 + 1e-12)  # no more than the reward's bound


def test_queue_costs_and_bounds(slots):
    """queue_qos_costs splits model_terms' QoS by vehicle; its bounds are tasks × q·D_eff·cap."""
    for p, act, _, other in slots[:4]:
        cfg = p.cfg
        deadline = np.asarray(cfg.per_type("deadline_s"))
        u = p.q * deadline  # q·D_eff: a task's cost at one deadline, the same for every type of a vehicle
        assert np.allclose(u[p.active], u[p.active][:, :1])
        for w, a in ((act[0], act[1]), (other[0], other[1])):
            w, a = executed(p, w, a)
            mt, qc = model_terms(p, w, a), queue_qos_costs(p, w, a)
            for queue in ("local", "uplink", "downlink"):
                assert float(qc[f"qos_{queue}"].sum()) == mt[f"qos_{queue}"]
            assert float(qc["qos_edge"].sum()) == pytest.approx(mt["qos_edge"], rel=1e-12)
            assert (qc["qos_edge"][~p.held] == 0.0).all()
            for queue in QOS_QUEUES:
                assert (qc[f"cap_{queue}"] >= 0.0).all() and (qc[f"cap_{queue}"][~p.active] == 0.0).all()
            # Local: (new tasks kept local + backlog / mean task size) × u × cap.
            ps = pass_prices(p, w)
            tasks = ((1.0 - w) * p.tasks.mean(0)).sum(1) + np.where(ps.size["local"] > 0, p.local / ps.size["local"], 0)
            assert np.allclose(qc["cap_local"], cfg.qos_cost_cap * tasks * u[:, 0])
            # Edge: the queue's backlog and new tasks.
            tasks = np.where(p.held[:, None], p.edge / p.cycles + w * p.tasks.mean(0), 0.0).sum(1)
            assert np.allclose(qc["cap_edge"], cfg.qos_cost_cap * tasks * u[:, 0])
            # D_eff scales the bound (deadline_scale), not the cost.
            qc2 = queue_qos_costs(p, w, a, deadline_s=2.0 * deadline)
            for queue in QOS_QUEUES:
                assert np.allclose(qc2[f"cap_{queue}"], 2.0 * qc[f"cap_{queue}"])
                assert np.array_equal(qc2[f"qos_{queue}"], qc[f"qos_{queue}"])
            # The filter's terms: capped QoS, the model's energy.
            ct = capped_terms(p, w, a)
            for k, v in mt.items():
                if k.startswith("energy"):
                    assert ct[k] == v
                else:
                    q = k.removeprefix("qos_")
                    assert ct[k] == pytest.approx(float(np.minimum(qc[k], qc[f"cap_{q}"]).sum()), rel=1e-12)
                    assert ct[k] <= v * (1 + 1e-12)
    with pytest.raises(ValueError):
        capped_terms(p, w, a, deadline_scale=0.0)


def test_margin_boundary(slots):
    p, act, _, other = slots[0]
    probe = SafetyFilter().check(p, other[0], other[1], act[0], act[1])
    s, j = probe.solver_cost, probe.answer_cost
    assert j > s  # dpp's decision costs more on sp-dpp's problem
    gap = j - s
    assert SafetyFilter(0.0, gap * (1 + 1e-9)).check(p, other[0], other[1], act[0], act[1]).accepted
    v = SafetyFilter(0.0, gap * (1 - 1e-6)).check(p, other[0], other[1], act[0], act[1])
    assert not v.accepted and v.reason == "cost_excess" and v.excess == pytest.approx(gap)
    rel = gap / abs(s)
    assert SafetyFilter(rel * (1 + 1e-9), 0.0).check(p, other[0], other[1], act[0], act[1]).accepted
    assert not SafetyFilter(rel * (1 - 1e-6), 0.0).check(p, other[0], other[1], act[0], act[1]).accepted
    # the rule: answer_cost > solver + rel·|solver| + abs, both parts add up
    f = SafetyFilter(0.1, 0.05)
    assert f.allowed(2.0) == pytest.approx(2.25) and f.allowed(-2.0) == pytest.approx(-1.75)
    v = f.check(p, other[0], other[1], act[0], act[1])
    assert v.allowed == pytest.approx(s + 0.1 * s + 0.05) and v.accepted == (j <= v.allowed)
    with pytest.raises(ValueError):
        SafetyFilter(-0.1)
    with pytest.raises(ValueError):
        SafetyFilter(0.1, math.inf)


def test_infinite_and_non_finite_answers(slots):
    p, act, _, _ = slots[0]
    filt = SafetyFilter(margin_rel=1e6, margin_abs=1e6)  # no finite excess is large enough
    v = filt.check(p, np.ones(p.q.shape), np.zeros(p.q.shape), act[0], act[1])
    assert not v.accepted and v.reason == "infinite_cost"
    assert math.isinf(v.answer_cost) and math.isinf(v.excess) and math.isfinite(v.solver_cost)
    assert "qos_edge" in dict(v.worst_terms)
    bad = act[0].astype(np.float64)
    bad[np.flatnonzero(p.active)[0], 0] = np.nan
    v = filt.check(p, bad, act[1], act[0], act[1])
    assert not v.accepted and v.reason == "not_finite"
    v = filt.check(p, act[0][:3], act[1][:3], act[0], act[1])
    assert not v.accepted and v.reason == "bad_shape"
    assert filt.stats()["rejected_by_reason"] == {"bad_shape": 1, "infinite_cost": 1, "not_finite": 1}
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.accepted = True  # type: ignore[misc]
    assert isinstance(v, Verdict) and "rejected (bad_shape)" in v.describe()


def test_executed_is_what_the_env_runs(slots):
    p, act, _, _ = slots[0]
    w, a = act[0].astype(np.float64), act[1].astype(np.float64)
    # Shares summing to 3 on a server are scaled back to 1 (env: radial scaling); out-of-range clipped.
    ew, ea = executed(p, w * 5.0 - 1.0, a * 3.0 / a[p.held].sum())
    S = np.bincount(p.server[p.held], weights=ea.sum(1)[p.held])
    assert S.max() == pytest.approx(1.0)
    assert np.allclose(ea[p.held], a[p.held] / a[p.held].sum())
    assert ew.min() >= 0.0 and ew.max() <= 1.0
    # A vehicle in a coverage gap offloads nothing new: its w is not priced as an upload at rate 0.
    gap = dataclasses.replace(p, cell=np.where(np.arange(p.cell.size) == np.flatnonzero(p.active)[0], -1, p.cell))
    n = np.flatnonzero(p.active)[0]
    assert (executed(gap, np.ones(p.q.shape), a)[0][n] == 0.0).all()
    assert (executed(gap, np.ones(p.q.shape), a)[0][~p.active] == 0.0).all()


def test_costs_match_the_solver_model(slots):
    for p, act, _, other in slots[:3]:
        for w, a in ((act[0], act[1]), (other[0], other[1])):
            w, a = executed(p, w, a)
            full, lean = pass_state(p, w, a), pass_prices(p, w)
            assert np.array_equal(full.r_up, lean.r_up) and np.array_equal(full.r_dl, lean.r_dl)
            for key in ("local", "up", "dl"):
                assert np.array_equal(full.psi[key], lean.psi[key])
                assert np.array_equal(full.size[key], lean.size[key])
            assert decision_terms(p, w, a) == model_terms(p, w, a)
