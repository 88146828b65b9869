"""The simulator against hand-computed physics (DESIGN §2).

Most tests drive ``Simulator`` in a controlled world: a scripted road (the vehicles we place, no
entries), no fading, shadowing or activity noise, fixed task sizes per type, and a scripted
random generator whose ``poisson``/``random`` calls deliver exactly the arrivals a test asks for
(``standard_normal`` is zero). The uplink SNR of a slot is set through ``sim.gain``. Every expected
value is then a closed-form expression of the paper's formulas, checked to 1e-9 relative.
The last tests are statistical (mobility, arrival calibration) with fixed seeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from vecgym.config import VECConfig
from vecgym.mobility import HighwayMobility, NewVehicles
from vecgym.simulator import Simulator

# Table 1 constants, written out so that the expectations do not read them from the code under test.
TAU = 0.1  # s
W_HZ = 20e6
P_W = 0.2
NOISE_W = 1e-14
F_V = 5e9  # cycles/s
F_E = 400e9  # cycles/s
KAPPA_V = 1e-28
KAPPA_E = 0.25 * 1e-28 * (5e9) ** 2 / (400e9 / 60.0) ** 2
CYCLES_PER_BYTE = 0.25e6
ROAD_M = 2000.0
SIZES_B = (1000.0, 1200.0, 2000.0)  # fixed task size of type 0, 1, 2 (local time 50, 60, 100 ms)
REL = 1e-9


def cycles(k: int) -> float:
    return SIZES_B[k] * CYCLES_PER_BYTE


def bits(k: int) -> float:
    return 8.0 * SIZES_B[k]


def rate_bps(snr: float, band_hz: float = W_HZ) -> float:
    return band_hz * math.log2(1.0 + snr)


def approx(x: float) -> Any:
    return pytest.approx(x, rel=REL, abs=1e-15)


class ScriptedRng:
    """Stands in for ``np.random.Generator`` inside ``Simulator.step``.

    ``poisson`` returns the counts of the arrivals scheduled with ``arrive``; the next ``random``
    call returns their in-slot arrival fractions u (t = t0 + τ·u), in the simulator's queue order
    (n·K + k); every other draw is neutral (zeros / mid-range). Task sizes are fixed per type.
    """

    def __init__(self) -> None:
        self.scheduled: list[tuple[int, int, float]] = []
        self._u: np.ndarray | None = None

    def poisson(self, lam: np.ndarray) -> np.ndarray:
        lam = np.asarray(lam)
        counts = np.zeros(lam.shape, dtype=np.int64)
        K = lam.shape[1]
        order = sorted(self.scheduled, key=lambda s: (s[0] * K + s[1], s[2]))
        for n, k, _ in order:
            counts[n, k] += 1
        self._u = np.array([u for _, _, u in order], dtype=np.float64)
        self.scheduled = []
        return counts

    def random(self, size: Any = None) -> np.ndarray:
        if self._u is not None:
            u, self._u = self._u, None
            if u.shape[0] != size:
                raise AssertionError(f"scripted arrivals: expected random({u.shape[0]}), got random({size})")
            return u
        return np.full(size, 0.5)

    def standard_normal(self, size: Any = None) -> np.ndarray:
        return np.zeros(size)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> np.ndarray:
        return np.full(size, 0.5 * (low + high))


class ScriptedRoad(HighwayMobility):
    """The highway with exactly the vehicles given at reset (x_m, speed_mps) and no entries."""

    def __init__(self, cfg: VECConfig, vehicles: list[tuple[float, float]]):
        super().__init__(cfg)
        self.vehicles = vehicles

    def _new(self, xs: list[float], vs: list[float]) -> NewVehicles:
        n = len(xs)
        return NewVehicles(
            np.array(xs, dtype=np.float64),
            np.array(vs, dtype=np.float64),
            np.zeros(n, dtype=np.int8),
            np.zeros(n, dtype=np.int8),
        )

    def initial(self, rng: np.random.Generator) -> NewVehicles:
        return self._new([x for x, _ in self.vehicles], [v for _, v in self.vehicles])

    def entries(self, rng: np.random.Generator) -> NewVehicles:
        return self._new([], [])


def deterministic_config(**overrides: Any) -> VECConfig:
    base: dict[str, Any] = dict(
        n_vehicles=3.0,
        n_max=4,
        fading=False,
        shadowing_std_db=0.0,
        activity_std=0.0,
        hot_zones=(),
        task_size_bytes=tuple((s, s) for s in SIZES_B),
        gps_noise_m=0.0,
        speed_noise_mps=0.0,
        rate_noise_db=0.0,
    )
    base.update(overrides)
    return VECConfig(**base)


class World:
    """A ``Simulator`` with vehicle n in slot n, parked at the RSU unless told otherwise."""

    def __init__(self, vehicles: list[tuple[float, float]] | None = None, **cfg: Any):
        self.cfg = deterministic_config(**cfg)
        self.sim = Simulator(self.cfg, ScriptedRoad(self.cfg, vehicles or [(1000.0, 0.0)]))
        self.sim.reset(np.random.default_rng(0))
        self.rng = ScriptedRng()
        self.sim.rng = self.rng  # type: ignore[assignment]
        self.shape = (self.sim.n_max, self.sim.K)

    def arrive(self, n: int, k: int, u: float) -> float:
        """Schedule a task of type k at vehicle n at t0 + τ·u of the next slot; return that time."""
        self.rng.scheduled.append((n, k, u))
        return self.sim.t + TAU * u

    def _grid(self, value: float | dict[tuple[int, int], float]) -> np.ndarray:
        if isinstance(value, dict):
            out = np.zeros(self.shape)
            for (n, k), v in value.items():
                out[n, k] = v
            return out
        return np.full(self.shape, float(value))

    def step(
        self,
        w: float | dict[tuple[int, int], float] = 0.0,
        a: float | dict[tuple[int, int], float] = 0.0,
        snr: dict[int, float] | None = None,
    ) -> dict[str, float]:
        """One slot with offload ratios w and edge shares a; ``snr`` sets vehicles' SNR for it."""
        for n, s in (snr or {}).items():
            self.sim.gain[n] = s * NOISE_W / P_W
        return self.sim.step(self._grid(w), self._grid(a)).metrics


