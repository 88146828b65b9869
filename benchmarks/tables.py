"""Report tables as data: a ``Table`` spec says what its rows, columns and cells are; ``render`` turns
any spec into markdown.

A spec's rows are the product of one or more ``Axis`` (agents, metrics, N variants, ...) and its
columns one more; each cell is a ``Metric`` of the episodes at the cell's coordinates (agent,
scenario, variant, reference agent), computed by the metric's aggregation (``mean_ci``,
``phase_change``, ``vs_reference``, ``Pooled``, ``mean``, ``summed_counts``). A spec with
``scenarios`` makes one section per scenario of the run that it applies to; its title and intro are
templates filled with that scenario's fields (``scenario_fields``). Nothing here names a scenario.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from benchmarks import phases
from benchmarks.runner import Run
from benchmarks.stats import fmt
from vecgym import scenarios
from vecgym.scenarios import Scenario
from vecgym.schedule import ScheduledCommand

Row = dict[str, Any]
Coord = Mapping[str, Any]
#: The episode keys a cell's coordinates select on.
SELECT_KEYS = ("scenario", "variant", "agent")


@dataclass(frozen=True)
class Context:
    """What a section is computed from: the run's finished episodes and, for a per-scenario
    section, its scenario."""

    run: Run
    rows: list[Row]
    agents: tuple[str, ...]
    scenario_names: tuple[str, ...]
    scenario: Scenario | None = None

    def fields(self) -> dict[str, str]:
        return scenario_fields(self.scenario) if self.scenario else {}


@dataclass(frozen=True)
class Cell:
    """One table cell: its context and coordinates (``metric`` always among them)."""

    ctx: Context
    coord: Coord

    @property
    def metric(self) -> Metric:
        metric: Metric = self.coord["metric"]
        return metric

    def rows(self, **override: Any) -> list[Row]:
        """The episodes at this cell's coordinates (``override`` replaces some)."""
        where = {"scenario": self.ctx.scenario.name} if self.ctx.scenario else {}
        where |= {k: v for k, v in self.coord.items() if k in SELECT_KEYS} | override
        return [r for r in self.ctx.rows if all(r.get(k) == v for k, v in where.items())]

    def values(self, key: str) -> list[float]:
        return [r.get(key, math.nan) for r in self.rows()]


# --- aggregations: a cell's text from its episodes ---------------------------------------------------


def mean_ci(cell: Cell) -> str:
    """Mean ± 95% CI over the cell's episodes (``benchmarks.stats.fmt``)."""
    m = cell.metric
    return fmt(cell.values(_one(m.key)), m.digits)


def phase_change(cell: Cell) -> str:
    """Paired % change from ``key[0]`` to ``key[1]`` within each episode; mean ± 95% CI."""
    key = cell.metric.key
    assert isinstance(key, tuple), f"phase_change takes (before, after) keys, got {key!r}"
    before, after = key
    return fmt(
        [100.0 * (r.get(after, math.nan) - r[before]) / r[before] for r in cell.rows() if r.get(before)],
        cell.metric.digits,
    )


def vs_reference(cell: Cell) -> str:
    """(agent − reference) / reference in %, per seed that both ran; mean ± 95% CI. The reference
    agent is the ``ref`` coordinate."""
    key = _one(cell.metric.key)
    mine = {r["seed"]: r[key] for r in cell.rows()}
    theirs = {r["seed"]: r[key] for r in cell.rows(agent=cell.coord["ref"])}
    seeds = sorted(mine.keys() & theirs.keys())
    changes = [(mine[s] - theirs[s]) / abs(theirs[s]) for s in seeds if theirs[s]]
    return fmt([100.0 * d for d in changes], cell.metric.digits)


@dataclass(frozen=True)
class Pooled:
    """A statistic of the per-slot values pooled over the agent's episodes, taken from the run's
    ``{agent: [values]}`` attribute ``key``, times ``scale``."""

    stat: str
    scale: float = 1e3

    def __call__(self, cell: Cell) -> str:
        pool: dict[str, list[float]] = getattr(cell.ctx.run, _one(cell.metric.key))
        d = np.asarray(pool.get(cell.coord["agent"], []), dtype=np.float64) * self.scale
        if self.stat == "count":
            return str(d.size)
        if not d.size:
            return "n/a"
        stats: dict[str, Callable[[np.ndarray], Any]] = {
            "median": np.median,
            "p99": lambda x: np.percentile(x, 99),
            "max": np.max,
        }
        return f"{stats[self.stat](d):.{cell.metric.digits}f}"


