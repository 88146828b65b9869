"""Gymnasium API of the vecgym envs: env checker, registration, seeding, pickling, info metrics,
memory over long runs and rendering."""

from __future__ import annotations

import gc
import itertools
import math
import os
import pickle
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vecgym
from vecgym import GoalSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFTEST = Path(__file__).resolve().with_name("conftest.py")


def _vecgym_ids() -> list[str]:
    ids = [
        env_id
        for env_id, spec in gym.registry.items()
        if isinstance(spec.entry_point, str) and spec.entry_point.startswith("vecgym")
    ]
    assert "VEC-v0" in ids
    return sorted(ids)


VECGYM_IDS = _vecgym_ids()


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run_python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_subprocess_env(),
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# --- env checker and registration ---------------------------------------------------------------
PRESETS = ["paper", "corridor"]


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("env_id", VECGYM_IDS)
@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env(env_id: str, render_mode: str | None, preset: str) -> None:
    env = gym.make(env_id, preset=preset, n_vehicles=6, render_mode=render_mode)
    check_env(env.unwrapped, skip_render_check=False)
    env.close()


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("env_id", VECGYM_IDS)
def test_check_env_without_warnings(env_id: str, preset: str) -> None:
    """Spaces are tight enough that Gymnasium's checker has nothing to warn about."""
    env = gym.make(env_id, preset=preset, n_vehicles=6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", VECGYM_IDS)
def test_make_with_module_prefix_in_fresh_process(env_id: str) -> None:
    out = _run_python(
        "import sys, gymnasium as gym\n"
        "assert 'vecgym' not in sys.modules\n"
        f"env = gym.make('vecgym:{env_id}', n_vehicles=5)\n"
        "obs, info = env.reset(seed=0)\n"
        "env.step(env.action_space.sample())\n"
        "print(env.spec.id, env.spec.max_episode_steps)\n"
    )
    assert out.split() == [env_id, str(gym.spec(env_id).max_episode_steps)]


def test_time_limit_comes_from_registration() -> None:
    spec = gym.spec("VEC-v0")
    assert spec.max_episode_steps == vecgym.MAX_EPISODE_STEPS
    env = gym.make("VEC-v0", n_vehicles=5)
    assert env.spec is not None and env.spec.max_episode_steps == spec.max_episode_steps
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    for t in range(1, spec.max_episode_steps + 1):
        _, _, terminated, truncated, _ = env.step(action)
        assert not terminated
        assert truncated == (t == spec.max_episode_steps), t
    # The env itself never ends an episode: the limit is the wrapper's, and it can be overridden.
    short = gym.make("VEC-v0", n_vehicles=5, max_episode_steps=3)
    short.reset(seed=0)
    assert [short.step(action)[3] for _ in range(3)] == [False, False, True]
    raw = vecgym.VECEnv(n_vehicles=5)
    raw.reset(seed=0)
    for _ in range(5):
        _, _, terminated, truncated, _ = raw.step(action)
        assert not terminated and not truncated


# --- seeding and determinism --------------------------------------------------------------------
def test_same_seed_same_trajectory(vh) -> None:
    trajectories = []
    for _ in range(2):
        env = gym.make("VEC-v0", n_vehicles=8)
        obs, info = env.reset(seed=7)
        trajectories.append([vh.make_record(obs, info), *vh.rollout(env, vh.fixed_actions(env, 200))])
    vh.assert_same_trajectory(*trajectories)
    assert any(rec["info.metrics.tasks_completed"] > 0 for rec in trajectories[0][1:])


def test_different_seeds_differ(vh) -> None:
    digests = set()
    for seed in (0, 1, 2):
        env = gym.make("VEC-v0", n_vehicles=8)
        obs, info = env.reset(seed=seed)
        records = [vh.make_record(obs, info), *vh.rollout(env, vh.fixed_actions(env, 20))]
        digests.add(vh.trajectory_digest(records))
    assert len(digests) == 3


def test_seedless_reset_continues_stream(vh) -> None:
    def run() -> list[str]:
        env = gym.make("VEC-v0", n_vehicles=8)
        actions = vh.fixed_actions(env, 10)
        digests = []
        for seed in (5, None, None):
            obs, info = env.reset(seed=seed)
            digests.append(vh.trajectory_digest([vh.make_record(obs, info), *vh.rollout(env, actions)]))
        return digests

    first, second = run(), run()
    assert first == second  # reproducible
    assert len(set(first)) == 3  # every seedless reset draws a new episode


def test_same_trajectory_in_another_process(vh) -> None:
    here = vh.seeded_digest(11, 200)
    code = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('vecgym_test_helpers', {str(CONFTEST)!r})\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "print(mod.seeded_digest(11, 200))\n"
    )
    assert _run_python(code).strip() == here