def energies(m: dict[str, float]) -> tuple[float, float, float]:
    return m["energy_local_j"], m["energy_upload_j"], m["energy_edge_j"]


# --- 1. local computing ----------------------------------------------------------------------------
def test_local_only_latency_is_cycles_over_vehicle_cpu():
    world = World()
    world.arrive(0, 1, 0.3)
    m = world.step(w=0.0)
    assert m["tasks_arrived"] == 1 and m["tasks_completed"] == 1
    assert m["latency_ms_mean"] == approx(1e3 * cycles(1) / F_V)  # 60 ms
    assert energies(m) == (approx(KAPPA_V * F_V**2 * cycles(1)), 0.0, 0.0)
    assert m["n_uploading"] == 0
    assert world.sim.episode_metrics()["latency_ms_mean"] == approx(60.0)


def test_local_task_carries_its_work_into_the_next_slot():
    world = World()
    world.arrive(0, 2, 0.5)  # 5e8 cycles = 100 ms from t = 0.05
    m0 = world.step()
    assert m0["tasks_completed"] == 0 and m0["tasks_in_flight"] == 1
    assert m0["energy_local_j"] == approx(KAPPA_V * F_V**2 * F_V * 0.05)
    m1 = world.step()
    assert m1["tasks_completed"] == 1
    assert m1["latency_ms_mean"] == approx(100.0)
    assert m1["energy_local_j"] == approx(KAPPA_V * F_V**2 * (cycles(2) - F_V * 0.05))


