"""``rgb_array`` rendering in plain numpy (no plotting dependency, ~0.1 ms per frame).

Road in grey with lane marks, each RSU as a blue mast with its coverage as a light-blue band
above the road (gaps and tunnels stay white), vehicles as boxes coloured from green (idle) through
yellow to red by their total backlog, with a white top stripe while they have data to upload.
"""

from __future__ import annotations

import numpy as np

from .core.cells import serving_cell
from .simulator import Simulator

WIDTH, HEIGHT = 800, 200
ROAD_TOP, ROAD_MAX_H = 80, 110


def _backlog_colour(level: np.ndarray) -> np.ndarray:
    """Map backlog level in [0, 1] to green → yellow → red, shape (n, 3) uint8."""
    level = np.clip(level, 0.0, 1.0)[:, None]
    green, yellow, red = np.array([40, 180, 60]), np.array([240, 200, 40]), np.array([220, 40, 40])
    lo = green + (yellow - green) * np.minimum(level * 2, 1.0)
    return np.where(level < 0.5, lo, yellow + (red - yellow) * (level * 2 - 1.0)).astype(np.uint8)


def render_rgb(sim: Simulator) -> np.ndarray:
    """An (HEIGHT, WIDTH, 3) uint8 frame of the road."""
    cfg = sim.cfg
    img = np.full((HEIGHT, WIDTH, 3), 235, dtype=np.uint8)
    lane_h = max(4, min(30, ROAD_MAX_H // cfg.n_lanes))  # any number of lanes fits the frame
    road_bottom = ROAD_TOP + lane_h * cfg.n_lanes
    img[ROAD_TOP:road_bottom] = 90
    for lane in range(1, cfg.n_lanes):
        y = ROAD_TOP + lane * lane_h
        img[y, ::20] = 250
    scale = (WIDTH - 1) / cfg.road_length_m
    pixel_x = (np.arange(WIDTH) + 0.5) / scale
    covered = serving_cell(pixel_x, cfg) >= 0
    img[ROAD_TOP - 8 : ROAD_TOP - 3, covered] = (170, 200, 240)
    for x_rsu in cfg.rsu_x_m:
        rsu = round(x_rsu * scale)
        img[20:ROAD_TOP, max(rsu - 2, 0) : rsu + 3] = (40, 90, 200)
        img[10:24, max(rsu - 8, 0) : rsu + 9] = (40, 90, 200)
    idx = np.flatnonzero(sim.active)
    if idx.size:
        work = sim.backlogs()
        local_s = work["local_cycles"][idx] / cfg.vehicle_cpu_hz
        edge_s = work["edge_cycles"][idx].sum(axis=1) / (cfg.edge_cpu_hz / max(idx.size, 1))
        level = (local_s + edge_s) / max(float(np.max(cfg.per_type("deadline_s"))), 1e-9)
        colours = _backlog_colour(level)
        xs = np.clip((sim.x[idx] * scale).astype(int), 0, WIDTH - 1)
        lanes = sim.lane[idx].astype(int)
        uploading = work["upload_bits"][idx] > 0.0
        for x, lane, colour, up in zip(xs, lanes, colours, uploading, strict=True):
            pad = lane_h // 5
            y0 = ROAD_TOP + lane * lane_h + pad
            img[y0 : y0 + lane_h - 2 * pad, max(x - 6, 0) : x + 6] = colour
            if up:
                img[y0 : y0 + max(1, lane_h // 7), max(x - 6, 0) : x + 6] = 255
    return img
