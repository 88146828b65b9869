"""Step 2 of the pipeline: the numbers of a command, read before any phrase.

A number is a vehicle id after a vehicle noun ("vehicle 7", "vehicles 3, 5 and 9", "v4",
"vehicles 3-6"), a duration with a unit ("for 90 s", "for the next minute", "1 hour 30 minutes",
"half an hour"), a deadline factor ("3x", "up to 2.5 times") or a numeric target ("50 ms", "20%",
"100 W", refused). Numbers that are none of these stay for the phrase pass, which refuses them as
words it did not understand. Bad ids and durations are collected as refusals.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..goals import MAX_NAMED_VEHICLES
from .constants import MAX_INTERPRETED_DURATION_S, MAX_VEHICLE_ID
from .normalize import Token
from .tables import Tables
from .units import Refusal, Unit

_HALF = ("and", "half")
_A_HALF = ("and", "a", "half")
_NEXT = {"next", "coming", "following", "another", "further"}


class _Reader:
    """A cursor over the tokens with the tables at hand."""

    def __init__(self, tokens: list[Token], t: Tables) -> None:
        self.tokens = tokens
        self.t = t
        self.refusals: list[Refusal] = []

    def stem(self, i: int) -> str | None:
        return self.tokens[i].stem if 0 <= i < len(self.tokens) else None

    def number(self, i: int) -> float | None:
        return self.tokens[i].number if 0 <= i < len(self.tokens) else None

    def seq(self, i: int, table: str) -> int:
        """Length of the longest sequence of ``table`` at ``i`` (0 if none)."""
        best = 0
        for s in self.t.quantities[table]:
            if tuple(self.stem(i + k) for k in range(len(s))) == s:
                best = max(best, len(s))
        return best

    def words(self, i: int, j: int) -> str:
        return " ".join(t.text for t in self.tokens[i:j])

    def unit_at(self, i: int) -> float | None:
        s = self.stem(i)
        return self.t.units.get(s) if s is not None else None


def read_quantities(tokens: list[Token], t: Tables) -> tuple[dict[int, Unit], list[Refusal]]:
    """The quantity units by their first token, and the refusals found while reading them."""
    r = _Reader(tokens, t)
    units: dict[int, Unit] = {}
    i = 0
    while i < len(tokens):
        unit = _ids(r, i) or _duration(r, i) or _factor(r, i) or _target(r, i)
        if unit is None:
            i += 1
            continue
        units[unit.first] = unit
        i = unit.last + 1
    return units, r.refusals


# --- vehicle ids -----------------------------------------------------------------------------------
def _ids(r: _Reader, i: int) -> Unit | None:
    if r.stem(i) not in r.t.id_nouns:
        return None
    j = i + 1 + _glue(r, i + 1)
    if r.seq(j, "negative_marks") and r.number(j + 1) is not None:
        r.refusals.append(Refusal("bad_vehicle_id", f"{r.words(i, j + 2)!r}: vehicle ids are whole numbers >= 0"))
        return Unit("vehicles", (), tuple(range(i, j + 2)))
    if not _is_id(r, j):
        return None
    ids: list[int] = []
    end = _id_item(r, j, ids)
    while True:
        k = end + r.seq(end, "id_joins")
        if k == end:
            break
        if r.stem(k) in r.t.id_nouns:
            k += 1
        k += _glue(r, k)
        if not _is_id(r, k):
            break
        end = _id_item(r, k, ids)
    _check_ids(r, ids, r.words(i, end))
    return Unit("vehicles", tuple(dict.fromkeys(ids)), tuple(range(i, end)))


def _glue(r: _Reader, i: int) -> int:
    n = 0
    while r.seq(i + n, "id_glue"):
        n += r.seq(i + n, "id_glue")
    return n


def _is_id(r: _Reader, i: int) -> bool:
    """A number at ``i`` that is not a duration, factor or numeric target."""
    if r.number(i) is None:
        return False
    after = i + 1 + (r.stem(i + 1) == "-")
    return r.unit_at(after) is None and not r.seq(i + 1, "factor_marks") and not r.seq(i + 1, "target_units")


def _id_item(r: _Reader, i: int, ids: list[int]) -> int:
    """Read one id or range at ``i`` into ``ids``; the index after it."""
    lo = r.number(i)
    k = i + 1
    hi = lo
    dash = r.seq(k, "id_ranges")
    if dash and _is_id(r, k + dash):
        hi, k = r.number(k + dash), k + dash + 1
    assert lo is not None and hi is not None
    text = r.words(i, k)
    if lo != int(lo) or hi != int(hi) or "." in text:
        r.refusals.append(Refusal("bad_vehicle_id", f"{text!r}: vehicle ids are whole numbers", (text,)))
        return k
    if hi >= MAX_VEHICLE_ID:
        r.refusals.append(Refusal("bad_vehicle_id", f"vehicle id {int(hi)} is not below {MAX_VEHICLE_ID}", (text,)))
        return k
    if hi < lo:
        r.refusals.append(Refusal("bad_vehicle_id", f"the id range {text!r} is empty", (text,)))
        return k
    if hi - lo + 1 > MAX_NAMED_VEHICLES:
        hi = lo + MAX_NAMED_VEHICLES  # enough to trip the count check below
    ids.extend(range(int(lo), int(hi) + 1))
    return k


def _check_ids(r: _Reader, ids: list[int], text: str) -> None:
    if len(set(ids)) > MAX_NAMED_VEHICLES:
        r.refusals.append(
            Refusal(
                "bad_vehicle_id",
                f"{text!r} names more than {MAX_NAMED_VEHICLES} vehicles, the most one goal may weight; "
                "use a vehicle class or a network-wide mode instead",
            )
        )


# --- durations ----------------------------------------------------------------------------------
def _duration(r: _Reader, i: int) -> Unit | None:
    lead = r.seq(i, "duration_lead")
    delayed = r.seq(i, "delayed_lead")
    start = i + max(lead, delayed)
    after_next = start > i and r.stem(start - 1) in _NEXT
    read = _quantity_sum(r, start, after_next)
    if read is None:
        return None
    seconds, end, negative = read
    text = r.words(i, end)
    if delayed > lead:
        r.refusals.append(
            Refusal(
                "bad_duration",
                f"{text!r}: delayed or clock-time starts are not supported; a command takes effect now, "
                "optionally 'for <number> seconds/minutes/hours'",
            )
        )
    elif negative or seconds <= 0:
        r.refusals.append(Refusal("bad_duration", f"the duration {text!r} is not positive; durations must be > 0"))
    elif seconds > MAX_INTERPRETED_DURATION_S:
        r.refusals.append(
            Refusal(
                "bad_duration",
                f"the duration {text!r} ({seconds:g} s) is longer than 24 hours; omit it to keep the goal "
                "until it is replaced",
            )
        )
    return Unit("duration", seconds, tuple(range(i, end)))


def _quantity_sum(r: _Reader, i: int, after_next: bool) -> tuple[float, int, bool] | None:
    """Adjacent quantities ("1 hour 30 minutes", "1 hour and 30 minutes") summed."""
    first = _quantity(r, i, after_next)
    if first is None:
        return None
    total, end, negative = first
    while True:
        j = end + r.seq(end, "duration_joins")
        more = _quantity(r, j, False)
        if more is None or r.number(j) is None:
            return total, end, negative
        total, end, negative = total + more[0], more[1], negative or more[2]


def _quantity(r: _Reader, i: int, after_next: bool) -> tuple[float, int, bool] | None:
    """One quantity at ``i``: (seconds, index after it, negative)."""
    negative = bool(r.seq(i, "negative_marks")) and r.number(i + 1) is not None
    k = i + negative
    quarters = _quarter_hour(r, k)
    if quarters is not None:
        return quarters
    count, k = _count(r, k, after_next)
    if count is None:
        return None
    k += r.stem(k) == "-"
    unit = r.unit_at(k)
    if unit is None:
        return None
    k += 1
    for half in (_HALF, _A_HALF):
        if tuple(r.stem(k + n) for n in range(len(half))) == half:
            count, k = count + 0.5, k + len(half)
            break
    return count * unit, k, negative


def _count(r: _Reader, i: int, after_next: bool) -> tuple[float | None, int]:
    """The count before a unit: a number (with "and a half"), "a"/"an", "half a", or none after "next"."""
    n = r.number(i)
    if n is not None:
        if tuple(r.stem(i + 1 + k) for k in range(2)) == _HALF:
            return n + 0.5, i + 3
        if tuple(r.stem(i + 1 + k) for k in range(3)) == _A_HALF:
            return n + 0.5, i + 4
        return n, i + 1
    if r.stem(i) == "half" and r.stem(i + 1) in {"a", "an"}:
        return 0.5, i + 2
    if r.stem(i) == "half" and r.unit_at(i + 1) is not None:
        return 0.5, i + 1
    if r.stem(i) in {"a", "an", "one"} and r.unit_at(i + 1) is not None and len(r.tokens[i + 1].text) > 1:
        return 1.0, i + 1
    if after_next and r.unit_at(i) is not None and len(r.tokens[i].text) > 1:
        return 1.0, i
    return None, i


def _quarter_hour(r: _Reader, i: int) -> tuple[float, int, bool] | None:
    """ "a quarter of an hour", "3 quarters of an hour", "quarter hour"."""
    count = r.number(i) or 1.0
    k = i + (r.number(i) is not None or r.stem(i) in {"a", "an"})
    if r.stem(k) != "quarter":
        return None
    k += 1
    while r.stem(k) in {"of", "an", "a"}:
        k += 1
    if r.stem(k) != "hour":
        return None
    return count * 900.0, k + 1, False


# --- factors and numeric targets -----------------------------------------------------------------
#: Fractions that are deadline factors after "to"/"at" or before "of the deadline" ("tighten the
#: deadlines to a quarter"); never after "by" ("cut deadlines by a third" would be 2/3, not 1/3).
_FRACTIONS = {"half": 0.5, "third": 1 / 3, "quarter": 0.25, "fifth": 0.2, "tenth": 0.1}
_FRACTION_LEADS = {"to", "at"}
_DEADLINE_STEMS = {"deadlin", "deadline"}


def _factor(r: _Reader, i: int) -> Unit | None:
    """ "3x", "up to 2.5 times", "two and a half times", "by a factor of 5", "to a quarter"."""
    lead = r.seq(i, "factor_lead")
    k = i + lead
    value = r.number(k)
    if value is None:
        return _fraction(r, i, lead)
    end = k + 1
    for half in (_HALF, _A_HALF):
        if tuple(r.stem(end + n) for n in range(len(half))) == half:
            value, end = value + 0.5, end + len(half)
            break
    mark = r.seq(end, "factor_marks")
    if not mark and not (lead and r.stem(k - 2) == "factor" and r.stem(k - 1) == "of"):
        return None
    return Unit("factor", value, tuple(range(i, end + mark)))


def _fraction(r: _Reader, i: int, lead: int) -> Unit | None:
    k = i + lead
    led = lead > 0 and r.stem(k - 1) in _FRACTION_LEADS
    k += r.stem(k) in {"a", "one"}
    value = _FRACTIONS.get(r.stem(k) or "")
    if value is None:
        return None
    after = k + 1
    while r.stem(after) in {"of", "the", "their", "all", "every", "each"}:
        after += 1
    if r.unit_at(after + (r.stem(after) in {"a", "an"})) is not None:
        return None  # "a quarter of an hour" is a duration
    if not led and r.stem(after) not in _DEADLINE_STEMS:
        return None
    if not led and i == k:
        return None  # "half the deadline(s)" is a phrase of the tables
    return Unit("factor", value, tuple(range(i, k + 1)))


def _target(r: _Reader, i: int) -> Unit | None:
    if r.number(i) is None:
        return None
    size = r.seq(i + 1, "target_units")
    if not size:
        return None
    text = r.words(i, i + 1 + size)
    r.refusals.append(
        Refusal(
            "out_of_scope",
            f"{text!r}: numeric targets cannot be promised; a goal sets weights, not outcomes "
            "(say 'save energy', 'low latency' or 'strict deadlines')",
            (text,),
        )
    )
    return Unit("target", None, tuple(range(i, i + 1 + size)))


def claimed(units: Iterable[Unit]) -> set[int]:
    return {i for u in units for i in u.indices}