def mean(cell: Cell) -> str:
    """The plain mean over the episodes that have the key ("n/a" if none); a tuple of keys gives
    "a / b"."""
    keys = cell.metric.key if isinstance(cell.metric.key, tuple) else (cell.metric.key,)
    out = []
    for key in keys:
        vals = [r[key] for r in cell.rows() if key in r]
        out.append(f"{np.mean(vals):.{cell.metric.digits}f}" if vals else "n/a")
    return " / ".join(out)


def summed_counts(cell: Cell) -> str:
    """JSON ``{name: count}`` objects summed over the episodes, as "name: n, ..." ("-" if none)."""
    total: dict[str, int] = {}
    for r in cell.rows():
        for k, v in json.loads(r.get(_one(cell.metric.key)) or "{}").items():
            total[k] = total.get(k, 0) + v
    return ", ".join(f"{k}: {v}" for k, v in sorted(total.items())) or "-"


def _one(key: str | tuple[str, ...]) -> str:
    assert isinstance(key, str), f"this aggregation takes one key, got {key!r}"
    return key


@dataclass(frozen=True)
class Metric:
    """What a cell shows: ``agg`` of episode key ``key`` (some aggregations take a tuple of keys)."""

    key: str | tuple[str, ...]
    label: str
    digits: int = 1
    agg: Callable[[Cell], str] = mean_ci
    numeric: bool = True
    """Right-aligned column."""


# --- axes: the labelled coordinates along rows or columns ---------------------------------------------

Entry = tuple[tuple[str, ...], Coord]


@dataclass(frozen=True)
class Axis:
    """Row or column coordinates: ``values(ctx, metrics)`` gives each entry's labels and coordinates;
    ``names`` head the label columns when the axis runs along the rows."""

    names: tuple[str, ...]
    values: Callable[[Context, tuple[Metric, ...]], list[Entry]]


def variant_label(scenario: str, variant: str) -> str:
    return scenario if variant == "default" else f"{scenario} {variant}"


def _variant_key(variant: str) -> tuple[float, str]:
    """N variants ("N=30") in numeric order, others after them by name."""
    try:
        return float(variant.partition("=")[2]), ""
    except ValueError:
        return math.inf, variant


def _variants(ctx: Context, _: tuple[Metric, ...]) -> list[Entry]:
    assert ctx.scenario is not None, "the variants axis is per scenario"
    found = {r["variant"] for r in ctx.rows if r["scenario"] == ctx.scenario.name}
    return [((v,), {"variant": v}) for v in sorted(found, key=_variant_key)]


def _scenario_variants(ctx: Context, _: tuple[Metric, ...]) -> list[Entry]:
    order = {name: i for i, name in enumerate(ctx.scenario_names)}
    found = sorted(
        {(r["scenario"], r["variant"]) for r in ctx.rows},
        key=lambda sv: (order.get(sv[0], len(order)), sv[0], _variant_key(sv[1])),
    )
    return [((variant_label(s, v),), {"scenario": s, "variant": v}) for s, v in found]


def _episode_groups(ctx: Context, _: tuple[Metric, ...]) -> list[Entry]:
    found = sorted({(r["agent"], r["scenario"], r["variant"]) for r in ctx.rows})
    return [((a, variant_label(s, v)), {"agent": a, "scenario": s, "variant": v}) for a, s, v in found]


def references(refs: tuple[str, ...]) -> Axis:
    """The agents of ``refs`` that ran, as the ``ref`` coordinate."""
    return Axis(("vs",), lambda ctx, _: [((r,), {"ref": r}) for r in refs if r in ctx.agents])


def agents_except(refs: tuple[str, ...]) -> Axis:
    """The agents that ran, but not those of ``refs``."""
    return Axis(("Agent",), lambda ctx, _: [((a,), {"agent": a}) for a in ctx.agents if a not in refs])


AGENTS = Axis(("Agent",), lambda ctx, _: [((a,), {"agent": a}) for a in ctx.agents])
METRICS = Axis(("Metric",), lambda _, metrics: [((m.label,), {"metric": m}) for m in metrics])
VARIANTS = Axis(("Variant",), _variants)
"""The variants (N values) the section's scenario ran."""
SCENARIO_VARIANTS = Axis(("Scenario",), _scenario_variants)
"""Every (scenario, variant) of the run, in the run's scenario order."""
EPISODE_GROUPS = Axis(("Agent", "Scenario"), _episode_groups)
"""Every (agent, scenario, variant) that has episodes, sorted."""


