"""Short pages with X-Next-Page-Start (`max_page_items`): the baseline counts every repository
and tag. A DTR listing is "filtered to only those repositories visible to the client", so a page
may be short with more after it (fidelity-review.md 14)."""

from __future__ import annotations

from collections.abc import Callable

from dtrlab import Lab
from tests.lab.conftest import session_for
from upgrade.clients.dtr import DTRClient
from upgrade.clients.secrets import DTRCredentials


def test_short_pages_are_followed_to_the_end(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(repositories=12, tags_per_repo=7, max_page_items=3)
    with session_for(lab) as session:
        response = session.get(lab.url + "/api/v0/repositories?pageSize=10", timeout=10)
        assert len(response.json()["repositories"]) == 3
        assert response.headers["X-Next-Page-Start"]
    credentials = DTRCredentials.of(lab.credentials.username, password=lab.credentials.password)
    with DTRClient(lab.url, credentials, verify=str(lab.ca_path)) as dtr:
        repositories = dtr.repositories(page_size=10)
        assert len(repositories) == 12
        first = repositories[0]
        assert len(dtr.tags(first.namespace, first.name, page_size=10)) == 7
