"""The drift-plus-penalty solver (v2 physics): its parts against general-purpose references, its
model against the env (normalisers, edge energy), and its behaviour on the scenarios."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import agents
import vecgym  # noqa: F401  (registers VEC-v0)
from agents.lyapunov import (
    DPPAgent,
    model_cost,
    monotone_root,
    offload_step,
    offload_surrogate,
    pass_state,
    predicted_edge_energy_j,
    share_objective,
    shares_for,
    solve_edge_shares,
)
from agents.rollout import rollout
from vecgym import scenarios


# ---------------------------------------------------------------------------------------------
# Edge shares: closed-form split + certified root search against SLSQP and a grid
def _instance(rng: np.random.Generator, n: int, scale: float) -> tuple[np.ndarray, float, float, float]:
    c = rng.uniform(0.0, 0.05, n) * rng.choice([0.0, 1.0], n, p=[0.2, 0.8])
    d = float(rng.uniform(0.0, 0.02))
    load = float(rng.uniform(0.0, 0.9))
    energy = float(rng.uniform(0.0, 1.0) * scale)
    return c, d, load, energy


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("scale", [0.01, 20.0])  # budget binding (cheap energy) / interior optimum
def test_edge_shares_match_scipy_on_small_instances(seed: int, scale: float) -> None:
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(seed)
    n = 5
    c, d, load, energy = _instance(rng, n, scale)
    a, S = solve_edge_shares(c, d, load, energy)
    assert (a >= 0).all() and a.sum() <= 1 + 1e-12 and S[0] == pytest.approx(a.sum())
    assert (a[c == 0.0] == 0.0).all()
    lo = np.where(c > 0, 1e-9, 0.0)
    best = np.inf
    for start in (np.full(n, 1.0 / n), np.full(n, 0.05), np.clip(a, 0.01, 0.9), np.full(n, 0.19)):
        res = optimize.minimize(
            lambda x: min(share_objective(x, c, d, load, energy), 1e12),
            start,
            bounds=list(zip(lo, np.ones(n), strict=True)),
            constraints=[{"type": "ineq", "fun": lambda x: 1.0 - x.sum()}],
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        if res.x.sum() <= 1.0 + 1e-9:
            best = min(best, share_objective(np.clip(res.x, lo, 1.0), c, d, load, energy))
    ours = share_objective(a, c, d, load, energy)
    assert ours <= best + 1e-7 * max(1.0, abs(best)), (ours, best)


@pytest.mark.parametrize("seed", range(6))
def test_edge_total_share_matches_a_grid(seed: int) -> None:
    """The split is closed form for each total S; S itself against a fine grid of totals."""
    rng = np.random.default_rng(100 + seed)
    c, d, load, energy = _instance(rng, 6, 5.0)
    a, S = solve_edge_shares(c, d, load, energy)
    root_c = np.sqrt(c)
    grid = np.linspace(1e-4, 1.0, 20001)
    costs = [share_objective(s * root_c / root_c.sum(), c, d, load, energy) for s in grid]
    best = min(costs)
    assert share_objective(a, c, d, load, energy) <= best + 1e-9 * max(1.0, abs(best))
    assert abs(S[0] - grid[int(np.argmin(costs))]) <= 2e-4 or S[0] == pytest.approx(1.0)


def test_servers_are_solved_independently() -> None:
    rng = np.random.default_rng(3)
    parts = [_instance(rng, 4, 5.0) for _ in range(3)]
    c = np.concatenate([p[0] for p in parts])
    server = np.repeat(np.arange(3), 4)
    d = np.array([p[1] for p in parts])
    load = np.array([p[2] for p in parts])
    energy = np.array([p[3] for p in parts])
    a, S = solve_edge_shares(c, d, load, energy, server, 3)
    for s, (cs, ds, ls, es) in enumerate(parts):
        alone, S_alone = solve_edge_shares(cs, ds, ls, es)
        np.testing.assert_allclose(a[server == s], alone, rtol=1e-10, atol=1e-15)
        assert S[s] == pytest.approx(S_alone[0], rel=1e-10, abs=1e-15)
        assert a[server == s].sum() <= 1.0 + 1e-12


def test_shares_fall_as_the_energy_weight_rises() -> None:
    c = np.array([0.01, 0.02, 0.005, 0.01])
    low, S_low = solve_edge_shares(c, 0.001, 0.2, 0.1)
    high, S_high = solve_edge_shares(c, 0.001, 0.2, 10.0)
    assert (high < low).all() and S_high[0] < S_low[0] <= 1.0
    assert S_high[0] > 0.2  # the speed stays above the offered load


def test_empty_queues_get_no_share() -> None:
    a, S = solve_edge_shares(np.array([0.0, 0.5, 0.0]), 0.0, 0.0, 1.0)
    assert a[0] == 0.0 and a[2] == 0.0 and a[1] > 0.0 and S[0] == pytest.approx(a[1])
    a, S = solve_edge_shares(np.zeros(3), 0.0, 0.0, 1.0)
    assert (a == 0.0).all() and S[0] == 0.0


@pytest.mark.parametrize("seed", range(4))
def test_root_search_brackets_the_root(seed: int) -> None:
    rng = np.random.default_rng(seed)
    roots = rng.uniform(0.0, 1.0, 50)
    scale = rng.uniform(0.1, 10.0, 50)

    def f(x: np.ndarray) -> np.ndarray:
        return scale * (x - roots) ** 3 + (x - roots)

    def fd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return f(x), 3.0 * scale * (x - roots) ** 2 + 1.0

    for found in (
        monotone_root(f, np.zeros(50) - 0.1, np.ones(50) + 0.1, 1e-12),
        monotone_root(fd, np.zeros(50) - 0.1, np.ones(50) + 0.1, 1e-12, with_derivative=True),
    ):
        np.testing.assert_allclose(found, roots, atol=1e-11)


# ---------------------------------------------------------------------------------------------
# Offloading: each type's step against a grid of the cost it minimises
def _slot_problem(preset: str, slots: int, seed: int = 0) -> tuple[DPPAgent, dict, dict]:
    kw = {"preset": "corridor", "n_vehicles": 90.0} if preset == "corridor" else {"n_vehicles": 20.0}
    env = scenarios.make("scalability", max_episode_steps=slots + 1, **kw)
    agent = DPPAgent(env)
    agent.reset(seed)
    obs, info = env.reset(seed=seed)
    for _ in range(slots):
        obs, _, _, _, info = env.step(agent.act(obs, info))
    return agent, obs, info


@pytest.mark.parametrize("preset", ["paper", "corridor"])
def test_offload_step_is_the_exact_minimiser_along_each_type(preset: str) -> None:
    optimize = pytest.importorskip("scipy.optimize")
    agent, obs, info = _slot_problem(preset, 12)
    work, snr, stay = agent._inputs(obs, info)
    p = agent.problem(obs, work, snr, stay, agent.goal)
    rng = np.random.default_rng(5)
    w0 = np.where(p.offloadable, rng.uniform(0.0, 1.0, p.offloadable.shape), 0.0)
    a, _ = shares_for(p, w0)
    ps = pass_state(p, w0, a)
    w1 = offload_step(p, w0, a, ps, sweeps=1)
    assert ((w1 >= 0.0) & (w1 <= 1.0)).all() and (w1[~p.offloadable] == 0.0).all()
    current = w0.copy()
    rows = np.flatnonzero(p.offloadable.any(axis=1))[:8]
    for k in range(w0.shape[1]):
        grid = np.linspace(0.0, 1.0, 401)
        vals = np.array([offload_surrogate(p, current, a, ps, k, np.full(w0.shape[0], x)) for x in grid])
        ours = offload_surrogate(p, current, a, ps, k, w1[:, k])
        for n in rows:
            if not p.offloadable[n, k]:
                continue

            def f(x: float, n: int = n, k: int = k) -> float:
                return float(offload_surrogate(p, current, a, ps, k, np.full(w0.shape[0], x))[n])

            res = optimize.minimize_scalar(f, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-12})
            best = min(vals[:, n].min(), float(res.fun), f(0.0), f(1.0))
            assert ours[n] <= best + 1e-9 * max(abs(best), 1e-12), (preset, k, n, ours[n], best)
        current[:, k] = w1[:, k]


@pytest.mark.parametrize("preset", ["paper", "corridor"])
def test_the_solver_improves_on_its_starting_point(preset: str) -> None:
    """The decision's model cost is below that of full offloading with its optimal shares."""
    agent, obs, info = _slot_problem(preset, 10)
    w, a = agent.decide(obs, *agent._inputs(obs, info), agent.goal)
    p = agent.last_problem
    full = p.offloadable.astype(np.float64)
    a_full, _ = shares_for(p, full)
    assert model_cost(p, w, a) <= model_cost(p, full, a_full) * (1.0 + 1e-9)
    a_best, _ = shares_for(p, w)
    np.testing.assert_allclose(a, a_best, rtol=1e-9, atol=1e-12)  # shares exact for the final w


