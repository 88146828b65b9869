"""Radio: path loss with a free-space floor, a location-fixed radio map, AR(1) Rayleigh fading,
noise and the truncated Shannon rate. Batch-first arrays; distances in metres, powers in watts.

* Path loss ``PL = max(128.1 + 37.6·log10(d / 1 km), FSPL(d, f_c))`` dB: the 3GPP macro model
  drops below free space within about 70 m of the antenna, which no real channel does.
* Shadowing is a **radio map**: one field per (road, RSU, lane) along x, Gudmundson-correlated
  (AR(1) on a grid of ``radio_map_grid_m``, ρ = exp(-Δ/d_c)), linearly interpolated. Two vehicles
  at the same spot see the same shadowing, so the fleet's reports reveal what lies ahead.
* The rate ``b·min(log2(1 + SNR), se_max)``: real modulation and coding saturate (7.4 bit/s/Hz is
  256-QAM at the highest code rate); an uncapped Shannon rate near the antenna would be fiction.
"""

from __future__ import annotations

import numpy as np

from ..config import VECConfig
from .rng import Stream, normal
from .xp import xp_of

SPEED_OF_LIGHT_MPS = 299_792_458.0


def path_loss_db(dist_m: np.ndarray, carrier_hz: float) -> np.ndarray:
    """max(3GPP TR 36.814 macro PL, free-space PL) in dB at 3-D distance ``dist_m``."""
    xp = xp_of(dist_m)
    d = xp.maximum(dist_m, 1.0)
    macro = 128.1 + 37.6 * xp.log10(d * 1e-3)
    free_space = 20.0 * xp.log10(d) + float(20.0 * np.log10(carrier_hz)) - 147.55
    return xp.maximum(macro, free_space)


def noise_w(bandwidth_hz: np.ndarray | float, cfg: VECConfig) -> np.ndarray:
    """Noise power (W) over the band a link actually uses.

    ``noise_model="fixed"`` (the paper's convention): ``noise_w`` whatever the band (-110 dBm,
    9 dB below the thermal floor of 20 MHz). ``"thermal"``: -174 dBm/Hz + 10·log10(b) + NF.
    """
    xp = xp_of(bandwidth_hz)
    if cfg.noise_model == "fixed":
        return xp.full(tuple(np.shape(bandwidth_hz)), cfg.noise_w)
    dbm = cfg.noise_psd_dbm_hz + 10.0 * xp.log10(xp.maximum(bandwidth_hz, 1e-300)) + cfg.noise_figure_db
    return 10.0 ** ((dbm - 30.0) / 10.0)


def rate_bps(bandwidth_hz: np.ndarray, snr_linear: np.ndarray, se_max: float) -> np.ndarray:
    """Truncated Shannon rate ``b·min(log2(1 + SNR), se_max)`` in bit/s."""
    xp = xp_of(bandwidth_hz, snr_linear)
    return bandwidth_hz * xp.minimum(xp.log2(1.0 + snr_linear), se_max)


def distance_m(x_m: np.ndarray, y_m: np.ndarray, rsu_x_m: np.ndarray, antenna_height_m: float) -> np.ndarray:
    """3-D distance (m) from vehicles at (x, y) to RSU antennas at ``rsu_x_m`` (broadcast)."""
    xp = xp_of(x_m, y_m, rsu_x_m)
    dx = x_m - xp.asarray(rsu_x_m)
    return xp.sqrt(dx * dx + y_m * y_m + antenna_height_m**2)


