"""Radio and queue primitives of the v2 engine against hand-computed formulas (DESIGN §2).

* FIFO primitives: ``queues.lindley`` against a plain loop of the Lindley recursion, and
  ``core.fifo.fifo_slot``'s completion times and work left at a horizon, by hand.
* Path loss ``max(128.1 + 37.6·log10 d_km, FSPL)`` and the 3-D distance, as functions and as the
  gains the engine computes for vehicles it places itself.
* The truncated Shannon rate ``b·min(log2(1 + SNR), se_max)`` and the noise (fixed in ``paper``,
  thermal over the used band in ``corridor``), inside the engine.
* The radio map: the same shadowing at the same spot (any vehicle, any time), its interpolation,
  and its statistics (σ, Gudmundson correlation) with fixed seeds.
* Fast fading: J0 against scipy, the Jakes coefficient, unit mean power, the AR(1) lag correlation.

Constants are written out here; expected values never come from the code under test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.special
from scripted import COMPLETED, KERNELS, Veh, World

from vecgym.config import VECConfig
from vecgym.core import radio
from vecgym.core.engine import Engine
from vecgym.core.fifo import fifo_slot
from vecgym.queues import lindley, segment_last

TAU = 0.1
W_HZ = 20e6
W_DL_HZ = 20e6
P_W = 0.2
P_RSU_W = 1.0
NOISE_W = 1e-14
SE_MAX = 7.4
F_E = 400e9
CARRIER_HZ = 5.9e9
SPEED_OF_LIGHT = 299_792_458.0
ANTENNA_M = 10.0
LANE_Y_M = (8.0, 11.75, 15.5)  # lane offset 8 m, lane width 3.75 m
SIGMA_DB = 8.0
DECORR_M = 50.0
GRID_M = 10.0  # radio map grid; point i sits at x = 10·(i - 1)
CPB_C = (0.25e6, 2e3, 200.0)
RESULT_RATIO_C = (0.1, 0.05, 0.01)
REL = 1e-9

# Every value the expectations use, pinned on top of the presets.
_COMMON = dict(
    n_task_types=3,
    slot_s=TAU,
    bandwidth_hz=W_HZ,
    downlink_bandwidth_hz=W_DL_HZ,
    tx_power_w=P_W,
    rsu_tx_power_w=P_RSU_W,
    max_spectral_efficiency=SE_MAX,
    edge_cpu_hz=F_E,
    carrier_hz=CARRIER_HZ,
    antenna_height_m=ANTENNA_M,
    lane_offset_m=LANE_Y_M[0],
    lane_width_m=LANE_Y_M[1] - LANE_Y_M[0],
    n_lanes=3,
    shadowing_std_db=SIGMA_DB,
    shadowing_decorr_m=DECORR_M,
    radio_map_grid_m=GRID_M,
    radio_map_drift_s=None,
)
PAPER = dict(
    _COMMON,
    preset="paper",
    road_length_m=2000.0,
    rsu_x_m=(1000.0,),
    coverage_radius_m=1e6,
    noise_model="fixed",
    noise_w=NOISE_W,
    cycles_per_byte=(0.25e6,),
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
    noise_psd_dbm_hz=-174.0,
    noise_figure_db=9.0,
    cycles_per_byte=CPB_C,
    result_ratio=RESULT_RATIO_C,
)


_RUN = {"kernels": "auto"}


@pytest.fixture(autouse=True, params=KERNELS)
def kernels(request: pytest.FixtureRequest) -> str:
    """Every scripted world runs on each engine implementation (the numpy reference, numba);
    tests of plain functions or of one implementation override it with ``ONCE``."""
    _RUN["kernels"] = request.param
    return request.param


ONCE = pytest.mark.parametrize("kernels", ["auto"])


def paper(vehicles: list[Veh], **kw: Any) -> World:
    return World(vehicles, kernels=_RUN["kernels"], **{**PAPER, **kw})


def corridor(vehicles: list[Veh], **kw: Any) -> World:
    return World(vehicles, kernels=_RUN["kernels"], **{**CORRIDOR, **kw})


def approx(x: float) -> Any:
    return pytest.approx(x, rel=REL, abs=1e-18)


def fspl_db(d_m: float) -> float:
    """Free-space path loss at 5.9 GHz: 20·log10(d) + 20·log10(f) - 147.55 (20·log10(4π/c))."""
    return 20.0 * math.log10(d_m) + 20.0 * math.log10(CARRIER_HZ) - 147.55


def macro_db(d_m: float) -> float:
    """3GPP TR 36.814 macro: 128.1 + 37.6·log10(d / 1 km)."""
    return 128.1 + 37.6 * math.log10(d_m / 1000.0)


def path_loss_db(d_m: float) -> float:
    return max(macro_db(d_m), fspl_db(d_m))


def dist_m(x: float, rsu_x: float, lane: int) -> float:
    return math.sqrt((x - rsu_x) ** 2 + LANE_Y_M[lane] ** 2 + ANTENNA_M**2)


def thermal_noise_w(band_hz: float) -> float:
    return 10.0 ** ((-174.0 + 10.0 * math.log10(band_hz) + 9.0 - 30.0) / 10.0)


def interp_map(row: np.ndarray, x: float) -> float:
    """Linear interpolation of a radio-map row (grid point i at x = 10·(i - 1))."""
    pos = x / GRID_M + 1.0
    i0 = math.floor(pos)
    return float(row[i0] + (pos - i0) * (row[i0 + 1] - row[i0]))


# --- FIFO primitives ----------------------------------------------------------------------------------
def lindley_loop(seg, arrival_s, work, rate, free_at_s):
    """The textbook recursion c_i = max(a_i, c_{i-1}) + w_i / r, one task at a time."""
    done, cum = [], []
    last_queue, c, acc = None, 0.0, 0.0
    for q, a, w in zip(seg, arrival_s, work, strict=True):
        if q != last_queue:
            last_queue, c, acc = q, free_at_s[q], 0.0
        c = max(a, c) + w / rate[q]
        acc += w
        done.append(c)
        cum.append(acc)
    return np.array(done), np.array(cum)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("load", [0.3, 1.5])  # idle gaps / a queue that never empties
@ONCE
def test_lindley_matches_the_plain_recursion(seed: int, load: float):
    rng = np.random.default_rng(seed)
    n_queues, n_tasks = 40, 400
    t0 = 3.7
    seg = np.sort(rng.integers(0, n_queues, n_tasks))
    arrival = np.empty(n_tasks)
    for q in np.unique(seg):
        idx = np.flatnonzero(seg == q)
        arrival[idx] = np.sort(t0 + TAU * rng.random(idx.shape[0]))
    work = rng.uniform(0.5, 1.5, n_tasks)
    rate = rng.uniform(0.5, 2.0, n_queues)
    per_queue = np.bincount(seg, minlength=n_queues)
    rate *= np.maximum(per_queue, 1) / (load * TAU)
    free_at = t0 + np.where(rng.random(n_queues) < 0.5, 0.0, rng.uniform(0.0, 1.5 * TAU, n_queues))
    done, cum = lindley(seg, arrival, work, rate, free_at)
    ref_done, ref_cum = lindley_loop(seg, arrival, work, rate, free_at)
    np.testing.assert_allclose(done, ref_done, rtol=1e-9, atol=0)
    np.testing.assert_allclose(cum, ref_cum, rtol=1e-9, atol=0)
    waited = ref_done - work / rate[seg] > arrival + 1e-12
    assert waited.any() and (~waited).any()  # the inputs exercise both branches of the max
    labels, last = segment_last(seg, done)
    np.testing.assert_array_equal(labels, np.unique(seg))
    np.testing.assert_array_equal(last, [done[seg == q][-1] for q in labels])


@ONCE
def test_lindley_keeps_small_queues_exact_beside_huge_ones():
    # CPU queues (1e8-cycle tasks) and uplink queues (1e4-bit tasks) can share one call.
    rng = np.random.default_rng(5)
    n_big = 4000
    seg = np.concatenate((np.repeat(np.arange(200), n_big // 200), np.full(6, 300)))
    arrival = np.concatenate((np.sort(rng.random(n_big)), np.sort(rng.random(6)))) * 0.1
    order = np.lexsort((arrival, seg))
    seg, arrival = seg[order], arrival[order]
    work = np.where(seg < 300, 3e8, 1e4) * (1.0 + rng.random(seg.shape[0]))
    rate = np.where(np.arange(301) < 300, 5e9, 2e6)
    free = np.zeros(301)
    done, cum = lindley(seg, arrival, work, rate, free)
    ref_done, ref_cum = lindley_loop(seg, arrival, work, rate, free)
    small = seg == 300
    np.testing.assert_allclose(done[small], ref_done[small], rtol=1e-12)
    np.testing.assert_allclose(cum[small], ref_cum[small], rtol=1e-12)


@ONCE
def test_lindley_empty():
    done, cum = lindley(np.empty(0, dtype=np.intp), np.empty(0), np.empty(0), np.ones(2), np.zeros(2))
    assert done.shape == cum.shape == (0,)


@ONCE
def test_fifo_slot_by_hand():
    # Queue 0 at rate 4 from t0 = 1.0: tasks of 2, 2, 2 units arriving at 1.0, 1.2, 3.0, given out
    # of order (the order key sorts them); horizon 1.6. Queue 1 has rate 0: it serves nothing.
    queue = np.array([0, 1, 0, 0])
    order = np.array([1.2, 0.0, 1.0, 3.0])
    arrival = np.array([1.2, 1.0, 1.0, 3.0])
    work = np.array([2.0, 5.0, 2.0, 2.0])
    done, left = fifo_slot(queue, order, arrival, work, np.array([4.0, 0.0]), np.array([1.0, 1.0]), np.full(4, 1.6))
    # 1.0 + 0.5 = 1.5; max(1.2, 1.5) + 0.5 = 2.0; max(3.0, 2.0) + 0.5 = 3.5; rate 0: inf.
    np.testing.assert_allclose(done, [2.0, np.inf, 1.5, 3.5], rtol=1e-12)
    # At 1.6: the first is done; the second has run 0.1 s of its 0.5 s (0.4 units); the third has
    # not started; the rate-0 task holds all its work.
    np.testing.assert_allclose(left, [2.0 - 0.4, 5.0, 0.0, 2.0], rtol=1e-12)


# --- path loss -----------------------------------------------------------------------------------------
@ONCE
def test_path_loss_has_a_free_space_floor_near_the_antenna():
    d = np.array([1.0, 5.0, 12.0, 50.0, 70.0, 72.0, 100.0, 250.0, 1000.0, 10_000.0])
    expected = [path_loss_db(x) for x in d]
    np.testing.assert_allclose(radio.path_loss_db(d, CARRIER_HZ), expected, rtol=1e-12)
    # Free space below ~71 m, the macro model beyond.
    assert radio.path_loss_db(np.array([50.0]), CARRIER_HZ)[0] == pytest.approx(fspl_db(50.0), rel=1e-12)
    assert radio.path_loss_db(np.array([1000.0]), CARRIER_HZ)[0] == pytest.approx(128.1, abs=1e-12)
    assert (radio.path_loss_db(np.array([10_000.0]), CARRIER_HZ) - radio.path_loss_db(np.array([1000.0]), CARRIER_HZ))[
        0
    ] == pytest.approx(37.6, abs=1e-12)
    assert macro_db(50.0) < fspl_db(50.0) and macro_db(100.0) > fspl_db(100.0)


@pytest.mark.parametrize(
    ("x", "lane", "regime"),
    [
        (1000.0, 0, "fspl"),  # under the antenna: d = sqrt(8² + 10²) = 12.8 m
        (1030.0, 2, "fspl"),
        (1500.0, 0, "macro"),  # the sanity figure's 500 m
        (300.0, 1, "macro"),
    ],
)
def test_the_engine_gain_is_path_loss_at_the_3d_distance(x: float, lane: int, regime: str):
    world = paper([Veh(x, lane=lane)])
    d = dist_m(x, 1000.0, lane)
    assert (fspl_db(d) > macro_db(d)) == (regime == "fspl")
    assert world.eng.gain[0, 0] == approx(10.0 ** (-path_loss_db(d) / 10.0))


def test_sanity_figure_at_500_m_with_the_whole_band():
    """Paper, no shadowing or fading, 500 m from the RSU, alone on the band: ≈ 16.2 dB, ≈ 108 Mbit/s."""
    world = paper([Veh(1500.0)])
    d = dist_m(1500.0, 1000.0, 0)
    snr = P_W * 10.0 ** (-macro_db(d) / 10.0) / NOISE_W
    assert 10 * math.log10(snr) == pytest.approx(16.2, abs=0.05)
    t = world.arrive(0, 0, 0.01, 1000.0)
    s = world.step(w=1.0, a={(0, 0): 1.0})  # the engine's own gain
    r = W_HZ * math.log2(1.0 + snr)
    assert r == pytest.approx(108.6e6, rel=0.005)
    assert s.resolved() == {t: (COMPLETED, approx(t + 8000.0 / r + 1000.0 * 0.25e6 / F_E))}


# --- the truncated Shannon rate and the noise ------------------------------------------------------------
@ONCE
def test_rate_is_capped_at_the_maximum_spectral_efficiency():
    snr = np.array([0.0, 1.0, 15.0, 2.0**7.4 - 1.0, 1000.0, 1e9])
    expected = [W_HZ * min(math.log2(1 + s), SE_MAX) for s in snr]
    np.testing.assert_allclose(radio.rate_bps(np.full(6, W_HZ), snr, SE_MAX), expected, rtol=1e-12)
    assert radio.rate_bps(np.array([W_HZ]), np.array([1000.0]), SE_MAX)[0] == approx(W_HZ * 7.4)


@pytest.mark.parametrize("se_max", [7.4, 5.0, 30.0])
def test_a_vehicle_under_the_antenna_uploads_at_the_capped_rate(se_max: float):
    # d = 12.8 m: free-space loss 70 dB, SNR = 0.2·1e-7/1e-14 = 2e6 (21 bit/s/Hz uncapped).
    world = paper([Veh(1000.0)], max_spectral_efficiency=se_max)
    snr = P_W * 10.0 ** (-fspl_db(dist_m(1000.0, 1000.0, 0)) / 10.0) / NOISE_W
    t = world.arrive(0, 0, 0.01, 1000.0)
    s = world.step(w=1.0, a={(0, 0): 1.0})
    r = W_HZ * min(math.log2(1.0 + snr), se_max)
    assert (r < W_HZ * math.log2(1.0 + snr)) == (se_max < 30.0)
    assert s.resolved() == {t: (COMPLETED, approx(t + 8000.0 / r + 1000.0 * 0.25e6 / F_E))}
    assert s.energy["upload"] == approx(P_W * 8000.0 / r)


@ONCE
def test_noise_functions():
    cfg_fixed = VECConfig.from_kwargs(**PAPER)
    cfg_thermal = VECConfig.from_kwargs(**CORRIDOR)
    bands = np.array([1e6, 5e6, 10e6, 20e6])
    np.testing.assert_allclose(radio.noise_w(bands, cfg_fixed), NOISE_W, rtol=1e-12)
    np.testing.assert_allclose(radio.noise_w(bands, cfg_thermal), [thermal_noise_w(b) for b in bands], rtol=1e-12)
    # -174 dBm/Hz over 20 MHz, plus 9 dB: -92 dBm, 18 dB above the paper's -110 dBm.
    assert 10 * math.log10(thermal_noise_w(20e6) / 1e-3) == pytest.approx(-91.99, abs=0.01)


@pytest.mark.parametrize("preset", ["paper", "corridor"])
def test_thermal_noise_is_over_the_band_in_use_fixed_noise_is_not(preset: str):
    # Two vehicles 400 m from their RSU share its band (and, for the results, its downlink band).
    rsu = 1000.0 if preset == "paper" else 500.0
    x = rsu + 400.0  # 1400 m on the paper road; 900 m in the corridor (cell 0)
    world = (paper if preset == "paper" else corridor)([Veh(x, lane=0), Veh(x, lane=2)])
    t = [world.arrive(0, 0, 0.01, 1000.0), world.arrive(1, 0, 0.02, 1000.0)]
    s = world.step(w=1.0, a={(0, 0): 0.5, (1, 0): 0.5})  # the engine's own gains
    out = {}
    energy_up = 0.0
    for n, lane in enumerate((0, 2)):
        g = 10.0 ** (-path_loss_db(dist_m(x, rsu, lane)) / 10.0)
        if preset == "paper":
            r_up = W_HZ / 2 * min(math.log2(1.0 + P_W * g / NOISE_W), SE_MAX)  # the band does not matter
            cycles, t_dl = 1000.0 * 0.25e6, 0.0  # no result in the paper
        else:
            r_up = W_HZ / 2 * min(math.log2(1.0 + P_W * g / thermal_noise_w(W_HZ / 2)), SE_MAX)
            cycles = 1000.0 * CPB_C[0]
            r_dl = W_DL_HZ / 2 * min(math.log2(1.0 + P_RSU_W * g / thermal_noise_w(W_DL_HZ / 2)), SE_MAX)
            t_dl = RESULT_RATIO_C[0] * 8000.0 / r_dl
        assert r_up < W_HZ / 2 * SE_MAX  # not capped: the noise matters
        out[t[n]] = (COMPLETED, approx(t[n] + 8000.0 / r_up + cycles / (0.5 * F_E) + t_dl))
        energy_up += P_W * 8000.0 / r_up
    assert s.resolved() == out
    assert s.energy["upload"] == approx(energy_up)


# --- the radio map -----------------------------------------------------------------------------------------
def shadow_of(world: World, n: int, rsu_x: float) -> float:
    """Shadowing (dB) that vehicle n sees, recovered from its gain with path loss and |h|² by hand."""
    eng = world.eng
    h2 = eng.fade[0, 0, n] ** 2 + eng.fade[1, 0, n] ** 2
    d = dist_m(float(eng.x[0, n]), rsu_x, int(eng.lane[0, n]))
    return -10.0 * math.log10(eng.gain[0, n] / h2) - path_loss_db(d)


def test_vehicles_at_the_same_spot_see_the_same_shadowing():
    vehicles = [Veh(1234.5, lane=1), Veh(1234.5, lane=1), Veh(700.0), Veh(1300.0), Veh(1234.5, lane=2)]
    world = paper(vehicles, keep_radio_map=True, seed=7)
    eng = world.eng
    s = [shadow_of(world, n, 1000.0) for n in range(5)]
    assert eng.gain[0, 0] == eng.gain[0, 1] and s[0] == s[1]
    # The map interpolated linearly between grid points, per lane.
    for n, veh in enumerate(vehicles):
        assert s[n] == pytest.approx(interp_map(eng.radio_map[0, 0, veh.lane], veh.x), abs=1e-9)
    # 700 m and 1300 m are at the same distance from the RSU but see different shadowing; so do
    # two lanes at one x.
    assert dist_m(700.0, 1000.0, 0) == dist_m(1300.0, 1000.0, 0)
    assert abs(s[2] - s[3]) > 0.5 and abs(s[0] - s[4]) > 0.5
    assert abs(eng.gain[0, 2] / eng.gain[0, 3] - 1.0) > 0.1


def test_a_vehicle_meets_the_shadowing_another_met_at_that_spot_earlier():
    # Vehicle 1 is 20 m behind vehicle 0 at 20 m/s: after 10 slots it is where vehicle 0 started.
    world = paper([Veh(1200.0, 20.0), Veh(1180.0, 20.0)], keep_radio_map=True, seed=8)
    s0 = shadow_of(world, 0, 1000.0)
    for _ in range(10):
        world.step()
    assert world.eng.x[0, 1] == 1200.0
    assert shadow_of(world, 1, 1000.0) == pytest.approx(s0, abs=1e-9)
    assert abs(shadow_of(world, 0, 1000.0) - s0) > 0.1  # vehicle 0 has moved on, to other shadowing


def test_each_rsu_has_its_own_map_and_a_vehicle_sees_its_serving_rsus():
    # Corridor: 940 m is in cell 0, 1060 m in cell 1, both 440 m from their RSU.
    world = corridor([Veh(940.0), Veh(1060.0, lane=1)], keep_radio_map=True, seed=9)
    eng = world.eng
    assert eng.cell[0].tolist()[:2] == [0, 1]
    assert shadow_of(world, 0, 500.0) == pytest.approx(interp_map(eng.radio_map[0, 0, 0], 940.0), abs=1e-9)
    assert shadow_of(world, 1, 1500.0) == pytest.approx(interp_map(eng.radio_map[0, 1, 1], 1060.0), abs=1e-9)
    assert abs(interp_map(eng.radio_map[0, 0, 1], 1060.0) - interp_map(eng.radio_map[0, 1, 1], 1060.0)) > 0.1


@ONCE
def test_radio_map_has_the_configured_std_and_gudmundson_correlation():
    cfg = VECConfig.from_kwargs(**CORRIDOR)
    maps = radio.draw_radio_map(np.arange(60), cfg)  # (60 roads, 6 RSUs, 3 lanes, 602 grid points)
    assert maps.shape == (60, 6, 3, 602)
    assert maps.std() == pytest.approx(SIGMA_DB, rel=0.03)
    assert abs(maps.mean()) < 0.3
    lag = round(DECORR_M / GRID_M)  # 50 m
    a, b = maps[..., :-lag].ravel(), maps[..., lag:].ravel()
    assert np.corrcoef(a, b)[0, 1] == pytest.approx(math.exp(-1.0), abs=0.02)
    a, b = maps[..., :-1].ravel(), maps[..., 1:].ravel()
    assert np.corrcoef(a, b)[0, 1] == pytest.approx(math.exp(-GRID_M / DECORR_M), abs=0.01)
    # Fields of different RSUs, lanes and roads are independent.
    assert abs(np.corrcoef(maps[:, 0].ravel(), maps[:, 1].ravel())[0, 1]) < 0.03
    assert abs(np.corrcoef(maps[:, :, 0].ravel(), maps[:, :, 1].ravel())[0, 1]) < 0.03
    # Reproducible from the seed, different for another seed.
    np.testing.assert_array_equal(radio.draw_radio_map(np.array([5]), cfg)[0], maps[5])


@ONCE
def test_radio_map_drift_keeps_sigma_and_decorrelates_in_time():
    drift_s = 2.0
    cfg = VECConfig.from_kwargs(**{**CORRIDOR, "radio_map_drift_s": drift_s})
    seeds = np.arange(20)
    m0 = radio.draw_radio_map(seeds, cfg)
    m = m0
    n_steps = 20  # 2 s: correlation e^-1
    for s in range(1, n_steps + 1):
        m = radio.drift_radio_map(m, seeds, np.full(seeds.shape, s), cfg)
    assert m.std() == pytest.approx(SIGMA_DB, rel=0.03)
    assert np.corrcoef(m0.ravel(), m.ravel())[0, 1] == pytest.approx(math.exp(-n_steps * TAU / drift_s), abs=0.02)


# --- fast fading ----------------------------------------------------------------------------------------------
@ONCE
def test_bessel_j0_matches_scipy():
    x = np.linspace(0.0, 1000.0, 200_001)
    np.testing.assert_allclose(radio.bessel_j0(x), scipy.special.j0(x), rtol=0, atol=1e-7)
    np.testing.assert_allclose(radio.bessel_j0(-x[:1000]), scipy.special.j0(x[:1000]), rtol=0, atol=1e-7)


@ONCE
def test_fading_coefficient_is_jakes():
    cfg = VECConfig.from_kwargs(**PAPER)
    v = np.array([0.0, 0.05, 0.123, 25.0])
    arg = 2 * np.pi * v * CARRIER_HZ / SPEED_OF_LIGHT * TAU
    np.testing.assert_allclose(radio.fading_rho(v, cfg), scipy.special.j0(arg), atol=1e-7)
    assert radio.fading_rho(np.array([0.0]), cfg)[0] == 1.0  # a parked vehicle keeps its fade


def test_fading_in_the_engine_has_unit_power_and_the_jakes_lag_correlation():
    # 1000 vehicles crawling at 0.123 m/s (ρ = J0(2π·v·f_c/c·τ) ≈ 0.5), all starting from h = 1.
    # Then E[h_{t+1}·conj(h_t)] = ρ and E|h_t|² = 1 at every step (40 000 samples: σ ≈ 0.006).
    v = 0.123
    rho = float(scipy.special.j0(2 * np.pi * v * CARRIER_HZ / SPEED_OF_LIGHT * TAU))
    world = paper([Veh(800.0 + 0.4 * i, v, lane=i % 3) for i in range(1000)])
    eng = world.eng
    h_prev = eng.fade[0, 0, :1000] + 1j * eng.fade[1, 0, :1000]
    lags, powers = [], []
    for _ in range(40):
        world.step()
        h = eng.fade[0, 0, :1000] + 1j * eng.fade[1, 0, :1000]
        lags.append(h * np.conj(h_prev))
        powers.append(np.abs(h) ** 2)
        h_prev = h
    lag = np.mean(lags)
    assert lag.real == pytest.approx(rho, abs=0.03)
    assert abs(lag.imag) < 0.03
    assert np.mean(powers) == pytest.approx(1.0, abs=0.03)
    # The engine's gain carries |h|² (flat radio map: gain = |h|²·10^(-PL/10)).
    n = 7
    d = dist_m(float(eng.x[0, n]), 1000.0, int(eng.lane[0, n]))
    assert eng.gain[0, n] == approx(float(np.abs(h[n]) ** 2) * 10.0 ** (-path_loss_db(d) / 10.0))


@ONCE
def test_fading_power_on_a_stationary_road_has_mean_one():
    cfg = VECConfig.from_kwargs(**PAPER, n_vehicles=20.0, task_rate_hz=(0.0,))
    B = 8
    eng = Engine(cfg, n_roads=B)
    eng.reset(np.arange(50, 50 + B))
    zero = np.zeros((B, eng.M, eng.K))
    power = []
    for _ in range(150):
        eng.step(zero, zero)
        power.append((eng.fade[0] ** 2 + eng.fade[1] ** 2)[eng.active])
    p = np.concatenate(power)
    assert p.shape[0] > 20_000
    assert p.mean() == pytest.approx(1.0, abs=0.03)
    assert np.mean(p < math.log(2.0)) == pytest.approx(0.5, abs=0.02)  # Exp(1): median ln 2


def test_fading_off_means_unit_channel_power():
    world = paper([Veh(1300.0, 25.0)], fading=False)
    for _ in range(3):
        world.step()
    d = dist_m(float(world.eng.x[0, 0]), 1000.0, 0)
    assert world.eng.gain[0, 0] == approx(10.0 ** (-path_loss_db(d) / 10.0))
