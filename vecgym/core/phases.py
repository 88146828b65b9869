"""The queue phases of one slot, each a few array operations over the whole task table.

Every phase takes the task table ``tasks`` (T, N_COLS) of all roads, updates it in place, and
returns the work it served per queue (for energy). Per-vehicle arrays are indexed by the global
vehicle slot g = b·n_max + n: ``t0_g``, ``t1_g`` (slot start and end of g's road) and ``tcut_g``
(the end of g's slot on the road: t1, or its exit instant).
"""

from __future__ import annotations

import numpy as np

from .fifo import fifo_slot
from .taskcols import (
    EDGE_REM,
    EDGE_T,
    EDGE_W0,
    LOC_DONE,
    LOC_REM,
    REM_DONE,
    RES_REM,
    RES_T,
    T_ARR,
    TYP,
    UP_REM,
    UPF_T,
    G,
)
from .xp import xp_of

INF = np.inf


def local_phase(tasks: np.ndarray, t0_g: np.ndarray, horizon_g: np.ndarray, cpu_hz: float) -> np.ndarray:
    """Each vehicle's CPU: one FIFO over its tasks' local parts, in arrival order, at ``cpu_hz``.

    ``horizon_g`` is t1, or inf for a vehicle leaving the road (its CPU needs no RSU: the local
    parts it holds finish, and settle in the exit slot). Returns cycles served per vehicle, (G,).
    """
    xp = xp_of(tasks)
    idx = xp.flatnonzero(tasks[:, LOC_REM] > 0.0)
    g = xp.astype(tasks[idx, G], xp.int64)
    work = tasks[idx, LOC_REM]
    rate = xp.full(t0_g.shape[0], cpu_hz)
    done, left = fifo_slot(g, tasks[idx, T_ARR], xp.maximum(tasks[idx, T_ARR], t0_g[g]), work, rate, t0_g, horizon_g[g])
    tasks[idx, LOC_REM] = left
    tasks[idx, LOC_DONE] = xp.where(left == 0.0, done, INF)
    return xp.bincount(g, weights=work - left, length=t0_g.shape[0])


def uplink_phase(tasks: np.ndarray, t0_g: np.ndarray, tcut_g: np.ndarray, rate_bps: np.ndarray) -> np.ndarray:
    """Each vehicle's uplink FIFO at ``rate_bps`` (its share of its cell's band; 0 in a gap).

    A finished upload puts the task at its holding server (after a forwarded partial upload, if
    any, has arrived too). Returns bits sent per vehicle, (G,).
    """
    xp = xp_of(tasks)
    idx = xp.flatnonzero(tasks[:, UP_REM] > 0.0)
    g = xp.astype(tasks[idx, G], xp.int64)
    work = tasks[idx, UP_REM]
    done, left = fifo_slot(
        g, tasks[idx, T_ARR], xp.maximum(tasks[idx, T_ARR], t0_g[g]), work, rate_bps, t0_g, tcut_g[g]
    )
    tasks[idx, UP_REM] = left
    # A where over the rows, not a masked write: the same values, no compaction (a host sync on a device).
    tasks[idx, EDGE_T] = xp.where(left == 0.0, xp.maximum(done, tasks[idx, UPF_T]), tasks[idx, EDGE_T])
    return xp.bincount(g, weights=work - left, length=t0_g.shape[0])


def edge_phase(
    tasks: np.ndarray, t0_g: np.ndarray, t1_g: np.ndarray, tcut_g: np.ndarray, rate_q: np.ndarray, n_types: int
) -> np.ndarray:
    """Edge FIFO per (vehicle, type) at its holding server, at rate a·F_e.

    Takes the tasks whose input is at the server before t1 (uploaded, or migrated over the
    backhaul), in the order they got there. Returns cycles served per queue, (G·K,).
    """
    xp = xp_of(tasks)
    g_all = xp.astype(tasks[:, G], xp.int64)
    idx = xp.flatnonzero((tasks[:, UP_REM] == 0.0) & (tasks[:, EDGE_REM] > 0.0) & (tasks[:, EDGE_T] < t1_g[g_all]))
    g = g_all[idx]
    q = g * n_types + xp.astype(tasks[idx, TYP], xp.int64)
    work = tasks[idx, EDGE_REM]
    t0_q = xp.repeat(t0_g, n_types)
    arrival = xp.maximum(tasks[idx, EDGE_T], t0_g[g])
    done, left = fifo_slot(q, tasks[idx, EDGE_T], arrival, work, rate_q, t0_q, tcut_g[g])
    tasks[idx, EDGE_REM] = left
    tasks[idx, RES_T] = xp.where(left == 0.0, done, tasks[idx, RES_T])
    return xp.bincount(q, weights=work - left, length=rate_q.shape[0])


def downloading(tasks: np.ndarray, t1_g: np.ndarray) -> np.ndarray:
    """Rows whose result is ready at the server before t1 and not yet delivered."""
    xp = xp_of(tasks)
    g_all = xp.astype(tasks[:, G], xp.int64)
    return xp.flatnonzero(
        (tasks[:, EDGE_W0] > 0.0)
        & (tasks[:, EDGE_REM] == 0.0)
        & (tasks[:, REM_DONE] == INF)
        & (tasks[:, RES_T] < t1_g[g_all])
    )


def downlink_phase(
    tasks: np.ndarray, idx: np.ndarray, t0_g: np.ndarray, tcut_g: np.ndarray, rate_bps: np.ndarray
) -> np.ndarray:
    """Each vehicle's result download FIFO from its serving RSU at ``rate_bps`` (0 in a gap).

    ``idx`` are the rows from ``downloading``. A delivered result completes the edge path.
    Returns bits received per vehicle, (G,).
    """
    xp = xp_of(tasks)
    g = xp.astype(tasks[idx, G], xp.int64)
    work = tasks[idx, RES_REM]
    arrival = xp.maximum(tasks[idx, RES_T], t0_g[g])
    done, left = fifo_slot(g, tasks[idx, RES_T], arrival, work, rate_bps, t0_g, tcut_g[g])
    tasks[idx, RES_REM] = left
    fin = xp.isfinite(done) & (done <= tcut_g[g])
    tasks[idx, REM_DONE] = xp.where(fin, done, tasks[idx, REM_DONE])
    return xp.bincount(g, weights=work - left, length=t0_g.shape[0])


def finish_time(tasks: np.ndarray) -> np.ndarray:
    """When each task is complete: max(local part done, result delivered); inf if not yet."""
    return xp_of(tasks).maximum(tasks[:, LOC_DONE], tasks[:, REM_DONE])