# ---------------------------------------------------------------------------------------------
# The model against the env
def test_solver_prices_use_the_rewards_normalisers() -> None:
    env = scenarios.make("goal_switch")
    agent = DPPAgent(env)
    obs, info = env.reset(seed=1)
    engine = env.unwrapped.sim.engine
    goal = scenarios.ENERGY_SAVING_GOAL
    p = agent.problem(obs, *agent._inputs(obs, info), goal)
    n = float(obs["active"].sum())
    assert agent.scale.tasks_per_vehicle == pytest.approx(engine.scale.tasks_per_vehicle, rel=1e-12)
    assert agent.scale.local_energy_per_vehicle_j == pytest.approx(engine.scale.local_energy_per_vehicle_j, rel=1e-12)
    assert p.energy_price == pytest.approx(goal.beta_energy / (n * engine.scale.local_energy_per_vehicle_j))
    deadline = np.asarray(env.unwrapped.cfg.per_type("deadline_s"))
    on = obs["active"].astype(bool)
    expected = goal.beta_qos / (deadline * goal.deadline_scale * n * engine.scale.tasks_per_vehicle)
    np.testing.assert_allclose(p.q[on], np.broadcast_to(expected, p.q[on].shape), rtol=1e-12)
    # The reward's energy term of a slot is exactly -(the solver's energy price) x joules.
    env.unwrapped.issue_command("energy", goal)
    obs, _, _, _, info = env.step(agent.act(obs, info))
    assert info["reward_terms"]["energy"] == pytest.approx(-p.energy_price * info["metrics"]["energy_j"], rel=1e-9)


