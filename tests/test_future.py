"""The exogenous-future hook (``vecgym.core.future``): the next H slots' vehicles, positions,
speeds, cells, SNR, arrivals and exits, computed on a task-free shadow, are exactly what the real
road then does under other (random) actions; the engine is left untouched; road b of a batch is
the single road seeded s + b; both kernel backends agree."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import vecgym  # registers VEC-v0
import vecgym.scenarios
from vecgym.config import VECConfig
from vecgym.core.engine import Engine
from vecgym.core.future import ExogenousFuture, exogenous_future

H = 5


def _real_slot(sim) -> dict[str, np.ndarray]:
    """What the future predicts for the slot about to be played, read from the real road."""
    return {
        "vehicle_id": sim.vid.copy(),
        "active": sim.active.copy(),
        "x_m": sim.x.copy(),
        "y_m": sim.y.copy(),
        "speed_mps": sim.v.copy(),
        "cell": sim.cell.copy(),
        "snr": sim.snr(),
    }


def _check_windows(env: gym.Env, seed: int, warmup: int, n_windows: int) -> dict[str, int]:
    """Warm up with one random policy, then, window after window, take the H-slot future and play
    the real env H slots with another random policy; every field must match exactly."""
    env.reset(seed=seed)
    sim = env.unwrapped.sim
    warm_space, play_space = env.action_space, gym.spaces.Box(0.0, 1.0, env.action_space.shape, np.float32)
    warm_space.seed(seed + 1)
    play_space.seed(seed + 2)
    for _ in range(warmup):
        env.step(warm_space.sample())
    seen = {"exits": 0, "handovers": 0, "cell_changes": 0, "entries": 0, "gaps": 0, "slots": 0}
    for _ in range(n_windows):
        fut = sim.exogenous_future(H)
        assert isinstance(fut, ExogenousFuture) and fut.horizon == H
        assert fut.vehicle_id.shape == (H, sim.n_max) and fut.arrivals_bytes.shape == (H, sim.n_max, sim.K)
        for h in range(H):
            real = _real_slot(sim)
            for key, val in real.items():
                # SNR too is bit-identical: the same float operations on the same inputs.
                assert np.array_equal(getattr(fut, key)[h], val), (key, h, sim.slot)
            _, _, term, trunc, info = env.step(play_space.sample())
            assert not (term or trunc)
            assert np.array_equal(fut.arrivals_bytes[h], sim.last_arrivals_bytes), ("arrivals_bytes", h, sim.slot)
            exits = real["active"] & (~sim.active | (sim.vid != real["vehicle_id"]))
            assert np.array_equal(fut.exits[h], exits), ("exits", h, sim.slot)
            assert fut.exits[h].sum() == info["metrics"]["vehicles_exited"]
            seen["exits"] += int(exits.sum())
            seen["entries"] += int(info["metrics"]["vehicles_entered"])
            seen["handovers"] += int(info["metrics"]["handovers"])  # served by a new RSU (with migration)
            seen["slots"] += 1
        same = fut.active[1:] & fut.active[:-1] & (fut.vehicle_id[1:] == fut.vehicle_id[:-1])
        seen["cell_changes"] += int((same & (fut.cell[1:] != fut.cell[:-1])).sum())  # into, out of gaps too
        seen["gaps"] += int((fut.active & (fut.cell < 0)).sum())
    return seen


@pytest.mark.parametrize(
    ("make", "seed", "warmup", "n_windows"),
    [
        (lambda: gym.make("VEC-v0", n_vehicles=20, dynamic_speed=True, max_episode_steps=1000), 11, 7, 30),
        (lambda: vecgym.scenarios.make("dynamic"), 12, 3, 20),
        (lambda: vecgym.scenarios.make("emergency"), 13, 15, 4),  # a goal switch at slot 20
        (lambda: vecgym.scenarios.make("corridor_rush"), 14, 95, 30),  # the ramp opens at slot 100
        (lambda: vecgym.scenarios.make("corridor_incident"), 15, 95, 30),  # the incident from slot 100
        (lambda: vecgym.scenarios.make("corridor_tunnel"), 16, 20, 30),
    ],
    ids=["paper_dynamic", "dynamic", "emergency", "corridor_rush", "corridor_incident", "corridor_tunnel"],
)
def test_future_is_what_the_real_road_does_under_other_actions(make, seed, warmup, n_windows) -> None:
    env = make()
    seen = _check_windows(env, seed, warmup, n_windows)
    if n_windows >= 20:  # the long runs must cover exits, entries and handovers: not vacuous
        assert seen["exits"] > 0 and seen["entries"] > 0, seen
        if env.unwrapped.sim.cfg.n_servers > 1:  # the paper road has one RSU: no handover there
            assert seen["handovers"] > 0 and seen["cell_changes"] > 0 and seen["gaps"] > 0, seen
    print(seen)
    env.close()


def _snapshot(eng: Engine) -> dict[str, object]:
    state = {}
    for owner, prefix in ((eng, ""), (eng.metrics, "metrics.")):
        for key, val in vars(owner).items():
            if isinstance(val, np.ndarray):
                state[prefix + key] = val.copy()
                state[prefix + key + "@id"] = id(val)
    state["goals"] = list(eng.goals)
    return state


def test_the_engine_is_not_modified() -> None:
    env = vecgym.scenarios.make("corridor_rush")
    env.reset(seed=5)
    env.action_space.seed(5)
    for _ in range(40):
        env.step(env.action_space.sample())
    eng = env.unwrapped.sim.engine
    assert eng.tasks.shape[0] > 0
    before = _snapshot(eng)
    eng.exogenous_future(8)
    after = _snapshot(eng)
    assert before.keys() == after.keys()
    for key, val in before.items():
        if isinstance(val, np.ndarray):
            assert np.array_equal(val, after[key], equal_nan=val.dtype.kind == "f"), key
        else:
            assert val == after[key], key


def test_calling_it_every_slot_does_not_change_the_episode() -> None:
    envs = [vecgym.scenarios.make("corridor_incident") for _ in range(2)]
    for env in envs:
        env.reset(seed=9)
        env.action_space.seed(9)
    for t in range(120):
        envs[1].unwrapped.sim.exogenous_future(3)
        outs = [env.step(env.action_space.sample()) for env in envs]
        assert outs[0][1] == outs[1][1], t
        np.testing.assert_equal(outs[0][4]["metrics"], outs[1][4]["metrics"])  # NaN == NaN here
        np.testing.assert_equal(outs[0][0], outs[1][0])
    np.testing.assert_equal(envs[0].unwrapped.episode_metrics(), envs[1].unwrapped.episode_metrics())
    np.testing.assert_equal(envs[0].unwrapped.sim.tasks, envs[1].unwrapped.sim.tasks)


def _fields_equal(a: ExogenousFuture, b: ExogenousFuture) -> None:
    assert a.horizon == b.horizon
    for key in ExogenousFuture.FIELDS:
        assert np.array_equal(getattr(a, key), getattr(b, key)), key


@pytest.mark.parametrize(("preset", "n"), [("paper", 20.0), ("corridor", 90.0)])
def test_road_b_of_a_batch_is_the_single_road_seeded_s_plus_b(preset: str, n: float) -> None:
    cfg = VECConfig.from_kwargs(preset=preset, n_vehicles=n, dynamic_speed=True)
    B, seed = 3, 40
    batch = Engine(cfg, B)
    batch.reset(seed + np.arange(B))
    singles = [Engine(cfg, 1) for _ in range(B)]
    for b, single in enumerate(singles):
        single.reset(np.array([seed + b]))
    gen = np.random.default_rng(3)
    for t in range(60):
        # Different actions on every engine: they must not matter.
        for eng in (batch, *singles):
            eng.step(gen.random((eng.B, eng.M, eng.K)), gen.random((eng.B, eng.M, eng.K)) / eng.M)
        if t % 20 == 19:
            fut = batch.exogenous_future(H)
            assert fut.vehicle_id.shape == (H, B, batch.M)
            for b, single in enumerate(singles):
                _fields_equal(fut.road(b), single.exogenous_future(H).road(0))


def test_both_kernel_backends_give_the_same_future() -> None:
    pytest.importorskip("numba")
    cfg = VECConfig.from_kwargs(preset="corridor", n_vehicles=90.0)
    engines = [Engine(cfg, 1, kernels="numpy"), Engine(cfg, 1, kernels="numba")]
    assert [e.kernels for e in engines] == ["numpy", "numba"]
    for eng in engines:
        eng.reset(np.array([21]))
    gen = np.random.default_rng(4)
    for _ in range(30):
        w = gen.random((1, engines[0].M, engines[0].K))
        for eng in engines:
            eng.step(w, np.zeros_like(w))
    futs = [eng.exogenous_future(H) for eng in engines]
    _fields_equal(futs[0], futs[1])
    # And the numpy engine's future is its own real future.
    eng = engines[0]
    for h in range(H):
        assert np.array_equal(futs[0].x_m[h], eng.x) and np.array_equal(futs[0].vehicle_id[h], eng.vid)
        eng.step(gen.random((1, eng.M, eng.K)), np.zeros((1, eng.M, eng.K)))
        assert np.array_equal(futs[0].arrivals_bytes[h], eng.last_arrivals_bytes)


def test_a_tracing_engine_gets_its_own_future_and_keeps_its_trace() -> None:
    cfg = VECConfig.from_kwargs(preset="paper", n_vehicles=30.0, dynamic_speed=True)
    eng = Engine(cfg, 1)
    eng.reset(np.array([8]))
    eng.trace = []
    gen = np.random.default_rng(8)
    for _ in range(10):
        eng.step(gen.random((1, eng.M, eng.K)), np.zeros((1, eng.M, eng.K)))
    n_trace = len(eng.trace)
    fut = eng.exogenous_future(H)
    assert len(eng.trace) == n_trace
    for h in range(H):
        assert np.array_equal(fut.vehicle_id[h], eng.vid) and np.array_equal(fut.x_m[h], eng.x)
        eng.step(gen.random((1, eng.M, eng.K)), np.zeros((1, eng.M, eng.K)))
        assert np.array_equal(fut.arrivals_bytes[h], eng.last_arrivals_bytes)


def test_horizon_zero_and_function_form() -> None:
    eng = Engine(VECConfig.from_kwargs(preset="paper", n_vehicles=10.0), 2)
    eng.reset(np.array([1, 2]))
    empty = exogenous_future(eng, 0)
    assert empty.horizon == 0 and empty.arrivals_bytes.shape == (0, 2, eng.M, eng.K)
    _fields_equal(exogenous_future(eng, 2), eng.exogenous_future(2))
    with pytest.raises(ValueError):
        eng.exogenous_future(-1)
