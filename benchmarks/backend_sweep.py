"""The batch core's throughput against B, per backend: steps/s, vehicle-slots/s and memory (issue 14).

    python -m benchmarks.throughput --backend torch --device cuda [--num-envs 1 64 1024 ...]
        [--max-envs 1048576] [--preset paper corridor] [--n 30 1000] [--steps 50] [--warmup 10]
        [--time-budget 120] [--json PATH]
    OMP_NUM_THREADS=1 python -m benchmarks.throughput --backend numpy torch --device cpu \\
        --kernels numpy numba --num-envs 1 8 64 --preset paper --n 30 --rounds 3

(``python -m benchmarks.backend_sweep`` takes the same arguments.) For each case (preset × N:
``paper-30``, ``corridor-30``, ``paper-1000``; N = 1000 scales the edge CPU and the band by N / 20
as the ``n-1000`` case of ``benchmarks.throughput``) it runs ``Engine.step`` on B roads at
B = 1, 2, 4, ... (doubling) or at the ``--num-envs`` given, and stops at the first of:

* an out-of-memory error (``torch.cuda.OutOfMemoryError``, a ``RuntimeError`` saying "out of
  memory", numpy's ``MemoryError``): the row is dropped and the table says where and why;
* ``--max-envs`` (doubling) or the end of the ``--num-envs`` list;
* the case's ``--time-budget`` (seconds): the next B is not started when the rows so far plus twice
  the last row's seconds would pass it;
* on the CPU only, the memory guard: the next B is not started when twice the last row's engine
  arrays would pass half of the machine's available memory (a CPU out-of-memory kills the
  process instead of raising).

Policy: w = 1 (full offload) and equal edge shares per server (the ``batch-64`` case's "good"
policy), built each slot from the engine's own arrays in its namespace (on the device for torch:
no host round trip) and timed with the step (a handful of element-wise ops). ``--warmup`` slots run
untimed; on CUDA ``torch.cuda.synchronize()`` precedes every clock read. With ``--steps`` timed
slots, a row stops early once it has run ``--row-seconds`` (at least 3 slots).

Columns: active = vehicles in all B roads (mean over the timed slots); vehicle-slots/s = active ×
steps/s. Memory: ``state MiB`` is the engine's array bytes at the end of the row (every array of
the engine and its metrics: the vehicle-slot state, the radio maps, the goal arrays, the
accumulators, and the task table; ``nbytes``, or ``element_size() × numel()`` for a tensor); on
CUDA ``peak MiB`` is ``torch.cuda.max_memory_allocated()`` over the row (reset per B: the
engine, its temporaries and the allocator's rounding), on the CPU it is not measured ("-").

Bandwidth: ``bytes/step`` = 2 × state bytes, the estimate that the step reads and writes every
engine array (task table included) once; the real step makes many passes over the task table and
the (B, M) arrays, so this is a lower bound of the traffic. ``BW frac`` = bytes/step / (step time
× ``--peak-bandwidth``), 4.8 TB/s by default (the H200's HBM3e): the fraction of the H200's
memory bandwidth the step would use if it moved only that. On the CPU it is printed against the
same 4.8 TB/s, for comparison only.

dtype: the engine is float64 / int64 throughout (``vecgym.core.xp``: every creation takes an
explicit float64); it has no float32 mode, so this benchmark has no ``--dtype`` option.

``--equivalence`` runs instead the device check: the torch backend on ``--device`` against the
numpy reference (``kernels="numpy"``), paper and corridor, B = 3, 30 slots of random (checked)
actions: every metric, the reward and the own cost within rtol 1e-9, the event counts and the
vehicle-slot state identical (``tests/test_backend_torch.py`` does this on the CPU only).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from benchmarks.throughput_cases import _config
from vecgym.config import VECConfig
from vecgym.core.engine import Engine

TORCH_MISSING = "--backend torch needs torch: pip install 'vecgym[torch]'"
CUDA_MISSING = (
    "--device cuda needs a CUDA build of torch and a visible GPU: torch.cuda.is_available() is False here "
    "(use --device cpu, or run benchmarks/gpu_check.sh on a GPU machine)"
)
H200_BYTES_PER_S = 4.8e12
PRESETS = ("paper", "corridor")
#: Event counts compared exactly by ``--equivalence``.
COUNTS = (
    "tasks_arrived", "tasks_completed", "tasks_failed", "tasks_dropped", "violations", "tasks_decided",
    "vehicles_entered", "vehicles_exited", "entry_blocked", "handovers", "n_active", "n_uploading", "tasks_in_flight",
)  # fmt: skip


@dataclass
class SweepRow:
    case: str
    backend: str
    device: str
    kernels: str
    B: int
    round: int
    steps: int
    seconds: float
    active: float  # vehicles in all B roads, mean over the timed slots
    task_rows: float  # rows of the task table, mean over the timed slots
    state_bytes: int  # the engine's arrays at the end of the row
    peak_bytes: int | None  # CUDA: torch.cuda.max_memory_allocated() over the row; None on the CPU
    peak_bandwidth: float = H200_BYTES_PER_S

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds

    @property
    def vehicle_slots_per_s(self) -> float:
        return self.active * self.steps_per_s

    @property
    def bytes_per_step(self) -> int:
        """Lower-bound traffic: every engine array read once and written once."""
        return 2 * self.state_bytes

    @property
    def bandwidth_fraction(self) -> float:
        """bytes/step / (step time × peak bandwidth)."""
        return self.bytes_per_step / (self.seconds / self.steps * self.peak_bandwidth)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            steps_per_s=self.steps_per_s,
            vehicle_slots_per_s=self.vehicle_slots_per_s,
            bytes_per_step=self.bytes_per_step,
            bandwidth_fraction=self.bandwidth_fraction,
        )
        return d


@dataclass
class CaseResult:
    case: str
    rows: list[SweepRow] = field(default_factory=list)
    stopped: str = ""  # where the sweep stopped and why


# ---------------------------------------------------------------------------------------------
def require_torch(device: str) -> Any:
    """torch, or SystemExit with the message that says what is missing."""
    try:
        import torch
    except ImportError:
        raise SystemExit(TORCH_MISSING) from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(CUDA_MISSING)
    return torch


def is_oom(exc: BaseException) -> bool:
    """An out-of-memory error of numpy (``MemoryError``) or torch (CUDA or CPU allocator)."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def case_config(preset: str, n: int) -> dict[str, Any]:
    """The engine's config of ``preset`` at N vehicles: N = 30 as ``paper-30`` / ``corridor-30``;
    other N scale the edge CPU and the band by N / 20 (``benchmarks.throughput``'s ``n-1000``)."""
    if n == 30:
        return _config(f"{preset}-30")
    kw = _config("n-1000")
    kw["n_vehicles"] = float(n)
    kw["edge_cpu_hz"] = kw["edge_cpu_hz"] / 1000.0 * n
    kw["bandwidth_hz"] = kw["bandwidth_hz"] / 1000.0 * n
    kw["preset"] = preset
    return kw


