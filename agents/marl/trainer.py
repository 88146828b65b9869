"""One training run of ``python -m agents.train``: env, model, evaluation, checkpoints, curves.

``Trainer(args, command).run()`` trains MAPPO on ``MARLVecEnv`` and writes the run folder (see
``agents.train``); ``Trainer.resume(folder, timesteps)`` continues one from its ``last.zip``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from tqdm import tqdm

from vecgym import scenarios
from vecgym.config import VECConfig
from vecgym.features import ACTIVE_COLUMN, feature_names
from vecgym.goal_sampler import GoalSampler

from ..train import Args, check_args
from .agent import MARLAgent, load_checkpoint
from .mappo import MAPPO
from .vec_env import MARLVecEnv

EVAL_SEED_BASE = 10_000
BASELINES = ("go", "dpp")


def env_config(args: Args, scenario: str) -> dict[str, Any]:
    """Config overrides of ``scenario`` under ``args`` (preset, N). A preset other than the
    scenario's drops the scenario's N, so that the preset's own applies."""
    config = dict(scenarios.get(scenario).config)
    if config.get("preset", "paper") != args.preset:
        config.pop("n_vehicles", None)
    config["preset"] = args.preset
    if args.n_vehicles is not None:
        config["n_vehicles"] = float(args.n_vehicles)
    return config


def eval_scenario(args: Args) -> str:
    """The evaluation scenario: ``--eval-scenario``, else goal_switch for gc-marl on the paper
    preset, else the training scenario."""
    if args.eval_scenario is not None:
        return args.eval_scenario
    return "goal_switch" if args.goals == "sampled" and args.preset == "paper" else args.scenario


def goal_cost(
    build: Callable[[Any], Any], scenario: str, config: dict[str, Any], seeds: list[int], slots: int | None
) -> float:
    """Mean goal cost per slot (−reward) over ``seeds`` of the agent ``build(env)`` makes."""
    costs = []
    for seed in seeds:
        env = scenarios.make(scenario, **config, **({"max_episode_steps": slots} if slots else {}))
        agent = build(env)
        agent.reset(seed)
        obs, info = env.reset(seed=seed)
        total, n, done = 0.0, 0, False
        while not done:
            obs, reward, term, trunc, info = env.step(agent.act(obs, info))
            total, n, done = total + float(reward), n + 1, bool(term or trunc)
        costs.append(-total / n)
        env.close()
    return float(np.mean(costs))


def goal_sampler(args: Args) -> GoalSampler | None:
    """The training goals: none for --goals fixed, else the --goal-dist distribution."""
    if args.goals != "sampled":
        return None
    return GoalSampler.v2() if args.goal_dist == "v2" else GoalSampler()


