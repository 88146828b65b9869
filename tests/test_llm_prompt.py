"""The prompt, the exemplar pool and the answer checks, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.llm.answer import RANGE_TOL, check_answer
from agents.llm.exemplars import DEFAULT_RUNS, ExemplarPool, collect, features
from agents.llm.prompt import build_messages, goal_features, state_table
from twins import PredictiveTwin
from vecgym import scenarios
from vecgym.goals import BALANCED, parse_command


def _obs_and_forecast(n: float = 8.0, slots: int = 6) -> tuple[dict[str, np.ndarray], object, np.ndarray]:
    env = scenarios.make("scalability", n_vehicles=n)
    twin = PredictiveTwin(env.unwrapped.cfg)
    obs, _ = env.reset(seed=1)
    env.action_space.seed(1)
    for _ in range(slots):
        twin.update(obs)
        obs, *_ = env.step(env.action_space.sample())
    twin.update(obs)
    return obs, twin.forecast(), np.asarray(env.unwrapped.cfg.per_type("cycles_per_byte"))


def test_state_table_has_one_row_per_active_vehicle_with_fixed_decimals() -> None:
    obs, fc, cpb = _obs_and_forecast()
    table = state_table(obs, fc, cpb)  # type: ignore[arg-type]
    active = np.flatnonzero(obs["active"])
    assert len(table.rows) == active.size and (table.slots == active).all()
    header = table.header.split(",")
    assert header[:5] == ["row", "id", "class", "x_m", "speed_mps"] and "rate_mbps_min" in header
    for i, row in enumerate(table.rows):
        cells = row.split(",")
        assert len(cells) == len(header) and cells[0] == str(i)
        assert cells[1] == str(int(obs["vehicle_id"][active[i]]))
        assert all(c.replace(".", "", 1).replace("-", "", 1).isdigit() for c in cells)
    reactive = state_table(obs, None, cpb)
    assert "rate_mbps" in reactive.header.split(",") and "stays" not in reactive.header


def test_messages_follow_the_papers_structure() -> None:
    obs, fc, cpb = _obs_and_forecast()
    table = state_table(obs, fc, cpb)  # type: ignore[arg-type]
    pool = ExemplarPool.load()
    goal = parse_command("Switch to maximum energy saving mode")
    chosen = pool.nearest(features(table.features, goal_features(goal)), 2)
    system, user = build_messages(goal, "Switch to maximum energy saving mode", table, chosen, 3, predictive=True)
    assert system["role"] == "system" and user["role"] == "user"
    assert system["content"].startswith("You are an expert network orchestrator")
    assert '"w": [[' in system["content"] and "K=3 numbers" in system["content"]
    order = [user["content"].index(s) for s in ("Strategic Goal:", "Predictive State", "Exemplars", "Answer for")]
    assert order == sorted(order)
    assert f"Answer for the {len(table.rows)} rows" in user["content"]


def test_the_shipped_pool_loads_and_matches_goals_first() -> None:
    pool = ExemplarPool.load()
    sources = {tuple(e.source.split("/")[:2]) for e in pool.exemplars}
    # Both agents on every scenario the pool is built from: no run silently left out.
    assert sources == {(agent, scenario) for agent in ("sp-dpp", "oracle") for scenario, _ in DEFAULT_RUNS}
    obs, fc, cpb = _obs_and_forecast()
    table = state_table(obs, fc, cpb)  # type: ignore[arg-type]
    energy = parse_command("Switch to maximum energy saving mode")
    for ex in pool.nearest(features(table.features, goal_features(energy)), 3):
        g = json.loads(ex.goal)
        assert g["beta_energy"] > g["beta_latency"], ex.goal
    for ex in pool.nearest(features(table.features, goal_features(BALANCED)), 3):
        g = json.loads(ex.goal)
        assert g["beta_energy"] == g["beta_latency"] and not g["vehicle_priority"], ex.goal
    assert pool.nearest(features(table.features, goal_features(BALANCED)), 0) == []


def test_a_pool_is_built_saved_and_loaded(tmp_path: Path) -> None:
    pool = collect(runs=[("scalability", {"n_vehicles": 6.0})], agent_names=("sp-dpp",), slots=40, every=10, warmup=10)
    assert len(pool) == 3  # slots 10, 20, 30
    ex = pool.exemplars[0]
    assert ex.source == "sp-dpp/scalability/seed0/slot10"
    action = json.loads(ex.action)
    assert len(action["w"]) == len(ex.state.splitlines()) - 1  # one answer row per state row
    path = tmp_path / "pool.json"
    pool.save(path, {"note": "test"})
    again = ExemplarPool.load(path)
    assert [e.action for e in again.exemplars] == [e.action for e in pool.exemplars]
    np.testing.assert_allclose(again.exemplars[1].features, pool.exemplars[1].features)


def test_a_bad_pool_file_says_how_to_rebuild_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 99, "exemplars": []}')
    with pytest.raises(ValueError, match=r"python -m agents\.llm\.exemplars"):
        ExemplarPool.load(bad)
    with pytest.raises(ValueError, match="cannot read"):
        ExemplarPool.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="at least one"):
        ExemplarPool([])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "empty_answer"),
        ("   ", "empty_answer"),
        ("{", "bad_json"),
        ("[1, 2]", "bad_json"),
        ('{"w": [[0.5, 0.5]]}', "bad_json"),
        ('{"w": [[0.5, 0.5]], "a": [[0.1, 0.1], [0.1, 0.1]]}', "bad_shape"),
        ('{"w": [[0.5, true]], "a": [[0.1, 0.1]]}', "bad_value"),
        ('{"w": [[0.5, Infinity]], "a": [[0.1, 0.1]]}', "nan"),
        ('{"w": [[0.5, -0.2]], "a": [[0.1, 0.1]]}', "out_of_range"),
        ('{"w": [[0.5, 0.5]], "a": [[0.6, 0.6]]}', "sum_a"),
    ],
)
def test_unusable_answers_name_their_reason(text: str | None, reason: str) -> None:
    checked = check_answer(text, 1, 2)
    assert not checked.ok and checked.reason == reason and checked.w is None


def test_small_violations_are_projected_and_named() -> None:
    c = check_answer('{"w": [[1.02, -0.01]], "a": [[0.52, 0.5]]}', 1, 2)
    assert c.ok and c.repairs == ["clipped", "scaled_a"]
    assert c.w is not None and c.a is not None
    np.testing.assert_allclose(c.w, [[1.0, 0.0]])
    assert c.a.sum() == pytest.approx(1.0) and (c.a >= 0).all()
    assert RANGE_TOL == 0.05
    fenced = check_answer('Here you go:\n```json\n{"w": [[0.2, 0.3]], "a": [[0.1, 0.2]]}\n```', 1, 2)
    assert fenced.ok and fenced.repairs == []
