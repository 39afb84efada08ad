"""The simulated DTR bootstrapper: `python -m dtrlab.bootstrapper --image-version V upgrade ...`.

It behaves like `docker run --rm docker/dtr:V upgrade [flags]`: it finds the cluster only
through `--ucp-url`, logs in to UCP with the admin's username and password (flag or
$UCP_PASSWORD), verifies UCP's certificate with `--ucp-ca "<PEM text>"` or skips that with
`--ucp-insecure-tls` (exactly one), refuses what the real one refuses, replaces the replicas one
at a time and prints logrus lines on stdout, one flushed line at a time: `INFO[0003] ...` on a
terminal, `time="..." level=info msg="..."` without one, as the real bootstrapper does. It
ends with `Upgrade is complete` and status 0, or `Upgrade has failed. Try running it again.` at
level error, a fatal line and status 1. Progress lives in the lab, so a re-run resumes.

`backup` (dtrlab.bootstrapper_backup) prints the archive on stdout and its log on stderr.
The flags accepted are those of the target version's CLI reference (2.5: the UCP flags,
--existing-replica-id, --debug, --help-extended; 2.6 adds --no-image-check; 2.9+ adds --nocolor
and --max-wait). The lab is driven through its control endpoints on the UCP listener (see
dtrlab.ucp_api), authenticated with the UCP session token.
"""

from __future__ import annotations

import getpass
import http.client
import json
import os
import signal
import ssl
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn
from urllib.parse import urlsplit

from dtrlab.bootstrapper_cli import (
    Fatal,
    Interrupted,
    Log,
    UsageError,
    flags_for,
    parse_flags,
)
from dtrlab.catalogue import is_known, parse_version
from dtrlab.errors import LabConfigError

CONTROL_TIMEOUT_S = 300.0
PING_TIMEOUT_S = 10.0
ORPHAN_POLL_S = 0.2


