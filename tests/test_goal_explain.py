"""``vecgym.explain.explain_goal_change``: what changed, in numbers, and the command's words."""

from __future__ import annotations

from vecgym.explain import explain_goal_change
from vecgym.goals import BALANCED, GoalSpec
from vecgym.interpret import interpret


def test_every_changed_weight_is_named_with_its_values() -> None:
    new = GoalSpec(
        beta_energy=0.2,
        beta_qos=5.0,
        class_weights={"bus": 10.0},
        vehicle_weights={4: 0.1},
        fairness=2.0,
        deadline_scale=0.5,
        label="x",
    )
    text = explain_goal_change(BALANCED, new)
    assert text.startswith("The goal changes from 'balanced' to 'x'.")
    for part in (
        "latency weight from 1 to 5",
        "delay now weighs more than energy",
        "deadline scale goes from 1 to 0.5",
        "shorter deadline",
        "vehicle 4's QoS weight 1 → 0.1",
        "class bus's QoS weight 1 → 10",
        "fairness weight goes from 0 to 2",
        "until another command replaces it",
    ):
        assert part in text, part


def test_an_unchanged_goal_says_so() -> None:
    assert "No weight of the objective changes." in explain_goal_change(BALANCED, GoalSpec(label="other"))


def test_many_priorities_are_summarised() -> None:
    new = GoalSpec(vehicle_weights={i: 10.0 for i in range(9)}, label="many")
    assert "and 3 more" in explain_goal_change(BALANCED, new)


def test_the_interpreters_evidence_is_quoted_next_to_its_part() -> None:
    reading = interpret("Tolerate higher latency and save energy until further notice")
    text = explain_goal_change(BALANCED, reading.goal, "…", reading.evidence)
    energy = text.index("energy weight")
    assert text.index("'save energy'") > energy and "'Tolerate higher latency'" in text
    assert text.endswith("It holds until another command replaces it ('until further notice').")
