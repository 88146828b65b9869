"""Step 4 of the pipeline: clauses, and the slots each one fills.

A clause ends at a hard break ("." ";" "but" ...) or at a soft one ("," "and") that a new request
follows (not a target or an operator: "buses and trucks" stay together). In a clause:

* each unit's polarity is the nearest operator before it: none (asked for), ``not`` / ``over``
  (left unchanged: "prioritize vehicle 3, not vehicle 4", "latency over energy") or ``except``
  (the opposite of the clause's direction: "prioritize everyone except vehicle 3" lowers 3); a
  raising or lowering word after an operator's target is the clause's verb and ends the operator's
  reach ("everyone but vehicle 3 gets priority", "vehicle 3, not vehicle 4, goes first");
* the direction is raise (a raising cue, or a comparative "buses before cars") or lower;
* named targets take the direction; with none, a latency wish in the clause raises them
  ("low latency for vehicle 7") and is then not network-wide;
* trade-off nouns ("energy", "latency") mean a mode only after a raising word ("prioritize latency
  over energy"); a latency noun is also placed by a low-latency word in its clause ("make responses
  snappier"); mildness attaches to the clause's mode; a cancelling word cancels its clause.

Whatever a clause cannot place is a refusal, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .constants import DEPRIORITY_WEIGHT, PRIORITY_WEIGHT
from .units import Refusal, Unit

#: A unit's words in the command, for messages.
Namer = Callable[[Unit], str]

TARGETS = frozenset({"vehicles", "class", "all_target"})
NAMED = frozenset({"vehicles", "class"})
MODES = frozenset(
    {"energy_saving", "low_latency", "balanced", "relaxed_deadlines", "strict_deadlines", "fairness", "equal"}
)
LATENCY_WISHES = frozenset({"low_latency", "accept_energy"})
DEADLINE_WORDS = frozenset({"relaxed_deadlines", "strict_deadlines", "factor", "deadline_factor"})
#: Units read for the whole command, not per clause.
GLOBAL = frozenset({"duration", "until_replaced", "neutral", "context"})


@dataclass
class Slots:
    """What the command asks for, each with the units that say so (for the evidence)."""

    modes: list[tuple[str, list[Unit]]] = field(default_factory=list)
    mild: list[list[Unit]] = field(default_factory=list)
    factors: list[tuple[float, list[Unit]]] = field(default_factory=list)
    weights: list[tuple[tuple[str, int | str], float, list[Unit]]] = field(default_factory=list)
    unchanged: list[tuple[tuple[str, int | str] | None, list[Unit]]] = field(default_factory=list)
    cancels: list[list[Unit]] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


TOPICS = frozenset({"energy_topic", "latency_topic"})
#: Raising words that may mean "more of" a quantity: they raise targets, never a bare trade-off term.
QUANTITY_RAISERS = frozenset({"boost", "boosted", "boosting", "boosts", "increase", "increased", "raise", "raised"})


def clauses(units: list[Unit]) -> list[list[Unit]]:
    """Split the (per-clause) units at hard breaks and trade-off connectives, at soft breaks before a
    new request, and at soft breaks between orderings ("vehicle 3 first, vehicle 8 last")."""
    out: list[list[Unit]] = [[]]
    for k, u in enumerate(units):
        if u.kind in {"break", "tradeoff"}:
            out.append([])
        elif u.kind == "soft_break":
            nxt = units[k + 1] if k + 1 < len(units) else None
            if nxt is not None and (
                nxt.kind not in TARGETS | {"operator", "soft_break", "scope"} or _ordering_ends(out[-1], nxt)
            ):
                out.append([])
        else:
            out[-1].append(u)
    return [c for c in out if c]


def _ordering_ends(clause: list[Unit], nxt: Unit) -> bool:
    """A clause "<target> first" (its raising or lowering word after its target) is complete: a new
    target after a comma starts the next ordering ("vehicle 3 first, vehicle 8 last")."""
    return (
        len(clause) >= 2
        and clause[-1].kind in {"raise", "lower"}
        and clause[-1].value == "ordinal"
        and clause[-2].kind in NAMED | TOPICS
        and nxt.kind in NAMED | TOPICS
    )


#: Kinds a trade-off clause ("... as long as every vehicle gets a fair share") may hold.
TRADEOFF_CLAUSE = frozenset(
    {"energy_saving", "low_latency", "accept_energy", "relaxed_deadlines", "strict_deadlines", "fairness", "equal"}
)
_TRADEOFF_EXTRA = frozenset({"all_target", "mild", "neutral", "scope", "context", "duration", "until_replaced"})


#: What the operator gives up before a trade-off connective (latency, energy, a target's wait).
CONCESSIONS = frozenset({"relaxed_deadlines", "accept_energy", "lower_or_relaxed"})


def tradeoff_refusals(units: list[Unit], name: Namer, verb_s: Callable[[Unit], bool] = lambda u: True) -> list[Refusal]:
    """A trade-off connective ("if it", "as long as") is benign only between two understood requests
    in one sentence: a concession before it (tolerated latency, spent energy, "can wait"), and after
    it a clause of network-wide intents only (for "if it ...", a verb starting right after it,
    ``verb_s``: "tolerate more latency if it saves battery"). Anything else is a condition on the
    world or a delayed start, refused like "if"."""
    refusals: list[Refusal] = []
    for k, u in enumerate(units):
        if u.kind != "tradeoff":
            continue
        before: list[Unit] = []
        for x in reversed(units[:k]):
            if x.kind in {"break", "tradeoff"}:
                break
            before.append(x)
        after: list[Unit] = []
        for x in units[k + 1 :]:
            if x.kind in {"break", "tradeoff"}:
                break
            if x.kind != "soft_break":
                after.append(x)
        concessions = [x for x in before if x.kind in CONCESSIONS]
        intents = [x for x in after if x.kind in TRADEOFF_CLAUSE]
        ok = bool(concessions) and bool(intents) and all(x.kind in TRADEOFF_CLAUSE | _TRADEOFF_EXTRA for x in after)
        if ok and u.value == "if":  # "if it saves battery": a verb right after "if it", not "if it's fair"
            ok = after[0].kind in TRADEOFF_CLAUSE and after[0].first == u.last + 1 and verb_s(after[0])
        if not ok:
            refusals.append(
                Refusal(
                    "bad_duration",
                    f"{name(u)!r}: conditional or delayed requests are not supported; a command takes effect now "
                    "(a trade-off between two requests is fine: 'tolerate more latency if it saves energy')",
                    (name(u),),
                )
            )
    return refusals


@dataclass
class _Clause:
    """One clause's units sorted by polarity."""

    live: list[Unit]
    unchanged: list[tuple[Unit, Unit]]
    excepted: list[tuple[Unit, Unit]]

    def kinds(self) -> set[str]:
        return {u.kind for u in self.live}

    def of(self, *kinds: str) -> list[Unit]:
        return [u for u in self.live if u.kind in kinds]


