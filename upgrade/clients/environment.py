"""What the environment tells every HTTP request, read as requests' `trust_env` would but once.

requests' `trust_env` walks the whole environment twice and stats `~/.netrc` on every request (a
third of the client's CPU per request at the data proof's rates), and a `~/.netrc` entry for the
host would replace the registry's bearer header with other credentials. The sessions therefore
turn it off, and this module gives what it would have given that still matters: the proxies of
`HTTPS_PROXY`/`NO_PROXY` (per address, remembered) and the CA bundle of `REQUESTS_CA_BUNDLE` or
`CURL_CA_BUNDLE`. `~/.netrc` is never read.
"""

from __future__ import annotations

import os
import threading
from typing import Final
from urllib.parse import urlsplit

import requests

from upgrade.clients.addresses import Verify

__all__ = ["MAX_ADDRESSES", "EnvironmentProxies", "ca_bundle"]

# addresses whose environment proxies a session remembers (the base, replicas, a token realm)
MAX_ADDRESSES: Final = 256


def ca_bundle(verify: Verify) -> Verify:
    """`verify`, or for plain verification (True) the CA bundle the environment names."""
    if verify is True:
        return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return verify


class EnvironmentProxies:
    """The environment's proxies for each address a session talks to, read once per address
    (they depend on the scheme and host only); at most `MAX_ADDRESSES` are remembered."""

    def __init__(self, base_url: str) -> None:
        self._base = base_url.rstrip("/")
        self._prefix = self._base + "/"
        self._lock = threading.Lock()
        self._known: dict[str, dict[str, str]] = {}

    def for_url(self, url: str) -> dict[str, str]:
        """The proxies requests' trust_env would give `url` (empty: none)."""
        if url.startswith(self._prefix):
            origin = self._base
        else:
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            known = self._known.get(origin)
        if known is None:
            known = requests.utils.get_environ_proxies(url)
            with self._lock:
                if len(self._known) < MAX_ADDRESSES:
                    self._known[origin] = known
        return dict(known)
