"""Answers from a recorded transcript instead of a server: ``replay=PATH``.

A transcript is the JSONL an agent writes with ``transcript=PATH`` (``agents.llm.calllog``); its
records are keyed by the SHA-256 of the prompt's messages, so a replay answers exactly the prompts
that were recorded, and a prompt that is not in it is a counted fallback (``replay_miss``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .backend import Completion, LLMError


def messages_sha(messages: Sequence[Mapping[str, Any]]) -> str:
    """The key a transcript records a prompt under."""
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True).encode()).hexdigest()


class ReplayBackend:
    """Answers from a recorded transcript (JSONL written with ``transcript=``), no server."""

    mode = "replay"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.answers: dict[str, list[dict[str, Any]]] = {}
        try:
            lines = self.path.read_text().splitlines()
        except OSError as exc:
            raise LLMError(f"cannot read replay transcript {path}: {exc}", reason="config") from None
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key = rec["prompt_sha256"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise LLMError(f"{path}:{i} is not a vecgym transcript record", reason="config") from None
            if rec.get("answer") is not None:
                self.answers.setdefault(key, []).append(rec)

    def complete(
        self, messages: Sequence[Mapping[str, Any]], schema: Mapping[str, Any], schema_name: str
    ) -> Completion:
        recs = self.answers.get(messages_sha(messages))
        if not recs:
            raise LLMError("prompt not in the replay transcript", reason="replay_miss")
        rec = recs.pop(0) if len(recs) > 1 else recs[0]
        return Completion(
            text=rec["answer"],
            mode=rec.get("mode", "json_schema"),
            prompt_tokens=rec.get("usage_prompt_tokens"),
            completion_tokens=rec.get("usage_completion_tokens"),
            latency_s=float(rec.get("llm_latency_s", 0.0)),
            attempts=0,
        )
