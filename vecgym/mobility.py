"""Highway mobility: Poisson entry at x = 0, free-flow driving, exit at x >= L.

Vehicles do not interact (no car following, no lane changes): at the densities of the paper
(at most a few tens of vehicles on 2 km of three lanes) free flow is the accepted model. The
simulator only talks to the ``MobilityModel`` protocol, so a trace or a live SUMO (libsumo)
model can replace ``HighwayMobility`` later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .config import VECConfig


@dataclass
class NewVehicles:
    """Attributes of vehicles that enter (struct of arrays, one entry per vehicle)."""

    x_m: np.ndarray
    speed_mps: np.ndarray
    lane: np.ndarray
    vclass: np.ndarray


_NONE = NewVehicles(np.empty(0), np.empty(0), np.empty(0, np.int8), np.empty(0, np.int8))


class MobilityModel(Protocol):
    def initial(self, rng: np.random.Generator) -> NewVehicles: ...

    def entries(self, rng: np.random.Generator) -> NewVehicles: ...

    def advance(
        self, x_m: np.ndarray, v_mps: np.ndarray, target_mps: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


class HighwayMobility:
    """The paper's straight highway with uniformly distributed desired speeds."""

    def __init__(self, cfg: VECConfig):
        self.cfg = cfg
        self._class_cdf = np.cumsum(cfg.class_probs)[:-1]

    def _attributes(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        lane = rng.integers(0, self.cfg.n_lanes, size=n).astype(np.int8)
        vclass = np.searchsorted(self._class_cdf, rng.random(n), side="right").astype(np.int8)
        return lane, vclass

    def initial(self, rng: np.random.Generator) -> NewVehicles:
        """Stationary road at reset: Poisson(N) vehicles, uniform positions, speeds ∝ 1/v.

        On a road with uniform desired speeds the vehicles present at a given instant are
        length-biased towards slow ones (they stay longer): their density is ∝ 1/v, sampled as
        v = v_min·(v_max/v_min)^U.
        """
        cfg = self.cfg
        n = int(rng.poisson(cfg.n_vehicles))
        lo, hi = cfg.speed_min_kmh / 3.6, cfg.speed_max_kmh / 3.6
        speed = lo * (hi / lo) ** rng.random(n)
        x = rng.random(n) * cfg.road_length_m
        lane, vclass = self._attributes(n, rng)
        order = np.argsort(x, kind="stable")  # ids then grow from the entry towards the exit
        return NewVehicles(x[order], speed[order], lane[order], vclass[order])

    def entries(self, rng: np.random.Generator) -> NewVehicles:
        """Vehicles entering during one slot; each has driven from x = 0 since its entry time."""
        cfg = self.cfg
        n = int(rng.poisson(cfg.entry_rate_hz * cfg.slot_s))
        if n == 0:
            return _NONE
        speed = rng.uniform(cfg.speed_min_kmh / 3.6, cfg.speed_max_kmh / 3.6, size=n)
        x = speed * cfg.slot_s * rng.random(n)
        lane, vclass = self._attributes(n, rng)
        return NewVehicles(x, speed, lane, vclass)

    def advance(
        self, x_m: np.ndarray, v_mps: np.ndarray, target_mps: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions and speeds after one slot; in dynamic mode targets change and speeds follow.

        Returns (x_end_m, v_end_mps, target_mps). Position uses the average of start and end speed,
        which is exact for the piecewise-constant acceleration used here.
        """
        cfg = self.cfg
        tau = cfg.slot_s
        if not cfg.dynamic_speed:
            return x_m + v_mps * tau, v_mps, target_mps
        change = rng.random(x_m.shape) < 1.0 - np.exp(-cfg.speed_change_rate_hz * tau)
        new_target = rng.uniform(cfg.speed_min_mps, cfg.speed_max_mps, size=x_m.shape)
        target = np.where(change, new_target, target_mps)
        dv = np.clip(target - v_mps, -cfg.accel_max_mps2 * tau, cfg.accel_max_mps2 * tau)
        v_end = v_mps + dv
        return x_m + 0.5 * (v_mps + v_end) * tau, v_end, target