def _nbytes(x: Any) -> int:
    if isinstance(x, np.ndarray):
        return int(x.nbytes)
    if type(x).__module__.startswith("torch") and hasattr(x, "element_size"):
        return int(x.element_size() * x.numel())
    return 0


def engine_bytes(eng: Engine) -> int:
    """Bytes of every array the engine and its metrics hold (the task table included)."""
    return sum(_nbytes(v) for obj in (eng, eng.metrics) for v in vars(obj).values())


def equal_offload(eng: Engine) -> tuple[Any, Any]:
    """w = 1 and equal edge shares per server: a = 1 / (K × vehicles the server holds) on held
    vehicles, 0 elsewhere; (B, M, K) arrays of the engine's namespace, computed there."""
    X, B, M, K, S = eng.xp, eng.B, eng.M, eng.K, eng.S
    held = eng.active & (eng.holder >= 0)
    key = (X.arange(B)[:, None] * S + X.maximum(eng.holder, 0)).reshape(-1)
    n = X.zeros(B * S)
    X.scatter_add(n, key, X.astype(held.reshape(-1), X.float64))
    share = X.where(held.reshape(-1), 1.0 / (K * X.maximum(n[key], 1.0)), 0.0).reshape(B, M, 1)
    a = X.broadcast_to(share, (B, M, K))
    return X.ones((B, M, K)), a


