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
    u = [uniform(seed, slot, stream, idx, j) for j in range(4)]
    lane = np.minimum((u[2] * cfg.n_lanes).astype(np.int64), cfg.n_lanes - 1)
    vclass = np.searchsorted(np.cumsum(cfg.class_probs)[:-1], u[3], side="right").astype(np.int64)
    return u[0], u[1], lane, vclass


def initial(seeds: np.ndarray, cfg: VECConfig) -> NewVehicles:
    """Stationary roads at reset: Poisson(N) vehicles each, uniform positions, speeds ∝ 1/v.

    The vehicles present at an instant are length-biased towards slow ones (they stay longer):
    v = v_min·(v_max/v_min)^U. Ids grow from the entry towards the exit.
    """
    counts = poisson(np.full(seeds.shape, cfg.n_vehicles), uniform(seeds, 0, Stream.ROAD_COUNT, 0, 0))
    road = np.repeat(np.arange(seeds.shape[0]), counts)
    i = np.arange(road.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    u_speed, u_pos, lane, vclass = _attributes(seeds[road], 0, Stream.ROAD_INIT, i, cfg)
    lo, hi = cfg.speed_min_kmh * _KMH, cfg.speed_max_kmh * _KMH
    x = u_pos * cfg.road_length_m
    order = np.lexsort((x, road))
    vid = np.empty_like(i)
    vid[order] = i  # rank by x inside each road (road-major order keeps i's per-road numbering)
    return NewVehicles(road, vid, x, lo * (hi / lo) ** u_speed, lane, vclass)


def entries(seeds: np.ndarray, slot: np.ndarray, t0_s: np.ndarray, next_id: np.ndarray, cfg: VECConfig) -> NewVehicles:
    """Vehicles entering during one slot at x = 0 and at active on-ramps; each has driven since
    its entry instant. Ids continue from ``next_id`` per road."""
    B = seeds.shape[0]
    rates = [np.full(B, cfg.entry_rate_hz)]
    origins = [0.0]
    for x_ramp, t_start, t_end, rate_hz in cfg.ramps:
        rates.append(np.where((t0_s >= t_start) & (t0_s < t_end), rate_hz, 0.0))
        origins.append(x_ramp)
    lam = np.stack(rates, axis=1) * cfg.slot_s  # (B, n_origins)
    u = uniform(seeds[:, None], slot[:, None], Stream.ENTRY_COUNT, 0, np.arange(lam.shape[1]))
    counts = poisson(lam, u)  # (B, n_origins)
    if not counts.any():  # most slots: nobody enters
        return _none(B)
    per_road = counts.sum(axis=1)
    road = np.repeat(np.arange(B), per_road)
    i = np.arange(road.shape[0]) - np.repeat(np.cumsum(per_road) - per_road, per_road)
    vid = next_id[road] + i
    origin = np.asarray(origins)[np.repeat(np.tile(np.arange(lam.shape[1]), B), counts.ravel())]
    u_speed, u_pos, lane, vclass = _attributes(seeds[road], -1, Stream.ENTRY_ATTR, vid, cfg)
    lo, hi = cfg.speed_min_kmh * _KMH, cfg.speed_max_kmh * _KMH
    speed = lo + (hi - lo) * u_speed
    return NewVehicles(road, vid, origin + speed * cfg.slot_s * u_pos, speed, lane, vclass)


def _none(B: int) -> NewVehicles:
    """No vehicles."""
    empty_i, empty_f = np.empty(0, dtype=np.int64), np.empty(0)
    return NewVehicles(empty_i, empty_i, empty_f, empty_f, empty_i, empty_i)


def speed_cap_mps(x_m: np.ndarray, t_s: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """The speed limit from active incidents at (x, t); inf where none applies."""
    cap = np.full(x_m.shape, np.inf)
    for x0, x1, t_start, t_end, speed_kmh in cfg.incidents:
        on = (x_m >= x0) & (x_m < x1) & (t_s >= t_start) & (t_s < t_end)
        cap = np.where(on, np.minimum(cap, speed_kmh * _KMH), cap)
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
    tau = cfg.slot_s
    if not cfg.dynamic_speed and not cfg.incidents:
        return x_m + v_mps * tau, v_mps, target_mps
    if cfg.dynamic_speed:
        u_change = uniform(seed[:, None], slot[:, None], Stream.SPEED_CHANGE, vid, 0)
        u_new = uniform(seed[:, None], slot[:, None], Stream.SPEED_CHANGE, vid, 1)
        change = u_change < 1.0 - np.exp(-cfg.speed_change_rate_hz * tau)
        target_mps = np.where(change, cfg.speed_min_mps + (cfg.speed_max_mps - cfg.speed_min_mps) * u_new, target_mps)
    desired = np.minimum(target_mps, speed_cap_mps(x_m, t0_s[:, None], cfg))
    dv = np.clip(desired - v_mps, -cfg.accel_max_mps2 * tau, cfg.accel_max_mps2 * tau)
    v_end = v_mps + dv
    return x_m + 0.5 * (v_mps + v_end) * tau, v_end, target_mps
