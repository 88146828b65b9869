"""Config validation, operator commands (issued and scheduled), goal expiry and GoalSpec itself."""

from __future__ import annotations

import math
import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import vecgym
from vecgym import GoalSpec, ScheduledCommand, VECConfig
from vecgym.goals import BALANCED, GOAL_VECTOR_SIZE, MAX_DURATION_S

N_VEHICLES = 6


# --- config -------------------------------------------------------------------------------------
BAD_CONFIGS: dict[str, tuple[dict[str, Any], list[str]]] = {
    # name: (overrides, substrings the ValueError must contain: the field, and the range if any)
    "negative_n_vehicles": ({"n_vehicles": -1}, ["n_vehicles", "(0, 100000]"]),
    "nan_n_vehicles": ({"n_vehicles": math.nan}, ["n_vehicles", "(0, 100000]"]),
    "string_n_vehicles": ({"n_vehicles": "20"}, ["n_vehicles"]),
    "zero_slot": ({"slot_s": 0}, ["slot_s", "(0, 10]"]),
    "long_slot": ({"slot_s": 11.0}, ["slot_s", "(0, 10]"]),
    "unknown_key": ({"n_vehicle": 5}, ["n_vehicle", "n_vehicles"]),
    "rates_per_type": ({"task_rate_hz": (1.0, 2.0), "n_task_types": 3}, ["task_rate_hz", "3"]),
    "negative_rate": ({"task_rate_hz": (1.0, -2.0, 3.0)}, ["task_rate_hz[1]"]),
    "class_probs_sum": ({"class_probs": (0.5, 0.3, 0.1, 0.05)}, ["class_probs", "sum"]),
    "class_probs_length": ({"class_probs": (0.5, 0.5)}, ["class_probs"]),
    "zero_n_max": ({"n_max": 0}, ["n_max", "[1, 1000000]"]),
    "float_n_max": ({"n_max": 10.5}, ["n_max"]),
    "float_n_types": ({"n_task_types": 2.5}, ["n_task_types", "[1, 64]"]),
    "zero_n_types": ({"n_task_types": 0}, ["n_task_types", "[1, 64]"]),
    "strict_not_bool": ({"strict": "yes"}, ["strict"]),
    "speed_order": ({"speed_min_kmh": 120.0, "speed_max_kmh": 100.0}, ["speed_min_kmh", "speed_max_kmh"]),
    "task_size_order": ({"task_size_bytes": ((1500.0, 1000.0),)}, ["task_size_bytes[0]"]),
    "deadline_zero": ({"deadline_s": (0.0,)}, ["deadline_s[0]"]),
    "activity_corr_one": ({"activity_corr": 1.0}, ["activity_corr", "[0, 1)"]),
}


@pytest.mark.parametrize("name", BAD_CONFIGS)
def test_bad_config_raises_naming_the_field(name: str) -> None:
    overrides, substrings = BAD_CONFIGS[name]
    for build in (
        lambda: gym.make("VEC-v0", **overrides),
        lambda: vecgym.VECEnv(config=overrides),
        lambda: VECConfig.from_kwargs(**overrides),
    ):
        with pytest.raises(ValueError) as excinfo:
            build()
        for part in substrings:
            assert part in str(excinfo.value), (part, str(excinfo.value))


