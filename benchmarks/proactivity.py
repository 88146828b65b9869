"""Does foresight pay? The proactivity study: the same receding-horizon controller told more and
more about the coming slots, each agent along its energy-violation frontier (a V sweep).

    python -m benchmarks.proactivity [--scenarios dynamic corridor_rush corridor_tunnel] [--seeds 5]
                                     [--v 0.3 1 3] [--slots N] [--workers 2] [--out docs/results/proactivity]

Per scenario, seed (paired: every agent sees the same roads) and V it runs every agent and
records energy per slot, the violation rate, the peak violation (10-slot window), the goal cost
(minus the mean reward per slot) and the per-slot violations. The report gives

* each agent at its best V (the V with the lowest mean goal cost) and the share of the gap from
  ``dpp-ewma`` to the oracle it closes;
* violations at matched energy: each agent's violation rate interpolated (linearly, per seed)
  along its own V frontier at the energy ``dpp-ewma`` spends at V = 1, and the paired difference
  against ``dpp-ewma`` (mean ± 95% CI over seeds; a seed where the energy is outside an agent's
  frontier is left out and counted);
* event-aligned violations: the violation rate per second from 5 s before to 15 s after the
  scenario's surge or incident onset;
* the value-of-information ladder (``agents.horizon.inputs``): state → EWMA → twin → true rates →
  true next slot → true future, one solver.

Writes ``proactivity.md``, ``episodes.jsonl`` and ``frontier.png`` / ``events.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from benchmarks.stats import fmt

#: Agents of the study: registry names, or ``rh:<source>:<H>`` (the receding-horizon controller
#: on one input source, planning on the forecast's mean).
LADDER = (
    "rh:state:1",
    "rh:ewma:1",
    "rh:twin:5",
    "rh:true-rates:1",
    "rh:true-next:1",
    "rh:true-future:5",
)
DEFAULT_AGENTS = ("dpp", "dpp-ewma", *LADDER)
ALIASES = {"rh:twin:5": "sp-dpp", "rh:true-future:5": "oracle"}
REFERENCE = "dpp-ewma"
#: The reactive filter on the receding-horizon controller itself: the same-solver reference.
SAME_SOLVER_REFERENCE = "rh:ewma:1"
BOUND = "rh:true-future:5"
#: Event onsets (s) by scenario: the corridor's surge and incident start times.
EVENT_WINDOW_S = (-5.0, 15.0)
#: Per-vehicle events (a change of the vehicle's serving cell) and the window around them.
VEHICLE_EVENTS = ("handover", "gap_entry", "gap_exit")
VEHICLE_WINDOW_SLOTS = 20  # ± 2 s
VEHICLE_BIN_SLOTS = 5  # 0.5 s bins


@dataclass(frozen=True)
class Episode:
    scenario: str
    agent: str
    v: float
    seed: int
    slots: int


def label(agent: str) -> str:
    return f"{agent} ({ALIASES[agent]})" if agent in ALIASES else agent


def build(agent: str, env: Any, v: float) -> Any:
    """The agent of a study name at energy price multiplier ``v``."""
    if agent.startswith("rh:"):
        from agents.horizon import HorizonAgent

        _, source, horizon = agent.split(":")
        return HorizonAgent(env, v=v, horizon=int(horizon), source=source, spread=False)
    import agents

    return agents.make_agent(agent, env, v=v)


def event_onset_s(scenario: str) -> float | None:
    from vecgym import scenarios

    if scenario == "corridor_rush":
        return float(scenarios.CORRIDOR_RAMP[1])
    if scenario == "corridor_incident":
        return float(scenarios.CORRIDOR_INCIDENT[2])
    return None


def run(ep: Episode) -> dict[str, Any]:
    """One episode: its summary and per-slot violations and decisions."""
    from agents.rollout import StepRecord, rollout
    from vecgym import scenarios

    env = scenarios.make(ep.scenario, max_episode_steps=ep.slots)
    agent = build(ep.agent, env, ep.v)
    viol, decided = [], []
    per_vehicle: dict[str, list[np.ndarray]] = {"vid": [], "cell": [], "resolved": [], "late": []}
    metrics = env.unwrapped.sim.engine.metrics  # type: ignore[attr-defined]

    def record(step: StepRecord) -> None:
        obs, info = step.obs, step.next_info
        per_vehicle["vid"].append(np.where(obs["active"] > 0, obs["vehicle_id"], -1))
        per_vehicle["cell"].append(np.asarray(obs["cell"]).copy())
        viol.append(float(info["metrics"]["violations"]))
        decided.append(float(info["metrics"]["tasks_decided"]))
        # Tasks each vehicle slot resolved this slot, and how many on time (the fairness ring).
        ring = metrics.fair[(int(metrics.counts[0, 0]) - 1) % metrics.fair_window, 0]
        per_vehicle["resolved"].append(ring[:, 0].copy())
        per_vehicle["late"].append(ring[:, 0] - ring[:, 1])

    result = rollout(env, agent, ep.seed, on_step=record, max_steps=ep.slots)
    cost, decide_s, m = -result.total_reward, result.decision_s, result.episode_metrics
    aligned = vehicle_events({key: np.stack(val) for key, val in per_vehicle.items()})
    return {
        "scenario": ep.scenario, "agent": ep.agent, "v": ep.v, "seed": ep.seed, "slots": len(viol),
        "goal_cost": cost / len(viol), "energy_per_slot_j": m["energy_per_slot_j"],
        "violation_rate_pct": m["violation_rate_pct"], "peak_violation_rate_pct": m["peak_violation_rate_pct"],
        "decision_ms_median": 1e3 * float(np.median(decide_s)), "violations": viol, "decided": decided,
        "vehicle_events": aligned,
    }  # fmt: skip


def vehicle_events(series: dict[str, np.ndarray]) -> dict[str, dict[str, list[float]]]:
    """Late and resolved tasks of each vehicle in the slots around its own cell changes, summed
    per offset d = -W..W slots (W = ``VEHICLE_WINDOW_SLOTS``): ``{event: {"late": [...],
    "resolved": [...], "count": [n]}}``. A handover: the serving cell changes from one RSU to
    another; a gap entry / exit: to / from no RSU. ``series``: (T, M) arrays of vehicle ids (-1
    empty), cells during each slot, tasks resolved and tasks late in each slot."""
    vid, cell = series["vid"], series["cell"]
    same = (vid[1:] == vid[:-1]) & (vid[1:] >= 0)
    before, after = cell[:-1], cell[1:]
    kinds = {
        "handover": same & (before >= 0) & (after >= 0) & (before != after),
        "gap_entry": same & (before >= 0) & (after < 0),
        "gap_exit": same & (before < 0) & (after >= 0),
    }
    T = vid.shape[0]
    W = VEHICLE_WINDOW_SLOTS
    out = {}
    for kind, mask in kinds.items():
        t_e, m_e = np.nonzero(mask)
        t_e = t_e + 1  # the first slot in the new cell
        late, resolved = np.zeros(2 * W + 1), np.zeros(2 * W + 1)
        for i, d in enumerate(range(-W, W + 1)):
            t = t_e + d
            ok = (t >= 0) & (t < T)
            ok[ok] &= vid[t[ok], m_e[ok]] == vid[t_e[ok], m_e[ok]]
            late[i] = series["late"][t[ok], m_e[ok]].sum()
            resolved[i] = series["resolved"][t[ok], m_e[ok]].sum()
        out[kind] = {"late": late.tolist(), "resolved": resolved.tolist(), "count": [float(t_e.shape[0])]}
    return out


def _safe_run(ep: Episode) -> dict[str, Any]:
    try:
        return run(ep)
    except Exception as exc:  # reported in the output, the other episodes go on
        import traceback

        return {"scenario": ep.scenario, "agent": ep.agent, "v": ep.v, "seed": ep.seed, "error": repr(exc),
                "traceback": traceback.format_exc()}  # fmt: skip


# --- analysis ------------------------------------------------------------------------------------
def _rows(rows: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    return [r for r in rows if "error" not in r and all(r[k] == v for k, v in kw.items())]


def best_v(rows: list[dict[str, Any]], scenario: str, agent: str) -> float:
    vs = sorted({r["v"] for r in _rows(rows, scenario=scenario, agent=agent)})
    means = [np.mean([r["goal_cost"] for r in _rows(rows, scenario=scenario, agent=agent, v=v)]) for v in vs]
    return vs[int(np.argmin(means))]


def at_energy(rows: list[dict[str, Any]], scenario: str, agent: str, seed: int, energy: float) -> float:
    """The agent's violation rate at ``energy`` on this seed, linear along its V frontier (NaN
    outside the energies its V values reach)."""
    pts = sorted(
        (r["energy_per_slot_j"], r["violation_rate_pct"])
        for r in _rows(rows, scenario=scenario, agent=agent, seed=seed)
    )
    if len(pts) < 2 or not pts[0][0] <= energy <= pts[-1][0]:
        return float("nan")
    e, v = zip(*pts, strict=True)
    return float(np.interp(energy, e, v))


def event_curve(rows: list[dict[str, Any]], scenario: str, agent: str, v: float, slot_s: float) -> np.ndarray | None:
    """Violation rate (%) per second around the event onset, pooled over seeds."""
    onset = event_onset_s(scenario)
    if onset is None:
        return None
    lo, hi = EVENT_WINDOW_S
    edges = np.arange(onset + lo, onset + hi + 1e-9, 1.0)
    viol, dec = np.zeros(edges.shape[0] - 1), np.zeros(edges.shape[0] - 1)
    for r in _rows(rows, scenario=scenario, agent=agent, v=v):
        t = (np.arange(len(r["violations"])) + 1) * slot_s
        idx = np.searchsorted(edges, t, side="right") - 1
        ok = (idx >= 0) & (idx < viol.shape[0])
        np.add.at(viol, idx[ok], np.asarray(r["violations"])[ok])
        np.add.at(dec, idx[ok], np.asarray(r["decided"])[ok])
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * viol / dec


def report(rows: list[dict[str, Any]], scenario_names: list[str], agent_names: list[str], cmd: str) -> str:
    from vecgym.config import VECConfig

    slot_s = VECConfig().slot_s
    out = ["# Does foresight pay? The proactivity study", "", f"`{cmd}`", ""]
    errors = [r for r in rows if "error" in r]
    if errors:
        out += [
            "**Failed episodes:** "
            + "; ".join(f"{r['scenario']}/{r['agent']}/V={r['v']}/seed {r['seed']}: {r['error']}" for r in errors),
            "",
        ]
    for sc in scenario_names:
        seeds = sorted({r["seed"] for r in _rows(rows, scenario=sc)})
        out += [
            f"## {sc}",
            "",
            f"Seeds {seeds} (paired), V ∈ {sorted({r['v'] for r in _rows(rows, scenario=sc)})}.",
            "",
        ]
        # Best V.
        out += [
            "### Each agent at its best V",
            "",
            "| agent | best V | goal cost | violations (%) | peak violation (%) | energy (J/slot) | gap closed "
            "| decision ms (median) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        ref_cost = bound_cost = None
        if REFERENCE in agent_names and BOUND in agent_names:
            ref_cost = np.mean(
                [r["goal_cost"] for r in _rows(rows, scenario=sc, agent=REFERENCE, v=best_v(rows, sc, REFERENCE))]
            )
            bound_cost = np.mean(
                [r["goal_cost"] for r in _rows(rows, scenario=sc, agent=BOUND, v=best_v(rows, sc, BOUND))]
            )
        for ag in agent_names:
            if not _rows(rows, scenario=sc, agent=ag):
                continue
            v = best_v(rows, sc, ag)
            rr = _rows(rows, scenario=sc, agent=ag, v=v)
            col = {
                k: [r[k] for r in rr]
                for k in (
                    "goal_cost",
                    "violation_rate_pct",
                    "peak_violation_rate_pct",
                    "energy_per_slot_j",
                    "decision_ms_median",
                )
            }
            gap = "n/a"
            if ref_cost is not None and bound_cost is not None and ref_cost != bound_cost:
                gap = f"{100.0 * (ref_cost - np.mean(col['goal_cost'])) / (ref_cost - bound_cost):.0f}%"
            out.append(
                f"| {label(ag)} | {v:g} | {fmt(col['goal_cost'], 4)} | {fmt(col['violation_rate_pct'], 2)} | "
                f"{fmt(col['peak_violation_rate_pct'], 1)} | {fmt(col['energy_per_slot_j'], 2)} | {gap} | "
                f"{np.median(col['decision_ms_median']):.1f} |"
            )
        for reference in (REFERENCE, SAME_SOLVER_REFERENCE):
            out += matched_energy_table(rows, sc, agent_names, reference, seeds)
        # Events.
        if event_onset_s(sc) is not None:
            out += [
                "",
                f"### Violations around the event onset (t = {event_onset_s(sc):g} s), each agent at its best V",
                "",
                "| agent | 5 s before (%) | first 5 s after (%) | peak 1 s bin after (%) |",
                "|---|---:|---:|---:|",
            ]
            for ag in agent_names:
                if not _rows(rows, scenario=sc, agent=ag):
                    continue
                c = event_curve(rows, sc, ag, best_v(rows, sc, ag), slot_s)
                assert c is not None
                before, after = c[:5], c[5:10]
                out.append(
                    f"| {label(ag)} | {np.nanmean(before):.1f} | {np.nanmean(after):.1f} | {np.nanmax(c[5:]):.1f} |"
                )
        out += oracle_table(rows, sc)
        out += vehicle_event_table(rows, sc, agent_names)
        out.append("")
    return "\n".join(out)


def matched_energy_table(
    rows: list[dict[str, Any]], scenario: str, agent_names: list[str], reference: str, seeds: list[int]
) -> list[str]:
    """Each agent's violations at the energy ``reference`` spends at V = 1 on each seed,
    interpolated along the agent's own V frontier, and the paired difference and ratio."""
    if not _rows(rows, scenario=scenario, agent=reference):
        return []
    out = ["", f"### Violations at matched energy (the energy of `{reference}` at V = 1, per seed)", "",
           f"| agent | violations (%) | paired difference vs `{reference}` (points) | ratio | seeds in range |",
           "|---|---:|---:|---:|---:|"]  # fmt: skip
    for ag in agent_names:
        vals, refs = [], []
        for s in seeds:
            ref = _rows(rows, scenario=scenario, agent=reference, seed=s, v=1.0)
            x = at_energy(rows, scenario, ag, s, ref[0]["energy_per_slot_j"]) if ref else float("nan")
            if np.isfinite(x):
                vals.append(x)
                refs.append(ref[0]["violation_rate_pct"])
        ratio = f"{np.mean(vals) / np.mean(refs):.2f}" if vals and np.mean(refs) > 0 else "n/a"
        diffs = [x - y for x, y in zip(vals, refs, strict=True)]
        out.append(f"| {label(ag)} | {fmt(vals, 2)} | {fmt(diffs, 2)} | {ratio} | {len(vals)} of {len(seeds)} |")
    return out


