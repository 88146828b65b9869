"""Decision engines that step vecgym envs through one protocol (``agents.base.Agent``).

``agents.make_agent(name, env, **kw)`` builds one; ``agents.available()`` lists the names with a
one-line description. The Lyapunov solvers, LLM orchestrators and the MARL baseline join this
registry in later releases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from .base import Agent, equal_shares
from .heuristics import GreedyOffloading, LocalOnly, OffloadAll, RandomAgent
from .lyapunov import DPPAgent, OracleAgent, SPDPPAgent

_REGISTRY: dict[str, tuple[Callable[..., Agent], str]] = {
    "go": (GreedyOffloading, "greedy offloading (paper's GO): offload when the uplink rate is good"),
    "local": (LocalOnly, "compute everything on the vehicle"),
    "offload": (OffloadAll, "offload everything, equal edge shares"),
    "random": (RandomAgent, "uniform random offload ratios and edge shares"),
    "dpp": (DPPAgent, "reactive Lyapunov drift-plus-penalty on the current state, balanced goal"),
    "sp-dpp": (SPDPPAgent, "proactive drift-plus-penalty on the twin's forecasts, follows commands"),
    "oracle": (OracleAgent, "sp-dpp with the true future (clones the simulator): a bound, not a policy"),
}

__all__ = ["Agent", "available", "equal_shares", "make_agent"]


def available() -> dict[str, str]:
    """Agent names with a one-line description."""
    return {name: desc for name, (_, desc) in _REGISTRY.items()}


def make_agent(name: str, env: gym.Env, **kwargs: Any) -> Agent:
    """Build agent ``name`` for ``env``; an unknown name raises ``ValueError`` listing the known ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown agent {name!r}; available: {', '.join(_REGISTRY)}")
    return _REGISTRY[name][0](env, **kwargs)
