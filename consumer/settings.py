"""One settings object, read from ``LEADSYNC_*`` environment variables.

A bad or missing value stops start-up with one line per problem, naming the
variable (``SettingsError``); secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from consumer.errors import SettingsError

ENV_PREFIX = "LEADSYNC_"
PBX_QUEUE_LIMIT_S = 60.0


class InputFormat(StrEnum):
    AUTO = "auto"
    NATIVE = "native"
    CLOUDEVENTS = "cloudevents"
    DEBEZIUM = "debezium"


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


CsvTuple = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """Every ``LEADSYNC_*`` variable; field name = variable name without the prefix."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore", frozen=True
    )

    kafka_bootstrap: str = Field(min_length=1)
    kafka_security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_enable_idempotence: bool = True
    """Idempotent dead-letter producer; the Tansu test broker lacks InitProducerId."""

    source_topic: str = Field(default="lead-changes", min_length=1)
    dlq_topic: str | None = None
    group_id: str = Field(default="leadsync", min_length=1)

    noojee_url: AnyHttpUrl
    noojee_api_key: SecretStr
    noojee_template_id: int | None = None
    noojee_campaign_id: int | None = None
    noojee_allocation_id: int | None = None
    noojee_timezone: str = "UTC"
    noojee_phone_fields: CsvTuple = ("FirstPhone",)
    noojee_allow_duplicates: bool = False
    """insertLeadFast's ``allowDuplicates``: no duplicate-phone check (105) on inserts."""
    noojee_undialled_disposition: str | None = None
    """Resend an update answered 107 once with this disposition; unset: a dead letter."""
    create_missing: bool = False
    """Retry an update answered 101 as an insert when the event can be one."""

    rate_limit: float = Field(default=40.0, gt=0)
    max_concurrency: int = Field(default=4, ge=1)
    max_in_flight: int = Field(default=1000, ge=1)
    max_ahead_per_partition: int = Field(default=5000, ge=1)
    request_timeout_s: float = Field(default=75.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    retry_deadline_s: float = Field(default=900.0, gt=0)
    retry_base_s: float = Field(default=0.5, gt=0)
    retry_cap_s: float = Field(default=60.0, gt=0)
    drain_timeout_s: float = Field(default=90.0, gt=0)
    commit_interval_s: float = Field(default=1.0, gt=0)
    health_port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.JSON
    adaptive_concurrency: bool = True
    input_format: InputFormat = InputFormat.AUTO
    cloudevents_types: CsvTuple = ("lead.changed",)
    cloudevents_create_types: CsvTuple = ("lead.created",)
    mapping_file: Path | None = None
    coalesce: bool = True
    max_event_bytes: int = Field(default=1 << 20, ge=1)
    """A longer record value is dead-lettered unread (Kafka's own default limit)."""
    max_consecutive_internal_errors: int = Field(default=20, ge=1)
    """Events in a row that fail inside leadsync before the service stops (exit 5)."""
    dlq_max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """The largest dead letter the producer sends whole; a larger one goes without its value."""

    _split = field_validator(
        "noojee_phone_fields", "cloudevents_types", "cloudevents_create_types", mode="before"
    )(_split_csv)

    @field_validator("noojee_undialled_disposition", mode="before")
    @classmethod
    def _a_real_disposition(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None  # set but empty: unset, as a ConfigMap writes it
        if isinstance(value, str) and value.strip().lower() == "<no change>":
            raise ValueError("must name a real (action-free) disposition, not <No Change>")
        return value

    @field_validator("noojee_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("noojee_phone_fields")
    @classmethod
    def _some_phone_field(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one phone field of the campaign")
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
    def _retry_cap_above_base(self) -> Settings:
        if self.retry_cap_s < self.retry_base_s:
            raise ValueError("LEADSYNC_RETRY_CAP_S must be at least LEADSYNC_RETRY_BASE_S")
        return self

    @property
    def dead_letter_topic(self) -> str:
        return self.dlq_topic or f"{self.source_topic}.dlq"

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.noojee_timezone)


def describe_validation_error(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        where = problem["loc"][0] if problem["loc"] else ""
        variable = f"{ENV_PREFIX}{str(where).upper()}" if where else "configuration"
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "missing":
            message = "is required but not set"
        lines.append(f"{variable}: {message}")
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (``overrides`` win), or raise ``SettingsError``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
