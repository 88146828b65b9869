"""Operator goals in machine form.

A ``GoalSpec`` is what an operator's command means for the objective: the energy / QoS trade-off
β(t), per-vehicle and per-class QoS weights, a fairness weight, a deadline tolerance and an
expiry. Every field is bounded so that no goal can hand one vehicle more than the physical system
has. Text becomes a goal through an interpreter: offline and deterministic, ``parse_command``
(implemented in ``vecgym.interpret``), which raises ``CommandRefused`` (a ``CommandError``) for what
it cannot honour; the
LLM interpreters live in ``agents``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .vocab import CLASSES

#: Bounds every GoalSpec is checked against.
MAX_BETA = 100.0
MAX_WEIGHT = 100.0
MAX_FAIRNESS = 10.0
DEADLINE_SCALE_RANGE = (0.25, 10.0)
MAX_DURATION_S = 7 * 24 * 3600.0
MAX_NAMED_VEHICLES = 64

#: Length of ``GoalSpec.vector()``.
GOAL_VECTOR_SIZE = 8 + len(CLASSES)
#: Upper bound of each entry of ``GoalSpec.vector()`` (its observation space).
GOAL_VECTOR_HIGH = np.array(
    [MAX_BETA, MAX_BETA, MAX_FAIRNESS, DEADLINE_SCALE_RANGE[1], 1.0, math.log10(1.0 + MAX_DURATION_S)]
    + [MAX_NAMED_VEHICLES, MAX_WEIGHT]
    + [MAX_WEIGHT] * len(CLASSES),
    dtype=np.float32,
)


def _frozen_map(value: Mapping[Any, float] | None) -> Mapping[Any, float]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class GoalSpec:
    """The machine form of an operator's intent (see DESIGN §3).

    Attributes:
        beta_energy: weight β_E of the normalised energy term (>= 0).
        beta_qos: weight β_Q of the QoS (latency) term (>= 0); not both zero.
        vehicle_weights: vehicle id -> QoS weight multiplier in (0, 100].
        class_weights: vehicle class (one of ``vecgym.CLASSES``) -> QoS weight in (0, 100].
        fairness: weight of the unfairness penalty 1 - Jain index, in [0, 10].
        deadline_scale: > 1 tolerates higher latency (the QoS cost uses deadline·scale).
        duration_s: seconds until the goal expires back to balanced; None = until replaced.
        label: a short name for reports.
    """

    beta_energy: float = 1.0
    beta_qos: float = 1.0
    vehicle_weights: Mapping[int, float] = field(default_factory=dict)
    class_weights: Mapping[str, float] = field(default_factory=dict)
    fairness: float = 0.0
    deadline_scale: float = 1.0
    duration_s: float | None = None
    label: str = "balanced"

    def __post_init__(self) -> None:
        for name, hi in (("beta_energy", MAX_BETA), ("beta_qos", MAX_BETA), ("fairness", MAX_FAIRNESS)):
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0.0 <= v <= hi:
                raise ValueError(f"GoalSpec.{name} must be a number in [0, {hi:g}], got {v!r}")
        if self.beta_energy == 0 and self.beta_qos == 0:
            raise ValueError("GoalSpec needs beta_energy > 0 or beta_qos > 0 (both are 0)")
        lo, hi = DEADLINE_SCALE_RANGE
        ds = self.deadline_scale
        if not isinstance(ds, int | float) or isinstance(ds, bool) or not lo <= ds <= hi:
            raise ValueError(f"GoalSpec.deadline_scale must be in [{lo}, {hi}], got {self.deadline_scale!r}")
        if self.duration_s is not None and (
            not isinstance(self.duration_s, int | float)
            or isinstance(self.duration_s, bool)
            or not math.isfinite(self.duration_s)
            or not 0.0 < self.duration_s <= MAX_DURATION_S
        ):
            raise ValueError(f"GoalSpec.duration_s must be None or in (0, {MAX_DURATION_S:g}] s")
        vw = dict(self.vehicle_weights)
        if len(vw) > MAX_NAMED_VEHICLES:
            raise ValueError(f"GoalSpec names {len(vw)} vehicles; at most {MAX_NAMED_VEHICLES} allowed")
        for vid, w in vw.items():
            if not isinstance(vid, int | np.integer) or isinstance(vid, bool) or vid < 0:
                raise ValueError(f"GoalSpec.vehicle_weights keys must be vehicle ids >= 0, got {vid!r}")
            _check_weight(f"vehicle_weights[{vid}]", w)
        cw = dict(self.class_weights)
        for cls, w in cw.items():
            if cls not in CLASSES:
                raise ValueError(f"GoalSpec.class_weights: unknown class {cls!r}; known: {CLASSES}")
            _check_weight(f"class_weights[{cls!r}]", w)
        if not isinstance(self.label, str):
            raise ValueError(f"GoalSpec.label must be a str, got {self.label!r}")
        object.__setattr__(self, "vehicle_weights", _frozen_map({int(k): float(v) for k, v in vw.items()}))
        object.__setattr__(self, "class_weights", _frozen_map({k: float(v) for k, v in cw.items()}))

    def __hash__(self) -> int:
        g = self
        return hash(
            (
                g.beta_energy,
                g.beta_qos,
                tuple(sorted(g.vehicle_weights.items())),
                tuple(sorted(g.class_weights.items())),
                g.fairness,
                g.deadline_scale,
                g.duration_s,
                g.label,
            )
        )

    def vector(self) -> np.ndarray:
        """Fixed-length goal channel, float32 of size ``GOAL_VECTOR_SIZE``.

        [β_E, β_Q, fairness, deadline_scale, has_expiry, log10(1 + duration_s),
        number of named vehicles, max vehicle weight, class weight of each class...]
        """
        vw = list(self.vehicle_weights.values())
        head = [
            self.beta_energy,
            self.beta_qos,
            self.fairness,
            self.deadline_scale,
            float(self.duration_s is not None),
            math.log10(1.0 + (self.duration_s or 0.0)),
            float(len(vw)),
            max(vw, default=1.0),
        ]
        return np.asarray(head + [self.class_weights.get(c, 1.0) for c in CLASSES], dtype=np.float32)

    def __reduce__(self) -> tuple[Any, ...]:  # MappingProxyType does not pickle
        return (
            GoalSpec,
            (
                self.beta_energy,
                self.beta_qos,
                dict(self.vehicle_weights),
                dict(self.class_weights),
                self.fairness,
                self.deadline_scale,
                self.duration_s,
                self.label,
            ),
        )


def _check_weight(name: str, w: Any) -> None:
    if not isinstance(w, int | float) or isinstance(w, bool) or not 0.0 < w <= MAX_WEIGHT:
        raise ValueError(f"GoalSpec.{name} must be a number in (0, {MAX_WEIGHT:g}], got {w!r}")


BALANCED = GoalSpec()
"""The default goal: β_E = β_Q = 1, no priorities."""

Interpreter = Callable[[str], GoalSpec]
"""An interpreter of operator commands: text -> ``GoalSpec``, raising ``CommandError`` (a
``ValueError``) for what it refuses. ``parse_command`` is the offline one; ``agents.llm.GoalPlanner``
asks an LLM. The env's goal channel and ``hybrid`` take any of them."""