def read_clause(units: list[Unit], slots: Slots, name: Namer) -> None:
    """Fill ``slots`` from one clause; ``name(unit)`` gives a unit's words for messages."""
    units = _resolve_waiting(units)
    cancels = [u for u in units if u.kind == "cancel"]
    if cancels:
        slots.cancels.append(units)
        return
    c = _polarities(units, slots, name)
    if c is None:
        return
    direction = _direction(c, units, slots, name)
    wishes = c.of(*LATENCY_WISHES)
    if _raises_topics(c, direction, name):
        wishes += c.of("latency_topic")
    attached = _named_targets(c, direction, wishes, slots, name)
    _excepted_targets(c, direction if direction or not wishes else "raise", slots, name)
    _modes(c, direction, [] if attached else wishes, slots, name)
    _unchanged(c, slots)


def _resolve_waiting(units: list[Unit]) -> list[Unit]:
    """ "can wait" lowers the clause's named targets, or else tolerates latency."""
    kind = "lower" if any(u.kind in NAMED for u in units) else "relaxed_deadlines"
    return [Unit(kind, u.value, u.indices) if u.kind == "lower_or_relaxed" else u for u in units]


def _polarities(units: list[Unit], slots: Slots, name: Namer) -> _Clause | None:
    live: list[Unit] = []
    unchanged: list[tuple[Unit, Unit]] = []
    excepted: list[tuple[Unit, Unit]] = []
    op: Unit | None = None
    op_target = False  # the operator has reached a target
    for u in units:
        if u.kind == "operator":
            if u.value == "not" and not live:
                slots.refusals.append(_negation(u, units, name))
                return None
            op, op_target = u, False
        elif op is not None and op_target and u.kind in {"raise", "lower"}:
            op = None  # the clause's verb after "everyone but vehicle 3": it ends the operator's reach
            live.append(u)
        elif op is None:
            live.append(u)
        elif op.value == "except":
            excepted.append((op, u))
            op_target = op_target or u.kind in TARGETS
        else:
            unchanged.append((op, u))
            op_target = op_target or u.kind in TARGETS
    return _Clause(live, unchanged, excepted)


