"""The heuristic baselines and the benchmarks' load-following policy give valid v2 actions: each
edge server's shares sum to at most 1 over the queues it holds, nothing goes to a vehicle no
server holds, and a strict env never has to repair or refuse them, on both presets."""

from __future__ import annotations

import numpy as np
import pytest

import agents
from agents.heuristics import per_server_shares
from benchmarks._policy import backlog_policy
from vecgym import scenarios

PRESETS = {"paper": {"n_vehicles": 20.0}, "corridor": {"preset": "corridor", "n_vehicles": 90.0}}


def _check(obs: dict[str, np.ndarray], action: np.ndarray) -> np.ndarray:
    """Assert the action's per-server budget; return each server's Σ a."""
    assert action.shape == (2, *obs["edge_backlog_gcycles"].shape) and action.dtype == np.float32
    assert ((action >= 0.0) & (action <= 1.0)).all()
    active = obs["active"].astype(bool)
    held = active & (obs["holder"] >= 0)
    a = action[1].astype(np.float64)
    assert (a[~held] == 0.0).all()
    totals = np.bincount(obs["holder"][held], weights=a[held].sum(axis=1), minlength=1)
    assert (totals <= 1.0 + 1e-6).all(), totals
    return totals


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("name", ["go", "offload", "random", "local"])
def test_heuristics_respect_each_servers_budget(preset: str, name: str) -> None:
    env = scenarios.make("scalability", strict=True, max_episode_steps=30, **PRESETS[preset])
    agent = agents.make_agent(name, env)
    agent.reset(0)
    obs, info = env.reset(seed=0)
    servers_used: set[int] = set()
    for _ in range(30):
        action = agent.act(obs, info)
        totals = _check(obs, action)
        servers_used |= set(np.flatnonzero(totals > 0.0).tolist())
        gap = obs["active"].astype(bool) & (obs["cell"] < 0)
        assert (action[0][gap] == 0.0).all()  # a vehicle in a gap offloads nothing new
        obs, _, _, _, info = env.step(action)  # strict: any repair would raise
        assert sum(info["action_repairs"].values()) == 0
    if name != "local":
        assert len(servers_used) >= (4 if preset == "corridor" else 1)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_backlog_policy_respects_each_servers_budget(preset: str) -> None:
    env = scenarios.make("scalability", strict=True, max_episode_steps=20, **PRESETS[preset])
    obs, _ = env.reset(seed=1)
    k = env.unwrapped.cfg.n_task_types
    for _ in range(20):
        action = backlog_policy(obs, 0.8, k)
        totals = _check(obs, action)
        assert np.allclose(totals[totals > 0.0], 1.0, atol=1e-5)
        obs, _, _, _, info = env.step(action)
        assert sum(info["action_repairs"].values()) == 0


def test_backlog_policy_without_a_holder_key_is_one_server() -> None:
    obs = {
        "active": np.array([1, 1, 0], np.int8),
        "edge_backlog_gcycles": np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]], np.float32),
        "arrivals_bytes": np.zeros((3, 2), np.float32),
    }
    action = backlog_policy(obs, 1.0, 2)
    assert action[1].sum() == pytest.approx(1.0, abs=1e-6) and (action[1][2] == 0.0).all()


def test_per_server_shares_normalise_within_each_server() -> None:
    holder = np.array([0, 0, 1, -1, 1])
    weights = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0], [3.0, 3.0], [1.0, 3.0]])
    a = per_server_shares(weights, holder)
    assert a[[0, 1]].sum() == pytest.approx(1.0) and a[[2, 4]].sum() == pytest.approx(1.0)
    assert (a[3] == 0.0).all() and a[1, 0] == pytest.approx(0.5) and a[4, 1] == pytest.approx(0.75)
