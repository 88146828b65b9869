"""``python -m benchmarks.compare``: files, tables, skipped agents, and the LLM agents end to end."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import compare


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