def _negation(u: Unit, units: list[Unit], name: Namer) -> Refusal:
    said = " ".join(name(x) for x in units)
    return Refusal(
        "negation",
        f"{said!r} is a negated request I cannot read unambiguously; say what you want instead "
        "(e.g. 'back to normal', 'deprioritize trucks', 'tolerate higher latency')",
        (name(u),),
    )


def _direction(c: _Clause, units: list[Unit], slots: Slots, name: Namer) -> str | None:
    raises, lowers = c.of("raise"), c.of("lower")
    named = c.of(*NAMED)
    if raises and lowers and (named or c.excepted):
        slots.refusals.append(
            Refusal(
                "contradiction",
                f"it is ambiguous which of {', '.join(repr(name(t)) for t in named)} should get higher and which "
                "lower priority; put each request in its own sentence",
            )
        )
        return None
    if raises:
        return "raise"
    if lowers:
        return "lower"
    if (named or c.of("energy_topic", "latency_topic")) and any(op.value == "over" for op, _ in c.unchanged):
        return "raise"  # "buses before private cars", "latency over energy"
    return None


def _named_targets(c: _Clause, direction: str | None, wishes: list[Unit], slots: Slots, name: Namer) -> bool:
    """Weight the named targets; True when the clause's latency wishes went to them."""
    named = [u for u in c.of(*NAMED) if not _scoped(u, c)]
    if not named:
        return False
    attached = direction is None and bool(wishes) and not c.of("all_target")
    if direction == "raise" and wishes and not c.of("all_target"):
        attached = True
    if direction is None and not attached:
        slots.refusals.append(
            Refusal(
                "no_intent",
                f"it names {', '.join(repr(name(t)) for t in named)} without saying what it should get; say e.g. "
                "'prioritize ...' or 'deprioritize ...' (energy saving, fairness and deadlines apply to the whole "
                "network, not to named vehicles or classes)",
            )
        )
        return False
    weight = "lower" if direction == "lower" else "raise"
    cues = c.of(weight) or wishes
    for t in named:
        _weigh(t, weight, [*cues, t], slots)
    return attached


def _excepted_targets(c: _Clause, direction: str | None, slots: Slots, name: Namer) -> None:
    for op, t in c.excepted:
        if t.kind not in NAMED:
            slots.unchanged.append((None, [op, t]))
            continue
        if direction is None:
            slots.refusals.append(
                Refusal(
                    "no_intent",
                    f"{name(op)} {name(t)!r}: excepted from what? Say e.g. 'prioritize all vehicles except ...'",
                )
            )
            return
        _weigh(t, "lower" if direction == "raise" else "raise", [op, t], slots)


def _weigh(t: Unit, direction: str, evidence: list[Unit], slots: Slots) -> None:
    weight = PRIORITY_WEIGHT if direction == "raise" else DEPRIORITY_WEIGHT
    for key in _keys(t):
        slots.weights.append((key, weight, evidence))


def _keys(t: Unit) -> list[tuple[str, int | str]]:
    if t.kind == "vehicles":
        return [("vehicle", i) for i in t.value]
    if t.kind == "class":
        return [("class", t.value)]
    return []


def _scoped(t: Unit, c: _Clause) -> bool:
    """A target after "across"/"among" in a fairness clause ("keep shares even across cars")."""
    k = c.live.index(t) if t in c.live else -1
    return k > 0 and c.live[k - 1].kind == "scope" and bool(c.kinds() & {"fairness", "equal"})


