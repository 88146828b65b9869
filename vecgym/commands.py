"""The offline, deterministic interpreter of operator commands: text -> ``GoalSpec``.

``parse_command(text)`` (re-exported as ``vecgym.goals.parse_command``) reads an English operator
command with a fixed set of regular expressions (no network, no model, no randomness: the same
text always gives an equal ``GoalSpec``) and raises ``vecgym.goals.CommandError`` (a
``ValueError``) for anything it cannot act on; it never falls back to a silent default.

What it understands (case-insensitive, British or American spelling, numbers in digits or words):

================================  =====================================================================
phrase class                      GoalSpec fields
================================  =====================================================================
energy saving ("save power",      ``beta_energy=5, beta_qos=0.5``, label ``energy_saving``;
"green mode", "minimise energy    with "slightly / a bit / somewhat": ``2, 0.8``, ``energy_saving_mild``
consumption", "battery saving")   ("maximum" / "aggressive" keep 5 / 0.5: the paper's ground truth)
low latency ("as fast as          ``beta_energy=0.2, beta_qos=5``, label ``low_latency``;
possible", "minimise delay",      mild: ``0.5, 2``, ``low_latency_mild``; "even at a higher energy cost"
"low latency mode")               and "energy is not a concern" also mean low latency
balanced ("back to normal",       the ``BALANCED`` values; "stop / cancel energy saving" or "cancel the
"reset to default", "balanced")   priorities" too, when nothing else is asked
tolerated latency ("tolerate      ``deadline_scale=2`` (or the stated factor: "delays up to 3x are
higher latency", "slower          acceptable" -> 3), label ``relaxed_deadlines`` unless energy saving
responses are fine")              is also asked
strict deadlines ("strict /       ``deadline_scale=0.5`` (or a stated factor < 1), label
tight / hard deadlines")          ``strict_deadlines`` unless low latency is also asked
vehicle ids ("vehicle 7",         ``vehicle_weights={id: 10}`` with a priority cue ("prioritize",
"vehicles 3 and 12", "v4",        "priority", "favour", "low latency for", ...) or ``{id: 0.1}`` with a
"vehicles 4, 5 and 9", "3-6")     deprioritizing one ("deprioritize", "lower priority"); label
                                  ``priority_v7`` / ``low_priority_v7`` (``priority_5_vehicles`` for many)
vehicle classes ("emergency       ``class_weights={class: 10}`` (or 0.1), classes of ``vecgym.CLASSES``;
vehicles", "ambulances",          label ``emergency_priority``, ``bus_priority``, ``truck_low_priority``
"buses", "public transport",
"trucks", "passenger cars")
fairness ("fair allocation",      ``fairness=2``, label ``fairness``
"treat all vehicles equally")
durations ("for 90 s", "for the   ``duration_s`` in seconds (None = until replaced: no duration, "until
next five minutes", "for half     further notice", "from now on", "permanently", "forever")
an hour", "1 hour 30 minutes")
================================  =====================================================================

Several of these combine ("Save energy but prioritize vehicle 7 for 5 minutes" -> energy saving,
vehicle 7 at weight 10, 300 s; the label joins the parts with ``+``). When vehicles or classes are
named, latency wishes in the same clause apply to them ("Prioritize latency for vehicle 7" raises
vehicle 7 only, as the paper's priority scenario expects); network-wide low latency needs no target
or an explicit "all vehicles".

It rejects, with a message saying what was not understood and giving example commands: empty or
over-long text; text with no recognised intent (gibberish, a bare duration); negative, fractional
or too many vehicle ids; zero, negative, vague or too long durations; delayed or clock-time starts;
numbers it cannot place; numeric targets (percent, ms, watts); exclusions ("all but vehicle 3");
negated requests it cannot read unambiguously ("don't save energy"); a specific vehicle without an
id ("the red car"); requests outside the network's control (weather, traffic and vehicle motion,
switching equipment off, adding hardware, dropping tasks); grants beyond the physical system ("the
whole server", "exclusive", "unlimited"); text addressed to the interpreter ("ignore previous
instructions ..."); and contradictions (energy saving with low latency or "at any energy cost",
tolerated latency with low latency or strict deadlines, "back to normal" with a new mode, priority
together with "treat all vehicles equally", one target both raised and lowered).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .goals import (
    BALANCED,
    DEADLINE_SCALE_RANGE,
    MAX_DURATION_S,
    MAX_NAMED_VEHICLES,
    CommandError,
    GoalSpec,
)
from .vocab import CLASSES

__all__ = [
    "DEPRIORITY_WEIGHT",
    "ENERGY_SAVING",
    "EXAMPLES",
    "FAIRNESS_WEIGHT",
    "LOW_LATENCY",
    "MAX_COMMAND_CHARS",
    "PRIORITY_WEIGHT",
    "CommandError",
    "parse_command",
]

#: (beta_energy, beta_qos) of each mode.
ENERGY_SAVING = (5.0, 0.5)
ENERGY_SAVING_MILD = (2.0, 0.8)
LOW_LATENCY = (0.2, 5.0)
LOW_LATENCY_MILD = (0.5, 2.0)
#: QoS weight of a prioritised / deprioritised vehicle or class.
PRIORITY_WEIGHT = 10.0
DEPRIORITY_WEIGHT = 0.1
FAIRNESS_WEIGHT = 2.0
TOLERANT_DEADLINE_SCALE = 2.0
STRICT_DEADLINE_SCALE = 0.5
#: Longer text is rejected outright (commands are one or two sentences).
MAX_COMMAND_CHARS = 1000
MAX_VEHICLE_ID = 10**9

#: Commands the interpreter understands, quoted in every ``CommandError``.
EXAMPLES: tuple[str, ...] = (
    "Switch to energy saving mode for 10 minutes. Tolerate higher latency.",
    "Prioritize minimum latency for all vehicles.",
    "Prioritize latency for vehicles 3 and 12 for 90 s.",
    "Give emergency vehicles priority for the next 30 seconds.",
    "Ensure a fair allocation for every vehicle.",
    "Back to normal.",
)

_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_UNIT = r"(?:seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?|d|weeks?|wks?)"


def _rx(pattern: str) -> re.Pattern[str]:
    """Compile with each literal space matching a run of whitespace (consumed text is blanked) and
    each optional space (" ?") matching any whitespace."""
    return re.compile(pattern.replace(" ?", r"\s*").replace(" *", r"\s*").replace(" ", r"\s+"))


def _unit_seconds(unit: str) -> float:
    if unit.startswith("mi"):
        return _SECONDS["m"]
    if unit.startswith("wk"):
        return _SECONDS["w"]
    return _SECONDS[unit[0]]


# --- numbers in words ----------------------------------------------------------------------------
_SMALL = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_NUMBER_WORD = r"(?:" + "|".join(sorted([*_SMALL, *_TENS, "hundred", "thousand"], key=len, reverse=True)) + r")"
_NUMBER_RUN = re.compile(rf"\b{_NUMBER_WORD}(?:(?:[\s-]+|\s+and\s+){_NUMBER_WORD})*\b")
_NOT_A_NUMBER_BEFORE_ONE = re.compile(r"\b(?:no|every|each|any|some|this|that|the|which|which|only)\s+$")


def _below_thousand(tok: list[str], i: int) -> tuple[int | None, int]:
    value: int | None = None
    n = len(tok)
    if i + 1 < n and tok[i] in _SMALL and 0 < _SMALL[tok[i]] < 10 and tok[i + 1] == "hundred":
        value, i = 100 * _SMALL[tok[i]], i + 2
    elif i < n and tok[i] == "hundred":
        value, i = 100, i + 1
    if value is not None and i + 1 < n and tok[i] == "and" and (tok[i + 1] in _SMALL or tok[i + 1] in _TENS):
        i += 1
    if i < n and tok[i] in _TENS:
        value, i = (value or 0) + _TENS[tok[i]], i + 1
        if i < n and tok[i] in _SMALL and 0 < _SMALL[tok[i]] < 10:
            value, i = value + _SMALL[tok[i]], i + 1
    elif i < n and tok[i] in _SMALL and (value is None or _SMALL[tok[i]] > 0):
        value, i = (value or 0) + _SMALL[tok[i]], i + 1
    return value, i


def _number_run_to_digits(run: str) -> str:
    tok = re.findall(r"[a-z]+", run)
    out: list[str] = []
    i = 0
    while i < len(tok):
        value, j = _below_thousand(tok, i)
        if value is not None and j < len(tok) and tok[j] == "thousand":
            value, j = value * 1000, j + 1
            if j + 1 < len(tok) and tok[j] == "and":
                rest, k = _below_thousand(tok, j + 1)
                if rest is not None:
                    value, j = value + rest, k
            else:
                rest, k = _below_thousand(tok, j)
                if rest is not None:
                    value, j = value + rest, k
        if value is None:
            out.append("1000" if tok[i] == "thousand" else tok[i])
            i += 1
        else:
            out.append(str(value))
            i = j
    return " ".join(out)


def _words_to_digits(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "one" and _NOT_A_NUMBER_BEFORE_ONE.search(text, 0, m.start()):
            return "one"  # "no one", "every one", "this one"
        return _number_run_to_digits(m.group(0))

    return _NUMBER_RUN.sub(repl, text)


_U = r"(second|minute|hour|day|week)s?"
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"\b(?:an|1) hour and (?:a )?half\b", "90 minutes"),
        (r"\bhalf (?:an|a|1) hour\b|\bhalf[- ]hour\b", "30 minutes"),
        (r"\bhalf (?:a|1) minute\b", "30 seconds"),
        (r"\bhalf (?:a|1) day\b", "12 hours"),
        (r"\b(?:a |1 )?quarter(?: of)?(?: an| 1)?[- ]hour\b", "15 minutes"),
        (r"\b3 quarters of (?:an|1) hour\b", "45 minutes"),
        (r"\b(?:a )?couple (?:of )?", "2 "),
        (r"\b(\d+) and (?:a )?half " + _U + r"\b", r"\1.5 \2s"),
        (r"\b(?:a|an) " + _U + r"\b", r"1 \1"),
        (r"\b(\d+) " + _U + r" and (?:a )?half\b", r"\1.5 \2s"),
        (r"\bat once\b", "now"),
        (r"\b(?:twice|double|doubled|doubling)\b", "2x"),
        (r"\b(?:thrice|triple|tripled|tripling)\b", "3x"),
        (r"(\d+(?:\.\d+)?) ?(?:x|times|-?fold)\b", r"\1x"),
    )
)


def _normalize(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower()
    t = t.translate({0x2018: "'", 0x2019: "'", 0x2013: "-", 0x2014: "-", 0x2212: "-", 0xD7: "x"})
    t = re.sub(r"\s+", " ", t).strip()
    t = _words_to_digits(t)
    for pattern, repl in _REWRITES:
        t = pattern.sub(repl, t)
    return t


# --- rejections that need no parsing -------------------------------------------------------------
_OUT_OF_SCOPE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (_rx(p), r)
    for p, r in (
        (
            r"\bignore\b[^.;]{0,40}\b(?:instructions?|prompts?|rules?|commands?|guidelines?|constraints?|bounds?)\b"
            r"|\bdisregard\b|\bsystem prompt\b|\byou are now\b|\bjailbreak\w*|\bpretend\b|\bact as\b",
            "it talks to the interpreter instead of describing a goal for the network "
            "(instructions such as 'ignore previous instructions' are not commands)",
        ),
        (
            r"\b(?:whole|entire|full|complete) (?:edge )?(?:servers?|rsus?|cpus?|compute|computing|capacity|bandwidth"
            r"|resources|spectrum|channel)\b|\ball (?:of )?(?:the )?(?:edge )?(?:resources|capacity|bandwidth|cpu"
            r"|compute|computing power|spectrum)\b|\bmore than (?:the )?(?:whole|entire|full|total|available|all)\b"
            r"|\b(?:unlimited|infinite|exclusive|exclusively|sole use|dedicated|dedicate)\b"
            r"|\b(?:half|a quarter|quarter|most|the majority|a fraction|\d+/\d+) (?:of )?(?:the |its |their )?"
            r"(?:edge )?"
            r"(?:servers?|rsus?|cpus?|compute|computing|capacity|bandwidth|resources|spectrum)\b",
            "no goal can give a vehicle more than the physical system has or a resource to itself alone; "
            "ask for priority instead (e.g. 'Prioritize vehicle 3')",
        ),
        (
            r"\b(?:rain|raining|snow|snowing|weather|sunshine|sunny|fog|foggy|storm|wind|temperature)\b",
            "the weather is outside the network's control",
        ),
        (
            r"\bspeed limits?\b|\btraffic (?:lights?|signals?|jams?|flow)\b|\bchange lanes?\b|\blane changes?\b"
            r"|\bre-?route\w*|\bdetours?\b|\bsteer\w*|\bbrak(?:e|es|ing)\b|\bovertak\w*|\bpark(?:ing)?\b|\bhonk\w*"
            r"|\bdriv(?:e|es|ing|er|ers)\b|\baccelerat\w*|\bdecelerat\w*"
            r"|\b(?:stop|halt|slow down|speed up|move|pull over) (?:the |all |every )?(?:vehicles?|cars?|traffic"
            r"|bus|buses|trucks?|ambulances?)\b",
            "vehicle motion and traffic control are outside the network's control "
            "(it decides task offloading and edge shares only)",
        ),
        (
            r"\b(?:shut ?down|shutdown|turn off|switch off|power off|power down|reboot|restart|disable|unplug|destroy"
            r"|crash|hack|wipe|delete|format)\b[^.;]{0,30}\b(?:rsus?|servers?|edge|network|base stations?|mec"
            r"|infrastructure|antennas?|cloud|radios?|hardware|everything)\b",
            "switching equipment off or on is outside the goals the network takes "
            "(it decides task offloading and edge shares only)",
        ),
        (
            r"\b(?:add|install|deploy|buy|build|upgrade|increase|raise|boost|2x|overclock)\b[^.;]{0,25}"
            r"\b(?:more servers|another server|new servers?|servers? capacity|server capacity|edge capacity|rsus"
            r"|base stations?|antennas?|cpu frequency|clock speed|clock rate|transmit power|tx power"
            r"|total bandwidth|channel bandwidth|spectrum)\b|\b(?:transmit|transmission|tx) power\b",
            "the hardware (servers, CPU clock, bandwidth, transmit power) is fixed; goals only re-weight "
            "how it is shared",
        ),
        (
            r"\b(?:drop|discard|delete|kill|reject|block|ban|deny|disconnect|kick out|cut off|throttle)"
            r" (?:all |the |any |their |its |every )*(?:tasks?|jobs?|requests?|packets?|vehicles?|cars?|trucks?"
            r"|buses|users?|traffic|connections?)\b",
            "the network cannot drop tasks or disconnect vehicles; say 'deprioritize ...' to lower their weight",
        ),
        (
            r"\b\d+(?:\.\d+)? ?(?:%|percent\b|per cent\b)",
            "percentage targets cannot be promised: a goal sets weights, not outcomes "
            "(say 'save energy' or 'low latency')",
        ),
        (
            r"\b\d+(?:\.\d+)? ?(?:ms|msec|milliseconds?|us|µs|microseconds?)\b",
            "numeric latency targets cannot be promised: a goal sets weights, not outcomes "
            "(say 'low latency' or 'strict deadlines')",
        ),
        (
            r"\b\d+(?:\.\d+)? ?(?:j|kj|mj|joules?|w|kw|mw|watts?|kilowatts?|kwh|wh|mah)\b",
            "numeric energy or power targets cannot be promised: a goal sets weights, not outcomes (say 'save energy')",
        ),
        (
            r"\b(?:except|excluding|exclude|other than|but not|apart from|besides|save for)\b",
            "exclusions are not supported; name the vehicles or classes to prioritize instead",
        ),
    )
)

_PERMANENT = _rx(
    r"\buntil further notice\b|\buntil (?:told|instructed|notified|i say|we say) otherwise\b"
    r"|\buntil (?:it is |it's )?(?:replaced|cancell?ed|revoked|changed)\b|\buntil (?:the|a) (?:next|new) command\b"
    r"|\bfrom now on\b|\bpermanently\b|\bindefinitely\b|\bforever\b|\bfor good\b|\bfor now\b|\bgoing forward\b"
)
_NEGATIVE_DURATION = _rx(rf"(?:(?<![\w.])-|\bminus |\bnegative )\s*\d+(?:\.\d+)? ?-?{_UNIT}\b")
_VAGUE_DURATION = _rx(
    r"\b(?:for|during|over|within|in) (?:the )?(?:next |coming )?(?:a few|few|several|some|many|a while|a bit|a moment"
    r"|a little while|a short (?:while|time)|a long (?:while|time)|a little|awhile|some time|ages)\b"
    r"(?: (?:more )?(?:seconds?|minutes?|hours?|days?|weeks?))?"
)
_DELAYED = _rx(
    rf"\b(?:starting|start|begin|beginning|from) (?:in )?\d+(?:\.\d+)? ?{_UNIT}\b|\bin \d+(?:\.\d+)? ?{_UNIT}\b"
    rf"(?! (?:from now )?(?:for|during))|\bafter \d+(?:\.\d+)? ?{_UNIT}\b|\bat \d{{1,2}}(?::\d\d)? ?(?:am|pm|o'clock)\b"
    r"|\b\d{1,2}:\d\d\b|\b(?:tomorrow|tonight|this evening|next (?:week|month|year|monday|tuesday|wednesday"
    r"|thursday|friday|saturday|sunday))\b|\b(?:until|till|til|unless|when|once|whenever|if)\b"
    r"(?! (?:possible|needed|necessary|you can|required|it is possible)\b)"
)
_DURATION = _rx(rf"(?<![\w.])(\d+(?:\.\d+)?) ?-?({_UNIT})\b")
_DURATION_JOIN = re.compile(r"^\s*(?:,|and|,\s*and|plus)?\s*$")

# --- targets --------------------------------------------------------------------------------------
_ID_NOUN = r"(?:vehicles?|veh\.?|cars?|trucks?|buses|bus|vans?|ambulances?|ids?|nodes?|ues?|users?|clients?)"
_ID_PREFIX = r"(?:(?:ids?|numbers?|nos?\.?|#) ?)?#? ?"
_NOT_QUANTITY = rf"(?!\d)(?!\.\d)(?! ?-?{_UNIT}\b)(?!x\b)"
_ITEM = rf"\d+(?:\.\d+)?{_NOT_QUANTITY}(?: ?(?:-|to|through|thru) ?\d+(?:\.\d+)?{_NOT_QUANTITY})?"
_IDS = _rx(
    rf"\b{_ID_NOUN} {_ID_PREFIX}(?P<list>{_ITEM}(?: ?(?:, ?(?:and )?|and |& ?|\+ ?|plus )(?:{_ID_NOUN} )?"
    rf"{_ID_PREFIX}{_ITEM})*)|\bv(?P<short>\d+){_NOT_QUANTITY}\b"
)
_ID_ITEM = _rx(r"(\d+(?:\.\d+)?)(?: ?(?:-|to|through|thru) ?(\d+(?:\.\d+)?))?")
_NEGATIVE_ID = _rx(rf"\b{_ID_NOUN} {_ID_PREFIX}(?:-|minus |negative )\s*\d")

_CLASS_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "emergency",
        _rx(
            r"\b(?:emergency|emergencies)(?:[- ]service)?(?: (?:services?|vehicles?|responders?|traffic|units?"
            r"|fleet|cars?|crews?|teams?|response(?: vehicles?)?))?\b|\bambulances?\b|\bfire ?(?:trucks?|engines?"
            r"|brigades?|departments?|services?|fighters?)\b|\bpolice(?: (?:cars?|vehicles?|units?|traffic))?\b"
            r"|\bfirst responders?\b|\brescue(?: (?:vehicles?|services?|teams?|units?))?\b|\bparamedics?\b"
            r"|\bblue[- ]light(?: (?:vehicles?|services?|traffic))?\b"
        ),
    ),
    (
        "bus",
        _rx(
            r"\bbus(?:es|ses)? (?:fleet|class|traffic|lines?|services?|routes?)\b|\b(?:buses|busses)\b"
            r"|\bpublic[- ]transport(?:ation)?(?: (?:vehicles?|fleet|services?|traffic))?\b"
            r"|\b(?:mass )?transit(?: (?:vehicles?|buses|fleet|services?))?\b|\bcoaches\b|\bshuttles\b"
        ),
    ),
    (
        "truck",
        _rx(
            r"\btrucks\b|\btruck (?:fleet|class|traffic)\b|\blorries\b|\bfreight(?: (?:vehicles?|traffic|trucks?"
            r"|fleet))?\b|\bheavy(?:[- ]goods)? vehicles\b|\bhgvs\b|\bdelivery (?:vehicles|vans|trucks|fleet|traffic)\b"
            r"|\blogistics(?: (?:vehicles|fleet|traffic))?\b"
        ),
    ),
    (
        "car",
        _rx(
            r"\b(?:passenger|private|personal|regular|ordinary|civilian) (?:cars?|vehicles)\b|\bcars\b"
            r"|\bcar (?:fleet|class|traffic)\b|\bautomobiles\b"
        ),
    ),
)
_OTHERS = (
    r"(?:the )?(?:other |regular |normal |ordinary |private |passenger )?(?:vehicles?|cars|trucks|buses|busses"
    r"|lorries|everyone(?: else)?|everybody(?: else)?|others|the rest|traffic)"
)
_COMPARATIVE_UP = _rx(rf"\b(?:over|before|ahead of|rather than|instead of|above|more than) {_OTHERS}\b")
_COMPARATIVE_DOWN = _rx(rf"\b(?:below|after|behind|less than) {_OTHERS}\b")
_UNNAMED_VEHICLE = _rx(
    r"\b(?:the|a|an|my|this|that|one|some|certain|specific|particular|our|his|her|their) (?:[a-z]+ )?"
    r"(?:vehicle|car|truck|bus|van|lorry)\b(?![- ](?:class|fleet|traffic|type|category))"
)

# --- intents --------------------------------------------------------------------------------------
_LAT = r"(?:latency|latencies|delays?|response times?|responses?|waiting(?: times?)?|processing times?|lag)"
_UNDERSTOOD_NEGATIVE = {
    "tolerate": _rx(
        rf"\b(?:{_LAT}|speed|deadlines?)(?: (?:is|are|'s))? (?:not|no longer|less) (?:a |an |as |so )?"
        r"(?:concern|priority|important|critical|issue|problem|urgent|tight)\b"
        rf"|\b(?:don'?t|do not|doesn'?t|does not) (?:care|worry|mind)(?: (?:about|if|that))?(?: the)?"
        rf"(?: (?:higher|longer|more|some|slower|increased|extra))? {_LAT}"
        r"(?: (?:is|are|get|gets|go|goes|rise|rises|grow|grows|increase|increases))?"
        r"(?: (?:higher|longer|slower|up))?\b"
        rf"|\b{_LAT} (?:doesn'?t|does not|do not|don'?t) matter\b|\bno (?:hurry|rush)\b"
        r"|\bnot in a (?:hurry|rush)\b|\bno need to (?:be|respond|answer) (?:fast|quickly)\b"
    ),
    "accept_energy": _rx(
        r"\b(?:energy|power|battery|electricity)(?: (?:consumption|use|usage|cost|costs|draw))?(?: (?:is|are|'s))?"
        r" (?:not|no longer|less) (?:a |an |as )?(?:concern|issue|priority|problem|important|an object|object)\b"
        r"|\b(?:don'?t|do not|doesn'?t|does not) (?:care|worry|mind)(?: about)?(?: the)?(?: (?:higher|more|extra))?"
        r" (?:energy|power|battery|electricity)(?: (?:consumption|use|usage|cost|costs|bill))?\b"
        r"|\b(?:energy|power)(?: (?:consumption|use|usage|cost))? (?:doesn'?t|does not) matter\b"
        r"|\bno matter (?:the |how much )?(?:energy|power)(?: (?:cost|costs|it takes|it costs|is used))?\b"
    ),
    "priority": _rx(
        r"\b(?:does ?n[o']t|do ?n[o']t|never|not|no longer) (?:miss|misses|violate|violates|exceed|exceeds)"
        r" (?:its |their |any |the |a )?deadlines?\b"
    ),
    "deprioritize": _rx(r"\b(?:is |are )?(?:not|less) (?:as |so )?(?:important|urgent|critical)\b"),
}
_CANCEL = _rx(
    r"\b(?:stop|cancel|end|exit|leave|quit|disable|deactivate|turn off|switch off|abort|revoke|lift|remove|clear"
    r"|undo|drop|no more|no longer|cease|get out of|come out of|withdraw)\b(?: [a-z'-]+){0,3}?"
    r" (?:energy[- ]saving|power[- ]saving|saving(?: energy| power)?|eco(?: mode)?|green mode|low[- ]latency"
    r"|latency mode|performance mode|priorit\w*|fairness|mode|goals?|commands?|overrides?|boost\w*|special \w+"
    r"|constraints?|everything|all that)\b(?: mode)?"
)
_NEGATION = _rx(
    r"\b(?:don'?t|do not|does not|doesn'?t|never|not|no longer|no more|without|nor|neither|stop|cancel)"
    r"(?: \S+){0,3}? (?:sav\w*|conserv\w*|priorit\w*|depriorit\w*|favou?r\w*|reduc\w*|minimi\w*|maximi\w*|energy"
    r"|power|battery|latency|latencies|delays?|fair\w*|boost\w*|deadlines?|fast\w*|quick\w*|slow\w*|balanc\w*"
    r"|tolerat\w*|equal\w*|green|eco)\b"
)
_DEADLINE_FACTOR = _rx(
    rf"\b(?:{_LAT}|deadlines?)\b(?: [a-z'-]+){{0,4}}? (?:up to |at most |of |by |to |at )?(\d+(?:\.\d+)?)x\b"
    rf"|(?<![\w.])(\d+(?:\.\d+)?)x (?:(?:longer|higher|more|slower|the|as long|normal|bigger|larger|greater"
    rf"|as much|as high|usual|as) )*(?:{_LAT}|deadlines?)\b"
)
_HALVE_DEADLINES = _rx(r"\b(?:halve|half|halving) (?:the |all |our )?deadlines?\b")

_INTENTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, _rx(p))
    for name, p in (
        ("mild", r"\b(?:slightly|a (?:little|bit|tad|touch)(?: bit)?(?: more)?(?: of)?|somewhat|moderately|mildly)\b"),
        (
            "tolerate",
            rf"\b(?:tolerate|tolerating|accept|accepting|allow|allowing|permit|can (?:take|handle|live with)"
            rf"|fine with|ok with|okay with) (?:a |some )?(?:bit )?(?:higher|longer|more|increased|extra|larger"
            rf"|greater|slower|some) {_LAT}\b"
            rf"|\b(?:higher|longer|more|increased|extra|slower|larger|greater|some) (?:{_LAT}|deadlines?)"
            r"(?: (?:is|are|would be|will be))? (?:fine|ok|okay|acceptable|allowed|tolerable|tolerated|permitted"
            r"|no problem|not a problem)\b"
            r"|\b(?:delay|latency)[- ]tolerant\b|\bbest[- ]effort\b"
            r"|\brelax(?:ed|ing)? (?:the |all |our )?(?:deadlines?|latency (?:constraints?|requirements?|targets?"
            r"|bounds?))\b|\b(?:extend|lengthen|loosen|stretch)(?:ed|ing)? (?:the |all |our )?deadlines?\b"
            r"|\bdeadlines? can (?:slip|be relaxed|be longer|be extended)\b|\b(?:can|may) (?:wait|be slower)\b"
            r"|\btolerate (?:higher |more )?(?:latency|delays?)\b",
        ),
        (
            "strict",
            r"\b(?:strict|stricter|strictly enforced|tight|tighter|hard|firm|shorter) (?:deadlines?|latency "
            r"(?:limits?|bounds?|constraints?|requirements?))\b|\btighten(?:ed|ing)? (?:the |all |our )?deadlines?\b"
            r"|\bdeadlines? (?:are|is) (?:strict|hard|critical|firm|tight)\b",
        ),
        (
            "deprioritize",
            r"\bde-?priori(?:ti[sz]e[sd]?|ti[sz]ing|ti[sz]ation)\b|\blower(?:ed|ing)? (?:the |their |its )?"
            r"priority\b|\b(?:low|lower|lowest|less|least|reduced|minimal) priority\b|\bunimportant\b"
            r"|\b(?:less|least) important\b|\b(?:serve[sd]?|go(?:es)?|handle[sd]?) (?:them |it )?last\b"
            r"|\blast in line\b|\bin the background\b|\b(?:a )?(?:smaller|lower|reduced) share\b"
            r"|\b(?:fewer|less) (?:edge )?(?:resources|compute|computing|cpu|bandwidth)\b",
        ),
        (
            "accept_energy",
            r"\b(?:even )?at (?:a |the )?(?:higher|high|extra|greater|increased|any|whatever|some|an increased)"
            r" (?:energy|power|battery|electricity) (?:costs?|price|expense|consumption|use|usage)\b"
            r"|\b(?:even )?at the (?:expense|cost) of (?:more |higher |extra )?(?:energy|power|battery|electricity)"
            r"(?: (?:consumption|use|usage))?\b|\bregardless of (?:the )?(?:energy|power|battery|electricity)"
            r"(?: (?:costs?|consumption|use|usage))?\b|\bwhatever the (?:energy|power) (?:costs?|consumption)\b"
            r"|\benergy is no object\b|\b(?:use|spend|burn|consume) (?:more|extra|as much) (?:energy|power"
            r"|electricity)\b|\b(?:higher|more|extra|increased) (?:energy|power|electricity)"
            r"(?: (?:consumption|use|usage|costs?))?(?: (?:is|are))? (?:fine|ok|okay|acceptable|allowed)\b"
            r"|\bat (?:any|all) costs?\b",
        ),
        (
            "energy",
            r"\b(?:energy|power|battery)[- ]sav(?:ing|ings|er|ers)\b|\bsav(?:e|es|ing) (?:the |some |more |as much )?"
            r"(?:energy|power|battery|batteries|electricity|juice)\b|\b(?:conserv|preserv|spar)(?:e|es|ing) "
            r"(?:the |some |more )?(?:energy|power|battery|batteries|electricity)\b"
            r"|\b(?:reduc|lower|minimi[sz]|decreas|limit|curb|trim|slash|cut)(?:e|es|ed|ing|t)? "
            r"(?:the |our |total |overall |average |mean |system )*(?:energy|power|battery|electricity)"
            r"(?: (?:consumption|use|usage|draw|bill|costs?|spend|footprint|drain))?\b"
            r"|\b(?:minimal|minimum|min|low|lower|lowest|less|reduced|least) (?:energy|power|electricity)"
            r"(?: (?:consumption|use|usage|mode|draw|operation))?\b"
            r"|\b(?:energy|power)[- ]efficien(?:t|cy)\b|\befficient (?:mode|operation)\b"
            r"|\beco(?:[- ]?mode|nomy mode|[- ]friendly)?\b|\bgreen(?:er)?(?: (?:mode|operation|computing))?\b"
            r"|\bgo green\b|\bsustainab\w+|\bextend (?:the )?battery(?: life)?\b"
            r"|\b(?:maximi[sz]e|maximum|max) (?:the )?(?:battery life|energy efficiency|energy savings?"
            r"|power savings?|savings?)\b|\benergy first\b|\benergy is (?:the |our )?(?:top )?(?:priority|key|critical"
            r"|what matters)\b"
            r"|\b(?:energy|battery|power)(?: saving)? (?:matters|is (?:more |most )?important|comes first)\b"
            r"|\b(?:prioriti[sz]e|focus on|favou?r|optimi[sz]e for) (?:the )?(?:energy|power|battery)"
            r"(?: (?:saving|savings|efficiency|conservation|consumption))?\b"
            r"|\b(?:consume|use|spend|draw|burn) less (?:energy|power|electricity|battery)\b|\blow[- ]power\b",
        ),
        (
            "latency",
            rf"\blow(?:er|est)?[- ]latency\b|\b(?:minimi[sz]|reduc|cut|lower|decreas|shorten|min|curb|trim|slash)"
            rf"(?:e|es|ed|ing|t)? (?:the |our |total |overall |average |mean |end-to-end |e2e |all |task |system )*"
            rf"{_LAT}\b|\b(?:minimal|minimum|min|lowest|least|shortest|short|fast|faster|fastest|quick|quicker"
            rf"|quickest|rapid|snappy|snappier) (?:possible )?(?:{_LAT}|processing|service|turnaround|computation)\b"
            rf"|\b(?:prioriti[sz]e|focus on|favou?r|optimi[sz]e for|maximi[sz]e|maximum|max|best|high|highest|top"
            rf"|peak|full) (?:the )?(?:minimum |minimal |low |lower |lowest )?(?:latency|speed|performance"
            rf"|responsiveness|qos|quality of service|response times?|throughput)\b"
            rf"|\bas (?:fast|quick|quickly) as possible\b|\bperformance mode\b|\bhigh[- ]performance\b"
            rf"|\bturbo(?: mode)?\b|\breal[- ]time(?: mode)?\b|\blatency[- ](?:first|critical|sensitive|mode)\b"
            rf"|\b(?:speed|latency|performance) is (?:the |our )?(?:top )?(?:priority|key|critical|everything"
            rf"|what matters)\b|\b(?:speed|latency|performance) (?:matters|is (?:more |most )?important|comes first)\b"
            rf"|\b{_LAT} (?:(?:must|should|has to|have to|needs? to|to|will) )?"
            rf"(?:(?:stay|remain|be|kept|keep|staying) )?(?:as )?(?:low|short|minimal|down|small)\b"
            rf"|\bresponsive(?:ness)?\b"
            rf"|\bspeed up (?:the )?(?:responses?|processing|tasks?"
            rf"|service|computation|everything)\b|\b(?:fast|faster|fastest|quick|quicker|quickest|quickly"
            rf"|speedy|speedier|snappy|snappier|promptly)\b",
        ),
        (
            "balanced",
            r"\bbalanced?(?: (?:mode|operation|setting|settings|goal))?(?: (?:between )?(?:energy and latency"
            r"|latency and energy))?\b|\bback to (?:normal|default|defaults|baseline|standard|balanced|usual)"
            r"(?: (?:mode|operation|settings?))?\b|\b(?:return|revert|go back|get back|switch back|go|returning)"
            r" to (?:the )?(?:normal|default|defaults|baseline|standard|usual)(?: (?:mode|operation|settings?"
            r"|behaviou?r))?\b|\bnormal (?:mode|operation|operations|service|settings?)\b|\b(?:resume|restore)"
            r"(?: the)? (?:normal|default|defaults|baseline|standard|usual)(?: (?:operation|operations|mode"
            r"|settings?|service))?\b|\breset(?: (?:everything|all|goals?|the goal))?(?: to (?:the )?"
            r"(?:defaults?|normal|baseline|balanced)(?: (?:settings?|mode|goal))?)?\b|\bdefault (?:mode|settings?"
            r"|goal|operation|behaviou?r)\b|\bstandard (?:mode|operation)\b|\b(?:business )?as usual\b"
            r"|\bneutral\b|\b(?:equal|same) (?:weights?|weighting|importance) (?:to|for|on|between) (?:energy and"
            r" latency|latency and energy)\b|\btrade[- ]?off (?:between )?(?:energy and latency|latency and energy)\b",
        ),
        (
            "equal",
            r"\btreat (?:all|every|each)(?: of the| the)? (?:(?:vehicles?|cars?|users?|ones?|one) )?(?:equally"
            r"|the same|alike|fairly|evenly)\b|\b(?:equal|same) (?:priority|treatment|service|weights?)\b"
            r"|\bequally\b|\bno (?:favou?rites|favou?ritism|priorit\w+)\b",
        ),
        (
            "fairness",
            r"\bfair(?:ly|ness|er|est)?\b|\bequit(?:able|ably|y)\b|\bevenly\b|\bequal (?:share|shares|allocation"
            r"|access|split)\b|\b(?:no|avoid|prevent|without) (?:vehicle |one )?(?:is |gets |being )?starv\w*"
            r"|\b(?:nobody|no one|none|never) (?:is |gets |being )?starv\w*|\bstarvation\b|\bjain\b",
        ),
        (
            "priority",
            r"\bpriorit(?:y|ies|i[sz]e[sd]?|i[sz]ing|i[sz]ation)\b|\bfavou?r(?:s|ed|ing)?\b|\bprecedence\b"
            r"|\bpreferen(?:ce|tial)(?: treatment)?\b|\bprefer(?:red)?\b|\bboost(?:s|ed|ing)?\b|\bexpedite[sd]?\b"
            r"|\bfast[- ]track(?:ed)?\b|\bgo(?:es)? first\b|\bserve[sd]? (?:them |it )?first\b|\bfirst in line\b"
            r"|\bvip\b|\burgent(?:ly)?\b|\b(?:more|most|very|highly|especially) important\b|\bcritical\b"
            r"|\bmore (?:edge )?(?:resources|compute|computing|cpu|bandwidth|capacity)\b|\b(?:a )?(?:bigger"
            r"|larger|higher) share\b|\b(?:meet|meets|meeting) (?:its|their|all|the) deadlines?\b"
            r"|\bespecially\b|\bparticularly\b|\bin particular\b|\babove all\b|\bfirst\b",
        ),
        (
            "global",
            r"\b(?:all|every|each)(?: (?:the|of the))? (?:vehicles?|cars|users?|tasks?|ues|traffic|clients)\b"
            r"|\beveryone\b|\beverybody\b|\b(?:network|system)[- ]wide\b|\bglobally\b|\boverall\b"
            r"|\bacross the (?:board|network|fleet)\b|\b(?:whole|entire) (?:network|fleet|system)\b|\bacross all\b",
        ),
    )
)

_VERB = (
    r"(?:de-?)?prioriti[sz]e|give|save|switch|go|keep|make|ensure|set|reduce|minimi[sz]e|maximi[sz]e|tolerate"
    r"|allow|accept|treat|favou?r|return|resume|use|boost|focus|put|let|cut|lower|conserve|guarantee|serve|spend"
    r"|stop|cancel|lift|relax|tighten|share|extend|move|turn|run|operate|apply|enable|enter|activate|start|begin"
    r"|be|do|prefer|expedite|speed|handle|limit|enforce"
)
_CLAUSE_BREAK = _rx(
    rf"[.;!?:]|\bbut\b|\bwhile\b|\bwhereas\b|\bhowever\b|\balso\b|\bthen\b|,(?: and)?(?= (?:{_VERB})\b)"
    rf"|\band(?= (?:also |then )?(?:{_VERB})\b)"
)


# --- the parse ------------------------------------------------------------------------------------
class _Work:
    """The normalised text, blanked (same length) where a pattern has been consumed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.s = text

    def take(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        matches = list(pattern.finditer(self.s))
        if matches:
            chars = list(self.s)
            for m in matches:
                chars[m.start() : m.end()] = " " * (m.end() - m.start())
            self.s = "".join(chars)
        return matches

    def snippet(self, start: int, end: int) -> str:
        return self.text[max(0, start - 15) : end + 15].strip()


@dataclass
class _Target:
    pos: int
    kind: str  # "vehicle" or "class"
    keys: tuple[int | str, ...]
    phrase: str


def _fail(reason: str, text: str) -> CommandError:
    shown = text if len(text) <= 120 else text[:117] + "..."
    examples = "; ".join(repr(e) for e in EXAMPLES)
    return CommandError(f"cannot act on the command {shown!r}: {reason}. Commands I understand look like: {examples}")


def _short(phrase: str, n: int = 40) -> str:
    phrase = " ".join(phrase.split())
    return phrase if len(phrase) <= n else phrase[: n - 3] + "..."


def _fmt(x: float) -> str:
    return f"{x:g}"


def _parse_durations(work: _Work, text: str) -> float | None:
    matches = work.take(_DURATION)
    if not matches:
        return None
    groups: list[list[re.Match[str]]] = [[matches[0]]]
    for prev, m in itertools.pairwise(matches):
        if _DURATION_JOIN.match(work.text[prev.end() : m.start()]):
            groups[-1].append(m)
        else:
            groups.append([m])
    if len(groups) > 1:
        found = ", ".join(repr(" ".join(m.group(0) for m in g)) for g in groups)
        raise _fail(f"it gives several durations ({found}); give one", text)
    total = 0.0
    for m in groups[0]:
        value = float(m.group(1))
        if value <= 0:
            raise _fail(f"the duration {m.group(0)!r} is not positive; durations must be > 0", text)
        total += value * _unit_seconds(m.group(2))
    if total > MAX_DURATION_S:
        raise _fail(
            f"the duration of {_fmt(total)} s is longer than the longest a goal may last "
            f"({_fmt(MAX_DURATION_S)} s = 7 days); omit it to keep the goal until it is replaced",
            text,
        )
    return total


def _parse_vehicle_ids(work: _Work, text: str) -> list[_Target]:
    if m := _NEGATIVE_ID.search(work.s):
        raise _fail(f"{m.group(0).strip()!r}: vehicle ids are whole numbers >= 0", text)
    targets: list[_Target] = []
    seen: set[int] = set()
    for m in work.take(_IDS):
        ids: list[int] = []
        items = [(m.group("short"), None)] if m.group("short") else _ID_ITEM.findall(m.group("list"))
        for lo_s, hi_s in items:
            for s in (lo_s, hi_s):
                if s and "." in s:
                    raise _fail(f"{m.group(0).strip()!r}: vehicle ids are whole numbers, not {s}", text)
            lo = int(lo_s)
            hi = int(hi_s) if hi_s else lo
            if hi < lo:
                raise _fail(f"{m.group(0).strip()!r}: the id range {lo}-{hi} is empty", text)
            if hi > MAX_VEHICLE_ID:
                raise _fail(f"{m.group(0).strip()!r}: vehicle id {hi} is beyond {MAX_VEHICLE_ID}", text)
            if hi - lo + 1 + len(seen) > MAX_NAMED_VEHICLES:
                raise _fail(
                    f"it names more than {MAX_NAMED_VEHICLES} vehicles, the most one goal may weight; "
                    "use a vehicle class or a network-wide mode instead",
                    text,
                )
            ids.extend(range(lo, hi + 1))
            seen.update(range(lo, hi + 1))
        targets.append(_Target(m.start(), "vehicle", tuple(ids), _short(m.group(0))))
    return targets


def _parse_classes(work: _Work) -> list[_Target]:
    targets: list[_Target] = []
    for cls, pattern in _CLASS_PATTERNS:
        targets.extend(_Target(m.start(), "class", (cls,), _short(m.group(0))) for m in work.take(pattern))
    return targets


def _clause_starts(s: str) -> list[int]:
    return [0, *(m.end() for m in _CLAUSE_BREAK.finditer(s))]


def _clause_of(starts: list[int], pos: int) -> int:
    return bisect.bisect_right(starts, pos) - 1


def _positions(matches: Iterable[re.Match[str]]) -> list[int]:
    return [m.start() for m in matches]


def _label_ids(ids: list[int], prefix: str) -> str:
    if len(ids) > 4:
        return f"{prefix}_{len(ids)}_vehicles"
    return prefix + "_" + "_".join(f"v{i}" for i in ids)


@functools.lru_cache(maxsize=512)
def _parse(text: str) -> GoalSpec:
    if not text.strip():
        raise _fail("it is empty", text)
    if len(text) > MAX_COMMAND_CHARS:
        raise _fail(f"it is {len(text)} characters long; commands are at most {MAX_COMMAND_CHARS}", text)
    work = _Work(_normalize(text))

    for pattern, reason in _OUT_OF_SCOPE:
        if m := pattern.search(work.s):
            raise _fail(f"{m.group(0).strip()!r}: {reason}", text)

    # --- when -----------------------------------------------------------------------------------
    permanent = work.take(_PERMANENT)
    if m := _NEGATIVE_DURATION.search(work.s):
        raise _fail(f"the duration {m.group(0).strip()!r} is negative; durations must be > 0", text)
    if m := _VAGUE_DURATION.search(work.s):
        raise _fail(f"the duration {m.group(0).strip()!r} is vague; give a number, e.g. 'for 5 minutes'", text)
    if m := _DELAYED.search(work.s):
        raise _fail(
            f"{m.group(0).strip()!r}: delayed, conditional or clock-time starts and ends are not supported; "
            "a command takes effect now, optionally 'for <number> seconds/minutes/hours'",
            text,
        )
    duration = _parse_durations(work, text)
    if duration is not None and permanent:
        raise _fail(f"it gives both a duration and {permanent[0].group(0)!r}", text)

    # --- whom -----------------------------------------------------------------------------------
    targets = _parse_vehicle_ids(work, text)
    up_cues = _positions(work.take(_COMPARATIVE_UP))
    down_cues = _positions(work.take(_COMPARATIVE_DOWN))
    targets += _parse_classes(work)
    if m := _UNNAMED_VEHICLE.search(work.s):
        raise _fail(
            f"{m.group(0).strip()!r} refers to a vehicle without its id; name it by id (e.g. 'vehicle 7') "
            "or name a class in the plural (e.g. 'buses')",
            text,
        )

    starts = _clause_starts(work.s)  # before the intent words are blanked: clause breaks use verbs

    # --- what -----------------------------------------------------------------------------------
    found: dict[str, list[int]] = {name: [] for name, _ in _INTENTS}
    for name, pattern in _UNDERSTOOD_NEGATIVE.items():
        found[name] += _positions(work.take(pattern))
    cancels = work.take(_CANCEL)
    if m := _NEGATION.search(work.s):
        raise _fail(
            f"{m.group(0).strip()!r} is a negated request I cannot read unambiguously; say what you want "
            "instead (e.g. 'back to normal', 'deprioritize trucks', 'tolerate higher latency')",
            text,
        )
    factors: list[tuple[float, str]] = []
    for m in work.take(_DEADLINE_FACTOR):
        factors.append((float(m.group(1) or m.group(2)), m.group(0).strip()))
    for m in work.take(_HALVE_DEADLINES):
        factors.append((0.5, m.group(0).strip()))
    for name, pattern in _INTENTS:
        found[name] += _positions(work.take(pattern))
    if m := re.search(r"\S*\d\S*", work.s):
        raise _fail(
            f"I do not know what the number in {work.snippet(m.start(), m.end())!r} refers to "
            "(numbers are vehicle ids, durations with a unit, or deadline factors such as '2x')",
            text,
        )

    # Targets named in a cancelling clause are what is being cancelled, not new priorities.
    cancel_clauses = {_clause_of(starts, m.start()) for m in cancels}
    targets = [t for t in targets if _clause_of(starts, t.pos) not in cancel_clauses]
    # Latency wishes apply to the named targets in their clause, or (with no explicit priority cue and
    # no "all vehicles") to the targets anywhere; otherwise they are network-wide.
    latency_cues = sorted(found["latency"] + found["accept_energy"])
    target_clauses = {_clause_of(starts, t.pos) for t in targets}
    up = found["priority"] + up_cues
    down = found["deprioritize"] + down_cues
    attached: list[int] = []
    latency_global = bool(latency_cues)
    if targets and not found["global"]:
        if not up and not down:
            attached, latency_global = latency_cues, False
        else:
            attached = [p for p in latency_cues if _clause_of(starts, p) in target_clauses]
            latency_global = len(attached) < len(latency_cues)
    up = up + attached

    energy = bool(found["energy"])
    tolerate = bool(found["tolerate"])
    strict = bool(found["strict"])
    balanced = bool(found["balanced"])
    fairness = bool(found["fairness"] or found["equal"])
    deadline_scale = 1.0
    if factors:
        values = sorted({f for f, _ in factors})
        if len(values) > 1:
            raise _fail(f"it gives several deadline factors ({', '.join(_fmt(v) for v in values)}); give one", text)
        f, phrase = values[0], factors[0][1]
        lo, hi = DEADLINE_SCALE_RANGE
        if f == 1.0:
            raise _fail(f"{phrase!r}: a deadline factor of 1 changes nothing", text)
        if not lo <= f <= hi:
            raise _fail(f"{phrase!r}: deadline factors must lie in [{_fmt(lo)}, {_fmt(hi)}]", text)
        tolerate, strict = tolerate or f > 1.0, strict or f < 1.0
        if tolerate and strict:
            raise _fail(f"{phrase!r} contradicts the other deadline wish in the command", text)
        deadline_scale = f
    elif tolerate and not strict:
        deadline_scale = TOLERANT_DEADLINE_SCALE
    elif strict and not tolerate:
        deadline_scale = STRICT_DEADLINE_SCALE

    # --- contradictions -------------------------------------------------------------------------
    if energy and latency_global:
        raise _fail(
            "it is contradictory: it asks to save energy and also for low latency / performance at an energy "
            "cost, which trade off against each other; choose one, or say 'balanced'",
            text,
        )
    if tolerate and strict:
        raise _fail("it is contradictory: it both tolerates higher latency and asks for strict deadlines", text)
    if tolerate and latency_global:
        raise _fail("it is contradictory: it asks for low latency and also tolerates higher latency", text)
    if balanced and (energy or latency_global or tolerate or strict):
        raise _fail(
            "it is contradictory: it asks for normal/balanced operation and also for a different mode; say one of them",
            text,
        )

    # --- priorities -----------------------------------------------------------------------------
    vehicle_weights: dict[int, float] = {}
    class_weights: dict[str, float] = {}
    for t in targets:
        clause = _clause_of(starts, t.pos)
        raise_here = any(_clause_of(starts, p) == clause for p in up)
        lower_here = any(_clause_of(starts, p) == clause for p in down)
        if not raise_here and not lower_here:
            raise_here, lower_here = bool(up), bool(down)
        if raise_here and lower_here:
            raise _fail(
                f"it is ambiguous whether {t.phrase!r} should get higher or lower priority; "
                "put each request in its own sentence",
                text,
            )
        if not raise_here and not lower_here:
            raise _fail(
                f"it names {t.phrase!r} without saying what it should get; say e.g. 'prioritize {t.phrase}' or "
                f"'deprioritize {t.phrase}' (energy saving, fairness and deadlines apply to the whole network, not to "
                "named vehicles or classes)",
                text,
            )
        weight = PRIORITY_WEIGHT if raise_here else DEPRIORITY_WEIGHT
        for key in t.keys:
            table: dict[Any, float] = vehicle_weights if t.kind == "vehicle" else class_weights
            if table.get(key, weight) != weight:
                raise _fail(f"it gives {t.phrase!r} both a higher and a lower priority", text)
            table[key] = weight
    if found["equal"] and (vehicle_weights or class_weights):
        raise _fail(
            "it is contradictory: it asks to treat all vehicles equally and also to prioritize some of them",
            text,
        )

    if not (energy or latency_global or tolerate or strict or balanced or fairness or targets or cancels):
        if found["priority"] or found["deprioritize"]:
            reason = (
                "it asks for a priority change but names no vehicle id or class (priority for everyone is "
                "no priority: say 'low latency' for the whole network)"
            )
        elif duration is not None or permanent:
            reason = "it gives a duration but no goal"
        else:
            reason = "I found no goal in it (energy saving, low latency, balanced, priorities, fairness, deadlines)"
        raise _fail(reason, text)

    # --- the goal -------------------------------------------------------------------------------
    mild = bool(found["mild"])
    parts: list[str] = []
    if energy:
        beta_energy, beta_qos = ENERGY_SAVING_MILD if mild else ENERGY_SAVING
        parts.append("energy_saving_mild" if mild else "energy_saving")
    elif latency_global:
        beta_energy, beta_qos = LOW_LATENCY_MILD if mild else LOW_LATENCY
        parts.append("low_latency_mild" if mild else "low_latency")
    else:
        beta_energy, beta_qos = BALANCED.beta_energy, BALANCED.beta_qos
    if tolerate and not energy:
        parts.append("relaxed_deadlines")
    if strict and not latency_global:
        parts.append("strict_deadlines")
    for weight, suffix in ((PRIORITY_WEIGHT, "priority"), (DEPRIORITY_WEIGHT, "low_priority")):
        ids = sorted(i for i, w in vehicle_weights.items() if w == weight)
        if ids:
            parts.append(_label_ids(ids, suffix))
        classes = [c for c in CLASSES if class_weights.get(c) == weight]
        if classes:
            parts.append("_".join(classes) + "_" + suffix)
    if fairness:
        parts.append("fairness")
    try:
        return GoalSpec(
            beta_energy=beta_energy,
            beta_qos=beta_qos,
            vehicle_weights=dict(sorted(vehicle_weights.items())),
            class_weights=class_weights,
            fairness=FAIRNESS_WEIGHT if fairness else 0.0,
            deadline_scale=deadline_scale,
            duration_s=duration,
            label="+".join(parts) or BALANCED.label,
        )
    except ValueError as e:  # the bounds above keep every goal valid; this is a last guard
        raise _fail(str(e), text) from None


def parse_command(text: str) -> GoalSpec:
    """The ``GoalSpec`` an operator command means (see the module docstring for the grammar).

    Deterministic and offline: equal texts give equal goals. Raises ``CommandError`` (a
    ``ValueError``) naming what was not understood, with example commands, for text it cannot act on.
    """
    if not isinstance(text, str):
        raise CommandError(f"a command must be a str, got {type(text).__name__}")
    return _parse(text)
