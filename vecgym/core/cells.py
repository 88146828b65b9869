"""Cells and handover: which RSU serves a vehicle, and migration of its edge work over the backhaul.

A vehicle is served by the nearest RSU whose coverage radius it is within, unless it is in a
tunnel; otherwise it is in a gap (cell -1). The serving cell is evaluated at each time-slot
boundary and holds for the slot (a vehicle moves about 3 m in a slot). A vehicle's edge queues
stay at the server that holds them until the vehicle is served by another RSU; then, at that
boundary, their pending input (remaining input bytes, in proportion to the remaining work), the
finished results not yet delivered and a partial upload are sent over the backhaul: one shared
FIFO link per adjacent RSU pair, a fixed delay per hop, and energy per bit per hop. A move over
more than one hop (only when a gap spans a whole cell) uses the FIFO of the first link on the way
and is charged the delay and energy of every hop.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import VECConfig
from .fifo import fifo_slot
from .taskcols import EDGE_REM, EDGE_T, EDGE_W0, IN_BITS, REM_DONE, RES_REM, RES_T, T_ARR, UP_REM, UPF_T, G
from .xp import NUMPY, Numpy, Torch, xp_of

INF = np.inf


def serving_cell(x_m: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """Index of the RSU serving a vehicle at ``x_m``, or -1 in a coverage gap or tunnel."""
    xp = xp_of(x_m)
    rsu = _rsu_x(cfg, xp)
    dist = xp.abs(x_m[..., None] - rsu)
    nearest = xp.argmin(dist, axis=-1)
    covered = xp.take_along_axis(dist, nearest[..., None], axis=-1)[..., 0] <= cfg.coverage_radius_m
    for x0, x1 in cfg.tunnels:
        covered &= ~((x_m >= x0) & (x_m < x1))
    return xp.where(covered, nearest, -1)


@functools.lru_cache(maxsize=32)
def _rsu_x(cfg: VECConfig, xp: Numpy | Torch) -> Any:
    """The RSU positions as an array of ``xp`` on its device (cached: one copy per config and device)."""
    return np.asarray(cfg.rsu_x_m) if xp is NUMPY else xp.asarray(cfg.rsu_x_m)


@functools.lru_cache(maxsize=32)
def change_points(cfg: VECConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the serving cell can change along the road (``edges``), and for each of the
    ``len(edges) + 1`` stretches between them the position of the next actual change ahead and the
    stretch's serving cell: ``(edges, next_change_m, stretch_cell)``. Stretch i is
    ``np.searchsorted(edges, x, side="right")``."""
    rsu = np.asarray(cfg.rsu_x_m, dtype=np.float64)
    r = cfg.coverage_radius_m
    pts = [rsu - r, rsu + r, 0.5 * (rsu[1:] + rsu[:-1])] + [np.asarray(t, dtype=np.float64) for t in cfg.tunnels]
    edges = np.unique(np.concatenate([np.ravel(p) for p in pts]))
    edges = edges[(edges > 0.0) & (edges < cfg.road_length_m)]
    bounds = np.concatenate(([0.0], edges, [cfg.road_length_m]))
    stretch_cell = serving_cell(0.5 * (bounds[:-1] + bounds[1:]), cfg)
    next_change = np.full(stretch_cell.shape[0], cfg.road_length_m)
    for i in range(stretch_cell.shape[0] - 2, -1, -1):  # once per config, over a few stretches
        same = stretch_cell[i + 1] == stretch_cell[i]
        next_change[i] = next_change[i + 1] if same else bounds[i + 1]
    return edges, next_change, stretch_cell


