"""Credentials from the environment and the redactor."""

from __future__ import annotations

import base64
import logging

import pytest

from upgrade.clients.secrets import (
    MASK,
    DTRCredentials,
    MissingCredentials,
    Redactor,
    UCPCredentials,
)
from upgrade.errors import HarnessError


def test_dtr_credentials_prefer_the_token_when_both_are_set() -> None:
    creds = DTRCredentials.from_environ(
        {"DTR_USERNAME": "admin", "DTR_PASSWORD": "pw-value-1", "DTR_TOKEN": "tok-value-2"}
    )
    assert creds.secret == "tok-value-2"
    assert creds.secret_variable == "DTR_TOKEN"
    assert creds.describe() == "DTR_USERNAME=admin with DTR_TOKEN"
    assert set(creds.secrets()) == {"pw-value-1", "tok-value-2"}


def test_dtr_credentials_use_the_password_without_a_token() -> None:
    creds = DTRCredentials.from_environ({"DTR_USERNAME": "admin", "DTR_PASSWORD": "pw-value-1"})
    assert creds.secret == "pw-value-1"
    assert creds.describe() == "DTR_USERNAME=admin with DTR_PASSWORD"
    assert creds.check_variables == "DTR_USERNAME and DTR_PASSWORD/DTR_TOKEN"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, "set DTR_USERNAME and DTR_PASSWORD or DTR_TOKEN"),
        ({"DTR_USERNAME": "admin"}, "set DTR_PASSWORD or DTR_TOKEN"),
        ({"DTR_USERNAME": "admin", "DTR_PASSWORD": ""}, "set DTR_PASSWORD or DTR_TOKEN"),
        ({"DTR_TOKEN": "tok-value-2"}, "set DTR_USERNAME in"),
    ],
    ids=["nothing", "no-secret", "empty-password", "no-username"],
)
def test_missing_dtr_credentials_name_the_variables(environ: dict[str, str], named: str) -> None:
    with pytest.raises(MissingCredentials, match=named) as info:
        DTRCredentials.from_environ(environ)
    assert isinstance(info.value, HarnessError)
    assert "tok-value-2" not in str(info.value)


def test_ucp_credentials_from_environ() -> None:
    creds = UCPCredentials.from_environ({"UCP_USERNAME": "admin", "UCP_PASSWORD": "ucp-pw-3"})
    assert (creds.username, creds.secret) == ("admin", "ucp-pw-3")
    assert creds.describe() == "UCP_USERNAME=admin with UCP_PASSWORD"
    with pytest.raises(MissingCredentials, match="set UCP_PASSWORD in the environment"):
        UCPCredentials.from_environ({"UCP_USERNAME": "admin"})


def test_reprs_hide_every_secret() -> None:
    dtr = DTRCredentials.of("admin", password="pw-value-1", token="tok-value-2")
    ucp = UCPCredentials.of("admin", "ucp-pw-3")
    for shown in (repr(dtr), str(dtr), repr(ucp), f"{ucp}", repr([dtr, ucp])):
        for secret in ("pw-value-1", "tok-value-2", "ucp-pw-3"):
            assert secret not in shown
        assert "admin" in shown


def test_redactor_replaces_values_and_their_wire_forms() -> None:
    redactor = Redactor()
    redactor.add_basic_auth("admin", "p@ss word/1")
    header = base64.b64encode(b"admin:p@ss word/1").decode()
    text = (
        f"pw=p@ss word/1 auth=Basic {header} query=p%40ss%20word%2F1 "
        'json={"password": "p@ss word/1"}'
    )
    redacted = redactor.redact(text)
    assert "p@ss" not in redacted
    assert header not in redacted
    assert "p%40ss" not in redacted
    assert redacted.count(MASK) == 4


def test_redactor_masks_the_longer_secret_whole() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor.redact("x abcdefgh y abcd") == f"x {MASK} y {MASK}"


def test_short_secrets_are_masked_only_where_they_stand_alone() -> None:
    redactor = Redactor(["ab1"])
    assert redactor.redact("password=ab1; table ab12 and cab1") == (
        f"password={MASK}; table ab12 and cab1"
    )


def test_redact_obj_walks_nested_data_and_keys() -> None:
    redactor = Redactor(["tok-value-2"])
    data = {"a": ["x tok-value-2", ("tok-value-2",)], "tok-value-2": 3, "n": None, "b": True}
    assert redactor.redact_obj(data) == {
        "a": [f"x {MASK}", (MASK,)],
        MASK: 3,
        "n": None,
        "b": True,
    }


def test_tokens_added_at_run_time_are_redacted() -> None:
    redactor = Redactor()
    assert redactor.redact("Bearer tok-value-2") == "Bearer tok-value-2"
    redactor.add("tok-value-2")
    redactor.add("")
    assert redactor.redact("Bearer tok-value-2") == f"Bearer {MASK}"


def test_logging_filter_redacts_records(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor(["tok-value-2"])
    logger = logging.getLogger("test.redaction")
    caplog.handler.addFilter(redactor.logging_filter())
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("sent %s", "Bearer tok-value-2")
    finally:
        caplog.handler.filters.clear()
    assert caplog.messages == [f"sent Bearer {MASK}"]
    assert "tok-value-2" not in caplog.text
