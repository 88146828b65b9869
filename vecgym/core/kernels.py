"""Numba fast paths of the engine's hot spots (the CPU fast path of DESIGN: "a numba kernel for the
per-task queue phases ... tested against the array-namespace reference").

The numpy code (``rng``, ``fifo``, ``phases``, ``arrivals``, ``radio.map_shadowing_db``,
``Engine._arrive``, ``Engine._settle`` with ``_record``, ``simulator.backlogs``) stays the reference;
``Engine(kernels="numba")`` calls these instead (``backend.select``), and every one computes the same
numbers, tested against its reference in ``tests/test_kernels.py``:

* **Random numbers** (``hash_key``, ``uniform``, ``normal``, ``poisson``): bit-identical. The
  SplitMix64 hash and the uniforms are integer arithmetic. ``normal`` hashes in numba but takes its
  logarithm and cosine from numpy (numpy's SIMD ``log`` and libm's differ in the last bit for ~0.3%
  of arguments, and Box–Muller must not). ``poisson`` inverts in numba from numpy's ``exp(-λ)``;
  its further cdf terms are not numpy's bits (a recurrence, or libm's ``exp``), so a draw whose
  uniform lies within 1e-9 of a partial cdf sum (~1e-9 of draws) is redrawn with the reference:
  the counts are the reference's.
* **FIFO queues** (``fifo_slot`` and the queue phases ``local_phase``, ``uplink_phase``,
  ``edge_phase``, ``downloading``, ``downlink_phase``): the reference's stable sort by (queue,
  order) and its unrolled Lindley form ``c_i = W_i/r + max(c_0, max_j (a_j - (W_j - w_j)/r))``
  evaluated with the same floating-point operations in the same order (a sequential running sum
  and maximum, as ``ufunc.accumulate``), so the results are identical. The tests allow 1e-12
  relative: what the recursion ``c_i = max(a_i, c_{i-1}) + w_i/r`` would need, should a later
  change of either side switch to it.
* **Arrivals** (``draw_arrivals``, ``arrive``): counts, times and sizes, then the reference's
  keep / sort / split / append, each in one pass. **Settle** (``settle``): ``Engine._settle`` and
  ``Engine._record`` in one pass (per-road sums accumulated in row order, as ``np.bincount``).
  ``backlogs``, ``rows_per_vehicle``, ``map_shadowing_db``: one pass each.
* The traffic, fading, activity and radio-map functions are the reference's own code, run with the
  random numbers above bound in place of ``rng``'s (``_with_fast_rng``): one source.

Unlike the reference, ``arrive`` and ``settle`` keep ``engine.tasks`` as the head of a buffer with
spare rows, appended to and compacted in place (the same rows in the same order): an array taken
from ``engine.tasks`` before a step is not a snapshot of it afterwards (copy it). While
``engine.trace`` is set the engine runs its own ``_arrive`` and ``_settle`` (they record the trace).

Importing this module needs numba (``pip install numba``, or the ``fast`` extra). Each kernel is
compiled on first use and cached on disk next to this file (about 10 s once; ``warm_up()``).
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np

try:
    import numba
    from numba import guvectorize, njit, vectorize
except ImportError as exc:  # pragma: no cover - exercised without numba only
    raise ImportError(
        "vecgym's numba kernels need numba: pip install numba (or pip install 'vecgym[fast]')"
    ) from exc

from . import arrivals, radio, taskcols, traffic
from .arrivals import NewTasks
from .backend import KernelTable
from .rng import Stream

# Compile-time constants (numba freezes globals into the cached machine code, and the on-disk
# cache only watches this file): copies, checked against their sources at import.
_C_G, _C_TYP, _C_T_ARR, _C_LOC_REM, _C_LOC_DONE, _C_IN_BITS, _C_UP_REM, _C_UPF_T = 0, 1, 2, 3, 4, 5, 6, 7
_C_EDGE_W0, _C_EDGE_REM, _C_EDGE_T, _C_RES_REM, _C_RES_T, _C_REM_DONE, _C_ACC, _C_LATE = 8, 9, 10, 11, 12, 13, 14, 15
_N_COLS = 16
_MAX_PER_TYPE = 1 << 20
_ARRIVAL_COUNT, _ARRIVAL_TIME, _ARRIVAL_SIZE = 9, 10, 11
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_POISSON_GUARD = 1e-9
_TWO_M53 = 2.0**-53

if (
    (taskcols.G, taskcols.TYP, taskcols.T_ARR, taskcols.LOC_REM, taskcols.LOC_DONE, taskcols.IN_BITS,
     taskcols.UP_REM, taskcols.UPF_T, taskcols.EDGE_W0, taskcols.EDGE_REM, taskcols.EDGE_T, taskcols.RES_REM,
     taskcols.RES_T, taskcols.REM_DONE, taskcols.ACC, taskcols.LATE, taskcols.N_COLS)
    != (*range(16), 16)
    or arrivals.MAX_PER_TYPE != _MAX_PER_TYPE
    or (Stream.ARRIVAL_COUNT, Stream.ARRIVAL_TIME, Stream.ARRIVAL_SIZE) != (9, 10, 11)
):  # pragma: no cover - a guard for whoever changes the table layout (loud: not an ImportError,
    # which would send kernels="auto" quietly to numpy)
    raise RuntimeError("vecgym.core.kernels is out of date with taskcols / arrivals / rng: update its constants")

INF = np.inf
NUMBA_VERSION = numba.__version__


# =============================================================================================
# Counter-based random numbers (rng.py)
# =============================================================================================
@njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _absorb(h, f):
    return _mix(h ^ (np.uint64(f) * np.uint64(_GOLDEN) + np.uint64(_GOLDEN)))


@njit(cache=True, inline="always")
def _hash5(a, b, c, d, e):
    h = np.uint64(0)
    h = _absorb(h, a)
    h = _absorb(h, b)
    h = _absorb(h, c)
    h = _absorb(h, d)
    return _absorb(h, e)


@njit(cache=True, inline="always")
def _unit(h):
    return (np.float64(h >> np.uint64(11)) + 0.5) * _TWO_M53


@njit(cache=True, inline="always")
def _u5(a, b, c, d, e):
    return _unit(_hash5(a, b, c, d, e))


_I5 = "(int64, int64, int64, int64, int64)"


@vectorize(["uint64" + _I5], cache=True)
def _hash5_ufunc(a, b, c, d, e):
    return _hash5(a, b, c, d, e)


@vectorize(["float64" + _I5], cache=True)
def _uniform5_ufunc(a, b, c, d, e):
    return _unit(_hash5(a, b, c, d, e))


@guvectorize(["void" + _I5[:-1] + ", float64[:], float64[:])"], "(),(),(),(),()->(),()", cache=True)
def _box_muller_uniforms5(a, b, c, d, e, u1, u2):
    """The two uniforms of ``rng.normal``'s Box–Muller: from the hash h and from mix(h ^ M2)."""
    h = _hash5(a, b, c, d, e)
    u1[0] = _unit(h)
    u2[0] = _unit(_mix(h ^ np.uint64(_M2)))


