"""The agent base class every decision engine derives from, and share helpers."""

from __future__ import annotations

import abc
from typing import Any

import gymnasium as gym
import numpy as np

from vecgym.config import VECConfig
from vecgym.env import VECEnv
from vecgym.goals import GoalSpec


class Agent(abc.ABC):
    """One decision engine for a ``VEC-v0`` / ``VEC-pDT-v0`` env.

    ``reset(seed)`` at the start of an episode, then ``act(obs, info)`` once per slot with exactly
    what the env returned; the action is the env's ``(2, n_max, K)`` float32 array (row 0 offload
    ratios w, row 1 edge shares a). ``stats()`` describes the episode so far (JSON-able),
    ``report_fields()`` the scalar figures a benchmark row records for this agent (LLM calls,
    tokens, fallbacks; empty for most agents), and ``close()`` releases what the agent holds (HTTP
    connections). ``env`` is the env the agent was built for and ``core`` its ``VECEnv``.
    """

    name: str = "agent"
    #: Whether the agent takes its goal from the operator's commands.
    follows_commands: bool = False

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        core = env.unwrapped
        if not isinstance(core, VECEnv):
            raise TypeError(
                f"agents act on vecgym envs (VEC-v0, VEC-pDT-v0 or a wrapper of one), got {type(core).__name__}"
            )
        self._env = env
        self._core = core

    @property
    def env(self) -> gym.Env[Any, Any]:
        """The env (or wrapper) the agent was built for."""
        return self._env

    @property
    def core(self) -> VECEnv:
        """The underlying ``VECEnv`` (``env.unwrapped``)."""
        return self._core

    @property
    def config(self) -> VECConfig:
        """The env's physics config."""
        return self._core.cfg

    def reset(self, seed: int | None = None) -> None:  # noqa: B027 - stateless agents need nothing
        """Start an episode (``seed`` seeds the agent's own randomness, if any)."""

    @abc.abstractmethod
    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        """The slot's action, shape ``(2, n_max, K)`` float32."""

    def steer(self, goal: GoalSpec) -> None:
        """Act towards ``goal`` from now on, instead of the agent's own reading of the commands: a
        planner (``hybrid``) drives the agent. An agent that cannot follow goals raises ``TypeError``."""
        raise TypeError(f"agent {self.name!r} cannot be steered by a goal (it has no goal input)")

    def stats(self) -> dict[str, Any]:
        """What the agent did this episode (JSON-able); empty by default."""
        return {}

    def report_fields(self) -> dict[str, float | int | str]:
        """Scalar figures a benchmark row records for this agent; empty by default."""
        return {}

    def close(self) -> None:  # noqa: B027 - most agents hold nothing to release
        """Release what the agent holds (HTTP connections); the agent is not used afterwards."""


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
