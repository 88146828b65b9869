"""Train the MARL baselines: ``python -m agents.train``.

    python -m agents.train --timesteps 3000 --out runs/try            # MAPPO, scalability, paper
    python -m agents.train --goals sampled --out runs/gc              # goal-conditioned (gc-marl)
    python -m agents.train --resume runs/try --timesteps 6000         # continue to 6000 road steps
    tensorboard --logdir runs                                         # the curves, live

``--timesteps`` counts *road* steps (one slot of one road, all its vehicles); the SB3 VecEnv has
``n_envs`` roads × n_max slots. ``--goals fixed`` trains ``s-marl`` (balanced goal, goal channel
"none"); ``--goals sampled`` trains ``gc-marl`` on goals drawn from GoalSpec's range and written
into the goal channel ("truth"). Every ``--eval-every`` road steps the policy is evaluated on
held-out seeds (10000, 10001, ...) against ``go`` and ``dpp``; the best by goal cost is kept.

Writes into ``--out``: ``best.zip`` and ``last.zip`` (SB3 zips; ``MAPPO.load`` or ``PPO.load``),
``args.json``, ``eval.csv`` (the learning curve), ``learning_curve.png``, ``summary.json`` (training
time, env and learner samples/s) and TensorBoard logs under ``tb/``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import dataclasses
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from vecgym import scenarios

ALGOS = ("mappo",)
GOAL_MODES = ("fixed", "sampled")
GOAL_DISTS = ("v1", "v2")


@dataclass
class Args:
    """The command line (each field is a ``--flag``; CleanRL style)."""

    algo: str = "mappo"
    """the algorithm (MAPPO on SB3)"""
    scenario: str = "scalability"
    """the training scenario (its config and episode length)"""
    preset: str = "paper"
    """the physics preset"""
    n_vehicles: float | None = None
    """vehicles on the road (default: the scenario's)"""
    timesteps: int = 1_000_000
    """road steps to train for, in all"""
    seed: int = 0
    """seed of the training roads, the network init and the sampled goals"""
    n_envs: int = 8
    """roads stepped together (the SB3 VecEnv has n_envs × n_max slots)"""
    goals: str = "fixed"
    """fixed (s-marl: balanced, goal channel 'none') or sampled (gc-marl)"""
    out: str = "runs/mappo"
    """output folder"""
    resume: str | None = None
    """continue the run in this folder (its args, up to the new --timesteps)"""
    goal_dist: str = "v1"
    """training-goal distribution with --goals sampled: v1 (the shipped gc-marl's) or v2
    (vecgym.goal_sampler.GoalSampler.v2: uniform log-ratio, goals switching every ~50 slots)"""
    reward: str = "own"
    """own (each vehicle's own cost + the fairness term), team (the road's reward), mixed (their mean)
    or marginal (own, plus what the vehicle's edge share adds to its server's DVFS energy:
    vecgym.reward.clock_costs)"""
    n_steps: int = 200
    """slots per road per rollout (MAPPO's episode_length)"""
    learning_rate: float = 5e-4
    """Adam step size (MAPPO's lr and critic_lr)"""
    ent_coef: float = 0.0
    """entropy bonus (MAPPO's entropy_coef is 0.01, but on-policy bounds the std; see agents.marl.mappo)"""
    eval_every: int = 50_000
    """road steps between evaluations"""
    eval_seeds: int = 2
    """held-out evaluation seeds"""
    eval_scenario: str | None = None
    """evaluation scenario (default: the training one; goal_switch for --goals sampled on paper)"""
    eval_slots: int | None = None
    """slots per evaluation episode (default: the scenario's)"""
    progress: bool = True
    """show a progress bar"""


def parse_args(argv: list[str] | None = None) -> Args:
    """``Args`` from the command line; a bad value exits with a message naming it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            kind = {"int": int, "float": float, "float | None": float, "int | None": int}.get(str(f.type), str)
            parser.add_argument(flag, type=kind, default=f.default)
    args = Args(**vars(parser.parse_args(argv)))
    problem = check_args(args)
    if problem:
        parser.error(problem)
    return args


def check_args(args: Args) -> str | None:
    """What is wrong with ``args``, or None."""
    if args.algo not in ALGOS:
        return f"--algo must be one of {ALGOS}, got {args.algo!r}"
    if args.reward not in ("team", "own", "mixed", "marginal"):
        return f"--reward must be 'own', 'team', 'mixed' or 'marginal', got {args.reward!r}"
    if args.goals not in GOAL_MODES:
        return f"--goals must be one of {GOAL_MODES}, got {args.goals!r}"
    if args.goal_dist not in GOAL_DISTS:
        return f"--goal-dist must be one of {GOAL_DISTS}, got {args.goal_dist!r}"
    for name in (args.scenario, args.eval_scenario):
        if name is not None and name not in scenarios.names():
            return f"unknown scenario {name!r}; known: {', '.join(scenarios.names())}"
    for flag, value in (("timesteps", args.timesteps), ("n_envs", args.n_envs), ("n_steps", args.n_steps)):
        if value < 1:
            return f"--{flag.replace('_', '-')} must be >= 1, got {value}"
    if args.eval_every < 1 or args.eval_seeds < 0:
        return "--eval-every must be >= 1 and --eval-seeds >= 0"
    if args.n_vehicles is not None and args.n_vehicles <= 0:
        return f"--n-vehicles must be > 0, got {args.n_vehicles}"
    return None


# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from .marl.trainer import Trainer

    trainer = Trainer.resume(Path(args.resume), args.timesteps) if args.resume else Trainer(args, _command(argv))
    return trainer.run()


def _command(argv: list[str] | None) -> str:
    return "python -m agents.train " + shlex.join(argv if argv is not None else sys.argv[1:])


__all__ = ["Args", "check_args", "main", "parse_args"]

if __name__ == "__main__":
    main()
