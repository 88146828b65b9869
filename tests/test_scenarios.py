"""The named scenarios: physics config and command schedule kept apart, and each scenario's
ground-truth goal, written by hand, holding what the scenario's description promises."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from vecgym import GoalSpec, ScheduledCommand, VECConfig, scenarios
from vecgym.goals import BALANCED
from vecgym.scenarios import PRIORITY_VEHICLE, SCENARIOS

PAPER_SCENARIOS = ("scalability", "dynamic", "goal_switch", "priority", "emergency", "fairness")


def _only(name: str) -> ScheduledCommand:
    (cmd,) = scenarios.get(name).commands
    return cmd


def _changed(goal: GoalSpec) -> set[str]:
    """Names of the goal's fields that differ from the balanced goal (the label aside)."""
    return {
        f.name
        for f in dataclasses.fields(GoalSpec)
        if f.name != "label" and getattr(goal, f.name) != getattr(BALANCED, f.name)
    }


def test_the_paper_scenarios_exist() -> None:
    assert set(PAPER_SCENARIOS) <= set(scenarios.names())


@pytest.mark.parametrize("name", PAPER_SCENARIOS)
def test_config_is_physics_and_commands_are_typed(name: str) -> None:
    sc = scenarios.get(name)
    fields = {f.name for f in dataclasses.fields(VECConfig)}
    assert set(sc.config) <= fields, set(sc.config) - fields
    VECConfig.from_kwargs(**sc.config)  # valid as it stands
    for cmd in sc.commands:
        assert isinstance(cmd, ScheduledCommand) and isinstance(cmd.goal, GoalSpec), cmd


def test_scenarios_without_commands() -> None:
    assert scenarios.get("scalability").commands == () and scenarios.get("dynamic").commands == ()


def test_goal_switch_ground_truth() -> None:
    """'energy weight 5, QoS weight 0.5, deadlines x2', issued at t = 51 (0-based slot 50)."""
    cmd = _only("goal_switch")
    assert cmd.slot == 50 and "energy saving" in cmd.text
    g = cmd.goal
    assert g is not None
    assert (g.beta_energy, g.beta_qos, g.deadline_scale, g.duration_s) == (5.0, 0.5, 2.0, None)
    assert _changed(g) == {"beta_energy", "beta_qos", "deadline_scale"}


def test_priority_ground_truth() -> None:
    """Vehicle 7 gets QoS weight 10 from slot 0, nothing else changes."""
    cmd = _only("priority")
    assert cmd.slot == 0 and f"vehicle {PRIORITY_VEHICLE}" in cmd.text
    assert f"vehicle {PRIORITY_VEHICLE} gets QoS weight 10" in scenarios.get("priority").description
    assert cmd.goal is not None and dict(cmd.goal.vehicle_weights) == {PRIORITY_VEHICLE: 10.0}
    assert _changed(cmd.goal) == {"vehicle_weights"}


def test_emergency_ground_truth() -> None:
    """10% emergency vehicles; at slot 20 they get priority for 30 s."""
    sc = scenarios.get("emergency")
    assert sc.config["class_probs"][3] == pytest.approx(0.1)
    cmd = _only("emergency")
    assert cmd.slot == 20 and "30 seconds" in cmd.text
    assert cmd.goal is not None and dict(cmd.goal.class_weights) == {"emergency": 10.0}
    assert cmd.goal.duration_s == 30.0
    assert _changed(cmd.goal) == {"class_weights", "duration_s"}


def test_fairness_ground_truth() -> None:
    """Buses generate 3x the tasks; a fairness command from slot 0."""
    sc = scenarios.get("fairness")
    assert sc.config["class_rate_multiplier"][1] == 3.0
    cmd = _only("fairness")
    assert cmd.slot == 0 and "fair" in cmd.text
    assert cmd.goal is not None and cmd.goal.fairness > 0
    assert _changed(cmd.goal) == {"fairness"}


def test_no_scenario_goal_comes_from_the_interpreter() -> None:
    """Building the scenarios never loads the offline interpreter, so none of their goals is its output."""
    code = "import sys, vecgym.scenarios; print('vecgym.commands' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_make_env_follows_the_schedule_and_overrides_replace_it() -> None:
    env = scenarios.make("emergency", n_vehicles=4.0)
    assert env.unwrapped.commands == SCENARIOS["emergency"].commands
    _, info = env.reset(seed=0)
    action = np.zeros(env.action_space.shape, np.float32)
    for _ in range(20):
        _, _, _, _, info = env.step(action)
    assert info["goal"] == "emergency_priority" and env.unwrapped.goal == _only("emergency").goal
    assert scenarios.make("emergency", n_vehicles=4.0, commands=()).unwrapped.commands == ()
