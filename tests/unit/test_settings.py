"""Configuration: every problem names its LEADSYNC_* variable; the API key never shows."""

from __future__ import annotations

import os
from typing import Any

import pytest

from consumer.errors import SettingsError
from consumer.settings import ENV_PREFIX, LogFormat, Settings, effective_settings, load_settings

SECRET = "s3cr3t-Key-0f-the-PBX"
REQUIRED = {
    "kafka_bootstrap": "127.0.0.1:9092",
    "noojee_url": "https://pbx.example.com",
    "noojee_api_key": SECRET,
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's or CI's own LEADSYNC_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def settings_error(**overrides: Any) -> str:
    with pytest.raises(SettingsError) as raised:
        load_settings(**overrides)
    return str(raised.value)


def test_the_required_values_are_enough() -> None:
    settings = load_settings(**REQUIRED)
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.noojee_api_key.get_secret_value() == SECRET
    assert settings.noojee_phone_fields == ("FirstPhone",)
    assert settings.cloudevents_types == ("lead.changed",)
    assert settings.request_timeout_s == 75.0
    assert settings.log_format is LogFormat.JSON


def test_missing_required_variables_are_each_named() -> None:
    message = settings_error()
    lines = message.splitlines()
    assert "LEADSYNC_KAFKA_BOOTSTRAP: is required but not set" in lines
    assert "LEADSYNC_NOOJEE_URL: is required but not set" in lines
    assert (
        "LEADSYNC_NOOJEE_API_KEY: is required but not set "
        "(or set LEADSYNC_NOOJEE_API_KEY_FILE to a file holding it)"
    ) in lines
    assert len(lines) == 3


def test_required_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSYNC_KAFKA_BOOTSTRAP", "broker:9092")
    monkeypatch.setenv("LEADSYNC_NOOJEE_URL", "https://pbx.example.com")
    monkeypatch.setenv("LEADSYNC_NOOJEE_API_KEY", SECRET)
    monkeypatch.setenv("LEADSYNC_RATE_LIMIT", "12.5")
    settings = load_settings()
    assert settings.kafka_bootstrap == "broker:9092"
    assert settings.rate_limit == 12.5


def test_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSYNC_GROUP_ID", "from-env")
    assert load_settings(**REQUIRED, group_id="override").group_id == "override"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("RATE_LIMIT", "fast", "number"),
        ("RATE_LIMIT", "0", "greater than 0"),
        ("MAX_CONCURRENCY", "2.5", "integer"),
        ("MAX_CONCURRENCY", "0", "greater than or equal to 1"),
        ("MAX_IN_FLIGHT", "lots", "integer"),
        ("HEALTH_PORT", "70000", "less than or equal to 65535"),
        ("RETRY_DEADLINE_S", "-1", "greater than 0"),
        ("REQUEST_TIMEOUT_S", "60", "60 s queue limit"),
        ("REQUEST_TIMEOUT_S", "30", "60 s queue limit"),
        ("NOOJEE_TIMEZONE", "Mars/Olympus_Mons", "unknown IANA time zone 'Mars/Olympus_Mons'"),
        ("NOOJEE_PHONE_FIELDS", " , ,", "at least one phone field"),
        ("NOOJEE_PHONE_FIELDS", "", "at least one phone field"),
        ("LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        ("LOG_FORMAT", "xml", "json"),
        ("INPUT_FORMAT", "csv", "native"),
        ("NOOJEE_URL", "not a url", "URL"),
        ("NOOJEE_TEMPLATE_ID", "forty-one", "integer"),
    ],
)
def test_a_bad_value_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    for name, good in REQUIRED.items():
        monkeypatch.setenv(ENV_PREFIX + name.upper(), good)
    monkeypatch.setenv(ENV_PREFIX + variable, value)
    message = settings_error()
    lines = message.splitlines()
    assert len(lines) == 1, message
    assert lines[0].startswith(f"LEADSYNC_{variable}: ")
    assert says in lines[0]
    assert "Value error" not in message
    assert SECRET not in message


