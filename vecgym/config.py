"""Validated configuration of the physical layer (defaults = the paper's Table 1).

Every field carries its unit in its name or docstring. ``VECConfig.from_kwargs`` is what the
environments call: unknown keys and out-of-range values raise ``ValueError`` naming the field
and the allowed range, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .vocab import CLASSES, DEFAULT_TYPE_NAMES

_KMH = 1.0 / 3.6


def default_kappa_edge(kappa_vehicle: float, vehicle_cpu_hz: float, edge_cpu_hz: float, phi: float = 1.0) -> float:
    """κ_e = φ·κ_v·f_v² / F_e²: at full speed (Σa = 1) an edge cycle costs φ times a local cycle.

    The edge server runs at f = Σa·F_e (DVFS) and every cycle costs κ_e·f²: at half speed a cycle
    costs a quarter, so asking for less total share is slower and cheaper per cycle, while the
    split of a given total does not change the cost of the work. With the defaults
    κ_e = 1e-28·(5e9)² / (400e9)² ≈ 1.56e-32 J/(cycle·Hz²), and a cycle at full speed costs
    2.5e-9 J, what the vehicle's own CPU pays.
    """
    return phi * kappa_vehicle * vehicle_cpu_hz**2 / edge_cpu_hz**2


@dataclass(frozen=True)
class VECConfig:
    """Physical-layer parameters. Defaults reproduce the paper's Table 1 where it gives a value."""

    # --- preset ----------------------------------------------------------------------------
    preset: str = "paper"
    """``"paper"`` (Table 1: a 2 km road, one RSU covering it) or ``"corridor"`` (6 km, an RSU
    every km with coverage gaps and a backhaul). ``from_kwargs`` / ``gym.make`` apply the preset's
    values first, then your overrides (``PRESETS`` lists them)."""

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
    rsu_x_m: tuple[float, ...] = (1000.0,)
    """Positions of the RSUs along the road (m); each has its own edge server of ``edge_cpu_hz``."""
    coverage_radius_m: float = 1e6
    """A vehicle within this distance (along x) of its nearest RSU is served by it; beyond, it is
    in a coverage gap (no RSU). The paper's single RSU covers the whole road."""
    tunnels: tuple[tuple[float, float], ...] = ()
    """(x_start_m, x_end_m) stretches with no coverage at all."""
    backhaul_delay_s: float = 2e-3
    """Delay per backhaul hop between adjacent RSUs."""
    backhaul_rate_bps: float = 1e9
    """Rate of each backhaul link (one FIFO per adjacent RSU pair)."""
    backhaul_energy_j_per_bit: float = 20e-9
    """Energy per bit per hop of a migration over the backhaul."""
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
    """Bounded acceleration / deceleration in dynamic mode and after incidents."""
    incidents: tuple[tuple[float, float, float, float, float], ...] = ()
    """(x_start_m, x_end_m, t_start_s, t_end_s, speed_kmh): a stretch where the speed is capped for
    a while; vehicles bunch up behind it and leave as a platoon when it clears."""
    ramps: tuple[tuple[float, float, float, float], ...] = ()
    """(x_m, t_start_s, t_end_s, rate_hz): an on-ramp adding Poisson entries at x during a surge."""

    # --- channel ---------------------------------------------------------------------------
    bandwidth_hz: float = 20e6
    carrier_hz: float = 5.9e9
    tx_power_w: float = 0.2
    rsu_tx_power_w: float = 1.0
    """Power of the RSU's result downlink."""
    downlink_bandwidth_hz: float = 20e6
    """Downlink band per RSU, shared equally among the vehicles it is sending results to."""
    max_spectral_efficiency: float = 7.4
    """Cap on log2(1 + SNR) (bit/s/Hz): the highest modulation and coding rate (256-QAM, 5/6 ≈ 7.4)."""
    noise_model: str = "fixed"
    """``"fixed"``: ``noise_w`` whatever the band (the paper); ``"thermal"``: -174 dBm/Hz over the
    band a link actually uses, plus ``noise_figure_db``."""
    noise_w: float = 1e-14
    """σ² = -110 dBm (the paper's convention; 9 dB below the thermal floor of 20 MHz)."""
    noise_psd_dbm_hz: float = -174.0
    noise_figure_db: float = 9.0
    shadowing_std_db: float = 8.0
    shadowing_decorr_m: float = 50.0
    """Gudmundson decorrelation distance of the radio map along the road."""
    radio_map_grid_m: float = 10.0
    """Grid spacing of the radio map (linear interpolation between points)."""
    radio_map_drift_s: float | None = None
    """None: the radio map is fixed for the episode; else its AR(1) time constant (s)."""
    fading: bool = True
    """Rayleigh block fading per slot, AR(1) with ρ = J0(2π f_d τ)."""

    # --- computing and energy --------------------------------------------------------------
    edge_cpu_hz: float = 400e9
    vehicle_cpu_hz: float = 5e9
    kappa_vehicle: float = 1e-28
    """Effective switched capacitance of a vehicle CPU, J/(cycle·Hz²)."""
    kappa_edge: float | None = None
    """Effective switched capacitance of the edge server; None derives it (``default_kappa_edge``)."""
    edge_energy_phi: float = 1.0
    """φ: an edge cycle at full speed costs φ times a local cycle (when ``kappa_edge`` is None)."""

    # --- tasks -----------------------------------------------------------------------------
    task_size_bytes: tuple[tuple[float, float], ...] = ((1000.0, 1500.0),)
    """Per-type (min, max) task size in bytes; one pair is used for every type."""
    cycles_per_byte: tuple[float, ...] = (0.25e6,)
    """Per-type CPU cycles per byte; one value is used for every type."""
    deadline_s: tuple[float, ...] = (0.2,)
    """Per-type deadline in seconds; one value is used for every type."""
    task_rate_hz: tuple[float, ...] = (44.0 / 3.0,)
    """Per-type mean arrival rate per vehicle (tasks/s); one value is used for every type.
    Calibrated: 44 tasks/s per vehicle puts N = 30 in the narrow window where `go` misses >= 15%
    and the fluid bound <= 2% (README, ``python -m benchmarks.calibrate``)."""
    result_ratio: tuple[float, ...] = (0.0,)
    """Per-type result size as a fraction of the offloaded input (downloaded from the serving RSU).
    The paper neglects results (0)."""
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
    """A task costs min(latency / deadline_eff, cap); one that fails or reaches cap deadlines of
    age is dropped from every queue at that slot boundary and costs cap."""
    peak_window_slots: int = 10
    """Sliding window (slots) of the peak violation rate."""
    fairness_window_slots: int = 20
    """Window (slots) of Jain's index in the reward's fairness term."""
    fairness_min_tasks: int = 5
    """A vehicle counts in Jain's index once it has this many resolved tasks in the window."""

    # ----------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        # numpy scalars (a sweep over np.arange, say) become plain Python numbers first.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.generic):
                object.__setattr__(self, f.name, value.item())
        if isinstance(self.rsu_x_m, int | float) and not isinstance(self.rsu_x_m, bool):
            object.__setattr__(self, "rsu_x_m", (float(self.rsu_x_m),))  # one RSU, as in v1
        _validate(self)

    @property
    def kappa_edge_value(self) -> float:
        """κ_e in use: ``kappa_edge`` or, when None, ``default_kappa_edge`` of this config."""
        if self.kappa_edge is not None:
            return self.kappa_edge
        return default_kappa_edge(self.kappa_vehicle, self.vehicle_cpu_hz, self.edge_cpu_hz, self.edge_energy_phi)

    @property
    def n_servers(self) -> int:
        """Number of RSUs (each with its own edge server)."""
        return len(self.rsu_x_m)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> VECConfig:
        """Build a config from keyword overrides on top of the preset's values.

        Unknown keys or presets raise ``ValueError``.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; valid keys are: {', '.join(sorted(names))}")
        preset = kwargs.get("preset", "paper")
        if preset not in PRESETS:
            raise ValueError(f"config 'preset' = {preset!r} is unknown; use one of {sorted(PRESETS)}")
        kwargs = {**PRESETS[preset], **kwargs}
        kwargs = {k: (_tuplify(v) if isinstance(v, list) else v) for k, v in kwargs.items()}
        return cls(**kwargs)

    def replace(self, **kwargs: Any) -> VECConfig:
        """A copy with some fields changed (validated); the preset's values are not re-applied."""
        merged = {**self.as_dict(), **kwargs}
        return VECConfig(**{k: (_tuplify(v) if isinstance(v, list) else v) for k, v in merged.items()})

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
    def speed_mean_inverse(self) -> float:
        """E[1/v] (s/m) of the entry speeds U[v_min, v_max]."""
        lo, hi = self.speed_min_kmh * _KMH, self.speed_max_kmh * _KMH
        return math.log(hi / lo) / (hi - lo) if hi > lo else 1.0 / lo

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
    "coverage_radius_m": (0.0, 1e9, "[]"),
    "backhaul_delay_s": (0.0, 10.0, "[]"),
    "backhaul_rate_bps": (0.0, 1e15, "(]"),
    "backhaul_energy_j_per_bit": (0.0, 1.0, "[]"),
    "rsu_tx_power_w": (0.0, 1e4, "(]"),
    "downlink_bandwidth_hz": (0.0, 1e12, "(]"),
    "max_spectral_efficiency": (0.0, 100.0, "(]"),
    "noise_psd_dbm_hz": (-300.0, 0.0, "[]"),
    "noise_figure_db": (0.0, 100.0, "[]"),
    "radio_map_grid_m": (0.0, 1e4, "(]"),
    "edge_energy_phi": (0.0, 1e6, "[]"),
    "fairness_window_slots": (1, 100_000, "[]"),
    "fairness_min_tasks": (1, 1_000_000, "[]"),
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
    _validate_v2(cfg)


