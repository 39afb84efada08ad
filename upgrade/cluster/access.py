"""Whether DTR accepts the credentials from the environment with admin rights.

The upgrade's preconditions are read from admin-only endpoints (cluster status, settings), so
the preflight asks one of them and judges its status: 200 accepted, 401 rejected credentials,
403 an account without admin rights.
"""

from __future__ import annotations

from dataclasses import dataclass

from upgrade.clients.dtr import DTRClient

ADMIN_ENDPOINT = "/api/v0/meta/settings"


@dataclass(frozen=True)
class AdminAccess:
    """DTR's answer to an admin-only request: its endpoint, status and, when refused, why
    (the client's words: the variables to check on 401, the account on 403)."""

    endpoint: str
    status: int
    problem: str

    @property
    def accepted(self) -> bool:
        """The admin-only endpoint answered 200."""
        return self.status == 200


def admin_access(dtr: DTRClient) -> AdminAccess:
    """Ask DTR's admin-only settings endpoint; other statuses than 200, 401 and 403 raise the
    client's errors (unreachable, 5xx after retries)."""
    http = dtr.http
    response = http.request("GET", ADMIN_ENDPOINT, expect=(200, 401, 403))
    try:
        problem = "" if response.status_code == 200 else str(http.status_error(response))
        return AdminAccess(f"GET {ADMIN_ENDPOINT}", response.status_code, problem)
    finally:
        response.close()
