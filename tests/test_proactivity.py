"""The proactivity study's analysis (``benchmarks.proactivity``) on hand-made rows and series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import proactivity as pro


def _row(agent: str, v: float, seed: int, energy: float, viol: float, cost: float) -> dict:
    return {"scenario": "s", "agent": agent, "v": v, "seed": seed, "energy_per_slot_j": energy,
            "violation_rate_pct": viol, "goal_cost": cost}  # fmt: skip


def test_matched_energy_interpolates_along_the_agents_own_frontier():
    rows = [_row("a", 0.3, 0, 30.0, 2.0, 1.0), _row("a", 1.0, 0, 20.0, 4.0, 0.9), _row("a", 3.0, 0, 10.0, 10.0, 1.2)]
    assert pro.at_energy(rows, "s", "a", 0, 25.0) == pytest.approx(3.0)
    assert pro.at_energy(rows, "s", "a", 0, 12.0) == pytest.approx(10.0 - 0.2 * 6.0)
    assert math.isnan(pro.at_energy(rows, "s", "a", 0, 35.0))  # outside the frontier: not extrapolated
    assert pro.best_v(rows, "s", "a") == 1.0


def test_vehicle_events_align_each_vehicles_own_handover_and_gap():
    T, M = 50, 2
    vid = np.tile(np.array([7, 8]), (T, 1))
    cell = np.zeros((T, M), dtype=np.int64)
    cell[30:, 0] = 1  # vehicle 7 hands over at slot 30
    cell[10:20, 1] = -1  # vehicle 8 is in a gap in slots 10..19
    resolved = np.ones((T, M))
    late = np.zeros((T, M))
    late[31, 0] = 1.0  # one late task one slot after the handover
    late[12, 1] = 1.0  # and one two slots into the gap
    vid[45:, 1] = 9  # vehicle 8 leaves; 9 takes the slot (its slots do not count for 8)
    out = pro.vehicle_events({"vid": vid, "cell": cell, "resolved": resolved, "late": late})
    W = pro.VEHICLE_WINDOW_SLOTS
    assert (
        out["handover"]["count"] == [1.0] and out["gap_entry"]["count"] == [1.0] and out["gap_exit"]["count"] == [1.0]
    )
    assert out["handover"]["late"][W + 1] == 1.0 and sum(out["handover"]["late"]) == 1.0
    assert out["gap_entry"]["late"][W + 2] == 1.0
    # Around the gap exit at slot 20 the window reaches slot 40 but stops where vehicle 9 begins.
    assert sum(out["gap_exit"]["resolved"]) == (2 * W + 1) - max(0, 20 + W - 44)
    assert out["gap_exit"]["late"][W - 8] == 1.0  # slot 12 is 8 slots before the exit
