"""The learning interface's numpy core: features, the action map and AgentRoads (no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from vecgym import InvalidActionError
from vecgym.agent_actions import check_policy_actions, decode
from vecgym.config import VECConfig
from vecgym.features import ACTIVE_COLUMN, agent_features, feature_names, global_names
from vecgym.goal_sampler import GoalSampler
from vecgym.goals import BALANCED, GoalSpec
from vecgym.learning import AgentRoads
from vecgym.vector import VECVectorEnv

SHORT_CORRIDOR = {"preset": "corridor", "road_length_m": 3000.0, "rsu_x_m": (500.0, 1500.0, 2500.0), "n_vehicles": 30.0}


# --- the action map -----------------------------------------------------------------------------
def test_zero_outputs_leave_half_of_each_server_idle_split_equally() -> None:
    active = np.array([[True, True, True, False, True]])
    holder = np.array([[0, 0, 1, 1, -1]])
    w, a = decode(np.zeros((1, 5, 4)), active, holder, n_servers=2)
    assert np.allclose(w[active], 0.5) and np.all(w[~active] == 0.0)
    assert a[0, :2].sum() == pytest.approx(0.5) and a[0, 2].sum() == pytest.approx(0.5)
    assert np.allclose(a[0, :2], 0.125)  # server 0: 4 queues share 0.5
    assert np.all(a[0, 3:] == 0.0)  # inactive, and active but held by no server


def test_share_budget_bounds_and_monotonic_logits() -> None:
    active, holder = np.ones((1, 3), dtype=bool), np.zeros((1, 3), dtype=np.int64)
    hi = decode(np.ones((1, 3, 2)), active, holder, 1)[1].sum()
    lo = decode(-np.ones((1, 3, 2)), active, holder, 1)[1].sum()
    assert hi == pytest.approx(np.e**4 / (1 + np.e**4)) and lo == pytest.approx(np.e**-4 / (1 + np.e**-4))
    u = np.zeros((1, 3, 2))
    u[0, 1, 1] = 0.5
    a = decode(u, active, holder, 1)[1]
    assert a[0, 1, 0] > a[0, 0, 0] and a[0, 0, 0] == a[0, 2, 0]


def test_batch_of_roads_decodes_each_road_alone() -> None:
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, (3, 6, 4))
    active = rng.random((3, 6)) < 0.7
    holder = rng.integers(-1, 2, (3, 6))
    w, a = decode(u, active, holder, 2)
    for b in range(3):
        wb, ab = decode(u[b : b + 1], active[b : b + 1], holder[b : b + 1], 2)
        assert np.array_equal(w[b], wb[0]) and np.array_equal(a[b], ab[0])
    for b in range(3):
        for s in range(2):
            assert a[b][holder[b] == s].sum() < 1.0


def test_invalid_policy_outputs_are_repaired_and_counted_or_raise() -> None:
    active = np.array([[True, False]])
    u = np.zeros((1, 2, 4))
    u[0, 0, 1] = np.nan
    u[0, 0, 2] = 3.0
    u[0, 1, :] = np.nan  # an idle slot's output is ignored
    fixed, n = check_policy_actions(u, active, 2, strict=False)
    assert n == 2 and fixed[0, 0, 1] == 0.0 and fixed[0, 0, 2] == 1.0 and np.all(fixed[0, 1] == 0.0)
    with pytest.raises(InvalidActionError, match=r"slot 0, entry 1"):
        check_policy_actions(u, active, 2, strict=True)
    with pytest.raises(InvalidActionError, match=r"expected a real array of shape \(1, 2, 4\)"):
        check_policy_actions(np.zeros((1, 2, 3)), active, 2, strict=False)


# --- features -----------------------------------------------------------------------------------
def _obs(preset: dict | None = None, steps: int = 30) -> tuple[VECVectorEnv, dict]:
    env = VECVectorEnv(2, **(preset or {"preset": "paper", "n_vehicles": 20.0}))
    obs, _ = env.reset(seed=4)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(0, 0.02, env.action_space.shape).astype(np.float32))
    return env, obs


@pytest.mark.parametrize("preset", [None, SHORT_CORRIDOR])
def test_features_are_finite_of_order_one_and_zero_on_empty_slots(preset: dict | None) -> None:
    env, obs = _obs(preset)
    feats = agent_features(obs, env.cfg, np.zeros((2, env.cfg.slots, env.cfg.n_task_types)))
    assert feats.dtype == np.float32 and feats.shape[-1] == len(feature_names(env.cfg))
    act = obs["active"].astype(bool)
    assert np.isfinite(feats).all()
    assert np.all(feats[~act] == 0.0) and np.all(feats[act][:, ACTIVE_COLUMN] == 1.0)
    assert np.abs(feats).max() < 30.0 and np.median(np.abs(feats[act])) < 2.0


def test_features_hold_no_ids_and_no_clock() -> None:
    env, obs = _obs()
    granted = np.zeros((2, env.cfg.slots, env.cfg.n_task_types))
    relabelled = obs["vehicle_id"] + 1000 * obs["active"].astype(np.int64)
    moved = {**obs, "vehicle_id": relabelled, "slot": obs["slot"] + 12345}
    assert np.array_equal(agent_features(obs, env.cfg, granted), agent_features(moved, env.cfg, granted))


def test_goal_channel_and_granted_share_reach_the_features() -> None:
    env, obs = _obs()
    cfg = env.cfg
    names = feature_names(cfg)
    granted = np.zeros((2, cfg.slots, cfg.n_task_types))
    base = agent_features(obs, cfg, granted)
    energy = {**obs, "goal": np.tile(GoalSpec(beta_energy=5.0, beta_qos=0.5).vector(), (2, 1))}
    changed = agent_features(energy, cfg, granted) != base
    goal_cols = [i for i, n in enumerate(names) if n.startswith("goal_")]
    act = obs["active"].astype(bool)
    assert changed[act][:, goal_cols].any() and not np.delete(changed[act], goal_cols, axis=1).any()
    granted[act] = 0.01
    col = names.index("granted_share")
    assert np.allclose(agent_features(obs, cfg, granted)[act][:, col], 0.03)


# --- AgentRoads ---------------------------------------------------------------------------------
def test_road_b_of_agent_roads_is_vector_road_b_under_the_decoded_actions() -> None:
    roads = AgentRoads(3, max_episode_steps=40, preset="paper", n_vehicles=15.0)
    vec = VECVectorEnv(3, max_episode_steps=40, goal_channel="none", preset="paper", n_vehicles=15.0)
    roads.reset(seed=11)
    obs, _ = vec.reset(seed=11)
    rng = np.random.default_rng(2)
    for _ in range(25):
        u = rng.uniform(-1, 1, (3, roads.n_max, 2 * roads.n_types))
        w, a = decode(u, obs["active"].astype(bool), obs["holder"], roads.cfg.n_servers)
        out = roads.step(u)
        obs, reward, *_ = vec.step(np.stack((w, a), axis=1))
        assert np.array_equal(out.reward, reward) and out.repairs == 0
        assert np.array_equal(roads.obs["position_m"], obs["position_m"])


def test_exits_end_a_slot_episode_and_truncation_resets_the_road() -> None:
    roads = AgentRoads(2, max_episode_steps=150, preset="paper", n_vehicles=20.0, road_length_m=300.0)
    roads.reset(seed=0)
    exits = 0
    for t in range(150):
        vid_before = roads.obs["vehicle_id"].copy()
        out = roads.step(np.zeros((2, roads.n_max, 2 * roads.n_types)))
        left = out.acted & (roads.obs["vehicle_id"] != vid_before) if t < 149 else out.acted
        assert np.array_equal(out.slot_done, left)
        exits += int((out.slot_done & ~out.truncated[:, None]).sum())
        assert np.all(out.terminal_features[out.slot_done & ~out.truncated[:, None]] == 0.0)
    assert exits > 10 and out.truncated.all()
    ended = out.slot_done
    assert np.array_equal(out.terminal_features[ended][:, ACTIVE_COLUMN], np.ones(int(ended.sum()), np.float32))
    assert np.all(roads.vec.engine.slot == 0)  # reset in the same step


def test_own_reward_sums_to_about_the_team_cost() -> None:
    roads = AgentRoads(2, max_episode_steps=100, preset="paper", n_vehicles=20.0, reward="own")
    roads.reset(seed=3)
    team, own = [], []
    for _ in range(60):
        out = roads.step(np.zeros((2, roads.n_max, 2 * roads.n_types)))
        n = out.acted.sum(axis=1)
        terms = out.infos["reward_terms"]
        team.append(terms["qos"] + terms["energy"])
        own.append((out.agent_reward.sum(axis=1) - n * terms["fairness"]) / n)
    # the mean own cost is the road's qos + energy cost, but for migration and vehicles that leave
    assert np.allclose(np.mean(own), np.mean(team), rtol=0.05)


def test_sampled_goals_set_the_reward_and_the_truth_channel() -> None:
    roads = AgentRoads(4, max_episode_steps=60, preset="paper", n_vehicles=10.0, goal_channel="truth",
                       goals=GoalSampler(p_balanced=0.0, switch_prob=1.0))  # fmt: skip
    roads.reset(seed=5)
    goals = [roads.vec.engine.goals[b] for b in range(4)]
    assert all(g is not BALANCED and g.label == "sampled" for g in goals)
    assert np.allclose(roads.obs["goal"], np.stack([g.vector() for g in goals]))
    switched = False
    for _ in range(59):
        roads.step(np.zeros((4, roads.n_max, 2 * roads.n_types)))
        switched |= any(roads.vec.engine.goals[b] != goals[b] for b in range(4))
    assert switched


def test_goal_sampler_v2_spreads_the_ratio_and_switches_often() -> None:
    sampler = GoalSampler.v2()
    rng = np.random.default_rng(0)
    goals = [sampler.sample(rng) for _ in range(2000)]
    ratio = np.array([g.beta_energy / g.beta_qos for g in goals if g is not BALANCED])
    assert 0.15 < np.mean(ratio >= 5.0) < 0.3 and 0.15 < np.mean(ratio <= 0.2) < 0.3
    plans = [sampler.plan(rng, 300) for _ in range(200)]
    slots = [[s for s, _ in p] for p in plans]
    assert all(s[0] == 0 and s == sorted(set(s)) and s[-1] < 299 for s in slots)
    assert 4.0 < np.mean([len(s) for s in slots]) < 8.0  # ~300/50 switches, plus the first goal
    assert [s for s, _ in GoalSampler().plan(np.random.default_rng(1), 300)][0] == 0  # v1 unchanged


def test_global_summary_names_match() -> None:
    roads = AgentRoads(1, preset="corridor")
    feats, summary = roads.reset(seed=0)
    assert summary.shape == (1, len(global_names(roads.cfg))) and feats.shape[-1] == roads.n_features
    assert VECConfig.from_kwargs(preset="corridor").n_servers * 2 + 8 == summary.shape[1]


def test_agents_and_the_training_cli_import_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, agents, agents.train, vecgym.learning; "
        "heavy = [m for m in ('torch', 'stable_baselines3') if m in sys.modules]; "
        "assert not heavy, heavy; assert {'s-marl', 'gc-marl'} <= set(agents.available())"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_marginal_reward_adds_each_vehicles_clock_cost_to_the_own_cost() -> None:
    from vecgym.reward import clock_costs

    kw = dict(max_episode_steps=50, preset="paper", n_vehicles=20.0)
    own, marg = AgentRoads(2, reward="own", **kw), AgentRoads(2, reward="marginal", **kw)
    own.reset(seed=4)
    marg.reset(seed=4)
    rng = np.random.default_rng(0)
    for _ in range(30):
        u = rng.uniform(-1, 1, (2, own.n_max, 2 * own.n_types))
        o, m = own.step(u), marg.step(u)
        assert np.array_equal(o.reward, m.reward)  # the physics and the team reward are untouched
        clock = m.infos["clock_cost_j"]
        assert np.all(clock >= 0) and np.all(clock[~m.acted] == 0)
        beta_e = marg.vec.engine.beta[:, 1][:, None]
        extra = beta_e * clock / marg.vec.engine.scale.local_energy_per_vehicle_j
        assert np.allclose(o.agent_reward - m.agent_reward, np.where(m.acted, extra, 0.0))
        # Σ_n D_n lies in [E_edge, 2·E_edge] (one server on the paper road)
        e_edge = m.infos["metrics"]["energy_edge_j"]
        assert np.all(clock.sum(axis=1) >= e_edge * (1 - 1e-9)) and np.all(clock.sum(axis=1) <= 2 * e_edge + 1e-9)
    # the difference reward's gradient is the server's: D_n(A_n + h) − D_n(A_n) ≈ E_s(A_n + h) − E_s(A_n)
    share, server, cycles = np.array([[0.2, 0.3, 0.1]]), np.zeros((1, 3), int), np.array([[4e9]])
    d0 = clock_costs(share, server, cycles, 1.0, 1.0)[0, 0]
    bumped = share.copy()
    bumped[0, 0] += 1e-6
    d1 = clock_costs(bumped, server, cycles, 1.0, 1.0)[0, 0]
    assert np.isclose((d1 - d0) / 1e-6, 2 * cycles[0, 0] * share.sum(), rtol=1e-4)
