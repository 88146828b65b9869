"""The drift-plus-penalty solver: closed-form shares against a general-purpose optimiser."""

from __future__ import annotations

import numpy as np
import pytest

import agents
from agents.lyapunov import (
    best_local_fraction,
    edge_share_given_lambda,
    offload_cost,
    slot_objective,
    solve_edge_shares,
)
from vecgym import scenarios


def _instance(rng: np.random.Generator, n: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c1 = rng.uniform(0, 1, n) * scale
    c3 = rng.uniform(0.01, 2, n) * rng.choice([0.0, 1.0], n, p=[0.2, 0.8])
    c_inv = rng.uniform(0, 0.05, n) * rng.choice([0.0, 1.0], n, p=[0.2, 0.8])
    return c1, c3, c_inv


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("scale", [0.1, 5.0])  # budget slack / budget binding
def test_edge_shares_match_scipy_on_small_instances(seed: int, scale: float) -> None:
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(seed)
    n = 5
    c1, c3, c_inv = _instance(rng, n, scale)
    a = solve_edge_shares(c1, c3, c_inv)
    assert (a >= 0).all() and (a <= 1).all() and a.sum() <= 1 + 1e-9
    lo = np.where(c_inv > 0, 1e-9, 0.0)
    best = np.inf
    for start in (np.full(n, 1.0 / n), np.full(n, 0.05), np.clip(a, 0.01, 0.9)):
        res = optimize.minimize(
            lambda x: slot_objective(x, c1, c3, c_inv),
            start,
            bounds=list(zip(lo, np.ones(n), strict=True)),
            constraints=[{"type": "ineq", "fun": lambda x: 1.0 - x.sum()}],
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 500},
        )
        best = min(best, res.fun)
    ours = slot_objective(a, c1, c3, c_inv)
    assert ours <= best + 1e-6 * max(1.0, abs(best)), (ours, best)


def test_shares_fall_as_the_energy_weight_rises() -> None:
    c1, c_inv = np.full(4, 0.2), np.full(4, 0.01)
    low = edge_share_given_lambda(0.0, c1, np.full(4, 0.1), c_inv)
    high = edge_share_given_lambda(0.0, c1, np.full(4, 10.0), c_inv)
    assert (high < low).all()


def test_empty_queues_get_no_share() -> None:
    a = solve_edge_shares(np.array([0.0, 0.5]), np.array([0.0, 1.0]), np.array([0.0, 0.01]))
    assert a[0] == 0.0 and a[1] > 0.0


def test_dpp_beats_the_heuristics_on_the_goal_cost_at_n20() -> None:
    costs = {}
    for name in ("go", "offload", "dpp"):
        env = scenarios.make("scalability", n_vehicles=20.0, max_episode_steps=150)
        agent = agents.make_agent(name, env)
        agent.reset(0)
        obs, info = env.reset(seed=0)
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(agent.act(obs, info))
            done = term or trunc
        costs[name] = -env.unwrapped.episode_metrics()["reward"]
    assert costs["dpp"] < min(costs["go"], costs["offload"]), costs


def _run(name: str, scenario: str, slots: int, seed: int = 0) -> dict:
    env = scenarios.make(scenario, max_episode_steps=slots)
    agent = agents.make_agent(name, env)
    agent.reset(seed)
    obs, info = env.reset(seed=seed)
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(agent.act(obs, info))
        done = term or trunc
    return env.unwrapped.episode_metrics()


def test_sp_dpp_follows_the_priority_command_and_dpp_ignores_it() -> None:
    sp, plain = _run("sp-dpp", "priority", 120), _run("dpp", "priority", 120)
    v7_sp, v7_plain = sp["per_vehicle"][7], plain["per_vehicle"][7]
    assert v7_sp["tasks"] > 100
    assert v7_sp["latency_ms"] <= 0.5 * sp["latency_ms_mean"], (v7_sp, sp["latency_ms_mean"])
    assert v7_plain["latency_ms"] > 0.7 * plain["latency_ms_mean"]  # balanced: no favour


