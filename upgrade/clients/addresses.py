"""A service's address and how its TLS is verified, checked before anything is sent.

- `url_problem`: why a URL (given by the operator or read from an answer) cannot be sent, in
  the harness's words instead of urllib3's raw `ValueError`/`LocationParseError`.
- `tls_verify`: `--*-ca FILE` and `--insecure-tls` resolved into what requests takes as
  `verify` (`Verify`).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from urllib.parse import urlsplit

import requests

from upgrade.errors import HarnessError

__all__ = ["Verify", "tls_verify", "url_problem"]

Verify = bool | str
"""What requests takes as `verify`: True (system CAs), a CA bundle path, or False (insecure)."""


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
