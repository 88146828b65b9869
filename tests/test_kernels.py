"""The numba fast paths (``vecgym.core.kernels``) against the numpy reference they replace.

Random numbers must be bit-identical; FIFO completion times and work left identical up to 1e-12
relative (the kernels evaluate the reference's operations in its order, so they are equal in
practice; the tolerance is what a Lindley recursion would need); the fused phases, arrivals and
settle are compared field by field on task tables from real runs; and a full ``Engine`` run with
``kernels="numba"`` must reproduce ``kernels="numpy"`` slot by slot.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import numpy as np
import pytest

pytest.importorskip("numba")

from vecgym.config import VECConfig
from vecgym.core import arrivals, backend, fifo, kernels, phases, radio, rng, traffic
from vecgym.core.engine import Engine
from vecgym.core.rng import Stream
from vecgym.core.taskcols import LOC_DONE, REM_DONE, T_ARR
from vecgym.goals import GOAL_VECTOR_SIZE, GoalSpec
from vecgym.observation import observe_batch

RTOL_FIFO = 1e-12
PRESETS = [("paper", 30.0), ("corridor", 60.0)]


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    kernels.warm_up()


def _keys(gen: np.random.Generator, shape: tuple[int, ...]) -> list[np.ndarray]:
    """Five key fields over the whole int64 range (negative values included)."""
    info = np.iinfo(np.int64)
    return [gen.integers(info.min, info.max, size=shape, dtype=np.int64, endpoint=True) for _ in range(5)]


# ---------------------------------------------------------------------------------------------
# Random numbers: bit-identical
# ---------------------------------------------------------------------------------------------
def test_hash_uniform_normal_are_bit_identical_on_random_keys() -> None:
    gen = np.random.default_rng(0)
    f = _keys(gen, (20_000,))
    f[1][:100] = -1  # the engine's "before the first slot" key
    f[3][100:200] = -1  # an empty vehicle slot's id
    for name in ("hash_key", "uniform", "normal"):
        ref, fast = getattr(rng, name)(*f), getattr(kernels, name)(*f)
        assert ref.dtype == fast.dtype and ref.shape == fast.shape
        np.testing.assert_array_equal(fast, ref, err_msg=name)


@pytest.mark.parametrize(
    "fields",
    [
        (np.arange(3)[:, None, None], np.arange(4)[None, :, None], Stream.FADING, np.arange(-2, 3), 1),
        (7, -1, Stream.ACTIVITY, np.array([[5, -1, 9]]), np.arange(3)),
        (1, 2, 3, 4, 5),  # all scalars: a (1,) array, as the reference
        (np.arange(4.0), 0, 1, 2, 3),  # a float field, converted through int64
        (np.arange(4, dtype=np.uint64) + np.uint64(2**63), 0, 1, 2, 3),  # wraps as in C
        (np.array([True, False]), np.int32(3), 1, 2, 3),
        (1, 2, 3),  # other arities take the generic path
        (np.arange(5), -3, 4, 5, 6, 7),
    ],
)
def test_random_numbers_broadcast_and_convert_like_the_reference(fields: tuple) -> None:
    for name in ("hash_key", "uniform", "normal"):
        ref, fast = getattr(rng, name)(*fields), getattr(kernels, name)(*fields)
        assert ref.shape == fast.shape, name
        np.testing.assert_array_equal(fast, ref, err_msg=name)


def test_poisson_is_bit_identical_including_large_means() -> None:
    gen = np.random.default_rng(1)
    n = 20_000
    lam = gen.exponential(1.0, n)
    lam[::5] = 0.0
    lam[1::7] *= 1e-6
    lam[2::11] = gen.uniform(10.0, 300.0, lam[2::11].shape)
    u = rng.uniform(3, 4, Stream.ARRIVAL_COUNT, np.arange(n), 0)
    np.testing.assert_array_equal(kernels.poisson(lam, u), rng.poisson(lam, u))
    # Means past the built-in log-k table (grown on demand) and u near both tails.
    lam_big = np.array([2_000.0, 2_000.0, 2_000.0, 5_000.0, 1e-300])
    u_big = np.array([1e-12, 0.5, 1.0 - 2**-53, 0.9, 0.5])
    np.testing.assert_array_equal(kernels.poisson(lam_big, u_big), rng.poisson(lam_big, u_big))
    # Broadcasting λ over a grid of uniforms, as the engine's entry counts do.
    grid = rng.uniform(np.arange(6)[:, None], 1, 2, 0, np.arange(3))
    np.testing.assert_array_equal(kernels.poisson(np.array([0.2, 3.0, 0.0]), grid),
                                  rng.poisson(np.array([0.2, 3.0, 0.0]), grid))


def test_poisson_uniform_on_a_cdf_step_goes_to_the_reference() -> None:
    """A uniform within the guard of a partial cdf sum is decided by the reference's arithmetic."""
    lam = np.array([0.7, 0.7, 0.7, 4.0, 4.0, 80.0, 80.0, 80.0])
    cdf1 = np.exp(-lam) + np.exp(-lam + np.log(lam) - np.log(1.0))
    cdf80 = np.cumsum(np.exp(-80.0 + np.cumsum(np.log(80.0) - np.log(np.arange(1.0, 81.0)))))[-1] + np.exp(-80.0)
    u = np.concatenate((cdf1[:5], [cdf80] * 3)) + np.array([0.0, 1e-15, -1e-15, 2e-16, -2e-16, 0.0, 3e-15, -3e-15])
    np.testing.assert_array_equal(kernels.poisson(lam, u), rng.poisson(lam, u))


