"""The PettingZoo parallel env: PettingZoo's own API, seed and state tests, plus the translation
to and from ``VECEnv`` (observations, actions, edge-share normalisation, idle slots)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pettingzoo
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test, state_test
from pettingzoo.utils.conversions import parallel_to_aec

import vecgym
from vecgym.parallel import LOCAL_KEYS, STATE_KEYS
from vecgym.render import render_rgb

SMALL: dict[str, Any] = {"n_vehicles": 5}
#: A 300 m road: vehicles leave within seconds, so slots go idle and are reused in a short test.
CHURN: dict[str, Any] = {"n_vehicles": 5, "road_length_m": 300.0, "rsu_x_m": 150.0}


def make(**kwargs: Any) -> vecgym.VECParallelEnv:
    return vecgym.parallel_env(**{**SMALL, **kwargs})


def spy_sim_step(env: vecgym.VECParallelEnv) -> list[tuple[np.ndarray, np.ndarray]]:
    """Record the (w, a) that reach ``Simulator.step``."""
    sim = env.vec_env.sim
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    real_step = sim.step

    def step(w: np.ndarray, a: np.ndarray) -> Any:
        calls.append((w.copy(), a.copy()))
        return real_step(w, a)

    sim.step = step  # type: ignore[method-assign]
    return calls


def uniform_actions(env: vecgym.VECParallelEnv, w: float, a: float) -> dict[str, np.ndarray]:
    K = env.n_task_types
    return {agent: np.stack([np.full(K, w), np.full(K, a)]).astype(np.float32) for agent in env.agents}


# --- PettingZoo's acceptance tests -----------------------------------------------------------
#: A short corridor: 3 RSUs 400 m apart with 50 m gaps, so handovers and gaps happen within seconds.
SHORT_CORRIDOR: dict[str, Any] = {
    "preset": "corridor",
    "n_vehicles": 8,
    "road_length_m": 1200.0,
    "rsu_x_m": (200.0, 600.0, 1000.0),
    "coverage_radius_m": 175.0,
}


def test_parallel_api() -> None:
    parallel_api_test(vecgym.parallel_env(**CHURN), num_cycles=150)


def test_parallel_api_corridor() -> None:
    parallel_api_test(vecgym.parallel_env(**SHORT_CORRIDOR), num_cycles=150)


def test_agents_outlive_their_vehicles() -> None:
    """On a short road vehicles leave and their slots are reused by new ones; the agents stay."""
    env = vecgym.parallel_env(max_cycles=150, **CHURN)
    env.reset(seed=0)
    sim = env.vec_env.sim
    ids: list[set[int]] = [{int(v)} for v in sim.vid]
    while env.agents:
        assert env.agents == env.possible_agents
        obs, *_ = env.step(uniform_actions(env, 0.5, 0.01))
        for i, v in enumerate(sim.vid):
            ids[i].add(int(v))
        for i, agent in enumerate(env.possible_agents):
            assert obs[agent]["active"][0] == sim.active[i]
    assert any(len(slot_ids - {-1}) >= 2 for slot_ids in ids)


@pytest.mark.parametrize("preset", [SMALL, SHORT_CORRIDOR])
def test_parallel_seed(preset: dict[str, Any]) -> None:
    parallel_seed_test(lambda: make(**preset), num_cycles=40)


def test_state() -> None:
    with warnings.catch_warnings():
        # The goal channel is unbounded above, as in VECEnv's observation space.
        warnings.filterwarnings("ignore", message="Environment's maximum state space value is infinity")
        state_test(parallel_to_aec(make()), make(), num_cycles=5)
        state_test(parallel_to_aec(make(**SHORT_CORRIDOR)), make(**SHORT_CORRIDOR), num_cycles=5)


# --- spaces, agents, state -------------------------------------------------------------------
def test_spaces_cached_and_per_agent() -> None:
    env = make()
    K = env.n_task_types
    assert env.possible_agents == [f"slot_{i}" for i in range(env.n_max)]
    a0, a1 = env.possible_agents[:2]
    assert env.observation_space(a0) is env.observation_space(a0)
    assert env.action_space(a0) is env.action_space(a0)
    assert env.observation_space(a0) is not env.observation_space(a1)
    assert env.action_space(a0) is not env.action_space(a1)
    assert env.action_space(a0).shape == (2, K)
    assert env.observation_space(a0)["edge_backlog_gcycles"].shape == (K,)
    with pytest.raises(ValueError, match="unknown agent 'piston_0'"):
        env.observation_space("piston_0")


def test_local_obs_rewards_and_state_mirror_vecenv() -> None:
    """Same seed and the same joint action: every agent sees its own row of VECEnv's observation,
    gets VECEnv's reward, and ``state()`` is VECEnv's observation flattened."""
    par = make()
    ref = vecgym.VECEnv(**SMALL)
    obs, _ = par.reset(seed=3)
    g, _ = ref.reset(seed=3)
    M, K = par.n_max, par.n_task_types
    rng = np.random.default_rng(0)
    for t in range(6):
        n_active = int(g["active"].sum())
        assert obs["slot_0"]["n_active_frac"][0] == pytest.approx(n_active / M)
        for i, agent in enumerate(par.possible_agents):
            assert par.observation_space(agent).contains(obs[agent])
            for key in LOCAL_KEYS:
                np.testing.assert_array_equal(obs[agent][key].ravel(), g[key][i].ravel(), err_msg=key)
            np.testing.assert_array_equal(obs[agent]["goal"], g["goal"])
        state = par.state()
        assert state.shape == par.state_space.shape == (M * (13 + 2 * K) + 13,)
        assert par.state_space.contains(state)
        np.testing.assert_array_equal(state, np.concatenate([g[k].ravel() for k in STATE_KEYS]).astype(np.float32))
        if t == 5:
            break
        # Distinct per-slot actions with Σa < 1, so a mis-mapped agent changes the trajectory.
        joint = (rng.random((2, M, K)) * np.array([1.0, 0.9 / (M * K)])[:, None, None]).astype(np.float32)
        obs, rew, term, trunc, infos = par.step({agent: joint[:, i] for i, agent in enumerate(par.agents)})
        g, r, *_ = ref.step(joint)
        assert set(rew.values()) == {r}
        assert not any(term.values()) and not any(trunc.values())
        assert infos["slot_0"]["metrics"] == infos["slot_1"]["metrics"]


def test_truncation_at_max_cycles_and_reset() -> None:
    env = make(max_cycles=3)
    env.reset(seed=0)
    for _ in range(2):
        _, _, _, trunc, _ = env.step(uniform_actions(env, 0.5, 0.0))
        assert not any(trunc.values())
    _, _, term, trunc, _ = env.step(uniform_actions(env, 0.5, 0.0))
    assert all(trunc.values()) and not any(term.values()) and set(trunc) == set(env.possible_agents)
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    env.reset()
    assert env.agents == env.possible_agents


def test_seed_changes_the_trajectory() -> None:
    env = make()
    env.reset(seed=1)
    s1 = env.state()
    env.reset(seed=2)
    assert not np.array_equal(s1, env.state())
    env.reset(seed=1)
    np.testing.assert_array_equal(s1, env.state())


# --- actions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("strict", [False, True])
def test_edge_shares_are_normalised(strict: bool) -> None:
    """Every agent asks for the whole edge CPU: the shares applied sum to 1, split evenly over the
    active slots' queues; with strict=True this is not an error."""
    env = make(strict=strict)
    calls = spy_sim_step(env)
    env.reset(seed=0)
    active = env.vec_env.sim.active.copy()
    n_active = int(active.sum())
    assert 0 < n_active < env.n_max
    _, _, _, _, infos = env.step(uniform_actions(env, 1.0, 1.0))
    w, a = calls[-1]
    assert a.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(a[active], 1.0 / (n_active * env.n_task_types))
    assert not a[~active].any() and not w[~active].any()
    np.testing.assert_array_equal(w[active], 1.0)
    assert infos["slot_0"]["edge_share_normalised"] is True
    assert infos["slot_0"]["action_repairs"] == {"dtype": 0, "nan": 0, "range": 0, "missing": 0}


