"""The episode runner behind ``benchmarks.compare`` and ``benchmarks.sweep``: jobs, the episode
function, and the backends that run it (this process, spawn worker processes, Ray tasks).

Each job is one seeded episode; its row depends only on the job, so rows are the same whatever
the backend and worker count once ``ROW_TIMING_FIELDS`` (wall and decision times, worker, host,
LLM latencies) are removed."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import agents
from agents.llm.calllog import REPORTED as LLM_REPORTED
from agents.rollout import NONDETERMINISTIC_FIELDS, StepRecord, rollout
from benchmarks.backends import Backend, results
from benchmarks.phases import phase_fields
from benchmarks.progress import Progress
from benchmarks.store import EpisodeStore, row_key
from vecgym import scenarios

#: Row fields that may differ between runs of the same job: the episode's timing and place
#: (``agents.rollout.NONDETERMINISTIC_FIELDS``) and an LLM agent's measured latencies. Rows are
#: identical, whatever the backend and worker count, once exactly these are removed.
ROW_TIMING_FIELDS: tuple[str, ...] = (
    *NONDETERMINISTIC_FIELDS,
    *(f"llm_{name}" for name in LLM_REPORTED if name.endswith(("_ms_median", "_ms_p99"))),
)


def deterministic(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` without its ``ROW_TIMING_FIELDS``: what any backend and worker count reproduce."""
    return {k: v for k, v in row.items() if k not in ROW_TIMING_FIELDS}


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
    resumed: int = 0
    """Episodes taken from an earlier run's ``episodes.jsonl`` (``--resume``), not run again."""
    interrupted: bool = False
    """Ctrl-C stopped the run: ``rows`` holds the episodes that had finished."""
    backend: str = ""


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


def _identity(job: Job) -> dict[str, Any]:
    """The row fields that name the job (``store.KEY_FIELDS``)."""
    return {
        "scenario": job.scenario,
        "variant": job.variant,
        "agent": job.agent,
        "seed": job.seed,
        "max_episode_steps": job.slots,
    }


def job_key(job: Job) -> tuple[Any, ...]:
    """The key of the job's row (``store.row_key``): how a stored row is matched to its job."""
    return row_key(_identity(job))


def run_episode(job: Job) -> dict[str, Any]:
    """One episode; returns its row: the job, the episode metrics, per-phase figures, and the
    ``ROW_TIMING_FIELDS`` (per-slot decision times, wall time, worker, host)."""
    env = scenarios.make(job.scenario, max_episode_steps=job.slots, **job.overrides)
    agent: agents.Agent = agents.make_agent(job.agent, env, **job.agent_kw)
    extra: dict[str, Any] = {}

    def explained(step: StepRecord) -> None:
        text = (step.next_info.get("interpretation") or {}).get("explanation")
        if text and "goal_explanation" not in extra:
            extra["goal_explanation"] = text

    ep = rollout(env, agent, job.seed, on_step=explained)
    core = agent.core
    em = ep.episode_metrics
    row = _identity(job)
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
    row.update(phase_fields(ep, [c.slot for c in core.commands]))
    env.close()
    row.update(decision_s=list(ep.decision_s), wall_s=ep.wall_s, worker=ep.worker, host=ep.host)
    return row


def _label(job: Job) -> str:
    return f"{job.scenario}/{job.variant}/{job.agent}/seed{job.seed}"


def attempt(job: Job) -> dict[str, Any]:
    """One episode's row; an exception becomes a row with its traceback (``"error"``)."""
    try:
        return run_episode(job)
    except Exception:
        return error_row(job, traceback.format_exc())


def error_row(job: Job, text: str) -> dict[str, Any]:
    return {**_identity(job), "error": text}


def in_process(job: Job, backend: Backend | None = None) -> bool:
    """Jobs kept in this process when others go to workers: an agent appending to an LLM transcript
    (several processes appending multi-kilobyte records to one file could interleave them), and,
    on a Ray cluster, an agent whose LLM endpoint is on this machine's loopback address (the
    loopback planner), which other nodes cannot reach."""
    if "transcript" in job.agent_kw:
        return True
    local_endpoint = any(host in str(job.agent_kw.get("base_url", "")) for host in ("127.0.0.1", "localhost"))
    return backend is not None and backend.on_cluster and local_endpoint


def execute(jobs: list[Job], workers: int = 1) -> Run:
    """Run the jobs on ``workers`` worker processes (1: here, one after another), keeping no files."""
    return run_jobs(jobs, Backend(workers=workers))


def run_jobs(jobs: list[Job], backend: Backend, out_dir: Path | None = None, resume: bool = False) -> Run:
    """Run the jobs on ``backend``, with a progress bar, and return their rows in job order.

    With ``out_dir``, each finished row is appended to ``out_dir/episodes.jsonl`` at once, and
    ``resume`` skips the jobs whose rows are already there (``benchmarks.store``). Ctrl-C stops the
    run: ``run.interrupted`` is set and ``run.rows`` holds the episodes that finished."""
    store = EpisodeStore(out_dir, resume) if out_dir is not None else None
    keys = [job_key(job) for job in jobs]
    if store is not None:
        store.check_plan(keys)
    rows: list[dict[str, Any] | None] = [store.done.get(k) if store else None for k in keys]
    todo = [i for i, row in enumerate(rows) if row is None]
    bar = Progress(len(todo))
    run = Run(resumed=len(jobs) - len(todo), backend=backend.describe())
    finished = results(attempt, jobs, todo, backend, error_row, here=lambda job: in_process(job, backend))
    try:
        for i, row in finished:
            rows[i] = row
            if store is not None:
                store.add(row)
            bar.done(_label(jobs[i]))
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        finished.close()  # stops the workers and cancels the rest (a no-op when all finished)
        bar.close()
    run.rows = [row for row in rows if row is not None]
    for row in run.rows:
        run.decision_s.setdefault(row["agent"], []).extend(row.get("decision_s", []))
    if store is not None:
        store.rewrite([*run.rows, *store.unfinished(set(map(row_key, run.rows)))])
    return run
