"""Running the real service in-process against the test broker and the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from consumer.pipeline import Pipeline
from consumer.service import run_service
from consumer.settings import Settings, load_settings


def service_settings(
    bootstrap: str, topic: str, pbx_url: str, api_key: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "kafka_enable_idempotence": False,  # Tansu has no InitProducerId
        "source_topic": topic,
        "group_id": f"{topic}-group",
        "noojee_url": pbx_url,
        "noojee_api_key": api_key,
        "noojee_template_id": 1,
        "noojee_campaign_id": 2,
        "noojee_allocation_id": 3,
        "retry_base_s": 0.02,
        "retry_cap_s": 0.5,
        "commit_interval_s": 0.2,
        "drain_timeout_s": 20,
        "log_format": "text",
        "health_port": 0,  # a free port: services run side by side
        # Oracles compare the PBX's history event by event; coalescing (on in
        # production) merges events and has its own tests.
        "coalesce": False,
    }
    values.update(overrides)
    return load_settings(**values)


async def started_service(settings: Settings) -> tuple[Pipeline, asyncio.Task[int]]:
    """The service consuming, and its task (the exit code); the caller stops it."""
    ready: asyncio.Future[Pipeline] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_service(settings, handle_signals=False, on_ready=ready.set_result)
    )
    waiters: set[asyncio.Future[object]] = {task, ready}  # type: ignore[arg-type]
    await asyncio.wait(waiters, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        task.cancel()
        raise AssertionError(
            f"service did not start: {task.result() if task.done() else 'timeout'}"
        )
    return ready.result(), task


@asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[Pipeline]:
    """The service consuming; on exit it is stopped (drain, commit) and must exit 0."""
    pipeline, task = await started_service(settings)
    try:
        yield pipeline
    finally:
        pipeline.request_stop()
        code = await asyncio.wait_for(task, timeout=settings.drain_timeout_s + 30)
        assert code == 0, f"service exit code {code}"


async def wait_until(
    condition: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.05
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(interval_s)
