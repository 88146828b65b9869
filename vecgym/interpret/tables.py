"""The phrase tables of ``phrases.toml``, loaded once and indexed for matching.

Each table entry is tokenised and stemmed like a command. Function words inside an entry are
dropped (they are skipped in commands too); its first and last words are kept. ``TABLES.phrases``
maps the first stem of an entry to its entries, longest first; a phrase key belongs to one kind
only, which ``load`` checks.
"""

from __future__ import annotations

import functools
import itertools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .normalize import tokenize

#: Sections of phrases.toml whose keys are phrase kinds.
_KIND_SECTIONS = ("modes", "cues", "timing")


@dataclass(frozen=True)
class Phrase:
    """A table entry: its stems, its kind (``low_latency``, ``raise``, ``class``, ...) and a value
    (the class name, the deadline factor, the refusal reason, ...)."""

    stems: tuple[str, ...]
    kind: str
    value: Any = None
    source: str = ""


@dataclass(frozen=True)
class Tables:
    """Everything the interpreter knows, as sets and indexes of stems."""

    function: frozenset[str]
    skippable: frozenset[str]
    hard_break: frozenset[str]
    soft_break: frozenset[str]
    phrases: dict[str, tuple[Phrase, ...]]
    contradictions: tuple[tuple[str, str, str], ...]
    units: dict[str, float]
    quantities: dict[str, frozenset[tuple[str, ...]]]
    id_nouns: frozenset[str]
    singular_nouns: frozenset[str]
    injection_characters: frozenset[str]
    injection_categories: frozenset[str]
    courtesy_modals: frozenset[str] = frozenset()


def stems_of(text: str) -> tuple[str, ...]:
    return tuple(t.stem for t in tokenize(text))


def _key(text: str, function: frozenset[str]) -> tuple[str, ...]:
    """The stems an entry matches: its interior function words dropped (commands skip them), its
    first and last words kept ("a while" is not "while", "focus on" is not "focus")."""
    stems = stems_of(text)
    if len(stems) <= 2:
        return stems
    return (stems[0], *(s for s in stems[1:-1] if s not in function), stems[-1])


def _entries(data: dict[str, Any], function: frozenset[str]) -> Iterable[Phrase]:
    skip = data["skip"]
    for word in skip["function"]:
        if len(stems_of(word)) > 1:
            yield Phrase(stems_of(word), "skip", source=word)
    for word in skip["framing"] + skip["intensifier"]:
        yield Phrase(_key(word, function), "skip", source=word)
    for adverb, verb in itertools.product(skip["switch_adverb"], skip["switch_verb"]):
        yield Phrase(_key(f"{adverb} {verb}", function), "skip")
    for word in data["structure"]["hard_break"]:
        yield Phrase(stems_of(word), "break", source=word)
    for word in data["structure"]["soft_break"]:
        yield Phrase(stems_of(word), "soft_break", source=word)
    for word in data["structure"]["courtesy_if"]:
        yield Phrase(stems_of(word), "courtesy_if", source=word)
    for form in ("tradeoff_if", "tradeoff_while"):
        for word in data["structure"][form]:
            yield Phrase(stems_of(word), "tradeoff", form.removeprefix("tradeoff_"), source=word)
    for polarity, words in data["operators"].items():
        for word in words:
            yield Phrase(stems_of(word), "operator", polarity, source=word)
    for section in _KIND_SECTIONS:
        for kind, words in data[section].items():
            for word in words:
                yield Phrase(_key(word, function), kind, source=word)
    for word, factor in data["deadline_factor"].items():
        yield Phrase(_key(word, function), "deadline_factor", float(factor), source=word)
    for combo in data["combos"]:
        firsts = [*combo["first"], *(d for a in combo.get("degrees", ()) for d in degrees(a))]
        for first, second in itertools.product(dict.fromkeys(firsts), combo["second"]):
            yield Phrase(_key(f"{first} {second}", function), combo["kind"], source=f"{first} {second}")
        # the passive of every verb of the combo: "energy consumption should be minimised"
        for verb, second in itertools.product(combo.get("passive", ()), combo["second"]):
            stems = (*_key(second, function), BE, *stems_of(verb))
            yield Phrase(stems, combo["kind"], source=f"{second} be {verb}")
    for cls, words in data["classes"].items():
        for word in words:
            yield Phrase(_key(word, function), "class", cls, source=word)
    for word in data["vehicles"]["singular"]:
        yield Phrase(_key(word, function), "unnamed_vehicle", source=word)
    for reason, words in data["out_of_scope"].items():
        for word in words:
            yield Phrase(_key(word, function), "out_of_scope", reason, source=word)
    for word in data["injection"]["phrases"]:
        yield Phrase(_key(word, function), "injection", source=word)


