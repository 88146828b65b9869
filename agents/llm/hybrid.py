"""``hybrid``: an LLM plans the goal, a fast executor acts every slot.

The paper's future work, an LLM strategic planner over a tactical executor: the LLM turns each
operator command into a ``GoalSpec`` (``agents.llm.planner.GoalPlanner``: validated, bounded, the
named vehicles checked against the command, ``parse_command`` as fallback), once per command; the
executor, any agent that can be steered by a goal (``Agent.steer``), decides every slot:

* ``executor="sp-dpp"`` (default): the receding-horizon solver over the twin's forecasts;
* ``executor="gc-marl"``: the goal-conditioned MAPPO policy, which reads the planned goal in its
  goal channel.

A goal with a duration returns to balanced when it expires; a refused command leaves the goal in
force (``commands_rejected``). Each goal change has a plain-language explanation (which weights
changed, quoting the command) in ``stats()["explanations"]`` and ``last_explanation``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import Agent
from agents.lyapunov.agent import follow_commands
from vecgym.explain import explain_goal_change
from vecgym.goals import BALANCED, GoalSpec

from .backend import LLMConfig
from .calllog import CallLog
from .connect import Backend, close_backend, make_backend
from .planner import GoalPlanner

#: The agents ``hybrid`` can drive.
EXECUTORS: tuple[str, ...] = ("sp-dpp", "gc-marl")


class HybridAgent(Agent):
    """The LLM plans (command -> GoalSpec, once per command); ``executor`` acts every slot.

    Args:
        env: the ``VEC-v0`` / ``VEC-pDT-v0`` env.
        executor: one of ``EXECUTORS``.
        executor_kw: keywords for the executor (e.g. ``{"checkpoint": PATH}`` for gc-marl).
        llm, transcript, replay, backend, **endpoint: the LLM endpoint, as for ``sp-llm``.
    """

    name = "hybrid"
    follows_commands = True

    def __init__(
        self,
        env: gym.Env,
        *,
        executor: str = "sp-dpp",
        executor_kw: dict[str, Any] | None = None,
        llm: LLMConfig | None = None,
        transcript: str | Path | None = None,
        replay: str | Path | None = None,
        backend: Backend | None = None,
        **endpoint: Any,
    ):
        super().__init__(env)
        if executor not in EXECUTORS:
            raise ValueError(f"hybrid executor must be one of {EXECUTORS}, got {executor!r}")
        from agents import make_agent  # agents imports this module lazily

        self.executor: Agent = make_agent(executor, env, **(executor_kw or {}))
        self.executor_name = executor
        self.cfg = self.config
        self.backend = make_backend(llm=llm, backend=backend, replay=replay, **endpoint)
        self.log = CallLog(self.name, transcript)
        self.planner = GoalPlanner(self.backend, self.log)
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self.executor.reset(seed)
        self.log.reset()
        self.planner.reset()
        self.goal: GoalSpec = BALANCED
        self.command_id, self.expires_s, self.commands_rejected = 0, math.inf, 0
        self.decisions = 0
        self.explanations: list[dict[str, Any]] = []
        self.last_explanation: str | None = None

    @property
    def refusals(self) -> list[str]:
        """Why the planner's answers were not used ("reason: message"), this episode."""
        return self.planner.refusals

    def interpret(self, text: str) -> GoalSpec:
        """The planner's goal for a command (``CommandError`` when refused)."""
        return self.planner(text)

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        start = time.perf_counter()
        before = self.goal
        event = follow_commands(self, obs, info)
        if event is not None and self.goal is not before:  # a goal change (not a repeat of the same goal)
            self._explain(before, info["command"] if event == "command" else None, int(obs["slot"][0]))
        self.executor.steer(self.goal)
        action = self.executor.act(obs, info)
        self.decisions += 1
        self.log.decision_s.append(time.perf_counter() - start)
        return action

    def _explain(self, before: GoalSpec, command: str | None, slot: int) -> None:
        text = explain_goal_change(before, self.goal, command, expired=command is None)
        self.last_explanation = text
        self.explanations.append({"slot": slot, "goal": self.goal.label, "explanation": text})

    def close(self) -> None:
        """Close the backend's HTTP connections and the executor."""
        close_backend(self.backend)
        self.executor.close()

    def stats(self) -> dict[str, Any]:
        out = self.log.summary(self.decisions)
        # hybrid calls the LLM per command: its fallback rate is per call, not per slot.
        out["fallback_rate"] = sum(self.log.fallback.values()) / self.log.calls if self.log.calls else 0.0
        out.update(
            executor=self.executor_name,
            goal=self.goal.label,
            commands_rejected=self.commands_rejected,
            refusals=list(self.planner.refusals),
            explanations=list(self.explanations),
        )
        return out

    def report_fields(self) -> dict[str, float | int | str]:
        return self.log.report_fields(self.stats())
