"""The simulator against docs/reference/noojee-api.md, over real sockets on 127.0.0.1.

Each test names the line of docs/reference/noojee-api.md (or of
docs/reference/simulator-api.md where the vendor is silent) that it checks.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from consumer.sandbox.simulator.state import SimulatorState
from contracts.noojee import INSERT_LEAD_FAST_PATH, NO_CHANGE, UPDATE_LEAD_FAST_PATH, NoojeeCode
from tests.integration.conftest import SIM_API_KEY, StartSimulator

PHONE = "0383218199"


def lead(lead_id: str, **fields: Any) -> dict[str, Any]:
    return {"njExternalLeadId": lead_id, "njDisposition": "Sale", "FirstPhone": PHONE, **fields}


async def call(
    http: aiohttp.ClientSession, base_url: str, body: object, api_key: str | None = SIM_API_KEY
) -> tuple[int, Any]:
    """One updateLeadFast call: (HTTP status, JSON body or text)."""
    params = {"fTemplateId": "41", "fCampaignId": "41", "fAllocationId": "38"}
    if api_key is not None:
        params["apiKey"] = api_key
    url = base_url + UPDATE_LEAD_FAST_PATH
    async with http.post(url, params=params, data=json.dumps(body)) as response:
        text = await response.text()
        return response.status, json.loads(text) if response.content_type.endswith("json") else text


async def get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        assert response.status == 200
        return await response.json()


async def post(http: aiohttp.ClientSession, url: str, doc: object) -> tuple[int, Any]:
    async with http.post(url, data=json.dumps(doc)) as response:
        return response.status, await response.json()


async def until(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(10):
            # Polls the simulator's own counters: they expose no event to wait on.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.001)
    except TimeoutError:
        pytest.fail(f"gave up waiting for {what}")


async def until_arrivals(state: SimulatorState, count: int) -> None:
    await until(lambda: state.stats.arrivals >= count, f"{count} calls queued")


async def test_capacity_minimum_service_time_and_arrival_order(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """'at most (PBX hardware threads / 2) calls at once', 'no call completes in under
    100 ms', 'Calls beyond that are queued' (served in arrival order)."""
    sim = await simulator(threads=8)
    calls = []
    for i in range(3 * 4):
        calls.append(asyncio.create_task(call(http, sim.url, lead(f"L{i}"))))
        # The next call starts only once this one reached the queue: arrival order is known.
        await until_arrivals(sim.state, i + 1)
    assert [status for status, _ in await asyncio.gather(*calls)] == [200] * 12
    stats = await get(http, sim.admin_url + "/_sim/stats")
    assert (stats["capacity"], stats["max_concurrency"], stats["applied"]) == (4, 4, 12)
    updates = [(await get(http, f"{sim.url}/_sim/leads/L{i}"))[0] for i in range(12)]
    assert all(u["finished_at"] - u["started_at"] >= 0.1 for u in updates)
    assert [u["seq"] for u in updates] == sorted(u["seq"] for u in updates)
    started = [u["started_at"] for u in updates]
    assert started == sorted(started)