# The command schedule is the env's own argument, not a config field; it is checked like
# ``issue_command`` checks a command, but at construction time.
BAD_SCHEDULES: dict[str, Any] = {
    "negative_slot": (ScheduledCommand(slot=-1, text="x"),),
    "bool_slot": (ScheduledCommand(slot=True, text="x"),),  # type: ignore[arg-type]
    "plain_text": ("slow down",),
    "bare_string": "slow down",
    "single_command": ScheduledCommand(slot=3, text="x"),
    "empty_text": (ScheduledCommand(slot=3, text="  "),),
    "goal_type": (ScheduledCommand(slot=3, text="x", goal="energy"),),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("name", BAD_SCHEDULES)
def test_bad_schedule_raises_naming_commands(name: str) -> None:
    for build in (
        lambda: gym.make("VEC-v0", commands=BAD_SCHEDULES[name]),
        lambda: vecgym.VECEnv(commands=BAD_SCHEDULES[name]),
    ):
        with pytest.raises(ValueError, match="'commands'"):
            build()


def test_commands_is_not_a_config_field() -> None:
    with pytest.raises(ValueError, match="commands"):
        VECConfig.from_kwargs(commands=(ScheduledCommand(slot=0, text="x"),))
    assert "commands" not in VECConfig().as_dict()


def test_config_round_trip_and_lists() -> None:
    cfg = VECConfig.from_kwargs(n_vehicles=7, task_rate_hz=[5.0, 6.0, 7.0], n_max=20)
    assert cfg.task_rate_hz == (5.0, 6.0, 7.0)
    assert VECConfig.from_kwargs(**cfg.as_dict()) == cfg
    assert cfg.replace(n_vehicles=9).n_vehicles == 9 and cfg.replace(n_vehicles=9).n_max == 20
    with pytest.raises(ValueError, match="n_vehicles"):
        cfg.replace(n_vehicles=0)
    env = gym.make("VEC-v0", config=cfg, slot_s=0.2)
    assert env.unwrapped.cfg == cfg.replace(slot_s=0.2)
    assert env.action_space.shape == (2, 20, 3)
    assert env.observation_space["edge_backlog_gcycles"].shape == (20, 3)


# --- operator commands --------------------------------------------------------------------------
def _env(**overrides: Any) -> gym.Env:
    return gym.make("VEC-v0", n_vehicles=N_VEHICLES, **overrides)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", 42, None, b"slow down", ["slow down"]])
def test_issue_command_rejects_bad_text(text: Any) -> None:
    env = _env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="command text"):
        env.unwrapped.issue_command(text)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info["command"] is None and info["command_id"] == 0  # the rejected command left no trace


@pytest.mark.parametrize("goal", [{"beta_energy": 2.0}, "energy", 1.0, GoalSpec])
def test_issue_command_rejects_bad_goal(goal: Any) -> None:
    env = _env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="goal"):
        env.unwrapped.issue_command("save energy", goal)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info["command"] is None and info["command_id"] == 0 and info["goal"] == "balanced"


def test_issue_command_shows_in_info_and_counts() -> None:
    env = _env(goal_channel="truth")
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    env.unwrapped.issue_command("reduce latency for everyone")
    for _ in range(2):  # the command stays visible until replaced
        _, _, _, _, info = env.step(action)
        assert info["command"] == "reduce latency for everyone" and info["command_id"] == 1
        assert info["goal"] == "balanced"  # text alone does not change the ground truth
    env.unwrapped.issue_command("save energy", GoalSpec(beta_energy=5.0, label="energy"))
    obs, _, _, _, info = env.step(action)
    assert (info["command"], info["command_id"], info["goal"]) == ("save energy", 2, "energy")
    assert env.unwrapped.goal.label == "energy"
    np.testing.assert_array_equal(obs["goal"], GoalSpec(beta_energy=5.0).vector())
    _, info = env.reset(seed=0)  # a new episode forgets commands
    assert (info["command"], info["command_id"], info["goal"]) == (None, 0, "balanced")


def test_goal_changes_reward_not_physics(vh) -> None:
    base, energy = _env(), _env()
    base.reset(seed=2)
    energy.reset(seed=2)
    energy.unwrapped.issue_command("save energy", GoalSpec(beta_energy=10.0, label="energy"))
    actions = vh.fixed_actions(base, 30)
    a, b = vh.rollout(base, actions), vh.rollout(energy, actions)
    for ra, rb in zip(a, b, strict=True):
        physics = [k for k in ra if k.startswith(("obs.", "info.metrics.")) and k != "obs.goal"]
        vh.assert_same_trajectory([{k: ra[k] for k in physics}], [{k: rb[k] for k in physics}])
        assert rb["info.reward_terms.energy"] == pytest.approx(10.0 * ra["info.reward_terms.energy"])
        assert rb["info.reward_terms.qos"] == ra["info.reward_terms.qos"]
        assert rb["info.goal"] == "energy" and ra["info.goal"] == "balanced"
    assert all(rb["reward"] < ra["reward"] for ra, rb in zip(a, b, strict=True))  # energy term < 0


