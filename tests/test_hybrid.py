"""``hybrid``: the LLM as goal planner over an executor (sp-dpp or gc-marl), the endpoint keywords,
the planner's refusals and fallbacks, the loopback stand-in planner and the goal-change
explanations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

pytest.importorskip("openai")

import agents
from agents.llm import GoalPlanner, LLMConfig, LoopbackPlanner
from agents.llm.backend import Completion
from agents.llm.calllog import CallLog
from agents.rollout import StepRecord, rollout
from tests.llm_server import Hijacker, goal_answer
from vecgym import scenarios
from vecgym.goals import BALANCED, CommandError, GoalSpec, parse_command


class Scripted:
    """A backend answering every call with ``text``."""

    def __init__(self, text: str):
        self.text = text
        self.calls: list[Any] = []

    def complete(self, messages: Any, schema: Any, schema_name: str) -> Completion:
        self.calls.append((messages, schema_name))
        return Completion(self.text, "json_schema", None, None, 0.0, 1)


def _run(agent: agents.Agent, env: Any, slots: int, seed: int = 0) -> list[dict[str, Any]]:
    """The reset's info and every step's, over ``slots`` slots."""
    infos: list[dict[str, Any]] = []

    def keep(step: StepRecord) -> None:
        infos.extend([step.info, step.next_info] if step.slot == 0 else [step.next_info])

    rollout(env, agent, seed, on_step=keep, max_steps=slots)
    return infos


@pytest.fixture(scope="module")
def loopback() -> Any:
    with LoopbackPlanner() as server:
        yield server


def test_the_loopback_planner_answers_with_the_offline_reading_over_http(loopback: Any) -> None:
    env = scenarios.make("goal_switch", max_episode_steps=60)
    agent = agents.make_agent("hybrid", env, base_url=loopback.base_url, model=loopback.model, timeout_s=5.0)
    _run(agent, env, 55)
    st = agent.stats()
    assert st["calls"] == 1 and st["ok"] == 1 and st["fallback"] == {}
    assert agent.goal == parse_command(scenarios.PAPER_ENERGY_COMMAND)
    assert st["executor"] == "sp-dpp" and agent.executor.goal == agent.goal  # the executor plans for it
    (change,) = st["explanations"]
    assert change["slot"] == 50 and "energy weight goes from 1 to 5" in change["explanation"]
    assert scenarios.PAPER_ENERGY_COMMAND[:30] in change["explanation"]
    agent.close()


def test_a_refusing_loopback_planner_keeps_the_goal(loopback: Any) -> None:
    env = scenarios.make("scalability", n_vehicles=5.0, max_episode_steps=5)
    agent = agents.make_agent("hybrid", env, base_url=loopback.base_url, model=loopback.model)
    agent.reset(0)
    with pytest.raises(CommandError, match="refused"):
        agent.interpret("Turn off fairness and starve the trucks forever")
    assert agent.stats()["fallback"] == {"llm_refused": 1}
    agent.close()


def test_gc_marl_executor_reads_the_planned_goal_in_its_channel() -> None:
    pytest.importorskip("stable_baselines3")
    energy = GoalSpec(beta_energy=5.0, beta_qos=0.5, label="energy")
    env = scenarios.make("goal_switch", max_episode_steps=60)
    agent = agents.make_agent(
        "hybrid-marl", env, backend=Scripted(goal_answer(beta_energy=5.0, beta_latency=0.5, label="energy"))
    )
    assert agent.stats()["executor"] == "gc-marl"
    plain = agents.make_agent("gc-marl", env)
    agent.reset(0)
    plain.reset(0)
    obs, info = env.reset(seed=0)
    for slot in range(55):
        action = agent.act(obs, info)
        goal = energy if slot >= 50 else BALANCED
        np.testing.assert_array_equal(action, plain.act({**obs, "goal": goal.vector()}, info))
        obs, _, _, _, info = env.step(action)
    assert agent.goal == energy and agent.stats()["calls"] == 1


def test_the_executors_are_steered_and_others_refuse() -> None:
    env = scenarios.make("scalability", n_vehicles=5.0)
    with pytest.raises(ValueError, match="executor must be one of"):
        agents.make_agent("hybrid", env, executor="go", backend=Scripted("{}"))
    with pytest.raises(TypeError, match="cannot be steered"):
        agents.make_agent("go", env).steer(BALANCED)


def test_steering_sp_dpp_changes_its_decision() -> None:
    env = scenarios.make("scalability", n_vehicles=20.0)
    obs, info = env.reset(seed=3)
    for _ in range(20):
        obs, _, _, _, info = env.step(agents.make_agent("offload", env).act(obs, info))
    balanced, saving = agents.make_agent("sp-dpp", env), agents.make_agent("sp-dpp", env)
    saving.steer(GoalSpec(beta_energy=5.0, beta_qos=0.5))
    a, b = balanced.act(obs, info), saving.act(obs, info)
    assert b[0][obs["active"].astype(bool)].mean() != a[0][obs["active"].astype(bool)].mean()


def test_endpoint_keywords_are_one_llm_config() -> None:
    env = scenarios.make("scalability", n_vehicles=5.0)
    with pytest.raises(TypeError, match="unknown LLM agent keyword"):
        agents.make_agent("hybrid", env, base_url="http://x/v1", model="m", temprature=0.1)
    with pytest.raises(ValueError, match="either llm=LLMConfig"):
        agents.make_agent("hybrid", env, llm=LLMConfig(base_url="http://x/v1", model="m"), model="other")
    agent = agents.make_agent("hybrid", env, llm=LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=0.5))
    assert agent.backend.config.timeout_s == 0.5  # type: ignore[attr-defined]
    agent.close()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (goal_answer(beta_energy=1e6), "out_of_bounds"),
        (goal_answer(vehicle_priority=[{"id": 3, "weight": 50.0}]), "out_of_bounds"),
        ("energy please", "bad_json"),
    ],
)
def test_the_planner_falls_back_to_the_offline_interpreter(answer: str, reason: str) -> None:
    planner = GoalPlanner(Scripted(answer), CallLog("hybrid", None))
    assert planner("Prioritize latency for vehicle seven") == parse_command("Prioritize latency for vehicle seven")
    assert planner.log.fallback == {reason: 1} and planner.refusals[0].startswith(reason)


def test_the_planner_accepts_vehicles_named_in_words() -> None:
    planner = GoalPlanner(
        Scripted(goal_answer(vehicle_priority=[{"id": 7, "weight": 10.0}], label="v7")), CallLog("h", None)
    )
    assert dict(planner("Prioritize latency for vehicle seven").vehicle_weights) == {7: 10.0}
    assert planner.log.ok == 1


def test_an_llm_refusal_is_final_and_counted() -> None:
    planner = GoalPlanner(Scripted(goal_answer(refusal="outside the network's control")), CallLog("h", None))
    with pytest.raises(CommandError, match="outside the network's control"):
        planner("save energy")  # the offline interpreter would accept it: a refusal is not a failure
    assert planner.log.fallback == {"llm_refused": 1}


def test_an_expired_goal_is_explained() -> None:
    env = scenarios.make("scalability", n_vehicles=5.0, max_episode_steps=40)
    agent = agents.make_agent(
        "hybrid", env, backend=Scripted(goal_answer(beta_energy=3.0, duration_s=1.0, label="short"))
    )
    agent.reset(0)
    obs, info = env.reset(seed=0)
    env.unwrapped.issue_command("save energy for 1 s")
    for _ in range(15):
        obs, _, _, _, info = env.step(agent.act(obs, info))
    first, second = agent.stats()["explanations"]
    assert "It holds for 1 s" in first["explanation"]
    assert "expired" in second["explanation"] and second["slot"] - first["slot"] == 10
    assert agent.goal == BALANCED and math.isinf(agent.expires_s)


# --- sp-llm's safety filter and explanations ---------------------------------------------------
class SolverEcho:
    """A model that answers the solver's own decision (read back from the agent)."""

    mode = "json_schema"

    def __init__(self) -> None:
        self.agent: Any = None

    def complete(self, messages: Any, schema: Any, schema_name: str) -> Completion:
        import json

        w, a = self.agent.solver.last_decision
        rows = np.flatnonzero(self.agent.solver.last_problem.active)
        return Completion(json.dumps({"w": w[rows].tolist(), "a": a[rows].tolist()}), "json_schema", None, None, 0.0, 1)


