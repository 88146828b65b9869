"""The observation of ``VEC-v0``: a Dict of fixed-shape arrays over the ``n_max`` vehicle slots.

Positions, speeds and the SNR / rate estimate carry sensing noise (``gps_noise_m``,
``speed_noise_mps``, ``rate_noise_db``), drawn from counter-based keys (road seed, time slot,
vehicle id), so the noise does not depend on the batch or the vehicle slot; backlogs and arrivals
are exact (the vehicles and the servers know their own queues). Inactive slots read zero
(``vehicle_id`` reads -1, ``cell`` and ``holder`` read -1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from .config import CLASSES, VECConfig
from .core import cells, radio
from .core.engine import Engine
from .core.rng import Stream
from .goals import GOAL_VECTOR_HIGH, MAX_WEIGHT
from .simulator import Simulator, backlogs

POS_MARGIN_M = 100.0
MAX_SPEED_MPS = 100.0
SNR_DB_RANGE = (-100.0, 200.0)
MAX_RATE_MBPS = 1e6
MAX_BACKLOG = 1e9


def y_max_m(cfg: VECConfig) -> float:
    """Upper bound of the observed lateral position y (m): the outer lane plus a margin."""
    return cfg.lane_offset_m + cfg.lane_width_m * cfg.n_lanes + POS_MARGIN_M


#: What each observation key holds (units in the names); the docstring table is built from this
#: and the space itself (``observation_table``), so the two cannot drift apart.
MEANINGS: dict[str, str] = {
    "active": "slot holds a vehicle",
    "vehicle_id": "unique, never reused id; -1 if empty",
    "vehicle_class": "one-hot car / bus / truck / emergency",
    "position_m": "(x along road, y from the RSUs' line), GPS noise",
    "speed_mps": "speed with sensor noise",
    "snr_db": "uplink SNR to the serving RSU over the full band, noisy",
    "rate_mbps": "W·min(log2(1+SNR), se_max): rate if alone on the band; 0 in a gap",
    "local_backlog_gcycles": "work queued on the vehicle CPU",
    "uplink_backlog_kbit": "data waiting to be uploaded",
    "edge_backlog_gcycles": "work queued at the edge per (n, k)",
    "arrivals_bytes": "task bytes that arrived in the last slot",
    "qos_weight": "QoS weight under the ground-truth goal",
    "cell": "serving RSU for the coming slot; -1 in a coverage gap",
    "holder": "edge server holding the vehicle's queues; -1 if none",
    "distance_to_handover_m": "distance ahead to the next handover, gap edge or road end",
    "downlink_backlog_kbit": "results waiting to be downloaded",
    "goal": "the goal channel (see ``goal_channel``)",
    "slot": "time-slot index t",
}


def observation_table(cfg: VECConfig | None = None) -> str:
    """The Markdown table of the observation (key, shape, dtype, bounds, meaning) from the space."""
    cfg = cfg if cfg is not None else VECConfig.from_kwargs()
    space = observation_space(cfg)
    M, K = cfg.slots, cfg.n_task_types
    names = {M: "M", K: "K", len(CLASSES): "C"}
    rows = ["| Key | Shape | Dtype | Min | Max | Meaning |", "|---|---|---|---|---|---|"]
    for key, box in space.spaces.items():
        assert isinstance(box, spaces.Box)
        shape = "(" + ", ".join(names.get(d, str(d)) if i < 2 else str(d) for i, d in enumerate(box.shape))
        shape += ",)" if len(box.shape) == 1 else ")"
        rows.append(
            f"| `{key}` | {shape} | {box.dtype} | {float(np.min(box.low)):g} | {float(np.max(box.high)):.3g} "
            f"| {MEANINGS[key]} |"
        )
    return "\n".join(rows)


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
            "cell": spaces.Box(-1, cfg.n_servers - 1, (M,), np.int64),
            "holder": spaces.Box(-1, cfg.n_servers - 1, (M,), np.int64),
            "distance_to_handover_m": spaces.Box(0.0, cfg.road_length_m + POS_MARGIN_M, (M,), f32),
            "downlink_backlog_kbit": spaces.Box(0.0, MAX_BACKLOG, (M,), f32),
            "goal": spaces.Box(np.zeros_like(GOAL_VECTOR_HIGH), GOAL_VECTOR_HIGH, dtype=f32),
            "slot": spaces.Box(0, np.iinfo(np.int64).max, (1,), np.int64),
        }
    )


def observe_batch(engine: Engine, goal_vectors: Any) -> dict[str, Any]:
    """The (noisy) observations of all B roads: every key of ``observation_space`` with a
    leading road axis. ``goal_vectors`` (B, GOAL_VECTOR_SIZE) is each road's goal channel.

    Arrays of the engine's namespace: numpy, or torch tensors on the engine's device (the
    observation space's dtypes: float32, int8, int64)."""
    X, cfg = engine.xp, engine.cfg
    act = engine.active
    B = act.shape[0]
    f32 = np.float32
    noise = engine._k.normal(  # rng.normal, or its numba twin (the same numbers)
        engine.seed[:, None, None], engine.slot[:, None, None], Stream.OBS_NOISE, engine.vid[..., None], X.arange(4)
    )
    y = engine.lane_y_m[engine.lane]
    pos = X.stack((engine.x + cfg.gps_noise_m * noise[..., 0], y + cfg.gps_noise_m * noise[..., 1]), axis=-1)
    lo = X.asarray([-POS_MARGIN_M, -POS_MARGIN_M], dtype=X.float64)
    hi = X.asarray([cfg.road_length_m + POS_MARGIN_M, y_max_m(cfg)], dtype=X.float64)
    pos = X.astype(X.clip(pos, lo, hi) * act[..., None], f32)
    speed = X.clip(engine.v + cfg.speed_noise_mps * noise[..., 2], 0.0, MAX_SPEED_MPS) * act
    snr_lin = cfg.tx_power_w * engine.gain / float(radio.noise_w(cfg.bandwidth_hz, cfg))
    with X.errstate(divide="ignore"):
        snr_db = X.where(act, 10.0 * X.log10(snr_lin) + cfg.rate_noise_db * noise[..., 3], 0.0)
    snr_db = X.clip(snr_db, *SNR_DB_RANGE)
    covered = act & (engine.cell >= 0)
    band = X.full(snr_db.shape, cfg.bandwidth_hz, dtype=X.float64)
    rate = X.where(covered, radio.rate_bps(band, 10.0 ** (snr_db / 10.0), cfg.max_spectral_efficiency), 0.0)
    onehot = X.astype((engine.vclass[..., None] == X.arange(len(CLASSES))) & act[..., None], np.int8)
    work = backlogs(engine)
    to_change = X.where(act, cells.distance_to_change_m(engine.x, engine.cell, cfg), 0.0)
    return {
        "active": X.astype(act, np.int8),
        "vehicle_id": X.copy(engine.vid),
        "vehicle_class": onehot,
        "position_m": pos,
        "speed_mps": X.astype(speed, f32),
        "snr_db": X.astype(snr_db, f32),
        "rate_mbps": X.astype(X.minimum(rate * 1e-6, MAX_RATE_MBPS), f32),
        "local_backlog_gcycles": X.astype(work["local_cycles"] * 1e-9, f32),
        "uplink_backlog_kbit": X.astype(work["upload_bits"] * 1e-3, f32),
        "edge_backlog_gcycles": X.astype(work["edge_cycles"] * 1e-9, f32),
        "arrivals_bytes": X.astype(engine.last_arrivals_bytes * act[..., None], f32),
        "qos_weight": X.astype(engine.weight * act, f32),
        "cell": X.where(act, engine.cell, -1),
        "holder": X.where(act, engine.holder, -1),
        "distance_to_handover_m": X.astype(X.minimum(to_change, cfg.road_length_m + POS_MARGIN_M), f32),
        "downlink_backlog_kbit": X.astype(work["result_bits"] * 1e-3, f32),
        "goal": X.copy(X.astype(X.asarray(goal_vectors), f32)),
        "slot": X.copy(engine.slot.reshape(B, 1)),
    }


def observe(sim: Simulator, goal_vector: np.ndarray) -> dict[str, np.ndarray]:
    """The current (noisy) observation of one road (``observe_batch`` at B = 1)."""
    return {k: v[0] for k, v in observe_batch(sim.engine, goal_vector[None]).items()}