@njit(cache=True)
def _hash_rows(words):
    """Hash of each column of ``words`` (n_fields, n) int64."""
    n_fields, n = words.shape
    out = np.empty(n, dtype=np.uint64)
    for j in range(n):
        h = np.uint64(0)
        for i in range(n_fields):
            h = _absorb(h, words[i, j])
        out[j] = h
    return out


def _as_words(fields: tuple) -> list[np.ndarray]:
    return [np.asarray(f).astype(np.int64) for f in fields]


def _call5(ufunc: Any, fields: tuple) -> np.ndarray:
    """A 5-field ufunc on the fields as given (ints, int64 arrays); other dtypes are converted as
    ``rng.hash_key`` converts them (through int64)."""
    try:
        out = ufunc(*fields)
    except TypeError:
        out = ufunc(*_as_words(fields))
    return np.atleast_1d(out)


_HASH5 = _hash5_ufunc.ufunc
_UNIFORM5 = _uniform5_ufunc.ufunc
_BOX_MULLER5 = _box_muller_uniforms5.ufunc if hasattr(_box_muller_uniforms5, "ufunc") else _box_muller_uniforms5


def hash_key(*fields: np.ndarray | int) -> np.ndarray:
    """``rng.hash_key`` (bit-identical)."""
    if len(fields) == 5:
        return _call5(_HASH5, fields)
    words = _as_words(fields)
    if not words:
        return np.zeros(1, dtype=np.uint64)
    b = np.broadcast_arrays(*words)
    return np.atleast_1d(_hash_rows(np.stack([w.ravel() for w in b])).reshape(b[0].shape))


def _unit_np(h: np.ndarray) -> np.ndarray:
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def uniform(*fields: np.ndarray | int) -> np.ndarray:
    """``rng.uniform`` (bit-identical)."""
    if len(fields) == 5:
        return _call5(_UNIFORM5, fields)
    return _unit_np(hash_key(*fields))


