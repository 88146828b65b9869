"""Run a grid of scenarios × env axes × agents × agent axes × seeds and write one tidy table.

    python -m benchmarks.sweep --grid quick                  # under a minute on 2 cores
    python -m benchmarks.sweep --grid frontier --out results/frontier --workers 8
    python -m benchmarks.sweep --grid my_grid.toml --dry-run  # list the grid points, run nothing
    python -m benchmarks.sweep --grid frontier --resume results/frontier

The grid is data (a TOML file, ``benchmarks.grid``; the shipped ones are in
``benchmarks/grids/``); the episodes run on the compare runner (``benchmarks.runner``), with the
same backends (``--workers``, ``--ray [ADDRESS]``) and ``--resume DIR``. Writes, under ``--out``:

* ``episodes.jsonl``: the runner's rows, one per episode;
* ``sweep.csv`` (or ``sweep.parquet``): one row per episode, the axis values as their own columns
  (``n_vehicles``, ``v``, ``horizon``, ...; empty where an axis does not apply to the agent), then
  the episode metrics;
* ``frontier_<scenario>.png``: energy per slot against violation rate, one line per agent (and per
  combination of the other axes) through its V points, mean ± 95% CI over seeds;
* ``sweep.md``: the grid, the command and the mean ± 95% CI of the main metrics per grid point.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from benchmarks.backends import Backend
from benchmarks.cli import opt, parse
from benchmarks.grid import SHORT, Grid, GridError, fmt_value, load, shipped_grids
from benchmarks.runner import Job, job_key, run_jobs
from benchmarks.stats import fmt, mean_ci
from benchmarks.store import row_key

#: The metrics of the summary table: (row key, column title).
SUMMARY = (
    ("energy_per_slot_j", "energy (J/slot)"),
    ("violation_rate_pct", "violations (%)"),
    ("peak_violation_rate_pct", "peak violations (%)"),
    ("latency_ms_mean", "latency (ms)"),
    ("goal_cost", "goal cost"),
)
KEY = ("scenario", "variant", "agent", "seed")


@dataclass
class Args:
    grid: str = opt("quick", f"a shipped grid ({', '.join(shipped_grids())}) or the path of a TOML grid file")
    out: Path | None = opt(None, "output folder (default: results/sweep-<grid>-<time>)")
    seeds: int | None = opt(None, "number of seeds (0, 1, ...), replacing the grid's")
    slots: int | None = opt(None, "slots per episode, replacing the grid's")
    format: str = opt("csv", "the tidy table's format (parquet needs pyarrow)", choices=("csv", "parquet"))
    workers: int = opt(os.cpu_count() or 1, "episodes run at once, in worker processes (1: here, in turn)")
    ray: str | None = opt(
        None,
        "run the episodes as Ray tasks: a local Ray instance, or the cluster at ADDRESS",
        const="",
        metavar="ADDRESS",
    )
    resume: Path | None = opt(
        None, "continue the sweep in this folder: skip the episodes already in its episodes.jsonl", metavar="DIR"
    )
    dry_run: bool = opt(False, "print the grid points and the number of episodes, run nothing")

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("--workers must be >= 1")
        if self.seeds is not None and self.seeds < 1:
            raise ValueError("--seeds must be >= 1")
        if self.slots is not None and self.slots < 1:
            raise ValueError("--slots must be >= 1")
        if self.resume is not None and self.out is not None and self.out != self.resume:
            raise ValueError("--resume DIR writes to DIR: leave out --out, or give the same folder")


def execute(jobs: list[Job], out_dir: Path, args: Args) -> tuple[list[dict[str, Any]], bool]:
    """Run the jobs on the compare runner's backends; (rows in job order, whether the run was interrupted)."""
    backend = Backend(workers=args.workers, ray_address=args.ray)
    try:
        run = run_jobs(jobs, backend=backend, out_dir=out_dir, resume=args.resume is not None)
    except (FileNotFoundError, ValueError) as exc:  # --resume on a folder without, or with other, episodes
        if args.resume is None:
            raise
        raise SystemExit(f"error: {exc}") from None
    return run.rows, run.interrupted