# ---------------------------------------------------------------------------------------------
class _Timer:
    """The wall (or process CPU) clock, with a CUDA synchronize before each read on CUDA."""

    def __init__(self, device: str, clock: str = "wall"):
        self.sync: Callable[[], None] = lambda: None
        if device.startswith("cuda"):
            torch = sys.modules["torch"]
            self.sync = torch.cuda.synchronize
        self.clock = time.process_time if clock == "cpu" else time.perf_counter

    def now(self) -> float:
        self.sync()
        return self.clock()


def run_row(
    cfg: VECConfig,
    case: str,
    B: int,
    backend: str,
    device: str,
    kernels: str,
    steps: int,
    warmup: int,
    seed: int = 0,
    row_seconds: float = float("inf"),
    clock: str = "wall",
    rnd: int = 0,
    peak_bandwidth: float = H200_BYTES_PER_S,
) -> SweepRow:
    """One row: an engine of B roads from seeds ``seed + b``, ``warmup`` untimed slots, then up
    to ``steps`` timed slots (fewer once ``row_seconds`` have passed, at least 3)."""
    cuda = backend == "torch" and device.startswith("cuda")
    torch = sys.modules.get("torch") if cuda else None
    if torch is not None:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    eng = Engine(cfg, B, kernels=kernels, backend=backend, device=device if backend == "torch" else "cpu")
    eng.reset(seed + np.arange(B))
    timer = _Timer(device if backend == "torch" else "cpu", clock)
    for _ in range(warmup):
        eng.step(*equal_offload(eng))
    active: Any = 0
    rows = 0
    done = 0
    t0 = timer.now()
    elapsed = 0.0
    while done < steps and (done < 3 or elapsed < row_seconds):
        eng.step(*equal_offload(eng))
        active = active + eng.active.sum()  # on the device: no host read per slot
        rows += int(eng.tasks.shape[0])  # the shape is host metadata
        done += 1
        if row_seconds != float("inf"):
            elapsed = timer.clock() - t0  # no synchronize: a stop condition, not a timing
    seconds = timer.now() - t0
    peak = int(torch.cuda.max_memory_allocated()) if torch is not None else None
    row = SweepRow(
        case=case,
        backend=backend,
        device=device if backend == "torch" else "cpu",
        kernels=eng.kernels,
        B=B,
        round=rnd,
        steps=done,
        seconds=seconds,
        active=float(active) / done,
        task_rows=rows / done,
        state_bytes=engine_bytes(eng),
        peak_bytes=peak,
        peak_bandwidth=peak_bandwidth,
    )
    del eng
    return row


def _available_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def env_counts(num_envs: list[int] | None, max_envs: int) -> Iterator[int]:
    """The B of a sweep: ``num_envs`` as given, or 1, 2, 4, ... up to ``max_envs``."""
    if num_envs:
        yield from num_envs
        return
    b = 1
    while b <= max_envs:
        yield b
        b *= 2