def test_sp_dpp_saves_energy_after_the_paper_command() -> None:
    env = scenarios.make("goal_switch")
    agent = agents.make_agent("sp-dpp", env)
    agent.reset(0)
    obs, info = env.reset(seed=0)
    energy = []
    done = False
    while not done:
        obs, _, term, trunc, info = env.step(agent.act(obs, info))
        energy.append(info["metrics"]["energy_j"])
        done = term or trunc
    assert np.mean(energy[60:]) < 0.8 * np.mean(energy[10:50])


def test_oracle_sees_the_true_next_slot() -> None:
    env = scenarios.make("scalability", n_vehicles=15.0)
    oracle = agents.make_agent("oracle", env, horizon=1)
    oracle.reset(0)
    obs, info = env.reset(seed=3)
    for _ in range(5):
        obs, _, _, _, info = env.step(oracle.act(obs, info))
    work, snr, _ = oracle._inputs(obs, info)
    true_snr = env.unwrapped.sim.snr()
    obs2, *_ = env.step(env.action_space.sample())
    cpb = np.asarray(env.unwrapped.cfg.per_type("cycles_per_byte"))
    active = obs["active"].astype(bool)
    assert work.shape[0] == 1 and snr.shape[0] == 1  # one horizon slot
    np.testing.assert_allclose(work[0][active], (obs2["arrivals_bytes"] * cpb)[active], rtol=1e-6)
    np.testing.assert_allclose(snr[0][active], true_snr[active])


@pytest.mark.parametrize("seed", range(10))
def test_local_fraction_is_the_exact_minimiser_of_the_offloading_cost(seed: int) -> None:
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(seed)
    H, M = 4, 6
    total = rng.uniform(0, 3e8, (H, M)) * rng.choice([0.0, 1.0], (H, M), p=[0.1, 0.9])
    total[:, 0] = 0.0  # a vehicle with no new work
    m_edge_work = total * rng.uniform(0.5, 3.0, (H, M)) * 1e-0
    local = rng.uniform(0, 5e8, M)
    gamma = rng.uniform(1e-9, 1e-8, M)
    e_cycle = float(rng.uniform(0.2, 1.5))
    frac = best_local_fraction(m_edge_work, total, local, gamma, e_cycle)
    assert frac[0] == 0.0 and ((frac >= 0) & (frac <= 1)).all()
    ours = offload_cost(frac, m_edge_work, total, local, gamma, e_cycle)
    for n in range(1, M):

        def cost(f: float, n: int = n) -> float:
            one = np.full(M, f)
            return float(offload_cost(one, m_edge_work, total, local, gamma, e_cycle)[n])

        grid = min(cost(f) for f in np.linspace(0, 1, 2001))
        res = optimize.minimize_scalar(cost, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-12})
        best = min(grid, float(res.fun), cost(0.0), cost(1.0))
        assert ours[n] <= best + 1e-6 * max(abs(best), 1e-30), (n, ours[n], best)


def test_horizon_mean_of_queue_costs_is_solved_exactly() -> None:
    """The blocked-move horizon objective mean_h Σ_q f_q,h(a) has the same closed form as one slot."""
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(7)
    H, n = 3, 4
    per_h = [_instance(rng, n, 5.0) for _ in range(H)]
    c1 = np.mean([p[0] for p in per_h], axis=0)
    c3 = per_h[0][1]
    c_inv = np.mean([p[2] for p in per_h], axis=0)
    a = solve_edge_shares(c1, c3, c_inv)

    def horizon(x: np.ndarray) -> float:
        return float(np.mean([slot_objective(x, p[0], c3, p[2]) for p in per_h]))

    lo = np.where(c_inv > 0, 1e-9, 0.0)
    res = optimize.minimize(
        horizon,
        np.full(n, 1.0 / n),
        bounds=list(zip(lo, np.ones(n), strict=True)),
        constraints=[{"type": "ineq", "fun": lambda x: 1.0 - x.sum()}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert horizon(a) <= res.fun + 1e-6 * max(1.0, abs(res.fun))
