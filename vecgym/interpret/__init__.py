"""The offline, deterministic interpreter of operator commands: English text -> ``GoalSpec``.

The language is specified in ``docs/command_language.md`` (the contract). The rule is *refuse,
never misread*: every word that carries meaning must be part of a phrase the interpreter knows, or
the command is refused with ``vecgym.goals.CommandRefused`` naming it.

The pipeline (one module per step; the vocabularies are data, in ``phrases.toml``):

1. ``normalize``: Unicode and spelling normalisation, tokens with character spans, a light stemmer
   (plural, -ing, -ed, -ise/-ize, -our/-or), number words ("five", "twenty one") to numbers.
2. ``quantities``: vehicle ids ("vehicles 3, 5 and 9", "v4", "3-6"), durations ("for the next
   minute", "an hour and a half"), deadline factors ("3x") and numeric targets (refused).
3. ``match``: phrases of the tables, longest first at each word, skipping function words inside a
   phrase; words in no phrase and not function words are leftovers (refused by name). The tables
   generate constructions: the passive of every verb of a combination ("latency should be reduced")
   and the comparative and superlative of its adjectives ("the lowest possible power draw").
4. ``slots``: clauses, each unit's polarity from the nearest operator before it (not, over, than,
   rather than, except, all but, ...), targets, direction, modes, mildness, cancellation; orderings
   ("vehicle 3 first, vehicle 8 last") and trade-off connectives ("tolerate more latency if it saves
   battery": benign only after a concession, before network-wide intents) split clauses.
5. ``reading``: refusals by precedence, the contradiction table, the ``GoalSpec``, its label and
   the evidence.

``interpret(text)`` returns a ``Reading``: the goal and, for each part of it, an ``Evidence(field,
words)`` quoting the command. The ``field`` names are stable:

==================================  =============================================================
field                               words that produced it
==================================  =============================================================
``energy_saving``,                  the energy-saving phrase (with the mild words for ``_mild``)
``energy_saving_mild``
``low_latency``, ``low_latency_mild``  the network-wide latency wish
``balanced``                        "back to normal" etc. when the goal is the balanced one
``relaxed_deadlines``,              the deadline phrase ("tolerate higher latency", "strict deadlines")
``strict_deadlines``
``deadline_factor``                 a stated factor ("delays up to 3x", "halve the deadlines")
``fairness``                        the fairness or equal-treatment phrase
``priority``, ``low_priority``      the raising / lowering words and the target ("prioritize vehicle 7")
``duration``, ``until_replaced``    "for the next minute", "until further notice"
``cancel``                          a cancelled clause ("stop energy saving")
``polarity``                        an operator and what it leaves unchanged ("not vehicle 4")
==================================  =============================================================

Refusal reasons (``CommandRefused.reason``), by precedence: ``not_text``, ``empty``, ``too_long``,
``injection``, ``out_of_scope`` (physics and the world, numeric targets, grants beyond the system),
``bad_vehicle_id`` (also a vehicle named without an id), ``bad_duration`` (zero, negative, over 24
h, vague, delayed, two of them), ``bad_factor``, ``unknown_words``, ``negation``, ``contradiction``
and ``no_intent``.
"""

from __future__ import annotations

import functools

from ..goals import CommandError, CommandRefused, GoalSpec
from .constants import (
    DEPRIORITY_WEIGHT,
    ENERGY_SAVING,
    ENERGY_SAVING_MILD,
    EXAMPLES,
    FAIRNESS_WEIGHT,
    LOW_LATENCY,
    LOW_LATENCY_MILD,
    MAX_COMMAND_CHARS,
    MAX_INTERPRETED_DURATION_S,
    MAX_VEHICLE_ID,
    PRIORITY_WEIGHT,
    STRICT_DEADLINE_SCALE,
    TOLERANT_DEADLINE_SCALE,
)
from .reading import Evidence, Reading, read
from .units import Refusal

__all__ = [
    "DEPRIORITY_WEIGHT",
    "ENERGY_SAVING",
    "ENERGY_SAVING_MILD",
    "EXAMPLES",
    "FAIRNESS_WEIGHT",
    "LOW_LATENCY",
    "LOW_LATENCY_MILD",
    "MAX_COMMAND_CHARS",
    "MAX_INTERPRETED_DURATION_S",
    "MAX_VEHICLE_ID",
    "PRIORITY_WEIGHT",
    "STRICT_DEADLINE_SCALE",
    "TOLERANT_DEADLINE_SCALE",
    "CommandError",
    "CommandRefused",
    "Evidence",
    "Reading",
    "interpret",
    "parse_command",
]


def interpret(text: str) -> Reading:
    """The reading of an operator command: its ``GoalSpec`` and the words behind each part.

    Deterministic and offline. Raises ``CommandRefused`` (a ``CommandError``) naming what it did not
    understand, with example commands."""
    if not isinstance(text, str):
        raise CommandRefused(f"a command must be a str, got {type(text).__name__}", "not_text")
    result = _interpret(text)
    if isinstance(result, Refusal):
        raise _refused(result, text)
    return result


def parse_command(text: str) -> GoalSpec:
    """The ``GoalSpec`` an operator command means (``interpret(text).goal``)."""
    return interpret(text).goal


@functools.lru_cache(maxsize=1024)
def _interpret(text: str) -> Reading | Refusal:
    """The reading of ``text`` or why it is refused (both cached)."""
    try:
        return read(text)
    except Refusal as r:
        return r


def _refused(r: Refusal, text: str) -> CommandRefused:
    shown = text if len(text) <= 120 else text[:117] + "..."
    examples = "; ".join(repr(e) for e in EXAMPLES)
    if r.reason == "unknown_words":
        said = ", ".join(repr(w) for w in r.words)
        head = f"I did not understand {said} in {shown!r}; {r.detail}"
    else:
        head = f"cannot act on the command {shown!r}: {r.detail}"
    return CommandRefused(f"{head}. Commands I understand look like: {examples}", r.reason, r.words)


#: The cache of readings (``_parse.cache_clear()`` empties it; the name is kept for the tests).
_parse = _interpret
