"""Heuristic baselines: the paper's greedy offloading (GO) and three sanity policies.

Edge shares respect the v2 budget: Σ a ≤ 1 over the queues each edge server holds
(``obs["holder"]``); a vehicle that no server holds (``holder == -1``) gets no share, since the
physics ignores it. A vehicle in a coverage gap (``obs["cell"] == -1``) offloads nothing new
whatever its w; the policies set its w to 0 so that the action says what happens.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from vecgym.core import radio

from .base import Agent, equal_server_shares, per_server_shares


def _holder(obs: dict[str, np.ndarray]) -> np.ndarray:
    """Each slot's edge server, -1 for none (single-server observations without the key: 0)."""
    active = obs["active"].astype(bool)
    holder = obs["holder"] if "holder" in obs else np.zeros(active.shape, dtype=np.int64)
    return np.where(active, np.asarray(holder), -1)


def _covered(obs: dict[str, np.ndarray]) -> np.ndarray:
    active = obs["active"].astype(bool)
    return active & (obs["cell"] >= 0) if "cell" in obs else active


class _Heuristic(Agent):
    name = "heuristic"

    def __init__(self, env: gym.Env):
        super().__init__(env)
        shape = env.action_space.shape
        assert shape is not None and len(shape) == 3, "agents need VEC-v0's (2, n_max, K) action space"
        self.n_max: int = shape[1]
        self.n_types: int = shape[2]
        self.cfg = self.config
        self.rng = np.random.default_rng()

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def _action(self, w: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.stack((w, a)).astype(np.float32)


class GreedyOffloading(_Heuristic):
    """GO (paper §4.2): offload a vehicle's tasks fully when its instantaneous uplink rate is good.

    "Good" = the rate it would get sharing its cell's band with the other covered vehicles of the
    cell is at least ``min_rate_mbps`` (noise and rate cap as the physics has them); otherwise
    compute locally. Each edge server's CPU is shared equally among the queues of the vehicles it
    holds that offload now or still have work there. Myopic: no forecasts, no goals.
    """

    name = "go"

    def __init__(self, env: gym.Env, min_rate_mbps: float = 2.0):
        super().__init__(env)
        self.min_rate_mbps = min_rate_mbps

    def shared_rate_mbps(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Uplink rate (Mbit/s) of each covered vehicle on an equal share of its cell's band."""
        covered = _covered(obs)
        cell = np.maximum(obs["cell"], 0) if "cell" in obs else np.zeros(covered.shape, dtype=np.int64)
        n_cell = np.bincount(cell[covered], minlength=int(cell.max(initial=0)) + 1)
        n = np.maximum(n_cell[cell], 1)
        cfg = self.cfg
        if cfg is None:  # no config: the paper's convention, rate over the whole band / n
            return np.where(covered, obs["rate_mbps"].astype(np.float64) / n, 0.0)
        band = cfg.bandwidth_hz / n
        snr = 10.0 ** (obs["snr_db"].astype(np.float64) / 10.0)
        snr_b = snr * radio.noise_w(cfg.bandwidth_hz, cfg) / radio.noise_w(band, cfg)
        return np.where(covered, radio.rate_bps(band, snr_b, cfg.max_spectral_efficiency) * 1e-6, 0.0)

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        offload = (self.shared_rate_mbps(obs) >= self.min_rate_mbps) & _covered(obs)
        w = np.repeat(offload[:, None], self.n_types, axis=1).astype(np.float32)
        busy = offload | (obs["edge_backlog_gcycles"].sum(axis=1) > 0.0)
        return self._action(w, equal_server_shares(busy & obs["active"].astype(bool), _holder(obs), self.n_types))


class LocalOnly(_Heuristic):
    """Everything on the vehicle's CPU (w = 0, a = 0)."""

    name = "local"

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        z = np.zeros((self.n_max, self.n_types), np.float32)
        return self._action(z, z)


class OffloadAll(_Heuristic):
    """Everything to the edge (w = 1 where covered); each server's CPU shared equally among the
    queues of the vehicles it holds."""

    name = "offload"

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        covered = _covered(obs)
        w = np.repeat(covered[:, None], self.n_types, axis=1).astype(np.float32)
        return self._action(w, equal_server_shares(obs["active"].astype(bool), _holder(obs), self.n_types))


class RandomAgent(_Heuristic):
    """Uniform random w (0 in a gap); random edge shares, normalised to sum to 1 over each server's
    queues."""

    name = "random"

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        covered = _covered(obs)[:, None]
        w = self.rng.random((self.n_max, self.n_types)) * covered
        draw = self.rng.random((self.n_max, self.n_types)) * obs["active"].astype(bool)[:, None]
        return self._action(w, per_server_shares(draw, _holder(obs)))
