"""``benchmarks.sweep`` and its grids (``benchmarks.grid``): expansion, bad grids, a tiny sweep
end to end whose table matches the runner's rows, and resume."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import grid as grid_mod
from benchmarks import runner, sweep
from benchmarks.grid import GridError, load, parse, shipped_grids

BASE: dict[str, Any] = {"scenarios": ["dynamic"], "agents": ["go", "sp-dpp"], "seeds": 1, "slots": 4}

TINY = """\
description = "tiny test sweep"
scenarios = ["dynamic"]
agents = ["go", "sp-dpp"]
seeds = 1
slots = 4

[env]
n_vehicles = [6, 8]

[agent.sp-dpp]
v = [0.5, 2]
horizon = 1
source = "ewma"
"""


def grid_of(**kw: Any) -> grid_mod.Grid:
    return parse({**BASE, **kw}, where="test.toml")


def write(tmp_path: Path, text: str, name: str = "g.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- expansion --------------------------------------------------------------------------------
def test_cartesian_product_with_per_agent_axes_and_labels() -> None:
    g = grid_of(
        agents=["dpp-ewma", "sp-dpp"],
        seeds=[3, 5],
        env={"n_vehicles": [10, 20]},
        agent={"v": [0.3, 1, 3], "sp-dpp": {"horizon": [1, 5], "sweeps": 2}},
    )
    jobs = g.jobs()
    # per scenario and N: dpp-ewma 3 V, sp-dpp 3 V × 2 H; times 2 seeds
    assert len(jobs) == 2 * (3 + 3 * 2) * 2
    assert {j.seed for j in jobs} == {3, 5}
    first = jobs[0]
    assert (first.scenario, first.variant, first.agent, first.overrides, first.agent_kw) == (
        "dynamic",
        "N=10 V=0.3",
        "dpp-ewma",
        {"n_vehicles": 10},
        {"v": 0.3},
    )
    assert first.slots == 4
    sp = [j for j in jobs if j.agent == "sp-dpp"]
    assert all(j.agent_kw["sweeps"] == 2 for j in sp)  # a scalar is fixed: in the kwargs, not the label
    assert {j.variant for j in sp if j.overrides["n_vehicles"] == 20} == {
        f"N=20 V={v} horizon={h}" for v in ("0.3", "1", "3") for h in (1, 5)
    }
    assert all("horizon" not in j.agent_kw for j in jobs if j.agent == "dpp-ewma")
    assert all(isinstance(j.agent_kw["v"], float) for j in jobs)  # [0.3, 1, 3]: one float makes all floats
    assert len({(j.scenario, j.variant, j.agent, j.seed) for j in jobs}) == len(jobs)
    assert g.columns() == ["n_vehicles", "v", "horizon", "sweeps"]


def test_no_axes_is_one_default_point_and_overrides() -> None:
    g = grid_of()
    assert [(j.agent, j.variant, j.agent_kw) for j in g.jobs()] == [("go", "default", {}), ("sp-dpp", "default", {})]
    assert [j.seed for j in g.jobs(seeds=[0, 1, 2])] == [0, 1, 2, 0, 1, 2]
    assert {j.slots for j in grid_of(slots=None).jobs()} == {300}  # the scenario's own length
    assert {j.slots for j in g.jobs(slots=9)} == {9}


def test_per_agent_axis_replaces_the_shared_one() -> None:
    g = grid_of(agents=["dpp", "sp-dpp"], agent={"v": [1, 2], "sp-dpp": {"v": [4.0]}})
    assert {(j.agent, j.agent_kw["v"]) for j in g.jobs()} == {("dpp", 1), ("dpp", 2), ("sp-dpp", 4.0)}


def test_shipped_grids_are_valid() -> None:
    assert {"quick", "frontier"} <= set(shipped_grids())
    for name in shipped_grids():
        g = load(name)  # builds every env and agent point once
        assert g.jobs() and g.description
    frontier = load("frontier", check=False)
    assert set(frontier.agents) == {"dpp-ewma", "sp-dpp"} and frontier.agent["v"] == [0.3, 1.0, 3.0]


# --- bad grids ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, message",
    [
        ({"scenarios": ["nowhere"]}, "unknown scenarios ['nowhere']; known: scalability"),
        ({"agents": ["go", "nobody"]}, "unknown agents ['nobody']"),
        ({"agents": []}, "'agents' must be a non-empty list"),
        ({"colour": "red"}, "unknown key(s) ['colour']; a grid has: description, scenarios"),
        ({"env": {"n_vehicles": []}}, "[env] n_vehicles = [] is an empty axis"),
        ({"agent": {"sp-dpp": {"v": []}}}, "[agent.sp-dpp] v = [] is an empty axis"),
        ({"agent": {"dpp": {"v": [1]}}}, "[agent.dpp]: 'dpp' is not in agents"),
        ({"env": {"seed": [1, 2]}}, "'seed' is reserved"),
        ({"env": {"n_vehicles": [5, 5]}}, "repeats a value"),
        ({"seeds": 0}, "seeds = 0"),
        ({"slots": "long"}, "slots = 'long'"),
        ({"env": {"v": [1]}, "agent": {"sp-dpp": {"v": [1]}}}, "both an env key and an agent key"),
    ],
)
def test_bad_grid_structure(change: dict[str, Any], message: str) -> None:
    with pytest.raises(GridError) as err:
        grid_of(**change)
    assert message in str(err.value)
    assert "test.toml" in str(err.value)


def test_agent_that_does_not_take_a_shared_key(tmp_path: Path) -> None:
    path = write(tmp_path, TINY.replace("[env]", "[agent]\nv = [1, 2]\n\n[env]"))
    with pytest.raises(GridError) as err:
        load(str(path))
    text = str(err.value)
    assert "agent 'go' does not take 'v'" in text
    assert "[agent.<name>]" in text and "[agent.sp-dpp]" in text  # the fix


def test_agent_that_does_not_take_its_own_key(tmp_path: Path) -> None:
    path = write(tmp_path, TINY.replace('source = "ewma"', 'forecaster = "ewma"'))
    with pytest.raises(GridError) as err:
        load(str(path))
    text = str(err.value)
    assert "agent 'sp-dpp' does not take 'forecaster'" in text
    assert "source" in text  # lists what it takes
    assert "Remove 'forecaster' from [agent.sp-dpp]" in text


def test_bad_values_fail_at_load(tmp_path: Path) -> None:
    with pytest.raises(GridError, match=r"agent 'sp-dpp' cannot be built.*unknown input source 'crystal-ball'"):
        load(str(write(tmp_path, TINY.replace('"ewma"', '"crystal-ball"'))))
    with pytest.raises(GridError, match=r"scenario 'dynamic' with \[env\].*unknown config key"):
        load(str(write(tmp_path, TINY.replace("n_vehicles", "n_cars"))))
    with pytest.raises(GridError, match="not valid TOML"):
        load(str(write(tmp_path, "scenarios = [")))
    with pytest.raises(GridError, match="not a shipped grid"):
        load("no-such-grid")


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="unknown scenarios"):
        sweep.main(["--grid", str(write(tmp_path, TINY.replace('["dynamic"]', '["nowhere"]')))])
    with pytest.raises(SystemExit):
        sweep.main(["--resume", str(tmp_path / "a"), "--out", str(tmp_path / "b")])
    assert "--resume DIR writes to DIR" in capsys.readouterr().err
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(SystemExit, match="pip install pyarrow"):
            sweep.main(["--grid", str(write(tmp_path, TINY)), "--format", "parquet"])


def test_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sweep.main(["--grid", str(write(tmp_path, TINY)), "--dry-run"]) is None
    out = capsys.readouterr().out
    assert "6 points × 1 seed(s) = 6 episodes" in out and "N=8 V=2" in out


# --- end to end -----------------------------------------------------------------------------------
def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def same(csv_value: str, value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return csv_value == ("" if value is None else str(value))
    if isinstance(value, int | float):
        return (math.isnan(value) and csv_value == "nan") or float(csv_value) == float(value)
    return True  # lists: kept in episodes.jsonl, summarised in the table


def test_tiny_sweep_end_to_end(tmp_path: Path) -> None:
    grid_path = write(tmp_path, TINY)
    out = tmp_path / "out"
    assert sweep.main(["--grid", str(grid_path), "--out", str(out), "--workers", "1"]) == out
    table = read_csv(out / "sweep.csv")
    header = list(table[0])
    assert header[:7] == ["scenario", "variant", "agent", "seed", "n_vehicles", "v", "horizon"]
    assert "source" in header and "energy_per_slot_j" in header and "violation_rate_pct" in header
    assert len(table) == 6 and not any(r.get("error") for r in table)
    go = [r for r in table if r["agent"] == "go"]
    assert {r["n_vehicles"] for r in go} == {"6", "8"} and {r["v"] for r in go} == {""}
    sp = [r for r in table if r["agent"] == "sp-dpp"]
    assert {(r["n_vehicles"], r["v"], r["horizon"], r["source"]) for r in sp} == {
        (n, v, "1", "ewma") for n in ("6", "8") for v in ("0.5", "2.0")
    }
    assert {r["variant"] for r in sp} == {"N=6 V=0.5", "N=6 V=2", "N=8 V=0.5", "N=8 V=2"}
    # A row's metrics are those of a plain runner run of the same job.
    jobs = load(str(grid_path), check=False).jobs()
    job = next(j for j in jobs if j.agent == "sp-dpp" and j.variant == "N=8 V=2")
    (row,) = runner.execute([job]).rows
    (mine,) = [r for r in table if r["variant"] == job.variant and r["agent"] == job.agent]
    det = runner.deterministic(row)
    compared = [k for k, v in det.items() if isinstance(v, int | float) and k != "seed"]
    assert {"energy_per_slot_j", "violation_rate_pct", "latency_ms_mean", "goal_cost"} <= set(compared)
    assert [k for k in compared if not same(mine[k], det[k])] == []
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 6
    assert (out / "frontier_dynamic.png").stat().st_size > 0
    md = (out / "sweep.md").read_text()
    assert "| N=8 V=2 | sp-dpp | 1 |" in md and "tiny test sweep" in md and "frontier_dynamic.png" in md


def test_resume_runs_only_the_missing_episodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    grid_path = write(tmp_path, TINY)
    out = tmp_path / "out"
    argv = ["--grid", str(grid_path), "--out", str(out), "--workers", "1"]
    sweep.main(argv)
    lines = (out / "episodes.jsonl").read_text().splitlines()
    kept = [json.loads(line) for line in lines[:-2]]
    (out / "episodes.jsonl").write_text("".join(line + "\n" for line in lines[:-2]))
    ran: list[tuple[str, str]] = []
    real = runner.attempt

    def counting(job: runner.Job) -> Any:
        ran.append((job.variant, job.agent))
        return real(job)

    monkeypatch.setattr(runner, "attempt", counting)
    sweep.main(["--grid", str(grid_path), "--workers", "1", "--resume", str(out)])
    assert ran == [(json.loads(line)["variant"], json.loads(line)["agent"]) for line in lines[-2:]]
    table = read_csv(out / "sweep.csv")
    assert len(table) == 6
    first = next(r for r in table if r["variant"] == kept[0]["variant"] and r["agent"] == kept[0]["agent"])
    assert float(first["wall_s"]) == kept[0]["wall_s"]  # taken from the first run, not run again