def test_draw_arrivals_is_bit_identical() -> None:
    gen = np.random.default_rng(2)
    B, M, K = 3, 17, 4
    lam = gen.exponential(0.8, (B, M, K))
    lam[gen.random((B, M, K)) < 0.3] = 0.0
    lam[0, 0, 0] = 40.0
    seed = np.array([5, -9, 2**40])
    slot = np.array([0, 17, 123456])
    vid = gen.integers(-1, 10_000, (B, M))
    t0 = slot * 0.1

    class Types:
        size_min_bytes = np.array([1e3, 5e4, 2e5, 10.0])
        size_max_bytes = np.array([2e3, 1e5, 8e5, 10.0])

    ref = arrivals.draw_arrivals(lam, seed, slot, vid, t0, Types, 0.1)
    fast = kernels.draw_arrivals(lam, seed, slot, vid, t0, Types, 0.1)
    assert ref.g.shape[0] > 50
    for field in ("g", "typ", "t_arr_s", "size_bytes"):
        a, b = getattr(ref, field), getattr(fast, field)
        assert a.dtype == b.dtype, field
        np.testing.assert_array_equal(b, a, err_msg=field)


def test_traffic_fading_activity_and_radio_map_draw_as_the_reference() -> None:
    """The functions re-bound to the fast random numbers return the reference's numbers."""
    cfg = VECConfig.from_kwargs(preset="corridor", n_vehicles=40.0, dynamic_speed=True,
                                radio_map_drift_s=30.0)
    seeds = np.array([3, 11, -4])
    slot = np.array([0, 5, 77])
    ns = kernels.FAST
    for a, b in [
        (traffic.initial(seeds, cfg), ns.initial(seeds, cfg)),
        (traffic.entries(seeds, slot, slot * cfg.slot_s, np.array([10, 0, 99]), cfg),
         ns.entries(seeds, slot, slot * cfg.slot_s, np.array([10, 0, 99]), cfg)),
    ]:
        for field in ("road", "vid", "x_m", "speed_mps", "lane", "vclass"):
            np.testing.assert_array_equal(getattr(b, field), getattr(a, field), err_msg=field)
    vid = np.arange(3 * 8).reshape(3, 8) - 2
    np.testing.assert_array_equal(ns.fading_draw(seeds[:, None], slot[:, None], vid, Stream.FADING),
                                  radio.fading_draw(seeds[:, None], slot[:, None], vid, Stream.FADING))
    np.testing.assert_array_equal(ns.activity_init(seeds, vid[:, 0], 3, cfg),
                                  arrivals.activity_init(seeds, vid[:, 0], 3, cfg))
    z = np.random.default_rng(3).normal(size=(3, 8, 3))
    np.testing.assert_array_equal(ns.activity_step(z, seeds, slot, vid, cfg),
                                  arrivals.activity_step(z, seeds, slot, vid, cfg))
    rmap = radio.draw_radio_map(seeds, cfg)
    np.testing.assert_array_equal(ns.draw_radio_map(seeds, cfg), rmap)
    np.testing.assert_array_equal(ns.drift_radio_map(rmap, seeds, slot, cfg),
                                  radio.drift_radio_map(rmap, seeds, slot, cfg))
    x = np.random.default_rng(4).uniform(-0.2, 1.2, (3, 8)) * cfg.road_length_m
    v = np.full((3, 8), 25.0)
    for a, b in zip(traffic.advance(x, v, v, seeds, slot, vid, slot * cfg.slot_s, cfg),
                    ns.advance(x, v, v, seeds, slot, vid, slot * cfg.slot_s, cfg), strict=True):
        np.testing.assert_array_equal(b, a)


