"""An HTTPS endpoint that can be switched off and on, for measuring the prober against real TLS.

`SwitchableServer` answers on https://localhost:PORT the way a DTR does for the prober's
targets: `/_ping` with `{"Healthy": ..., "Error": ""}` and `/v2/` with 200 for the expected
`Authorization` (401 otherwise). `down()` closes the listener and resets every open connection;
`up()` listens again on the same port. Used by tests/unit/test_prober.py and
benchmarks/bench_prober.py.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import trustme

REGISTRY_AUTHORIZATION = "Bearer good-token"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        owner: SwitchableServer = self.server
        if owner.hang_s:
            owner.released.wait(owner.hang_s)
        if self.path == "/v2/":
            good = self.headers.get("Authorization") == owner.registry_authorization
            status, body = (200, b"{}") if good else (401, b'{"errors":[]}')
        else:
            status = 200
            body = json.dumps({"Healthy": owner.healthy, "Error": ""}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SwitchableServer:
    """An HTTPS server on 127.0.0.1 that goes down (listener closed, connections reset) and up.

    `healthy` is what `/_ping` reports; with `hang_s`, every answer waits that long (or until
    `close()`), like a replica that accepts connections but does not answer.
    """

    def __init__(
        self, context: ssl.SSLContext, registry_authorization: str = REGISTRY_AUTHORIZATION
    ) -> None:
        self.context = context
        self.registry_authorization = registry_authorization
        self.port = 0
        self.healthy = True
        self.hang_s = 0.0
        self.released = threading.Event()
        self._listener: socket.socket | None = None
        self._accept: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def url(self, path: str = "") -> str:
        return f"https://localhost:{self.port}{path}"

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accept = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        self._accept.start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._accept is not None:
            self._accept.join(5)

    def close(self) -> None:
        """Release hanging answers, go down and wait for the connection threads."""
        self.released.set()
        self.down()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        # wrap_socket takes the file descriptor over, so the TLS socket is what down() resets.
        raw.settimeout(5)
        try:
            conn = self.context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        except OSError:
            raw.close()
            return
        with self._lock:
            self._connections.add(conn)
        try:
            with conn:
                conn.do_handshake()
                _Handler(conn, ("127.0.0.1", 0), self)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(conn)


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate from `ca` for localhost and 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts `ca`."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context
