"""The operator command schedule: commands a scenario issues at given time slots.

Kept out of the physics config (``VECConfig``): the env takes it as its own argument,
``VECEnv(commands=(ScheduledCommand(...), ...))``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .goals import GoalSpec


@dataclass(frozen=True)
class ScheduledCommand:
    """An operator command issued before the step of time slot ``slot`` (0-based).

    ``text`` reaches the agents in ``info["command"]``; ``goal`` is the ground truth the reward
    follows from then on (written by hand, never produced by an interpreter); None keeps the goal.
    """

    slot: int
    text: str
    goal: GoalSpec | None = None


def check_schedule(commands: Iterable[ScheduledCommand] | None) -> tuple[ScheduledCommand, ...]:
    """The schedule as a tuple; a bad entry raises ``ValueError`` naming it and the fix."""
    if commands is None:
        return ()
    if isinstance(commands, str | ScheduledCommand) or not isinstance(commands, Iterable):
        raise ValueError(f"'commands' must be a sequence of ScheduledCommand, got {commands!r}")
    schedule = tuple(commands)
    for cmd in schedule:
        if not isinstance(cmd, ScheduledCommand) or isinstance(cmd.slot, bool) or not isinstance(cmd.slot, int):
            raise ValueError(f"'commands' must hold ScheduledCommand(slot>=0, text, goal), got {cmd!r}")
        if cmd.slot < 0:
            raise ValueError(f"'commands': slot must be >= 0, got {cmd.slot} in {cmd!r}")
        if not isinstance(cmd.text, str) or not cmd.text.strip():
            raise ValueError(f"'commands': the command at slot {cmd.slot} needs non-empty text")
        if cmd.goal is not None and not isinstance(cmd.goal, GoalSpec):
            raise ValueError(
                f"'commands': the goal at slot {cmd.slot} must be a GoalSpec or None, got {type(cmd.goal).__name__}"
            )
    return schedule
