"""Availability prober: samples DTR's endpoints during the upgrade and measures every outage.

The seed promises "at most a few seconds of interruption"; the prober measures it instead. Each
target (the load-balanced `/_ping`, an authenticated registry `/v2/`, every replica's `/_ping`)
is sampled in its own thread on a fixed grid of deadlines (default every 0.1 s), over a **fresh**
connection (a new TCP connection and TLS handshake per sample: can a new client get in?) or a
**kept-alive** one (one connection reused while it lasts: do existing clients survive?).

Every sample is kept (monotonic time, UTC wall time, outcome, HTTP status, latency, error). A
sample is ok when the answer is 2xx, and for `/_ping` when it is 200 with `"Healthy": true`.
Registry bearer tokens are short-lived (distribution's default is 60 s, fidelity-review.md 1), so
a 401 from `/v2/` is first answered as a registry client answers it: the target's `renew` fetches
a new token and the sample is sent once more; only a 401 to the renewed token, or a token
service that gives none, counts as an outage. An expired token never does.
Connect and read timeouts are short (0.5 s and 1 s by default) so a
hung endpoint shows as an outage rather than as a slow sample.

Scheduling: deadlines are `start + offset + k * interval`; a sample that overruns the next
deadline (a hung endpoint) makes the thread skip the missed ticks (they are counted, never
queued), so requests never pile up. The threads of different targets are spread over the
interval so they do not all fire at once.

This module owns the sampling: the sampler threads and `Prober`. What is probed (`ProbeTarget`,
`endpoint_targets`) is in `upgrade.procedure.probe_targets`. The outages are derived from the
samples by `upgrade.procedure.outages`, whose docstring describes the estimator.

Connections use `http.client` with one shared `ssl.SSLContext` built once (the CA given by
`verify`, hostname checked): at 10 samples per second per target this keeps the prober to a few
percent of one core, where building a requests session or TLS context per sample would not.
"""

from __future__ import annotations

import http.client
import json
import math
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit

from upgrade.errors import HarnessError, one_line
from upgrade.procedure.outages import ProbeResult, Sample, summarise
from upgrade.procedure.probe_targets import Check, ProberError, ProbeTarget

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_INTERVAL_S",
    "DEFAULT_READ_TIMEOUT_S",
    "Prober",
    "ProberError",
]

DEFAULT_INTERVAL_S: Final = 0.1
DEFAULT_CONNECT_TIMEOUT_S: Final = 0.5
DEFAULT_READ_TIMEOUT_S: Final = 1.0
MAX_BODY_BYTES: Final = 65536
USER_AGENT: Final = "dtr-upgrade-harness-prober"
# stop() waits this long beyond one sample's worst case (connect + read timeout) for threads.
STOP_MARGIN_S: Final = 1.0

Verify = bool | str | ssl.SSLContext


def _ssl_context(verify: Verify) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        return ssl.create_default_context()
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise ProberError(
            f"cannot load the CA bundle {verify} for the prober: {exc}; pass a readable PEM "
            "file with --dtr-ca"
        ) from None


class _Worker:
    """Samples one target; owns its connection (only its own thread touches it)."""

    def __init__(self, prober: Prober, target: ProbeTarget, offset: float) -> None:
        self.prober = prober
        self.target = target
        self.offset = offset
        parts = urlsplit(target.url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.samples: list[Sample] = []
        self.skipped = 0
        self.cpu_s = 0.0
        self.thread = threading.Thread(target=self.loop, name=f"prober {target.name}", daemon=True)
        self._conn: http.client.HTTPConnection | None = None

    def loop(self) -> None:
        prober = self.prober
        interval = prober.interval
        origin = prober.origin + self.offset
        tick = 0
        try:
            while not prober.stopping.is_set():
                delay = origin + tick * interval - prober.clock()
                if delay > 0 and prober.stopping.wait(delay):
                    break
                self.samples.append(self.sample())
                behind = math.floor((prober.clock() - origin) / interval) + 1
                tick += 1
                if behind > tick:
                    self.skipped += behind - tick
                    tick = behind
                self.cpu_s = time.thread_time()
        finally:
            self._close()
            self.cpu_s = time.thread_time()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self) -> http.client.HTTPConnection:
        prober = self.prober
        conn: http.client.HTTPConnection
        if self.https:
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=prober.connect_timeout, context=prober.ssl_context
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=prober.connect_timeout)
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.settimeout(prober.read_timeout)
        except BaseException:
            conn.close()
            raise
        return conn

    def sample(self) -> Sample:
        prober = self.prober
        target = self.target
        sent = prober.clock()
        wall_s = prober.wall().timestamp()
        status: int | None = None
        phase = "connect"
        try:
            headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
            if not target.keep_alive:
                headers["Connection"] = "close"
            if target.headers is not None:
                phase = "headers"
                headers.update(target.headers())
            for attempt in (1, 2):
                if self._conn is None:
                    phase = "connect"
                    self._conn = self._connect()
                phase = "read"
                self._conn.request("GET", self.path, headers=headers)
                response = self._conn.getresponse()
                body = response.read(MAX_BODY_BYTES + 1)
                status = response.status
                if not target.keep_alive or response.will_close or len(body) > MAX_BODY_BYTES:
                    self._close()
                if status != 401 or attempt == 2 or target.renew is None or not target.headers:
                    break
                phase = "renew"  # an expired token: renew it and ask again
                target.renew()
                headers.update(target.headers())
            error = _judge(target.check, response.status, body)
        except Exception as exc:  # every failure of a sample is data, not a crash
            self._close()
            error = prober.redact(_describe(exc, phase, prober))
        return Sample(sent, wall_s, error is None, status, prober.clock() - sent, error)


