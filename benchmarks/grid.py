"""Sweep grids as data: a TOML file read into a ``Grid`` and expanded into ``benchmarks.runner`` jobs.

A grid names scenarios, agents, seeds and slots, and the axes to sweep::

    description = "the V frontier of two agents at two fleet sizes"
    scenarios = ["dynamic"]
    agents = ["dpp-ewma", "sp-dpp"]
    seeds = 2                   # 2 → seeds 0, 1; or a list: [0, 3, 7]
    slots = 60                  # slots per episode; leave out for each scenario's own length

    [env]                       # env axes: VECConfig keys (vecgym.config), passed to scenarios.make
    n_vehicles = [10, 20]

    [agent]                     # agent axes for every agent: keywords of agents.make_agent(name, env, **kw)
    v = [0.3, 1, 3]

    [agent.sp-dpp]              # axes for sp-dpp only (they replace [agent] keys of the same name)
    horizon = [1, 5]
    source = ["twin", "ewma"]   # sp-dpp's forecaster (agents.horizon.inputs.SOURCES)

A list is an axis: the jobs are the cartesian product of every axis (env axes, then the agent's
own), times the seeds; a scalar is a fixed value (not an axis; write a list of one list for a
list-valued key such as ``class_probs = [[0.7, 0.1, 0.1, 0.1]]``). Each job's variant label is
its axis values (``"N=20 V=1 horizon=5"``). ``load`` checks the whole grid before anything runs:
unknown top-level keys, scenarios or agents, empty axes, and every env point and agent point are
built once, so a key an agent does not take fails here, naming the agent, the key and the fix.
"""

from __future__ import annotations

import inspect
import itertools
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import agents
from benchmarks.runner import Job
from vecgym import scenarios

#: The folder of the shipped grids (``--grid NAME`` reads ``GRID_DIR / "NAME.toml"``).
GRID_DIR = Path(__file__).parent / "grids"
TOP_LEVEL = ("description", "scenarios", "agents", "seeds", "slots", "env", "agent")
#: Row columns an axis may not be called (they identify the episode).
RESERVED = ("scenario", "variant", "agent", "seed", "error")
#: Short names of axes in variant labels and legends.
SHORT = {"n_vehicles": "N", "v": "V"}

Axes = dict[str, list[Any]]


class GridError(ValueError):
    """A grid that cannot run: the message names the file, the key and what to do."""


@dataclass
class Grid:
    """A sweep: scenarios × env axes × agents × the agent's axes × seeds.

    ``env``, ``agent`` and ``per_agent[name]`` map each key to its values; ``axes`` lists the keys
    given as lists (the ones that vary and appear in the variant labels), the others are fixed."""

    name: str
    scenarios: list[str]
    agents: list[str]
    seeds: list[int]
    slots: int | None = None
    env: Axes = field(default_factory=dict)
    agent: Axes = field(default_factory=dict)
    per_agent: dict[str, Axes] = field(default_factory=dict)
    axes: set[str] = field(default_factory=set)
    description: str = ""
    source: str = ""
    """The TOML text the grid was read from (written into the sweep's summary)."""

    def agent_axes(self, agent: str) -> Axes:
        """The agent keywords swept (or fixed) for ``agent``: ``[agent]`` then ``[agent.<name>]``."""
        return {**self.agent, **self.per_agent.get(agent, {})}

    def columns(self) -> list[str]:
        """The axis columns of the sweep's table: env keys, then agent keys, in grid order."""
        keys = list(self.env) + list(self.agent)
        for axes in self.per_agent.values():
            keys += list(axes)
        return list(dict.fromkeys(keys))

    def label(self, env: dict[str, Any], kw: dict[str, Any]) -> str:
        """The variant label of one grid point: its axis values, e.g. ``"N=20 V=1 horizon=5"``."""
        parts = [f"{SHORT.get(k, k)}={fmt_value(v)}" for k, v in {**env, **kw}.items() if k in self.axes]
        return " ".join(parts) or "default"

    def points(self) -> Iterator[tuple[str, dict[str, Any], str, dict[str, Any]]]:
        """(scenario, env overrides, agent, agent keywords) of every grid point, in run order."""
        for scenario in self.scenarios:
            for env in product(self.env):
                for agent in self.agents:
                    for kw in product(self.agent_axes(agent)):
                        yield scenario, env, agent, kw

    def jobs(self, seeds: list[int] | None = None, slots: int | None = None) -> list[Job]:
        """The runner jobs of the grid (``seeds`` / ``slots`` replace the grid's), one per episode."""
        out = []
        for scenario, env, agent, kw in self.points():
            n_slots = slots or self.slots or scenarios.get(scenario).n_slots
            for seed in seeds if seeds is not None else self.seeds:
                out.append(Job(scenario, self.label(env, kw), env, agent, seed, n_slots, kw))
        return out


