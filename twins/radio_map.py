"""``RadioMap``: the shadowing field learned online from every vehicle's SNR reports.

The physics draws one shadowing field per (RSU, lane), fixed to the location (Gudmundson
correlated along x, σ = 8 dB, d_c = 50 m; ``vecgym.core.radio``). Every vehicle that reports its
SNR at a spot therefore measures the same shadowing there, plus its own fast fading and sensor
noise. The map pools those reports:

* the residual of a report is ``z = snr_db − mean_snr_db(path loss, no shadowing) − E[fading dB]``
  = −shadowing + (fading dB − its mean) + sensor noise, measured towards the nearest RSU (the one
  the SNR refers to: the serving RSU, or the nearest in a gap);
* reports are pooled per (RSU, lane, bin), bins of ``bin_m`` (default 10 m) centred at
  x = 0, bin_m, 2·bin_m, …; a report goes to the nearest bin centre;
* each bin holds a conjugate Gaussian posterior with the prior N(0, σ²) (the field's marginal):
  mean = Σ s / (n + R/σ²), var = 1 / (1/σ² + n/R), where R is the measurement variance (the
  Rayleigh fading's log-variance (10/ln10)²·π²/6 ≈ 31 dB² plus the sensor noise). So one report
  moves a bin only 67% of the way (R/σ² ≈ 0.48), and its std shrinks as 1/√n: few reports give a
  cautious estimate near 0;
* a query interpolates mean and variance linearly between the two nearest bin centres.

**Bin width.** 10 m, the engine's own grid: with a 50 m decorrelation distance, adjacent bins
correlate at e^(-10/50) = 0.82, so a bin's field varies little inside it (the linear
interpolation between 10 m knots is the physics' own model), while a 25 m bin would average over
a stretch where the field decorrelates by 1 − e^(-0.5) = 39% and blur it. Data are not short:
fast fading is nearly independent from slot to slot at road speeds (J0(2π f_d τ) ≈ 0), a vehicle
at 20–28 m/s leaves 3–5 reports in each 10 m bin, and at N = 90 on the corridor (about 0.1
vehicles/s per lane) a bin gathers about 30 reports per minute, a posterior std near 1 dB.

**Floor.** A bin's mean is the field averaged over ±bin_m/2 around its centre, not the field at
the centre: with the physics' piecewise-linear field that is 0.75·f(c) + 0.125·(f(c−10)+f(c+10)),
an error of σ·√(6 − 8ρ + 2ρ²)/8 ≈ 0.9 dB (ρ = 0.82) that no number of reports removes. At the
data volumes of an episode (tens of reports per bin) the sampling noise is of the same order; a
smoother (a Kalman smoother on the knots along x) would remove the floor, left for later.

**Drift.** With ``forget_s`` (default: the config's ``radio_map_drift_s``, none for a static map)
the sums and counts decay by e^(-τ/forget_s) every slot, so old reports fade out as the field
drifts.
"""

from __future__ import annotations

import math

import numpy as np

from vecgym.config import VECConfig
from vecgym.core import radio

# Fading power X ~ Exp(1): 10·log10(X) has mean -10γ/ln10 and variance (10/ln10)²·π²/6.
FADE_MEAN_DB = -10.0 * 0.5772156649015329 / math.log(10.0)
FADE_VAR_DB2 = (10.0 / math.log(10.0)) ** 2 * math.pi**2 / 6.0


