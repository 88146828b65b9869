"""Checking and repairing actions before they touch the simulator.

An action is ``(2, n_max, K)`` per road: row 0 holds the offload ratios w ∈ [0, 1], row 1 the edge
CPU shares a ∈ [0, 1] with Σ a ≤ 1 over the queues each edge server holds (the active vehicles
whose ``holder`` is that server). Entries of inactive slots are ignored. ``check_actions`` takes a
leading road axis (B, 2, n_max, K); ``check_action`` is one road.
Nothing here mutates simulator state, so a rejected step leaves the env exactly as it was.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidActionError

#: Tolerance on Σa before it counts as over budget (float32 sums of shares that add up to 1).
SUM_TOL = 1e-5
REPAIR_KINDS = ("dtype", "nan", "range", "edge_budget")


def _describe(idx: np.ndarray, batched: bool, limit: int = 8) -> str:
    road = (lambda b: f"road {b}, ") if batched else (lambda b: "")
    cells = [f"[{road(b)}{'w' if r == 0 else 'a'}, slot {n}, type {k}]" for b, r, n, k in idx[:limit]]
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return ", ".join(cells) + more


def check_actions(
    action: Any, active: np.ndarray, n_types: int, strict: bool, holder: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Return float64 ``(w, a)`` of shape (B, n_max, K) and the repairs per road, by kind.

    Wrong shape or a non-numeric type always raises ``InvalidActionError``. With ``strict`` any
    other defect raises too; otherwise NaN → 0, ±inf and out-of-range values are clipped to
    [0, 1], and a server's Σa > 1 is scaled down radially to 1 (every share keeps its
    proportion). ``holder`` (B, n_max) names each vehicle's edge server; None: one server.
    """
    B, n_max = active.shape
    shape = (B, 2, n_max, n_types)
    try:
        arr = np.asarray(action)
    except Exception as exc:
        raise InvalidActionError(f"action could not be converted to an array: {exc}") from exc
    if arr.shape != shape:
        want = "(2 [w, a], n_max, n_task_types)" if B == 1 else "(num_envs, 2 [w, a], n_max, n_task_types)"
        got = arr.shape[1:] if B == 1 and arr.ndim == 4 and arr.shape[0] == 1 else arr.shape
        raise InvalidActionError(f"action has shape {got}, expected {shape[1:] if B == 1 else shape} = {want}")
    if arr.dtype.kind not in "fiub":
        raise InvalidActionError(f"action dtype {arr.dtype} is not a real number type; use float32")
    repairs = {kind: np.zeros(B, dtype=np.int64) for kind in REPAIR_KINDS}
    if arr.dtype.kind != "f":
        if strict:
            raise InvalidActionError(f"action dtype {arr.dtype} is not floating point; use float32")
        repairs["dtype"][:] = 1
    x = arr.astype(np.float64)
    mask = np.broadcast_to(active[:, None, :, None], shape)
    bad_nan = np.isnan(x) & mask
    bad_range = ~np.isnan(x) & ((x < 0.0) | (x > 1.0)) & mask
    if strict and (bad_nan.any() or bad_range.any()):
        parts = []
        if bad_nan.any():
            parts.append("NaN at " + _describe(np.argwhere(bad_nan), B > 1))
        if bad_range.any():
            parts.append("outside [0, 1] at " + _describe(np.argwhere(bad_range), B > 1))
        raise InvalidActionError("invalid action entries: " + "; ".join(parts))
    if bad_nan.any() or bad_range.any():
        repairs["nan"] = bad_nan.sum(axis=(1, 2, 3))
        repairs["range"] = bad_range.sum(axis=(1, 2, 3))
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    x = np.where(mask, x, 0.0)  # inactive slots: ignored (a NaN there must not reach the simulator)
    w, a = x[:, 0], x[:, 1]
    a, repairs["edge_budget"] = _server_budget(a, active, holder, strict, B > 1)
    return w, a, repairs


def _server_budget(
    a: np.ndarray, active: np.ndarray, holder: np.ndarray | None, strict: bool, batched: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Scale each server's shares down to Σa = 1 where they exceed it; (a, servers repaired per road)."""
    B, n_max = active.shape
    held = np.ones((B, n_max), dtype=bool) if holder is None else np.asarray(holder) >= 0
    server = np.zeros((B, n_max), dtype=np.intp) if holder is None else np.maximum(np.asarray(holder), 0)
    n_srv = int(server.max(initial=0)) + 1
    key = np.arange(B)[:, None] * n_srv + server
    # A vehicle no server holds yet (it entered in a gap) has no queue: its shares count nowhere.
    weights = np.where(held, a.sum(axis=2), 0.0)
    totals = np.bincount(key.ravel(), weights=weights.ravel(), minlength=B * n_srv).reshape(B, n_srv)
    over = totals > 1.0 + SUM_TOL
    if over.any() and strict:
        b, s = (int(i) for i in np.argwhere(over)[0])
        slots = np.flatnonzero(active[b] & held[b] & (server[b] == s))
        where = f"road {b}, " if batched else ""
        raise InvalidActionError(
            f"edge shares of the queues held by server {s} ({where}vehicle slot(s) {slots[:8].tolist()}"
            f"{' ...' if slots.size > 8 else ''}) sum to {totals[b, s]:.6g} > 1; scale row 1 (a) so that "
            "Σa <= 1 over each server's queues (obs['holder'] names each vehicle's server)"
        )
    factor = np.where(over, totals, 1.0)
    return a / np.take_along_axis(factor, server, axis=1)[..., None], over.sum(axis=1)


def check_action(
    action: Any, active: np.ndarray, n_types: int, strict: bool, holder: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """One road: float64 ``(w, a)`` of shape (n_max, K) and the repairs made, by kind
    (see ``check_actions``)."""
    try:
        arr = np.asarray(action)
    except Exception as exc:
        raise InvalidActionError(f"action could not be converted to an array: {exc}") from exc
    w, a, repairs = check_actions(
        arr[None], active[None], n_types, strict, None if holder is None else np.asarray(holder)[None]
    )
    return w[0], a[0], {k: int(v[0]) for k, v in repairs.items()}
