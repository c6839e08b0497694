"""NoojeeClient against the simulator and raw servers, over real sockets on 127.0.0.1.

Each row of the code table in docs/reference/noojee-api.md has a test (ids = code names) showing
the outcome class the client returns; then the transport rows (refused, outage,
read timeout, reset after send) and the API key never showing anywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from pydantic import SecretStr

from consumer.pbx.client import CallResult, NoojeeClient
from consumer.pbx.outcomes import Applied, Fatal, Outcome, Permanent, Retry, Unavailable
from contracts.noojee import NO_CHANGE, Endpoint, InsertLeadFast, NoojeeCode, UpdateLeadFast
from contracts.reasons import HTTP_STATUS_OF_CODE
from tests.integration.conftest import SIM_API_KEY, StartSimulator

CAMPAIGN = {"fTemplateId": "41", "fCampaignId": "41", "fAllocationId": "38"}
LEAD = "CRM-000123"


def update(lead: str = LEAD, **fields: str | int) -> UpdateLeadFast:
    body: dict[str, str | int] = {
        "njExternalLeadId": lead,
        "njDisposition": "Callback",
        "FirstPhone": "0383218199",
    }
    body.update(fields)
    return UpdateLeadFast(lead_id=lead, query=CAMPAIGN, body=body)


@asynccontextmanager
async def client_for(
    url: str, key: str = SIM_API_KEY, *, request_timeout_s: float = 10.0
) -> AsyncIterator[NoojeeClient]:
    client = NoojeeClient(
        url,
        SecretStr(key),
        request_timeout_s=request_timeout_s,
        connect_timeout_s=2.0,
        max_connections=4,
    )
    async with client:
        yield client


def free_closed_port() -> int:
    """A loopback port nobody listens on (connecting to it is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- the code table -------------------------------------------------------------

NO_PHONE = UpdateLeadFast(
    lead_id=LEAD, query=CAMPAIGN, body={"njExternalLeadId": LEAD, "njDisposition": "Callback"}
)

# (code, simulator options, request, outcome class); 109 needs a queue, see below.
CODE_ROWS: list[tuple[NoojeeCode, dict[str, Any], UpdateLeadFast, type[Outcome]]] = [
    (NoojeeCode.OK, {}, update(), Applied),
    (NoojeeCode.COULDNT_FIND_THE_LEAD, {"unknown_leads": frozenset({LEAD})}, update(), Permanent),
    (NoojeeCode.NO_PHONE_FIELDS, {}, NO_PHONE, Permanent),
    (NoojeeCode.EXCEPTION, {"error_ratio": 1.0}, update(), Retry),
    (
        NoojeeCode.DNC,
        {"dnc_numbers": frozenset({"0399999999"})},
        update(FirstPhone="0399999999"),
        Permanent,
    ),
    (
        NoojeeCode.DUPLICATE,
        {"duplicate_numbers": frozenset({"0399999999"})},
        update(FirstPhone="0399999999"),
        Permanent,
    ),
    (
        NoojeeCode.INVALID_DISPOSTION,
        {"valid_dispositions": frozenset({"Callback"})},
        update(njDisposition="Nonsense"),
        Permanent,
    ),
    (
        NoojeeCode.DISPOSTION_ISNT_SET_AND_NOCHANGE_SPECIFIED,
        {"never_dialled": frozenset({LEAD})},
        update(njDisposition=NO_CHANGE),
        Permanent,
    ),
    (
        NoojeeCode.IMPORT_BUT_NOCHANGE_SPECIFIED,
        {"importing_leads": frozenset({LEAD})},
        update(SecondPhone=NO_CHANGE),
        Permanent,
    ),
    (
        NoojeeCode.LEAD_NOT_UPDATED_DUE_TO_CONFLICT,
        {"conflict_leads": {LEAD: 1}},
        update(),
        Permanent,
    ),
    (
        NoojeeCode.INVALID_TIMEZONE_SPECIFIED,
        {"valid_contact_hours": frozenset({"Australia/Melbourne"})},
        update(njContactHours="Mars/Olympus_Mons"),
        Permanent,
    ),
    (
        NoojeeCode.DUPLICATE_EXTERNAL_ID,
        {"duplicate_external_ids": frozenset({LEAD})},
        update(),
        Permanent,
    ),
]


def test_every_documented_code_has_a_client_test() -> None:
    covered = {code for code, *_ in CODE_ROWS} | {NoojeeCode.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS}
    assert covered == set(NoojeeCode)


@pytest.mark.parametrize(
    ("code", "options", "request_", "expected"),
    CODE_ROWS,
    ids=[code.name for code, *_ in CODE_ROWS],
)
async def test_code_row(
    simulator: StartSimulator,
    code: NoojeeCode,
    options: dict[str, Any],
    request_: UpdateLeadFast,
    expected: type[Outcome],
) -> None:
    sim = await simulator(min_service_ms=1, **options)
    async with client_for(sim.url) as client:
        result = await client.update_lead_fast(request_)

    assert type(result.outcome) is expected
    assert result.http_status == HTTP_STATUS_OF_CODE[code]
    assert result.url.endswith("?fTemplateId=41&fCampaignId=41&fAllocationId=38&apiKey=REDACTED")
    if isinstance(result.outcome, Applied):
        (applied,) = sim.state.applied(LEAD)
        assert dict(applied.body) == dict(request_.body)
        assert dict(applied.query) == CAMPAIGN
    else:
        assert isinstance(result.outcome, Retry | Permanent)
        assert (result.outcome.reason, result.outcome.code) == (code.name, int(code))
        assert json.loads(result.outcome.body) == {"code": int(code), "message": code.name}


async def test_code_109_when_queued_over_the_limit_is_a_retry_that_asks_for_less(
    simulator: StartSimulator,
) -> None:
    # One slot (2 threads / 2), held by a slow lead; the next call queues past the limit.
    sim = await simulator(
        threads=2, min_service_ms=1, queue_timeout_s=0.2, hold_leads={"SLOW": 1.5}
    )
    async with client_for(sim.url) as client:
        holder = asyncio.create_task(client.update_lead_fast(update("SLOW")))
        await wait_for(lambda: sim.state.stats.executing == 1)
        result = await client.update_lead_fast(update())
        held = await holder

    assert isinstance(held.outcome, Applied)
    outcome = result.outcome
    assert isinstance(outcome, Retry)
    assert (outcome.reason, outcome.code, outcome.overload) == (
        "TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS",
        109,
        True,
    )
    assert result.http_status == 400


async def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        # The simulator's counters are plain ints with no event to wait on.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_a_refused_api_key_is_fatal(simulator: StartSimulator) -> None:
    sim = await simulator(min_service_ms=1)
    async with client_for(sim.url, key="not-the-key") as client:
        result = await client.update_lead_fast(update())

    assert isinstance(result.outcome, Fatal)
    assert (result.outcome.reason, result.http_status) == ("UNAUTHORIZED", 401)


# --- transport ------------------------------------------------------------------


async def test_a_closed_port_is_unavailable() -> None:
    async with client_for(f"http://127.0.0.1:{free_closed_port()}") as client:
        result = await client.update_lead_fast(update())

    outcome = result.outcome
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "CONNECT_FAILED"
    assert "refused" in outcome.message
    assert result.http_status is None


async def test_refuse_outage_is_unavailable(simulator: StartSimulator) -> None:
    sim = await simulator(min_service_ms=1)
    async with client_for(sim.url) as client:
        assert isinstance((await client.update_lead_fast(update())).outcome, Applied)
        await sim.set_outage("refuse")
        result = await client.update_lead_fast(update())

    assert isinstance(result.outcome, Unavailable | Retry)
    # A pooled keep-alive connection may be cut under the call (ambiguous) rather
    # than refused; a fresh client can only be refused.
    async with client_for(sim.url) as fresh:
        refused = await fresh.update_lead_fast(update())
    assert isinstance(refused.outcome, Unavailable)
    assert refused.outcome.reason == "CONNECT_FAILED"


async def test_503_outage_is_unavailable(simulator: StartSimulator) -> None:
    sim = await simulator(min_service_ms=1)
    await sim.set_outage("503")
    async with client_for(sim.url) as client:
        result = await client.update_lead_fast(update())

    assert isinstance(result.outcome, Unavailable)
    assert (result.outcome.reason, result.http_status) == ("HTTP_503", 503)
    assert "Maintenance" in result.outcome.body


async def test_no_answer_within_the_read_timeout_is_an_ambiguous_retry(
    simulator: StartSimulator,
) -> None:
    sim = await simulator(min_service_ms=1, hold_leads={LEAD: 3.0})
    async with client_for(sim.url, request_timeout_s=0.3) as client:
        result = await client.update_lead_fast(update())

    outcome = result.outcome
    assert isinstance(outcome, Retry)
    assert outcome.reason == "READ_TIMEOUT"
    assert result.duration_s >= 0.3
    assert sim.state.stats.executing == 1  # the PBX is still working on it: ambiguous


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    match = re.search(r"(?im)^content-length:\s*(\d+)", head)
    assert match is not None
    return head, await reader.readexactly(int(match.group(1)))


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_connection_lost_after_the_request_was_sent_is_an_ambiguous_retry(
    how: str,
) -> None:
    received: list[tuple[str, bytes]] = []

    async def read_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await read_request(reader))
        if how == "reset":  # RST instead of FIN
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        writer.close()
        await writer.wait_closed()

    async with raw_server(read_then_hang_up) as url, client_for(url) as client:
        result = await client.update_lead_fast(update())

    outcome = result.outcome
    assert isinstance(outcome, Retry)
    assert outcome.reason == "DISCONNECTED"
    assert "may or may not have applied" in outcome.message
    # The request really went out, and in the documented shape.
    (head, body), *_ = received
    request_line = head.splitlines()[0]
    assert request_line.startswith("POST /servicemanager/rest/CampaignAPI/updateLeadFast?")
    assert f"apiKey={SIM_API_KEY}" in request_line
    assert re.search(r"(?im)^content-type: application/json\r$", head)
    assert re.search(r"(?im)^accept: application/json\r$", head)
    assert json.loads(body) == dict(update().body)


