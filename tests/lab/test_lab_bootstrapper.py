"""The simulated bootstrapper: replica-at-a-time upgrade, streaming log, refusals, resume."""

from __future__ import annotations

import http.client
import itertools
import os
import pty
import re
import select
import signal
import ssl
import subprocess
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import trustme

from dtrlab import Lab
from dtrlab.bootstrapper_cli import Log
from tests.lab.conftest import (
    BOOTSTRAPPER_TIMEOUT_S,
    LineReader,
    bootstrapper_cmd,
    bootstrapper_env,
    run_bootstrapper,
)
from upgrade.procedure.bootstrapper import fatal_line, log_level

# Without a TTY logrus prints `time="..." level=info msg="..."` (fidelity-review.md 15)
TEXT_LINE = re.compile(r'time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=(\w+) msg="(.*)"')

MAX_SAMPLES = 5000


def ping(url: str, context: ssl.SSLContext) -> bool:
    """One /_ping on a fresh connection: True for 200, False for any failure."""
    parts = urlsplit(url)
    conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=context, timeout=1)
    try:
        conn.request("GET", "/_ping")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        conn.close()


def start(lab: Lab, target: str, *extra: str) -> subprocess.Popen[bytes]:
    """Start an upgrade attempt whose log can be read as it is written."""
    return subprocess.Popen(
        bootstrapper_cmd(lab, target, *extra),
        env=bootstrapper_env(lab),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_lab_upgrade_replaces_one_replica_at_a_time(make_lab: Callable[..., Lab]) -> None:
    """Each replica refuses connections during its own swap window only; the windows do not
    overlap and the load-balanced endpoint answers 200 throughout."""
    lab = make_lab(swap_time=0.4)
    context = ssl.create_default_context(cafile=str(lab.ca_path))
    down: dict[str, list[float]] = {rid: [] for rid in lab.replica_urls}
    lb_failures = 0
    process = start(lab, "2.6.4")
    try:
        for _ in range(MAX_SAMPLES):
            if process.poll() is not None:
                break
            for rid, url in lab.replica_urls.items():
                sampled_at = time.monotonic()
                if not ping(url, context):
                    down[rid].append(sampled_at)
            lb_failures += not ping(lab.url, context)
        output = process.communicate(timeout=BOOTSTRAPPER_TIMEOUT_S)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert lb_failures == 0
    windows = sorted((min(ts), max(ts)) for ts in down.values() if ts)
    assert len(windows) == len(down), f"every replica must have been seen down once: {down}"
    for (_, end), (next_start, _) in itertools.pairwise(windows):
        assert end < next_start, f"two replicas were down at once: {windows}"
    assert set(lab.replica_versions().values()) == {"2.6.4"}
    for rid in lab.replica_urls:
        assert f"Upgrading replica {rid}" in output
        assert f"Replica {rid} upgraded to 2.6.4" in output
    assert output.rstrip().endswith('msg="Upgrade is complete"')


def test_lab_log_lines_stream_as_they_happen(lab: Lab) -> None:
    """A replica's "Upgrading replica" line is readable while its swap is still in progress, and
    every line is logrus text format with elapsed seconds."""
    reader = LineReader(start(lab, "2.6.4"))
    try:
        line = reader.until(lambda text: log_level(text) == "info" and "Upgrading replica" in text)
        assert reader.process.poll() is None
        assert lab.cluster.replicas[line.split()[-1].rstrip('"')].version == "2.5.11"
        reader.rest()
    finally:
        reader.close()
    lines = reader.lines
    first = TEXT_LINE.fullmatch(lines[0])
    assert first is not None, lines[0]
    assert first.groups() == ("info", "Beginning Docker Trusted Registry upgrade")
    for line in lines:
        match = TEXT_LINE.fullmatch(line)
        assert match is not None, line
        assert match.group(1) in ("info", "debug", "warning"), line


def test_lab_log_form_follows_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """logrus' two text forms: `INFO[0000] msg` on a terminal, key=value without one."""
    Log(debug=False, tty=True).error("Upgrade has failed. Try running it again.")
    Log(debug=False, tty=False).fatal('Failed to pick "existing" replica')
    tty, text = capsys.readouterr().out.splitlines()
    assert tty == "ERRO[0000] Upgrade has failed. Try running it again."
    assert log_level(tty) == "error"
    match = TEXT_LINE.fullmatch(text)
    assert match is not None, text
    assert match.group(1) == "fatal", text
    assert match.group(2) == 'Failed to pick \\"existing\\" replica'
    assert fatal_line(text)
    assert not fatal_line(tty)


def test_lab_upgrade_crash_then_resume(make_lab: Callable[..., Lab]) -> None:
    """upgrade-crash: the first attempt dies after the 2nd replica (FATA, status 1); the re-run
    skips the replicas already upgraded and completes."""
    lab = make_lab(scenarios=("upgrade-crash",))
    ids = list(lab.replica_urls)
    first = run_bootstrapper(lab, "2.6.4")
    assert first.returncode == 1
    assert "level=error" in first.stdout
    assert "Upgrade has failed. Try running it again." in first.stdout
    assert fatal_line(first.stdout.splitlines()[-1])
    assert lab.replica_versions() == {ids[0]: "2.6.4", ids[1]: "2.6.4", ids[2]: "2.5.11"}
    second = run_bootstrapper(lab, "2.6.4")
    assert second.returncode == 0, second.stdout
    assert f"Replica {ids[0]} is already at 2.6.4; skipping" in second.stdout
    assert f"Upgrading replica {ids[2]}" in second.stdout
    assert f"Upgrading replica {ids[0]}" not in second.stdout
    assert set(lab.replica_versions().values()) == {"2.6.4"}


def test_lab_upgrade_crash_always_never_completes(make_lab: Callable[..., Lab]) -> None:
    """upgrade-crash-always: every attempt ends with FATA and status 1."""
    lab = make_lab(scenarios=("upgrade-crash-always",))
    for _ in range(3):
        attempt = run_bootstrapper(lab, "2.6.4")
        assert attempt.returncode == 1
        assert "level=fatal" in attempt.stdout
    assert "2.5.11" in lab.replica_versions().values()


def test_lab_sigterm_mid_swap_leaves_a_resumable_lab(lab: Lab) -> None:
    """SIGTERM while a replica is being replaced: the replica comes back (on the target), the
    bootstrapper exits non-zero with a FATA line, and a re-run completes."""
    ids = list(lab.replica_urls)
    reader = LineReader(process := start(lab, "2.6.4"))
    try:
        reader.until(lambda line: f"Upgrading replica {ids[1]}" in line)
        process.send_signal(signal.SIGTERM)
        output = reader.rest()
    finally:
        reader.close()
    assert process.returncode == 128 + signal.SIGTERM
    assert "level=fatal" in output
    assert lab.cluster.wait(
        lambda: all(r.state == "running" for r in lab.cluster.replica_list()), 10
    )
    assert all(r.listener is not None and r.listener.accepting for r in lab.cluster.replica_list())
    rerun = run_bootstrapper(lab, "2.6.4")
    assert rerun.returncode == 0, rerun.stdout
    assert set(lab.replica_versions().values()) == {"2.6.4"}


REFUSALS = [
    pytest.param(
        {}, "2.6.1", (), "Downgrades are not supported", {"version": "2.6.4"}, id="downgrade"
    ),
    pytest.param(
        {}, "2.5.3", (), "Downgrades are not supported", {"version": "2.5.11"}, id="patch-downgrade"
    ),
    pytest.param({}, "2.7.1", (), "upgrade to 2.6 first", {}, id="skip-minor"),
    pytest.param({}, "2.6.99", (), "not a released version", {}, id="unknown-version"),
    pytest.param(
        {},
        "2.6.4",
        (),
        "content trust",
        {"scenarios": ("content-trust-on",)},
        id="content-trust-on",
    ),
    pytest.param(
        {},
        "2.6.4",
        ("--existing-replica-id", "0123456789ab"),
        "Failed to pick existing replica",
        {},
        id="unknown-replica",
    ),
    pytest.param(
        {"password": "wrong"}, "2.6.4", (), "Failed to log in to UCP", {}, id="wrong-password"
    ),
    pytest.param(
        {"password": ""}, "2.6.4", (), "UCP_PASSWORD is required", {}, id="no-password-no-tty"
    ),
    pytest.param(
        {}, "2.6.4", ("--ucp-insecure-tls",), "mutually exclusive", {}, id="ca-and-insecure"
    ),
    pytest.param({"ca": False}, "2.6.4", (), "UCP's CA is required", {}, id="no-ca-choice"),
]


@pytest.mark.parametrize(("run", "target", "extra", "message", "config"), REFUSALS)
def test_lab_bootstrapper_refuses(
    make_lab: Callable[..., Lab],
    run: dict[str, object],
    target: str,
    extra: tuple[str, ...],
    message: str,
    config: dict[str, object],
) -> None:
    """Each refusal ends with ERRO + FATA naming the reason, status 1, and touches no replica."""
    lab = make_lab(**config)
    before = lab.replica_versions()
    result = run_bootstrapper(lab, target, *extra, **run)  # type: ignore[arg-type]
    assert result.returncode == 1, result.stdout
    fatal = result.stdout.splitlines()[-1]
    assert fatal_line(fatal), result.stdout
    assert message in fatal, result.stdout
    assert "Upgrade has failed. Try running it again." in result.stdout
    assert lab.replica_versions() == before
    assert lab.upgrade.progress == {}, "a refusal must come before any attempt is recorded"


def test_lab_bootstrapper_verifies_ucp_certificate(lab: Lab) -> None:
    """--ucp-ca with another CA fails the TLS check; --ucp-insecure-tls skips it."""
    other = trustme.CA().cert_pem.bytes().decode()
    argv = [
        *lab.bootstrapper_argv("2.6.4"),
        "upgrade",
        "--ucp-url",
        lab.ucp_url,
        "--ucp-username",
        lab.credentials.ucp_username,
        "--ucp-ca",
        other,
    ]
    result = subprocess.run(
        argv,
        env=bootstrapper_env(lab),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BOOTSTRAPPER_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 1
    assert "Failed to connect to UCP: x509" in result.stdout
    insecure = run_bootstrapper(lab, "2.6.4", "--ucp-insecure-tls", ca=False)
    assert insecure.returncode == 0, insecure.stdout


@pytest.mark.parametrize(
    ("target", "flag", "accepted"),
    [
        ("2.6.4", "--no-image-check", True),
        ("2.7.1", "--no-image-check", False),
        ("2.6.4", "--nocolor", False),
        ("2.6.4", "--bogus", False),
    ],
)
def test_lab_bootstrapper_flags_follow_the_target_version(
    make_lab: Callable[..., Lab], target: str, flag: str, accepted: bool
) -> None:
    """Flags are those of the target version's CLI; an unknown one is a usage error (status 1)."""
    lab = make_lab(version="2.6.4" if target.startswith("2.7") else "2.5.11")
    result = run_bootstrapper(lab, target, flag)
    if accepted:
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        assert result.returncode == 1
        assert f"flag provided but not defined: -{flag.lstrip('-')}" in result.stderr
        assert result.stdout == ""


def test_lab_patch_upgrade_and_multi_hop(make_lab: Callable[..., Lab]) -> None:
    """2.4.3 -> 2.5.11 queues scannedlayermigration, 2.5.11 -> 2.6.4 metadatastoremigration, a
    patch upgrade queues nothing, and running at the target again is a no-op that completes."""
    lab = make_lab(version="2.4.3", replicas=1)
    jobs = lab.cluster.jobs
    for target, action in (
        ("2.5.11", "scannedlayermigration"),
        ("2.6.4", "metadatastoremigration"),
        ("2.6.5", None),
    ):
        result = run_bootstrapper(lab, target)
        assert result.returncode == 0, result.stdout
        assert "Upgrade is complete" in result.stdout
        assert set(lab.replica_versions().values()) == {target}
        actions = [j.action for j in jobs.all()]
        if action:
            assert actions[-1] == action
        assert jobs.wait(lambda: all(j.status == "done" for j in jobs.all()), 10)
    assert [j.action for j in jobs.all()] == ["scannedlayermigration", "metadatastoremigration"]
    again = run_bootstrapper(lab, "2.6.5")
    assert again.returncode == 0
    assert "already at 2.6.5; skipping" in again.stdout


def test_lab_bootstrapper_debug_lines_and_no_secret(lab: Lab) -> None:
    """--debug adds DEBU lines; no run ever prints the UCP password."""
    quiet = run_bootstrapper(lab, "2.6.4", "--ucp-insecure-tls", ca=False)
    assert quiet.returncode == 0
    assert "level=debug" not in quiet.stdout
    debug = run_bootstrapper(lab, "2.6.5", "--debug")
    assert debug.returncode == 0
    assert "level=debug" in debug.stdout
    for output in (quiet.stdout + quiet.stderr, debug.stdout + debug.stderr):
        assert lab.credentials.ucp_password not in output


def test_lab_bootstrapper_prompts_on_a_terminal(lab: Lab) -> None:
    """With a terminal on stdin, missing credentials are asked for (the password without echo)
    instead of failing, as the interactive `docker run -it` upgrade does."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCP_")}
    argv = [
        *lab.bootstrapper_argv("2.6.4"),
        "upgrade",
        "--ucp-url",
        lab.ucp_url,
        "--ucp-ca",
        lab.ca_pem,
    ]
    process = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    answers = [
        (b"ucp-username: ", lab.credentials.ucp_username),
        (b"ucp-password: ", lab.credentials.ucp_password),
    ]
    seen = b""
    try:
        assert process.stdout is not None
        for _ in range(MAX_SAMPLES):
            if not answers:
                break
            ready, _, _ = select.select([process.stdout], [], [], BOOTSTRAPPER_TIMEOUT_S)
            if not ready:
                break
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            if seen.endswith(answers[0][0]):
                os.write(master, (answers.pop(0)[1] + "\n").encode())
        rest, _ = process.communicate(timeout=BOOTSTRAPPER_TIMEOUT_S)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.communicate()
    output = (seen + rest).decode()
    assert answers == [], output
    assert process.returncode == 0, output
    assert lab.credentials.ucp_password not in output
    assert set(lab.replica_versions().values()) == {"2.6.4"}


def test_lab_bootstrapper_reports_a_lost_ucp_as_fatal(make_lab: Callable[..., Lab]) -> None:
    """UCP going away mid-upgrade ends in ERRO + FATA and status 1, not a traceback."""
    lab = make_lab(swap_time=1.0)
    reader = LineReader(process := start(lab, "2.6.4"))
    try:
        reader.until(lambda line: "Upgrading replica" in line)
        lab.ucp_listener.stop()
        output = "\n".join(reader.lines) + "\n" + reader.rest()
    finally:
        reader.close()
    assert process.returncode == 1, output
    assert fatal_line(output.splitlines()[-1])
    assert "Lost the connection to UCP" in output
    assert "Traceback" not in output
