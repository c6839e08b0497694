"""Assemble the service from settings and run it until a signal or a fatal error.

Returns the exit code: 0 after a clean stop, else the code of the error that
stopped it (``consumer.errors`` draws the tree), 1 for anything outside it. A
second SIGTERM/SIGINT exits at once with 128 + the signal number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator

from consumer.configuration import prepare
from consumer.errors import (
    EXIT_CONFIG,
    EXIT_CRASH,
    EXIT_OK,
    EXIT_SECOND_SIGNAL_BASE,
    CredentialsRefused,
    KafkaUnreachable,
    LeadsyncError,
    SettingsError,
    exit_code,
)
from consumer.kafka.clients import (
    STOP_TIMEOUT_S,
    build_consumer,
    build_producer,
    build_reader,
    stop_bounded,
)
from consumer.kafka.failures import KAFKA_ERRORS
from consumer.kafka.startup import start_consumer, start_producer
from consumer.limits.throttle import Throttle
from consumer.observability.health import HealthServer
from consumer.observability.telemetry import Telemetry
from consumer.ownership.leadership import Leadership
from consumer.ownership.progress_log import open_reader
from consumer.ownership.slot_assignor import assignors
from consumer.pipeline import Pipeline
from consumer.settings import Settings, effective_settings
from consumer.wiring import build_client, build_pipeline, service_version
from contracts.formats import DecoderConfig

log = logging.getLogger(__name__)

KAFKA_START_TIMEOUT_S = 60.0
"""Bounds each Kafka client's start; aiokafka's own request timeouts usually end it first."""


@contextlib.contextmanager
def aiokafka_quiet() -> Iterator[None]:
    """aiokafka logs a failed start in its own words, Python reprs included; the start
    helpers say once, plainly, what failed. Its later warnings are kept."""
    library = logging.getLogger("aiokafka")
    level = library.level
    library.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        library.setLevel(level)


class StopSignals:
    """SIGTERM and SIGINT from the moment the service's loop runs.

    A signal that arrives while Kafka's clients are still starting is kept, and
    stops the pipeline as soon as it is built: the service then takes nothing,
    closes its clients (leaving the group at once rather than after its session
    timeout) and exits 0, as after any first signal. A second signal exits at
    once with 128 + its number.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self._pipeline: Pipeline | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)

    def attach(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        if self.received:
            pipeline.request_stop()

    def _on_signal(self, signum: int) -> None:
        if self.received:
            log.warning("second signal: exiting at once without draining")
            os._exit(EXIT_SECOND_SIGNAL_BASE + signum)
        self.received.append(signum)
        name = signal.Signals(signum).name
        if self._pipeline is None:
            log.info("%s received while starting: stopping before taking any event", name)
            return
        log.info("%s received: draining (second signal exits at once)", name)
        self._pipeline.request_stop()


async def run_service(
    settings: Settings,
    *,
    handle_signals: bool = True,
    on_ready: Callable[[Pipeline], None] | None = None,
    telemetry: Telemetry | None = None,
) -> int:
    """Run until stopped; ``on_ready`` receives the pipeline (tests, the demo) once it consumes.

    ``telemetry`` replaces the one set up from the ``OTEL_*`` variables (tests
    read spans and metrics from memory).
    """
    signals = StopSignals()
    if handle_signals:
        signals.install()
    try:
        decoder = prepare(settings, os.environ).decoder
        if telemetry is None:
            telemetry = Telemetry.from_settings(settings, version=service_version())
    except SettingsError as exc:
        for problem in str(exc).splitlines():
            log.critical("bad configuration: %s", problem)
        return EXIT_CONFIG
    shown = " ".join(f"{name}={value}" for name, value in effective_settings(settings).items())
    log.info("leadsync %s starting with %s", service_version(), shown)
    pipelines: list[Pipeline] = []
    health = HealthServer(
        settings.health_port,
        lambda: pipelines[0].readiness() if pipelines else (False, ["starting"]),
        telemetry.metrics_text,
    )
    try:
        # Before Kafka: the startup probe asks /livez while the consumer joins.
        await health.start()
    except OSError as exc:
        log.critical("cannot serve LEADSYNC_HEALTH_PORT=%d: %s", settings.health_port, exc)
        await telemetry.shutdown()
        return EXIT_CONFIG
    try:
        return await _serve(
            settings,
            decoder,
            telemetry=telemetry,
            health=health,
            pipelines=pipelines,
            signals=signals,
            on_ready=on_ready,
        )
    finally:
        await health.stop()
        await telemetry.shutdown()


async def _serve(
    settings: Settings,
    decoder: DecoderConfig,
    *,
    telemetry: Telemetry,
    health: HealthServer,
    pipelines: list[Pipeline],
    signals: StopSignals,
    on_ready: Callable[[Pipeline], None] | None,
) -> int:
    throttle = Throttle(settings.rate_limit, settings.max_concurrency)
    leadership = Leadership()
    producer = build_producer(settings)
    try:
        with aiokafka_quiet():
            await start_producer(producer, settings, KAFKA_START_TIMEOUT_S)
    except KafkaUnreachable as exc:
        log.critical("%s", exc)
        await stop_bounded(producer, STOP_TIMEOUT_S)
        return exc.exit_code
    reader = build_reader(settings) if settings.progress else None
    try:
        progress_partitions = await open_reader(reader, settings.resume_topic) if reader else 0
    except (SettingsError, *KAFKA_ERRORS) as exc:
        log.critical("%s", exc if isinstance(exc, SettingsError) else f"cannot reach Kafka: {exc}")
        for client in (producer, reader):
            if client is not None:  # built, maybe never started: closed all the same
                await stop_bounded(client, STOP_TIMEOUT_S)
        return exit_code(exc) if isinstance(exc, SettingsError) else KafkaUnreachable.exit_code
    # Built once the producer runs: a consumer never started is never stopped either.
    consumer = build_consumer(
        settings, leadership.watch(assignors(settings.max_concurrency, throttle.grant))
    )
    async with build_client(settings) as client:
        pipeline = build_pipeline(
            settings,
            decoder,
            consumer=consumer,
            producer=producer,
            client=client,
            throttle=throttle,
            telemetry=telemetry,
            leads_group=lambda: leadership.leads,
            health_port=health.port,
            progress_reader=(reader, progress_partitions) if reader else None,
        )
        pipelines.append(pipeline)
        signals.attach(pipeline)
        consumer.subscribe([settings.source_topic], listener=pipeline.listener())
        try:
            with aiokafka_quiet():
                await start_consumer(consumer, settings, KAFKA_START_TIMEOUT_S)
        except KafkaUnreachable as exc:
            log.critical("%s", exc)
            await stop_bounded(consumer, STOP_TIMEOUT_S)
            await stop_bounded(producer, STOP_TIMEOUT_S)
            return exc.exit_code
        if on_ready is not None:
            on_ready(pipeline)
        log.info(
            "leadsync %s consuming %s as group %s; dead letters to %s; health on port %d",
            service_version(),
            settings.source_topic,
            settings.group_id,
            settings.dead_letter_topic,
            health.port,
        )
        try:
            await pipeline.run()
        except CredentialsRefused as exc:
            log.critical("the PBX refused the API key (LEADSYNC_NOOJEE_API_KEY): %s", exc)
            return exc.exit_code
        except LeadsyncError as exc:
            return exc.exit_code  # logged where it was decided, with its traceback
        except Exception:
            # Nothing unfinished was committed, so a restart resumes without loss.
            log.critical("stopping after an unexpected error", exc_info=True)
            return EXIT_CRASH
        finally:
            await stop_bounded(consumer, STOP_TIMEOUT_S)
            await stop_bounded(producer, STOP_TIMEOUT_S)
            if reader is not None:
                await stop_bounded(reader, STOP_TIMEOUT_S)
    log.info("stopped cleanly")
    return EXIT_OK
