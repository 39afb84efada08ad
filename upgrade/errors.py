"""The harness's own exceptions: one line each, naming what to fix, never holding a secret.

`str(exc)` is exactly what the harness prints to the operator, so every message is complete on
its own: which service, which endpoint, what it answered, and which option or variable to change.
"""

from __future__ import annotations

__all__ = [
    "HarnessError",
    "MissingCredentials",
]


def one_line(text: str) -> str:
    """Collapse whitespace (newlines included) so a message always prints as one line."""
    return " ".join(text.split())


class HarnessError(Exception):
    """Base of every error the harness reports to the operator as a one-line message."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    @property
    def message(self) -> str:
        """The one-line message (the same as `str(exc)`)."""
        return str(self.args[0]) if self.args else ""


class MissingCredentials(HarnessError):
    """A credential environment variable the session needs is not set."""

    def __init__(self, service: str, variables: str) -> None:
        self.service = service
        self.variables = variables
        super().__init__(
            f"{service} credentials are missing: set {variables} in the environment "
            "(secrets are never read from the command line)"
        )
