"""The batch-first core: road b of a batch is a single road seeded s + b, draws are counter-based
(independent of B, of the policy and of the vehicle slots), and the work in flight is bounded
under any policy (no task in flight is older than cap·deadline·deadline_scale)."""

from __future__ import annotations

import numpy as np
import pytest

from vecgym.config import VECConfig
from vecgym.core import rng
from vecgym.core.engine import Engine
from vecgym.core.taskcols import T_ARR, TYP, G

PRESETS = [("paper", 20.0), ("corridor", 40.0)]


def _shares(eng: Engine, total: float, rng_: np.random.Generator | None = None) -> np.ndarray:
    """Edge shares summing to ``total`` per server (random proportions if ``rng_``)."""
    B, M, K = eng.B, eng.M, eng.K
    held = eng.active & (eng.holder >= 0)
    raw = np.ones((B, M, K)) if rng_ is None else rng_.random((B, M, K))
    raw = np.where(held[..., None], raw, 0.0)
    key = np.arange(B)[:, None] * eng.S + np.maximum(eng.holder, 0)
    sums = np.bincount(key[held], weights=raw.sum(axis=2)[held], minlength=B * eng.S)
    return total * raw / np.maximum(sums[key], 1e-300)[..., None]


def _actions(eng: Engine, rng_: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    w = rng_.random((eng.B, eng.M, eng.K))
    return w, _shares(eng, rng_.random(), rng_)


def _road_view(eng: Engine, b: int) -> dict[str, np.ndarray]:
    """Road b's vehicles keyed by id (vehicle slots may differ), and its tasks in flight."""
    order = np.argsort(np.where(eng.active[b], eng.vid[b], np.iinfo(np.int64).max))[: int(eng.active[b].sum())]
    tasks = eng.tasks[eng.tasks[:, G].astype(np.intp) // eng.M == b]
    return {
        "vid": eng.vid[b, order],
        "x": eng.x[b, order],
        "gain": eng.gain[b, order],
        "cell": eng.cell[b, order],
        "n_tasks": np.array([tasks.shape[0]]),
        "task_t": np.sort(tasks[:, T_ARR]),
    }


@pytest.mark.parametrize(("preset", "n"), PRESETS)
def test_road_b_of_a_batch_is_the_single_road_seeded_s_plus_b(preset: str, n: float) -> None:
    cfg = VECConfig.from_kwargs(preset=preset, n_vehicles=n)
    B, seed, slots = 3, 100, 60
    batch = Engine(cfg, B)
    batch.reset(seed + np.arange(B))
    singles = [Engine(cfg, 1) for _ in range(B)]
    for b, single in enumerate(singles):
        single.reset(np.array([seed + b]))
    gen = np.random.default_rng(7)
    for _ in range(slots):
        # The same per-vehicle decision on both sides: a function of the vehicle id and type.
        w_of = gen.random(4096)
        w_b = np.where(batch.active[..., None], w_of[(batch.vid[..., None] * 3 + np.arange(batch.K)) % 4096], 0.0)
        res_b = batch.step(w_b, _shares(batch, 0.8))
        for b, single in enumerate(singles):
            w_s = np.where(single.active[..., None], w_of[(single.vid[..., None] * 3 + np.arange(single.K)) % 4096], 0)
            res_s = single.step(w_s, _shares(single, 0.8))
            assert res_s.reward[0] == pytest.approx(res_b.reward[b], rel=1e-12, abs=1e-12)
            for key in ("tasks_arrived", "tasks_completed", "violations", "tasks_dropped", "handovers"):
                assert res_s.metrics[key][0] == res_b.metrics[key][b], key
            for key, val in _road_view(single, 0).items():
                np.testing.assert_allclose(val, _road_view(batch, b)[key], rtol=1e-12, err_msg=key)


def test_draws_do_not_depend_on_the_policy_or_the_vehicle_slots() -> None:
    cfg = VECConfig.from_kwargs(preset="corridor", n_vehicles=40.0)
    eng_a, eng_b = Engine(cfg, 1), Engine(cfg, 1)
    eng_a.reset(np.array([3]))
    eng_b.reset(np.array([3]))
    # Shuffle road b's vehicle slots: same vehicles, other places.
    perm = np.random.default_rng(0).permutation(eng_b.M)
    for name in Engine.VEHICLE_ARRAYS:
        arr = getattr(eng_b, name)
        arr[0] = arr[0][perm]
    eng_b.fade[:, 0] = eng_b.fade[:, 0][:, perm]
    gen = np.random.default_rng(1)
    arrived_a, arrived_b = [], []
    for _ in range(40):
        # Opposite policies: all local with no edge share, against full offload with random shares.
        res_a = eng_a.step(np.zeros((1, eng_a.M, eng_a.K)), np.zeros((1, eng_a.M, eng_a.K)))
        res_b = eng_b.step(np.ones((1, eng_b.M, eng_b.K)), _shares(eng_b, 1.0, gen))
        arrived_a.append(res_a.metrics["tasks_arrived"][0])
        arrived_b.append(res_b.metrics["tasks_arrived"][0])
        for key in ("vid", "x", "gain"):
            np.testing.assert_array_equal(_road_view(eng_a, 0)[key], _road_view(eng_b, 0)[key], err_msg=key)
    assert arrived_a == arrived_b and sum(arrived_a) > 100


def test_counter_based_draws_are_pure_functions_of_their_key() -> None:
    keys = (np.array([5, 5, 6]), 10, rng.Stream.ARRIVAL_TIME, np.array([1, 1, 1]), 0)
    u = rng.uniform(*keys)
    assert u[0] == u[1] != u[2]
    assert rng.uniform(5, 10, rng.Stream.ARRIVAL_TIME, 1, 0)[0] == u[0]
    assert rng.uniform(5, 11, rng.Stream.ARRIVAL_TIME, 1, 0)[0] != u[0]
    big = rng.uniform(np.arange(200_000), 0, 1, 0, 0)
    assert 0.0 < big.min() and big.max() < 1.0
    assert abs(big.mean() - 0.5) < 0.003 and abs(big.var() - 1 / 12) < 0.001
    z = rng.normal(np.arange(200_000), 0, 1, 0, 0)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01


@pytest.mark.parametrize("lam", [0.3, 4.4, 90.0, 1000.0])
def test_poisson_by_inversion_has_the_right_mean_and_variance(lam: float) -> None:
    u = rng.uniform(np.arange(100_000), 0, 2, 0, 0)
    counts = rng.poisson(np.full(u.shape, lam), u)
    assert counts.mean() == pytest.approx(lam, rel=0.02, abs=0.01)
    assert counts.var() == pytest.approx(lam, rel=0.05, abs=0.02)


@pytest.mark.parametrize(("preset", "n"), [("paper", 30.0), ("corridor", 60.0)])
def test_tasks_in_flight_stay_bounded_under_a_poor_policy(preset: str, n: float) -> None:
    """Random actions overload the road; drops at cap deadlines keep the work in flight bounded:
    no task in flight is ever older than cap·deadline·deadline_scale at a slot boundary."""
    cfg = VECConfig.from_kwargs(preset=preset, n_vehicles=n)
    eng = Engine(cfg, 1)
    eng.reset(np.array([0]))
    gen = np.random.default_rng(0)
    cap_age = cfg.qos_cost_cap * np.asarray(cfg.per_type("deadline_s"))
    in_flight, dropped = [], 0.0
    for _ in range(400):
        res = eng.step(*_actions(eng, gen))
        dropped += res.metrics["tasks_dropped"][0]
        age = eng.t_s[0] - eng.tasks[:, T_ARR]
        assert (age < cap_age[eng.tasks[:, TYP].astype(int)] + 1e-9).all()
        in_flight.append(eng.tasks.shape[0])
    assert dropped > 0  # the policy is poor enough to need the bound
    first, last = np.mean(in_flight[100:200]), np.mean(in_flight[300:400])
    assert last < 1.5 * first + 50


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_a_replaced_arrival_process_is_used_by_every_kernel(kernels: str) -> None:
    """``engine.draw_arrivals`` is the documented hook for replaying tasks: both paths honour it."""
    if kernels == "numba":
        pytest.importorskip("numba")
    from vecgym.core.arrivals import NewTasks

    cfg = VECConfig.from_kwargs(n_vehicles=10.0)
    eng = Engine(cfg, 1, kernels=kernels)
    eng.reset(np.array([0]))

    def one_task(lam, seed, slot, vid, t0_s, types, slot_s):  # one 1 kB task on the first vehicle
        g = np.array([int(np.flatnonzero(eng.active[0])[0])])
        return NewTasks(g=g, typ=np.array([0]), t_arr_s=t0_s[:1] + 0.01, size_bytes=np.array([1000.0]))

    eng.draw_arrivals = one_task
    zeros = np.zeros((1, eng.M, eng.K))
    arrived = [eng.step(zeros, zeros).metrics["tasks_arrived"][0] for _ in range(5)]
    assert arrived == [1.0] * 5
