"""The vulnerability database follow-up: choosing how to update, following the update job, and
judging imagescan/status against the upgrade's start, on a fake clock."""

from __future__ import annotations

import tarfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.servers import FakeClock
from tests.unit.fakejobs import T0, FakeDTR, make_job
from upgrade.clients.errors import APIError
from upgrade.cluster.vulndb import (
    DOCKER_SOURCE,
    UpdatePlan,
    VulnDBOutcome,
    choose,
    fix_for,
    judge,
    online_source,
    update_and_verify,
)
from upgrade.config.settings import Settings, resolve
from upgrade.config.values import SettingsError
from upgrade.errors import HarnessError
from upgrade.rules.catalog_file import load_catalog
from upgrade.rules.versions import Version

DOWNLOAD_ERROR = '{"level":"error","msg":"failed to download vulnerability database","time":"x"}'
ONLINE = UpdatePlan("online", "test")


@pytest.fixture
def dtr(clock: FakeClock) -> FakeDTR:
    """A scripted DTR with scanning on and a database two days old."""
    return FakeDTR(clock)


def updater(dtr: FakeDTR, *, fails: bool = False, after: float = 3.0) -> None:
    """Each trigger queues an update_vuln_db job that ends `after` seconds later."""

    def on_update() -> None:
        job = replace(
            make_job(f"vuln-{len(dtr.updates)}", "update_vuln_db", "running"),
            scheduled_at=dtr.now(),
        )
        dtr.add(job)

        def finish() -> None:
            if fails:
                dtr.set_status(job.id, "errored", DOWNLOAD_ERROR)
                dtr.scan = replace(dtr.scan, last_db_update_failed=True)
            else:
                dtr.set_status(job.id, "done")
                dtr.scan = replace(dtr.scan, db_version=2, db_updated_at=dtr.now())

        dtr.at(dtr.clock.now - dtr.start + after, finish)

    dtr.on_update = on_update


def run(dtr: FakeDTR, plan: UpdatePlan, timeout_s: float = 60) -> VulnDBOutcome:
    # The upgrade began one minute after T0; the fake wall clock starts at T0.
    return update_and_verify(
        dtr,
        plan,
        T0 - timedelta(minutes=1),
        timeout_s,
        fix="FIX",
        clock=dtr.clock,
        sleep=dtr.clock.sleep,
        now=dtr.now,
    )


# -- choosing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "ran_upgrade", "sync_online", "how"),
    [
        ("auto", True, True, "online"),
        ("auto", True, False, "check"),
        ("auto", False, True, "check"),
        ("online", False, False, "online"),
        ("check", True, True, "check"),
    ],
)
def test_choose(mode: str, ran_upgrade: bool, sync_online: bool, how: str) -> None:
    plan = choose(mode, None, ran_upgrade=ran_upgrade, sync_online=sync_online)
    assert plan.how == how
    assert plan.reason


def test_choose_a_file_uploads_it_offline(tmp_path: Path) -> None:
    tar = tmp_path / "cve.tar"
    plan = choose("file", tar, ran_upgrade=True, sync_online=True)
    assert (plan.how, plan.file) == ("offline", tar)


def test_choose_refuses_an_unknown_mode() -> None:
    with pytest.raises(HarnessError, match="expected auto, online, check"):
        choose("sometimes", None, ran_upgrade=True, sync_online=True)


# -- updating and judging -----------------------------------------------------------------------


def test_an_online_update_is_followed_to_its_end(dtr: FakeDTR) -> None:
    updater(dtr)
    outcome = run(dtr, ONLINE)
    assert outcome.ok, outcome.problems
    assert dtr.updates == [(True, None)]
    evidence = outcome.evidence()
    assert evidence["status_before"]["db_version"] == 1
    assert evidence["status"]["db_version"] == 2
    assert evidence["update_job"][-1]["status"] == "done"
    assert outcome.action == ""


def test_a_failed_update_names_the_job_its_log_and_the_fix(dtr: FakeDTR) -> None:
    updater(dtr, fails=True)
    outcome = run(dtr, ONLINE)
    assert not outcome.ok
    text = "; ".join(outcome.problems)
    assert "update_vuln_db job vuln-1 ended errored: error: failed to download" in text
    assert "last database update failed" in text
    assert "before the upgrade began" in text
    assert outcome.action == "FIX"


