"""Scale-out of ``benchmarks.throughput``: the same replayed steps in W concurrent workers, as Ray
tasks or as spawned processes, for W = 1, 2, …

    OMP_NUM_THREADS=1 python -m benchmarks.throughput --scale-out 1 2 [--ray [ADDRESS]] \\
        [--cases batch-64 paper-30] [--policies good] [--kernels numba] [--clock wall]

For each worker count W, W tasks (one CPU each) run at once. Each builds its env, records its
policy's actions from its own seed (``--seed`` + worker index: W different roads), replays the
warm-up slots, waits at a start barrier until all W tasks are ready, then times the same number of
steps as the single-process row (``throughput_cases.schedule``), with ``throughput_cases.record`` and
``throughput_cases.runners``. One-road cases time ``env.unwrapped.step``; ``batch-64`` times
``VECVectorEnv.step`` (the Gymnasium vector env of 64 roads).

Per W the table gives the aggregate steps/s and vehicle-slots/s (the work of all tasks over the
timed seconds of the slowest, measured inside the tasks, so start-up, imports, recording and
scheduling are left out), the rate per worker, the scaling efficiency (per-worker rate against
that of the smallest W), how much the timed windows overlapped (1.00: all W tasks were stepping
the whole time), and, separately, the end-to-end wall seconds the driver waited for the W tasks
(worker start-up, imports, recording and warm-up included; not Ray's own start-up).

Backends:

* ``--ray``: Ray tasks with ``num_cpus=1`` on a local Ray instance started with
  ``num_cpus = max W`` (stopped at the end); ``--ray ADDRESS`` (e.g. ``auto``,
  ``ray://head:10001``) connects to a running cluster instead, whose nodes must have vecgym
  installed. A Ray instance already initialised in this process is used as it is. Needs the
  extra: ``pip install 'vecgym[ray]'``.
* otherwise: a ``concurrent.futures.ProcessPoolExecutor`` of W ``spawn`` processes (no extra).

Every task runs with one BLAS / OpenMP thread: ``THREAD_VARS`` set to 1 in the spawned processes'
environment and in the Ray tasks' ``runtime_env`` (Ray itself sets only ``OMP_NUM_THREADS`` for a
``num_cpus=1`` task); each task reports what it saw and the note under the table says so.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

from benchmarks.backends import THREAD_VARS, import_ray, ray_session, single_thread_env
from benchmarks.throughput_cases import _Clock, record, runners, schedule

#: The BLAS / OpenMP thread-count variables each task pins to one thread.
ONE_THREAD = ",".join("1" for _ in THREAD_VARS)  # ``TaskResult.threads`` of a task with one thread

#: The runner timed in each task, by case (default: the raw one-road env).
SCALE_OUT_RUNNER = {"batch-64": "VECVectorEnv.step"}
#: Seconds a task waits at the start barrier for the others (a cluster with fewer free CPUs than W
#: never starts them all).
BARRIER_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Task:
    """One worker's share of a scale-out row."""

    case: str
    policy: str
    kernels: str
    steps: int  # timed slots
    warmup: int  # untimed slots replayed first
    seed: int
    clock: str  # "wall" or "cpu"


@dataclass(frozen=True)
class TaskResult:
    policy: str  # the policy's name as run
    steps: int
    active: float  # mean active vehicles over the recorded slots
    seconds: float  # the timed steps, on the task's clock
    start: float  # wall-clock epoch seconds of the timed window
    end: float
    host: str
    pid: int
    threads: str  # THREAD_VARS' values as the task saw them, comma-separated ("1,1,1,1": one thread)

    @property
    def vehicle_slots(self) -> float:
        return self.active * self.steps


@dataclass(frozen=True)
class ScaleRow:
    case: str
    runner: str
    policy: str
    kernels: str
    backend: str  # "ray" or "processes"
    workers: int
    steps_per_s: float  # aggregate: all tasks' steps over the slowest task's timed seconds
    vehicle_slots_per_s: float
    overlap: float  # the fraction of the slowest timed window in which all tasks were timing
    end_to_end_s: float  # the driver's wall seconds for the W tasks, start-up included
    tasks: tuple[TaskResult, ...]
    efficiency: float = 1.0  # per-worker steps/s against that of the smallest W

    @property
    def per_worker_steps_per_s(self) -> float:
        return self.steps_per_s / self.workers


