"""Fixtures for tests over real sockets on 127.0.0.1: simulated PBXs and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any, Protocol

import aiohttp
import pytest

from consumer.sandbox.simulator.config import SimulatorConfig
from consumer.sandbox.simulator.server import Simulator, run_simulator

SIM_API_KEY = "sim-test-key-7f3a9c"
"""The key every simulator from the ``simulator`` fixture expects."""


class StartSimulator(Protocol):
    async def __call__(self, **options: Any) -> Simulator:
        """A running simulator; ``options`` are ``SimulatorConfig`` fields."""
        ...


@pytest.fixture
async def simulator() -> AsyncIterator[StartSimulator]:
    """Factory: ``sim = await simulator(threads=8, min_service_ms=1)``; all stop at teardown.

    ``api_key`` defaults to ``SIM_API_KEY``; ports are free ones (``sim.url``,
    ``sim.admin_url``).
    """
    async with AsyncExitStack() as stack:

        async def start(**options: Any) -> Simulator:
            options.setdefault("api_key", SIM_API_KEY)
            return await stack.enter_async_context(run_simulator(SimulatorConfig(**options)))

        yield start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session, closed at teardown."""
    async with aiohttp.ClientSession() as session:
        yield session
