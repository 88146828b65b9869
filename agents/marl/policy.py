"""MAPPO's networks as an SB3 ``ActorCriticPolicy``: a shared actor on the local features and a
centralised critic on the agent-specific global state, with a value normaliser.

What is overridden, and why:

* ``_build_mlp_extractor``: ``SplitMlpExtractor``. The observation is ``[local (D), summary (G)]``;
  the actor's MLP reads the first ``n_local`` columns, the critic's MLP reads all of them (MAPPO's
  agent-specific global state). Each starts with a LayerNorm of its input (MAPPO's
  ``use_feature_normalization``). SB3's orthogonal init (gain √2, 0.01 on the action head, 1 on
  the value head) applies unchanged.
* ``forward`` and ``predict_values``: the value head predicts *normalised* values; these two
  return them denormalised (``ValueNorm``), because SB3 feeds them to GAE and to the timeout
  bootstrap. ``evaluate_actions`` (the loss) keeps them normalised, as MAPPO does.
* The ``ValueNorm`` statistics are buffers of the policy, so they are saved in the checkpoint zip.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn


class ValueNorm(nn.Module):
    """Running mean and variance of the returns with debiasing (MAPPO's ``ValueNorm``, β = 0.99999)."""

    running_mean: th.Tensor
    running_mean_sq: th.Tensor
    debiasing_term: th.Tensor

    def __init__(self, beta: float = 0.99999, epsilon: float = 1e-5):
        super().__init__()
        self.beta, self.epsilon = beta, epsilon
        self.register_buffer("running_mean", th.zeros(1, dtype=th.float64))
        self.register_buffer("running_mean_sq", th.zeros(1, dtype=th.float64))
        self.register_buffer("debiasing_term", th.zeros(1, dtype=th.float64))

    def mean_var(self) -> tuple[th.Tensor, th.Tensor]:
        debias = self.debiasing_term.clamp(min=self.epsilon)
        mean = self.running_mean / debias
        var = (self.running_mean_sq / debias - mean**2).clamp(min=1e-2)
        return mean, var

    @th.no_grad()
    def update(self, returns: np.ndarray) -> None:
        """Fold a batch of returns into the running statistics."""
        x = th.as_tensor(np.asarray(returns, dtype=np.float64), device=self.running_mean.device)
        w = self.beta
        self.running_mean.mul_(w).add_(x.mean() * (1.0 - w))
        self.running_mean_sq.mul_(w).add_((x**2).mean() * (1.0 - w))
        self.debiasing_term.mul_(w).add_(1.0 - w)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        mean, var = self.mean_var()
        return ((np.asarray(x, dtype=np.float64) - mean.item()) / np.sqrt(var.item())).astype(np.float32)

    def denormalize(self, x: th.Tensor) -> th.Tensor:
        mean, var = self.mean_var()
        return (x * th.sqrt(var) + mean).to(x.dtype)


class SplitMlpExtractor(nn.Module):
    """The actor's MLP on the first ``n_local`` features, the critic's on all of them."""

    def __init__(self, features_dim: int, n_local: int, net_arch: list[int], activation_fn: type[nn.Module]):
        super().__init__()
        self.n_local = n_local
        self.policy_net = _mlp(n_local, net_arch, activation_fn)
        self.value_net = _mlp(features_dim, net_arch, activation_fn)
        self.latent_dim_pi = self.latent_dim_vf = net_arch[-1] if net_arch else features_dim

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return self.policy_net(features[..., : self.n_local])

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.value_net(features)


def _mlp(dim: int, sizes: list[int], activation_fn: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = [nn.LayerNorm(dim)]
    for size in sizes:
        layers += [nn.Linear(dim, size), activation_fn()]
        dim = size
    return nn.Sequential(*layers)


class MAPPOPolicy(ActorCriticPolicy):
    """Shared actor (local features) + centralised critic (global state); see the module docstring."""

    def __init__(self, *args: Any, n_local: int, **kwargs: Any):
        self.n_local = n_local
        kwargs.setdefault("net_arch", [64, 64])
        kwargs.setdefault("activation_fn", nn.ReLU)
        super().__init__(*args, **kwargs)
        self.value_norm = ValueNorm()
        self.value_norm.to(self.device)

    def _build_mlp_extractor(self) -> None:
        arch = self.net_arch
        sizes = list(arch) if isinstance(arch, list) else list(arch.get("pi", [64, 64]))
        # Not an MlpExtractor subclass (its __init__ builds both nets on all features); SB3 uses
        # only latent_dim_pi / latent_dim_vf and the forward methods, which this one has.
        self.mlp_extractor = SplitMlpExtractor(  # type: ignore[assignment]
            self.features_dim, self.n_local, sizes, self.activation_fn
        )

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        actions, values, log_prob = super().forward(obs, deterministic)
        return actions, self.value_norm.denormalize(values), log_prob

    def predict_values(self, obs: th.Tensor | dict[str, th.Tensor]) -> th.Tensor:
        return self.value_norm.denormalize(super().predict_values(obs))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "n_local": self.n_local}
