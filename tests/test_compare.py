"""``python -m benchmarks.compare``: files, tables, skipped agents, and the LLM agents end to end."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import compare
from benchmarks.runner import deterministic


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "VECGYM_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)


def _read(out: Path) -> tuple[str, list[dict[str, Any]]]:
    with open(out / "episodes.csv") as f:
        rows = list(csv.DictReader(f))
    return (out / "report.md").read_text(), rows


def test_runner_writes_the_paper_tables_with_confidence_intervals(tmp_path: Path, no_endpoint: None) -> None:
    out = tmp_path / "run"
    compare.main(
        [
            "--scenarios",
            "scalability",
            "goal_switch",
            "--agents",
            "go",
            "dpp",
            "nosuch",
            "--seeds",
            "2",
            "--slots",
            "60",
            "--out",
            str(out),
        ]
    )
    report, rows = _read(out)
    assert len(rows) == (3 + 1) * 2 * 2  # (3 N + goal_switch) x agents x seeds
    assert len((out / "episodes.jsonl").read_text().splitlines()) == len(rows)
    assert "## Table 2" in report and "## Table 4" in report and "## Goal cost" in report
    table2 = report.split("## Table 2")[1].split("##")[0]
    assert "N=10" in table2 and "N=30" in table2 and "±" in table2
    assert "| nosuch | unknown agent" in report
    assert "## Decision time per slot" in report and "| dpp |" in report.split("## Decision time")[1]
    assert (out / "scalability.png").is_file() and (out / "goal_switch.png").is_file()
    phase2 = [float(r["phase2_energy_per_slot_j"]) for r in rows if r["scenario"] == "goal_switch"]
    assert all(x > 0 for x in phase2)


def test_llm_agents_are_skipped_with_the_reason_without_an_endpoint(tmp_path: Path, no_endpoint: None) -> None:
    out = tmp_path / "run"
    compare.main(
        ["--scenarios", "dynamic", "--agents", "go", "sp-llm", "--seeds", "1", "--slots", "5", "--out", str(out)]
    )
    report, rows = _read(out)
    assert {r["agent"] for r in rows} == {"go"}
    assert "| sp-llm | no LLM endpoint: pass --llm-base-url and --llm-model" in report


@pytest.fixture
def llm_server() -> Iterator[Any]:
    pytest.importorskip("openai")
    from tests.llm_server import LLMServer

    with LLMServer() as server:
        yield server


def test_llm_agents_run_against_an_endpoint_and_replay_from_the_transcript(
    tmp_path: Path, no_endpoint: None, llm_server: Any
) -> None:
    from tests.llm_server import chat_completion, goal_answer
    from tests.test_llm_agents import _answer

    goal = goal_answer(beta_energy=5.0, deadline_scale=3.0, label="energy saving")

    def respond(request: dict[str, Any]) -> tuple[int, Any, float]:
        if request["response_format"]["json_schema"]["name"] == "operator_goal":
            return 200, chat_completion(goal), 0.0
        return _answer(w=0.5)(request)

    llm_server.add(*[respond] * 200)
    transcript = tmp_path / "llm.jsonl"
    common = ["--scenarios", "goal_switch", "--agents", "sp-llm", "hybrid", "--seeds", "1", "--slots", "55"]
    out = tmp_path / "live"
    compare.main(
        [
            *common,
            "--out",
            str(out),
            "--llm-base-url",
            llm_server.base_url,
            "--llm-model",
            "m",
            "--llm-transcript",
            str(transcript),
        ]
    )
    report, rows = _read(out)
    by_agent = {r["agent"]: r for r in rows}
    assert float(by_agent["sp-llm"]["llm_calls"]) == 55
    # Every answer arrived and parsed; any fallback is the safety filter replacing a scripted answer.
    assert all(k.startswith("safety_") for k in json.loads(by_agent["sp-llm"]["llm_fallback_reasons"]))
    assert float(by_agent["hybrid"]["llm_calls"]) == 1  # one command in 55 slots
    assert float(by_agent["sp-llm"]["llm_prompt_tokens_mean"]) > 500
    assert "## LLM agents: tokens, latency and fallbacks" in report
    n_live = len(llm_server.requests)
    assert n_live == 56
    replayed = tmp_path / "replay"
    compare.main([*common, "--out", str(replayed), "--llm-replay", str(transcript)])
    _, rows2 = _read(replayed)
    assert len(llm_server.requests) == n_live  # the replay never calls the server
    for a, b in zip(rows, rows2, strict=True):
        assert a["agent"] == b["agent"] and a["reward"] == b["reward"]
        assert a["llm_fallback_reasons"] == b["llm_fallback_reasons"]  # the replay decides as the live run did


def _episodes(out: Path) -> list[dict[str, Any]]:
    """episodes.jsonl's rows without exactly ``runner.ROW_TIMING_FIELDS`` (timings, worker, host)."""
    return [deterministic(json.loads(line)) for line in (out / "episodes.jsonl").read_text().splitlines()]


