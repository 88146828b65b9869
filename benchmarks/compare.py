"""Run scenarios × agents × seeds and write the paper-style report.

    python -m benchmarks.compare --quick
    python -m benchmarks.compare --scenarios scalability dynamic goal_switch --agents go offload \
        --seeds 10 --out results/full
    python -m benchmarks.compare --quick --agents sp-llm hybrid sp-dpp \
        --llm-base-url http://127.0.0.1:8080/v1 --llm-model my-model --llm-transcript llm.jsonl
    python -m benchmarks.compare --quick --agents sp-llm hybrid sp-dpp --llm-replay llm.jsonl

Writes ``<out>/episodes.jsonl`` and ``episodes.csv`` (one row per episode), ``report.md`` (tables
mirroring the paper's Tables 2-4, each cell mean ± 95% CI over seeds, plus per-agent decision
time), and PNG plots. Every number is computed from the episodes of this run. An agent that
cannot run here (unknown, or needing an endpoint, checkpoint or extra that is absent) is listed as
skipped with the reason.

The LLM agents (``sp-llm``, ``llm-dt``, ``hybrid``, ``hybrid-marl``) run when an endpoint is
configured (``--llm-base-url`` and ``--llm-model``, or ``OPENAI_BASE_URL`` and ``VECGYM_LLM_MODEL``;
the key only from ``OPENAI_API_KEY``) or a recorded transcript is given (``--llm-replay``). Without
either, the planner agents (``hybrid``, ``hybrid-marl``) run against the loopback stand-in planner
(``agents.llm.loopback``: the offline interpreter behind a local OpenAI-compatible server, not a
language model; the report says so) and the per-slot ones are listed as skipped with the reason.
The report then has, per LLM agent and scenario, the vehicles on the road, prompt and completion
tokens per call, LLM and decision latency (median, p99) and the fallback rate with its reasons.

Episodes run in ``--workers`` processes (default: one per CPU; ``--workers 1`` runs them here, one
after another). Each episode is seeded as in the serial run and rows are collected by job index, so
``episodes.jsonl`` is the same whatever the worker count (only decision times and wall-clock fields,
which measure the machine, differ). An episode that raises is kept as a row with ``"error"`` (its
traceback) and listed in the report; the other episodes finish.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import agents
from agents.rollout import StepRecord, rollout
from benchmarks.stats import fmt, mean_ci
from vecgym import scenarios

DEFAULT_AGENTS = ("oracle", "sp-dpp", "dpp", "s-marl", "gc-marl", "go", "offload", "random", "local")
DEFAULT_SCENARIOS = ("scalability", "dynamic", "goal_switch")
LLM_AGENTS = ("sp-llm", "llm-dt", "hybrid", "hybrid-marl")
#: The LLM agents that call the model once per command; they can run against the loopback planner.
PLANNER_AGENTS = ("hybrid", "hybrid-marl")
MARL_AGENTS = ("s-marl", "gc-marl")
#: Agents that need the marl extra and the shipped checkpoints.
NEEDS_MARL = (*MARL_AGENTS, "hybrid-marl")
#: The paper's agents that are not part of this release yet, and why they are skipped.
PLANNED: dict[str, str] = {}
#: Every agent's goal cost is compared, paired by seed, with these.
PAIRED_REFERENCES = ("go", "dpp")
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


def llm_setup(args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    """Keyword arguments for the LLM agents, or the reason they cannot run here."""
    try:
        import openai  # noqa: F401
        import tiktoken  # noqa: F401
    except ImportError:
        return {}, "needs the llm extra: pip install 'vecgym[llm]'"
    kw: dict[str, Any] = {"timeout_s": args.llm_timeout}
    if args.llm_exemplars:
        kw["exemplars"] = args.llm_exemplars
    if args.llm_replay:
        if not Path(args.llm_replay).is_file():
            return {}, f"--llm-replay {args.llm_replay}: no such file"
        return {**kw, "replay": args.llm_replay}, None
    from agents.llm import LLMConfig, LLMError

    try:
        LLMConfig.from_env(base_url=args.llm_base_url, model=args.llm_model)
    except (LLMError, ValueError) as exc:
        return {}, (
            "no LLM endpoint: pass --llm-base-url and --llm-model (or set OPENAI_BASE_URL and "
            f"VECGYM_LLM_MODEL), or --llm-replay FILE ({exc})"
        )
    kw.update(base_url=args.llm_base_url, model=args.llm_model)
    if args.llm_transcript:
        kw["transcript"] = args.llm_transcript
    return kw, None


def planner_setup(llm_kw: dict[str, Any], llm_missing: str | None, timeout_s: float) -> tuple[dict[str, Any], Any]:
    """Keyword arguments for the planner agents and the loopback server they use (or None).

    With an endpoint or a replay file the planners use it like the other LLM agents; without one
    (but with the llm extra) they talk to a ``LoopbackPlanner`` started here."""
    if not llm_missing or llm_missing.startswith("needs the llm extra") or llm_missing.startswith("--llm-replay"):
        return llm_kw, None
    from agents.llm import LoopbackPlanner

    server = LoopbackPlanner()
    return {"base_url": server.base_url, "model": server.model, "timeout_s": timeout_s}, server


def marl_missing() -> str | None:
    """Why the MARL agents cannot run here, or None."""
    try:
        import stable_baselines3  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return "needs the marl extra: pip install torch==2.13.0 'vecgym[marl]'"
    from agents.marl.agent import CHECKPOINT_DIR

    missing = [a for a in MARL_AGENTS if not (CHECKPOINT_DIR / f"{a}.zip").is_file()]
    return f"no shipped checkpoint {missing} in {CHECKPOINT_DIR}" if missing else None


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


def paired(rows: list[dict[str, Any]], agent: str, ref: str, key: str, **where: Any) -> list[float]:
    """(agent − ref) / ref of ``key``, per seed that both ran (paired seeds)."""
    mine = {r["seed"]: r[key] for r in _select(rows, agent=agent, **where)}
    theirs = {r["seed"]: r[key] for r in _select(rows, agent=ref, **where)}
    return [(mine[s] - theirs[s]) / abs(theirs[s]) for s in sorted(mine.keys() & theirs.keys()) if theirs[s]]


def paired_table(rows: list[dict[str, Any]], agent_names: list[str], variants: list[tuple[str, str]]) -> list[str]:
    """Goal cost of every agent relative to each reference in ``PAIRED_REFERENCES``, paired by seed."""
    refs = [r for r in PAIRED_REFERENCES if r in agent_names]
    others = [a for a in agent_names if a not in refs]
    if not refs or not others:
        return []
    labels = [s if v == "default" else f"{s} {v}" for s, v in variants]
    out = [
        "## Goal cost against go and dpp (paired seeds)",
        "",
        "(agent − reference) / reference of the episode goal cost, in %, per seed; mean ± 95% CI. Negative:",
        "the agent's cost is lower than the reference's.",
        "",
        "| Agent | vs | " + " | ".join(labels) + " |",
        "|---|---|" + "---:|" * len(labels),
    ]
    for agent in others:
        for ref in refs:
            cells = [
                fmt([100.0 * d for d in paired(rows, agent, ref, "goal_cost", scenario=s, variant=v)])
                for s, v in variants
            ]
            out.append(f"| {agent} | {ref} | " + " | ".join(cells) + " |")
    out.append("")
    return out


def _select(rows: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in kw.items())]


def report(run: Run, agent_names: list[str], scenario_names: list[str], seeds: list[int], cmd: str) -> str:
    rows = [r for r in run.rows if "error" not in r]
    failed = [r for r in run.rows if "error" in r]
    out = [
        "# vecgym benchmark report",
        "",
        f"Command: `{cmd}`  ",
        f"Seeds: {seeds}. Cells: mean ± 95% CI over seeds (Student t). All figures computed from this run.",
        "",
        "Goal channel: `interpreted` (agents that read goals see the goal an interpreter made of the operator's "
        'text). The scenarios\' hand-written ground truth (`goal_channel="truth"`) sets the reward only; as an '
        "observation it would be an oracle input, and no agent here reads it.",
        "",
        *[f"Note: {n}" for n in run.notes],
        *([""] if run.notes else []),
    ]
    if "scalability" in scenario_names:
        variants = sorted({r["variant"] for r in _select(rows, scenario="scalability")}, key=lambda v: float(v[2:]))
        out += ["## Table 2 — scalability: latency and QoS violation against N", ""]
        out += ["| Agent | Metric | " + " | ".join(variants) + " |", "|---|---|" + "---:|" * len(variants)]
        for agent in agent_names:
            for label, key in (("Latency (ms)", "latency_ms_mean"), ("Violation (%)", "violation_rate_pct")):
                cells = [
                    fmt([r[key] for r in _select(rows, scenario="scalability", variant=v, agent=agent)])
                    for v in variants
                ]
                out.append(f"| {agent} | {label} | " + " | ".join(cells) + " |")
        out.append("")
    if "dynamic" in scenario_names:
        out += ["## Table 3 — highly dynamic road", "", "| Metric | " + " | ".join(agent_names) + " |"]
        out.append("|---|" + "---:|" * len(agent_names))
        for label, key in (
            ("Average QoS violation rate (%)", "violation_rate_pct"),
            ("Peak QoS violation rate (%, 10-slot window)", "peak_violation_rate_pct"),
            ("Std. dev. of latency (ms)", "latency_ms_std"),
            ("Average latency (ms)", "latency_ms_mean"),
        ):
            cells = [fmt([r[key] for r in _select(rows, scenario="dynamic", agent=a)]) for a in agent_names]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    if "goal_switch" in scenario_names:
        out += [
            "## Table 4 — adaptation to the command at t = 51",
            "",
            f'Command: "{scenarios.PAPER_ENERGY_COMMAND}" Energy is the mean energy per slot (J); '
            "latency is that of the tasks completed in the phase (phase 2 includes phase-1 backlog).",
            "",
            "| Agent | Phase 1 energy (J/slot) | Phase 1 latency (ms) "
            "| Phase 2 energy (J/slot) | Phase 2 latency (ms) | Energy change (%, paired) "
            "| Latency change (%, paired) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for agent in agent_names:
            sel = _select(rows, scenario="goal_switch", agent=agent)
            cells = [
                fmt([r.get(k, float("nan")) for r in sel], 2 if "energy" in k else 1)
                for k in (
                    "phase1_energy_per_slot_j",
                    "phase1_latency_ms",
                    "phase2_energy_per_slot_j",
                    "phase2_latency_ms",
                )
            ]
            for what in ("energy_per_slot_j", "latency_ms"):
                change = [
                    100.0 * (r[f"phase2_{what}"] - r[f"phase1_{what}"]) / r[f"phase1_{what}"]
                    for r in sel
                    if r.get(f"phase1_{what}")
                ]
                cells.append(fmt(change))
            out.append(f"| {agent} | " + " | ".join(cells) + " |")
        out += ["", *goal_explanations(_select(rows, scenario="goal_switch"), agent_names), ""]
    others = [s for s in scenario_names if s not in ("scalability", "dynamic", "goal_switch")]
    for name in others:
        out += [
            f"## Scenario `{name}`",
            "",
            "| Agent | Latency (ms) | Named vehicles' latency (ms) | Violation (%) | Energy (J/slot) | Jain |",
        ]
        out.append("|---|---:|---:|---:|---:|---:|")
        for agent in agent_names:
            sel = _select(rows, scenario=name, agent=agent)
            out.append(
                f"| {agent} | {fmt([r['latency_ms_mean'] for r in sel])} "
                f"| {fmt([r.get('named_vehicles_latency_ms', float('nan')) for r in sel])} "
                f"| {fmt([r['violation_rate_pct'] for r in sel])} "
                f"| {fmt([r['energy_per_slot_j'] for r in sel], 2)} "
                f"| {fmt([r['jain_fairness'] for r in sel], 3)} |"
            )
        out.append("")
    variants = sorted(
        {(r["scenario"], r["variant"]) for r in rows}, key=lambda sv: (scenario_names.index(sv[0]), sv[1])
    )
    out += [
        "## Goal cost (−episode reward, lower is better)",
        "",
        "The objective every agent is judged by: the reward's QoS, energy and fairness terms under the",
        "scenario's ground-truth goals, summed over the episode.",
        "",
        "| Scenario | " + " | ".join(agent_names) + " |",
        "|---|" + "---:|" * len(agent_names),
    ]
    for scenario, variant in variants:
        label = scenario if variant == "default" else f"{scenario} {variant}"
        cells = [
            fmt([-r["reward"] for r in _select(rows, scenario=scenario, variant=variant, agent=a)]) for a in agent_names
        ]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("")
    out += paired_table(rows, agent_names, variants)
    out += [
        "## Decision time per slot (one core)",
        "",
        "| Agent | median (ms) | p99 (ms) | max (ms) | slots |",
        "|---|---:|---:|---:|---:|",
    ]
    for agent in agent_names:
        d = np.asarray(run.decision_s.get(agent, []), dtype=np.float64) * 1e3
        if d.size:
            out.append(f"| {agent} | {np.median(d):.3f} | {np.percentile(d, 99):.3f} | {d.max():.3f} | {d.size} |")
    out.append("")
    llm_rows = [r for r in rows if "llm_calls" in r]
    if llm_rows:
        out += [
            "## LLM agents: tokens, latency and fallbacks",
            "",
            "Per call (sp-llm and llm-dt call once per slot, hybrid once per operator command). Tokens are",
            "counted with tiktoken's o200k_base; the server's own usage counts are in episodes.csv.",
            "",
            "| Agent | Scenario | Vehicles | Calls / episode | Prompt tokens | Completion tokens "
            "| LLM ms (median / p99) | Decision ms (median / p99) | Fallback rate | Reasons |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        groups = sorted({(r["agent"], r["scenario"], r["variant"]) for r in llm_rows})
        for agent, scenario, variant in groups:
            sel = _select(llm_rows, agent=agent, scenario=scenario, variant=variant)
            reasons: dict[str, int] = {}
            for r in sel:
                for k, v in json.loads(r["llm_fallback_reasons"]).items():
                    reasons[k] = reasons.get(k, 0) + v

            def cell(key: str, digits: int = 0, sel: list[dict[str, Any]] = sel) -> str:
                vals = [r[key] for r in sel if key in r]
                return f"{np.mean(vals):.{digits}f}" if vals else "n/a"

            label = scenario if variant == "default" else f"{scenario} {variant}"
            why = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) or "-"
            out.append(
                f"| {agent} | {label} | {cell('vehicles_mean', 1)} | {cell('llm_calls', 1)} "
                f"| {cell('llm_prompt_tokens_mean')} | {cell('llm_completion_tokens_mean')} "
                f"| {cell('llm_llm_ms_median')} / {cell('llm_llm_ms_p99')} "
                f"| {cell('llm_decision_ms_median', 1)} / {cell('llm_decision_ms_p99', 1)} "
                f"| {cell('llm_fallback_rate', 3)} | {why} |"
            )
        out.append("")
    if failed:
        out += [
            "## Failed episodes",
            "",
            f"{len(failed)} episode(s) raised; their tracebacks are in episodes.jsonl (`error`). The tables above",
            "are computed from the episodes that finished.",
            "",
            "| Scenario | Variant | Agent | Seed | Error |",
            "|---|---|---|---:|---|",
        ]
        for r in failed:
            last = (r["error"].strip().splitlines() or [""])[-1].replace("|", "\\|")
            out.append(f"| {r['scenario']} | {r['variant']} | {r['agent']} | {r['seed']} | {last} |")
        out.append("")
    if run.skipped:
        out += ["## Skipped agents", "", "| Agent | Reason |", "|---|---|"]
        out += [f"| {a} | {why} |" for a, why in run.skipped.items()]
        out.append("")
    return "\n".join(out)


def goal_explanations(rows: list[dict[str, Any]], agent_names: list[str]) -> list[str]:
    """The goal change each agent acted on, explained (``vecgym.explain``), one line per distinct text."""
    texts: dict[str, list[str]] = {}
    for agent in agent_names:
        for r in _select(rows, agent=agent):
            if r.get("goal_explanation") and agent not in texts.setdefault(r["goal_explanation"], []):
                texts[r["goal_explanation"]].append(agent)
    if not texts:
        return []
    out = ["How the command was read (the interpreted goal channel; a planner agent's own reading):", ""]
    out += [f"* {', '.join(who)}: {text}" for text, who in texts.items()]
    return out


def plots(run: Run, agent_names: list[str], out_dir: Path) -> list[Path]:
    """PNG plots of latency / violation against N and of energy per phase; needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    done = [r for r in run.rows if "error" not in r]
    rows = _select(done, scenario="scalability")
    if rows:
        variants = sorted({r["variant"] for r in rows}, key=lambda v: float(v[2:]))
        ns = [float(v[2:]) for v in variants]
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for agent in agent_names:
            for ax, key in zip(axes, ("latency_ms_mean", "violation_rate_pct"), strict=True):
                stats = [mean_ci([r[key] for r in rows if r["variant"] == v and r["agent"] == agent]) for v in variants]
                ax.errorbar(ns, [s[0] for s in stats], yerr=[0 if math.isnan(s[1]) else s[1] for s in stats],
                            marker="o", capsize=3, label=agent)  # fmt: skip
        axes[0].set(xlabel="vehicles N", ylabel="mean latency (ms)", yscale="log", title="Scalability: latency")
        axes[1].set(xlabel="vehicles N", ylabel="QoS violation (%)", title="Scalability: violations")
        axes[0].legend()
        fig.tight_layout()
        path = out_dir / "scalability.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    rows = _select(done, scenario="goal_switch")
    if rows:
        fig, ax = plt.subplots(figsize=(6, 4))
        x = np.arange(len(agent_names))
        for i, phase in enumerate(("phase1", "phase2")):
            stats = [
                mean_ci([r.get(f"{phase}_energy_per_slot_j", np.nan) for r in rows if r["agent"] == a])
                for a in agent_names
            ]
            ax.bar(
                x + 0.4 * i,
                [s[0] for s in stats],
                width=0.4,
                label=f"{phase} (t {'1-50' if i == 0 else '51-100'})",
            )
        ax.set_xticks(x + 0.2, agent_names)
        ax.set(ylabel="energy per slot (J)", title="Goal switch: energy before / after the command")
        ax.legend()
        fig.tight_layout()
        path = out_dir / "goal_switch.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    return made


