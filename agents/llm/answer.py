"""Checking an LLM's answer and turning it into the env's action.

``check_answer(text, rows, K)`` parses the answer and returns either the (w, a) rows with the
repairs applied, or the reason it cannot be used. Small violations are repaired by projection:
values up to ``RANGE_TOL`` outside [0, 1] are clipped, and shares summing to at most
``1 + SUM_TOL`` are scaled onto Σa = 1. Anything else (not JSON, wrong shape, non-numbers, NaN,
values far out of range, Σa far above 1) is a fallback reason; the caller then uses its solver's
decision for the slot. Nothing is repaired silently: every repair is named in the result.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RANGE_TOL = 0.05
SUM_TOL = 0.05

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


@dataclass
class Checked:
    """The outcome of ``check_answer``: ``w``/``a`` (rows × K) when usable, else ``reason``."""

    w: np.ndarray | None = None
    a: np.ndarray | None = None
    reason: str | None = None  # fallback reason when not usable
    repairs: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None


def extract_json(text: str) -> Any:
    """JSON from the answer; tolerates a Markdown code fence or prose around one object."""
    m = _FENCE.match(text)
    if m:
        text = m.group(1)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            return json.loads(text[start : end + 1])
        raise


def _matrix(value: Any, rows: int, K: int, name: str) -> np.ndarray | str:
    """A (rows, K) float array, or a reason string."""
    if not isinstance(value, list) or len(value) != rows:
        got = len(value) if isinstance(value, list) else type(value).__name__
        return f"{name} needs {rows} rows, got {got}"
    out = np.empty((rows, K))
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != K:
            return f"{name}[{i}] needs {K} numbers"
        for k, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, int | float):
                return f"{name}[{i}][{k}] is not a number: {v!r}"[:120]
            out[i, k] = float(v)
    return out


def check_answer(text: str | None, rows: int, K: int) -> Checked:
    """Parse and check an answer for ``rows`` active vehicles and ``K`` task types."""
    if not text or not text.strip():
        return Checked(reason="empty_answer")
    try:
        data = extract_json(text)
    except (json.JSONDecodeError, ValueError) as exc:
        return Checked(reason="bad_json", detail=str(exc)[:120])
    if not isinstance(data, dict) or "w" not in data or "a" not in data:
        return Checked(reason="bad_json", detail="needs an object with keys w and a")
    mats = {}
    for name in ("w", "a"):
        m = _matrix(data[name], rows, K, name)
        if isinstance(m, str):
            reason = "bad_value" if "not a number" in m else "bad_shape"
            return Checked(reason=reason, detail=m)
        mats[name] = m
    w, a = mats["w"], mats["a"]
    if not (np.isfinite(w).all() and np.isfinite(a).all()):  # json.loads accepts NaN and Infinity
        return Checked(reason="nan", detail="NaN or infinity in the answer")
    repairs = []
    lo, hi = min(w.min(initial=0.0), a.min(initial=0.0)), max(w.max(initial=1.0), a.max(initial=1.0))
    if lo < -RANGE_TOL or hi > 1.0 + RANGE_TOL:
        return Checked(reason="out_of_range", detail=f"values in [{lo:.3g}, {hi:.3g}], allowed [0, 1]")
    if lo < 0.0 or hi > 1.0:
        w, a = np.clip(w, 0.0, 1.0), np.clip(a, 0.0, 1.0)
        repairs.append("clipped")
    total = float(a.sum())
    if total > 1.0 + SUM_TOL:
        return Checked(reason="sum_a", detail=f"edge shares sum to {total:.3g} > 1")
    if total > 1.0:
        a = a / total
        repairs.append("scaled_a")
    return Checked(w=w, a=a, repairs=repairs)
