"""The array namespace the core's reference functions are written against: numpy or torch.

One implementation of each phase serves both backends: a phase function asks ``xp_of(array)`` for
the namespace of its input and calls ``xp.<function>`` where numpy and torch differ; operators,
indexing (``x[idx]``, ``x[idx] = v``) and methods both share (``.sum()``, ``.any()``,
``.reshape``, ``.shape``) stay as they are.

Why a shim of our own and not ``array_api_compat``: the functions the core needs most are outside
the array API standard (``bincount``, ``lexsort``, scatter-add / scatter-max, a running maximum,
``repeat`` with counts, logical shifts on 64-bit words), and compat keeps torch's float32 default
for ``full`` / ``asarray`` / int × float, where the physics needs float64 throughout. Every
creation function here therefore takes an explicit dtype (default float64) and the namespace's
device.

``NUMPY`` is the default namespace: its functions are the numpy calls the core made before, so
the numpy backend keeps its bits (``tests/test_kernels.py`` compares them exactly with numba).
``get("torch", device)`` builds a torch namespace; torch is imported only then, so the core
imports without it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

BACKENDS = ("numpy", "torch")


def is_torch(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch)."""
    return type(x).__module__.startswith("torch")


#: np.uint64 shift counts, built once (``Numpy.srl`` runs 15 times per hashed key field).
_U64_SHIFTS = tuple(np.uint64(s) for s in range(64))


