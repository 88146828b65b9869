"""The episode runner behind ``benchmarks.compare`` and ``benchmarks.sweep``: jobs, the episode
function, and the backends that run it (this process, spawn worker processes, Ray tasks).

Each job is one seeded episode; its row depends only on the job, so rows are the same whatever
the backend and worker count once ``ROW_TIMING_FIELDS`` (wall and decision times, worker, host,
LLM latencies) are removed."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import agents
from agents.rollout import StepRecord, rollout
from vecgym import scenarios

#: The BLAS / OpenMP thread-count variables a worker process pins to one thread.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class Job:
    scenario: str
    variant: str
    overrides: dict[str, Any]
    agent: str
    seed: int
    slots: int
    agent_kw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    rows: list[dict[str, Any]] = field(default_factory=list)
    decision_s: dict[str, list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def plan(
    names: list[str],
    agent_names: list[str],
    seeds: list[int],
    slots: int | None,
    agent_kw: dict[str, dict[str, Any]] | None = None,
) -> list[Job]:
    jobs = []
    for name in names:
        sc = scenarios.get(name)
        variants = [(f"N={n:g}", {"n_vehicles": n}) for n in sc.sweep] or [("default", {})]
        for variant, overrides in variants:
            for agent in agent_names:
                for seed in seeds:
                    kw = (agent_kw or {}).get(agent, {})
                    jobs.append(Job(name, variant, overrides, agent, seed, slots or sc.n_slots, kw))
    return jobs


def run_episode(job: Job, decision_s: list[float]) -> dict[str, Any]:
    """One episode; returns its row (episode metrics plus per-phase figures)."""
    env = scenarios.make(job.scenario, max_episode_steps=job.slots, **job.overrides)
    agent: agents.Agent = agents.make_agent(job.agent, env, **job.agent_kw)
    extra: dict[str, Any] = {}

    def explained(step: StepRecord) -> None:
        text = (step.next_info.get("interpretation") or {}).get("explanation")
        if text and "goal_explanation" not in extra:
            extra["goal_explanation"] = text

    ep = rollout(env, agent, job.seed, on_step=explained)
    decision_s.extend(ep.decision_s)
    core = agent.core
    em = ep.episode_metrics
    row: dict[str, Any] = {
        "scenario": job.scenario,
        "variant": job.variant,
        "agent": job.agent,
        "seed": job.seed,
    }
    row.update({k: v for k, v in em.items() if not isinstance(v, dict | list)})
    named = [rec for rec in em["per_vehicle"].values() if rec["tasks"]]
    if named:  # vehicles a goal named (e.g. the priority scenario's vehicle 7), pooled
        n_done = sum(rec["tasks"] for rec in named)
        row["named_vehicles_latency_ms"] = sum(rec["latency_ms"] * rec["tasks"] for rec in named) / n_done
    row["reward_qos"], row["reward_energy"], row["reward_fairness"] = (
        em["reward_terms"]["qos"],
        em["reward_terms"]["energy"],
        em["reward_terms"]["fairness"],
    )
    row["vehicles_mean"] = float(np.mean(ep.active_vehicles))
    row["goal_cost"] = -float(em["reward"])
    row.update(ep.report_fields)
    own = ep.agent_stats.get("explanations")  # a planner's own reading of the command (hybrid)
    row["goal_explanation"] = own[0]["explanation"] if own else extra.get("goal_explanation", "")
    agent.close()
    cmd_slots = [c.slot for c in core.commands]
    if job.scenario == "goal_switch" and cmd_slots:
        s = cmd_slots[0]
        energy, lat_n, lat_sum = ep.energy_j, ep.tasks_completed, ep.latency_sum_ms
        for phase, sl in (("phase1", slice(0, s)), ("phase2", slice(s, None))):
            n = float(np.sum(lat_n[sl]))
            row[f"{phase}_energy_per_slot_j"] = float(np.mean(energy[sl])) if energy[sl] else float("nan")
            row[f"{phase}_latency_ms"] = float(np.sum(lat_sum[sl]) / n) if n else float("nan")
    env.close()
    return row


def _label(job: Job) -> str:
    return f"{job.scenario}/{job.variant}/{job.agent}/seed{job.seed}"


def progress(i: int, n: int, job: Job, started: float) -> None:
    width = 30
    done = int(width * i / n)
    eta = (time.perf_counter() - started) / max(i, 1) * (n - i)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{n} eta {eta:5.0f}s {_label(job):<45}")
    sys.stderr.flush()


class Progress:
    """A bar over episodes with an ETA: tqdm where it is installed (the marl extra), else ``progress``."""

    def __init__(self, n: int) -> None:
        self.n, self.i, self.started = n, 0, time.perf_counter()
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=n, unit="episode", file=sys.stderr, smoothing=0.0, dynamic_ncols=True)

    def done(self, job: Job) -> None:
        self.i += 1
        if self.bar is not None:
            self.bar.set_postfix_str(_label(job), refresh=False)
            self.bar.update(1)
        else:
            progress(self.i, self.n, job, self.started)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.n:
            sys.stderr.write("\n")


def attempt(job: Job) -> tuple[dict[str, Any], list[float]]:
    """One episode's row and decision times; an exception becomes a row with its traceback (``"error"``)."""
    decision_s: list[float] = []
    try:
        return run_episode(job, decision_s), decision_s
    except Exception:
        return error_row(job, traceback.format_exc()), []