# --- 3. FIFO queues --------------------------------------------------------------------------------
def test_local_fifo_waits_for_the_task_ahead_and_idles_when_empty():
    world = World()
    a1 = world.arrive(0, 1, 0.1)
    a2 = world.arrive(0, 2, 0.2)
    c1 = a1 + cycles(1) / F_V  # 0.07
    c2 = max(a2, c1) + cycles(2) / F_V  # 0.17: waits for task 1
    m0 = world.step()
    assert m0["tasks_completed"] == 1
    assert m0["latency_ms_mean"] == approx(1e3 * (c1 - a1))
    a3 = world.arrive(0, 0, 0.5)  # 0.15: waits for task 2
    a4 = world.arrive(0, 0, 0.95)  # 0.195: waits for task 3
    c3 = max(a3, c2) + cycles(0) / F_V
    c4 = max(a4, c3) + cycles(0) / F_V
    m1 = world.step()
    assert m1["tasks_completed"] == 1
    assert m1["latency_ms_mean"] == approx(1e3 * (c2 - a2))
    m2 = world.step()
    assert m2["tasks_completed"] == 2
    assert m2["latency_ms_mean"] == approx(1e3 * ((c3 - a3) + (c4 - a4)) / 2)
    lat = 1e3 * np.array([c1 - a1, c2 - a2, c3 - a3, c4 - a4])
    ep = world.sim.episode_metrics()
    assert ep["latency_ms_mean"] == approx(lat.mean())
    assert ep["latency_ms_std"] == pytest.approx(lat.std(), rel=1e-7)
    # An idle gap: a task arriving after the queue emptied starts at once.
    a5 = world.arrive(0, 0, 0.5)
    m3 = world.step()
    assert a5 > c4 and m3["latency_ms_mean"] == approx(1e3 * cycles(0) / F_V)


def test_edge_fifo_waits_for_the_task_ahead_and_follows_a_rate_change():
    world = World()
    snr = 15.0  # log2(1 + SNR) = 4: 80 Mbit/s
    t_up = bits(1) / rate_bps(snr)
    r0, r1 = 0.01 * F_E, 0.02 * F_E
    a1 = world.arrive(0, 1, 0.1)
    a2 = world.arrive(0, 1, 0.2)
    up1, up2 = a1 + t_up, a2 + t_up  # the uplink is idle again before task 2 arrives
    e1 = up1 + cycles(1) / r0
    start2 = max(up2, e1)
    served2 = (TAU - start2) * r0  # task 2's cycles done in slot 0
    e2 = TAU + (cycles(1) - served2) / r1  # the rest at the new share
    m0 = world.step(w=1.0, a={(0, 1): 0.01}, snr={0: snr})
    assert m0["tasks_completed"] == 1
    assert m0["latency_ms_mean"] == approx(1e3 * (e1 - a1))
    assert energies(m0) == (0.0, approx(P_W * 2 * t_up), approx(KAPPA_E * r0**2 * (cycles(1) + served2)))
    assert m0["edge_utilisation"] == approx((cycles(1) + served2) / (F_E * TAU))
    assert world.sim.edge_backlog[0, 1] == approx(cycles(1) - served2)
    a3 = world.arrive(0, 1, 0.05)  # joins behind what is left of task 2
    e3 = max(a3 + t_up, e2) + cycles(1) / r1
    m1 = world.step(w=1.0, a={(0, 1): 0.02}, snr={0: snr})
    assert m1["tasks_completed"] == 2
    assert m1["latency_ms_mean"] == approx(1e3 * ((e2 - a2) + (e3 - a3)) / 2)
    assert energies(m1) == (0.0, approx(P_W * t_up), approx(KAPPA_E * r1**2 * (2 * cycles(1) - served2)))


def test_edge_queue_without_a_share_holds_its_work():
    world = World()
    a1 = world.arrive(0, 0, 0.5)
    m0 = world.step(w=1.0, a=0.0, snr={0: 15.0})
    assert m0["tasks_completed"] == 0 and m0["energy_edge_j"] == 0.0 and m0["edge_utilisation"] == 0.0
    assert m0["energy_upload_j"] == approx(P_W * bits(0) / rate_bps(15.0))
    assert world.sim.edge_backlog[0, 0] == approx(cycles(0))
    m1 = world.step(w=1.0, a={(0, 0): 0.5}, snr={0: 15.0})
    assert m1["tasks_completed"] == 1
    assert m1["latency_ms_mean"] == approx(1e3 * (TAU + cycles(0) / (0.5 * F_E) - a1))
    assert m1["energy_edge_j"] == approx(KAPPA_E * (0.5 * F_E) ** 2 * cycles(0))