def test_several_problems_are_all_reported_at_once() -> None:
    message = settings_error(
        kafka_bootstrap="b:9092",
        noojee_url="https://pbx.example.com",
        noojee_api_key=SECRET,
        rate_limit="fast",
        request_timeout_s=60,
        noojee_timezone="Nowhere/Land",
        log_level="chatty",
    )
    named = {line.split(":", 1)[0] for line in message.splitlines()}
    assert named == {
        "LEADSYNC_RATE_LIMIT",
        "LEADSYNC_REQUEST_TIMEOUT_S",
        "LEADSYNC_NOOJEE_TIMEZONE",
        "LEADSYNC_LOG_LEVEL",
    }
    assert "Value error" not in message


def test_request_timeout_must_exceed_the_pbx_queue_limit() -> None:
    assert load_settings(**REQUIRED, request_timeout_s=60.5).request_timeout_s == 60.5
    assert "LEADSYNC_REQUEST_TIMEOUT_S" in settings_error(**REQUIRED, request_timeout_s=60)


def test_retry_cap_below_base_is_refused_by_name() -> None:
    message = settings_error(**REQUIRED, retry_base_s=5, retry_cap_s=1)
    assert "LEADSYNC_RETRY_CAP_S" in message
    assert "LEADSYNC_RETRY_BASE_S" in message
    assert "Value error" not in message


def test_log_level_is_case_insensitive() -> None:
    assert load_settings(**REQUIRED, log_level="debug").log_level == "DEBUG"


def test_csv_variables_are_split_and_trimmed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSYNC_NOOJEE_PHONE_FIELDS", " FirstPhone, SecondPhone ,,MobilePhone")
    monkeypatch.setenv("LEADSYNC_CLOUDEVENTS_TYPES", "lead.changed,com.crm.lead.updated")
    settings = load_settings(**REQUIRED)
    assert settings.noojee_phone_fields == ("FirstPhone", "SecondPhone", "MobilePhone")
    assert settings.cloudevents_types == ("lead.changed", "com.crm.lead.updated")


