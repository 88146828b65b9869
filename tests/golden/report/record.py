"""Record the golden report data (``run.json``) and render ``report.md`` from it.

    python tests/golden/report/record.py record   # a small compare run -> run.json
    python tests/golden/report/record.py render   # benchmarks.report.report(run.json) -> report.md

``report.md`` was rendered by the report code before it became table specs (commit 9579cf4, run
from a worktree of it); ``tests/test_report.py`` checks that today's code renders the same text.
Besides the run itself, ``record`` adds one failed episode (an ``error`` row), sums two fallback
reasons into hybrid's goal_switch rows (so the reasons column is not empty) and keeps at most
``KEEP`` decision times per agent (evenly spaced).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KEEP = 300
ARGS = [
    "--scenarios", "scalability", "dynamic", "goal_switch", "priority",
    "--agents", "dpp", "go", "offload", "local", "hybrid", "nosuch",
    "--seeds", "2", "--slots", "60", "--workers", "2",
]  # fmt: skip
ERROR = (
    'Traceback (most recent call last):\n  File "agents/dpp.py", line 1, in act\n'
    "ValueError: solver failed | status=infeasible\n"
)


def record(out: Path) -> None:
    from benchmarks import compare

    captured: dict[str, Any] = {}
    render = compare.report

    def capture(run: Any, agent_names: list[str], scenario_names: list[str], seeds: list[int], cmd: str) -> str:
        captured.update(run=run, agents=agent_names, scenarios=scenario_names, seeds=seeds, cmd=cmd)
        return render(run, agent_names, scenario_names, seeds, cmd)

    compare.report = capture  # type: ignore[assignment]
    compare.main([*ARGS, "--out", str(out)])
    run = captured["run"]
    for r in run.rows:
        if r["agent"] == "hybrid" and r["scenario"] == "goal_switch":
            r["llm_fallback_reasons"] = json.dumps({"timeout": 1 + r["seed"], "bad_json": 1})
    run.rows.append(
        {"scenario": "priority", "variant": "default", "agent": "dpp", "seed": 2, "error": ERROR, "worker": 1}
    )
    decision = {a: v[:: max(1, -(-len(v) // KEEP))] for a, v in run.decision_s.items()}
    data = {
        "agents": captured["agents"],
        "scenarios": captured["scenarios"],
        "seeds": captured["seeds"],
        "cmd": captured["cmd"].replace(str(out), "results/golden"),
        "rows": run.rows,
        "decision_s": decision,
        "skipped": run.skipped,
        "notes": run.notes,
    }
    (HERE / "run.json").write_text(json.dumps(data, indent=0) + "\n")


def render() -> None:
    from benchmarks.report import report
    from benchmarks.runner import Run

    data = json.loads((HERE / "run.json").read_text())
    run = Run(rows=data["rows"], decision_s=data["decision_s"], skipped=data["skipped"], notes=data["notes"])
    (HERE / "report.md").write_text(report(run, data["agents"], data["scenarios"], data["seeds"], data["cmd"]))


if __name__ == "__main__":
    sys.path.insert(0, str(Path.cwd()))
    if sys.argv[1] == "record":
        record(Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/golden_run"))
    else:
        render()