def test_a_hijacking_model_is_replaced_in_every_slot_with_two_vehicles() -> None:
    env = scenarios.make("scalability", n_vehicles=8.0, max_episode_steps=30)
    agent = agents.make_agent("sp-llm", env, backend=Hijacker(), exemplars=False)
    agent.reset(0)
    obs, info = env.reset(seed=0)
    replaced = shared = 0
    for _ in range(30):
        action = agent.act(obs, info)
        if agent.last_outcome["outcome"] != "no_vehicles" and obs["active"].sum() >= 2 and obs["slot"][0] > 0:
            shared += 1
            replaced += agent.last_outcome["reason"] in ("safety_infinite_cost", "safety_cost_excess")
            np.testing.assert_array_equal(action, np.stack(agent.solver.last_decision).astype(np.float32))
        obs, _, _, _, info = env.step(action)
    assert shared > 20 and replaced == shared
    st = agent.stats()
    by_safety = sum(v for k, v in st["fallback"].items() if k.startswith("safety_"))
    assert st["safety"]["rejected"] == replaced == by_safety


def test_the_solvers_own_answer_passes_the_filter_and_is_explained() -> None:
    env = scenarios.make("scalability", n_vehicles=8.0, max_episode_steps=20)
    echo = SolverEcho()
    agent = agents.make_agent("sp-llm", env, backend=echo, exemplars=False, explain=True)
    echo.agent = agent
    agent.reset(0)
    obs, info = env.reset(seed=0)
    explained = 0
    for _ in range(20):
        obs, _, _, _, info = env.step(agent.act(obs, info))
        if agent.last_outcome["outcome"] != "no_vehicles":
            assert agent.last_outcome["outcome"] in ("ok", "repaired")
            explained += "Server 0 CPU" in (agent.last_explanation or "")
    assert agent.stats()["safety"]["rejected"] == 0 and agent.stats()["safety"]["checked"] > 10
    assert explained >= agent.stats()["safety"]["checked"] - 2  # all but the first, workless slots


