"""Which backend an LLM agent talks to, from one ``LLMConfig`` or the plain endpoint keywords.

Every LLM agent takes ``llm=LLMConfig(...)``, or the ``LLMConfig`` fields as plain keywords
(``base_url``, ``api_key``, ``model``, ``timeout_s``, ``max_retries``, ``retry_delay_s``,
``temperature``, ``seed``, ``max_tokens``; ``None`` means the default or the environment's value),
or ``replay=PATH`` (a recorded transcript), or ``backend=`` any object with ``complete(messages,
schema, schema_name) -> Completion`` (tests, custom clients).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol

from .backend import Completion, LLMBackend, LLMConfig
from .replay import ReplayBackend

#: The keywords an agent accepts as the fields of its ``LLMConfig``.
ENDPOINT_KEYS: frozenset[str] = frozenset(f.name for f in fields(LLMConfig))


class Backend(Protocol):
    """What an agent asks: one structured-output completion."""

    def complete(
        self, messages: Sequence[Mapping[str, Any]], schema: Mapping[str, Any], schema_name: str
    ) -> Completion: ...


def make_backend(
    *,
    llm: LLMConfig | None = None,
    backend: Backend | None = None,
    replay: str | Path | None = None,
    **endpoint: Any,
) -> Backend:
    """The backend an agent talks to: an explicit one, a replay transcript, or a server.

    Raises ``TypeError`` for a keyword that is not an ``LLMConfig`` field, and ``ValueError`` when
    ``llm`` and endpoint keywords are both given (one source of truth for the endpoint).
    """
    unknown = sorted(set(endpoint) - ENDPOINT_KEYS)
    if unknown:
        raise TypeError(f"unknown LLM agent keyword(s) {unknown}; the endpoint keywords are {sorted(ENDPOINT_KEYS)}")
    given = {k: v for k, v in endpoint.items() if v is not None}
    if llm is not None and given:
        raise ValueError(f"pass either llm=LLMConfig(...) or endpoint keywords, not both (got {sorted(given)})")
    if backend is not None:
        return backend
    if replay is not None:
        return ReplayBackend(replay)
    return LLMBackend(llm if llm is not None else LLMConfig.from_env(**given))


def close_backend(backend: Backend) -> None:
    """Close a backend's HTTP connections; a replay or custom backend may have none to close."""
    close = getattr(backend, "close", None)
    if callable(close):
        close()
