"""``benchmarks.throughput --scale-out``: one row per worker count, the aggregate arithmetic, spawn
processes and Ray tasks with one BLAS thread each, and the error without Ray."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks import scaleout, throughput, throughput_cases
from benchmarks.scaleout import ScaleRow, TaskResult

STEPS, WARMUP, SEED = 5, 2, 3  # a few slots of the paper road: seconds, not minutes


def _result(steps: int, active: float, seconds: float, start: float, end: float) -> TaskResult:
    return TaskResult("const", steps, active, seconds, start, end, "host", 1, scaleout.ONE_THREAD)


def test_summarize_aggregates_the_work_over_the_slowest_task() -> None:
    results = [_result(100, 28.0, 0.5, 10.0, 10.5), _result(100, 30.0, 1.0, 10.25, 11.25)]
    row = scaleout.summarize("paper-30", "numpy", "processes", results, end_to_end_s=3.0)
    assert row.workers == 2
    assert row.steps_per_s == pytest.approx(200 / 1.0)
    assert row.vehicle_slots_per_s == pytest.approx((28.0 * 100 + 30.0 * 100) / 1.0)
    assert row.per_worker_steps_per_s == pytest.approx(100.0)
    assert row.overlap == pytest.approx(0.25 / 1.0)  # both timing from 10.25 to 10.5
    assert row.end_to_end_s == 3.0


def _check(rows: list[ScaleRow], workers: list[int], backend: str) -> None:
    assert [r.workers for r in rows] == workers
    for r in rows:
        assert r.backend == backend and len(r.tasks) == r.workers
        assert r.steps_per_s > 0 and r.vehicle_slots_per_s > 0 and r.end_to_end_s > 0
        slowest = max(t.seconds for t in r.tasks)
        assert r.steps_per_s == pytest.approx(r.workers * STEPS / slowest)
        assert r.vehicle_slots_per_s == pytest.approx(sum(t.active * t.steps for t in r.tasks) / slowest)
        for i, t in enumerate(r.tasks):  # task i ran the single-process recording from seed + i
            _, active, _ = throughput_cases.record("paper-30", "const", WARMUP + STEPS, SEED + i)
            assert t.active == active > 0 and t.steps == STEPS
        assert {t.threads for t in r.tasks} == {scaleout.ONE_THREAD}  # one BLAS / OpenMP thread per task
        assert len({t.pid for t in r.tasks}) == r.workers  # concurrent: one process each
        assert 0.0 <= r.overlap <= 1.0
    assert rows[0].efficiency == 1.0


def test_spawn_processes_one_row_per_worker_count() -> None:
    rows = scaleout.scale_out(
        "paper-30", "const", "numpy", [1, 2], backend="processes", steps=STEPS, warmup=WARMUP, seed=SEED
    )
    _check(rows, [1, 2], "processes")


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'vecgym[ray]'")
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_ray_tasks_one_row_per_worker_count(ray_local: Any) -> None:
    rows = scaleout.scale_out(
        "paper-30", "const", "numpy", [1, 2], backend="ray", steps=STEPS, warmup=WARMUP, seed=SEED
    )
    _check(rows, [1, 2], "ray")


def test_ray_missing_fails_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(SystemExit, match=r"pip install 'vecgym\[ray\]'"):
        throughput.main(["--scale-out", "1", "--ray", "--cases", "paper-30"])


def test_ray_without_scale_out_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        throughput.main(["--ray"])
    assert "--ray needs --scale-out" in capsys.readouterr().err
