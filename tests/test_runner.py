"""The benchmark runner: the same rows from every backend, resume, Ctrl-C, a failing episode."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import compare, runner
from benchmarks.backends import RAY_MISSING, Backend, results
from benchmarks.runner import ROW_TIMING_FIELDS, Job, deterministic, plan, run_jobs
from benchmarks.store import FILENAME

COMMON = ["--scenarios", "dynamic", "goal_switch", "--agents", "go", "dpp", "--seeds", "2", "--slots", "12"]


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / FILENAME).read_text().splitlines()]


def _same(rows: list[dict[str, Any]]) -> list[str]:
    """Rows without their timing fields, as JSON text (so that NaN equals NaN)."""
    return [json.dumps(deterministic(r)) for r in rows]


def _jobs() -> list[Job]:
    return plan(["dynamic", "goal_switch"], ["go", "dpp"], [0, 1], 12)


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "VECGYM_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)


def test_one_worker_two_workers_and_local_ray_write_the_same_rows(tmp_path: Path, no_endpoint: None) -> None:
    pytest.importorskip("ray", reason="the Ray backend needs the ray extra: pip install 'vecgym[ray]'")
    compare.main([*COMMON, "--workers", "1", "--out", str(tmp_path / "w1")])
    compare.main([*COMMON, "--workers", "2", "--out", str(tmp_path / "w2")])
    compare.main([*COMMON, "--workers", "2", "--ray", "--out", str(tmp_path / "ray")])
    one, two, ray = (_rows(tmp_path / name) for name in ("w1", "w2", "ray"))
    assert len(one) == 2 * 2 * 2 and all("error" not in r for r in one + two + ray)
    # Only the listed fields may differ; they are present, and the rows are otherwise identical.
    assert all({"decision_s", "wall_s", "worker", "host"} <= r.keys() for r in one + two + ray)
    assert set(deterministic(one[0])) == set(one[0]) - set(ROW_TIMING_FIELDS)
    assert _same(two) == _same(one)
    assert _same(ray) == _same(one)
    assert len({r["worker"] for r in two}) == 2  # two worker processes ran them
    assert "| go |" in (tmp_path / "ray" / "report.md").read_text().split("## Decision time per slot")[1]


def test_the_ray_backend_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"vecgym\[ray\]") as err:
        list(results(str, ["a", "b"], [0, 1], Backend(workers=2, ray_address=""), lambda job, text: text))
    assert str(err.value) == RAY_MISSING


def _counting(monkeypatch: pytest.MonkeyPatch, stop_after: int | None = None) -> list[str]:
    """Count the episodes run here; raise KeyboardInterrupt (Ctrl-C) at episode ``stop_after``."""
    ran: list[str] = []
    real = runner.run_episode

    def counted(job: Job) -> dict[str, Any]:
        if stop_after is not None and len(ran) == stop_after:
            raise KeyboardInterrupt
        ran.append(f"{job.agent}/{job.seed}")
        return real(job)

    monkeypatch.setattr(runner, "run_episode", counted)
    return ran


def test_ctrl_c_keeps_the_finished_episodes_and_resume_runs_only_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = _jobs()
    reference = run_jobs(jobs, Backend(workers=1))
    ran = _counting(monkeypatch, stop_after=3)
    stopped = run_jobs(jobs, Backend(workers=1), out_dir=tmp_path)
    assert stopped.interrupted and len(stopped.rows) == 3 == len(_rows(tmp_path))
    assert len(ran) == 3
    monkeypatch.undo()
    ran = _counting(monkeypatch)
    resumed = run_jobs(jobs, Backend(workers=1), out_dir=tmp_path, resume=True)
    assert not resumed.interrupted and resumed.resumed == 3 and len(ran) == len(jobs) - 3
    assert _same(_rows(tmp_path)) == _same(reference.rows)
    assert _same(resumed.rows) == _same(reference.rows)


def test_resume_runs_failed_episodes_again_and_refuses_another_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = _jobs()
    first = run_jobs(jobs, Backend(workers=1), out_dir=tmp_path)
    rows = _rows(tmp_path)
    rows[1] = runner.error_row(jobs[1], "Traceback ...\nRuntimeError: lost")
    (tmp_path / FILENAME).write_text("".join(json.dumps(r) + "\n" for r in rows))
    ran = _counting(monkeypatch)
    again = run_jobs(jobs, Backend(workers=1), out_dir=tmp_path, resume=True)
    assert ran == [f"{jobs[1].agent}/{jobs[1].seed}"] and again.resumed == len(jobs) - 1
    assert _same(_rows(tmp_path)) == _same(first.rows)
    with pytest.raises(ValueError, match="not in this run's plan"):
        run_jobs(plan(["dynamic"], ["go"], [0], 12), Backend(workers=1), out_dir=tmp_path, resume=True)
    with pytest.raises(FileNotFoundError, match="run without --resume first"):
        run_jobs(jobs, Backend(workers=1), out_dir=tmp_path / "empty", resume=True)


def test_compare_resume_skips_the_episodes_already_there(tmp_path: Path, no_endpoint: None) -> None:
    out = tmp_path / "run"
    compare.main([*COMMON, "--workers", "1", "--out", str(out)])
    full = _rows(out)
    (out / FILENAME).write_text("".join(json.dumps(r) + "\n" for r in full[:5]))  # as if stopped after 5
    compare.main([*COMMON, "--workers", "2", "--resume", str(out)])
    assert _same(_rows(out)) == _same(full)
    assert _rows(out)[:5] == full[:5]  # the stored episodes were kept, not run again
    assert "5 of 8 episodes were taken from" in (out / "report.md").read_text()


def test_compare_ctrl_c_writes_the_report_of_what_finished(
    tmp_path: Path, no_endpoint: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _counting(monkeypatch, stop_after=2)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        compare.main([*COMMON, "--workers", "1", "--out", str(out)])
    assert stop.value.code == 130
    assert len(_rows(out)) == 2 and len((out / "episodes.csv").read_text().splitlines()) == 3
    assert "Interrupted (Ctrl-C) after 2 of 8 episodes" in (out / "report.md").read_text()


def _running(pid: int) -> bool:
    """Whether process ``pid`` is alive (not gone and not a zombie awaiting its parent)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_stopping_early_stops_the_worker_processes() -> None:
    # A short episode, then one that would run for minutes, then more in the queue.
    jobs = [Job("dynamic", "default", {}, "go", 0, 3), *plan(["dynamic"], ["dpp"], [0, 1, 2], 5000)]
    finished = results(runner.attempt, jobs, list(range(len(jobs))), Backend(workers=2), runner.error_row)
    assert next(finished)[0] == 0
    workers = [p.pid for p in multiprocessing.active_children()]
    assert workers and all(pid is not None and _running(pid) for pid in workers)
    started = time.perf_counter()
    finished.close()  # what Ctrl-C in the caller does: the queue is dropped and the workers stopped
    assert time.perf_counter() - started < 30.0  # the long episode was stopped, not waited for
    assert not [pid for pid in workers if pid is not None and _running(pid)]