def fmt_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value if isinstance(value, str) else json.dumps(value)
    return f"{value:g}"


def product(axes: Axes) -> list[dict[str, Any]]:
    """Every combination of the axes' values (one empty point when there are none)."""
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(axes[k] for k in keys))]


def find(name_or_path: str) -> Path:
    """A shipped grid by name (``quick``), or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise GridError(f"grid file {path} does not exist")
        return path
    shipped = GRID_DIR / f"{name_or_path}.toml"
    if not shipped.is_file():
        raise GridError(f"no grid {name_or_path!r}: not a file, and not a shipped grid ({', '.join(shipped_grids())})")
    return shipped


def shipped_grids() -> list[str]:
    return sorted(p.stem for p in GRID_DIR.glob("*.toml"))


def load(name_or_path: str, check: bool = True) -> Grid:
    """Read a grid (a shipped name or a path) and, with ``check``, build each env and agent point
    once so that a grid that cannot run fails here, before any episode."""
    path = find(name_or_path)
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GridError(f"{path}: not valid TOML: {exc}") from None
    grid = parse(data, name=path.stem, where=str(path))
    grid.source = text
    if check:
        validate(grid, where=str(path))
    return grid


def _names(data: dict[str, Any], key: str, known: list[str], where: str) -> list[str]:
    values = data.get(key)
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise GridError(f"{where}: '{key}' must be a non-empty list of names, e.g. {key} = [{known[0]!r}]")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise GridError(f"{where}: unknown {key} {unknown}; known: {', '.join(known)}")
    if len(set(values)) < len(values):
        raise GridError(f"{where}: '{key}' lists a name twice: {values}")
    return list(values)


def _axes(table: Any, title: str, where: str, axes: set[str]) -> Axes:
    """A table of axes (lists) and fixed values (scalars); numbers of an axis with a float become floats."""
    if not isinstance(table, dict):
        raise GridError(f"{where}: [{title}] must be a table of key = [values]")
    out: Axes = {}
    for key, value in table.items():
        if key in RESERVED:
            raise GridError(f"{where}: [{title}] {key!r} is reserved (a column of every row); rename the axis")
        if isinstance(value, dict):
            raise GridError(f"{where}: [{title}.{key}] is a table; only [agent.<agent name>] tables are allowed")
        if not isinstance(value, list):
            out[key] = [value]
            continue
        if not value:
            raise GridError(f"{where}: [{title}] {key} = [] is an empty axis; give it at least one value")
        if len({json.dumps(v) for v in value}) < len(value):
            raise GridError(f"{where}: [{title}] {key} = {value} repeats a value")
        if any(isinstance(v, float) for v in value) and all(_is_number(v) for v in value):
            value = [float(v) for v in value]
        out[key] = value
        axes.add(key)
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def parse(data: dict[str, Any], name: str = "grid", where: str = "grid") -> Grid:
    """A ``Grid`` from a TOML document's data; structural errors raise ``GridError``."""
    unknown = sorted(set(data) - set(TOP_LEVEL))
    if unknown:
        raise GridError(f"{where}: unknown key(s) {unknown}; a grid has: {', '.join(TOP_LEVEL)}")
    names = _names(data, "scenarios", scenarios.names(), where)
    agent_names = _names(data, "agents", list(agents.available()), where)
    seeds_value = data.get("seeds", 1)
    if _is_number(seeds_value) and isinstance(seeds_value, int) and seeds_value >= 1:
        seeds = list(range(seeds_value))
    elif (
        isinstance(seeds_value, list)
        and seeds_value
        and all(_is_number(s) and isinstance(s, int) for s in seeds_value)
        and len(set(seeds_value)) == len(seeds_value)
    ):
        seeds = list(seeds_value)
    else:
        raise GridError(
            f"{where}: seeds = {seeds_value!r}: give a count >= 1 (seeds 0..n-1) or a list of distinct ints"
        )
    slots = data.get("slots")
    if slots is not None and not (isinstance(slots, int) and not isinstance(slots, bool) and slots >= 1):
        raise GridError(f"{where}: slots = {slots!r}: give an integer >= 1 (or leave it out: each scenario's length)")
    axes: set[str] = set()
    env = _axes(data.get("env", {}), "env", where, axes)
    agent_table = data.get("agent", {})
    if not isinstance(agent_table, dict):
        raise GridError(f"{where}: [agent] must be a table of key = [values]")
    agent_table = dict(agent_table)
    per_agent: dict[str, Axes] = {}
    for key in [k for k, v in agent_table.items() if isinstance(v, dict)]:
        if key not in agent_names:
            raise GridError(
                f"{where}: [agent.{key}]: {key!r} is not in agents = {agent_names}; add it or drop the table"
            )
        per_agent[key] = _axes(agent_table.pop(key), f"agent.{key}", where, axes)
    shared = _axes(agent_table, "agent", where, axes)
    clash = sorted(set(env) & (set(shared) | {k for t in per_agent.values() for k in t}))
    if clash:
        raise GridError(f"{where}: {clash} is both an env key and an agent key; a column can only be one")
    description = data.get("description", "")
    return Grid(name, names, agent_names, seeds, slots, env, shared, per_agent, axes, str(description))


