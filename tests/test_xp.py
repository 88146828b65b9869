"""``vecgym.core.xp``: the numpy and torch namespaces compute the same arrays, in float64 / int64."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vecgym.core import xp

torch = pytest.importorskip("torch", reason="the torch namespace needs torch (pip install torch==2.13.0)")
T = xp.get("torch", "cpu")
N = xp.NUMPY
rng = np.random.default_rng(0)


def same(a: object, b: object) -> None:
    a_np, b_np = N.to_numpy(a), T.to_numpy(b)
    assert a_np.dtype == b_np.dtype, (a_np.dtype, b_np.dtype)
    np.testing.assert_array_equal(a_np, b_np)


def test_creation_is_float64_and_int64_like_numpy() -> None:
    for ns in (N, T):
        assert ns.to_numpy(ns.zeros(3)).dtype == np.float64
        assert ns.to_numpy(ns.full((2,), 0.5)).dtype == np.float64
        assert ns.to_numpy(ns.asarray([1.5, 2.0])).dtype == np.float64
        assert ns.to_numpy(ns.asarray([1, 2])).dtype == np.int64
        assert ns.to_numpy(ns.arange(4)).dtype == np.int64
        assert ns.to_numpy(ns.zeros(2, dtype=np.int64)).dtype == np.int64
        assert ns.to_numpy(ns.astype(ns.arange(3), ns.float64)).dtype == np.float64


def test_counting_and_scatter_match_numpy() -> None:
    x = rng.integers(0, 9, 200)
    w = rng.random(200)
    same(N.bincount(x, minlength=12), T.bincount(T.asarray(x), minlength=12))
    same(N.bincount(x, weights=w, minlength=3), T.bincount(T.asarray(x), weights=T.asarray(w), minlength=3))
    counts = rng.integers(0, 4, 10)
    same(N.repeat(np.arange(10), counts), T.repeat(T.arange(10), T.asarray(counts)))
    out_n, out_t = np.zeros(12), T.zeros(12)
    N.scatter_add(out_n, x, w)
    T.scatter_add(out_t, T.asarray(x), T.asarray(w))
    np.testing.assert_allclose(out_n, T.to_numpy(out_t), rtol=1e-12)
    out_n, out_t = np.full(12, -1.0), T.full(12, -1.0)
    N.scatter_max(out_n, x, w)
    T.scatter_max(out_t, T.asarray(x), T.asarray(w))
    same(out_n, out_t)


def test_sorting_and_scans_match_numpy() -> None:
    q, k = rng.integers(0, 5, 300), rng.integers(0, 3, 300)  # many ties: the order must be stable
    same(N.lexsort((k, q)), T.lexsort((T.asarray(k), T.asarray(q))))
    a = rng.random((40, 6))
    same(N.cummax(a, axis=0), T.cummax(T.asarray(a), axis=0))
    same(N.cumsum(a, axis=1), T.cumsum(T.asarray(a), axis=1))
    edges = np.sort(rng.random(8))
    v = rng.random(50)
    for side in ("left", "right"):
        same(N.searchsorted(edges, v, side=side), T.searchsorted(T.asarray(edges), T.asarray(v), side=side))
    same(N.flatnonzero(a > 0.5), T.flatnonzero(T.asarray(a) > 0.5))
    idx = rng.integers(0, 6, (40, 1))
    same(N.take_along_axis(a, idx, 1), T.take_along_axis(T.asarray(a), T.asarray(idx), 1))


def test_elementwise_helpers_match_numpy() -> None:
    a = rng.normal(size=100)
    same(N.clip(a, -0.5, None), T.clip(T.asarray(a), -0.5, None))
    same(N.clip(a, None, 0.5), T.clip(T.asarray(a), None, 0.5))
    same(N.maximum(a, 0.0), T.maximum(T.asarray(a), 0.0))
    same(N.where(a > 0, a, 0.0), T.where(T.asarray(a) > 0, T.asarray(a), 0.0))
    conds, choices = [a < -1, a > 1], [a * 2, a * 3]
    same(
        N.select(conds, choices, -1.0),
        T.select([T.asarray(c) for c in conds], [T.asarray(c) for c in choices], -1.0),
    )
    same(N.isin(np.arange(10), [2, 5]), T.isin(T.arange(10), T.asarray([2, 5])))


def test_logical_shift_of_64_bit_words() -> None:
    words = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 1000, dtype=np.int64)
    for s in (11, 27, 30, 31):
        expected = (words.view(np.uint64) >> np.uint64(s)).view(np.int64)
        same(expected, N.srl(words, s))
        same(expected, T.srl(T.asarray(words), s))


def test_the_namespace_follows_the_arrays() -> None:
    assert xp.xp_of(np.zeros(2), 3) is N
    assert xp.xp_of(np.zeros(2), torch.zeros(2)) is T
    with pytest.raises(ValueError, match="backend must be one of"):
        xp.get("jax")
    with pytest.raises(ValueError, match="needs backend='torch'"):
        xp.get("numpy", "cuda")


def test_the_core_imports_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None; import vecgym, gymnasium as gym; "
        "env = gym.make('VEC-v0', n_vehicles=4, max_episode_steps=3); env.reset(seed=0); "
        "env.step(env.action_space.sample()); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_word_views_and_atleast_1d() -> None:
    words = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 100, dtype=np.int64)
    assert N.u64_view(words).dtype == np.uint64
    same(N.u64_view(words).view(np.int64), T.u64_view(T.asarray(words)))  # torch keeps the int64 bits
    for x in (np.int64(3), np.arange(3), np.ones((2, 2))):
        same(N.atleast_1d(x), T.atleast_1d(T.asarray(x)))
    assert T.atleast_1d(5).shape == (1,)


def test_einsum_matches_numpy() -> None:
    a, b = rng.random((3, 5, 2)), rng.random((3, 5, 4))
    np.testing.assert_allclose(
        N.einsum("bmt,bmc->btc", a, b), T.to_numpy(T.einsum("bmt,bmc->btc", T.asarray(a), T.asarray(b))), rtol=1e-12
    )


def test_namespaces_pickle_and_copy_as_the_shared_ones() -> None:
    import copy
    import pickle

    for ns in (N, T):
        assert pickle.loads(pickle.dumps(ns)) is ns
        assert copy.deepcopy(ns) is ns
