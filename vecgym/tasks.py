"""Task types and the arrival process.

Per-type constants and the location profile of the arrival rate; the arrival process itself
(Poisson, modulated by a persistent activity level and by location) is ``vecgym.core.arrivals``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import VECConfig
from .core.xp import xp_of


@dataclass(frozen=True)
class TaskTypes:
    """Per-type constants as arrays of shape (K,)."""

    names: tuple[str, ...]
    size_min_bytes: np.ndarray
    size_max_bytes: np.ndarray
    cycles_per_byte: np.ndarray
    deadline_s: np.ndarray
    rate_hz: np.ndarray

    @classmethod
    def from_config(cls, cfg: VECConfig) -> TaskTypes:
        sizes = np.asarray(cfg.per_type("task_size_bytes"), dtype=np.float64)
        return cls(
            names=cfg.type_names,
            size_min_bytes=sizes[:, 0].copy(),
            size_max_bytes=sizes[:, 1].copy(),
            cycles_per_byte=np.asarray(cfg.per_type("cycles_per_byte"), dtype=np.float64),
            deadline_s=np.asarray(cfg.per_type("deadline_s"), dtype=np.float64),
            rate_hz=np.asarray(cfg.per_type("task_rate_hz"), dtype=np.float64),
        )

    @property
    def mean_cycles(self) -> np.ndarray:
        """Mean CPU cycles of one task of each type, shape (K,)."""
        return 0.5 * (self.size_min_bytes + self.size_max_bytes) * self.cycles_per_byte


class ZoneProfile:
    """Location factor of the arrival rate: 1 + Σ gain·exp(-(x-c)²/2w²), normalised to mean 1."""

    def __init__(self, cfg: VECConfig):
        self.zones = np.asarray(cfg.hot_zones, dtype=np.float64).reshape(-1, 3)
        grid = np.linspace(0.0, cfg.road_length_m, 4001)
        self._norm = float(np.mean(self._raw(grid)))

    def _raw(self, x_m: np.ndarray) -> np.ndarray:
        xp = xp_of(x_m)
        out = xp.ones(x_m.shape, dtype=xp.float64)
        for centre, width, gain in self.zones.tolist():  # Python floats: no numpy scalar meets a tensor
            out += gain * xp.exp(-0.5 * ((x_m - centre) / width) ** 2)
        return out

    def __call__(self, x_m: np.ndarray) -> np.ndarray:
        return self._raw(x_m) / self._norm