def test_a_single_csv_value_is_a_one_element_tuple(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSYNC_NOOJEE_PHONE_FIELDS", "Mobile")
    assert load_settings(**REQUIRED).noojee_phone_fields == ("Mobile",)


def test_variable_names_ignore_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("leadsync_group_id", "lower-case")
    assert load_settings(**REQUIRED).group_id == "lower-case"


def test_dead_letter_topic_defaults_to_the_source_topic_with_dlq() -> None:
    assert load_settings(**REQUIRED).dead_letter_topic == "lead-changes.dlq"
    assert load_settings(**REQUIRED, source_topic="crm.leads").dead_letter_topic == "crm.leads.dlq"
    explicit = load_settings(**REQUIRED, source_topic="crm.leads", dlq_topic="leads-dead")
    assert explicit.dead_letter_topic == "leads-dead"


def test_timezone_is_a_zoneinfo() -> None:
    settings = load_settings(**REQUIRED, noojee_timezone="Australia/Melbourne")
    assert settings.timezone.key == "Australia/Melbourne"


def test_the_api_key_never_appears_in_repr_or_str() -> None:
    settings = load_settings(
        **REQUIRED,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="leadsync",
        kafka_sasl_password="broker-Pa55word",
    )
    for shown in (repr(settings), str(settings), f"{settings!r}", repr(settings.model_dump())):
        assert SECRET not in shown
        assert "broker-Pa55word" not in shown


def test_the_api_key_never_appears_in_an_error_about_another_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADSYNC_NOOJEE_API_KEY", SECRET)
    message = settings_error(
        kafka_bootstrap="",
        noojee_url="https://pbx.example.com",
        noojee_timezone="Bad/Zone",
        max_concurrency="x",
    )
    assert "LEADSYNC_KAFKA_BOOTSTRAP" in message
    assert SECRET not in message


def test_the_api_key_never_appears_in_an_error_about_itself() -> None:
    message = settings_error(
        kafka_bootstrap="b:9092", noojee_url="https://pbx.example.com", noojee_api_key=[SECRET]
    )
    assert "LEADSYNC_NOOJEE_API_KEY" in message
    assert SECRET not in message


def test_settings_are_frozen() -> None:
    settings = load_settings(**REQUIRED)
    with pytest.raises(ValueError, match="frozen"):
        settings.group_id = "other"  # type: ignore[misc]


def test_load_settings_returns_the_settings_type() -> None:
    assert isinstance(load_settings(**REQUIRED), Settings)


def test_the_effective_settings_hide_every_secret() -> None:
    settings = load_settings(
        kafka_bootstrap="b:9092",
        noojee_url="https://user:url-Pa55@pbx.example.com",
        noojee_api_key=SECRET,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="scram-sha-512",
        kafka_sasl_username="leadsync",
        kafka_sasl_password="broker-Pa55word",
    )
    shown = effective_settings(settings)
    text = " ".join(f"{k}={v}" for k, v in shown.items())
    for secret in (SECRET, "broker-Pa55word", "url-Pa55"):
        assert secret not in text
    assert shown["LEADSYNC_NOOJEE_API_KEY"] == "<hidden>"
    assert shown["LEADSYNC_KAFKA_SASL_PASSWORD"] == "<hidden>"
    assert shown["LEADSYNC_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert shown["LEADSYNC_NOOJEE_URL"] == "https://user:<hidden>@pbx.example.com/"
    assert shown["LEADSYNC_COALESCE"] == "true"
    assert "LEADSYNC_DLQ_TOPIC" not in shown, "unset settings are left out"


def test_creating_leads_is_off_until_asked_for() -> None:
    """Creates from Debezium and CloudEvents are read by default; the fallbacks that
    send calls an event did not ask for are not."""
    settings = load_settings(**REQUIRED)
    assert settings.cloudevents_create_types == ("lead.created",)
    assert settings.create_missing is False
    assert settings.noojee_allow_duplicates is False
    assert settings.noojee_undialled_disposition is None
    chosen = load_settings(
        **REQUIRED,
        cloudevents_create_types="lead.created, crm.lead.new",
        create_missing="true",
        noojee_allow_duplicates="true",
        noojee_undialled_disposition="New",
    )
    assert chosen.cloudevents_create_types == ("lead.created", "crm.lead.new")
    assert (chosen.create_missing, chosen.noojee_allow_duplicates) == (True, True)
    assert chosen.noojee_undialled_disposition == "New"


def test_the_undialled_disposition_is_a_real_one_or_unset() -> None:
    assert (
        load_settings(**REQUIRED, noojee_undialled_disposition="").noojee_undialled_disposition
        is None
    )
    message = settings_error(**REQUIRED, noojee_undialled_disposition="<No Change>")
    assert message.startswith("LEADSYNC_NOOJEE_UNDIALLED_DISPOSITION: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"cloudevents_create_types": "lead.created,lead.changed"}, "is also in"),
        ({"cloudevents_types": "lead changed"}, "is not a CloudEvents type"),
        ({"cloudevents_create_types": "x" * 256}, "is not a CloudEvents type"),
        ({"noojee_undialled_disposition": "New\nLead"}, "is not a disposition name"),
    ],
)
def test_event_types_and_dispositions_that_cannot_be_meant_are_named(
    overrides: dict[str, str], says: str
) -> None:
    message = settings_error(**REQUIRED, **overrides)
    (line,) = message.splitlines()
    assert says in line, line


def test_no_create_types_means_no_creates_from_cloudevents() -> None:
    assert load_settings(**REQUIRED, cloudevents_create_types="").cloudevents_create_types == ()
