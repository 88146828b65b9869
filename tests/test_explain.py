"""Per-slot decision explanations (agents.explain): the text names the offloaded vehicles, the
server split and the dominant term, with the numbers of the decision and its problem."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.explain import OFFLOAD_MIN, TERM_LABEL, explain_slot, offload_ratios
from agents.lyapunov import SPDPPAgent, model_terms
from vecgym import scenarios


@pytest.fixture(scope="module")
def slot():
    """(problem, solver action, vehicle ids) at slot 25 of an 8-vehicle road, seed 0."""
    env = scenarios.make("scalability", n_vehicles=8.0, max_episode_steps=40)
    solver = SPDPPAgent(env)
    solver.reset(0)
    obs, info = env.reset(seed=0)
    for _ in range(25):
        act = solver.act(obs, info)
        ids = obs["vehicle_id"].copy()
        obs, _, _, _, info = env.step(act)
    env.close()
    return solver.last_problem, act.astype(np.float64), ids


def test_names_offloaded_vehicles_shares_and_dominant_term(slot):
    p, act, ids = slot
    w, a = act
    e = explain_slot(p, w, a, ids)
    ratio = offload_ratios(p, w)
    active = np.flatnonzero(p.active)
    assert set(e.offloaded) | set(e.kept_local) == {int(ids[m]) for m in active}
    for m in active:
        vid = int(ids[m])
        assert (vid in e.offloaded) == (ratio[m] >= OFFLOAD_MIN)
        if vid in e.offloaded:
            assert e.offloaded[vid] == pytest.approx(ratio[m])
            assert f"{vid}" in e.text.split("Server")[0]
    # shares: Σ_k a per vehicle, per server, as in the action
    for s, by in e.shares.items():
        for vid, share in by.items():
            m = int(np.flatnonzero(ids == vid)[0])
            assert p.holder[m] == s and share == pytest.approx(a[m].sum())
            assert f"vehicle {vid} {100 * share:.0f}%" in e.text
    # dominant: the largest terms of J, in order, with their values in the text
    terms = model_terms(p, w, a)
    top = max(terms, key=terms.get)
    assert e.dominant[0] == (top, pytest.approx(terms[top]))
    assert [v for _, v in e.dominant] == sorted((v for _, v in e.dominant), reverse=True)
    assert e.total == pytest.approx(sum(terms.values()))
    assert f"{TERM_LABEL[top]} {terms[top]:.3g}" in e.text
    assert e.reason.startswith(TERM_LABEL[top].capitalize() + " dominates") and e.reason in e.text
    assert explain_slot(p, w, a, ids) == e  # deterministic


def test_kept_local_vehicle_and_the_reason_numbers(slot):
    p, act, ids = slot
    w, a = act.copy()
    active = np.flatnonzero(p.active)
    keep = active[np.argmax(p.work.mean(0)[active].sum(1))]  # the vehicle with the most new work
    w[active] = 1.0
    w[keep] = 0.0
    e = explain_slot(p, w, a, ids)
    vid = int(ids[keep])
    assert e.kept_local == (vid,) and vid not in e.offloaded
    assert f"kept local: vehicle {vid}." in e.text
    assert e.dominant[0][0] == "qos_local"  # a 5 GHz CPU cannot keep up with the most loaded vehicle
    load = p.local + ((1.0 - w) * p.work.mean(0)).sum(1)
    share = load[keep] / load[p.active].sum()
    assert f"vehicle {vid} has {100 * share:.0f}% of the road's local work" in e.text
    assert f"{load[keep] / 1e9:.2g} Gcycles" in e.text


def test_edge_reason_names_the_largest_holder(slot):
    p, act, ids = slot
    w, a = act
    e = explain_slot(p, w, a, ids)
    if e.dominant[0][0] not in ("qos_edge", "energy_edge"):
        pytest.skip("edge terms do not dominate this slot")
    load = np.where(p.held, (p.edge + w * p.work.mean(0)).sum(1), 0.0)
    m = int(np.argmax(load))
    assert f"vehicle {int(ids[m])} holds {100 * load[m] / load.sum():.0f}% of server {p.holder[m]}'s work" in e.text


def test_infinite_cost_is_explained(slot):
    p, _, ids = slot
    e = explain_slot(p, np.ones(p.q.shape), np.zeros(p.q.shape), ids)
    assert math.isinf(e.total) and "infinite" in e.text
    assert all(f"{int(ids[m])}" in e.reason for m in np.flatnonzero(p.held))
    assert e.shares == {}
