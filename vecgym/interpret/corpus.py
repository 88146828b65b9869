"""Golden corpora of commands and how exactly the interpreter reads them.

A corpus is a JSON-lines file, one case a line:

* ``{"text": ..., "goal": {GoalSpec fields, label included; defaults may be omitted}}``: the goal;
* ``{"text": ..., "refuse": "<reason>"}``: refused with that ``CommandRefused.reason``
  (``"refuse": true``: refused, for any reason);
* ``{"text": ..., "injection": true}``: refused, for any reason.

``score(cases)`` counts the cases read exactly (the equal goal, or a refusal with the reason).
``python -m vecgym.interpret.corpus FILE...`` prints the exact rate per file and the failures.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..goals import CommandRefused, GoalSpec


@dataclass(frozen=True)
class Case:
    """One line of a corpus: the command and what it must give."""

    text: str
    goal: GoalSpec | None = None
    refuse: str | bool | None = None
    injection: bool = False
    line: int = 0

    def expected(self) -> str:
        if self.goal is not None:
            return _describe(self.goal)
        return f"refused ({self.refuse if isinstance(self.refuse, str) else 'any reason'})"


@dataclass(frozen=True)
class Failure:
    case: Case
    got: str


@dataclass(frozen=True)
class Score:
    exact: int
    total: int
    failures: tuple[Failure, ...]

    @property
    def rate(self) -> float:
        return self.exact / self.total if self.total else 0.0


def goal_from_json(fields: dict[str, Any]) -> GoalSpec:
    fields = dict(fields)
    if "vehicle_weights" in fields:
        fields["vehicle_weights"] = {int(k): float(v) for k, v in fields["vehicle_weights"].items()}
    return GoalSpec(**fields)


def load_corpus(path: str | Path) -> list[Case]:
    cases = []
    for n, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        entry = json.loads(raw)
        goal = goal_from_json(entry["goal"]) if "goal" in entry else None
        case = Case(entry["text"], goal, entry.get("refuse"), bool(entry.get("injection")), n)
        if (goal is None) == (case.refuse is None and not case.injection):
            raise ValueError(f"{path}:{n}: a case needs exactly one of 'goal', 'refuse', 'injection'")
        cases.append(case)
    return cases


def check(case: Case, parse: Callable[[str], GoalSpec]) -> Failure | None:
    """None if ``parse`` reads ``case`` exactly, else what it gave."""
    try:
        got = parse(case.text)
    except CommandRefused as e:
        if case.goal is None and (case.injection or case.refuse is True or e.reason == case.refuse):
            return None
        return Failure(case, f"refused ({e.reason}): {str(e).split('. Commands I understand')[0]}")
    if case.goal is not None and got == case.goal:
        return None
    return Failure(case, _describe(got))


def score(cases: Sequence[Case], parse: Callable[[str], GoalSpec] | None = None) -> Score:
    if parse is None:
        from . import parse_command

        parse = parse_command
    read = parse
    failures = tuple(f for f in (check(c, read) for c in cases) if f is not None)
    return Score(len(cases) - len(failures), len(cases), failures)


def _describe(g: GoalSpec) -> str:
    default = GoalSpec()
    scalars = ("beta_energy", "beta_qos", "fairness", "deadline_scale", "duration_s")
    parts = [f"{name}={getattr(g, name)!r}" for name in scalars if getattr(g, name) != getattr(default, name)]
    parts += [f"{name}={dict(getattr(g, name))}" for name in ("vehicle_weights", "class_weights") if getattr(g, name)]
    return f"{g.label} " + " ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print("usage: python -m vecgym.interpret.corpus FILE.jsonl ...", file=sys.stderr)
        return 2
    for path in paths:
        s = score(load_corpus(path))
        print(f"{path}: {s.exact}/{s.total} exact ({100 * s.rate:.1f}%)")
        for f in s.failures:
            print(f"  line {f.case.line}: {f.case.text!r}\n    want {f.case.expected()}\n    got  {f.got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