# --- pickling -----------------------------------------------------------------------------------
def test_pickle_round_trip_mid_episode(vh) -> None:
    env = gym.make("VEC-v0", n_vehicles=8, max_episode_steps=90)
    env.reset(seed=3)
    actions = vh.fixed_actions(env, 90)
    vh.rollout(env, actions[:20])
    goal = GoalSpec(
        beta_energy=2.0,
        vehicle_weights={0: 5.0, 3: 2.0},
        class_weights={"bus": 3.0},
        fairness=1.0,
        duration_s=3.0,
        label="mixed",
    )
    env.unwrapped.issue_command("favour vehicle 0 for three seconds", goal)
    vh.rollout(env, actions[20:40])
    clone = pickle.loads(pickle.dumps(env))
    a = vh.rollout(env, actions[40:])
    b = vh.rollout(clone, actions[40:])
    vh.assert_same_trajectory(a, b)
    assert [rec["info.goal"] for rec in (a[0], a[-1])] == ["mixed", "balanced"]  # expiry survives
    assert a[-1]["truncated"] and not any(rec["truncated"] for rec in a[:-1])  # TimeLimit state too


# --- info metrics -------------------------------------------------------------------------------
STEP_METRICS = {
    "n_active",
    "n_uploading",
    "tasks_arrived",
    "tasks_completed",
    "tasks_failed",
    "violations",
    "violation_rate",
    "latency_ms_mean",
    "energy_j",
    "energy_local_j",
    "energy_upload_j",
    "energy_edge_j",
    "edge_utilisation",
    "tasks_in_flight",
    "vehicles_entered",
    "vehicles_exited",
    "entry_blocked",
}
EPISODE_METRICS = {
    "slots",
    "tasks_arrived",
    "tasks_completed",
    "tasks_failed",
    "violations",
    "latency_ms_mean",
    "latency_ms_std",
    "violation_rate_pct",
    "peak_violation_rate_pct",
    "energy_j",
    "energy_local_j",
    "energy_upload_j",
    "energy_edge_j",
    "energy_per_slot_j",
    "throughput_tasks_per_s",
    "jain_fairness",
    "per_class",
    "per_type_latency_ms",
    "per_vehicle",
    "reward",
    "reward_terms",
    "entry_blocked",
    "action_repairs",
}


def test_info_and_metrics(vh) -> None:
    env = gym.make("VEC-v0", n_vehicles=8)
    obs, info = env.reset(seed=4)
    assert {"action_repairs", "command", "command_id", "goal"} <= set(info)
    assert info["command"] is None and info["command_id"] == 0 and info["goal"] == "balanced"
    totals = dict.fromkeys(("tasks_arrived", "tasks_completed", "tasks_failed", "violations", "energy_j"), 0.0)
    reward_sum = 0.0
    n_steps = 150
    for _ in range(n_steps):
        n_active_before = int(obs["active"].sum())
        obs, reward, _, _, info = env.step(vh.proportional_action(env, obs))
        m = info["metrics"]
        assert STEP_METRICS <= set(m)
        for key in STEP_METRICS:
            value = m[key]
            assert isinstance(value, float), key
            if key != "latency_ms_mean":
                assert math.isfinite(value) and value >= 0.0, (key, value)
        assert math.isfinite(m["latency_ms_mean"]) == (m["tasks_completed"] > 0)
        assert m["n_active"] == n_active_before
        assert 0.0 <= m["violation_rate"] <= 1.0
        assert m["violations"] <= m["tasks_completed"] + m["tasks_failed"]
        assert m["energy_local_j"] + m["energy_upload_j"] + m["energy_edge_j"] == pytest.approx(m["energy_j"])
        assert 0.0 <= m["edge_utilisation"] <= 1.0 + 1e-9
        terms = info["reward_terms"]
        assert set(terms) == {"qos", "energy", "fairness"}
        assert sum(terms.values()) == pytest.approx(reward)
        assert info["action_repairs"] == {"dtype": 0, "nan": 0, "range": 0, "edge_budget": 0}
        reward_sum += float(reward)
        for key in totals:
            totals[key] += m[key]

    ep = env.unwrapped.episode_metrics()
    assert EPISODE_METRICS <= set(ep)
    assert ep["slots"] == n_steps
    for key, total in totals.items():
        assert ep[key] == pytest.approx(total), key
    assert ep["tasks_completed"] > 0
    assert 0.0 <= ep["violation_rate_pct"] <= 100.0
    assert 0.0 <= ep["peak_violation_rate_pct"] <= 100.0
    assert ep["peak_violation_rate_pct"] >= ep["violation_rate_pct"] - 1e-9
    assert ep["energy_local_j"] + ep["energy_upload_j"] + ep["energy_edge_j"] == pytest.approx(ep["energy_j"])
    assert ep["energy_per_slot_j"] == pytest.approx(ep["energy_j"] / n_steps)
    assert ep["throughput_tasks_per_s"] == pytest.approx(ep["tasks_completed"] / (n_steps * env.unwrapped.cfg.slot_s))
    assert 0.0 < ep["jain_fairness"] <= 1.0 + 1e-12
    assert ep["latency_ms_mean"] > 0.0 and ep["latency_ms_std"] >= 0.0
    assert ep["reward"] == pytest.approx(reward_sum)
    assert sum(ep["reward_terms"].values()) == pytest.approx(reward_sum)
    assert set(ep["per_class"]) == set(vecgym.CLASSES)
    assert sum(c["tasks"] for c in ep["per_class"].values()) == ep["tasks_completed"]
    assert len(ep["per_type_latency_ms"]) == env.unwrapped.cfg.n_task_types
    assert ep["action_repairs"] == 0
    # A reset starts a fresh episode.
    env.reset(seed=4)
    assert env.unwrapped.episode_metrics()["slots"] == 0