def test_edge_shares_under_budget_pass_unchanged() -> None:
    env = make()
    calls = spy_sim_step(env)
    env.reset(seed=0)
    active = env.vec_env.sim.active.copy()
    _, _, _, _, infos = env.step(uniform_actions(env, 0.3, 0.01))
    _, a = calls[-1]
    np.testing.assert_allclose(a[active], 0.01, rtol=1e-6)
    assert infos["slot_0"]["edge_share_normalised"] is False


def test_idle_slots_are_ignored() -> None:
    """Idle agents asking for everything (even NaN) change nothing: no normalisation, no repair,
    their rows reach the simulator as zeros. Strict mode accepts their actions being absent."""
    env = make(strict=True)
    calls = spy_sim_step(env)
    obs, _ = env.reset(seed=0)
    active = env.vec_env.sim.active.copy()
    idle = [agent for i, agent in enumerate(env.agents) if not active[i]]
    assert idle and all(obs[agent]["active"][0] == 0 for agent in idle)
    assert all(not obs[agent]["position_m"].any() for agent in idle)
    actions = uniform_actions(env, 0.5, 0.02)
    for agent in idle:
        actions[agent] = np.array([[np.nan] * env.n_task_types, [1.0] * env.n_task_types], np.float32)
    _, _, _, _, infos = env.step(actions)
    w, a = calls[-1]
    np.testing.assert_allclose(a[active], 0.02, rtol=1e-6)
    assert not a[~active].any() and not w[~active].any()
    assert infos["slot_0"]["edge_share_normalised"] is False
    env.reset(seed=0)
    env.step({agent: act for agent, act in uniform_actions(env, 0.5, 0.02).items() if agent not in idle})
    np.testing.assert_allclose(calls[-1][1][active], 0.02, rtol=1e-6)