def test_a_worker_imports_torch_only_for_an_agent_that_needs_it() -> None:
    """A heuristic's or a solver's episode imports no torch, SB3, LLM client, Ray or matplotlib (the
    engine's numba kernels, with the fast extra, are the one heavy import a worker needs)."""
    heavy = ("torch", "stable_baselines3", "openai", "tiktoken", "ray", "matplotlib")
    code = (
        "import sys; from benchmarks.runner import Job, attempt; "
        "rows = [attempt(Job('dynamic', 'default', {}, a, 0, 3)) for a in ('go', 'dpp', 'sp-dpp')]; "
        "assert all('error' not in r for r in rows), rows; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_resume_with_more_seeds_runs_only_the_new_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_jobs(plan(["dynamic"], ["go"], [0], 5), Backend(workers=1), out_dir=tmp_path)
    ran = _counting(monkeypatch)
    more = run_jobs(plan(["dynamic"], ["go"], [0, 1, 2], 5), Backend(workers=1), out_dir=tmp_path, resume=True)
    assert ran == ["go/1", "go/2"] and more.resumed == 1
    assert [r["seed"] for r in _rows(tmp_path)] == [0, 1, 2]


def test_loopback_planner_jobs_stay_here_only_on_a_ray_cluster() -> None:
    loopback = Job("goal_switch", "default", {}, "hybrid", 0, 5, {"base_url": "http://127.0.0.1:5123/v1"})
    remote = Job("goal_switch", "default", {}, "hybrid", 0, 5, {"base_url": "https://llm.example/v1"})
    cluster, local_ray = Backend(workers=2, ray_address="auto"), Backend(workers=2, ray_address="")
    assert runner.in_process(loopback, cluster) and not runner.in_process(remote, cluster)
    assert not runner.in_process(loopback, local_ray) and not runner.in_process(loopback, Backend(workers=2))
    assert runner.in_process(Job("dynamic", "default", {}, "sp-llm", 0, 5, {"transcript": "t.jsonl"}))