class Trainer:
    """A training run (see the module docstring)."""

    def __init__(self, args: Args, command: str, model: MAPPO | None = None, history: dict[str, Any] | None = None):
        self.args, self.command = args, command
        self._created = time.perf_counter()
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.name = "s-marl" if args.goals == "fixed" else "gc-marl"
        self.config = env_config(args, args.scenario)
        self.eval_name = eval_scenario(args)
        self.eval_config = env_config(args, self.eval_name)
        self.env = MARLVecEnv(
            num_roads=args.n_envs,
            max_episode_steps=scenarios.get(args.scenario).n_slots,
            goal_channel="none" if args.goals == "fixed" else "truth",
            goals=goal_sampler(args),
            reward=args.reward,
            scale_by_goal=args.goals == "sampled",
            commands=scenarios.get(args.scenario).commands if args.goals == "fixed" else (),
            **self.config,
        )
        self.resumed = model is not None
        if model is None:
            model = MAPPO(
                env=self.env,
                n_steps=args.n_steps,
                learning_rate=args.learning_rate,
                ent_coef=args.ent_coef,
                seed=args.seed,
                tensorboard_log=str(self.out / "tb"),
            )
        else:
            model.set_env(self.env)
        self.model = model
        self.model.vecgym = self.meta()  # type: ignore[attr-defined]  # saved inside the zip
        self.history: dict[str, Any] = history or {"eval": [], "baselines": {}, "timing": {}}
        self.eval_seeds = [EVAL_SEED_BASE + i for i in range(args.eval_seeds)]

    @classmethod
    def resume(cls, folder: Path, timesteps: int) -> Trainer:
        """Continue the run in ``folder`` up to ``timesteps`` road steps (its other args unchanged)."""
        try:
            saved = json.loads((folder / "args.json").read_text())
            history = json.loads((folder / "history.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot resume from {str(folder)!r}: {exc}; is it a training run folder?") from exc
        args = Args(**{**saved["args"], "timesteps": timesteps, "resume": None, "out": str(folder)})
        problem = check_args(args)
        if problem:
            raise ValueError(f"cannot resume from {str(folder)!r}: {problem}")
        model = load_checkpoint(folder / "last.zip")
        return cls(args, saved["command"], model=model, history=history)

    def meta(self) -> dict[str, Any]:
        return {
            "agent": self.name,
            "algo": self.args.algo,
            "goal_channel": "none" if self.args.goals == "fixed" else "truth",
            "scenario": self.args.scenario,
            "env": self.config,
            "features": list(feature_names(VECConfig.from_kwargs(**self.config))),
            "seed": self.args.seed,
            "reward": self.args.reward,
            "reward_scaled_by_goal": self.args.goals == "sampled",
            "goal_dist": self.args.goal_dist if self.args.goals == "sampled" else None,
            "command": self.command,
        }

    # ------------------------------------------------------------------------------------------
    def run(self) -> Path:
        args = self.args
        (self.out / "args.json").write_text(
            json.dumps({"args": dataclasses.asdict(args), "command": self.command}, indent=2) + "\n"
        )
        if not self.history["baselines"] and self.eval_seeds:
            self.history["baselines"] = {b: self.baseline(b) for b in BASELINES}
        total = args.timesteps * self.env.n_max
        callback = RunCallback(self)
        started = time.perf_counter()
        try:
            if self.model.num_timesteps < total:
                self.model.learn(total, callback=callback, reset_num_timesteps=not self.resumed, tb_log_name="mappo")
        except KeyboardInterrupt:
            print("interrupted: saving last.zip and the curves")
        finally:
            callback.close()
            timing = self.history["timing"]
            timing["wall_s"] = timing.get("wall_s", 0.0) + time.perf_counter() - started
            timing["command_wall_s"] = timing.get("command_wall_s", 0.0) + time.perf_counter() - self._created
            self.save()
        print(f"wrote {self.out}/ (best.zip, last.zip, eval.csv, learning_curve.png, summary.json)")
        return self.out

    def baseline(self, name: str) -> float:
        import agents

        build = lambda env: agents.make_agent(name, env)  # noqa: E731
        return goal_cost(build, self.eval_name, self.eval_config, self.eval_seeds, self.args.eval_slots)

    def evaluate(self, road_steps: int) -> None:
        """Score the policy on the held-out seeds; keep it as best.zip if it is the best so far."""
        if not self.eval_seeds:
            return
        cost = goal_cost(
            lambda env: MARLAgent(env, name=self.name, model=self.model),
            self.eval_name,
            self.eval_config,
            self.eval_seeds,
            self.args.eval_slots,
        )
        best = min((row["goal_cost"] for row in self.history["eval"]), default=float("inf"))
        self.history["eval"].append({"road_steps": road_steps, "goal_cost": cost, **self.recent_train_return()})
        self.model.logger.record("eval/goal_cost", cost)
        for b, c in self.history["baselines"].items():
            self.model.logger.record(f"eval/{b}_goal_cost", c)
        self.model.save(self.out / "last.zip")
        if cost < best:
            shutil.copy(self.out / "last.zip", self.out / "best.zip")
        (self.out / "history.json").write_text(json.dumps(self.history, indent=2) + "\n")

    def recent_train_return(self) -> dict[str, float]:
        eps = self.env.road_episodes[-2 * self.args.n_envs :]
        if not eps:
            return {"train_cost_per_slot": float("nan")}
        return {"train_cost_per_slot": float(np.mean([-e["r"] / e["l"] for e in eps]))}

    def save(self) -> None:
        self.model.save(self.out / "last.zip")
        if not (self.out / "best.zip").exists():
            shutil.copy(self.out / "last.zip", self.out / "best.zip")
        (self.out / "history.json").write_text(json.dumps(self.history, indent=2) + "\n")
        rows = self.history["eval"]
        if rows:
            with open(self.out / "eval.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            self.plot(rows)
        (self.out / "summary.json").write_text(json.dumps(self.summary(), indent=2) + "\n")

    def summary(self) -> dict[str, Any]:
        t = self.history["timing"]
        road_steps = self.model.num_timesteps // self.env.n_max
        collect, train = t.get("collect_s", 0.0), t.get("train_s", 0.0)
        active, epochs = t.get("active_samples", 0), self.model.n_epochs
        rows = self.history["eval"]
        best = min(rows, key=lambda r: r["goal_cost"]) if rows else None
        return {
            "agent": self.name,
            "command": self.command,
            "road_steps": road_steps,
            "agent_slot_steps": int(self.model.num_timesteps),
            "active_samples": active,
            "wall_s": t.get("wall_s", 0.0),
            "command_wall_s": t.get("command_wall_s"),
            "collect_s": collect,
            "train_s": train,
            "eval_s": t.get("eval_s", 0.0),
            "env_road_steps_per_s": road_steps / collect if collect else None,
            "env_active_samples_per_s": active / collect if collect else None,
            "learner_samples_per_s": active * epochs / train if train else None,
            "best": best,
            "baselines": self.history["baselines"],
            "eval_scenario": self.eval_name,
            "eval_seeds": self.eval_seeds,
        }

    def plot(self, rows: list[dict[str, float]]) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        x = [r["road_steps"] for r in rows]
        ax.plot(x, [r["goal_cost"] for r in rows], "o-", label=f"{self.name} (held-out seeds)")
        ax.plot(x, [r["train_cost_per_slot"] for r in rows], ":", color="grey", label=f"{self.name} (training roads)")
        for (name, cost), style in zip(self.history["baselines"].items(), ("--", "-."), strict=False):
            ax.axhline(cost, linestyle=style, color="k", alpha=0.6, label=name)
        ax.set_xlabel("road steps")
        ax.set_ylabel("goal cost per slot (−reward)")
        ax.set_title(f"{self.name} on {self.eval_name}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(self.out / "learning_curve.png", dpi=100)
        plt.close(fig)


class RunCallback(BaseCallback):
    """Progress bar over road steps, periodic evaluation and the collect / train timing."""

    def __init__(self, trainer: Trainer):
        super().__init__()
        self.trainer = trainer
        self.timing = trainer.history["timing"]
        self.n_max = trainer.env.n_max
        self.bar: tqdm | None = None
        self._mark = time.perf_counter()
        self._phase = "collect_s"

    def _on_training_start(self) -> None:
        args = self.trainer.args
        done = self.model.num_timesteps // self.n_max
        self.bar = tqdm(total=args.timesteps, initial=done, unit="road-step", disable=not args.progress)
        self.next_eval = (done // args.eval_every + 1) * args.eval_every
        self._mark = time.perf_counter()
        if not self.trainer.history["eval"]:
            self._evaluate(done)

    def _on_rollout_start(self) -> None:
        """After each update (and before the first rollout): evaluate when one is due."""
        self._charge("collect_s")
        road_steps = self.model.num_timesteps // self.n_max
        if road_steps >= self.next_eval:
            self.next_eval = (road_steps // self.trainer.args.eval_every + 1) * self.trainer.args.eval_every
            self._evaluate(road_steps)

    def _on_rollout_end(self) -> None:
        self._charge("train_s")
        buffer = getattr(self.model, "rollout_buffer")  # noqa: B009  (BaseAlgorithm does not declare it)
        active = int((buffer.observations[..., ACTIVE_COLUMN] > 0.5).sum())
        self.timing["active_samples"] = self.timing.get("active_samples", 0) + active

    def _on_step(self) -> bool:
        road_steps = self.model.num_timesteps // self.n_max
        if self.bar is not None:
            self.bar.update(road_steps - self.bar.n)
        return True

    def _on_training_end(self) -> None:
        self._charge("collect_s")
        road_steps = self.model.num_timesteps // self.n_max
        if not self.trainer.history["eval"] or self.trainer.history["eval"][-1]["road_steps"] < road_steps:
            self._evaluate(road_steps)

    def _evaluate(self, road_steps: int) -> None:
        phase = self._phase
        self._charge("eval_s")
        self.trainer.evaluate(road_steps)
        self._charge(phase)

    def _charge(self, next_phase: str) -> None:
        """Charge the time since the last mark to the current phase, then enter ``next_phase``
        (collect_s: stepping the envs; train_s: the PPO update; eval_s: evaluation)."""
        t = time.perf_counter()
        self.timing[self._phase] = self.timing.get(self._phase, 0.0) + t - self._mark
        self._phase, self._mark = next_phase, t

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
