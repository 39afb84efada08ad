"""The lab: a simulated DTR + UCP cluster on loopback with real TLS and named fault scenarios.

PYTEST_DONT_REWRITE: plain Python, shipped in the same distribution as the pytest11 plugin and
imported before pytest could rewrite it.

from dtrlab import Lab, LabConfig
with Lab(LabConfig(scenarios=("healthy",))) as lab:
    lab.url, lab.replica_urls, lab.ucp_url, lab.ca_path, lab.credentials
"""

from dtrlab.config import Credentials, LabConfig
from dtrlab.errors import LabConfigError, LabError, UnknownScenarioError
from dtrlab.lab import Lab
from dtrlab.scenarios import SCENARIOS, parse_scenarios

__all__ = [
    "SCENARIOS",
    "Credentials",
    "Lab",
    "LabConfig",
    "LabConfigError",
    "LabError",
    "UnknownScenarioError",
    "parse_scenarios",
]
