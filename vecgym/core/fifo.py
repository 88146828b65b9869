"""One slot of many FIFO queues at once, with exact per-task completion times.

Every queue is rebuilt each slot from the work its tasks still hold: a task already queued at the
slot start arrives at t0 with its remaining work, a new one at its own arrival time. Rebuilding
(rather than carrying cumulative counters) is what lets a task be dropped from the middle of a
queue, or migrate to another server, without corrupting the positions of the others.
Inside the slot the rate is constant, so completion times follow the Lindley recursion
(``vecgym.queues.lindley``); a queue of rate 0 completes nothing.
"""

from __future__ import annotations

import numpy as np

from ..queues import lindley
from .xp import xp_of

INF = np.inf


def fifo_slot(
    queue: np.ndarray,
    order: np.ndarray,
    arrival_s: np.ndarray,
    work: np.ndarray,
    rate: np.ndarray,
    t0_s: np.ndarray,
    horizon_s: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Completion times and the work left at the horizon of tasks in FIFO queues.

    Args:
        queue: ``(m,)`` queue index of each task.
        order: ``(m,)`` FIFO rank key inside a queue (smaller is served first).
        arrival_s: ``(m,)`` time each task joins its queue (>= the queue's t0).
        work: ``(m,)`` work each task still needs (cycles or bits), >= 0.
        rate: ``(n_queues,)`` service rate (work/s); 0 serves nothing.
        t0_s: ``(n_queues,)`` slot start of each queue (all its old work arrives then).
        horizon_s: ``(m,)`` time up to which each task's service is counted (slot end, or the
            vehicle's exit; ``inf`` lets a queue run on past the slot).

    Returns:
        ``(done_s, left)``: each task's completion time (``inf`` if its queue has rate 0) and the
        work it still holds at its horizon (its completion may lie beyond the horizon).
    """
    xp = xp_of(queue, work, rate)
    m = queue.shape[0]
    if m == 0:
        return xp.empty(0), xp.empty(0)
    perm = xp.lexsort((order, queue))
    q = queue[perm]
    r = rate[q]
    has_rate = r > 0.0
    done_sorted, _ = lindley(q, arrival_s[perm], work[perm], xp.where(rate > 0.0, rate, 1.0), t0_s)
    done_sorted = xp.where(has_rate, done_sorted, INF)
    done = xp.empty(m)
    done[perm] = done_sorted
    r_task = xp.empty(m)
    r_task[perm] = r
    # Service is contiguous once started: task i is served on [done_i - w_i/r, done_i].
    with xp.errstate(invalid="ignore"):
        left = xp.where(r_task > 0.0, xp.clip(done - horizon_s, 0.0, None) * xp.where(r_task > 0.0, r_task, 0.0), work)
    left = xp.minimum(left, work)
    return done, left
