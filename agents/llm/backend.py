"""One structured-output call to an OpenAI-compatible chat server, with fallbacks counted.

``LLMBackend.complete`` asks for JSON that follows a schema, using the strongest
``response_format`` the server accepts:

1. ``json_schema``: ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}``;
2. ``json_object_schema``: ``{"type": "json_object", "schema": {...}}``, the form llama-cpp-python's
   server enforces with a grammar (it answers 500 to ``json_schema``); the schema is also in the
   system message as text;
3. ``json_object``: ``{"type": "json_object"}``, the schema appended to the system message as text;
4. ``prompt``: no ``response_format``, the schema appended to the system message as text.

A rejection steps one rung down within the same call: HTTP 400 or 422 always (a server that does not
know a ``response_format`` answers so), HTTP 500 only if it persists after the same-mode retries and
its body names the format (``response_format``, ``schema``, ``grammar`` or ``guided``); any other
500 is taken as a server fault and raised as ``http_500``. The first mode the server accepts (any 2xx)
is kept in ``backend.mode`` and later calls start there; a call that fails on every rung keeps the old
mode, so one request that is bad for another reason (say, too long) does not downgrade the backend.
What a server accepted is also remembered per process for its (base_url, model), so the next
backend for it (``benchmarks.compare`` builds one agent per episode) starts there.

``max_tokens`` is sent as ``max_tokens``; a 400 that asks for ``max_completion_tokens`` instead
(OpenAI's reasoning models) is answered at once with that parameter, which is then kept.

Retries are this module's, not the openai client's (built with ``max_retries=0``):
``LLMConfig.max_retries`` more attempts in the same mode, ``retry_delay_s`` apart, after a connection
error, HTTP 408, 409, 429 or 5xx. A timeout is not retried: ``timeout_s`` is the caller's budget, and
the client's own retry would double it. Every failure is an ``LLMError`` whose ``reason`` is a short
code (``timeout``, ``connection``, ``http_<status>``, ``bad_response``, ``empty_choices``,
``empty_content``); its message has the API key replaced by ``***`` and it chains no exception, since
the openai exceptions hold the request and its ``Authorization`` header.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
    from openai.types.chat.completion_create_params import ResponseFormat

log = logging.getLogger(__name__)

Mode = Literal["json_schema", "json_object_schema", "json_object", "prompt"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object_schema", "json_object", "prompt")
"""The structured-output ladder, strongest first."""

TokenParam = Literal["max_tokens", "max_completion_tokens"]
_LEARNED: dict[tuple[str, str], tuple[Mode, TokenParam]] = {}
"""(base_url, model) -> the response mode and token parameter the server last accepted, per process."""

ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_MODEL = "VECGYM_LLM_MODEL"

NO_KEY = "EMPTY"
"""Sent when ``api_key`` is empty (a local server needs none; the openai client refuses no key at all)."""

_TRANSIENT_STATUS = frozenset({408, 409, 429})
_FORMAT_WORDS = re.compile(r"response_format|schema|grammar|guided", re.IGNORECASE)
_MAX_MESSAGE_CHARS = 500


class LLMError(RuntimeError):
    """A failed LLM call or setup; ``reason`` is a short code to count fallbacks by."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, kw_only=True, repr=False)
class LLMConfig:
    """Where and how to ask. ``repr`` shows ``api_key`` as ``'***'``."""

    base_url: str
    """OpenAI-compatible endpoint with its ``/v1``, e.g. ``http://127.0.0.1:8000/v1``."""
    model: str
    """Model name as the server knows it."""
    api_key: str = ""
    """Bearer key; empty for a local server that needs none."""
    timeout_s: float = 30.0
    """Per-request limit on connecting and on each read; a timeout is not retried."""
    max_retries: int = 1
    """Extra attempts in the same mode after a connection error, HTTP 408, 409, 429 or 5xx."""
    retry_delay_s: float = 0.5
    """Wait before each of those retries."""
    temperature: float = 0.0
    seed: int | None = 0
    """Sent as ``seed`` (best-effort determinism on servers that honour it); ``None`` sends none."""
    max_tokens: int = 1024
    """The cap on the completion's length, sent as ``max_tokens``; a server that asks for
    ``max_completion_tokens`` instead (OpenAI's reasoning models) gets that from then on."""

    def __post_init__(self) -> None:
        for name, env in (("base_url", ENV_BASE_URL), ("model", ENV_MODEL)):
            if not getattr(self, name):
                raise LLMError(
                    f"LLMConfig.{name} is empty: pass {name}=... or set {env} (read by LLMConfig.from_env)",
                    reason="config",
                )
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url={self.base_url!r} must start with http:// or https://")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s={self.timeout_s} must be > 0")
        if self.max_retries < 0 or self.retry_delay_s < 0:
            raise ValueError(f"max_retries={self.max_retries} and retry_delay_s={self.retry_delay_s} must be >= 0")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature={self.temperature} must be in [0, 2]")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens} must be >= 1")

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMConfig:
        """Config from ``OPENAI_BASE_URL``, ``OPENAI_API_KEY`` and ``VECGYM_LLM_MODEL``; ``overrides`` win.

        An override of ``None`` for one of those three leaves the environment's value (a CLI default).
        """
        values: dict[str, Any] = {}
        for name, env in (("base_url", ENV_BASE_URL), ("api_key", ENV_API_KEY), ("model", ENV_MODEL)):
            value = overrides.pop(name, None)
            values[name] = value if value is not None else os.environ.get(env, "")
        return cls(**values, **overrides)

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["api_key"]:
            shown["api_key"] = "***"
        return f"LLMConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


