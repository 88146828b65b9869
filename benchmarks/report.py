"""The compare report: the tables it prints (``TABLES``, specs rendered by ``benchmarks.tables``)
around a fixed header and the failed-episode and skipped-agent sections, and its PNG plots.

Which table a scenario gets follows from its data, not its name: an N sweep gets the N table, a
mid-episode command the phase table (phases from its command schedule, ``benchmarks.phases``), a
scenario that is not one of the paper's tables the per-scenario table. Add a table by adding a spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import phases
from benchmarks.runner import Run
from benchmarks.stats import mean_ci
from benchmarks.tables import (
    AGENTS,
    EPISODE_GROUPS,
    METRICS,
    SCENARIO_VARIANTS,
    VARIANTS,
    Context,
    Coord,
    Metric,
    Pooled,
    Table,
    agents_except,
    mean,
    mid_commands,
    phase_change,
    references,
    render,
    summed_counts,
    vs_reference,
)
from vecgym import scenarios
from vecgym.scenarios import Scenario

#: Every agent's goal cost is compared, paired by seed, with these.
PAIRED_REFERENCES = ("go", "dpp")


def named(*names: str) -> Callable[[Scenario], bool]:
    return lambda sc: sc.name in names


def has_sweep(sc: Scenario) -> bool:
    return bool(sc.sweep)


def has_mid_command(sc: Scenario) -> bool:
    return bool(mid_commands(sc))


def not_a_paper_table(sc: Scenario) -> bool:
    return not sc.paper_table and not sc.sweep


def phase_metrics(ctx: Context) -> tuple[Metric, ...]:
    """Energy and latency per phase of the section's scenario, then their paired changes from each
    phase to the next."""
    assert ctx.scenario is not None
    n = len(phases.bounds([c.slot for c in ctx.scenario.commands], ctx.scenario.n_slots))
    kinds = (("energy_per_slot_j", "energy (J/slot)", "Energy", 2), ("latency_ms", "latency (ms)", "Latency", 1))
    values = [
        Metric(f"phase{k}_{key}", f"Phase {k} {unit}", digits)
        for k in range(1, n + 1)
        for key, unit, _, digits in kinds
    ]
    changes = [
        Metric(
            (f"phase{k}_{key}", f"phase{k + 1}_{key}"),
            f"{name} change{'' if n == 2 else f' {k}→{k + 1}'} (%, paired)",
            agg=phase_change,
        )
        for key, _, name, _ in kinds
        for k in range(1, n)
    ]
    return (*values, *changes)


def explanations(ctx: Context) -> list[str]:
    assert ctx.scenario is not None
    return goal_explanations([r for r in ctx.rows if r["scenario"] == ctx.scenario.name], list(ctx.agents))


def has_decision_times(ctx: Context, coord: Coord) -> bool:
    return bool(ctx.run.decision_s.get(coord["agent"]))


TABLES: tuple[Table, ...] = (
    Table(
        "{heading} — {name}: latency and QoS violation against N",
        rows=(AGENTS, METRICS),
        cols=VARIANTS,
        metrics=(Metric("latency_ms_mean", "Latency (ms)"), Metric("violation_rate_pct", "Violation (%)")),
        scenarios=has_sweep,
    ),
    Table(
        "{heading} — highly dynamic road",
        rows=(METRICS,),
        cols=AGENTS,
        metrics=(
            Metric("violation_rate_pct", "Average QoS violation rate (%)"),
            Metric("peak_violation_rate_pct", "Peak QoS violation rate (%, 10-slot window)"),
            Metric("latency_ms_std", "Std. dev. of latency (ms)"),
            Metric("latency_ms_mean", "Average latency (ms)"),
        ),
        scenarios=named("dynamic"),
    ),
    Table(
        "{heading} — adaptation to {at}",
        rows=(AGENTS,),
        cols=METRICS,
        metrics=phase_metrics,
        scenarios=has_mid_command,
        intro=(
            "{commands} Energy is the mean energy per slot (J); latency is that of the tasks completed in the phase "
            "(phase 2 includes phase-1 backlog).",
        ),
        footer=explanations,
    ),
    Table(
        "{heading}",
        rows=(AGENTS,),
        cols=METRICS,
        metrics=(
            Metric("latency_ms_mean", "Latency (ms)"),
            Metric("named_vehicles_latency_ms", "Named vehicles' latency (ms)"),
            Metric("violation_rate_pct", "Violation (%)"),
            Metric("energy_per_slot_j", "Energy (J/slot)", 2),
            Metric("jain_fairness", "Jain", 3),
        ),
        scenarios=not_a_paper_table,
    ),
    Table(
        "Goal cost (−episode reward, lower is better)",
        rows=(SCENARIO_VARIANTS,),
        cols=AGENTS,
        metrics=(Metric("goal_cost", "Goal cost"),),
        intro=(
            "The objective every agent is judged by: the reward's QoS, energy and fairness terms under the",
            "scenario's ground-truth goals, summed over the episode.",
        ),
    ),
    Table(
        "Goal cost against go and dpp (paired seeds)",
        rows=(agents_except(PAIRED_REFERENCES), references(PAIRED_REFERENCES)),
        cols=SCENARIO_VARIANTS,
        metrics=(Metric("goal_cost", "Goal cost vs reference (%)", agg=vs_reference),),
        intro=(
            "(agent − reference) / reference of the episode goal cost, in %, per seed; mean ± 95% CI. Negative:",
            "the agent's cost is lower than the reference's.",
        ),
        optional=True,
    ),
    Table(
        "Decision time per slot (one core)",
        rows=(AGENTS,),
        cols=METRICS,
        metrics=(
            Metric("decision_s", "median (ms)", 3, Pooled("median")),
            Metric("decision_s", "p99 (ms)", 3, Pooled("p99")),
            Metric("decision_s", "max (ms)", 3, Pooled("max")),
            Metric("decision_s", "slots", 0, Pooled("count")),
        ),
        where=has_decision_times,
    ),
    Table(
        "LLM agents: tokens, latency and fallbacks",
        rows=(EPISODE_GROUPS,),
        cols=METRICS,
        metrics=(
            Metric("vehicles_mean", "Vehicles", 1, mean),
            Metric("llm_calls", "Calls / episode", 1, mean),
            Metric("llm_prompt_tokens_mean", "Prompt tokens", 0, mean),
            Metric("llm_completion_tokens_mean", "Completion tokens", 0, mean),
            Metric(("llm_llm_ms_median", "llm_llm_ms_p99"), "LLM ms (median / p99)", 0, mean),
            Metric(("llm_decision_ms_median", "llm_decision_ms_p99"), "Decision ms (median / p99)", 1, mean),
            Metric("llm_fallback_rate", "Fallback rate", 3, mean),
            Metric("llm_fallback_reasons", "Reasons", agg=summed_counts, numeric=False),
        ),
        intro=(
            "Per call (sp-llm and llm-dt call once per slot, hybrid once per operator command). Tokens are",
            "counted with tiktoken's o200k_base; the server's own usage counts are in episodes.csv.",
        ),
        require="llm_calls",
        optional=True,
    ),
)


def report(
    run: Run,
    agent_names: list[str],
    scenario_names: list[str],
    seeds: list[int],
    cmd: str,
    tables: tuple[Table, ...] = TABLES,
) -> str:
    """The markdown report: header, every table of ``tables``, failed episodes, skipped agents."""
    done = [r for r in run.rows if "error" not in r]
    ctx = Context(run, done, tuple(agent_names), tuple(scenario_names))
    out = header(run, seeds, cmd)
    for table in tables:
        out += render(table, ctx)
    out += failed_section([r for r in run.rows if "error" in r])
    out += skipped_section(run.skipped)
    return "\n".join(out)


def header(run: Run, seeds: list[int], cmd: str) -> list[str]:
    return [
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


def failed_section(failed: list[dict[str, Any]]) -> list[str]:
    if not failed:
        return []
    out = [
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
    return [*out, ""]


def skipped_section(skipped: dict[str, str]) -> list[str]:
    if not skipped:
        return []
    return [
        "## Skipped agents",
        "",
        "| Agent | Reason |",
        "|---|---|",
        *[f"| {a} | {why} |" for a, why in skipped.items()],
        "",
    ]


def goal_explanations(rows: list[dict[str, Any]], agent_names: list[str]) -> list[str]:
    """The goal change each agent acted on, explained (``vecgym.explain``), one line per distinct text."""
    texts: dict[str, list[str]] = {}
    for agent in agent_names:
        for r in rows:
            if (
                r["agent"] == agent
                and r.get("goal_explanation")
                and agent not in texts.setdefault(r["goal_explanation"], [])
            ):
                texts[r["goal_explanation"]].append(agent)
    if not texts:
        return []
    out = ["How the command was read (the interpreted goal channel; a planner agent's own reading):", ""]
    out += [f"* {', '.join(who)}: {text}" for text, who in texts.items()]
    return out


# --- plots ------------------------------------------------------------------------------------------


def plots(run: Run, agent_names: list[str], out_dir: Path) -> list[Path]:
    """PNG plots: latency / violation against N for each scenario with an N sweep, energy per phase
    for each scenario with a mid-episode command; needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    done = [r for r in run.rows if "error" not in r]
    made = []
    for name in dict.fromkeys(r["scenario"] for r in done):
        sc, rows = scenarios.get(name), [r for r in done if r["scenario"] == name]
        if sc.sweep:
            made.append(sweep_plot(sc, rows, agent_names, out_dir))
        if mid_commands(sc):
            made.append(phase_plot(sc, rows, agent_names, out_dir))
    return made