class Numpy:
    """The numpy namespace (CPU)."""

    name = "numpy"
    device = "cpu"
    float64 = np.float64
    int64 = np.int64
    bool_ = np.bool_
    inf = np.inf

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled and deep-copied as the shared namespace (``x.xp is NUMPY`` keeps holding).
        return (get, ("numpy", "cpu"))

    # --- creation: dtype float64 unless given ---------------------------------------------------
    def asarray(self, x: Any, dtype: Any = None) -> np.ndarray:
        return np.asarray(x, dtype=dtype)

    def zeros(self, shape: Any, dtype: Any = np.float64) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)

    def ones(self, shape: Any, dtype: Any = np.float64) -> np.ndarray:
        return np.ones(shape, dtype=dtype)

    def empty(self, shape: Any, dtype: Any = np.float64) -> np.ndarray:
        return np.empty(shape, dtype=dtype)

    def full(self, shape: Any, value: Any, dtype: Any = np.float64) -> np.ndarray:
        return np.full(shape, value, dtype=dtype)

    def arange(self, *args: int, dtype: Any = np.int64) -> np.ndarray:
        return np.arange(*args, dtype=dtype)

    def astype(self, x: Any, dtype: Any) -> np.ndarray:
        return np.asarray(x).astype(dtype)

    def copy(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    # --- element-wise and reductions ------------------------------------------------------------
    where: Any = staticmethod(np.where)
    exp: Any = staticmethod(np.exp)
    log: Any = staticmethod(np.log)
    log2: Any = staticmethod(np.log2)
    log10: Any = staticmethod(np.log10)
    sqrt: Any = staticmethod(np.sqrt)
    cos: Any = staticmethod(np.cos)
    sin: Any = staticmethod(np.sin)
    abs: Any = staticmethod(np.abs)
    floor: Any = staticmethod(np.floor)
    isfinite: Any = staticmethod(np.isfinite)
    isnan: Any = staticmethod(np.isnan)
    maximum: Any = staticmethod(np.maximum)
    minimum: Any = staticmethod(np.minimum)
    clip: Any = staticmethod(np.clip)
    sum: Any = staticmethod(np.sum)
    cumsum: Any = staticmethod(np.cumsum)
    argmin: Any = staticmethod(np.argmin)
    argmax: Any = staticmethod(np.argmax)
    stack: Any = staticmethod(np.stack)
    concatenate: Any = staticmethod(np.concatenate)
    broadcast_to: Any = staticmethod(np.broadcast_to)
    take_along_axis: Any = staticmethod(np.take_along_axis)
    searchsorted: Any = staticmethod(np.searchsorted)
    isin: Any = staticmethod(np.isin)
    select: Any = staticmethod(np.select)
    flatnonzero: Any = staticmethod(np.flatnonzero)
    lexsort: Any = staticmethod(np.lexsort)

    # --- outside the array API standard -----------------------------------------------------------
    def bincount(
        self, x: np.ndarray, weights: np.ndarray | None = None, minlength: int = 0, length: int | None = None
    ) -> np.ndarray:
        """``np.bincount``; ``length`` (the exact size, every value below it) is ``minlength`` here."""
        return np.bincount(x, weights=weights, minlength=minlength if length is None else length)

    def repeat(self, x: np.ndarray, counts: Any) -> np.ndarray:
        return np.repeat(x, counts)

    def cummax(self, x: np.ndarray, axis: int = 0) -> np.ndarray:
        return np.maximum.accumulate(x, axis=axis)

    def einsum(self, spec: str, *operands: Any) -> np.ndarray:
        return np.einsum(spec, *operands)

    def scatter_add(self, out: np.ndarray, idx: Any, values: Any) -> None:
        """``out[idx] += values`` with repeated indices accumulated (``np.add.at``)."""
        np.add.at(out, idx, values)

    def scatter_max(self, out: np.ndarray, idx: Any, values: Any) -> None:
        """``out[idx] = max(out[idx], values)`` with repeated indices (``np.maximum.at``)."""
        np.maximum.at(out, idx, values)

    def srl(self, z: np.ndarray, s: int) -> np.ndarray:
        """Logical right shift of 64-bit words held as int64 (zeros shifted in)."""
        return (z.view(np.uint64) >> _U64_SHIFTS[s]).view(np.int64)

    def u64_view(self, z: np.ndarray) -> np.ndarray:
        """64-bit words held as int64, viewed as uint64 (the same bits)."""
        return z.view(np.uint64)

    def atleast_1d(self, x: Any) -> np.ndarray:
        return np.atleast_1d(x)

    def errstate(self, **kw: Any) -> contextlib.AbstractContextManager[Any]:
        return np.errstate(**kw)


class Torch:
    """The torch namespace on ``device``; float64 / int64 throughout, like the numpy one."""

    name = "torch"
    inf = float("inf")

    def __init__(self, device: str = "cpu") -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.float64, self.int64, self.bool_ = torch.float64, torch.int64, torch.bool

    def __reduce__(self) -> tuple[Any, ...]:
        # The namespace holds the torch module: pickle (and deep-copy) it as get("torch", device).
        return (get, ("torch", str(self.device)))

    # --- creation ---------------------------------------------------------------------------------
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        if dtype is None and not is_torch(x):
            arr = np.asarray(x)
            dtype = self.float64 if arr.dtype.kind == "f" else None
        return self.torch.as_tensor(x, dtype=_torch_dtype(self, dtype), device=self.device)

    def zeros(self, shape: Any, dtype: Any = None) -> Any:
        return self.torch.zeros(shape, dtype=_torch_dtype(self, dtype) or self.float64, device=self.device)

    def ones(self, shape: Any, dtype: Any = None) -> Any:
        return self.torch.ones(shape, dtype=_torch_dtype(self, dtype) or self.float64, device=self.device)

    def empty(self, shape: Any, dtype: Any = None) -> Any:
        return self.torch.empty(shape, dtype=_torch_dtype(self, dtype) or self.float64, device=self.device)

    def full(self, shape: Any, value: Any, dtype: Any = None) -> Any:
        size = (shape,) if isinstance(shape, int) else tuple(shape)
        return self.torch.full(size, value, dtype=_torch_dtype(self, dtype) or self.float64, device=self.device)

    def arange(self, *args: int, dtype: Any = None) -> Any:
        return self.torch.arange(*args, dtype=_torch_dtype(self, dtype) or self.int64, device=self.device)

    def astype(self, x: Any, dtype: Any) -> Any:
        return self.asarray(x).to(_torch_dtype(self, dtype))

    def copy(self, x: Any) -> Any:
        return x.clone()

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.detach().cpu().numpy() if is_torch(x) else np.asarray(x)

    # --- element-wise and reductions --------------------------------------------------------------
    def _t(self, x: Any) -> Any:
        return x if is_torch(x) else self.asarray(x)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.torch.where(self._t(cond), self._t(a), self._t(b))

    def exp(self, x: Any) -> Any:
        return self.torch.exp(self._t(x))

    def log(self, x: Any) -> Any:
        return self.torch.log(self._t(x))

    def log2(self, x: Any) -> Any:
        return self.torch.log2(self._t(x))

    def log10(self, x: Any) -> Any:
        return self.torch.log10(self._t(x))

    def sqrt(self, x: Any) -> Any:
        return self.torch.sqrt(self._t(x))

    def cos(self, x: Any) -> Any:
        return self.torch.cos(self._t(x))

    def sin(self, x: Any) -> Any:
        return self.torch.sin(self._t(x))

    def abs(self, x: Any) -> Any:
        return self.torch.abs(self._t(x))

    def floor(self, x: Any) -> Any:
        return self.torch.floor(self._t(x))

    def isfinite(self, x: Any) -> Any:
        return self.torch.isfinite(self._t(x))

    def isnan(self, x: Any) -> Any:
        return self.torch.isnan(self._t(x))

    def maximum(self, a: Any, b: Any) -> Any:
        return self.torch.maximum(self._t(a), self._t(b))

    def minimum(self, a: Any, b: Any) -> Any:
        return self.torch.minimum(self._t(a), self._t(b))

    def clip(self, x: Any, lo: Any, hi: Any) -> Any:
        x = self._t(x)
        if lo is not None:
            x = self.torch.maximum(x, self._t(lo)) if is_torch(lo) else x.clamp(min=lo)
        if hi is not None:
            x = self.torch.minimum(x, self._t(hi)) if is_torch(hi) else x.clamp(max=hi)
        return x

    def sum(self, x: Any, axis: int | None = None) -> Any:
        return x.sum() if axis is None else x.sum(dim=axis)

    def cumsum(self, x: Any, axis: int = 0) -> Any:
        return self.torch.cumsum(self._t(x), dim=axis)

    def argmin(self, x: Any, axis: int | None = None) -> Any:
        return self.torch.argmin(x, dim=axis)

    def argmax(self, x: Any, axis: int | None = None) -> Any:
        return self.torch.argmax(x, dim=axis)

    def stack(self, xs: Sequence[Any], axis: int = 0) -> Any:
        return self.torch.stack([self._t(x) for x in xs], dim=axis)

    def concatenate(self, xs: Sequence[Any], axis: int = 0) -> Any:
        return self.torch.cat([self._t(x) for x in xs], dim=axis)

    def broadcast_to(self, x: Any, shape: Any) -> Any:
        return self.torch.broadcast_to(self._t(x), shape)

    def take_along_axis(self, x: Any, idx: Any, axis: int) -> Any:
        return self.torch.take_along_dim(x, idx, dim=axis)

    def searchsorted(self, a: Any, v: Any, side: str = "left") -> Any:
        return self.torch.searchsorted(self._t(a), self._t(v), right=side == "right")

    def isin(self, x: Any, values: Any) -> Any:
        return self.torch.isin(self._t(x), self._t(values))

    def select(self, conds: Sequence[Any], choices: Sequence[Any], default: Any = 0) -> Any:
        """numpy's ``select``: the first true condition's choice, else ``default``."""
        out = self._t(default)
        for cond, choice in zip(reversed(conds), reversed(choices), strict=True):
            out = self.torch.where(self._t(cond), self._t(choice), out)
        return out

    def flatnonzero(self, x: Any) -> Any:
        return self.torch.nonzero(x.reshape(-1)).reshape(-1)

    def lexsort(self, keys: Sequence[Any]) -> Any:
        """numpy's ``lexsort``: the last key is the primary one; ties keep their order."""
        perm = self.torch.argsort(keys[0], stable=True)
        for key in keys[1:]:
            perm = perm[self.torch.argsort(key[perm], stable=True)]
        return perm

    # --- outside the array API standard -------------------------------------------------------------
    def bincount(self, x: Any, weights: Any = None, minlength: int = 0, length: int | None = None) -> Any:
        """``np.bincount`` by ``index_add_`` into a zero vector: float64 when weighted, int64 if not.

        The length is ``max(minlength, x.max() + 1)``: one host read (a device sync) per call. A
        caller that knows the exact size (roads, vehicle slots, queues) passes ``length``: every
        value of ``x`` must be below it (an index error otherwise, on CUDA a device-side assert),
        and no read is made."""
        if length is not None:
            n = length
        else:
            n = minlength if x.numel() == 0 else max(minlength, int(x.max()) + 1)
        if weights is None:
            out = self.torch.zeros(n, dtype=self.int64, device=self.device)
            return out.index_add_(0, x, self.torch.ones_like(x))
        out = self.torch.zeros(n, dtype=self.float64, device=self.device)
        return out.index_add_(0, x, self._t(weights).to(self.float64))

    def repeat(self, x: Any, counts: Any) -> Any:
        return self.torch.repeat_interleave(self._t(x), self._t(counts))

    def cummax(self, x: Any, axis: int = 0) -> Any:
        return self.torch.cummax(x, dim=axis).values

    def einsum(self, spec: str, *operands: Any) -> Any:
        return self.torch.einsum(spec, *(self._t(o) for o in operands))

    def scatter_add(self, out: Any, idx: Any, values: Any) -> None:
        out.index_put_(idx if isinstance(idx, tuple) else (idx,), self._t(values).to(out.dtype), accumulate=True)

    def scatter_max(self, out: Any, idx: Any, values: Any) -> None:
        """1-D ``out`` and ``idx`` (``scatter_reduce_`` with ``amax``)."""
        idx = self._t(idx)
        out.scatter_reduce_(0, idx, self._t(values).to(out.dtype).expand_as(idx), reduce="amax")

    def srl(self, z: Any, s: int) -> Any:
        """Logical right shift of 64-bit words held as int64 (torch's uint64 cannot shift)."""
        return (z >> s) & ((1 << (64 - s)) - 1)

    def u64_view(self, z: Any) -> Any:
        """64-bit words held as int64: unchanged (torch's uint64 cannot shift or add)."""
        return z

    def atleast_1d(self, x: Any) -> Any:
        return self.torch.atleast_1d(self._t(x))

    def errstate(self, **kw: Any) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()


def _torch_dtype(ns: Torch, dtype: Any) -> Any:
    """numpy dtypes (and Python types) as torch's."""
    if dtype is None or not isinstance(dtype, type | np.dtype):
        return dtype
    kind = np.dtype(dtype)
    table = {"f": ns.float64, "i": ns.int64, "u": ns.int64, "b": ns.bool_}
    return table[kind.kind] if kind.itemsize == 8 or kind.kind == "b" else getattr(ns.torch, kind.name)


NUMPY = Numpy()


@functools.cache
def get(backend: str = "numpy", device: str = "cpu") -> Numpy | Torch:
    """The namespace of ``backend`` on ``device`` (numpy: CPU only)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numpy":
        if device != "cpu":
            raise ValueError(f"the numpy backend runs on the CPU; device={device!r} needs backend='torch'")
        return NUMPY
    try:
        return Torch(device)
    except ImportError as exc:
        raise ImportError("backend='torch' needs torch: pip install torch (the CPU wheel: torch==2.13.0)") from exc


def xp_of(*arrays: Any) -> Numpy | Torch:
    """The namespace of the arrays: torch (on the first tensor's device) if any is a tensor, else numpy."""
    for a in arrays:
        if is_torch(a):
            return get("torch", str(a.device))
    return NUMPY
