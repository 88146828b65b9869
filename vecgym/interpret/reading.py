"""Steps 1-5 of the pipeline together: text -> ``Reading`` (a ``GoalSpec`` and its evidence).

1. ``normalize``: tokens and stems; 2. ``quantities``: ids, durations, factors; 3. ``match``: phrases,
longest first, and leftover words; 4. ``slots``: clauses, polarity, targets, modes; 5. here: the
refusals by precedence, the contradiction table, the goal, its label and its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..goals import BALANCED, DEADLINE_SCALE_RANGE, GoalSpec
from ..vocab import CLASSES
from .constants import (
    DEPRIORITY_WEIGHT,
    ENERGY_SAVING,
    ENERGY_SAVING_MILD,
    FAIRNESS_WEIGHT,
    LOW_LATENCY,
    LOW_LATENCY_MILD,
    MAX_COMMAND_CHARS,
    PRIORITY_WEIGHT,
    STRICT_DEADLINE_SCALE,
    TOLERANT_DEADLINE_SCALE,
)
from .match import match
from .normalize import Token, shown_text, tokenize
from .quantities import read_quantities
from .slots import GLOBAL, Slots, clauses, read_clause, tradeoff_refusals
from .tables import Tables, tables
from .units import Refusal, Unit, first_refusal, span

#: Units that are refusals by themselves: kind -> (reason, what to say).
REFUSING_KINDS: dict[str, tuple[str, str]] = {
    "injection": ("injection", "it talks to the interpreter instead of describing a goal for the network"),
    "out_of_scope": ("out_of_scope", "it is outside what a goal can ask"),
    "unnamed_vehicle": (
        "bad_vehicle_id",
        "it refers to a vehicle without its id; name it by id (e.g. 'vehicle 7') or a class in the plural",
    ),
    "vague_duration": ("bad_duration", "the duration is vague or not a duration; give a number, e.g. 'for 5 minutes'"),
    "delayed": (
        "bad_duration",
        "delayed, conditional or clock-time starts are not supported; a command takes effect now",
    ),
    "negation": ("negation", "a negated request I cannot read unambiguously; say what you want instead"),
}
_OUT_OF_SCOPE_WHY = {
    "weather": "the weather is outside the network's control",
    "motion": "vehicle motion and traffic are outside the network's control (it decides offloading and edge shares)",
    "equipment": "switching equipment off or on is outside the goals the network takes",
    "hardware": "the hardware (servers, CPU clock, bandwidth, transmit power) is fixed; goals only re-weight it",
    "drop": "the network cannot drop tasks or disconnect vehicles; say 'deprioritize ...' to lower their weight",
    "grant": "no goal can give a vehicle more than the physical system has or a resource to itself alone; "
    "ask for priority instead (e.g. 'Prioritize vehicle 3')",
    "numeric": "goals are set in words, not by numeric parameters or targets",
}


@dataclass(frozen=True)
class Evidence:
    """``words`` of the command that produced the part ``field`` of the goal (see the package docs)."""

    field: str
    words: str


@dataclass(frozen=True)
class Reading:
    """The goal a command means and, for each of its parts, the command's own words."""

    goal: GoalSpec
    evidence: tuple[Evidence, ...]


class _Command:
    """The command's tokens and the text their spans index."""

    def __init__(self, text: str) -> None:
        shown = shown_text(text)  # quotes and dashes map one character to one: spans stay valid
        if len(shown.lower()) != len(shown):
            shown = shown.lower()
        self.shown = text if len(shown) == len(text) else shown  # quote the operator's own characters
        self.tokens: list[Token] = tokenize(text)

    def name(self, unit: Unit) -> str:
        return span(self.tokens, [unit], self.shown)

    def words(self, units: list[Unit]) -> str:
        return span(self.tokens, units, self.shown)