def distance_to_change_m(x_m: np.ndarray, cell: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """Distance (m) ahead to the next point where the serving cell changes (handover, gap, end
    of a gap) or the road ends. ``cell`` is unused by the lookup but kept for the signature."""
    del cell
    xp = xp_of(x_m)
    edges, next_change = _change_points_on(cfg, xp)
    stretch = xp.searchsorted(edges, x_m, side="right")
    return xp.maximum(next_change[stretch] - x_m, 0.0)


@functools.lru_cache(maxsize=32)
def _change_points_on(cfg: VECConfig, xp: Numpy | Torch) -> tuple[Any, Any]:
    """``change_points``' edges and next change positions on ``xp``'s device (cached per device)."""
    edges, next_change, _ = change_points(cfg)
    return (edges, next_change) if xp is NUMPY else (xp.asarray(edges), xp.asarray(next_change))


@dataclass
class Migration:
    """What a boundary's handovers sent: counts and energy per road, link busy times."""

    handovers: np.ndarray  # (B,) vehicles handed over
    bytes: np.ndarray  # (B,) bytes sent over the backhaul
    energy_j: np.ndarray  # (B,)
    link_free_s: np.ndarray  # (B, S-1) updated link busy-until times


def migrate(
    tasks: np.ndarray,
    moving_g: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    t_s: np.ndarray,
    link_free_s: np.ndarray,
    n_max: int,
    cfg: VECConfig,
) -> Migration:
    """Send the edge state of vehicles ``moving_g`` (global slots) from server ``src`` to ``dst``
    at time ``t_s`` (per road); updates ``tasks`` in place.

    Rows moved: tasks at the server (remaining input bits), undelivered results (their bits) and
    a partial upload (the bits already received). Each becomes available at the new server when
    its bits have crossed the link and the per-hop delays have passed.
    """
    xp = xp_of(tasks)
    B = link_free_s.shape[0]
    n_links = max(link_free_s.shape[1], 1)
    mover = xp.full(B * n_max, -1, dtype=xp.int64)
    mover[moving_g] = xp.arange(moving_g.shape[0])
    g = xp.astype(tasks[:, G], xp.int64)
    j = mover[g]
    moving = j >= 0
    at_edge = moving & (tasks[:, UP_REM] == 0.0) & (tasks[:, EDGE_REM] > 0.0)
    results = moving & (tasks[:, EDGE_W0] > 0.0) & (tasks[:, EDGE_REM] == 0.0) & (tasks[:, REM_DONE] == INF)
    partial = moving & (tasks[:, UP_REM] > 0.0) & (tasks[:, UP_REM] < tasks[:, IN_BITS])
    rows = xp.flatnonzero(at_edge | results | partial)
    frac_left = xp.where(
        tasks[rows, EDGE_W0] > 0.0, tasks[rows, EDGE_REM] / xp.maximum(tasks[rows, EDGE_W0], 1e-300), 0.0
    )
    bits = xp.select(
        [at_edge[rows], results[rows]],
        [tasks[rows, IN_BITS] * frac_left, tasks[rows, RES_REM]],
        tasks[rows, IN_BITS] - tasks[rows, UP_REM],
    )
    jr = j[rows]
    road = g[rows] // n_max
    hops = xp.astype(xp.abs(dst[jr] - src[jr]), xp.float64)  # float64 (torch: int64 * float is float32)
    link = road * n_links + xp.minimum(src[jr], dst[jr])
    t_road = t_s[road]
    ready = xp.select([at_edge[rows], results[rows]], [tasks[rows, EDGE_T], tasks[rows, RES_T]], tasks[rows, UPF_T])
    arrival = xp.maximum(t_road, xp.where(xp.isfinite(ready), ready, t_road))
    free = link_free_s.reshape(-1)
    start = xp.maximum(xp.repeat(t_s, n_links), free)
    rate = xp.full(free.shape[0], cfg.backhaul_rate_bps)
    # Items cross a link in arrival order of their tasks (ties: table order).
    done, _ = fifo_slot(
        link, tasks[rows, T_ARR], xp.maximum(arrival, start[link]), bits, rate, start, xp.full(rows.shape[0], INF)
    )
    there = done + hops * cfg.backhaul_delay_s
    # Writes over all ``rows`` (where, not a masked write): the same values, no host sync on a device.
    tasks[rows, EDGE_T] = xp.where(at_edge[rows], there, tasks[rows, EDGE_T])
    tasks[rows, RES_T] = xp.where(results[rows], there, tasks[rows, RES_T])
    tasks[rows, UPF_T] = xp.where(partial[rows], there, tasks[rows, UPF_T])
    new_free = xp.copy(free)
    xp.scatter_max(new_free, link, done)
    per_road_bits = xp.bincount(road, weights=bits * hops, length=B)
    return Migration(
        handovers=xp.astype(xp.bincount(moving_g // n_max, length=B), xp.float64),
        bytes=xp.bincount(road, weights=bits, length=B) / 8.0,
        energy_j=cfg.backhaul_energy_j_per_bit * per_road_bits,
        link_free_s=new_free.reshape(link_free_s.shape),
    )
