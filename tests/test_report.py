"""The compare report as table specs: the golden report, a new spec, phases from the command schedule."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.rollout import EpisodeResult
from benchmarks import phases, report
from benchmarks.runner import Run
from benchmarks.stats import fmt
from benchmarks.tables import AGENTS, METRICS, SCENARIO_VARIANTS, Metric, Table
from vecgym import scenarios
from vecgym.schedule import ScheduledCommand

GOLDEN = Path(__file__).parent / "golden" / "report"


def _golden() -> tuple[Run, dict[str, Any]]:
    data = json.loads((GOLDEN / "run.json").read_text())
    return Run(rows=data["rows"], decision_s=data["decision_s"], skipped=data["skipped"], notes=data["notes"]), data


def _render(run: Run, data: dict[str, Any], **kw: Any) -> str:
    return report.report(run, data["agents"], data["scenarios"], data["seeds"], data["cmd"], **kw)


def test_the_specs_render_the_recorded_report_byte_for_byte() -> None:
    run, data = _golden()
    assert _render(run, data) == (GOLDEN / "report.md").read_text()


def test_unknown_row_keys_are_ignored() -> None:
    run, data = _golden()
    noisy = [{**r, "wall_s": 1.5, "worker": 7, "host": "h", "decision_s": [0.1, 0.2]} for r in run.rows]
    assert _render(replace(run, rows=noisy), data) == (GOLDEN / "report.md").read_text()


def test_a_new_spec_renders_without_touching_the_renderer() -> None:
    run, data = _golden()
    energy = Table(
        "Energy per slot (J)",
        rows=(AGENTS,),
        cols=SCENARIO_VARIANTS,
        metrics=(Metric("energy_per_slot_j", "Energy (J/slot)", 2),),
        intro=("One more table.",),
    )
    per_scenario = Table(
        "{heading}: handovers",
        rows=(METRICS,),
        cols=AGENTS,
        metrics=(Metric("handovers", "Handovers", 0), Metric("tasks_dropped", "Dropped", 0)),
        scenarios=lambda sc: sc.name in ("dynamic", "priority"),
    )
    text = _render(run, data, tables=(*report.TABLES, energy, per_scenario))
    old = (GOLDEN / "report.md").read_text()
    before, after = old.split("## Failed episodes")
    assert text.startswith(before) and text.endswith("## Failed episodes" + after)
    added = text[len(before) : -len("## Failed episodes" + after)].split("\n")
    assert added[:4] == ["## Energy per slot (J)", "", "One more table.", ""]
    assert (
        added[4]
        == "| Agent | scalability N=10 | scalability N=20 | scalability N=30 | dynamic | goal_switch | priority |"
    )
    done = [r for r in run.rows if "error" not in r]
    dpp_dynamic = fmt([r["energy_per_slot_j"] for r in done if r["agent"] == "dpp" and r["scenario"] == "dynamic"], 2)
    assert added[6].startswith("| dpp | ") and added[6].split(" | ")[4] == dpp_dynamic
    assert "## Table 3: handovers" in added and "## Scenario `priority`: handovers" in added
    assert "## Table 2: handovers" not in added


def test_the_phase_table_follows_the_command_schedule_not_the_name() -> None:
    """goal_switch's episodes relabelled as emergency (command at slot 20 of 400, no paper table)."""
    run, _ = _golden()
    rows = [{**r, "scenario": "emergency"} for r in run.rows if r.get("scenario") == "goal_switch"]
    text = report.report(replace(run, rows=rows), ["dpp", "hybrid"], ["emergency"], [0, 1], "cmd")
    assert "## Scenario `emergency` — adaptation to the command at t = 21" in text
    assert f'Command: "{scenarios.EMERGENCY_COMMAND}" Energy is' in text
    assert "## Scenario `emergency`\n" in text  # and its per-scenario table
    dpp = [r for r in rows if r["agent"] == "dpp"]
    line = next(x for x in text.splitlines() if x.startswith("| dpp | ") and "J" not in x)
    assert line.split(" | ")[1] == fmt([r["phase1_energy_per_slot_j"] for r in dpp], 2)


def test_three_phases_get_stepwise_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    base = scenarios.get("goal_switch")
    cmds = (ScheduledCommand(0, "balanced"), ScheduledCommand(10, "save energy"), ScheduledCommand(30, "go fast"))
    sc = replace(base, name="two_switches", commands=cmds, n_slots=60, paper_table="")
    monkeypatch.setitem(scenarios.SCENARIOS, sc.name, sc)
    row = {"scenario": sc.name, "variant": "default", "agent": "go", "seed": 0}
    row |= {f"phase{k}_energy_per_slot_j": float(k) for k in (1, 2, 3)}
    row |= {f"phase{k}_latency_ms": 10.0 * k for k in (1, 2, 3)}
    text = report.report(Run(rows=[row]), ["go"], [sc.name], [0], "cmd")
    assert "## Scenario `two_switches` — adaptation to the commands at t = 11 and t = 31" in text
    assert 'Commands: "save energy" (t = 11), "go fast" (t = 31) Energy is' in text
    assert "| Energy change 1→2 (%, paired) | Energy change 2→3 (%, paired) | Latency change 1→2" in text
    assert "| go | 1.00 | 10.0 | 2.00 | 20.0 | 3.00 | 30.0 | 100.0 | 50.0 | 100.0 | 50.0 |" in text


def _episode(energy: list[float], tasks: list[int], latency_sum: list[float]) -> EpisodeResult:
    n = len(energy)
    return EpisodeResult(
        seed=0, steps=n, total_reward=0.0, rewards=(0.0,) * n, energy_j=tuple(energy), tasks_completed=tuple(tasks),
        latency_sum_ms=tuple(latency_sum), goals=(None,) * n, active_vehicles=(0,) * n, decision_s=(0.0,) * n,
        wall_s=0.0, terminated=False, truncated=True, episode_metrics={}, agent_stats={}, report_fields={},
        worker=0, host="",
    )  # fmt: skip


def test_phase_fields_split_the_episode_at_the_mid_episode_command() -> None:
    rng = np.random.default_rng(3)
    energy = [float(x) for x in rng.uniform(1, 50, 60)]
    tasks = [int(x) for x in rng.integers(0, 5, 60)]
    tasks[20:25] = [0] * 5
    latency = [40.0 * n + float(rng.uniform(0, 9)) * n for n in tasks]
    fields = phases.phase_fields(_episode(energy, tasks, latency), [0, 20, 75])
    assert set(fields) == {
        "phase1_energy_per_slot_j",
        "phase1_latency_ms",
        "phase2_energy_per_slot_j",
        "phase2_latency_ms",
    }
    assert fields["phase1_energy_per_slot_j"] == pytest.approx(sum(energy[:20]) / 20)
    assert fields["phase2_energy_per_slot_j"] == pytest.approx(sum(energy[20:]) / 40)
    assert fields["phase1_latency_ms"] == pytest.approx(sum(latency[:20]) / sum(tasks[:20]))
    assert fields["phase2_latency_ms"] == pytest.approx(sum(latency[20:]) / sum(tasks[20:]))


def test_phase_fields_without_a_mid_episode_command_or_tasks() -> None:
    ep = _episode([1.0] * 60, [0] * 60, [0.0] * 60)
    assert phases.phase_fields(ep, [0, 60, 90]) == {}
    fields = phases.phase_fields(ep, [30])
    assert fields["phase2_energy_per_slot_j"] == 1.0 and math.isnan(fields["phase2_latency_ms"])
    assert phases.bounds([0, 50, 50], 100) == [(0, 50), (50, 100)]
