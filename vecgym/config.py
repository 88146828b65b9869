"""Validated configuration of the physical layer (defaults = the paper's Table 1).

Every field carries its unit in its name or docstring. ``VECConfig.from_kwargs`` is what the
environments call: unknown keys and out-of-range values raise ``ValueError`` naming the field
and the allowed range, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .vocab import CLASSES, DEFAULT_TYPE_NAMES

_KMH = 1.0 / 3.6


def default_kappa_edge(kappa_vehicle: float, vehicle_cpu_hz: float, edge_cpu_hz: float) -> float:
    """κ_e such that the edge's energy per cycle at a fair share is 1/4 of local computing.

    Fair share = F_e / (N_ref · K) with N_ref = 20 vehicles and K = 3 types (6.67 GHz with the
    defaults); local energy per cycle = κ_v·f_v² = 1e-28 · (5e9)² = 2.5e-9 J. Hence
    κ_e = 0.25 · 2.5e-9 / (400e9 / 60)² ≈ 1.406e-29 J/(cycle·Hz²) by default. A share faster than
    about 13 GHz then costs more per cycle than the vehicle's own CPU: saving energy costs latency.
    """
    return 0.25 * kappa_vehicle * vehicle_cpu_hz**2 / (edge_cpu_hz / 60.0) ** 2


@dataclass(frozen=True)
class VECConfig:
    """Physical-layer parameters. Defaults reproduce the paper's Table 1 where it gives a value."""

    # --- population and layout -------------------------------------------------------------
    n_vehicles: float = 20.0
    """Expected number N of vehicles on the road (the Poisson entry rate is set from it)."""
    n_max: int | None = None
    """Vehicle slots (fixed observation size). None: N + 5·sqrt(N) + 4, rounded up."""
    n_task_types: int = 3
    """K, the number of task types."""
    slot_s: float = 0.1
    """τ, the slot length in seconds."""
    strict: bool = False
    """Raise ``InvalidActionError`` on a bad action instead of repairing it."""

    # --- road and mobility -----------------------------------------------------------------
    road_length_m: float = 2000.0
    n_lanes: int = 3
    lane_offset_m: float = 8.0
    """Lateral distance from the RSU to the first lane centre."""
    lane_width_m: float = 3.75
    rsu_x_m: float = 1000.0
    antenna_height_m: float = 10.0
    speed_min_kmh: float = 60.0
    speed_max_kmh: float = 100.0
    class_probs: tuple[float, ...] = (0.85, 0.08, 0.05, 0.02)
    """Probability of each class in ``CLASSES`` (car, bus, truck, emergency) at entry."""
    dynamic_speed: bool = False
    """Vehicles change their target speed at random times and accelerate towards it."""
    dyn_speed_min_kmh: float = 30.0
    dyn_speed_max_kmh: float = 130.0
    speed_change_rate_hz: float = 0.3
    """Rate of target-speed changes per vehicle in dynamic mode (Poisson)."""
    accel_max_mps2: float = 3.0
    """Bounded acceleration / deceleration in dynamic mode."""

    # --- channel ---------------------------------------------------------------------------
    bandwidth_hz: float = 20e6
    carrier_hz: float = 5.9e9
    tx_power_w: float = 0.2
    noise_w: float = 1e-14
    """σ² = -110 dBm over the band a vehicle uses (the paper's convention)."""
    shadowing_std_db: float = 8.0
    shadowing_decorr_m: float = 50.0
    fading: bool = True
    """Rayleigh block fading per slot, AR(1) with ρ = J0(2π f_d τ)."""

    # --- computing and energy --------------------------------------------------------------
    edge_cpu_hz: float = 400e9
    vehicle_cpu_hz: float = 5e9
    kappa_vehicle: float = 1e-28
    """Effective switched capacitance of a vehicle CPU, J/(cycle·Hz²)."""
    kappa_edge: float | None = None
    """Effective switched capacitance of the edge server; None derives it from ``kappa_vehicle``,
    ``vehicle_cpu_hz`` and ``edge_cpu_hz`` (see ``default_kappa_edge``)."""

    # --- tasks -----------------------------------------------------------------------------
    task_size_bytes: tuple[tuple[float, float], ...] = ((1000.0, 1500.0),)
    """Per-type (min, max) task size in bytes; one pair is used for every type."""
    cycles_per_byte: tuple[float, ...] = (0.25e6,)
    """Per-type CPU cycles per byte; one value is used for every type."""
    deadline_s: tuple[float, ...] = (0.2,)
    """Per-type deadline in seconds; one value is used for every type."""
    task_rate_hz: tuple[float, ...] = (17.0,)
    """Per-type mean arrival rate per vehicle (tasks/s); one value is used for every type.
    Calibrated (17 tasks/s per type with K = 3), see README."""
    activity_corr: float = 0.95
    """Per-slot autocorrelation of each (vehicle, type) log-normal activity level."""
    activity_std: float = 0.5
    """Standard deviation of the log activity level (0 = plain Poisson arrivals)."""
    hot_zones: tuple[tuple[float, float, float], ...] = ((500.0, 150.0, 1.0), (1500.0, 150.0, 0.5))
    """(centre_m, width_m, gain) Gaussian bumps of the arrival rate along the road."""
    class_rate_multiplier: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    """Arrival-rate multiplier per class in ``CLASSES``."""

    # --- sensing noise ---------------------------------------------------------------------
    gps_noise_m: float = 1.5
    """Std of the GPS error on observed positions (m)."""
    speed_noise_mps: float = 0.3
    """Std of the error on observed speeds (m/s)."""
    rate_noise_db: float = 1.0
    """Std of the (log-normal) error on the observed SNR / rate estimate (dB)."""

    # --- reward and metrics ----------------------------------------------------------------
    qos_cost_cap: float = 3.0
    """A task costs min(latency / deadline_eff, cap); a failed or overdue task costs cap."""
    peak_window_slots: int = 10
    """Sliding window (slots) of the peak violation rate."""

    # ----------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        # numpy scalars (a sweep over np.arange, say) become plain Python numbers first.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.generic):
                object.__setattr__(self, f.name, value.item())
        _validate(self)

    @property
    def kappa_edge_value(self) -> float:
        """κ_e in use: ``kappa_edge`` or, when None, ``default_kappa_edge`` of this config."""
        if self.kappa_edge is not None:
            return self.kappa_edge
        return default_kappa_edge(self.kappa_vehicle, self.vehicle_cpu_hz, self.edge_cpu_hz)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> VECConfig:
        """Build a config from keyword overrides; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; valid keys are: {', '.join(sorted(names))}")
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()}
        return cls(**kwargs)

    def replace(self, **kwargs: Any) -> VECConfig:
        """A copy with some fields changed (validated)."""
        return VECConfig.from_kwargs(**{**self.as_dict(), **kwargs})

    def as_dict(self) -> dict[str, Any]:
        """Shallow field dict (round-trips through ``from_kwargs``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    # --- derived quantities ----------------------------------------------------------------
    @property
    def slots(self) -> int:
        """The resolved number of vehicle slots."""
        if self.n_max is not None:
            return self.n_max
        n = self.n_vehicles
        return math.ceil(n + 5.0 * math.sqrt(n) + 4.0)

    @property
    def speed_min_mps(self) -> float:
        return (self.dyn_speed_min_kmh if self.dynamic_speed else self.speed_min_kmh) * _KMH

    @property
    def speed_max_mps(self) -> float:
        return (self.dyn_speed_max_kmh if self.dynamic_speed else self.speed_max_kmh) * _KMH

    @property
    def entry_rate_hz(self) -> float:
        """Poisson entry rate λ_in = N / (L · E[1/v]) (Little's law, exact for U[vmin, vmax])."""
        lo, hi = self.speed_min_kmh * _KMH, self.speed_max_kmh * _KMH
        mean_inv_speed = math.log(hi / lo) / (hi - lo) if hi > lo else 1.0 / lo
        return self.n_vehicles / (self.road_length_m * mean_inv_speed)

    def per_type(self, name: str) -> tuple[Any, ...]:
        """Field ``name`` broadcast to K entries (a single value applies to every type)."""
        value = getattr(self, name)
        return tuple(value) * self.n_task_types if len(value) == 1 else tuple(value)

    @property
    def type_names(self) -> tuple[str, ...]:
        base = DEFAULT_TYPE_NAMES[: self.n_task_types]
        return base + tuple(f"type{k}" for k in range(len(base), self.n_task_types))


# ---------------------------------------------------------------------------------------------
_RANGES: dict[str, tuple[float, float, str]] = {
    # name: (low, high, kind) with kind "[]" closed, "(]" open below, "()" open
    "n_vehicles": (0.0, 100_000.0, "(]"),
    "n_task_types": (1, 64, "[]"),
    "slot_s": (0.0, 10.0, "(]"),
    "road_length_m": (0.0, 1e6, "(]"),
    "n_lanes": (1, 16, "[]"),
    "lane_offset_m": (0.0, 1e3, "[]"),
    "lane_width_m": (0.0, 100.0, "(]"),
    "rsu_x_m": (-1e6, 1e6, "[]"),
    "antenna_height_m": (0.0, 1e3, "[]"),
    "speed_min_kmh": (0.0, 500.0, "(]"),
    "speed_max_kmh": (0.0, 500.0, "(]"),
    "dyn_speed_min_kmh": (0.0, 500.0, "(]"),
    "dyn_speed_max_kmh": (0.0, 500.0, "(]"),
    "speed_change_rate_hz": (0.0, 100.0, "[]"),
    "accel_max_mps2": (0.0, 100.0, "(]"),
    "bandwidth_hz": (0.0, 1e12, "(]"),
    "carrier_hz": (0.0, 1e12, "(]"),
    "tx_power_w": (0.0, 1e3, "(]"),
    "noise_w": (0.0, 1.0, "(]"),
    "shadowing_std_db": (0.0, 40.0, "[]"),
    "shadowing_decorr_m": (0.0, 1e5, "(]"),
    "edge_cpu_hz": (0.0, 1e15, "(]"),
    "vehicle_cpu_hz": (0.0, 1e12, "(]"),
    "kappa_vehicle": (0.0, 1e-20, "[]"),
    "activity_corr": (0.0, 1.0, "[)"),
    "activity_std": (0.0, 5.0, "[]"),
    "gps_noise_m": (0.0, 1e3, "[]"),
    "speed_noise_mps": (0.0, 100.0, "[]"),
    "rate_noise_db": (0.0, 40.0, "[]"),
    "qos_cost_cap": (1.0, 1e3, "[]"),
    "peak_window_slots": (1, 100_000, "[]"),
}


def _check_range(name: str, value: Any, low: float, high: float, kind: str) -> None:
    ok_type = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok_type or not math.isfinite(float(value)):
        raise ValueError(f"config '{name}' must be a finite number in {_fmt(low, high, kind)}, got {value!r}")
    lo_ok = value > low if kind[0] == "(" else value >= low
    hi_ok = value < high if kind[1] == ")" else value <= high
    if not (lo_ok and hi_ok):
        raise ValueError(f"config '{name}' = {value!r} is out of range; allowed: {_fmt(low, high, kind)}")


def _fmt(low: float, high: float, kind: str) -> str:
    return f"{kind[0]}{low:g}, {high:g}{kind[1]}"


def _check_per_type(cfg: VECConfig, name: str, low: float, high: float, kind: str) -> None:
    values = getattr(cfg, name)
    if not isinstance(values, tuple) or len(values) not in (1, cfg.n_task_types):
        raise ValueError(
            f"config '{name}' must be a tuple of 1 or n_task_types={cfg.n_task_types} values, got {values!r}"
        )
    for i, v in enumerate(values):
        _check_range(f"{name}[{i}]", v, low, high, kind)


def _validate(cfg: VECConfig) -> None:
    for name, (low, high, kind) in _RANGES.items():
        value = getattr(cfg, name)
        if isinstance(low, int) and isinstance(high, int) and not isinstance(value, int | bool):
            raise ValueError(f"config '{name}' must be an integer in {_fmt(low, high, kind)}, got {value!r}")
        _check_range(name, value, low, high, kind)
    if not isinstance(cfg.strict, bool) or not isinstance(cfg.dynamic_speed, bool) or not isinstance(cfg.fading, bool):
        raise ValueError("config 'strict', 'dynamic_speed' and 'fading' must be bool")
    if cfg.speed_min_kmh > cfg.speed_max_kmh:
        raise ValueError(
            f"config 'speed_min_kmh' = {cfg.speed_min_kmh} must be <= 'speed_max_kmh' = {cfg.speed_max_kmh}"
        )
    if cfg.dyn_speed_min_kmh > cfg.dyn_speed_max_kmh:
        raise ValueError("config 'dyn_speed_min_kmh' must be <= 'dyn_speed_max_kmh'")
    if cfg.n_max is not None:
        if not isinstance(cfg.n_max, int) or isinstance(cfg.n_max, bool) or not 1 <= cfg.n_max <= 1_000_000:
            raise ValueError(f"config 'n_max' must be None or an integer in [1, 1000000], got {cfg.n_max!r}")
    if cfg.kappa_edge is not None:
        _check_range("kappa_edge", cfg.kappa_edge, 0.0, 1e-20, "[]")
    _check_per_type(cfg, "cycles_per_byte", 0.0, 1e12, "(]")
    _check_per_type(cfg, "deadline_s", 0.0, 1e4, "(]")
    _check_per_type(cfg, "task_rate_hz", 0.0, 1e6, "[]")
    sizes = cfg.task_size_bytes
    if not isinstance(sizes, tuple) or len(sizes) not in (1, cfg.n_task_types):
        raise ValueError(f"config 'task_size_bytes' must hold 1 or n_task_types={cfg.n_task_types} (min, max) pairs")
    for i, pair in enumerate(sizes):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError(f"config 'task_size_bytes[{i}]' must be a (min, max) pair, got {pair!r}")
        _check_range(f"task_size_bytes[{i}][0]", pair[0], 0.0, 1e12, "(]")
        _check_range(f"task_size_bytes[{i}][1]", pair[1], 0.0, 1e12, "(]")
        if pair[0] > pair[1]:
            raise ValueError(f"config 'task_size_bytes[{i}]' has min {pair[0]} > max {pair[1]}")
    for name in ("class_probs", "class_rate_multiplier"):
        values = getattr(cfg, name)
        if not isinstance(values, tuple) or len(values) != len(CLASSES):
            raise ValueError(f"config '{name}' must hold one value per class {CLASSES}, got {values!r}")
        for i, v in enumerate(values):
            _check_range(f"{name}[{i}]", v, 0.0, 1e6, "[]")
    if abs(sum(cfg.class_probs) - 1.0) > 1e-6:
        raise ValueError(f"config 'class_probs' must sum to 1, got {sum(cfg.class_probs)}")
    for i, zone in enumerate(cfg.hot_zones):
        if not isinstance(zone, tuple | list) or len(zone) != 3:
            raise ValueError(f"config 'hot_zones[{i}]' must be (centre_m, width_m, gain), got {zone!r}")
        _check_range(f"hot_zones[{i}].width_m", zone[1], 0.0, 1e6, "(]")
        _check_range(f"hot_zones[{i}].gain", zone[2], 0.0, 1e3, "[]")


def as_config(config: VECConfig | Mapping[str, Any] | None = None, **kwargs: Any) -> VECConfig:
    """Merge a base config (object or mapping) with keyword overrides."""
    if config is None:
        return VECConfig.from_kwargs(**kwargs)
    if isinstance(config, VECConfig):
        return config.replace(**kwargs) if kwargs else config
    return VECConfig.from_kwargs(**{**dict(config), **kwargs})