def cell(value: Any) -> Any:
    """A table cell: lists and tuples (list-valued config keys) as JSON text, numbers as Python numbers."""
    if isinstance(value, list | tuple | dict):
        return json.dumps(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def tidy(grid: Grid, jobs: list[Job], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per episode: scenario, variant, agent, seed, the axis columns (None where an axis
    does not apply to the agent), then the runner row's scalar fields (lists such as the per-slot
    decision times are summarised as ``decision_ms_median``; ``episodes.jsonl`` keeps them)."""
    by_key = {job_key(j): j for j in jobs}
    columns = grid.columns()
    out = []
    for row in rows:
        job = by_key[row_key(row)]
        axes = {**job.overrides, **job.agent_kw}
        rec: dict[str, Any] = {k: row[k] for k in KEY}
        rec.update({c: cell(axes.get(c)) for c in columns})
        for k, v in row.items():
            if k in rec:
                continue
            if k == "decision_s" and isinstance(v, list):
                rec["decision_ms_median"] = 1e3 * float(np.median(v)) if v else None
            elif not isinstance(v, list | dict):
                rec[k] = cell(v)
        out.append(rec)
    return out


def write_table(table: list[dict[str, Any]], out_dir: Path, fmt_name: str) -> Path:
    """``sweep.csv``, or ``sweep.parquet`` (pyarrow)."""
    if fmt_name == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = out_dir / "sweep.parquet"
        columns = list(dict.fromkeys(k for r in table for k in r))
        pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in table]), path)
        return path
    path = out_dir / "sweep.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in table for k in r)), restval="")
        writer.writeheader()
        writer.writerows(table)
    return path


def _without_v(variant: str) -> str:
    return " ".join(t for t in variant.split() if not t.startswith(f"{SHORT['v']}=") and t != "default")


def frontier_plots(grid: Grid, table: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Per scenario: energy per slot (x) against violation rate (y), one line per agent and
    combination of the non-V axes through its V points; mean ± 95% CI over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    done = [r for r in table if not r.get("error")]
    for scenario in grid.scenarios:
        rows = [r for r in done if r["scenario"] == scenario]
        if not rows:
            continue
        lines: dict[tuple[str, str], dict[Any, list[dict[str, Any]]]] = {}
        for r in rows:
            lines.setdefault((r["agent"], _without_v(r["variant"])), {}).setdefault(r.get("v"), []).append(r)
        fig, ax = plt.subplots(figsize=(7, 5))
        means: list[tuple[float, float]] = []
        for (agent, rest), by_v in lines.items():
            vs = sorted(by_v, key=lambda v: (v is None, v if isinstance(v, int | float) else 0.0))
            xs = [mean_ci([r["energy_per_slot_j"] for r in by_v[v]]) for v in vs]
            ys = [mean_ci([r["violation_rate_pct"] for r in by_v[v]]) for v in vs]
            bars = ax.errorbar(
                [x[0] for x in xs],
                [y[0] for y in ys],
                xerr=[0.0 if math.isnan(x[1]) else x[1] for x in xs],
                yerr=[0.0 if math.isnan(y[1]) else y[1] for y in ys],
                marker="o",
                capsize=3,
                label=f"{agent} {rest}".strip(),
            )
            for lines_ in bars[2]:
                lines_.set_alpha(0.35)
            means += [(x[0], y[0]) for x, y in zip(xs, ys, strict=True)]
            for v, x, y in zip(vs, xs, ys, strict=True):
                if v is not None:
                    ax.annotate(
                        f"V={fmt_value(v)}", (x[0], y[0]), textcoords="offset points", xytext=(4, 4), fontsize=7
                    )
        ax.set(
            xlabel="energy per slot (J)",
            ylabel="QoS violation rate (%)",
            title=f"{scenario}: energy-violation frontier (mean ± 95% CI over seeds)",
        )
        _limits(ax, means)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / f"frontier_{scenario}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    return made


def _limits(ax: Any, points: list[tuple[float, float]]) -> None:
    """Axis limits around the means (few seeds give confidence intervals that would dwarf the
    frontier; the bars are drawn, clipped at the frame), never below zero."""
    for i, setter in enumerate((ax.set_xlim, ax.set_ylim)):
        values = [p[i] for p in points if math.isfinite(p[i])]
        if values:
            lo, hi = min(values), max(values)
            pad = 0.15 * (hi - lo) or 0.15 * abs(hi) or 1.0
            setter(max(0.0, lo - pad), hi + pad)


def summary(
    grid: Grid, jobs: list[Job], table: list[dict[str, Any]], cmd: str, wall_s: float, interrupted: bool
) -> str:
    """``sweep.md``: the grid, the command and a table of means per grid point and scenario."""
    failed = [r for r in table if r.get("error")]
    seeds = sorted({j.seed for j in jobs})
    out = [
        f"# Sweep `{grid.name}`",
        "",
        *([grid.description, ""] if grid.description else []),
        f"Command: `{cmd}`  ",
        f"{len(table)} of {len(jobs)} episodes, seeds {seeds}, {wall_s:.0f} s wall. "
        "Cells: mean ± 95% CI over seeds (Student t).",
        "",
    ]
    if interrupted:
        out += ["**Interrupted:** the table has the episodes that finished; rerun with `--resume DIR` to finish.", ""]
    if failed:
        out += ["**Failed episodes:**", ""]
        out += [f"- {'/'.join(str(r[k]) for k in KEY)}: {str(r['error']).strip().splitlines()[-1]}" for r in failed]
        out += [""]
    out += ["## Grid", "", "```toml", grid.source.strip(), "```", ""]
    ok = [r for r in table if not r.get("error")]
    for scenario in grid.scenarios:
        rows = [r for r in ok if r["scenario"] == scenario]
        if not rows:
            continue
        out += [f"## {scenario}", "", "| variant | agent | n | " + " | ".join(t for _, t in SUMMARY) + " |"]
        out += ["|---|---|---:|" + "---:|" * len(SUMMARY)]
        points = dict.fromkeys((j.variant, j.agent) for j in jobs if j.scenario == scenario)
        for variant, agent in points:
            sel = [r for r in rows if r["variant"] == variant and r["agent"] == agent]
            if sel:
                cells = [fmt([float(r[k]) for r in sel if r.get(k) is not None], 2) for k, _ in SUMMARY]
                out.append(f"| {variant} | {agent} | {len(sel)} | " + " | ".join(cells) + " |")
        out += ["", f"![frontier {scenario}](frontier_{scenario}.png)", ""]
    return "\n".join(out)


def dry_run(grid: Grid, jobs: list[Job]) -> str:
    points = dict.fromkeys((j.scenario, j.variant, j.agent, json.dumps(j.agent_kw)) for j in jobs)
    n_seeds = len({j.seed for j in jobs})
    lines = [f"grid {grid.name}: {len(points)} points × {n_seeds} seed(s) = {len(jobs)} episodes"]
    lines += [f"  {s:<18} {a:<10} {v:<30} agent kw {kw}" for s, v, a, kw in points]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Path | None:
    args = parse(Args, argv, description=__doc__)
    try:
        grid = load(args.grid)
    except GridError as exc:
        raise SystemExit(f"error: {exc}") from None
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise SystemExit(
                "error: --format parquet needs pyarrow: pip install pyarrow (or use --format csv)"
            ) from None
    jobs = grid.jobs(list(range(args.seeds)) if args.seeds else None, args.slots)
    if args.dry_run:
        print(dry_run(grid, jobs))
        return None
    out_dir = args.resume or args.out or Path("results") / f"sweep-{grid.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "grid.toml").write_text(grid.source)
    cmd = "python -m benchmarks.sweep " + " ".join(argv if argv is not None else sys.argv[1:])
    started = time.perf_counter()
    rows, interrupted = execute(jobs, out_dir, args)
    wall_s = time.perf_counter() - started
    table = tidy(grid, jobs, rows)
    path = write_table(table, out_dir, args.format)
    pngs = frontier_plots(grid, table, out_dir)
    (out_dir / "sweep.md").write_text(summary(grid, jobs, table, cmd, wall_s, interrupted))
    print(
        f"wrote {path}, {out_dir / 'sweep.md'} and {len(pngs)} frontier plot(s) ({len(table)} episodes, {wall_s:.0f} s)"
    )
    return out_dir


if __name__ == "__main__":
    main()
