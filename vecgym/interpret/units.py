"""The units the reading passes produce, and the refusals they raise internally.

A ``Unit`` is a run of a command's tokens with one meaning: a phrase of a table (kind ``low_latency``,
``raise``, ``class``, ``operator``, ...) or a quantity (``vehicles``, ``duration``, ``factor``).
``Refusal`` is the pipeline's internal exception; ``vecgym.interpret`` turns it into
``CommandRefused`` with the command quoted and example commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .normalize import Token


@dataclass(frozen=True)
class Unit:
    """``kind`` and ``value`` of tokens ``indices`` (positions in the command's token list)."""

    kind: str
    value: Any
    indices: tuple[int, ...]

    @property
    def first(self) -> int:
        return self.indices[0]

    @property
    def last(self) -> int:
        return self.indices[-1]


def span(tokens: list[Token], units: list[Unit], shown: str) -> str:
    """The command's own words from the first to the last token of ``units``."""
    first = min(u.first for u in units)
    last = max(u.last for u in units)
    return shown[tokens[first].start : tokens[last].end]


def words(tokens: list[Token], unit: Unit, shown: str) -> tuple[str, ...]:
    return tuple(shown[tokens[i].start : tokens[i].end] for i in unit.indices)


#: Refusal reasons, most important first: a command with several problems reports the first.
REASONS: tuple[str, ...] = (
    "not_text",
    "empty",
    "too_long",
    "injection",
    "out_of_scope",
    "bad_vehicle_id",
    "bad_duration",
    "bad_factor",
    "unknown_words",
    "negation",
    "contradiction",
    "no_intent",
)


class Refusal(Exception):
    """Why the pipeline refuses a command: a reason code of ``REASONS``, a sentence for the operator,
    and the command's words it is about."""

    def __init__(self, reason: str, detail: str, words: tuple[str, ...] = ()) -> None:
        assert reason in REASONS, reason
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.words = words


def first_refusal(refusals: list[Refusal]) -> Refusal | None:
    """The most important of ``refusals`` (earliest in ``REASONS``; first found on ties)."""
    if not refusals:
        return None
    return min(refusals, key=lambda r: REASONS.index(r.reason))
