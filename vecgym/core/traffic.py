"""Mobility for B roads: Poisson entry at x = 0 (and at on-ramps), free flow, traffic events.

Vehicles do not interact (free flow, no lane changes). An incident caps the speed on a stretch
for a while; vehicles behind it bunch up and leave as a platoon when it clears. An on-ramp adds
entries at its position during a surge. Every draw is keyed by (road seed, time slot, vehicle id),
so the traffic does not depend on the policy, the batch size or the vehicle slots. The engine talks
to mobility only through vehicle ids and arrays, so a SUMO / libsumo adapter can replace it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import VECConfig
from .rng import Stream, poisson, uniform
from .xp import Numpy, Torch, xp_of

_KMH = 1.0 / 3.6


@dataclass
class NewVehicles:
    """Vehicles that enter, one entry each (struct of arrays), grouped by road."""

    road: np.ndarray  # (n,) road index
    vid: np.ndarray  # (n,) unique, never reused id on its road
    x_m: np.ndarray
    speed_mps: np.ndarray
    lane: np.ndarray
    vclass: np.ndarray


def _attributes(seed: np.ndarray, slot: np.ndarray | int, stream: Stream, idx: np.ndarray, cfg: VECConfig):
    """(u_speed, u_pos, lane, class) draws for vehicles keyed by ``idx``."""
    xp = xp_of(seed, idx)
    u = [uniform(seed, slot, stream, idx, j) for j in range(4)]
    lane = xp.minimum(xp.astype(u[2] * cfg.n_lanes, xp.int64), cfg.n_lanes - 1)
    edges = xp.asarray(np.cumsum(cfg.class_probs)[:-1], dtype=xp.float64)  # host sums: numpy's bits
    vclass = xp.astype(xp.searchsorted(edges, u[3], side="right"), xp.int64)
    return u[0], u[1], lane, vclass


def initial(seeds: np.ndarray, cfg: VECConfig) -> NewVehicles:
    """Stationary roads at reset: Poisson(N) vehicles each, uniform positions, speeds ∝ 1/v.

    The vehicles present at an instant are length-biased towards slow ones (they stay longer):
    v = v_min·(v_max/v_min)^U. Ids grow from the entry towards the exit.
    """
    xp = xp_of(seeds)
    counts = poisson(xp.full(seeds.shape, cfg.n_vehicles), uniform(seeds, 0, Stream.ROAD_COUNT, 0, 0))
    road = xp.repeat(xp.arange(seeds.shape[0]), counts)
    i = xp.arange(road.shape[0]) - xp.repeat(xp.cumsum(counts, axis=0) - counts, counts)
    u_speed, u_pos, lane, vclass = _attributes(seeds[road], 0, Stream.ROAD_INIT, i, cfg)
    lo, hi = cfg.speed_min_kmh * _KMH, cfg.speed_max_kmh * _KMH
    x = u_pos * cfg.road_length_m
    order = xp.lexsort((x, road))
    vid = xp.empty(i.shape, dtype=xp.int64)
    vid[order] = i  # rank by x inside each road (road-major order keeps i's per-road numbering)
    return NewVehicles(road, vid, x, lo * (hi / lo) ** u_speed, lane, vclass)


def entries(seeds: np.ndarray, slot: np.ndarray, t0_s: np.ndarray, next_id: np.ndarray, cfg: VECConfig) -> NewVehicles:
    """Vehicles entering during one slot at x = 0 and at active on-ramps; each has driven since
    its entry instant. Ids continue from ``next_id`` per road."""
    xp = xp_of(seeds, t0_s)
    B = seeds.shape[0]
    rates = [xp.full(B, cfg.entry_rate_hz)]
    origins = [0.0]
    for x_ramp, t_start, t_end, rate_hz in cfg.ramps:
        rates.append(xp.where((t0_s >= t_start) & (t0_s < t_end), float(rate_hz), 0.0))
        origins.append(float(x_ramp))
    lam = xp.stack(rates, axis=1) * cfg.slot_s  # (B, n_origins)
    n_origins = lam.shape[1]
    u = uniform(seeds[:, None], slot[:, None], Stream.ENTRY_COUNT, 0, xp.arange(n_origins))
    counts = poisson(lam, u)  # (B, n_origins)
    if not counts.any():  # most slots: nobody enters
        return _none(xp)
    per_road = counts.sum(axis=1)
    road = xp.repeat(xp.arange(B), per_road)
    i = xp.arange(road.shape[0]) - xp.repeat(xp.cumsum(per_road, axis=0) - per_road, per_road)
    vid = next_id[road] + i
    origin = xp.asarray(origins, dtype=xp.float64)[xp.repeat(xp.arange(B * n_origins) % n_origins, counts.reshape(-1))]
    u_speed, u_pos, lane, vclass = _attributes(seeds[road], -1, Stream.ENTRY_ATTR, vid, cfg)
    lo, hi = cfg.speed_min_kmh * _KMH, cfg.speed_max_kmh * _KMH
    speed = lo + (hi - lo) * u_speed
    return NewVehicles(road, vid, origin + speed * cfg.slot_s * u_pos, speed, lane, vclass)


def _none(xp: Numpy | Torch) -> NewVehicles:
    """No vehicles."""
    empty_i, empty_f = xp.empty(0, dtype=xp.int64), xp.empty(0, dtype=xp.float64)
    return NewVehicles(empty_i, empty_i, empty_f, empty_f, empty_i, empty_i)


def speed_cap_mps(x_m: np.ndarray, t_s: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """The speed limit from active incidents at (x, t); inf where none applies."""
    xp = xp_of(x_m, t_s)
    cap = xp.full(x_m.shape, xp.inf)
    for x0, x1, t_start, t_end, speed_kmh in cfg.incidents:
        on = (x_m >= x0) & (x_m < x1) & (t_s >= t_start) & (t_s < t_end)
        cap = xp.where(on, xp.minimum(cap, speed_kmh * _KMH), cap)
    return cap


def advance(
    x_m: np.ndarray,
    v_mps: np.ndarray,
    target_mps: np.ndarray,
    seed: np.ndarray,
    slot: np.ndarray,
    vid: np.ndarray,
    t0_s: np.ndarray,
    cfg: VECConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions and speeds of (B, M) vehicles after one slot: ``(x_end, v_end, target)``.

    Free flow keeps the speed. In dynamic mode targets change at Poisson times; incidents cap the
    speed; speeds move towards the desired speed at bounded acceleration. The position uses the
    mean of start and end speed, exact for the piecewise-constant acceleration used here.
    """
    xp = xp_of(x_m, v_mps)
    tau = cfg.slot_s
    if not cfg.dynamic_speed and not cfg.incidents:
        return x_m + v_mps * tau, v_mps, target_mps
    if cfg.dynamic_speed:
        u_change = uniform(seed[:, None], slot[:, None], Stream.SPEED_CHANGE, vid, 0)
        u_new = uniform(seed[:, None], slot[:, None], Stream.SPEED_CHANGE, vid, 1)
        p_change = 1.0 - float(np.exp(-cfg.speed_change_rate_hz * tau))  # a host constant: numpy's exp
        change = u_change < p_change
        target_mps = xp.where(change, cfg.speed_min_mps + (cfg.speed_max_mps - cfg.speed_min_mps) * u_new, target_mps)
    desired = xp.minimum(target_mps, speed_cap_mps(x_m, t0_s[:, None], cfg))
    dv = xp.clip(desired - v_mps, -cfg.accel_max_mps2 * tau, cfg.accel_max_mps2 * tau)
    v_end = v_mps + dv
    return x_m + 0.5 * (v_mps + v_end) * tau, v_end, target_mps