# --- long run: memory does not grow with episode length -----------------------------------------
WARMUP_STEPS = 2000
TRACED_STEPS = 1000
#: The brief's budget: at most 5 MB of growth from slot 2k to slot 20k, i.e. 5 MB / 18k slots.
LEAK_BUDGET_BYTES_PER_STEP = 5e6 / 18_000


def test_memory_does_not_grow_over_long_run(vh) -> None:
    """Python-visible memory (tracemalloc, numpy buffers included) stays flat after warm-up.

    tracemalloc slows stepping ~5x, so it traces ``TRACED_STEPS`` after an untraced warm-up and
    holds the growth to the per-slot budget; the in-flight task matrix, whose size follows the
    traffic, is subtracted and bounded separately. Without a leak the growth is a few kB.
    """
    env = gym.make("VEC-v0", n_vehicles=30, max_episode_steps=None)
    sim = env.unwrapped.sim
    obs, _ = env.reset(seed=0)
    for _ in range(WARMUP_STEPS):
        obs, *_ = env.step(vh.proportional_action(env, obs))
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        samples = []
        for i in range(1, TRACED_STEPS + 1):
            obs, _, _, _, info = env.step(vh.proportional_action(env, obs))
            if i % 100 == 0:
                gc.collect()  # a full collection also empties CPython's free lists (tuples, floats)
                samples.append(tracemalloc.get_traced_memory()[0] - sim.tasks.nbytes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    growth = max(samples) - samples[0]
    assert growth < LEAK_BUDGET_BYTES_PER_STEP * TRACED_STEPS, (growth, samples)
    assert peak < 20e6, peak
    # In-flight tasks belong to vehicles on the road: at most the arrivals of one slow transit.
    cfg = env.unwrapped.cfg
    transit_slots = cfg.road_length_m / (cfg.speed_min_kmh / 3.6) / cfg.slot_s
    arrivals_per_slot = info["metrics"]["n_active"] * sum(cfg.per_type("task_rate_hz")) * cfg.slot_s
    assert sim.tasks.shape[0] <= transit_slots * arrivals_per_slot


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc for the resident set size")
def test_resident_memory_and_tasks_in_flight_flat_over_20000_slots_of_random_actions() -> None:
    """20,000 slots at N = 30 under random actions (a poor policy that overloads the road): the
    process's resident memory after slot 20,000 is within a few MB of that after slot 2,000, and
    the tasks in flight stay flat (drops at cap deadlines bound them)."""
    env = gym.make("VEC-v0", n_vehicles=30, max_episode_steps=None)
    env.reset(seed=1)
    env.action_space.seed(1)
    rss, in_flight = {}, []
    for i in range(1, 20_001):
        _, _, _, _, info = env.step(env.action_space.sample())
        in_flight.append(info["metrics"]["tasks_in_flight"])
        if i in (2_000, 20_000):
            gc.collect()
            rss[i] = _rss_bytes()
    assert rss[20_000] - rss[2_000] < 8e6, rss
    early, late = np.mean(in_flight[2_000:4_000]), np.mean(in_flight[18_000:20_000])
    assert late < 1.2 * early, (early, late)
    assert env.unwrapped.episode_metrics()["tasks_dropped"] > 0  # the bound was needed


# --- rendering ----------------------------------------------------------------------------------
def test_render_rgb_array_changes_between_steps(vh) -> None:
    env = gym.make("VEC-v0", n_vehicles=10, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    frames = [env.render()]
    for _ in range(3):
        obs, *_ = env.step(vh.proportional_action(env, obs))
        frames.append(env.render())
    for frame in frames:
        assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.shape[0] > 0 and frame.shape[1] > 0
    assert all(f.shape == frames[0].shape for f in frames)
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(frames))


def test_render_without_mode_returns_none() -> None:
    env = vecgym.VECEnv(n_vehicles=5)
    env.reset(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert env.render() is None


@pytest.mark.parametrize("mode", ["foo", "human", "rgb"])
def test_invalid_render_mode_raises(mode: str) -> None:
    with pytest.raises(ValueError, match="render_mode"):
        vecgym.VECEnv(render_mode=mode, n_vehicles=5)


def test_invalid_render_mode_raises_through_make() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gym.make warns before the env raises
        with pytest.raises(ValueError, match="render_mode"):
            gym.make("VEC-v0", render_mode="foo", n_vehicles=5)
