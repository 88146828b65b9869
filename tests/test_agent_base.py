"""Every agent derives from ``agents.Agent``: typed accessors, the default hooks, and ``steer``."""

from __future__ import annotations

import gymnasium as gym
import pytest

import agents
from vecgym import scenarios
from vecgym.env import VECEnv
from vecgym.goals import GoalSpec

OFFLINE = [n for n in agents.available() if n not in ("sp-llm", "llm-dt", "hybrid", "hybrid-marl")]


@pytest.mark.parametrize("name", OFFLINE)
def test_every_agent_is_an_agent_with_typed_accessors(name: str) -> None:
    if name in ("s-marl", "gc-marl"):
        pytest.importorskip("stable_baselines3")
    env = gym.make("VEC-pDT-v0", n_vehicles=5.0, max_episode_steps=3)
    agent = agents.make_agent(name, env)
    assert isinstance(agent, agents.Agent) and agent.name == name
    assert agent.env is env and isinstance(agent.core, VECEnv) and agent.config is env.unwrapped.cfg
    agent.reset(0)
    obs, info = env.reset(seed=0)
    assert env.action_space.contains(agent.act(obs, info))
    assert isinstance(agent.stats(), dict) and agent.report_fields() == {}
    agent.close()


def test_an_agent_refuses_an_env_that_is_not_vecgym() -> None:
    with pytest.raises(TypeError, match="agents act on vecgym envs"):
        agents.make_agent("dpp", gym.make("CartPole-v1"))


def test_goal_blind_marl_cannot_be_steered() -> None:
    pytest.importorskip("stable_baselines3")
    env = scenarios.make("scalability", n_vehicles=5.0)
    with pytest.raises(TypeError, match="goal-blind"):
        agents.make_agent("s-marl", env).steer(GoalSpec(beta_energy=5.0))


def test_steered_sp_dpp_ignores_the_commands() -> None:
    env = scenarios.make("goal_switch", max_episode_steps=60)
    goal = GoalSpec(beta_energy=2.0, beta_qos=2.0, label="mine")
    agent = agents.make_agent("sp-dpp", env)
    agent.reset(0)
    agent.steer(goal)
    obs, info = env.reset(seed=0)
    for _ in range(55):  # the energy command comes at slot 50
        obs, _, _, _, info = env.step(agent.act(obs, info))
    assert info["command_id"] == 1 and agent.goal is goal