def test_the_filter_can_be_switched_off() -> None:
    env = scenarios.make("scalability", n_vehicles=8.0, max_episode_steps=5)
    agent = agents.make_agent("sp-llm", env, backend=Hijacker(), exemplars=False, safety=False)
    agent.reset(0)
    obs, info = env.reset(seed=0)
    for _ in range(5):
        obs, _, _, _, info = env.step(agent.act(obs, info))
    assert agent.stats()["safety"] is None and agent.stats()["fallback"] == {}


def test_a_solver_explains_its_last_decision() -> None:
    env = scenarios.make("scalability", n_vehicles=8.0)
    agent = agents.make_agent("dpp", env)
    assert agent.explain() is None
    obs, info = env.reset(seed=0)
    for _ in range(5):
        obs, _, _, _, info = env.step(agent.act(obs, info))
    text = agent.explain()
    assert text is not None and "Cost J" in text and "Server 0 CPU" in text


def test_the_llm_planner_serves_as_the_env_goal_channel_interpreter(loopback: Any) -> None:
    import gymnasium as gym

    from agents.llm.connect import make_backend

    backend = make_backend(base_url=loopback.base_url, model=loopback.model, timeout_s=5.0)
    planner = GoalPlanner(backend, CallLog("channel", None))
    env = gym.make("VEC-v0", n_vehicles=5.0, interpreter=planner)
    env.reset(seed=0)
    env.unwrapped.issue_command("Prioritize vehicles 3 and 12 for 90 s")
    obs, *_, info = env.step(env.action_space.sample() * 0)
    np.testing.assert_array_equal(obs["goal"], parse_command("Prioritize vehicles 3 and 12 for 90 s").vector())
    env.unwrapped.issue_command("Make it stop raining")  # the planner refuses: the goal stays
    obs, *_, info = env.step(env.action_space.sample() * 0)
    assert info["interpretation"]["refused"] and info["interpretation"]["label"] == "priority_v3_v12"
    assert planner.log.calls == 2 and planner.log.ok == 1 and planner.log.fallback == {"llm_refused": 1}
