"""Per-slot explanations of an offloading decision, from the decision and its slot problem (no LLM).

``explain_slot(problem, w, a, vehicle_ids)`` says which vehicles offloaded and which kept their
work local, how each edge server's CPU was split, and why: the terms of the model cost J(w, a)
(``agents.lyapunov.model_terms``, reward units, mean over the horizon) that dominate, with the
vehicle that carries the most of the dominant one, e.g.

    Offloaded: vehicle 3 (80%), vehicle 5 (45%); kept local: vehicles 1, 2. Server 0 CPU:
    vehicle 3 62%, vehicle 5 30%, 8% unused. Cost J = 0.52: edge queueing 0.31 (60%), edge energy
    0.18 (35%), local queueing 0.02 (4%). Edge queueing dominates: vehicle 3 holds 60% of server
    0's work (backlog and offloads, 1.2 Gcycles).

A vehicle's offload ratio is the fraction of its expected new work (horizon mean, cycles) that w
sends to the edge (the plain mean over task types when it expects none); it counts as offloaded
from ``OFFLOAD_MIN``. A server's share of a vehicle is Σ over its task types of a. Deterministic
(vehicles in id order, ties broken by name) and one evaluation of J (about a millisecond).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agents.lyapunov.problem import SlotProblem, model_terms

OFFLOAD_MIN = 0.05
"""A vehicle offloading less than this fraction of its new work is listed as kept local."""
N_DOMINANT = 3

TERM_LABEL = {
    "qos_local": "local queueing",
    "qos_uplink": "upload queueing",
    "qos_edge": "edge queueing",
    "qos_downlink": "download queueing",
    "energy_local": "local computing energy",
    "energy_upload": "upload energy",
    "energy_download": "download energy",
    "energy_edge": "edge energy",
}


@dataclass(frozen=True)
class SlotExplanation:
    offloaded: dict[int, float]  # vehicle id -> offload ratio, vehicles at or above OFFLOAD_MIN
    kept_local: tuple[int, ...]  # active vehicles below OFFLOAD_MIN, by id
    shares: dict[int, dict[int, float]]  # server -> {vehicle id: Σ_k a} (vehicles with a share > 0)
    dominant: tuple[tuple[str, float], ...]  # the largest terms of J (name, value), descending
    total: float  # J(w, a)
    reason: str  # the sentence on the dominant term ("" when J = 0)
    text: str


def _pct(x: float) -> str:
    return "<1%" if 0.0 < x < 0.005 else f"{100.0 * x:.0f}%"


def _vehicles(ids: list[int]) -> str:
    return ("vehicle " if len(ids) == 1 else "vehicles ") + ", ".join(str(i) for i in ids)


def offload_ratios(p: SlotProblem, w: np.ndarray) -> np.ndarray:
    """(M,) fraction of each vehicle's expected new work that ``w`` offloads (0 where inactive)."""
    work = p.work.mean(0)
    tot = work.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(tot > 0.0, (w * work).sum(1) / tot, w.mean(1))
    return np.where(p.active, r, 0.0)


def _why(p: SlotProblem, term: str, w: np.ndarray, ids: np.ndarray) -> str:
    """Which vehicle carries the most of ``term``'s load, in numbers from the problem."""
    cfg = p.cfg
    work = p.work.mean(0)
    act = p.active
    label = TERM_LABEL[term].capitalize()
    if term in ("qos_edge", "energy_edge"):
        held = p.held
        if not held.any():
            return ""
        load = np.where(held, (p.edge + w * work).sum(1), 0.0)
        per_srv = np.bincount(p.server[held], weights=load[held], minlength=cfg.n_servers)
        s = int(np.argmax(per_srv))
        if per_srv[s] <= 0.0:
            return ""
        on = np.flatnonzero(held & (p.server == s))
        n = int(min(on[load[on] == load[on].max()], key=lambda m: ids[m]))  # ties: the lowest id
        return (
            f"{label} dominates: vehicle {ids[n]} holds {_pct(load[n] / per_srv[s])} of server {s}'s work "
            f"(backlog and offloads, {per_srv[s] / 1e9:.2g} Gcycles)."
        )
    if term in ("qos_local", "energy_local"):
        load = np.where(act, p.local + ((1.0 - w) * work).sum(1), 0.0)
        unit, what = 1e9, "local work"
        cap = cfg.vehicle_cpu_hz * cfg.slot_s
    elif term in ("qos_uplink", "energy_upload"):
        bits = w * work * (8.0 / np.asarray(cfg.per_type("cycles_per_byte"), dtype=np.float64))
        load = np.where(act, p.uplink + bits.sum(1), 0.0)
        unit, what, cap = 1e6, "bits to upload", 0.0
    else:  # downlink
        bits = w * work * (8.0 / np.asarray(cfg.per_type("cycles_per_byte"), dtype=np.float64)) * p.result_ratio
        load = np.where(act, p.downlink + bits.sum(1), 0.0)
        unit, what, cap = 1e6, "result bits to download", 0.0
    total = float(load.sum())
    if total <= 0.0:
        return ""
    top = float(load.max())
    n = int(min(np.flatnonzero(load == top), key=lambda m: ids[m]))
    amount = f"{top / unit:.2g} Gcycles queued or kept" if unit == 1e9 else f"{top / unit:.2g} Mbit"
    extra = ""
    if cap > 0.0 and top > cap:
        extra = f", more than the {cap / 1e9:.2g} Gcycles its CPU serves in a slot"
    return f"{label} dominates: vehicle {ids[n]} has {_pct(top / total)} of the road's {what} ({amount}{extra})."