# --- the API key shows nowhere ----------------------------------------------------

KEY = "Zq7+Leadsync/Secret=&Key-4f2a9e"
"""Distinctive, and full of characters that URL-encoding changes."""


async def test_the_api_key_appears_nowhere(
    simulator: StartSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root: every logger, aiohttp's and asyncio's included
    results: list[CallResult] = []
    seen: list[str] = []
    sim = await simulator(
        api_key=KEY, min_service_ms=1, unknown_leads=frozenset({"GONE"}), hold_leads={"SLOW": 3.0}
    )
    async with client_for(sim.url, KEY) as client:
        seen += [repr(client), str(client)]
        results.append(await client.update_lead_fast(update()))
        results.append(await client.update_lead_fast(update("GONE")))
    async with client_for(sim.url, KEY, request_timeout_s=0.2) as client:
        results.append(await client.update_lead_fast(update("SLOW")))
    other = await simulator(api_key="another-key", min_service_ms=1)
    async with client_for(other.url, KEY) as client:
        results.append(await client.update_lead_fast(update()))
    async with client_for(f"http://127.0.0.1:{free_closed_port()}", KEY) as client:
        results.append(await client.update_lead_fast(update()))

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async with raw_server(hang_up) as url, client_for(url, KEY) as client:
        results.append(await client.update_lead_fast(update()))
    await sim.set_outage("refuse")
    async with client_for(sim.url, KEY) as client:
        results.append(await client.update_lead_fast(update()))

    kinds = [type(result.outcome) for result in results]
    assert kinds == [Applied, Permanent, Retry, Fatal, Unavailable, Retry, Unavailable]
    for result in results:
        seen += [repr(result), str(result), result.url, *_texts(result.outcome)]
    seen += [caplog.text, *(record.getMessage() for record in caplog.records)]
    seen += [repr(record.args) for record in caplog.records]
    leaks = [text for text in seen for form in _forms(KEY) if form in text]
    assert leaks == []


def _forms(key: str) -> set[str]:
    return {key, quote(key, safe=""), quote_plus(key), quote(key)}


def _texts(outcome: Outcome) -> list[str]:
    return [str(value) for value in _fields(outcome).values()]


def _fields(outcome: Outcome) -> Mapping[str, object]:
    return {name: getattr(outcome, name) for name in outcome.__slots__}


# --- insertLeadFast: the same client, the same session ---------------------------------


async def test_send_posts_an_insert_to_its_own_path_with_allow_duplicates(
    simulator: StartSimulator,
) -> None:
    """'POST .../insertLeadFast with the same fTemplateId, fCampaignId, fAllocationId,
    apiKey, plus optional allowDuplicates'; the body is an array of one lead."""
    sim = await simulator(min_service_ms=1, known_leads=frozenset())
    body: dict[str, str | int] = {"njExternalLeadId": "NEW-1", "FirstPhone": "0383218199"}
    insert = InsertLeadFast("NEW-1", {**CAMPAIGN, "allowDuplicates": "true"}, body)
    async with client_for(sim.url) as client:
        created = await client.send(insert)
        again = await client.send(insert)
        updated = await client.send(update("NEW-1"))
    assert isinstance(created.outcome, Applied)
    assert created.endpoint is Endpoint.INSERT
    assert created.url.startswith(f"{sim.url}/servicemanager/rest/CampaignAPI/insertLeadFast?")
    assert "allowDuplicates=true" in created.url
    assert "apiKey=REDACTED" in created.url
    assert isinstance(again.outcome, Permanent)
    assert again.outcome.code == NoojeeCode.DUPLICATE_EXTERNAL_ID
    assert isinstance(updated.outcome, Applied)
    assert updated.endpoint is Endpoint.UPDATE
    history = sim.state.applied("NEW-1")
    assert (history[0].endpoint, dict(history[0].body)) == (Endpoint.INSERT, body)
    assert history[0].query == {**CAMPAIGN, "allowDuplicates": "true"}
