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


def equal_shares(active: np.ndarray, n_types: int) -> np.ndarray:
    """Edge shares a[n,k] = 1 / (number of active queues) on active slots, shape (n_max, K)."""
    n = int(active.sum())
    return np.repeat((active / max(n * n_types, 1))[:, None], n_types, axis=1).astype(np.float32)