def test_upload_spanning_a_slot_boundary_at_two_rates():
    world = World()
    snr1, snr2 = 2.0**0.005 - 1.0, 2.0**0.02 - 1.0  # about 100 and 400 kbit/s
    rt1, rt2 = rate_bps(snr1), rate_bps(snr2)
    a1 = world.arrive(0, 1, 0.5)  # 9600 bits from t = 0.05
    a2 = world.arrive(0, 0, 0.8)  # 8000 bits, queued behind
    shares = {(0, 0): 0.5, (0, 1): 0.5}
    m0 = world.step(w=1.0, a=shares, snr={0: snr1})
    assert m0["tasks_completed"] == 0 and m0["n_uploading"] == 1
    assert m0["energy_upload_j"] == approx(P_W * (TAU - a1))  # transmitting from a1 to the slot end
    left1 = bits(1) - rt1 * (TAU - a1)
    assert world.sim.up_backlog[0] == approx(left1 + bits(0))
    a3 = world.arrive(0, 0, 0.1)  # a new task in slot 1 queues behind the carried backlog
    up1 = TAU + left1 / rt2
    up2 = up1 + bits(0) / rt2
    up3 = max(a3, up2) + bits(0) / rt2
    e1 = up1 + cycles(1) / (0.5 * F_E)
    e2 = up2 + cycles(0) / (0.5 * F_E)
    e3 = max(up3, e2) + cycles(0) / (0.5 * F_E)
    m1 = world.step(w=1.0, a=shares, snr={0: snr2})
    assert m1["tasks_completed"] == 3
    assert m1["latency_ms_mean"] == approx(1e3 * ((e1 - a1) + (e2 - a2) + (e3 - a3)) / 3)
    assert m1["energy_upload_j"] == approx(P_W * (up3 - TAU))
    assert m1["energy_edge_j"] == approx(KAPPA_E * (0.5 * F_E) ** 2 * (2 * cycles(0) + cycles(1)))


# --- 2, 4, 6. offloading: latency and energy -------------------------------------------------------
@pytest.mark.parametrize("snr", [15.0, 1.0, 1000.0])
@pytest.mark.parametrize("share", [1.0, 0.25])
def test_full_offload_latency_is_upload_plus_edge_time(snr: float, share: float):
    world = World()
    world.arrive(0, 1, 0.2)
    m = world.step(w=1.0, a={(0, 1): share}, snr={0: snr})
    t_up = bits(1) / rate_bps(snr)  # 8·D / (W·log2(1 + p·g/σ²))
    t_edge = cycles(1) / (share * F_E)
    assert m["tasks_completed"] == 1 and m["n_uploading"] == 1
    assert m["latency_ms_mean"] == approx(1e3 * (t_up + t_edge))
    assert energies(m) == (0.0, approx(P_W * t_up), approx(KAPPA_E * (share * F_E) ** 2 * cycles(1)))
    assert m["energy_j"] == approx(sum(energies(m)))
    assert m["edge_utilisation"] == approx(cycles(1) / (F_E * TAU))


