"""Outage maths of the availability prober: samples in, outages and per-endpoint summaries out.

Pure: no threads, no network, no clock of its own (the caller passes the monotonic stop time and
a monotonic-to-UTC conversion), so it is tested on synthetic samples. Owns `Sample`, `Outage`,
`EndpointSummary`, `ProbeResult` (the result.json form), `derive_outages` and `summarise`.

Outage estimator. Availability at time t means: a request sent at t succeeds. An outage is a
maximal run of failed samples; its true start lies between the sending of the last ok sample and
of the first failed one, its true end between the sending of the last failed sample and of the
first ok one. The estimator takes the **midpoint of each bracket**. With regular sampling each
bracket is one interval wide, so each end is off by at most half an interval and the duration by
less than one interval, with zero mean error; the classic "first failure to first success"
estimate has the same spread but places the outage late by half an interval on average, and
degrades when ticks were skipped. Send times are used rather than answer times because the first
answer after an outage often carries a new connection's handshake (tens of milliseconds) that
says nothing about when service resumed. An outage still open when sampling stops ends at the
stop time and is marked ongoing; one open at the first sample starts at that sample. Wall times
of outages are derived from the monotonic clock (`to_wall`), so a clock step during the change
window cannot distort a duration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "LOAD_BALANCER",
    "EndpointSummary",
    "Outage",
    "ProbeResult",
    "Sample",
    "derive_outages",
    "summarise",
]

# The first word of every load-balanced endpoint's name (`lb /_ping (fresh)`); a replica's
# endpoints start with `replica`.
LOAD_BALANCER = "lb"


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: when it was sent (monotonic and UTC epoch seconds) and how it went."""

    mono: float
    wall_s: float
    ok: bool
    status: int | None
    latency_s: float
    error: str | None = None

    @property
    def wall(self) -> datetime:
        """When the request was sent, as a UTC datetime."""
        return datetime.fromtimestamp(self.wall_s, UTC)

    @property
    def done(self) -> float:
        """Monotonic time the answer (or the failure) came."""
        return self.mono + self.latency_s

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for charts and raw evidence)."""
        return {
            "time": _iso(self.wall),
            "ok": self.ok,
            "status": self.status,
            "latency_s": round(self.latency_s, 4),
            "error": self.error,
        }


@dataclass(frozen=True)
class Outage:
    """A maximal run of failed samples, with estimated start and end (see the module doc)."""

    start_mono: float
    end_mono: float
    start: datetime
    end: datetime
    failed_samples: int
    ongoing: bool = False

    @property
    def duration_s(self) -> float:
        """The estimated length of the outage in seconds."""
        return max(0.0, self.end_mono - self.start_mono)

    def describe(self) -> str:
        """`3.40 s from 12:00:01.2Z` (`, still down at the end` when it had not ended)."""
        start = self.start.astimezone(UTC).strftime("%H:%M:%S.%f")[:10]
        text = f"{self.duration_s:.2f} s from {start}Z"
        return text + (", still down at the end" if self.ongoing else "")

    def as_dict(self) -> dict[str, Any]:
        """`{"start", "end", "duration_s"}` with UTC ISO 8601 times."""
        return {
            "start": _iso(self.start),
            "end": _iso(self.end),
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(frozen=True)
class EndpointSummary:
    """What one endpoint went through: sample counts and its outages."""

    name: str
    samples: int
    failed_samples: int
    skipped_ticks: int
    outages: tuple[Outage, ...]

    @property
    def longest_outage_s(self) -> float:
        """The longest outage in seconds (0 when there was none)."""
        return max((o.duration_s for o in self.outages), default=0.0)

    @property
    def total_outage_s(self) -> float:
        """The sum of all outages in seconds."""
        return sum(o.duration_s for o in self.outages)

    def as_dict(self) -> dict[str, Any]:
        """`{"samples", "longest_outage_s", "total_outage_s", "outages"}`."""
        return {
            "samples": self.samples,
            "longest_outage_s": round(self.longest_outage_s, 3),
            "total_outage_s": round(self.total_outage_s, 3),
            "outages": [o.as_dict() for o in self.outages],
        }


@dataclass(frozen=True)
class ProbeResult:
    """Everything the prober measured, per endpoint; `as_dict()` is the result.json form."""

    interval_s: float
    started_at: datetime | None
    stopped_at: datetime | None
    endpoints: Mapping[str, EndpointSummary]
    cpu_s: float

    def load_balanced(self) -> dict[str, EndpointSummary]:
        """The load-balanced endpoints (each path, fresh and kept-alive), by name."""
        return {
            name: summary
            for name, summary in self.endpoints.items()
            if name.split(" ", 1)[0] == LOAD_BALANCER
        }

    def as_dict(self) -> dict[str, Any]:
        """`{"interval_s", "endpoints": {NAME: {...}}}`, exactly as result.json holds it."""
        return {
            "interval_s": self.interval_s,
            "endpoints": {name: e.as_dict() for name, e in self.endpoints.items()},
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def derive_outages(
    samples: Sequence[Sample], *, until: float | None, to_wall: Callable[[float], datetime]
) -> list[Outage]:
    """The outages in `samples` (in sending order), with the midpoint estimator.

    `until` is the monotonic stop time that ends an outage still open at the last sample
    (None: end it at the last failed sample's end).
    """
    outages: list[Outage] = []
    last_ok: Sample | None = None
    first_fail: Sample | None = None
    last_fail: Sample | None = None
    count = 0
    for sample in samples:
        if not sample.ok:
            if first_fail is None:
                first_fail = sample
                count = 0
            last_fail = sample
            count += 1
            continue
        if first_fail is not None and last_fail is not None:
            start = _start_estimate(last_ok, first_fail)
            end = max(start, (last_fail.mono + sample.mono) / 2)
            outages.append(Outage(start, end, to_wall(start), to_wall(end), count))
            first_fail = last_fail = None
        last_ok = sample
    if first_fail is not None and last_fail is not None:
        start = _start_estimate(last_ok, first_fail)
        end = max(start, last_fail.done if until is None else max(until, last_fail.done))
        outages.append(Outage(start, end, to_wall(start), to_wall(end), count, ongoing=True))
    return outages


def _start_estimate(last_ok: Sample | None, first_fail: Sample) -> float:
    if last_ok is None:
        return first_fail.mono
    return (last_ok.mono + first_fail.mono) / 2


def summarise(
    name: str,
    samples: Sequence[Sample],
    *,
    until: float | None,
    to_wall: Callable[[float], datetime],
    skipped_ticks: int = 0,
) -> EndpointSummary:
    """Counts and outages of one endpoint's samples."""
    return EndpointSummary(
        name=name,
        samples=len(samples),
        failed_samples=sum(1 for s in samples if not s.ok),
        skipped_ticks=skipped_ticks,
        outages=tuple(derive_outages(samples, until=until, to_wall=to_wall)),
    )
