"""The one place the service's objects are built and wired together.

Every part takes its collaborators in its constructor; nothing is patched in
after. ``consumer.service`` runs what ``build_pipeline`` returns.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from consumer.deadletters.writer import DeadLetterWriter
from consumer.delivery.attempts import AttemptObserver, Delivery, Observers
from consumer.delivery.breaker import Breaker
from consumer.delivery.internal_errors import InternalErrors
from consumer.delivery.lanes import Lanes
from consumer.delivery.retry import RetryPolicy
from consumer.delivery.router import Router
from consumer.delivery.routes import Fallbacks
from consumer.delivery.work import Work
from consumer.delivery.worker import LaneWorker
from consumer.errors import SettingsError
from consumer.intake.backpressure import FlowControl
from consumer.intake.committer import Committer
from consumer.intake.loop import Intake
from consumer.intake.pause_schedule import PauseSchedule
from consumer.intake.preparing import RecordPreparer
from consumer.kafka.clients import SESSION_TIMEOUT_MS, group_generation
from consumer.limits.adaptive import AdaptiveConcurrency
from consumer.limits.throttle import Throttle
from consumer.observability.counts import Counts
from consumer.observability.telemetry import Telemetry
from consumer.ownership.handover import Drainer
from consumer.ownership.partition_table import PartitionTable
from consumer.ownership.progress_log import ProgressLog
from consumer.pbx.client import NoojeeClient
from consumer.pipeline import Pipeline, Stop
from consumer.settings import InputFormat, Settings
from consumer.tls import TlsFiles, client_context
from contracts.formats import DecoderConfig, MappingError, load_mapping
from contracts.request import RequestDefaults


def service_version() -> str:
    try:
        return version("noojee-leadsync")
    except PackageNotFoundError:
        return "0+unknown"


def build_decoder(settings: Settings) -> DecoderConfig:
    """The input decoder; raises ``SettingsError`` naming the variable when unusable."""
    if settings.input_format is InputFormat.DEBEZIUM and settings.mapping_file is None:
        raise SettingsError(
            "LEADSYNC_MAPPING_FILE: required with LEADSYNC_INPUT_FORMAT=debezium "
            "(the TOML mapping of the CRM's columns; see docs/input-formats.md)"
        )
    try:
        mapping = load_mapping(settings.mapping_file) if settings.mapping_file else None
        return DecoderConfig(
            settings.input_format.value,
            frozenset(settings.cloudevents_types),
            mapping,
            max_bytes=settings.max_event_bytes,
            cloudevents_create_types=frozenset(settings.cloudevents_create_types),
        )
    except MappingError as exc:
        raise SettingsError(f"LEADSYNC_MAPPING_FILE: {exc}") from None
    except ValueError as exc:
        raise SettingsError(f"LEADSYNC_INPUT_FORMAT: {exc}") from None


def build_client(
    settings: Settings,
    *,
    request_timeout_s: float | None = None,
    connect_timeout_s: float | None = None,
) -> NoojeeClient:
    """The PBX client; ``leadsync check`` passes shorter timeouts of its own."""
    return NoojeeClient(
        str(settings.noojee_url),
        settings.noojee_api_key,
        request_timeout_s=request_timeout_s or settings.request_timeout_s,
        connect_timeout_s=connect_timeout_s or settings.connect_timeout_s,
        # The throttle bounds calls; the pool must never be the tighter limit.
        max_connections=settings.max_concurrency + 4,
        ssl_context=pbx_tls_context(settings),
    )


def pbx_tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A context for a private CA or a client certificate; None means the system's roots.

    Raises ``SettingsError`` naming the variable of a file that cannot be used.
    """
    if settings.noojee_ca_file is None and settings.noojee_client_cert is None:
        return None
    return client_context(
        TlsFiles(
            ca_file=settings.noojee_ca_file,
            cert_file=settings.noojee_client_cert,
            key_file=settings.noojee_client_key,
            ca_variable="LEADSYNC_NOOJEE_CA_FILE",
            cert_variable="LEADSYNC_NOOJEE_CLIENT_CERT",
            key_variable="LEADSYNC_NOOJEE_CLIENT_KEY",
        )
    )


def build_delivery(
    settings: Settings,
    client: NoojeeClient,
    observer: AttemptObserver,
    throttle: Throttle,
    breaker: Breaker,
) -> tuple[Delivery, AdaptiveConcurrency | None]:
    """The attempts and their collaborators; the adaptive limit when it is on."""
    policy = RetryPolicy(
        base_s=settings.retry_base_s,
        cap_s=settings.retry_cap_s,
        deadline_s=settings.retry_deadline_s,
    )
    if not settings.adaptive_concurrency:
        delivery = Delivery(client, throttle, policy, breaker=breaker, observer=observer)
        return delivery, None
    # Telemetry first: the controller may change the limit the metrics report.
    adaptive = AdaptiveConcurrency(throttle)
    delivery = Delivery(
        client,
        throttle,
        policy,
        breaker=breaker,
        observer=Observers(observer, adaptive),
        on_overload=adaptive.on_overload,
    )
    return delivery, adaptive


