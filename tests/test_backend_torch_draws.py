"""Issue 14: the random draws, arrivals and traffic give the same numbers on numpy and torch (CPU).

One implementation serves both backends (``vecgym.core.xp``): the same inputs as numpy arrays and
as torch tensors must give bit-identical hashes, uniforms and Poisson counts, normals within
1 ulp (torch's ``cos`` / ``sqrt`` are not numpy's), and the arrivals / traffic built on them the
same counts and ids, their values within rtol 1e-12. Every output is float64, int64 or bool.
"""

from __future__ import annotations

import numpy as np
import pytest

from vecgym.core import rng
from vecgym.core.rng import Stream

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