def _raises_topics(c: _Clause, direction: str | None, name: Namer) -> bool:
    """Whether the clause's raising words make a bare trade-off term a mode ("prioritize latency"
    is low latency). Quantity verbs alone do not: "boost latency" or "increase energy" could ask
    for more of the quantity itself, so the term stays unplaced (refused)."""
    raisers = c.of("raise")
    return direction == "raise" and not (raisers and all(name(u).lower() in QUANTITY_RAISERS for u in raisers))


def _modes(c: _Clause, direction: str | None, wishes: list[Unit], slots: Slots, name: Namer) -> None:
    kinds = c.kinds()
    found: list[tuple[str, list[Unit]]] = [(u.kind, [u]) for u in c.live if u.kind in MODES and u.kind != "low_latency"]
    raises_topics = _raises_topics(c, direction, name)
    if raises_topics:
        found += [("energy_saving", [*c.of("raise"), u]) for u in c.of("energy_topic")]
    if wishes:
        found.append(("low_latency", wishes))
    slots.modes += found
    _mild(c, found, slots, name)
    _factors(c, slots, name)
    if _ordered_last(c, direction):
        slots.unchanged += [(None, [*c.of("lower"), u]) for u in c.of(*TOPICS)]
        return
    topics_ok = raises_topics or bool(kinds & DEADLINE_WORDS) or "low_latency" in kinds
    loose = [u for u in c.of("energy_topic") if not raises_topics]
    loose += [u for u in c.of("latency_topic") if not topics_ok]
    loose += [u for u in c.of("deadline_topic") if not kinds & DEADLINE_WORDS]
    loose += [u for u in c.of("scope") if not kinds & {"fairness", "equal"}]
    if loose:
        slots.refusals.append(_unplaced(loose, name))
    _unused_cues(c, found, slots, name)


def _ordered_last(c: _Clause, direction: str | None) -> bool:
    """ "energy second", "latency last": a trade-off noun put behind another request; it asks for
    nothing (the other clause says what comes first) and is read as unchanged."""
    return direction == "lower" and c.kinds() <= TOPICS | {"lower"} and bool(c.of(*TOPICS)) and not c.excepted


def _mild(c: _Clause, found: list[tuple[str, list[Unit]]], slots: Slots, name: Namer) -> None:
    mild = c.of("mild")
    if not mild:
        return
    if any(m in {"energy_saving", "low_latency"} for m, _ in found):
        slots.mild.append(mild)
    elif not c.kinds() & DEADLINE_WORDS:
        slots.refusals.append(_unplaced(mild, name))


def _factors(c: _Clause, slots: Slots, name: Namer) -> None:
    for u in c.of("deadline_factor"):
        slots.factors.append((u.value, [u]))
    numbers = c.of("factor")
    if numbers and not c.kinds() & {"latency_topic", "deadline_topic", "relaxed_deadlines", "strict_deadlines"}:
        slots.refusals.append(_unplaced(numbers, name))
        return
    for u in numbers:
        slots.factors.append((u.value, [*c.of("latency_topic", "deadline_topic"), u]))


def _unused_cues(c: _Clause, found: list[tuple[str, list[Unit]]], slots: Slots, name: Namer) -> None:
    """A raising or lowering word with nothing to raise or lower, or "all" with nothing asked."""
    used = bool(c.of(*NAMED) or c.excepted or found)
    if used:
        return
    idle = c.of("raise", "lower", "all_target")
    if idle:
        slots.refusals.append(
            Refusal(
                "no_intent",
                f"{' '.join(name(u) for u in idle)!r} names no vehicle id or class to act on (priority for "
                "everyone is no priority: say 'low latency' for the whole network)",
            )
        )


def _unchanged(c: _Clause, slots: Slots) -> None:
    for op, u in c.unchanged:
        keys: list[tuple[str, int | str] | None] = list(_keys(u)) or [None]
        for key in keys:
            slots.unchanged.append((key, [op, u]))


def _unplaced(units: list[Unit], name: Namer) -> Refusal:
    said = tuple(name(u) for u in units)
    return Refusal("unknown_words", "nothing in its clause says what it applies to", said)