class CommandError(ValueError):
    """An operator command that cannot be turned into a ``GoalSpec``: empty, not understood, outside
    the network's control, contradictory or out of bounds. The message names what was not
    understood and gives example commands that are."""


class CommandRefused(CommandError):
    """A command the offline interpreter refuses, with why in machine form.

    Attributes:
        reason: a short code: ``not_text``, ``empty``, ``too_long``, ``injection``, ``out_of_scope``,
            ``bad_vehicle_id``, ``bad_duration``, ``bad_factor``, ``unknown_words``, ``negation``,
            ``contradiction`` or ``no_intent`` (see ``vecgym.interpret``).
        words: the command's words the refusal is about (the leftover words for ``unknown_words``);
            may be empty.
    """

    def __init__(self, message: str, reason: str, words: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.words = tuple(words)

    def __reduce__(self) -> tuple[Any, ...]:
        return (CommandRefused, (str(self), self.reason, self.words))


def parse_command(text: str) -> GoalSpec:
    """The ``GoalSpec`` an operator command means, offline and deterministically.

    See ``vecgym.interpret`` and docs/command_language.md for the language; raises
    ``CommandRefused`` (a ``CommandError``, hence a ``ValueError``) for text it cannot act on, never
    falling back to a silent default.
    """
    from .interpret import parse_command as _parse  # vecgym.interpret imports this module

    return _parse(text)