def _controlled_edge_slot(preset: str, seed: int) -> tuple[float, float, int]:
    """Build edge backlogs (offload everything, no edge service), let the uploads finish, then
    step one slot with the solver's shares and no new offloads: (predicted, measured, queues).

    Shares go only to vehicles whose edge work is all at the server at the slot start (no
    upload or migration pending, holder unchanged for two slots) and that stay on the road
    for the slot; the physics then serves min(backlog, a·F·τ) per queue, exactly."""
    kw = {"preset": "corridor", "n_vehicles": 60.0} if preset == "corridor" else {"n_vehicles": 12.0}
    env = gym.make("VEC-v0", strict=True, **kw)
    cfg = env.unwrapped.cfg
    obs, info = env.reset(seed=seed)
    M, K = obs["edge_backlog_gcycles"].shape
    zero = np.zeros((M, K), np.float32)
    holders = [obs["holder"].copy()]
    for _ in range(3):
        obs, *_ = env.step(np.stack((np.ones((M, K), np.float32), zero)))
        holders.append(obs["holder"].copy())
    for _ in range(3):
        obs, *_ = env.step(np.stack((zero, zero)))
        holders.append(obs["holder"].copy())
    agent = DPPAgent(env)
    _, a = agent.decide(obs, *agent._inputs(obs, info), agent.goal)
    x, v = obs["position_m"][:, 0], obs["speed_mps"]
    ok = (
        obs["active"].astype(bool)
        & (obs["uplink_backlog_kbit"] == 0.0)
        & (holders[-1] == holders[-2])
        & (holders[-2] == holders[-3])
        & (x + 2.0 * v * cfg.slot_s + 10.0 < cfg.road_length_m)
    )
    a = np.where(ok[:, None], a, 0.0)
    backlog = obs["edge_backlog_gcycles"].astype(np.float64) * 1e9
    predicted = predicted_edge_energy_j(cfg, a, obs["holder"], obs["active"], backlog)
    _, _, _, _, info = env.step(np.stack((zero, a.astype(np.float32))))
    return predicted, info["metrics"]["energy_edge_j"], int((a > 0).sum())


