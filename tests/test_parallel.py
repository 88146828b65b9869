"""The PettingZoo parallel env, the learning interface: PettingZoo's own API, seed and state tests,
then its features, policy-output actions, repairs, state, goals and rendering, cross-checked
against the engine and ``VECVectorEnv``."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pettingzoo
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test, state_test
from pettingzoo.utils.conversions import parallel_to_aec

import vecgym
from vecgym.agent_actions import decode
from vecgym.features import agent_features, feature_names, global_names, goal_features
from vecgym.goals import BALANCED, GOAL_VECTOR_SIZE, parse_command

SMALL: dict[str, Any] = {"n_vehicles": 5}
#: A 300 m road: vehicles leave within seconds, so slots go idle and are reused in a short test.
CHURN: dict[str, Any] = {"n_vehicles": 5, "road_length_m": 300.0, "rsu_x_m": 150.0}
#: A short corridor: 3 RSUs 400 m apart with 50 m gaps, so handovers and gaps happen within seconds.
SHORT_CORRIDOR: dict[str, Any] = {
    "preset": "corridor",
    "n_vehicles": 8,
    "road_length_m": 1200.0,
    "rsu_x_m": (200.0, 600.0, 1000.0),
    "coverage_radius_m": 175.0,
}


def make(**kwargs: Any) -> vecgym.VECParallelEnv:
    return vecgym.parallel_env(**{**SMALL, **kwargs})


def uniform(env: vecgym.VECParallelEnv, value: float) -> dict[str, np.ndarray]:
    return {agent: np.full(2 * env.n_task_types, value, np.float32) for agent in env.agents}


def spy_engine_step(env: vecgym.VECParallelEnv) -> list[tuple[np.ndarray, np.ndarray]]:
    """Record the (w, a), each (n_max, K), that reach the engine's ``step``."""
    engine = env.roads.vec.engine
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    real_step = engine.step

    def step(w: np.ndarray, a: np.ndarray) -> Any:
        calls.append((w[0].copy(), a[0].copy()))
        return real_step(w, a)

    engine.step = step  # type: ignore[method-assign]
    return calls


def goal_columns(env: vecgym.VECParallelEnv) -> slice:
    start = feature_names(env.cfg).index("goal_0")
    return slice(start, start + GOAL_VECTOR_SIZE)


# --- PettingZoo's acceptance tests -----------------------------------------------------------
@pytest.mark.parametrize("preset", [CHURN, SHORT_CORRIDOR])
def test_parallel_api(preset: dict[str, Any]) -> None:
    parallel_api_test(vecgym.parallel_env(**preset), num_cycles=150)


@pytest.mark.parametrize("preset", [SMALL, SHORT_CORRIDOR])
def test_parallel_seed(preset: dict[str, Any]) -> None:
    parallel_seed_test(lambda: make(**preset), num_cycles=40)


