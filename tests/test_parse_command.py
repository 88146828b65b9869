"""The offline command interpreter ``vecgym.goals.parse_command``: the paper's commands, the golden
dev corpus (``tests/golden/commands/dev.jsonl``), refusals with helpful messages, determinism.

The scenarios' ground-truth goals are written by hand and tested in ``test_scenarios.py``; they are
deliberately not pinned to what this interpreter makes of the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vecgym
from vecgym import commands, interpret
from vecgym.goals import GOAL_VECTOR_HIGH, CommandError, CommandRefused, GoalSpec, parse_command
from vecgym.interpret.corpus import Case, check, load_corpus
from vecgym.scenarios import PAPER_ENERGY_COMMAND, PRIORITY_COMMAND

DEV = Path(__file__).parent / "golden" / "commands" / "dev.jsonl"
CASES = load_corpus(DEV)
ACCEPTED = [c for c in CASES if c.goal is not None]
REFUSED = [c for c in CASES if c.goal is None]


def _id(case: Case) -> str:
    return f"{case.line}:{case.text[:40]}"


# --- the paper's three example commands ----------------------------------------------------------
def test_paper_energy_command() -> None:
    g = parse_command(PAPER_ENERGY_COMMAND)
    assert g == GoalSpec(beta_energy=5.0, beta_qos=0.5, deadline_scale=2.0, label="energy_saving")


def test_paper_latency_command() -> None:
    g = parse_command("Prioritize minimum latency for all vehicles, even at a higher energy cost.")
    assert g == GoalSpec(beta_energy=0.2, beta_qos=5.0, label="low_latency")


def test_paper_priority_command() -> None:
    expected = GoalSpec(vehicle_weights={7: 10.0}, label="priority_v7")
    assert parse_command("Prioritize latency for vehicle 7") == expected
    assert parse_command(PRIORITY_COMMAND) == expected


# --- the golden dev corpus ----------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_dev_corpus_case_is_read_exactly(case: Case) -> None:
    failure = check(case, parse_command)
    assert failure is None, f"want {case.expected()}, got {failure.got if failure else ''}"


@pytest.mark.parametrize("case", REFUSED, ids=[_id(c) for c in REFUSED])
def test_a_refusal_quotes_the_command_and_gives_examples(case: Case) -> None:
    with pytest.raises(CommandRefused) as excinfo:
        parse_command(case.text)
    message = str(excinfo.value)
    assert "Commands I understand look like" in message
    assert repr(commands.EXAMPLES[0]) in message
    if case.text.strip() and excinfo.value.reason != "too_long":
        assert repr(case.text[:50])[1:-1] in message  # the command itself is quoted
    for word in excinfo.value.words:
        assert repr(word)[1:-1] in message  # as quoted (invisible characters escaped)


@pytest.mark.parametrize(
    "case", [c for c in REFUSED if c.refuse == "unknown_words"], ids=lambda c: _id(c) if isinstance(c, Case) else ""
)
def test_a_leftover_word_refusal_names_the_word(case: Case) -> None:
    with pytest.raises(CommandRefused) as excinfo:
        parse_command(case.text)
    refusal = excinfo.value
    assert refusal.words, refusal
    assert f"I did not understand {refusal.words[0]!r}" in str(refusal)
    lowered = case.text.lower()
    assert all(w.lower() in lowered for w in refusal.words)


def test_starve_is_named() -> None:
    with pytest.raises(CommandRefused) as excinfo:
        parse_command("Turn off fairness and starve the trucks forever")
    assert excinfo.value.reason == "unknown_words" and excinfo.value.words == ("starve",)
    assert "I did not understand 'starve'" in str(excinfo.value)


@pytest.mark.parametrize("bad", [None, 7, b"save energy", ["save energy"]])
def test_non_text_is_refused(bad: Any) -> None:
    with pytest.raises(CommandRefused, match="must be a str") as excinfo:
        parse_command(bad)
    assert excinfo.value.reason == "not_text"


def test_the_examples_in_the_error_message_are_understood() -> None:
    for text in commands.EXAMPLES:
        assert parse_command(text).label != "", text


# --- determinism, bounds and the public names ---------------------------------------------------
def test_deterministic() -> None:
    texts = [c.text for c in ACCEPTED]
    first = [parse_command(t) for t in texts]
    interpret._parse.cache_clear()
    second = [parse_command(t) for t in texts]
    assert first == second
    assert [hash(g) for g in first] == [hash(g) for g in second]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.vector(), b.vector())


def test_refusals_are_deterministic() -> None:
    def reasons() -> list[tuple[str, tuple[str, ...], str]]:
        out = []
        for c in REFUSED:
            with pytest.raises(CommandRefused) as excinfo:
                parse_command(c.text)
            out.append((excinfo.value.reason, excinfo.value.words, str(excinfo.value)))
        return out

    first = reasons()
    interpret._parse.cache_clear()
    assert reasons() == first


def test_corpus_goals_are_bounded() -> None:
    for case in ACCEPTED:
        v = parse_command(case.text).vector()
        assert np.all(np.isfinite(v)) and np.all(v >= 0) and np.all(v <= GOAL_VECTOR_HIGH), case.text


def test_public_names() -> None:
    assert issubclass(CommandRefused, CommandError) and issubclass(CommandError, ValueError)
    assert vecgym.CommandError is CommandError and vecgym.CommandRefused is CommandRefused
    assert commands.parse_command is interpret.parse_command
    assert vecgym.parse_command("save power") == commands.parse_command("save power") == parse_command("save power")
    for name in ("ENERGY_SAVING", "LOW_LATENCY", "PRIORITY_WEIGHT", "DEPRIORITY_WEIGHT", "FAIRNESS_WEIGHT",
                 "MAX_COMMAND_CHARS", "EXAMPLES"):  # fmt: skip
        assert getattr(commands, name) == getattr(interpret, name)
