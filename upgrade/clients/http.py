"""The HTTP transport shared by the DTR, UCP and registry clients: sessions, TLS, retries.

- `new_session`: a requests session with TLS verified by default and a connection pool sized
  for the concurrent inventory.
- `RetryPolicy`: bounded retries with exponential backoff and jitter (tenacity) for idempotent
  calls on connection errors, read timeouts and 5xx; never on 4xx or on TLS verification
  errors; bounded in attempts and in total time; sleep and clock are injectable.
- `ServiceSession`: one service's base URL, session, timeouts and retry policy; sends requests
  and translates every failure into the harness's own exceptions (`upgrade.errors`), with any
  known secret redacted from what they say.
- JSON answers are read by `upgrade.clients.json.JsonReader`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning, NameResolutionError

from upgrade.clients.json import JsonReader
from upgrade.clients.secrets import Credentials, Redactor
from upgrade.errors import (
    APIError,
    AuthenticationFailed,
    BadResponse,
    HarnessError,
    PermissionDenied,
    RequestTimedOut,
    TargetUnreachable,
    TLSVerificationFailed,
    one_line,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "Ping",
    "RetryPolicy",
    "Service",
    "ServiceSession",
    "Timeout",
    "Verify",
    "excerpt",
    "new_session",
    "tls_verify",
    "url_problem",
]

log = logging.getLogger(__name__)

Timeout = tuple[float, float]
"""(connect, read) timeouts in seconds."""

Verify = bool | str
"""What requests takes as `verify`: True (system CAs), a CA bundle path, or False (insecure)."""

DEFAULT_TIMEOUT: Timeout = (5.0, 30.0)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
EXCERPT_CHARS = 160


@dataclass(frozen=True)
class Service:
    """How a service is named in messages and which options fix its connection problems."""

    name: str
    ca_option: str
    url_option: str


DTR = Service("DTR", ca_option="--dtr-ca", url_option="--target")
UCP = Service("UCP", ca_option="--ucp-ca", url_option="--ucp-url")
REGISTRY = Service("DTR registry", ca_option="--dtr-ca", url_option="--target")


@dataclass(frozen=True)
class Ping:
    """A health endpoint's answer: 200 is healthy; another status is a result, not an error."""

    healthy: bool
    error: str
    status: int


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter for idempotent calls.

    A call is tried at most `attempts` times and never starts a retry that would end its wait
    after `total_s` seconds from the first try. `sleep` and `clock` are injectable so tests
    never wait for real.
    """

    attempts: int = 4
    total_s: float = 60.0
    initial_s: float = 0.5
    max_wait_s: float = 8.0
    jitter_s: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise HarnessError(f"retry attempts must be at least 1, not {self.attempts}")
        if self.total_s <= 0:
            raise HarnessError(f"retry time budget must be positive, not {self.total_s}")

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt only."""
        return cls(attempts=1)

    def retrying(
        self,
        *,
        retry_if: Callable[[BaseException], bool],
        before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
    ) -> tenacity.Retrying:
        """A tenacity controller for one call, its time budget starting now."""
        wait = tenacity.wait_exponential(
            multiplier=self.initial_s, max=self.max_wait_s
        ) + tenacity.wait_random(0, self.jitter_s)
        return tenacity.Retrying(
            stop=tenacity.stop_any(
                tenacity.stop_after_attempt(self.attempts),
                _StopAtDeadline(self.clock, self.clock() + self.total_s),
            ),
            wait=wait,
            retry=tenacity.retry_if_exception(retry_if),
            sleep=self.sleep,
            reraise=True,
            before_sleep=before_sleep,
        )


class _StopAtDeadline(tenacity.stop.stop_base):
    """Stop when the coming wait would end after the deadline (on the injectable clock)."""

    def __init__(self, clock: Callable[[], float], deadline: float) -> None:
        self._clock = clock
        self._deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self._clock() + retry_state.upcoming_sleep > self._deadline


def tls_verify(ca: str | PathLike[str] | None, *, insecure: bool, option: str) -> Verify:
    """Resolve `--*-ca FILE` and `--insecure-tls` into what requests takes as `verify`.

    Raises `HarnessError` for a CA file that does not exist or for both options at once.
    """
    if insecure and ca is not None:
        raise HarnessError(
            f"{option} and --insecure-tls contradict each other; pass only one of them"
        )
    if insecure:
        return False
    if ca is None:
        return True
    path = Path(ca)
    if not path.is_file():
        raise HarnessError(f"{option} {path}: no such file; pass the PEM CA bundle of the server")
    return str(path)


