"""Counts and timings of an agent's LLM use, and its optional JSONL transcript.

``transcript=PATH`` appends one JSON line per call: the messages, the answer, the outcome and its
timing, never the API key. ``replay=PATH`` (``agents.llm.replay``) answers from such a file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .backend import Completion
from .replay import messages_sha
from .tokens import TOKEN_ENCODING, count_tokens, message_tokens


class CallLog:
    """Counts and timings of an agent's LLM use, and the optional JSONL transcript."""

    def __init__(self, agent: str, transcript: str | Path | None):
        self.agent = agent
        self.transcript = Path(transcript) if transcript else None
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.ok = 0
        self.repaired = 0
        self.fallback: Counter[str] = Counter()
        self.decision_s: list[float] = []
        self.llm_s: list[float] = []
        self.prompt_tokens: list[int] = []
        self.completion_tokens: list[int] = []
        self.usage_prompt_tokens = 0
        self.usage_completion_tokens = 0
        self.modes: Counter[str] = Counter()

    def start(self, messages: Sequence[Mapping[str, str]], **fields: Any) -> dict[str, Any]:
        """Count a call and its prompt tokens; returns the call's transcript record, to be filled."""
        n_prompt = message_tokens(messages)
        self.calls += 1
        self.prompt_tokens.append(n_prompt)
        return {**fields, "prompt_sha256": messages_sha(messages), "prompt_tokens": n_prompt}

    def answered(self, comp: Completion, rec: dict[str, Any]) -> None:
        """Count an answer's latency, mode and tokens, and note them in its record."""
        self.llm_s.append(comp.latency_s)
        self.modes[comp.mode] += 1
        self.usage_prompt_tokens += comp.prompt_tokens or 0
        self.usage_completion_tokens += comp.completion_tokens or 0
        self.completion_tokens.append(count_tokens(comp.text) if comp.text else 0)
        rec.update(
            mode=comp.mode,
            llm_latency_s=comp.latency_s,
            usage_prompt_tokens=comp.prompt_tokens,
            usage_completion_tokens=comp.completion_tokens,
        )

    def count(self, outcome: str, reason: str | None) -> None:
        """Count a decision's outcome: ``ok``, ``repaired`` or ``fallback`` (by ``reason``)."""
        if outcome == "fallback":
            self.fallback[str(reason)] += 1
        elif outcome == "repaired":
            self.repaired += 1
        else:
            self.ok += 1

    def record(self, rec: dict[str, Any]) -> None:
        if self.transcript is not None:
            with self.transcript.open("a") as f:
                f.write(json.dumps({"agent": self.agent, **rec}) + "\n")

    def summary(self, decisions: int) -> dict[str, Any]:
        def pct(x: list[float], q: float) -> float | None:
            return float(np.percentile(x, q)) * 1e3 if x else None

        n_fb = sum(self.fallback.values())
        return {
            "decisions": decisions,
            "calls": self.calls,
            "ok": self.ok,
            "repaired": self.repaired,
            "fallback": dict(self.fallback),
            "fallback_rate": n_fb / decisions if decisions else 0.0,
            "decision_ms_median": pct(self.decision_s, 50),
            "decision_ms_p99": pct(self.decision_s, 99),
            "llm_ms_median": pct(self.llm_s, 50),
            "llm_ms_p99": pct(self.llm_s, 99),
            "prompt_tokens_mean": float(np.mean(self.prompt_tokens)) if self.prompt_tokens else None,
            "prompt_tokens_max": int(max(self.prompt_tokens)) if self.prompt_tokens else None,
            "completion_tokens_mean": float(np.mean(self.completion_tokens)) if self.completion_tokens else None,
            "usage_prompt_tokens": self.usage_prompt_tokens,
            "usage_completion_tokens": self.usage_completion_tokens,
            "token_encoding": TOKEN_ENCODING,
            "modes": dict(self.modes),
        }

    @staticmethod
    def report_fields(stats: dict[str, Any]) -> dict[str, float | int | str]:
        """The benchmark row's ``llm_*`` fields of an agent's ``stats()``."""
        out: dict[str, float | int | str] = {f"llm_{k}": stats[k] for k in REPORTED if stats.get(k) is not None}
        out["llm_fallback_reasons"] = json.dumps(stats["fallback"], sort_keys=True)
        return out


#: The ``stats()`` figures a benchmark row records for an LLM agent (as ``llm_<name>``).
REPORTED = (
    "calls",
    "ok",
    "repaired",
    "fallback_rate",
    "prompt_tokens_mean",
    "completion_tokens_mean",
    "llm_ms_median",
    "llm_ms_p99",
    "decision_ms_median",
    "decision_ms_p99",
    "usage_prompt_tokens",
    "usage_completion_tokens",
)