# ---------------------------------------------------------------------------------------------
# One task (runs in a worker)
def run_task(task: Task, ready: Callable[[], None]) -> TaskResult:
    """Record ``task``'s actions, replay the warm-up, call ``ready`` (the start barrier), time the
    steps. Runs in a worker process or a Ray task."""
    if task.kernels == "numba":
        from vecgym.core import kernels as _k

        _k.warm_up()  # compile or load the cache before any timing
    actions, active, name = record(task.case, task.policy, task.warmup + task.steps, task.seed)
    window: list[float] = []

    def start() -> None:
        ready()
        window.append(time.time())

    time_fn = runners(task.case)[SCALE_OUT_RUNNER.get(task.case, "env.unwrapped.step")]
    rate = time_fn(task.kernels, actions, task.warmup, task.seed, _Clock(task.clock), start)
    end = time.time()
    return TaskResult(
        name,
        task.steps,
        active,
        task.steps / rate,
        window[0],
        end,
        socket.gethostname(),
        os.getpid(),
        ",".join(os.environ.get(var, "unset") for var in THREAD_VARS),
    )


def summarize(case: str, kernels: str, backend: str, results: list[TaskResult], end_to_end_s: float) -> ScaleRow:
    """The aggregate row of W task results."""
    slowest = max(r.seconds for r in results)
    window = max(r.end - r.start for r in results)
    together = min(r.end for r in results) - max(r.start for r in results)
    return ScaleRow(
        case=case,
        runner=SCALE_OUT_RUNNER.get(case, "env.unwrapped.step"),
        policy=results[0].policy,
        kernels=kernels,
        backend=backend,
        workers=len(results),
        steps_per_s=sum(r.steps for r in results) / slowest,
        vehicle_slots_per_s=sum(r.vehicle_slots for r in results) / slowest,
        overlap=max(together, 0.0) / window if window > 0 else 1.0,
        end_to_end_s=end_to_end_s,
        tasks=tuple(results),
    )


# ---------------------------------------------------------------------------------------------
# Backends: each runs W tasks at once and returns their results in worker order
class _ProcessBarrier:
    """A picklable start barrier for spawned processes (a ``multiprocessing.Manager`` barrier)."""

    def __init__(self, barrier: Any):
        self.barrier = barrier

    def __call__(self) -> None:
        self.barrier.wait(BARRIER_TIMEOUT_S)


def run_processes(tasks: list[Task]) -> list[TaskResult]:
    """The tasks in as many ``spawn`` processes, each with one BLAS / OpenMP thread."""
    ctx = multiprocessing.get_context("spawn")
    with single_thread_env(), ctx.Manager() as manager:
        ready = _ProcessBarrier(manager.Barrier(len(tasks)))
        with ProcessPoolExecutor(len(tasks), mp_context=ctx) as pool:
            futures = [pool.submit(run_task, task, ready) for task in tasks]
            return [f.result() for f in futures]


def _import_ray() -> Any:
    """``ray``, or exit naming the extra (this is a command line's error)."""
    try:
        return import_ray()
    except ImportError as exc:
        raise SystemExit(str(exc)) from None


class _RayBarrierActor:
    """An async actor (no CPU) on which W tasks wait until all W have arrived."""

    def __init__(self, parties: int):
        self.parties = parties
        self.arrived = 0
        self.all_in = asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.all_in.set()
        await asyncio.wait_for(self.all_in.wait(), BARRIER_TIMEOUT_S)


class _RayBarrier:
    """A picklable start barrier for Ray tasks: the actor's handle."""

    def __init__(self, actor: Any):
        self.actor = actor

    def __call__(self) -> None:
        import ray

        ray.get(self.actor.wait.remote())