def _judge(check: Check, status: int, body: bytes) -> str | None:
    if not 200 <= status < 300:
        reason = http.client.responses.get(status, "")
        return one_line(f"HTTP {status} {reason}")
    if check == "status":
        return None
    if status != 200:
        return f"HTTP {status} (a healthy /_ping answers 200)"
    try:
        healthy = json.loads(body.decode("utf-8")).get("Healthy")
    except (ValueError, AttributeError):
        return "HTTP 200 but the body is not /_ping's JSON"
    return None if healthy is True else 'HTTP 200 without "Healthy": true'


def _describe(exc: Exception, phase: str, prober: Prober) -> str:
    if phase == "headers":
        return f"the authentication header provider failed: {type(exc).__name__}"
    if phase == "renew":
        detail = str(exc) if isinstance(exc, HarnessError) else type(exc).__name__
        return one_line(f"HTTP 401 and the token renewal failed: {detail}")
    if isinstance(exc, TimeoutError):
        if phase == "connect":
            return f"no connection within {prober.connect_timeout:g} s"
        return f"no answer within {prober.read_timeout:g} s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return one_line(f"TLS verification failed: {exc.verify_message or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.RemoteDisconnected | ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "connection closed by the server without an answer"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    return one_line(f"{type(exc).__name__}: {exc}") or type(exc).__name__


class Prober:
    """Samples `targets` in background threads from `start()` to `stop()`.

    `verify` is True (system CAs), a CA bundle path, an `ssl.SSLContext`, or False (insecure,
    an explicit operator choice). `redact` scrubs known secrets from error texts. `clock` is
    monotonic and drives the schedule; `wall` gives the UTC time `start()` anchors to.
    """

    def __init__(
        self,
        targets: Sequence[ProbeTarget],
        interval: float = DEFAULT_INTERVAL_S,
        *,
        verify: Verify = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout: float = DEFAULT_READ_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        if not targets:
            raise ProberError("the prober needs at least one target")
        names = [t.name for t in targets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ProberError(f"probe target names must be unique: {', '.join(duplicates)}")
        if not 0.01 <= interval <= 60:
            raise ProberError(
                f"the probe interval must be between 0.01 and 60 s (--probe-interval), got "
                f"{interval:g}"
            )
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ProberError("the prober's connect and read timeouts must be positive")
        self.targets = tuple(targets)
        self.interval = float(interval)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.clock = clock
        self.wall = wall
        self.redact = redact
        self.ssl_context = _ssl_context(verify)
        self.stopping = threading.Event()
        self.origin = 0.0
        self._anchor: tuple[float, datetime] | None = None
        self._stopped_at: float | None = None
        self._lock = threading.Lock()
        spread = self.interval / len(self.targets)
        self._workers = [_Worker(self, t, i * spread) for i, t in enumerate(self.targets)]

    def start(self) -> None:
        """Start sampling (once); the first samples go out at once."""
        with self._lock:
            if self._anchor is not None:
                raise ProberError("this prober was already started; create a new one")
            self.origin = self.clock()
            self._anchor = (self.origin, self.wall())
            for worker in self._workers:
                worker.thread.start()

    def stop(self) -> None:
        """Stop sampling and wait (bounded) for the threads; connections are closed by them."""
        with self._lock:
            if self._anchor is None or self._stopped_at is not None:
                return
            self._stopped_at = self.clock()
            self.stopping.set()
        deadline = time.monotonic() + self.connect_timeout + self.read_timeout + STOP_MARGIN_S
        for worker in self._workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def running(self) -> bool:
        """Whether sampling is under way."""
        return self._anchor is not None and self._stopped_at is None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def to_wall(self, mono: float) -> datetime:
        """The UTC time of a monotonic instant, anchored at `start()`."""
        if self._anchor is None:
            return self.wall()
        origin, wall = self._anchor
        return wall + timedelta(seconds=mono - origin)

    def samples(self, name: str) -> list[Sample]:
        """A copy of every sample of endpoint `name` so far, in sending order."""
        for worker in self._workers:
            if worker.target.name == name:
                return list(worker.samples)
        raise ProberError(f"no probe target is named {name!r}")

    def latest(self) -> dict[str, Sample | None]:
        """The most recent sample of each endpoint (for live progress)."""
        return {w.target.name: (w.samples[-1] if w.samples else None) for w in self._workers}

    @property
    def cpu_s(self) -> float:
        """CPU time the sampling threads have used (thread time, summed)."""
        return sum(worker.cpu_s for worker in self._workers)

    def result(self) -> ProbeResult:
        """Per-endpoint outages so far; an outage open now (or at stop) is ongoing."""
        until = self._stopped_at if self._stopped_at is not None else self.clock()
        endpoints = {
            w.target.name: summarise(
                w.target.name,
                list(w.samples),
                until=until,
                to_wall=self.to_wall,
                skipped_ticks=w.skipped,
            )
            for w in self._workers
        }
        return ProbeResult(
            interval_s=self.interval,
            started_at=None if self._anchor is None else self._anchor[1],
            stopped_at=None if self._stopped_at is None else self.to_wall(self._stopped_at),
            endpoints=endpoints,
            cpu_s=self.cpu_s,
        )
