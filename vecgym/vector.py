"""``gym.make_vec("VEC-v0", num_envs=B, vectorization_mode="vector_entry_point")``: B roads, one call.

A native Gymnasium ``VectorEnv`` over the batch-first engine: one ``step`` advances all B roads
with array operations (no Python loop over roads, vehicles or tasks), instead of B copies of
``VECEnv`` in a sync or async wrapper.

* Observations: ``VECEnv``'s Dict with a leading road axis (``batch_space`` of the single space);
  actions ``(B, 2, n_max, K)``.
* ``reset(seed=s)`` seeds road b with s + b (a list gives one seed per road), so road b
  reproduces ``VECEnv`` reset with seed s + b, step for step, under the same actions.
  ``options={"reset_mask": mask}`` resets only the masked roads.
* Autoreset: ``AutoresetMode.NEXT_STEP`` (Gymnasium 1.x's default). The step after a road's
  episode ended resets that road (its action is ignored, its reward is 0) and returns the first
  observation of its new episode. A road's episode ends at ``max_episode_steps`` (truncation;
  the road never terminates); roads reset later draw their seeds from per-road generators.
* Infos: dicts of (B,) arrays with ``_key`` masks, Gymnasium's vector convention: ``metrics`` (the
  slot's figures, as ``VECEnv``'s ``info["metrics"]``), ``reward_terms``, ``action_repairs``,
  ``goal`` (the label per road), ``command_id`` and ``own_cost`` ((B, n_max): each vehicle slot's own
  cost, ``vecgym.reward.own_costs``).
* Goals: ``commands`` (a schedule of ``ScheduledCommand``) is issued on every road at its slot;
  ``goal_channel`` and ``interpreter`` as in ``VECEnv`` ("interpreted", "truth" or "none"), per road.
* Backends: ``backend="torch"`` (with ``device="cpu"`` or ``"cuda"``) runs the engine on torch
  tensors (``vecgym.core.xp``): ``step`` accepts numpy or torch actions and returns torch tensors
  on the device (the observation dict, rewards, terminated / truncated, the numeric infos), and
  the auto-reset runs there too; the goal labels (``info["goal"]``) and command ids stay numpy.
  The spaces stay Gymnasium's (numpy). ``gym.make_vec("VEC-v0", num_envs=B,
  vectorization_mode="vector_entry_point", backend="torch", device="cuda")``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .actions import check_actions
from .config import VECConfig, as_config
from .core.engine import Engine
from .goal_channel import GoalChannel
from .goals import GOAL_VECTOR_SIZE, GoalSpec, Interpreter
from .observation import observation_space, observe_batch
from .schedule import ScheduledCommand, check_schedule


class VECVectorEnv(VectorEnv):
    """B independent roads of one config, stepped together (see the module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {  # type: ignore[misc]
        "autoreset_mode": AutoresetMode.NEXT_STEP,
        "render_modes": [],
    }

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        config: VECConfig | Mapping[str, Any] | None = None,
        commands: Iterable[ScheduledCommand] | None = None,
        goal_channel: str = "interpreted",
        render_mode: str | None = None,
        interpreter: Interpreter | None = None,
        backend: str = "numpy",
        device: str = "cpu",
        **config_kwargs: Any,
    ):
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if render_mode is not None:
            raise ValueError("VECVectorEnv does not render; make a single VEC-v0 with render_mode='rgb_array'")
        if max_episode_steps is not None and (not isinstance(max_episode_steps, int) or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps must be None or a positive integer, got {max_episode_steps!r}")
        self.cfg = as_config(config, **config_kwargs)
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.engine = Engine(self.cfg, num_envs, backend=backend, device=device)
        self.xp = X = self.engine.xp
        self.backend, self.device = backend, device
        self.commands = check_schedule(commands)
        self.channels = [GoalChannel(goal_channel, interpreter) for _ in range(num_envs)]
        M, K = self.cfg.slots, self.cfg.n_task_types
        self.single_observation_space = observation_space(self.cfg)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.single_action_space = spaces.Box(0.0, 1.0, (2, M, K), np.float32)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = None
        self._steps = X.zeros(num_envs, dtype=X.int64)
        self._autoreset = X.zeros(num_envs, dtype=X.bool_)
        self._seeders = [np.random.default_rng() for _ in range(num_envs)]
        self._command_slots = X.asarray(sorted({cmd.slot for cmd in self.commands}), dtype=X.int64)
        self._next_event_s = np.full(num_envs, np.inf)  # host: goal events run Python per road
        self._goal_vectors = np.zeros((num_envs, GOAL_VECTOR_SIZE), np.float32)
        self._labels = np.empty(num_envs, dtype=object)
        self._command_ids = np.zeros(num_envs, dtype=np.int64)
        self._has_reset = False

    # ------------------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        B = self.num_envs
        mask = np.ones(B, dtype=bool)
        if options and "reset_mask" in options:
            mask = np.asarray(self.xp.to_numpy(options["reset_mask"]), dtype=bool)
            if mask.shape != (B,):
                raise ValueError(f"options['reset_mask'] must have shape ({B},), got {mask.shape}")
        if not self._has_reset and not mask.all():
            raise RuntimeError("the first reset() must reset every road (no reset_mask)")
        seeds = self._seeds(seed, mask)
        self._reset_roads(seeds, mask)
        self._has_reset = True
        return self._observe(), self._infos(None, mask)

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        eng, X = self.engine, self.xp
        restart = X.copy(self._autoreset)
        live = eng.active & ~restart[:, None]  # a restarting road's action is ignored
        w, a, repairs = check_actions(
            actions, live, self.cfg.n_task_types, self.cfg.strict, eng.holder, n_servers=self.cfg.n_servers
        )
        result = eng.step(w, a)
        eng.metrics.count_repairs(sum(repairs.values()))
        self._steps += 1
        # Goal events (an expiry or a scheduled command) are rare: only those roads run Python.
        due = (X.to_numpy(eng.t_s) >= self._next_event_s - 1e-9) | np.isin(
            X.to_numpy(eng.slot), X.to_numpy(self._command_slots)
        )
        for b in np.flatnonzero(due):
            self.channels[b].after_step(eng, int(b), self.commands)
            self._refresh(int(b))
        reward = X.where(restart, 0.0, result.reward)
        truncated = X.zeros(self.num_envs, dtype=X.bool_)
        if self.max_episode_steps is not None:
            truncated = ~restart & (self._steps >= self.max_episode_steps)
        restart_h = X.to_numpy(restart)  # the one read of the device per step: who restarts
        if restart_h.any():
            self._reset_roads(self._seeds(None, restart_h), restart_h)
        self._autoreset = X.copy(truncated)
        infos = self._infos(result, ~restart, repairs)
        return self._observe(), reward, X.zeros(self.num_envs, dtype=X.bool_), truncated, infos

    # ------------------------------------------------------------------------------------------
    def _seeds(self, seed: int | list[int | None] | None, mask: np.ndarray) -> np.ndarray:
        """One int seed per road: s + b, a list entry, or the road's own generator."""
        B = self.num_envs
        if isinstance(seed, int | np.integer):
            self._seeders = [np.random.default_rng(int(seed) + b) for b in range(B)]
            return int(seed) + np.arange(B, dtype=np.int64)
        if seed is not None:
            if len(seed) != B:
                raise ValueError(f"seed must be an int, None, or a list of {B} seeds, got {len(seed)}")
            for b, s in enumerate(seed):
                if s is not None:
                    self._seeders[b] = np.random.default_rng(int(s))
            return np.array([int(s) if s is not None else self._draw(b) for b, s in enumerate(seed)], dtype=np.int64)
        return np.array([self._draw(b) if mask[b] else 0 for b in range(B)], dtype=np.int64)

    def _draw(self, b: int) -> int:
        return int(self._seeders[b].integers(0, 2**62))

    def _reset_roads(self, seeds: np.ndarray, mask: np.ndarray) -> None:
        """Reset the roads of the host (B,) ``mask`` (the engine resets them on its device)."""
        X = self.xp
        mask_d = X.asarray(mask, dtype=X.bool_)
        self.engine.reset(seeds, mask_d)
        self._steps = X.where(mask_d, 0, self._steps)
        self._autoreset = self._autoreset & ~mask_d
        for b in np.flatnonzero(mask):
            self.channels[b].reset()
            self.channels[b].issue_scheduled(self.engine, int(b), self.commands)
            self._refresh(int(b))

    def _refresh(self, b: int) -> None:
        """Cache road b's goal channel, labels and next goal event after a change."""
        channel = self.channels[b]
        self._goal_vectors[b] = channel.vector(self.engine.goals[b])
        self._labels[b] = self.engine.goals[b].label
        self._command_ids[b] = channel.command_id
        self._next_event_s[b] = min(channel.truth_expires_s, channel.interpreted_expires_s)

    @property
    def goal_vectors(self) -> np.ndarray:
        """Each road's observed goal channel now, (B, GOAL_VECTOR_SIZE) float32 (a copy)."""
        return self._goal_vectors.copy()

    def _observe(self) -> dict[str, np.ndarray]:
        return observe_batch(self.engine, self._goal_vectors)

    def _infos(self, result: Any, mask: Any, repairs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Gymnasium's vector infos; on torch, the figures and their ``_key`` masks are device
        tensors, the goal labels and command ids numpy arrays."""
        X = self.xp
        info: dict[str, Any] = {
            "goal": self._labels.copy(),
            "_goal": np.ones(self.num_envs, dtype=bool),
            "command_id": self._command_ids.copy(),
            "_command_id": np.ones(self.num_envs, dtype=bool),
        }
        if result is not None:
            for key, values in (("metrics", result.metrics), ("reward_terms", result.reward_terms)):
                info[key] = {k: X.where(mask, v, np.nan) for k, v in values.items()}
                info[f"_{key}"] = X.copy(mask)
            info["action_repairs"] = repairs
            info["_action_repairs"] = X.copy(mask)
            info["own_cost"] = X.where(mask[:, None], result.own_cost, np.nan)
            info["_own_cost"] = X.copy(mask)
        return info

    def issue_command(self, road: int, text: str, goal: GoalSpec | None = None) -> None:
        """Record an operator command on road ``road`` (as ``VECEnv.issue_command``): ``goal``, the
        ground truth, sets that road's reward from the next slot; the goal channel follows its mode."""
        if not self._has_reset:
            raise RuntimeError("call reset() before issue_command()")
        if not isinstance(road, int | np.integer) or not 0 <= road < self.num_envs:
            raise ValueError(f"road must be an int in [0, {self.num_envs}), got {road!r}")
        self.channels[road].issue(self.engine, int(road), text, goal)
        self._refresh(int(road))

    def episode_metrics(self, road: int) -> dict[str, Any]:
        """Running totals of road ``road``'s current episode (as ``VECEnv.episode_metrics``)."""
        from .simulator import pending_summary

        return self.engine.metrics.summary(road, self.engine.active[road], pending_summary(self.engine, road))

    def close_extras(self, **kwargs: Any) -> None:
        pass
