"""Host synchronisations per step of the torch backend, by call site (issue 14, GPU readiness).

    OMP_NUM_THREADS=1 python -m benchmarks.syncs [--num-envs 64] [--steps 20] [--warmup 50]
        [--preset paper] [--n 30] [--device cpu] [--seed 0]

Runs ``VECVectorEnv(num_envs=B, backend="torch", device=...)`` (full offload, equal edge shares per
server: ``backend_sweep.equal_offload``), ``--warmup`` steps untimed and uncounted, then counts,
during ``--steps`` steps, every call that on a GPU waits for the device:

* reads of a tensor's value on the host: ``Tensor.item``, ``__bool__`` (``if t``, ``bool(t)``),
  ``__int__``, ``__float__``, ``__index__``, ``tolist``, ``cpu`` / ``numpy`` / ``__array__``
  (``x.cpu().numpy()`` on one line counts once);
* operations whose output size depends on the data (the host must learn the size before it can
  allocate): ``torch.nonzero`` / ``Tensor.nonzero``, ``repeat_interleave`` with a tensor of
  repeats, ``unique``, ``masked_select`` and indexing with a boolean tensor (``x[mask]``).

It runs on the CPU too (the counts are the same: they count calls, not waiting), so the syncs of a
GPU run can be removed without a GPU. Each call is charged to the innermost frame of ``vecgym``
outside ``vecgym/core/xp.py`` (``via xp.bincount`` says which shim made it); frames outside the
package are charged to the first frame outside torch. Prints a Markdown table: kind, call site,
calls per step.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
_XP = str(ROOT / "vecgym" / "core" / "xp.py")
_PKG = str(ROOT / "vecgym") + os.sep
_HERE = str(Path(__file__).resolve())

# (owner, attribute, kind): methods of torch.Tensor and functions of torch that sync on a GPU.
_TENSOR_READS = {
    "item": "item",
    "__bool__": "bool",
    "__int__": "int",
    "__float__": "float",
    "__index__": "index",
    "tolist": "tolist",
    "cpu": "to host",
    "numpy": "to host",
    "__array__": "to host",
    "nonzero": "nonzero",
    "repeat_interleave": "repeat_interleave",
    "unique": "unique",
    "masked_select": "masked_select",
}
_TORCH_FUNCS = {
    "nonzero": "nonzero",
    "repeat_interleave": "repeat_interleave",
    "unique": "unique",
    "masked_select": "masked_select",
}


class SyncCounter:
    """Counts of (kind, call site) while ``active``; see the module docstring."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.active = False
        self._depth = 0  # a counted call that makes another (torch internals) counts once
        self._last_host: tuple[int, int] | None = None  # (frame id, line) of the last ``cpu()``

    def site(self) -> tuple[str, Any]:
        """The call site and its frame: the innermost vecgym frame outside xp.py (see docstring)."""
        f: Any = sys._getframe(2)
        via = ""
        first_outside: Any = None
        while f is not None:
            name = f.f_code.co_filename
            if name == _XP:
                via = via or f.f_code.co_name
            elif name.startswith(_PKG):
                return self._label(f, via), f
            elif first_outside is None and name != _HERE and f"{os.sep}torch{os.sep}" not in name:
                first_outside = f
            f = f.f_back
        f = first_outside if first_outside is not None else sys._getframe(2)
        return self._label(f, via), f

    @staticmethod
    def _label(f: Any, via: str) -> str:
        name = f.f_code.co_filename
        try:
            name = str(Path(name).resolve().relative_to(ROOT))
        except ValueError:
            name = Path(name).name
        return f"{name}:{f.f_lineno} {f.f_code.co_name}" + (f" via xp.{via}" if via else "")

    def hit(self, kind: str, attr: str) -> None:
        label, frame = self.site()
        if kind == "to host":
            key = (id(frame), frame.f_lineno)
            if attr == "numpy" and self._last_host == key:
                return  # x.cpu().numpy(): one copy
            self._last_host = key if attr == "cpu" else None
        self.counts[(kind, label)] += 1

    def wrap(self, fn: Callable[..., Any], kind: str, attr: str, when: Callable[..., bool] | None = None) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.active and self._depth == 0 and (when is None or when(*args, **kwargs)):
                self.hit(kind, attr)
            self._depth += 1
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1

        wrapper.__name__ = getattr(fn, "__name__", attr)
        return wrapper

    @contextmanager
    def installed(self) -> Iterator[SyncCounter]:
        """Patch torch for the duration (restored on exit, also on an error)."""
        import torch

        saved: list[tuple[Any, str, Any]] = []

        def patch(owner: Any, attr: str, kind: str, when: Callable[..., bool] | None = None) -> None:
            fn = getattr(owner, attr, None)
            if fn is None:
                return
            saved.append((owner, attr, owner.__dict__.get(attr, _MISSING)))
            setattr(owner, attr, self.wrap(fn, kind, attr, when))

        for attr, kind in _TENSOR_READS.items():
            when = _tensor_repeats if attr == "repeat_interleave" else None
            patch(torch.Tensor, attr, kind, when)
        for attr, kind in _TORCH_FUNCS.items():
            when = _tensor_repeats if attr == "repeat_interleave" else None
            patch(torch, attr, kind, when)
        patch(torch.Tensor, "__getitem__", "mask index", _mask_get)
        patch(torch.Tensor, "__setitem__", "mask index", _mask_set)
        try:
            yield self
        finally:
            for owner, attr, old in reversed(saved):
                if old is _MISSING:
                    delattr(owner, attr)
                else:
                    setattr(owner, attr, old)

    def per_step(self, steps: int) -> list[tuple[str, str, float]]:
        """(kind, site, calls per step), the most frequent first."""
        rows = [(kind, site, n / steps) for (kind, site), n in self.counts.items()]
        return sorted(rows, key=lambda r: (-r[2], r[1], r[0]))

    def table(self, steps: int) -> str:
        rows = self.per_step(steps)
        lines = ["| kind | call site | per step |", "|---|---|---:|"]
        lines += [f"| {kind} | `{site}` | {n:.2f} |" for kind, site, n in rows]
        lines.append(f"| **all** | | **{sum(r[2] for r in rows):.2f}** |")
        return "\n".join(lines)


