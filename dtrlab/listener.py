"""HTTPS listeners for the lab: keep-alive HTTP/1.1 over real TLS, one thread per connection.

A listener can be stopped and started again on the same port, which is how a replica is really
unavailable while the bootstrapper replaces it: the listening socket is closed (new connections
are refused) and every open connection is reset.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

# A keep-alive connection that sends nothing for this long is closed, so idle clients cannot pin
# threads for ever.
IDLE_TIMEOUT_S = 120.0
_REASONS = {status.value: status.phrase for status in HTTPStatus}
STOP_JOIN_TIMEOUT_S = 5.0


@dataclass
class Request:
    """One parsed HTTP request, independent of the socket it came from."""

    method: str
    target: str
    headers: Message
    body: bytes = b""
    path: str = field(init=False)
    query: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = parts.path or "/"
        self.query = parse_qs(parts.query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        """The value of header `name`, or None."""
        value = self.headers.get(name)
        return None if value is None else str(value)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`, or `default`."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body decoded as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body.decode("utf-8")) if self.body else None

    @property
    def host(self) -> str:
        """The Host header as the client sent it."""
        return self.header("Host") or "127.0.0.1"


@dataclass
class Response:
    """An HTTP response; the listener adds Content-Length and writes it in one send."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = "application/json"


App = Callable[[Request], Response]


def json_response(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A JSON response with `payload` serialised compactly."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, list(headers))


def error_response(
    status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """DTR's (and the registry's) error body: {"errors": [{"code", "message"}]}."""
    return json_response(status, {"errors": [{"code": code, "message": message}]}, headers)


class _Handler(BaseHTTPRequestHandler):
    """Reads requests off one connection and hands them to the listener's app."""

    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    listener: HTTPSListener

    def __init__(self, conn: socket.socket, addr: Any, listener: HTTPSListener) -> None:
        self.listener = listener
        super().__init__(conn, addr, None)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: Any) -> None:
        """Access logs are not wanted: the lab is quiet unless something is wrong."""

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._write(error_response(400, "BAD_REQUEST", "malformed request body"))
            return
        request = Request(self.command, self.path, self.headers, body)
        try:
            response = self.listener.app(request)
        except Exception as exc:
            response = error_response(500, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
        if not self.listener.accepting:
            # The listener went down while the request was in flight: the client sees a reset.
            self.close_connection = True
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        reason = _REASONS.get(response.status, "")
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        if response.content_type and response.status not in (204, 304):
            lines.append(f"Content-Type: {response.content_type}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if response.status not in (204, 304):
            lines.append(f"Content-Length: {len(response.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        send_body = self.command != "HEAD" and response.status not in (204, 304)
        self.wfile.write(head + response.body if send_body else head)

    # http.server finds handlers by these names.
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch  # noqa: N815


class HTTPSListener:
    """An HTTPS listener on 127.0.0.1 that can be stopped and restarted on the same port."""

    def __init__(
        self,
        name: str,
        app: App,
        ssl_context: ssl.SSLContext,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.name = name
        self.app = app
        self.host = host
        self._ssl_context = ssl_context
        self._port = port
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._connections: dict[threading.Thread, socket.socket] = {}
        self.accepting = False
        self._closed = False

    @property
    def port(self) -> int:
        """The bound port (fixed after the first start, so a restart reuses it)."""
        return self._port

    @property
    def url(self) -> str:
        """https://127.0.0.1:PORT."""
        return f"https://{self.host}:{self._port}"

    def start(self) -> None:
        """Bind (the same port as before, if any), listen and accept in a background thread."""
        with self._lock:
            if self._sock is not None or self._closed:
                return
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self._port))
                sock.listen(128)
            except OSError:
                sock.close()
                raise
            self._port = sock.getsockname()[1]
            self._sock = sock
            self.accepting = True
            self._accept_thread = threading.Thread(
                target=self._accept_loop, args=(sock,), name=f"{self.name}-accept", daemon=True
            )
            self._accept_thread.start()

    def close(self) -> None:
        """Stop for good: a later start() (a swap finishing as the lab shuts down) does nothing."""
        with self._lock:
            self._closed = True
        self.stop()

    def stop(self) -> None:
        """Close the listening socket and reset every open connection; wait for the threads."""
        with self._lock:
            sock, self._sock = self._sock, None
            accept_thread, self._accept_thread = self._accept_thread, None
            self.accepting = False
            connections = list(self._connections.items())
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if accept_thread is not None:
            accept_thread.join(STOP_JOIN_TIMEOUT_S)
        for _thread, conn in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        for thread, _conn in connections:
            thread.join(STOP_JOIN_TIMEOUT_S)

    def _accept_loop(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, addr = sock.accept()
            except OSError:
                return
            with self._lock:
                if not self.accepting:
                    conn.close()
                    return
                thread = threading.Thread(
                    target=self._serve, args=(conn, addr), name=f"{self.name}-conn", daemon=True
                )
                self._connections[thread] = conn
            thread.start()

    def _serve(self, conn: socket.socket, addr: Any) -> None:
        me = threading.current_thread()
        tls: ssl.SSLSocket | None = None
        try:
            conn.settimeout(IDLE_TIMEOUT_S)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self._ssl_context.wrap_socket(conn, server_side=True)
            with self._lock:
                if me in self._connections:
                    self._connections[me] = tls
            if not self.accepting:
                return
            _Handler(tls, addr, self)
        except (OSError, ValueError):
            # Handshake failures, resets and shutdowns by stop() all end the connection quietly.
            pass
        finally:
            with self._lock:
                self._connections.pop(me, None)
            for s in (tls, conn):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()