async def test_queued_longer_than_the_queue_timeout_answers_109(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """'a call queued longer than 1 minute fails with 109' (row 109: HTTP 400)."""
    # Second wave waits ~0.5 s, third ~1.0 s: 0.25 s of margin on each side.
    sim = await simulator(threads=8, min_service_ms=500, queue_timeout_s=0.75)
    results = await asyncio.gather(*(call(http, sim.url, lead(f"L{i}")) for i in range(12)))
    timeouts = [body for status, body in results if status == 400]
    assert timeouts == [{"code": 109, "message": "TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS"}] * 4
    assert [status for status, _ in results].count(200) == 8
    stats = sim.state.stats
    assert (stats.max_concurrency, stats.applied, stats.codes["109"]) == (4, 8, 4)


def row(line: str, status: int, code: int, body: dict[str, Any], **options: Any) -> Any:
    return pytest.param(options, body, status, code, id=line)


CODE_ROWS = [
    row("0 OK: updated", 200, 0, lead("L1")),
    row("101: matches no lead", 400, 101, lead("L1"), unknown_leads=frozenset({"L1"})),
    row("101: whitelist mode", 400, 101, lead("L1"), known_leads=frozenset({"L2"})),
    row("101: njExternalLeadId missing", 400, 101, {"njDisposition": "S", "FirstPhone": PHONE}),
    row("102: no phone field", 400, 102, {"njExternalLeadId": "L1", "njDisposition": "Sale"}),
    row("104: DNC list", 400, 104, lead("L1"), dnc_numbers=frozenset({PHONE})),
    row("105: another lead has it", 400, 105, lead("L1"), duplicate_numbers=frozenset({PHONE})),
    row(
        "106: disposition doesn't exist",
        400,
        106,
        lead("L1", njDisposition="Nope"),
        valid_dispositions=frozenset({"Sale"}),
    ),
    row(
        "107: <No Change> on a never-dialled lead",
        400,
        107,
        lead("L1", njDisposition=NO_CHANGE),
        never_dialled=frozenset({"L1"}),
    ),
    row(
        "108: <No Change> used on an insert",
        400,
        108,
        lead("L1", SecondPhone=NO_CHANGE),
        importing_leads=frozenset({"L1"}),
    ),
    row("110: a person edited the lead", 400, 110, lead("L1"), conflict_leads={"L1": 1}),
    row(
        "111: unknown contact hours",
        400,
        111,
        lead("L1", njContactHours="Mars"),
        valid_contact_hours=frozenset({"UTC"}),
    ),
    row("112: id already exists", 400, 112, lead("L1"), duplicate_external_ids=frozenset({"L1"})),
    row("103: server error", 500, 103, lead("L1"), error_ratio=1.0),
]


@pytest.mark.parametrize(("options", "body", "status", "code"), CODE_ROWS)
async def test_each_code_of_the_table(
    simulator: StartSimulator,
    http: aiohttp.ClientSession,
    options: dict[str, Any],
    body: dict[str, Any],
    status: int,
    code: int,
) -> None:
    """One row of docs/reference/noojee-api.md's response table each (the test id quotes
    it): code, vendor's name and HTTP status; only code 0 applies the update."""
    sim = await simulator(min_service_ms=1, **options)
    assert await call(http, sim.url, body) == (
        status,
        {"code": code, "message": NoojeeCode(code).name},
    )
    applied = await get(http, f"{sim.url}/_sim/leads/L1")
    assert len(applied) == (1 if code == 0 else 0)
    stats = await get(http, f"{sim.url}/_sim/stats")
    assert stats["codes"] == {str(code): 1}


async def test_lead_state_changes_with_the_calls(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """'<No Change> ... fails with code 107 if the lead was never dialled' (a real disposition
    dials it); 108 'used on an insert' (the insert then makes the lead known); 110 per conflict."""
    sim = await simulator(
        min_service_ms=1,
        never_dialled=frozenset({"N"}),
        known_leads=frozenset({"N", "C"}),
        importing_leads=frozenset({"NEW"}),
        conflict_leads={"C": 1},
    )
    no_change = {"njDisposition": NO_CHANGE}
    codes = [
        (await call(http, sim.url, body))[1]["code"]
        for body in (
            lead("N", **no_change),
            lead("N"),
            lead("N", **no_change),
            lead("NEW", **no_change),
            lead("NEW"),
            lead("NEW", **no_change),
            lead("C"),
            lead("C"),
        )
    ]
    assert codes == [107, 0, 0, 108, 0, 0, 110, 0]


async def test_a_body_that_is_not_a_json_object_answers_400(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """'Body: one JSON object of lead fields' (vendor silent on others: 400 INVALID_JSON)."""
    sim = await simulator(min_service_ms=1)
    assert await call(http, sim.url, ["not", "an", "object"]) == (
        400,
        {"message": "INVALID_JSON", "error": "the body must be a JSON object"},
    )


@pytest.mark.parametrize("api_key", [None, "wrong-key"])
async def test_a_bad_api_key_answers_401_without_echoing_it(
    simulator: StartSimulator, http: aiohttp.ClientSession, api_key: str | None
) -> None:
    """'apiKey (issued by the vendor's support)': a wrong key is refused, no slot is taken."""
    sim = await simulator(min_service_ms=1)
    status, body = await call(http, sim.url, lead("L1"), api_key=api_key)
    assert status == 401
    assert "wrong-key" not in json.dumps(body)
    assert SIM_API_KEY not in json.dumps(await get(http, f"{sim.url}/_sim/config"))
    assert (sim.state.stats.arrivals, sim.state.stats.http_statuses["401"]) == (0, 1)


async def test_outage_503_answers_html_at_once(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """'while the PBX is down for maintenance': 503 text/html, then service resumes."""
    sim = await simulator(min_service_ms=1)
    await sim.set_outage("503")
    status, text = await call(http, sim.url, lead("L1"))
    assert status == 503
    assert "503" in text
    await sim.set_outage(None)
    assert (await call(http, sim.url, lead("L1")))[0] == 200
    assert sim.state.stats.arrivals == 1
    assert sim.state.stats.http_statuses == {"503": 1, "200": 1}


async def test_outage_refuse_closes_the_port_and_reopens_it(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """'while the PBX is down': connections refused; the admin port stays up; same URL after."""
    sim = await simulator(min_service_ms=1)
    assert (await call(http, sim.url, lead("L1")))[0] == 200  # leaves a keep-alive connection
    status, config = await post(http, sim.admin_url + "/_sim/config", {"outage": "refuse"})
    assert (status, config["outage"]) == (200, "refuse")
    with pytest.raises(aiohttp.ClientError):
        await call(http, sim.url, lead("L1"))
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await call(fresh, sim.url, lead("L1"))
    assert isinstance(refused.value.os_error, ConnectionRefusedError)
    assert (await get(http, sim.admin_url + "/_sim/stats"))["outage"] == "refuse"
    await sim.set_outage(None)
    assert (await call(http, sim.url, lead("L1")))[0] == 200
    assert sim.state.stats.applied == 2


async def test_refuse_cuts_calls_in_flight_and_answers_the_admin_call_that_set_it(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """'while the PBX is down' (docs/reference/simulator-api.md, "Outages": a call in
    flight is cut off, nothing applied)."""
    sim = await simulator(min_service_ms=1, hold_leads={"HELD": 30.0})
    held = asyncio.create_task(call(http, sim.url, lead("HELD")))
    await until(lambda: sim.state.stats.executing == 1, "executing")
    status, _ = await post(http, sim.url + "/_sim/config", {"outage": "refuse"})
    assert status == 200
    with pytest.raises(aiohttp.ClientError):
        await held
    stats = sim.state.stats
    assert (stats.aborted, stats.applied, stats.executing) == (1, 0, 0)


@pytest.mark.parametrize("outage", ["refuse", "503"])
async def test_a_call_whose_body_arrives_as_the_outage_begins_is_not_applied(
    simulator: StartSimulator, outage: str
) -> None:
    """'while the PBX is down' (docs/reference/simulator-api.md, "Outages": nothing
    applies once the outage has begun), for a
    request that reached the handler before it began and was still reading its body."""
    sim = await simulator(min_service_ms=1)
    body = json.dumps(lead("LATE")).encode()
    query = f"fTemplateId=41&fCampaignId=41&fAllocationId=38&apiKey={SIM_API_KEY}"
    host, port = sim.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST {UPDATE_LEAD_FAST_PATH}?{query} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body[:10]
    )
    await writer.drain()
    await until(lambda: sim.state.stats.requests == 1, "the handler reading the body")
    await sim.set_outage(outage)
    writer.write(body[10:])
    await writer.drain()
    try:
        answer = await reader.read()  # to the end: the PBX closes after its answer
    except ConnectionResetError:
        answer = b""  # refused: the port's connections are reset
    writer.close()
    assert sim.state.stats.applied == 0
    assert b" 200 " not in answer.split(b"\r\n", 1)[0]


async def test_overlapping_calls_for_one_lead_are_detected(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """Oracle for 'events of one lead run strictly in order': two calls executing at once."""
    sim = await simulator(min_service_ms=100)
    await asyncio.gather(call(http, sim.url, lead("TWICE")), call(http, sim.url, lead("TWICE")))
    await call(http, sim.url, lead("ONCE"))
    await call(http, sim.url, lead("ONCE"))
    assert await get(http, sim.admin_url + "/_sim/overlaps") == ["TWICE"]
    calls = await get(http, sim.admin_url + "/_sim/calls/ONCE")
    assert calls[0]["finished_at"] <= calls[1]["started_at"]


async def test_inspection_history_and_reset(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """docs/reference/simulator-api.md's inspection API: /_sim/leads/{id} in the order
    applied, query without apiKey; /_sim/reset clears history and counters."""
    sim = await simulator(min_service_ms=1)
    for body in (lead("A", Name="one"), lead("A", Name="two"), lead("B")):
        await call(http, sim.url, body)
    assert await get(http, sim.url + "/_sim/leads") == {"A": 2, "B": 1}
    history = await get(http, sim.url + "/_sim/leads/A")
    assert [update["body"]["Name"] for update in history] == ["one", "two"]
    assert history[0]["query"] == {"fTemplateId": "41", "fCampaignId": "41", "fAllocationId": "38"}
    assert (await post(http, sim.admin_url + "/_sim/reset", {}))[0] == 200
    stats = await get(http, sim.url + "/_sim/stats")
    assert (stats["requests"], stats["applied"], stats["codes"], stats["max_concurrency"]) == (
        0,
        0,
        {},
        0,
    )
    assert await get(http, sim.url + "/_sim/leads/A") == []


async def test_config_updates_and_their_validation(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """'options or the admin API declare unknown, never-dialled, DNC and conflicting leads'."""
    sim = await simulator(min_service_ms=1)
    url = sim.admin_url + "/_sim/config"
    status, config = await post(http, url, {"unknown_leads": ["X"], "error_ratio": 0})
    assert (status, config["unknown_leads"], config["error_ratio"]) == (200, ["X"], 0)
    assert (await call(http, sim.url, lead("X")))[1]["code"] == 101
    assert (await get(http, url))["unknown_leads"] == ["X"]
    for bad, named in (
        ({"error_ratio": 2}, "error_ratio"),
        ({"dnc_numbers": "123"}, "dnc_numbers"),
        ({"threads": 2}, "threads"),
        ([], "JSON object"),
    ):
        status, answer = await post(http, url, bad)
        assert status == 400
        assert named in answer["error"]
    assert (await get(http, url))["error_ratio"] == 0


async def test_hold_and_spikes_lengthen_calls(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """Brief: hold_leads holds a lead's calls; spike_ratio of calls take spike_ms more."""
    sim = await simulator(min_service_ms=1, hold_leads={"H": 0.3}, spike_ratio=1.0, spike_ms=150)
    await asyncio.gather(call(http, sim.url, lead("H")), call(http, sim.url, lead("S")))
    held, spiked = sim.state.applied("H")[0], sim.state.applied("S")[0]
    assert held.finished_at - held.started_at >= 0.3
    assert spiked.finished_at - spiked.started_at >= 0.151


async def test_leadsync_simulate_runs_as_a_process(http: aiohttp.ClientSession) -> None:
    """docs/reference/commands.md: `leadsync simulate` (--port, --api-key from the
    environment, exits 0)."""
    env = {**os.environ, "LEADSYNC_SIM_API_KEY": SIM_API_KEY}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "consumer.cli", "simulate", "--port", "0", "--threads", "2"),
        *("--min-service-ms", "5", "--unknown-lead", "GONE"),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            urls = json.loads(await process.stdout.readline())
        for lead_id, code in (("L1", 0), ("GONE", 101)):
            assert (await call(http, urls["url"], lead(lead_id)))[1]["code"] == code
        stats = await get(http, urls["admin_url"] + "/_sim/stats")
        assert (stats["capacity"], stats["applied"]) == (1, 1)
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await process.wait() == 0


# --- insertLeadFast ------------------------------------------------------------------


async def insert(
    http: aiohttp.ClientSession, base_url: str, body: object, **query: str
) -> tuple[int, Any]:
    """One insertLeadFast call: (HTTP status, JSON body)."""
    params = {"fTemplateId": "41", "fCampaignId": "41", "fAllocationId": "38", **query}
    params["apiKey"] = SIM_API_KEY
    async with http.post(
        base_url + INSERT_LEAD_FAST_PATH, params=params, data=json.dumps(body)
    ) as response:
        return response.status, await response.json()


def new(lead_id: str, **fields: Any) -> list[dict[str, Any]]:
    return [{"njExternalLeadId": lead_id, "FirstPhone": PHONE, **fields}]


async def test_insert_answers_the_vendors_codes_and_creates_the_lead(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """'Creating leads': 108 for <No Change>, 102 without a phone, 112 for a known id, 105 for
    a known phone unless allowDuplicates; a lead created by insert is then known to updates,
    and /_sim/leads/{id} shows which endpoint each call used."""
    sim = await simulator(min_service_ms=1, known_leads=frozenset({"OLD"}))
    answers = [
        await insert(http, sim.url, new("A", City=NO_CHANGE)),
        await insert(http, sim.url, [{"njExternalLeadId": "A", "City": "Richmond"}]),
        await insert(http, sim.url, new("OLD")),
        await call(http, sim.url, lead("A")),
        await insert(http, sim.url, new("A", njDisposition="New")),
        await insert(http, sim.url, new("A")),
        await insert(http, sim.url, new("B")),
        await insert(http, sim.url, new("B"), allowDuplicates="true"),
        await call(http, sim.url, lead("A")),
        await insert(http, sim.url, [new("C")[0], new("D")[0]]),
    ]
    assert [body.get("code") for _, body in answers] == [
        108,
        102,
        112,
        101,
        0,
        112,
        105,
        0,
        0,
        None,
    ]
    assert [status for status, _ in answers][-1] == 400  # one answer cannot speak for two
    history = await get(http, f"{sim.url}/_sim/leads/A")
    assert [u["endpoint"] for u in history] == ["insertLeadFast", "updateLeadFast"]
    assert history[0]["body"] == new("A", njDisposition="New")[0]
    calls = await get(http, f"{sim.url}/_sim/calls/A")
    assert [(c["endpoint"], c["code"]) for c in calls] == [
        ("insertLeadFast", 108),
        ("insertLeadFast", 102),
        ("updateLeadFast", 101),
        ("insertLeadFast", 0),
        ("insertLeadFast", 112),
        ("updateLeadFast", 0),
    ]
    stats = await get(http, f"{sim.url}/_sim/stats")
    assert stats["endpoints"] == {
        "updateLeadFast": {"requests": 2, "applied": 1},
        "insertLeadFast": {"requests": 8, "applied": 2},
    }


async def test_inserts_and_updates_share_the_slots_the_queue_and_109(
    simulator: StartSimulator, http: aiohttp.ClientSession
) -> None:
    """'Inserts and updates share the PBX's protection: 109 says "too many concurrent
    insert/update API requests"': one gate of threads / 2 slots for both endpoints."""
    sim = await simulator(
        threads=8, min_service_ms=500, queue_timeout_s=0.75, known_leads=frozenset()
    )
    inserts = [insert(http, sim.url, new(f"I{i}", FirstPhone=f"04{i:08d}")) for i in range(6)]
    updates = [call(http, sim.url, lead(f"U{i}")) for i in range(6)]  # unknown: 101 once served
    mixed = [x for pair in zip(inserts, updates, strict=True) for x in pair]
    results = await asyncio.gather(*mixed)
    codes = [body["code"] for _, body in results]
    assert codes.count(109) == 4
    stats = sim.state.stats
    assert (stats.max_concurrency, stats.codes["109"]) == (4, 4)
    assert stats.endpoint_requests == {"insertLeadFast": 6, "updateLeadFast": 6}
