"""Heuristic baselines: the paper's greedy offloading (GO) and three sanity policies."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from .base import equal_shares


class _Heuristic:
    name = "heuristic"

    def __init__(self, env: gym.Env):
        shape = env.action_space.shape
        assert shape is not None and len(shape) == 3, "agents need VEC-v0's (2, n_max, K) action space"
        self.n_max: int = shape[1]
        self.n_types: int = shape[2]
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def _action(self, w: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.stack((w, a)).astype(np.float32)


class GreedyOffloading(_Heuristic):
    """GO (paper §4.2): offload a vehicle's tasks fully when its instantaneous uplink rate is good.

    "Good" = the rate it would get sharing the band with the vehicles that offload is at least
    ``min_rate_mbps``; otherwise compute locally. The edge CPU is shared equally. Myopic: no
    forecasts, no goals, no queue awareness.
    """

    name = "go"

    def __init__(self, env: gym.Env, min_rate_mbps: float = 2.0):
        super().__init__(env)
        self.min_rate_mbps = min_rate_mbps

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        active = obs["active"].astype(bool)
        n_up = max(int(active.sum()), 1)
        # Rate per vehicle if all active vehicles upload (the common case under GO).
        shared = np.where(active, obs["rate_mbps"].astype(np.float64) / n_up, 0.0)
        offload = (shared >= self.min_rate_mbps) & active
        w = np.repeat(offload[:, None], self.n_types, axis=1).astype(np.float32)
        a = equal_shares(active & offload, self.n_types)
        return self._action(w, a)


class LocalOnly(_Heuristic):
    """Everything on the vehicle's CPU (w = 0, a = 0)."""

    name = "local"

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        z = np.zeros((self.n_max, self.n_types), np.float32)
        return self._action(z, z)


class OffloadAll(_Heuristic):
    """Everything to the edge (w = 1), edge CPU shared equally among active queues."""

    name = "offload"

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        active = obs["active"].astype(bool)
        w = np.repeat(active[:, None], self.n_types, axis=1).astype(np.float32)
        return self._action(w, equal_shares(active, self.n_types))


class RandomAgent(_Heuristic):
    """Uniform random w; random edge shares normalised to sum to 1 over active queues."""

    name = "random"

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        active = obs["active"].astype(bool)[:, None]
        w = self.rng.random((self.n_max, self.n_types)) * active
        a = self.rng.random((self.n_max, self.n_types)) * active
        a /= max(float(a.sum()), 1e-12)
        return self._action(w, a)
