"""One road's operator commands and goals: the ground truth that sets the reward, and the goal
channel an agent observes (DESIGN §3).

* ``issue(engine, road, text, goal)`` records a command: the text goes to the agents; ``goal`` (the
  scenario's hand-written ground truth, optional) becomes the road's reward objective.
* The observed channel: ``"interpreted"`` — the goal an interpreter made of the last command
  (``parse_command`` by default, or any ``interpreter(text) -> GoalSpec`` that raises
  ``CommandError`` to refuse, e.g. an LLM planner; a refused command leaves the previous
  interpreted goal in force, and ``refusal`` says why); ``"truth"`` — the scenario's hand-written
  ground truth: an **oracle input** (no deployed agent is told the answer), for upper bounds and
  ablations only; ``"none"`` — zeros.
* Both goals expire back to balanced after their ``duration_s``.
* Each change of the interpreted goal comes with a plain-language explanation
  (``vecgym.explain``), quoting the command's words the offline interpreter read.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .explain import explain_goal_change
from .goals import BALANCED, GOAL_VECTOR_SIZE, GoalSpec, Interpreter
from .schedule import ScheduledCommand

GOAL_CHANNELS: tuple[str, ...] = ("interpreted", "truth", "none")


class GoalChannel:
    """Commands, ground-truth goal and observed goal channel of one road."""

    def __init__(self, mode: str = "interpreted", interpreter: Interpreter | None = None):
        if not isinstance(mode, str) or mode not in GOAL_CHANNELS:
            raise ValueError(f"goal_channel must be one of {GOAL_CHANNELS}, got {mode!r}")
        if interpreter is not None and not callable(interpreter):
            raise ValueError(f"interpreter must be a callable text -> GoalSpec, got {type(interpreter).__name__}")
        if interpreter is not None and mode != "interpreted":
            raise ValueError(f"an interpreter is only used with goal_channel='interpreted', not {mode!r}")
        self.mode = mode
        self.interpreter = interpreter
        self.reset()

    def reset(self) -> None:
        """Forget the commands: balanced truth and interpretation, no command yet."""
        self.command: str | None = None
        self.command_id = 0
        self.truth_expires_s = math.inf
        self.interpreted: GoalSpec = BALANCED
        self.interpreted_expires_s = math.inf
        self.refusal: str | None = None
        self.explanation: str | None = None
        self.truth_explanation: str | None = None

    def issue(self, engine: Any, road: int, text: str, goal: GoalSpec | None = None) -> None:
        """Record command ``text`` (and its ground truth ``goal``) on ``road`` of ``engine``."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"command text must be a non-empty string, got {text!r}")
        if goal is not None and not isinstance(goal, GoalSpec):
            raise ValueError(f"goal must be a vecgym.goals.GoalSpec or None, got {type(goal).__name__}")
        now = float(engine.t_s[road])
        self.command = text.strip()
        self.command_id += 1
        if goal is not None:
            self.truth_explanation = explain_goal_change(engine.goals[road], goal, self.command)
            engine.set_goal(road, goal)
            self.truth_expires_s = now + goal.duration_s if goal.duration_s is not None else math.inf
        if self.mode == "interpreted":
            self._interpret(self.command, now)

    def _interpret(self, text: str, now: float) -> None:
        """Replace the interpreted goal with ``text``'s reading, or record the refusal."""
        try:
            parsed, evidence = self._read(text)
        except ValueError as exc:  # CommandError, or a GoalSpec out of bounds from a custom interpreter
            self.refusal = str(exc)
            self.explanation = (
                f"The command \"{text[:200]}\" was refused; the goal '{self.interpreted.label}' stays. {exc}"
            )
            return
        self.refusal = None
        self.explanation = explain_goal_change(self.interpreted, parsed, text, evidence)
        self.interpreted = parsed
        self.interpreted_expires_s = now + parsed.duration_s if parsed.duration_s is not None else math.inf

    def _read(self, text: str) -> tuple[GoalSpec, tuple[Any, ...]]:
        """The goal and the interpreter's evidence (none from a custom interpreter)."""
        if self.interpreter is not None:
            goal = self.interpreter(text)
            if not isinstance(goal, GoalSpec):
                raise TypeError(f"the interpreter returned {type(goal).__name__}, not a GoalSpec")
            return goal, ()
        from .interpret import interpret

        reading = interpret(text)
        return reading.goal, reading.evidence

    def issue_scheduled(self, engine: Any, road: int, commands: tuple[ScheduledCommand, ...]) -> None:
        """Issue the schedule's commands due at the road's current time slot."""
        slot = int(engine.slot[road])
        for cmd in commands:
            if cmd.slot == slot:
                self.issue(engine, road, cmd.text, cmd.goal)

    def after_step(self, engine: Any, road: int, commands: tuple[ScheduledCommand, ...]) -> None:
        """Expire goals that ran out, then issue the commands due at the new time slot."""
        now = float(engine.t_s[road])
        if now >= self.truth_expires_s - 1e-9:
            self.truth_explanation = explain_goal_change(engine.goals[road], BALANCED, expired=True)
            engine.set_goal(road, BALANCED)
            self.truth_expires_s = math.inf
        if now >= self.interpreted_expires_s - 1e-9:
            self.explanation = explain_goal_change(self.interpreted, BALANCED, expired=True)
            self.interpreted = BALANCED
            self.interpreted_expires_s = math.inf
        self.issue_scheduled(engine, road, commands)

    def goal_explanation(self) -> str | None:
        """Why the ground-truth goal (the reward's objective) changed, in the first call after the
        change (then None): for logs and reports, in every mode (it is not an observation)."""
        explanation, self.truth_explanation = self.truth_explanation, None
        return explanation

    def vector(self, truth: GoalSpec | None = None) -> np.ndarray:
        """The observed goal channel, ``GoalSpec.vector()`` of the selected goal (zeros for "none")."""
        if self.mode == "none":
            return np.zeros(GOAL_VECTOR_SIZE, dtype=np.float32)
        if self.mode == "truth":
            if truth is None:
                raise ValueError("the 'truth' goal channel needs the road's ground-truth goal")
            return truth.vector()
        return self.interpreted.vector()

    def interpretation(self) -> dict[str, Any] | None:
        """``{"label", "refused", "error", "explanation"}`` of the interpreted goal (None for other
        modes). ``explanation`` says why the goal changed (or why a command was refused) in the
        first ``interpretation()`` after the change, and is None afterwards: envs call this once
        per ``reset`` / ``step``, so it reaches the info of the step the change takes effect."""
        if self.mode != "interpreted":
            return None
        explanation, self.explanation = self.explanation, None
        return {
            "label": self.interpreted.label,
            "refused": self.refusal is not None,
            "error": self.refusal,
            "explanation": explanation,
        }