def _validate_v2(cfg: VECConfig) -> None:
    """Checks of the v2 fields: preset, RSUs, tunnels, traffic events, noise model, result sizes."""
    if cfg.preset not in PRESETS:
        raise ValueError(f"config 'preset' = {cfg.preset!r} is unknown; use one of {sorted(PRESETS)}")
    if cfg.noise_model not in ("fixed", "thermal"):
        raise ValueError(f"config 'noise_model' = {cfg.noise_model!r}; use 'fixed' or 'thermal'")
    rsu = cfg.rsu_x_m
    if not isinstance(rsu, tuple) or not rsu:
        raise ValueError(f"config 'rsu_x_m' must be a non-empty tuple of positions (m), got {rsu!r}")
    for i, x in enumerate(rsu):
        _check_range(f"rsu_x_m[{i}]", x, -1e6, 1e6, "[]")
    if any(b <= a for a, b in itertools.pairwise(rsu)):
        raise ValueError(f"config 'rsu_x_m' must be strictly increasing, got {rsu}")
    if cfg.radio_map_drift_s is not None:
        _check_range("radio_map_drift_s", cfg.radio_map_drift_s, 0.0, 1e9, "(]")
    _check_per_type(cfg, "result_ratio", 0.0, 1e3, "[]")
    _check_tuples(cfg, "tunnels", 2)
    _check_tuples(cfg, "incidents", 5)
    _check_tuples(cfg, "ramps", 4)
    for i, (x0, x1) in enumerate(cfg.tunnels):
        if x1 <= x0:
            raise ValueError(f"config 'tunnels[{i}]' = ({x0}, {x1}) must have x_start_m < x_end_m")
    for i, (x0, x1, t0, t1, speed) in enumerate(cfg.incidents):
        if x1 <= x0 or t1 <= t0 or speed <= 0:
            raise ValueError(
                f"config 'incidents[{i}]' must be (x_start_m < x_end_m, t_start_s < t_end_s, speed_kmh > 0), "
                f"got {cfg.incidents[i]}"
            )
    for i, (x, t0, t1, rate) in enumerate(cfg.ramps):
        if not 0.0 <= x <= cfg.road_length_m or t1 <= t0 or rate < 0:
            raise ValueError(
                f"config 'ramps[{i}]' must be (0 <= x_m <= road_length_m, t_start_s < t_end_s, rate_hz >= 0), "
                f"got {cfg.ramps[i]}"
            )