def read(text: str) -> Reading:
    """The reading of ``text``; raises ``Refusal``."""
    if not text.strip():
        raise Refusal("empty", "it is empty")
    if len(text) > MAX_COMMAND_CHARS:
        raise Refusal("too_long", f"it is {len(text)} characters long; commands are at most {MAX_COMMAND_CHARS}")
    t = tables()
    cmd = _Command(text)
    _refuse_injected_characters(text, t)
    quantities, refusals = read_quantities(cmd.tokens, t)
    matched = match(cmd.tokens, quantities, t)
    refusals += [_unit_refusal(u, cmd) for u in matched.units if u.kind in REFUSING_KINDS]
    if matched.leftovers:
        refusals.append(_leftover_refusal(matched.leftovers, cmd))
    _raise_first(refusals)
    _raise_first(_weight_values(matched.units, cmd))
    units = _courtesy(list(matched.units), cmd, t)
    _raise_first(tradeoff_refusals(units, cmd.name, lambda u: cmd.tokens[u.first].text.endswith("s")))
    slots = Slots()
    for clause in clauses([u for u in units if u.kind not in GLOBAL]):
        read_clause(clause, slots, cmd.name)
    _raise_first(slots.refusals)
    return _compose(slots, [u for u in units if u.kind in GLOBAL], cmd)


def _weight_values(units: tuple[Unit, ...], cmd: _Command) -> list[Refusal]:
    """ "Raise the QoS weight of vehicle 2 to 5": with a weight named, "to / at <number>" may be a value
    for it, not the end of an id range; such a command is refused as a numeric target."""
    named = [u for u in units if u.kind in {"raise", "lower"} and any(cmd.tokens[i].stem == "weight" for i in u.indices)]
    toks = cmd.tokens
    if named and any(toks[i].stem in {"to", "at", "by"} and toks[i + 1].number is not None for i in range(len(toks) - 1)):
        u = named[0]
        return [Refusal("out_of_scope", f"{cmd.name(u)!r}: goals are set in words, not by numeric parameters or targets", (cmd.name(u),))]
    return []


def _courtesy(units: list[Unit], cmd: _Command, t: Tables) -> list[Unit]:
    """Courtesy frames with the polite subjunctive ("I'd be grateful if vehicle 3 could be given
    priority") carry no intent and are dropped, but only with a modal ("could", "would", "might")
    after them in their clause, before any comma or other break; otherwise the "if" is a condition on
    the world ("I'd be grateful if traffic is light, ...") and is refused like "if"."""
    out: list[Unit] = []
    for k, u in enumerate(units):
        if u.kind != "courtesy_if":
            out.append(u)
            continue
        end = next((x.first for x in units[k + 1 :] if x.kind in {"break", "soft_break", "tradeoff"}), len(cmd.tokens))
        if not any(cmd.tokens[i].stem in t.courtesy_modals for i in range(u.last + 1, end)):
            raise Refusal(
                "bad_duration",
                f"{cmd.name(u)!r}: conditional requests are not supported; a command takes effect now "
                "(a polite request is fine: 'I'd be grateful if you could save energy')",
                (cmd.name(u),),
            )
    return out


def _raise_first(refusals: list[Refusal]) -> None:
    first = first_refusal(refusals)
    if first is not None:
        raise first


def _refuse_injected_characters(text: str, t: Tables) -> None:
    import unicodedata

    for ch in text:
        if ch in t.injection_characters or unicodedata.category(ch) in t.injection_categories:
            raise Refusal(
                "injection",
                f"it contains {ch!r}, markup or hidden text that only an injection uses; commands are plain sentences",
                (ch,),
            )


def _unit_refusal(u: Unit, cmd: _Command) -> Refusal:
    reason, why = REFUSING_KINDS[u.kind]
    if u.kind == "out_of_scope":
        why = _OUT_OF_SCOPE_WHY.get(u.value, why)
    said = cmd.name(u)
    return Refusal(reason, f"{said!r}: {why}", (said,))


def _leftover_refusal(leftovers: tuple[int, ...], cmd: _Command) -> Refusal:
    said = tuple(dict.fromkeys(cmd.shown[cmd.tokens[i].start : cmd.tokens[i].end] for i in leftovers))
    numbers = any(cmd.tokens[i].number is not None for i in leftovers)
    hint = (
        "numbers are vehicle ids, durations with a unit, or deadline factors such as '2x'"
        if numbers
        else "every word must be part of a phrase I know"
    )
    return Refusal("unknown_words", hint.lstrip("; "), said)