class RadioMap:
    """Per-(RSU, lane, position bin) posterior of the shadowing (dB, the engine's sign: a loss).

    Args:
        config: the env's ``VECConfig``.
        bin_m: bin width (m) along the road.
        forget_s: time constant (s) of the forgetting for a drifting map; ``None`` uses
            ``config.radio_map_drift_s`` (no forgetting when that is ``None``).
    """

    def __init__(self, config: VECConfig, bin_m: float = 10.0, forget_s: float | None = None):
        if not bin_m > 0:
            raise ValueError(f"bin_m must be > 0, got {bin_m!r}")
        self.cfg = config
        self.bin_m = float(bin_m)
        self.rsu_x = np.asarray(config.rsu_x_m, dtype=np.float64)
        self.n_servers = self.rsu_x.shape[0]
        self.n_lanes = config.n_lanes
        self.n_bins = math.ceil(config.road_length_m / self.bin_m) + 1
        self.prior_var = config.shadowing_std_db**2
        self.meas_var = (FADE_VAR_DB2 if config.fading else 0.0) + max(config.rate_noise_db, 1e-3) ** 2
        self.fade_mean_db = FADE_MEAN_DB if config.fading else 0.0
        forget = config.radio_map_drift_s if forget_s is None else forget_s
        self.decay = math.exp(-config.slot_s / forget) if forget else 1.0
        self._shape = (self.n_servers, self.n_lanes, self.n_bins)
        self.reset()

    def reset(self) -> None:
        """Forget every report."""
        self.sum = np.zeros(self._shape)  # Σ of shadowing reports (dB)
        self.count = np.zeros(self._shape)  # number of reports (decayed when forgetting)
        self.reports = 0

    # ------------------------------------------------------------------------------------------
    def lane_of(self, y_m: np.ndarray) -> np.ndarray:
        """The lane whose centre line is nearest to the lateral position ``y_m``."""
        lane = np.rint((np.asarray(y_m, dtype=np.float64) - self.cfg.lane_offset_m) / self.cfg.lane_width_m)
        return np.clip(np.nan_to_num(lane), 0, self.n_lanes - 1).astype(np.intp)

    def nearest_rsu(self, x_m: np.ndarray) -> np.ndarray:
        """Index of the nearest RSU (the one a vehicle's SNR refers to, in a gap too)."""
        return np.abs(np.asarray(x_m)[..., None] - self.rsu_x).argmin(axis=-1)

    def add_snr(self, x_m: np.ndarray, lane: np.ndarray, snr_db: np.ndarray) -> None:
        """Pool SNR reports (flat arrays; non-finite entries are skipped) measured at ``x_m``."""
        x_m, snr_db = np.asarray(x_m, np.float64), np.asarray(snr_db, np.float64)
        ok = np.isfinite(x_m) & np.isfinite(snr_db)
        x, ln, snr = x_m[ok], np.asarray(lane)[ok], snr_db[ok]
        rsu = self.nearest_rsu(x)
        dist = radio.distance_m(
            x, self.cfg.lane_offset_m + self.cfg.lane_width_m * ln, self.rsu_x[rsu], self.cfg.antenna_height_m
        )
        shadow = radio.mean_snr_db(dist, 0.0, self.cfg) + self.fade_mean_db - snr
        self.add(rsu, ln, x, shadow)

    def add(self, rsu: np.ndarray, lane: np.ndarray, x_m: np.ndarray, shadow_db: np.ndarray) -> None:
        """Pool direct shadowing reports (dB; measurement noise of variance ``meas_var``)."""
        k = np.clip(np.rint(np.asarray(x_m) / self.bin_m), 0, self.n_bins - 1).astype(np.intp)
        flat = (np.asarray(rsu, np.intp) * self.n_lanes + np.asarray(lane, np.intp)) * self.n_bins + k
        size = self.sum.size
        self.sum += np.bincount(flat, weights=shadow_db, minlength=size).reshape(self._shape)
        self.count += np.bincount(flat, minlength=size).reshape(self._shape)
        self.reports += int(flat.shape[0])

    def forget(self) -> None:
        """One slot of forgetting (a no-op for a static map)."""
        if self.decay < 1.0:
            self.sum *= self.decay
            self.count *= self.decay

    # ------------------------------------------------------------------------------------------
    def _bin_posterior(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self.sum.reshape(-1)[flat]
        n = self.count.reshape(-1)[flat]
        mean = s / (n + self.meas_var / self.prior_var)
        var = 1.0 / (1.0 / self.prior_var + n / self.meas_var)
        return mean, var

    def shadowing_db(self, rsu: np.ndarray, lane: np.ndarray, x_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior (mean, std) of the shadowing (dB) towards ``rsu`` on ``lane`` at ``x_m``
        (broadcast arrays), linearly interpolated between bin centres."""
        rsu, lane, x_m = np.broadcast_arrays(
            np.asarray(rsu, np.intp), np.asarray(lane, np.intp), np.asarray(x_m, np.float64)
        )
        pos = np.clip(np.nan_to_num(x_m) / self.bin_m, 0.0, self.n_bins - 1.0)
        i0 = np.minimum(np.floor(pos).astype(np.intp), self.n_bins - 2)
        frac = pos - i0
        base = (rsu * self.n_lanes + lane) * self.n_bins + i0
        m0, v0 = self._bin_posterior(base)
        m1, v1 = self._bin_posterior(base + 1)
        mean = m0 + frac * (m1 - m0)
        var = v0 + frac * (v1 - v0)
        return mean, np.sqrt(var)

    def error_db(self, true_map: np.ndarray, cfg: VECConfig | None = None) -> tuple[float, float]:
        """(RMSE in dB of the posterior mean against the true field at the visited bin centres,
        fraction of the (RSU, lane, bin) cells visited). ``true_map``: one road's
        ``engine.radio_map[b]``, shape (n_servers, n_lanes, G)."""
        cfg = self.cfg if cfg is None else cfg
        visited = self.count > 0
        if not visited.any():
            return float("nan"), 0.0
        srv, ln, k = np.nonzero(visited)
        x = k * self.bin_m
        truth = radio.map_shadowing_db(np.asarray(true_map)[None], np.zeros_like(srv), srv, ln, x, cfg)
        mean, _ = self._bin_posterior(np.flatnonzero(visited))
        return float(np.sqrt(np.mean((mean - truth) ** 2))), float(visited.mean())
