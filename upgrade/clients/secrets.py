"""Credentials from the environment, and the redactor that keeps them out of every output.

Secrets come only from the environment (`DTR_USERNAME`, `DTR_PASSWORD` or `DTR_TOKEN`,
`UCP_USERNAME`, `UCP_PASSWORD`); an empty variable counts as unset. When both `DTR_TOKEN` and
`DTR_PASSWORD` are set, the token is what the API calls send: an access token is the documented
way to script DTR, can be scoped to the change window and revoked afterwards, and a password may
be subject to lockout policies after retries.

The `Redactor` replaces every known secret value with `****`. Besides the values themselves it
knows the forms they take on the wire: the base64 of `user:secret` of a basic-auth header, the
percent-encoded and JSON-escaped forms, and bearer tokens registered at run time. Values shorter
than four characters are still redacted, but only where they stand alone (not inside a longer
word or number), because replacing every `ab` in a report would destroy the evidence without
protecting anything; values of 4+ characters are replaced wherever they occur.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from upgrade.errors import MissingCredentials

__all__ = [
    "MASK",
    "Credentials",
    "DTRCredentials",
    "MissingCredentials",
    "Redactor",
    "UCPCredentials",
]

MASK = "****"
SHORT_SECRET = 4
# A bearer token as registries issue them (base64url, JWT, hex): one word of these characters.
TOKEN_WORD = re.compile(r"[A-Za-z0-9._~+/=-]{16,}")


@dataclass(frozen=True)
class Credentials:
    """A username and the secret sent with it; `repr` and `str` never show the secret.

    `username_variable` and `secret_variable` name the environment variables the values came
    from, so messages can say which ones to check.
    """

    service: str
    username: str
    secret: str = field(repr=False)
    username_variable: str
    secret_variable: str
    check_variables: str

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(service={self.service!r}, username={self.username!r}, "
            f"secret={MASK!r} from {self.secret_variable})"
        )

    __str__ = __repr__

    def describe(self) -> str:
        """Who authenticates and with which variable: `DTR_USERNAME=admin with DTR_TOKEN`."""
        return f"{self.username_variable}={self.username} with {self.secret_variable}"

    def secrets(self) -> tuple[str, ...]:
        """Every secret value held, for registration with a `Redactor`."""
        return (self.secret,)


@dataclass(frozen=True, repr=False)
class DTRCredentials(Credentials):
    """DTR basic-auth credentials: `DTR_USERNAME` with `DTR_TOKEN` (preferred) or `DTR_PASSWORD`.

    `password` is kept (hidden) when a token is also set, so it can be redacted too even though
    the API calls send the token.
    """

    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> DTRCredentials:
        """Read `DTR_USERNAME` and `DTR_TOKEN` / `DTR_PASSWORD`; raise `MissingCredentials`."""
        username = environ.get("DTR_USERNAME", "")
        password = environ.get("DTR_PASSWORD", "") or None
        token = environ.get("DTR_TOKEN", "") or None
        missing = []
        if not username:
            missing.append("DTR_USERNAME")
        if password is None and token is None:
            missing.append("DTR_PASSWORD or DTR_TOKEN")
        if missing:
            raise MissingCredentials("DTR", " and ".join(missing))
        return cls.of(username, password=password, token=token)

    @classmethod
    def of(
        cls, username: str, *, password: str | None = None, token: str | None = None
    ) -> DTRCredentials:
        """Build credentials directly (the lab and tests); the token wins over the password."""
        secret, variable = (token, "DTR_TOKEN") if token else (password, "DTR_PASSWORD")
        if not username or not secret:
            raise MissingCredentials("DTR", "DTR_USERNAME and DTR_PASSWORD or DTR_TOKEN")
        return cls(
            service="DTR",
            username=username,
            secret=secret,
            username_variable="DTR_USERNAME",
            secret_variable=variable,
            check_variables="DTR_USERNAME and DTR_PASSWORD/DTR_TOKEN",
            password=password,
            token=token,
        )

    def secrets(self) -> tuple[str, ...]:
        """The password and the token, whichever are set."""
        return tuple(value for value in (self.secret, self.password, self.token) if value)


@dataclass(frozen=True, repr=False)
class UCPCredentials(Credentials):
    """UCP credentials: `UCP_USERNAME` and `UCP_PASSWORD`, exchanged for a bearer token."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> UCPCredentials:
        """Read `UCP_USERNAME` and `UCP_PASSWORD`; raise `MissingCredentials` naming the unset."""
        username = environ.get("UCP_USERNAME", "")
        password = environ.get("UCP_PASSWORD", "")
        missing = [
            name
            for name, value in (("UCP_USERNAME", username), ("UCP_PASSWORD", password))
            if not value
        ]
        if missing:
            raise MissingCredentials("UCP", " and ".join(missing))
        return cls.of(username, password)

    @classmethod
    def of(cls, username: str, password: str) -> UCPCredentials:
        """Build credentials directly (the lab and tests)."""
        if not username or not password:
            raise MissingCredentials("UCP", "UCP_USERNAME and UCP_PASSWORD")
        return cls(
            service="UCP",
            username=username,
            secret=password,
            username_variable="UCP_USERNAME",
            secret_variable="UCP_PASSWORD",  # noqa: S106 (a variable's name, not a value)
            check_variables="UCP_USERNAME and UCP_PASSWORD",
        )


