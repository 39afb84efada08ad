"""What an unexpected status means: the client error for a refused or failed call.

401 becomes `AuthenticationFailed` (naming the environment variables that hold the
credentials), 403 `PermissionDenied` (naming the account), any other status `APIError`; each
with the code and message DTR and the registry put in `{"errors": [{"code", "message"}]}` (or
UCP's `{"message"}`), otherwise an excerpt of the body. Like `errors.translate`, the functions
take the session's `redact` and `excerpt`, so no known secret reaches a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from upgrade.clients.errors import APIError, AuthenticationFailed, PermissionDenied
from upgrade.clients.secrets import Credentials
from upgrade.errors import HarnessError

__all__ = ["error_detail", "status_error"]


def status_error(
    response: requests.Response,
    *,
    service: str,
    credentials: Credentials | None,
    redact: Callable[[str], str],
    excerpt: Callable[[str], str],
    attempts: int = 1,
) -> HarnessError:
    """The exception for an unexpected status of `service`: 401, 403 or any other."""
    request = response.request
    method = request.method or "GET"
    path = redact(urlsplit(request.url or "").path or "/")
    code, detail = error_detail(response, redact=redact, excerpt=excerpt)
    status = response.status_code
    if status == 401 and credentials is not None:
        return AuthenticationFailed(
            service,
            credentials.describe(),
            credentials.check_variables,
            detail=" ".join(part for part in (code, detail) if part),
        )
    if status == 403:
        account = credentials.describe() if credentials is not None else "anonymous"
        return PermissionDenied(
            service,
            method,
            path,
            account,
            " ".join(part for part in (code, detail) if part),
        )
    return APIError(service, method, path, status, code=code, detail=detail, attempts=attempts)


def error_detail(
    response: requests.Response,
    *,
    redact: Callable[[str], str],
    excerpt: Callable[[str], str],
) -> tuple[str, str]:
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
            return redact(code), excerpt(message)
        if isinstance(body.get("message"), str):
            return "", excerpt(body["message"])
    return "", excerpt(text)