# --- the goal ---------------------------------------------------------------------------------------
def _compose(slots: Slots, global_units: list[Unit], cmd: _Command) -> Reading:
    evidence: list[Evidence] = []
    modes = {name for name, _ in slots.modes}
    weights = _weights(slots, cmd)
    scale, deadline = _deadlines(slots, modes, evidence, cmd)
    modes |= deadline
    _check_contradictions(modes, weights, cmd)
    duration = _duration(global_units, evidence, cmd)
    if not (modes or weights or slots.cancels):
        what = "it gives a duration but no goal" if evidence else "I found no goal in it"
        raise Refusal("no_intent", f"{what} (energy saving, low latency, balanced, priorities, fairness, deadlines)")
    mild = bool(slots.mild)
    parts = _mode_parts(modes, mild, slots, evidence, cmd)
    parts += _weight_parts(weights, slots, evidence, cmd)
    if modes & {"fairness", "equal"}:
        parts.append("fairness")
        evidence.append(Evidence("fairness", cmd.words(_units_of(slots, "fairness", "equal"))))
    evidence += [Evidence("cancel", cmd.words(units)) for units in slots.cancels]
    evidence += [Evidence("polarity", cmd.words(units)) for _, units in slots.unchanged]
    beta_e, beta_q = _betas(modes, mild)
    goal = GoalSpec(
        beta_energy=beta_e,
        beta_qos=beta_q,
        vehicle_weights=dict(sorted((int(k), w) for (kind, k), w in weights.items() if kind == "vehicle")),
        class_weights={str(k): w for (kind, k), w in weights.items() if kind == "class"},
        fairness=FAIRNESS_WEIGHT if modes & {"fairness", "equal"} else 0.0,
        deadline_scale=scale,
        duration_s=duration,
        label="+".join(parts) or BALANCED.label,
    )
    if goal.label == BALANCED.label and "balanced" in modes:
        evidence.insert(0, Evidence("balanced", cmd.words(_units_of(slots, "balanced"))))
    return Reading(goal, tuple(evidence))


def _units_of(slots: Slots, *names: str) -> list[Unit]:
    return [u for name, units in slots.modes if name in names for u in units]


def _weights(slots: Slots, cmd: _Command) -> dict[tuple[str, int | str], float]:
    weights: dict[tuple[str, int | str], float] = {}
    for key, w, _ in slots.weights:
        if weights.get(key, w) != w:
            raise Refusal("contradiction", f"it gives {key[0]} {key[1]} both a higher and a lower priority")
        weights[key] = w
    for unchanged, units in slots.unchanged:
        if unchanged is not None and unchanged in weights:
            raise Refusal(
                "contradiction",
                f"{cmd.words(units)!r}: {unchanged[0]} {unchanged[1]} is on both sides of the comparison",
            )
    return weights


def _deadlines(slots: Slots, modes: set[str], evidence: list[Evidence], cmd: _Command) -> tuple[float, set[str]]:
    factors = sorted({f for f, _ in slots.factors})
    if len(factors) > 1:
        raise Refusal(
            "bad_factor", f"it gives several deadline factors ({', '.join(f'{f:g}' for f in factors)}); give one"
        )
    if factors:
        f = factors[0]
        lo, hi = DEADLINE_SCALE_RANGE
        said = cmd.words(slots.factors[0][1])
        if f == 1.0:
            raise Refusal("bad_factor", f"{said!r}: a deadline factor of 1 changes nothing")
        if not lo <= f <= hi:
            raise Refusal("bad_factor", f"{said!r}: deadline factors must lie in [{lo:g}, {hi:g}]")
        against = "strict_deadlines" if f > 1 else "relaxed_deadlines"
        if against in modes:
            raise Refusal(
                "contradiction",
                f"{said!r}: the factor {'lengthens' if f > 1 else 'shortens'} the deadlines, but the command asks to "
                f"{'tighten' if f > 1 else 'relax'} them",
            )
        evidence.append(Evidence("deadline_factor", said))
        return f, {"relaxed_deadlines" if f > 1 else "strict_deadlines"}
    if "relaxed_deadlines" in modes and "strict_deadlines" not in modes:
        return TOLERANT_DEADLINE_SCALE, set()
    if "strict_deadlines" in modes and "relaxed_deadlines" not in modes:
        return STRICT_DEADLINE_SCALE, set()
    return 1.0, set()