def oracle_table(rows: list[dict[str, Any]], scenario: str) -> list[str]:
    """The oracle over its horizon against its own one-slot version (``rh:true-next:1``), paired
    by seed at every V: the mean goal costs and the seeds where the horizon loses."""
    one = "rh:true-next:1"
    if not _rows(rows, scenario=scenario, agent=BOUND) or not _rows(rows, scenario=scenario, agent=one):
        return []
    out = ["", f"### `oracle` (H = 5) against its one-slot version (`{one}`), paired", "",
           "| V | goal cost H = 5 | goal cost H = 1 | paired difference | seeds where H = 5 loses |",
           "|---:|---:|---:|---:|---|"]  # fmt: skip
    for v in sorted({r["v"] for r in _rows(rows, scenario=scenario, agent=BOUND)}):
        pairs = []
        for r in _rows(rows, scenario=scenario, agent=BOUND, v=v):
            o = _rows(rows, scenario=scenario, agent=one, v=v, seed=r["seed"])
            if o:
                pairs.append((r["seed"], r["goal_cost"], o[0]["goal_cost"]))
        if not pairs:
            continue
        lose = [f"{s} (+{a - b:.4f})" for s, a, b in pairs if a > b]
        out.append(
            f"| {v:g} | {fmt([a for _, a, _ in pairs], 4)} | {fmt([b for _, _, b in pairs], 4)} | "
            f"{fmt([a - b for _, a, b in pairs], 4)} | {', '.join(lose) or 'none'} |"
        )
    return out