@pytest.mark.parametrize(
    ("w", "share", "snr", "k"),
    [
        (0.5, 1.0, 15.0, 2),  # the local half dominates
        (0.5, 0.01, 15.0, 2),  # the edge half dominates
        (0.5, 0.5, 15.0, 1),
        (0.25, 0.5, 0.5, 1),
        (0.8, 0.02, 3.0, 1),
    ],
)
def test_partial_offload_runs_both_parts_in_parallel(w: float, share: float, snr: float, k: int):
    world = World()
    world.arrive(0, k, 0.1)
    m = world.step(w=w, a={(0, k): share}, snr={0: snr})
    c_local, c_edge = (1.0 - w) * cycles(k), w * cycles(k)
    t_local = c_local / F_V
    t_up = w * bits(k) / rate_bps(snr)
    t_edge = c_edge / (share * F_E)
    assert m["tasks_completed"] == 1
    assert m["latency_ms_mean"] == approx(1e3 * max(t_local, t_up + t_edge))
    assert energies(m) == (
        approx(KAPPA_V * F_V**2 * c_local),
        approx(P_W * t_up),
        approx(KAPPA_E * (share * F_E) ** 2 * c_edge),
    )


# --- 7. bandwidth sharing --------------------------------------------------------------------------
def test_uploading_vehicles_share_the_band_equally():
    world = World([(1000.0, 0.0), (1000.0, 0.0), (1000.0, 0.0)])
    for n in range(3):
        world.arrive(n, 1, 0.1)
    snrs = {0: 15.0, 1: 3.0, 2: 15.0}
    m = world.step(w={(0, 1): 1.0, (1, 1): 1.0}, a={(0, 1): 0.5, (1, 1): 0.5}, snr=snrs)  # vehicle 2: local
    assert m["n_uploading"] == 2
    t_up = [bits(1) / rate_bps(snrs[n], W_HZ / 2) for n in (0, 1)]
    t_edge = cycles(1) / (0.5 * F_E)
    lat = [t_up[0] + t_edge, t_up[1] + t_edge, cycles(1) / F_V]
    assert m["tasks_completed"] == 3
    assert m["latency_ms_mean"] == approx(1e3 * sum(lat) / 3)
    assert m["energy_upload_j"] == approx(P_W * sum(t_up))


def test_a_vehicle_still_uploading_from_the_last_slot_takes_its_share():
    world = World([(1000.0, 0.0), (1000.0, 0.0)])
    slow = 2.0**0.005 - 1.0  # 100 kbit/s on the full band
    a0 = world.arrive(0, 1, 0.5)
    shares = {(0, 1): 0.5, (1, 1): 0.5}
    m0 = world.step(w=1.0, a=shares, snr={0: slow, 1: 15.0})
    assert m0["n_uploading"] == 1  # vehicle 1 has nothing to send: vehicle 0 has the whole band
    left = bits(1) - rate_bps(slow) * (TAU - a0)
    a1 = world.arrive(1, 1, 0.1)
    m1 = world.step(w=1.0, a=shares, snr={0: slow, 1: 15.0})
    assert m1["n_uploading"] == 2
    t_edge = cycles(1) / (0.5 * F_E)
    e0 = TAU + left / rate_bps(slow, W_HZ / 2) + t_edge
    e1 = a1 + bits(1) / rate_bps(15.0, W_HZ / 2) + t_edge
    assert m1["tasks_completed"] == 2
    assert m1["latency_ms_mean"] == approx(1e3 * ((e0 - a0) + (e1 - a1)) / 2)


# --- 5. a vehicle leaving the road ------------------------------------------------------------------
def exiting_world(t_exit_s: float = 0.05) -> World:
    """One vehicle at 20 m/s that reaches the road end at ``t_exit_s`` into the first slot."""
    return World([(ROAD_M - 20.0 * t_exit_s, 20.0)])


