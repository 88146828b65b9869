"""The v2 engine against hand-computed physics (``docs/physics_v2.md``, DESIGN §2).

Each test scripts a road (``tests/scripted.py``): the vehicles it places, no entries, no activity
noise, |h|² = 1 and a flat radio map unless it says otherwise, and exactly the tasks it schedules.
It sets each vehicle's channel gain for a slot where it wants a chosen SNR. Every expected value
below is a closed-form expression of the model's formulas with the constants written out here
(not read from the code under test), checked to 1e-9 relative. The last tests are statistical
(mobility, arrival rates) with fixed seeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scripted import COMPLETED, DROPPED, FAILED, KERNELS, Veh, World

from vecgym.config import VECConfig
from vecgym.core import traffic
from vecgym.core.engine import Engine
from vecgym.goals import GoalSpec

# --- constants of the presets, written out (Table 1 and DESIGN §2) --------------------------------
TAU = 0.1  # s
W_HZ = 20e6  # uplink band per RSU
W_DL_HZ = 20e6  # downlink band per RSU
P_W = 0.2  # vehicle transmit power
P_RSU_W = 1.0  # RSU transmit power (results)
NOISE_W = 1e-14  # paper: -110 dBm whatever the band
NOISE_PSD_DBM_HZ = -174.0  # corridor: thermal
NOISE_FIGURE_DB = 9.0
SE_MAX = 7.4  # bit/s/Hz
F_V = 5e9  # cycles/s
F_E = 400e9  # cycles/s
KAPPA_V = 1e-28
J_PER_LOCAL_CYCLE = KAPPA_V * F_V**2  # 2.5e-9 J
KAPPA_E = 1.0 * KAPPA_V * F_V**2 / F_E**2  # φ = 1: 1.5625e-32
CAP = 3.0
ROAD_M = 2000.0  # paper road; its RSU at 1000 m covers it all
CPB = 0.25e6  # paper cycles/byte (every type)
DEADLINE_S = 0.2  # paper deadline (every type)
# corridor: types (safety, perception, bulk)
CPB_C = (0.25e6, 2e3, 200.0)
DEADLINE_C = (0.1, 0.5, 2.0)
RESULT_RATIO_C = (0.1, 0.05, 0.01)
BACKHAUL_BPS = 1e9
BACKHAUL_DELAY_S = 2e-3
E_BIT_J = 20e-9
REL = 1e-9

# The configs of the scripted worlds: the presets with every value the expectations use pinned to
# the constants above, so that a re-calibration of a preset does not change what is tested here.
_COMMON = dict(
    n_task_types=3,
    slot_s=TAU,
    bandwidth_hz=W_HZ,
    downlink_bandwidth_hz=W_DL_HZ,
    tx_power_w=P_W,
    rsu_tx_power_w=P_RSU_W,
    max_spectral_efficiency=SE_MAX,
    vehicle_cpu_hz=F_V,
    edge_cpu_hz=F_E,
    kappa_vehicle=KAPPA_V,
    kappa_edge=None,
    edge_energy_phi=1.0,
    qos_cost_cap=CAP,
    n_lanes=3,
)
PAPER = dict(
    _COMMON,
    preset="paper",
    road_length_m=ROAD_M,
    rsu_x_m=(1000.0,),
    coverage_radius_m=1e6,
    noise_model="fixed",
    noise_w=NOISE_W,
    cycles_per_byte=(CPB,),
    deadline_s=(DEADLINE_S,),
    result_ratio=(0.0,),
)
CORRIDOR = dict(
    _COMMON,
    preset="corridor",
    road_length_m=6000.0,
    rsu_x_m=tuple(500.0 + 1000.0 * i for i in range(6)),
    coverage_radius_m=450.0,
    tunnels=(),
    noise_model="thermal",
    noise_psd_dbm_hz=NOISE_PSD_DBM_HZ,
    noise_figure_db=NOISE_FIGURE_DB,
    cycles_per_byte=CPB_C,
    deadline_s=DEADLINE_C,
    result_ratio=RESULT_RATIO_C,
    backhaul_rate_bps=BACKHAUL_BPS,
    backhaul_delay_s=BACKHAUL_DELAY_S,
    backhaul_energy_j_per_bit=E_BIT_J,
)


def approx(x: float) -> Any:
    return pytest.approx(x, rel=REL, abs=1e-18)


def thermal_noise_w(band_hz: float) -> float:
    """-174 dBm/Hz + 10·log10(b) + NF, in W."""
    return 10.0 ** ((NOISE_PSD_DBM_HZ + 10.0 * math.log10(band_hz) + NOISE_FIGURE_DB - 30.0) / 10.0)


def rate(snr: float, band_hz: float) -> float:
    """b·min(log2(1 + SNR), se_max)."""
    return band_hz * min(math.log2(1.0 + snr), SE_MAX)


def g_paper(snr: float) -> float:
    """The channel gain that gives a paper vehicle this uplink SNR (fixed noise)."""
    return snr * NOISE_W / P_W


def g_corridor(snr: float, band_hz: float = W_HZ) -> float:
    """The channel gain that gives a corridor vehicle this uplink SNR on ``band_hz`` (thermal noise)."""
    return snr * thermal_noise_w(band_hz) / P_W


_RUN = {"kernels": "auto"}


@pytest.fixture(autouse=True, params=KERNELS)
def kernels(request: pytest.FixtureRequest) -> str:
    """Every scripted world runs on each engine implementation (the numpy reference, numba);
    tests of a single implementation or of plain functions override it with ``ONCE``."""
    _RUN["kernels"] = request.param
    return request.param


ONCE = pytest.mark.parametrize("kernels", ["auto"])


def paper(vehicles: list[Veh] | None = None, **kw: Any) -> World:
    return World(vehicles or [Veh(1000.0)], kernels=_RUN["kernels"], **{**PAPER, **kw})


def corridor(vehicles: list[Veh], **kw: Any) -> World:
    return World(vehicles, kernels=_RUN["kernels"], **{**CORRIDOR, **kw})


# --- local computing -------------------------------------------------------------------------------
def test_local_only_latency_is_cycles_over_vehicle_cpu():
    world = paper()
    t = world.arrive(0, 1, 0.03, 1200.0)  # 3e8 cycles: 60 ms
    s = world.step(w=0.0)
    c = 1200.0 * CPB
    assert s.resolved() == {t: (COMPLETED, approx(t + c / F_V))}
    assert s.metrics["tasks_arrived"] == 1 and s.metrics["tasks_completed"] == 1
    assert s.metrics["latency_ms_mean"] == approx(1e3 * c / F_V)
    assert s.energy == {
        "local": approx(J_PER_LOCAL_CYCLE * c),
        "upload": 0.0,
        "download": 0.0,
        "migration": 0.0,
        "edge": 0.0,
    }
    assert s.metrics["n_uploading"] == 0 and s.metrics["violations"] == 0
    assert s.qos_cost == approx((c / F_V) / DEADLINE_S)  # 0.3 deadlines
    assert world.eng.metrics.summary(0, world.eng.active[0], {})["latency_ms_mean"] == approx(1e3 * c / F_V)


def test_local_work_carries_into_the_next_slot_and_its_qos_cost_accrues():
    world = paper()
    t = world.arrive(0, 2, 0.05, 2000.0)  # 5e8 cycles = 100 ms from t = 0.05
    c = 2000.0 * CPB
    s0 = world.step()
    assert s0.metrics["tasks_completed"] == 0 and s0.metrics["tasks_in_flight"] == 1
    assert s0.energy["local"] == approx(J_PER_LOCAL_CYCLE * F_V * (TAU - t))
    assert world.backlog()["local_cycles"][0] == approx(c - F_V * (TAU - t))
    assert s0.qos_cost == approx((TAU - t) / DEADLINE_S)  # pending: its age so far
    s1 = world.step()
    assert s1.resolved() == {t: (COMPLETED, approx(t + c / F_V))}
    assert s1.energy["local"] == approx(J_PER_LOCAL_CYCLE * (c - F_V * (TAU - t)))
    assert s1.qos_cost == approx((c / F_V) / DEADLINE_S - (TAU - t) / DEADLINE_S)
    assert world.total("qos_cost") == approx((c / F_V) / DEADLINE_S)


def test_local_fifo_waits_for_the_task_ahead_and_idles_when_empty():
    world = paper()
    c0, c1, c2 = 1000.0 * CPB, 1200.0 * CPB, 2000.0 * CPB  # 50, 60, 100 ms
    a1 = world.arrive(0, 1, 0.01, 1200.0)
    a2 = world.arrive(0, 2, 0.02, 2000.0)
    e1 = a1 + c1 / F_V  # 0.07
    e2 = max(a2, e1) + c2 / F_V  # 0.17: waits for task 1
    s0 = world.step()
    assert s0.resolved() == {a1: (COMPLETED, approx(e1))}
    a3 = world.arrive(0, 0, 0.15, 1000.0)  # waits for task 2
    a4 = world.arrive(0, 0, 0.195, 1000.0)  # waits for task 3
    e3 = max(a3, e2) + c0 / F_V
    e4 = max(a4, e3) + c0 / F_V
    s1 = world.step()
    assert s1.resolved() == {a2: (COMPLETED, approx(e2))}
    s2 = world.step()
    assert s2.resolved() == {a3: (COMPLETED, approx(e3)), a4: (COMPLETED, approx(e4))}
    assert world.total("local") == approx(J_PER_LOCAL_CYCLE * (2 * c0 + c1 + c2))
    lat = 1e3 * np.array([e1 - a1, e2 - a2, e3 - a3, e4 - a4])
    ep = world.eng.metrics.summary(0, world.eng.active[0], {})
    assert ep["latency_ms_mean"] == approx(lat.mean())
    assert ep["latency_ms_std"] == pytest.approx(lat.std(), rel=1e-7)
    # An idle gap: a task arriving after the queue emptied starts at once.
    a5 = world.arrive(0, 0, 0.35, 1000.0)
    s3 = world.step()
    assert a5 > e4 and s3.resolved() == {a5: (COMPLETED, approx(a5 + c0 / F_V))}


def test_qos_cost_is_weighted_by_the_goal_and_normalised_in_the_reward():
    # Class "car" weighs 0.5 and vehicle 1 is named with 4: weights 0.5 and 2.
    world = paper([Veh(1000.0), Veh(1000.0, lane=1)], task_rate_hz=(10.0,), task_size_bytes=((1000.0, 1500.0),))
    world.eng.set_goal(0, GoalSpec(beta_qos=2.0, beta_energy=3.0, class_weights={"car": 0.5}, vehicle_weights={1: 4.0}))
    world.arrive(0, 0, 0.01, 1000.0)  # 50 ms locally
    world.arrive(1, 0, 0.02, 1200.0)  # 60 ms
    s = world.step()
    qos = 0.5 * (0.05 / DEADLINE_S) + 2.0 * (0.06 / DEADLINE_S)
    assert s.qos_cost == approx(qos)
    # Normalised by the expected tasks of the vehicles on the road (2 · 3 types · 10/s · τ) and by
    # the energy of computing them locally (mean task 1250 B).
    tasks_per_vehicle = 3 * 10.0 * TAU
    local_j_per_vehicle = 3 * 10.0 * TAU * 1250.0 * CPB * J_PER_LOCAL_CYCLE
    energy = J_PER_LOCAL_CYCLE * (1000.0 + 1200.0) * CPB
    assert s.reward_terms["qos"] == approx(-2.0 * qos / (2 * tasks_per_vehicle))
    assert s.reward_terms["energy"] == approx(-3.0 * energy / (2 * local_j_per_vehicle))


# --- edge FIFOs ------------------------------------------------------------------------------------
def test_edge_fifo_waits_for_the_task_ahead_and_follows_a_share_change():
    world = paper()
    snr = 15.0  # log2(1 + SNR) = 4: 80 Mbit/s
    c = 1200.0 * CPB
    t_up = 8 * 1200.0 / (W_HZ * math.log2(1.0 + snr))
    r0, r1 = 0.01 * F_E, 0.02 * F_E
    a1 = world.arrive(0, 1, 0.01, 1200.0)
    a2 = world.arrive(0, 1, 0.02, 1200.0)
    up1, up2 = a1 + t_up, a2 + t_up  # the uplink is idle again before task 2 arrives
    e1 = up1 + c / r0
    start2 = max(up2, e1)
    served2 = (TAU - start2) * r0  # task 2's cycles done in slot 0
    e2 = TAU + (c - served2) / r1  # the rest at the new share
    s0 = world.step(w=1.0, a={(0, 1): 0.01}, gain={0: g_paper(snr)})
    assert s0.resolved() == {a1: (COMPLETED, approx(e1))}
    # DVFS: the server runs at f = Σa·F_e = r0 and every cycle costs κ_e·f².
    assert s0.energy["edge"] == approx(KAPPA_E * r0**2 * (c + served2))
    assert s0.energy["upload"] == approx(P_W * 2 * t_up)
    assert s0.energy["local"] == 0.0
    assert s0.metrics["edge_utilisation"] == approx((c + served2) / (F_E * TAU))
    assert world.backlog()["edge_cycles"][0, 1] == approx(c - served2)
    a3 = world.arrive(0, 1, 0.105, 1200.0)  # joins behind what is left of task 2
    e3 = max(a3 + t_up, e2) + c / r1
    s1 = world.step(w=1.0, a={(0, 1): 0.02}, gain={0: g_paper(snr)})
    assert s1.resolved() == {a2: (COMPLETED, approx(e2)), a3: (COMPLETED, approx(e3))}
    assert s1.energy["edge"] == approx(KAPPA_E * r1**2 * (2 * c - served2))
    assert s1.energy["upload"] == approx(P_W * t_up)


def test_an_edge_queue_without_a_share_holds_its_work():
    world = paper()
    c = 1000.0 * CPB
    a1 = world.arrive(0, 0, 0.05, 1000.0)
    s0 = world.step(w=1.0, a=0.0, gain={0: g_paper(15.0)})
    assert s0.metrics["tasks_completed"] == 0 and s0.energy["edge"] == 0.0 and s0.metrics["edge_utilisation"] == 0.0
    assert s0.energy["upload"] == approx(P_W * 8000.0 / (W_HZ * 4.0))
    assert world.backlog()["edge_cycles"][0, 0] == approx(c)
    s1 = world.step(w=1.0, a={(0, 0): 0.5}, gain={0: g_paper(15.0)})
    assert s1.resolved() == {a1: (COMPLETED, approx(TAU + c / (0.5 * F_E)))}
    assert s1.energy["edge"] == approx(KAPPA_E * (0.5 * F_E) ** 2 * c)


def test_upload_spanning_a_slot_boundary_at_two_rates():
    world = paper()
    snr1, snr2 = 2.0**0.005 - 1.0, 2.0**0.02 - 1.0  # 100 and 400 kbit/s on the whole band
    rt1, rt2 = rate(snr1, W_HZ), rate(snr2, W_HZ)
    a1 = world.arrive(0, 1, 0.05, 1200.0)  # 9600 bits from t = 0.05
    a2 = world.arrive(0, 0, 0.08, 1000.0)  # 8000 bits, queued behind
    shares = {(0, 0): 0.5, (0, 1): 0.5}
    s0 = world.step(w=1.0, a=shares, gain={0: g_paper(snr1)})
    assert s0.metrics["tasks_completed"] == 0 and s0.metrics["n_uploading"] == 1
    assert s0.energy["upload"] == approx(P_W * (TAU - a1))  # transmitting from a1 to the slot end
    left1 = 9600.0 - rt1 * (TAU - a1)
    assert world.backlog()["upload_bits"][0] == approx(left1 + 8000.0)
    a3 = world.arrive(0, 0, 0.11, 1000.0)  # a new task queues behind the carried backlog
    up1 = TAU + left1 / rt2
    up2 = up1 + 8000.0 / rt2
    up3 = max(a3, up2) + 8000.0 / rt2
    e1 = up1 + 1200.0 * CPB / (0.5 * F_E)
    e2 = up2 + 1000.0 * CPB / (0.5 * F_E)
    e3 = max(up3, e2) + 1000.0 * CPB / (0.5 * F_E)
    s1 = world.step(w=1.0, a=shares, gain={0: g_paper(snr2)})
    assert s1.resolved() == {a1: (COMPLETED, approx(e1)), a2: (COMPLETED, approx(e2)), a3: (COMPLETED, approx(e3))}
    assert s1.energy["upload"] == approx(P_W * (up3 - TAU))
    assert s1.energy["edge"] == approx(KAPPA_E * F_E**2 * (2 * 1000.0 + 1200.0) * CPB)  # f = (0.5 + 0.5)·F_e


# --- offloading: latency and energy ------------------------------------------------------------------
@pytest.mark.parametrize("snr", [15.0, 1.0, 1000.0])  # 1000: log2(1001) = 9.97 is capped at 7.4
@pytest.mark.parametrize("share", [1.0, 0.25])
def test_full_offload_latency_is_upload_plus_edge_time(snr: float, share: float):
    world = paper()
    t = world.arrive(0, 1, 0.02, 1200.0)
    s = world.step(w=1.0, a={(0, 1): share}, gain={0: g_paper(snr)})
    t_up = 9600.0 / (W_HZ * min(math.log2(1.0 + snr), SE_MAX))  # 8·D / (W·min(log2(1 + p·g/σ²), se_max))
    t_edge = 1200.0 * CPB / (share * F_E)
    assert s.resolved() == {t: (COMPLETED, approx(t + t_up + t_edge))}
    assert s.metrics["n_uploading"] == 1
    assert s.metrics["latency_ms_mean"] == approx(1e3 * (t_up + t_edge))
    assert s.energy["local"] == 0.0 and s.energy["download"] == 0.0  # the paper's results are 0 bits
    assert s.energy["upload"] == approx(P_W * t_up)
    assert s.energy["edge"] == approx(KAPPA_E * (share * F_E) ** 2 * 1200.0 * CPB)
    assert s.metrics["energy_j"] == approx(P_W * t_up + KAPPA_E * (share * F_E) ** 2 * 1200.0 * CPB)
    assert s.metrics["edge_utilisation"] == approx(1200.0 * CPB / (F_E * TAU))


def test_full_offload_with_a_result_adds_its_download_from_the_serving_rsu():
    world = corridor([Veh(500.0)])
    size = 200e3  # a perception task: 1.6 Mbit in, 4e8 cycles, 5% result
    g = g_corridor(15.0)  # uplink SNR 15 alone on W; the downlink sees P_rsu·g / N(W_dl) = 75
    t = world.arrive(0, 1, 0.01, size)
    s = world.step(w={(0, 1): 1.0}, a={(0, 1): 0.5}, gain={0: g})
    t_up = 8 * size / rate(P_W * g / thermal_noise_w(W_HZ), W_HZ)
    t_edge = size * CPB_C[1] / (0.5 * F_E)
    res_bits = RESULT_RATIO_C[1] * 8 * size
    t_dl = res_bits / rate(P_RSU_W * g / thermal_noise_w(W_DL_HZ), W_DL_HZ)
    assert s.resolved() == {t: (COMPLETED, approx(t + t_up + t_edge + t_dl))}
    assert s.energy["upload"] == approx(P_W * t_up)
    assert s.energy["download"] == approx(P_RSU_W * t_dl)
    assert s.energy["edge"] == approx(KAPPA_E * (0.5 * F_E) ** 2 * size * CPB_C[1])


@pytest.mark.parametrize(
    ("w", "share", "snr", "k", "size"),
    [
        (0.5, 1.0, 15.0, 2, 2000.0),  # the local half dominates
        (0.5, 0.01, 15.0, 2, 2000.0),  # the edge half dominates
        (0.5, 0.5, 15.0, 1, 1200.0),
        (0.25, 0.5, 0.5, 1, 1200.0),
        (0.8, 0.02, 3.0, 1, 1200.0),
    ],
)
def test_partial_offload_runs_both_parts_in_parallel(w: float, share: float, snr: float, k: int, size: float):
    world = paper()
    t = world.arrive(0, k, 0.01, size)
    s = world.step(w=w, a={(0, k): share}, gain={0: g_paper(snr)})
    c_local, c_edge = (1.0 - w) * size * CPB, w * size * CPB
    t_local = c_local / F_V
    t_up = w * 8 * size / rate(snr, W_HZ)
    t_edge = c_edge / (share * F_E)
    assert s.resolved() == {t: (COMPLETED, approx(t + max(t_local, t_up + t_edge)))}
    assert s.energy["local"] == approx(J_PER_LOCAL_CYCLE * c_local)
    assert s.energy["upload"] == approx(P_W * t_up)
    assert s.energy["edge"] == approx(KAPPA_E * (share * F_E) ** 2 * c_edge)


# --- band sharing ------------------------------------------------------------------------------------
def test_uploaders_of_a_cell_share_its_band_equally_for_the_whole_slot():
    world = paper([Veh(1000.0), Veh(1000.0, lane=1), Veh(1000.0, lane=2)])
    snrs = {0: 15.0, 1: 3.0, 2: 15.0}
    a0 = world.arrive(0, 1, 0.01, 1200.0)
    a1 = world.arrive(1, 1, 0.05, 1200.0)  # after vehicle 0 is done: still half the band
    a2 = world.arrive(2, 1, 0.02, 1200.0)  # vehicle 2 computes locally: not an uploader
    s = world.step(
        w={(0, 1): 1.0, (1, 1): 1.0}, a={(0, 1): 0.5, (1, 1): 0.5}, gain={n: g_paper(v) for n, v in snrs.items()}
    )
    assert s.metrics["n_uploading"] == 2
    t_up = [9600.0 / rate(snrs[n], W_HZ / 2) for n in (0, 1)]  # fixed noise: the SNR keeps its value
    t_edge = 1200.0 * CPB / (0.5 * F_E)
    assert s.resolved() == {
        a0: (COMPLETED, approx(a0 + t_up[0] + t_edge)),
        a1: (COMPLETED, approx(a1 + t_up[1] + t_edge)),
        a2: (COMPLETED, approx(a2 + 1200.0 * CPB / F_V)),
    }
    assert s.energy["upload"] == approx(P_W * sum(t_up))
    assert s.energy["edge"] == approx(KAPPA_E * F_E**2 * 2 * 1200.0 * CPB)  # f = (0.5 + 0.5)·F_e


def test_a_vehicle_still_uploading_from_the_last_slot_takes_its_share():
    world = paper([Veh(1000.0), Veh(1000.0, lane=1)])
    slow = 2.0**0.005 - 1.0  # 100 kbit/s on the whole band
    gains = {0: g_paper(slow), 1: g_paper(15.0)}
    a0 = world.arrive(0, 1, 0.05, 1200.0)
    shares = {(0, 1): 0.5, (1, 1): 0.5}
    s0 = world.step(w=1.0, a=shares, gain=gains)
    assert s0.metrics["n_uploading"] == 1  # vehicle 1 has nothing to send: vehicle 0 has the whole band
    left = 9600.0 - rate(slow, W_HZ) * (TAU - a0)
    a1 = world.arrive(1, 1, 0.11, 1200.0)
    s1 = world.step(w=1.0, a=shares, gain=gains)
    assert s1.metrics["n_uploading"] == 2
    t_edge = 1200.0 * CPB / (0.5 * F_E)
    assert s1.resolved() == {
        a0: (COMPLETED, approx(TAU + left / rate(slow, W_HZ / 2) + t_edge)),
        a1: (COMPLETED, approx(a1 + 9600.0 / rate(15.0, W_HZ / 2) + t_edge)),
    }


def test_cells_have_their_own_bands_and_servers():
    world = corridor([Veh(500.0), Veh(1500.0)])  # cells 0 and 1
    g = g_corridor(15.0)
    a0 = world.arrive(0, 0, 0.01, 1000.0)
    a1 = world.arrive(1, 0, 0.02, 1000.0)
    s = world.step(w=1.0, a={(0, 0): 0.2, (1, 0): 0.4}, gain={0: g, 1: g})
    assert s.metrics["n_uploading"] == 2
    t_up = 8000.0 / (W_HZ * 4.0)  # each alone on its cell's band: SNR 15
    res = RESULT_RATIO_C[0] * 8000.0
    t_dl = res / rate(P_RSU_W * g / thermal_noise_w(W_DL_HZ), W_DL_HZ)
    c = 1000.0 * CPB_C[0]
    assert s.resolved() == {
        a0: (COMPLETED, approx(a0 + t_up + c / (0.2 * F_E) + t_dl)),
        a1: (COMPLETED, approx(a1 + t_up + c / (0.4 * F_E) + t_dl)),
    }
    # Each server at its own frequency: f_0 = 0.2·F_e, f_1 = 0.4·F_e.
    assert s.energy["edge"] == approx(KAPPA_E * ((0.2 * F_E) ** 2 + (0.4 * F_E) ** 2) * c)
    assert s.metrics["edge_utilisation"] == approx((2 * c / 6) / (F_E * TAU))  # mean over the 6 servers


def test_a_task_arriving_in_a_coverage_gap_runs_locally():
    world = corridor([Veh(1000.0)])  # between cells 0 (<= 950 m) and 1 (>= 1050 m)
    assert world.eng.cell[0, 0] == -1 and world.eng.holder[0, 0] == -1
    t = world.arrive(0, 0, 0.01, 1000.0)
    s = world.step(w=1.0, a=1.0)
    c = 1000.0 * CPB_C[0]
    assert s.trace["arrivals"]["w"].tolist() == [0.0]
    assert s.resolved() == {t: (COMPLETED, approx(t + c / F_V))}
    assert s.energy == {
        "local": approx(J_PER_LOCAL_CYCLE * c),
        "upload": 0.0,
        "download": 0.0,
        "migration": 0.0,
        "edge": 0.0,
    }
    assert s.metrics["n_uploading"] == 0


# --- edge energy (DVFS) -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shares", "total"),
    [
        ({(0, 0): 0.3, (1, 0): 0.1}, 0.4),
        ({(0, 0): 0.2, (1, 0): 0.2}, 0.4),
        ({(0, 0): 0.1, (1, 0): 0.3}, 0.4),
        ({(0, 0): 0.35, (0, 1): 0.05}, 0.4),  # one vehicle's two queues (the second idle)
        ({(0, 0): 0.1, (1, 0): 0.1}, 0.2),
        ({(0, 0): 0.2, (1, 0): 0.2, (2, 2): 0.2}, 0.6),  # an idle queue's share still sets the clock
    ],
)
def test_edge_energy_depends_on_the_total_share_not_on_its_split(shares: dict, total: float):
    world = paper([Veh(1000.0), Veh(1000.0, lane=1), Veh(1000.0, lane=2)])
    world.arrive(0, 0, 0.01, 1000.0)
    world.arrive(1, 0, 0.02, 1000.0) if (1, 0) in shares else world.arrive(0, 0, 0.02, 1000.0)
    s = world.step(w=1.0, a=shares, gain={n: g_paper(15.0) for n in range(3)})
    assert s.metrics["tasks_completed"] == 2
    # f = (Σa)·F_e for every cycle the server runs: κ_e·f²·(cycles served).
    assert s.energy["edge"] == approx(KAPPA_E * (total * F_E) ** 2 * 2 * 1000.0 * CPB)


@pytest.mark.parametrize(
    ("overrides", "kappa_e"),
    [
        ({"edge_energy_phi": 2.0}, 2.0 * KAPPA_V * F_V**2 / F_E**2),
        ({"edge_energy_phi": 0.5, "edge_cpu_hz": 200e9}, 0.5 * KAPPA_V * F_V**2 / 200e9**2),
        ({"kappa_edge": 3e-32}, 3e-32),
    ],
)
def test_edge_energy_coefficient(overrides: dict, kappa_e: float):
    world = paper(**overrides)
    f_e = overrides.get("edge_cpu_hz", F_E)
    world.arrive(0, 0, 0.01, 1000.0)
    s = world.step(w=1.0, a={(0, 0): 0.5}, gain={0: g_paper(15.0)})
    assert s.metrics["tasks_completed"] == 1
    assert s.energy["edge"] == approx(kappa_e * (0.5 * f_e) ** 2 * 1000.0 * CPB)


# --- a vehicle leaving the road -------------------------------------------------------------------------
def exiting_paper(t_exit_s: float = 0.05) -> World:
    """One vehicle at 20 m/s that reaches the road end at ``t_exit_s`` into the first slot."""
    return paper([Veh(ROAD_M - 20.0 * t_exit_s, 20.0)])


def test_local_work_completes_after_the_exit_while_work_needing_the_rsu_fails():
    world = exiting_paper(0.05)
    t_cut = 0.05
    r_up = 1e6  # log2(1 + SNR) = 0.05 on 20 MHz
    a_fast = world.arrive(0, 0, 0.001, 1000.0)  # offloaded: 8 ms upload, done before the exit
    a_big = world.arrive(0, 1, 0.01, 40000.0)  # offloaded: 320 kbit, still uploading at the exit
    a_loc = world.arrive(0, 2, 0.02, 2000.0)  # local, 100 ms: done at 0.12 s, after the exit and t1
    world.arrive(0, 0, 0.07, 1000.0)  # after the vehicle left: never arrives
    s = world.step(w={(0, 0): 1.0, (0, 1): 1.0}, a={(0, 0): 0.5, (0, 1): 0.5}, gain={0: g_paper(2.0**0.05 - 1.0)})
    up_fast = a_fast + 8000.0 / r_up
    done_fast = up_fast + 1000.0 * CPB / (0.5 * F_E)  # 0-bit result: delivered when ready
    done_loc = a_loc + 2000.0 * CPB / F_V  # horizon ∞ for a leaving vehicle's CPU
    assert s.resolved() == {
        a_fast: (COMPLETED, approx(done_fast)),
        a_big: (FAILED, math.inf),
        a_loc: (COMPLETED, approx(done_loc)),
    }
    m = s.metrics
    assert m["vehicles_exited"] == 1 and m["n_active"] == 1 and m["tasks_arrived"] == 3
    assert (m["tasks_completed"], m["tasks_failed"], m["tasks_dropped"]) == (2, 1, 0)
    assert m["violations"] == 1 and m["violation_rate"] == pytest.approx(1 / 3)  # the failure only
    assert s.energy["local"] == approx(J_PER_LOCAL_CYCLE * 2000.0 * CPB)  # all of it, after the exit too
    assert s.energy["upload"] == approx(P_W * (8000.0 / r_up + (t_cut - a_big)))  # sending until the exit
    assert s.energy["edge"] == approx(KAPPA_E * F_E**2 * 1000.0 * CPB)
    assert s.qos_cost == approx((done_fast - a_fast) / DEADLINE_S + (done_loc - a_loc) / DEADLINE_S + CAP)
    assert m["tasks_in_flight"] == 0 and not world.eng.active.any()
    s1 = world.step()  # the road is empty: nothing is charged for the vehicle that left
    assert s1.metrics["n_active"] == 0 and sum(s1.energy.values()) == 0.0 and s1.qos_cost == 0.0
    ep = world.eng.metrics.summary(0, world.eng.active[0], {})
    assert (ep["tasks_completed"], ep["tasks_failed"], ep["violations"]) == (2, 1, 1)


def test_edge_service_stops_at_the_exit():
    world = exiting_paper(0.05)
    a = world.arrive(0, 0, 0.01, 1000.0)
    s = world.step(w=1.0, a={(0, 0): 0.01}, gain={0: g_paper(15.0)})  # needs 62.5 ms at 4 Gcycles/s
    at_server = a + 8000.0 / (W_HZ * 4.0)
    assert s.resolved() == {a: (FAILED, math.inf)}
    assert s.energy["edge"] == approx(KAPPA_E * (0.01 * F_E) ** 2 * (0.01 * F_E) * (0.05 - at_server))


# --- drops at cap deadlines ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "scale", "t_a", "t_drop"),
    [
        ("local", 1.0, 0.05, 0.7),  # age 0.65 >= 3·0.2 at the boundary 0.7 (0.55 at 0.6)
        ("local", 1.0, 0.1, 0.7),  # age exactly 3·0.2 at 0.7: dropped at that boundary
        ("local", 0.5, 0.05, 0.4),  # deadline_scale 0.5: 3·0.1
        ("edge", 1.0, 0.05, 0.7),
    ],
)
def test_a_task_is_dropped_at_cap_deadlines_and_frees_its_queue(where: str, scale: float, t_a: float, t_drop: float):
    world = paper()
    if scale != 1.0:
        world.eng.set_goal(0, GoalSpec(deadline_scale=scale))
    d_eff = DEADLINE_S * scale
    offload = where == "edge"
    rate_c = 0.0125 * F_E if offload else F_V  # 5e9 cycles/s either way
    assert rate_c == F_V
    t_up_a = 160000.0 / (W_HZ * 4.0) if offload else 0.0
    t_up_b = 8000.0 / (W_HZ * 4.0) if offload else 0.0
    kw = dict(w=1.0 if offload else 0.0, a={(0, 0): 0.0125} if offload else 0.0, gain={0: g_paper(15.0)})
    n_slots = round(t_drop / TAU) + 1
    t_b = 0.26
    for i in range(n_slots):
        if world.t0 <= t_a < world.t0 + TAU:
            world.arrive(0, 0, t_a, 20000.0)  # A: 5e9 cycles, one second of service
        if world.t0 <= t_b < world.t0 + TAU:
            world.arrive(0, 0, t_b, 1000.0)  # B: 2.5e8 cycles, queued behind A
        world.step(**kw)
        if i < n_slots - 2:
            assert world.slots[-1].metrics["tasks_dropped"] == 0
    drop_slot = round(t_drop / TAU) - 1
    assert world.outcome(t_a) == (DROPPED, math.inf, drop_slot)
    assert world.slots[drop_slot].metrics["tasks_dropped"] == 1 and world.total("tasks_dropped") == 1
    assert world.eng.metrics.summary(0, world.eng.active[0], {})["tasks_dropped"] == 1
    # A's work no longer delays B: B starts at the drop boundary.
    done_b = t_drop + 1000.0 * CPB / rate_c
    assert world.outcome(t_b) == (COMPLETED, approx(done_b), drop_slot + 1)
    assert world.eng.tasks.shape[0] == 0
    # A is never served again: its cycles are those of [start, t_drop) only.
    cycles = rate_c * (t_drop - t_a - t_up_a) + 1000.0 * CPB
    if offload:
        assert world.total("edge") == approx(KAPPA_E * rate_c**2 * cycles)
        assert world.total("upload") == approx(P_W * (t_up_a + t_up_b))
        assert world.total("local") == 0.0
    else:
        assert world.total("local") == approx(J_PER_LOCAL_CYCLE * cycles)
    # QoS: A is charged the cap in total, B its latency in effective deadlines.
    lat_b = done_b - t_b
    assert world.total("qos_cost") == approx(CAP + lat_b / d_eff)
    a_before = min((t_drop - TAU - t_a) / d_eff, CAP)
    b_before = max(t_drop - TAU - t_b, 0.0) / d_eff
    b_now = (t_drop - t_b) / d_eff
    assert world.slots[drop_slot].qos_cost == approx(CAP - a_before + b_now - b_before)
    # Violations (against D_k, not D_eff): A once, B if late.
    assert world.total("violations") == 1 + (lat_b > DEADLINE_S)


# --- handover and migration ----------------------------------------------------------------------------
def handover_world(n: int = 1, **kw: Any) -> World:
    """Corridor with touching cells (radius 500 m): vehicles at 999 m, 20 m/s, in lanes 0..n-1,
    served by RSU 0 in slot 0 and by RSU 1 from the boundary at 0.1 s (x = 1001 m) on."""
    world = corridor([Veh(999.0, 20.0, lane=i) for i in range(n)], coverage_radius_m=500.0, **kw)
    assert world.eng.cell[0, :n].tolist() == [0] * n and world.eng.holder[0, :n].tolist() == [0] * n
    return world


def test_migration_delay_and_energy_at_a_handover():
    world = handover_world()
    g = g_corridor(15.0)
    size, c = 1000.0, 1000.0 * CPB_C[0]
    a = world.arrive(0, 0, 0.01, size)
    s0 = world.step(w=1.0, a={(0, 0): 0.005}, gain={0: g})
    assert world.eng.cell[0, 0] == 1 and world.eng.holder[0, 0] == 1
    mig = s0.trace["migration"]
    assert (mig["src"].tolist(), mig["dst"].tolist()) == ([0], [1])
    at_server = a + 8 * size / (W_HZ * 4.0)
    served0 = 0.005 * F_E * (TAU - at_server)
    c_rem = c - served0
    bits = 8 * size * c_rem / c  # the input still needed, in proportion to the remaining work
    there = TAU + bits / BACKHAUL_BPS + 1 * BACKHAUL_DELAY_S  # link FIFO at R, then one hop's delay
    s1 = world.step(w=1.0, a={(0, 0): 0.01}, gain={0: g})
    done_edge = there + c_rem / (0.01 * F_E)
    res_bits = RESULT_RATIO_C[0] * 8 * size
    t_dl = res_bits / rate(P_RSU_W * g / thermal_noise_w(W_DL_HZ), W_DL_HZ)
    assert s1.resolved() == {a: (COMPLETED, approx(done_edge + t_dl))}
    assert world.total("migration") == approx(E_BIT_J * bits * 1)
    assert world.total("handovers") == 1 and world.total("migrated_bytes") == approx(bits / 8)
    assert s0.energy["edge"] == approx(KAPPA_E * (0.005 * F_E) ** 2 * served0)  # at server 0
    assert s1.energy["edge"] == approx(KAPPA_E * (0.01 * F_E) ** 2 * c_rem)  # at server 1
    assert s1.energy["download"] == approx(P_RSU_W * t_dl)
    assert world.total("violations") == 1  # 127 ms > 100 ms


def test_migration_energy_is_charged_in_the_slot_whose_end_boundary_performs_it():
    world = handover_world()
    world.arrive(0, 0, 0.01, 1000.0)
    s0 = world.step(w=1.0, a={(0, 0): 0.005}, gain={0: g_corridor(15.0)})
    s1 = world.step(w=1.0, a={(0, 0): 0.01}, gain={0: g_corridor(15.0)})
    c_rem = 2.5e8 - 0.005 * F_E * (TAU - 0.01 - 8000.0 / (W_HZ * 4.0))
    assert s0.energy["migration"] == approx(E_BIT_J * 8000.0 * c_rem / 2.5e8)
    assert s1.energy["migration"] == 0.0


def test_handovers_at_one_boundary_queue_on_the_shared_backhaul_link():
    world = handover_world(2)
    g = g_corridor(15.0)
    a = [world.arrive(0, 0, 0.01, 1000.0), world.arrive(1, 0, 0.02, 1000.0)]
    shares = {(0, 0): 0.005, (1, 0): 0.005}
    world.step(w=1.0, a=shares, gain={0: g, 1: g})
    # Slot 0: two uploaders share W, thermal noise over W/2: SNR = P·g / N(W/2) = 30.
    r_up = rate(P_W * g / thermal_noise_w(W_HZ / 2), W_HZ / 2)
    c = 1000.0 * CPB_C[0]
    c_rem = [c - 0.005 * F_E * (TAU - (t + 8000.0 / r_up)) for t in a]
    bits = [8000.0 * cr / c for cr in c_rem]
    d0 = TAU + bits[0] / BACKHAUL_BPS  # vehicle 0's task first (earlier, and first in the table)
    d1 = d0 + bits[1] / BACKHAUL_BPS  # waits for the link
    there = [d0 + BACKHAUL_DELAY_S, d1 + BACKHAUL_DELAY_S]
    s1 = world.step(w=1.0, a={(0, 0): 0.01, (1, 0): 0.01}, gain={0: g, 1: g})
    # Slot 1: both results come down at once: W_dl/2 each, thermal noise over W_dl/2.
    t_dl = 800.0 / rate(P_RSU_W * g / thermal_noise_w(W_DL_HZ / 2), W_DL_HZ / 2)
    assert s1.resolved() == {
        a[0]: (COMPLETED, approx(there[0] + c_rem[0] / (0.01 * F_E) + t_dl)),
        a[1]: (COMPLETED, approx(there[1] + c_rem[1] / (0.01 * F_E) + t_dl)),
    }
    assert world.total("migration") == approx(E_BIT_J * sum(bits))
    assert world.total("handovers") == 2


@pytest.mark.parametrize(
    ("size", "log2_slot0", "forwarded_last"),
    [
        (500e3, 1.0, False),  # 4 Mbit, 1 Mbit sent by the handover: the rest arrives last
        (70e3, 0.5, True),  # 560 kbit, 500 kbit sent: the forwarded part arrives last
    ],
)
def test_a_partial_upload_is_forwarded_over_the_backhaul(size: float, log2_slot0: float, forwarded_last: bool):
    world = handover_world()
    t = world.arrive(0, 2, 0.05, size)  # a bulk task (200 cycles/B, 1% result)
    world.step(w=1.0, a={(0, 2): 0.5}, gain={0: g_corridor(2.0**log2_slot0 - 1.0)})
    r0 = W_HZ * log2_slot0
    sent = r0 * (TAU - t)
    fwd = TAU + sent / BACKHAUL_BPS + BACKHAUL_DELAY_S
    g1 = g_corridor(1000.0)  # capped: 7.4 bit/s/Hz up and down
    s1 = world.step(w=1.0, a={(0, 2): 0.5}, gain={0: g1})
    up_done = TAU + (8 * size - sent) / (W_HZ * SE_MAX)
    assert (fwd > up_done) == forwarded_last
    at_server = max(up_done, fwd)
    done = at_server + size * CPB_C[2] / (0.5 * F_E) + RESULT_RATIO_C[2] * 8 * size / (W_DL_HZ * SE_MAX)
    assert s1.resolved() == {t: (COMPLETED, approx(done))}
    assert world.total("migration") == approx(E_BIT_J * sent)
    assert world.total("migrated_bytes") == approx(sent / 8)
    assert world.total("upload") == approx(P_W * ((TAU - t) + (8 * size - sent) / (W_HZ * SE_MAX)))


def test_a_migration_over_two_hops_pays_both_delays_and_energies():
    # A tunnel over all of cell 1: the vehicle leaves cell 0, is in the tunnel for a slot, and is
    # next served by RSU 2. (Positions are set between slots: the tunnel is 1.1 km long.)
    world = corridor([Veh(940.0, 20.0)], tunnels=((950.0, 2050.0),))
    size, c = 500e3, 500e3 * CPB_C[2]  # 4 Mbit, 1e8 cycles
    a = world.arrive(0, 2, 0.01, size)
    share = 0.0005  # 2e8 cycles/s
    world.step(w=1.0, a={(0, 2): share}, gain={0: g_corridor(15.0)})
    assert world.eng.cell[0, 0] == 0
    world.eng.x[0, 0] = 1500.0  # in the tunnel at the next boundary
    s1 = world.step(w=1.0, a={(0, 2): share})
    assert world.eng.cell[0, 0] == -1 and world.eng.holder[0, 0] == 0
    world.eng.x[0, 0] = 2049.0  # out of it (2051 m: cell 2) at the next boundary
    s2 = world.step(w=1.0, a={(0, 2): share})
    assert world.eng.cell[0, 0] == 2 and world.eng.holder[0, 0] == 2
    at_server = a + 8 * size / (W_HZ * 4.0)
    served = share * F_E * (3 * TAU - at_server)  # server 0 kept serving while the vehicle was in the gap
    c_rem = c - served
    bits = 8 * size * c_rem / c
    there = 3 * TAU + bits / BACKHAUL_BPS + 2 * BACKHAUL_DELAY_S
    g = g_corridor(15.0)
    s3 = world.step(w=1.0, a={(0, 2): 0.01}, gain={0: g})
    res = RESULT_RATIO_C[2] * 8 * size
    done = there + c_rem / (0.01 * F_E) + res / rate(P_RSU_W * g / thermal_noise_w(W_DL_HZ), W_DL_HZ)
    assert s3.resolved() == {a: (COMPLETED, approx(done))}
    assert world.total("migration") == approx(E_BIT_J * bits * 2)
    assert s1.energy["edge"] == approx(KAPPA_E * (share * F_E) ** 2 * share * F_E * TAU)
    assert s2.energy["edge"] == approx(KAPPA_E * (share * F_E) ** 2 * share * F_E * TAU)


def test_a_result_waits_in_a_gap_then_comes_from_the_next_rsu():
    # Default corridor cells: RSU 0 serves x <= 950 m, RSU 1 x >= 1050 m. At 100 m/s from 949 m the
    # vehicle is in the gap at the boundaries 0.1 .. 1.0 s (959 .. 1049 m) and in cell 1 from 1.1 s.
    world = corridor([Veh(949.0, 100.0)])
    size = 100e3  # perception: 800 kbit, 2e8 cycles, 40 kbit result
    share = 0.002  # 8e8 cycles/s: the result is ready at 0.2667 s, in the gap
    g0 = g_corridor(63.0)  # 6 bit/s/Hz alone: 120 Mbit/s
    a = world.arrive(0, 1, 0.01, size)
    ready = a + 8 * size / (W_HZ * 6.0) + size * CPB_C[1] / (share * F_E)
    res_bits = RESULT_RATIO_C[1] * 8 * size
    g_dl = 15.0 * thermal_noise_w(W_DL_HZ) / P_RSU_W  # downlink SNR 15 in cell 1
    for i in range(11):
        s = world.step(w=1.0, a={(0, 1): share}, gain={0: g0 if i == 0 else g_dl})
        assert s.metrics["tasks_completed"] == 0 and s.energy["download"] == 0.0
        assert world.eng.cell[0, 0] == (-1 if i < 10 else 1)
        assert world.eng.holder[0, 0] == (0 if i < 10 else 1)
        if i >= 3:
            assert world.backlog()["result_bits"][0] == approx(res_bits)  # waiting at server 0
    assert world.slots[10].trace["migration"]["dst"].tolist() == [1]
    there = 1.1 + res_bits / BACKHAUL_BPS + BACKHAUL_DELAY_S
    t_dl = res_bits / (W_DL_HZ * 4.0)
    s11 = world.step(w=1.0, a={(0, 1): share}, gain={0: g_dl})
    assert ready < 3 * TAU
    assert s11.resolved() == {a: (COMPLETED, approx(there + t_dl))}
    assert s11.energy["download"] == approx(P_RSU_W * t_dl)
    assert world.total("migration") == approx(E_BIT_J * res_bits)
    assert world.total("edge") == approx(KAPPA_E * (share * F_E) ** 2 * size * CPB_C[1])
    assert world.total("violations") == 1
    assert world.total("qos_cost") == approx((there + t_dl - a) / DEADLINE_C[1])


# --- mobility (statistical, fixed seeds) -----------------------------------------------------------------
@ONCE
def test_vehicle_ids_are_unique_and_vehicles_leave_at_the_road_end():
    cfg = VECConfig.from_kwargs(**PAPER, n_vehicles=20.0, speed_min_kmh=60.0, speed_max_kmh=100.0, task_rate_hz=(0.0,))
    B = 4
    eng = Engine(cfg, n_roads=B)
    eng.reset(np.arange(100, 100 + B))
    zero = np.zeros((B, eng.M, eng.K))
    seen_max = eng.next_id.copy() - 1
    gone: list[set[int]] = [set() for _ in range(B)]
    n_exits = 0
    for _ in range(1200):
        before = [
            {int(eng.vid[b, n]): (eng.x[b, n], eng.v[b, n]) for n in np.flatnonzero(eng.active[b])} for b in range(B)
        ]
        m = eng.step(zero, zero).metrics
        for b in range(B):
            ids = eng.vid[b, eng.active[b]]
            assert np.unique(ids).shape[0] == ids.shape[0]
            assert (eng.vid[b, ~eng.active[b]] == -1).all()
            assert (eng.x[b, eng.active[b]] < ROAD_M).all()
            now = {int(i) for i in ids}
            left = set(before[b]) - now
            for vid in left:  # free flow: x + v·τ reaches the road end
                x, v = before[b][vid]
                assert x + v * TAU >= ROAD_M
            for vid in set(before[b]) & now:
                x, v = before[b][vid]
                assert x + v * TAU < ROAD_M
            assert m["vehicles_exited"][b] == len(left)
            entered = now - set(before[b])
            assert m["vehicles_entered"][b] == len(entered)
            assert not entered & gone[b], "a vehicle id was reused"
            assert all(i > seen_max[b] for i in entered), "new ids must grow"
            seen_max[b] = max([seen_max[b], *now])
            gone[b] |= left
            n_exits += len(left)
    assert n_exits > 60  # λ_in ≈ 0.22 vehicles/s per road, 120 s, 4 roads


@ONCE
def test_entry_rate_is_littles_law_and_the_road_holds_about_n():
    n_veh, lo, hi = 20.0, 60 / 3.6, 100 / 3.6
    lam_in = n_veh * (hi - lo) / (ROAD_M * math.log(hi / lo))  # N = λ_in·L·E[1/v], v ~ U[lo, hi]
    cfg = VECConfig.from_kwargs(**PAPER, n_vehicles=n_veh, speed_min_kmh=60.0, speed_max_kmh=100.0, task_rate_hz=(0.0,))
    seeds = np.arange(200_000)
    new = traffic.entries(seeds, np.zeros_like(seeds), np.zeros(seeds.shape), np.zeros_like(seeds), cfg)
    expected = lam_in * TAU * seeds.shape[0]  # 4353 entries
    assert abs(new.road.shape[0] - expected) < 4 * math.sqrt(expected)
    assert (new.speed_mps >= lo).all() and (new.speed_mps <= hi).all()
    assert (new.x_m >= 0).all() and (new.x_m <= new.speed_mps * TAU).all()  # driven since its entry instant
    # The stationary road: Poisson(N) at reset, and about N on average over time.
    B = 32
    eng = Engine(cfg, n_roads=B)
    eng.reset(np.arange(B))
    assert eng.active.sum() / B == pytest.approx(n_veh, abs=4 * math.sqrt(n_veh / B))
    zero = np.zeros((B, eng.M, eng.K))
    counts = []
    for _ in range(600):
        eng.step(zero, zero)
        counts.append(eng.active.sum(axis=1))
    mean = np.mean(counts)
    assert mean == pytest.approx(n_veh, rel=0.08)  # seeds 0..31: 19.8; spread ≈ 2.8% across seed sets


@ONCE
def test_dynamic_speed_respects_the_acceleration_bound():
    cfg = VECConfig.from_kwargs(
        **PAPER,
        n_vehicles=20.0,
        task_rate_hz=(0.0,),
        dynamic_speed=True,
        dyn_speed_min_kmh=30.0,
        dyn_speed_max_kmh=130.0,
        accel_max_mps2=3.0,
    )
    eng = Engine(cfg, n_roads=2)
    eng.reset(np.array([4, 5]))
    zero = np.zeros((2, eng.M, eng.K))
    dv_max = 3.0 * TAU  # accel_max 3 m/s²
    n_at_bound = 0
    for _ in range(500):
        vid0, v0, x0 = eng.vid.copy(), eng.v.copy(), eng.x.copy()
        eng.step(zero, zero)
        same = eng.active & (eng.vid == vid0)
        dv = eng.v[same] - v0[same]
        assert (np.abs(dv) <= dv_max * (1 + 1e-12)).all()
        assert eng.x[same] == pytest.approx(x0[same] + 0.5 * (v0[same] + eng.v[same]) * TAU, rel=1e-12)
        n_at_bound += int((np.abs(dv) > 0.999 * dv_max).sum())
        v = eng.v[eng.active]
        assert (v >= 30 / 3.6 - 1e-9).all() and (v <= 130 / 3.6 + 1e-9).all()
    assert n_at_bound > 500  # speeds really change, at the bound


# --- arrivals (statistical, fixed seeds) ------------------------------------------------------------------
@ONCE
def test_expected_arrivals_are_the_configured_rates():
    # No activity noise, no hot zones: λ_k·τ for every active vehicle, 0 for empty slots.
    rates = (10.0, 1.0, 0.4)
    cfg = VECConfig.from_kwargs(**CORRIDOR, activity_std=0.0, hot_zones=(), task_rate_hz=rates)
    eng = Engine(cfg, n_roads=2)
    eng.reset(np.array([1, 2]))
    lam = np.array([10.0, 1.0, 0.4]) * TAU
    np.testing.assert_allclose(eng.lam[eng.active], np.broadcast_to(lam, (int(eng.active.sum()), 3)), rtol=REL)
    assert (eng.lam[~eng.active] == 0.0).all()
    # A hot zone multiplies by 1 + g·exp(-(x - c)²/2w²), normalised to a road average of 1.
    c, wz, gz, L = 3000.0, 200.0, 1.0, 6000.0
    cfg = VECConfig.from_kwargs(**CORRIDOR, activity_std=0.0, hot_zones=((c, wz, gz),), task_rate_hz=rates)
    eng = Engine(cfg, n_roads=1)
    eng.reset(np.array([3]))
    norm = 1.0 + gz * wz * math.sqrt(2 * math.pi) / L * math.erf((L - c) / (wz * math.sqrt(2)))
    x = eng.x[eng.active]
    zone = (1.0 + gz * np.exp(-0.5 * ((x - c) / wz) ** 2)) / norm
    np.testing.assert_allclose(eng.lam[eng.active], zone[:, None] * lam, rtol=1e-4)  # grid mean vs integral


@pytest.mark.parametrize("preset", ["paper", "corridor"])
@ONCE
def test_arrival_counts_sizes_and_times_match_the_config(preset: str):
    if preset == "paper":
        rates, sizes = np.full(3, 44.0 / 3.0), np.array([(1000.0, 1500.0)] * 3)
        cfg = VECConfig.from_kwargs(
            **PAPER, n_vehicles=20.0, task_rate_hz=tuple(rates), task_size_bytes=tuple(map(tuple, sizes))
        )
        B, n_slots = 8, 150
    else:
        rates, sizes = np.array([10.0, 1.0, 0.4]), np.array([(1000.0, 2000.0), (100e3, 300e3), (500e3, 1e6)])
        cfg = VECConfig.from_kwargs(
            **CORRIDOR, n_vehicles=90.0, task_rate_hz=tuple(rates), task_size_bytes=tuple(map(tuple, sizes))
        )
        B, n_slots = 4, 150
    eng = Engine(cfg, n_roads=B)
    eng.reset(np.arange(10, 10 + B))
    eng.trace = []
    zero = np.zeros((B, eng.M, eng.K))
    veh_slots, counts, size_sum, frac = 0, np.zeros(3), np.zeros(3), []
    for _ in range(n_slots):
        veh_slots += int(eng.active.sum())
        t0 = eng.t_s.copy()
        eng.step(zero, zero)
        arr = eng.trace[-1]["arrivals"]
        eng.trace.clear()
        counts += np.bincount(arr["typ"], minlength=3)
        size_sum += np.bincount(arr["typ"], weights=arr["size_bytes"], minlength=3)
        frac.append((arr["t_arr"] - t0[arr["g"] // eng.M]) / TAU)
        k = arr["typ"]
        assert ((arr["size_bytes"] >= sizes[k, 0]) & (arr["size_bytes"] <= sizes[k, 1])).all()
    per_vehicle_slot = counts / veh_slots
    # Activity (log-normal, mean 1) and hot zones (road mean 1) leave the mean at λ_k·τ.
    np.testing.assert_allclose(per_vehicle_slot, rates * TAU, rtol=0.12)
    assert per_vehicle_slot.sum() == pytest.approx(rates.sum() * TAU, rel=0.08)
    np.testing.assert_allclose(size_sum / counts, sizes.mean(axis=1), rtol=0.05)
    f = np.concatenate(frac)
    assert (f >= 0).all() and (f < 1).all()
    assert f.mean() == pytest.approx(0.5, abs=0.02)