def _check_tuples(cfg: VECConfig, name: str, width: int) -> None:
    values = getattr(cfg, name)
    if not isinstance(values, tuple):
        raise ValueError(f"config '{name}' must be a tuple of {width}-tuples, got {values!r}")
    for i, item in enumerate(values):
        if not isinstance(item, tuple) or len(item) != width:
            raise ValueError(f"config '{name}[{i}]' must be a tuple of {width} numbers, got {item!r}")
        for j, v in enumerate(item):
            _check_range(f"{name}[{i}][{j}]", v, -1e9, 1e9, "[]")


def _tuplify(value: Any) -> Any:
    """Lists (from JSON or YAML) become tuples, nested ones too."""
    return tuple(_tuplify(v) for v in value) if isinstance(value, list | tuple) else value


#: The corridor's RSUs: every 1 km from 500 m on a 6 km road.
CORRIDOR_RSU_X_M: tuple[float, ...] = tuple(500.0 + 1000.0 * i for i in range(6))

#: Preset values, applied under the user's overrides by ``VECConfig.from_kwargs``.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "corridor": {
        "n_vehicles": 90.0,
        "road_length_m": 6000.0,
        "rsu_x_m": CORRIDOR_RSU_X_M,
        "coverage_radius_m": 450.0,
        "noise_model": "thermal",
        "task_size_bytes": ((1000.0, 2000.0), (100e3, 300e3), (500e3, 1e6)),
        "cycles_per_byte": (0.25e6, 2e3, 200.0),
        "deadline_s": (0.1, 0.5, 2.0),
        "result_ratio": (0.1, 0.05, 0.01),
        "task_rate_hz": (10.0, 1.3, 0.5),
        "hot_zones": ((1200.0, 200.0, 1.0), (3800.0, 200.0, 0.6)),
    },
}


def as_config(config: VECConfig | Mapping[str, Any] | None = None, **kwargs: Any) -> VECConfig:
    """Merge a base config (object or mapping) with keyword overrides."""
    if config is None:
        return VECConfig.from_kwargs(**kwargs)
    if isinstance(config, VECConfig):
        return config.replace(**kwargs) if kwargs else config
    return VECConfig.from_kwargs(**{**dict(config), **kwargs})