def test_tasks_unfinished_when_the_vehicle_leaves_fail():
    world = exiting_world()
    snr = 15.0
    a_off = world.arrive(0, 1, 0.1)  # offloaded: done at about 0.011 s
    a_loc = world.arrive(0, 2, 0.2)  # local, 100 ms: would finish at 0.12 s
    world.arrive(0, 0, 0.7)  # after the vehicle left: never arrives
    m = world.step(w={(0, 1): 1.0}, a={(0, 1): 1.0}, snr={0: snr})
    t_up = bits(1) / rate_bps(snr)
    assert m["vehicles_exited"] == 1 and m["n_active"] == 1
    assert m["tasks_arrived"] == 2
    assert m["tasks_completed"] == 1 and m["tasks_failed"] == 1
    assert m["violations"] == 1  # the failure; the completed task met its deadline
    assert m["violation_rate"] == 0.5
    assert m["latency_ms_mean"] == approx(1e3 * (t_up + cycles(1) / F_E))
    t_cut = 0.05
    assert energies(m) == (
        approx(KAPPA_V * F_V**2 * F_V * (t_cut - a_loc)),  # local work only until the exit
        approx(P_W * t_up),
        approx(KAPPA_E * F_E**2 * cycles(1)),
    )
    assert a_off < t_cut
    assert m["tasks_in_flight"] == 0 and not world.sim.active.any()
    ep = world.sim.episode_metrics()
    assert ep["tasks_failed"] == 1 and ep["violations"] == 1 and ep["tasks_completed"] == 1


def test_an_unfinished_upload_fails_and_is_charged_until_the_exit():
    world = exiting_world()
    a1 = world.arrive(0, 1, 0.1)
    m = world.step(w=1.0, a=1.0, snr={0: 2.0**0.005 - 1.0})  # 9600 bits at 100 kbit/s: 96 ms
    assert m["tasks_completed"] == 0 and m["tasks_failed"] == 1 and m["violations"] == 1
    assert m["energy_upload_j"] == approx(P_W * (0.05 - a1))
    assert m["energy_edge_j"] == 0.0


def test_no_energy_is_charged_for_a_vehicle_after_it_left():
    world = exiting_world()
    world.arrive(0, 2, 0.2)  # local until 0.12 s, but the vehicle leaves at 0.05 s
    m0 = world.step()
    assert m0["tasks_failed"] == 1
    assert m0["energy_local_j"] == approx(KAPPA_V * F_V**2 * F_V * (0.05 - 0.02))
    m1 = world.step()  # the road is empty
    assert m1["n_active"] == 0
    assert energies(m1) == (0.0, 0.0, 0.0)
    assert world.sim.episode_metrics()["energy_j"] == approx(m0["energy_j"])


def test_a_task_done_before_the_exit_does_not_fail():
    world = exiting_world(0.075)
    world.arrive(0, 0, 0.1)  # 50 ms of local work: done at 0.06 s, before the exit
    m = world.step()
    assert m["vehicles_exited"] == 1
    assert m["tasks_completed"] == 1 and m["tasks_failed"] == 0 and m["violations"] == 0
    assert m["latency_ms_mean"] == approx(50.0)


# --- 10. mobility -------------------------------------------------------------------------------------
def test_entry_rate_keeps_about_n_vehicles_on_the_road():
    cfg = VECConfig(n_vehicles=20.0)
    lo, hi = cfg.speed_min_kmh / 3.6, cfg.speed_max_kmh / 3.6
    # Little's law: N = λ_in · L · E[1/v] with v ~ U[lo, hi].
    assert cfg.entry_rate_hz * cfg.road_length_m * math.log(hi / lo) / (hi - lo) == pytest.approx(20.0)
    mob = HighwayMobility(cfg)
    counts = []
    for seed in range(48):  # independent roads: the count decorrelates only over a ~90 s drive
        rng = np.random.default_rng(seed)
        new = mob.initial(rng)
        x, v = new.x_m, new.speed_mps
        total = 0
        for _ in range(3000):
            total += x.shape[0]
            x, v, _ = mob.advance(x, v, v, rng)
            stay = x < cfg.road_length_m
            new = mob.entries(rng)
            x = np.concatenate((x[stay], new.x_m))
            v = np.concatenate((v[stay], new.speed_mps))
        counts.append(total / 3000)
    assert np.mean(counts) == pytest.approx(20.0, rel=0.05)


