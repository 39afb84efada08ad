"""`dtr-upgrade lab`: run the lab in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from dtrlab.config import LabConfig
from dtrlab.errors import LabError
from dtrlab.lab import Lab
from dtrlab.scenarios import SCENARIOS, parse_scenarios, refuse_on_engine


def build_parser() -> argparse.ArgumentParser:
    """The command line of `dtr-upgrade lab` / `python -m dtrlab`."""
    parser = argparse.ArgumentParser(
        prog="dtr-upgrade lab",
        description="Run a simulated DTR cluster (replicas, load balancer, UCP) on 127.0.0.1 "
        "with real TLS until Ctrl-C.",
        epilog="scenarios: " + "; ".join(f"{name}: {text}" for name, text in SCENARIOS.items()),
    )
    parser.add_argument(
        "--replicas", type=int, default=3, help="number of DTR replicas (default 3)"
    )
    parser.add_argument(
        "--version", default="2.5.11", help="DTR version of every replica (default 2.5.11)"
    )
    parser.add_argument("--ucp-version", default="3.1.6", help="UCP version (default 3.1.6)")
    parser.add_argument(
        "--scenario", default="healthy", help="fault scenarios, comma-separated (default healthy)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="load-balancer port (default: any free port)"
    )
    parser.add_argument(
        "--swap-time", type=float, default=1.0, help="seconds a replica is down while replaced"
    )
    parser.add_argument(
        "--token-lifetime",
        type=float,
        default=300.0,
        help="seconds a registry bearer token from /auth/token is valid (default 300; "
        "distribution's own default is 60)",
    )
    parser.add_argument(
        "--max-page-items",
        type=int,
        default=0,
        help="serve at most N items per listing page, with X-Next-Page-Start still set, as a "
        "filtered DTR listing can (default 0: pageSize)",
    )
    parser.add_argument(
        "--repositories",
        type=int,
        default=None,
        help="generate N repositories instead of the demo ones",
    )
    parser.add_argument(
        "--engine",
        choices=("process", "docker"),
        default="process",
        help="'docker' also runs every replica as DTR's containers on the Docker engine of "
        "DOCKER_HOST (start it with scripts/engine-up); default process",
    )
    return parser


def _engine_lab(config: LabConfig) -> Lab:
    from dtrlab.engine.lab import EngineLab

    return EngineLab(config)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the lab, print how to reach it, and block until SIGINT/SIGTERM; return the status."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        config = LabConfig(
            replicas=args.replicas,
            version=args.version,
            ucp_version=args.ucp_version,
            scenarios=parse_scenarios(args.scenario),
            port=args.port,
            swap_time=args.swap_time,
            repositories=args.repositories,
            token_lifetime=args.token_lifetime,
            max_page_items=args.max_page_items,
        )
        refuse_on_engine(config.scenarios, args.engine)
        lab = Lab(config) if args.engine == "process" else _engine_lab(config)
        lab.start()
    except (LabError, ValueError) as exc:
        print(f"dtr-upgrade lab: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        creds = lab.credentials
        print(
            f"DTR lab running: {len(lab.replica_urls)} replicas, "
            f"scenarios {','.join(config.scenarios)}"
        )
        print(f"  DTR (load balanced): {lab.url}")
        for rid, url in lab.replica_urls.items():
            print(f"  replica {rid}: {url}  (DTR {lab.replica_versions()[rid]})")
        print(f"  UCP:                 {lab.ucp_url}")
        print(f"  CA certificate:      {lab.ca_path}")
        engine = getattr(lab, "engine", None)
        if engine is not None:
            print(f"  Docker engine:       {engine.docker_host} (replicas as dtr-* containers)")
            print(f"  bootstrapper image:  {engine.bootstrapper_image('VERSION')}")
        print(
            "These are lab credentials (generated for this lab, worthless elsewhere); export them:"
        )
        print(f"  export DTR_USERNAME={creds.username}")
        print(f"  export DTR_PASSWORD={creds.password}")
        print(f"  export DTR_TOKEN={creds.token}")
        print(f"  export UCP_USERNAME={creds.ucp_username}")
        print(f"  export UCP_PASSWORD={creds.ucp_password}")
        print(
            f"  curl --cacert {lab.ca_path} -u $DTR_USERNAME:$DTR_PASSWORD "
            f"{lab.url}/api/v0/meta/cluster_status"
        )
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lab.close()
        print("DTR lab stopped.", flush=True)
    return 0