def _title(sc: Scenario) -> str:
    return sc.name.replace("_", " ").capitalize()


def sweep_plot(sc: Scenario, rows: list[dict[str, Any]], agent_names: list[str], out_dir: Path) -> Path:
    import matplotlib.pyplot as plt

    variants = sorted({r["variant"] for r in rows}, key=lambda v: float(v[2:]))
    ns = [float(v[2:]) for v in variants]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for agent in agent_names:
        for ax, key in zip(axes, ("latency_ms_mean", "violation_rate_pct"), strict=True):
            stats = [mean_ci([r[key] for r in rows if r["variant"] == v and r["agent"] == agent]) for v in variants]
            ax.errorbar(ns, [s[0] for s in stats], yerr=[0 if math.isnan(s[1]) else s[1] for s in stats],
                        marker="o", capsize=3, label=agent)  # fmt: skip
    axes[0].set(xlabel="vehicles N", ylabel="mean latency (ms)", yscale="log", title=f"{_title(sc)}: latency")
    axes[1].set(xlabel="vehicles N", ylabel="QoS violation (%)", title=f"{_title(sc)}: violations")
    axes[0].legend()
    return _save(fig, out_dir / f"{sc.name}.png")


def phase_plot(sc: Scenario, rows: list[dict[str, Any]], agent_names: list[str], out_dir: Path) -> Path:
    """Energy per slot of each phase, per agent; phases labelled with their (1-based) slots."""
    import matplotlib.pyplot as plt

    n_slots = max((int(r["slots"]) for r in rows if "slots" in r), default=sc.n_slots)
    spans = phases.bounds([c.slot for c in sc.commands], n_slots)
    width = 0.8 / len(spans)
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(len(agent_names))
    for k, (a, b) in enumerate(spans, start=1):
        stats = [
            mean_ci([r.get(f"phase{k}_energy_per_slot_j", np.nan) for r in rows if r["agent"] == agent])
            for agent in agent_names
        ]
        ax.bar(x + width * (k - 1), [s[0] for s in stats], width=width, label=f"phase{k} (t {a + 1}-{b})")
    ax.set_xticks(x + width * (len(spans) - 1) / 2, agent_names)
    ax.set(ylabel="energy per slot (J)", title=f"{_title(sc)}: energy before / after the command")
    ax.legend()
    return _save(fig, out_dir / f"{sc.name}.png")


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
