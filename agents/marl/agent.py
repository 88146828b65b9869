"""A trained MAPPO checkpoint as an ``agents`` agent on ``VEC-v0`` / ``VEC-pDT-v0``.

Each slot the agent builds every vehicle's features from the env's Dict observation (exactly as
``vecgym.learning.AgentRoads`` does in training), runs the shared actor on all of them in one
batch (the mean action: deterministic) and maps the outputs to (w, a) with
``vecgym.agent_actions.decode``, so the action is always inside the env's space and Σa < 1 per
server: the env never repairs it.

* ``s-marl`` was trained with ``goal_channel="none"``: it reads a zero goal channel whatever the env
  says (the paper's S-MARL is goal-blind).
* ``gc-marl`` was trained on sampled goals read from the channel: at run time it reads the env's
  ``obs["goal"]`` (``goal_channel="interpreted"`` by default), so a command changes what it does.

The checkpoint zip carries its training metadata (``model.vecgym``: the feature names, the goal
channel, the command that trained it); a checkpoint whose spaces do not match the env's raises a
``ValueError`` naming the difference.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import Agent
from vecgym.agent_actions import decode
from vecgym.features import (
    FORECAST_KEYS,
    FeatureScales,
    agent_features,
    agent_state,
    feature_names,
    global_names,
    global_summary,
)
from vecgym.goals import GoalSpec

from .mappo import MAPPO

#: Where the shipped checkpoints live.
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"


def load_checkpoint(path: str | os.PathLike[str]) -> MAPPO:
    """``MAPPO.load`` on CPU, with a clear error for a missing or unreadable file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"checkpoint {str(p)!r} does not exist; train one with `python -m agents.train --out DIR`")
    try:
        return MAPPO.load(p, device="cpu")
    except Exception as exc:  # zipfile, pickle and torch errors all mean "not a checkpoint"
        raise ValueError(f"cannot read checkpoint {str(p)!r} ({type(exc).__name__}: {exc}); is it an SB3 zip?") from exc


class MARLAgent(Agent):
    """A MAPPO checkpoint acting on a ``VEC-v0`` env (see the module docstring)."""

    def __init__(
        self,
        env: gym.Env,
        checkpoint: str | os.PathLike[str] | None = None,
        name: str = "s-marl",
        model: MAPPO | None = None,
    ):
        """``checkpoint`` None loads the shipped ``<name>.zip``; ``model`` uses a model in memory."""
        super().__init__(env)
        self.name = name
        path = Path(checkpoint) if checkpoint is not None else CHECKPOINT_DIR / f"{name}.zip"
        self.model = model if model is not None else load_checkpoint(path)
        self.meta: dict[str, Any] = dict(getattr(self.model, "vecgym", {}) or {})
        core: Any = env.unwrapped
        self.cfg = core.cfg
        self.reads_goal = self.meta.get("goal_channel", "none") != "none"
        self._check_spaces(path)
        self.scales = FeatureScales.of(self.cfg)
        self.granted = np.zeros((1, self.cfg.slots, self.cfg.n_task_types))
        self._vid = np.full(self.cfg.slots, -1)
        self.steered_goal: GoalSpec | None = None

    def _check_spaces(self, path: Path) -> None:
        want = len(feature_names(self.cfg)) + len(global_names(self.cfg))
        have = self.model.observation_space.shape
        act = self.model.action_space.shape
        trained = self.meta.get("features")
        if have != (want,) or act != (2 * self.cfg.n_task_types,):
            raise ValueError(
                f"checkpoint {str(path)!r} has observation {have} and action {act}, but this env needs ({want},) "
                f"and ({2 * self.cfg.n_task_types},) (n_task_types={self.cfg.n_task_types}, "
                f"n_servers={self.cfg.n_servers}); it was trained on {self.meta.get('env', 'another config')}. "
                "Train a checkpoint for this config with `python -m agents.train`"
            )
        if trained is not None and tuple(trained) != feature_names(self.cfg):
            raise ValueError(f"checkpoint {str(path)!r} was trained on other features: {trained}")

    def steer(self, goal: GoalSpec) -> None:
        """Read ``goal`` in the goal channel from now on, whatever the env's channel says."""
        if not self.reads_goal:
            raise TypeError(f"{self.name} was trained goal-blind (goal channel 'none'); it cannot be steered by a goal")
        self.steered_goal = goal

    def reset(self, seed: int | None = None) -> None:
        self.granted[:] = 0.0
        self._vid[:] = -1

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        batched = {k: np.asarray(v)[None] for k, v in obs.items() if k not in FORECAST_KEYS}
        if not self.reads_goal:
            batched["goal"] = np.zeros_like(batched["goal"])
        elif self.steered_goal is not None:
            batched["goal"] = self.steered_goal.vector()[None]
        same = batched["vehicle_id"][0] == self._vid
        self.granted[0, ~same] = 0.0
        feats = agent_features(batched, self.cfg, self.granted, self.scales)
        state = agent_state(feats, global_summary(batched, self.cfg, feats, self.scales))[0]
        u, _ = self.model.predict(state, deterministic=True)
        active = batched["active"].astype(bool)
        w, a = decode(np.asarray(u, dtype=np.float64)[None], active, batched["holder"], self.cfg.n_servers)
        self.granted = a
        self._vid = batched["vehicle_id"][0].copy()
        return np.stack((w[0], a[0])).astype(np.float32)

    def stats(self) -> dict[str, Any]:
        return {"checkpoint": self.meta}

    def close(self) -> None:
        pass
