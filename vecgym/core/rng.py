"""Counter-based random numbers: every draw is a pure function of its key.

A key is the tuple (seed, time slot, stream, vehicle id, index), hashed with SplitMix64's
finaliser (Steele, Lea & Flood 2014), so a draw does not depend on the batch size B, on which
vehicle slot a vehicle sits in, on the policy, or on the order in which phases ask for numbers.
Road b of a batch seeded s uses the seed s + b, so it reproduces a single road seeded s + b.
Written with plain integer array operations in the array namespace (``vecgym.core.xp``), so numpy
and torch compute the same numbers: the 64-bit words are held as int64 (two's-complement wrap of
``*`` and ``+`` gives the unsigned bits; torch's uint64 cannot shift or add), right shifts are
logical (``xp.srl``), and constants >= 2**63 are written as ``c - 2**64``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np

from .xp import NUMPY, Numpy, Torch, xp_of

# The SplitMix64 constants as int64 words (the same bits as the unsigned constants); numpy scalars,
# which numpy multiplies faster than Python ints and torch takes as plain numbers.
_GOLDEN = np.int64(0x9E3779B97F4A7C15 - 2**64)
_M1 = np.int64(0xBF58476D1CE4E5B9 - 2**64)
_M2 = np.int64(0x94D049BB133111EB - 2**64)
_TWO_M53 = 2.0**-53


class Stream(IntEnum):
    """What a draw is for; each stream is an independent sequence."""

    ROAD_COUNT = 1
    ROAD_INIT = 2
    ENTRY_COUNT = 3
    ENTRY_ATTR = 4
    RAMP_COUNT = 5
    SPEED_CHANGE = 6
    FADING = 7
    ACTIVITY = 8
    ARRIVAL_COUNT = 9
    ARRIVAL_TIME = 10
    ARRIVAL_SIZE = 11
    RADIO_MAP = 12
    RADIO_DRIFT = 13
    OBS_NOISE = 14
    VEHICLE_INIT = 15


def _mix(xp: Numpy | Torch, z: Any) -> Any:
    """SplitMix64 finaliser: a bijective avalanche of 64-bit words (held as int64)."""
    z = (z ^ xp.srl(z, 30)) * _M1
    z = (z ^ xp.srl(z, 27)) * _M2
    return z ^ xp.srl(z, 31)


def _hash(fields: tuple[Any, ...]) -> tuple[Numpy | Torch, Any]:
    """The namespace of ``fields`` and their hash as int64 words, at least 1-D."""
    xp = xp_of(*fields)
    with xp.errstate(over="ignore"):
        h = xp.zeros((), dtype=xp.int64)
        for f in fields:
            word = xp.astype(f, xp.int64)
            h = _mix(xp, h ^ (word * _GOLDEN + _GOLDEN))
        return xp, xp.atleast_1d(h)


def _unit(xp: Numpy | Torch, h: Any) -> Any:
    """U(0, 1) from the top 53 bits of each word, open at both ends."""
    return (xp.astype(xp.srl(h, 11), xp.float64) + 0.5) * _TWO_M53


def hash_key(*fields: np.ndarray | int) -> np.ndarray:
    """64-bit hash of the broadcast integer ``fields`` (negative values wrap, as in C).

    numpy returns uint64 words; torch (which has no usable uint64) the same bits as int64."""
    xp, h = _hash(fields)
    return xp.u64_view(h)


def uniform(*fields: np.ndarray | int) -> np.ndarray:
    """U(0, 1) draws, open at both ends (53-bit resolution), one per broadcast key."""
    xp, h = _hash(fields)
    return _unit(xp, h)


def normal(*fields: np.ndarray | int) -> np.ndarray:
    """N(0, 1) draws by Box–Muller from two uniforms derived from each key."""
    xp, h = _hash(fields)
    with xp.errstate(over="ignore"):
        h2 = _mix(xp, h ^ _M2)
    u1 = _unit(xp, h)
    u2 = _unit(xp, h2)
    return xp.sqrt(-2.0 * xp.log(u1)) * xp.cos(2.0 * np.pi * u2)


def poisson(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Poisson(λ) counts by inversion of the uniforms ``u`` (exact; O(λ) work per draw).

    The probabilities are carried in log space, so λ up to ~1e5 neither underflows nor
    overflows. log(k) is numpy's, a host constant, so numpy and torch add the same numbers. numpy
    updates only the draws not yet settled in each round; torch updates all draws every round and
    keeps the settled ones by ``where`` (the same per-draw arithmetic, so the same counts), with
    one host read per ``_POISSON_CHECK`` rounds (whether any draw is still to settle) instead of a
    boolean compaction per round.
    """
    xp = xp_of(u, lam)
    u = xp.asarray(u, dtype=xp.float64)
    u_f = u.reshape(-1)
    lam_f = xp.broadcast_to(xp.asarray(lam, dtype=xp.float64), tuple(u.shape)).reshape(-1)
    out = xp.zeros(u_f.shape[0], dtype=xp.int64)
    log_p = -lam_f
    cdf = xp.exp(log_p)
    log_lam = xp.log(xp.where(lam_f > 0.0, lam_f, 1.0))
    if xp is not NUMPY:
        return _poisson_masked(xp, u_f, lam_f, log_lam, log_p, cdf, out).reshape(tuple(u.shape))
    todo = xp.flatnonzero((u_f > cdf) & (lam_f > 0.0))
    k = 0
    while todo.shape[0]:
        k += 1
        log_p[todo] += log_lam[todo] - float(np.log(k))
        cdf[todo] += xp.exp(log_p[todo])
        out[todo] = k
        # Rounding can leave the cdf a hair under u near 1: stop far past the mean.
        keep = (u_f[todo] > cdf[todo]) & (k < lam_f[todo] + 40.0 * xp.sqrt(lam_f[todo]) + 40.0)
        todo = todo[keep]
    return out.reshape(tuple(u.shape))


# Rounds of the torch Poisson loop between two host reads of "is any draw still to settle".
_POISSON_CHECK = 8


def _poisson_masked(xp: Numpy | Torch, u_f: Any, lam_f: Any, log_lam: Any, log_p: Any, cdf: Any, out: Any) -> Any:
    """The inversion loop of ``poisson`` at a fixed shape: every draw is computed every round and
    the settled ones keep their cdf and count (``where``), so the rounds past the last one change
    nothing; a draw still to settle adds the same numbers in the same order as numpy's loop.
    """
    todo = (u_f > cdf) & (lam_f > 0.0)
    # The same stop far past the mean as numpy's loop, element by element.
    stop = lam_f + 40.0 * xp.sqrt(lam_f) + 40.0
    k = 0
    while bool(todo.any()):
        for _ in range(_POISSON_CHECK):
            k += 1
            # log_p runs on past a draw's last round unmasked: only the masked cdf and count read it.
            log_p = log_p + (log_lam - float(np.log(k)))
            cdf = xp.where(todo, cdf + xp.exp(log_p), cdf)
            # A draw is to settle in rounds 1..k of its own and never after: counting them gives k.
            out = out + xp.astype(todo, xp.int64)
            todo = todo & (u_f > cdf) & (k < stop)
    return out
