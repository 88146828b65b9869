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

import csv
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import agents
from benchmarks.backends import Backend
from benchmarks.cli import opt, parse
from benchmarks.report import plots, report
from benchmarks.runner import Job, Run, execute, plan, run_jobs
from vecgym import scenarios

__all__ = ["Args", "Job", "Run", "execute", "main", "plan", "plots", "report"]

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
LLM_GROUP = "LLM agents (sp-llm, llm-dt, hybrid); the API key only from OPENAI_API_KEY"
LOOPBACK_NOTE = (
    "hybrid and hybrid-marl ran against the loopback stand-in planner (`agents.llm.loopback`): the "
    "offline interpreter behind a local OpenAI-compatible server, not a language model. Their goals are "
    "parse_command's; the figures measure the planner-executor loop, not an LLM's reading of the command."
)


def llm_setup(args: Args) -> tuple[dict[str, Any], str | None]:
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


def proactivity_section(seeds: list[int], slots: int | None, out_dir: Path) -> str:
    """The proactivity study (``benchmarks.proactivity``) on these seeds, as a report section."""
    from benchmarks import proactivity

    argv = ["--seeds", str(len(seeds)), "--out", str(out_dir)] + (["--slots", str(slots)] if slots else [])
    text = proactivity.main(argv).read_text()
    body = text.split("\n", 1)[1].replace("\n### ", "\n#### ").replace("\n## ", "\n### ")
    return "## Proactivity (benchmarks.proactivity)\n" + body + f"\n![frontier]({out_dir.name}/frontier.png)\n"


@dataclass
class Args:
    """``python -m benchmarks.compare`` options (``--help`` lists them)."""

    scenarios: list[str] = opt(list(DEFAULT_SCENARIOS), f"of {scenarios.names()}")
    agents: list[str] | None = opt(None, f"default: {' '.join(DEFAULT_AGENTS)}")
    seeds: int | None = opt(None, "number of seeds (0, 1, ...); default 10, quick 2")
    slots: int | None = opt(None, "slots per episode (default: the scenario's)")
    out: Path | None = opt(None, "output folder (default results/<time>)", metavar="DIR")
    quick: bool = opt(False, "2 seeds, 60-slot episodes, no oracle: about a minute on one core")
    proactivity: bool = opt(
        False, "also run the proactivity study (benchmarks.proactivity, same seeds and slots) and add its section"
    )
    workers: int = opt(
        os.cpu_count() or 1,
        "episodes run at once, in worker processes (default: one per CPU); 1 runs them here, in turn",
    )
    ray: str | None = opt(
        None,
        "run the episodes as Ray tasks (pip install 'vecgym[ray]'): alone, on a local Ray instance with "
        "--workers CPUs; with an ADDRESS (auto, ray://head:10001), on that cluster",
        const="",
        metavar="ADDRESS",
    )
    resume: Path | None = opt(
        None,
        "continue the run in this folder: skip the episodes already in its episodes.jsonl (implies --out)",
        metavar="DIR",
    )
    llm_base_url: str | None = opt(None, "OpenAI-compatible endpoint (default: OPENAI_BASE_URL)", group=LLM_GROUP)
    llm_model: str | None = opt(None, "model name (default: VECGYM_LLM_MODEL)", group=LLM_GROUP)
    llm_timeout: float = opt(30.0, "per-request timeout in s (default 30)", group=LLM_GROUP)
    llm_replay: str | None = opt(None, "answer from this recorded transcript, no server", group=LLM_GROUP)
    llm_transcript: str | None = opt(None, "append every LLM call to this JSONL file", group=LLM_GROUP)
    llm_exemplars: str | None = opt(None, "exemplar pool file (default: the shipped pool)", group=LLM_GROUP)

    def __post_init__(self) -> None:
        for name in self.scenarios:
            scenarios.get(name)  # unknown names fail before any work
        if self.seeds is not None and self.seeds < 1:
            raise ValueError("--seeds must be >= 1")
        if self.workers < 1:
            raise ValueError("--workers must be >= 1")
        if self.resume is not None and self.out is not None and self.out != self.resume:
            raise ValueError("--resume DIR writes to DIR: leave out --out, or give the same folder")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds if self.seeds is not None else (2 if self.quick else 10)))

    @property
    def episode_slots(self) -> int | None:
        return self.slots if self.slots is not None else (60 if self.quick else None)  # goal_switch: command at 50


