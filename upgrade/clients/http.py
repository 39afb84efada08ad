"""The HTTP transport shared by the DTR, UCP and registry clients: sessions, TLS, retries.

- `new_session`: a requests session with TLS verified by default and a connection pool sized
  for the concurrent inventory.
- Retries: idempotent calls are retried by `upgrade.clients.retry.RetryPolicy` on connection
  errors, read timeouts and 5xx; never on 4xx or on TLS verification errors.
- `ServiceSession`: one service's base URL, session, timeouts and retry policy; sends requests
  and turns every failure into the client errors of `upgrade.clients.errors`, with any known
  secret redacted from what they say.
- JSON answers are read by `upgrade.clients.json.JsonReader`, an unexpected status becomes an
  error in `upgrade.clients.refusals`, and addresses are checked by `upgrade.clients.addresses`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import warnings
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from upgrade.clients.addresses import Verify, url_problem
from upgrade.clients.environment import EnvironmentProxies, ca_bundle
from upgrade.clients.errors import (
    BadResponse,
    TransientStatus,
    is_transient,
    summary,
    translate,
)
from upgrade.clients.json import JsonReader
from upgrade.clients.refusals import status_error
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import Credentials, Redactor
from upgrade.errors import HarnessError, one_line

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "Ping",
    "Service",
    "ServiceSession",
    "Timeout",
    "excerpt",
    "new_session",
]

log = logging.getLogger(__name__)

Timeout = tuple[float, float]
"""(connect, read) timeouts in seconds."""

DEFAULT_TIMEOUT: Timeout = (5.0, 30.0)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
EXCERPT_CHARS = 160


@dataclass(frozen=True)
class Service:
    """How a service is named in messages and which options fix its connection problems."""

    name: str
    ca_option: str
    url_option: str
    # The option for another address of the service, read from its own answers (a DTR
    # replica's: replicaSettings, UCP's node list), which `url_option` did not give.
    other_url_option: str | None = None


DTR = Service(
    "DTR",
    ca_option="--dtr-ca",
    url_option="--target",
    other_url_option="--replica-url RID=https://HOST[:PORT] (a replica's own address)",
)
UCP = Service("UCP", ca_option="--ucp-ca", url_option="--ucp-url")
REGISTRY = Service("DTR registry", ca_option="--dtr-ca", url_option="--target")


@dataclass(frozen=True)
class Ping:
    """A health endpoint's answer: 200 is healthy; another status is a result, not an error."""

    healthy: bool
    error: str
    status: int


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
        # Off for its cost per request and for ~/.netrc; the environment's proxies and CA
        # bundle are still honoured (upgrade.clients.environment).
        self.session.trust_env = False
        self._prefix = self.base_url + "/"
        self._proxies = EnvironmentProxies(self.base_url)

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
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "%s %s -> %d (%.3f s)",
                    method,
                    self.redactor.redact(url),
                    response.status_code,
                    time.monotonic() - started,
                )
            if response.status_code >= 500 and response.status_code not in expect:
                response.close()
                raise TransientStatus(response)
            return response

        def log_retry(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s %s %s failed on attempt %d (%s); retrying in %.1f s",
                self.service.name,
                method,
                self.redactor.redact(urlsplit(url).path),
                state.attempt_number,
                self.excerpt(summary(error)),
                state.upcoming_sleep,
            )

        try:
            response = policy.call(send, retry_if=is_transient, before_sleep=log_retry)
        except TransientStatus as transient:
            response = transient.response
        except requests.RequestException as error:
            raise translate(
                error,
                service=self.service.name,
                url_option=self._url_option(url),
                ca_option=self.service.ca_option,
                method=method,
                url=url,
                attempts=attempts.count,
                timeout=self.timeout,
                redact=self.redactor.redact,
                excerpt=self.excerpt,
            ) from None
        if response.status_code not in expect:
            raise self.status_error(response, attempts.count)
        return response

    def _url_option(self, url: str) -> str:
        """The option that gives `url`'s address: the service's own for its base URL, else the
        one for addresses read from its answers (a replica's), when the service has one."""
        other = self.service.other_url_option
        if other is None or url.startswith(self.base_url + "/") or url == self.base_url:
            return self.service.url_option
        return other

    def _checked_url(self, path: str, base: str | None) -> str:
        """`url(path, base)`, refused in the harness's words when it cannot be sent.

        A base or path may come from an answer (a replica's node name, a token realm, a
        `Location`), and the contract types those only as strings.
        """
        try:
            url = self.url(path, base)
        except ValueError:
            url = f"{base or self.base_url}{path}"
        if url.startswith(self._prefix) and url.isprintable() and " " not in url and "%" not in url:
            # under the base URL, whose address was checked when the session was made: only a
            # space, a control character or a percent-escape in the path could still be refused
            return url
        problem = url_problem(url)
        if problem is not None:
            shown = self.excerpt(self.redactor.redact(url))
            raise HarnessError(
                f"{self.service.name} request to {shown!r} cannot be sent: {problem}; "
                f"check the address (given with {self._url_option(url)} or read from "
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
        call["verify"] = ca_bundle(call.get("verify", self.verify))
        proxies = self._proxies.for_url(url)
        if proxies:  # an empty mapping would cost requests two merges of nothing per request
            call.setdefault("proxies", proxies)
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
        """The exception for an unexpected status: 401, 403 or any other (see refusals)."""
        return status_error(
            response,
            service=self.service.name,
            credentials=self.credentials,
            redact=self.redactor.redact,
            excerpt=self.excerpt,
            attempts=attempts,
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
