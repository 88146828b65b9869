"""FIFO queues with exact per-task completion times, vectorised over all queues.

Inside a slot a queue's service rate is constant, so the completion time of its i-th new task is
the Lindley recursion ``c_i = max(a_i, c_{i-1}) + w_i / r`` started from the time ``c_0`` at which
the work already queued is done. Unrolled,
``c_i = W_i / r + max(c_0, max_{j<=i} (a_j - W_{j-1} / r))`` with ``W`` the cumulative work, so
the whole slot is a cumulative sum and a cumulative maximum per queue. The tasks of all queues
are laid out in one (queues × longest) padded matrix and the two scans run along its rows: a
handful of numpy calls per slot instead of a Python loop over tasks or queues.

Work carried across slots is tracked with cumulative counters: a queued task stores the queue's
cumulative arrived work at its end (``pos``), the queue stores its cumulative arrived work and
its backlog, and in a later slot the task completes at ``t0 + (pos - served) / r``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .core.xp import NUMPY, Numpy, Torch, xp_of


def segment_layout(seg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Rows of a padded layout for sorted segment labels ``seg``.

    Returns ``(labels, starts, row, col, width)``: the distinct labels in order, the index where
    each segment starts, each element's row (index into ``labels``) and column (its rank inside
    its segment), and the longest segment's length.
    """
    xp = xp_of(seg)
    m = seg.shape[0]
    first = xp.empty(m, dtype=xp.bool_)
    first[:1] = True
    first[1:] = seg[1:] != seg[:-1]
    starts = xp.flatnonzero(first)
    row = xp.cumsum(first) - 1
    col = xp.arange(m) - starts[row]
    width = int(col.max()) + 1 if m else 0
    return seg[starts], starts, row, col, width


def segment_rows(seg: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(row, col, n_rows, width)`` of ``segment_layout`` for sorted ``seg`` (``m > 0``), with one host
    read (of the two sizes together) and no compaction: ``col`` counts back to the segment's start
    by a running maximum of the start indices. The same integers as ``segment_layout``.
    """
    xp = xp_of(seg)
    m = seg.shape[0]
    first = xp.empty(m, dtype=xp.bool_)
    first[:1] = True
    first[1:] = seg[1:] != seg[:-1]
    row = xp.cumsum(first) - 1
    idx = xp.arange(m)
    col = idx - xp.cummax(xp.where(first, idx, 0))
    n_rows, width = (int(v) + 1 for v in xp.to_numpy(xp.stack([row[-1], col.max()])))
    return row, col, n_rows, width


def lindley(
    seg: np.ndarray,
    arrival_s: np.ndarray,
    work: np.ndarray,
    rate: np.ndarray,
    free_at_s: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Completion times of FIFO tasks within one slot of constant service rates.

    Args:
        seg: ``(m,)`` queue index of each task, sorted ascending; tasks of a queue are in
            arrival order.
        arrival_s: ``(m,)`` arrival time of each task (s).
        work: ``(m,)`` work of each task (cycles or bits), > 0.
        rate: ``(n_queues,)`` service rate of each queue (work/s), > 0 for every queue in ``seg``.
        free_at_s: ``(n_queues,)`` time at which each queue finishes the work already queued.

    Returns:
        ``(completion_s, cum_work)``: each task's completion time and the cumulative work of its
        queue's new tasks up to and including it.
    """
    xp = xp_of(seg, arrival_s, work)
    if seg.shape[0] == 0:
        empty = xp.empty(0)
        return empty, empty
    row, col, n_rows, width = segment_rows(seg)
    # Running sums and maxima restart at every queue: both run down the columns of a padded
    # (longest queue × queues) matrix, one column per queue. (A global cumsum minus offsets would
    # be cheaper but loses precision when a queue of bits follows queues of 1e12 cycles.)
    flat = col * n_rows + row
    w_pad = xp.zeros((width, n_rows))
    w_pad.reshape(-1)[flat] = work
    w_pad = _scan(w_pad, xp, "sum")
    w_cum = w_pad.reshape(-1)[flat]
    r = rate[seg]
    x = xp.full((width, n_rows), -np.inf)
    x.reshape(-1)[flat] = arrival_s - (w_cum - work) / r
    x = _scan(x, xp, "max")
    done = xp.maximum(x.reshape(-1)[flat], free_at_s[seg]) + w_cum / r
    return done, w_cum


def _scan(mat: Any, xp: Numpy | Torch, op: str) -> Any:
    """Running sum (``op="sum"``) or maximum (``"max"``) down the rows of ``mat`` (shape: steps ×
    queues); a numpy ``mat`` is updated in place (and returned).

    numpy's ``ufunc.accumulate`` walks one element at a time (~5 ns each); with many queues a
    loop over the few steps, each a vectorised op across all queues, is several times faster.
    Either way each column is added (or compared) in order, so the bits are the same. torch runs
    ``cumsum`` / ``cummax`` along the rows.
    """
    if xp is not NUMPY:
        return xp.cumsum(mat, axis=0) if op == "sum" else xp.cummax(mat, axis=0)
    ufunc = np.add if op == "sum" else np.maximum
    if mat.shape[1] < 64:
        ufunc.accumulate(mat, axis=0, out=mat)
        return mat
    for i in range(1, mat.shape[0]):
        ufunc(mat[i - 1], mat[i], out=mat[i])
    return mat


def segment_last(seg: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels of the sorted segments ``seg`` and the value of each segment's last element."""
    if seg.shape[0] == 0:
        return seg, values
    xp = xp_of(seg)
    last = xp.empty(seg.shape[0], dtype=xp.bool_)
    last[-1:] = True
    last[:-1] = seg[1:] != seg[:-1]
    return seg[last], values[last]
