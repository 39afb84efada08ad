"""Job log lines for people: logrus text (what real job logs are, fidelity-review.md 15), logrus
JSON and the terminal form, with error lines surfaced ahead of a log's tail."""

from __future__ import annotations

import pytest

from tests.support.servers import FakeClock
from tests.unit.fakejobs import FakeDTR, make_job
from upgrade.cluster.job_logs import level_of, parse, readable, surface_errors
from upgrade.cluster.jobs import log_tail

ERROR_LINE = (
    'time="2019-07-23T10:00:00Z" level=error msg="failed to migrate blob links" '
    'error="rethinkdb: context deadline exceeded" repository=admin/app'
)


def test_logrus_text_is_level_message_and_fields() -> None:
    assert readable(ERROR_LINE) == (
        "error: failed to migrate blob links "
        "(error=rethinkdb: context deadline exceeded, repository=admin/app)"
    )
    assert readable('time="2019-07-23T10:00:01Z" level=info msg=done') == "info: done"
    assert level_of('level=warning msg="slow"') == "warning"
    assert level_of("level=warn msg=slow") == "warning"


def test_quoted_values_keep_their_escapes() -> None:
    fields = parse(r'level=error msg="quote \" and backslash \\ here" path="C:\\x"')
    assert fields is not None
    assert fields["msg"] == 'quote " and backslash \\ here'
    assert fields["path"] == "C:\\x"


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ('{"level":"error","msg":"failed to download","time":"x"}', "error: failed to download"),
        ('{"level":"info","msg":"n","count":3}', "info: n (count=3)"),
        ("ERRO[0003] Upgrade has failed.", "error: Upgrade has failed."),
        ("plain text with = sign", "plain text with = sign"),
        ("key=value but then words", "key=value but then words"),
        ("other=1 pairs=2", "other=1 pairs=2"),
        ('["json", "but not a record"]', '["json", "but not a record"]'),
        ("", ""),
    ],
)
def test_other_forms(line: str, shown: str) -> None:
    assert readable(line) == shown


def test_error_lines_before_the_tail_are_surfaced() -> None:
    lines = [
        "level=info msg=start",
        ERROR_LINE,
        "level=info msg=one",
        "level=info msg=two",
        "level=info msg=three",
    ]
    assert surface_errors(lines, 2) == [
        "error: failed to migrate blob links "
        "(error=rethinkdb: context deadline exceeded, repository=admin/app)",
        "...",
        "info: two",
        "info: three",
    ]
    assert surface_errors(lines, 4)[0].startswith("error: failed to migrate")
    assert surface_errors(lines, 4)[1] == "info: one"
    assert surface_errors(lines, 10) == [readable(line) for line in lines]
    assert surface_errors(lines, 0) == []


def test_log_tail_renders_a_real_job_log() -> None:
    dtr = FakeDTR(FakeClock())
    dtr.add(
        make_job("m", status="errored"),
        'time="2019-07-23T10:00:00Z" level=info msg="Starting metadatastoremigration job"',
        ERROR_LINE,
        'time="2019-07-23T10:00:02Z" level=info msg="retrying as job n2" retries=2',
    )
    tail = log_tail(dtr, dtr.job("m"), 1)
    assert tail == [readable(ERROR_LINE), "info: retrying as job n2 (retries=2)"]