@dataclass(frozen=True)
class Completion:
    """A successful call's answer and its costs."""

    text: str
    """The message content: JSON text, not yet parsed or validated."""
    mode: Mode
    """The ``response_format`` rung that produced it."""
    prompt_tokens: int | None
    """From the server's ``usage``; ``None`` when it sends none."""
    completion_tokens: int | None
    latency_s: float
    """Wall time of the whole call: every attempt, retry wait and rung."""
    attempts: int
    """HTTP requests this call sent."""


@dataclass(frozen=True)
class _Failure:
    reason: str
    message: str
    retry: bool  # worth another attempt in the same mode
    step_down: bool  # worth trying the next rung, once retries are spent


class LLMBackend:
    """Structured-output chat calls to ``config.base_url``; not thread-safe (one per agent).

    ``mode`` is the rung the next call starts at. ``stats`` counts ``calls``, ``ok``, ``requests``,
    ``retries``, ``step:<from>-><to>`` (rung changes) and ``error:<reason>`` (failed calls).
    """

    def __init__(self, config: LLMConfig) -> None:
        try:
            import openai
        except ImportError:
            raise LLMError("LLMBackend needs openai: pip install 'vecgym[llm]'", reason="config") from None
        self.config = config
        # What earlier backends learnt about this server (benchmarks build one agent per episode).
        self.mode: Mode
        self.token_param: TokenParam
        self.mode, self.token_param = _LEARNED.get((config.base_url, config.model), (MODES[0], "max_tokens"))
        self.stats: Counter[str] = Counter()
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=config.api_key or NO_KEY,
            timeout=config.timeout_s,
            max_retries=0,
        )

    def __repr__(self) -> str:
        return f"LLMBackend({self.config!r}, mode={self.mode!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> LLMBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(
        self, messages: Sequence[Mapping[str, Any]], schema: Mapping[str, Any], schema_name: str
    ) -> Completion:
        """Ask for one JSON object following ``schema``; raise ``LLMError`` when no rung gives an answer."""
        self.stats["calls"] += 1
        start = time.perf_counter()
        attempts = 0
        failure: _Failure | None = None
        for mode in MODES[MODES.index(self.mode) :]:
            if failure is not None:
                prev = MODES[MODES.index(mode) - 1]
                self.stats[f"step:{prev}->{mode}"] += 1
                log.warning("LLM server refused response mode %s (%s); trying %s", prev, failure.reason, mode)
            for retry in range(self.config.max_retries + 1):
                if retry:
                    self.stats["retries"] += 1
                    time.sleep(self.config.retry_delay_s)
                attempts += 1
                self.stats["requests"] += 1
                response, failure = self._send(mode, messages, schema, schema_name)
                if failure is not None and failure.reason == "http_400" and self._wants_completion_tokens(failure):
                    self.token_param = "max_completion_tokens"  # remembered for later calls
                    self.stats["switch:max_completion_tokens"] += 1
                    attempts += 1
                    self.stats["requests"] += 1
                    response, failure = self._send(mode, messages, schema, schema_name)
                if failure is None or not failure.retry:
                    break
            if response is not None:
                self.mode = mode
                _LEARNED[(self.config.base_url, self.config.model)] = (mode, self.token_param)
                return self._completion(response, mode, attempts, start)
            assert failure is not None
            if not failure.step_down:
                break
        assert failure is not None
        self._raise(failure.reason, f"{failure.message} ({attempts} requests, last mode {mode})")

    def _send(
        self, mode: Mode, messages: Sequence[Mapping[str, Any]], schema: Mapping[str, Any], schema_name: str
    ) -> tuple[ChatCompletion | None, _Failure | None]:
        """One request; the response, or why there is none (never raises an openai exception)."""
        import openai

        response_format: ResponseFormat | openai.Omit = openai.omit
        if mode == "json_schema":
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": dict(schema), "strict": True},
            }
        else:
            messages = with_schema_text(messages, schema)
            if mode == "json_object_schema":  # an extension: the openai types do not know "schema"
                response_format = cast("ResponseFormat", {"type": "json_object", "schema": dict(schema)})
            elif mode == "json_object":
                response_format = {"type": "json_object"}
        cfg = self.config
        try:
            response = self._client.chat.completions.create(
                model=cfg.model,
                messages=cast("list[ChatCompletionMessageParam]", list(messages)),
                response_format=response_format,
                temperature=cfg.temperature,
                seed=openai.omit if cfg.seed is None else cfg.seed,
                max_tokens=cfg.max_tokens if self.token_param == "max_tokens" else openai.omit,
                max_completion_tokens=cfg.max_tokens if self.token_param == "max_completion_tokens" else openai.omit,
            )
        except openai.APITimeoutError:  # before APIConnectionError, its base class
            return None, _Failure("timeout", f"no answer within timeout_s={cfg.timeout_s}", False, False)
        except openai.APIConnectionError as exc:
            return None, _Failure("connection", self._detail(f"{exc.message} {exc.__cause__!r}"), True, False)
        except openai.APIStatusError as exc:
            return None, self._status_failure(exc)
        except ValueError as exc:  # a 2xx body that is not JSON (json.JSONDecodeError)
            return None, _Failure("bad_response", self._detail(f"unreadable response: {exc}"), False, False)
        return response, None

    def _wants_completion_tokens(self, failure: _Failure) -> bool:
        """A 400 that asks for ``max_completion_tokens`` in place of ``max_tokens``."""
        return self.token_param == "max_tokens" and "max_completion_tokens" in failure.message

    def _status_failure(self, exc: openai.APIStatusError) -> _Failure:
        code = exc.status_code
        body = exc.body  # the error object of a JSON body, else the body's text
        detail = exc.message if isinstance(body, Mapping) or not body else f"{exc.message} - {body}"
        names_format = _FORMAT_WORDS.search(f"{exc.message} {body}") is not None
        retry = code in _TRANSIENT_STATUS or code >= 500
        step_down = code in (400, 422) or (code == 500 and names_format)
        return _Failure(f"http_{code}", self._detail(detail), retry, step_down)

    def _completion(self, response: ChatCompletion, mode: Mode, attempts: int, start: float) -> Completion:
        if not getattr(response, "choices", None):
            self._raise("empty_choices", f"the server answered with no choices (mode {mode})")
        content = getattr(getattr(response.choices[0], "message", None), "content", None)
        if not isinstance(content, str) or not content.strip():
            self._raise("empty_content", f"the server answered with no text content (mode {mode})")
        usage = getattr(response, "usage", None)
        self.stats["ok"] += 1
        return Completion(
            text=content,
            mode=mode,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            latency_s=time.perf_counter() - start,
            attempts=attempts,
        )

    def _raise(self, reason: str, message: str) -> NoReturn:
        self.stats[f"error:{reason}"] += 1
        raise LLMError(f"{reason}: {self._redact(message)}", reason=reason)

    def _redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***``."""
        return text.replace(self.config.api_key, "***") if self.config.api_key else text

    def _detail(self, text: str) -> str:
        """A server's or client's words for an error message: redacted first, then cut to a readable length."""
        text = self._redact(text)
        return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "..."


def with_schema_text(messages: Sequence[Mapping[str, Any]], schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A copy of ``messages`` whose system message (added first if none) ends with ``schema`` as text."""
    text = "Answer with one JSON object and nothing else. It must follow this JSON Schema:\n" + json.dumps(
        dict(schema), separators=(",", ":")
    )
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system" and isinstance(out[0].get("content"), str):
        out[0]["content"] = f"{out[0]['content']}\n\n{text}"
    else:
        out.insert(0, {"role": "system", "content": text})
    return out
