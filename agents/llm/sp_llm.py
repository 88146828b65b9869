"""The per-slot LLM agents: ``sp-llm`` (the paper's SP-LLM) and ``llm-dt`` (its reactive LLM-DT).

* ``sp-llm``: each slot, the prompt holds the operator's goal, the twin's forecasts for the active
  vehicles and the k nearest in-context exemplars; the LLM answers the offloading ratios ``w`` and
  edge shares ``a``.
* ``llm-dt``: the current state only, a fixed balanced goal (commands are ignored), the same
  exemplars matched on the current state.

Every slot's decision is accounted for. ``agent.stats()`` gives ``calls``, ``ok``, ``repaired``,
``fallback`` (reason -> count), decision latency (median, p99) and prompt/completion tokens;
``agent.last_outcome`` describes the last decision. When the LLM's answer cannot be used (no
answer in time, not JSON, wrong shape, NaN, far out of range, Σa far above 1), the slot gets the
solver's decision (the one-slot M/G/1 ``sp-dpp-mg1`` for sp-llm, ``dpp`` for llm-dt), which is
computed every slot before the call (about 1 ms) so that it is ready.

**Safety filter** (``safety=True``, default): a usable answer is then priced with the solver's own
cost model against the solver's decision on the same slot problem
(``agents.llm.safety.SafetyFilter``); an answer that costs more than the documented margin above
it, or that stalls an edge queue, is replaced by the solver's decision and counted as a fallback
``safety_<reason>`` (``stats()["safety"]`` has the filter's counts). ``explain=True`` keeps a
plain-language summary of each slot's applied decision in ``last_explanation``
(``agents.explain``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import Agent
from agents.lyapunov import DPPAgent, SPDPPAgent

from .answer import check_answer
from .backend import LLMConfig, LLMError
from .calllog import CallLog
from .connect import Backend, close_backend, make_backend
from .exemplars import ExemplarPool, features
from .prompt import StateTable, answer_schema, build_messages, goal_features, state_table
from .safety import SafetyFilter


class SPLLMAgent(Agent):
    """SP-LLM: goal + twin forecasts + exemplars -> (w, a) from an OpenAI-compatible LLM.

    Args:
        env: the ``VEC-v0`` env (or a wrapper of it).
        llm: the endpoint; or its fields as plain keywords (``base_url``, ``api_key``, ``model``,
            ``timeout_s``, ``max_retries``, ``temperature``, ``seed``, ``max_tokens``; ``None``
            reads ``OPENAI_BASE_URL``, ``OPENAI_API_KEY`` and ``VECGYM_LLM_MODEL``). A simulation
            may wait seconds for a hosted model; a real-time deployment only a slot, 0.1 s.
        exemplars: a pool file, ``None`` for the shipped default, or ``False`` for none.
        k: exemplars per prompt.
        transcript: append every call to this JSONL file.
        replay: answer from this transcript instead of a server.
        backend: an object with ``complete(messages, schema, schema_name)`` (tests, custom clients).
        safety: the answer filter: ``True`` (default margins), a ``SafetyFilter``, or ``False``.
        explain: keep each slot's decision summary in ``last_explanation``.
    """

    name = "sp-llm"
    predictive = True
    follows_commands = True

    def __init__(
        self,
        env: gym.Env,
        *,
        llm: LLMConfig | None = None,
        exemplars: str | Path | bool | None = None,
        k: int = 2,
        transcript: str | Path | None = None,
        replay: str | Path | None = None,
        backend: Backend | None = None,
        safety: SafetyFilter | bool = True,
        explain: bool = False,
        **endpoint: Any,
    ):
        super().__init__(env)
        self.safety = SafetyFilter() if safety is True else safety or None
        self.explain = explain
        self.last_explanation: str | None = None
        self.solver: DPPAgent = SPDPPAgent(env) if self.follows_commands else DPPAgent(env)
        self.K = self.solver.K
        self.backend = make_backend(llm=llm, backend=backend, replay=replay, **endpoint)
        self.pool = None if exemplars is False else ExemplarPool.load(None if exemplars in (None, True) else exemplars)  # type: ignore[arg-type]
        self.k = k
        self.log = CallLog(self.name, transcript)
        self.decisions = 0
        self.last_outcome: dict[str, Any] = {}
        self._schema = answer_schema()

    def reset(self, seed: int | None = None) -> None:
        self.solver.reset(seed)
        self.log.reset()
        self.decisions = 0
        self.last_outcome = {}
        self.last_explanation = None
        if self.safety is not None:
            self.safety.reset()  # counts per episode

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        start = time.perf_counter()
        fallback = self.solver.act(obs, info)  # updates the twin and the goal; the slot's fallback
        self.decisions += 1
        slot = int(obs["slot"][0])
        messages, table = self.prompt(obs, info)
        if not table.rows:
            self.last_outcome = {"slot": slot, "outcome": "no_vehicles"}
            return fallback
        rec = self.log.start(messages, slot=slot)
        action, outcome, reason, answer, repairs = self._ask(messages, table, fallback, rec)
        if outcome != "fallback" and self.safety is not None:
            action, outcome, reason = self._filter(action, fallback, outcome, rec)
        if self.explain:
            self.last_explanation = self._explain(action, obs)
        self.log.count(outcome, reason)
        elapsed = time.perf_counter() - start
        self.log.decision_s.append(elapsed)
        self.last_outcome = {
            "slot": slot,
            "outcome": outcome,
            "reason": reason,
            "repairs": repairs,
            "decision_s": elapsed,
        }
        rec.update(
            messages=messages, answer=answer, outcome=outcome, reason=reason, repairs=repairs, decision_s=elapsed
        )
        self.log.record(rec)
        return action

    def _ask(
        self, messages: list[dict[str, str]], table: StateTable, fallback: np.ndarray, rec: dict[str, Any]
    ) -> tuple[np.ndarray, str, str | None, str | None, list[str]]:
        """The slot's action from the LLM, or the fallback: (action, outcome, reason, answer, repairs)."""
        try:
            comp = self.backend.complete(messages, self._schema, "offloading_decision")
        except LLMError as exc:
            rec["error"] = str(exc)[:300]
            return fallback, "fallback", exc.reason, None, []
        self.log.answered(comp, rec)
        checked = check_answer(comp.text, len(table.rows), self.K)
        if not checked.ok:
            rec["detail"] = checked.detail
            return fallback, "fallback", checked.reason, comp.text, checked.repairs
        assert checked.w is not None and checked.a is not None
        action = np.zeros_like(fallback)
        action[0][table.slots] = checked.w
        action[1][table.slots] = checked.a
        return action, ("repaired" if checked.repairs else "ok"), None, comp.text, checked.repairs

    def _filter(
        self, action: np.ndarray, fallback: np.ndarray, outcome: str, rec: dict[str, Any]
    ) -> tuple[np.ndarray, str, str | None]:
        """The answer if the safety filter accepts it, else the solver's decision (a fallback)."""
        assert self.safety is not None and self.solver.last_problem is not None
        goal = self.solver.goal
        verdict = self.safety.check_action(
            self.solver.last_problem, action, fallback, deadline_scale=goal.deadline_scale
        )
        if verdict.accepted:
            return action, outcome, None
        rec["safety"] = verdict.describe()
        return fallback, "fallback", f"safety_{verdict.reason}"

    def _explain(self, action: np.ndarray, obs: dict[str, np.ndarray]) -> str:
        from agents.explain import explain_slot

        assert self.solver.last_problem is not None
        return explain_slot(self.solver.last_problem, action[0], action[1], obs["vehicle_id"]).text

    def prompt(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> tuple[list[dict[str, str]], StateTable]:
        """The slot's messages and state table; call after ``self.solver.act(obs, info)`` (as ``act`` does)."""
        goal = self.solver.goal
        forecast = self.solver.twin.forecast() if isinstance(self.solver, SPDPPAgent) else None
        table = state_table(obs, forecast, self.solver.cpb)
        chosen = self.pool.nearest(features(table.features, goal_features(goal)), self.k) if self.pool else []
        command = info.get("command") if self.follows_commands else None
        return build_messages(goal, command, table, chosen, self.K, predictive=self.predictive), table

    def close(self) -> None:
        """Close the backend's HTTP connections."""
        close_backend(self.backend)

    def stats(self) -> dict[str, Any]:
        out = self.log.summary(self.decisions)
        out["goal"] = self.solver.goal.label
        out["exemplars"] = len(self.pool) if self.pool else 0
        out["safety"] = self.safety.stats() if self.safety is not None else None
        return out

    def report_fields(self) -> dict[str, float | int | str]:
        return self.log.report_fields(self.stats())


class LLMDTAgent(SPLLMAgent):
    """LLM-DT: the reactive baseline, current state only and a fixed balanced goal."""

    name = "llm-dt"
    predictive = False
    follows_commands = False
