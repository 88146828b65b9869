"""Queues and channel against reference implementations and DESIGN §2's figures.

``queues.lindley`` is checked against a plain Python loop of the Lindley recursion; the channel
against the 3GPP path-loss formula, the DESIGN sanity figure at 500 m, ``scipy.special.j0`` and
the stationary statistics of the shadowing (Gudmundson) and fading (AR(1) Rayleigh) processes,
both as functions and inside the simulator. Fixed seeds throughout.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special

from vecgym import channel
from vecgym.config import VECConfig
from vecgym.queues import lindley, segment_last
from vecgym.simulator import Simulator

TAU = 0.1
SIGMA_DB = 8.0
DECORR_M = 50.0


# --- queues -----------------------------------------------------------------------------------------
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


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("load", [0.3, 1.5])  # idle gaps / a queue that never empties
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
    rate *= np.maximum(per_queue, 1) / (load * TAU)  # offered load ≈ ``load`` per queue
    # Some queues are idle at t0, some still busy with earlier work (beyond the slot for a few).
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


def test_lindley_single_queue_by_hand():
    # Free at 1.0; tasks of 2 units at rate 4 arriving at 0.5, 1.2, 3.0: done 1.5, 2.0, 3.5.
    done, cum = lindley(
        np.zeros(3, dtype=np.intp), np.array([0.5, 1.2, 3.0]), np.full(3, 2.0), np.array([4.0]), np.array([1.0])
    )
    np.testing.assert_allclose(done, [1.5, 2.0, 3.5], rtol=1e-12)
    np.testing.assert_allclose(cum, [2.0, 4.0, 6.0], rtol=1e-12)


def test_lindley_keeps_small_queues_exact_beside_huge_ones():
    # The simulator runs the CPU queues (1e8-cycle tasks) and the uplink queues (1e4-bit tasks) in
    # one call; the small queue must not lose precision to the large one's running sums.
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


def test_lindley_empty():
    done, cum = lindley(np.empty(0, dtype=np.intp), np.empty(0), np.empty(0), np.ones(2), np.zeros(2))
    assert done.shape == cum.shape == (0,)


# --- path loss and the sanity figure -----------------------------------------------------------------
def test_path_loss_is_128_1_db_at_1_km_and_37_6_db_per_decade():
    assert channel.path_loss_db(np.array(1000.0)) == pytest.approx(128.1, abs=1e-12)
    assert channel.path_loss_db(np.array(10_000.0)) - channel.path_loss_db(np.array(1000.0)) == (
        pytest.approx(37.6, abs=1e-12)
    )
    assert channel.path_loss_db(np.array(250.0)) == pytest.approx(128.1 + 37.6 * math.log10(0.25), abs=1e-12)


def test_distance_is_three_dimensional_to_the_rsu_antenna():
    cfg = VECConfig()
    d = channel.distance_m(np.array([1300.0]), np.array([11.75]), cfg)
    assert d[0] == pytest.approx(math.sqrt(300.0**2 + 11.75**2 + 10.0**2), rel=1e-12)


def test_sanity_figure_at_500_m_with_the_full_band():
    """DESIGN §2: no fading, no shadowing, 500 m from the RSU, whole band: ≈ 16 dB, ≈ 108 Mbit/s."""
    cfg = VECConfig(n_vehicles=5.0, fading=False, shadowing_std_db=0.0)
    sim = Simulator(cfg)
    sim.reset(np.random.default_rng(0))
    sim.active[:] = False
    sim.active[0] = True
    sim.x[0], sim.y[0], sim.v[0] = 1500.0, 8.0, 0.0
    sim.shadow_db[:] = 0.0
    zero = np.zeros((sim.n_max, sim.K))
    sim.lam[:] = 0.0
    sim.step(zero, zero)  # refreshes the gain from the position
    d_m = math.sqrt(500.0**2 + 8.0**2 + 10.0**2)
    pl_db = 128.1 + 37.6 * math.log10(d_m / 1000.0)
    assert sim.gain[0] == pytest.approx(10.0 ** (-pl_db / 10.0), rel=1e-9)
    snr = sim.snr()[0]
    assert snr == pytest.approx(0.2 * 10.0 ** (-pl_db / 10.0) / 1e-14, rel=1e-9)
    snr_db = 10.0 * math.log10(snr)
    assert abs(snr_db - 16.0) < 0.5  # 16.2 dB
    assert channel.mean_snr_db(np.array(d_m), 0.0, cfg) == pytest.approx(snr_db, abs=1e-9)
    rate = channel.shannon_rate_bps(cfg.bandwidth_hz, np.array(snr))
    assert rate == pytest.approx(108e6, rel=0.01)  # 108.3 Mbit/s


# --- fading -------------------------------------------------------------------------------------------
def test_bessel_j0_matches_scipy():
    x = np.linspace(0.0, 1000.0, 400_001)
    np.testing.assert_allclose(channel.bessel_j0(x), scipy.special.j0(x), rtol=0, atol=1e-7)
    np.testing.assert_allclose(channel.bessel_j0(-x[:1000]), scipy.special.j0(x[:1000]), rtol=0, atol=1e-7)


def test_fading_correlation_is_jakes():
    cfg = VECConfig()
    v = np.array([0.0, 0.05, 0.1, 25.0])
    arg = 2 * np.pi * v * cfg.carrier_hz / 299_792_458.0 * cfg.slot_s
    np.testing.assert_allclose(channel.fading_correlation(v, cfg), scipy.special.j0(arg), atol=1e-7)
    assert channel.fading_correlation(np.array([0.0]), cfg)[0] == pytest.approx(1.0, abs=1e-7)


def test_fading_ar1_is_stationary_unit_power_with_the_jakes_lag_correlation():
    cfg = VECConfig()
    rng = np.random.default_rng(11)
    n = 20_000
    # Speeds whose per-slot ρ spans weak to strong correlation (2π f_d τ = 0.5, 1, 2, 4, 60).
    x = np.repeat([0.5, 1.0, 2.0, 4.0, 60.0], n // 5)
    speed = x / (2 * np.pi * cfg.carrier_hz / 299_792_458.0 * cfg.slot_s)
    rho = channel.fading_correlation(speed, cfg)
    h = channel.new_fading(n, rng)
    power = []
    for _ in range(30):
        h_prev = h
        h = channel.fading_step(h, speed, cfg, rng)
        power.append(np.mean(np.abs(h) ** 2))
    assert np.mean(power) == pytest.approx(1.0, abs=0.02)
    lag = h * np.conj(h_prev)
    for value in np.unique(x):
        sel = x == value
        assert np.mean(lag[sel]).real == pytest.approx(rho[sel][0], abs=0.04)
        assert abs(np.mean(lag[sel]).imag) < 0.04
        assert np.mean(np.abs(h[sel]) ** 2) == pytest.approx(1.0, abs=0.06)


# --- shadowing ----------------------------------------------------------------------------------------
def test_shadowing_is_stationary_with_exponential_spatial_correlation():
    cfg = VECConfig()
    rng = np.random.default_rng(12)
    n = 20_000
    s0 = SIGMA_DB * rng.standard_normal(n)
    s = s0
    stds = []
    for _ in range(20):  # 20 steps of 2.5 m: 50 m in all
        s = channel.shadowing_step(s, np.full(n, 2.5), cfg, rng)
        stds.append(s.std())
    assert np.mean(stds) == pytest.approx(SIGMA_DB, rel=0.02)
    assert np.corrcoef(s0, s)[0, 1] == pytest.approx(math.exp(-50.0 / DECORR_M), abs=0.02)
    one = channel.shadowing_step(s0, np.full(n, 25.0), cfg, rng)
    assert np.corrcoef(s0, one)[0, 1] == pytest.approx(math.exp(-25.0 / DECORR_M), abs=0.02)
    assert one.std() == pytest.approx(SIGMA_DB, rel=0.02)


def test_simulator_shadowing_and_fading_follow_their_processes():
    """Inside the simulator: S₁ = ρ·S₀ + √(1-ρ²)·σ·ε with ρ = exp(-Δd/50 m), ε ~ N(0, 1); E|h|² = 1."""
    cfg = VECConfig(n_vehicles=40.0, task_rate_hz=(0.0,))
    sim = Simulator(cfg)
    sim.reset(np.random.default_rng(13))
    zero = np.zeros((sim.n_max, sim.K))
    eps, s_all, power = [], [], []
    for _ in range(300):
        vid0, x0, s0 = sim.vid.copy(), sim.x.copy(), sim.shadow_db.copy()
        sim.step(zero, zero)
        same = sim.active & (sim.vid == vid0)
        rho = np.exp(-(sim.x[same] - x0[same]) / DECORR_M)
        eps.append((sim.shadow_db[same] - rho * s0[same]) / (SIGMA_DB * np.sqrt(1.0 - rho * rho)))
        s_all.append(s0[same])
        power.append(np.abs(sim.h[sim.active]) ** 2)
    e, s = np.concatenate(eps), np.concatenate(s_all)
    assert e.shape[0] > 10_000
    assert abs(e.mean()) < 0.03
    assert e.std() == pytest.approx(1.0, abs=0.03)
    assert abs(np.corrcoef(e, s)[0, 1]) < 0.03
    assert s.std() == pytest.approx(SIGMA_DB, rel=0.1)  # few independent samples: ~90 s per vehicle
    assert np.concatenate(power).mean() == pytest.approx(1.0, abs=0.04)
