"""In-context exemplars: (state, goal) -> action examples from the solver family.

``python -m agents.llm.exemplars --out FILE`` runs ``sp-dpp`` and ``oracle`` over the scenarios and
keeps every ``--every``-th slot as an exemplar: the state table the LLM would see (the twin's
forecasts), the goal the agent held, and the action it took, rendered exactly as in the prompt.
The default pool (``agents/llm/data/exemplars.json``) ships in the package and was built by

    python -m agents.llm.exemplars --out agents/llm/data/exemplars.json

Per slot, ``ExemplarPool.nearest(state, goal, k)`` picks the k exemplars with the nearest goal
(log energy/latency trade-off, log deadline scale, fairness, kind of priority) and, among equally
near goals, the nearest state (vehicles, mean rate, new work, backlogs; standardised over the
pool): an energy-saving slot is shown energy-saving examples first, in the most similar states.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.lyapunov import OracleAgent, SPDPPAgent
from agents.rollout import StepRecord, rollout
from vecgym import scenarios

from .prompt import Exemplar, action_text, goal_features, goal_text, state_table

N_GOAL_FEATURES = 5  # len(prompt.goal_features(...))
FORMAT_VERSION = 1
DEFAULT_POOL = "data/exemplars.json"
# Small roads keep each exemplar short (about 10 rows); the goals cover the paper's commands.
DEFAULT_RUNS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("scalability", {"n_vehicles": 8.0}),
    ("dynamic", {"n_vehicles": 8.0}),
    ("goal_switch", {"n_vehicles": 8.0}),
    ("priority", {"n_vehicles": 8.0}),
    ("emergency", {"n_vehicles": 8.0}),
    ("fairness", {"n_vehicles": 8.0}),
)


class ExemplarPool:
    """A list of ``Exemplar`` with nearest-neighbour selection."""

    def __init__(self, exemplars: Sequence[Exemplar]):
        if not exemplars:
            raise ValueError("an exemplar pool needs at least one exemplar")
        self.exemplars = list(exemplars)
        feats = np.stack([e.features for e in self.exemplars])
        # State features are standardised over the pool; goal features keep their own scale.
        n_state = feats.shape[1] - N_GOAL_FEATURES
        std = feats[:, :n_state].std(0)
        self._mean = np.concatenate([feats[:, :n_state].mean(0), np.zeros(N_GOAL_FEATURES)])
        self._std = np.concatenate([np.where(std > 1e-9, std, 1.0), np.ones(N_GOAL_FEATURES)])
        self._z = (feats - self._mean) / self._std

    def __len__(self) -> int:
        return len(self.exemplars)

    def nearest(self, features: np.ndarray, k: int) -> list[Exemplar]:
        """The k exemplars nearest to ``features`` (same layout as ``Exemplar.features``)."""
        if k <= 0:
            return []
        z = (np.asarray(features, dtype=np.float64) - self._mean) / self._std
        sq = np.square(self._z - z)
        n_state = sq.shape[1] - N_GOAL_FEATURES
        d_goal = np.round(sq[:, n_state:].sum(1), 6)
        d_state = sq[:, :n_state].sum(1)
        order = np.lexsort((d_state, d_goal))[:k]  # the nearest goal first, then the nearest state
        return [self.exemplars[i] for i in order]

    # ------------------------------------------------------------------------------------------
    def save(self, path: str | Path, meta: dict[str, Any] | None = None) -> None:
        data = {
            "format": FORMAT_VERSION,
            "meta": meta or {},
            "exemplars": [
                {
                    "goal": e.goal,
                    "state": e.state,
                    "action": e.action,
                    "source": e.source,
                    "features": e.features.tolist(),
                }
                for e in self.exemplars
            ],
        }
        Path(path).write_text(json.dumps(data, indent=0) + "\n")

    @classmethod
    def load(cls, path: str | Path | None = None) -> ExemplarPool:
        """Load a pool file; ``None`` loads the default pool shipped in the package."""
        if path is None:
            text = (importlib.resources.files("agents.llm") / DEFAULT_POOL).read_text()
            where = f"agents.llm/{DEFAULT_POOL}"
        else:
            try:
                text = Path(path).read_text()
            except OSError as exc:
                raise ValueError(f"cannot read exemplar pool {path}: {exc}") from None
            where = str(path)
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT_VERSION}")
            exemplars = [
                Exemplar(
                    goal=str(e["goal"]),
                    state=str(e["state"]),
                    action=str(e["action"]),
                    features=np.asarray(e["features"], dtype=np.float64),
                    source=str(e["source"]),
                )
                for e in data["exemplars"]
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{where} is not an exemplar pool ({exc}); rebuild it: python -m agents.llm.exemplars"
            ) from None
        return cls(exemplars)


def features(table_features: np.ndarray, goal_feats: np.ndarray) -> np.ndarray:
    return np.concatenate([table_features, goal_feats])


def _exemplars(
    env: Any, agent: SPDPPAgent, seed: int, slots: int, every: int, warmup: int, source: str
) -> list[Exemplar]:
    """One episode of ``agent``; every ``every``-th slot after ``warmup`` as an exemplar."""
    out: list[Exemplar] = []
    cpb = agent.cpb

    def keep(step: StepRecord) -> None:  # act() updated the agent's twin and goal; env.step does not
        obs, action, t = step.obs, step.action, step.slot
        if t >= warmup and t % every == 0 and obs["active"].any():
            table = state_table(obs, agent.twin.forecast(), cpb)
            rows = table.slots
            out.append(
                Exemplar(
                    goal=goal_text(agent.goal),
                    state=table.render(),
                    action=action_text(action[0][rows], action[1][rows]),
                    features=features(table.features, goal_features(agent.goal)),
                    source=f"{source}/slot{t}",
                )
            )

    rollout(env, agent, seed, on_step=keep, max_steps=slots)
    return out


def collect(
    runs: Sequence[tuple[str, dict[str, Any]]] = DEFAULT_RUNS,
    agent_names: Sequence[str] = ("sp-dpp", "oracle"),
    seeds: Sequence[int] = (0,),
    slots: int = 200,
    every: int = 10,
    warmup: int = 20,
) -> ExemplarPool:
    """Run the solvers and keep every ``every``-th slot after ``warmup`` as an exemplar."""
    out: list[Exemplar] = []
    for scenario, overrides in runs:
        for name in agent_names:
            for seed in seeds:
                env = scenarios.make(scenario, max_episode_steps=slots, **overrides)
                agent: SPDPPAgent = OracleAgent(env) if name == "oracle" else SPDPPAgent(env)
                out += _exemplars(env, agent, seed, slots, every, warmup, f"{name}/{scenario}/seed{seed}")
                env.close()
    return ExemplarPool(out)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Build an in-context exemplar pool from sp-dpp and oracle runs.")
    p.add_argument("--out", required=True, help="output JSON file")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..n-1 per scenario and agent (default 1)")
    p.add_argument("--slots", type=int, default=200, help="slots per episode (default 200)")
    p.add_argument("--every", type=int, default=10, help="keep every n-th slot (default 10)")
    argv = list(argv) if argv is not None else sys.argv[1:]
    args = p.parse_args(argv)
    pool = collect(seeds=range(args.seeds), slots=args.slots, every=args.every)
    meta = {
        "command": "python -m agents.llm.exemplars " + " ".join(argv),
        "runs": [[s, o] for s, o in DEFAULT_RUNS],
        "agents": ["sp-dpp", "oracle"],
        "seeds": args.seeds,
        "slots": args.slots,
        "every": args.every,
    }
    pool.save(args.out, meta)
    print(f"wrote {len(pool)} exemplars to {args.out}")


if __name__ == "__main__":
    main()
