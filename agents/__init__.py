"""Decision engines that step vecgym envs through one protocol (``agents.base.Agent``).

``agents.make_agent(name, env, **kw)`` builds one (every agent derives from ``agents.Agent``);
``agents.available()`` lists the names with a one-line description. The LLM agents need the
``llm`` extra and an endpoint (``agents.llm``); the MARL agents need the ``marl`` extra and a
checkpoint (shipped ones by default; ``checkpoint=PATH`` for your own, trained with
``python -m agents.train``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from .base import Agent, equal_shares
from .heuristics import GreedyOffloading, LocalOnly, OffloadAll, RandomAgent
from .horizon import SPDPP, Oracle
from .lyapunov import DPPAgent, DPPEWMAAgent, SPDPPAgent


def _llm(cls: str, **defaults: Any) -> Callable[..., Agent]:
    """Import ``agents.llm`` only when an LLM agent is built (it needs the ``llm`` extra)."""

    def build(env: gym.Env, **kw: Any) -> Agent:
        from . import llm

        agent: Agent = getattr(llm, cls)(env, **{**defaults, **kw})
        return agent

    return build


def _marl(name: str) -> Callable[..., Agent]:
    """Import ``agents.marl`` (torch, SB3: the ``marl`` extra) only when a MARL agent is built."""

    def build(env: gym.Env, checkpoint: str | None = None, **kw: Any) -> Agent:
        from .marl.agent import MARLAgent

        agent: Agent = MARLAgent(env, checkpoint=checkpoint, name=name, **kw)
        return agent

    return build


_REGISTRY: dict[str, tuple[Callable[..., Agent], str]] = {
    "go": (GreedyOffloading, "greedy offloading (paper's GO): offload when the uplink rate is good"),
    "local": (LocalOnly, "compute everything on the vehicle"),
    "offload": (OffloadAll, "offload everything, equal edge shares"),
    "random": (RandomAgent, "uniform random offload ratios and edge shares"),
    "dpp": (DPPAgent, "reactive Lyapunov drift-plus-penalty on the current state, balanced goal"),
    "dpp-ewma": (DPPEWMAAgent, "dpp fed an EWMA of each queue's arrivals: the reactive-filter baseline"),
    "sp-dpp": (SPDPP, "receding horizon (H = 5) over the twin's forecasts, queue carry-over, follows commands"),
    "oracle": (Oracle, "sp-dpp given the true future (the simulator's exogenous_future): a bound, not a policy"),
    "sp-dpp-mg1": (SPDPPAgent, "v2.0 sp-dpp: the one-slot M/G/1 solver, its decision held over the twin's horizon"),
    "sp-llm": (_llm("SPLLMAgent"), "SP-LLM: an LLM decides from the goal, the twin's forecasts and exemplars"),
    "llm-dt": (_llm("LLMDTAgent"), "LLM-DT: an LLM decides from the current state, fixed goal (reactive)"),
    "hybrid": (_llm("HybridAgent"), "an LLM plans a GoalSpec per command; sp-dpp executes every slot (executor=...)"),
    "hybrid-marl": (
        _llm("HybridAgent", executor="gc-marl"),
        "hybrid with the goal-conditioned MAPPO (gc-marl) as executor",
    ),
    "s-marl": (_marl("s-marl"), "the paper's S-MARL: MAPPO (shared actor, centralised critic), fixed balanced goal"),
    "gc-marl": (_marl("gc-marl"), "goal-conditioned MAPPO: trained on sampled goals, reads the goal channel"),
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
