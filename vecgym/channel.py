"""Uplink channel: 3GPP-style path loss, spatially correlated shadowing, AR(1) Rayleigh fading.

All functions work on whole arrays of vehicles at once. Units: distances in metres (the path-loss
formula takes km), powers in watts, rates in bit/s.
"""

from __future__ import annotations

import numpy as np

from .config import VECConfig

SPEED_OF_LIGHT_MPS = 299_792_458.0


def distance_m(x_m: np.ndarray, y_m: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """3-D distance from each vehicle to the RSU antenna (m)."""
    dx = x_m - cfg.rsu_x_m
    return np.sqrt(dx * dx + y_m * y_m + cfg.antenna_height_m**2)


def path_loss_db(dist_m: np.ndarray) -> np.ndarray:
    """PL = 128.1 + 37.6·log10(d / 1 km) dB (3GPP TR 36.814 macro model)."""
    return 128.1 + 37.6 * np.log10(dist_m * 1e-3)


def mean_snr_db(dist_m: np.ndarray, shadow_db: np.ndarray | float, cfg: VECConfig) -> np.ndarray:
    """SNR without fast fading (dB): p / σ² over path loss and shadowing."""
    return 10.0 * np.log10(cfg.tx_power_w / cfg.noise_w) - path_loss_db(dist_m) - shadow_db


def shannon_rate_bps(bandwidth_hz: np.ndarray | float, snr_linear: np.ndarray) -> np.ndarray:
    """r = b · log2(1 + SNR) in bit/s."""
    return bandwidth_hz * np.log2(1.0 + snr_linear)


def bessel_j0(x: np.ndarray) -> np.ndarray:
    """Bessel function J0 (Abramowitz & Stegun 9.4.1 / 9.4.3, |error| < 5e-8).

    numpy has no J0 and scipy is not a core dependency; the tests check this against scipy.
    """
    x = np.abs(np.asarray(x, dtype=np.float64))
    out = np.empty_like(x)
    small = x <= 3.0
    t = (x[small] / 3.0) ** 2
    out[small] = 1.0 + t * (
        -2.2499997 + t * (1.2656208 + t * (-0.3163866 + t * (0.0444479 + t * (-0.0039444 + t * 0.0002100))))
    )
    xl = x[~small]
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
    out[~small] = f0 * np.cos(th) / np.sqrt(xl)
    return out


def fading_correlation(speed_mps: np.ndarray, cfg: VECConfig) -> np.ndarray:
    """Per-slot AR(1) coefficient ρ = J0(2π f_d τ), f_d = v·f_c / c (Jakes)."""
    doppler_hz = speed_mps * cfg.carrier_hz / SPEED_OF_LIGHT_MPS
    return bessel_j0(2.0 * np.pi * doppler_hz * cfg.slot_s)


def shadowing_step(shadow_db: np.ndarray, moved_m: np.ndarray, cfg: VECConfig, rng: np.random.Generator) -> np.ndarray:
    """Gudmundson's model: S ← e^(-Δd/d_c)·S + sqrt(1 - e^(-2Δd/d_c))·σ·ε."""
    rho = np.exp(-np.abs(moved_m) / cfg.shadowing_decorr_m)
    return rho * shadow_db + np.sqrt(1.0 - rho * rho) * cfg.shadowing_std_db * rng.standard_normal(shadow_db.shape)


def fading_step(h: np.ndarray, speed_mps: np.ndarray, cfg: VECConfig, rng: np.random.Generator) -> np.ndarray:
    """AR(1) complex Gaussian fading h ← ρ·h + sqrt(1 - ρ²)·CN(0, 1); E|h|² = 1."""
    return fading_step_rho(h, fading_correlation(speed_mps, cfg), rng)


def fading_step_rho(h: np.ndarray, rho: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``fading_step`` with a precomputed ρ (the simulator caches it while speeds are constant)."""
    innov = rng.standard_normal((2, *h.shape))
    noise = (innov[0] + 1j * innov[1]) * np.sqrt(0.5)
    return rho * h + np.sqrt(1.0 - rho * rho) * noise


def new_fading(n: int, rng: np.random.Generator) -> np.ndarray:
    """Stationary CN(0, 1) fading coefficients for ``n`` new vehicles."""
    z = rng.standard_normal((2, n))
    return (z[0] + 1j * z[1]) * np.sqrt(0.5)
