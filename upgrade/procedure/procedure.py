"""The upgrade procedure: run the bootstrapper for each hop, re-run it to resume on failure.

The guide: "If anything fails or the upgrade is interrupted for any reason, you can re-run the
upgrade command and it will resume from where it left off." So a failed attempt is re-run up to
`attempts` times with backoff, every attempt is recorded, the whole procedure is bounded by
`timeout_s`, and an interruption (Ctrl-C) stops the bootstrapper and is recorded as such, the
interrupted attempt included. Output that could not be written (a broken terminal pipe, a full
disk under upgrade.log) is listed in the record; it never ends the upgrade.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from upgrade.evidence.times import iso, utc_now
from upgrade.procedure.bootstrapper import AttemptResult, BootstrapperRequest, ImageInfo
from upgrade.procedure.executor import Executor
from upgrade.rules.versions import Version
from upgrade.terminal import OutputProblem

State = Literal["not-run", "passed", "failed", "interrupted"]


@dataclass
class HopRecord:
    """One hop of the plan (`from` -> `to`) and every attempt made at it."""

    from_version: str
    to_version: str
    image: ImageInfo | None = None
    attempts: list[AttemptResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The hop in result.json form."""
        return {
            "from": self.from_version,
            "to": self.to_version,
            "image": self.image.image if self.image else None,
            "image_digest": self.image.digest if self.image else None,
            "attempts": [
                {
                    "exit_code": a.exit_code,
                    "started_at": iso(a.started_at),
                    "duration_s": a.duration_s,
                    "fatal": a.fatal,
                    "interrupted": a.interrupted,
                    "timed_out": a.timed_out,
                    "output_error": a.output_error,
                }
                for a in self.attempts
            ],
        }


@dataclass
class UpgradeRecord:
    """The whole upgrade: its hops, how it ended, how long it took, what could not be written."""

    state: State = "not-run"
    message: str = ""
    hops: list[HopRecord] = field(default_factory=list)
    started_at: datetime | None = None
    duration_s: float = 0.0
    output_problems: list[OutputProblem] = field(default_factory=list)

    @property
    def image(self) -> ImageInfo | None:
        """The bootstrapper of the last hop (the target version's)."""
        images = [hop.image for hop in self.hops if hop.image is not None]
        return images[-1] if images else None

    def as_dict(self) -> dict[str, Any]:
        """result.json's `upgrade` object."""
        image = self.image
        return {
            "state": self.state,
            "message": self.message,
            "image": image.image if image else None,
            "image_digest": image.digest if image else None,
            "image_digest_source": image.digest_source if image else None,
            "started_at": iso(self.started_at),
            "duration_s": round(self.duration_s, 3),
            "hops": [hop.as_dict() for hop in self.hops],
            "output_problems": [problem.as_dict() for problem in self.output_problems],
        }


@dataclass(frozen=True)
class Limits:
    """How hard the procedure tries: attempts per hop, backoff between them, total time."""

    attempts: int = 3
    timeout_s: float = 3600.0
    backoff_s: float = 10.0
    max_backoff_s: float = 60.0

    def backoff(self, failed_attempts: int) -> float:
        """Seconds to wait after the n-th failed attempt (doubling, capped)."""
        return float(min(self.backoff_s * 2 ** (failed_attempts - 1), self.max_backoff_s))


class UpgradeProcedure:
    """Runs the hops of a plan, resuming failed attempts by re-running the bootstrapper.

    `executor_for(version)` gives the executor that runs that version's bootstrapper (one
    Docker executor serves every hop; the lab has one program per version).
    """

    def __init__(
        self,
        executor_for: Callable[[Version], Executor],
        request_for: Callable[[Version], BootstrapperRequest],
        limits: Limits,
        *,
        on_line: Callable[[str], None],
        on_event: Callable[[str], None],
        between_hops: Callable[[Version], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.executor_for = executor_for
        self.executor: Executor | None = None
        self.request_for = request_for
        self.limits = limits
        self.on_line = on_line
        self.on_event = on_event
        self.between_hops = between_hops
        self.clock = clock
        self.sleep = sleep
        self.record = UpgradeRecord()

    def run(self, path: tuple[Version, ...]) -> UpgradeRecord:
        """Upgrade along `path` (current first); KeyboardInterrupt is recorded, then re-raised."""
        record = self.record
        record.started_at = utc_now()
        began = self.clock()
        deadline = began + self.limits.timeout_s
        try:
            for index, (source, target) in enumerate(itertools.pairwise(path)):
                if index:
                    assert self.between_hops is not None
                    self.on_event(f"hop {index}: waiting for the cluster after {source}")
                    self.between_hops(source)
                hop = HopRecord(str(source), str(target))
                record.hops.append(hop)
                if not self._run_hop(hop, target, deadline):
                    break
            else:
                record.state = "passed"
                record.message = f"upgraded to {path[-1]}"
        except KeyboardInterrupt:
            if self.executor is not None:
                self.executor.stop()
            record.state = "interrupted"
            record.message = "the bootstrapper was stopped before it finished"
            raise
        finally:
            record.duration_s = self.clock() - began
        return record

    def _run_hop(self, hop: HopRecord, target: Version, deadline: float) -> bool:
        request = self.request_for(target)
        self.on_event(f"preparing bootstrapper {request.image}")
        executor = self.executor = self.executor_for(target)
        hop.image = executor.prepare(request)
        for number in range(1, self.limits.attempts + 1):
            remaining = deadline - self.clock()
            if remaining <= 0:
                return self._fail(
                    "timeout",
                    f"--upgrade-timeout of {self.limits.timeout_s:g} s was reached "
                    f"before attempt {number}; re-run to resume",
                )
            self.on_event(
                f"{hop.from_version} -> {hop.to_version}: attempt {number}/{self.limits.attempts}"
            )
            self.on_line(f"--- attempt {number} of {hop.from_version} -> {hop.to_version} ---")
            try:
                result = executor.run(request, self.on_line, remaining)
            except BaseException:
                # Ctrl-C (or an error) ended the attempt: it is evidence all the same.
                if executor.last_result is not None:
                    hop.attempts.append(executor.last_result)
                raise
            hop.attempts.append(result)
            self.on_event(f"attempt {number} {result.describe()}")
            if result.ok:
                return True
            if result.interrupted:
                self.record.state = "interrupted"
                self.record.message = f"attempt {number} was {result.describe()}"
                return False
            if result.timed_out:
                return self._fail("timeout", f"attempt {number} {result.describe()}")
            if number < self.limits.attempts:
                wait = min(self.limits.backoff(number), max(deadline - self.clock(), 0.0))
                self.on_event(f"re-running in {wait:.0f} s to resume (the upgrade is resumable)")
                self.sleep(wait)
        last = hop.attempts[-1]
        return self._fail(
            "failed",
            f"{hop.from_version} -> {hop.to_version} failed {len(hop.attempts)} time(s); last "
            f"attempt {last.describe()}",
        )

    def _fail(self, kind: str, message: str) -> bool:
        self.record.state = "failed"
        self.record.message = message if kind != "timeout" else f"timed out: {message}"
        return False