def test_radio_map_lookup_is_identical() -> None:
    cfg = VECConfig.from_kwargs(preset="corridor")
    gen = np.random.default_rng(5)
    rmap = radio.draw_radio_map(np.array([1, 2]), cfg)
    n = 5_000
    road = gen.integers(0, 2, n)
    server = gen.integers(0, rmap.shape[1], n)
    lane = gen.integers(0, rmap.shape[2], n)
    x = gen.uniform(-200.0, cfg.road_length_m + 200.0, n)
    x[:10] = cfg.radio_map_grid_m * np.arange(10)  # on grid points
    np.testing.assert_array_equal(kernels.map_shadowing_db(rmap, road, server, lane, x, cfg),
                                  radio.map_shadowing_db(rmap, road, server, lane, x, cfg))


# ---------------------------------------------------------------------------------------------
# FIFO queues
# ---------------------------------------------------------------------------------------------
def _assert_fifo_close(fast: tuple[np.ndarray, np.ndarray], ref: tuple[np.ndarray, np.ndarray]) -> None:
    for a, b, what in ((fast[0], ref[0], "done"), (fast[1], ref[1], "left")):
        np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b), err_msg=what)
        np.testing.assert_allclose(a, b, rtol=RTOL_FIFO, atol=0.0, err_msg=what)


@pytest.mark.parametrize("seed", range(6))
def test_fifo_slot_matches_the_reference(seed: int) -> None:
    gen = np.random.default_rng(seed)
    n_q, m = 40, 3_000
    queue = gen.integers(0, n_q, m)
    order = gen.random(m)
    order[::9] = order[1::9][: order[::9].shape[0]]  # ties: the table's row order decides
    order[::13] = 0.0
    t0 = np.full(n_q, 5.0) + gen.random(n_q) * 1e-3
    arrival = np.maximum(t0[queue] + gen.random(m) * 0.1 * (gen.random(m) < 0.7), t0[queue])
    work = gen.exponential(1e9, m) * (1.0 + 1e5 * (queue % 2))  # cycles and bits scales mixed
    rate = gen.exponential(1e10, n_q)
    rate[::7] = 0.0  # queues that serve nothing
    horizon = t0[queue] + 0.1
    horizon[gen.random(m) < 0.1] = np.inf  # a leaving vehicle's CPU runs on
    horizon[gen.random(m) < 0.1] -= 0.07  # and an exit instant inside the slot
    args = (queue, order, arrival, work, rate, t0, horizon)
    _assert_fifo_close(kernels.fifo_slot(*args), fifo.fifo_slot(*args))


def test_fifo_slot_long_unsorted_queue_and_empty_input() -> None:
    """A queue far out of order takes the merge-sort path; empty input returns empty arrays."""
    m = 2_000
    queue = np.zeros(m, dtype=np.int64)
    queue[::3] = 1
    order = np.linspace(1.0, 0.0, m)  # reversed
    arrival = np.full(m, 2.0)
    work = np.ones(m)
    rate = np.array([1e3, 5e2])
    args = (queue, order, arrival, work, rate, np.array([2.0, 2.0]), np.full(m, 2.5))
    _assert_fifo_close(kernels.fifo_slot(*args), fifo.fifo_slot(*args))
    empty = kernels.fifo_slot(np.empty(0, np.int64), *(np.empty(0),) * 3, rate, np.zeros(2), np.empty(0))
    assert empty[0].shape == (0,) and empty[1].shape == (0,)


