"""``PredictiveTwin``: forecasts of mobility, channel quality and task arrivals for h = 1..H.

The twin sees only what an agent sees (the ``VEC-v0`` observation: noisy GPS, speed and SNR
estimates, exact arrivals) and the network's published mean models (road geometry, path loss,
transmit power, noise, band). Per slot it

* tracks each vehicle with a constant-velocity Kalman filter (``twins.kalman``) and extrapolates
  position and speed with their covariance;
* pools every vehicle's SNR report into a **radio map** (``twins.radio_map.RadioMap``: the
  shadowing per serving RSU, lane and 10 m bin, a shrunk posterior mean and std per bin); a
  vehicle's lane is inferred from the running mean of its reported y;
* maps each predicted position through the predicted serving cell (``cells.serving_cell``), the
  path-loss model and the learned map to the predicted SNR and full-band rate (capped at the
  maximum spectral efficiency, as the engine's): its median over Rayleigh fading (the point
  forecast), its expectation (closed form, with the cap) and an 80% band (10th-90th percentiles
  of fading, ± 1.28 σ of the SNR, σ combining the map's posterior std with the position
  uncertainty through the SNR's slope along x). In a predicted gap or off the road SNR and rates
  read 0;
* forecasts the time to the next change of serving cell and to the road end, and each server's
  coming load (vehicles and task cycles, from a probabilistic cell membership);
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
from vecgym.core import cells, radio

from .arrivals import FORECASTERS, ArrivalForecaster
from .kalman import ConstantVelocityKF
from .radio_map import RadioMap

_Z90 = 1.2815515655446004
_SNR_DX_M = 5.0  # half-step of the finite difference d SNR / dx (half a map bin)


@dataclass(frozen=True, eq=False)
class Forecast:
    """The twin's forecasts for slots t+1..t+H (H = ``horizon``) of every vehicle slot.

    Shapes: (H, n_max) unless noted; K = number of task types, S = number of servers (RSUs).
    Index h (0-based) of axis 0 is slot t+h+1. ``mask[h, n]`` is True where slot n holds a vehicle
    now that is predicted to still be on the road at t+h+1; elsewhere values are 0 (``cell``: -1).
    The per-vehicle times (M,) read 0 in an empty slot.

    ``snr_db`` and the rates refer to the predicted serving RSU at the predicted position and read 0
    in a predicted coverage gap (``cell`` = -1) as off the road.

    ``server_vehicles`` and ``server_work_*`` use a **probabilistic** cell membership: vehicle n is
    in cell s at t+h+1 with the probability that its predicted x (Gaussian, ``position_m`` ±
    ``position_std_m``) falls in the stretches of road that s serves; mass beyond the road end
    counts nowhere. Only the vehicles present now count (entries are not forecast). A vehicle's
    work is its forecast arrival bytes × cycles per byte summed over types, i.e. the load the
    server would get under full offloading; its std treats membership (Bernoulli) and arrivals
    (the forecaster's std, independent across types and vehicles) as independent.
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
    cell: np.ndarray  # (H, n_max) int64: predicted serving RSU, -1 in a gap, off the road or no vehicle
    time_to_handover_s: np.ndarray  # (n_max,) s until the serving cell next changes (inf: not before the road end)
    time_to_handover_std_s: np.ndarray  # (n_max,) its std (delta method on position and speed; inf with the time)
    time_to_exit_s: np.ndarray  # (n_max,) s until the vehicle leaves the road end (inf if stopped)
    server_vehicles: np.ndarray  # (H, S) expected number of the current vehicles served by each RSU
    server_work_cycles: np.ndarray  # (H, S) expected task cycles arriving from the vehicles it serves
    server_work_std_cycles: np.ndarray  # (H, S) their std

    def __eq__(self, other: object) -> bool:
        """Equal when every field is (arrays element-wise, NaN equal to NaN; gymnasium's
        ``check_env`` compares the infos of two seeded resets)."""
        if not isinstance(other, Forecast):
            return NotImplemented
        return self.horizon == other.horizon and all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name), equal_nan=True)
            for f in fields(self)
            if f.name != "horizon"
        )

    __hash__ = None  # type: ignore[assignment]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "horizon"}