class UCPSession:
    """HTTPS calls to UCP (and the lab's control endpoints on it) with a session token."""

    def __init__(self, url: str, context: ssl.SSLContext) -> None:
        parts = urlsplit(url if "://" in url else f"https://{url}")
        if parts.scheme != "https" or not parts.hostname:
            raise Fatal(f"Invalid UCP URL {url!r}: expected https://host[:port]")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.context = context
        self.token: str | None = None

    def call(
        self, method: str, path: str, body: Any = None, timeout: float = CONTROL_TIMEOUT_S
    ) -> tuple[int, bytes]:
        """One request on a fresh connection; returns (status, body)."""
        conn = http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=timeout
        )
        headers = {"Accept": "application/json", "User-Agent": "dtr-bootstrapper (lab)"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def json(
        self, method: str, path: str, body: Any = None, timeout: float = CONTROL_TIMEOUT_S
    ) -> Any:
        """A control call that must answer 200 with JSON."""
        status, data = self.call(method, path, body, timeout)
        if status != 200:
            raise Fatal(
                f"UCP answered {status} to {method} {path}: {data[:200].decode(errors='replace')}"
            )
        return json.loads(data)


def _tls_context(values: dict[str, Any]) -> ssl.SSLContext:
    ca, insecure = values.get("ucp-ca"), bool(values.get("ucp-insecure-tls"))
    if ca and insecure:
        raise Fatal("--ucp-ca and --ucp-insecure-tls are mutually exclusive; give one")
    if not ca and not insecure:
        raise Fatal(
            'UCP\'s CA is required: pass --ucp-ca "$(cat ca.pem)" (from https://<ucp>/ca) '
            "or --ucp-insecure-tls"
        )
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if "-----BEGIN CERTIFICATE-----" not in str(ca):
        raise Fatal(
            "Failed to parse --ucp-ca: it must be the PEM text of UCP's CA, not a file name"
        )
    try:
        return ssl.create_default_context(cadata=str(ca))
    except ssl.SSLError as exc:
        raise Fatal(f"Failed to parse --ucp-ca: {exc}") from None


def _complete_credentials(values: dict[str, Any], interactive: bool) -> None:
    prompts = (
        ("ucp-url", "ucp-url (The UCP URL including domain and port)"),
        ("ucp-username", "ucp-username"),
    )
    for name, prompt in prompts:
        if not values.get(name):
            if not interactive:
                raise Fatal(f"--{name} is required (no terminal to prompt for it)")
            values[name] = input(f"{prompt}: ").strip()
    if not values.get("ucp-password"):
        if not interactive:
            raise Fatal(
                "--ucp-password or $UCP_PASSWORD is required (no terminal to prompt for it)"
            )
        values["ucp-password"] = getpass.getpass("ucp-password: ")


def check_path(current: str, target: str) -> None:
    """Raise Fatal unless `current` -> `target` is an upgrade this bootstrapper performs."""
    src, dst = parse_version(current), parse_version(target)
    if dst < src:
        raise Fatal(f"Downgrades are not supported: a replica runs {current}, this is {target}")
    if src.major != dst.major:
        raise Fatal(
            f"This version can only upgrade from {dst.major}.{dst.minor - 1}.x; found {current}"
        )
    if dst.minor not in (src.minor, src.minor + 1):
        raise Fatal(
            f"This version can only upgrade from {dst.major}.{dst.minor - 1}.x or "
            f"{dst.major}.{dst.minor}.x; "
            f"a replica runs {current}: upgrade to {src.major}.{src.minor + 1} first"
        )


def upgrade(target: str, args: Sequence[str], environ: dict[str, str], interactive: bool) -> int:
    """The `upgrade` command; returns the exit status."""
    release = parse_version(target)
    values = parse_flags(args, flags_for(release), environ)
    log = Log(bool(values.get("debug")))
    if values.get("help") or values.get("help-extended"):
        print(f"Upgrade DTR {release.major}.{release.minor - 1}.x cluster to this version")
        print("Flags: " + " ".join(f"--{name}" for name in flags_for(release)))
        return 0

    def body() -> None:
        begin("upgrade", target, values, interactive, log)
        session = ucp_session(values, log)
        log.debug(f"UCP URL https://{session.host}:{session.port}, user {values['ucp-username']}")
        _connect(session, values, log)
        run_upgrade(session, target, values, log)

    return run_command(
        body,
        log,
        failed="Upgrade has failed. Try running it again.",
        interrupted="upgrade interrupted; re-run the same command to resume",
    )


def begin(command: str, version: str, values: dict[str, Any], interactive: bool, log: Log) -> None:
    """The start both commands share: a released `version`, then the UCP credentials."""
    log.info(f"Beginning Docker Trusted Registry {command}")
    if not is_known(version):
        raise Fatal(f"DTR {version} is not a released version; no such image docker/dtr:{version}")
    _complete_credentials(values, interactive)


def ucp_session(values: dict[str, Any], log: Log) -> UCPSession:
    """The session to UCP at --ucp-url, checked against --ucp-ca unless --ucp-insecure-tls."""
    log.info("Validating UCP cert")
    session = UCPSession(str(values["ucp-url"]), _tls_context(values))
    log.info("Connecting to UCP")
    return session


def run_command(body: Callable[[], None], log: Log, *, failed: str, interrupted: str) -> int:
    """Run a command's `body`: 0, or the `failed` line, a fatal line and 1 (128+N on signal N)."""
    try:
        body()
        return 0
    except Fatal as exc:
        log.error(failed)
        log.fatal(str(exc))
        return 1
    except (OSError, ValueError, KeyError) as exc:
        # The connection to UCP broke, or UCP answered something unreadable, mid-command.
        log.error(failed)
        log.fatal(f"Lost the connection to UCP: {type(exc).__name__}: {exc}")
        return 1
    except Interrupted as exc:
        log.error(failed)
        log.fatal(f"Received signal {exc}: {interrupted}")
        return 128 + exc.signum


def _connect(session: UCPSession, values: dict[str, Any], log: Log) -> None:
    try:
        status, _ = session.call("GET", "/_ping", timeout=PING_TIMEOUT_S)
    except ssl.SSLCertVerificationError as exc:
        raise Fatal(f"Failed to connect to UCP: x509: {exc.verify_message}") from None
    except OSError as exc:
        raise Fatal(f"Failed to connect to UCP: {exc}") from None
    log.info("health checking ucp")
    if status != 200:
        raise Fatal(f"UCP is not healthy: /_ping answered {status}")
    status, body = session.call(
        "POST",
        "/auth/login",
        {"username": values["ucp-username"], "password": values["ucp-password"]},
    )
    if status != 200:
        raise Fatal("Failed to log in to UCP: invalid username or password")
    session.token = json.loads(body)["auth_token"]


# The names the lab's bootstrapper image has (dtrlab.cluster.LAB_DTR_REPOSITORIES).
OWN_REPOSITORIES = ("docker.io/dtrlab/dtr", "127.0.0.1:5000/docker/dtr")
NO_NODE = (
    'Error response from daemon: {"message":"could not find any nodes on which the container '
    'could be created"}'
)


def _ucp_config(session: UCPSession) -> dict[str, Any]:
    status, body = session.call("GET", "/api/ucp/config-toml")
    if status != 200:
        raise Fatal(f"Failed to read UCP's configuration: {status}")
    return tomllib.loads(body.decode())


def check_ucp_config(config: dict[str, Any]) -> None:
    """Refuse as UCP would: content trust on without the bootstrapper's repository in
    allow_repos, or admins not allowed to schedule on managers and DTR nodes (the real error
    of Mirantis containers v3.0 "Install MSR")."""
    trust = config.get("trust_configuration", {})
    allowed = set(trust.get("allow_repos", []))
    if trust.get("require_content_trust", False) and not allowed & set(OWN_REPOSITORIES):
        raise Fatal(
            "UCP enforces content trust ([trust_configuration] require_content_trust = true): "
            "DTR's images are not signed by your teams; turn off 'Run only signed images' in UCP "
            "and re-run"
        )
    scheduling = config.get("scheduling_configuration", {})
    if not scheduling.get("enable_admin_ucp_scheduling", False):
        raise Fatal(NO_NODE)


def run_upgrade(session: UCPSession, target: str, values: dict[str, Any], log: Log) -> None:
    """Check the cluster, then replace every replica not yet on `target`, one at a time."""
    check_ucp_config(_ucp_config(session))
    cluster = session.json("GET", "/_lab/cluster")
    replicas = cluster["replicas"]
    log.info("Searching containers in UCP for DTR replicas")
    log.info("This cluster contains the replicas: " + " ".join(r["id"] for r in replicas))
    healthy = [r["id"] for r in replicas if r["healthy"]]
    existing = values.get("existing-replica-id")
    if existing:
        if existing not in {r["id"] for r in replicas}:
            raise Fatal(
                f"Failed to pick existing replica: there is no replica {existing} in this cluster"
            )
        if existing not in healthy:
            raise Fatal(f"Failed to pick existing replica: replica {existing} is not healthy")
    elif not healthy:
        raise Fatal("Failed to pick existing replica: no healthy replica to connect to")
    existing = existing or healthy[0]
    log.info(f"Using existing replica {existing}")
    for replica in replicas:
        if replica["version"] != target:
            check_path(replica["version"], target)
    plan = session.json("POST", "/_lab/upgrade/begin", {"target": target})
    log.debug(f"Upgrade attempt {plan['attempt']} towards {target}")
    crash = plan["crash"]
    pending = [r for r in replicas if r["version"] != target]
    if pending:
        log.info(f"Upgrading DTR from {plan['from_version']} to {target}")
        if parse_version(target).line == (2, 6) and not values.get("no-image-check"):
            log.info("Checking for images with manifest schema v1")
    if crash is not None and crash["after_replica"] is None:
        raise Fatal(crash["message"])
    reconfigured = False
    for replica in replicas:
        rid = replica["id"]
        if replica["version"] == target:
            log.info(f"Replica {rid} is already at {target}; skipping")
            continue
        log.info(f"Upgrading replica {rid}")
        log.debug(f"Waiting for running dtr-phase2 container to finish on replica {rid}")
        result = session.json("POST", f"/_lab/replicas/{rid}/replace", {"version": target})
        if result["version"] != target:
            raise Fatal(f"Failed to upgrade replica {rid}: it runs {result['version']}")
        log.info(f"Replica {rid} upgraded to {target}")
        if not reconfigured:
            reconfigured = True
            log.info("Reconfiguring the RethinkDB cluster")
            outage = session.json("POST", "/_lab/upgrade/reconfigure", {"target": target})
            log.debug(f"RethinkDB cluster reconfigured ({outage['outage_s']:.1f}s)")
        if crash is not None and crash["after_replica"] == rid:
            raise Fatal(crash["message"])
    done = session.json("POST", "/_lab/upgrade/complete", {"target": target})
    for job_id in done["jobs"]:
        log.info(f"Migration job {job_id} queued")
    if len(replicas) < 3:
        log.info(
            "Upgrade is complete. It may take a few moments for Docker Trusted Registry to "
            "become available"
        )
    else:
        log.info("Upgrade is complete")


def _on_signal(signum: int, frame: FrameType | None) -> NoReturn:
    raise Interrupted(signum)


def _end_with_parent(parent: int) -> None:
    """Stop (as on SIGTERM) once the process that started this one is gone.

    The simulated cluster lives in the harness's process: when that process is killed
    (SIGKILL gives it no chance to stop its children), there is no cluster left to upgrade,
    and a bootstrapper must not outlive the session that ran it.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    """`--image-version V <command> [flags]`; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if argv is None:
        _end_with_parent(os.getppid())
    try:
        if len(args) < 2 or args[0] != "--image-version":
            raise UsageError(
                "usage: python -m dtrlab.bootstrapper --image-version VERSION "
                "upgrade|backup|images [flags]"
            )
        version, command, rest = args[1], (args[2] if len(args) > 2 else ""), args[3:]
        try:
            parse_version(version)
        except LabConfigError as exc:
            raise UsageError(str(exc)) from None
        if command == "images":
            from dtrlab.component_images import images_for, repository

            print("\n".join(images_for(version, repository())), flush=True)
            return 0
        if command == "backup":
            from dtrlab.bootstrapper_backup import backup

            return backup(version, rest, dict(os.environ), sys.stdin.isatty())
        if command != "upgrade":
            raise UsageError(
                f"command {command or '(none)'!r} is not one the lab's bootstrapper runs; "
                "use upgrade, backup or images"
            )
        return upgrade(version, rest, dict(os.environ), sys.stdin.isatty())
    except UsageError as exc:
        sys.stderr.write(f"Incorrect Usage: {exc}\n")
        sys.stderr.flush()
        return 1
    except Interrupted as exc:
        return 128 + exc.signum


if __name__ == "__main__":
    sys.exit(main())
