"""Plain-language explanations of goal changes, generated from the goal data (no LLM).

``explain_goal_change(old, new, command, evidence)`` says in one paragraph which weights of the
objective changed and why, quoting the command's own words: the phrases the offline interpreter
read for each part (``vecgym.interpret.interpret(text).evidence``) where they are given, otherwise
the command itself. The env puts it in ``info["interpretation"]["explanation"]`` on the slot the
interpreted goal changes; ``hybrid`` keeps one per goal change in ``stats()["explanations"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from .goals import BALANCED, GoalSpec

#: Which evidence fields (the interpreter's intent names) justify each part of a goal.
_REASONS: dict[str, tuple[str, ...]] = {
    "betas": ("energy_saving", "energy_saving_mild", "low_latency", "low_latency_mild", "balanced", "cancel"),
    "deadline": ("relaxed_deadlines", "strict_deadlines", "deadline_factor"),
    "fairness": ("fairness", "cancel", "balanced"),
    "weights": ("priority", "low_priority", "polarity", "cancel", "balanced"),
    "duration": ("duration", "until_replaced"),
}


class EvidenceLike(Protocol):
    field: str
    words: str


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _quotes(evidence: Sequence[EvidenceLike], part: str) -> str:
    words = [e.words for e in evidence if e.field in _REASONS[part]]
    return " (" + ", ".join(f"'{w}'" for w in dict.fromkeys(words)) + ")" if words else ""


def _beta_sentence(old: GoalSpec, new: GoalSpec) -> str | None:
    if (old.beta_energy, old.beta_qos) == (new.beta_energy, new.beta_qos):
        return None
    ratio = new.beta_energy / new.beta_qos if new.beta_qos > 0 else float("inf")
    lean = (
        "energy now weighs more than delay in the objective"
        if ratio > 1.0
        else "delay now weighs more than energy in the objective"
        if ratio < 1.0
        else "energy and delay weigh the same again"
    )
    return (
        f"the energy weight goes from {_fmt(old.beta_energy)} to {_fmt(new.beta_energy)} and the latency weight "
        f"from {_fmt(old.beta_qos)} to {_fmt(new.beta_qos)}, so {lean}"
    )


def _deadline_sentence(old: GoalSpec, new: GoalSpec) -> str | None:
    if old.deadline_scale == new.deadline_scale:
        return None
    how = "longer" if new.deadline_scale > old.deadline_scale else "shorter"
    return (
        f"the deadline scale goes from {_fmt(old.deadline_scale)} to {_fmt(new.deadline_scale)}: a task's "
        f"latency is judged against a {how} deadline ({_fmt(new.deadline_scale)}× its own)"
    )


def _weight_changes(old: Mapping[Any, float], new: Mapping[Any, float], noun: str) -> list[str]:
    keys = sorted(set(old) | set(new), key=str)
    return [
        f"{noun} {k}'s QoS weight {_fmt(old.get(k, 1.0))} → {_fmt(new.get(k, 1.0))}"
        for k in keys
        if old.get(k, 1.0) != new.get(k, 1.0)
    ]


def _weights_sentence(old: GoalSpec, new: GoalSpec) -> str | None:
    changes = _weight_changes(old.vehicle_weights, new.vehicle_weights, "vehicle")
    changes += _weight_changes(old.class_weights, new.class_weights, "class")
    if not changes:
        return None
    shown = changes[:6] + ([f"and {len(changes) - 6} more"] if len(changes) > 6 else [])
    return "priorities change: " + "; ".join(shown)


def _fairness_sentence(old: GoalSpec, new: GoalSpec) -> str | None:
    if old.fairness == new.fairness:
        return None
    what = "vehicles whose queues fall behind are now favoured" if new.fairness > 0 else "fairness is no longer weighed"
    return f"the fairness weight goes from {_fmt(old.fairness)} to {_fmt(new.fairness)}: {what}"


def _duration_sentence(new: GoalSpec) -> str:
    if new.duration_s is None:
        return "It holds until another command replaces it"
    return f"It holds for {_fmt(new.duration_s)} s, then the balanced goal returns"


def explain_goal_change(
    old: GoalSpec,
    new: GoalSpec,
    command: str | None = None,
    evidence: Iterable[EvidenceLike] = (),
    *,
    expired: bool = False,
) -> str:
    """One paragraph: what changed from ``old`` to ``new`` and why (see the module docstring).

    ``command`` is the operator's text that produced ``new`` (None for an expiry or a reset);
    ``evidence`` the interpreter's (field, words) pairs for it; ``expired`` says that ``old`` ran out.
    """
    ev = list(evidence)
    if expired:
        head = f"The goal '{old.label}' expired; back to the balanced goal."
    elif command is not None:
        head = f"The command \"{command.strip()[:200]}\" sets the goal '{new.label}'."
    else:
        head = f"The goal changes from '{old.label}' to '{new.label}'."
    parts = [
        (sentence, part)
        for sentence, part in (
            (_beta_sentence(old, new), "betas"),
            (_deadline_sentence(old, new), "deadline"),
            (_weights_sentence(old, new), "weights"),
            (_fairness_sentence(old, new), "fairness"),
        )
        if sentence
    ]
    if not parts:
        body = "No weight of the objective changes."
    else:
        body = " ".join(s[0].upper() + s[1:] + _quotes(ev, part) + "." for s, part in parts)
    tail = (
        ""
        if expired or (new == BALANCED and new.duration_s is None)
        else " " + _duration_sentence(new) + _quotes(ev, "duration") + "."
    )
    return f"{head} {body}{tail}"
