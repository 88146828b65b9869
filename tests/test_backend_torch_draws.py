"""Issue 14: the random draws, arrivals and traffic give the same numbers on numpy and torch (CPU).

One implementation serves both backends (``vecgym.core.xp``): the same inputs as numpy arrays and
as torch tensors must give bit-identical hashes, uniforms and Poisson counts, normals within
1 ulp (torch's ``cos`` / ``sqrt`` are not numpy's), and the arrivals / traffic built on them the
same counts and ids, their values within rtol 1e-12. Every output is float64, int64 or bool.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vecgym.config import VECConfig
from vecgym.core import arrivals, rng, traffic
from vecgym.core.rng import Stream
from vecgym.tasks import TaskTypes, ZoneProfile

torch = pytest.importorskip("torch", reason="the torch backend needs torch (pip install torch==2.13.0)")

INT64 = np.iinfo(np.int64)
OK_DTYPES = (torch.float64, torch.int64, torch.bool)


def T(a: object) -> object:
    """The numpy input as a torch CPU tensor (the same dtype)."""
    return torch.as_tensor(np.asarray(a))


def check_same(ref: object, out: object, *, exact: bool = False, rtol: float = 1e-12, name: str = "") -> None:
    """``out`` (torch) against ``ref`` (numpy): dtype, shape and values."""
    assert isinstance(out, torch.Tensor), (name, type(out))
    assert out.dtype in OK_DTYPES, (name, out.dtype)
    ref = np.asarray(ref)
    got = out.numpy()
    assert got.shape == ref.shape, (name, got.shape, ref.shape)
    if ref.dtype == np.uint64:  # torch holds the hash's words as int64: the same bits
        ref = ref.view(np.int64)
    assert got.dtype == ref.dtype, (name, got.dtype, ref.dtype)
    if exact or ref.dtype.kind in "biu":
        np.testing.assert_array_equal(got, ref, err_msg=name)
    else:
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=0.0, err_msg=name)


def random_words(seed: int, n: int) -> list[np.ndarray]:
    gen = np.random.default_rng(seed)
    f = [gen.integers(INT64.min, INT64.max, size=n, dtype=np.int64, endpoint=True) for _ in range(5)]
    f[1][:50] = -1  # "before the first slot"
    f[3][50:100] = -1  # an empty vehicle slot
    f[0][100:110] = [INT64.min, INT64.max, 0, 1, -2, 2**62, -(2**62), 2**63 - 2, 7, 8]
    return f


# ---------------------------------------------------------------------------------------------
# rng
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hash_and_uniform_are_bit_identical_and_normal_within_an_ulp(seed: int) -> None:
    f = random_words(seed, 50_000)
    ft = [T(a) for a in f]
    check_same(rng.hash_key(*f), rng.hash_key(*ft), name="hash_key")
    check_same(rng.uniform(*f), rng.uniform(*ft), exact=True, name="uniform")
    check_same(rng.normal(*f), rng.normal(*ft), rtol=1e-15, name="normal")


@pytest.mark.parametrize(
    "fields",
    [
        (np.arange(3)[:, None, None], np.arange(4)[None, :, None], Stream.FADING, np.arange(-2, 3), 1),
        (7, -1, Stream.ACTIVITY, np.array([[5, -1, 9]]), np.arange(3)),
        (np.arange(4.0), 0, 1, 2, 3),  # a float field, converted through int64
        (np.arange(5), -3, 4, 5, 6, 7),  # another arity
        (np.array([3]), 1, 2),
    ],
)
def test_draws_broadcast_mixed_scalars_and_tensors_like_numpy(fields: tuple) -> None:
    as_torch = tuple(T(f) if isinstance(f, np.ndarray) else f for f in fields)
    check_same(rng.hash_key(*fields), rng.hash_key(*as_torch), name="hash_key")
    check_same(rng.uniform(*fields), rng.uniform(*as_torch), exact=True, name="uniform")
    check_same(rng.normal(*fields), rng.normal(*as_torch), rtol=1e-15, name="normal")


def test_the_numpy_hash_keeps_its_uint64_words() -> None:
    h = rng.hash_key(1, 2, 3, 4, 5)
    assert h.dtype == np.uint64 and h.shape == (1,)
    assert rng.hash_key().dtype == np.uint64


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_poisson_counts_are_identical_for_means_from_0_to_1e4(seed: int) -> None:
    gen = np.random.default_rng(seed)
    lam = np.concatenate(
        [
            np.zeros(500),
            gen.exponential(1.0, 20_000) * 1e-6,
            gen.exponential(2.0, 20_000),
            gen.uniform(10.0, 300.0, 2_000),
            gen.uniform(1e3, 1e4, 20),
            [1e4, 1e4, 1e-300, 5e3],
        ]
    )
    u = rng.uniform(seed, 4, Stream.ARRIVAL_COUNT, np.arange(lam.size), 0)
    u[-4:-1] = [1e-12, 1.0 - 2**-53, 0.5]  # both tails
    counts = rng.poisson(lam, u)
    check_same(counts, rng.poisson(T(lam), T(u)), name="poisson")
    # λ broadcast over a grid of uniforms (the entry counts), and a scalar λ.
    grid = rng.uniform(np.arange(6)[:, None], 1, 2, 0, np.arange(3))
    means = np.array([0.2, 3.0, 0.0])
    check_same(rng.poisson(means, grid), rng.poisson(T(means), T(grid)), name="poisson broadcast")
    check_same(rng.poisson(30.0, grid), rng.poisson(30.0, T(grid)), name="poisson scalar mean")


# ---------------------------------------------------------------------------------------------
# arrivals and traffic
# ---------------------------------------------------------------------------------------------
EVENTS = {
    "dynamic_speed": True,
    "incidents": ((300.0, 900.0, 0.0, 50.0, 20.0), (1000, 1500, 2, 30, 35)),  # ints too, as a user writes them
    "ramps": ((700.0, 0.0, 40.0, 20.0), (1200, 5, 60, 3)),
    "class_rate_multiplier": (1.0, 2.0, 0.5, 3.0),
}
CONFIGS = [(preset, events) for preset in ("paper", "corridor") for events in (False, True)]


def config(preset: str, events: bool) -> VECConfig:
    return VECConfig.from_kwargs(preset=preset, **(EVENTS if events else {}))


def check_vehicles(ref: traffic.NewVehicles, out: traffic.NewVehicles, name: str) -> None:
    for f in ("road", "vid", "lane", "vclass", "x_m", "speed_mps"):
        check_same(getattr(ref, f), getattr(out, f), name=f"{name}.{f}")


class Roads:
    """Random (B, M) vehicle arrays for one config and seed, as numpy and as torch."""

    def __init__(self, cfg: VECConfig, seed: int, B: int = 4, M: int = 40) -> None:
        self.gen = np.random.default_rng(seed)
        self.B, self.M, self.K = B, M, cfg.n_task_types
        self.seeds = np.arange(B) + 100 * seed

    def slot(self, s: int, cfg: VECConfig) -> dict[str, np.ndarray]:
        gen, shape = self.gen, (self.B, self.M)
        slot = s + gen.integers(0, 3, self.B)
        return {
            "slot": slot,
            "t0": slot * cfg.slot_s,
            "next_id": gen.integers(0, 500, self.B),
            "x": gen.uniform(0.0, cfg.road_length_m, shape),
            "v": gen.uniform(5.0, 35.0, shape),
            "target": gen.uniform(5.0, 35.0, shape),
            "vid": gen.integers(-1, 1000, shape),
            "z": gen.normal(0.0, cfg.activity_std, (*shape, self.K)),
            "vclass": gen.integers(0, 4, shape),
            "active": gen.random(shape) < 0.8,
        }


@pytest.mark.parametrize(("preset", "events"), CONFIGS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_initial_roads_are_the_same_vehicles(preset: str, events: bool, seed: int) -> None:
    cfg = config(preset, events)
    seeds = np.arange(6) + 10 * seed
    ref = traffic.initial(seeds, cfg)
    assert ref.road.shape[0] > 0
    check_vehicles(ref, traffic.initial(T(seeds), cfg), "initial")


@pytest.mark.parametrize(("preset", "events"), CONFIGS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entries_and_motion_are_the_same(preset: str, events: bool, seed: int) -> None:
    cfg = config(preset, events)
    roads = Roads(cfg, seed)
    seeds_t = T(roads.seeds)
    entered = 0
    for s in range(0, 120, 4):
        d = roads.slot(s, cfg)
        dt = {key: T(value) for key, value in d.items()}
        ref = traffic.entries(roads.seeds, d["slot"], d["t0"], d["next_id"], cfg)
        check_vehicles(ref, traffic.entries(seeds_t, dt["slot"], dt["t0"], dt["next_id"], cfg), "entries")
        entered += ref.road.shape[0]
        args = ("x", "v", "target")
        out_n = traffic.advance(*(d[a] for a in args), roads.seeds, d["slot"], d["vid"], d["t0"], cfg)
        out_t = traffic.advance(*(dt[a] for a in args), seeds_t, dt["slot"], dt["vid"], dt["t0"], cfg)
        for name, r, o in zip(("x_end", "v_end", "target"), out_n, out_t, strict=True):
            check_same(r, o, name=f"advance.{name}")
        check_same(
            traffic.speed_cap_mps(d["x"], d["t0"][:, None], cfg),
            traffic.speed_cap_mps(dt["x"], dt["t0"][:, None], cfg),
            name="speed_cap_mps",
        )
    assert entered > 0  # the entry path ran, not only the "nobody enters" shortcut


@pytest.mark.parametrize(("preset", "events"), CONFIGS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_activity_and_arrivals_are_the_same_tasks(preset: str, events: bool, seed: int) -> None:
    cfg = config(preset, events)
    types, zone = TaskTypes.from_config(cfg), ZoneProfile(cfg)
    arrays = ("size_min_bytes", "size_max_bytes", "cycles_per_byte", "deadline_s", "rate_hz")
    types_t = dataclasses.replace(types, **{f: T(getattr(types, f)) for f in arrays})  # as the engine holds them
    roads = Roads(cfg, seed)
    seeds_t = T(roads.seeds)
    n_tasks = 0
    for s in range(0, 60, 3):
        d = roads.slot(s, cfg)
        dt = {key: T(value) for key, value in d.items()}
        check_same(zone(d["x"]), zone(dt["x"]), name="zone")
        check_same(
            arrivals.activity_init(roads.seeds[:2].repeat(5), d["vid"][0, :10], roads.K, cfg),
            arrivals.activity_init(seeds_t[:2].repeat_interleave(5), dt["vid"][0, :10], roads.K, cfg),
            rtol=1e-15,
            name="activity_init",
        )
        check_same(
            arrivals.activity_step(d["z"], roads.seeds, d["slot"], d["vid"], cfg),
            arrivals.activity_step(dt["z"], seeds_t, dt["slot"], dt["vid"], cfg),
            name="activity_step",
        )
        lam = arrivals.mean_counts(d["z"], d["x"], d["vclass"], d["active"], types, zone, cfg)
        lam_t = arrivals.mean_counts(dt["z"], dt["x"], dt["vclass"], dt["active"], types_t, zone, cfg)
        check_same(lam, lam_t, name="mean_counts")
        scale = [1.0, 20.0, 500.0][s % 3]  # busy slots too: many tasks per (vehicle, type)
        ref = arrivals.draw_arrivals(lam * scale, roads.seeds, d["slot"], d["vid"], d["t0"], types, cfg.slot_s)
        # The torch means are numpy's (rtol 1e-12 above): the same λ gives the same counts.
        out = arrivals.draw_arrivals(T(lam * scale), seeds_t, dt["slot"], dt["vid"], dt["t0"], types_t, cfg.slot_s)
        for f in ("g", "typ", "t_arr_s", "size_bytes"):
            check_same(getattr(ref, f), getattr(out, f), name=f"draw_arrivals.{f}")
        n_tasks += ref.g.shape[0]
    assert n_tasks > 1000
