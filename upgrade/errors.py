"""The harness's own exceptions: one line each, naming what to fix, never holding a secret.

`str(exc)` is exactly what the harness prints to the operator, so every message is complete on
its own: which service, which endpoint, what it answered, and which option or variable to change.
"""

from __future__ import annotations

__all__ = [
    "APIError",
    "AuthenticationFailed",
    "BadResponse",
    "HarnessError",
    "MissingCredentials",
    "PermissionDenied",
    "RequestTimedOut",
    "TLSVerificationFailed",
    "TargetUnreachable",
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


class TargetUnreachable(HarnessError):
    """The host does not resolve, refuses the connection, or does not answer the connect."""

    def __init__(self, service: str, host: str, port: int, reason: str, fix: str) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"cannot reach {service} at {host}:{port}: {reason}; {fix}")


class RequestTimedOut(HarnessError):
    """The connection was made but the answer did not come within the read timeout."""

    def __init__(
        self, service: str, method: str, url: str, read_timeout: float, attempts: int
    ) -> None:
        self.service = service
        self.method = method
        self.url = url
        super().__init__(
            f"{service} did not answer {method} {url} within the {read_timeout:g} s read timeout "
            f"({_attempts(attempts)}); check the replica's load and health, or raise the read "
            "timeout"
        )


class TLSVerificationFailed(HarnessError):
    """The server certificate did not verify against the configured CA bundle."""

    def __init__(self, service: str, url: str, reason: str, ca_option: str) -> None:
        self.service = service
        self.url = url
        self.ca_option = ca_option
        super().__init__(
            f"the TLS certificate of {service} at {url} did not verify ({reason}); pass the CA "
            f"that signed it with {ca_option} FILE, or --insecure-tls to skip verification "
            "(anyone on the network path can then impersonate the server)"
        )


class AuthenticationFailed(HarnessError):
    """The service answered 401: the credentials taken from the environment were rejected."""

    def __init__(self, service: str, used: str, check: str, detail: str = "") -> None:
        self.service = service
        suffix = f": {detail}" if detail else ""
        super().__init__(
            f"{service} rejected the credentials of {used} (401{suffix}); check {check}"
        )


class PermissionDenied(HarnessError):
    """The service answered 403: the account is known but lacks the rights for the call."""

    def __init__(self, service: str, method: str, path: str, account: str, detail: str) -> None:
        self.service = service
        self.method = method
        self.path = path
        suffix = f": {detail}" if detail else ""
        super().__init__(
            f"{service} refused {method} {path} for {account} (403{suffix}); use an account "
            f"with admin rights on {service}"
        )


class APIError(HarnessError):
    """Any other unexpected HTTP status, with the service's own error code and message."""

    def __init__(
        self,
        service: str,
        method: str,
        path: str,
        status: int,
        *,
        code: str = "",
        detail: str = "",
        attempts: int = 1,
    ) -> None:
        self.service = service
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.detail = detail
        what = " ".join(part for part in (code, detail) if part) or "no error detail"
        tries = f" ({_attempts(attempts)})" if attempts > 1 else ""
        hint = (
            f"check the health of {service} (its logs and /_ping)"
            if status >= 500
            else "check the request's target and parameters"
        )
        super().__init__(
            f"{service} answered {method} {path} with HTTP {status}{tries}: {what}; {hint}"
        )


class BadResponse(HarnessError):
    """The answer was not the JSON (or document) the endpoint is documented to return."""

    def __init__(self, service: str, endpoint: str, problem: str, excerpt: str) -> None:
        self.service = service
        self.endpoint = endpoint
        self.problem = problem
        shown = f": {excerpt!r}" if excerpt else ""
        super().__init__(
            f"{service} answered {endpoint} with {problem}{shown}; check that the URL points at "
            f"{service} itself and not at a proxy or another service"
        )


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"
