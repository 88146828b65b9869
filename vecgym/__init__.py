"""vecgym: vehicular edge computing as Gymnasium / PettingZoo environments (SP-LLM, arXiv 2508.09149).

``import vecgym`` registers ``VEC-v0`` with Gymnasium (``gym.make("VEC-v0")``; also
``gym.make("vecgym:VEC-v0")`` without the import) and the PettingZoo parallel env
(``vecgym.parallel_env()``).
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from .config import CLASSES, ScheduledCommand, VECConfig
from .env import VECEnv
from .errors import InvalidActionError
from .goals import GoalSpec

__all__ = [
    "CLASSES",
    "GoalSpec",
    "InvalidActionError",
    "ScheduledCommand",
    "VECConfig",
    "VECEnv",
    "__version__",
]

__version__ = "0.1.0"

#: Slots of one ``VEC-v0`` episode (100 s at τ = 0.1 s).
MAX_EPISODE_STEPS = 1000

if "VEC-v0" not in registry:
    register(id="VEC-v0", entry_point="vecgym.env:VECEnv", max_episode_steps=MAX_EPISODE_STEPS)
