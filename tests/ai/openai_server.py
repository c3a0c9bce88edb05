"""A small server speaking OpenAI's chat-completions API on loopback, for the AI tests: the
real `openai` SDK in the app talks to it over a socket. It records every request and answers
as the test tells it to: a completion, an HTTP error with OpenAI's error body, a delay, a
malformed answer, or a connection closed without an answer."""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLETIONS_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    body: Any  # the parsed JSON, or None when the body was not JSON


@dataclass(frozen=True)
class Answer:
    """How to answer one request. `build` makes the body from the request's JSON (the
    completion names the model asked for, as OpenAI's does)."""

    status: int = 200
    build: Callable[[Any], bytes] = lambda _: b""
    content_type: str = "application/json"
    delay_s: float = 0.0
    trickle_s: float = 0.0  # send the body a byte at a time, this long apart
    hang_up: bool = False  # close the connection without a word


def completion(request: Any, content: str | None, **overrides: Any) -> dict[str, Any]:
    """A chat.completion object as OpenAI sends it, holding `content` as the one choice."""
    body: dict[str, Any] = {
        "id": "chatcmpl-test0123456789",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "unknown") if isinstance(request, dict) else "unknown",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 57, "completion_tokens": 17, "total_tokens": 74},
        "system_fingerprint": "fp_test",
    }
    body.update(overrides)
    return body


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def text(content: str, *, delay_s: float = 0.0) -> Answer:
    """A completion whose one choice says `content`."""
    return Answer(build=lambda request: _json(completion(request, content)), delay_s=delay_s)


def error(status: int, message: str, kind: str, code: str | None) -> Answer:
    """An HTTP error with OpenAI's error body."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return Answer(status=status, build=lambda _: _json(body))


UNAUTHORIZED = error(
    401,
    "Incorrect API key provided: sk-te***********ey. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    "invalid_request_error",
    "invalid_api_key",
)
RATE_LIMITED = error(
    429, "Rate limit reached for requests per minute.", "requests", "rate_limit_exceeded"
)
SERVER_ERROR = error(
    500, "The server had an error while processing your request.", "server_error", None
)


def null_content() -> Answer:
    """A completion whose one choice has `"content": null`."""
    return Answer(build=lambda request: _json(completion(request, None)))


def slow(delay_s: float) -> Answer:
    """A completion, but only after `delay_s` (or when the server stops)."""
    return text("This answer came too late to be used.", delay_s=delay_s)


def trickle(every_s: float) -> Answer:
    """A completion sent a byte every `every_s` (until the server stops): each read is quick,
    the whole answer takes minutes."""
    padding = " " * 400
    return Answer(
        build=lambda request: _json(completion(request, "Too slow." + padding)),
        trickle_s=every_s,
    )


def raw(body: bytes, content_type: str = "application/json") -> Answer:
    """A 200 with exactly this body."""
    return Answer(build=lambda _: body, content_type=content_type)


def shaped(**overrides: Any) -> Answer:
    """A 200 completion with some fields replaced (a None value removes the field)."""

    def build(request: Any) -> bytes:
        body = completion(request, "unused", **overrides)
        return _json({key: value for key, value in body.items() if value is not None})

    return Answer(build=build)


HANG_UP = Answer(hang_up=True)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's client expects of OpenAI

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length)
        try:
            parsed = json.loads(raw_body)
        except ValueError:
            parsed = None
        request = Recorded(
            "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw_body, parsed
        )
        answer = self.server.owner.take(request)
        if answer.delay_s and self.server.owner.stopping.wait(answer.delay_s):
            self.close_connection = True
            return
        if answer.hang_up:
            self.close_connection = True
            return
        self._send(answer, answer.build(parsed))

    def _send(self, answer: Answer, body: bytes) -> None:
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", "req_test")
            self.end_headers()
            if not answer.trickle_s:
                self.wfile.write(body)
                return
            self.wfile.flush()
            for offset in range(len(body)):
                if self.server.owner.stopping.wait(answer.trickle_s):
                    self.close_connection = True
                    return
                self.wfile.write(body[offset : offset + 1])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read `requests` instead


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: "OpenAIServer") -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)


@dataclass
class OpenAIServer:
    """Start with start(), stop with stop(). Answers with the answers given to `answer`, one
    per request in turn, the last one repeated (default: a completion saying DEFAULT_TEXT)."""

    DEFAULT_TEXT = "Users mostly asked about shipping."

    requests: list[Recorded] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _answers: list[Answer] = field(default_factory=lambda: [text(OpenAIServer.DEFAULT_TEXT)])
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What AI_BASE_URL is set to."""
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(self, *answers: Answer) -> None:
        with self._lock:
            self._answers = list(answers)

    def take(self, request: Recorded) -> Answer:
        """Record `request` and say how to answer it."""
        with self._lock:
            self.requests.append(request)
            if request.path != COMPLETIONS_PATH:
                return error(404, f"Unknown path {request.path}", "invalid_request_error", None)
            return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]

    def start(self) -> "OpenAIServer":
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # delayed answers give up at once
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
