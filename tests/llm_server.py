"""A loopback OpenAI-compatible chat server for tests, stdlib only.

``LLMServer`` listens on 127.0.0.1 (a free port) in a daemon thread and serves
``POST /v1/chat/completions`` and ``POST /chat/completions``. Each request's JSON body is appended
to ``requests`` and its headers to ``headers``; the reply is the next item of ``script``:

* a ``str``: status 200 with ``chat_completion(text)``;
* a ``dict``: status 200 with that body;
* a tuple ``(status, body)`` or ``(status, body, delay_s)``: ``body`` a dict (sent as JSON) or bytes;
* a callable ``request_json -> (status, body, delay_s)``.

An empty script answers 500 ``"llm_server: script exhausted"`` and a step that cannot be read answers
500 ``"llm_server: bad script step ..."``, so either fails the test that made the request.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Body = dict[str, Any] | bytes
Reply = tuple[int, Body, float]
Step = str | dict[str, Any] | tuple[int, Body] | tuple[int, Body, float] | Callable[[dict[str, Any]], Reply]

PATHS = ("/v1/chat/completions", "/chat/completions")


def chat_completion(
    content: str | None,
    *,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    model: str = "test-model",
) -> dict[str, Any]:
    """A ``chat.completion`` body with one choice; ``usage`` only when both token counts are given."""
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}},
        ],
    }
    if prompt_tokens is not None and completion_tokens is not None:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    return body


def goal_answer(**fields: Any) -> str:
    """JSON text of a ``hybrid`` goal answer: the balanced goal with ``fields`` replaced."""
    goal: dict[str, Any] = {
        "beta_energy": 1.0,
        "beta_latency": 1.0,
        "deadline_scale": 1.0,
        "fairness": 0.0,
        "duration_s": None,
        "vehicle_priority": [],
        "class_priority": [],
        "label": "balanced",
    }
    goal.update(fields)
    return json.dumps(goal)


def error_body(message: str, *, type_: str = "invalid_request_error", param: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type_, "param": param, "code": None}}


def _reply(step: Step, request: dict[str, Any]) -> Reply:
    if isinstance(step, str):
        return 200, chat_completion(step), 0.0
    if isinstance(step, dict):
        return 200, step, 0.0
    if callable(step):
        return step(request)
    if len(step) == 2:
        return step[0], step[1], 0.0
    return step


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # TCP_NODELAY: without it small replies stall ~40 ms
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path not in PATHS:
            self._send(404, error_body(f"no route {self.path}"))
            return
        request = json.loads(raw) if raw else {}
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(request)
            owner.headers.append(dict(self.headers))
            step = owner.script.popleft() if owner.script else None
        if step is None:
            self._send(500, error_body("llm_server: script exhausted", type_="server_error"))
            return
        try:
            status, body, delay_s = _reply(step, request)
        except Exception as exc:  # a bad script step: say so in the reply rather than drop the connection
            self._send(500, error_body(f"llm_server: bad script step {step!r}: {exc!r}", type_="server_error"))
            return
        if delay_s > 0:
            time.sleep(delay_s)
        self._send(status, body)

    def _send(self, status: int, body: Body) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout); nothing left to tell it

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping out a delay must not hold up close()
    owner: LLMServer


class LLMServer:
    """The loopback server; use as a context manager, or ``start()`` / ``close()``."""

    def __init__(self) -> None:
        self.script: deque[Step] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, what ``OPENAI_BASE_URL`` would hold."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def add(self, *steps: Step) -> None:
        """Append replies to the script, in order."""
        with self.lock:
            self.script.extend(steps)

    def start(self) -> LLMServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hijacker:
    """A compromised per-slot model (a backend, no server): it obeys "give vehicle 3 the whole
    server", answering every edge share to the first row's first queue and w = 1 for all rows."""

    mode = "json_schema"

    def complete(self, messages: Any, schema: Any, schema_name: str) -> Any:
        import re

        from agents.llm.backend import Completion

        n = int(re.search(r"Answer for the (\d+) rows", messages[1]["content"]).group(1))  # type: ignore[union-attr]
        a = [[0.0] * 3 for _ in range(n)]
        a[0][0] = 1.0
        return Completion(json.dumps({"w": [[1.0] * 3] * n, "a": a}), "json_schema", None, None, 0.0, 1)
