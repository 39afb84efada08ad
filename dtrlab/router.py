"""The route table the lab's HTTP services share: handlers by method and path pattern.

An API module declares its routes (`add`) and handlers; the router finds the handler, asks the
service whether the request is authenticated where the route needs it, and answers what no
handler serves: 404, or 405 with `Allow` when the path exists under other methods.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from dtrlab.listener import Request, Response, error_response

Handler = Callable[[Request, "re.Match[str]"], Response]


@dataclass(frozen=True)
class Route:
    """One declared route: the method, the full-path pattern, its handler, whether it needs auth."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool


class Router:
    """Dispatches requests to the first route whose pattern matches the whole path.

    `authenticated` decides for the routes declared with auth, `unauthorized` answers when it
    says no, `not_found` answers a path no route serves. With `head_as_get`, HEAD is served by
    the GET route; with `method_not_allowed`, a path served under other methods answers 405
    with `Allow` (otherwise `not_found`).
    """

    def __init__(
        self,
        *,
        authenticated: Callable[[Request], bool],
        unauthorized: Callable[[], Response],
        not_found: Callable[[Request], Response],
        head_as_get: bool = True,
        method_not_allowed: bool = True,
    ) -> None:
        self._authenticated = authenticated
        self._unauthorized = unauthorized
        self._not_found = not_found
        self._head_as_get = head_as_get
        self._method_not_allowed = method_not_allowed
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, *, auth: bool = True) -> None:
        """Serve `method` on the paths matching `pattern` (a regex of the whole path)."""
        self.routes.append(Route(method, re.compile(pattern + "$"), handler, auth))

    def _serves(self, route: Route, method: str) -> bool:
        return route.method == method or (
            self._head_as_get and route.method == "GET" and method == "HEAD"
        )

    def __call__(self, request: Request) -> Response:
        """The answer of the matching route's handler, or the refusal that applies."""
        allowed: list[str] = []
        for route in self.routes:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            if not self._serves(route, request.method):
                allowed.append(route.method)
                continue
            if route.auth and not self._authenticated(request):
                return self._unauthorized()
            return route.handler(request, match)
        if allowed and self._method_not_allowed:
            return error_response(
                405, "NOT_ALLOWED", "Method Not Allowed", [("Allow", ", ".join(allowed))]
            )
        return self._not_found(request)