@dataclass
class Agents:
    """Which agents run, with their keyword arguments, and why the others are skipped."""

    requested: list[str]
    run: list[str]
    unavailable: dict[str, str]
    kw: dict[str, dict[str, Any]]
    loopback: Any = None


def choose_agents(args: Args) -> Agents:
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
    kw = {a: llm_kw for a in LLM_AGENTS} | {a: planner_kw for a in PLANNER_AGENTS}
    return Agents(requested, run_agents, unavailable, kw, loopback)


def skipped(args: Args, chosen: Agents) -> dict[str, str]:
    """Each requested (or, by default, each known) agent that did not run, with the reason."""
    out = {}
    for a in chosen.requested:
        if a not in chosen.run:
            out[a] = chosen.unavailable.get(a) or PLANNED.get(
                a, f"unknown agent; available: {', '.join(agents.available())}"
            )
    if args.agents is None:
        if args.quick:
            out["oracle"] = "left out by --quick (the slowest agent); name it in --agents to run it"
        out.update({a: why for a, why in chosen.unavailable.items() if a not in out})
        available = agents.available()
        out.update({a: why for a, why in PLANNED.items() if a not in out and a not in available})
    return out


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """The rows as CSV, without the per-slot lists (``decision_s``; they are in the JSONL)."""
    keys = sorted(
        {k for r in rows for k, v in r.items() if not isinstance(v, list)},
        key=lambda k: (k not in ("scenario", "variant", "agent", "seed"), k),
    )
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> Path:
    args = parse(Args, argv, description=__doc__)
    chosen = choose_agents(args)
    out_dir = args.resume or args.out or Path("results") / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = "python -m benchmarks.compare " + " ".join(argv if argv is not None else sys.argv[1:])
    jobs = plan(args.scenarios, chosen.run, args.seed_list, args.episode_slots, chosen.kw)
    backend = Backend(workers=args.workers, ray_address=args.ray)
    try:
        run = run_jobs(jobs, backend, out_dir=out_dir, resume=args.resume is not None)
    finally:
        if chosen.loopback is not None:
            chosen.loopback.close()
    if chosen.loopback is not None:
        run.notes.append(LOOPBACK_NOTE)
    if run.resumed:
        run.notes.append(f"{run.resumed} of {len(jobs)} episodes were taken from {out_dir}/episodes.jsonl (--resume).")
    if run.interrupted:
        run.notes.append(
            f"Interrupted (Ctrl-C) after {len(run.rows)} of {len(jobs)} episodes; the tables cover those. "
            f"To finish: python -m benchmarks.compare ... --resume {out_dir}"
        )
    run.skipped = skipped(args, chosen)
    write_csv(run.rows, out_dir / "episodes.csv")
    text = report(run, chosen.run, args.scenarios, args.seed_list, cmd)
    pngs = plots(run, chosen.run, out_dir)
    text += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in pngs) + "\n"
    if args.proactivity and not run.interrupted:
        text += "\n" + proactivity_section(args.seed_list, args.episode_slots, out_dir / "proactivity")
    (out_dir / "report.md").write_text(text)
    print(text)
    print(f"\nwrote {out_dir}/report.md, episodes.jsonl, episodes.csv and {len(pngs)} plot(s)")
    if run.interrupted:
        print(f"interrupted: resume with --resume {out_dir}", file=sys.stderr)
        raise SystemExit(130)
    return out_dir


if __name__ == "__main__":
    main()