def vehicle_event_curve(
    rows: list[dict[str, Any]], scenario: str, agent: str, v: float, kind: str
) -> tuple[np.ndarray, float]:
    """Violation rate (%) per 0.5 s bin from -2 s to +2 s around each vehicle's own event, pooled
    over seeds, and the number of events."""
    late = resolved = None
    n = 0.0
    for r in _rows(rows, scenario=scenario, agent=agent, v=v):
        ev = r["vehicle_events"][kind]
        late = np.asarray(ev["late"]) + (0.0 if late is None else late)
        resolved = np.asarray(ev["resolved"]) + (0.0 if resolved is None else resolved)
        n += ev["count"][0]
    if late is None or resolved is None:
        return np.full(1, np.nan), 0.0
    b = VEHICLE_BIN_SLOTS
    edges = np.arange(0, late.shape[0] - 1, b)  # drop the last offset (+W) to keep whole bins
    lb, rb = np.add.reduceat(late[:-1], edges), np.add.reduceat(resolved[:-1], edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * lb / rb, n


def vehicle_event_table(rows: list[dict[str, Any]], scenario: str, agent_names: list[str]) -> list[str]:
    out = []
    for kind in VEHICLE_EVENTS:
        curves = {ag: vehicle_event_curve(rows, scenario, ag, best_v(rows, scenario, ag), kind) for ag in agent_names
                  if _rows(rows, scenario=scenario, agent=ag)}  # fmt: skip
        if not curves or max(n for _, n in curves.values()) == 0:
            continue
        bins = [
            f"{(i * VEHICLE_BIN_SLOTS - VEHICLE_WINDOW_SLOTS) / 10:+.1f} s"
            for i in range(next(iter(curves.values()))[0].shape[0])
        ]
        out += [
            "",
            f"### Violations (%) around each vehicle's {kind.replace('_', ' ')}, 0.5 s bins (best V)",
            "",
            "| agent | events | " + " | ".join(bins) + " | peak |",
            "|---|---:|" + "---:|" * (len(bins) + 1),
        ]
        for ag, (c, n) in curves.items():
            out.append(f"| {label(ag)} | {n:.0f} | " + " | ".join(f"{x:.1f}" for x in c) + f" | {np.nanmax(c):.1f} |")
    return out


def _save(fig: Any, path: Path, paths: list[Path]) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)


