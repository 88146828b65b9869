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

import numpy as np

from ..config import VECConfig
from .fifo import fifo_slot
from .taskcols import EDGE_REM, EDGE_T, EDGE_W0, IN_BITS, REM_DONE, RES_REM, RES_T, T_ARR, UP_REM, UPF_T, G

INF = np.inf


def serving_cell(x_m: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """Index of the RSU serving a vehicle at ``x_m``, or -1 in a coverage gap or tunnel."""
    rsu = np.asarray(cfg.rsu_x_m)
    dist = np.abs(x_m[..., None] - rsu)
    nearest = dist.argmin(axis=-1)
    covered = np.take_along_axis(dist, nearest[..., None], axis=-1)[..., 0] <= cfg.coverage_radius_m
    for x0, x1 in cfg.tunnels:
        covered &= ~((x_m >= x0) & (x_m < x1))
    return np.where(covered, nearest, -1)


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
    edges, next_change, _ = change_points(cfg)
    stretch = np.searchsorted(edges, x_m, side="right")
    return np.maximum(next_change[stretch] - x_m, 0.0)


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
    B = link_free_s.shape[0]
    n_links = max(link_free_s.shape[1], 1)
    mover = np.full(B * n_max, -1, dtype=np.intp)
    mover[moving_g] = np.arange(moving_g.shape[0])
    g = tasks[:, G].astype(np.intp)
    j = mover[g]
    moving = j >= 0
    at_edge = moving & (tasks[:, UP_REM] == 0.0) & (tasks[:, EDGE_REM] > 0.0)
    results = moving & (tasks[:, EDGE_W0] > 0.0) & (tasks[:, EDGE_REM] == 0.0) & (tasks[:, REM_DONE] == INF)
    partial = moving & (tasks[:, UP_REM] > 0.0) & (tasks[:, UP_REM] < tasks[:, IN_BITS])
    rows = np.flatnonzero(at_edge | results | partial)
    frac_left = np.where(
        tasks[rows, EDGE_W0] > 0.0, tasks[rows, EDGE_REM] / np.maximum(tasks[rows, EDGE_W0], 1e-300), 0
    )
    bits = np.select(
        [at_edge[rows], results[rows]],
        [tasks[rows, IN_BITS] * frac_left, tasks[rows, RES_REM]],
        tasks[rows, IN_BITS] - tasks[rows, UP_REM],
    )
    jr = j[rows]
    road = g[rows] // n_max
    hops = np.abs(dst[jr] - src[jr])
    link = road * n_links + np.minimum(src[jr], dst[jr])
    t_road = t_s[road]
    ready = np.select([at_edge[rows], results[rows]], [tasks[rows, EDGE_T], tasks[rows, RES_T]], tasks[rows, UPF_T])
    arrival = np.maximum(t_road, np.where(np.isfinite(ready), ready, t_road))
    free = link_free_s.reshape(-1)
    start = np.maximum(np.repeat(t_s, n_links), free)
    rate = np.full(free.shape[0], cfg.backhaul_rate_bps)
    # Items cross a link in arrival order of their tasks (ties: table order).
    done, _ = fifo_slot(
        link, tasks[rows, T_ARR], np.maximum(arrival, start[link]), bits, rate, start, np.full(rows.shape, INF)
    )
    there = done + hops * cfg.backhaul_delay_s
    tasks[rows[at_edge[rows]], EDGE_T] = there[at_edge[rows]]
    tasks[rows[results[rows]], RES_T] = there[results[rows]]
    tasks[rows[partial[rows]], UPF_T] = there[partial[rows]]
    new_free = free.copy()
    np.maximum.at(new_free, link, done)
    per_road_bits = np.bincount(road, weights=bits * hops, minlength=B)
    return Migration(
        handovers=np.bincount(moving_g // n_max, minlength=B).astype(np.float64),
        bytes=np.bincount(road, weights=bits, minlength=B) / 8.0,
        energy_j=cfg.backhaul_energy_j_per_bit * per_road_bits,
        link_free_s=new_free.reshape(link_free_s.shape),
    )
