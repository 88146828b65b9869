"""What each rung of the information ladder tells the controller about the coming slots
(``agents.horizon``: **Inputs**). Every source returns ``SlotInputs`` for H slots, h = 0 being
the slot the decision applies to.

| source        | new work                                   | channel              | cells, presence          |
|---------------|--------------------------------------------|----------------------|--------------------------|
| `state`       | last slot's arrivals (config mean if none) | measured SNR now     | now, held                |
| `ewma`        | an EWMA of each queue's own arrivals       | measured SNR now     | now, held                |
| `twin`        | the twin's forecast, with its spread       | the radio map's      | forecast                 |
| `true-rates`  | the true Poisson means of the coming slot  | measured SNR now     | now, held                |
| `true-next`   | the true arrivals of the coming slot       | true SNR (fading)    | now                      |
| `true-future` | the true arrivals of each slot             | true SNR of each     | true (``exogenous_future``) |

The `true-*` sources read simulator internals: bounds, not policies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from vecgym.config import VECConfig
from vecgym.tasks import TaskTypes

SOURCES = ("state", "ewma", "twin", "true-rates", "true-next", "true-future")
#: The EWMA's weight on the newest slot (``dpp-ewma``).
EWMA_ALPHA = 0.3


@dataclass
class SlotInputs:
    """(H, M, K) work mean and spread (cycles), (H, M) typical and pessimistic linear SNR on the
    whole band, (H, M) serving cell (-1 gap) and presence (the same vehicle still on the road)."""

    work: np.ndarray
    work_std: np.ndarray
    snr: np.ndarray
    snr_lo: np.ndarray
    cell: np.ndarray
    present: np.ndarray


class Source:
    """Base: the state-now source. Subclasses override ``work`` or ``inputs``."""

    name = "state"

    def __init__(self, env: gym.Env, horizon: int):
        self.env = env
        self.cfg: VECConfig = env.unwrapped.cfg  # type: ignore[attr-defined]
        self.horizon = horizon
        self.types = TaskTypes.from_config(self.cfg)
        self.cpb = np.asarray(self.cfg.per_type("cycles_per_byte"), dtype=np.float64)
        self.class_rate = np.asarray(self.cfg.class_rate_multiplier, dtype=np.float64)

    def reset(self) -> None:
        """Forget the episode."""

    def prior_bytes(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(M, K) the config's mean arrival bytes per slot of each vehicle's class."""
        mult = self.class_rate[np.argmax(obs["vehicle_class"], axis=1)]
        mean_bytes = (
            self.types.rate_hz * self.cfg.slot_s * 0.5 * (self.types.size_min_bytes + self.types.size_max_bytes)
        )
        return mult[:, None] * mean_bytes[None, :]

    def work_bytes(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        arrivals = obs["arrivals_bytes"].astype(np.float64)
        return np.where(arrivals > 0.0, arrivals, self.prior_bytes(obs))

    def inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> SlotInputs:
        active = obs["active"].astype(bool)
        work = self.work_bytes(obs, info) * self.cpb * active[:, None]
        snr = 10.0 ** (obs["snr_db"].astype(np.float64) / 10.0) * active
        return held(work, snr, obs, self.horizon)


def held(work: np.ndarray, snr: np.ndarray, obs: dict[str, np.ndarray], horizon: int) -> SlotInputs:
    """The present held over the horizon (persistence), no spread."""
    H = horizon
    active = obs["active"].astype(bool)
    cell = np.where(active, np.asarray(obs["cell"]), -1)
    rep = np.repeat(work[None], H, axis=0)
    s = np.repeat(snr[None], H, axis=0)
    return SlotInputs(
        rep, np.zeros_like(rep), s, s, np.repeat(cell[None], H, axis=0), np.repeat(active[None], H, axis=0)
    )


class EWMASource(Source):
    """An EWMA of each queue's own arrival bytes: m ← (1 - α)·m + α·arrivals, started at the config
    mean of the vehicle's class when a vehicle id first appears in a slot."""

    name = "ewma"

    def __init__(self, env: gym.Env, horizon: int, alpha: float = EWMA_ALPHA):
        super().__init__(env, horizon)
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"the EWMA weight alpha must be in (0, 1], got {alpha!r}")
        self.alpha = alpha
        self.reset()

    def reset(self) -> None:
        self.mean: np.ndarray | None = None
        self.vid = np.zeros(0, dtype=np.int64)

    def work_bytes(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        vid = np.where(obs["active"] > 0, obs["vehicle_id"], -1)
        arrivals = obs["arrivals_bytes"].astype(np.float64)
        if self.mean is None:
            self.mean, self.vid = self.prior_bytes(obs), np.full(vid.shape, -1)
        new = vid != self.vid
        self.mean = np.where(new[:, None], self.prior_bytes(obs), self.mean)
        # A vehicle seen for the first time has reported one slot already: fold it in too.
        self.mean = (1.0 - self.alpha) * self.mean + self.alpha * arrivals
        self.vid = vid
        return self.mean


class TwinSource(Source):
    """The twin's forecasts: ``info["forecast"]`` when the env is ``VEC-pDT-v0`` (the wrapper's
    single forecast), otherwise the agent's own ``PredictiveTwin``."""

    name = "twin"

    def __init__(self, env: gym.Env, horizon: int):
        super().__init__(env, horizon)
        from twins import PredictiveTwin

        self.twin = PredictiveTwin(self.cfg, horizon=horizon)
        self.own_forecasts = 0

    def reset(self) -> None:
        self.twin.reset()
        self.own_forecasts = 0

    def forecast(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> Any:
        fc = info.get("forecast")
        if fc is not None and fc.horizon >= self.horizon:
            return fc
        self.twin.update(obs)
        self.own_forecasts += 1
        return self.twin.forecast()

    def inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> SlotInputs:
        fc = self.forecast(obs, info)
        H = self.horizon
        active = obs["active"].astype(bool)
        present = fc.mask[:H] & active[None]
        work = fc.arrivals_bytes[:H] * self.cpb * present[..., None]
        std = fc.arrivals_std_bytes[:H] * self.cpb * present[..., None]
        fade = math.log(2.0) if self.cfg.fading else 1.0  # the median of Rayleigh fading
        snr = 10.0 ** (fc.snr_db[:H] / 10.0) * fade * present
        snr_lo = 10.0 ** ((fc.snr_db[:H] - 1.2815515655446004 * fc.snr_std_db[:H]) / 10.0) * fade * present
        cell = np.where(present, fc.cell[:H], -1)
        cell[0] = np.where(active, obs["cell"], -1)  # the coming slot's cell is observed
        return SlotInputs(work, std, snr * (cell >= 0), snr_lo * (cell >= 0), cell, present)


class TrueRatesSource(Source):
    """The true Poisson means of the coming slot's arrivals (the simulator's λ), held."""

    name = "true-rates"

    def work_bytes(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        lam = self.env.unwrapped.sim.lam  # type: ignore[attr-defined]
        mean_bytes = 0.5 * (self.types.size_min_bytes + self.types.size_max_bytes)
        return np.asarray(lam, dtype=np.float64) * mean_bytes[None, :]


class TrueFutureSource(Source):
    """The exogenous future of the next H slots (``Simulator.exogenous_future``): exact arrivals,
    SNR (fading included) and cells. ``true-next`` is this at H = 1."""

    name = "true-future"

    def inputs(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> SlotInputs:
        sim = self.env.unwrapped.sim  # type: ignore[attr-defined]
        fut = sim.exogenous_future(self.horizon)
        active = obs["active"].astype(bool)
        present = active[None] & (fut.vehicle_id == np.asarray(obs["vehicle_id"])[None]) & fut.active
        work = fut.arrivals_bytes * self.cpb * present[..., None]
        cell = np.where(present, fut.cell, -1)
        snr = fut.snr * present * (cell >= 0)
        return SlotInputs(work, np.zeros_like(work), snr, snr, cell, present)


def make_source(name: str, env: gym.Env, horizon: int, **kw: Any) -> Source:
    """The input source ``name`` (one of ``SOURCES``)."""
    classes: dict[str, type[Source]] = {
        "state": Source,
        "ewma": EWMASource,
        "twin": TwinSource,
        "true-rates": TrueRatesSource,
        "true-next": TrueFutureSource,
        "true-future": TrueFutureSource,
    }
    if name not in classes:
        raise ValueError(f"unknown input source {name!r}; known: {', '.join(SOURCES)}")
    if name == "true-next" and horizon != 1:
        raise ValueError(f"'true-next' is the true coming slot only: horizon must be 1, got {horizon}")
    return classes[name](env, horizon, **kw)