def plots(rows: list[dict[str, Any]], scenario_names: list[str], agent_names: list[str], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vecgym.config import VECConfig

    paths: list[Path] = []
    fig, axes = plt.subplots(1, len(scenario_names), figsize=(6 * len(scenario_names), 4.5), squeeze=False)
    for ax, sc in zip(axes[0], scenario_names, strict=True):
        for ag in agent_names:
            vs = sorted({r["v"] for r in _rows(rows, scenario=sc, agent=ag)})
            if not vs:
                continue
            e = [np.mean([r["energy_per_slot_j"] for r in _rows(rows, scenario=sc, agent=ag, v=v)]) for v in vs]
            y = [np.mean([r["violation_rate_pct"] for r in _rows(rows, scenario=sc, agent=ag, v=v)]) for v in vs]
            ax.plot(e, y, marker="o", label=label(ag))
        ax.set(title=f"{sc}: energy-violation frontier (V sweep)", xlabel="energy (J/slot)", ylabel="violations (%)")
        ax.legend(fontsize=7)
    _save(fig, out_dir / "frontier.png", paths)
    ev = [sc for sc in scenario_names if event_onset_s(sc) is not None]
    if ev:
        fig, axes = plt.subplots(1, len(ev), figsize=(6 * len(ev), 4.5), squeeze=False)
        for ax, sc in zip(axes[0], ev, strict=True):
            t = np.arange(*EVENT_WINDOW_S) + 0.5
            for ag in agent_names:
                if _rows(rows, scenario=sc, agent=ag):
                    ax.plot(t, event_curve(rows, sc, ag, best_v(rows, sc, ag), VECConfig().slot_s), label=label(ag))
            ax.axvline(0.0, color="k", lw=0.8)
            ax.set(title=f"{sc}: violations around the onset (best V)", xlabel="s after onset", ylabel="violations (%)")
            ax.legend(fontsize=7)
        _save(fig, out_dir / "events.png", paths)
    panels = [
        (sc, kind)
        for sc in scenario_names
        for kind in VEHICLE_EVENTS
        if any(vehicle_event_curve(rows, sc, ag, best_v(rows, sc, ag), kind)[1] > 0 for ag in agent_names
               if _rows(rows, scenario=sc, agent=ag))
    ]  # fmt: skip
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2), squeeze=False)
        for ax, (sc, kind) in zip(axes[0], panels, strict=True):
            for ag in agent_names:
                if not _rows(rows, scenario=sc, agent=ag):
                    continue
                c, _ = vehicle_event_curve(rows, sc, ag, best_v(rows, sc, ag), kind)
                bins = np.arange(c.shape[0]) * VEHICLE_BIN_SLOTS - VEHICLE_WINDOW_SLOTS + VEHICLE_BIN_SLOTS / 2
                ax.plot(bins * VECConfig().slot_s, c, marker=".", label=label(ag))
            ax.axvline(0.0, color="k", lw=0.8)
            ax.set(
                title=f"{sc}: {kind.replace('_', ' ')}", xlabel="s from the vehicle's event", ylabel="violations (%)"
            )
            ax.legend(fontsize=6)
        _save(fig, out_dir / "vehicle_events.png", paths)
    return paths


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scenarios", nargs="+", default=["dynamic", "corridor_rush", "corridor_tunnel"])
    ap.add_argument("--agents", nargs="+", default=list(DEFAULT_AGENTS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--v", type=float, nargs="+", default=[0.3, 1.0, 3.0])
    ap.add_argument("--slots", type=int, default=None, help="slots per episode (default: the scenario's)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=Path("results/proactivity"))
    ap.add_argument(
        "--from-jsonl",
        type=Path,
        nargs="+",
        default=None,
        help="run nothing: report on these episodes.jsonl files (e.g. two runs with different --agents)",
    )
    args = ap.parse_args(argv)
    if 1.0 not in args.v:
        ap.error("--v must include 1 (the matched energy is the reference's at V = 1)")
    from vecgym import scenarios

    eps = [
        Episode(sc, ag, v, s, args.slots or scenarios.get(sc).n_slots)
        for sc in args.scenarios
        for s in range(args.seeds)
        for v in args.v
        for ag in args.agents
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_jsonl:
        rows = [json.loads(line) for path in args.from_jsonl for line in path.read_text().splitlines() if line]
        scenario_names = list(dict.fromkeys(r["scenario"] for r in rows))
        return write_report(rows, scenario_names, list(dict.fromkeys(r["agent"] for r in rows)), args.out, argv)
    rows = []
    started = time.perf_counter()
    # Each episode's row is written as soon as it is in, so an interrupted run keeps what finished.
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool, open(args.out / "episodes.jsonl", "w") as f:
        for i, row in enumerate(pool.map(_safe_run, eps), 1):
            rows.append(row)
            f.write(json.dumps(row) + "\n")
            f.flush()
            print(
                f"[{i}/{len(eps)}] {row['scenario']} {row['agent']} V={row['v']} seed {row['seed']} "
                f"({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    return write_report(rows, args.scenarios, args.agents, args.out, argv)


def write_report(
    rows: list[dict[str, Any]], scenario_names: list[str], agent_names: list[str], out: Path, argv: list[str] | None
) -> Path:
    """Render ``proactivity.md`` and the plots into ``out``."""
    cmd = "python -m benchmarks.proactivity " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(rows, scenario_names, agent_names, cmd.strip())
    plots(rows, scenario_names, agent_names, out)
    (out / "proactivity.md").write_text(text)
    print(text)
    return out / "proactivity.md"


if __name__ == "__main__":
    main()
