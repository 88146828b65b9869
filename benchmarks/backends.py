"""Where the runner's episodes run: in this process, in spawn worker processes, or as Ray tasks.

Every backend runs the same function (``benchmarks.runner.attempt``) on the same ``Job``s and
yields ``(job index, result)`` as episodes finish, so the results do not depend on the backend or
the worker count. Stopping early (Ctrl-C in the caller, or closing the generator) cancels what
has not started and stops the workers.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

#: The BLAS / OpenMP / numba thread-count variables a worker pins to one thread.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
RAY_MISSING = "--ray needs Ray Core: pip install 'vecgym[ray]' (not ray[rllib], whose gymnasium pin is older)"

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class Backend:
    """``workers``: episodes at once (1 and no Ray: one after another in this process).
    ``ray_address``: None for no Ray; ``""`` for a local Ray instance with ``workers`` CPUs; an
    address (``"auto"``, ``"ray://head:10001"``, ``"10.0.0.5:6379"``) for a running cluster, on
    whose nodes vecgym must be installed."""

    workers: int = 1
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")

    @property
    def on_cluster(self) -> bool:
        """Ray on a cluster given by address (its workers may run on other machines)."""
        return self.ray_address not in (None, "")

    def describe(self) -> str:
        if self.ray_address is None:
            return "this process" if self.workers == 1 else f"{self.workers} worker processes"
        return f"Ray ({self.ray_address or f'local, {self.workers} CPUs'})"


def results(
    fn: Callable[[J], R],
    jobs: list[J],
    indices: list[int],
    backend: Backend,
    on_error: Callable[[J, str], R],
    here: Callable[[J], bool] = lambda job: False,
) -> Generator[tuple[int, R], None, None]:
    """``(i, fn(jobs[i]))`` for each index, in completion order. Jobs for which ``here(job)`` is
    true run in this process, while the workers run the others. A worker that dies (killed for
    memory, a lost Ray node) yields ``on_error(job, traceback)`` for its job instead."""
    serial = backend.workers == 1 and backend.ray_address is None
    local = [i for i in indices if serial or here(jobs[i])]
    remote = sorted(set(indices) - set(local))
    if not remote:
        return ((i, fn(jobs[i])) for i in local)
    if backend.ray_address is not None:
        return _ray(fn, jobs, remote, local, backend, on_error)
    return _processes(fn, jobs, remote, local, backend.workers, on_error)


def pin_one_thread() -> None:
    """Worker initializer: one BLAS / OpenMP thread (torch, imported later by an agent that needs
    it, reads these too)."""
    for var in THREAD_VARS:
        os.environ[var] = "1"


@contextmanager
def single_thread_env() -> Iterator[None]:
    """These variables set to 1 in ``os.environ`` (workers started inside inherit them, so numpy,
    imported when a spawned worker unpickles its first job, already sees them), then restored."""
    saved = {var: os.environ.get(var) for var in THREAD_VARS}
    pin_one_thread()
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _processes(
    fn: Callable[[J], R],
    jobs: list[J],
    indices: list[int],
    local: list[int],
    workers: int,
    on_error: Callable[[J, str], R],
) -> Generator[tuple[int, R], None, None]:
    """A spawn pool: a fork would copy this process's threads' state (the loopback planner's server
    thread, BLAS / OpenMP pools) into a child that has no such threads, which can deadlock; spawn
    starts clean interpreters on every platform, and their start-up (about a second) is small
    against the episodes."""
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(indices)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=pin_one_thread,
    )
    finished = False
    try:
        with single_thread_env():  # spawn starts the workers as jobs are submitted
            futures: dict[Future[R], int] = {pool.submit(fn, jobs[i]): i for i in indices}
        yield from ((i, fn(jobs[i])) for i in local)
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                yield i, fut.result()
            except Exception:  # the worker died: the job's result says so
                yield i, on_error(jobs[i], traceback.format_exc())
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # stopped early: drop the queue and stop the running episodes
            _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (``shutdown`` alone would wait for the
    running episodes). The pool's processes are read before ``shutdown`` forgets them: there is
    no public API for this before Python 3.14's ``terminate_workers()``."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join()


def import_ray() -> Any:
    """``ray``, or an ImportError naming the extra."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(RAY_MISSING) from exc
    return ray


@contextmanager
def ray_session(address: str, num_cpus: int) -> Iterator[Any]:
    """Ray initialised for a run, yielding the module: as it is if this process already did; else a
    local instance with ``num_cpus`` CPUs (``address`` ``""``) or the cluster at ``address``, its
    tasks with one BLAS / OpenMP / numba thread, shut down after."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    on_this_machine = address == ""
    ray.init(
        address=None if on_this_machine else address,
        num_cpus=num_cpus if on_this_machine else None,
        include_dashboard=False,
        runtime_env={"env_vars": dict.fromkeys(THREAD_VARS, "1")},
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def _ray(
    fn: Callable[[J], R],
    jobs: list[J],
    indices: list[int],
    local: list[int],
    backend: Backend,
    on_error: Callable[[J, str], R],
) -> Generator[tuple[int, R], None, None]:
    """Ray tasks of one CPU each, on a local instance started here (shut down after) or on the
    cluster at ``backend.ray_address``."""
    assert backend.ray_address is not None
    with ray_session(backend.ray_address, backend.workers) as ray:
        task = ray.remote(num_cpus=1, max_retries=0)(fn)
        refs: dict[Any, int] = {task.remote(jobs[i]): i for i in indices}
        pending = list(refs)
        try:
            yield from ((i, fn(jobs[i])) for i in local)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        yield refs[ref], ray.get(ref)
                    except Exception:  # a crashed worker or lost node (the episode's own errors are rows)
                        yield refs[ref], on_error(jobs[refs[ref]], traceback.format_exc())
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