def sweep_case(
    preset: str,
    n: int,
    runs: list[tuple[str, str]],
    device: str,
    args: argparse.Namespace,
    emit: Callable[[SweepRow], None] = lambda row: None,
) -> CaseResult:
    """Rows of one case for each B and each (backend, kernels) of ``runs``, alternated within a B
    (``args.rounds`` times), until a stop condition (module docstring)."""
    case = f"{preset}-{n}"
    cfg = VECConfig.from_kwargs(**case_config(preset, n))
    res = CaseResult(case)
    spent = 0.0
    last_row_s = 0.0
    last_bytes = 0
    on_cpu = not device.startswith("cuda") or all(backend == "numpy" for backend, _ in runs)
    avail = _available_bytes() if on_cpu else None
    Bs = list(env_counts(args.num_envs, args.max_envs))
    for i, B in enumerate(Bs):
        if i and spent + 2.0 * last_row_s > args.time_budget:
            res.stopped = (
                f"time budget: B={B} not started ({spent:.0f} s spent of --time-budget {args.time_budget:g} s)"
            )
            return res
        if i and avail is not None and last_bytes * B / Bs[i - 1] > avail / 2:
            res.stopped = (
                f"CPU memory guard: B={B} would need about {last_bytes * B / Bs[i - 1] / 2**30:.1f} GiB "
                f"of engine arrays, over half of the {avail / 2**30:.1f} GiB available"
            )
            return res
        t_b = time.perf_counter()
        for rnd in range(args.rounds):
            for backend, kernels in runs:
                try:
                    row = run_row(
                        cfg, case, B, backend, device, kernels, args.steps, args.warmup, args.seed,
                        args.row_seconds, args.clock, rnd, args.peak_bandwidth,
                    )  # fmt: skip
                except Exception as exc:
                    if not is_oom(exc):
                        raise
                    gc.collect()
                    torch = sys.modules.get("torch")
                    if torch is not None and torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
                    res.stopped = f"out of memory at B={B} ({backend}/{kernels}: {type(exc).__name__}: {first})"
                    return res
                res.rows.append(row)
                emit(row)
                last_bytes = max(last_bytes, row.peak_bytes or row.state_bytes)
        last_row_s = time.perf_counter() - t_b
        spent += last_row_s
    res.stopped = (
        f"end of --num-envs (B={Bs[-1]})" if args.num_envs else f"reached --max-envs {args.max_envs} (B={Bs[-1]})"
    )
    return res


# ---------------------------------------------------------------------------------------------
HEADER = (
    "| case | backend | device | kernels | B | round | active vehicles | steps/s | vehicle-slots/s | "
    "state MiB | peak MiB | task rows | bytes/step | BW frac (4.8 TB/s) |"
)


def format_row(r: SweepRow) -> str:
    peak = f"{r.peak_bytes / 2**20:,.1f}" if r.peak_bytes is not None else "-"
    return (
        f"| {r.case} | {r.backend} | {r.device} | {r.kernels} | {r.B:,} | {r.round} | {r.active:,.0f} | "
        f"{r.steps_per_s:,.1f} | {r.vehicle_slots_per_s:,.0f} | {r.state_bytes / 2**20:,.2f} | {peak} | "
        f"{r.task_rows:,.0f} | {r.bytes_per_step:.3e} | {r.bandwidth_fraction:.2e} |"
    )


def ratios(rows: list[SweepRow]) -> list[tuple[str, int, str, float, list[float]]]:
    """Per case, B and other run: median over rounds of (time per step of the run) / (time per step
    of numpy with the numpy kernels, the same round); the per-round values."""
    out = []
    keyed = {(r.case, r.B, r.round, r.backend, r.kernels): r for r in rows}
    for case, B in dict.fromkeys((r.case, r.B) for r in rows):
        others = dict.fromkeys((r.backend, r.kernels) for r in rows if (r.case, r.B) == (case, B))
        for backend, kernels in others:
            if (backend, kernels) == ("numpy", "numpy"):
                continue
            vals = [
                keyed[(case, B, r.round, "numpy", "numpy")].steps_per_s / r.steps_per_s
                for r in rows
                if (r.case, r.B, r.backend, r.kernels) == (case, B, backend, kernels)
                and (case, B, r.round, "numpy", "numpy") in keyed
            ]
            if vals:
                out.append((case, B, f"{backend}/{kernels}", float(np.median(vals)), vals))
    return out