class PredictiveTwin:
    """Forecasts for every vehicle slot of a ``VEC-v0`` env; feed it each observation.

    Args:
        config: the env's ``VECConfig`` (``env.unwrapped.cfg``): geometry and channel mean model.
        horizon: H, slots ahead (>= 1).
        arrivals: ``"ewma"`` or ``"ar"`` (``twins.arrivals``), or ``"lstm"`` (extra ``forecast``).
        accel_std_mps2: process noise of the mobility filter.
        map_bin_m: bin width of the radio map (``twins.radio_map``).
        map_forget_s: forgetting time constant of the radio map (default: the config's drift).

    ``forecast_calls`` counts the calls of ``forecast()`` since the last ``reset()``.
    """

    def __init__(
        self,
        config: VECConfig,
        horizon: int = 5,
        arrivals: str = "ewma",
        accel_std_mps2: float | None = None,
        map_bin_m: float = 10.0,
        map_forget_s: float | None = None,
    ):
        if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
        self.cfg = config
        self.horizon = horizon
        self.n = config.slots
        self.K = config.n_task_types
        self.S = config.n_servers
        if accel_std_mps2 is None:
            accel_std_mps2 = config.accel_max_mps2 if config.dynamic_speed else 0.05
        self.accel_std_mps2 = accel_std_mps2
        self.arrivals_name = arrivals
        make_arrival_forecaster(arrivals, self.n, self.K, config.road_length_m)  # fail early on a bad name
        self.radio_map = RadioMap(config, bin_m=map_bin_m, forget_s=map_forget_s)
        self.cycles_per_byte = np.asarray(config.per_type("cycles_per_byte"), dtype=np.float64)
        # Stretches of road between the points where the serving cell can change, and their cells.
        self._edges, self._next_change, stretch_cell = cells.change_points(config)
        self._bounds = np.concatenate(([0.0], self._edges, [config.road_length_m]))
        self._stretch_cell = np.concatenate((stretch_cell, [-1])).astype(np.int64)  # + a sentinel past the end
        self._stretch_onehot = (stretch_cell[:, None] == np.arange(self.S)[None, :]).astype(np.float64)
        self.reset()

    def reset(self) -> None:
        """Forget everything: every vehicle, the radio map and the pooled arrival statistics
        (call at env reset)."""
        cfg = self.cfg
        self.kf = ConstantVelocityKF(self.n, cfg.slot_s, self.accel_std_mps2, cfg.gps_noise_m, cfg.speed_noise_mps)
        self.arrivals = make_arrival_forecaster(self.arrivals_name, self.n, self.K, cfg.road_length_m)
        self.radio_map.reset()
        self.vid = np.full(self.n, -1, dtype=np.int64)
        self.y_m = np.zeros(self.n)  # running mean of the reported y
        self.y_n = np.zeros(self.n)
        self.lane = np.zeros(self.n, dtype=np.intp)
        self.cell_obs = np.full(self.n, -2, dtype=np.int64)  # observed serving cell (-2: unknown)
        self.slot = -1
        self.dropouts = 0
        self.forecast_calls = 0

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
        self.y_n[new] = 0.0
        self.y_m[new] = 0.0
        start = np.flatnonzero(new & ok)
        if start.shape[0]:
            self.kf.start(start, pos[start, 0], speed[start])
            self.arrivals.restart(start)
        upd = np.flatnonzero(cont & ok)
        self.kf.update(upd, pos[upd, 0], speed[upd])
        # Lane: the running mean of y (no lane changes in the physics; the mean beats GPS noise).
        y_ok = active & np.isfinite(pos[:, 1])
        self.y_n = self.y_n + y_ok
        self.y_m = np.where(
            y_ok, self.y_m + (np.nan_to_num(pos[:, 1]) - self.y_m) / np.maximum(self.y_n, 1.0), self.y_m
        )
        self.lane = self.radio_map.lane_of(self.y_m)
        # Radio map: every fresh SNR report at the vehicle's filtered position.
        self.radio_map.forget()
        rep = np.flatnonzero(active & ok & np.isfinite(snr) & (self.y_n > 0))
        self.radio_map.add_snr(self.kf.x[rep, 0], self.lane[rep], snr[rep])
        if "cell" in obs:
            self.cell_obs = np.where(active, np.asarray(obs["cell"], dtype=np.int64), -2)
        arr_ok = active & np.isfinite(arrivals).all(axis=1)
        self.dropouts += int((active & ~arr_ok).sum())
        self.arrivals.update(arr_ok, self.kf.x[:, 0], np.nan_to_num(arrivals))
        self.slot += 1

    # ------------------------------------------------------------------------------------------
    def _mean_snr_db(self, x: np.ndarray, lane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean SNR dB without fading, map std dB) towards the nearest RSU at ``x`` on ``lane``."""
        cfg = self.cfg
        rsu = self.radio_map.nearest_rsu(x)
        y = cfg.lane_offset_m + cfg.lane_width_m * lane
        dist = radio.distance_m(x, y, self.radio_map.rsu_x[rsu], cfg.antenna_height_m)
        s_mean, s_std = self.radio_map.shadowing_db(rsu, lane, x)
        return radio.mean_snr_db(dist, s_mean, cfg), s_std

    def forecast(self) -> Forecast:
        """Forecasts for t+1..t+H from everything ingested so far."""
        self.forecast_calls += 1
        cfg, H = self.cfg, self.horizon
        L = cfg.road_length_m
        mean, cov = self.kf.forecast(H)
        active = self.vid >= 0
        x = mean[..., 0]
        x_std = np.sqrt(np.maximum(cov[..., 0, 0], 0.0))
        mask = active[None, :] & (x < L)
        cell = np.where(mask, cells.serving_cell(x, cfg), -1).astype(np.int64)
        covered = cell >= 0
        pos = np.empty((H, self.n, 2))
        pos[..., 0] = x
        pos[..., 1] = self.y_m
        # Channel from the learned map towards the predicted serving RSU (the nearest one).
        lane = np.broadcast_to(self.lane, x.shape)
        xc = np.clip(x, 0.0, L)
        snr_db, map_std = self._mean_snr_db(xc, lane)
        hi_x, lo_x = np.minimum(xc + _SNR_DX_M, L), np.maximum(xc - _SNR_DX_M, 0.0)
        slope = (self._mean_snr_db(hi_x, lane)[0] - self._mean_snr_db(lo_x, lane)[0]) / np.maximum(hi_x - lo_x, 1e-9)
        snr_std = np.sqrt(map_std**2 + (slope * x_std) ** 2)
        snr_lin = 10.0 ** (snr_db / 10.0)
        w_mbps = cfg.bandwidth_hz * 1e-6
        se = cfg.max_spectral_efficiency
        cap = w_mbps * se
        if cfg.fading:
            # Point forecast: the median over Rayleigh fading (|h|² = ln 2), which minimises the
            # absolute error; the expectation is ``rate_mean_mbps``.
            rate = w_mbps * np.log2(1.0 + snr_lin * math.log(2.0))
            rate_mean = w_mbps * capped_rayleigh_mean_log2(snr_lin, se)
            x_lo, x_hi = -math.log(0.9), -math.log(0.1)
        else:
            rate = rate_mean = w_mbps * np.log2(1.0 + snr_lin)
            x_lo = x_hi = 1.0
        rate = np.minimum(rate, cap)
        rate_mean = np.minimum(rate_mean, cap)
        lo = np.minimum(w_mbps * np.log2(1.0 + 10.0 ** ((snr_db - _Z90 * snr_std) / 10.0) * x_lo), cap)
        hi = np.minimum(w_mbps * np.log2(1.0 + 10.0 ** ((snr_db + _Z90 * snr_std) / 10.0) * x_hi), cap)
        arr_mean, arr_std = self.arrivals.forecast(x)
        m2 = mask[..., None]
        tth, tth_std, t_exit = self._times(active)
        srv_n, srv_w, srv_w_std = self._server_load(active, x, x_std, arr_mean, arr_std)
        return Forecast(
            horizon=H,
            vehicle_id=self.vid.copy(),
            mask=mask,
            position_m=pos * m2,
            position_std_m=x_std * mask,
            speed_mps=mean[..., 1] * mask,
            speed_std_mps=np.sqrt(np.maximum(cov[..., 1, 1], 0.0)) * mask,
            snr_db=snr_db * covered,
            snr_std_db=snr_std * covered,
            rate_mbps=rate * covered,
            rate_mean_mbps=rate_mean * covered,
            rate_lo_mbps=lo * covered,
            rate_hi_mbps=hi * covered,
            arrivals_bytes=arr_mean * m2,
            arrivals_std_bytes=arr_std * m2,
            cell=cell,
            time_to_handover_s=tth,
            time_to_handover_std_s=tth_std,
            time_to_exit_s=t_exit,
            server_vehicles=srv_n,
            server_work_cycles=srv_w,
            server_work_std_cycles=srv_w_std,
        )

    def _times(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Time to the next change of serving cell (and its std) and to the road end, from the
        current filtered state: exact at constant speed."""
        cfg = self.cfg
        L = cfg.road_length_m
        x, v = self.kf.x[:, 0], self.kf.x[:, 1]
        P = self.kf.P
        xq = np.clip(x, 0.0, L)
        edges, next_change = self._edges, self._next_change
        i = np.searchsorted(edges, xq, side="right")
        nxt = next_change[i]
        # Within GPS noise of a change point the filtered x may sit on the other side of it than
        # the vehicle: the observed cell tells which. Filtered x already past the point: the change
        # is now; filtered x not yet there but the cell already changed: the next one after it.
        cell_f = self._stretch_cell[i]
        known = self.cell_obs != -2
        differs = known & (cell_f != self.cell_obs)
        before = self._stretch_cell[np.maximum(i - 1, 0)]
        after = self._stretch_cell[np.minimum(i + 1, self._stretch_cell.shape[0] - 1)]
        ahead = differs & (i > 0) & (before == self.cell_obs)
        lag = differs & ~ahead & (after == self.cell_obs)
        nxt = np.where(lag, next_change[np.minimum(i + 1, next_change.shape[0] - 1)], nxt)
        nxt = np.where(ahead, xq, nxt)
        dist = np.maximum(nxt - xq, 0.0)
        moving = v > 1e-9
        vs = np.where(moving, v, 1.0)
        finite = active & moving & (nxt < L) & (x < L)
        tth = np.where(finite, dist / vs, np.inf)
        var = P[:, 0, 0] / vs**2 + dist**2 * P[:, 1, 1] / vs**4 + 2.0 * dist * P[:, 0, 1] / vs**3
        tth_std = np.where(finite, np.sqrt(np.maximum(var, 0.0)), np.inf)
        t_exit = np.where(moving, np.maximum(L - x, 0.0) / vs, np.inf)
        return np.where(active, tth, 0.0), np.where(active, tth_std, 0.0), np.where(active, t_exit, 0.0)

    def _server_load(
        self, active: np.ndarray, x: np.ndarray, x_std: np.ndarray, arr_mean: np.ndarray, arr_std: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Expected vehicles, cycles and the cycles' std per server, (H, S) each."""
        sd = np.maximum(x_std, 1e-6)[..., None]
        cdf = _norm_cdf((self._bounds - x[..., None]) / sd)  # (H, M, n_stretch + 1)
        p = (np.diff(cdf, axis=-1) @ self._stretch_onehot) * active[None, :, None]  # (H, M, S)
        work = arr_mean @ self.cycles_per_byte  # (H, M)
        work_var = (arr_std**2) @ (self.cycles_per_byte**2)
        w = work[..., None]
        n_exp = p.sum(axis=1)
        w_exp = (p * w).sum(axis=1)
        w_var = (p * (work_var[..., None] + w * w) - p * p * w * w).sum(axis=1)
        return n_exp, w_exp, np.sqrt(np.maximum(w_var, 0.0))


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF via erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7)."""
    u = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * u)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-u * u)
    return 0.5 * (1.0 + np.sign(z) * erf)


def capped_rayleigh_mean_log2(snr: np.ndarray, se_max: float) -> np.ndarray:
    """E[min(log2(1 + snr·X), c)] for X ~ Exp(1), c = ``se_max``:
    E[log2(1 + snr·X)] − e^(-(2^c − 1)/snr)·E[log2(1 + snr·2^(-c)·X)] (integrate the excess above
    c in closed form)."""
    snr = np.maximum(snr, 1e-300)
    scale = 2.0**se_max
    return rayleigh_mean_log2(snr) - np.exp(-(scale - 1.0) / snr) * rayleigh_mean_log2(snr / scale)


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