_MISSING = object()


def _is_bool_tensor(x: Any) -> bool:
    torch = sys.modules["torch"]
    return isinstance(x, torch.Tensor) and x.dtype == torch.bool


def _has_mask(idx: Any) -> bool:
    return any(_is_bool_tensor(i) for i in idx) if isinstance(idx, tuple) else _is_bool_tensor(idx)


def _mask_get(self: Any, idx: Any) -> bool:
    return _has_mask(idx)


def _mask_set(self: Any, idx: Any, value: Any) -> bool:
    """``x[mask] = v`` needs the mask's indices unless v is a scalar (then it is a masked fill)."""
    torch = sys.modules["torch"]
    scalar = not isinstance(value, torch.Tensor) or value.dim() == 0
    return _has_mask(idx) and not scalar


def _tensor_repeats(*args: Any, **kwargs: Any) -> bool:
    """``repeat_interleave`` sizes its output from the data only when the repeats are a tensor."""
    torch = sys.modules["torch"]
    repeats = kwargs.get("repeats", args[1] if len(args) > 1 else None)
    return isinstance(repeats, torch.Tensor) and repeats.numel() > 1


# ---------------------------------------------------------------------------------------------
def measure(
    num_envs: int = 64,
    steps: int = 20,
    warmup: int = 50,
    preset: str = "paper",
    n: int = 30,
    device: str = "cpu",
    seed: int = 0,
) -> SyncCounter:
    """The counts of ``steps`` vector-env steps after ``warmup`` (module docstring)."""
    from benchmarks.backend_sweep import case_config, equal_offload, require_torch
    from vecgym.vector import VECVectorEnv

    torch = require_torch(device)
    torch.set_num_threads(1)
    env = VECVectorEnv(num_envs=num_envs, backend="torch", device=device, config=case_config(preset, n))
    env.reset(seed=seed)

    def act() -> Any:
        w, a = equal_offload(env.engine)
        return torch.stack((w, a), dim=1)

    for _ in range(warmup):
        env.step(act())
    counter = SyncCounter()
    with counter.installed():
        for _ in range(steps):
            counter.active = True
            env.step(act())
    counter.active = False
    return counter


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.syncs", description=__doc__.split("\n\n")[0])
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--preset", default="paper", choices=["paper", "corridor"])
    p.add_argument("--n", type=int, default=30, help="vehicles per road")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    counter = measure(args.num_envs, args.steps, args.warmup, args.preset, args.n, args.device, args.seed)
    print(
        f"(VECVectorEnv backend=torch device={args.device}, {args.preset}-{args.n}, B={args.num_envs}: "
        f"{args.steps} steps after {args.warmup}; calls per step)"
    )
    print(counter.table(args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