def proactivity_section(seeds: list[int], slots: int | None, out_dir: Path) -> str:
    """The proactivity study (``benchmarks.proactivity``) on these seeds, as a report section."""
    from benchmarks import proactivity

    argv = ["--seeds", str(len(seeds)), "--out", str(out_dir)] + (["--slots", str(slots)] if slots else [])
    text = proactivity.main(argv).read_text()
    body = text.split("\n", 1)[1].replace("\n### ", "\n#### ").replace("\n## ", "\n### ")
    return "## Proactivity (benchmarks.proactivity)\n" + body + f"\n![frontier]({out_dir.name}/frontier.png)\n"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=list(DEFAULT_SCENARIOS), help=f"of {scenarios.names()}")
    parser.add_argument("--agents", nargs="+", default=None, help=f"default: {' '.join(DEFAULT_AGENTS)}")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (0, 1, ...); default 10, quick 2")
    parser.add_argument("--slots", type=int, default=None, help="slots per episode (default: the scenario's)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default results/<time>)")
    parser.add_argument(
        "--quick", action="store_true", help="2 seeds, 60-slot episodes, no oracle: about a minute on one core"
    )
    parser.add_argument(
        "--proactivity",
        action="store_true",
        help="also run the proactivity study (benchmarks.proactivity, same seeds and slots) and add its section",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="episodes run at once, in worker processes (default: one per CPU); 1 runs them here, in turn",
    )
    llm = parser.add_argument_group("LLM agents (sp-llm, llm-dt, hybrid); the API key only from OPENAI_API_KEY")
    llm.add_argument("--llm-base-url", default=None, help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL)")
    llm.add_argument("--llm-model", default=None, help="model name (default: VECGYM_LLM_MODEL)")
    llm.add_argument("--llm-timeout", type=float, default=30.0, help="per-request timeout in s (default 30)")
    llm.add_argument("--llm-replay", default=None, help="answer from this recorded transcript, no server")
    llm.add_argument("--llm-transcript", default=None, help="append every LLM call to this JSONL file")
    llm.add_argument("--llm-exemplars", default=None, help="exemplar pool file (default: the shipped pool)")
    args = parser.parse_args(argv)
    for name in args.scenarios:
        scenarios.get(name)  # unknown names fail before any work
    n_seeds = args.seeds if args.seeds is not None else (2 if args.quick else 10)
    if n_seeds < 1:
        parser.error("--seeds must be >= 1")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    slots = args.slots if args.slots is not None else (60 if args.quick else None)  # goal_switch: command at 50
    seeds = list(range(n_seeds))
    llm_kw, llm_missing = llm_setup(args)
    planner_kw, loopback = planner_setup(llm_kw, llm_missing, args.llm_timeout)
    planners_run = bool(planner_kw)
    # --quick leaves out the oracle (a bound that replays the future: the slowest agent).
    defaults = [a for a in DEFAULT_AGENTS if not (args.quick and a == "oracle")]
    defaults += list(LLM_AGENTS) if not llm_missing else list(PLANNER_AGENTS) if planners_run else []
    requested = args.agents or defaults
    unavailable = {a: llm_missing for a in LLM_AGENTS if llm_missing and not (planners_run and a in PLANNER_AGENTS)}
    why_marl = marl_missing()
    unavailable.update({a: why_marl for a in NEEDS_MARL if why_marl and a not in unavailable})
    run_agents = [a for a in requested if a in agents.available() and a not in unavailable]
    out_dir = args.out or Path("results") / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = "python -m benchmarks.compare " + " ".join(argv if argv is not None else sys.argv[1:])
    agent_kw = {a: llm_kw for a in LLM_AGENTS} | {a: planner_kw for a in PLANNER_AGENTS}
    try:
        run = execute(plan(args.scenarios, run_agents, seeds, slots, agent_kw), workers=args.workers)
    finally:
        if loopback is not None:
            loopback.close()
    if loopback is not None:
        run.notes.append(
            "hybrid and hybrid-marl ran against the loopback stand-in planner (`agents.llm.loopback`): the "
            "offline interpreter behind a local OpenAI-compatible server, not a language model. Their goals are "
            "parse_command's; the figures measure the planner-executor loop, not an LLM's reading of the command."
        )
    for a in requested:
        if a not in run_agents:
            run.skipped[a] = unavailable.get(a) or PLANNED.get(
                a, f"unknown agent; available: {', '.join(agents.available())}"
            )
    if args.agents is None:
        if args.quick:
            run.skipped["oracle"] = "left out by --quick (the slowest agent); name it in --agents to run it"
        available = agents.available()
        run.skipped.update({a: why for a, why in unavailable.items() if a not in run.skipped})
        run.skipped.update({a: why for a, why in PLANNED.items() if a not in run.skipped and a not in available})
    with open(out_dir / "episodes.jsonl", "w") as f:
        for row in run.rows:
            f.write(json.dumps(row) + "\n")
    keys = sorted(
        {k for r in run.rows for k in r}, key=lambda k: (k not in ("scenario", "variant", "agent", "seed"), k)
    )
    with open(out_dir / "episodes.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(run.rows)
    text = report(run, run_agents, args.scenarios, seeds, cmd)
    pngs = plots(run, run_agents, out_dir)
    text += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in pngs) + "\n"
    if args.proactivity:
        text += "\n" + proactivity_section(seeds, slots, out_dir / "proactivity")
    (out_dir / "report.md").write_text(text)
    print(text)
    print(f"\nwrote {out_dir}/report.md, episodes.jsonl, episodes.csv and {len(pngs)} plot(s)")
    return out_dir


if __name__ == "__main__":
    main()