def test_rows_per_vehicle_counts_as_bincount() -> None:
    gen = np.random.default_rng(10)
    tasks = gen.random((500, 16))
    tasks[:, 0] = gen.integers(0, 37, 500)
    tasks[::3, 6] = 0.0
    for col in (6, 3):
        np.testing.assert_array_equal(kernels.rows_per_vehicle(tasks, col, 40),
                                      backend.rows_per_vehicle(tasks, col, 40))


def test_fifo_slot_rejects_a_queue_outside_rate() -> None:
    with pytest.raises(IndexError):
        kernels.fifo_slot(np.array([0, 3]), np.zeros(2), np.zeros(2), np.ones(2), np.ones(2), np.zeros(2), np.ones(2))


# ---------------------------------------------------------------------------------------------
# The queue phases, arrivals and settle on task tables of real runs
# ---------------------------------------------------------------------------------------------
def _random_action(eng: Engine, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random w, and random shares normalised per server: Σ a over vehicles with holder s ≤ 1."""
    B, M, K, S = eng.B, eng.M, eng.K, eng.S
    w = gen.random((B, M, K))
    w[gen.random((B, M)) < 0.2] = 1.0
    a = gen.random((B, M, K))
    held = eng.active & (eng.holder >= 0)
    key = np.arange(B)[:, None] * S + np.maximum(eng.holder, 0)
    tot = np.bincount(key[held], weights=a.sum(axis=2)[held], minlength=B * S)
    scale = gen.uniform(0.5, 1.0)
    return w, np.where(held[..., None], scale * a / np.maximum(tot[key], 1e-300)[..., None], 0.0)


def _engines_mid_run(preset: str, n: float, B: int, slots: int) -> list[Engine]:
    """Snapshots (deep copies) of a numpy-kernel engine at several slots of a random-action run."""
    cfg = VECConfig.from_kwargs(preset=preset, n_vehicles=n)
    eng = Engine(cfg, B, kernels="numpy")
    eng.reset(np.arange(B) + 11)
    gen = np.random.default_rng(6)
    out = []
    for s in range(slots):
        eng.step(*_random_action(eng, gen))
        if s % 20 == 19:
            out.append(copy.deepcopy(eng))
    return out


@pytest.fixture(scope="module")
def snapshots() -> list[Engine]:
    return [e for preset, n in PRESETS for e in _engines_mid_run(preset, n, 2, 100)]


def test_queue_phases_match_the_reference(snapshots: list[Engine]) -> None:
    gen = np.random.default_rng(7)
    for eng in snapshots:
        B, M, K, cfg = eng.B, eng.M, eng.K, eng.cfg
        t0_g = np.repeat(eng.t_s, M)
        t1_g = t0_g + cfg.slot_s
        tcut_g = np.where(gen.random(B * M) < 0.1, t0_g + gen.random(B * M) * cfg.slot_s, t1_g)
        r_up = gen.exponential(2e7, B * M) * (gen.random(B * M) < 0.9)
        r_q = gen.exponential(5e9, B * M * K) * (gen.random(B * M * K) < 0.9)
        r_dl = gen.exponential(5e7, B * M)
        ref, fast = eng.tasks.copy(), eng.tasks.copy()
        assert ref.shape[0] > 20
        for name in ("local", "uplink", "edge", "downloading", "downlink"):
            out_ref = _phase(name, ref, phases, eng, t0_g, tcut_g, (r_up, r_q, r_dl))
            out_fast = _phase(name, fast, kernels, eng, t0_g, tcut_g, (r_up, r_q, r_dl))
            np.testing.assert_allclose(out_fast, out_ref, rtol=RTOL_FIFO, atol=0.0, err_msg=name)
            np.testing.assert_array_equal(np.isfinite(fast), np.isfinite(ref), err_msg=name)
            np.testing.assert_allclose(fast, ref, rtol=RTOL_FIFO, atol=0.0, err_msg=name)


def _phase(name: str, tasks: np.ndarray, impl: Any, eng: Engine, t0_g: np.ndarray, tcut_g: np.ndarray,
           rates: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """One queue phase of ``impl`` (the ``phases`` module or ``kernels``) on ``tasks``, in place."""
    t1_g = t0_g + eng.cfg.slot_s
    r_up, r_q, r_dl = rates
    if name == "local":
        return impl.local_phase(tasks, t0_g, np.where(tcut_g < t1_g, np.inf, t1_g), eng.cfg.vehicle_cpu_hz)
    if name == "uplink":
        return impl.uplink_phase(tasks, t0_g, tcut_g, r_up)
    if name == "edge":
        return impl.edge_phase(tasks, t0_g, t1_g, tcut_g, r_q, eng.K)
    if name == "downloading":
        return impl.downloading(tasks, t1_g)
    return impl.downlink_phase(tasks, impl.downloading(tasks, t1_g), t0_g, tcut_g, r_dl)


def test_backlogs_match_the_reference(snapshots: list[Engine]) -> None:
    from vecgym.simulator import backlogs

    for eng in snapshots:
        assert eng.kernels == "numpy"
        ref = backlogs(eng)
        fast = kernels.backlogs(eng)
        assert ref.keys() == fast.keys()
        for key in ref:
            np.testing.assert_array_equal(fast[key], ref[key], err_msg=key)


def _same_state(a: Engine, b: Engine) -> None:
    np.testing.assert_array_equal(a.tasks, b.tasks)
    np.testing.assert_array_equal(a.last_arrivals_bytes, b.last_arrivals_bytes)
    for name in ("counts", "lat", "by_class", "by_type", "tracked"):
        np.testing.assert_array_equal(getattr(a.metrics, name), getattr(b.metrics, name), err_msg=name)


def test_arrive_and_settle_match_the_reference(snapshots: list[Engine]) -> None:
    gen = np.random.default_rng(8)
    for snap in snapshots:
        ref = copy.deepcopy(snap)
        fast = copy.deepcopy(snap)
        fast._k = kernels.FAST
        fast.draw_arrivals = kernels.draw_arrivals
        B, M = snap.B, snap.M
        fast.set_goal(0, GoalSpec(vehicle_weights={int(snap.vid[0, np.argmax(snap.active[0])]): 3.0}))
        ref.set_goal(0, fast.goals[0])
        w, _ = _random_action(snap, gen)
        t0 = snap.t_s
        exiting = snap.active & (gen.random((B, M)) < 0.1)
        tcut_g = np.where(exiting, t0[:, None] + gen.random((B, M)) * snap.cfg.slot_s, t0[:, None] + 0.1).ravel()
        np.testing.assert_array_equal(fast._arrive(w, t0, tcut_g), ref._arrive(w, t0, tcut_g))
        _same_state(fast, ref)
        t1 = t0 + snap.cfg.slot_s
        # Some tasks complete in this slot, as the phases would have them.
        done = gen.random(ref.tasks.shape[0]) < 0.3
        for e in (ref, fast):
            e.tasks[done, LOC_DONE] = np.minimum(e.tasks[done, T_ARR] + 0.05, t1[0])
            e.tasks[done, REM_DONE] = np.minimum(e.tasks[done, T_ARR] + 0.08, t1[0])
        s_ref, s_fast = ref._settle(t1, exiting), fast._settle(t1, exiting)
        for key in ("qos_cost", "decided", "violations", "per_vehicle"):
            np.testing.assert_array_equal(s_fast[key], s_ref[key], err_msg=key)
        for key in s_ref["counts"]:
            np.testing.assert_array_equal(s_fast["counts"][key], s_ref["counts"][key], err_msg=key)
        _same_state(fast, ref)


# ---------------------------------------------------------------------------------------------
# The whole engine in lockstep
# ---------------------------------------------------------------------------------------------
COUNT_KEYS = ("n_active", "n_uploading", "tasks_arrived", "tasks_completed", "tasks_failed", "tasks_dropped",
              "violations", "tasks_decided", "tasks_in_flight", "vehicles_entered", "vehicles_exited",
              "entry_blocked", "handovers")


@pytest.mark.parametrize(("preset", "n", "B"), [("paper", 30.0, 1), ("corridor", 90.0, 1), ("paper", 20.0, 3),
                                                 ("corridor", 40.0, 3)])
def test_engine_numba_reproduces_numpy_slot_by_slot(preset: str, n: float, B: int) -> None:
    cfg = VECConfig.from_kwargs(preset=preset, n_vehicles=n)
    ref, fast = Engine(cfg, B, kernels="numpy"), Engine(cfg, B, kernels="numba")
    assert (ref.kernels, fast.kernels) == ("numpy", "numba")
    for e in (ref, fast):
        e.reset(np.arange(B) + 2024)
        e.set_goal(0, GoalSpec(beta_energy=2.0, vehicle_weights={3: 5.0, 12: 2.0}, class_weights={"bus": 3.0}))
    gen = np.random.default_rng(9)
    seen = dict.fromkeys(COUNT_KEYS, 0.0)
    for slot in range(300):
        if slot == 150 and B > 1:
            for e in (ref, fast):
                e.reset(np.arange(B) + 7, roads=np.arange(B) == 1)
        w, a = _random_action(ref, gen)
        r_ref, r_fast = ref.step(w, a), fast.step(w, a)
        for key in COUNT_KEYS:
            np.testing.assert_array_equal(r_fast.metrics[key], r_ref.metrics[key], err_msg=f"slot {slot}: {key}")
        for key in r_ref.metrics:
            np.testing.assert_allclose(r_fast.metrics[key], r_ref.metrics[key], rtol=1e-9, atol=0.0,
                                       equal_nan=True, err_msg=f"slot {slot}: {key}")
        np.testing.assert_allclose(r_fast.reward, r_ref.reward, rtol=1e-9, atol=0.0, err_msg=f"slot {slot}")
        for key in r_ref.reward_terms:
            np.testing.assert_allclose(r_fast.reward_terms[key], r_ref.reward_terms[key], rtol=1e-9, atol=0.0)
        assert fast.tasks.shape == ref.tasks.shape, f"slot {slot}"
        if slot % 25 == 0:  # the observation (noise drawn by each side's kernels, backlogs) too
            goals = np.zeros((B, GOAL_VECTOR_SIZE))
            o_ref, o_fast = observe_batch(ref, goals), observe_batch(fast, goals)
            for key in o_ref:
                np.testing.assert_array_equal(o_fast[key], o_ref[key], err_msg=f"slot {slot}: obs {key}")
        for key in COUNT_KEYS:
            seen[key] += float(r_ref.metrics[key].sum())
    # The run went through every kind of event the kernels handle.
    assert min(seen["tasks_completed"], seen["tasks_dropped"], seen["violations"], seen["vehicles_exited"]) > 0, seen
    assert seen["tasks_failed"] > 0 if preset == "paper" else seen["handovers"] > 0, seen
    np.testing.assert_allclose(fast.tasks, ref.tasks, rtol=1e-9, atol=0.0)
    for b in range(B):
        s_ref = ref.metrics.summary(b, ref.active[b], {})
        s_fast = fast.metrics.summary(b, fast.active[b], {})
        assert s_fast["tasks_completed"] == s_ref["tasks_completed"] > 0
        assert s_fast["per_vehicle"].keys() == s_ref["per_vehicle"].keys()
        np.testing.assert_allclose(s_fast["energy_j"], s_ref["energy_j"], rtol=1e-9)
        np.testing.assert_allclose(s_fast["latency_ms_mean"], s_ref["latency_ms_mean"], rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------
def test_kernel_selection() -> None:
    cfg = VECConfig.from_kwargs(preset="paper", n_vehicles=5.0)
    assert Engine(cfg).kernels == "numba"  # auto, numba installed
    assert Engine(cfg, kernels="numpy").kernels == "numpy"
    assert Engine(cfg, kernels="numba").kernels == "numba"
    with pytest.raises(ValueError, match="kernels must be one of"):
        Engine(cfg, kernels="cuda")


def test_without_numba_auto_falls_back_and_numba_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba -> ImportError
    monkeypatch.delitem(sys.modules, "vecgym.core.kernels")
    cfg = VECConfig.from_kwargs(preset="paper", n_vehicles=5.0)
    assert Engine(cfg, kernels="auto").kernels == "numpy"
    assert backend.select("auto") is backend.REFERENCE
    with pytest.raises(ImportError, match="pip install numba"):
        Engine(cfg, kernels="numba")