@pytest.mark.parametrize(
    ("slot_s", "duration_s", "issued_at", "expires_after"),
    [(0.1, 0.5, 0, 5), (0.1, 0.3, 7, 3), (0.1, 0.25, 2, 3), (0.25, 1.0, 1, 4)],
)
def test_goal_expires_back_to_balanced(slot_s: float, duration_s: float, issued_at: int, expires_after: int) -> None:
    env = _env(slot_s=slot_s, goal_channel="truth")
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    for _ in range(issued_at):
        env.step(action)
    goal = GoalSpec(beta_qos=3.0, duration_s=duration_s, label="brief")
    env.unwrapped.issue_command("hurry for a moment", goal)
    for k in range(1, expires_after + 3):
        obs, _, _, _, info = env.step(action)
        expired = k >= expires_after
        assert info["goal"] == ("balanced" if expired else "brief"), k
        np.testing.assert_array_equal(obs["goal"], (BALANCED if expired else goal).vector())
        assert info["command"] == "hurry for a moment"  # the text stays; only the goal expires


def test_scheduled_command_appears_with_its_slot(vh) -> None:
    goal = GoalSpec(class_weights={"bus": 5.0}, label="buses first")
    plain = _env()
    scheduled = _env(commands=(ScheduledCommand(slot=3, text="prioritise buses", goal=goal),), goal_channel="truth")
    for episode in range(2):  # the schedule restarts with every episode
        _, info = scheduled.reset(seed=episode)
        plain.reset(seed=episode)
        assert info["command"] is None and info["command_id"] == 0
        actions = vh.fixed_actions(plain, 6)
        a, b = vh.rollout(plain, actions), vh.rollout(scheduled, actions)
        for t, (ra, rb) in enumerate(zip(a, b, strict=True), start=1):
            assert rb["obs.slot"][0] == t
            fired = t >= 3
            assert rb["info.command"] == ("prioritise buses" if fired else None), t
            assert rb["info.command_id"] == (1 if fired else 0), t
            assert rb["info.goal"] == ("buses first" if fired else "balanced"), t
            np.testing.assert_array_equal(rb["obs.goal"], (goal if fired else BALANCED).vector())
            physics = [k for k in ra if k.startswith("info.metrics.")]
            vh.assert_same_trajectory([{k: ra[k] for k in physics}], [{k: rb[k] for k in physics}])


def test_scheduled_command_at_slot_zero_is_in_reset_info() -> None:
    env = _env(
        commands=[ScheduledCommand(slot=0, text="save energy", goal=GoalSpec(beta_energy=4.0))], goal_channel="truth"
    )
    obs, info = env.reset(seed=0)
    assert (info["command"], info["command_id"]) == ("save energy", 1)
    np.testing.assert_array_equal(obs["goal"], GoalSpec(beta_energy=4.0).vector())