@pytest.mark.parametrize(("preset", "seed"), [("paper", 0), ("paper", 1), ("corridor", 0)])
def test_predicted_edge_energy_matches_the_env(preset: str, seed: int) -> None:
    """Tolerance 1e-5 relative: the observation's backlogs are float32 (and so are the shares)."""
    predicted, measured, queues = _controlled_edge_slot(preset, seed)
    assert queues >= 5 and measured > 0.0
    assert predicted == pytest.approx(measured, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Several servers, gaps
def test_per_server_budget_on_the_corridor() -> None:
    env = scenarios.make("scalability", preset="corridor", n_vehicles=90.0, strict=True, max_episode_steps=25)
    agent = agents.make_agent("dpp", env)
    agent.reset(0)
    obs, info = env.reset(seed=0)
    used_servers, gap_seen = set(), False
    for _ in range(25):
        action = agent.act(obs, info)
        w, a = action[0], action[1]
        active = obs["active"].astype(bool)
        held = active & (obs["holder"] >= 0)
        totals = np.bincount(obs["holder"][held], weights=a[held].sum(axis=1).astype(np.float64), minlength=6)
        assert (totals <= 1.0 + 1e-6).all(), totals
        assert (a[~held] == 0.0).all()
        gap = active & (obs["cell"] < 0)
        gap_seen |= bool(gap.any())
        assert (w[gap] == 0.0).all()
        used_servers |= set(np.flatnonzero(totals > 0.0).tolist())
        obs, _, _, _, info = env.step(action)  # strict: a server over budget would raise
        assert sum(info["action_repairs"].values()) == 0
    assert len(used_servers) >= 4 and gap_seen


# ---------------------------------------------------------------------------------------------
# Behaviour
def _run(name: str, scenario: str, slots: int, seed: int = 0, **overrides: object) -> dict:
    env = scenarios.make(scenario, max_episode_steps=slots, **overrides)
    return rollout(env, agents.make_agent(name, env), seed).episode_metrics


def test_dpp_beats_the_heuristics_on_the_goal_cost_at_n20() -> None:
    costs = {name: -_run(name, "scalability", 150, n_vehicles=20.0)["reward"] for name in ("go", "offload", "dpp")}
    assert costs["dpp"] < min(costs["go"], costs["offload"]), costs


def test_sp_dpp_follows_the_priority_command_and_dpp_ignores_it() -> None:
    sp, plain = _run("sp-dpp", "priority", 120), _run("dpp", "priority", 120)
    v7_sp, v7_plain = sp["per_vehicle"][7], plain["per_vehicle"][7]
    assert v7_sp["tasks"] > 100
    assert v7_sp["latency_ms"] <= 0.5 * sp["latency_ms_mean"], (v7_sp, sp["latency_ms_mean"])
    assert v7_plain["latency_ms"] > 0.7 * plain["latency_ms_mean"]  # balanced: no favour


def _goal_switch(name: str, seed: int, command: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-slot energy (J) and reward of ``name`` on the goal-switch road, with or without the
    paper's command (the same road: arrivals and channels do not depend on the policy)."""
    env = scenarios.make("goal_switch", **({} if command else {"commands": ()}))
    ep = rollout(env, agents.make_agent(name, env), seed)
    return np.array(ep.energy_j), np.array(ep.rewards)


def test_sp_dpp_saves_energy_after_the_paper_command() -> None:
    """Once the command is in force sp-dpp spends at least 20% less energy than on the same road
    without the command, and under the goal the command sets it earns more reward than dpp, which
    ignores it.

    The baseline is the same road without the command (arrivals and channels do not depend on the
    policy), not the slots before the command: on these seeds the load grows over the episode
    (``go``'s energy rises by ~18% from slots 10-50 to 60-100 on seed 0), which would hide or fake
    a saving."""
    saved, gained = [], []
    for seed in (0, 1):
        e_cmd, r_cmd = _goal_switch("sp-dpp", seed, True)
        e_none, _ = _goal_switch("sp-dpp", seed, False)
        _, r_dpp = _goal_switch("dpp", seed, True)
        saved.append(e_cmd[60:].mean() / e_none[60:].mean())
        gained.append(r_cmd[50:].sum() - r_dpp[50:].sum())
    assert max(saved) < 0.8, saved
    assert min(gained) > 0.0, gained


def test_oracle_sees_the_true_next_slot() -> None:
    from agents.lyapunov import OracleAgent  # the v2.0 M/G/1 oracle (the LLM exemplars' teacher)

    env = scenarios.make("scalability", n_vehicles=15.0)
    oracle = OracleAgent(env, horizon=1)
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
