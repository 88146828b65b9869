"""Prompt and answer size of the LLM agents against the number of vehicles, offline.

    python -m benchmarks.llm_cost                 # N = 5, 10, 20, 30, 50
    python -m benchmarks.llm_cost --n 10 100 --slots 30

No LLM is called. ``sp-dpp`` drives a scalability episode per N; every slot after the warmup, the
exact ``sp-llm`` and ``llm-dt`` prompts (with their k = 2 exemplars) are built and counted with
tiktoken's ``o200k_base`` (shipped offline), and so is the answer a model would have to write for
the solver's decision in the answer format (2 decimals). ``hybrid`` asks once per command; its
prompt for the paper's energy command is counted too. Multiply by your provider's prices, and
divide the answer tokens by its output speed, for the cost and the time of one slot.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from agents.llm.planner import goal_messages
from agents.llm.prompt import action_text
from agents.llm.sp_llm import LLMDTAgent, SPLLMAgent
from agents.llm.tokens import TOKEN_ENCODING, count_tokens, message_tokens
from agents.rollout import StepRecord, rollout
from vecgym import scenarios


class _NoCall:
    """A backend that must not be called: this benchmark only builds prompts."""

    mode = "none"

    def complete(self, *args: Any) -> Any:
        raise AssertionError("llm_cost never calls an LLM")


def measure(n: float, slots: int, warmup: int, seed: int = 0) -> dict[str, Any]:
    env = scenarios.make("scalability", n_vehicles=n, max_episode_steps=slots + warmup)
    sp = SPLLMAgent(env, backend=_NoCall())
    dt = LLMDTAgent(env, backend=_NoCall())
    sp.reset(seed)
    dt.reset(seed)
    rows: dict[str, list[float]] = {"vehicles": [], "sp": [], "dt": [], "answer": []}

    def count(step: StepRecord) -> None:  # sp's solver drives; dt's sees the same slots
        obs, info, action = step.obs, step.info, step.action
        dt.solver.act(obs, info)
        if step.slot >= warmup and obs["active"].any():
            msgs, table = sp.prompt(obs, info)
            rows["vehicles"].append(len(table.rows))
            rows["sp"].append(message_tokens(msgs))
            rows["dt"].append(message_tokens(dt.prompt(obs, info)[0]))
            rows["answer"].append(count_tokens(action_text(action[0][table.slots], action[1][table.slots])))

    rollout(env, sp.solver, seed, on_step=count, max_steps=slots + warmup)
    env.close()
    return {"n": n, **{k: float(np.mean(v)) for k, v in rows.items()}, "sp_max": float(np.max(rows["sp"]))}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=float, nargs="+", default=[5, 10, 20, 30, 50], help="vehicles (default 5 10 20 30 50)")
    p.add_argument("--slots", type=int, default=40, help="counted slots per N (default 40)")
    p.add_argument("--warmup", type=int, default=10, help="uncounted slots first (default 10)")
    args = p.parse_args(argv)
    hybrid_tokens = message_tokens(goal_messages(scenarios.PAPER_ENERGY_COMMAND))
    print(f"Tokens per call ({TOKEN_ENCODING}); sp-llm and llm-dt call once per slot.\n")
    print("| N | vehicles on the road | sp-llm prompt (mean / max) | llm-dt prompt | answer (solver's decision) |")
    print("|---:|---:|---:|---:|---:|")
    rows = []
    for n in args.n:
        r = measure(n, args.slots, args.warmup)
        rows.append(r)
        print(
            f"| {n:g} | {r['vehicles']:.1f} | {r['sp']:.0f} / {r['sp_max']:.0f} | {r['dt']:.0f} | {r['answer']:.0f} |",
            flush=True,
        )
    print(f"\nhybrid: {hybrid_tokens} prompt tokens per operator command (the paper's energy command).")
    return rows


if __name__ == "__main__":
    main()
