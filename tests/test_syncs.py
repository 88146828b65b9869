"""``benchmarks.syncs``: it counts the torch backend's host syncs per step, by call site; the
bincount shim reads the device only without ``length``; the patches come off again."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import syncs
from vecgym.core import xp

torch = pytest.importorskip("torch", reason="the sync counter patches torch (pip install torch==2.13.0)")
T = xp.get("torch", "cpu")


def test_counts_syncs_of_a_small_vector_env() -> None:
    counter = syncs.measure(num_envs=2, steps=2, warmup=1)
    rows = counter.per_step(2)
    assert sum(n for _, _, n in rows) > 0
    # Charged to vecgym's own lines (file:line function), not to torch or the shim.
    assert all(site.startswith("vecgym/") and "vecgym/core/xp.py" not in site for _, site, _ in rows)
    table = counter.table(2)
    assert table.startswith("| kind | call site | per step |") and "**all**" in table


def test_patches_are_removed() -> None:
    before = (torch.Tensor.item, torch.Tensor.__bool__, torch.Tensor.__getitem__, torch.nonzero)
    counter = syncs.SyncCounter()
    with counter.installed():
        counter.active = True
        t = torch.arange(4)
        assert bool(t.sum() > 0) and int(t[1]) == 1
        assert t[t > 1].tolist() == [2, 3]
    assert (torch.Tensor.item, torch.Tensor.__bool__, torch.Tensor.__getitem__, torch.nonzero) == before
    kinds = {kind for kind, _ in counter.counts}
    assert {"bool", "int", "mask index", "tolist"} <= kinds


def test_bincount_with_length_reads_nothing() -> None:
    x = torch.tensor([0, 2, 2, 4])
    w = torch.tensor([0.5, 1.0, 2.0, 0.25], dtype=torch.float64)
    counter = syncs.SyncCounter()
    with counter.installed():
        counter.active = True
        got = T.bincount(x, weights=w, length=6)
        got_int = T.bincount(x, length=5)
    assert not counter.counts
    np.testing.assert_array_equal(T.to_numpy(got), np.bincount(x.numpy(), weights=w.numpy(), minlength=6))
    np.testing.assert_array_equal(T.to_numpy(got_int), np.bincount(x.numpy(), minlength=5))
    # numpy: length is minlength (the same array); without length, torch reads the maximum once.
    np.testing.assert_array_equal(xp.NUMPY.bincount(x.numpy(), length=5), np.bincount(x.numpy(), minlength=5))
    with counter.installed():
        counter.active = True
        out = T.bincount(x, minlength=2)
    assert out.shape == (5,) and list(counter.counts.values()) == [1]


def test_cli_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert syncs.main(["--num-envs", "2", "--steps", "1", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "calls per step" in out and "| **all** |" in out