def test_missing_and_invalid_actions() -> None:
    env = make()
    calls = spy_sim_step(env)
    env.reset(seed=0)
    active = env.vec_env.sim.active.copy()
    first = env.agents[int(np.flatnonzero(active)[0])]
    actions = uniform_actions(env, 0.5, 0.01)
    actions[first] = np.array([[np.nan, 0.5, 2.0], [0.01] * 3], np.float32)
    del actions[env.agents[int(np.flatnonzero(active)[1])]]
    _, _, _, _, infos = env.step(actions)
    assert infos[first]["action_repairs"] == {"dtype": 0, "nan": 1, "range": 1, "missing": 1}
    w, _ = calls[-1]
    np.testing.assert_array_equal(w[int(np.flatnonzero(active)[0])], [0.0, 0.5, 1.0])
    assert env.episode_metrics()["action_repairs"] == 3

    with pytest.raises(vecgym.InvalidActionError, match="action of slot_0 has shape"):
        env.step({"slot_0": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="unknown agent"):
        env.step({"vehicle_0": np.zeros((2, 3), np.float32)})

    strict = make(strict=True)
    strict.reset(seed=0)
    actions = uniform_actions(strict, 0.5, 0.01)
    actions[first] = np.array([[np.nan, 0.5, 0.5], [0.01] * 3], np.float32)
    with pytest.raises(vecgym.InvalidActionError, match="NaN"):
        strict.step(actions)
    actions = uniform_actions(strict, 0.5, 0.01)
    del actions[first]
    with pytest.raises(vecgym.InvalidActionError, match=f"no action for active agent.*{first}"):
        strict.step(actions)


# --- goals, rendering, the registry ---------------------------------------------------------
def test_command_sets_the_goal_in_every_observation() -> None:
    env = make(goal_channel="truth")
    env.reset(seed=0)
    goal = vecgym.GoalSpec(beta_energy=3.0, label="save energy")
    env.issue_command("save energy", goal)
    obs, _, _, _, infos = env.step(uniform_actions(env, 0.5, 0.01))
    assert env.goal is goal and infos["slot_3"]["command"] == "save energy"
    for agent in env.possible_agents:
        np.testing.assert_array_equal(obs[agent]["goal"], goal.vector())


def test_render_rgb_array() -> None:
    env = make(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3
    np.testing.assert_array_equal(frame, render_rgb(env.vec_env.sim))


def test_registry_rollouts() -> None:
    par = pettingzoo.make("parallel", "VEC-v0", max_cycles=20, **SMALL)
    assert isinstance(par, vecgym.VECParallelEnv) and par.max_cycles == 20
    par.reset(seed=0)
    steps, total = 0, 0.0
    while par.agents:
        _, rew, _, _, _ = par.step({agent: par.action_space(agent).sample() for agent in par.agents})
        steps += 1
        total += rew["slot_0"]
    assert steps == 20 and np.isfinite(total) and total < 0.0
    assert pettingzoo.make("parallel", "VEC-v0", **SMALL).max_cycles == vecgym.parallel.MAX_CYCLES

    aec = pettingzoo.make("aec", "VEC-v0", max_cycles=2, **SMALL)
    aec.reset(seed=0)
    n = 0
    for agent in aec.agent_iter():
        _, _, term, trunc, _ = aec.last()
        aec.step(None if term or trunc else aec.action_space(agent).sample())
        n += 1
    assert n == 3 * len(aec.possible_agents)  # two cycles, then every agent's dead step
