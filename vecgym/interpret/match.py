"""Step 3 of the pipeline: phrases, matched longest-first over the tokens the quantity pass left.

At each token the longest table entry starting there wins; refusing entries (injections, out of
scope) are matched in a first pass, so that no reading phrase can hide them, and concessive idioms
("at the cost of latency", "even if it costs more energy") in a second, so that a phrase starting
earlier cannot swallow their first words ("save energy [at the] cost" is not "save energy cost").
Inside an entry the command may have extra skippable words ("save *a bit of* energy" matches
"save energy"; "a bit" is then read on its own as mildness); quantities and other content words
break an entry. Skippable words that no entry uses are dropped; any other word is a leftover, which
the interpreter refuses by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from .normalize import Token
from .tables import BE, BE_FORMS, Phrase, Tables
from .units import Unit

#: At most this many skippable words between two words of an entry.
MAX_GAP = 3
#: Kinds whose words may sit inside another entry (besides function and framing words).
TRANSPARENT_KINDS = frozenset({"mild"})
#: Kinds matched in a first pass, so that a reading phrase starting earlier cannot hide them.
REFUSING = frozenset({"injection", "out_of_scope"})
#: Concessive idioms, matched in a second pass: (kinds, first stems); at least three stems long.
CONCESSIVE_KINDS = frozenset({"accept_energy", "relaxed_deadlines"})
CONCESSIVE_FIRST = frozenset({"at", "even"})
#: Context phrases matched with the refusing ones, so that a refusing word inside them does not win
#: ("fair to everyone on the road": the road is where the vehicles are, not a request about traffic).
CONTEXT_OVER_REFUSAL = frozenset({"context"})
#: Quantities an entry may straddle.
GAP_KINDS = frozenset({"factor", "duration"})
#: Words that make a singular class noun mean the whole class ("every truck").
_QUANTIFIERS = frozenset({"every", "each", "all", "any"})


@dataclass(frozen=True)
class Matched:
    """The units of a command in token order and its leftover tokens (by index)."""

    units: tuple[Unit, ...]
    leftovers: tuple[int, ...]


def match(tokens: list[Token], quantities: dict[int, Unit], t: Tables) -> Matched:
    transparent = _transparent(t)
    free = transparent - t.skippable  # mild words: they do not count towards an entry's gap
    taken = {i for u in quantities.values() for i in u.indices}
    gaps = frozenset(i for u in quantities.values() if u.kind in GAP_KINDS for i in u.indices)
    units: list[Unit] = list(quantities.values())
    for rank in (0, 1, 2):  # refusing phrases first: they win wherever they start; then concessions
        for i in range(len(tokens)):
            if i in taken:
                continue
            found = _longest(tokens, i, taken - gaps, t, transparent | gaps, rank, free)
            if found is not None:
                phrase, indices = found
                taken.update(indices)
                units.append(_unit(tokens, phrase, indices, t))
    leftovers = [i for i, tok in enumerate(tokens) if i not in taken and tok.stem not in t.skippable]
    units.sort(key=lambda u: u.first)
    kept = _ordinals([u for u in units if u.kind != "skip"], tokens)
    return Matched(tuple(kept), tuple(leftovers))


#: Ordinals that end an ordering after a target or trade-off noun ("latency first, energy second").
ORDINALS = frozenset({"second"})
#: What an ordinal may follow, and what may follow it.
_ORDERED = frozenset({"vehicles", "class", "energy_topic", "latency_topic"})
_AFTER_ORDINAL = frozenset({"break", "soft_break"})
#: "first" and "last" as the ordinals they are (an ordering: "vehicle 3 first, vehicle 8 last").
_FIRST_LAST = frozenset({"first", "last"})
#: Verbs an ordinal may carry and stay one ("the ambulances go first, the trucks go last").
_ORDINAL_VERBS = frozenset({"go", "com"})  # stems of go(es), come(s)


def _ordinals(units: list[Unit], tokens: list[Token]) -> list[Unit]:
    """ "energy second", "vehicle 8 third": an ordinal after a target or trade-off noun, ending its
    clause, lowers it like "last" (elsewhere "second" stays a vague duration and is refused)."""
    out = list(units)
    for k, u in enumerate(out):
        if (
            u.kind in {"raise", "lower"}
            and tokens[u.last].stem in _FIRST_LAST
            and all(tokens[i].stem in _ORDINAL_VERBS for i in u.indices[:-1])
        ):
            out[k] = Unit(u.kind, "ordinal", u.indices)
            continue
        if u.kind != "vague_duration" or len(u.indices) != 1 or tokens[u.first].stem not in ORDINALS:
            continue
        before = out[k - 1] if k > 0 else None
        after = out[k + 1] if k + 1 < len(out) else None
        if before is not None and before.kind in _ORDERED and (after is None or after.kind in _AFTER_ORDINAL):
            out[k] = Unit("lower", "ordinal", u.indices)
    return out


_TRANSPARENT: dict[int, tuple[Tables, frozenset[str]]] = {}


def _transparent(t: Tables) -> frozenset[str]:
    """The stems an entry may skip, computed once per ``Tables``."""
    cached = _TRANSPARENT.get(id(t))
    if cached is None or cached[0] is not t:
        cached = _TRANSPARENT[id(t)] = (t, _compute_transparent(t))
    return cached[1]


def _compute_transparent(t: Tables) -> frozenset[str]:
    """Skippable stems, one-word mild stems, and the words of longer mild phrases that start no
    other entry ("save *a small amount of* power"); a skipped mild word must still be read as mild."""
    mild = [p for ps in t.phrases.values() for p in ps if p.kind in TRANSPARENT_KINDS]
    starts = {p.stems[0] for ps in t.phrases.values() for p in ps if p.kind not in TRANSPARENT_KINDS | {"skip"}}
    inner = {s for p in mild if len(p.stems) > 1 for s in p.stems if s not in starts}
    return t.skippable | frozenset(p.stems[0] for p in mild if len(p.stems) == 1) | inner


def _longest(
    tokens: list[Token],
    i: int,
    taken: set[int],
    t: Tables,
    transparent: frozenset[str | int],
    rank: int,
    free: frozenset[str] = frozenset(),
) -> tuple[Phrase, tuple[int, ...]] | None:
    for phrase in t.phrases.get(tokens[i].stem, ()):
        if _rank(phrase) != rank:
            continue
        indices = _match_at(tokens, i, phrase.stems, taken, transparent, free)
        if indices is not None:
            return phrase, indices
    return None


#: Raising / lowering entries with one of these words are matched with the refusing ones, so that
#: the numeric "weight" does not hide a direction ("raise the QoS weight of vehicle 17"); a number
#: after them is still refused ("raise the QoS weight of vehicle 17 to 5").
DIRECTION_OVER_NUMERIC = frozenset({"weight"})


def _rank(phrase: Phrase) -> int:
    """The pass an entry is matched in: 0 refusing, 1 concessive idiom, 2 the rest."""
    if phrase.kind in REFUSING | CONTEXT_OVER_REFUSAL:
        return 0
    if phrase.kind in {"raise", "lower"} and len(phrase.stems) > 1 and DIRECTION_OVER_NUMERIC & set(phrase.stems):
        return 0
    if phrase.kind in CONCESSIVE_KINDS and phrase.stems[0] in CONCESSIVE_FIRST and len(phrase.stems) >= 3:
        return 1
    return 2


def _match_at(
    tokens: list[Token],
    i: int,
    stems: tuple[str, ...],
    taken: set[int],
    transparent: frozenset[str | int],
    free: frozenset[str] = frozenset(),
) -> tuple[int, ...] | None:
    """The token indices of entry ``stems`` at ``i``; ``transparent`` holds skippable stems and the
    indices of quantities an entry may straddle ("delays up to 3x are acceptable")."""
    indices = [i]
    k = i + 1
    for want in stems[1:]:
        gap = 0
        while (
            k < len(tokens)
            and k not in taken
            and (k in transparent or (not _is(tokens[k], want) and _skippable(tokens, k, transparent)))
        ):
            k, gap = k + 1, gap + (k not in transparent and tokens[k].stem not in free)
        if k >= len(tokens) or k in taken or not _is(tokens[k], want) or gap > MAX_GAP:
            return None
        indices.append(k)
        k += 1
    return tuple(indices)


def _is(token: Token, want: str) -> bool:
    """``token`` is the entry's word ``want`` (``BE``: any form of "to be")."""
    return token.stem in BE_FORMS if want == BE else token.stem == want


def _skippable(tokens: list[Token], k: int, transparent: frozenset[str | int]) -> bool:
    return k in transparent or (tokens[k].number is None and tokens[k].stem in transparent)


def _unit(tokens: list[Token], phrase: Phrase, indices: tuple[int, ...], t: Tables) -> Unit:
    """The unit of a matched entry; a class or "all" noun in the singular names one vehicle."""
    if phrase.kind in {"class", "all_target"}:
        texts = [tokens[k].text for k in indices]
        if texts[-1] in t.singular_nouns and not _QUANTIFIERS & set(texts):
            return Unit("unnamed_vehicle", None, indices)
    return Unit(phrase.kind, phrase.value, indices)