def new_session(verify: Verify = True, *, pool_size: int = 32) -> requests.Session:
    """A session verifying TLS as given, with a connection pool of `pool_size` per host.

    Retries are not done by urllib3 (`max_retries=0`): `RetryPolicy` decides them, so they are
    bounded in time and limited to idempotent calls.
    """
    session = requests.Session()
    session.verify = verify
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class _TransientStatus(Exception):
    """An answer with a status worth retrying (5xx); carries the response out of tenacity."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _Attempts:
    def __init__(self) -> None:
        self.count = 0


_insecure_lock = threading.Lock()
_insecure_users = 0
_insecure_context: contextlib.AbstractContextManager[object] | None = None


@contextlib.contextmanager
def _insecure_warning_suppressed() -> Iterator[None]:
    """Silence urllib3's InsecureRequestWarning while any insecure request is in flight.

    `--insecure-tls` is the operator's explicit choice and is reported once, by the plugin; a
    warning per request would be noise (and an error under `filterwarnings = error`). The filter
    is installed once for all concurrent insecure requests, so threads cannot restore each
    other's filters out of order.
    """
    global _insecure_users, _insecure_context
    with _insecure_lock:
        if _insecure_users == 0:
            context = warnings.catch_warnings()
            context.__enter__()
            warnings.simplefilter("ignore", InsecureRequestWarning)
            _insecure_context = context
        _insecure_users += 1
    try:
        yield
    finally:
        with _insecure_lock:
            _insecure_users -= 1
            if _insecure_users == 0 and _insecure_context is not None:
                _insecure_context.__exit__(None, None, None)
                _insecure_context = None


class ServiceSession:
    """Sends one service's requests and turns every failure into a `HarnessError`.

    `credentials` name the environment variables in 401/403 messages (and are registered with
    the redactor); authentication itself is set up by the client on `session`.
    """

    def __init__(
        self,
        service: Service,
        base_url: str,
        credentials: Credentials | None,
        *,
        verify: Verify = True,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        redactor: Redactor | None = None,
        pool_size: int = 32,
    ) -> None:
        problem = url_problem(base_url)
        if problem is not None:
            raise HarnessError(
                f"{base_url!r} is not a URL of {service.name} ({problem}); pass "
                f"https://HOST[:PORT] with {service.url_option}"
            )
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.verify = verify
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self.redactor = redactor if redactor is not None else Redactor()
        if credentials is not None:
            self.redactor.add_credentials(credentials)
        self.session = new_session(verify, pool_size=pool_size)

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def __enter__(self) -> ServiceSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str, base: str | None = None) -> str:
        """The absolute URL of `path` (itself absolute, or relative to `base` or the base URL)."""
        root = (base or self.base_url).rstrip("/") + "/"
        return urljoin(root, path.lstrip("/")) if "://" not in path else path

    def request(
        self,
        method: str,
        path: str,
        *,
        base: str | None = None,
        expect: Collection[int] = (200,),
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; return the response when its status is in `expect`.

        Idempotent requests (GET/HEAD/PUT/DELETE unless told otherwise) are retried per the
        retry policy on connection errors, read timeouts and 5xx not in `expect`. Raises
        `TargetUnreachable`, `RequestTimedOut`, `TLSVerificationFailed`, `AuthenticationFailed`,
        `PermissionDenied` or `APIError`.
        """
        method = method.upper()
        url = self._checked_url(path, base)
        retries = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        policy = self.retry if retries else RetryPolicy.none()
        attempts = _Attempts()

        def send() -> requests.Response:
            attempts.count += 1
            started = time.monotonic()
            response = self._send(method, url, headers, kwargs)
            log.debug(
                "%s %s -> %d (%.3f s)",
                method,
                self.redactor.redact(url),
                response.status_code,
                time.monotonic() - started,
            )
            if response.status_code >= 500 and response.status_code not in expect:
                response.close()
                raise _TransientStatus(response)
            return response

        def log_retry(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s %s %s failed on attempt %d (%s); retrying in %.1f s",
                self.service.name,
                method,
                self.redactor.redact(urlsplit(url).path),
                state.attempt_number,
                self.excerpt(_summary(error)),
                state.upcoming_sleep,
            )

        try:
            response = policy.retrying(retry_if=_is_transient, before_sleep=log_retry)(send)
        except _TransientStatus as transient:
            response = transient.response
        except requests.RequestException as error:
            raise self._translate(error, method, url, attempts.count) from None
        if response.status_code not in expect:
            raise self.status_error(response, attempts.count)
        return response

    def _checked_url(self, path: str, base: str | None) -> str:
        """`url(path, base)`, refused in the harness's words when it cannot be sent.

        A base or path may come from an answer (a replica's node name, a token realm, a
        `Location`), and the contract types those only as strings.
        """
        try:
            url = self.url(path, base)
        except ValueError:
            url = f"{base or self.base_url}{path}"
        problem = url_problem(url)
        if problem is not None:
            shown = self.excerpt(self.redactor.redact(url))
            raise HarnessError(
                f"{self.service.name} request to {shown!r} cannot be sent: {problem}; "
                f"check the address (given with {self.service.url_option} or read from "
                f"{self.service.name}'s own answers)"
            )
        return url

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        kwargs: Mapping[str, Any],
    ) -> requests.Response:
        call = dict(kwargs)
        # Per request, because requests lets REQUESTS_CA_BUNDLE override a session's CA bundle.
        call.setdefault("verify", self.verify)
        call.setdefault("timeout", self.timeout)
        call.setdefault("allow_redirects", True)
        if self.verify is False:
            with _insecure_warning_suppressed():
                return self.session.request(method, url, headers=headers, **call)
        return self.session.request(method, url, headers=headers, **call)

    def get_json(self, path: str, **kwargs: Any) -> JsonReader:
        """GET `path` and parse the JSON answer (see `request` for the errors)."""
        response = self.request("GET", path, **kwargs)
        return self.json(response)

    def json(self, response: requests.Response) -> JsonReader:
        """Parse a response's JSON body; raise `BadResponse` with an excerpt when it is not."""
        endpoint = self.endpoint(response)
        try:
            data = response.json()
        except (ValueError, requests.exceptions.JSONDecodeError):
            raise BadResponse(
                self.service.name, endpoint, "invalid JSON", self.excerpt(response.text)
            ) from None
        return JsonReader(data, self, endpoint)

    def endpoint(self, response: requests.Response) -> str:
        """`METHOD /path` of the request that produced `response`, without query or secrets."""
        request = response.request
        path = urlsplit(request.url or "").path or "/"
        return f"{request.method} {self.redactor.redact(path)}"

    def excerpt(self, text: str) -> str:
        """A short, one-line, redacted excerpt of a body for messages."""
        return excerpt(self.redactor.redact(text))

    def bad_response(self, endpoint: str, problem: str, data: object) -> BadResponse:
        """A `BadResponse` for `endpoint` showing a redacted excerpt of `data`."""
        text = data if isinstance(data, str) else json.dumps(data, default=str)
        return BadResponse(self.service.name, endpoint, problem, self.excerpt(text))

    def status_error(self, response: requests.Response, attempts: int = 1) -> HarnessError:
        """The exception for an unexpected status: 401, 403 or any other."""
        request = response.request
        method = request.method or "GET"
        path = self.redactor.redact(urlsplit(request.url or "").path or "/")
        code, detail = self.error_detail(response)
        status = response.status_code
        if status == 401 and self.credentials is not None:
            return AuthenticationFailed(
                self.service.name,
                self.credentials.describe(),
                self.credentials.check_variables,
                detail=" ".join(part for part in (code, detail) if part),
            )
        if status == 403:
            account = self.credentials.describe() if self.credentials is not None else "anonymous"
            return PermissionDenied(
                self.service.name,
                method,
                path,
                account,
                " ".join(part for part in (code, detail) if part),
            )
        return APIError(
            self.service.name, method, path, status, code=code, detail=detail, attempts=attempts
        )

    def error_detail(self, response: requests.Response) -> tuple[str, str]:
        """(code, message) from `{"errors": [...]}` or `{"message"}`, else a body excerpt."""
        text = response.text
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        if isinstance(body, dict):
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                first = errors[0]
                code = str(first.get("code", ""))
                message = str(first.get("message", ""))
                return self.redactor.redact(code), self.excerpt(message)
            if isinstance(body.get("message"), str):
                return "", self.excerpt(body["message"])
        return "", self.excerpt(text)

    def _translate(
        self, error: requests.RequestException, method: str, url: str, attempts: int
    ) -> HarnessError:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = _port(url) or (443 if parts.scheme == "https" else 80)
        shown_url = self.redactor.redact(f"{parts.scheme}://{parts.netloc}{parts.path}")
        name = self.service.name
        fix = f"check the host and port given with {self.service.url_option}"
        if isinstance(error, requests.exceptions.SSLError):
            reason = _tls_reason(error)
            if reason is not None:
                return TLSVerificationFailed(name, shown_url, reason, self.service.ca_option)
            return TargetUnreachable(
                name,
                host,
                port,
                f"the TLS handshake failed ({self.excerpt(str(_root(error)))})",
                f"check that {host}:{port} serves HTTPS",
            )
        if isinstance(error, requests.exceptions.ConnectTimeout):
            return TargetUnreachable(
                name,
                host,
                port,
                f"no answer to the connection within {self.timeout[0]:g} s "
                f"({_attempt_count(attempts)})",
                fix + " and the firewall between here and there",
            )
        if isinstance(error, requests.exceptions.ReadTimeout):
            return RequestTimedOut(name, method, shown_url, self.timeout[1], attempts)
        if isinstance(error, requests.exceptions.ConnectionError):
            root = _root(error)
            if _caused_by(error, NameResolutionError):
                reason = "the host name does not resolve (DNS)"
            elif _caused_by(error, ConnectionRefusedError) or "refused" in str(error).lower():
                reason = f"connection refused ({_attempt_count(attempts)})"
            else:
                reason = f"connection failed ({self.excerpt(str(root))})"
            return TargetUnreachable(name, host, port, reason, fix)
        return HarnessError(
            f"{name} request {method} {shown_url} failed: {self.excerpt(str(error))}; {fix}"
        )


