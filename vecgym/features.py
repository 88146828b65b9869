"""The learning interface's observations: flat float32 features of O(1), per agent and global.

A policy network cannot learn from ``VEC-v0``'s Dict in physical units (bytes up to 10⁵, positions
up to 6000 m, raw ids, the clock). This module turns a *batched* observation (every key with a
leading road axis B, as ``observe_batch`` and ``VECVectorEnv`` return it) into

* ``agent_features``: (B, M, D) — one row per vehicle slot, what that vehicle can know locally;
* ``global_summary``: (B, G) — road-wide figures for a centralised critic.

MAPPO's agent-specific global state is ``[agent_features, global_summary]`` per agent
(``agent_state``). Backlogs, arrivals and rates are on log scales, each divided first by the
amount one vehicle brings or moves in one slot (so 1 ≈ one slot's worth); positions are relative
to the serving RSU; there are no ids and no clock. An empty slot reads all zeros.
``feature_names`` names every column. Everything here is pure numpy over the batch (no loop over
roads or vehicles).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .config import CLASSES, VECConfig
from .goals import GOAL_VECTOR_HIGH, GOAL_VECTOR_SIZE, MAX_WEIGHT

#: Column of ``agent_features`` that holds the slot's ``active`` flag (1 or 0).
ACTIVE_COLUMN = 0
#: Forecast keys of ``VEC-pDT-v0`` that enter an agent's features (when present).
FORECAST_KEYS = ("forecast/rate_mbps", "forecast/arrivals_bytes")


@dataclass(frozen=True)
class FeatureScales:
    """One slot's worth of each quantity for one vehicle: the divisors before the logs."""

    local_gcycles: float
    """Work the vehicle CPU does in one slot (Gcycles)."""
    uplink_kbit: float
    """Bits the full uplink band carries in one slot at 1 bit/s/Hz (kbit)."""
    downlink_kbit: float
    arrival_bytes: np.ndarray
    """Expected task bytes per slot per type, (K,)."""
    band_mbps: float
    """Uplink bandwidth in MHz: the rate at 1 bit/s/Hz."""
    position_m: float
    """Half the span an RSU serves: min(coverage radius, road length / 2)."""
    vehicles_per_server: float
    """Expected vehicles per edge server: N / number of servers."""

    @classmethod
    def of(cls, cfg: VECConfig) -> FeatureScales:
        tau = cfg.slot_s
        sizes = np.array([np.mean(pair) for pair in cfg.per_type("task_size_bytes")])
        rates = np.array(cfg.per_type("task_rate_hz"), dtype=np.float64)
        return cls(
            local_gcycles=cfg.vehicle_cpu_hz * tau * 1e-9,
            uplink_kbit=cfg.bandwidth_hz * tau * 1e-3,
            downlink_kbit=cfg.downlink_bandwidth_hz * tau * 1e-3,
            arrival_bytes=np.maximum(rates * tau * sizes, 1.0),
            band_mbps=cfg.bandwidth_hz * 1e-6,
            position_m=min(cfg.coverage_radius_m, cfg.road_length_m / 2.0),
            vehicles_per_server=max(cfg.n_vehicles / cfg.n_servers, 1.0),
        )


@functools.lru_cache(maxsize=64)
def feature_names(cfg: VECConfig, horizon: int = 0) -> tuple[str, ...]:
    """The name of every column of ``agent_features`` (``horizon`` > 0: with forecasts)."""
    K = cfg.n_task_types
    types = cfg.type_names
    names = ["active", *(f"class_{c}" for c in CLASSES), "log_qos_weight", "log_local_backlog", "log_uplink_backlog"]
    names += [f"log_edge_backlog_{t}" for t in types] + [f"log_arrivals_{t}" for t in types]
    names += ["log_rate", "snr_db/50", "speed/30", "x_rel_rsu", "y_rel_road", "in_gap", "log_time_to_change_s"]
    names += ["log_downlink_backlog", "server_vehicles_rel", "log_server_backlog", "granted_share", "granted_rel"]
    names += [f"goal_{i}" for i in range(GOAL_VECTOR_SIZE)]
    if horizon:
        names += [f"fc_log_rate_h{h + 1}" for h in range(horizon)] + [f"fc_log_arrivals_{t}" for t in types]
    assert len(names) == 1 + len(CLASSES) + 3 + 2 * K + 7 + 5 + GOAL_VECTOR_SIZE + (horizon + K if horizon else 0)
    return tuple(names)