def normal(*fields: np.ndarray | int) -> np.ndarray:
    """``rng.normal`` (bit-identical): the two uniforms from numba, Box–Muller in numpy."""
    if len(fields) == 5:
        try:
            u1, u2 = _BOX_MULLER5(*fields)
        except TypeError:
            u1, u2 = _BOX_MULLER5(*_as_words(fields))
        u1, u2 = np.atleast_1d(u1), np.atleast_1d(u2)
    else:
        h = hash_key(*fields)
        with np.errstate(over="ignore"):
            h2 = _mix_np(h ^ np.uint64(_M2))
        u1, u2 = _unit_np(h), _unit_np(h2)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _mix_np(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _poisson_one(lam, u, cdf0, log_lam, log_k):
    """One inversion draw as ``rng.poisson`` makes it: (count, status).

    ``cdf0`` is numpy's exp(-λ), so the first comparison is the reference's own. The further terms
    are not numpy's bits: λ^k e^-λ / k! by the recurrence p·λ/k for λ <= 50 (no exp), else libm's
    exp of the reference's log-space sum. Their sum differs from the reference's by far less than
    ``_POISSON_GUARD``; a uniform that close to a partial sum gets status 1 (the caller redraws it
    with the reference), and a count past the ``log_k`` table status 2 (likewise).
    """
    if not (u > cdf0 and lam > 0.0):
        return 0, 0
    status = 0
    stop = lam + 40.0 * np.sqrt(lam) + 40.0
    cdf = cdf0
    k = 0
    if lam <= 50.0:
        p = cdf0
        while True:
            k += 1
            p = p * lam / k
            cdf += p
            if abs(u - cdf) <= _POISSON_GUARD:
                status = 1
            if not (u > cdf and k < stop):
                return k, status
    log_p = -lam
    while True:
        k += 1
        if k >= log_k.shape[0]:
            return k, 2
        log_p += log_lam - log_k[k]
        cdf += np.exp(log_p)
        if abs(u - cdf) <= _POISSON_GUARD:
            status = 1
        if not (u > cdf and k < stop):
            return k, status


@njit(cache=True)
def _poisson_flat(lam, u, cdf0, log_lam, log_k):
    n = u.shape[0]
    out = np.empty(n, dtype=np.int64)
    redo = np.zeros(n, dtype=np.bool_)
    n_redo = 0
    for i in range(n):
        k, status = _poisson_one(lam[i], u[i], cdf0[i], log_lam[i], log_k)
        out[i] = k
        if status:
            redo[i] = True
            n_redo += 1
    return out, redo, n_redo


_LOG_K = [np.log(np.maximum(np.arange(1024, dtype=np.float64), 1.0))]


def _log_k_table() -> np.ndarray:
    """numpy's log(k), k = 0, 1, ... (entry 0 unused); grown by ``_grow_log_k``."""
    return _LOG_K[0]


def _grow_log_k(lam: np.ndarray) -> np.ndarray:
    top = float(np.max(lam + 40.0 * np.sqrt(lam) + 40.0, initial=40.0))
    n = max(int(np.ceil(top)) + 2, 2 * _LOG_K[0].shape[0])
    _LOG_K[0] = np.log(np.maximum(np.arange(n, dtype=np.float64), 1.0))
    return _LOG_K[0]


def _redo(out: np.ndarray, redo: np.ndarray, lam_f: np.ndarray, u_f: np.ndarray) -> None:
    """Draws the kernel could not settle exactly (``_poisson_one``'s status): with the reference."""
    from .rng import poisson as poisson_ref

    out[redo] = poisson_ref(lam_f[redo], u_f[redo])


def poisson(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``rng.poisson`` (bit-identical; see the module docstring for the guard)."""
    shape = np.shape(u)
    lam_f = np.ascontiguousarray(np.broadcast_to(np.asarray(lam, dtype=np.float64), shape)).ravel()
    u_f = np.ascontiguousarray(u, dtype=np.float64).ravel()
    cdf0 = np.exp(-lam_f)
    log_lam = np.log(np.where(lam_f > 0.0, lam_f, 1.0))
    out, redo, n_redo = _poisson_flat(lam_f, u_f, cdf0, log_lam, _log_k_table())
    if n_redo:
        _grow_log_k(lam_f[redo])
        _redo(out, redo, lam_f, u_f)
    return out.reshape(shape)


# =============================================================================================
# FIFO queues (fifo.py / queues.py)
# =============================================================================================
@njit(cache=True, inline="always")
def _gt(a, b):
    """a sorts after b (NaN after everything, as numpy's sorts order them)."""
    return a > b or (a != a and b == b)


@njit(cache=True, inline="always")
def _nmax(a, b):
    """np.maximum of two floats (NaN propagates)."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


@njit(cache=True, inline="always")
def _nmin(a, b):
    """np.minimum of two floats (NaN propagates)."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


@njit(cache=True)
def _sort_segment(perm, order, lo, hi):
    """Stable sort of perm[lo:hi] by order[perm]: insertion sort (the rows are nearly always in
    order already), falling back to a merge sort when it would go quadratic."""
    moves = 0
    limit = 8 * (hi - lo) + 64
    for i in range(lo + 1, hi):
        p = perm[i]
        key = order[p]
        j = i - 1
        while j >= lo and _gt(order[perm[j]], key):
            perm[j + 1] = perm[j]
            j -= 1
            moves += 1
        perm[j + 1] = p
        if moves > limit:
            seg = perm[lo:hi].copy()
            keys = np.empty(hi - lo)
            for s in range(hi - lo):
                keys[s] = order[seg[s]]
            o = np.argsort(keys, kind="mergesort")
            for s in range(hi - lo):
                perm[lo + s] = seg[o[s]]
            return


@njit(cache=True)
def _stable_perm(queue, order, n_q):
    """``np.lexsort((order, queue))`` for queues in [0, n_q): a counting sort by queue (stable),
    then a stable sort by ``order`` inside the queues whose items came out of order. Returns
    (perm, bounds): queue q's items are perm[bounds[q]:bounds[q+1]]."""
    m = queue.shape[0]
    bounds = np.zeros(n_q + 1, dtype=np.int64)
    for i in range(m):
        q = queue[i]
        if q < 0 or q >= n_q:
            raise IndexError("a queue index is outside [0, number of queues)")
        bounds[q + 1] += 1
    for q in range(n_q):
        bounds[q + 1] += bounds[q]
    fill = bounds[:n_q].copy()
    last = np.empty(n_q)
    unsorted = np.zeros(n_q, dtype=np.bool_)
    perm = np.empty(m, dtype=np.int64)
    n_unsorted = 0
    for i in range(m):
        q = queue[i]
        if fill[q] > bounds[q] and _gt(last[q], order[i]) and not unsorted[q]:
            unsorted[q] = True
            n_unsorted += 1
        last[q] = order[i]
        perm[fill[q]] = i
        fill[q] += 1
    if n_unsorted:
        for q in range(n_q):
            if unsorted[q]:
                _sort_segment(perm, order, bounds[q], bounds[q + 1])
    return perm, bounds


@njit(cache=True)
def _fifo_core(queue, order, arrival, work, rate, t0, horizon):
    """``fifo.fifo_slot`` on contiguous arrays: the reference's stable sort by (queue, order), then
    each queue's Lindley scan with the reference's operations in the reference's order."""
    m = queue.shape[0]
    n_q = rate.shape[0]
    done = np.empty(m)
    left = np.empty(m)
    if m == 0:
        return done, left
    perm, bounds = _stable_perm(queue, order, n_q)
    for q in range(n_q):
        lo = bounds[q]
        hi = bounds[q + 1]
        if hi == lo:
            continue
        r = rate[q]
        if r > 0.0:
            w_cum = 0.0
            x_max = -INF
            free_at = t0[q]
            for s in range(lo, hi):
                i = perm[s]
                w = work[i]
                w_cum = w_cum + w if s > lo else w
                x_max = _nmax(x_max, arrival[i] - (w_cum - w) / r)
                d = _nmax(x_max, free_at) + w_cum / r
                done[i] = d
                late = d - horizon[i]
                if late < 0.0:
                    late = 0.0
                left[i] = _nmin(late * r, w)
        else:
            for s in range(lo, hi):
                i = perm[s]
                done[i] = INF
                left[i] = work[i]
    return done, left


def fifo_slot(
    queue: np.ndarray, order: np.ndarray, arrival_s: np.ndarray, work: np.ndarray, rate: np.ndarray,
    t0_s: np.ndarray, horizon_s: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``fifo.fifo_slot`` (identical results; see the module docstring)."""
    c = np.ascontiguousarray
    f = np.float64
    return _fifo_core(
        c(queue, dtype=np.int64), c(order, dtype=f), c(arrival_s, dtype=f), c(work, dtype=f), c(rate, dtype=f),
        c(t0_s, dtype=f), c(horizon_s, dtype=f),
    )


# ---------------------------------------------------------------------------------------------
# The queue phases (phases.py): one pass over the table gathers a phase's tasks, then the FIFO,
# then the results are written back and summed per queue (in row order, as np.bincount sums).
@njit(cache=True)
def _gather_by_vehicle(tasks, col, t0_g, horizon_g):
    """The rows whose column ``col`` holds work, as one FIFO per vehicle in arrival order:
    (idx, queue, order, arrival, work, horizon, m), the first m entries valid."""
    n = tasks.shape[0]
    idx = np.empty(n, dtype=np.int64)
    q = np.empty(n, dtype=np.int64)
    order = np.empty(n)
    arrival = np.empty(n)
    work = np.empty(n)
    horizon = np.empty(n)
    m = 0
    for i in range(n):
        rem = tasks[i, col]
        if rem > 0.0:
            g = int(tasks[i, _C_G])
            t_arr = tasks[i, _C_T_ARR]
            idx[m] = i
            q[m] = g
            order[m] = t_arr
            arrival[m] = _nmax(t_arr, t0_g[g])
            work[m] = rem
            horizon[m] = horizon_g[g]
            m += 1
    return idx, q, order, arrival, work, horizon, m


@njit(cache=True)
def _local_phase(tasks, t0_g, horizon_g, cpu_hz):
    n_g = t0_g.shape[0]
    idx, q, order, arrival, work, horizon, m = _gather_by_vehicle(tasks, _C_LOC_REM, t0_g, horizon_g)
    rate = np.full(n_g, cpu_hz)
    done, left = _fifo_core(q[:m], order[:m], arrival[:m], work[:m], rate, t0_g, horizon[:m])
    served = np.zeros(n_g)
    for j in range(m):
        i = idx[j]
        tasks[i, _C_LOC_REM] = left[j]
        tasks[i, _C_LOC_DONE] = done[j] if left[j] == 0.0 else INF
        served[q[j]] += work[j] - left[j]
    return served


@njit(cache=True)
def _uplink_phase(tasks, t0_g, tcut_g, rate_bps):
    n_g = t0_g.shape[0]
    idx, q, order, arrival, work, horizon, m = _gather_by_vehicle(tasks, _C_UP_REM, t0_g, tcut_g)
    done, left = _fifo_core(q[:m], order[:m], arrival[:m], work[:m], rate_bps, t0_g, horizon[:m])
    sent = np.zeros(n_g)
    for j in range(m):
        i = idx[j]
        tasks[i, _C_UP_REM] = left[j]
        if left[j] == 0.0:
            tasks[i, _C_EDGE_T] = _nmax(done[j], tasks[i, _C_UPF_T])
        sent[q[j]] += work[j] - left[j]
    return sent


@njit(cache=True)
def _edge_phase(tasks, t0_g, t1_g, tcut_g, rate_q, n_types):
    n = tasks.shape[0]
    n_g = t0_g.shape[0]
    idx = np.empty(n, dtype=np.int64)
    q = np.empty(n, dtype=np.int64)
    order = np.empty(n)
    arrival = np.empty(n)
    work = np.empty(n)
    horizon = np.empty(n)
    m = 0
    for i in range(n):
        rem = tasks[i, _C_EDGE_REM]
        if tasks[i, _C_UP_REM] == 0.0 and rem > 0.0:
            g = int(tasks[i, _C_G])
            at = tasks[i, _C_EDGE_T]
            if at < t1_g[g]:
                idx[m] = i
                q[m] = g * n_types + int(tasks[i, _C_TYP])
                order[m] = at
                arrival[m] = _nmax(at, t0_g[g])
                work[m] = rem
                horizon[m] = tcut_g[g]
                m += 1
    n_q = rate_q.shape[0]
    t0_q = np.empty(n_q)
    for g in range(n_g):
        for k in range(n_types):
            t0_q[g * n_types + k] = t0_g[g]
    done, left = _fifo_core(q[:m], order[:m], arrival[:m], work[:m], rate_q, t0_q, horizon[:m])
    served = np.zeros(n_q)
    for j in range(m):
        i = idx[j]
        tasks[i, _C_EDGE_REM] = left[j]
        if left[j] == 0.0:
            tasks[i, _C_RES_T] = done[j]
        served[q[j]] += work[j] - left[j]
    return served


@njit(cache=True)
def _downloading(tasks, t1_g):
    n = tasks.shape[0]
    idx = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        if tasks[i, _C_EDGE_W0] > 0.0 and tasks[i, _C_EDGE_REM] == 0.0 and tasks[i, _C_REM_DONE] == INF:
            if tasks[i, _C_RES_T] < t1_g[int(tasks[i, _C_G])]:
                idx[m] = i
                m += 1
    return idx[:m].copy()


@njit(cache=True)
def _downlink_phase(tasks, idx, t0_g, tcut_g, rate_bps):
    m = idx.shape[0]
    n_g = t0_g.shape[0]
    q = np.empty(m, dtype=np.int64)
    order = np.empty(m)
    arrival = np.empty(m)
    work = np.empty(m)
    horizon = np.empty(m)
    for j in range(m):
        i = idx[j]
        g = int(tasks[i, _C_G])
        q[j] = g
        order[j] = tasks[i, _C_RES_T]
        arrival[j] = _nmax(tasks[i, _C_RES_T], t0_g[g])
        work[j] = tasks[i, _C_RES_REM]
        horizon[j] = tcut_g[g]
    done, left = _fifo_core(q, order, arrival, work, rate_bps, t0_g, horizon)
    got = np.zeros(n_g)
    for j in range(m):
        i = idx[j]
        tasks[i, _C_RES_REM] = left[j]
        d = done[j]
        if math.isfinite(d) and d <= horizon[j]:
            tasks[i, _C_REM_DONE] = d
        got[q[j]] += work[j] - left[j]
    return got


@njit(cache=True)
def _rows_per_queue(tasks, col, n_g):
    """Rows per vehicle slot with ``tasks[:, col] > 0`` (col < 0: every row)."""
    out = np.zeros(n_g, dtype=np.int64)
    for i in range(tasks.shape[0]):
        if col < 0 or tasks[i, col] > 0.0:
            out[int(tasks[i, _C_G])] += 1
    return out


@njit(cache=True)
def _backlogs(tasks, n_g, n_types):
    """Per vehicle slot: local cycles, upload bits, result bits; per (slot, type): edge cycles
    (each summed in row order, as np.bincount sums)."""
    per_g = np.zeros((3, n_g))
    edge = np.zeros(n_g * n_types)
    for i in range(tasks.shape[0]):
        g = int(tasks[i, _C_G])
        per_g[0, g] += tasks[i, _C_LOC_REM]
        per_g[1, g] += tasks[i, _C_UP_REM]
        per_g[2, g] += tasks[i, _C_RES_REM]
        edge[g * n_types + int(tasks[i, _C_TYP])] += tasks[i, _C_EDGE_REM]
    return per_g, edge


def backlogs(engine: Any) -> dict[str, np.ndarray]:
    """``vecgym.simulator.backlogs`` (identical results) in one pass over the task table."""
    B, M, K = engine.B, engine.M, engine.K
    tasks = engine.tasks if engine.tasks.flags.c_contiguous else np.ascontiguousarray(engine.tasks)
    per_g, edge = _backlogs(tasks, B * M, K)
    return {
        "local_cycles": per_g[0].reshape(B, M),
        "upload_bits": per_g[1].reshape(B, M),
        "edge_cycles": edge.reshape(B, M, K),
        "result_bits": per_g[2].reshape(B, M),
    }


def rows_per_vehicle(tasks: np.ndarray, col: int, n_g: int) -> np.ndarray:
    """``np.bincount(tasks[tasks[:, col] > 0, G].astype(np.intp), minlength=n_g)``."""
    return _rows_per_queue(tasks, int(col), int(n_g))


def _f64(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def local_phase(tasks: np.ndarray, t0_g: np.ndarray, horizon_g: np.ndarray, cpu_hz: float) -> np.ndarray:
    """``phases.local_phase`` (identical results)."""
    return _local_phase(tasks, _f64(t0_g), _f64(horizon_g), float(cpu_hz))


def uplink_phase(tasks: np.ndarray, t0_g: np.ndarray, tcut_g: np.ndarray, rate_bps: np.ndarray) -> np.ndarray:
    """``phases.uplink_phase`` (identical results)."""
    return _uplink_phase(tasks, _f64(t0_g), _f64(tcut_g), _f64(rate_bps))


def edge_phase(
    tasks: np.ndarray, t0_g: np.ndarray, t1_g: np.ndarray, tcut_g: np.ndarray, rate_q: np.ndarray, n_types: int
) -> np.ndarray:
    """``phases.edge_phase`` (identical results)."""
    return _edge_phase(tasks, _f64(t0_g), _f64(t1_g), _f64(tcut_g), _f64(rate_q), int(n_types))


def downloading(tasks: np.ndarray, t1_g: np.ndarray) -> np.ndarray:
    """``phases.downloading`` (identical results)."""
    return _downloading(tasks, _f64(t1_g))


def downlink_phase(
    tasks: np.ndarray, idx: np.ndarray, t0_g: np.ndarray, tcut_g: np.ndarray, rate_bps: np.ndarray
) -> np.ndarray:
    """``phases.downlink_phase`` (identical results)."""
    return _downlink_phase(tasks, np.ascontiguousarray(idx, dtype=np.int64), _f64(t0_g), _f64(tcut_g), _f64(rate_bps))


# =============================================================================================
# Radio map lookup (radio.map_shadowing_db)
# =============================================================================================
@njit(cache=True)
def _map_shadowing(radio_map, road, server, lane, x_m, grid_m):
    n = x_m.shape[0]
    n_grid = radio_map.shape[3]
    out = np.empty(n)
    for j in range(n):
        pos = (x_m[j] / grid_m) + 1.0
        i0 = int(np.floor(pos))
        i0 = min(max(i0, 0), n_grid - 2)
        frac = _nmin(_nmax(pos - i0, 0.0), 1.0)
        lo = radio_map[road[j], server[j], lane[j], i0]
        hi = radio_map[road[j], server[j], lane[j], i0 + 1]
        out[j] = lo + frac * (hi - lo)
    return out


def map_shadowing_db(
    radio_map: np.ndarray, road: np.ndarray, server: np.ndarray, lane: np.ndarray, x_m: np.ndarray, cfg: Any
) -> np.ndarray:
    """``radio.map_shadowing_db`` (identical results), without gathering whole map rows."""
    i64 = np.int64
    c = np.ascontiguousarray
    return _map_shadowing(
        c(radio_map, dtype=np.float64), c(road, dtype=i64).ravel(), c(server, dtype=i64).ravel(),
        c(lane, dtype=i64).ravel(), _f64(x_m).ravel(), float(cfg.radio_map_grid_m),
    ).reshape(np.shape(x_m))


# =============================================================================================
# Arrivals (arrivals.draw_arrivals)
# =============================================================================================
@njit(cache=True, inline="always")
def _prefix4(a, b, c, d):
    """The hash state after four fields (``_hash5`` = ``_absorb(_prefix4(a, b, c, d), e)``)."""
    return _absorb(_absorb(_absorb(_absorb(np.uint64(0), a), b), c), d)


@njit(cache=True)
def _arrival_counts(lam, seed, slot, vid, cdf0, log_lam, log_k):
    B, M, K = lam.shape
    counts = np.empty(B * M * K, dtype=np.int64)
    u_out = np.empty(B * M * K)
    redo = np.zeros(B * M * K, dtype=np.bool_)
    n_redo = 0
    j = 0
    for b in range(B):
        for n in range(M):
            h4 = _prefix4(seed[b], slot[b], _ARRIVAL_COUNT, vid[b, n])
            for k in range(K):
                u = _unit(_absorb(h4, k))
                u_out[j] = u
                c, status = _poisson_one(lam[b, n, k], u, cdf0[j], log_lam[j], log_k)
                counts[j] = c
                if status:
                    redo[j] = True
                    n_redo += 1
                j += 1
    return counts, u_out, redo, n_redo


@njit(cache=True)
def _expand_arrivals(counts, seed, slot, vid, t0_s, size_min, size_max, slot_s, M, K):
    total = 0
    for j in range(counts.shape[0]):
        total += counts[j]
    g_out = np.empty(total, dtype=np.int64)
    typ_out = np.empty(total, dtype=np.int64)
    t_out = np.empty(total)
    size_out = np.empty(total)
    vid_f = vid.ravel()
    t = 0
    for g in range(counts.shape[0] // K):
        road = g // M
        h_time = np.uint64(0)
        h_size = np.uint64(0)
        have = False
        for k in range(K):
            c = counts[g * K + k]
            if c == 0:
                continue
            if not have:
                h_time = _prefix4(seed[road], slot[road], _ARRIVAL_TIME, vid_f[g])
                h_size = _prefix4(seed[road], slot[road], _ARRIVAL_SIZE, vid_f[g])
                have = True
            for i in range(c):
                key = k * _MAX_PER_TYPE + i
                g_out[t] = g
                typ_out[t] = k
                t_out[t] = t0_s[road] + slot_s * _unit(_absorb(h_time, key))
                size_out[t] = size_min[k] + (size_max[k] - size_min[k]) * _unit(_absorb(h_size, key))
                t += 1
    return g_out, typ_out, t_out, size_out


def draw_arrivals(
    lam: np.ndarray, seed: np.ndarray, slot: np.ndarray, vid: np.ndarray, t0_s: np.ndarray, types: Any,
    slot_s: float,
) -> NewTasks:
    """``arrivals.draw_arrivals`` (bit-identical)."""
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    seed = np.ascontiguousarray(seed, dtype=np.int64)
    slot = np.ascontiguousarray(slot, dtype=np.int64)
    vid = np.ascontiguousarray(vid, dtype=np.int64)
    lam_f = lam.ravel()
    cdf0 = np.exp(-lam_f)
    log_lam = np.log(np.where(lam_f > 0.0, lam_f, 1.0))
    counts, u, redo, n_redo = _arrival_counts(lam, seed, slot, vid, cdf0, log_lam, _log_k_table())
    if n_redo:
        _grow_log_k(lam_f[redo])
        _redo(counts, redo, lam_f, u)
    g, typ, t_arr, size = _expand_arrivals(
        counts, seed, slot, vid, _f64(t0_s), _f64(types.size_min_bytes), _f64(types.size_max_bytes), float(slot_s),
        lam.shape[1], lam.shape[2],
    )
    return NewTasks(g=g, typ=typ, t_arr_s=t_arr, size_bytes=size)


# ---------------------------------------------------------------------------------------------
# Engine._arrive after the draw: keep, sort, split, append (into a table with spare capacity).
@njit(cache=True)
def _arrive_rows(buf, n_old, g_in, typ_in, t_in, size_in, tcut_g, cell_g, w_flat, cpb, result_ratio, B, M, K):
    """Append the new tasks to ``buf[:n_old]`` (capacity permitting; else returns -1) as
    ``Engine._arrive`` builds them (``taskcols.new_rows``); returns (n_rows, bytes per (g, k), per road)."""
    m_in = g_in.shape[0]
    sel = np.empty(m_in, dtype=np.int64)
    m = 0
    for j in range(m_in):
        if t_in[j] < tcut_g[g_in[j]]:
            sel[m] = j
            m += 1
    arr_bytes = np.zeros(B * M * K)
    per_road = np.zeros(B)
    if n_old + m > buf.shape[0]:
        return -1, arr_bytes, per_road
    q = np.empty(m, dtype=np.int64)
    order = np.empty(m)
    for j in range(m):
        q[j] = g_in[sel[j]]
        order[j] = t_in[sel[j]]
    perm, _ = _stable_perm(q, order, B * M)
    r = n_old
    for s in range(m):
        j = sel[perm[s]]
        g = g_in[j]
        typ = typ_in[j]
        t_arr = t_in[j]
        size = size_in[j]
        w = w_flat[g * K + typ] if cell_g[g] >= 0 else 0.0
        cycles = size * cpb[typ]
        in_bits = 8.0 * size * w
        offload = w > 0.0
        buf[r, _C_G] = g
        buf[r, _C_TYP] = typ
        buf[r, _C_T_ARR] = t_arr
        buf[r, _C_LOC_REM] = cycles * (1.0 - w)
        buf[r, _C_LOC_DONE] = INF if w < 1.0 else t_arr
        buf[r, _C_IN_BITS] = in_bits
        buf[r, _C_UP_REM] = in_bits
        buf[r, _C_UPF_T] = -INF
        buf[r, _C_EDGE_W0] = cycles * w
        buf[r, _C_EDGE_REM] = cycles * w
        buf[r, _C_EDGE_T] = INF if offload else t_arr
        buf[r, _C_RES_REM] = result_ratio[typ] * in_bits
        buf[r, _C_RES_T] = INF if offload else t_arr
        buf[r, _C_REM_DONE] = INF if offload else t_arr
        buf[r, _C_ACC] = 0.0
        buf[r, _C_LATE] = 0.0
        arr_bytes[g * K + typ] += size
        per_road[g // M] += 1.0
        r += 1
    return r, arr_bytes, per_road


def _table_with_room(engine: Any, extra: int) -> tuple[np.ndarray, int]:
    """The engine's task table as the head of a buffer with room for ``extra`` more rows."""
    tasks = engine.tasks
    n = tasks.shape[0]
    buf = engine.__dict__.get("_kernel_task_buf")
    if (
        buf is not None and tasks.base is buf and tasks.shape[1] == _N_COLS and n + extra <= buf.shape[0]
        and tasks.__array_interface__["data"][0] == buf.__array_interface__["data"][0]
    ):
        return buf, n
    buf = np.empty((max(64, 2 * (n + extra)), _N_COLS))
    buf[:n] = tasks
    engine._kernel_task_buf = buf
    return buf, n


def arrive(engine: Any, w: np.ndarray, t0: np.ndarray, tcut_g: np.ndarray) -> np.ndarray:
    """``Engine._arrive`` (identical results; the engine keeps its numpy path while tracing)."""
    B, M, K = engine.B, engine.M, engine.K
    new = engine.draw_arrivals(engine.lam, engine.seed, engine.slot, engine.vid, t0, engine.types, engine.cfg.slot_s)
    args = (
        np.ascontiguousarray(new.g, dtype=np.int64), np.ascontiguousarray(new.typ, dtype=np.int64),
        _f64(new.t_arr_s), _f64(new.size_bytes), _f64(tcut_g),
        np.ascontiguousarray(engine.cell, dtype=np.int64).ravel(), _f64(w).ravel(),
        _f64(engine.types.cycles_per_byte), _f64(engine.result_ratio), B, M, K,
    )
    buf, n_old = _table_with_room(engine, args[0].shape[0])
    n, arr_bytes, per_road = _arrive_rows(buf, n_old, *args)
    if n < 0:  # pragma: no cover - _table_with_room made room for every drawn task
        raise RuntimeError("kernels.arrive: the task table has no room for the new tasks")
    engine.tasks = buf[:n]
    engine.last_arrivals_bytes = arr_bytes.reshape(B, M, K)
    return per_road


# =============================================================================================
# Settle (Engine._settle + Engine._record) in one pass
# =============================================================================================
@njit(cache=True)
def _settle_kernel(tasks, exiting_g, t1, deadline_s, deadline_scale, cap, weight_g, vclass_g, B, M, K, C,
                   m_counts, by_class, by_type):
    n = tasks.shape[0]
    qos_cost = np.zeros(B * M)  # per vehicle slot; the road's is their sum
    # completed, failed, dropped, violations, decided per road; latency sum of completed
    cnt = np.zeros((B, 5), dtype=np.int64)
    lat_sum = np.zeros(B)
    # per vehicle slot: resolved, on time, completed, latency sum, violations, decided
    per_g = np.zeros((B * M, 6))
    cls_cnt = np.zeros((B * C, 3), dtype=np.int64)  # completed, violations, decided
    cls_lat = np.zeros(B * C)
    typ_cnt = np.zeros(B * K, dtype=np.int64)
    typ_lat = np.zeros(B * K)
    keep = np.empty(n, dtype=np.bool_)
    road_c = np.empty(n, dtype=np.int64)
    lat_c = np.empty(n)
    n_c = 0
    n_keep = 0
    per_g_cnt = np.zeros((B * M, 5), dtype=np.int64)  # resolved, on time, completed, viol, decided
    road_of = np.empty(B * M, dtype=np.int64)
    for g in range(B * M):
        road_of[g] = g // M
    for i in range(n):
        g = int(tasks[i, _C_G])
        road = road_of[g]
        typ = int(tasks[i, _C_TYP])
        t_arr = tasks[i, _C_T_ARR]
        finish = _nmax(tasks[i, _C_LOC_DONE], tasks[i, _C_REM_DONE])
        completed = math.isfinite(finish)
        failed = (not completed) and exiting_g[g]
        deadline = deadline_s[typ]
        d_eff = deadline * deadline_scale[road]
        age = t1[road] - t_arr
        dropped = (not completed) and (not failed) and age >= cap * d_eff * (1.0 - 1e-12)
        lat = finish - t_arr
        if completed:
            acc = _nmin(lat / d_eff, cap)
        else:
            acc = _nmin(age / d_eff, cap)
        if failed or dropped:
            acc = cap
        acc_old = tasks[i, _C_ACC]
        acc = _nmax(acc, acc_old)
        qos_cost[g] += weight_g[g] * (acc - acc_old)
        tasks[i, _C_ACC] = acc
        fresh = tasks[i, _C_LATE] == 0.0
        resolved = completed or failed or dropped
        on_time = completed and lat <= deadline
        late_now = (not resolved) and fresh and age > deadline
        viol = fresh and ((resolved and not on_time) or late_now)
        decided = fresh and (resolved or late_now)
        if late_now:
            tasks[i, _C_LATE] = 1.0
        cls = vclass_g[g]
        rc = road * C + cls
        rt = road * K + typ
        if completed:
            cnt[road, 0] += 1
            lat_sum[road] += lat
            road_c[n_c] = road
            lat_c[n_c] = lat
            n_c += 1
            cls_cnt[rc, 0] += 1
            cls_lat[rc] += lat
            typ_cnt[rt] += 1
            typ_lat[rt] += lat
            per_g_cnt[g, 2] += 1
            per_g[g, 3] += lat
        if failed:
            cnt[road, 1] += 1
        if dropped:
            cnt[road, 2] += 1
        if viol:
            cnt[road, 3] += 1
            cls_cnt[rc, 1] += 1
            per_g_cnt[g, 3] += 1
        if decided:
            cnt[road, 4] += 1
            cls_cnt[rc, 2] += 1
            per_g_cnt[g, 4] += 1
        if resolved:
            per_g_cnt[g, 0] += 1
            if on_time:
                per_g_cnt[g, 1] += 1
        keep[i] = not resolved
        if not resolved:
            n_keep += 1
    # Fold into the episode totals as Engine._record does (integer counts added as floats).
    for b in range(B):
        m_counts[b, 3] += cnt[b, 1]
        m_counts[b, 4] += cnt[b, 2]
        m_counts[b, 5] += cnt[b, 3]
        m_counts[b, 6] += cnt[b, 4]
        for c in range(C):
            rc = b * C + c
            by_class[b, c, 0] += cls_cnt[rc, 0]
            by_class[b, c, 1] += cls_lat[rc]
            by_class[b, c, 2] += cls_cnt[rc, 1]
            by_class[b, c, 3] += cls_cnt[rc, 2]
        for k in range(K):
            by_type[b, k, 0] += typ_cnt[b * K + k]
            by_type[b, k, 1] += typ_lat[b * K + k]
    for g in range(B * M):
        per_g[g, 0] = per_g_cnt[g, 0]
        per_g[g, 1] = per_g_cnt[g, 1]
        per_g[g, 2] = per_g_cnt[g, 2]
        per_g[g, 4] = per_g_cnt[g, 3]
        per_g[g, 5] = per_g_cnt[g, 4]
    j = 0
    for i in range(n):  # compact in place: rows only move up
        if keep[i]:
            if j != i:
                for c in range(_N_COLS):
                    tasks[j, c] = tasks[i, c]
            j += 1
    return n_keep, qos_cost, cnt, lat_sum, per_g, road_c[:n_c].copy(), lat_c[:n_c].copy()


def settle(engine: Any, t1: np.ndarray, exiting: np.ndarray) -> dict:
    """``Engine._settle`` with ``Engine._record`` (identical results; no trace: the engine keeps its
    numpy path while ``engine.trace`` is set)."""
    cfg, B, M, K = engine.cfg, engine.B, engine.M, engine.K
    m = engine.metrics
    C = m.by_class.shape[1]
    tasks = engine.tasks
    if not tasks.flags.c_contiguous:
        tasks = np.ascontiguousarray(tasks)
    n_keep, qos_cost, cnt, lat_sum, per_g, road_c, lat_c = _settle_kernel(
        tasks, np.ascontiguousarray(exiting).ravel(), _f64(t1), _f64(engine.types.deadline_s),
        _f64(engine.deadline_scale), float(cfg.qos_cost_cap), _f64(engine.weight).ravel(),
        np.ascontiguousarray(engine.vclass, dtype=np.int64).ravel(), B, M, K, C, m.counts, m.by_class, m.by_type,
    )
    m.add_latencies(road_c, lat_c)
    if m.tracked_vid.shape[1] and (m.tracked_vid != -2).any():
        per = per_g[:, 2:6].reshape(B, M, 4)
        match = (engine.vid[:, :, None] == m.tracked_vid[:, None, :]) & engine.active[:, :, None]
        m.tracked += np.einsum("bmt,bmc->btc", match.astype(np.float64), per)
    engine.tasks = tasks[:n_keep]
    c = cnt.astype(np.float64)
    counts = {
        "tasks_completed": c[:, 0],
        "tasks_failed": c[:, 1],
        "tasks_dropped": c[:, 2],
        "violations": c[:, 3],
        "tasks_decided": c[:, 4],
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        counts["violation_rate"] = np.where(
            counts["tasks_decided"] > 0, counts["violations"] / np.maximum(counts["tasks_decided"], 1), 0.0
        )
        counts["latency_ms_mean"] = np.where(
            counts["tasks_completed"] > 0, 1e3 * lat_sum / np.maximum(counts["tasks_completed"], 1), np.nan
        )
    qos_g = qos_cost.reshape(B, M)
    return {
        "qos_cost": qos_g.sum(axis=1),
        "qos_cost_per_vehicle": qos_g,
        "decided": counts["tasks_decided"],
        "violations": counts["violations"],
        "per_vehicle": per_g[:, :2].reshape(B, M, 2),
        "counts": counts,
    }


# =============================================================================================
# Traffic, fading, activity, radio map: their numpy code with the fast random numbers
# =============================================================================================
def _with_fast_rng(module: types.ModuleType) -> types.SimpleNamespace:
    """The functions of ``module`` re-bound to a copy of its globals where ``uniform``, ``normal``,
    ``poisson`` and ``hash_key`` are the kernels above (and the module's own functions are the
    re-bound ones, so helpers they call draw fast too). One source: the reference code itself."""
    glb = dict(vars(module))
    glb.update(uniform=uniform, normal=normal, poisson=poisson, hash_key=hash_key)
    out = {}
    for name, obj in vars(module).items():
        if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
            f = types.FunctionType(obj.__code__, glb, obj.__name__, obj.__defaults__, obj.__closure__)
            f.__kwdefaults__ = obj.__kwdefaults__
            f.__doc__, f.__qualname__ = obj.__doc__, obj.__qualname__
            glb[name] = out[name] = f
    return types.SimpleNamespace(**out)


_TRAFFIC = _with_fast_rng(traffic)
_RADIO = _with_fast_rng(radio)
_ARRIVALS = _with_fast_rng(arrivals)

#: What ``Engine(kernels="numba")`` calls (``select``).
FAST = KernelTable(
    name="numba",
    fifo_slot=fifo_slot,
    local_phase=local_phase,
    uplink_phase=uplink_phase,
    edge_phase=edge_phase,
    downloading=downloading,
    downlink_phase=downlink_phase,
    rows_per_vehicle=rows_per_vehicle,
    backlogs=backlogs,
    normal=normal,
    draw_arrivals=draw_arrivals,
    settle=settle,
    arrive=arrive,
    initial=_TRAFFIC.initial,
    entries=_TRAFFIC.entries,
    advance=_TRAFFIC.advance,
    fading_draw=_RADIO.fading_draw,
    draw_radio_map=_RADIO.draw_radio_map,
    drift_radio_map=_RADIO.drift_radio_map,
    map_shadowing_db=map_shadowing_db,
    activity_init=_ARRIVALS.activity_init,
    activity_step=_ARRIVALS.activity_step,
)


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel once: a few slots of a small road."""
    from ..config import VECConfig
    from .engine import Engine

    eng = Engine(VECConfig.from_kwargs(preset="corridor", n_vehicles=20.0), 1, kernels="numba")
    eng.reset(np.array([0]))
    w = np.ones((1, eng.M, eng.K))
    for _ in range(3):
        a = np.where(eng.active[..., None] & (eng.holder[..., None] >= 0), 1.0 / (eng.M * eng.K), 0.0)
        eng.step(w * 0.5, a * np.ones(eng.K))
    backlogs(eng)
    fifo_slot(np.zeros(2, np.int64), np.zeros(2), np.zeros(2), np.ones(2), np.ones(1), np.zeros(1), np.ones(2))
    hash_key(0, 1, 2, 3, np.arange(2))
    poisson(np.ones(2), uniform(0, 0, 0, 0, np.arange(2)))
