"""The numbers of the command language: the GoalSpec values each intent sets, and the interpreter's
own bounds (see ``docs/command_language.md``)."""

from __future__ import annotations

#: (beta_energy, beta_qos) of each mode.
ENERGY_SAVING = (5.0, 0.5)
ENERGY_SAVING_MILD = (2.0, 0.8)
LOW_LATENCY = (0.2, 5.0)
LOW_LATENCY_MILD = (0.5, 2.0)
#: QoS weight of a raised / lowered vehicle or class.
PRIORITY_WEIGHT = 10.0
DEPRIORITY_WEIGHT = 0.1
FAIRNESS_WEIGHT = 2.0
TOLERANT_DEADLINE_SCALE = 2.0
STRICT_DEADLINE_SCALE = 0.5
#: Longer text is refused outright (commands are one or two sentences).
MAX_COMMAND_CHARS = 1000
#: Vehicle ids lie in [0, MAX_VEHICLE_ID).
MAX_VEHICLE_ID = 10**6
#: The longest duration a command may state (GoalSpec itself allows up to 7 days).
MAX_INTERPRETED_DURATION_S = 24 * 3600.0

#: Commands the interpreter understands, quoted in every refusal.
EXAMPLES: tuple[str, ...] = (
    "Switch to energy saving mode for 10 minutes. Tolerate higher latency.",
    "Prioritize minimum latency for all vehicles.",
    "Prioritize latency for vehicles 3 and 12 for 90 s.",
    "Give emergency vehicles priority for the next 30 seconds.",
    "Ensure a fair allocation for every vehicle.",
    "Back to normal.",
)
