"""vecgym: vehicular edge computing as Gymnasium / PettingZoo environments (SP-LLM, arXiv 2508.09149).

``import vecgym`` registers ``VEC-v0`` with Gymnasium (``gym.make("VEC-v0")``; also
``gym.make("vecgym:VEC-v0")`` without the import) and the PettingZoo parallel env
(``vecgym.parallel_env()``, or ``pettingzoo.make("parallel", "VEC-v0")`` after the import; its AEC
version is ``pettingzoo.make("aec", "VEC-v0")``).
"""

from __future__ import annotations

import pettingzoo
from gymnasium.envs.registration import register, registry

from .config import VECConfig
from .env import VECEnv
from .errors import InvalidActionError
from .goals import CommandError, CommandRefused, GoalSpec, parse_command
from .parallel import MAX_CYCLES, VECParallelEnv, parallel_env
from .schedule import ScheduledCommand
from .vector import VECVectorEnv
from .vocab import CLASSES

__all__ = [
    "CLASSES",
    "CommandError",
    "CommandRefused",
    "GoalSpec",
    "InvalidActionError",
    "ScheduledCommand",
    "VECConfig",
    "VECEnv",
    "VECParallelEnv",
    "VECVectorEnv",
    "__version__",
    "parallel_env",
    "parse_command",
]

__version__ = "0.1.0"

#: Slots of one ``VEC-v0`` episode (100 s at τ = 0.1 s).
MAX_EPISODE_STEPS = MAX_CYCLES

if "VEC-v0" not in registry:
    register(
        id="VEC-v0",
        entry_point="vecgym.env:VECEnv",
        vector_entry_point="vecgym.vector:VECVectorEnv",
        max_episode_steps=MAX_EPISODE_STEPS,
    )
# The predictive twin lives in the ``twins`` package (which depends on vecgym, not the reverse):
# the string entry point imports it only when the env is made.
if "VEC-pDT-v0" not in registry:
    register(id="VEC-pDT-v0", entry_point="twins.wrapper:make_pdt_env", max_episode_steps=MAX_EPISODE_STEPS)

# PettingZoo has no "module:id" lookup like Gymnasium: ``import vecgym`` before ``pettingzoo.make``.
# Its registry arrived in PettingZoo 1.27; older versions have only ``vecgym.parallel_env()``.
if hasattr(pettingzoo, "register") and hasattr(pettingzoo, "parallel_registry"):
    if "VEC-v0" not in pettingzoo.parallel_registry:
        pettingzoo.register("parallel", "VEC-v0", "vecgym.parallel:parallel_env", max_cycles=MAX_CYCLES)
    if "VEC-v0" not in pettingzoo.aec_registry:
        pettingzoo.register("aec", "VEC-v0", "vecgym.parallel:aec_env", max_cycles=MAX_CYCLES)