#: The stem an entry uses for "a form of 'to be'" (a passive: "latency should be reduced").
BE = "@be"
#: Forms of "to be" (and "get") a passive's ``BE`` matches, as stems.
BE_FORMS = frozenset({"be", "is", "are", "was", "were", "been", "being", "get", "got"})


def degrees(adjective: str) -> tuple[str, ...]:
    """An adjective and its comparative and superlative ("low" -> "lower", "lowest"; "big" ->
    "bigger"; "snappy" -> "snappier"; "little" -> "less", "least")."""
    irregular = {"good": ("better", "best"), "little": ("less", "least"), "bad": ("worse", "worst")}
    a = adjective
    if a in irregular:
        return (a, *irregular[a])
    if a.endswith("y") and len(a) > 3:
        return a, a[:-1] + "ier", a[:-1] + "iest"
    if a.endswith("e"):
        return a, a + "r", a + "st"
    if len(a) <= 4 and re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwxy]", a):
        return a, a + a[-1] + "er", a + a[-1] + "est"
    return a, a + "er", a + "est"


#: Kinds that may share a key: the later table wins (a refusal over a reading).
_PRECEDENCE = ("skip", "all_target", "out_of_scope", "injection")


def _index(phrases: Iterable[Phrase]) -> dict[str, tuple[Phrase, ...]]:
    by_key: dict[tuple[str, ...], Phrase] = {}
    for p in phrases:
        old = by_key.get(p.stems)
        if old is None or (old.kind, old.value) == (p.kind, p.value):
            by_key[p.stems] = p
            continue
        if (
            old.kind in _PRECEDENCE
            and p.kind in _PRECEDENCE
            and _PRECEDENCE.index(p.kind) > _PRECEDENCE.index(old.kind)
        ):
            by_key[p.stems] = p
            continue
        if old.kind in _PRECEDENCE and p.kind in _PRECEDENCE:
            continue
        raise ValueError(
            f"phrases.toml: {p.source!r} ({' '.join(p.stems)}) is both {old.kind} {old.value or ''} "
            f"({old.source!r}) and {p.kind} {p.value or ''}"
        )
    index: dict[str, list[Phrase]] = {}
    for p in by_key.values():
        index.setdefault(p.stems[0], []).append(p)
    return {k: tuple(sorted(v, key=lambda p: -len(p.stems))) for k, v in index.items()}


def _stem_set(words: Iterable[str]) -> frozenset[str]:
    return frozenset(s for w in words for s in stems_of(w))


def _sequences(words: Iterable[str]) -> frozenset[tuple[str, ...]]:
    return frozenset(stems_of(w) for w in words)


def load(data: dict[str, Any]) -> Tables:
    """Build the tables from the parsed TOML (a dict)."""
    skip = data["skip"]
    function = frozenset(stems_of(w)[0] for w in skip["function"] if len(stems_of(w)) == 1)
    single_skip = [w for w in skip["framing"] + skip["intensifier"] if len(stems_of(w)) == 1]
    q = data["quantities"]
    veh = data["vehicles"]
    quantities = {
        name: _sequences(q[name])
        for name in (
            "duration_lead",
            "delayed_lead",
            "duration_joins",
            "factor_marks",
            "factor_lead",
            "target_units",
            "negative_marks",
        )
    }
    quantities |= {name: _sequences(veh[name]) for name in ("id_glue", "id_joins", "id_ranges")}
    return Tables(
        function=function,
        skippable=function | _stem_set(single_skip),
        hard_break=_stem_set(w for w in data["structure"]["hard_break"] if len(stems_of(w)) == 1),
        soft_break=_stem_set(w for w in data["structure"]["soft_break"] if len(stems_of(w)) == 1),
        phrases=_index(_entries(data, function)),
        contradictions=tuple((c["a"], c["b"], c["why"]) for c in data["contradictions"]),
        units={stems_of(u)[0]: float(s) for u, s in q["units"].items()},
        quantities=quantities,
        id_nouns=_stem_set(veh["id_nouns"]),
        singular_nouns=frozenset(veh["singular_nouns"]),
        injection_characters=frozenset(data["injection"]["characters"]),
        injection_categories=frozenset(data["injection"]["categories"]),
        courtesy_modals=_stem_set(data["structure"]["courtesy_modals"]),
    )


@functools.cache
def tables() -> Tables:
    """The interpreter's tables, read once from the package's ``phrases.toml``."""
    text = resources.files(__package__).joinpath("phrases.toml").read_text(encoding="utf-8")
    return load(tomllib.loads(text))