def explain_slot(p: SlotProblem, w: np.ndarray, a: np.ndarray, vehicle_ids: np.ndarray) -> SlotExplanation:
    """Explain the decision (w, a) (M, K) on slot problem ``p``; ``vehicle_ids`` (M,) the
    observation's ``vehicle_id`` (vehicles are named by id)."""
    w = np.asarray(w, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    ids = np.asarray(vehicle_ids).astype(np.int64)
    act = p.active
    ratio = offload_ratios(p, w)
    order = sorted(np.flatnonzero(act), key=lambda m: ids[m])
    offloaded = {int(ids[m]): float(ratio[m]) for m in order if ratio[m] >= OFFLOAD_MIN}
    kept = tuple(int(ids[m]) for m in order if ratio[m] < OFFLOAD_MIN)
    shares: dict[int, dict[int, float]] = {}
    for m in order:
        if p.held[m] and a[m].sum() > 0.0:
            shares.setdefault(int(p.holder[m]), {})[int(ids[m])] = float(a[m].sum())
    shares = dict(sorted(shares.items()))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        terms = model_terms(p, w, a)
    total = float(sum(terms.values()))
    ranked = sorted(((k, v) for k, v in terms.items() if v > 0.0), key=lambda kv: (-kv[1], kv[0]))
    dominant = tuple((k, float(v)) for k, v in ranked[:N_DOMINANT])

    parts = []
    if offloaded:
        full = [i for i, r in offloaded.items() if r >= 0.995]
        some = [f"vehicle {i} ({_pct(r)})" for i, r in offloaded.items() if r < 0.995]
        parts.append("Offloaded: " + "; ".join(([f"all new work of {_vehicles(full)}"] if full else []) + some))
    else:
        parts.append("Nothing offloaded")
    if kept:
        parts[-1] += f"; kept local: {_vehicles(list(kept))}."
    else:
        parts[-1] += "."
    for s, by in shares.items():
        used = sum(by.values())
        split = ", ".join(f"vehicle {i} {_pct(x)}" for i, x in sorted(by.items(), key=lambda kv: (-kv[1], kv[0])))
        spare = f", {_pct(1.0 - used)} unused" if used < 0.995 else ""
        parts.append(f"Server {s} CPU: {split}{spare}.")
    if math.isinf(total):
        present = p.edge + w * p.work.mean(0)  # an edge queue's work: backlog and offloads
        starved = [int(ids[m]) for m in order if p.held[m] and ((present[m] > 0.0) & (a[m] <= 0.0)).any()]
        parts.append(f"Cost J is infinite: edge work of {_vehicles(starved)} has no CPU share.")
        reason = parts[-1]
    elif total > 0.0:
        listed = ", ".join(f"{TERM_LABEL[k]} {v:.3g} ({_pct(v / total)})" for k, v in dominant)
        parts.append(f"Cost J = {total:.3g}: {listed}.")
        reason = _why(p, dominant[0][0], w, ids)
        if reason:
            parts.append(reason)
    else:
        reason = ""
        parts.append("Cost J = 0: no work queued or expected.")
    return SlotExplanation(offloaded, kept, shares, dominant, total, reason, " ".join(parts))
