"""Counter-based random numbers: every draw is a pure function of its key.

A key is the tuple (seed, time slot, stream, vehicle id, index), hashed with SplitMix64's
finaliser (Steele, Lea & Flood 2014), so a draw does not depend on the batch size B, on which
vehicle slot a vehicle sits in, on the policy, or on the order in which phases ask for numbers.
Road b of a batch seeded s uses the seed s + b, so it reproduces a single road seeded s + b.
Written with plain integer array operations (xor, shifts, wrapping multiplies) so that another
array namespace (torch) can compute the same numbers.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
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


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a bijective avalanche of 64-bit words."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def hash_key(*fields: np.ndarray | int) -> np.ndarray:
    """64-bit hash of the broadcast integer ``fields`` (negative values wrap, as in C)."""
    with np.errstate(over="ignore"):
        h = np.zeros((), dtype=np.uint64)
        for f in fields:
            word = np.asarray(f).astype(np.int64).astype(np.uint64)
            h = _mix(h ^ (word * _GOLDEN + _GOLDEN))
        return np.atleast_1d(h)


def uniform(*fields: np.ndarray | int) -> np.ndarray:
    """U(0, 1) draws, open at both ends (53-bit resolution), one per broadcast key."""
    h = hash_key(*fields)
    return ((h >> _S11).astype(np.float64) + 0.5) * _TWO_M53


def normal(*fields: np.ndarray | int) -> np.ndarray:
    """N(0, 1) draws by Box–Muller from two uniforms derived from each key."""
    h = hash_key(*fields)
    with np.errstate(over="ignore"):
        h2 = _mix(h ^ _M2)
    u1 = ((h >> _S11).astype(np.float64) + 0.5) * _TWO_M53
    u2 = ((h2 >> _S11).astype(np.float64) + 0.5) * _TWO_M53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def poisson(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Poisson(λ) counts by inversion of the uniforms ``u`` (exact; O(λ) work per draw).

    The probabilities are carried in log space, so λ up to ~1e5 neither underflows nor
    overflows. Only the draws not yet settled take part in each round.
    """
    lam_f = np.broadcast_to(np.asarray(lam, dtype=np.float64), np.shape(u)).ravel()
    u_f = np.asarray(u, dtype=np.float64).ravel()
    out = np.zeros(u_f.shape[0], dtype=np.int64)
    log_p = -lam_f.copy()
    cdf = np.exp(log_p)
    todo = np.flatnonzero((u_f > cdf) & (lam_f > 0.0))
    log_lam = np.log(np.where(lam_f > 0.0, lam_f, 1.0))
    k = 0
    while todo.shape[0]:
        k += 1
        log_p[todo] += log_lam[todo] - np.log(k)
        cdf[todo] += np.exp(log_p[todo])
        out[todo] = k
        # Rounding can leave the cdf a hair under u near 1: stop far past the mean.
        keep = (u_f[todo] > cdf[todo]) & (k < lam_f[todo] + 40.0 * np.sqrt(lam_f[todo]) + 40.0)
        todo = todo[keep]
    return out.reshape(np.shape(u))
