"""A scripted Docker engine API on a unix socket, for the docker SDK to talk to for real.

It answers the few calls the harness makes to look for running containers: `/version`,
`/containers/json` and `/containers/<id>/json`; every other path is a 404.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

API_VERSION = "1.41"


@dataclass
class FakeContainer:
    """One container as the engine's inspection shows it."""

    id: str
    name: str
    image: str
    path: str
    args: list[str]
    env: list[str] = field(default_factory=list)
    running: bool = True
    started_at: str = "2026-03-04T05:06:07.123456789Z"
    # The image as listed when it differs (a tag moved on: the engine lists the image ID).
    listed_image: str | None = None
    # Listed, but gone by the time it is inspected.
    vanished: bool = False

    def listed(self) -> dict[str, Any]:
        """The container in `/containers/json` form."""
        return {
            "Id": self.id,
            "Names": [f"/{self.name}"],
            "Image": self.listed_image or self.image,
            "Command": " ".join([self.path, *self.args]),
            "State": "running" if self.running else "exited",
        }

    def inspected(self) -> dict[str, Any]:
        """The container in `/containers/<id>/json` form."""
        return {
            "Id": self.id,
            "Name": f"/{self.name}",
            "Path": self.path,
            "Args": self.args,
            "Config": {"Image": self.image, "Env": self.env},
            "State": {"Running": self.running, "StartedAt": self.started_at},
        }


@dataclass
class EngineScript:
    """What the fake engine answers: its version and its containers."""

    version: str = "20.10.24"
    containers: list[FakeContainer] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    script: EngineScript


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        script = self.server.script
        path = urlsplit(self.path).path
        script.requests.append(path)
        parts = path.strip("/").split("/")
        if parts and parts[0].startswith("v1."):
            parts = parts[1:]
        if parts == ["version"]:
            self._answer(200, {"ApiVersion": API_VERSION, "Version": script.version})
        elif parts == ["containers", "json"]:
            self._answer(200, [c.listed() for c in script.containers if c.running])
        elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
            found = [c for c in script.containers if c.id == parts[1] and not c.vanished]
            if found:
                self._answer(200, found[0].inspected())
            else:
                self._answer(404, {"message": f"No such container: {parts[1]}"})
        else:
            self._answer(404, {"message": "page not found"})

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self) -> str:
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `EngineScript.requests` instead."""


@contextmanager
def fake_engine(socket_path: Path, script: EngineScript) -> Iterator[str]:
    """Serve `script` on `socket_path`; yields the `DOCKER_HOST` value that reaches it."""
    server = _Server(str(socket_path), _Handler)
    server.script = script
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="fake-engine", daemon=True
    )
    thread.start()
    try:
        yield f"unix://{socket_path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