def _check_contradictions(modes: set[str], weights: dict[tuple[str, int | str], float], cmd: _Command) -> None:
    present = set(modes)
    if any(w == PRIORITY_WEIGHT for w in weights.values()):
        present.add("priority")
    if any(w == DEPRIORITY_WEIGHT for w in weights.values()):
        present.add("low_priority")
    for a, b, why in tables().contradictions:
        if a in present and b in present:
            raise Refusal("contradiction", f"it is contradictory: {why}")


def _duration(global_units: list[Unit], evidence: list[Evidence], cmd: _Command) -> float | None:
    durations = [u for u in global_units if u.kind == "duration"]
    forever = [u for u in global_units if u.kind == "until_replaced"]
    values = sorted({u.value for u in durations})
    if len(values) > 1:
        said = ", ".join(repr(cmd.name(u)) for u in durations)
        raise Refusal("bad_duration", f"it gives several durations ({said}); give one")
    if durations and forever:
        raise Refusal("bad_duration", f"it gives both {cmd.name(durations[0])!r} and {cmd.name(forever[0])!r}")
    if durations:
        evidence.append(Evidence("duration", cmd.name(durations[0])))
        return float(values[0])
    if forever:
        evidence.append(Evidence("until_replaced", cmd.name(forever[0])))
    return None


def _mode_parts(modes: set[str], mild: bool, slots: Slots, evidence: list[Evidence], cmd: _Command) -> list[str]:
    parts: list[str] = []
    mild_units = [u for units in slots.mild for u in units]
    for mode in ("energy_saving", "low_latency"):
        if mode in modes:
            name = f"{mode}_mild" if mild else mode
            parts.append(name)
            evidence.append(Evidence(name, cmd.words(_units_of(slots, mode) + mild_units)))
    if "relaxed_deadlines" in modes and "energy_saving" not in modes:
        parts.append("relaxed_deadlines")
    if "strict_deadlines" in modes and "low_latency" not in modes:
        parts.append("strict_deadlines")
    for mode in ("relaxed_deadlines", "strict_deadlines"):
        if _units_of(slots, mode):
            evidence.append(Evidence(mode, cmd.words(_units_of(slots, mode))))
    return parts


def _weight_parts(
    weights: dict[tuple[str, int | str], float], slots: Slots, evidence: list[Evidence], cmd: _Command
) -> list[str]:
    parts: list[str] = []
    for weight, suffix in ((PRIORITY_WEIGHT, "priority"), (DEPRIORITY_WEIGHT, "low_priority")):
        ids = sorted(k for (kind, k), w in weights.items() if kind == "vehicle" and w == weight)
        if ids:
            parts.append(
                f"{suffix}_{len(ids)}_vehicles" if len(ids) > 4 else suffix + "_" + "_".join(f"v{i}" for i in ids)
            )
    for weight, suffix in ((PRIORITY_WEIGHT, "priority"), (DEPRIORITY_WEIGHT, "low_priority")):
        classes = [c for c in CLASSES if weights.get(("class", c)) == weight]
        if classes:
            parts.append("_".join(classes) + "_" + suffix)
    seen: set[tuple[str, str]] = set()
    for _, w, units in slots.weights:
        field = "priority" if w == PRIORITY_WEIGHT else "low_priority"
        words = cmd.words(units)
        if (field, words) not in seen:
            seen.add((field, words))
            evidence.append(Evidence(field, words))
    return parts


def _betas(modes: set[str], mild: bool) -> tuple[float, float]:
    if "energy_saving" in modes:
        return ENERGY_SAVING_MILD if mild else ENERGY_SAVING
    if "low_latency" in modes:
        return LOW_LATENCY_MILD if mild else LOW_LATENCY
    return BALANCED.beta_energy, BALANCED.beta_qos
