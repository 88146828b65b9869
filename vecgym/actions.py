"""Checking and repairing actions before they touch the simulator.

An action is ``(2, n_max, K)``: row 0 holds the offload ratios w ∈ [0, 1], row 1 the edge CPU
shares a ∈ [0, 1] with Σ a ≤ 1 over the active slots. Entries of inactive slots are ignored.
Nothing here mutates simulator state, so a rejected step leaves the env exactly as it was.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidActionError

#: Tolerance on Σa before it counts as over budget (float32 sums of shares that add up to 1).
SUM_TOL = 1e-5


def _describe(idx: np.ndarray, limit: int = 8) -> str:
    cells = [f"[{'w' if r == 0 else 'a'}, slot {n}, type {k}]" for r, n, k in idx[:limit]]
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return ", ".join(cells) + more


def check_action(
    action: Any, active: np.ndarray, n_types: int, strict: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Return float64 ``(w, a)`` of shape (n_max, K) and the repairs made, by kind.

    Wrong shape or a non-numeric type always raises ``InvalidActionError``. With ``strict`` any
    other defect raises too; otherwise NaN → 0, ±inf and out-of-range values are clipped to
    [0, 1], and Σa > 1 is scaled down radially to Σa = 1 (every share keeps its proportion).
    """
    n_max = active.shape[0]
    shape = (2, n_max, n_types)
    try:
        arr = np.asarray(action)
    except Exception as exc:
        raise InvalidActionError(f"action could not be converted to an array: {exc}") from exc
    if arr.shape != shape:
        raise InvalidActionError(f"action has shape {arr.shape}, expected {shape} = (2 [w, a], n_max, n_task_types)")
    repairs = {"dtype": 0, "nan": 0, "range": 0, "edge_budget": 0}
    if arr.dtype.kind not in "fiub":
        raise InvalidActionError(f"action dtype {arr.dtype} is not a real number type; use float32")
    if arr.dtype.kind != "f":
        if strict:
            raise InvalidActionError(f"action dtype {arr.dtype} is not floating point; use float32")
        repairs["dtype"] = 1
    x = arr.astype(np.float64)
    mask = np.broadcast_to(active[None, :, None], shape)
    bad_nan = np.isnan(x) & mask
    bad_range = ~np.isnan(x) & ((x < 0.0) | (x > 1.0)) & mask
    if strict and (bad_nan.any() or bad_range.any()):
        parts = []
        if bad_nan.any():
            parts.append("NaN at " + _describe(np.argwhere(bad_nan)))
        if bad_range.any():
            parts.append("outside [0, 1] at " + _describe(np.argwhere(bad_range)))
        raise InvalidActionError("invalid action entries: " + "; ".join(parts))
    if bad_nan.any() or bad_range.any():
        repairs["nan"] = int(bad_nan.sum())
        repairs["range"] = int(bad_range.sum())
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    x = np.where(mask, x, 0.0)  # inactive slots: ignored (a NaN there must not reach the simulator)
    w, a = x[0], x[1]
    total = float(a.sum())
    if total > 1.0 + SUM_TOL:
        if strict:
            raise InvalidActionError(
                f"edge shares sum to {total:.6g} > 1 over the active slots; scale row 1 (a) so Σa <= 1"
            )
        repairs["edge_budget"] = 1
        a = a / total
    return w, a, repairs
