"""Simulator speed (physics v2): steps/s and vehicle-slots/s, on one core, numba kernels and numpy.

    OMP_NUM_THREADS=1 python -m benchmarks.throughput [--kernels numba numpy] [--steps 1000]
        [--cases paper-30 corridor-30 batch-64 n-1000] [--policies good random const] [--clock wall]
        [--scale-out W [W ...] [--ray [ADDRESS]]]

Cases (issue 9's targets in brackets):

* ``paper-30``, ``corridor-30``: one road, N = 30, the raw env (``env.unwrapped.step``: action
  checks, physics, noisy observation, info) [≥ 5,000 steps/s].
* ``batch-64``: 64 roads of N = 30 (paper preset) in one ``Engine`` (``Engine.step`` on checked
  actions) and through ``VECVectorEnv.step`` (checks and observations of all roads)
  [≥ 1,000,000 vehicle-slots/s].
* ``n-1000``: one road of N = 1000, raw env, with the edge CPU and the uplink band scaled by
  N / 20, so each vehicle sees the load and resources of the default N = 20 road (without scaling
  the queues grow without bound and the run measures the backlog) [≥ 500,000 vehicle-slots/s].

Policies, each run once to record its actions (not timed), then replayed from the same seed (the
simulator is deterministic, so the replay is the recorded trajectory) with only the step timed:

* ``good``: ``agents.make_agent("dpp", env)`` (drift-plus-penalty) on one road; on the batch,
  full offload (w = 1) with equal edge shares per server. If the dpp agent cannot be built,
  the equal-share policy stands in (the table says which).
* ``random``: w ~ U(0, 1), a ~ U(0, 1) scaled down per server to Σa ≤ 1.
* ``const``: w = a = 0.5, a scaled down per server to Σa ≤ 1.

A vehicle-slot is one vehicle simulated for one time slot (mean active vehicles × steps/s).
``--clock cpu`` times with the process's CPU clock instead of the wall clock: use it on a shared,
busy machine (it leaves out time the process spent waiting for a core). Prints a Markdown table,
then the targets with the figures of the numba kernels under the good policy.

Scale-out (``benchmarks.scaleout``): ``--scale-out 1 2 4`` runs each row's replay in W concurrent
workers for each W (one CPU and one BLAS / OpenMP thread each, every worker on its own seed) and
prints the aggregate steps/s and vehicle-slots/s (measured inside the workers), the rate per
worker, the scaling efficiency against the smallest W and the end-to-end wall seconds. The workers
are ``spawn`` processes, or with ``--ray`` Ray tasks on a local Ray instance (``num_cpus`` = the
largest W), or with ``--ray ADDRESS`` on a running cluster (``pip install 'vecgym[ray]'``).
``batch-64`` then times ``VECVectorEnv.step`` only.

Backends (``benchmarks.backend_sweep``, issue 14): ``--backend numpy|torch [--device cpu|cuda]``
runs instead the sweep of the batch core against B (``--num-envs``, or doubling from 1 up to an
out-of-memory error, ``--max-envs`` or ``--time-budget``) at N = 30 (``--preset paper corridor``)
and N = 1000 (``--n 30 1000``): steps/s, vehicle-slots/s, memory and the memory-bandwidth
fraction; ``python -m benchmarks.backend_sweep --help`` lists its options. Without ``--backend``
the table above runs, unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks import backend_sweep, scaleout

os.environ.setdefault("OMP_NUM_THREADS", "1")

from benchmarks.throughput_cases import CASES, POLICIES, TARGETS, Row, _Clock, record, runners, schedule


# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> list[Row] | list[scaleout.ScaleRow] | list[backend_sweep.CaseResult]:
    argv = sys.argv[1:] if argv is None else argv
    if any(a == "--backend" or a.startswith("--backend=") for a in argv):
        from benchmarks import backend_sweep

        return backend_sweep.main(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    parser.add_argument("--kernels", nargs="+", choices=("numba", "numpy"), default=["numba", "numpy"])
    parser.add_argument("--steps", type=int, default=1000, help="timed slots per one-road N=30 row")
    parser.add_argument("--warmup", type=int, default=200, help="slots replayed untimed first (queues fill)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scale-out", nargs="+", type=int, metavar="W", help="worker counts: each row runs W concurrent tasks"
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="with --scale-out: Ray tasks on a local Ray instance, or on the cluster at ADDRESS (vecgym[ray])",
    )
    args = parser.parse_args(argv)
    if args.ray is not None and not args.scale_out:
        parser.error("--ray needs --scale-out W [W ...]")
    if args.scale_out:
        if min(args.scale_out) < 1:
            parser.error("--scale-out worker counts must be >= 1")
        from benchmarks import scaleout

        return scaleout.main(args)
    clock = _Clock(args.clock)
    if "numba" in args.kernels:
        from vecgym.core import kernels as _k

        _k.warm_up()  # compile or load the cache before any timing
    rows: list[Row] = []
    print(f"| case | runner | policy | kernels | active vehicles | steps/s | vehicle-slots/s |  ({args.clock} clock)")
    print("|---|---|---|---|---:|---:|---:|")

    def emit(row: Row) -> None:
        rows.append(row)
        print(
            f"| {row.case} | {row.runner} | {row.policy} | {row.kernels} | {row.active:,.0f} | "
            f"{row.steps_per_s:,.0f} | {row.vehicle_slots_per_s:,.0f} |",
            flush=True,
        )

    for case in args.cases:
        n_timed, warmup = schedule(case, args.steps, args.warmup)
        for policy in args.policies:
            actions, active, name = record(case, policy, warmup + n_timed, args.seed)
            for runner, time_fn in runners(case).items():
                for kernels in args.kernels:
                    rate = time_fn(kernels, actions, warmup, args.seed, clock)
                    emit(Row(case, runner, name, kernels, active, rate))

    print()
    print("| target | measured (numba, good policy) | met |")
    print("|---|---:|:---:|")
    for case, (what, threshold, unit) in TARGETS.items():
        got = [
            r
            for r in rows
            if r.case == case
            and r.kernels == "numba"
            and r.policy.startswith("good")
            and r.runner in ("env.unwrapped.step", "Engine.step")
        ]
        if not got:
            continue
        value = got[0].steps_per_s if unit == "steps/s" else got[0].vehicle_slots_per_s
        print(f"| {what} ≥ {threshold:,.0f} {unit} | {value:,.0f} {unit} | {'yes' if value >= threshold else 'no'} |")
    return rows


if __name__ == "__main__":
    main()
