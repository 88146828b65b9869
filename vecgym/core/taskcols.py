"""Columns of the in-flight task table: one float64 row per task, all roads together.

A task's local part and its edge path (upload → edge → result download, with backhaul hops at a
handover) progress independently; it completes when both are done. Times are absolute seconds;
``INF`` means "not yet". A task with no edge part has its edge-path columns settled at arrival.
"""

from __future__ import annotations

import numpy as np

from .xp import xp_of

INF = np.inf

(
    G,  # global vehicle slot b·n_max + n (a small integer, exact in float64)
    TYP,  # task type k
    T_ARR,  # arrival time (s)
    LOC_REM,  # local cycles still to compute
    LOC_DONE,  # local part done (s)
    IN_BITS,  # input bits of the edge part (8·size·w)
    UP_REM,  # bits still to upload
    UPF_T,  # arrival of a partial upload forwarded over the backhaul at a handover (s), -inf if none
    EDGE_W0,  # edge cycles of the task (w·cycles)
    EDGE_REM,  # edge cycles still to serve
    EDGE_T,  # time the task is at its holding server, ready to be served (s)
    RES_REM,  # result bits still to download
    RES_T,  # time the result is ready at the serving RSU (s)
    REM_DONE,  # edge path done: result delivered (s)
    ACC,  # QoS cost charged so far (unweighted, in deadlines, <= cap)
    LATE,  # 1 once counted as a violation
) = range(16)
N_COLS = 16


def new_rows(
    g: np.ndarray,
    typ: np.ndarray,
    t_arr: np.ndarray,
    cycles: np.ndarray,
    w: np.ndarray,
    size_bytes: np.ndarray,
    result_ratio: np.ndarray,
) -> np.ndarray:
    """Rows of newly arrived tasks; ``w`` is each task's offloaded fraction (0 in a gap)."""
    xp = xp_of(g, t_arr, cycles, w)
    rows = xp.empty((g.shape[0], N_COLS))
    offload = w > 0.0
    in_bits = 8.0 * size_bytes * w
    rows[:, G] = g
    rows[:, TYP] = typ
    rows[:, T_ARR] = t_arr
    rows[:, LOC_REM] = cycles * (1.0 - w)
    rows[:, LOC_DONE] = xp.where(w < 1.0, INF, t_arr)
    rows[:, IN_BITS] = in_bits
    rows[:, UP_REM] = in_bits
    rows[:, UPF_T] = -INF
    rows[:, EDGE_W0] = cycles * w
    rows[:, EDGE_REM] = cycles * w
    rows[:, EDGE_T] = xp.where(offload, INF, t_arr)
    rows[:, RES_REM] = xp.asarray(result_ratio)[typ] * in_bits
    rows[:, RES_T] = xp.where(offload, INF, t_arr)
    rows[:, REM_DONE] = xp.where(offload, INF, t_arr)
    rows[:, ACC] = 0.0
    rows[:, LATE] = 0.0
    return rows
