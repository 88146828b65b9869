"""The LLM orchestrators over the real ``openai`` client and a loopback server.

Every scripted failure ends in a valid action with the right outcome counted, and a whole
episode of ``sp-llm`` completes against each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest

pytest.importorskip("openai")

import agents
from agents.llm import LLMError
from agents.lyapunov import DPPAgent, SPDPPAgent
from agents.rollout import StepRecord, rollout
from tests.llm_server import LLMServer, chat_completion, error_body, goal_answer
from vecgym import scenarios

KEY = "sk-vecgym-agents-Hq2Lm9Zt4Rx1"
SLOTS = 12


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


def _rows(request: dict[str, Any]) -> int:
    user = request["messages"][-1]["content"]
    m = re.search(r"Answer for the (\d+) rows", user)
    assert m, "the prompt must say how many rows to answer"
    return int(m.group(1))


def _answer(w: float = 0.6, share: float | None = None, k: int = 3) -> Callable[[dict[str, Any]], Any]:
    """A responder: every row gets w and an equal share of the edge (or ``share`` per queue)."""

    def respond(request: dict[str, Any]) -> tuple[int, Any, float]:
        n = _rows(request)
        a = share if share is not None else 1.0 / (n * k)
        return 200, chat_completion(json.dumps({"w": [[w] * k] * n, "a": [[a] * k] * n})), 0.0

    return respond


def _content(text_for_rows: Callable[[int], str]) -> Callable[[dict[str, Any]], Any]:
    def respond(request: dict[str, Any]) -> tuple[int, Any, float]:
        return 200, chat_completion(text_for_rows(_rows(request))), 0.0

    return respond


def _agent(name: str, server: LLMServer, env: Any, **kw: Any) -> Any:
    kw.setdefault("timeout_s", 2.0)
    kw.setdefault("max_retries", 1)
    if name != "hybrid":
        # These tests script fixed answers to test the transport, the checks and the counts; the
        # safety filter (which would replace some of them) is tested in tests/test_hybrid.py.
        kw.setdefault("safety", False)
    return agents.make_agent(name, env, base_url=server.base_url, model="test-model", api_key=KEY, **kw)


def _episode(agent: Any, env: Any, seed: int = 0) -> list[np.ndarray]:
    actions: list[np.ndarray] = []

    def check(step: StepRecord) -> None:
        assert env.action_space.contains(step.action)
        actions.append(step.action)

    rollout(env, agent, seed, on_step=check)
    return actions


def test_good_answers_drive_the_env(llm_server: LLMServer) -> None:
    env = scenarios.make("scalability", n_vehicles=10.0, max_episode_steps=SLOTS)
    llm_server.add(*[_answer(w=0.6)] * SLOTS)
    agent = _agent("sp-llm", llm_server, env)
    actions = _episode(agent, env)
    st = agent.stats()
    assert st["calls"] == st["ok"] == SLOTS and st["fallback"] == {} and st["fallback_rate"] == 0.0
    assert st["prompt_tokens_mean"] > 100 and st["completion_tokens_mean"] > 10
    assert st["modes"] == {"json_schema": SLOTS}
    last = actions[-1]
    active = last[1].sum(1) > 0
    np.testing.assert_allclose(last[0][active], 0.6, rtol=1e-6)
    assert last[1].sum() == pytest.approx(1.0, abs=1e-5)
    assert agent.last_outcome["outcome"] == "ok"
    req = llm_server.requests[0]
    assert req["model"] == "test-model" and req["response_format"]["type"] == "json_schema"
    user = req["messages"][1]["content"]
    for part in ("Strategic Goal:", "Predictive State", "Exemplars", "rate_mbps_mean", "new_kB_k0"):
        assert part in user
    assert req["messages"][0]["content"].startswith("You are an expert network orchestrator")


FAILURES: dict[str, tuple[Any, str, str]] = {
    # case: (script step, outcome, fallback reason)
    "malformed_json": (_content(lambda n: '{"w": [[0.5, 0.5'), "fallback", "bad_json"),
    "prose": (_content(lambda n: "I would offload everything."), "fallback", "bad_json"),
    "wrong_shape": (
        _content(lambda n: json.dumps({"w": [[0.5] * 3] * (n + 1), "a": [[0.0] * 3] * (n + 1)})),
        "fallback",
        "bad_shape",
    ),
    "wrong_k": (_content(lambda n: json.dumps({"w": [[0.5] * 2] * n, "a": [[0.0] * 2] * n})), "fallback", "bad_shape"),
    "strings": (
        _content(lambda n: json.dumps({"w": [["half"] * 3] * n, "a": [[0.0] * 3] * n})),
        "fallback",
        "bad_value",
    ),
    "nan": (
        _content(
            lambda n: '{"w": [' + ",".join(["[NaN, 0.5, 0.5]"] * n) + '], "a": [' + ",".join(["[0, 0, 0]"] * n) + "]}"
        ),
        "fallback",
        "nan",
    ),
    "out_of_range": (_answer(w=7.0), "fallback", "out_of_range"),
    "sum_a_3": (
        _content(lambda n: json.dumps({"w": [[0.5] * 3] * n, "a": [[3.0 / (3 * n)] * 3] * n})),
        "fallback",
        "sum_a",
    ),
    "slightly_out": (_answer(w=1.03), "repaired", ""),
    "sum_a_1.03": (
        _content(lambda n: json.dumps({"w": [[0.5] * 3] * n, "a": [[1.03 / (3 * n)] * 3] * n})),
        "repaired",
        "",
    ),
    "fenced": (
        _content(lambda n: "```json\n" + json.dumps({"w": [[0.5] * 3] * n, "a": [[0.0] * 3] * n}) + "\n```"),
        "ok",
        "",
    ),
    "empty_choices": ((200, {**chat_completion("x"), "choices": []}), "fallback", "empty_choices"),
    "null_content": ((200, chat_completion(None)), "fallback", "empty_content"),
    "http_500_twice": ((500, error_body("overloaded", type_="server_error")), "fallback", "http_500"),
    "slow": ((200, chat_completion("{}"), 1.5), "fallback", "timeout"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_each_bad_answer_ends_in_a_valid_action_with_its_outcome_counted(llm_server: LLMServer, case: str) -> None:
    step, outcome, reason = FAILURES[case]
    env = scenarios.make("scalability", n_vehicles=8.0, max_episode_steps=4)
    # Each decision may use two requests (the client's retry of a 5xx): script plenty.
    llm_server.add(*[step] * 16)
    agent = _agent("sp-llm", llm_server, env, timeout_s=0.5 if case == "slow" else 2.0, max_retries=1)
    solver = SPDPPAgent(env)
    solver.reset(0)
    agent.reset(0)
    obs, info = env.reset(seed=0)
    for _ in range(4):  # a whole (short) episode completes
        expected = solver.act(obs, info)
        action = agent.act(obs, info)
        assert env.action_space.contains(action)
        assert agent.last_outcome["outcome"] == outcome, agent.last_outcome
        if outcome == "fallback":
            assert agent.last_outcome["reason"] == reason
            np.testing.assert_array_equal(action, expected)  # the solver's decision for the slot
        else:
            assert action[1].sum() <= 1.0 + 1e-6 and (action >= 0).all() and (action <= 1).all()
        obs, _, term, trunc, info = env.step(action)
    assert trunc and not term  # the episode ran to its end
    st = agent.stats()
    assert st["calls"] == 4
    if outcome == "fallback":
        assert st["fallback"] == {reason: 4} and st["fallback_rate"] == 1.0
    elif outcome == "repaired":
        assert st["repaired"] == 4 and st["fallback"] == {}
    else:
        assert st["ok"] == 4


def test_500_then_success_is_one_ok_decision(llm_server: LLMServer) -> None:
    env = scenarios.make("scalability", n_vehicles=8.0, max_episode_steps=3)
    llm_server.add((500, error_body("try again", type_="server_error")), _answer(), _answer(), _answer())
    agent = _agent("sp-llm", llm_server, env, max_retries=1)
    _episode(agent, env)
    st = agent.stats()
    assert st["ok"] == 3 and st["fallback"] == {} and len(llm_server.requests) == 4


def test_a_server_rejecting_json_schema_is_asked_in_json_mode_from_then_on(llm_server: LLMServer) -> None:
    env = scenarios.make("scalability", n_vehicles=8.0, max_episode_steps=3)
    reject = (400, error_body("response_format json_schema is not supported", param="response_format"))
    llm_server.add(reject, _answer(), _answer(), _answer())
    agent = _agent("sp-llm", llm_server, env)
    _episode(agent, env)
    assert agent.stats()["ok"] == 3
    formats = [r.get("response_format", {}).get("type") for r in llm_server.requests]
    assert formats == ["json_schema", "json_object", "json_object", "json_object"]


def test_llm_dt_sees_the_current_state_and_keeps_the_balanced_goal(llm_server: LLMServer) -> None:
    env = scenarios.make("goal_switch", max_episode_steps=56)  # the command comes at t = 51
    llm_server.add(*[_answer()] * 56)
    agent = _agent("llm-dt", llm_server, env, exemplars=False)
    _episode(agent, env)
    assert isinstance(agent.solver, DPPAgent) and not isinstance(agent.solver, SPDPPAgent)
    user = llm_server.requests[-1]["messages"][1]["content"]
    assert "Current State:" in user and "rate_mbps_mean" not in user and "Exemplars" not in user
    assert "saving" not in user.lower() and '<operator_command>"none' in user  # the command never reaches it
    assert agent.stats()["goal"] == "balanced"


def test_sp_llm_follows_the_command_in_its_prompt(llm_server: LLMServer) -> None:
    env = scenarios.make("goal_switch", max_episode_steps=56)
    llm_server.add(*[_answer()] * 56)
    agent = _agent("sp-llm", llm_server, env)
    _episode(agent, env)
    user = llm_server.requests[-1]["messages"][1]["content"]
    assert '<operator_command>"Switch to maximum energy saving mode' in user
    goal = json.loads(user.split("Interpreted goal weights: ")[1].split("\n")[0])
    assert goal["beta_energy"] > goal["beta_latency"]
    assert '"beta_energy":1.0,"beta_latency":1.0' in llm_server.requests[0]["messages"][1]["content"]


def test_transcript_records_every_call_without_the_key_and_replays_offline(
    llm_server: LLMServer, tmp_path: Path
) -> None:
    env = scenarios.make("scalability", n_vehicles=8.0, max_episode_steps=6)
    path = tmp_path / "t.jsonl"
    llm_server.add(_answer(0.3), _content(lambda n: "not json"), *[_answer(0.7)] * 4)
    agent = _agent("sp-llm", llm_server, env, transcript=path)
    first = _episode(agent, env)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 6 and [x["outcome"] for x in lines[:2]] == ["ok", "fallback"]
    assert all({"messages", "answer", "outcome", "decision_s", "prompt_tokens"} <= set(x) for x in lines)
    assert KEY not in path.read_text()
    n_requests = len(llm_server.requests)
    replay = agents.make_agent("sp-llm", env, replay=path, safety=False)
    again = _episode(replay, env)
    assert len(llm_server.requests) == n_requests  # no server call
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y)
    assert replay.stats()["fallback"] == {"bad_json": 1}
    other = agents.make_agent("sp-llm", env, replay=path)
    _episode(other, env, seed=5)  # other prompts: every slot misses the transcript, counted
    assert other.stats()["fallback"] == {"replay_miss": 6}


def test_unconfigured_llm_agent_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "VECGYM_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    env = scenarios.make("scalability", n_vehicles=8.0)
    with pytest.raises(LLMError, match="OPENAI_BASE_URL"):
        agents.make_agent("sp-llm", env)


def test_environment_variables_configure_the_agent(llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("VECGYM_LLM_MODEL", "env-model")
    env = scenarios.make("scalability", n_vehicles=8.0, max_episode_steps=2)
    llm_server.add(_answer(), _answer())
    agent = agents.make_agent("sp-llm", env, exemplars=False, temperature=0.2, seed=11)
    _episode(agent, env)
    req = llm_server.requests[0]
    assert req["model"] == "env-model" and req["temperature"] == 0.2 and req["seed"] == 11
    headers = {k.lower(): v for k, v in llm_server.headers[0].items()}
    assert headers["authorization"] == f"Bearer {KEY}"


# ------------------------------------------------------------------------------------------------
# hybrid


def _goal_reply(**fields: Any) -> dict[str, Any]:
    return chat_completion(goal_answer(**fields))


def test_hybrid_calls_the_llm_once_per_command(llm_server: LLMServer) -> None:
    env = scenarios.make("goal_switch", max_episode_steps=80)
    llm_server.add(_goal_reply(beta_energy=8.0, beta_latency=0.5, deadline_scale=2.0, label="energy saving"))
    agent = _agent("hybrid", llm_server, env)
    _episode(agent, env)
    assert len(llm_server.requests) == 1
    assert llm_server.requests[0]["response_format"]["json_schema"]["name"] == "operator_goal"
    st = agent.stats()
    assert st["calls"] == 1 and st["ok"] == 1 and st["decisions"] == 80
    assert agent.goal.beta_energy == 8.0 and agent.goal.deadline_scale == 2.0 and agent.goal.label == "energy saving"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (_goal_reply(beta_energy=1e6), "out_of_bounds"),
        (_goal_reply(deadline_scale=0.0), "out_of_bounds"),
        (_goal_reply(duration_s=-5), "out_of_bounds"),
        (_goal_reply(vehicle_priority=[{"id": 3, "weight": 50.0}]), "out_of_bounds"),  # 3 not named
        (_goal_reply(class_priority=[{"class": "vip", "weight": 5.0}]), "out_of_bounds"),
        (chat_completion("energy please"), "bad_json"),
        ((400, error_body("bad request")), "http_400"),  # on every rung of the ladder
    ],
)
def test_hybrid_refuses_a_bad_goal_and_falls_back_to_the_offline_interpreter(
    llm_server: LLMServer, reply: Any, reason: str
) -> None:
    env = scenarios.make("goal_switch", max_episode_steps=60)
    llm_server.add(reply, reply, reply, reply)
    agent = _agent("hybrid", llm_server, env, max_retries=0)
    _episode(agent, env)
    st = agent.stats()
    assert st["fallback"] == {reason: 1} and st["calls"] == 1
    assert agent.goal.label == "energy_saving"  # parse_command's reading of the paper's command
    assert agent.refusals and agent.refusals[0].startswith(reason)


@pytest.mark.parametrize("name", ["sp-llm", "llm-dt", "hybrid"])
def test_llm_agents_run_on_the_corridor(llm_server: LLMServer, name: str) -> None:
    """The LLM orchestrators drive the multi-RSU corridor (per-server budgets, gaps) without repairs."""
    llm_server.add(*([_answer(w=0.6)] * 8 if name != "hybrid" else [goal_answer(beta_energy=2.0)]))
    env = gymnasium.make("VEC-pDT-v0", preset="corridor", n_vehicles=40, max_episode_steps=5)
    agent = _agent(name, llm_server, env)
    agent.reset(0)
    obs, info = env.reset(seed=0)
    env.unwrapped.issue_command("save energy")
    for _ in range(5):
        obs, _, _, _, info = env.step(agent.act(obs, info))
        assert sum(info["action_repairs"].values()) == 0
    stats = agent.stats()
    assert stats["ok"] >= 1 and stats["fallback_rate"] == 0.0