def init_params(cls: type) -> list[str]:
    """The keywords a class's constructor takes, following ``**kw`` up the MRO (env excluded)."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = list(inspect.signature(vars(klass)["__init__"]).parameters.values())[1:]
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        names += [p.name for p in params if p.kind in kinds and p.name != "env" and p.name not in names]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return names


def validate(grid: Grid, where: str = "grid") -> None:
    """Build every env point of every scenario, and every agent point on the first, once.

    Raises ``GridError`` naming the scenario or agent, the key and the fix."""
    first_env = None
    for scenario in grid.scenarios:
        for point in product(grid.env):
            try:
                env = scenarios.make(scenario, max_episode_steps=grid.slots or 1, **point)
            except Exception as exc:
                raise GridError(f"{where}: scenario {scenario!r} with [env] {point}: {exc}") from None
            if first_env is None:
                first_env = env
            else:
                env.close()
    assert first_env is not None
    try:
        for agent in grid.agents:
            _check_agent(grid, agent, first_env, where)
    finally:
        first_env.close()


def _check_agent(grid: Grid, agent: str, env: Any, where: str) -> None:
    for kw in product(grid.agent_axes(agent)):
        try:
            agents.make_agent(agent, env, **kw).close()
        except TypeError as exc:
            try:
                takes = init_params(type(agents.make_agent(agent, env)))
            except Exception:
                takes = []
            bad = [k for k in kw if k not in takes] if takes else []
            if not bad:
                raise GridError(f"{where}: agent {agent!r} with {kw}: {exc}") from None
            raise GridError(_unknown_keyword(grid, agent, bad, takes, where)) from None
        except Exception as exc:
            raise GridError(f"{where}: agent {agent!r} cannot be built with {kw}: {exc}") from None


def _unknown_keyword(grid: Grid, agent: str, bad: list[str], takes: list[str], where: str) -> str:
    key = bad[0]
    text = f"{where}: agent {agent!r} does not take {key!r} (it takes: {', '.join(takes) or 'no keywords'}). "
    if key in grid.per_agent.get(agent, {}):
        return text + f"Remove {key!r} from [agent.{agent}]."
    others = [a for a in grid.agents if a != agent]
    return text + (
        f"[agent] axes apply to every agent: move {key!r} to [agent.<name>] tables of the agents that take it"
        + (f" (e.g. [agent.{others[0]}])" if others else "")
        + f", or drop {agent!r} from agents."
    )
