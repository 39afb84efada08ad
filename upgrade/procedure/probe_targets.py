"""What the availability prober samples: `ProbeTarget` (a named endpoint, the connection kind
and what counts as an answer) and `endpoint_targets`, the standard set for a DTR (the
load-balanced `/_ping` and `/v2/`, every replica's `/_ping`, over fresh and kept-alive
connections). The sampling itself is `upgrade.procedure.prober`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from upgrade.errors import HarnessError
from upgrade.procedure.outages import LOAD_BALANCER

__all__ = ["Check", "HeaderProvider", "ProbeTarget", "ProberError", "endpoint_targets"]

Check = Literal["ping", "status"]
HeaderProvider = Callable[[], Mapping[str, str]]


class ProberError(HarnessError):
    """The prober was configured wrongly; the message says what to change."""


@dataclass(frozen=True)
class ProbeTarget:
    """One named endpoint and how to sample it.

    `check="ping"` wants 200 with `{"Healthy": true}`; `check="status"` wants any 2xx.
    `headers` is called before each sample (for example to supply a bearer token that the
    caller refreshes); its values never appear in samples or errors. `renew` is called when the
    endpoint answers 401 (a token that expired), and the sample is then sent once more.
    """

    name: str
    url: str
    keep_alive: bool
    check: Check = "ping"
    headers: HeaderProvider | None = field(default=None, repr=False, compare=False)
    renew: Callable[[], object] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
            usable = parts.scheme in ("https", "http") and bool(parts.hostname)
            usable = usable and parts.port != 0
        except ValueError:  # an unclosed "[", "Port could not be cast to integer value"
            usable = False
        if not usable:
            raise ProberError(
                f"probe target {self.name!r} has URL {self.url!r}; give an absolute "
                "https://host[:port]/path URL"
            )
        if not self.name.strip():
            raise ProberError(f"the probe target for {self.url} has an empty name")


def endpoint_targets(
    lb_url: str,
    replicas: Mapping[str, str] | None = None,
    *,
    registry_headers: HeaderProvider | None = None,
) -> list[ProbeTarget]:
    """The standard set: the LB's `/_ping` and `/v2/`, and each replica's `/_ping`, both ways.

    Names read `lb /_ping (fresh)`, `lb /v2/ (keep-alive)`, `replica 5eb9459a7832 /_ping
    (fresh)`. `/v2/` is probed only when `registry_headers` (the authentication) is given,
    because an unauthenticated `/v2/` always answers 401.
    """
    targets: list[ProbeTarget] = []
    base = lb_url.rstrip("/")
    for keep_alive in (False, True):
        mode = "keep-alive" if keep_alive else "fresh"
        targets.append(ProbeTarget(f"{LOAD_BALANCER} /_ping ({mode})", f"{base}/_ping", keep_alive))
        if registry_headers is not None:
            targets.append(
                ProbeTarget(
                    f"{LOAD_BALANCER} /v2/ ({mode})",
                    f"{base}/v2/",
                    keep_alive,
                    "status",
                    registry_headers,
                )
            )
        for replica_id, url in (replicas or {}).items():
            targets.append(
                ProbeTarget(
                    f"replica {replica_id} /_ping ({mode})",
                    f"{url.rstrip('/')}/_ping",
                    keep_alive,
                )
            )
    return targets
