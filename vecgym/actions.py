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

from .core.xp import NUMPY, is_torch, xp_of
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
    action: Any,
    active: Any,
    n_types: int,
    strict: bool,
    holder: Any = None,
    n_servers: int | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Return float64 ``(w, a)`` of shape (B, n_max, K) and the repairs per road, by kind.

    Wrong shape or a non-numeric type always raises ``InvalidActionError``. With ``strict`` any
    other defect raises too; otherwise NaN → 0, ±inf and out-of-range values are clipped to
    [0, 1], and a server's Σa > 1 is scaled down radially to 1 (every share keeps its
    proportion). ``holder`` (B, n_max) names each vehicle's edge server; None: one server.
    ``n_servers``: how many servers there are (else read from ``holder``).

    Works in the namespace of ``active`` (``vecgym.core.xp``): with torch tensors the action may
    be a numpy array or a tensor, and ``(w, a)`` and the repairs are tensors on ``active``'s device.
    """
    X = xp_of(active)
    B, n_max = active.shape
    shape = (B, 2, n_max, n_types)
    try:
        arr = action.to(X.device) if X is not NUMPY and is_torch(action) else np.asarray(action)
    except Exception as exc:
        raise InvalidActionError(f"action could not be converted to an array: {exc}") from exc
    arr_shape = tuple(arr.shape)
    if arr_shape != shape:
        want = "(2 [w, a], n_max, n_task_types)" if B == 1 else "(num_envs, 2 [w, a], n_max, n_task_types)"
        got = arr_shape[1:] if B == 1 and len(arr_shape) == 4 and arr_shape[0] == 1 else arr_shape
        raise InvalidActionError(f"action has shape {got}, expected {shape[1:] if B == 1 else shape} = {want}")
    kind = _kind(arr)
    if kind not in "fiub":
        raise InvalidActionError(f"action dtype {arr.dtype} is not a real number type; use float32")
    repairs = {k: X.zeros(B, dtype=X.int64) for k in REPAIR_KINDS}
    if kind != "f":
        if strict:
            raise InvalidActionError(f"action dtype {arr.dtype} is not floating point; use float32")
        repairs["dtype"][:] = 1
    x = X.astype(arr, X.float64)
    mask = X.broadcast_to(active[:, None, :, None], shape)
    nan = X.isnan(x)
    bad_nan = nan & mask
    bad_range = ~nan & ((x < 0.0) | (x > 1.0)) & mask
    if strict and bool(bad_nan.any() | bad_range.any()):
        bad_nan_h, bad_range_h = X.to_numpy(bad_nan), X.to_numpy(bad_range)
        parts = []
        if bad_nan_h.any():
            parts.append("NaN at " + _describe(np.argwhere(bad_nan_h), B > 1))
        if bad_range_h.any():
            parts.append("outside [0, 1] at " + _describe(np.argwhere(bad_range_h), B > 1))
        raise InvalidActionError("invalid action entries: " + "; ".join(parts))
    # On a device the repair runs every step (a no-op on a valid action) rather than ask the host.
    if X is not NUMPY or bad_nan.any() or bad_range.any():
        repairs["nan"] = bad_nan.sum(axis=(1, 2, 3))
        repairs["range"] = bad_range.sum(axis=(1, 2, 3))
        x = X.clip(X.where(nan, 0.0, x), 0.0, 1.0)  # NaN → 0, +inf → 1, -inf → 0
    x = X.where(mask, x, 0.0)  # inactive slots: ignored (a NaN there must not reach the simulator)
    w, a = x[:, 0], x[:, 1]
    a, repairs["edge_budget"] = _server_budget(a, active, holder, strict, B > 1, n_servers)
    return w, a, repairs


def _kind(arr: Any) -> str:
    """numpy's dtype kind letter of an array or a tensor ("f", "i", "u", "b", "c", ...)."""
    if not is_torch(arr):
        return str(arr.dtype.kind)
    if arr.dtype.is_floating_point:
        return "f"
    if arr.dtype.is_complex:
        return "c"
    return "b" if str(arr.dtype) == "torch.bool" else "i"


def _server_budget(
    a: Any, active: Any, holder: Any, strict: bool, batched: bool, n_servers: int | None = None
) -> tuple[Any, Any]:
    """Scale each server's shares down to Σa = 1 where they exceed it; (a, servers repaired per road)."""
    X = xp_of(active)
    B, n_max = active.shape
    held = X.ones((B, n_max), dtype=X.bool_) if holder is None else X.asarray(holder) >= 0
    server = X.zeros((B, n_max), dtype=X.int64) if holder is None else X.maximum(X.asarray(holder), 0)
    if n_servers is None:
        n_srv = int(server.max()) + 1 if n_max else 1
    else:
        n_srv = max(int(n_servers), 1)  # extra servers add columns of zeros: the same result
    key = X.arange(B)[:, None] * n_srv + server
    # A vehicle no server holds yet (it entered in a gap) has no queue: its shares count nowhere.
    weights = X.where(held, a.sum(axis=2), 0.0)
    # Every key is below B * n_srv (servers are numbered below n_servers), so no read of key.max().
    totals = X.bincount(key.reshape(-1), weights=weights.reshape(-1), length=B * n_srv).reshape(B, n_srv)
    over = totals > 1.0 + SUM_TOL
    if strict and bool(over.any()):
        over_h, totals_h = X.to_numpy(over), X.to_numpy(totals)
        active_h, held_h, server_h = X.to_numpy(active), X.to_numpy(held), X.to_numpy(server)
        b, s = (int(i) for i in np.argwhere(over_h)[0])
        slots = np.flatnonzero(active_h[b] & held_h[b] & (server_h[b] == s))
        where = f"road {b}, " if batched else ""
        raise InvalidActionError(
            f"edge shares of the queues held by server {s} ({where}vehicle slot(s) {slots[:8].tolist()}"
            f"{' ...' if slots.size > 8 else ''}) sum to {totals_h[b, s]:.6g} > 1; scale row 1 (a) so that "
            "Σa <= 1 over each server's queues (obs['holder'] names each vehicle's server)"
        )
    factor = X.where(over, totals, 1.0)
    return a / X.take_along_axis(factor, server, axis=1)[..., None], over.sum(axis=1)


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
