"""The goal channel's interpreter is injectable, and every change of the interpreted goal is
explained in ``info["interpretation"]["explanation"]``."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

from vecgym.goals import BALANCED, CommandError, GoalSpec, parse_command

LOUD = GoalSpec(beta_energy=7.0, beta_qos=0.7, label="loud")


def loud_interpreter(text: str) -> GoalSpec:
    if "refuse" in text:
        raise CommandError(f"I refuse {text!r}")
    return LOUD


def _env(**kw: object) -> gym.Env:
    return gym.make("VEC-v0", n_vehicles=5.0, max_episode_steps=20, **kw)


def test_a_custom_interpreter_replaces_parse_command() -> None:
    env = _env(interpreter=loud_interpreter)
    env.reset(seed=0)
    env.unwrapped.issue_command("back to normal")  # parse_command would read balanced
    obs, *_, info = env.step(env.action_space.sample() * 0)
    np.testing.assert_array_equal(obs["goal"], LOUD.vector())
    assert info["interpretation"]["label"] == "loud"
    env.unwrapped.issue_command("please refuse this")
    obs, *_, info = env.step(env.action_space.sample() * 0)
    np.testing.assert_array_equal(obs["goal"], LOUD.vector())  # the refused command changed nothing
    assert info["interpretation"]["refused"] and "I refuse" in info["interpretation"]["error"]


def test_an_interpreter_returning_no_goal_is_an_error() -> None:
    env = _env(interpreter=lambda text: "energy")
    env.reset(seed=0)
    with pytest.raises(TypeError, match="not a GoalSpec"):
        env.unwrapped.issue_command("save energy")


@pytest.mark.parametrize(("mode", "bad"), [("truth", loud_interpreter), ("interpreted", "parse_command")])
def test_bad_interpreter_arguments_are_refused(mode: str, bad: object) -> None:
    with pytest.raises(ValueError, match="interpreter"):
        _env(goal_channel=mode, interpreter=bad)


def test_the_vector_env_takes_the_interpreter_per_road() -> None:
    envs = gym.make_vec(
        "VEC-v0", num_envs=2, vectorization_mode="vector_entry_point", n_vehicles=5.0, interpreter=loud_interpreter
    )
    assert all(ch.interpreter is loud_interpreter for ch in envs.unwrapped.channels)


def test_the_goal_change_is_explained_once_with_the_commands_words() -> None:
    env = _env()
    _, info = env.reset(seed=0)
    assert info["interpretation"]["explanation"] is None
    text = "Save energy but prioritize vehicle 7 for 5 minutes"
    env.unwrapped.issue_command(text)
    _, *_, info = env.step(env.action_space.sample() * 0)
    why = info["interpretation"]["explanation"]
    assert why.startswith(f'The command "{text}"') and "vehicle 7's QoS weight 1 → 10" in why
    assert "energy weight goes from 1 to 5" in why and "300 s" in why
    assert "'prioritize vehicle 7'" in why.lower()  # the interpreter's evidence is quoted
    _, *_, info = env.step(env.action_space.sample() * 0)
    assert info["interpretation"]["explanation"] is None  # only on the step of the change


def test_a_refusal_and_an_expiry_are_explained() -> None:
    env = _env()
    env.reset(seed=0)
    env.unwrapped.issue_command("Turn off fairness and starve the trucks forever")
    _, *_, info = env.step(env.action_space.sample() * 0)
    assert "was refused; the goal 'balanced' stays" in info["interpretation"]["explanation"]
    env.unwrapped.issue_command("save energy for 1 s")
    explanations = []
    for _ in range(12):
        _, *_, info = env.step(env.action_space.sample() * 0)
        explanations.append(info["interpretation"]["explanation"])
    assert explanations[0] is not None and "expired" in explanations[10 - 1]
    assert sum(e is not None for e in explanations) == 2
    assert env.unwrapped.interpreted_goal == BALANCED


def test_the_default_env_still_pickles() -> None:
    env = _env()
    env.reset(seed=0)
    env.unwrapped.issue_command("save energy")
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.interpreted_goal == parse_command("save energy")


@pytest.mark.parametrize("mode", ["interpreted", "truth", "none"])
def test_a_ground_truth_change_is_explained_in_every_mode(mode: str) -> None:
    env = _env(goal_channel=mode)
    _, info = env.reset(seed=0)
    assert info["goal_explanation"] is None
    env.unwrapped.issue_command("whatever the operator typed", GoalSpec(fairness=1.0, duration_s=0.5, label="fair"))
    _, *_, info = env.step(env.action_space.sample() * 0)
    why = info["goal_explanation"]
    assert why.startswith("The command \"whatever the operator typed\" sets the goal 'fair'")
    assert "fairness weight goes from 0 to 1" in why and "0.5 s" in why
    later = []
    for _ in range(5):
        _, *_, info = env.step(env.action_space.sample() * 0)
        later.append(info["goal_explanation"])
    assert later[:3] == [None] * 3 and "expired" in later[3] and later[4] is None