# --- the spec and its renderer ----------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A report table. ``title`` and ``intro`` are ``str.format`` templates of ``scenario_fields``
    (for per-scenario tables)."""

    title: str
    rows: tuple[Axis, ...]
    cols: Axis
    metrics: tuple[Metric, ...] | Callable[[Context], tuple[Metric, ...]] = ()
    """The metrics (or a function of the context giving them); the first is every cell's unless an
    axis is ``METRICS``."""
    scenarios: Callable[[Scenario], bool] | None = None
    """None: one section over the whole run; else one section per scenario of the run it accepts."""
    where: Callable[[Context, Coord], bool] | None = None
    """Keeps a row (given its coordinates)."""
    intro: tuple[str, ...] = ()
    footer: Callable[[Context], list[str]] | None = None
    """Lines after the table (then a blank line, even when it gives none)."""
    require: str = ""
    """Only the episodes whose row has this key."""
    optional: bool = False
    """Left out when it has no rows."""


def render(table: Table, ctx: Context) -> list[str]:
    """The table's markdown lines: one section, or one per scenario it applies to."""
    if table.scenarios is None:
        return _section(table, ctx)
    chosen = [sc for sc in map(scenarios.get, ctx.scenario_names) if table.scenarios(sc)]
    return [line for sc in chosen for line in _section(table, replace(ctx, scenario=sc))]


def _section(table: Table, ctx: Context) -> list[str]:
    if table.require:
        ctx = replace(ctx, rows=[r for r in ctx.rows if table.require in r])
    metrics = table.metrics(ctx) if callable(table.metrics) else table.metrics
    rows = _product(table.rows, ctx, metrics)
    if table.optional and not rows:
        return []
    rows = [(labels, coord) for labels, coord in rows if table.where is None or table.where(ctx, coord)]
    cols = table.cols.values(ctx, metrics)
    base = {"metric": metrics[0]} if metrics else {}
    fields = ctx.fields()
    names = [name for axis in table.rows for name in axis.names]
    out = [f"## {table.title.format(**fields)}", ""]
    if table.intro:
        out += [line.format(**fields) for line in table.intro] + [""]
    out.append(_line([*names, *(" ".join(labels) for labels, _ in cols)]))
    out.append("|" + "---|" * len(names) + "".join(_align({**base, **coord}) for _, coord in cols))
    for labels, coord in rows:
        cells = [Cell(ctx, {**base, **coord, **col}) for _, col in cols]
        out.append(_line([*labels, *(c.metric.agg(c) for c in cells)]))
    out.append("")
    if table.footer is not None:
        out += [*table.footer(ctx), ""]
    return out


def _product(axes: tuple[Axis, ...], ctx: Context, metrics: tuple[Metric, ...]) -> list[Entry]:
    entries: list[Entry] = [((), {})]
    for axis in axes:
        entries = [(la + lb, {**ca, **cb}) for la, ca in entries for lb, cb in axis.values(ctx, metrics)]
    return entries


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _align(coord: Coord) -> str:
    metric = coord.get("metric")
    return "---:|" if metric is None or metric.numeric else "---|"


# --- scenario fields for titles and intros ------------------------------------------------------------


def mid_commands(sc: Scenario) -> list[ScheduledCommand]:
    """The scenario's commands that split its episode into phases (``benchmarks.phases``)."""
    mid = phases.mid_slots([c.slot for c in sc.commands], sc.n_slots)
    return [c for c in sc.commands if c.slot in mid]


def scenario_fields(sc: Scenario) -> dict[str, str]:
    """``name``; ``heading`` (the paper's table, else "Scenario `name`"); ``at`` ("the command at
    t = 51", 1-based slots) and ``commands`` ('Command: "text"') of the mid-episode commands."""
    mid = mid_commands(sc)
    times = " and ".join(f"t = {c.slot + 1}" for c in mid)
    quoted = ", ".join(f'"{c.text}"' + (f" (t = {c.slot + 1})" if len(mid) > 1 else "") for c in mid)
    return {
        "name": sc.name,
        "heading": sc.paper_table or f"Scenario `{sc.name}`",
        "at": f"the command{'s' if len(mid) > 1 else ''} at {times}",
        "commands": f"Command{'s' if len(mid) > 1 else ''}: {quoted}",
    }