def test_workers_give_the_same_episodes_as_the_serial_run(tmp_path: Path, no_endpoint: None) -> None:
    common = ["--scenarios", "scalability", "goal_switch", "--agents", "go", "dpp", "--seeds", "2", "--slots", "20"]
    compare.main([*common, "--workers", "1", "--out", str(tmp_path / "w1")])
    compare.main([*common, "--workers", "2", "--out", str(tmp_path / "w2")])
    serial, parallel = _episodes(tmp_path / "w1"), _episodes(tmp_path / "w2")
    assert len(serial) == (3 + 1) * 2 * 2
    assert parallel == serial  # same rows, same (job) order
    report = (tmp_path / "w2" / "report.md").read_text()
    table = report.split("## Decision time per slot")[1]
    assert "| go |" in table and "| dpp |" in table and "| 160 |" in table  # the workers' decision times arrive


def test_a_failing_episode_is_reported_and_the_others_finish(
    tmp_path: Path, no_endpoint: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents import _REGISTRY
    from agents.heuristics import GreedyOffloading

    class Broken(GreedyOffloading):
        def act(self, obs: Any, info: Any) -> Any:
            raise RuntimeError("broken agent")

    monkeypatch.setitem(_REGISTRY, "broken", (Broken, "raises in act"))
    out = tmp_path / "run"
    argv = ["--scenarios", "dynamic", "--agents", "go", "broken", "--seeds", "2", "--slots", "5", "--workers", "1"]
    compare.main([*argv, "--out", str(out)])
    rows = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert [(r["agent"], r["seed"]) for r in rows] == [("go", 0), ("go", 1), ("broken", 0), ("broken", 1)]
    assert all("error" not in r and r["tasks_completed"] > 0 for r in rows[:2])
    assert all("RuntimeError: broken agent" in r["error"] for r in rows[2:])
    report = (out / "report.md").read_text()
    assert (
        "## Failed episodes" in report and "| dynamic | default | broken | 1 | RuntimeError: broken agent |" in report
    )


def test_a_failing_episode_in_a_worker_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    # An agent whose construction fails in the worker: ``go`` given a keyword it does not take.
    jobs = compare.plan(["dynamic"], ["go", "dpp"], [0, 1], 5, {"go": {"no_such_option": 1}})
    run = compare.execute(jobs, workers=2)
    assert [(r["agent"], r["seed"]) for r in run.rows] == [("go", 0), ("go", 1), ("dpp", 0), ("dpp", 1)]
    assert all("TypeError" in r["error"] and "no_such_option" in r["error"] for r in run.rows[:2])
    assert all("error" not in r and r["tasks_completed"] > 0 for r in run.rows[2:])
    assert len(run.decision_s["dpp"]) == 2 * 5 and not run.decision_s["go"]
    report = compare.report(run, ["go", "dpp"], ["dynamic"], [0, 1], "test")
    assert "## Failed episodes" in report and "| dynamic | default | go | 0 | TypeError" in report
