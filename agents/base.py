"""The agent protocol every decision engine follows."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Agent(Protocol):
    """``reset(seed)`` at the start of an episode, then ``act(obs, info)`` once per slot.

    ``obs`` and ``info`` are exactly what the env returned; the action is the env's
    ``(2, n_max, K)`` float32 array (row 0 offload ratios w, row 1 edge shares a).
    """

    name: str

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray: ...


def per_server_shares(weights: np.ndarray, holder: np.ndarray) -> np.ndarray:
    """Edge shares a (M, K) in proportion to ``weights`` (M, K) ≥ 0 within each server's queues,
    each server's shares summing to 1 where any of its queues has weight; 0 where holder < 0."""
    weights = np.where((holder >= 0)[:, None], np.maximum(weights, 0.0), 0.0).astype(np.float64)
    srv = np.maximum(holder, 0)
    total = np.bincount(srv, weights=weights.sum(axis=1), minlength=int(srv.max(initial=0)) + 1)
    denom = total[srv][:, None]
    return np.where(denom > 0.0, weights / np.where(denom > 0.0, denom, 1.0), 0.0)


def equal_server_shares(use: np.ndarray, holder: np.ndarray, n_types: int) -> np.ndarray:
    """Each server's CPU split equally among the queues of the vehicles it holds that are in
    ``use`` (M,), shape (M, K) float32."""
    weights = np.repeat(np.asarray(use, dtype=np.float64)[:, None], n_types, axis=1)
    return per_server_shares(weights, holder).astype(np.float32)


def equal_shares(active: np.ndarray, n_types: int, holder: np.ndarray | None = None) -> np.ndarray:
    """Each edge server's CPU split equally among the queues of the ``active`` vehicles it holds,
    shape (n_max, K) float32; ``holder`` None means one server (the paper preset)."""
    holder = np.zeros(active.shape, dtype=np.int64) if holder is None else np.where(active, holder, -1)
    return equal_server_shares(active, holder, n_types)
