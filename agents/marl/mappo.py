"""MAPPO on Stable-Baselines3: SB3's PPO with MAPPO's networks, masks and defaults.

``MAPPO`` is ``stable_baselines3.PPO`` with three parts swapped in, nothing else overridden:

* the policy ``MAPPOPolicy`` (shared actor on local features, centralised critic, value norm);
* the rollout buffer ``MaskedRolloutBuffer`` (empty slots out of both losses and out of the
  advantage statistics; advantages normalised over the whole rollout, so SB3's per-minibatch
  normalisation is off);
* MAPPO's published defaults (marlbenchmark/on-policy ``config.py``) where they fit: lr 5e-4,
  Adam ε 1e-5, 15 epochs, one minibatch, clip 0.2, value clip 0.2, value coef 1,
  max grad norm 10, γ 0.99, λ 0.95, 64-64 ReLU, orthogonal init (gain 0.01 on the action head),
  LayerNorm on the inputs, ValueNorm, an initial action std of 0.25 (on-policy's
  ``sigmoid(0)·std_y_coef = 0.5·0.5``). Where it differs: no entropy bonus (on-policy's 0.01 works
  with a std bounded by ``sigmoid(·)·0.5``; SB3's Gaussian has a free log std, and with 0.01 it
  grew from 0.25 to 0.8 in 550k road steps while the deterministic policy's goal cost rose from
  1.35 to 1.62 per slot, measured on scalability N = 20), SB3's squared value loss (on-policy
  uses a Huber loss with δ = 10), one optimiser for actor and critic (the same lr), and the value
  normaliser updated once per rollout rather than per minibatch.

Checkpoints are SB3 zips: ``MAPPO.load(path)`` restores everything (the value normaliser's
statistics are policy buffers); ``stable_baselines3.PPO.load(path)`` also loads one for inference.
"""

from __future__ import annotations

import math
from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv

from .buffer import MaskedRolloutBuffer
from .policy import MAPPOPolicy

#: MAPPO's defaults as passed to SB3's PPO (see the module docstring).
MAPPO_DEFAULTS: dict[str, Any] = {
    "learning_rate": 5e-4,
    "n_steps": 200,
    "n_epochs": 15,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_range": 0.2,
    "clip_range_vf": 0.2,
    "ent_coef": 0.0,
    "vf_coef": 1.0,
    "max_grad_norm": 10.0,
}
INITIAL_ACTION_STD = 0.25


class MAPPO(PPO):
    """PPO with MAPPO's policy, masked buffer and defaults; ``env`` is an ``agents.marl.MARLVecEnv``."""

    policy_aliases = {**PPO.policy_aliases, "MAPPOPolicy": MAPPOPolicy}  # noqa: RUF012

    def __init__(
        self,
        policy: str | type[MAPPOPolicy] = MAPPOPolicy,
        env: VecEnv | None = None,
        num_mini_batch: int = 1,
        policy_kwargs: dict[str, Any] | None = None,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ):
        kw = {**MAPPO_DEFAULTS, **kwargs}
        if env is not None:
            if not isinstance(num_mini_batch, int) or num_mini_batch < 1:
                raise ValueError(f"num_mini_batch must be a positive integer, got {num_mini_batch!r}")
            kw.setdefault("batch_size", max(1, kw["n_steps"] * env.num_envs // num_mini_batch))
            n_local = getattr(env, "n_local", None)
            if n_local is None:
                raise ValueError("MAPPO needs an agents.marl.MARLVecEnv (its n_local splits actor and critic inputs)")
            policy_kwargs = {"n_local": n_local, "log_std_init": math.log(INITIAL_ACTION_STD), **(policy_kwargs or {})}
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]
            normalize_advantage=False,
            rollout_buffer_class=MaskedRolloutBuffer,
            policy_kwargs=policy_kwargs,
            _init_setup_model=_init_setup_model,
            **kw,
        )

    def _setup_model(self) -> None:
        super()._setup_model()
        assert isinstance(self.rollout_buffer, MaskedRolloutBuffer)
        assert isinstance(self.policy, MAPPOPolicy)
        self.rollout_buffer.value_norm = self.policy.value_norm
