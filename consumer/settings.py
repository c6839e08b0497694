"""One settings object, read from ``LEADSYNC_*`` environment variables.

A bad or missing value stops start-up with one line per problem, naming the
variable (``SettingsError``); secrets are ``SecretStr`` and never printed. A
secret may come from a file instead (``<VARIABLE>_FILE``, the Kubernetes way):
exactly one of the two, the file's trailing newline stripped.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumer.errors import SettingsError
from consumer.pause_windows import PauseWindow, parse_pause_windows
from consumer.secret_files import ENV_PREFIX, resolve_secret_files, variable
from consumer.settings_report import describe_validation_error, effective_settings
from consumer.settings_rules import (
    SASL_MECHANISMS,
    CsvTuple,
    Disposition,
    EventTypes,
    InputFormat,
    LogFormat,
    Protocol,
    ReadableFile,
    SecretFile,
    SecurityProtocol,
    bootstrap_problem,
    normal_mechanism,
    pbx_tls_problems,
    security_problems,
    shared_topic_problems,
    topic_problem,
)

PBX_QUEUE_LIMIT_S = 60.0
_EMPTY = {
    "noojee_phone_fields": "name at least one phone field of the campaign",
    "cloudevents_types": "name at least one CloudEvents type (default lead.changed)",
    "noojee_api_key": "is empty",
}

__all__ = [
    "ENV_PREFIX",
    "PBX_QUEUE_LIMIT_S",
    "SASL_MECHANISMS",
    "InputFormat",
    "LogFormat",
    "SecurityProtocol",
    "Settings",
    "describe_validation_error",
    "effective_settings",
    "load_settings",
    "variable",
]


class Settings(BaseSettings):
    """Every ``LEADSYNC_*`` variable; field name = variable name without the prefix."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore", frozen=True
    )

    kafka_bootstrap: str = Field(min_length=1)
    kafka_security_protocol: Protocol = SecurityProtocol.PLAINTEXT
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: SecretFile | None = None
    kafka_ssl_cafile: ReadableFile | None = None
    kafka_ssl_certfile: ReadableFile | None = None
    """Client certificate (PEM; may hold the key too) for brokers that ask for one."""
    kafka_ssl_keyfile: ReadableFile | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_key_password_file: SecretFile | None = None
    kafka_enable_idempotence: bool = True
    """Idempotent dead-letter producer; the Tansu test broker lacks InitProducerId."""

    source_topic: str = Field(default="lead-changes", min_length=1)
    dlq_topic: str | None = None
    group_id: str = Field(default="leadsync", min_length=1)
    progress: bool = True
    """Persist each partition's finished offsets, so a next owner sends none of them again."""
    progress_topic: str | None = None
    progress_interval_ms: float = Field(default=100.0, gt=0, le=60_000, allow_inf_nan=False)
    progress_max_bytes: int = Field(default=16 * 1024, ge=256, le=2**31 - 1)

    noojee_url: AnyHttpUrl
    noojee_api_key: SecretStr
    noojee_api_key_file: SecretFile | None = None
    noojee_ca_file: ReadableFile | None = None
    """CA bundle that signs the PBX's certificate (replaces the system's for the PBX)."""
    noojee_client_cert: ReadableFile | None = None
    noojee_client_key: ReadableFile | None = None
    noojee_template_id: int | None = None
    noojee_campaign_id: int | None = None
    noojee_allocation_id: int | None = None
    noojee_timezone: str = "UTC"
    noojee_phone_fields: CsvTuple = ("FirstPhone",)
    noojee_allow_duplicates: bool = False
    """insertLeadFast's ``allowDuplicates``: no duplicate-phone check (105) on inserts."""
    noojee_undialled_disposition: Disposition = None
    """Resend an update answered 107 once with this disposition; unset: a dead letter."""
    create_missing: bool = False
    """Retry an update answered 101 as an insert when the event can be one."""

    # Upper bounds keep every value inside what the clients and the Kafka
    # protocol can carry (milliseconds in an int32), far above any real need.
    rate_limit: float = Field(default=40.0, gt=0, le=1_000_000, allow_inf_nan=False)
    max_concurrency: int = Field(default=4, ge=1, le=10_000)
    max_in_flight: int = Field(default=1000, ge=1, le=10_000_000)
    max_ahead_per_partition: int = Field(default=5000, ge=1, le=10_000_000)
    request_timeout_s: float = Field(default=75.0, gt=0, le=3600, allow_inf_nan=False)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)
    retry_deadline_s: float = Field(default=900.0, gt=0, le=30 * 86_400, allow_inf_nan=False)
    retry_base_s: float = Field(default=0.5, gt=0, le=3600, allow_inf_nan=False)
    retry_cap_s: float = Field(default=60.0, gt=0, le=86_400, allow_inf_nan=False)
    drain_timeout_s: float = Field(default=90.0, gt=0, le=86_400, allow_inf_nan=False)
    commit_interval_s: float = Field(default=1.0, gt=0, le=3600, allow_inf_nan=False)
    health_port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.JSON
    adaptive_concurrency: bool = True
    input_format: InputFormat = InputFormat.AUTO
    cloudevents_types: EventTypes = ("lead.changed",)
    cloudevents_create_types: EventTypes = ("lead.created",)
    mapping_file: ReadableFile | None = None
    coalesce: bool = True
    max_event_bytes: int = Field(default=1 << 20, ge=1, le=2**31 - 1)
    """A longer record value is dead-lettered unread (Kafka's own default limit)."""
    max_consecutive_internal_errors: int = Field(default=20, ge=1, le=1_000_000)
    """Events in a row that fail inside leadsync before the service stops (exit 5)."""
    dlq_max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=2**31 - 1)
    """The largest dead letter the producer sends whole; a larger one goes without its value."""
    pause_windows: str = ""
    """Maintenance windows in which every partition pauses (``consumer.pause_windows``)."""

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        return resolve_secret_files(data) if isinstance(data, dict) else data

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_servers(cls, value: str) -> str:
        if problem := bootstrap_problem(value):
            raise ValueError(problem)
        return value.strip()

    @field_validator("source_topic", "dlq_topic", "progress_topic")
    @classmethod
    def _topic_name(cls, value: str | None) -> str | None:
        if value is not None and (problem := topic_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("kafka_sasl_mechanism", mode="before")
    @classmethod
    def _mechanism(cls, value: Any) -> Any:
        return normal_mechanism(value) if isinstance(value, str) else value

    @field_validator("noojee_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("noojee_phone_fields", "cloudevents_types", "noojee_api_key")
    @classmethod
    def _not_empty(cls, value: Any, info: ValidationInfo) -> Any:
        text = value.get_secret_value().strip() if isinstance(value, SecretStr) else value
        if not text:
            raise ValueError(_EMPTY[str(info.field_name)])
        return value

    @field_validator("pause_windows")
    @classmethod
    def _readable_windows(cls, value: str) -> str:
        parse_pause_windows(value)  # a ValueError names the bad window
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("request_timeout_s")
    @classmethod
    def _above_pbx_queue_limit(cls, value: float) -> float:
        if value <= PBX_QUEUE_LIMIT_S:
            raise ValueError(
                f"must exceed the PBX's {PBX_QUEUE_LIMIT_S:.0f} s queue limit, "
                "or calls the PBX would still answer are abandoned and re-sent"
            )
        return value

    @model_validator(mode="after")
    def _combinations(self) -> Settings:
        problems = list(
            security_problems(
                self.kafka_security_protocol,
                mechanism=self.kafka_sasl_mechanism,
                username=self.kafka_sasl_username,
                password_set=self.kafka_sasl_password is not None,
                tls_files={
                    "kafka_ssl_cafile": self.kafka_ssl_cafile,
                    "kafka_ssl_certfile": self.kafka_ssl_certfile,
                    "kafka_ssl_keyfile": self.kafka_ssl_keyfile,
                },
                key_password_set=self.kafka_ssl_key_password is not None,
            )
        )
        if self.retry_cap_s < self.retry_base_s:
            problems.append("LEADSYNC_RETRY_CAP_S: must be at least LEADSYNC_RETRY_BASE_S")
        if both := sorted(set(self.cloudevents_types) & set(self.cloudevents_create_types)):
            problems.append(
                f"LEADSYNC_CLOUDEVENTS_CREATE_TYPES: {', '.join(both)} is also in "
                "LEADSYNC_CLOUDEVENTS_TYPES: name each type in one of the two"
            )
        problems += shared_topic_problems(
            source=self.source_topic,
            dead_letters=self.dead_letter_topic,
            progress=self.resume_topic if self.progress else None,
        )
        problems += pbx_tls_problems(
            self.noojee_url.scheme,
            ca_file=self.noojee_ca_file,
            client_cert=self.noojee_client_cert,
            client_key=self.noojee_client_key,
        )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def dead_letter_topic(self) -> str:
        return self.dlq_topic or f"{self.source_topic}.dlq"

    @property
    def resume_topic(self) -> str:
        """The progress topic (``LEADSYNC_PROGRESS_TOPIC``, or ``<SOURCE_TOPIC>.progress``)."""
        return self.progress_topic or f"{self.source_topic}.progress"

    @property
    def windows(self) -> tuple[PauseWindow, ...]:
        return parse_pause_windows(self.pause_windows)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.noojee_timezone)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (``overrides`` win), or raise ``SettingsError``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