def test_check_only_finds_a_stale_database(dtr: FakeDTR) -> None:
    outcome = run(dtr, UpdatePlan("check", "test"))
    assert dtr.updates == []
    assert [p for p in outcome.problems if "was last updated at" in p]


def test_check_only_passes_a_fresh_database(dtr: FakeDTR) -> None:
    dtr.scan = replace(dtr.scan, db_updated_at=T0)
    assert run(dtr, UpdatePlan("check", "test")).ok


def test_an_offline_upload_sends_the_file(dtr: FakeDTR, tmp_path: Path) -> None:
    tar = tmp_path / "cve.tar"
    updater(dtr)
    assert run(dtr, UpdatePlan("offline", "test", tar)).ok
    assert dtr.updates == [(False, tar)]


def test_an_update_already_running_is_followed_instead(dtr: FakeDTR) -> None:
    dtr.update_error = APIError(
        "DTR", "PUT", "/api/v0/imagescan/scan/update", 400, code="SCANNING_DB_NOT_READY"
    )
    running = replace(make_job("cron-run", "update_vuln_db", "running"), scheduled_at=T0)
    dtr.add(running)

    def finish() -> None:
        dtr.set_status("cron-run", "done")
        dtr.scan = replace(dtr.scan, db_updated_at=dtr.now())

    dtr.at(4, finish)
    outcome = run(dtr, ONLINE)
    assert outcome.ok, outcome.problems
    assert outcome.chain is not None
    assert outcome.chain.latest.id == "cron-run"


def test_other_api_errors_of_the_trigger_are_raised(dtr: FakeDTR) -> None:
    dtr.update_error = APIError("DTR", "PUT", "/api/v0/imagescan/scan/update", 500)
    with pytest.raises(APIError):
        run(dtr, ONLINE)


def test_no_update_job_appearing_is_a_problem(dtr: FakeDTR) -> None:
    outcome = run(dtr, ONLINE, timeout_s=5)
    assert any("no update_vuln_db job appeared within 5 s" in p for p in outcome.problems)
    assert dtr.clock.now - dtr.start == pytest.approx(5)


def test_an_update_still_running_at_the_deadline_is_a_problem(dtr: FakeDTR) -> None:
    updater(dtr, after=100)
    outcome = run(dtr, ONLINE, timeout_s=10)
    assert any("--vuln-db-timeout" in p for p in outcome.problems)


def test_judge_allows_the_clock_skew() -> None:
    status = FakeDTR(FakeClock()).scan
    since = T0 - timedelta(days=2, seconds=-1)
    assert judge(status, since)
    assert judge(status, since, timedelta(seconds=2)) == []


def test_fix_texts_fit_the_plan() -> None:
    online = fix_for(ONLINE, "https://dtr.example.com", "DTR_TOKEN")
    assert "dss-cve-updates.docker.com" in online
    assert "-X PUT 'https://dtr.example.com/api/v0/imagescan/scan/update?online=true'" in online
    assert '"$DTR_USERNAME:$DTR_TOKEN"' in online
    offline = fix_for(UpdatePlan("check", "x", sync_online=False), "https://d", "DTR_TOKEN")
    assert "--update-vuln-db=FILE" in offline
    assert "--update-vuln-db=online" in fix_for(UpdatePlan("check", "x"), "https://d", "DTR_TOKEN")


# -- the option ---------------------------------------------------------------------------------


def resolved(**values: str) -> Settings:
    return resolve(lambda spec: values.get(spec.dest), {})


def test_update_vuln_db_option_takes_a_mode_or_a_tar_file(tmp_path: Path) -> None:
    assert (resolved().update_vuln_db, resolved().vuln_db_file) == ("auto", None)
    assert resolved(update_vuln_db="check").update_vuln_db == "check"
    tar = tmp_path / "cve.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(__file__, arcname="cve.db")
    settings = resolved(update_vuln_db=str(tar))
    assert (settings.update_vuln_db, settings.vuln_db_file) == ("file", tar)
    gzipped = tmp_path / "cve.tar.gz"
    with tarfile.open(gzipped, "w:gz") as archive:
        archive.add(__file__, arcname="cve.db")
    assert resolved(update_vuln_db=str(gzipped)).vuln_db_file == gzipped
    with pytest.raises(SettingsError, match="expected auto, online, check, or the offline"):
        resolved(update_vuln_db=str(tmp_path / "missing.tar"))
    assert resolved(vuln_db_timeout="90s").vuln_db_timeout == timedelta(seconds=90)