def error_row(job: Job, text: str) -> dict[str, Any]:
    return {"scenario": job.scenario, "variant": job.variant, "agent": job.agent, "seed": job.seed, "error": text}


def _init_worker() -> None:
    """Worker initializer: one BLAS / OpenMP thread (torch, imported later by an agent that needs it,
    reads these too). The parent also sets them while it starts the workers, so that numpy, imported
    when a spawned worker imports this module, already sees them."""
    for var in THREAD_VARS:
        os.environ[var] = "1"


@contextmanager
def _single_thread_env() -> Iterator[None]:
    """These variables set to 1 in ``os.environ`` (workers started inside inherit them), then restored."""
    saved = {var: os.environ.get(var) for var in THREAD_VARS}
    os.environ.update({var: "1" for var in THREAD_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def in_process(job: Job) -> bool:
    """Jobs kept in this process when others go to workers: an agent appending to an LLM transcript
    (several processes appending multi-kilobyte records to one file could interleave them)."""
    return "transcript" in job.agent_kw


def _submit(stack: ExitStack, jobs: list[Job], indices: list[int], workers: int) -> dict[Future[Any], int]:
    """Start a spawn worker pool (closed with ``stack``) and submit the jobs at ``indices`` to it;
    no pool and no futures when there are none."""
    if not indices:
        return {}
    pool = stack.enter_context(
        ProcessPoolExecutor(
            max_workers=min(workers, len(indices)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )
    )
    with _single_thread_env():  # spawn starts the workers as jobs are submitted
        return {pool.submit(attempt, jobs[i]): i for i in indices}


def execute(jobs: list[Job], workers: int = 1) -> Run:
    """Run the jobs, ``workers`` episodes at a time in worker processes (1: here, one after another).

    Workers are started with ``spawn``: a fork would copy this process's threads' state (the loopback
    planner's server thread, BLAS / OpenMP pools) into a child that has no such threads, which can
    deadlock; spawn starts clean interpreters on every platform, and their start-up (about a second)
    is small against the episodes. Rows and decision times are collected by job index."""
    results: list[tuple[dict[str, Any], list[float]] | None] = [None] * len(jobs)
    bar = Progress(len(jobs))
    remote = [i for i, job in enumerate(jobs) if workers > 1 and not in_process(job)]
    local = sorted(set(range(len(jobs))) - set(remote))
    try:
        with ExitStack() as stack:
            futures = _submit(stack, jobs, remote, workers)
            for i in local:
                results[i] = attempt(jobs[i])
                bar.done(jobs[i])
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except Exception:  # the worker died (e.g. killed for memory): the job's row says so
                    results[i] = error_row(jobs[i], traceback.format_exc()), []
                bar.done(jobs[i])
    finally:
        bar.close()
    run = Run()
    for job, result in zip(jobs, results, strict=True):
        assert result is not None
        row, decision_s = result
        run.rows.append(row)
        run.decision_s.setdefault(job.agent, []).extend(decision_s)
    return run
