"""A scriptable local HTTP server that records what it receives: the base of the vendor fakes.

Each fake runs a real `ThreadingHTTPServer` on 127.0.0.1 (ephemeral port) in a daemon
thread. Every request is recorded (path, headers, parsed body, arrival time, the status it
got). A script of responses (`respond`, `delay`, `reset`) overrides the next requests, in
order, then the fake answers normally again.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, a dict for form bodies, else the text
    raw: bytes
    at: float  # time.time() on arrival: comparable across processes
    status: int | None  # what it answered; None when the connection was reset
    reply: Any = None  # the body it answered


@dataclass(frozen=True)
class Reply:
    """What to answer to one request."""

    status: int
    body: Any = None  # dict/list -> JSON, str -> text/plain
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Scripted:
    status: int | None = None  # None: answer normally
    body: Any = None
    retry_after: float | None = None
    delay: float = 0.0
    reset: bool = False


class FakeServer:
    """Base of the vendor fakes: subclasses implement `handle(request) -> Reply`."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._recorded: list[Recorded] = []
        self._arrived = 0  # requests that came in, answered or still held
        self._script: list[_Scripted] = []
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # a short poll interval: shutdown() waits up to one interval, once per test
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, no trailing slash."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes handlers sleeping in a scripted delay
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- scripting ---------------------------------------------------------------------

    def respond(
        self,
        status: int,
        *,
        retry_after: float | None = None,
        body: Any = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests with `status` (and Retry-After, body, delay)."""
        self._push(_Scripted(status, body, retry_after, delay), times)

    def delay(self, seconds: float, *, times: int = 1) -> None:
        """Hold the next `times` requests for `seconds` (past a client's timeout), then answer."""
        self._push(_Scripted(delay=seconds), times)

    def reset(self, *, times: int = 1) -> None:
        """Close the connection of the next `times` requests without answering (TCP RST)."""
        self._push(_Scripted(reset=True), times)

    def _push(self, step: _Scripted, times: int) -> None:
        with self._lock:
            self._script.extend([step] * times)

    def _next_step(self) -> _Scripted:
        with self._lock:
            return self._script.pop(0) if self._script else _Scripted()

    # -- what was received ---------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._recorded)

    def wait_for(
        self, n: int, timeout: float = 5.0, where: Callable[[Recorded], bool] | None = None
    ) -> list[Recorded]:
        """Block until `n` requests (matching `where`) arrived; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        found: list[Recorded] = []
        seen = 0
        with self._lock:
            while True:
                # only what arrived since the last look: a rescan of everything on each
                # arrival made a long benchmark measure this loop instead of the workers
                fresh, seen = self._recorded[seen:], len(self._recorded)
                found += [r for r in fresh if where is None or where(r)]
                remaining = deadline - time.monotonic()
                if len(found) >= n or remaining <= 0:
                    break
                self._lock.wait(remaining)
        if len(found) < n:
            raise AssertionError(f"expected {n} requests within {timeout}s, got {len(found)}")
        return found

    def wait_for_arrivals(self, n: int, timeout: float = 5.0) -> None:
        """Block until `n` requests came in, answered or not (one held by `delay` counts)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._arrived >= n, timeout):
                raise AssertionError(
                    f"expected {n} arrivals within {timeout}s, got {self._arrived}"
                )

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self._recorded.append(request)
            self._lock.notify_all()

    def handle(self, request: Recorded) -> Reply:
        """The normal answer to `request` (its `status` field is not set yet)."""
        raise NotImplementedError

    def scripted_body(self, status: int) -> Any:
        """The body a scripted `respond(status)` answers with, unless one was given."""
        return {"status": status}

    def _serve(self, request: Recorded) -> Reply | None:
        with self._lock:
            self._arrived += 1
            self._lock.notify_all()
        step = self._next_step()
        if step.delay:
            self._closing.wait(step.delay)
        if step.reset:
            self._record(_answered(request, None, None))
            return None
        reply = self.handle(request)
        if step.status is not None:
            headers = (
                {} if step.retry_after is None else {"Retry-After": _seconds(step.retry_after)}
            )
            body = step.body if step.body is not None else self.scripted_body(step.status)
            reply = Reply(step.status, body, headers)
        self._record(_answered(request, reply.status, reply.body))
        return reply


def _answered(request: Recorded, status: int | None, reply: Any) -> Recorded:
    return dataclasses.replace(request, status=status, reply=reply)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _parse(raw: bytes, content_type: str) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text, keep_blank_values=True))
    return text


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real vendors
        # headers and body go out in two writes: without TCP_NODELAY a keep-alive client
        # waits ~40 ms per request (Nagle against delayed ACK), skewing latency benchmarks
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            at = time.time()
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            body = _parse(raw, headers.get("content-type", ""))
            reply = fake._serve(Recorded("POST", self.path, headers, body, raw, at, None))
            if reply is None:
                self._reset()
            else:
                self._answer(reply)

        def _answer(self, reply: Reply) -> None:
            if isinstance(reply.body, str):
                payload, kind = reply.body.encode(), "text/plain; charset=utf-8"
            else:
                payload, kind = json.dumps(reply.body).encode(), "application/json"
            self.send_response(reply.status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (its timeout): expected

        def _reset(self) -> None:
            # SO_LINGER 0 makes close() send a RST: the client sees "connection reset"
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests read `requests`, not stderr

    return Handler