def global_names(cfg: VECConfig) -> tuple[str, ...]:
    """The name of every column of ``global_summary``."""
    per_server = [f"server{s}_{q}" for s in range(cfg.n_servers) for q in ("vehicles_rel", "log_backlog")]
    means = ["mean_log_local", "mean_log_uplink", "mean_log_edge", "mean_log_arrivals", "mean_log_rate", "gap_frac"]
    return ("active_frac", "vehicles_rel", *means, *per_server)


def goal_features(goal: np.ndarray) -> np.ndarray:
    """The goal channel (…, GOAL_VECTOR_SIZE) on [0, 1] log scales: log1p(v) / log1p(max)."""
    return (np.log1p(np.maximum(goal, 0.0)) / np.log1p(GOAL_VECTOR_HIGH)).astype(np.float32)


def class_weight(goal: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Each vehicle's QoS class weight under the *observed* goal channel, (B, M).

    ``goal`` (B, GOAL_VECTOR_SIZE); a zero entry (the "none" channel) reads as the balanced 1.
    Weights of vehicles named by id are not in the channel and not here.
    """
    per_class = goal[:, GOAL_VECTOR_SIZE - len(CLASSES) :]
    per_class = np.where(per_class > 0.0, per_class, 1.0)
    return np.einsum("bmc,bc->bm", onehot.astype(np.float64), per_class)


def server_load(obs: dict[str, np.ndarray], cfg: VECConfig, scales: FeatureScales) -> tuple[np.ndarray, np.ndarray]:
    """Per server (B, S): vehicles held relative to N/S, and log1p of the edge work it holds in
    local-slot units. A vehicle's edge queues count at the server that holds them."""
    holder = obs["holder"]
    B, S = holder.shape[0], cfg.n_servers
    held = holder >= 0
    road = np.broadcast_to(np.arange(B)[:, None], holder.shape)
    flat = road[held] * S + holder[held]
    count = np.bincount(flat, minlength=B * S).reshape(B, S)
    work = obs["edge_backlog_gcycles"].sum(axis=-1)[held]
    backlog = np.bincount(flat, weights=work, minlength=B * S).reshape(B, S)
    return count / scales.vehicles_per_server, np.log1p(backlog / scales.local_gcycles)


def agent_features(
    obs: dict[str, np.ndarray], cfg: VECConfig, granted: np.ndarray, scales: FeatureScales | None = None
) -> np.ndarray:
    """(B, M, D) float32 features of every slot of B roads; ``granted`` (B, M, K) is the edge share
    each slot's queues were granted in the last slot. Forecast keys, when present, add a block."""
    s = scales or FeatureScales.of(cfg)
    act = obs["active"].astype(bool)
    onehot = obs["vehicle_class"].astype(np.float64)
    x = obs["position_m"][..., 0].astype(np.float64)
    speed = obs["speed_mps"].astype(np.float64)
    cell = obs["cell"]
    rsu_x = np.asarray(cfg.rsu_x_m)[np.maximum(cell, 0)]
    in_gap = act & (cell < 0)
    count, backlog = server_load(obs, cfg, s)
    srv = np.maximum(np.where(obs["holder"] >= 0, obs["holder"], cell), 0)
    my_count = np.take_along_axis(count, srv, axis=1)
    share = granted.sum(axis=-1)
    columns = [
        act[..., None],
        onehot,
        np.log(np.where(act, class_weight(obs["goal"], onehot), 1.0))[..., None] / math.log(MAX_WEIGHT),
        np.log1p(obs["local_backlog_gcycles"] / s.local_gcycles)[..., None],
        np.log1p(obs["uplink_backlog_kbit"] / s.uplink_kbit)[..., None],
        np.log1p(obs["edge_backlog_gcycles"] / s.local_gcycles),
        np.log1p(obs["arrivals_bytes"] / s.arrival_bytes),
        np.log1p(obs["rate_mbps"] / s.band_mbps)[..., None],
        (obs["snr_db"] / 50.0)[..., None],
        (speed / 30.0)[..., None],
        np.where(in_gap, 0.0, (x - rsu_x) / s.position_m)[..., None],
        (obs["position_m"][..., 1] / (cfg.lane_offset_m + cfg.lane_width_m * cfg.n_lanes))[..., None],
        in_gap[..., None],
        np.log1p(obs["distance_to_handover_m"] / np.maximum(speed, 1.0))[..., None],
        np.log1p(obs["downlink_backlog_kbit"] / s.downlink_kbit)[..., None],
        my_count[..., None],
        np.take_along_axis(backlog, srv, axis=1)[..., None],
        share[..., None],
        (share * my_count * s.vehicles_per_server)[..., None],
        np.broadcast_to(goal_features(obs["goal"])[:, None, :], (*act.shape, GOAL_VECTOR_SIZE)),
    ]
    if FORECAST_KEYS[0] in obs:
        columns += _forecast_columns(obs, s)
    feats = np.concatenate([np.asarray(c, dtype=np.float32) for c in columns], axis=-1)
    return np.where(act[..., None], feats, np.float32(0.0))


def _forecast_columns(obs: dict[str, np.ndarray], s: FeatureScales) -> list[np.ndarray]:
    """The vehicle's own forecasts (``VEC-pDT-v0``): log rate for h = 1..H, log arrivals summed over H."""
    rate = np.moveaxis(obs["forecast/rate_mbps"], -2, -1)  # (B, H, M) -> (B, M, H)
    arrivals = obs["forecast/arrivals_bytes"].sum(axis=1)  # (B, H, M, K) -> (B, M, K)
    H = rate.shape[-1]
    return [np.log1p(rate / s.band_mbps), np.log1p(arrivals / (H * s.arrival_bytes))]


def global_summary(
    obs: dict[str, np.ndarray], cfg: VECConfig, feats: np.ndarray, scales: FeatureScales | None = None
) -> np.ndarray:
    """(B, G) float32 road-wide figures: occupancy, means of the agents' log features over the
    active vehicles, the coverage-gap fraction and every server's load."""
    s = scales or FeatureScales.of(cfg)
    act = obs["active"].astype(np.float64)
    n = act.sum(axis=1)
    per = np.maximum(n, 1.0)[:, None]
    names = feature_names(cfg)
    K = cfg.n_task_types

    def mean_of(first: str, width: int = 1) -> np.ndarray:
        i = names.index(first)
        return feats[..., i : i + width].sum(axis=-1).sum(axis=1)[:, None] / per

    count, backlog = server_load(obs, cfg, s)
    cols = [
        (n / act.shape[1])[:, None],
        (n / max(cfg.n_vehicles, 1.0))[:, None],
        mean_of("log_local_backlog"),
        mean_of("log_uplink_backlog"),
        mean_of(f"log_edge_backlog_{cfg.type_names[0]}", K),
        mean_of(f"log_arrivals_{cfg.type_names[0]}", K),
        mean_of("log_rate"),
        mean_of("in_gap"),
        np.stack((count, backlog), axis=-1).reshape(len(n), -1),
    ]
    return np.concatenate(cols, axis=1).astype(np.float32)


def agent_state(feats: np.ndarray, summary: np.ndarray) -> np.ndarray:
    """MAPPO's agent-specific global state (B, M, D + G): each agent's features and the summary."""
    B, M, _ = feats.shape
    return np.concatenate((feats, np.broadcast_to(summary[:, None, :], (B, M, summary.shape[1]))), axis=-1)