class Redactor:
    """Replaces known secret values (and their wire forms) with `****` in text and nested data.

    Thread-safe: clients add bearer tokens from worker threads while output is being redacted.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._tokens: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def __repr__(self) -> str:
        return f"Redactor({len(self._values)} values)"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with what it knows, not its lock (a worker process redacts the same)."""
        with self._lock:
            return (_redactor_of, (tuple(self._values), tuple(self._tokens)))

    def add(self, secret: str) -> None:
        """Register a secret value, with its percent-encoded and JSON-escaped forms."""
        if not secret:
            return
        forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            self._pattern = _compile(self._values)

    def add_token(self, token: str) -> None:
        """Register a short-lived bearer token, of which a session may get one per repository:
        masked wherever it stands as a whole word (`Bearer <token>`, a JSON string), found by one
        set lookup per word, so 100,000 tokens cost no more than one (a pattern per secret, as
        `add` builds, would grow with every token). Anything not token-shaped goes to `add`."""
        if not TOKEN_WORD.fullmatch(token):
            self.add(token)
            return
        with self._lock:
            self._tokens.add(token)

    def add_basic_auth(self, username: str, secret: str) -> None:
        """Register `secret` and the base64 of `username:secret` a basic-auth header carries."""
        self.add(secret)
        encoded = base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")
        self.add(encoded)

    def add_credentials(self, credentials: Credentials) -> None:
        """Register every secret of `credentials`, with their basic-auth forms."""
        for secret in credentials.secrets():
            self.add_basic_auth(credentials.username, secret)

    def redact(self, text: str) -> str:
        """Return `text` with every known secret replaced by `****`."""
        pattern = self._pattern
        if not text:
            return text
        if pattern is not None:
            text = pattern.sub(MASK, text)
        tokens = self._tokens
        if tokens:
            text = TOKEN_WORD.sub(lambda m: _mask_token(m.group(), tokens), text)
        return text

    def redact_obj(self, obj: Any) -> Any:
        """Return a copy of nested dicts/lists/tuples with every string (keys too) redacted."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Mapping):
            return {self.redact_obj(key): self.redact_obj(value) for key, value in obj.items()}
        if isinstance(obj, list):
            return [self.redact_obj(item) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self.redact_obj(item) for item in obj)
        return obj

    def logging_filter(self) -> logging.Filter:
        """A filter that redacts log records in place (attach it to handlers that write out)."""
        return _RedactingFilter(self)


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.redact(record.getMessage())
        record.args = None
        return True


def _redactor_of(values: tuple[str, ...], tokens: tuple[str, ...]) -> Redactor:
    redactor = Redactor(values)
    for token in tokens:
        redactor.add_token(token)
    return redactor


def _mask_token(word: str, tokens: set[str]) -> str:
    """`word` with the token it is, or holds between punctuation (`tok.`, `/tok=`), masked."""
    if word in tokens:
        return MASK
    for core in (word.rstrip("."), word.strip("./="), word.split("=", 1)[-1].rstrip(".")):
        if core and core in tokens:
            return word.replace(core, MASK)
    return word


def _compile(values: set[str]) -> re.Pattern[str]:
    # Longest first, so a secret that contains another is masked whole.
    alternatives = []
    for value in sorted(values, key=len, reverse=True):
        escaped = re.escape(value)
        if len(value) < SHORT_SECRET:
            escaped = rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"
        alternatives.append(escaped)
    return re.compile("|".join(alternatives))
