"""The observation of ``VEC-v0``: a Dict of fixed-shape arrays over the ``n_max`` vehicle slots.

Positions, speeds and the SNR / rate estimate carry sensing noise (``gps_noise_m``,
``speed_noise_mps``, ``rate_noise_db``); backlogs and arrivals are exact (the vehicles and the
server know their own queues). Inactive slots read zero (``vehicle_id`` reads -1).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from .config import CLASSES, VECConfig
from .goals import GOAL_VECTOR_HIGH, MAX_WEIGHT
from .simulator import Simulator

POS_MARGIN_M = 100.0
MAX_SPEED_MPS = 100.0
SNR_DB_RANGE = (-100.0, 200.0)
MAX_RATE_MBPS = 1e6
MAX_BACKLOG = 1e9


def y_max_m(cfg: VECConfig) -> float:
    """Upper bound of the observed lateral position y (m): the outer lane plus a margin."""
    return cfg.lane_offset_m + cfg.lane_width_m * cfg.n_lanes + POS_MARGIN_M


def observation_space(cfg: VECConfig) -> spaces.Dict:
    """The Dict space; every key is documented in ``VECEnv``'s docstring."""
    M, K = cfg.slots, cfg.n_task_types
    f32 = np.float32
    y_max = y_max_m(cfg)
    pos_low = np.tile(np.array([-POS_MARGIN_M, -POS_MARGIN_M], dtype=f32), (M, 1))
    pos_high = np.tile(np.array([cfg.road_length_m + POS_MARGIN_M, y_max], dtype=f32), (M, 1))
    return spaces.Dict(
        {
            "active": spaces.Box(0, 1, (M,), np.int8),
            "vehicle_id": spaces.Box(-1, np.iinfo(np.int64).max, (M,), np.int64),
            "vehicle_class": spaces.Box(0, 1, (M, len(CLASSES)), np.int8),
            "position_m": spaces.Box(pos_low, pos_high, dtype=f32),
            "speed_mps": spaces.Box(0.0, MAX_SPEED_MPS, (M,), f32),
            "snr_db": spaces.Box(SNR_DB_RANGE[0], SNR_DB_RANGE[1], (M,), f32),
            "rate_mbps": spaces.Box(0.0, MAX_RATE_MBPS, (M,), f32),
            "local_backlog_gcycles": spaces.Box(0.0, MAX_BACKLOG, (M,), f32),
            "uplink_backlog_kbit": spaces.Box(0.0, MAX_BACKLOG, (M,), f32),
            "edge_backlog_gcycles": spaces.Box(0.0, MAX_BACKLOG, (M, K), f32),
            "arrivals_bytes": spaces.Box(0.0, MAX_BACKLOG, (M, K), f32),
            "qos_weight": spaces.Box(0.0, MAX_WEIGHT * MAX_WEIGHT, (M,), f32),
            "goal": spaces.Box(np.zeros_like(GOAL_VECTOR_HIGH), GOAL_VECTOR_HIGH, dtype=f32),
            "slot": spaces.Box(0, np.iinfo(np.int64).max, (1,), np.int64),
        }
    )


def observe(sim: Simulator, goal_vector: np.ndarray) -> dict[str, np.ndarray]:
    """The current (noisy) observation of ``sim``; draws its noise from ``sim.rng``."""
    cfg, rng = sim.cfg, sim.rng
    act = sim.active
    M = sim.n_max
    f32 = np.float32
    noise = rng.standard_normal((4, M))
    pos = np.empty((M, 2), dtype=f32)
    pos[:, 0] = sim.x + cfg.gps_noise_m * noise[0]
    pos[:, 1] = sim.y + cfg.gps_noise_m * noise[1]
    y_max = y_max_m(cfg)
    np.clip(pos, (-POS_MARGIN_M, -POS_MARGIN_M), (cfg.road_length_m + POS_MARGIN_M, y_max), out=pos)
    pos *= act[:, None]
    speed = np.clip(sim.v + cfg.speed_noise_mps * noise[2], 0.0, MAX_SPEED_MPS) * act
    snr_lin = cfg.tx_power_w * sim.gain / cfg.noise_w
    with np.errstate(divide="ignore"):
        snr_db = np.where(act, 10.0 * np.log10(snr_lin) + cfg.rate_noise_db * noise[3], 0.0)
    snr_db = np.clip(snr_db, *SNR_DB_RANGE)
    rate = np.where(act, cfg.bandwidth_hz * np.log2(1.0 + 10.0 ** (snr_db / 10.0)) * 1e-6, 0.0)
    onehot = np.zeros((M, len(CLASSES)), dtype=np.int8)
    onehot[np.flatnonzero(act), sim.vclass[act]] = 1
    local = cfg.vehicle_cpu_hz * np.maximum(sim.local_free_at - sim.t, 0.0) * 1e-9
    return {
        "active": act.astype(np.int8),
        "vehicle_id": sim.vid.copy(),
        "vehicle_class": onehot,
        "position_m": pos,
        "speed_mps": speed.astype(f32),
        "snr_db": snr_db.astype(f32),
        "rate_mbps": np.minimum(rate, MAX_RATE_MBPS).astype(f32),
        "local_backlog_gcycles": (local * act).astype(f32),
        "uplink_backlog_kbit": (sim.up_backlog * 1e-3).astype(f32),
        "edge_backlog_gcycles": (sim.edge_backlog * 1e-9).astype(f32),
        "arrivals_bytes": (sim.last_arrivals_bytes * act[:, None]).astype(f32),
        "qos_weight": (sim.weight * act).astype(f32),
        "goal": goal_vector.copy(),
        "slot": np.array([sim.slot], dtype=np.int64),
    }