def check_equivalence(
    device: str, presets: tuple[str, ...] = PRESETS, B: int = 3, slots: int = 30, seed: int = 0, rtol: float = 1e-9
) -> list[str]:
    """The torch backend on ``device`` against the numpy reference, slot by slot (module
    docstring); AssertionError at the first difference, else one line per preset."""
    from vecgym.actions import check_actions

    torch = require_torch(device)

    def host(x: Any) -> np.ndarray:
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    lines = []
    for preset in presets:
        cfg = VECConfig.from_kwargs(**case_config(preset, 30))
        ref = Engine(cfg, B, kernels="numpy")
        dev = Engine(cfg, B, backend="torch", device=device)
        seeds = seed + np.arange(B)
        ref.reset(seeds)
        dev.reset(seeds)
        gen = np.random.default_rng(seed)
        events = 0.0
        for t in range(slots):
            act = gen.random((B, 2, ref.M, ref.K))
            act[:, 1] *= 0.9 * ref.S / act[:, 1].sum(axis=(1, 2))[:, None, None]
            w, a, _ = check_actions(act, ref.active, ref.K, False, ref.holder, n_servers=ref.S)
            w_d, a_d, _ = check_actions(act, dev.active, dev.K, False, dev.holder, n_servers=dev.S)
            r, r_d = ref.step(w, a), dev.step(w_d, a_d)
            where = f"{preset} on {device}, slot {t}"
            for k in COUNTS:
                np.testing.assert_array_equal(host(r_d.metrics[k]), r.metrics[k], err_msg=f"{where}: {k}")
            events += float(sum(np.sum(r.metrics[k]) for k in COUNTS))
            for k, v in r.metrics.items():
                np.testing.assert_allclose(host(r_d.metrics[k]), v, rtol=rtol, equal_nan=True, err_msg=f"{where}: {k}")
            np.testing.assert_allclose(host(r_d.reward), r.reward, rtol=rtol, err_msg=f"{where}: reward")
            np.testing.assert_allclose(host(r_d.own_cost), r.own_cost, rtol=rtol, err_msg=f"{where}: own cost")
            assert tuple(dev.tasks.shape) == ref.tasks.shape, (
                f"{where}: task table {dev.tasks.shape} != {ref.tasks.shape}"
            )
            for name in ("active", "vid", "cell", "holder", "slot"):
                np.testing.assert_array_equal(host(getattr(dev, name)), getattr(ref, name), err_msg=f"{where}: {name}")
            for name in ("x", "gain", "tasks"):
                np.testing.assert_allclose(host(getattr(dev, name)), getattr(ref, name), rtol=rtol, err_msg=where)
        assert isinstance(dev.x, torch.Tensor) and str(dev.x.device).startswith(device.split(":")[0])
        lines.append(
            f"equivalence {preset}: torch on {dev.x.device} = numpy over {slots} slots × B={B} "
            f"(rtol {rtol:g}; event counts identical, {events:,.0f} events)"
        )
    return lines


# ---------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput --backend ...",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--backend", nargs="+", choices=("numpy", "torch"), default=["torch"])
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 (numpy always runs on the CPU)")
    p.add_argument(
        "--kernels", nargs="+", choices=("numpy", "numba"), default=["numpy"], help="the numpy backend's kernels"
    )
    p.add_argument("--num-envs", nargs="+", type=int, metavar="B", help="the B to run (default: doubling from 1)")
    p.add_argument("--max-envs", type=int, default=2**20, help="the doubling's last B")
    p.add_argument("--preset", nargs="+", choices=PRESETS, default=list(PRESETS), help="presets at N = 30")
    p.add_argument("--n", nargs="+", type=int, default=[30, 1000], help="N (N = 1000: the paper preset, scaled)")
    p.add_argument("--steps", type=int, default=50, help="timed slots per row (at most)")
    p.add_argument("--warmup", type=int, default=10, help="untimed slots first")
    p.add_argument("--row-seconds", type=float, default=20.0, help="a row's timed slots stop after this (>= 3 slots)")
    p.add_argument("--time-budget", type=float, default=300.0, help="seconds per case before no larger B starts")
    p.add_argument("--rounds", type=int, default=1, help="alternate the backends this many times per B")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="cpu: process time (not with CUDA)")
    p.add_argument("--peak-bandwidth", type=float, default=H200_BYTES_PER_S, help="bytes/s of the BW fraction")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the rows and stop reasons as JSON")
    p.add_argument("--equivalence", action="store_true", help="run the device equivalence check instead")
    p.add_argument("--eq-slots", type=int, default=30, help="slots of the equivalence check")
    return p