# --- GoalSpec -----------------------------------------------------------------------------------
BAD_GOALS: dict[str, tuple[dict[str, Any], str]] = {
    # name: (fields, substring of the ValueError)
    "negative_beta_energy": ({"beta_energy": -1.0}, "beta_energy"),
    "negative_beta_qos": ({"beta_qos": -0.5}, "beta_qos"),
    "nan_beta": ({"beta_qos": math.nan}, "beta_qos"),
    "huge_beta": ({"beta_energy": 1e6}, "beta_energy"),
    "bool_beta": ({"beta_energy": True}, "beta_energy"),
    "both_zero": ({"beta_energy": 0.0, "beta_qos": 0.0}, "beta"),
    "zero_vehicle_weight": ({"vehicle_weights": {3: 0.0}}, "vehicle_weights"),
    "negative_vehicle_weight": ({"vehicle_weights": {3: -2.0}}, "vehicle_weights"),
    "huge_vehicle_weight": ({"vehicle_weights": {3: 101.0}}, "vehicle_weights"),
    "nan_vehicle_weight": ({"vehicle_weights": {3: math.nan}}, "vehicle_weights"),
    "negative_vehicle_id": ({"vehicle_weights": {-1: 2.0}}, "vehicle_weights"),
    "string_vehicle_id": ({"vehicle_weights": {"3": 2.0}}, "vehicle_weights"),
    "too_many_vehicles": ({"vehicle_weights": {i: 2.0 for i in range(65)}}, "vehicles"),
    "zero_class_weight": ({"class_weights": {"bus": 0.0}}, "class_weights"),
    "huge_class_weight": ({"class_weights": {"emergency": 200.0}}, "class_weights"),
    "unknown_class": ({"class_weights": {"plane": 2.0}}, "plane"),
    "negative_fairness": ({"fairness": -1.0}, "fairness"),
    "huge_fairness": ({"fairness": 11.0}, "fairness"),
    "small_deadline_scale": ({"deadline_scale": 0.1}, "deadline_scale"),
    "large_deadline_scale": ({"deadline_scale": 11.0}, "deadline_scale"),
    "nan_deadline_scale": ({"deadline_scale": math.nan}, "deadline_scale"),
    "bool_deadline_scale": ({"deadline_scale": True}, "deadline_scale"),
    "zero_duration": ({"duration_s": 0.0}, "duration_s"),
    "negative_duration": ({"duration_s": -5.0}, "duration_s"),
    "infinite_duration": ({"duration_s": math.inf}, "duration_s"),
    "nan_duration": ({"duration_s": math.nan}, "duration_s"),
    "string_duration": ({"duration_s": "10"}, "duration_s"),
    "bool_duration": ({"duration_s": True}, "duration_s"),
    "week_plus_duration": ({"duration_s": MAX_DURATION_S + 1.0}, "duration_s"),
    "label_not_str": ({"label": 3}, "label"),
}


@pytest.mark.parametrize("name", BAD_GOALS)
def test_bad_goal_raises(name: str) -> None:
    fields, substring = BAD_GOALS[name]
    with pytest.raises(ValueError, match=substring):
        GoalSpec(**fields)


GOOD_GOALS = [
    BALANCED,
    GoalSpec(beta_energy=0.0, beta_qos=2.0),
    GoalSpec(beta_energy=100.0, beta_qos=0.0, label="energy"),
    GoalSpec(vehicle_weights={7: 5.0, np.int64(9): 2}, class_weights={"emergency": 10.0}, fairness=2.0),
    GoalSpec(deadline_scale=0.25, duration_s=MAX_DURATION_S),
    GoalSpec(deadline_scale=10.0, duration_s=30),
]


@pytest.mark.parametrize("goal", GOOD_GOALS)
def test_goal_vector_and_pickle(goal: GoalSpec) -> None:
    vec = goal.vector()
    assert vec.shape == (GOAL_VECTOR_SIZE,) and vec.dtype == np.float32
    assert np.all(np.isfinite(vec)) and np.all(vec >= 0.0)
    clone = pickle.loads(pickle.dumps(goal))
    assert clone == goal
    np.testing.assert_array_equal(clone.vector(), vec)
    with pytest.raises(TypeError):
        goal.vehicle_weights[1] = 2.0  # type: ignore[index]


def test_goal_vector_distinguishes_goals() -> None:
    vectors = {g.vector().tobytes() for g in GOOD_GOALS}
    assert len(vectors) == len(GOOD_GOALS)
    np.testing.assert_array_equal(BALANCED.vector(), [1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1])


def test_goal_copies_its_mappings() -> None:
    weights = {4: 3.0}
    goal = GoalSpec(vehicle_weights=weights)
    weights[4] = 99.0
    assert goal.vehicle_weights[4] == 3.0
