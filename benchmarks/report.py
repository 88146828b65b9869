"""The compare report: markdown tables and PNG plots computed from a run's episode rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.runner import Run
from benchmarks.stats import fmt, mean_ci
from vecgym import scenarios

#: Every agent's goal cost is compared, paired by seed, with these.
PAIRED_REFERENCES = ("go", "dpp")


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
