"""Task arrivals: Poisson per (vehicle, type), modulated by a persistent activity level and by
location (hot zones), drawn from counter-based keys so that they do not depend on the policy,
the batch size or the vehicle slot.

The mean count of type k at vehicle n in a slot is ``λ_k·τ·m[n,k]·zone(x_n)·class_mult[n]``
with ``m = exp(z - σ²/2)`` and ``z`` an AR(1) log level (mean of m is 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import VECConfig
from ..tasks import TaskTypes, ZoneProfile
from .rng import Stream, normal, poisson, uniform
from .xp import xp_of

#: Arrival index stride per type inside a (vehicle, slot) key: at most this many tasks per type.
MAX_PER_TYPE = 1 << 20


@dataclass
class NewTasks:
    """Tasks that arrived in one slot (struct of arrays, one entry per task), vehicle-major."""

    g: np.ndarray  # (m,) global vehicle slot b·n_max + n
    typ: np.ndarray  # (m,) task type
    t_arr_s: np.ndarray  # (m,) absolute arrival time
    size_bytes: np.ndarray  # (m,)


def activity_init(seed: np.ndarray, vid: np.ndarray, n_types: int, cfg: VECConfig) -> np.ndarray:
    """Stationary log activity levels z ~ N(0, σ²) of new vehicles, shape (n, K)."""
    xp = xp_of(seed, vid)
    return cfg.activity_std * normal(seed[:, None], -1, Stream.ACTIVITY, vid[:, None], xp.arange(n_types))


def activity_step(z: np.ndarray, seed: np.ndarray, slot: np.ndarray, vid: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """z ← φ·z + sqrt(1 - φ²)·σ·ε for (B, M, K) levels; ε keyed by (road, slot, vehicle, type)."""
    xp = xp_of(z, seed)
    phi = cfg.activity_corr
    k = xp.arange(z.shape[-1])
    eps = normal(seed[:, None, None], slot[:, None, None], Stream.ACTIVITY, vid[:, :, None], k)
    return phi * z + math.sqrt(1.0 - phi * phi) * cfg.activity_std * eps  # math.sqrt: IEEE, numpy's bits


def mean_counts(
    z: np.ndarray,
    x_m: np.ndarray,
    vclass: np.ndarray,
    active: np.ndarray,
    types: TaskTypes,
    zone: ZoneProfile,
    cfg: VECConfig,
) -> np.ndarray:
    """Expected arrivals per (road, vehicle slot, type) in the coming slot, shape (B, M, K)."""
    xp = xp_of(z, x_m)
    level = xp.exp(z - 0.5 * cfg.activity_std**2)
    mult = zone(x_m) * xp.asarray(cfg.class_rate_multiplier, dtype=xp.float64)[vclass] * active
    return level * (xp.asarray(types.rate_hz, dtype=xp.float64) * cfg.slot_s) * mult[..., None]


def draw_arrivals(
    lam: np.ndarray,
    seed: np.ndarray,
    slot: np.ndarray,
    vid: np.ndarray,
    t0_s: np.ndarray,
    types: TaskTypes,
    slot_s: float,
) -> NewTasks:
    """Poisson counts for (B, M, K) means ``lam``, then each task's arrival time and size."""
    xp = xp_of(lam, seed)
    B, M, K = lam.shape
    k = xp.arange(K)
    u = uniform(seed[:, None, None], slot[:, None, None], Stream.ARRIVAL_COUNT, vid[:, :, None], k)
    counts = poisson(lam, u).reshape(-1)
    q = xp.repeat(xp.arange(B * M * K), counts)
    # Index of each task among its (vehicle, type) arrivals: 0, 1, ... per queue.
    starts = xp.cumsum(counts, axis=0) - counts
    i = xp.arange(q.shape[0]) - xp.repeat(starts, counts)
    g = q // K
    typ = q - g * K
    road = g // M
    key = typ * MAX_PER_TYPE + i
    vid_t = vid.reshape(-1)[g]
    t_arr = t0_s[road] + slot_s * uniform(seed[road], slot[road], Stream.ARRIVAL_TIME, vid_t, key)
    size_u = uniform(seed[road], slot[road], Stream.ARRIVAL_SIZE, vid_t, key)
    size_min = xp.asarray(types.size_min_bytes, dtype=xp.float64)[typ]
    size_max = xp.asarray(types.size_max_bytes, dtype=xp.float64)[typ]
    size = size_min + (size_max - size_min) * size_u
    return NewTasks(g=g, typ=typ, t_arr_s=t_arr, size_bytes=size)
