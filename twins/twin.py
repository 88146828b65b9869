"""``PredictiveTwin``: forecasts of mobility, channel quality and task arrivals for h = 1..H.

The twin sees only what an agent sees (the ``VEC-v0`` observation: noisy GPS, speed and SNR
estimates, exact arrivals) and the network's published mean models (road geometry, path loss,
transmit power, noise, band). Per slot it

* tracks each vehicle with a constant-velocity Kalman filter (``twins.kalman``) and extrapolates
  position and speed with their covariance;
* filters the shadowing of each vehicle's link (a scalar Kalman filter on the SNR residual after
  path loss, with the Gudmundson correlation e^(-Δx/d_c) and the fading's known log-spread as
  measurement noise), and maps the predicted position and shadowing through the path-loss model
  to the predicted SNR and to the full-band rate: its median over Rayleigh fading (the point
  forecast), its expectation (closed form e^(1/SNR)·E1(1/SNR)/ln 2) and an 80% band (10th-90th percentiles
  of fading, ± 1.28 σ of shadowing);
* forecasts arrival bytes per (vehicle, type) with ``twins.arrivals`` at the predicted positions.

Filter state belongs to a vehicle id: it starts when an id appears in a slot and is dropped when
the slot empties or another id takes it, so a reused slot never inherits an old vehicle's state.
A sensor dropout (NaN in an observation) skips that measurement update, and the forecast's
uncertainty grows instead of the twin failing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from vecgym.config import VECConfig
from vecgym.core import radio

from .arrivals import FORECASTERS, ArrivalForecaster
from .kalman import ConstantVelocityKF

# Fading power X ~ Exp(1): 10·log10(X) has mean -10γ/ln10 and variance (10/ln10)²·π²/6.
_FADE_MEAN_DB = -10.0 * 0.5772156649015329 / math.log(10.0)
_FADE_VAR_DB2 = (10.0 / math.log(10.0)) ** 2 * math.pi**2 / 6.0
_Z90 = 1.2815515655446004


@dataclass(frozen=True)
class Forecast:
    """The twin's forecasts for slots t+1..t+H (H = ``horizon``) of every vehicle slot.

    Shapes: (H, n_max) unless noted; K = number of task types. ``mask[h, n]`` is True where slot
    n holds a vehicle now that is predicted to still be on the road at t+h+1; elsewhere values are 0.
    """

    horizon: int
    vehicle_id: np.ndarray  # (n_max,) int64, -1 where empty
    mask: np.ndarray  # bool
    position_m: np.ndarray  # (H, n_max, 2): x along the road, y from the RSU
    position_std_m: np.ndarray  # std of x
    speed_mps: np.ndarray
    speed_std_mps: np.ndarray
    snr_db: np.ndarray  # mean SNR without fast fading (path loss + shadowing estimate)
    snr_std_db: np.ndarray  # shadowing uncertainty (fast fading not included)
    rate_mbps: np.ndarray  # W·log2(1+SNR) alone on the band: median over Rayleigh fading
    rate_mean_mbps: np.ndarray  # its expectation over Rayleigh fading
    rate_lo_mbps: np.ndarray  # 10th percentile
    rate_hi_mbps: np.ndarray  # 90th percentile
    arrivals_bytes: np.ndarray  # (H, n_max, K)
    arrivals_std_bytes: np.ndarray  # (H, n_max, K)

    def as_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "horizon"}


class PredictiveTwin:
    """Forecasts for every vehicle slot of a ``VEC-v0`` env; feed it each observation.

    Args:
        config: the env's ``VECConfig`` (``env.unwrapped.cfg``): geometry and channel mean model.
        horizon: H, slots ahead (>= 1).
        arrivals: ``"ewma"`` or ``"ar"`` (``twins.arrivals``), or ``"lstm"`` (extra ``forecast``).
        accel_std_mps2: process noise of the mobility filter.
    """

    def __init__(
        self,
        config: VECConfig,
        horizon: int = 5,
        arrivals: str = "ewma",
        accel_std_mps2: float | None = None,
    ):
        if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
        self.cfg = config
        self.horizon = horizon
        self.n = config.slots
        self.K = config.n_task_types
        if accel_std_mps2 is None:
            accel_std_mps2 = config.accel_max_mps2 if config.dynamic_speed else 0.05
        self.accel_std_mps2 = accel_std_mps2
        self.arrivals_name = arrivals
        make_arrival_forecaster(arrivals, self.n, self.K, config.road_length_m)  # fail early on a bad name
        self._fade_mean_db = _FADE_MEAN_DB if config.fading else 0.0
        self._meas_var = (_FADE_VAR_DB2 if config.fading else 0.0) + max(config.rate_noise_db, 1e-3) ** 2
        self.reset()

    def reset(self) -> None:
        """Forget everything: every vehicle and the pooled arrival statistics (call at env reset)."""
        cfg = self.cfg
        self.kf = ConstantVelocityKF(self.n, cfg.slot_s, self.accel_std_mps2, cfg.gps_noise_m, cfg.speed_noise_mps)
        self.arrivals = make_arrival_forecaster(self.arrivals_name, self.n, self.K, cfg.road_length_m)
        self.vid = np.full(self.n, -1, dtype=np.int64)
        self.y_m = np.zeros(self.n)
        self.s_db = np.zeros(self.n)  # estimate of -shadowing (dB): SNR = P - PL + s + fading
        self.s_var = np.full(self.n, self.cfg.shadowing_std_db**2)
        self.slot = -1
        self.dropouts = 0

    # ------------------------------------------------------------------------------------------
    def update(self, obs: dict[str, np.ndarray]) -> None:
        """Ingest one ``VEC-v0`` observation (the one returned by ``reset`` or ``step``)."""
        try:
            active = np.asarray(obs["active"]).astype(bool)
            vid = np.asarray(obs["vehicle_id"], dtype=np.int64)
            pos = np.asarray(obs["position_m"], dtype=np.float64)
            speed = np.asarray(obs["speed_mps"], dtype=np.float64)
            snr = np.asarray(obs["snr_db"], dtype=np.float64)
            arrivals = np.asarray(obs["arrivals_bytes"], dtype=np.float64)
        except KeyError as exc:
            raise ValueError(f"observation lacks key {exc}; the twin needs a VEC-v0 observation") from exc
        if active.shape != (self.n,) or pos.shape != (self.n, 2) or arrivals.shape != (self.n, self.K):
            raise ValueError(
                f"observation shapes do not match the twin's config (n_max={self.n}, K={self.K}): "
                f"active {active.shape}, position_m {pos.shape}, arrivals_bytes {arrivals.shape}"
            )
        # Track ids: a new id in a slot starts fresh filters; an empty slot drops its state.
        new = active & (vid != self.vid)
        self.vid = np.where(active, vid, -1)
        cont = active & ~new
        self.kf.predict()
        ok = np.isfinite(pos[:, 0]) & np.isfinite(speed)
        self.dropouts += int((active & ~ok).sum())
        start = np.flatnonzero(new & ok)
        if start.shape[0]:
            self.kf.start(start, pos[start, 0], speed[start])
            self.y_m[start] = pos[start, 1]
            self.s_db[start] = 0.0
            self.s_var[start] = self.cfg.shadowing_std_db**2
            self.arrivals.restart(start)
        upd = np.flatnonzero(cont & ok)
        self.kf.update(upd, pos[upd, 0], speed[upd])
        self._update_shadowing(active & np.isfinite(snr), snr)
        arr_ok = active & np.isfinite(arrivals).all(axis=1)
        self.dropouts += int((active & ~arr_ok).sum())
        self.arrivals.update(arr_ok, self.kf.x[:, 0], np.nan_to_num(arrivals))
        self.slot += 1

    def _update_shadowing(self, mask: np.ndarray, snr_db: np.ndarray) -> None:
        cfg = self.cfg
        moved = np.abs(self.kf.x[:, 1]) * cfg.slot_s
        rho = np.exp(-moved / cfg.shadowing_decorr_m)
        var_s = cfg.shadowing_std_db**2
        # Predict: AR(1) in distance.
        self.s_db = rho * self.s_db
        self.s_var = rho * rho * self.s_var + var_s * (1.0 - rho * rho)
        # Update with the residual of the observed SNR after path loss and the mean fading.
        dist = radio.nearest_rsu_distance_m(self.kf.x[:, 0], self.y_m, cfg)
        z = snr_db - radio.mean_snr_db(dist, 0.0, cfg) - self._fade_mean_db
        gain = self.s_var / (self.s_var + self._meas_var)
        self.s_db = np.where(mask, self.s_db + gain * (np.nan_to_num(z) - self.s_db), self.s_db)
        self.s_var = np.where(mask, (1.0 - gain) * self.s_var, self.s_var)

    # ------------------------------------------------------------------------------------------
    def forecast(self) -> Forecast:
        """Forecasts for t+1..t+H from everything ingested so far."""
        cfg, H = self.cfg, self.horizon
        mean, cov = self.kf.forecast(H)
        active = self.vid >= 0
        x = mean[..., 0]
        mask = active[None, :] & (x < cfg.road_length_m)
        pos = np.empty((H, self.n, 2))
        pos[..., 0] = x
        pos[..., 1] = self.y_m
        # Shadowing decorrelates with the distance driven from the current estimate.
        dx = np.abs(x - self.kf.x[None, :, 0])
        rho = np.exp(-dx / cfg.shadowing_decorr_m)
        s_mean = rho * self.s_db
        s_var = rho * rho * self.s_var + cfg.shadowing_std_db**2 * (1.0 - rho * rho)
        dist = radio.nearest_rsu_distance_m(x, self.y_m[None, :], cfg)
        snr_db = radio.mean_snr_db(dist, -s_mean, cfg)
        snr_std = np.sqrt(s_var)
        snr_lin = 10.0 ** (snr_db / 10.0)
        w_mbps = cfg.bandwidth_hz * 1e-6
        if cfg.fading:
            # Point forecast: the median over Rayleigh fading (|h|² = ln 2), which minimises the
            # absolute error; the expectation is ``rate_mean_mbps``.
            rate = w_mbps * np.log2(1.0 + snr_lin * math.log(2.0))
            rate_mean = w_mbps * rayleigh_mean_log2(snr_lin)
            x_lo, x_hi = -math.log(0.9), -math.log(0.1)
        else:
            rate = rate_mean = w_mbps * np.log2(1.0 + snr_lin)
            x_lo = x_hi = 1.0
        lo = w_mbps * np.log2(1.0 + 10.0 ** ((snr_db - _Z90 * snr_std) / 10.0) * x_lo)
        hi = w_mbps * np.log2(1.0 + 10.0 ** ((snr_db + _Z90 * snr_std) / 10.0) * x_hi)
        arr_mean, arr_std = self.arrivals.forecast(x)
        m2 = mask[..., None]
        return Forecast(
            horizon=H,
            vehicle_id=self.vid.copy(),
            mask=mask,
            position_m=pos * m2,
            position_std_m=np.sqrt(np.maximum(cov[..., 0, 0], 0.0)) * mask,
            speed_mps=mean[..., 1] * mask,
            speed_std_mps=np.sqrt(np.maximum(cov[..., 1, 1], 0.0)) * mask,
            snr_db=snr_db * mask,
            snr_std_db=snr_std * mask,
            rate_mbps=rate * mask,
            rate_mean_mbps=rate_mean * mask,
            rate_lo_mbps=lo * mask,
            rate_hi_mbps=hi * mask,
            arrivals_bytes=arr_mean * m2,
            arrivals_std_bytes=arr_std * m2,
        )


def rayleigh_mean_log2(snr: np.ndarray) -> np.ndarray:
    """E[log2(1 + snr·X)] for X ~ Exp(1) (Rayleigh fading power): e^(1/snr)·E1(1/snr) / ln 2.

    E1 by Abramowitz & Stegun 5.1.53 (x <= 1, |error| < 2e-7) and 5.1.56 (x > 1, relative error
    of e^x·x·E1(x) < 2e-8), so e^x·E1(x) never overflows at low SNR.
    """
    x = 1.0 / np.maximum(snr, 1e-300)
    small = x <= 1.0
    out = np.empty_like(x)
    xs = x[small]
    e1 = -np.log(xs) + (
        -0.57721566 + xs * (0.99999193 + xs * (-0.24991055 + xs * (0.05519968 + xs * (-0.00976004 + xs * 0.00107857))))
    )
    out[small] = np.exp(xs) * e1
    xl = x[~small]
    num = 0.2677737343 + xl * (8.6347608925 + xl * (18.0590169730 + xl * (8.5733287401 + xl)))
    den = 3.9584969228 + xl * (21.0996530827 + xl * (25.6329561486 + xl * (9.5733223454 + xl)))
    out[~small] = num / (den * xl)
    return out / math.log(2.0)


def make_arrival_forecaster(name: str, n: int, k: int, road_length_m: float) -> ArrivalForecaster:
    """The arrival forecaster called ``name``; unknown names raise ``ValueError`` listing the known."""
    if name == "lstm":
        from .lstm import LSTMArrivals  # needs torch (extra ``forecast``)

        return LSTMArrivals(n, k, road_length_m)
    if name not in FORECASTERS:
        raise ValueError(f"unknown arrival forecaster {name!r}; known: {', '.join([*FORECASTERS, 'lstm'])}")
    return FORECASTERS[name](n, k, road_length_m)
