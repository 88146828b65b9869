"""A loopback stand-in for an LLM planner: an OpenAI-compatible chat server on 127.0.0.1 whose
"model" is the offline interpreter.

``LoopbackPlanner()`` serves ``POST /v1/chat/completions`` from a daemon thread, stdlib only. A
``hybrid`` goal request (the ``operator_goal`` schema) is answered with the goal
``vecgym.goals.parse_command`` makes of the quoted command, in the planner's JSON, or with a
``refusal`` carrying the interpreter's message; any other request gets HTTP 400. It lets
``hybrid`` run end to end over the real ``openai`` client, HTTP and the planner's checks where no
LLM endpoint is configured (``benchmarks.compare`` uses it then, and says so in its report). It is
not a language model: its goals are exactly the offline interpreter's.

    with LoopbackPlanner() as server:
        agent = make_agent("hybrid", env, base_url=server.base_url, model=server.model)
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vecgym.goals import CommandError, GoalSpec, parse_command

MODEL = "vecgym-loopback-interpreter"
_COMMAND = re.compile(r"<operator_command>(.*)</operator_command>", re.DOTALL)


def goal_json(goal: GoalSpec) -> dict[str, Any]:
    """A ``GoalSpec`` in the planner's answer format (``agents.llm.planner.goal_schema``)."""
    return {
        "beta_energy": goal.beta_energy,
        "beta_latency": goal.beta_qos,
        "deadline_scale": goal.deadline_scale,
        "fairness": goal.fairness,
        "duration_s": goal.duration_s,
        "vehicle_priority": [{"id": k, "weight": v} for k, v in sorted(goal.vehicle_weights.items())],
        "class_priority": [{"class": k, "weight": v} for k, v in sorted(goal.class_weights.items())],
        "label": goal.label,
        "refusal": None,
    }


def answer(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(status, body) for one chat-completions request."""
    text = " ".join(str(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "user")
    m = _COMMAND.search(text)
    if not m:
        return 400, {"error": {"message": "the loopback planner only answers operator_goal requests"}}
    command = json.loads(m.group(1))
    try:
        content = goal_json(parse_command(command))
    except CommandError as exc:
        content = {**goal_json(GoalSpec()), "label": "refused", "refusal": str(exc)}
    body = {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model", MODEL),
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": json.dumps(content)}}
        ],
    }
    return 200, body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            status, body = 404, {"error": {"message": f"no route {self.path}"}}
        else:
            try:
                status, body = answer(json.loads(raw or b"{}"))
            except (ValueError, TypeError) as exc:
                status, body = 400, {"error": {"message": f"bad request: {exc}"}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no stderr line per request
        pass


class LoopbackPlanner:
    """The server (see the module docstring); a context manager, or ``start()`` / ``close()``."""

    model = MODEL

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackPlanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
