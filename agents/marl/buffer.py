"""SB3's ``RolloutBuffer`` with active masks: empty vehicle slots never reach the PPO loss.

SB3 has no masks. This subclass overrides only ``get`` (and its sampler): when the rollout is
first read, it keeps the transitions whose observation has ``active`` set (column
``ACTIVE_COLUMN``), normalises their advantages over the whole rollout of active samples
(MAPPO's advantage normalisation, so PPO's per-minibatch one is switched off), updates the value
normaliser with their returns and hands out returns and old values in normalised units (MAPPO's
value loss). Empty slots are in no minibatch: they contribute to neither loss nor to any statistic.
The number of minibatches per epoch is that of the unmasked buffer (``buffer_size·n_envs /
batch_size``), so MAPPO's ``num_mini_batch`` carries over.

GAE itself is unchanged: an exit is a ``done`` and an empty slot's rows are never read, so no
value crosses from one vehicle's episode to another's.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.type_aliases import RolloutBufferSamples

from vecgym.features import ACTIVE_COLUMN

from .policy import ValueNorm

_ARRAYS = ("observations", "actions", "values", "log_probs", "advantages", "returns")


class MaskedRolloutBuffer(RolloutBuffer):
    """A rollout buffer whose samples are the active slots only (see the module docstring)."""

    value_norm: ValueNorm | None = None
    """Set by ``MAPPO``: the policy's value normaliser (None: raw returns)."""

    def reset(self) -> None:
        super().reset()
        self.active_idx = np.zeros(0, dtype=np.int64)

    def get(self, batch_size: int | None = None) -> Generator[RolloutBufferSamples, None, None]:
        assert self.full, "the rollout buffer is read only when full"
        total = self.buffer_size * self.n_envs
        if not self.generator_ready:
            self._prepare()
        n_batches = 1 if batch_size is None else max(1, round(total / batch_size))
        order = np.random.permutation(self.active_idx.size)  # noqa: NPY002  (SB3 seeds the global RNG)
        for chunk in np.array_split(order, n_batches):
            if chunk.size:
                yield self._get_samples(chunk)

    def _prepare(self) -> None:
        for name in _ARRAYS:
            self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
        self.generator_ready = True
        idx = np.flatnonzero(self.observations[:, ACTIVE_COLUMN] > 0.5)
        self.active_idx = idx
        adv = self.advantages[idx].ravel()
        self._adv = ((adv - adv.mean()) / (adv.std() + 1e-8)).astype(np.float32) if adv.size else adv
        returns, values = self.returns[idx].ravel(), self.values[idx].ravel()
        if self.value_norm is not None and idx.size:
            self.value_norm.update(returns)
            returns, values = self.value_norm.normalize(returns), self.value_norm.normalize(values)
        self._returns, self._old_values = returns.astype(np.float32), values.astype(np.float32)

    def _get_samples(self, batch_inds: np.ndarray, env: object = None) -> RolloutBufferSamples:
        """Samples ``batch_inds`` of the *active* transitions."""
        rows = self.active_idx[batch_inds]
        data = (
            self.observations[rows],
            self.actions[rows].astype(np.float32, copy=False),
            self._old_values[batch_inds],
            self.log_probs[rows].flatten(),
            self._adv[batch_inds],
            self._returns[batch_inds],
        )
        return RolloutBufferSamples(*tuple(map(self.to_torch, data)))
