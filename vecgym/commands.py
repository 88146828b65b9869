"""Compatibility module: the offline command interpreter now lives in ``vecgym.interpret``.

``from vecgym import commands`` keeps working: ``commands.parse_command``, the mode constants and
``commands.EXAMPLES`` are those of ``vecgym.interpret``.
"""

from __future__ import annotations

from .goals import CommandError, CommandRefused
from .interpret import (
    DEPRIORITY_WEIGHT,
    ENERGY_SAVING,
    ENERGY_SAVING_MILD,
    EXAMPLES,
    FAIRNESS_WEIGHT,
    LOW_LATENCY,
    LOW_LATENCY_MILD,
    MAX_COMMAND_CHARS,
    MAX_VEHICLE_ID,
    PRIORITY_WEIGHT,
    STRICT_DEADLINE_SCALE,
    TOLERANT_DEADLINE_SCALE,
    _parse,
    interpret,
    parse_command,
)

__all__ = [
    "DEPRIORITY_WEIGHT",
    "ENERGY_SAVING",
    "ENERGY_SAVING_MILD",
    "EXAMPLES",
    "FAIRNESS_WEIGHT",
    "LOW_LATENCY",
    "LOW_LATENCY_MILD",
    "MAX_COMMAND_CHARS",
    "MAX_VEHICLE_ID",
    "PRIORITY_WEIGHT",
    "STRICT_DEADLINE_SCALE",
    "TOLERANT_DEADLINE_SCALE",
    "CommandError",
    "CommandRefused",
    "_parse",
    "interpret",
    "parse_command",
]
