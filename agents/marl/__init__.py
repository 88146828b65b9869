"""The MARL baselines: MAPPO on Stable-Baselines3 (needs the ``marl`` extra: torch, SB3).

* ``MARLVecEnv``: an SB3 ``VecEnv`` of B roads × n_max vehicle slots on the batch-first core.
* ``MAPPO``: SB3's PPO with MAPPO's policy (``MAPPOPolicy``), active masks
  (``MaskedRolloutBuffer``) and published defaults.
* ``MARLAgent``: a trained checkpoint as an ``agents`` agent (``s-marl``, ``gc-marl``).

Train with ``python -m agents.train`` (see the README).
"""

from .buffer import MaskedRolloutBuffer
from .mappo import MAPPO, MAPPO_DEFAULTS
from .policy import MAPPOPolicy, ValueNorm
from .vec_env import MARLVecEnv

__all__ = ["MAPPO", "MAPPO_DEFAULTS", "MAPPOPolicy", "MARLVecEnv", "MaskedRolloutBuffer", "ValueNorm"]
