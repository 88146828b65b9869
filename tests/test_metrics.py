"""Episode metrics and config behaviours: fairness, violations of pending tasks, peak window."""

from __future__ import annotations

import numpy as np
import pytest

import vecgym
from vecgym.config import default_kappa_edge


def _offload_all(env: vecgym.VECEnv, obs: dict[str, np.ndarray], starve_odd: bool) -> np.ndarray:
    active = obs["active"].astype(bool)
    a = np.zeros((env.n_max, env.n_task_types), np.float32)
    served = active.copy()
    if starve_odd:
        served[1::2] = False
    a[served] = 1.0 / max(int(served.sum()) * env.n_task_types, 1)
    w = np.repeat(active[:, None], env.n_task_types, axis=1).astype(np.float32)
    return np.stack((w, a))


def _run(starve_odd: bool, slots: int = 150) -> dict:
    env = vecgym.VECEnv(n_vehicles=10)
    obs, _ = env.reset(seed=4)
    for _ in range(slots):
        obs, *_ = env.step(_offload_all(env, obs, starve_odd))
    return env.episode_metrics()


def test_starving_vehicles_lowers_jain_fairness() -> None:
    fair, starved = _run(False), _run(True)
    assert starved["jain_fairness"] < fair["jain_fairness"] - 0.1, (starved["jain_fairness"], fair["jain_fairness"])
    assert starved["tasks_pending_late"] > fair["tasks_pending_late"]


def test_pending_tasks_count_as_violations_once_their_deadline_passes() -> None:
    # Everything offloaded with no edge CPU: nothing ever completes, yet every task is late.
    env = vecgym.VECEnv(n_vehicles=5)
    env.reset(seed=0)
    M, K = env.n_max, env.n_task_types
    action = np.zeros((2, M, K), np.float32)
    action[0] = 1.0
    arrived_early = 0
    for t in range(12):
        _, _, _, _, info = env.step(action)
        if t < 9:
            arrived_early += info["metrics"]["tasks_arrived"]
        assert info["metrics"]["tasks_completed"] == 0
    m = env.episode_metrics()
    # Deadline 200 ms = 2 slots: tasks of the first 9 slots are past it after 12 slots; those of
    # the first 6 slots reached cap = 3 deadlines (600 ms) and were dropped, counted once each.
    assert m["violations"] >= arrived_early > 0
    assert m["violation_rate_pct"] == pytest.approx(100.0)
    assert m["tasks_dropped"] > 0
    assert m["tasks_pending"] + m["tasks_dropped"] == m["tasks_arrived"]
    assert m["tasks_pending_late"] == m["violations"] - m["tasks_dropped"]


def test_peak_violation_uses_the_partial_window_of_short_episodes() -> None:
    env = vecgym.VECEnv(n_vehicles=30, peak_window_slots=10)
    env.reset(seed=0)
    zeros = np.zeros(env.action_space.shape, np.float32)  # all local: far more work than f_v
    for _ in range(6):
        env.step(zeros)
    m = env.episode_metrics()
    assert m["violation_rate_pct"] > 0
    assert m["peak_violation_rate_pct"] >= m["violation_rate_pct"] - 1e-9


@pytest.mark.parametrize("k", [1, 2, 4])
def test_any_number_of_task_types_works_with_the_defaults(k: int) -> None:
    env = vecgym.VECEnv(n_vehicles=5, n_task_types=k)
    obs, _ = env.reset(seed=0)
    assert env.action_space.shape == (2, env.n_max, k)
    obs, *_ = env.step(env.action_space.sample())
    assert obs["arrivals_bytes"].shape == (env.n_max, k)


def test_numpy_scalars_are_accepted_in_the_config() -> None:
    cfg = vecgym.VECConfig.from_kwargs(n_vehicles=np.int64(12), n_max=np.int64(40), slot_s=np.float32(0.1))
    assert cfg.n_max == 40 and isinstance(cfg.n_max, int) and cfg.n_vehicles == 12


def test_kappa_edge_follows_the_cpu_parameters_unless_set() -> None:
    base = vecgym.VECConfig()
    assert base.kappa_edge_value == pytest.approx(0.25 * 1e-28 * 5e9**2 / (400e9 / 60) ** 2)
    doubled = vecgym.VECConfig(edge_cpu_hz=800e9)
    assert doubled.kappa_edge_value == pytest.approx(base.kappa_edge_value / 4)
    assert doubled.kappa_edge_value == default_kappa_edge(1e-28, 5e9, 800e9)
    assert vecgym.VECConfig(kappa_edge=3e-29, edge_cpu_hz=800e9).kappa_edge_value == 3e-29


def test_empty_slots_read_zero_arrivals_and_weights() -> None:
    env = vecgym.VECEnv(n_vehicles=8, road_length_m=300.0)  # short road: vehicles leave often
    obs, _ = env.reset(seed=2)
    emptied = 0
    for _ in range(200):
        before = obs["active"].astype(bool)
        obs, *_ = env.step(env.action_space.sample())
        empty = ~obs["active"].astype(bool)
        emptied += int((before & empty).sum())
        assert not obs["arrivals_bytes"][empty].any()
        assert not obs["qos_weight"][empty].any()
        assert (obs["qos_weight"][~empty] == 1.0).all()
    assert emptied > 0


def test_render_fits_many_lanes() -> None:
    env = vecgym.VECEnv(n_vehicles=20, n_lanes=6, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame is not None and frame.shape == (200, 800, 3)
