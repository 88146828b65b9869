"""The receding-horizon family (``agents.horizon``): fluid queues, carry-over, the oracle's
reduction to the one-slot solver, the EWMA source and the single forecast of ``VEC-pDT-v0``."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest

import agents
from agents.horizon import HorizonAgent, SlotInputs, fluid, model
from agents.horizon.inputs import EWMASource
from vecgym import scenarios
from vecgym.config import VECConfig
from vecgym.tasks import TaskTypes


def test_fluid_slot_matches_hand_computed_areas():
    tau = 0.1
    # Grows: X = 2, a = 3, C = 1 -> area = 2·0.1 + 2·0.1/2 = 0.3, carry 4.
    area, carry, t_e = fluid.slot(np.array([2.0]), np.array([3.0]), np.array([1.0]), tau)
    assert area[0] == pytest.approx(0.3) and carry[0] == pytest.approx(4.0) and t_e[0] == pytest.approx(tau)
    # Empties at t_e = X·τ/(C - a) = 1·0.1/4 = 0.025: area = 1·0.025 - 4·0.025²/0.2 = 0.0125.
    area, carry, t_e = fluid.slot(np.array([1.0]), np.array([1.0]), np.array([5.0]), tau)
    assert t_e[0] == pytest.approx(0.025) and area[0] == pytest.approx(0.0125) and carry[0] == 0.0


def _one_vehicle_problem(work: list[float]) -> model.HorizonProblem:
    cfg = VECConfig.from_kwargs(preset="paper")
    k = model.Constants.of(cfg, TaskTypes.from_config(cfg).mean_cycles)
    K, H = cfg.n_task_types, len(work)
    w = np.zeros((1, H, 1, K))
    w[0, :, 0, 0] = work
    return model.HorizonProblem(
        cfg=cfg, k=k, work=w, snr=np.full((1, H, 1), 100.0), weight=np.ones(1), cell=np.zeros((H, 1), dtype=np.int64),
        hold=np.zeros((H, 1), dtype=np.int64), offloadable=np.zeros((H, 1, K), dtype=bool),
        price=np.ones((1, K)), energy_price=0.0, local=np.zeros((1, K)), uplink=np.zeros((1, K)), edge=np.zeros((1, K)),
    )  # fmt: skip


def test_horizon_carries_the_first_slots_leftover_into_the_second():
    cfg = VECConfig.from_kwargs(preset="paper")
    cap = cfg.vehicle_cpu_hz * cfg.slot_s
    tau = cfg.slot_s
    p = _one_vehicle_problem([1.5 * cap, 0.0])
    traj = model.trajectory(p, np.zeros((2, 1, cfg.n_task_types)), np.full((2, 1), 0.5))
    # Slot 0: inflow 1.5·C over the slot, C served: area (a - C)·τ/2 = 0.5·C·τ/2, leftover 0.5·C.
    assert traj.outcomes[0].local_next.sum() == pytest.approx(0.5 * cap)
    # Slot 1 starts from that leftover and drains it at C per slot: empty at τ/2, area C·τ/8.
    assert traj.starts[1][0].sum() == pytest.approx(0.5 * cap)
    assert traj.outcomes[1].t_local[0, 0] == pytest.approx(tau / 2)
    # Slot 0 also pays half of each task's own service time (the fluid area counts the other half)
    # and the M/G/1 wait of its Poisson arrivals at load 1.5 (1/(1 - ρ) held at ρ = 0.5):
    # λ·E[S²]/2 = 1.5·C·c·m2 / (2·τ·f_v²), times 2, times the price·work.
    c, m2, f_v = p.k.cycles[0], p.k.m2[0], cfg.vehicle_cpu_hz
    own = 0.5 * c / f_v * 1.5 * cap
    wait = 1.5 * cap * (1.5 * cap * c * m2 / (2.0 * tau * f_v**2) * 2.0)
    assert traj.outcomes[0].qos.sum() == pytest.approx(0.5 * cap * tau / 2 + own + wait)
    assert traj.outcomes[1].qos.sum() == pytest.approx(cap * tau / 8)
    # Nothing is left at the end: no terminal cost; costates: the leftover of slot 0 costs its
    # wait in slot 1 (t_e = τ/2).
    assert traj.terminal[0] == 0.0
    assert traj.costates["local"][1][0, 0, 0] == pytest.approx(tau / 2)
    assert traj.costates["local"][0][0, 0, 0] == pytest.approx(tau + tau / 2)


def _true_next_inputs(env: gym.Env, action: np.ndarray, obs: dict) -> SlotInputs:
    """The true coming slot, by stepping a copy of the env (independent of ``exogenous_future``)."""
    sim = env.unwrapped.sim
    snr = sim.snr().copy()
    twin = copy.deepcopy(env)
    twin.step(action)
    cfg = env.unwrapped.cfg
    cpb = np.asarray(cfg.per_type("cycles_per_byte"))
    active = obs["active"].astype(bool)
    work = twin.unwrapped.sim.last_arrivals_bytes * cpb * active[:, None]
    cell = np.where(active, obs["cell"], -1)
    return SlotInputs(work[None], np.zeros((1, *work.shape)), (snr * active * (cell >= 0))[None],
                      (snr * active * (cell >= 0))[None], cell[None], active[None])  # fmt: skip


@pytest.mark.parametrize("scenario", ["dynamic", "corridor_rush"])
def test_oracle_at_h1_is_the_one_slot_solver_given_the_true_next_slot(scenario):
    env = scenarios.make(scenario)
    oracle = agents.make_agent("oracle", env, horizon=1)
    one_slot = HorizonAgent(env, horizon=1, source="state")
    obs, info = env.reset(seed=3)
    oracle.reset(3)
    for _ in range(25):
        action = oracle.act(obs, info)
        w, a = one_slot.decide(obs, _true_next_inputs(env, action, obs))
        np.testing.assert_array_equal(action, np.stack((w, a)).astype(np.float32))
        obs, _, _, _, info = env.step(action)


def _goal_cost(agent_name: str, horizon: int, seed: int, slots: int) -> float:
    env = scenarios.make("corridor_rush", max_episode_steps=slots)
    agent = agents.make_agent(agent_name, env, horizon=horizon)
    obs, info = env.reset(seed=seed)
    agent.reset(seed)
    cost = 0.0
    for _ in range(slots):
        obs, reward, _, _, info = env.step(agent.act(obs, info))
        cost -= float(reward)
    return cost / slots


def test_oracle_over_a_horizon_is_no_worse_than_its_one_slot_version_on_paired_seeds():
    seeds = (0, 1, 2)
    h5 = np.array([_goal_cost("oracle", 5, s, 60) for s in seeds])
    h1 = np.array([_goal_cost("oracle", 1, s, 60) for s in seeds])
    assert h5.mean() <= h1.mean(), f"H=5 {h5} vs H=1 {h1}"


def test_ewma_source_follows_a_hand_computed_ewma():
    env = gym.make("VEC-v0", n_vehicles=5)
    src = EWMASource(env, 1, alpha=0.25)
    obs, _ = env.reset(seed=0)
    i = int(np.flatnonzero(obs["active"])[0])
    expected = src.prior_bytes(obs)[i].copy()
    for arrivals in ([1000.0, 0.0, 500.0], [0.0, 0.0, 0.0], [2000.0, 300.0, 0.0]):
        o = {**obs, "arrivals_bytes": np.zeros_like(obs["arrivals_bytes"])}
        o["arrivals_bytes"][i] = arrivals
        expected = 0.75 * expected + 0.25 * np.asarray(arrivals)
        got = src.work_bytes(o, {})
        np.testing.assert_allclose(got[i], expected, rtol=1e-12)
    # A new vehicle in the slot starts again from the prior.
    o = {**o, "vehicle_id": o["vehicle_id"].copy()}
    o["vehicle_id"][i] += 10_000
    np.testing.assert_allclose(src.work_bytes(o, {})[i], 0.75 * src.prior_bytes(o)[i] + 0.25 * o["arrivals_bytes"][i])


def test_dpp_ewma_feeds_the_ewma_to_the_one_slot_solver():
    env = gym.make("VEC-v0", n_vehicles=5)
    agent = agents.make_agent("dpp-ewma", env)
    obs, info = env.reset(seed=1)
    agent.reset(1)
    work, _, _ = agent._inputs(obs, info)
    expected = agent.ewma.mean * agent.cpb * obs["active"][:, None]
    np.testing.assert_allclose(work[0], expected)


def test_sp_dpp_reuses_the_wrappers_single_forecast():
    env = gym.make("VEC-pDT-v0", preset="corridor", max_episode_steps=10)
    agent = agents.make_agent("sp-dpp", env)
    obs, info = env.reset(seed=0)
    agent.reset(0)
    twin = _wrapper(env).twin
    for t in range(5):
        obs, _, _, _, info = env.step(agent.act(obs, info))
        assert twin.forecast_calls == t + 2  # one per slot, the reset's included
    assert agent.stats()["own_forecasts"] == 0


def _wrapper(env: gym.Env):
    from twins import PredictiveObservation

    while not isinstance(env, PredictiveObservation):
        env = env.env
    return env


def test_horizon_agent_rejects_bad_arguments():
    env = gym.make("VEC-v0", n_vehicles=5)
    with pytest.raises(ValueError, match="horizon"):
        HorizonAgent(env, horizon=0)
    with pytest.raises(ValueError, match="v must be"):
        HorizonAgent(env, v=-1.0)
    with pytest.raises(ValueError, match="unknown input source"):
        HorizonAgent(env, source="crystal-ball")
    with pytest.raises(ValueError, match="true-next"):
        HorizonAgent(env, horizon=3, source="true-next")


def test_spread_plans_over_three_gauss_hermite_scenarios():
    env = gym.make("VEC-v0", preset="corridor")
    agent = HorizonAgent(env, horizon=2, source="twin", spread=True)
    H, M, K = 2, 3, env.unwrapped.cfg.n_task_types
    mean = np.full((H, M, K), 10.0)
    std = np.full((H, M, K), 8.0)
    snr = np.full((H, M), 100.0)
    inputs = SlotInputs(mean, std, snr, snr / 10.0, np.zeros((H, M), dtype=np.int64), np.ones((H, M), dtype=bool))
    work, snr_s, weight = agent._scenarios(inputs)
    np.testing.assert_allclose(work[:, 0, 0, 0], [0.0, 10.0, 10.0 + 8.0 * np.sqrt(3.0)])  # the low point clipped at 0
    np.testing.assert_allclose(weight, [1 / 6, 2 / 3, 1 / 6])
    np.testing.assert_allclose(snr_s[:, 0, 0], [100.0, 100.0, 10.0])  # high arrivals meet the pessimistic channel
    off = HorizonAgent(env, horizon=2, source="twin")
    assert off._scenarios(inputs)[0].shape[0] == 1  # the default plans on the mean
