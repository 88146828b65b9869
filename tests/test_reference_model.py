"""The batch engine (``vecgym.core.engine``) against the independent reference model, in lockstep.

``tests/reference_model.py`` replays each slot's recorded inputs and arrivals with plain objects and
explicit FIFO loops (docs/physics_v2.md) and must agree with the engine on every task: the same
tasks resolve in the same slot with the same outcome, finish times to 1e-10 s, the energy split
and the QoS cost of every slot to 1e-9 relative, and the slot's counters (completed, failed,
dropped, violations, uploaders, arrivals, tasks in flight, edge utilisation, handovers). Each
scenario also asserts that it exercised what it is there for (handovers that migrate work, partial
uploads and partial downloads at a handover, results waiting in a gap, drops, exits whose local
work finishes after the exit, multi-hop moves, a busy backhaul), so that agreement is not vacuous.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vecgym.config import VECConfig
from vecgym.core.engine import Engine
from vecgym.goals import GoalSpec

_spec = importlib.util.spec_from_file_location("vecgym_reference_model", Path(__file__).with_name("reference_model.py"))
assert _spec is not None and _spec.loader is not None
ref_mod = sys.modules.setdefault("vecgym_reference_model", importlib.util.module_from_spec(_spec))
if not hasattr(ref_mod, "ReferenceModel"):
    _spec.loader.exec_module(ref_mod)
ReferenceModel = ref_mod.ReferenceModel

FINISH_TOL_S = 1e-10
REL = 1e-9
# The engine measures a link's busy time as bits / rate, the bits recovered from absolute completion
# times, so a partly served job carries an error of about one ulp of t (4e-15 s at t = 30 s): a few
# 1e-15 J. This floor only matters in slots whose download energy is a few µJ.
ATOL_J = 1e-12
ATOL_COST = 1e-12

#: The engine's hot-spot implementations (``Engine(kernels=...)``): both must agree with the model.
KERNELS = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") is not None else [])

MICROCELLS = dict(
    preset="corridor",
    n_vehicles=20.0,
    road_length_m=1000.0,
    rsu_x_m=tuple(25.0 + 50.0 * i for i in range(20)),
    coverage_radius_m=23.0,
    tunnels=((370.0, 480.0),),  # swallows the cell of the RSU at 425 m: 7 -> 9 is a two-hop move
    backhaul_rate_bps=2e6,  # slow: items queue on a link across boundaries, and move on again in flight
    result_ratio=(0.0, 0.05, 1.0),  # type 0 returns a result of 0 bits, type 2 one as large as its input
    downlink_bandwidth_hz=2e6,  # slow downloads: results are handed over half delivered
)


def actions(eng: Engine, rng: np.random.Generator, s: int) -> tuple[np.ndarray, np.ndarray]:
    """A valid action that changes style every 20 slots: random w and shares; everything local;
    everything offloaded; w in {0, 0.7, 1} with a tiny edge share (work stays at the servers); no
    edge share at all (edge work stalls, then is dropped); random w with each server fully shared."""
    B, M, K, S = eng.B, eng.M, eng.K, eng.S
    mode = (s // 20) % 6
    w = rng.random((B, M, K))
    if mode == 1:
        w[:] = 0.0
    elif mode == 2:
        w[:] = 1.0
    elif mode == 3:
        w = rng.choice([0.0, 0.7, 1.0], size=(B, M, K))
    a = rng.random((B, M, K))
    if mode == 4:
        a[:] = 0.0
    total = {2: 1.0, 3: 1e-3, 4: 1.0, 5: 1.0}.get(mode)
    for b in range(B):
        for srv in range(S):
            mine = eng.holder[b] == srv
            tot = a[b][mine].sum()
            if tot > 0.0:
                a[b][mine] *= (rng.uniform(0.3, 1.0) if total is None else total) / tot
    return w, a


class Mismatch(AssertionError):
    pass


def _check_slot(eng: Engine, results: list, ref: Any, s: int, summary: dict) -> None:
    """Slot s of the engine against slot s of the model (its end boundary included)."""
    tr = eng.trace
    assert tr is not None
    e, o, M = tr[s], ref.slots[s], eng.M
    where = f"slot {s} (t0 = {e['t0'].tolist()})"
    got = e["resolved"]
    eng_res = {
        (int(g) // M, int(g), float(ta)): (int(k), int(out), float(f))
        for g, k, ta, out, f in zip(got["g"], got["typ"], got["t_arr"], got["outcome"], got["finish"], strict=True)
    }
    ref_res = {(b, g, ta): (k, out, f) for b, g, k, ta, out, f in o.resolved}
    if eng_res.keys() != ref_res.keys():
        raise Mismatch(
            f"{where}: resolved tasks differ; engine only (road, g, t_arr): "
            f"{sorted(eng_res.keys() - ref_res.keys())[:5]}, model only: {sorted(ref_res.keys() - eng_res.keys())[:5]}"
        )
    for key, (k, out, f) in eng_res.items():
        rk, rout, rf = ref_res[key]
        if (k, out) != (rk, rout):
            raise Mismatch(f"{where}: task {key}: engine (type, outcome) {(k, out)}, model {(rk, rout)}")
        if math.isinf(f) or math.isinf(rf):
            if f != rf:
                raise Mismatch(f"{where}: task {key}: engine finish {f}, model {rf}")
            continue
        d = abs(f - rf)
        summary["finish_worst_s"] = max(summary["finish_worst_s"], d)
        if not d <= FINISH_TOL_S:
            raise Mismatch(f"{where}: task {key}: engine finish {f!r}, model {rf!r} (diff {d:.3g} s)")
    summary["tasks_compared"] += len(eng_res)

    energy = e["energy_j"]
    diff = np.abs(energy - o.energy)
    if (diff > REL * np.abs(o.energy) + ATOL_J).any():
        raise Mismatch(
            f"{where}: energy (local, up, down, migration, edge) engine {energy.tolist()}, model {o.energy.tolist()}"
        )
    rel = np.where(diff > ATOL_J, diff / np.maximum(np.abs(o.energy), 1e-300), 0.0)
    summary["energy_worst_rel"] = max(summary["energy_worst_rel"], float(rel.max()))
    q, rq = e["qos_cost"], o.qos_cost
    if (np.abs(q - rq) > REL * np.abs(rq) + ATOL_COST).any():
        raise Mismatch(f"{where}: QoS cost engine {q.tolist()}, model {rq.tolist()}")
    rel_q = np.where(np.abs(q - rq) > ATOL_COST, np.abs(q - rq) / np.maximum(np.abs(rq), 1e-300), 0.0)
    summary["qos_worst_rel"] = max(summary["qos_worst_rel"], float(rel_q.max()))

    m = results[s].metrics
    exact = {
        "tasks_completed": o.counts[:, 0],
        "tasks_failed": o.counts[:, 1],
        "tasks_dropped": o.counts[:, 2],
        "violations": o.violations,
        "n_uploading": o.n_uploading,
        "tasks_arrived": o.arrived,
        "tasks_in_flight": o.in_flight,
    }
    for name, want in exact.items():
        if not np.array_equal(m[name], want):
            raise Mismatch(f"{where}: metric {name}: engine {m[name].tolist()}, model {want.tolist()}")
    util = o.server_cycles.mean(axis=1) / (eng.cfg.edge_cpu_hz * eng.cfg.slot_s)
    if not np.allclose(m["edge_utilisation"], util, rtol=REL, atol=1e-15):
        raise Mismatch(f"{where}: edge_utilisation engine {m['edge_utilisation']}, model {util}")

    mig = e.get("migration")
    eng_mig = (
        set()
        if mig is None
        else {(int(g) // M, int(g), int(a), int(b)) for g, a, b in zip(mig["g"], mig["src"], mig["dst"], strict=True)}
    )
    if eng_mig != set(o.migrations):
        raise Mismatch(f"{where}: handovers at t1: engine {sorted(eng_mig)}, model {sorted(o.migrations)}")
    if mig is not None and not np.array_equal(mig["t"], e["t1"]):
        raise Mismatch(f"{where}: handovers at {mig['t']}, not at t1 = {e['t1']}")
    n_ho = np.bincount([k[0] for k in eng_mig], minlength=eng.B) if eng_mig else np.zeros(eng.B)
    if not np.array_equal(m["handovers"], n_ho):
        raise Mismatch(f"{where}: metric handovers: engine {m['handovers'].tolist()}, model {n_ho.tolist()}")
    summary["handovers_compared"] += len(eng_mig)


def _same_result(traced: Any, fast: Any, s: int) -> None:
    """The untraced engine's slot equals the traced one's: reward, reward terms and every metric."""
    pairs = [("reward", traced.reward, fast.reward)]
    pairs += [(f"reward_terms.{k}", v, fast.reward_terms[k]) for k, v in traced.reward_terms.items()]
    pairs += [(f"metrics.{k}", v, fast.metrics[k]) for k, v in traced.metrics.items()]
    for name, x, y in pairs:
        if not np.allclose(x, y, rtol=REL, atol=1e-12, equal_nan=True):
            raise Mismatch(
                f"slot {s}: {name}: traced engine {np.asarray(x).tolist()}, untraced {np.asarray(y).tolist()}"
            )


def lockstep(
    cfg: VECConfig,
    seeds: list[int],
    n_slots: int,
    *,
    goals: dict[int, GoalSpec] | None = None,
    setup=None,
    act_seed: int = 0,
    kernels: str | None = None,
    resets: dict[int, tuple[list[bool], list[int]]] | None = None,
    shadow: bool = False,
) -> tuple[dict, Any]:
    """Run the engine and the model side by side; raise ``Mismatch`` at the first disagreement.

    Slot s is compared once the engine has run slot s + 1: the model needs the next slot's cells to
    replay s's end boundary. ``resets``: {slot: (roads mask, seeds)} resets those roads just before
    that slot; ``setup(engine)`` runs after the first reset. ``shadow``: also run an untraced engine
    on the same actions and require the same results (a traced engine takes the plain numpy path
    for arrivals and settling; an untraced one may take compiled fast paths)."""

    def make() -> Engine:
        e = Engine(cfg, n_roads=len(seeds)) if kernels is None else Engine(cfg, n_roads=len(seeds), kernels=kernels)
        e.reset(np.array(seeds))
        for b, goal in (goals or {}).items():
            e.set_goal(b, goal)
        if setup is not None:
            setup(e)
        return e

    eng = make()
    eng.trace = []
    twin = make() if shadow else None
    # Vehicles moved by ``setup`` start from cells evaluated before the move: check cells from slot 1.
    ref = ReferenceModel(cfg, len(seeds), check_cells_from=0 if setup is None else 1)
    rng = np.random.default_rng(act_seed)
    results = []
    summary = {
        "finish_worst_s": 0.0,
        "energy_worst_rel": 0.0,
        "qos_worst_rel": 0.0,
        "tasks_compared": 0,
        "handovers_compared": 0,
    }
    for s in range(n_slots):
        if resets and s in resets:
            mask, new_seeds = resets[s]
            for e in (eng, twin) if twin is not None else (eng,):
                e.reset(np.array(new_seeds), roads=np.array(mask))
        w, a = actions(eng, rng, s)
        results.append(eng.step(w, a))
        if twin is not None:
            _same_result(results[-1], twin.step(w, a), s)
        tr = eng.trace[s]
        if s:
            # A road reset before slot s no longer shows its old vehicles' cells at the boundary that
            # ended slot s - 1: the model takes the cells they moved to from the engine's record.
            mig = eng.trace[s - 1].get("migration")
            moved = (
                {}
                if mig is None
                else {(int(g) // eng.M, int(g) % eng.M): int(d) for g, d in zip(mig["g"], mig["dst"], strict=True)}
            )
            ref.boundary(tr, cells_before_reset=moved)
            _check_slot(eng, results, ref, s - 1, summary)
        ref.run_slot(tr)
    summary.update(ref.stats)
    return summary, ref


CASES = {
    "corridor-N20": (
        dict(preset="corridor", n_vehicles=20.0),
        [11],
        300,
        None,
        ("dropped", "exits", "local_done_after_exit", "arrivals_in_gap", "handovers"),
    ),
    "corridor-N30-tunnel-2roads-goal": (
        dict(preset="corridor", n_vehicles=30.0, tunnels=((2300.0, 2700.0),)),
        [1, 2],
        400,
        {
            1: GoalSpec(
                class_weights={"car": 0.5, "bus": 3.0, "truck": 2.0}, vehicle_weights={3: 7.0}, deadline_scale=2.5
            )
        },
        (
            "handovers_with_migration",
            "migrated_partial_upload",
            "results_waiting_in_gap",
            "arrivals_in_gap",
            "dropped",
            "exits",
            "local_done_after_exit",
        ),
    ),
    "paper-N10": (
        dict(preset="paper", n_vehicles=10.0),
        [3],
        300,
        None,
        ("dropped", "failed", "exits", "local_done_after_exit", "completed_split"),
    ),
    "paper-N30": (
        dict(preset="paper", n_vehicles=30.0),
        [4],
        200,
        {0: GoalSpec(deadline_scale=0.25)},
        ("dropped", "failed", "exits", "local_done_after_exit", "completed_split"),
    ),
    "microcells": (
        MICROCELLS,
        [1],
        400,
        None,
        (
            "handovers_with_migration",
            "migrated_partial_upload",
            "migrated_partly_computed",
            "migrated_results",
            "migrated_partial_download",
            "multi_hop_handovers",
            "link_busy_at_boundary",
            "link_waits_for_ready",
            "results_waiting_in_gap",
            "dropped",
            "failed",
            "local_done_after_exit",
        ),
    ),
}


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("name", list(CASES))
def test_engine_agrees_with_reference_model(name: str, kernels: str) -> None:
    kwargs, seeds, n_slots, goals, must = CASES[name]
    summary, _ = lockstep(VECConfig.from_kwargs(**kwargs), seeds, n_slots, goals=goals, kernels=kernels, shadow=True)
    missing = [k for k in must if summary.get(k, 0) < 1]
    assert not missing, f"{name}: the run never exercised {missing}: {summary}"
    assert summary["tasks_compared"] > 1000 and summary["cells_checked"] > 0


def _platoons(eng: Engine) -> None:
    """Put the vehicles of road 0 in three tight platoons at one speed: they hand over together."""
    on = np.flatnonzero(eng.active[0])
    for i, n in enumerate(on):
        eng.x[0, n] = (150.0, 520.0, 930.0)[i % 3] + 0.3 * (i // 3)
        eng.v[0, n] = eng.v_target[0, n] = 20.0


def test_platoons_share_backhaul_links_in_task_order() -> None:
    """Platoons hand over together, so items of several vehicles share a link at one boundary: they
    cross it in their tasks' arrival order, whichever vehicle slots the vehicles sit in."""
    cfg = VECConfig.from_kwargs(
        preset="corridor",
        n_vehicles=30.0,
        road_length_m=2000.0,
        rsu_x_m=tuple(100.0 + 200.0 * i for i in range(10)),
        coverage_radius_m=95.0,
        tunnels=((600.0, 800.0),),
        backhaul_rate_bps=2e7,
    )
    summary, _ = lockstep(cfg, [1], 400, setup=_platoons)
    assert summary["handovers_with_migration"] >= 10 and summary["multi_hop_handovers"] > 0