def build_pipeline(
    settings: Settings,
    decoder: DecoderConfig,
    *,
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer,
    client: NoojeeClient,
    throttle: Throttle,
    telemetry: Telemetry,
    leads_group: Callable[[], bool],
    health_port: int | None,
    progress_reader: tuple[AIOKafkaConsumer, int] | None = None,
) -> Pipeline:
    """Every part of the running service, built and wired here and nowhere else.

    ``progress_reader``: a started group-less consumer and the progress topic's
    partition count, when ``LEADSYNC_PROGRESS`` is on (``open_reader``).
    """
    table, breaker, counts = PartitionTable(), Breaker(), Counts()
    stop = Stop(table, breaker)
    delivery, adaptive = build_delivery(settings, client, telemetry, throttle, breaker)
    defaults = RequestDefaults(
        template_id=settings.noojee_template_id,
        campaign_id=settings.noojee_campaign_id,
        allocation_id=settings.noojee_allocation_id,
        timezone=settings.timezone,
        phone_fields=settings.noojee_phone_fields,
        allow_duplicates=settings.noojee_allow_duplicates,
    )
    router = Router(
        delivery,
        Fallbacks(settings.create_missing, settings.noojee_undialled_disposition),
        on_fallback=telemetry.metrics.fallback_taken,
    )
    dead_letters = DeadLetterWriter(
        producer,
        settings.dead_letter_topic,
        settings.group_id,
        service_version(),
        on_omitted=telemetry.metrics.dead_letter_omitted,
    )
    worker = LaneWorker(
        router=router,
        dead_letters=dead_letters,
        defaults=defaults,
        counts=counts,
        done=lambda work: table.done(work.partition, work.offset),  # type: ignore[arg-type]
        fail=stop.fail,
        coalesce=settings.coalesce,
        telemetry=telemetry,
        internal_errors=InternalErrors(settings.max_consecutive_internal_errors),
    )
    # The worker turns every exception of an item into a dead letter; one that
    # escapes it (writing that dead letter failed unexpectedly) stops the service.
    lanes: Lanes[Work] = Lanes(worker.process, on_error=lambda _, exc: stop.fail(exc))
    progress = None
    if progress_reader is not None:
        reader, partitions = progress_reader
        progress = ProgressLog(
            producer,
            reader,
            topic=settings.resume_topic,
            group=settings.group_id,
            partitions=partitions,
            max_bytes=settings.progress_max_bytes,
            generation=lambda: group_generation(consumer),
            observer=telemetry.progress,
            committed=consumer.committed,
        )
    committer = Committer(
        consumer, table, interval_s=settings.commit_interval_s, stopped=lambda: stop.failed
    )
    handover = Drainer(
        table=table,
        lanes=lanes,
        breaker=breaker,
        commit=committer.commit,
        timeout_s=settings.drain_timeout_s,
        failed=lambda: stop.failed,
        leads_group=leads_group,
        persist=progress.write if progress is not None else None,
    )
    schedule = PauseSchedule(settings.windows)
    intake = Intake(
        consumer,
        table,
        lanes,
        prepare=RecordPreparer(decoder, defaults),
        flow=FlowControl(settings.max_in_flight, settings.max_ahead_per_partition),
        breaker=breaker,
        counts=counts,
        source_topic=settings.source_topic,
        abandon=handover.abandon,
        load=progress.load if progress is not None else None,
        resumed=telemetry.progress.event_resumed,
        maintenance=schedule.holds_now,
    )
    pipeline = Pipeline(
        consumer=consumer,
        source_topic=settings.source_topic,
        table=table,
        intake=intake,
        lanes=lanes,
        handover=handover,
        committer=committer,
        throttle=throttle,
        breaker=breaker,
        dead_letters=dead_letters,
        counts=counts,
        stop=stop,
        session_s=SESSION_TIMEOUT_MS / 1000,
        on_ceiling_changed=adaptive.ceiling_changed if adaptive is not None else None,
        health_port=health_port,
        progress=progress,
        progress_interval_s=settings.progress_interval_ms / 1000,
    )
    telemetry.metrics.observe_gauges(
        in_flight=lambda: table.pending_total,
        breaker=lambda: breaker.state,
        lag=pipeline.lag,
        rate_share=lambda: throttle.rate,
        concurrency_share=lambda: throttle.concurrency_ceiling,
        concurrency_limit=lambda: throttle.limit,
        coalesced=lambda: counts.coalesced,
        oldest_unfinished=lambda: {p.tp: p.oldest_unfinished_timestamp() for p in table},
        last_commit=lambda: committer.last_commit_at,
        paused=lambda: int(schedule.paused),
    )
    return pipeline
