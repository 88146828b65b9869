"""The paper's experiments and a few more, as named, documented configurations.

``vecgym.scenarios.make(name, **overrides)`` returns a ready ``gym.make("VEC-v0", ...)`` env whose
time limit is the scenario's length; ``get(name)`` returns the ``Scenario`` itself (config, command
schedule, length, description) for runners that build their own envs.

Each scheduled command's goal is the scenario's ground truth, written here by hand: it is what the
operator means, and the reward follows it. No interpreter (``parse_command`` or an LLM) produces it,
so an interpreter can be scored against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from .goals import GoalSpec
from .schedule import ScheduledCommand

# Each command with its ground-truth goal, written by hand.

#: The paper's Scenario 3 command (issued at t = 51, i.e. before the step of 0-based slot 50).
PAPER_ENERGY_COMMAND = "Switch to maximum energy saving mode immediately. Tolerate higher latency."
ENERGY_SAVING_GOAL = GoalSpec(beta_energy=5.0, beta_qos=0.5, deadline_scale=2.0, label="energy_saving")
PRIORITY_VEHICLE = 7
PRIORITY_COMMAND = f"Prioritize latency for vehicle {PRIORITY_VEHICLE}."
PRIORITY_GOAL = GoalSpec(vehicle_weights={PRIORITY_VEHICLE: 10.0}, label=f"priority_v{PRIORITY_VEHICLE}")
EMERGENCY_COMMAND = "Give emergency vehicles absolute priority for the next 30 seconds."
EMERGENCY_GOAL = GoalSpec(class_weights={"emergency": 10.0}, duration_s=30.0, label="emergency_priority")
FAIRNESS_COMMAND = "Guarantee a fair allocation of edge resources to every vehicle during peak hours."
FAIRNESS_GOAL = GoalSpec(fairness=2.0, label="fairness")


#: (x_start_m, x_end_m, t_start_s, t_end_s, speed_kmh) of the corridor incident.
CORRIDOR_INCIDENT = (2600.0, 3000.0, 10.0, 40.0, 15.0)
#: (x_start_m, x_end_m) of the corridor tunnel (no coverage).
CORRIDOR_TUNNEL = (2200.0, 2800.0)
#: (x_m, t_start_s, t_end_s, rate_hz) of the corridor on-ramp surge.
CORRIDOR_RAMP = (1800.0, 10.0, 40.0, 1.5)


@dataclass(frozen=True)
class Scenario:
    """A named experiment: physics config overrides for ``VEC-v0``, its operator command schedule
    (ground-truth goals written by hand), its length and what it tests."""

    name: str
    description: str
    config: dict[str, Any] = field(default_factory=dict)
    """Overrides of ``vecgym.VECConfig`` fields (physics only)."""
    commands: tuple[ScheduledCommand, ...] = ()
    """The operator command schedule, passed to ``VECEnv(commands=...)``."""
    n_slots: int = 300
    sweep: tuple[float, ...] = ()
    """Values of ``n_vehicles`` to sweep (the scalability experiment)."""
    paper_table: str = ""
    """The paper's table this scenario reproduces ("Table 2"), used as its report heading; empty if none."""

    def make_env(self, **overrides: Any) -> gym.Env:
        """``gym.make("VEC-v0")`` with this scenario's config and commands, ``overrides`` last."""
        kwargs = {"commands": self.commands, **self.config, **overrides}
        max_steps = kwargs.pop("max_episode_steps", self.n_slots)
        return gym.make("VEC-v0", max_episode_steps=max_steps, **kwargs)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "scalability",
            "Paper Table 2: load grows with the number of vehicles N = 10, 20, 30 (and larger).",
            {"preset": "paper", "n_vehicles": 20.0},
            n_slots=300,
            sweep=(10.0, 20.0, 30.0),
            paper_table="Table 2",
        ),
        Scenario(
            "dynamic",
            "Paper Table 3: vehicles change target speed often (30-130 km/h, 4 m/s²) and the channel "
            "swings; tests proactive decisions (peak violation, latency std).",
            {
                "preset": "paper",
                "n_vehicles": 20.0,
                "dynamic_speed": True,
                "speed_change_rate_hz": 0.5,
                "accel_max_mps2": 4.0,
            },
            n_slots=300,
            paper_table="Table 3",
        ),
        Scenario(
            "goal_switch",
            "Paper Table 4: balanced for t = 1..50, then the operator says "
            f"'{PAPER_ENERGY_COMMAND}' (ground truth: energy weight 5, QoS weight 0.5, deadlines x2).",
            {"preset": "paper", "n_vehicles": 20.0},
            commands=(ScheduledCommand(50, PAPER_ENERGY_COMMAND, ENERGY_SAVING_GOAL),),
            n_slots=100,
            paper_table="Table 4",
        ),
        Scenario(
            "priority",
            f"'{PRIORITY_COMMAND}' from slot 0: vehicle {PRIORITY_VEHICLE} gets QoS weight 10 "
            "(ids grow from the entry, so at the default N it is on the road at reset, near the entry, "
            "and usually stays for the whole episode).",
            {"preset": "paper", "n_vehicles": 20.0},
            commands=(ScheduledCommand(0, PRIORITY_COMMAND, PRIORITY_GOAL),),
            n_slots=300,
        ),
        Scenario(
            "emergency",
            "10% of vehicles are emergency services; at slot 20 the operator gives them priority for 30 s.",
            {"preset": "paper", "n_vehicles": 20.0, "class_probs": (0.75, 0.1, 0.05, 0.1)},
            commands=(ScheduledCommand(20, EMERGENCY_COMMAND, EMERGENCY_GOAL),),
            n_slots=400,
        ),
        Scenario(
            "fairness",
            "Heterogeneous load (buses generate 3x the tasks) and a fairness command from slot 0.",
            {
                "preset": "paper",
                "n_vehicles": 20.0,
                "class_probs": (0.7, 0.25, 0.05, 0.0),
                "class_rate_multiplier": (1.0, 3.0, 1.0, 1.0),
            },
            commands=(ScheduledCommand(0, FAIRNESS_COMMAND, FAIRNESS_GOAL),),
            n_slots=300,
        ),
        # --- the corridor: where foresight has lead time ---------------------------------------
        Scenario(
            "corridor",
            "The 6 km corridor (an RSU every km, 100 m coverage gaps, backhaul), N = 90: handovers "
            "with migration, gaps, safety / perception / bulk tasks with real payloads.",
            {"preset": "corridor"},
            n_slots=600,
        ),
        Scenario(
            "corridor_incident",
            f"An incident caps the speed at {CORRIDOR_INCIDENT[4]:g} km/h on x = {CORRIDOR_INCIDENT[0]:g}-"
            f"{CORRIDOR_INCIDENT[1]:g} m from t = {CORRIDOR_INCIDENT[2]:g} s to {CORRIDOR_INCIDENT[3]:g} s: "
            "vehicles bunch up in cells 2-3 and leave as a platoon that loads the cells downstream.",
            {"preset": "corridor", "incidents": (CORRIDOR_INCIDENT,), "n_max": 220},
            n_slots=900,
        ),
        Scenario(
            "corridor_tunnel",
            f"A tunnel with no coverage at x = {CORRIDOR_TUNNEL[0]:g}-{CORRIDOR_TUNNEL[1]:g} m, inside cell 2: "
            "uploads and results wait for ~15 s of driving; what cannot wait must be computed locally.",
            {"preset": "corridor", "tunnels": (CORRIDOR_TUNNEL,)},
            n_slots=600,
        ),
        Scenario(
            "corridor_rush",
            f"An on-ramp at x = {CORRIDOR_RAMP[0]:g} m adds {CORRIDOR_RAMP[3]:g} vehicles/s from "
            f"t = {CORRIDOR_RAMP[1]:g} s to {CORRIDOR_RAMP[2]:g} s: a surge that moves down the corridor cell by cell.",
            {"preset": "corridor", "ramps": (CORRIDOR_RAMP,), "n_max": 220},
            n_slots=900,
        ),
    )
}


def names() -> list[str]:
    """Names of the scenarios."""
    return list(SCENARIOS)


def get(name: str) -> Scenario:
    """The ``Scenario`` called ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


def make(name: str, **overrides: Any) -> gym.Env:
    """A ``VEC-v0`` env configured as scenario ``name`` (``overrides`` replace config keys)."""
    return get(name).make_env(**overrides)