def cases(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(preset, N): every preset at N = 30; the paper preset at the other N."""
    out = []
    for n in args.n:
        for preset in args.preset if n == 30 else ("paper",):
            out.append((preset, n))
    return out


def main(argv: list[str] | None = None) -> list[CaseResult]:
    p = parser()
    args = p.parse_args(argv)
    if args.num_envs and min(args.num_envs) < 1:
        p.error("--num-envs must be >= 1")
    if args.clock == "cpu" and args.device.startswith("cuda"):
        p.error("--clock cpu does not time a CUDA step; use the wall clock")
    if "torch" in args.backend or args.equivalence:
        torch = require_torch(args.device)
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    elif args.device != "cpu":
        p.error(f"--device {args.device} needs --backend torch (numpy runs on the CPU)")
    if args.equivalence:
        for line in check_equivalence(args.device, tuple(args.preset), slots=args.eq_slots, seed=args.seed):
            print(line, flush=True)
        return []
    runs: list[tuple[str, str]] = []
    for backend in args.backend:
        runs += [("numpy", k) for k in args.kernels] if backend == "numpy" else [("torch", "numpy")]
    if ("numpy", "numba") in runs:
        from vecgym.core import kernels as _k

        _k.warm_up()
    print(f"(device {args.device}; {args.clock} clock; float64; engine arrays in 'state MiB'; CUDA peak in 'peak MiB')")
    print(HEADER)
    print("|" + "---|" * 4 + "---:|" * 10)
    results = []
    for preset, n in cases(args):
        res = sweep_case(preset, n, runs, args.device, args, emit=lambda r: print(format_row(r), flush=True))
        results.append(res)
    print()
    for res in results:
        print(f"- {res.case}: stopped: {res.stopped}")
    table = ratios([r for res in results for r in res.rows])
    if table:
        print()
        print("| case | B | run | time per step / numpy (numpy kernels), median | per round |")
        print("|---|---:|---|---:|---|")
        for case, B, run, med, vals in table:
            print(f"| {case} | {B:,} | {run} | {med:.2f} | {', '.join(f'{v:.2f}' for v in vals)} |")
    best = max((r for res in results for r in res.rows), key=lambda r: r.vehicle_slots_per_s, default=None)
    if best is not None:
        print()
        print(
            f"best: {best.case} {best.backend}/{best.device} B={best.B:,}: {best.vehicle_slots_per_s:,.0f} "
            f"vehicle-slots/s; bytes/step (2 × state) {best.bytes_per_step:.3e} / "
            f"(step {best.seconds / best.steps:.3e} s × {best.peak_bandwidth:.2e} B/s) = "
            f"{best.bandwidth_fraction:.2e} of the bandwidth"
        )
    if args.json:
        import json

        with open(args.json, "w") as fh:
            json.dump(
                {
                    "argv": sys.argv if argv is None else argv,
                    "cases": [
                        {"case": r.case, "stopped": r.stopped, "rows": [x.as_dict() for x in r.rows]} for r in results
                    ],
                },
                fh,
                indent=1,
            )
    return results


if __name__ == "__main__":
    main()