def nearest_rsu_distance_m(x_m: np.ndarray, y_m: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """3-D distance (m) from vehicles at (x, y) to the nearest RSU antenna."""
    xp = xp_of(x_m)
    rsu = xp.asarray(cfg.rsu_x_m, dtype=xp.float64)
    nearest = rsu[xp.argmin(xp.abs(xp.asarray(x_m)[..., None] - rsu), axis=-1)]
    return distance_m(x_m, y_m, nearest, cfg.antenna_height_m)


def mean_snr_db(dist_m: np.ndarray, shadow_db: np.ndarray | float, cfg: VECConfig) -> np.ndarray:
    """Uplink SNR without fast fading (dB) over the full band: p / N(W) over path loss and shadowing."""
    noise = noise_w(cfg.bandwidth_hz, cfg)  # a host constant (a float band)
    return float(10.0 * np.log10(cfg.tx_power_w / noise)) - path_loss_db(dist_m, cfg.carrier_hz) - shadow_db


# ---------------------------------------------------------------------------------------------
def map_grid(cfg: VECConfig) -> np.ndarray:
    """Grid points (m) of the radio map along the road, shape (G,)."""
    n = int(np.ceil(cfg.road_length_m / cfg.radio_map_grid_m)) + 2
    return cfg.radio_map_grid_m * (np.arange(n) - 1.0)


def draw_radio_map(seeds: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """Shadowing fields (dB), shape (B, S, n_lanes, G): Gudmundson AR(1) along x.

    Drawn once at reset from the road's seed (the loop runs over grid points, not per slot).
    """
    xp = xp_of(seeds)
    n_grid = map_grid(cfg).shape[0]
    n_srv, n_lanes = len(cfg.rsu_x_m), cfg.n_lanes
    field_id = xp.arange(n_srv * n_lanes).reshape(1, n_srv, n_lanes, 1)
    eps = normal(seeds.reshape(-1, 1, 1, 1), 0, Stream.RADIO_MAP, field_id, xp.arange(n_grid))
    rho = float(np.exp(-cfg.radio_map_grid_m / cfg.shadowing_decorr_m))
    innov = float(np.sqrt(1.0 - rho * rho))
    out = xp.empty(tuple(eps.shape))
    out[..., 0] = eps[..., 0]
    for i in range(1, n_grid):
        out[..., i] = rho * out[..., i - 1] + innov * eps[..., i]
    return cfg.shadowing_std_db * out


def drift_radio_map(radio_map: np.ndarray, seeds: np.ndarray, slot: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """One slot of slow drift: each map point follows AR(1) in time with time constant
    ``radio_map_drift_s`` (stationary, σ kept). Returns the new map."""
    if cfg.radio_map_drift_s is None:
        raise ValueError("drift_radio_map needs config 'radio_map_drift_s' (a time constant in s), got None")
    xp = xp_of(radio_map, seeds, slot)
    rho = float(np.exp(-cfg.slot_s / cfg.radio_map_drift_s))
    shape = tuple(radio_map.shape)
    idx = xp.arange(int(np.prod(shape[1:]))).reshape(1, *shape[1:])
    eps = normal(seeds.reshape(-1, 1, 1, 1), slot.reshape(-1, 1, 1, 1), Stream.RADIO_DRIFT, 0, idx)
    return rho * radio_map + float(np.sqrt(1.0 - rho * rho)) * cfg.shadowing_std_db * eps


def map_shadowing_db(
    radio_map: np.ndarray, road: np.ndarray, server: np.ndarray, lane: np.ndarray, x_m: np.ndarray, cfg: VECConfig
) -> np.ndarray:
    """Shadowing (dB) at positions ``x_m`` on lanes ``lane`` towards ``server`` (flat arrays)."""
    xp = xp_of(radio_map, x_m)
    pos = (x_m / cfg.radio_map_grid_m) + 1.0
    n_grid = radio_map.shape[-1]
    i0 = xp.clip(xp.astype(xp.floor(pos), xp.int64), 0, n_grid - 2)
    frac = xp.clip(pos - i0, 0.0, 1.0)
    lo = radio_map[road, server, lane, i0]  # point gathers: no copy of whole map rows
    hi = radio_map[road, server, lane, i0 + 1]
    return lo + frac * (hi - lo)


# ---------------------------------------------------------------------------------------------
def bessel_j0(x: np.ndarray) -> np.ndarray:
    """Bessel J0 (Abramowitz & Stegun 9.4.1 / 9.4.3, |error| < 5e-8); scipy is not a core dep."""
    xp = xp_of(x)
    x = xp.abs(xp.asarray(x, dtype=xp.float64))
    small = x <= 3.0
    # Both branches over every element (each on a safe stand-in where the other one applies),
    # then one ``where``: per element the same operations as a masked get/set, no mask-sized arrays.
    xs = xp.where(small, x, 0.0)
    t = (xs / 3.0) ** 2
    near = 1.0 + t * (
        -2.2499997 + t * (1.2656208 + t * (-0.3163866 + t * (0.0444479 + t * (-0.0039444 + t * 0.0002100))))
    )
    xl = xp.where(small, 4.0, x)
    u = 3.0 / xl
    f0 = 0.79788456 + u * (
        -0.00000077 + u * (-0.00552740 + u * (-0.00009512 + u * (0.00137237 + u * (-0.00072805 + u * 0.00014476))))
    )
    th = (
        xl
        - 0.78539816
        + u
        * (-0.04166397 + u * (-0.00003954 + u * (0.00262573 + u * (-0.00054125 + u * (-0.00029333 + u * 0.00013558)))))
    )
    far = f0 * xp.cos(th) / xp.sqrt(xl)
    return xp.where(small, near, far)


def fading_rho(speed_mps: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """Per-slot AR(1) coefficient ρ = J0(2π f_d τ), f_d = v·f_c / c (Jakes)."""
    return bessel_j0(2.0 * np.pi * speed_mps * cfg.carrier_hz / SPEED_OF_LIGHT_MPS * cfg.slot_s)


def fading_draw(seed: np.ndarray, slot: np.ndarray | int, vid: np.ndarray, stream: Stream) -> np.ndarray:
    """CN(0, 1) draws as (re, im), shape (2, *vid.shape), keyed by vehicle id."""
    xp = xp_of(seed, slot, vid)
    re = normal(seed, slot, stream, vid, 0)
    im = normal(seed, slot, stream, vid, 1)
    return float(np.sqrt(0.5)) * xp.stack((re, im))
