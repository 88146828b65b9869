"""The learning interface's actions: each agent's ``Box(-1, 1, (2K,))`` output mapped to (w, a).

A Gaussian policy cannot learn the raw ``Box(0, 1, (2, n_max, K))`` action: most samples fall out
of range and Σa > 1 has to be repaired almost every step. Here every point of ``[-1, 1]^(2K)`` is
a valid action, so a valid policy output is never repaired:

* offload ratios ``w = (u[:K] + 1) / 2`` (affine onto [0, 1]);
* edge shares by a softmax, per server, over the logits ``4·u[K:]`` of the queues it holds plus
  one "leave idle" logit ``log(Q_s)``, Q_s = the number of queues server s holds. All-zero outputs
  give Σa = 0.5 on every server, split equally; Σa ranges over about [0.018, 0.982]
  (e⁻⁴/(1 + e⁻⁴) to e⁴/(1 + e⁴)). A vehicle no server holds gets a = 0.

NaN or out-of-range entries are invalid: ``strict`` raises ``InvalidActionError`` naming them,
otherwise NaN → 0 and values are clipped, and the entries are counted (``repairs``).
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidActionError

#: Scale of the edge-share logits: u ∈ [-1, 1] gives logits in [-4, 4].
LOGIT_SCALE = 4.0


def check_policy_actions(u: np.ndarray, active: np.ndarray, n_types: int, strict: bool) -> tuple[np.ndarray, int]:
    """``u`` (B, M, 2K) as float64 in [-1, 1], and how many active entries were repaired.

    Rows of inactive slots are ignored (set to 0), whatever they hold."""
    arr = np.asarray(u)
    B, M = active.shape
    if arr.shape != (B, M, 2 * n_types) or arr.dtype.kind not in "fiub":
        raise InvalidActionError(
            f"policy actions have shape {arr.shape} and dtype {arr.dtype}; expected a real array of shape "
            f"({B}, {M}, {2 * n_types}) = (roads, n_max, 2·n_task_types) in [-1, 1]"
        )
    arr = np.where(active[..., None], arr.astype(np.float64), 0.0)
    bad = np.isnan(arr) | (arr < -1.0) | (arr > 1.0)
    if bad.any():
        if strict:
            b, m, j = np.argwhere(bad)[0]
            raise InvalidActionError(
                f"{int(bad.sum())} policy action entries are NaN or outside [-1, 1], e.g. road {b}, slot {m}, "
                f"entry {j} = {arr[b, m, j]!r}; clip the policy output to the action space"
            )
        arr = np.clip(np.nan_to_num(arr, nan=0.0), -1.0, 1.0)
    return arr, int(bad.sum())


def decode(u: np.ndarray, active: np.ndarray, holder: np.ndarray, n_servers: int) -> tuple[np.ndarray, np.ndarray]:
    """Offload ratios w and edge shares a, each (B, M, K) in [0, 1], from valid outputs ``u``
    (B, M, 2K) in [-1, 1]; ``holder`` (B, M) is the server holding each slot's queues (-1: none)."""
    B, _, twoK = u.shape
    K = twoK // 2
    held = active & (holder >= 0)
    w = np.where(active[..., None], (u[..., :K] + 1.0) * 0.5, 0.0)
    weight = np.where(held[..., None], np.exp(LOGIT_SCALE * u[..., K:]), 0.0)
    key = np.arange(B)[:, None] * n_servers + np.maximum(holder, 0)  # (road, server) of every slot
    size = B * n_servers
    queues = np.bincount(key[held], minlength=size) * K
    total = np.bincount(key.ravel(), weights=weight.sum(axis=-1).ravel(), minlength=size) + queues
    denom = total[key]
    a = np.where(held[..., None], weight / np.where(denom > 0.0, denom, 1.0)[..., None], 0.0)
    return w, a
