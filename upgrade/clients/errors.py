"""The client errors of the HTTP transport, and how a requests/urllib3 failure becomes one.

- The exceptions the DTR, UCP and registry clients raise: `TargetUnreachable`,
  `RequestTimedOut`, `TLSVerificationFailed`, `AuthenticationFailed`, `PermissionDenied`,
  `APIError`, `BadResponse` (all `upgrade.errors.HarnessError`, one line naming the fix).
- `translate`: a transport failure (TLS, DNS, refused, timeouts) in the harness's words, read
  from the nested requests/urllib3 exception chain.
- `TransientStatus`, `is_transient` and `summary`: which failed attempts the retry policy
  retries, and how the retry log names them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError

from upgrade.errors import HarnessError

__all__ = [
    "APIError",
    "AuthenticationFailed",
    "BadResponse",
    "PermissionDenied",
    "RequestTimedOut",
    "TLSVerificationFailed",
    "TargetUnreachable",
    "TransientStatus",
    "is_transient",
    "summary",
    "translate",
]


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


class TransientStatus(Exception):
    """An answer with a status worth retrying (5xx); carries the response out of tenacity."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def translate(
    error: requests.RequestException,
    *,
    service: str,
    url_option: str,
    ca_option: str,
    method: str,
    url: str,
    attempts: int,
    timeout: tuple[float, float],
    redact: Callable[[str], str],
    excerpt: Callable[[str], str],
) -> HarnessError:
    """The harness's exception for a request that got no usable answer: TLS verification,
    an unreachable host, a connect or read timeout, or another transport failure."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = _port(url) or (443 if parts.scheme == "https" else 80)
    shown_url = redact(f"{parts.scheme}://{parts.netloc}{parts.path}")
    name = service
    fix = f"check the host and port given with {url_option}"
    if isinstance(error, requests.exceptions.SSLError):
        reason = _tls_reason(error)
        if reason is not None:
            return TLSVerificationFailed(name, shown_url, reason, ca_option)
        return TargetUnreachable(
            name,
            host,
            port,
            f"the TLS handshake failed ({excerpt(str(_root(error)))})",
            f"check that {host}:{port} serves HTTPS",
        )
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return TargetUnreachable(
            name,
            host,
            port,
            f"no answer to the connection within {timeout[0]:g} s ({_attempts(attempts)})",
            fix + " and the firewall between here and there",
        )
    if isinstance(error, requests.exceptions.ReadTimeout):
        return RequestTimedOut(name, method, shown_url, timeout[1], attempts)
    if isinstance(error, requests.exceptions.ConnectionError):
        root = _root(error)
        if _caused_by(error, NameResolutionError):
            reason = "the host name does not resolve (DNS)"
        elif _caused_by(error, ConnectionRefusedError) or "refused" in str(error).lower():
            reason = f"connection refused ({_attempts(attempts)})"
        else:
            reason = f"connection failed ({excerpt(str(root))})"
        return TargetUnreachable(name, host, port, reason, fix)
    return HarnessError(f"{name} request {method} {shown_url} failed: {excerpt(str(error))}; {fix}")


def _port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def is_transient(error: BaseException) -> bool:
    """Whether a failed attempt is worth retrying: 5xx, connection errors (not DNS), timeouts;
    never a TLS failure."""
    if isinstance(error, TransientStatus):
        return True
    if isinstance(error, requests.exceptions.SSLError):
        return False
    if isinstance(error, requests.exceptions.ConnectionError):
        return not _caused_by(error, NameResolutionError)
    return isinstance(error, requests.exceptions.Timeout)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The exceptions nested in a requests/urllib3 error: reasons, arguments and causes."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [getattr(current, "reason", None), current.__cause__, current.__context__]
        nested += list(current.args)
        pending += [item for item in nested if isinstance(item, BaseException)]


def _root(error: BaseException) -> BaseException:
    """The innermost exception of a requests/urllib3 error chain."""
    return list(_chain(error))[-1]


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(item, kind) for item in _chain(error))


def _tls_reason(error: requests.exceptions.SSLError) -> str | None:
    """The verification failure's reason, or None when the handshake failed otherwise."""
    text = str(error)
    for marker in ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "doesn't match"):
        if marker in text:
            root = _root(error)
            detail = getattr(root, "verify_message", None) or (
                "hostname mismatch" if "match" in text else "certificate verify failed"
            )
            return str(detail)
    return None


def summary(error: BaseException | None) -> str:
    """A failed attempt in a few words, for the retry log line."""
    if error is None:
        return "no answer"
    if isinstance(error, TransientStatus):
        return str(error)
    root = _root(error)
    return f"{type(root).__name__}: {root}"