def test_vehicle_ids_are_unique_and_vehicles_leave_at_the_road_end():
    sim = Simulator(VECConfig(n_vehicles=20.0, task_rate_hz=(0.0,)))
    sim.reset(np.random.default_rng(3))
    M, K = sim.n_max, sim.K
    zero = np.zeros((M, K))
    gone: set[int] = set()
    seen_max = -1
    n_exits = 0
    for _ in range(1500):
        before = {
            int(i): (sim.x[s], sim.v[s]) for s, i in zip(np.flatnonzero(sim.active), sim.vid[sim.active], strict=True)
        }
        m = sim.step(zero, zero).metrics
        ids = sim.vid[sim.active]
        assert np.unique(ids).shape[0] == ids.shape[0]
        assert (sim.vid[~sim.active] == -1).all()
        assert (sim.x[sim.active] < ROAD_M).all()
        now = {int(i) for i in ids}
        left = set(before) - now
        for vid in left:
            x, v = before[vid]
            assert x + v * TAU >= ROAD_M
        for vid in set(before) & now:
            x, v = before[vid]
            assert x + v * TAU < ROAD_M
        assert m["vehicles_exited"] == len(left)
        entered = now - set(before)
        assert not entered & gone, "a vehicle id was reused"
        assert all(i > seen_max for i in entered), "new ids must grow"
        seen_max = max([seen_max, *now])
        gone |= left
        n_exits += len(left)
    assert n_exits > 15  # λ_in ≈ 0.22 vehicles/s


def test_dynamic_speed_respects_the_acceleration_bound():
    cfg = VECConfig(n_vehicles=20.0, task_rate_hz=(0.0,), dynamic_speed=True)
    sim = Simulator(cfg)
    sim.reset(np.random.default_rng(4))
    zero = np.zeros((sim.n_max, sim.K))
    dv_max = cfg.accel_max_mps2 * TAU
    n_at_bound = 0
    for _ in range(1000):
        vid0, v0, x0 = sim.vid.copy(), sim.v.copy(), sim.x.copy()
        sim.step(zero, zero)
        same = sim.active & (sim.vid == vid0)
        dv = sim.v[same] - v0[same]
        assert (np.abs(dv) <= dv_max * (1 + 1e-12)).all()
        assert sim.x[same] == pytest.approx(x0[same] + 0.5 * (v0[same] + sim.v[same]) * TAU, rel=1e-12)
        n_at_bound += int((np.abs(dv) > 0.999 * dv_max).sum())
        v = sim.v[sim.active]
        assert (v >= cfg.speed_min_mps - 1e-9).all() and (v <= cfg.speed_max_mps + 1e-9).all()
    assert n_at_bound > 1000  # speeds really change, at the bound


# --- 11. arrival calibration -----------------------------------------------------------------------
def test_offered_edge_load_per_vehicle_matches_the_calibrated_rates():
    cfg = VECConfig(n_vehicles=20.0, edge_cpu_hz=4e12)  # a big edge keeps the queues (and the run) short
    sim = Simulator(cfg)
    sim.reset(np.random.default_rng(5))
    M, K = sim.n_max, sim.K
    w = np.ones((M, K))
    rates = np.asarray(cfg.per_type("task_rate_hz"))
    mean_cycles = 0.5 * (1000.0 + 1500.0) * CYCLES_PER_BYTE
    offered = 0.0
    served = 0.0
    vehicle_slots = 0
    for _ in range(3000):
        n_act = int(sim.active.sum())
        a = np.where(sim.active[:, None], 1.0 / (max(n_act, 1) * K), 0.0) * np.ones((M, K))
        vehicle_slots += n_act
        m = sim.step(w, a).metrics
        offered += float(sim.last_arrivals_bytes.sum()) * CYCLES_PER_BYTE  # w = 1: all of it
        served += m["edge_utilisation"] * cfg.edge_cpu_hz * TAU
    per_vehicle_hz = offered / (vehicle_slots * TAU)
    assert per_vehicle_hz == pytest.approx(float(rates.sum()) * mean_cycles, rel=0.04)  # ~15.9 Gcycles/s
    # What is offered is served (less the work of tasks that fail at exit and what is still queued).
    assert 0.97 < served / offered <= 1.0