def run_ray(tasks: list[Task]) -> list[TaskResult]:
    """The tasks as Ray tasks (``num_cpus=1``, one BLAS / OpenMP thread) on the initialised Ray."""
    ray = _import_ray()
    actor = ray.remote(num_cpus=0)(_RayBarrierActor).remote(len(tasks))
    remote = ray.remote(run_task).options(
        num_cpus=1, runtime_env={"env_vars": dict.fromkeys(THREAD_VARS, "1")}, max_retries=0
    )
    try:
        return list(ray.get([remote.remote(task, _RayBarrier(actor)) for task in tasks]))
    finally:
        ray.kill(actor)


# ---------------------------------------------------------------------------------------------
def scale_out(
    case: str,
    policy: str,
    kernels: str,
    workers: list[int],
    *,
    steps: int,
    warmup: int,
    seed: int = 0,
    clock: str = "wall",
    backend: str = "processes",
) -> list[ScaleRow]:
    """One row per worker count in ``workers`` (the Ray backend needs Ray initialised, see
    ``ray_session``); ``steps`` and ``warmup`` are each task's slots."""
    run = run_ray if backend == "ray" else run_processes
    rows: list[ScaleRow] = []
    for w in workers:
        tasks = [Task(case, policy, kernels, steps, warmup, seed + i, clock) for i in range(w)]
        t = time.perf_counter()
        results = run(tasks)
        rows.append(summarize(case, kernels, backend, results, time.perf_counter() - t))
    base = min(rows, key=lambda r: r.workers).per_worker_steps_per_s
    return [replace(r, efficiency=r.per_worker_steps_per_s / base) for r in rows]


HEADER = (
    "| case | runner | policy | kernels | backend | workers | steps/s | vehicle-slots/s | steps/s per worker "
    "| efficiency | overlap | end-to-end s |"
)


def format_row(r: ScaleRow) -> str:
    return (
        f"| {r.case} | {r.runner} | {r.policy} | {r.kernels} | {r.backend} | {r.workers} | {r.steps_per_s:,.0f} | "
        f"{r.vehicle_slots_per_s:,.0f} | {r.per_worker_steps_per_s:,.0f} | {r.efficiency:.2f} | {r.overlap:.2f} | "
        f"{r.end_to_end_s:.1f} |"
    )


def main(args: Any) -> list[ScaleRow]:
    """``benchmarks.throughput --scale-out W …``: print the table and return its rows."""
    backend = "processes" if args.ray is None else "ray"
    address = "" if args.ray in (None, "local") else args.ray
    workers = sorted(set(args.scale_out))
    rows: list[ScaleRow] = []
    with ExitStack() as stack:
        if backend == "ray":
            t = time.perf_counter()
            _import_ray()  # a missing extra is a usage error here
            stack.enter_context(ray_session(address, max(workers)))
            print(f"Ray ready in {time.perf_counter() - t:.1f} s ({address or 'local instance'}), not in the table.")
        print(f"{HEADER}  ({args.clock} clock)")
        print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for case in args.cases:
            n_timed, warmup = schedule(case, args.steps, args.warmup)
            for policy in args.policies:
                for kernels in args.kernels:
                    kw = {"steps": n_timed, "warmup": warmup, "seed": args.seed, "clock": args.clock}
                    got = scale_out(case, policy, kernels, workers, backend=backend, **kw)
                    for row in got:
                        print(format_row(row), flush=True)
                    rows += got
    print()
    print(_threads_note(rows))
    return rows


def _threads_note(rows: list[ScaleRow]) -> str:
    seen = {t.threads for r in rows for t in r.tasks}
    hosts = sorted({t.host for r in rows for t in r.tasks})
    tasks = sum(len(r.tasks) for r in rows)
    names = ", ".join(THREAD_VARS)
    if seen == {ONE_THREAD}:
        return f"All {tasks} tasks ran with {names} = 1, on {', '.join(hosts)}."
    return f"WARNING: the tasks saw {names} = {sorted(seen)} (expected all 1), on {', '.join(hosts)}."
