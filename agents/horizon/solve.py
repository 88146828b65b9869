"""The receding-horizon solve: a plan of per-slot offloading and server speeds improved by sweeps
of slot-wise updates against the backward pass's costates (``agents.horizon``: **Solve**).

Each slot's update is exact on its grid: the server speed S is the best of ``SPEED_GRID`` per
server (the slot cost plus λ[h+1] times the carry-over, summed over the server's queues), and each
type's offload ratio the best of ``OFFLOAD_GRID`` per vehicle (types in turn, all vehicles at
once, the others' band users and server shares held). The sweep as a whole is a heuristic: the
costates are those of the previous plan, and the plan kept is the best full trajectory seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import (
    HorizonProblem,
    SlotOutcome,
    Trajectory,
    carried_cost,
    initial_contents,
    plan_costs,
    step,
    trajectory,
)

#: A FIFO's contents (local cycles, uplink bits, edge cycles), each (Σ', M, K).
Contents = tuple[np.ndarray, np.ndarray, np.ndarray]

SPEED_GRID = np.linspace(1.0 / 16.0, 1.0, 16)
OFFLOAD_GRID = np.linspace(0.0, 1.0, 6)


@dataclass
class Plan:
    w: np.ndarray  # (H, M, K)
    speed: np.ndarray  # (H, R)
    trajectory: Trajectory
    cost: float  # expected over the scenarios, reward units


def _expected(p: HorizonProblem, per_row: np.ndarray, n_cand: int) -> np.ndarray:
    """(n_cand, ...) scenario-weighted mean of rows stacked as (n_cand·Σ, ...)."""
    s = p.work.shape[0]
    return np.tensordot(p.weight, per_row.reshape(n_cand, s, *per_row.shape[1:]), axes=([0], [1]))


def _tile(x: np.ndarray, n: int) -> np.ndarray:
    return np.tile(x, (n, 1, 1))


def vehicle_cost(out: SlotOutcome, lam: dict[str, np.ndarray], h: int) -> np.ndarray:
    """(Σ', M): each vehicle's slot cost plus the costed carry-over into slot h + 1."""
    return out.qos + out.energy + carried_cost(out, lam, h + 1)


def best_speed(p: HorizonProblem, h: int, w: np.ndarray, contents: Contents, lam: dict[str, np.ndarray]) -> np.ndarray:
    """(R,) each server's speed on ``SPEED_GRID`` minimising its queues' expected cost in slot h
    (the slot's cost plus λ[h+1] times the carry-over; servers are independent given w)."""
    n, s = SPEED_GRID.shape[0], p.work.shape[0]
    speeds = np.repeat(SPEED_GRID, s)[:, None] * np.ones(p.k.n_servers)
    local, up, edge = (_tile(x, n) for x in contents)
    out = step(p, h, w, speeds, local, up, edge)
    per_server = _expected(p, vehicle_cost(out, lam, h), n) @ p.onehot(h)  # (n, R)
    return SPEED_GRID[np.argmin(per_server, axis=0)]


def best_offload(
    p: HorizonProblem, h: int, w: np.ndarray, speed: np.ndarray, contents: Contents, lam: dict[str, np.ndarray]
) -> np.ndarray:
    """(M, K) offload ratios on ``OFFLOAD_GRID``, types in turn (Gauss-Seidel), all vehicles at once:
    each vehicle's best ratio with its other types, the other vehicles' band users and the server
    shares held."""
    w = w.copy()
    s, n = p.work.shape[0], OFFLOAD_GRID.shape[0]
    local, up, edge = contents
    t_local, t_up, t_edge = (_tile(x, n) for x in contents)
    allowed = p.offloadable[h]
    for k in range(w.shape[1]):
        if not allowed[:, k].any():
            w[:, k] = 0.0
            continue
        held = step(p, h, w, speed, local, up, edge).held
        cand = np.repeat(np.broadcast_to(w, (n, *w.shape)), s, axis=0).copy()
        cand[:, :, k] = np.repeat(OFFLOAD_GRID, s)[:, None] * allowed[None, :, k]
        out = step(p, h, cand, speed, t_local, t_up, t_edge, held=held)
        cost = _expected(p, vehicle_cost(out, lam, h), n)  # (n, M)
        w[:, k] = OFFLOAD_GRID[np.argmin(cost, axis=0)] * allowed[:, k]
    return w


def improve(p: HorizonProblem, plan: Plan) -> Plan:
    """One forward sweep of slot-wise updates against ``plan``'s costates."""
    w, speed = plan.w.copy(), plan.speed.copy()
    lam = plan.trajectory.costates
    local, up, edge = initial_contents(p)
    for h in range(p.horizon):
        contents = (local, up, edge)
        speed[h] = best_speed(p, h, w[h], contents, lam)
        w[h] = best_offload(p, h, w[h], speed[h], contents, lam)
        out = step(p, h, w[h], speed[h], *contents)
        local, up, edge = out.local_next, out.uplink_next, out.edge_next
    traj = trajectory(p, w, speed)
    return Plan(w, speed, traj, traj.expected(p.weight))


def evaluate(p: HorizonProblem, w: np.ndarray, speed: np.ndarray) -> Plan:
    w = w * p.offloadable
    traj = trajectory(p, w, speed)
    return Plan(w, speed, traj, traj.expected(p.weight))


def solve(p: HorizonProblem, starts: list[tuple[np.ndarray, np.ndarray]], sweeps: int = 1) -> Plan:
    """The best plan found from the best of ``starts`` ((w (H, M, K), speed (H, R)) pairs) after
    ``sweeps`` improvement sweeps; a sweep that does not lower the expected cost ends the search."""
    starts = [(w * p.offloadable, s) for w, s in starts]
    w0, s0 = starts[int(np.argmin(plan_costs(p, starts)))]
    best = evaluate(p, w0, s0)
    for _ in range(sweeps):
        new = improve(p, best)
        if not new.cost < best.cost:
            break
        best = new
    return best
