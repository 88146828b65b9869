"""Episode phases: the stretches of slots that a scenario's mid-episode commands split an episode into.

A command at slot ``s`` with ``0 < s < length`` starts a new phase before the step of slot ``s``
(commands at slot 0 set the goal for the whole episode; later ones never arrive). Phase ``k``
(1-based) is reported as ``phase{k}_energy_per_slot_j`` (mean energy per slot, J) and
``phase{k}_latency_ms`` (mean latency of the tasks completed in the phase, which includes the
backlog of the phases before it); NaN when the phase has no slot or no completed task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from agents.rollout import EpisodeResult


def mid_slots(command_slots: Iterable[int], n_slots: int) -> list[int]:
    """The distinct command slots strictly inside an episode of ``n_slots`` slots, in order."""
    return sorted({s for s in command_slots if 0 < s < n_slots})


def bounds(command_slots: Iterable[int], n_slots: int) -> list[tuple[int, int]]:
    """The phases as ``(first slot, end slot)`` half-open ranges; one phase when no command is mid-episode."""
    edges = [0, *mid_slots(command_slots, n_slots), n_slots]
    return list(pairwise(edges))


def phase_fields(ep: EpisodeResult, command_slots: Iterable[int]) -> dict[str, float]:
    """``phase{k}_energy_per_slot_j`` and ``phase{k}_latency_ms`` for each phase; empty without a
    mid-episode command."""
    n = len(ep.energy_j)
    if not mid_slots(command_slots, n):
        return {}
    out: dict[str, float] = {}
    for k, (a, b) in enumerate(bounds(command_slots, n), start=1):
        out[f"phase{k}_energy_per_slot_j"] = _mean(ep.energy_j[a:b])
        out[f"phase{k}_latency_ms"] = _per_task(ep.latency_sum_ms[a:b], ep.tasks_completed[a:b])
    return out


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _per_task(latency_sum_ms: Sequence[float], tasks: Sequence[int]) -> float:
    n = float(np.sum(tasks))
    return float(np.sum(latency_sum_ms) / n) if n else float("nan")
