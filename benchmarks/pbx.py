"""The simulated PBX as a subprocess (``leadsync simulate``) and a client of its inspection API.

A process of its own, so that its CPU is not the harness's and a benchmark
reads it only the way a test or an operator would: over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.measures import AppliedCall

API_KEY_ENV = "LEADSYNC_SIM_API_KEY"
START_TIMEOUT_S = 30.0
FETCH_CONCURRENCY = 16


class Pbx:
    """A running simulator: ``url`` for the service, the rest for the benchmark."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        url: str,
        admin_url: str,
        api_key: str,
        capacity: int,
    ) -> None:
        self.process = process
        self.url = url
        self.admin_url = admin_url
        self.api_key = api_key
        self.capacity = capacity
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    def __repr__(self) -> str:  # never the key
        return f"Pbx(url={self.url!r}, capacity={self.capacity})"

    @classmethod
    async def start(
        cls,
        log_path: Path,
        *,
        threads: int,
        min_service_ms: float,
        max_service_ms: float,
        queue_timeout_s: float = 60.0,
        seed: int = 1,
    ) -> Pbx:
        api_key = secrets.token_hex(12)
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "consumer.cli", "simulate", "--port", "0", "--admin-port", "0"),
                *("--threads", str(threads), "--seed", str(seed)),
                *("--min-service-ms", str(min_service_ms)),
                *("--max-service-ms", str(max_service_ms)),
                *("--queue-timeout-s", str(queue_timeout_s)),
                env={**os.environ, API_KEY_ENV: api_key},
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
            where = json.loads(line)
        except (TimeoutError, ValueError):
            process.kill()
            await process.wait()
            raise RuntimeError(f"the simulator did not start; see {log_path}") from None
        return cls(process, where["url"], where["admin_url"], api_key, threads // 2)

    async def close(self) -> None:
        await self._session.close()
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    async def _get(self, path: str) -> Any:
        async with self._session.get(self.admin_url + path) as response:
            response.raise_for_status()
            return await response.json()

    async def _post(self, path: str, doc: object) -> Any:
        async with self._session.post(self.admin_url + path, json=doc) as response:
            response.raise_for_status()
            return await response.json()

    async def stats(self) -> dict[str, Any]:
        """Counters: ``applied``, ``codes`` (per Noojee code), ``max_concurrency``, …"""
        stats: dict[str, Any] = await self._get("/_sim/stats")
        return stats

    async def applied_count(self) -> int:
        return int((await self.stats())["applied"])

    async def reset(self) -> None:
        await self._post("/_sim/reset", {})

    async def configure(self, options: dict[str, Any]) -> None:
        """``POST /_sim/config``: a partial update of the simulator's options."""
        await self._post("/_sim/config", options)

    async def quiet(self, timeout_s: float = 30.0) -> None:
        """Until no call executes or waits (a process stopped before may have left some)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            stats = await self.stats()
            if not stats["executing"] and not stats["queued"]:
                return
            await asyncio.sleep(0.05)

    async def set_outage(self, mode: str | None) -> None:
        """``"refuse"`` closes the PBX port (calls in flight are cut); None reopens it."""
        await self._post("/_sim/config", {"outage": mode})

    async def applied(self) -> list[AppliedCall]:
        """Every update applied since the last reset, with the produce time it carried."""
        counts: dict[str, int] = await self._get("/_sim/leads")
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def one(lead: str) -> list[AppliedCall]:
            async with gate:
                updates = await self._get(f"/_sim/leads/{lead}")
            return [_applied_call(lead, update) for update in updates]

        calls: list[AppliedCall] = []
        for part in await asyncio.gather(*(one(lead) for lead in counts)):
            calls += part
        return calls


def _applied_call(lead: str, update: dict[str, Any]) -> AppliedCall:
    sent: float | None = None
    with contextlib.suppress(KeyError, TypeError, ValueError):
        sent = float(update["body"]["SentAt"])
    return AppliedCall(lead, float(update["started_at"]), float(update["finished_at"]), sent)
