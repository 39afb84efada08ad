"""SIGTERM and SIGHUP handled like Ctrl-C, so every way a session is told to stop ends the same.

A CI system that times out sends SIGTERM (then SIGKILL after a grace period); a closed terminal
sends SIGHUP. Python's default for both is to die on the spot: no verdict, an unsealed bundle
and, during an upgrade, a bootstrapper nobody stops. `SignalGuard` turns them into the
KeyboardInterrupt that Ctrl-C raises, so the bootstrapper is stopped the same way, the
interrupted attempt is recorded and the bundle is sealed with the INTERRUPTED verdict.

Once the session is sealing its bundle (`shield()`), a further signal is only noted: breaking
off the last writes would lose the evidence the first signal was meant to save.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class SignalGuard:
    """Installs the handlers in the main thread and restores the previous ones."""

    def __init__(self) -> None:
        self.cause: str | None = None
        self.ignored: list[str] = []
        self._previous: dict[signal.Signals, Any] = {}
        self._shielded = False

    def install(self) -> None:
        """Handle SIGTERM and SIGHUP (only possible in the main thread; a no-op elsewhere)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in HANDLED:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Put the previous handlers back (idempotent)."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def interrupted_by_ctrl_c(self) -> None:
        """Note a Ctrl-C unless a signal already explains the interruption."""
        if self.cause is None:
            self.cause = "Ctrl-C"

    def shield(self) -> None:
        """From now on a signal is noted, never raised: the bundle is being sealed. Ctrl-C
        too (SIGINT is Python's own until then): a second or third one used to break off the
        end with tracebacks after the verdict and exit 130."""
        self._shielded = True
        if self._previous and signal.SIGINT not in self._previous:
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._shielded or self.cause is not None:
            # A second signal while the first one's interruption is handled, or while
            # sealing: stopping now would lose what the first one is saving.
            self.ignored.append(name)
            return
        self.cause = name
        raise KeyboardInterrupt(f"stopped by {name}")
