"""The validator `check` and `run` share: unknown names, secrets from files, Kafka
security, TLS files, OTEL_* values; every problem one line naming its variable."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from consumer.configuration import load_configuration, unknown_variables
from consumer.errors import SettingsError
from consumer.kafka.clients import connection_options
from consumer.wiring import pbx_tls_context
from tests.settings_env import SECRET, only_required_settings
from tests.tls_material import TlsMaterial, make_tls_material


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    only_required_settings(monkeypatch)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(tmp_path_factory.mktemp("tls"))


def problems(monkeypatch: pytest.MonkeyPatch, **variables: str | None) -> list[str]:
    for name, value in variables.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    try:
        load_configuration()
    except SettingsError as exc:
        lines = str(exc).splitlines()
        assert all(line.startswith(("LEADSYNC_", "OTEL_")) for line in lines), lines
        assert not [line for line in lines if SECRET in line]
        return lines
    return []


# -- unknown names -------------------------------------------------------------------------


def test_a_misspelt_variable_is_an_error_with_the_name_it_meant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert problems(monkeypatch, LEADSYNC_RATE_LIMT="5") == [
        "LEADSYNC_RATE_LIMT: not a leadsync setting, so it would be ignored; "
        "did you mean LEADSYNC_RATE_LIMIT?"
    ]


def test_a_name_like_nothing_points_at_the_table() -> None:
    (line,) = unknown_variables(["LEADSYNC_ZZZ_QQQ"])
    assert line.startswith("LEADSYNC_ZZZ_QQQ: not a leadsync setting")
    assert "README.md" in line


@pytest.mark.parametrize(
    "name",
    ["LEADSYNC_SIM_API_KEY", "leadsync_group_id", "LEADSYNC_NOOJEE_API_KEY", "OTHER_VARIABLE"],
)
def test_names_that_are_read_are_not_unknown(name: str) -> None:
    assert unknown_variables([name]) == []


# -- secrets from files --------------------------------------------------------------------


def test_the_api_key_comes_from_a_file_without_its_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "noojee-api-key"
    key_file.write_text("from-a-file\n")
    monkeypatch.delenv("LEADSYNC_NOOJEE_API_KEY")
    monkeypatch.setenv("LEADSYNC_NOOJEE_API_KEY_FILE", str(key_file))
    settings = load_configuration().settings
    assert settings.noojee_api_key.get_secret_value() == "from-a-file"


def test_the_sasl_password_comes_from_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "password").write_text("broker-Pa55\r\n")
    monkeypatch.setenv("LEADSYNC_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("LEADSYNC_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("LEADSYNC_KAFKA_SASL_USERNAME", "leadsync")
    monkeypatch.setenv("LEADSYNC_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    options = connection_options(load_configuration().settings)
    assert options["sasl_plain_password"] == "broker-Pa55"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "does not exist"),  # no file at all
        ("", "is empty"),
        ("\n", "is empty"),
        ("one\ntwo\n", "more than one line"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_a_bad_secret_file_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | bytes | None, says: str
) -> None:
    path = tmp_path / "secret"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    found = problems(
        monkeypatch, LEADSYNC_NOOJEE_API_KEY=None, LEADSYNC_NOOJEE_API_KEY_FILE=str(path)
    )
    assert len(found) == 1, found
    assert found[0].startswith("LEADSYNC_NOOJEE_API_KEY_FILE: ")
    assert says in found[0] or (says == "does not exist" and "cannot be read" in found[0])


def test_a_directory_is_not_a_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    found = problems(
        monkeypatch, LEADSYNC_NOOJEE_API_KEY=None, LEADSYNC_NOOJEE_API_KEY_FILE=str(tmp_path)
    )
    assert found == [f"LEADSYNC_NOOJEE_API_KEY_FILE: {tmp_path} is a directory, not a file"]


def test_a_secret_and_its_file_together_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text("other")
    found = problems(monkeypatch, LEADSYNC_NOOJEE_API_KEY_FILE=str(tmp_path / "key"))
    assert found == [
        "LEADSYNC_NOOJEE_API_KEY_FILE: set either LEADSYNC_NOOJEE_API_KEY or "
        "LEADSYNC_NOOJEE_API_KEY_FILE, not both"
    ]


def test_neither_the_key_nor_its_file_says_both_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems(monkeypatch, LEADSYNC_NOOJEE_API_KEY=None) == [
        "LEADSYNC_NOOJEE_API_KEY: is required but not set "
        "(or set LEADSYNC_NOOJEE_API_KEY_FILE to a file holding it)"
    ]


# -- Kafka security ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"LEADSYNC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            [
                "LEADSYNC_KAFKA_SASL_MECHANISM: required with "
                "LEADSYNC_KAFKA_SECURITY_PROTOCOL=SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
            ],
        ),
        (
            {
                "LEADSYNC_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
                "LEADSYNC_KAFKA_SASL_MECHANISM": "plain",
            },
            [
                "LEADSYNC_KAFKA_SASL_USERNAME: required with LEADSYNC_KAFKA_SASL_MECHANISM=PLAIN",
                "LEADSYNC_KAFKA_SASL_PASSWORD: required with LEADSYNC_KAFKA_SASL_MECHANISM=PLAIN "
                "(or LEADSYNC_KAFKA_SASL_PASSWORD_FILE)",
            ],
        ),
        (
            {
                "LEADSYNC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "LEADSYNC_KAFKA_SASL_MECHANISM": "SCRAM-SHA-521",
            },
            [
                "LEADSYNC_KAFKA_SASL_MECHANISM: SCRAM-SHA-521 is not one of PLAIN, "
                "SCRAM-SHA-256, SCRAM-SHA-512; did you mean SCRAM-SHA-512?"
            ],
        ),
        (
            {"LEADSYNC_KAFKA_SASL_MECHANISM": "PLAIN"},
            [
                "LEADSYNC_KAFKA_SASL_MECHANISM: set, but LEADSYNC_KAFKA_SECURITY_PROTOCOL="
                "PLAINTEXT does not use SASL (use SASL_SSL or SASL_PLAINTEXT, or unset it)"
            ],
        ),
        (
            {"LEADSYNC_KAFKA_SECURITY_PROTOCOL": "TLS"},
            [
                "LEADSYNC_KAFKA_SECURITY_PROTOCOL: Input should be 'PLAINTEXT', 'SSL', "
                "'SASL_PLAINTEXT' or 'SASL_SSL'"
            ],
        ),
    ],
)
def test_sasl_combinations(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: list[str]
) -> None:
    assert problems(monkeypatch, **variables) == expected


def test_a_lower_case_mechanism_and_protocol_are_understood(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not problems(
        monkeypatch,
        LEADSYNC_KAFKA_SECURITY_PROTOCOL="sasl_plaintext",
        LEADSYNC_KAFKA_SASL_MECHANISM="scram_sha_256",
        LEADSYNC_KAFKA_SASL_USERNAME="leadsync",
        LEADSYNC_KAFKA_SASL_PASSWORD="x",
    )
    settings = load_configuration().settings
    assert connection_options(settings)["sasl_mechanism"] == "SCRAM-SHA-256"


def test_tls_files_without_tls_are_errors(
    monkeypatch: pytest.MonkeyPatch, tls: TlsMaterial
) -> None:
    found = problems(monkeypatch, LEADSYNC_KAFKA_SSL_CAFILE=str(tls.ca_file))
    assert found == [
        "LEADSYNC_KAFKA_SSL_CAFILE: set, but LEADSYNC_KAFKA_SECURITY_PROTOCOL=PLAINTEXT "
        "does not use TLS (SSL, SASL_SSL do)"
    ]


@pytest.mark.parametrize(
    ("path", "says"),
    [("/nonexistent/ca.pem", "/nonexistent/ca.pem does not exist"), ("/", "/ is not a file")],
)
def test_a_missing_ca_file_is_named(monkeypatch: pytest.MonkeyPatch, path: str, says: str) -> None:
    found = problems(
        monkeypatch, LEADSYNC_KAFKA_SECURITY_PROTOCOL="SSL", LEADSYNC_KAFKA_SSL_CAFILE=path
    )
    assert found == [f"LEADSYNC_KAFKA_SSL_CAFILE: {says}"]


def test_kafka_client_certificates_build_the_context(
    monkeypatch: pytest.MonkeyPatch, tls: TlsMaterial
) -> None:
    monkeypatch.setenv("LEADSYNC_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("LEADSYNC_KAFKA_SSL_CAFILE", str(tls.ca_file))
    monkeypatch.setenv("LEADSYNC_KAFKA_SSL_CERTFILE", str(tls.client_cert))
    monkeypatch.setenv("LEADSYNC_KAFKA_SSL_KEYFILE", str(tls.encrypted_client_key))
    monkeypatch.setenv("LEADSYNC_KAFKA_SSL_KEY_PASSWORD", tls.key_password)
    options = connection_options(load_configuration().settings)
    context: ssl.SSLContext = options["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    subjects = [cert["subject"] for cert in context.get_ca_certs()]
    assert len(subjects) == 1, "the CA file is the only trusted root"
    assert options["security_protocol"] == "SSL"


@pytest.mark.parametrize(
    ("files", "expected_start"),
    [
        ({"LEADSYNC_KAFKA_SSL_CAFILE": "client_cert_as_key"}, "LEADSYNC_KAFKA_SSL_CAFILE: "),
        (
            {
                "LEADSYNC_KAFKA_SSL_CERTFILE": "client_key",
                "LEADSYNC_KAFKA_SSL_KEYFILE": "client_key",
            },
            "LEADSYNC_KAFKA_SSL_CERTFILE: ",
        ),
        (
            {
                "LEADSYNC_KAFKA_SSL_CERTFILE": "client_cert",
                "LEADSYNC_KAFKA_SSL_KEYFILE": "encrypted",
            },
            "LEADSYNC_KAFKA_SSL_KEYFILE: the key is encrypted; set "
            "LEADSYNC_KAFKA_SSL_KEY_PASSWORD_FILE",
        ),
        (
            {
                "LEADSYNC_KAFKA_SSL_CERTFILE": "client_cert",
                "LEADSYNC_KAFKA_SSL_KEYFILE": "encrypted",
                "LEADSYNC_KAFKA_SSL_KEY_PASSWORD": "wrong",
            },
            "LEADSYNC_KAFKA_SSL_KEY_PASSWORD: does not unlock the key",
        ),
        ({"LEADSYNC_KAFKA_SSL_KEYFILE": "client_key"}, "LEADSYNC_KAFKA_SSL_KEYFILE: set without"),
    ],
)
def test_unusable_tls_material_is_named(
    monkeypatch: pytest.MonkeyPatch,
    tls: TlsMaterial,
    files: dict[str, str],
    expected_start: str,
) -> None:
    paths = {
        "client_cert": tls.client_cert,
        "client_key": tls.client_key,
        "encrypted": tls.encrypted_client_key,
        "client_cert_as_key": tls.client_key,  # a key where a CA bundle belongs
    }
    values = {name: str(paths.get(value, value)) for name, value in files.items()}
    found = problems(monkeypatch, LEADSYNC_KAFKA_SECURITY_PROTOCOL="SSL", **values)
    assert len(found) == 1, found
    assert found[0].startswith(expected_start), found
    assert "_ssl.c" not in found[0]


def test_the_pbx_ca_file_is_checked_and_used(
    monkeypatch: pytest.MonkeyPatch, tls: TlsMaterial
) -> None:
    found = problems(monkeypatch, LEADSYNC_NOOJEE_CA_FILE=str(tls.client_key))
    assert found == [f"LEADSYNC_NOOJEE_CA_FILE: {tls.client_key} holds no PEM certificate"]
    monkeypatch.setenv("LEADSYNC_NOOJEE_CA_FILE", str(tls.ca_file))
    context = pbx_tls_context(load_configuration().settings)
    assert context is not None
    assert len(context.get_ca_certs()) == 1


def test_pbx_tls_files_need_https(monkeypatch: pytest.MonkeyPatch, tls: TlsMaterial) -> None:
    found = problems(
        monkeypatch,
        LEADSYNC_NOOJEE_URL="http://pbx.example.com",
        LEADSYNC_NOOJEE_CLIENT_KEY=str(tls.client_key),
    )
    assert found == [
        "LEADSYNC_NOOJEE_CLIENT_KEY: set, but LEADSYNC_NOOJEE_URL is not https://",
        "LEADSYNC_NOOJEE_CLIENT_KEY: set without LEADSYNC_NOOJEE_CLIENT_CERT, "
        "the certificate it belongs to",
    ]


# -- the rest of the validator -------------------------------------------------------------


def test_debezium_without_a_mapping_is_named_once(monkeypatch: pytest.MonkeyPatch) -> None:
    (line,) = problems(monkeypatch, LEADSYNC_INPUT_FORMAT="debezium")
    assert line.startswith("LEADSYNC_MAPPING_FILE: required with LEADSYNC_INPUT_FORMAT=debezium")


def test_a_bad_mapping_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "mapping.toml").write_text("not = [valid")
    (line,) = problems(monkeypatch, LEADSYNC_MAPPING_FILE=str(tmp_path / "mapping.toml"))
    assert line.startswith("LEADSYNC_MAPPING_FILE: ")
    assert "not valid TOML" in line


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin", "unknown exporter 'zipkin'"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "-5", "not a whole number above 0"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "soon", "not a number of milliseconds"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "not an http:// or https:// URL"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "not one of gzip, deflate, none"),
        ("OTEL_TRACES_SAMPLER", "sometimes", "is not one of always_off"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent.pem", "not a readable file"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "http/protobuf only"),
    ],
)
def test_bad_otel_values_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    (line,) = problems(monkeypatch, **{"OTEL_TRACES_EXPORTER": "otlp", name: value})
    assert line.startswith(f"{name}: ")
    assert says in line


def test_problems_of_every_kind_come_together(monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems(
        monkeypatch,
        LEADSYNC_RATE_LIMT="5",
        LEADSYNC_MAX_CONCURRENCY="x",
        OTEL_SDK_DISABLED="no",
        OTEL_TRACES_EXPORTER="zipkin",
    )
    assert [line.split(":")[0] for line in found] == [
        "LEADSYNC_RATE_LIMT",
        "LEADSYNC_MAX_CONCURRENCY",
        "OTEL_TRACES_EXPORTER",
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEADSYNC_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9093,[::1]:9094,kafka-3"),
        ("LEADSYNC_SOURCE_TOPIC", "crm.leads_v2-x"),
    ],
)
def test_good_addresses_and_names_pass(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    assert problems(monkeypatch, **{name: value}) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEADSYNC_KAFKA_BOOTSTRAP", "kafka-1:notaport"),
        ("LEADSYNC_KAFKA_BOOTSTRAP", "kafka-1:99999"),
        ("LEADSYNC_KAFKA_BOOTSTRAP", "kafka-1:9092,"),
        ("LEADSYNC_SOURCE_TOPIC", "lead changes"),
        ("LEADSYNC_DLQ_TOPIC", "x" * 250),
        ("LEADSYNC_PROGRESS_TOPIC", "lead/progress"),
        ("LEADSYNC_PROGRESS_MAX_BYTES", str(2**31)),
        ("LEADSYNC_PROGRESS_INTERVAL_MS", "nan"),
    ],
)
def test_bad_addresses_and_names_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    (line,) = problems(monkeypatch, **{name: value})
    assert line.startswith(f"{name}: ")


def test_a_variable_both_signals_read_is_named_once(monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems(
        monkeypatch,
        OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4317",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
    )
    assert found == [
        "OTEL_EXPORTER_OTLP_PROTOCOL: leadsync exports OTLP over http/protobuf only, not 'grpc'"
    ]


@pytest.mark.parametrize(
    ("variables", "line"),
    [
        (
            {"LEADSYNC_DLQ_TOPIC": "lead-changes"},
            "LEADSYNC_DLQ_TOPIC: must differ from LEADSYNC_SOURCE_TOPIC",
        ),
        (
            {"LEADSYNC_PROGRESS_TOPIC": "lead-changes"},
            "LEADSYNC_PROGRESS_TOPIC: must differ from LEADSYNC_SOURCE_TOPIC (lead-changes)",
        ),
        (
            {"LEADSYNC_PROGRESS_TOPIC": "lead-changes.dlq"},
            "LEADSYNC_PROGRESS_TOPIC: must differ from the dead-letter topic (lead-changes.dlq)",
        ),
    ],
)
def test_one_topic_for_two_kinds_of_record_is_named(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], line: str
) -> None:
    assert problems(monkeypatch, **variables) == [line]


def test_without_progress_its_topic_may_be_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        problems(monkeypatch, LEADSYNC_PROGRESS="false", LEADSYNC_PROGRESS_TOPIC="lead-changes")
        == []
    )