def test_partial_resets_agree() -> None:
    """Resetting some roads of a batch mid-run (as a vector env's autoreset does) starts those roads
    afresh (no tasks, vehicles or link backlogs carried over) and leaves the others untouched."""
    summary, _ = lockstep(
        VECConfig.from_kwargs(**MICROCELLS),
        [1, 2],
        300,
        resets={120: ([True, False], [7, 0]), 230: ([True, True], [8, 9])},
        shadow=True,
    )
    assert summary["road_resets"] == 3 and summary["handovers_with_migration"] > 0
    assert summary["link_busy_at_boundary"] > 0


def test_reference_model_sees_a_real_difference() -> None:
    """The comparison is sharp: a model of a 10 % faster backhaul disagrees with the engine."""
    cfg = VECConfig.from_kwargs(**MICROCELLS)
    eng = Engine(cfg, n_roads=1)
    eng.trace = []
    eng.reset(np.array([1]))
    ref = ReferenceModel(cfg.replace(backhaul_rate_bps=2.2e6), 1)
    rng = np.random.default_rng(0)
    results: list = []
    summary = {
        "finish_worst_s": 0.0,
        "energy_worst_rel": 0.0,
        "qos_worst_rel": 0.0,
        "tasks_compared": 0,
        "handovers_compared": 0,
    }
    with pytest.raises(Mismatch):
        for s in range(400):
            results.append(eng.step(*actions(eng, rng, s)))
            if s:
                ref.boundary(eng.trace[s])
                _check_slot(eng, results, ref, s - 1, summary)
            ref.run_slot(eng.trace[s])


def test_t_cut_is_t1_for_staying_vehicles() -> None:
    cfg = VECConfig.from_kwargs(preset="paper", n_vehicles=10.0)
    eng = Engine(cfg, n_roads=1)
    eng.trace = []
    eng.reset(np.array([3]))
    zeros = np.zeros((1, eng.M, eng.K))
    for _ in range(30):
        eng.step(zeros, zeros)
    for tr in eng.trace:
        staying = tr["active"] & ~tr["exiting"]
        assert np.array_equal(tr["tcut"][staying], np.broadcast_to(tr["t1"][:, None], staying.shape)[staying])