C = TypeVar("C", bound=Credentials)


class ServiceClient(Generic[C]):
    """Base of the API clients: one `ServiceSession`, usable as a context manager.

    A subclass names its `service` (for messages and CA options), may change the default
    connection pool size and sets up its own state in `_setup`; its `repr` shows the address
    and who logs in, never a secret.
    """

    service: ClassVar[Service]
    default_pool_size: ClassVar[int] = 32

    def __init__(
        self,
        base_url: str,
        credentials: C,
        *,
        verify: Verify = True,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        redactor: Redactor | None = None,
        pool_size: int | None = None,
    ) -> None:
        self.credentials = credentials
        self.http = ServiceSession(
            self.service,
            base_url,
            credentials,
            verify=verify,
            timeout=timeout,
            retry=retry,
            redactor=redactor,
            pool_size=pool_size or self.default_pool_size,
        )
        self._setup()

    def _setup(self) -> None:
        """Subclass state that needs the session (authentication, locks, caches)."""

    @property
    def base_url(self) -> str:
        """The address every call goes to unless told otherwise."""
        return self.http.base_url

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, {self.credentials!r})"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The first `limit` characters of `text` on one line, marked when cut."""
    line = one_line(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def url_problem(url: str) -> str | None:
    """Why `url` is not an absolute http(s)://HOST[:PORT][/PATH] address requests can send.

    None when it is. Checks what `urlsplit` and urllib3 would otherwise raise as a raw
    `ValueError` ("Port could not be cast to integer value") or `LocationParseError`.
    """
    if any(char.isspace() or not char.isprintable() for char in url):
        return "the address contains a space or control character"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the address is not a valid URL (an IPv6 address goes in brackets)"
    if parts.scheme not in ("https", "http"):
        return "the address does not start with https://"
    if not parts.hostname:
        return "the address names no host"
    if parts.username is not None or parts.password is not None:
        return "the address holds a user name or password"
    try:
        port = parts.port
    except ValueError:
        return "the port is not a number from 1 to 65535"
    if port == 0:
        return "the port is not a number from 1 to 65535"
    try:
        requests.Request("GET", url).prepare()
    except (requests.exceptions.RequestException, ValueError):
        return "the host or port is not valid"
    return None


def _port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, _TransientStatus):
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


def _summary(error: BaseException | None) -> str:
    if error is None:
        return "no answer"
    if isinstance(error, _TransientStatus):
        return str(error)
    root = _root(error)
    return f"{type(root).__name__}: {root}"


def _attempt_count(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"