@pytest.mark.parametrize("preset", [SMALL, SHORT_CORRIDOR])
def test_state(preset: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        # Features are unbounded in principle (logs of backlogs): the state space is (-inf, inf).
        warnings.filterwarnings("ignore", message="Environment's m..imum state space value is -?infinity")
        state_test(parallel_to_aec(make(**preset)), make(**preset), num_cycles=5)


# --- spaces, agents, observations -------------------------------------------------------------
def test_spaces_cached_and_shaped() -> None:
    env = make()
    D, K = len(feature_names(env.cfg)), env.n_task_types
    assert env.possible_agents == [f"slot_{i}" for i in range(env.n_max)]
    a0, a1 = env.possible_agents[:2]
    assert env.observation_space(a0) is env.observation_space(a0)
    assert env.action_space(a0) is env.action_space(a0)
    assert env.observation_space(a0) is not env.observation_space(a1)
    obs_space, act_space = env.observation_space(a0), env.action_space(a0)
    assert obs_space.shape == (D,) and obs_space.dtype == np.float32 and np.isinf(obs_space.low).all()
    assert act_space.shape == (2 * K,) and act_space.dtype == np.float32
    assert (act_space.low == -1.0).all() and (act_space.high == 1.0).all()
    with pytest.raises(ValueError, match="unknown agent 'piston_0'"):
        env.observation_space("piston_0")


def test_the_default_config_dimensions() -> None:
    """The numbers the module docstring gives."""
    env = vecgym.parallel_env()
    assert env.n_max == 47 and env.observation_space("slot_0").shape == (38,)
    assert env.action_space("slot_0").shape == (6,) and env.state_space.shape == (10 + 47 * 38,)


@pytest.mark.parametrize("preset", [SMALL, SHORT_CORRIDOR])
def test_observations_are_finite_and_of_order_one(preset: dict[str, Any]) -> None:
    env = vecgym.parallel_env(max_cycles=120, **preset)
    obs, _ = env.reset(seed=4)
    rows = []
    while env.agents:
        for agent in env.possible_agents:
            assert env.observation_space(agent).contains(obs[agent])
        rows.append(np.stack([obs[agent] for agent in env.possible_agents]))
        obs, *_ = env.step({agent: env.action_space(agent).sample() for agent in env.agents})
    x = np.stack(rows)
    live = x[x[..., 0] > 0]
    assert np.isfinite(x).all() and live.shape[0] > 100
    assert np.mean(np.abs(live) <= 10.0) > 0.99
    assert np.abs(live).max() < 100.0


def test_agents_outlive_their_vehicles_and_idle_slots_read_zeros() -> None:
    """On a short road vehicles leave and their slots are reused by new ones; the agents stay.
    An idle slot observes all zeros and its info says so."""
    env = vecgym.parallel_env(max_cycles=150, **CHURN)
    obs, infos = env.reset(seed=0)
    engine = env.roads.vec.engine
    ids: list[set[int]] = [{int(v)} for v in engine.vid[0]]
    seen_idle = 0
    while env.agents:
        assert env.agents == env.possible_agents
        for i, agent in enumerate(env.possible_agents):
            active = bool(engine.active[0, i])
            assert obs[agent][0] == float(active)
            assert infos[agent]["active"] is active and infos[agent]["action_mask"] == np.int8(active)
            assert isinstance(infos[agent]["action_mask"], np.int8)
            if not active:
                assert not obs[agent].any()
                seen_idle += 1
        obs, _, _, _, infos = env.step(uniform(env, 0.0))
        for i, v in enumerate(engine.vid[0]):
            ids[i].add(int(v))
    assert seen_idle > 0
    assert any(len(slot_ids - {-1}) >= 2 for slot_ids in ids)


# --- actions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", [SMALL, SHORT_CORRIDOR])
def test_all_zero_outputs_give_half_the_edge_on_every_server(preset: dict[str, Any]) -> None:
    """What reaches the engine: w = 0.5 for every active vehicle, and on every server the shares
    of the queues it holds sum to 0.5, split equally; idle and unheld rows are zero."""
    env = make(**preset)
    calls = spy_engine_step(env)
    env.reset(seed=2)
    engine = env.roads.vec.engine
    servers_seen = set()
    for _ in range(20):
        active, holder = engine.active[0].copy(), engine.holder[0].copy()
        _, _, _, _, infos = env.step(uniform(env, 0.0))
        w, a = calls[-1]
        np.testing.assert_allclose(w[active], 0.5)
        assert not w[~active].any() and not a[~active | (holder < 0)].any()
        for s in np.unique(holder[active & (holder >= 0)]):
            held = active & (holder == s)
            assert a[held].sum() == pytest.approx(0.5)
            np.testing.assert_allclose(a[held], 0.5 / (held.sum() * env.n_task_types))
            servers_seen.add(int(s))
        assert infos["slot_0"]["action_repairs"] == {"nan": 0, "range": 0, "missing": 0}
    assert servers_seen and (len(servers_seen) > 1) == (preset is SHORT_CORRIDOR)
    assert env.episode_metrics()["action_repairs"] == 0


def test_rewards_and_observations_match_the_vector_env_under_the_decoded_action() -> None:
    """The same seed on ``VECVectorEnv`` driven with the (w, a) that ``decode`` makes of the same
    policy outputs: every agent gets its reward, and observes its own row of the features."""
    par = make(**SHORT_CORRIDOR)
    ref = vecgym.VECVectorEnv(1, **SHORT_CORRIDOR)
    obs, _ = par.reset(seed=3)
    g, _ = ref.reset(seed=3)
    M, K = par.n_max, par.n_task_types
    granted = np.zeros((1, M, K))
    rng = np.random.default_rng(0)
    for _ in range(12):
        np.testing.assert_array_equal(
            np.stack([obs[agent] for agent in par.possible_agents]), agent_features(g, par.cfg, granted)[0]
        )
        u = rng.uniform(-1.0, 1.0, (1, M, 2 * K)).astype(np.float32)
        acted, vid = g["active"].astype(bool), g["vehicle_id"]
        w, a = decode(np.where(acted[..., None], u.astype(np.float64), 0.0), acted, g["holder"], par.cfg.n_servers)
        obs, rew, term, trunc, infos = par.step({agent: u[0, i] for i, agent in enumerate(par.agents)})
        g, r, *_ = ref.step(np.stack((w, a), axis=1))
        granted = np.where(((g["vehicle_id"] == vid) & acted)[..., None], a, 0.0)
        assert set(rew.values()) == {float(r[0])}
        assert set(rew) == set(par.possible_agents)
        assert not any(term.values()) and not any(trunc.values())
        assert infos["slot_0"]["metrics"] is infos["slot_1"]["metrics"]  # built once, shared
        assert infos["slot_0"]["action_repairs"] == {"nan": 0, "range": 0, "missing": 0}


def test_invalid_entries_are_repaired_and_counted() -> None:
    env = make()
    calls = spy_engine_step(env)
    env.reset(seed=0)
    live = np.flatnonzero(env.roads.vec.engine.active[0])
    first, second = (env.possible_agents[i] for i in live[:2])
    actions = uniform(env, 0.0)
    actions[first] = np.array([np.nan, 0.0, 2.0, 0.0, 0.0, -3.0], np.float32)
    _, _, _, _, infos = env.step(actions)
    assert infos[second]["action_repairs"] == {"nan": 1, "range": 2, "missing": 0}
    w, _ = calls[-1]
    np.testing.assert_allclose(w[live[0]], [0.5, 0.5, 1.0])  # NaN -> 0 -> w = 0.5; 2 -> 1 -> w = 1
    assert env.episode_metrics()["action_repairs"] == 3

    del actions[second]
    _, _, _, _, infos = env.step(actions)
    assert infos[first]["action_repairs"] == {"nan": 1, "range": 2, "missing": 1}
    assert env.episode_metrics()["action_repairs"] == 7


def test_a_missing_action_is_the_neutral_output() -> None:
    env = make()
    calls = spy_engine_step(env)
    env.reset(seed=0)
    live = np.flatnonzero(env.roads.vec.engine.active[0])
    _, _, _, _, infos = env.step({env.possible_agents[i]: np.full(6, 0.6, np.float32) for i in live[1:]})
    assert infos["slot_0"]["action_repairs"] == {"nan": 0, "range": 0, "missing": 1}
    np.testing.assert_allclose(calls[-1][0][live[0]], 0.5)
    _, _, _, _, infos = env.step({**uniform(env, 0.0), env.possible_agents[live[0]]: None})
    assert infos["slot_0"]["action_repairs"]["missing"] == 1


def test_strict_raises_before_the_step() -> None:
    env = make(strict=True)
    env.reset(seed=0)
    first = env.possible_agents[int(np.flatnonzero(env.roads.vec.engine.active[0])[0])]
    slot = int(env.roads.vec.engine.slot[0])
    actions = uniform(env, 0.0)
    actions[first] = np.array([np.nan, 0, 0, 0, 0, 0], np.float32)
    with pytest.raises(vecgym.InvalidActionError, match="NaN or outside"):
        env.step(actions)
    actions[first] = np.array([0, 0, 0, 0, 0, 1.5], np.float32)
    with pytest.raises(vecgym.InvalidActionError, match="NaN or outside"):
        env.step(actions)
    del actions[first]
    with pytest.raises(vecgym.InvalidActionError, match=f"no action for active agent.*{first}"):
        env.step(actions)
    assert int(env.roads.vec.engine.slot[0]) == slot  # nothing was stepped
    env.step(uniform(env, 1.0))  # a valid output, even at the bounds, is never repaired


def test_idle_agents_actions_are_ignored() -> None:
    """Idle agents giving NaN, or nothing, change nothing, even with strict=True."""
    env = make(strict=True)
    calls = spy_engine_step(env)
    env.reset(seed=0)
    active = env.roads.vec.engine.active[0].copy()
    idle = [agent for i, agent in enumerate(env.possible_agents) if not active[i]]
    actions = uniform(env, 0.0)
    for agent in idle:
        actions[agent] = np.full(6, np.nan, np.float32)
    _, _, _, _, infos = env.step(actions)
    w, a = calls[-1]
    assert not w[~active].any() and not a[~active].any()
    assert infos["slot_0"]["action_repairs"] == {"nan": 0, "range": 0, "missing": 0}
    env.step({agent: act for agent, act in uniform(env, 0.0).items() if agent not in idle})


def test_bad_shapes_and_agents_raise() -> None:
    env = make()
    env.reset(seed=0)
    with pytest.raises(vecgym.InvalidActionError, match=r"action of slot_0 has shape \(2, 3\)"):
        env.step({"slot_0": np.zeros((2, 3), np.float32)})
    with pytest.raises(vecgym.InvalidActionError, match="dtype <U1"):
        env.step({"slot_0": np.array(list("abcdef"))})
    with pytest.raises(ValueError, match="unknown agent"):
        env.step({"vehicle_0": np.zeros(6, np.float32)})


# --- episodes, state --------------------------------------------------------------------------
def test_truncation_at_max_cycles_and_reset() -> None:
    env = make(max_cycles=3)
    env.reset(seed=0)
    for _ in range(2):
        _, _, _, trunc, _ = env.step(uniform(env, 0.0))
        assert not any(trunc.values())
    _, _, term, trunc, _ = env.step(uniform(env, 0.0))
    assert all(trunc.values()) and not any(term.values()) and set(trunc) == set(env.possible_agents)
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    env.reset()
    assert env.agents == env.possible_agents
    env.max_cycles = 1  # as PettingZoo's parallel_api_test sets it
    _, _, _, trunc, _ = env.step(uniform(env, 0.0))
    assert all(trunc.values()) and env.agents == []
    with pytest.raises(ValueError, match="max_cycles"):
        make(max_cycles=0)


def test_state_and_agent_state() -> None:
    env = make(**SHORT_CORRIDOR)
    with pytest.raises(RuntimeError, match="reset"):
        env.state()
    obs, _ = env.reset(seed=1)
    D, G, M = len(feature_names(env.cfg)), len(global_names(env.cfg)), env.n_max
    for _ in range(3):
        state = env.state()
        assert state.shape == env.state_space.shape == (G + M * D,) and state.dtype == np.float32
        assert env.state_space.contains(state)
        np.testing.assert_array_equal(state[G:], np.concatenate([obs[agent] for agent in env.possible_agents]))
        n_active = sum(bool(o[0]) for o in obs.values())
        assert state[0] == pytest.approx(n_active / M)  # global_names: active_frac first
        for agent in ("slot_0", f"slot_{M - 1}"):
            own = env.agent_state(agent)
            assert own.shape == (D + G,)
            np.testing.assert_array_equal(own, np.concatenate((obs[agent], state[:G])))
        obs, *_ = env.step(uniform(env, 0.3))


def test_seed_changes_the_trajectory() -> None:
    env = make()
    env.reset(seed=1)
    s1 = env.state()
    env.reset(seed=2)
    assert not np.array_equal(s1, env.state())
    env.reset(seed=1)
    np.testing.assert_array_equal(s1, env.state())


# --- goals, rendering, the registry ---------------------------------------------------------
@pytest.mark.parametrize("channel", ["truth", "interpreted", "none"])
def test_a_command_reaches_the_goal_columns(channel: str) -> None:
    text, goal = "save energy", vecgym.GoalSpec(beta_energy=3.0, class_weights={"bus": 4.0}, label="save")
    expected = {"truth": goal.vector(), "interpreted": parse_command(text).vector(), "none": None}[channel]
    before = {"truth": BALANCED.vector(), "interpreted": BALANCED.vector(), "none": None}[channel]
    env = make(goal_channel=channel)
    obs, _ = env.reset(seed=0)
    cols, G = goal_columns(env), len(global_names(env.cfg))
    live = [agent for agent in env.possible_agents if obs[agent][0]]

    def check(rows: dict[str, np.ndarray], vector: np.ndarray | None) -> None:
        for agent in env.possible_agents:
            want = goal_features(vector) if vector is not None and agent in live else np.zeros(GOAL_VECTOR_SIZE)
            np.testing.assert_allclose(rows[agent][cols], want, err_msg=agent)

    check(obs, before)
    env.issue_command(text, goal)
    state = env.state()[G:].reshape(env.n_max, -1)
    check({agent: state[i] for i, agent in enumerate(env.possible_agents)}, expected)
    obs, _, _, _, infos = env.step(uniform(env, 0.0))
    live = [agent for agent in env.possible_agents if obs[agent][0]]
    check(obs, expected)
    assert env.goal is goal and infos["slot_0"]["goal"] == "save"
    assert infos["slot_0"]["command"] == text and infos["slot_0"]["command_id"] == 1


def test_render_rgb_array() -> None:
    """The frame of ``VEC-v0``'s own renderer on the same road (road 0 seeded s is VECEnv seeded s)."""
    env = make(render_mode="rgb_array")
    ref = vecgym.VECEnv(render_mode="rgb_array", **SMALL)
    env.reset(seed=0)
    ref.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    np.testing.assert_array_equal(frame, ref.render())
    for _ in range(30):
        env.step(uniform(env, 0.0))
    assert not np.array_equal(env.render(), frame)
    assert make().render() is None
    with pytest.raises(ValueError, match="render_mode"):
        make(render_mode="human")


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
    assert np.isfinite(par.episode_metrics()["energy_j"])
    assert pettingzoo.make("parallel", "VEC-v0", **SMALL).max_cycles == vecgym.parallel.MAX_CYCLES

    aec = pettingzoo.make("aec", "VEC-v0", max_cycles=2, **SMALL)
    aec.reset(seed=0)
    n = 0
    for agent in aec.agent_iter():
        _, _, term, trunc, _ = aec.last()
        aec.step(None if term or trunc else aec.action_space(agent).sample())
        n += 1
    assert n == 3 * len(aec.possible_agents)  # two cycles, then every agent's dead step


def test_own_reward_option_gives_each_vehicle_its_own_cost() -> None:
    team = vecgym.parallel_env(n_vehicles=10.0, max_cycles=30)
    own = vecgym.parallel_env(n_vehicles=10.0, max_cycles=30, reward="own")
    team.reset(seed=3)
    _, infos = own.reset(seed=3)
    for _ in range(20):
        zeros = {a: np.zeros(own.action_space(a).shape, np.float32) for a in own.agents}
        before = {a: bool(infos[a]["active"]) for a in own.agents}
        _, r_team, *_ = team.step(zeros)
        _, r_own, _, _, infos = own.step(zeros)
    acted = [a for a in own.agents if before[a]]
    idle = [a for a in own.agents if a not in acted]
    assert len({round(r_own[a], 12) for a in acted}) > 1  # vehicles differ
    assert all(r_own[a] == 0.0 for a in idle)
    assert len(set(r_team.values())) == 1
    with pytest.raises(ValueError, match="reward must be one of"):
        vecgym.parallel_env(reward="selfish")
