"""``VEC-pDT-v0``: ``VEC-v0`` with the predictive twin's forecasts and the goal channel.

``PredictiveObservation`` feeds every observation to a ``PredictiveTwin`` and adds, for
h = 1..H (axis 0), the twin's forecasts under ``forecast/*`` keys, plus a hashing embedding of the
last operator command (``command_embedding``); ``goal`` is ``VEC-v0``'s goal channel, as its
``goal_channel`` argument selects (the interpreted goal by default).

| Key                              | Shape        | Meaning                                           |
|----------------------------------|--------------|---------------------------------------------------|
| `forecast/mask`                  | (H, M)       | slot holds a vehicle predicted on the road at t+h |
| `forecast/position_m`            | (H, M, 2)    | predicted (x, y)                                  |
| `forecast/position_std_m`        | (H, M)       | std of the predicted x                            |
| `forecast/speed_mps`             | (H, M)       | predicted speed                                   |
| `forecast/speed_std_mps`         | (H, M)       | its std                                           |
| `forecast/snr_db`                | (H, M)       | mean SNR (path loss + shadowing estimate)         |
| `forecast/snr_std_db`            | (H, M)       | shadowing uncertainty                             |
| `forecast/rate_mbps`             | (H, M)       | full-band rate, median over fading                |
| `forecast/rate_mean_mbps`        | (H, M)       | its expectation                                   |
| `forecast/rate_lo_mbps`          | (H, M)       | 10th percentile                                   |
| `forecast/rate_hi_mbps`          | (H, M)       | 90th percentile                                   |
| `forecast/arrivals_bytes`        | (H, M, K)    | predicted arrival bytes per type                  |
| `forecast/arrivals_std_bytes`    | (H, M, K)    | their spread                                      |
| `forecast/cell`                  | (H, M) int64 | predicted serving RSU; -1 in a gap, off road, none |
| `forecast/time_to_handover_s`    | (M,)         | s to the next serving-cell change, clipped to 1e4 |
| `forecast/server_work_cycles`    | (H, S)       | expected task cycles arriving per server (S RSUs) |
| `command_embedding`              | (D,)         | hashing embedding of the last command (0 if none) |

Masked entries read 0 (``forecast/cell``: -1; ``forecast/time_to_handover_s``: 0 in an empty
slot, and ``MAX_TIME_S`` = 1e4 s where no change comes before the road end, the twin's ``inf``).
Float keys are float32. ``info["forecast"]`` holds, on ``reset`` and on every ``step``, the typed
``twins.Forecast`` of this slot, the very object ``wrapper.forecast`` points to (the twin forecasts
once per slot: agents reuse it instead of calling the twin again); the twin itself is
``wrapper.twin``.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vecgym.env import VECEnv
from vecgym.observation import MAX_RATE_MBPS, MAX_SPEED_MPS, POS_MARGIN_M, SNR_DB_RANGE, y_max_m

from .embedding import DEFAULT_DIM, embed_text
from .twin import Forecast, PredictiveTwin

MAX_STD = 1e6
MAX_BYTES = 1e9
MAX_TIME_S = 1e4  # clip of forecast/time_to_handover_s (the twin's inf: no change before the road end)
MAX_CYCLES = 1e18


class PredictiveObservation(gym.Wrapper[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray]):
    """Adds the twin's ``forecast/*`` arrays and ``command_embedding`` to a ``VEC-v0`` observation.

    Args:
        env: a ``VEC-v0`` env (its ``unwrapped`` must be a ``vecgym.VECEnv``).
        horizon: H, the number of slots forecast (>= 1).
        arrivals: the arrival forecaster, ``"ewma"`` (default), ``"ar"`` or ``"lstm"``.
        embed_dim: length of the command embedding.
    """

    def __init__(self, env: gym.Env, horizon: int = 5, arrivals: str = "ewma", embed_dim: int = DEFAULT_DIM):
        super().__init__(env)
        core = env.unwrapped
        if not isinstance(core, VECEnv):
            raise ValueError(f"PredictiveObservation wraps a VEC-v0 env, got {type(core).__name__}")
        if not isinstance(embed_dim, int) or embed_dim < 1:
            raise ValueError(f"embed_dim must be an integer >= 1, got {embed_dim!r}")
        self.twin = PredictiveTwin(core.cfg, horizon=horizon, arrivals=arrivals)
        self.embed_dim = embed_dim
        self.forecast: Forecast | None = None
        cfg = core.cfg
        H, M, K = horizon, cfg.slots, cfg.n_task_types
        f32 = np.float32
        y_max = y_max_m(cfg)
        self._bounds: dict[str, tuple[Any, Any]] = {
            "position_m": (
                np.broadcast_to(np.array([-POS_MARGIN_M, -POS_MARGIN_M], f32), (H, M, 2)),
                np.broadcast_to(np.array([cfg.road_length_m + POS_MARGIN_M, y_max], f32), (H, M, 2)),
            ),
            "position_std_m": (0.0, MAX_STD),
            "speed_mps": (0.0, MAX_SPEED_MPS),
            "speed_std_mps": (0.0, MAX_STD),
            "snr_db": SNR_DB_RANGE,
            "snr_std_db": (0.0, MAX_STD),
            "rate_mbps": (0.0, MAX_RATE_MBPS),
            "rate_mean_mbps": (0.0, MAX_RATE_MBPS),
            "rate_lo_mbps": (0.0, MAX_RATE_MBPS),
            "rate_hi_mbps": (0.0, MAX_RATE_MBPS),
            "arrivals_bytes": (0.0, MAX_BYTES),
            "arrivals_std_bytes": (0.0, MAX_BYTES),
        }
        shapes = {"position_m": (H, M, 2), "arrivals_bytes": (H, M, K), "arrivals_std_bytes": (H, M, K)}
        base = env.observation_space
        assert isinstance(base, spaces.Dict)
        extra: dict[str, spaces.Space[Any]] = {"forecast/mask": spaces.Box(0, 1, (H, M), np.int8)}
        for key, (lo, hi) in self._bounds.items():
            shape = shapes.get(key, (H, M))
            extra[f"forecast/{key}"] = spaces.Box(
                np.broadcast_to(np.asarray(lo, f32), shape).copy(),
                np.broadcast_to(np.asarray(hi, f32), shape).copy(),
                dtype=f32,
            )
        S = cfg.n_servers
        extra["forecast/cell"] = spaces.Box(-1, S - 1, (H, M), np.int64)
        extra["forecast/time_to_handover_s"] = spaces.Box(0.0, MAX_TIME_S, (M,), f32)
        extra["forecast/server_work_cycles"] = spaces.Box(0.0, MAX_CYCLES, (H, S), f32)
        extra["command_embedding"] = spaces.Box(-1.0, 1.0, (embed_dim,), f32)
        self.observation_space = spaces.Dict({**base.spaces, **extra})  # type: ignore[assignment]
        self._embedding = np.zeros(embed_dim, np.float32)
        self._command_id = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.twin.reset()
        self._command_id = 0
        self._embedding = np.zeros(self.embed_dim, np.float32)
        out = self._augment(obs, info)
        info["forecast"] = self.forecast
        return out, info

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        out = self._augment(obs, info)
        info["forecast"] = self.forecast
        return out, reward, terminated, truncated, info

    def _augment(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> dict[str, np.ndarray]:
        if info.get("command_id", 0) != self._command_id:
            self._command_id = info["command_id"]
            self._embedding = embed_text(info.get("command"), self.embed_dim)
        self.twin.update(obs)
        fc = self.twin.forecast()
        self.forecast = fc
        out = dict(obs)
        out["forecast/mask"] = fc.mask.astype(np.int8)
        for key, (lo, hi) in self._bounds.items():
            out[f"forecast/{key}"] = np.clip(getattr(fc, key), lo, hi).astype(np.float32)
        out["forecast/cell"] = fc.cell.astype(np.int64)
        out["forecast/time_to_handover_s"] = np.clip(fc.time_to_handover_s, 0.0, MAX_TIME_S).astype(np.float32)
        out["forecast/server_work_cycles"] = np.clip(fc.server_work_cycles, 0.0, MAX_CYCLES).astype(np.float32)
        out["command_embedding"] = self._embedding.copy()
        return out


def make_pdt_env(
    render_mode: str | None = None,
    horizon: int = 5,
    arrivals: str = "ewma",
    embed_dim: int = DEFAULT_DIM,
    **config: Any,
) -> PredictiveObservation:
    """The ``VEC-pDT-v0`` entry point: ``VECEnv(**config)`` wrapped with the twin; ``config`` also
    carries ``VECEnv``'s ``commands`` and ``goal_channel``."""
    return PredictiveObservation(VECEnv(render_mode=render_mode, **config), horizon, arrivals, embed_dim)
