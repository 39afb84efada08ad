"""Local HTTPS servers with scripted answers, for testing the API clients without a lab.

`FakeServer` answers on https://127.0.0.1:PORT; routes are scripted per method and path as a
sequence of replies (the last one repeats) or a function of the request, and every request is
recorded. `FakeClock` moves only when its `sleep` is called, so retry tests never wait.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PASSWORD = "s3cr3t-Pa55word!"
TOKEN = "tok-0123456789abcdef"
UCP_PASSWORD = "ucp-Pa55-w0rd"


@dataclass
class Reply:
    """A scripted answer: dict/list bodies are sent as JSON, str/bytes as they are."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> tuple[bytes, str]:
        """The body's bytes and default content type."""
        if self.body is None:
            return b"", "text/plain"
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class Seen:
    """A request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Seen], Reply]


class FakeServer:
    """An HTTPS server in a thread answering from scripted routes."""

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=body,
                )
                reply = outer.answer(seen)
                payload, content_type = reply.payload()
                self.send_response(reply.status)
                headers = {"Content-Type": content_type, **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815

        class _Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return

        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        if context is not None:
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        scheme = "https" if context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def route(self, method: str, path: str, *replies: Reply | Handler) -> None:
        """Answer `method path` with `replies` in turn (the last repeats), or a handler."""
        script = list(replies)

        def handler(seen: Seen) -> Reply:
            with self._lock:
                step = script.pop(0) if len(script) > 1 else script[0]
            return step(seen) if callable(step) else step

        self.routes[(method, path)] = handler

    def answer(self, seen: Seen) -> Reply:
        """The reply for a request (404 in DTR's error shape when no route matches)."""
        with self._lock:
            self.requests.append(seen)
            handler = self.routes.get((seen.method, seen.path))
        if handler is None:
            return Reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no route"}]})
        return handler(seen)

    def seen(self, method: str, path: str) -> list[Seen]:
        """The requests received for `method path`."""
        with self._lock:
            return [s for s in self.requests if (s.method, s.path) == (method, path)]

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class FakeClock:
    """A monotonic clock that only moves when `sleep` is called."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the wait and move the clock on, instantly."""
        self.sleeps.append(seconds)
        self.now += seconds
