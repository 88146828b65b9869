"""``gym.make_vec("VEC-v0", num_envs=B, vectorization_mode="vector_entry_point")``: a native
Gymnasium VectorEnv over the batch-first engine."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import vecgym
from vecgym import GoalSpec, InvalidActionError, ScheduledCommand
from vecgym.vector import VECVectorEnv


def make_vec(num_envs: int, **kwargs) -> VECVectorEnv:
    env = gym.make_vec("VEC-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(env, VECVectorEnv)
    return env


def _actions(rng: np.random.Generator, venv: VECVectorEnv) -> np.ndarray:
    return (0.3 * rng.random(venv.action_space.shape)).astype(np.float32)


@pytest.mark.parametrize("preset", ["paper", "corridor"])
def test_road_b_is_the_single_env_seeded_s_plus_b(preset: str) -> None:
    B, seed = 3, 40
    venv = make_vec(B, preset=preset, n_vehicles=20, goal_channel="truth")
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    singles = [gym.make("VEC-v0", preset=preset, n_vehicles=20, goal_channel="truth") for _ in range(B)]
    vobs, _ = venv.reset(seed=seed)
    for b, env in enumerate(singles):
        obs, _ = env.reset(seed=seed + b)
        for key, value in obs.items():
            np.testing.assert_array_equal(vobs[key][b], value, err_msg=key)
    rng = np.random.default_rng(0)
    for _ in range(30):
        act = _actions(rng, venv)
        vobs, vrew, vterm, vtrunc, vinfo = venv.step(act)
        assert vobs["active"].shape == (B, venv.single_observation_space["active"].shape[0])
        for b, env in enumerate(singles):
            obs, rew, _, _, info = env.step(act[b])
            assert rew == pytest.approx(vrew[b], rel=1e-12, abs=1e-12)
            np.testing.assert_array_equal(vobs["position_m"][b], obs["position_m"])
            assert vinfo["metrics"]["tasks_completed"][b] == info["metrics"]["tasks_completed"]
    assert vinfo["_metrics"].all() and not vterm.any() and not vtrunc.any()


def test_next_step_autoreset_after_truncation() -> None:
    venv = make_vec(2, n_vehicles=10, max_episode_steps=5)
    venv.reset(seed=0)
    zeros = np.zeros(venv.action_space.shape, np.float32)
    for _ in range(5):
        obs, rew, term, trunc, info = venv.step(zeros)
    assert trunc.all() and not term.any()
    assert (obs["slot"][:, 0] == 5).all()
    obs, rew, term, trunc, info = venv.step(np.full(venv.action_space.shape, np.nan, np.float32))
    # The step after the end resets: first observation of a new episode, reward 0, the action ignored.
    assert (obs["slot"][:, 0] == 0).all()
    np.testing.assert_array_equal(rew, 0.0)
    assert not info["_metrics"].any() and not trunc.any()
    obs, rew, *_ = venv.step(zeros)
    assert (obs["slot"][:, 0] == 1).all() and (rew != 0.0).all()


def test_reset_mask_resets_only_those_roads() -> None:
    venv = make_vec(3, n_vehicles=10)
    venv.reset(seed=5)
    zeros = np.zeros(venv.action_space.shape, np.float32)
    for _ in range(4):
        venv.step(zeros)
    before = venv.engine.x.copy()
    obs, _ = venv.reset(seed=[None, 100, None], options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(obs["slot"][:, 0], [4, 0, 4])
    np.testing.assert_array_equal(venv.engine.x[[0, 2]], before[[0, 2]])
    single = gym.make("VEC-v0", n_vehicles=10)
    obs1, _ = single.reset(seed=100)
    np.testing.assert_array_equal(obs["position_m"][1], obs1["position_m"])


def test_goal_events_match_the_single_env() -> None:
    goal = GoalSpec(beta_energy=4.0, duration_s=0.5, label="energy")
    cmds = (ScheduledCommand(3, "save energy for the next 0.5 seconds", goal),)
    for channel in ("interpreted", "truth"):
        venv = make_vec(2, commands=cmds, goal_channel=channel, n_vehicles=8)
        env = gym.make("VEC-v0", commands=cmds, goal_channel=channel, n_vehicles=8)
        venv.reset(seed=1)
        env.reset(seed=1)
        labels = []
        for _ in range(12):
            act = np.zeros(venv.action_space.shape, np.float32)
            vobs, vrew, _, _, vinfo = venv.step(act)
            obs, rew, _, _, info = env.step(act[0])
            np.testing.assert_array_equal(vobs["goal"][0], obs["goal"])
            assert (vinfo["goal"][0], vinfo["command_id"][0]) == (info["goal"], info["command_id"])
            assert vrew[0] == pytest.approx(rew, rel=1e-12)
            labels.append(info["goal"])
        assert labels[2] == "energy" and labels[-1] == "balanced"  # issued at slot 3, expired after 0.5 s


def test_bad_actions_and_pickle() -> None:
    venv = make_vec(2, n_vehicles=8, strict=True)
    venv.reset(seed=2)
    with pytest.raises(InvalidActionError, match="shape"):
        venv.step(np.zeros(venv.single_action_space.shape, np.float32))
    bad = np.zeros(venv.action_space.shape, np.float32)
    active = np.flatnonzero(venv.engine.active[1])
    bad[1, 0, active[0], 0] = np.nan
    with pytest.raises(InvalidActionError, match="road 1"):
        venv.step(bad)
    clone = pickle.loads(pickle.dumps(venv))
    act = np.full(venv.action_space.shape, 0.01, np.float32)
    a = venv.step(act)
    b = clone.step(act)
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="num_envs"):
        VECVectorEnv(num_envs=0)
    assert vecgym.VECVectorEnv is VECVectorEnv