def test_a_vuln_db_file_that_is_no_tar_archive_is_refused_before_any_change(
    tmp_path: Path,
) -> None:
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(SettingsError, match=r"passwd: not a tar archive; give the offline"):
        resolved(update_vuln_db=str(text))
    with pytest.raises(SettingsError, match="not a tar archive"):
        resolved(update_vuln_db="/etc/passwd")


# -- an update that finds nothing newer, and the source per product line -------------------------


def current_updater(dtr: FakeDTR) -> None:
    """Each trigger's job ends done without a newer database: the date stays as it was."""

    def on_update() -> None:
        job = replace(make_job("vuln-current", "update_vuln_db", "running"), scheduled_at=dtr.now())
        dtr.add(job)
        dtr.at(dtr.clock.now - dtr.start + 2, lambda: dtr.set_status(job.id, "done"))

    dtr.on_update = on_update


def test_an_update_that_finds_no_newer_database_passes(dtr: FakeDTR) -> None:
    current_updater(dtr)
    outcome = run(dtr, ONLINE)
    assert outcome.ok, outcome.problems
    assert outcome.status is not None
    assert outcome.status.db_updated_at == T0 - timedelta(days=2)
    (note,) = outcome.notes
    assert "update_vuln_db job vuln-current ended done" in note
    assert "no newer database was found" in note
    assert "Assumed" in note
    assert outcome.evidence()["notes"] == [note]


def test_a_done_update_does_not_hide_a_failure_flag(dtr: FakeDTR) -> None:
    current_updater(dtr)
    dtr.scan = replace(dtr.scan, last_vuln_overrides_db_update_failed=True)
    outcome = run(dtr, ONLINE)
    assert outcome.problems == (
        "imagescan/status reports that the last vulnerability overrides update failed",
    )


def test_check_only_accepts_an_update_job_done_since_the_upgrade(dtr: FakeDTR) -> None:
    dtr.add(replace(make_job("cron", "update_vuln_db", "done"), scheduled_at=T0))
    outcome = run(dtr, UpdatePlan("check", "test"))
    assert outcome.ok, outcome.problems
    assert outcome.chain is not None
    assert outcome.chain.latest.id == "cron"


def test_check_only_reports_an_update_job_that_errored(dtr: FakeDTR) -> None:
    dtr.add(replace(make_job("cron", "update_vuln_db", "errored"), scheduled_at=T0), DOWNLOAD_ERROR)
    outcome = run(dtr, UpdatePlan("check", "test"))
    assert any(
        "update_vuln_db job cron ended errored: error: failed" in p for p in outcome.problems
    )


def test_a_failed_update_quotes_its_error_line_not_its_last_line(dtr: FakeDTR) -> None:
    job = replace(make_job("cron", "update_vuln_db", "errored"), scheduled_at=T0)
    dtr.add(job, DOWNLOAD_ERROR, 'time="x" level=info msg="will retry at the next cron"')
    outcome = run(dtr, UpdatePlan("check", "test"))
    assert any("ended errored: error: failed to download" in p for p in outcome.problems)


@pytest.mark.parametrize(
    ("version", "docker"),
    [("2.6.4", True), ("2.6.15", False), ("2.7.8", False), ("2.8.2", False), ("2.10.0", False)],
)
def test_the_online_source_follows_the_product_line(version: str, docker: bool) -> None:
    rule = load_catalog().bootstrapper_rule(Version.parse(version))
    assert rule is not None
    source = online_source(rule.repository)
    fix = fix_for(ONLINE, "https://dtr.example.com", "DTR_TOKEN", source=source)
    if docker:
        assert "reaches https://dss-cve-updates.docker.com/ on port 443" in fix
    else:
        assert "reaches the vulnerability database server of Mirantis" in fix
        assert "does not use Docker's" in fix
    assert "Mirantis" in online_source(None)
    assert online_source("mirror.example.com:5000/docker/dtr") == DOCKER_SOURCE
